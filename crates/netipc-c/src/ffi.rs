//! How Rust objects live in the structs C callers allocate.
//!
//! Every public C object (`nipc_client_ctx_t`, `nipc_managed_server_t`,
//! `nipc_cgroups_cache_t`, ...) is a complete C type of the same size and
//! alignment on every OS: an array of `uint64_t` words. On the Rust side the
//! same bytes are a [`Slot`]: a state word followed by the Rust object,
//! written in place by the `_init` function and dropped in place by the
//! `_close`/`_destroy` function.
//!
//! - A zeroed struct (or one that was never initialized, most of the time)
//!   has a state word that is not [`LIVE`]: every function then returns
//!   `NIPC_ERR_NOT_INITIALIZED` instead of touching it.
//! - Closing writes [`CLOSED`]; a second close does nothing.
//! - The object is pinned where `_init` put it: C must not copy or move an
//!   initialized struct (the header says so).
//! - [`slot_size_fits`] checks at compile time that the Rust object fits
//!   the C storage; the C header checks the storage size with
//!   `_Static_assert`.
//!
//! Every `extern "C"` function runs its body in [`guard`], so that no
//! panic unwinds into C.

use std::mem::{MaybeUninit, align_of, size_of};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::nipc_error_t;

/// State word of an initialized object.
pub const LIVE: u64 = 0x6e69_7063_6c69_7665; // "nipclive"
/// State word of a closed object.
pub const CLOSED: u64 = 0x6e69_7063_6465_6164; // "nipcdead"

/// The Rust view of a caller-allocated C object of `WORDS` 64-bit words:
/// the state word, then `T` in the remaining bytes.
#[repr(C)]
pub struct Slot<T> {
    state: u64,
    value: MaybeUninit<T>,
}

/// Whether `T` (behind its state word) fits `words` 64-bit words at the
/// alignment of `uint64_t`. Used in `const` assertions next to each type.
#[must_use]
pub const fn slot_size_fits<T>(words: usize) -> bool {
    size_of::<Slot<T>>() <= words * 8 && align_of::<Slot<T>>() <= 8
}

impl<T> Slot<T> {
    /// Writes `value` into the storage at `ptr` (any previous content is
    /// overwritten without being dropped: `_init` on a live object leaks
    /// it, as the header documents).
    ///
    /// # Safety
    /// `ptr` must be valid for writes of `size_of::<Slot<T>>()` bytes and
    /// aligned to 8, and no other thread may use the object meanwhile.
    pub unsafe fn init(ptr: *mut Self, value: T) {
        // SAFETY: the caller guarantees `ptr` is valid and aligned for a
        // `Slot<T>` and used by no one else.
        unsafe {
            std::ptr::addr_of_mut!((*ptr).value).write(MaybeUninit::new(value));
            std::ptr::addr_of_mut!((*ptr).state).write(LIVE);
        }
    }

    /// The live object at `ptr`.
    ///
    /// # Errors
    /// `NIPC_ERR_INVALID_ARGUMENT` for NULL, `NIPC_ERR_NOT_INITIALIZED`
    /// when the state word is not [`LIVE`].
    ///
    /// # Safety
    /// `ptr`, when not NULL, must point to storage of the object's C type;
    /// the object must not be closed by another thread while the reference
    /// is used.
    pub unsafe fn get<'a>(ptr: *const Self) -> Result<&'a T, nipc_error_t> {
        if ptr.is_null() {
            return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
        }
        // SAFETY: not NULL, and the caller guarantees it points to the
        // object's storage (8-aligned, large enough).
        let state = unsafe { std::ptr::addr_of!((*ptr).state).read() };
        if state != LIVE {
            return Err(nipc_error_t::NIPC_ERR_NOT_INITIALIZED);
        }
        // SAFETY: LIVE means `init` wrote a `T` there and `close` has not
        // dropped it.
        Ok(unsafe { (*ptr).value.assume_init_ref() })
    }

    /// Drops the live object at `ptr` and marks it closed; does nothing
    /// for NULL or an object that is not live.
    ///
    /// # Safety
    /// As [`get`](Self::get), and no other thread may use the object
    /// during or after the call.
    pub unsafe fn close(ptr: *mut Self) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: as in `get`.
        let state = unsafe { std::ptr::addr_of!((*ptr).state).read() };
        if state != LIVE {
            return;
        }
        // SAFETY: LIVE: a `T` is there; the state is changed first so that
        // a panic while dropping leaves the object closed, not live.
        unsafe {
            std::ptr::addr_of_mut!((*ptr).state).write(CLOSED);
            (*ptr).value.assume_init_drop();
        }
    }
}

/// Runs `body`, turning a panic into `on_panic` (nothing unwinds into C).
#[inline]
pub fn guard<R>(on_panic: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}

/// Runs `body` that returns an error code, turning `Err(code)` into that
/// code and a panic into `NIPC_ERR_INTERNAL`.
pub fn guard_code(body: impl FnOnce() -> Result<(), nipc_error_t>) -> nipc_error_t {
    guard(nipc_error_t::NIPC_ERR_INTERNAL, || match body() {
        Ok(()) => nipc_error_t::NIPC_OK,
        Err(code) => code,
    })
}

/// A C string argument as UTF-8 text.
///
/// # Errors
/// `NIPC_ERR_INVALID_ARGUMENT` for NULL or text that is not UTF-8.
///
/// # Safety
/// `ptr`, when not NULL, must point to a NUL-terminated string that stays
/// valid while the result is used.
pub unsafe fn c_str<'a>(ptr: *const std::ffi::c_char) -> Result<&'a str, nipc_error_t> {
    if ptr.is_null() {
        return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
    }
    // SAFETY: not NULL, NUL-terminated by the caller's contract.
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| nipc_error_t::NIPC_ERR_INVALID_ARGUMENT)
}

/// A C array argument (`ptr`, `count`) as a slice; NULL is allowed only
/// for zero elements.
///
/// # Errors
/// `NIPC_ERR_INVALID_ARGUMENT` for NULL with a non-zero count.
///
/// # Safety
/// `ptr`, when not NULL, must point to `count` initialized elements that
/// stay valid while the result is used.
pub unsafe fn c_slice<'a, T>(ptr: *const T, count: usize) -> Result<&'a [T], nipc_error_t> {
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
    }
    // SAFETY: not NULL, `count` elements by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe(std::rc::Rc<std::cell::Cell<u32>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    #[test]
    fn a_slot_is_live_between_init_and_close_only() {
        let drops = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut words = [0u64; 4];
        let slot = words.as_mut_ptr().cast::<Slot<Probe>>();
        // SAFETY: 32 bytes, 8-aligned, used by this thread only.
        unsafe {
            assert_eq!(
                Slot::get(slot).err(),
                Some(nipc_error_t::NIPC_ERR_NOT_INITIALIZED)
            );
            Slot::init(slot, Probe(drops.clone()));
            assert!(Slot::get(slot).is_ok());
            Slot::close(slot);
            Slot::close(slot);
            assert_eq!(
                Slot::get(slot).err(),
                Some(nipc_error_t::NIPC_ERR_NOT_INITIALIZED)
            );
            assert_eq!(
                Slot::<Probe>::get(std::ptr::null()).err(),
                Some(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT)
            );
        }
        assert_eq!(drops.get(), 1);
        assert!(slot_size_fits::<Probe>(2));
        assert!(!slot_size_fits::<[u64; 4]>(4));
    }

    #[test]
    fn a_panic_becomes_an_error_code() {
        assert_eq!(
            guard_code(|| panic!("boom")),
            nipc_error_t::NIPC_ERR_INTERNAL
        );
        assert_eq!(guard_code(|| Ok(())), nipc_error_t::NIPC_OK);
    }
}
