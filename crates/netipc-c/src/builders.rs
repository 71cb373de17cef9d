//! What a provider's C handlers get: the request views and the response
//! builders of the "server views" section of `netipc_protocol.h`.
//!
//! A managed server answers a request by calling the C handler with a
//! request view and a builder that it creates on the worker thread's stack
//! for that one call (`lend`). The builder struct is a [`Slot`] holding a
//! pointer to the Rust builder over the response buffer; the server marks
//! it closed when the handler returns, so a builder kept past its call is
//! at least found closed while its storage lasts (using it then is still a
//! bug: the storage is gone once the worker moves on).
//!
//! The Rust builders keep their first error (sticky); an argument the Rust
//! builder never sees (a NULL pointer with a length, a status that is not
//! one of the enum's values) is refused with `NIPC_ERR_INVALID_ARGUMENT`
//! and remembered as a `Misuse`, which fails the request even if the
//! handler then returns `true` (so a provider never sends an answer with
//! an item silently missing).

#![allow(non_camel_case_types)]

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::mem::{MaybeUninit, size_of};

use netipc::CodecError;
use netipc::codec::{
    AppsEntry, AppsLookupBuilder, AppsLookupRequest, CgroupStatus, CgroupsEntry,
    CgroupsLookupBuilder, CgroupsLookupRequest, CgroupsLookupStatus, PidStatus, SnapshotBuilder,
    SnapshotItem,
};

use crate::error::nipc_error_t;
use crate::ffi::{LIVE, Slot, c_slice, guard_code, slot_size_fits};

/// `nipc_str_view_t`: a byte string that is not necessarily
/// NUL-terminated (`ptr` may be NULL when `len` is 0).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_str_view_t {
    /// The first byte.
    pub ptr: *const c_char,
    /// The number of bytes.
    pub len: u32,
}

impl nipc_str_view_t {
    /// A view of `bytes` (which must outlive every use of the view).
    fn of(bytes: &[u8]) -> Self {
        Self {
            ptr: bytes.as_ptr().cast(),
            // Request keys are sized by u32 wire fields.
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        }
    }

    /// The bytes, or `what` when `ptr` is NULL with a non-zero length.
    ///
    /// # Safety
    /// `ptr`, when not NULL, must point to `len` readable bytes that stay
    /// valid for `'a`.
    unsafe fn bytes<'a>(self, what: &'static str) -> Result<&'a [u8], Failure> {
        // SAFETY: the caller's contract.
        unsafe { bytes(self.ptr, self.len, what) }
    }
}

/// `nipc_label_t`: one `key = value` label a handler adds to a lookup item.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_label_t {
    /// Non-empty, no NUL byte.
    pub key: nipc_str_view_t,
    /// May be empty, no NUL byte.
    pub value: nipc_str_view_t,
}

/// `nipc_cgroups_req_t`: the decoded snapshot request (it has no
/// parameters; always `{1, 0}`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_cgroups_req_t {
    /// Always 1.
    pub layout_version: u16,
    /// Always 0.
    pub flags: u16,
}

/// Words of `nipc_cgroups_builder_t`.
pub const NIPC_CGROUPS_BUILDER_WORDS: usize = 16;
/// Words of `nipc_cgroups_lookup_builder_t`.
pub const NIPC_CGROUPS_LOOKUP_BUILDER_WORDS: usize = 16;
/// Words of `nipc_apps_lookup_builder_t`.
pub const NIPC_APPS_LOOKUP_BUILDER_WORDS: usize = 16;

/// `nipc_cgroups_builder_t`: the snapshot builder a snapshot handler gets.
#[repr(C)]
#[derive(Debug)]
pub struct nipc_cgroups_builder_t {
    opaque_: [u64; NIPC_CGROUPS_BUILDER_WORDS],
}

/// `nipc_cgroups_lookup_builder_t`: the builder a cgroups-lookup handler
/// gets.
#[repr(C)]
#[derive(Debug)]
pub struct nipc_cgroups_lookup_builder_t {
    opaque_: [u64; NIPC_CGROUPS_LOOKUP_BUILDER_WORDS],
}

/// `nipc_apps_lookup_builder_t`: the builder an apps-lookup handler gets.
#[repr(C)]
#[derive(Debug)]
pub struct nipc_apps_lookup_builder_t {
    opaque_: [u64; NIPC_APPS_LOOKUP_BUILDER_WORDS],
}

/// A decoded lookup request as its handler sees it: the key count and,
/// during the handler's call, the request (`nipc_cgroups_lookup_req_view_t`
/// and `nipc_apps_lookup_req_view_t`).
#[repr(C)]
#[derive(Debug)]
pub struct ReqView<R> {
    /// Number of keys.
    pub item_count: u32,
    reserved_: u32,
    state: u64,
    request: *const R,
}

/// `nipc_cgroups_lookup_req_view_t`: the decoded cgroups-lookup request.
pub type nipc_cgroups_lookup_req_view_t = ReqView<CgroupsLookupRequest<'static>>;
/// `nipc_apps_lookup_req_view_t`: the decoded apps-lookup request.
pub type nipc_apps_lookup_req_view_t = ReqView<AppsLookupRequest<'static>>;

impl<R> ReqView<R> {
    /// Writes key `index` of the request, read by `key`, to `out`.
    ///
    /// # Safety
    /// `req` must be NULL or a view a handler got; `out` NULL or writable.
    unsafe fn key<T>(
        req: *const Self,
        index: u32,
        out: *mut T,
        key: impl FnOnce(&R, usize) -> Option<T>,
    ) -> nipc_error_t {
        guard_code(|| {
            if req.is_null() || out.is_null() {
                return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
            }
            // SAFETY: not NULL; a handler's view.
            let view = unsafe { &*req };
            if view.state != LIVE {
                return Err(nipc_error_t::NIPC_ERR_NOT_INITIALIZED);
            }
            // SAFETY: a live view points to the request of the running call.
            let value = key(unsafe { &*view.request }, index as usize)
                .ok_or(nipc_error_t::NIPC_ERR_OUT_OF_BOUNDS)?;
            // SAFETY: `out` is not NULL and writable by the caller's contract.
            unsafe { out.write(value) };
            Ok(())
        })
    }
}

/// `nipc_apps_lookup_entry_t`: the fields of one apps-lookup item besides
/// its PID and labels (codec.md 7.3, 7.4).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_apps_lookup_entry_t {
    /// A `nipc_apps_lookup_status_t` value.
    pub status: u16,
    /// A `nipc_apps_cgroup_status_t` value.
    pub cgroup_status: u16,
    /// The cgroup's orchestrator.
    pub orchestrator: u16,
    /// Keep 0.
    pub reserved_: u16,
    /// Parent PID.
    pub ppid: u32,
    /// Owner uid, or `NIPC_UID_UNSET`.
    pub uid: u32,
    /// Linux: `/proc/<pid>/stat` field 22; 0 elsewhere.
    pub starttime: u64,
    /// Process name (1 to 15 bytes for KNOWN items).
    pub comm: nipc_str_view_t,
    /// The process's cgroup path.
    pub cgroup_path: nipc_str_view_t,
    /// The process's cgroup name.
    pub cgroup_name: nipc_str_view_t,
}

const _: () = assert!(size_of::<nipc_str_view_t>() == 16);
const _: () = assert!(size_of::<nipc_label_t>() == 32);
const _: () = assert!(size_of::<nipc_cgroups_req_t>() == 4);
const _: () = assert!(size_of::<nipc_cgroups_lookup_req_view_t>() == 24);
const _: () = assert!(size_of::<nipc_apps_lookup_req_view_t>() == 24);
const _: () = assert!(size_of::<nipc_apps_lookup_entry_t>() == 72);
const _: () = assert!(slot_size_fits::<Held<SnapshotBuilder<'static>>>(
    NIPC_CGROUPS_BUILDER_WORDS
));
const _: () = assert!(
    slot_size_fits::<Held<CgroupsLookupBuilder<'static, 'static>>>(
        NIPC_CGROUPS_LOOKUP_BUILDER_WORDS
    )
);
const _: () = assert!(slot_size_fits::<Held<AppsLookupBuilder<'static>>>(
    NIPC_APPS_LOOKUP_BUILDER_WORDS
));

/// An argument a handler passed that the Rust builder never saw: the
/// function and what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Misuse {
    function: &'static str,
    what: &'static str,
}

impl std::fmt::Display for Misuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.function, self.what)
    }
}

/// Why a builder call failed.
enum Failure {
    /// An argument was wrong (see [`Misuse`]).
    Argument(&'static str),
    /// The Rust builder refused the item (its error is sticky).
    Codec(CodecError),
}

impl From<CodecError> for Failure {
    fn from(e: CodecError) -> Self {
        Self::Codec(e)
    }
}

/// What a builder struct holds during its handler's call.
struct Held<B> {
    builder: *mut B,
    /// The request view of the same call (for `add_request_item`).
    request: *const c_void,
    misuse: Cell<Option<Misuse>>,
}

/// `len` bytes at `ptr`, or `what` for NULL with a non-zero length.
///
/// # Safety
/// As [`c_slice`].
unsafe fn bytes<'a>(ptr: *const c_char, len: u32, what: &'static str) -> Result<&'a [u8], Failure> {
    // SAFETY: the caller's contract.
    unsafe { c_slice(ptr.cast::<u8>(), len as usize) }.map_err(|_| Failure::Argument(what))
}

/// Runs `call` with a C builder struct of type `S` (one of the three
/// builder structs) that reaches `builder`, valid during the call only;
/// returns the result and the first argument the handler got wrong.
fn lend<S, B, R>(
    builder: *mut B,
    request: *const c_void,
    call: impl FnOnce(*mut S) -> R,
) -> (R, Option<Misuse>) {
    const { assert!(size_of::<Slot<Held<B>>>() <= size_of::<S>()) };
    let mut storage = MaybeUninit::<S>::zeroed();
    let slot = storage.as_mut_ptr().cast::<Slot<Held<B>>>();
    let held = Held {
        builder,
        request,
        misuse: Cell::new(None),
    };
    // SAFETY: `storage` is large enough (asserted above), 8-aligned (the
    // builder structs are arrays of u64) and used by this thread only.
    unsafe { Slot::init(slot, held) };
    let result = call(storage.as_mut_ptr());
    // SAFETY: initialized above; the handler has returned, so nothing else
    // uses it any more.
    let misuse = unsafe { Slot::get(slot) }.ok().and_then(|h| h.misuse.get());
    // SAFETY: as above.
    unsafe { Slot::close(slot) };
    (result, misuse)
}

/// Runs a snapshot handler `call` with the request and a builder over
/// `builder`; returns its result and the first argument it got wrong.
pub(crate) fn lend_snapshot<R>(
    builder: &mut SnapshotBuilder<'_>,
    call: impl FnOnce(*const nipc_cgroups_req_t, *mut nipc_cgroups_builder_t) -> R,
) -> (R, Option<Misuse>) {
    let request = nipc_cgroups_req_t {
        layout_version: 1,
        flags: 0,
    };
    let builder = std::ptr::from_mut(builder).cast::<SnapshotBuilder<'static>>();
    lend(builder, std::ptr::null(), |b| call(&raw const request, b))
}

/// Runs a lookup handler `call` with a view of `request` (of `len` keys)
/// and a builder struct `S` over `builder`.
fn lend_lookup<Q, B, S, R>(
    request: *const Q,
    len: usize,
    builder: *mut B,
    call: impl FnOnce(*const ReqView<Q>, *mut S) -> R,
) -> (R, Option<Misuse>) {
    let view = ReqView {
        // A u32 on the wire.
        item_count: u32::try_from(len).unwrap_or(u32::MAX),
        reserved_: 0,
        state: LIVE,
        request,
    };
    lend(builder, request.cast(), |b| call(&raw const view, b))
}

/// Runs a cgroups-lookup handler `call` with a view of `request` and a
/// builder over `builder`.
pub(crate) fn lend_cgroups_lookup<R>(
    request: &CgroupsLookupRequest<'_>,
    builder: &mut CgroupsLookupBuilder<'_, '_>,
    call: impl FnOnce(*const nipc_cgroups_lookup_req_view_t, *mut nipc_cgroups_lookup_builder_t) -> R,
) -> (R, Option<Misuse>) {
    lend_lookup(
        std::ptr::from_ref(request).cast::<CgroupsLookupRequest<'static>>(),
        request.len(),
        std::ptr::from_mut(builder).cast::<CgroupsLookupBuilder<'static, 'static>>(),
        call,
    )
}

/// Runs an apps-lookup handler `call` with a view of `request` and a
/// builder over `builder`.
pub(crate) fn lend_apps_lookup<R>(
    request: &AppsLookupRequest<'_>,
    builder: &mut AppsLookupBuilder<'_>,
    call: impl FnOnce(*const nipc_apps_lookup_req_view_t, *mut nipc_apps_lookup_builder_t) -> R,
) -> (R, Option<Misuse>) {
    lend_lookup(
        std::ptr::from_ref(request).cast::<AppsLookupRequest<'static>>(),
        request.len(),
        std::ptr::from_mut(builder).cast::<AppsLookupBuilder<'static>>(),
        call,
    )
}

/// Runs `op` on the Rust builder behind the C builder struct `storage`
/// (under [`guard_code`]) and returns its code: `NIPC_OK`,
/// `NIPC_ERR_INVALID_ARGUMENT` for NULL or a refused argument (remembered
/// as the builder's misuse, attributed to `function`),
/// `NIPC_ERR_NOT_INITIALIZED` for a builder that is not lent right now,
/// and the code of the Rust builder's error.
///
/// # Safety
/// `storage`, when not NULL, must point to a builder struct of the type
/// [`lend`] made for `B`, and be used by the handler's thread only.
unsafe fn build<S, B>(
    storage: *mut S,
    function: &'static str,
    op: impl FnOnce(&mut B, &Held<B>) -> Result<(), Failure>,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let held = unsafe { Slot::<Held<B>>::get(storage.cast_const().cast()) }?;
        // SAFETY: a lent builder points to the Rust builder of the running
        // handler call, which only this thread uses (the header's rule).
        let builder = unsafe { &mut *held.builder };
        match op(builder, held) {
            Ok(()) => Ok(()),
            Err(Failure::Codec(e)) => Err(nipc_error_t::from_codec(e.kind())),
            Err(Failure::Argument(what)) => {
                if held.misuse.get().is_none() {
                    held.misuse.set(Some(Misuse { function, what }));
                }
                Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT)
            }
        }
    })
}

/// The first error of a builder: the Rust builder's sticky one, else a
/// refused argument.
///
/// # Safety
/// As [`build`].
unsafe fn first_error<S, B>(
    storage: *const S,
    sticky: impl FnOnce(&B) -> Option<CodecError>,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let held = unsafe { Slot::<Held<B>>::get(storage.cast()) }?;
        // SAFETY: as in `build`.
        let builder = unsafe { &*held.builder };
        if let Some(e) = sticky(builder) {
            return Err(nipc_error_t::from_codec(e.kind()));
        }
        match held.misuse.get() {
            Some(_) => Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT),
            None => Ok(()),
        }
    })
}

/// Label pairs for a Rust builder, without allocating for up to 8 labels.
///
/// # Safety
/// Every label's strings must be readable as their views say.
unsafe fn with_labels<R>(
    labels: *const nipc_label_t,
    label_count: u32,
    f: impl FnOnce(&[(&[u8], &[u8])]) -> R,
) -> Result<R, Failure> {
    const INLINE: usize = 8;
    // SAFETY: the caller's contract.
    let labels = unsafe { c_slice(labels, label_count as usize) }
        .map_err(|_| Failure::Argument("labels is NULL with a non-zero label_count"))?;
    let pair = |l: &nipc_label_t| -> Result<(&[u8], &[u8]), Failure> {
        // SAFETY: the caller's contract.
        unsafe {
            Ok((
                l.key.bytes("a label key is NULL with a non-zero length")?,
                l.value
                    .bytes("a label value is NULL with a non-zero length")?,
            ))
        }
    };
    if labels.len() <= INLINE {
        let mut pairs: [(&[u8], &[u8]); INLINE] = [(&[], &[]); INLINE];
        for (slot, label) in pairs.iter_mut().zip(labels) {
            *slot = pair(label)?;
        }
        Ok(f(&pairs[..labels.len()]))
    } else {
        let pairs = labels.iter().map(pair).collect::<Result<Vec<_>, _>>()?;
        Ok(f(&pairs))
    }
}

fn cgroups_status(status: u32) -> Result<CgroupsLookupStatus, Failure> {
    u16::try_from(status)
        .ok()
        .and_then(CgroupsLookupStatus::from_u16)
        .ok_or(Failure::Argument(
            "status is not a nipc_cgroups_lookup_status_t value",
        ))
}

fn pid_status(status: u32) -> Result<PidStatus, Failure> {
    u16::try_from(status)
        .ok()
        .and_then(PidStatus::from_u16)
        .ok_or(Failure::Argument(
            "status is not a nipc_apps_lookup_status_t value",
        ))
}

// ---------------------------------------------------------------------------
// Snapshot builder
// ---------------------------------------------------------------------------

/// `nipc_error_t nipc_cgroups_builder_add(b, hash, options, enabled, name,
/// name_len, path, path_len)`: appends one cgroup to the snapshot.
///
/// # Safety
/// `b` must be the builder a snapshot handler got (or NULL); `name` and
/// `path` must point to `name_len` / `path_len` readable bytes (NULL
/// allowed for 0).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn nipc_cgroups_builder_add(
    b: *mut nipc_cgroups_builder_t,
    hash: u32,
    options: u32,
    enabled: u32,
    name: *const c_char,
    name_len: u32,
    path: *const c_char,
    path_len: u32,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        build(
            b,
            "nipc_cgroups_builder_add",
            |builder: &mut SnapshotBuilder<'static>, _| {
                let name = bytes(name, name_len, "name is NULL with a non-zero name_len")?;
                let path = bytes(path, path_len, "path is NULL with a non-zero path_len")?;
                Ok(builder.add(&SnapshotItem {
                    hash,
                    options,
                    enabled,
                    name,
                    path,
                })?)
            },
        )
    }
}

/// `nipc_error_t nipc_cgroups_builder_set_header(b, systemd_enabled,
/// generation)`: the snapshot's header values.
///
/// # Safety
/// `b` must be the builder a snapshot handler got (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_builder_set_header(
    b: *mut nipc_cgroups_builder_t,
    systemd_enabled: u32,
    generation: u64,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        build(
            b,
            "nipc_cgroups_builder_set_header",
            |builder: &mut SnapshotBuilder<'static>, _| {
                builder.set_systemd_enabled(systemd_enabled);
                builder.set_generation(generation);
                Ok(())
            },
        )
    }
}

/// `nipc_error_t nipc_cgroups_builder_error(const b)`: the builder's first
/// error.
///
/// # Safety
/// `b` must be the builder a snapshot handler got (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_builder_error(
    b: *const nipc_cgroups_builder_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe { first_error(b, |builder: &SnapshotBuilder<'static>| builder.error()) }
}

// ---------------------------------------------------------------------------
// Cgroups lookup
// ---------------------------------------------------------------------------

/// `nipc_error_t nipc_cgroups_lookup_req_path(const req, index, out)`: path
/// `index` of the request (NUL-terminated in the request payload).
///
/// # Safety
/// `req` must be the view a cgroups-lookup handler got (or NULL), `out`
/// writable (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_lookup_req_path(
    req: *const nipc_cgroups_lookup_req_view_t,
    index: u32,
    out: *mut nipc_str_view_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe { ReqView::key(req, index, out, |r, i| r.path(i).map(nipc_str_view_t::of)) }
}

/// The misuse-checked parts of a cgroups-lookup item.
///
/// # Safety
/// `name` must point to `name_len` readable bytes (NULL allowed for 0).
unsafe fn cgroups_entry<'a>(
    status: u32,
    orchestrator: u16,
    name: *const c_char,
    name_len: u32,
) -> Result<CgroupsEntry<'a>, Failure> {
    Ok(CgroupsEntry {
        status: cgroups_status(status)?,
        orchestrator,
        // SAFETY: the caller's contract.
        name: unsafe { bytes(name, name_len, "name is NULL with a non-zero name_len") }?,
    })
}

/// `nipc_error_t nipc_cgroups_lookup_builder_add(b, path, path_len, status,
/// orchestrator, name, name_len, labels, label_count)`: the answer for the
/// next requested path.
///
/// # Safety
/// `b` must be the builder a cgroups-lookup handler got (or NULL); the
/// strings and labels must be readable as their lengths say.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn nipc_cgroups_lookup_builder_add(
    b: *mut nipc_cgroups_lookup_builder_t,
    path: *const c_char,
    path_len: u32,
    status: u32,
    orchestrator: u16,
    name: *const c_char,
    name_len: u32,
    labels: *const nipc_label_t,
    label_count: u32,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        build(
            b,
            "nipc_cgroups_lookup_builder_add",
            |builder: &mut CgroupsLookupBuilder<'static, 'static>, _| {
                let path = bytes(path, path_len, "path is NULL with a non-zero path_len")?;
                let entry = cgroups_entry(status, orchestrator, name, name_len)?;
                Ok(with_labels(labels, label_count, |l| {
                    builder.add(path, &entry, l)
                })??)
            },
        )
    }
}

/// `nipc_error_t nipc_cgroups_lookup_builder_add_request_item(b, req, index,
/// status, orchestrator, name, name_len, labels, label_count)`: the answer
/// for path `index` of `req`, the request of the same call.
///
/// # Safety
/// As [`nipc_cgroups_lookup_builder_add`]; `req` must be the view of the
/// same handler call (or NULL).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn nipc_cgroups_lookup_builder_add_request_item(
    b: *mut nipc_cgroups_lookup_builder_t,
    req: *const nipc_cgroups_lookup_req_view_t,
    index: u32,
    status: u32,
    orchestrator: u16,
    name: *const c_char,
    name_len: u32,
    labels: *const nipc_label_t,
    label_count: u32,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        build(
            b,
            "nipc_cgroups_lookup_builder_add_request_item",
            |builder: &mut CgroupsLookupBuilder<'static, 'static>, held| {
                // SAFETY: not NULL (checked first); a handler's view.
                if req.is_null() || (*req).state != LIVE || (*req).request.cast() != held.request {
                    return Err(Failure::Argument(
                        "req is not the request view of this handler call",
                    ));
                }
                let entry = cgroups_entry(status, orchestrator, name, name_len)?;
                Ok(with_labels(labels, label_count, |l| {
                    builder.add_request_item(index as usize, &entry, l)
                })??)
            },
        )
    }
}

/// `nipc_error_t nipc_cgroups_lookup_builder_add_status(b, path, path_len,
/// status)`: a not-enriched answer (no orchestrator, name or labels).
///
/// # Safety
/// As [`nipc_cgroups_lookup_builder_add`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_lookup_builder_add_status(
    b: *mut nipc_cgroups_lookup_builder_t,
    path: *const c_char,
    path_len: u32,
    status: u32,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        build(
            b,
            "nipc_cgroups_lookup_builder_add_status",
            |builder: &mut CgroupsLookupBuilder<'static, 'static>, _| {
                let path = bytes(path, path_len, "path is NULL with a non-zero path_len")?;
                Ok(builder.add_status(path, cgroups_status(status)?)?)
            },
        )
    }
}

/// `nipc_error_t nipc_cgroups_lookup_builder_set_generation(b, generation)`.
///
/// # Safety
/// As [`nipc_cgroups_lookup_builder_add`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_lookup_builder_set_generation(
    b: *mut nipc_cgroups_lookup_builder_t,
    generation: u64,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        build(
            b,
            "nipc_cgroups_lookup_builder_set_generation",
            |builder: &mut CgroupsLookupBuilder<'static, 'static>, _| {
                builder.set_generation(generation);
                Ok(())
            },
        )
    }
}

/// `nipc_error_t nipc_cgroups_lookup_builder_error(const b)`.
///
/// # Safety
/// As [`nipc_cgroups_lookup_builder_add`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_lookup_builder_error(
    b: *const nipc_cgroups_lookup_builder_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        first_error(b, |builder: &CgroupsLookupBuilder<'static, 'static>| {
            builder.error()
        })
    }
}

// ---------------------------------------------------------------------------
// Apps lookup
// ---------------------------------------------------------------------------

/// `nipc_error_t nipc_apps_lookup_req_pid(const req, index, out)`: PID
/// `index` of the request.
///
/// # Safety
/// `req` must be the view an apps-lookup handler got (or NULL), `out`
/// writable (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_apps_lookup_req_pid(
    req: *const nipc_apps_lookup_req_view_t,
    index: u32,
    out: *mut u32,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe { ReqView::key(req, index, out, AppsLookupRequest::pid) }
}

/// `nipc_error_t nipc_apps_lookup_builder_add(b, pid, entry, labels,
/// label_count)`: the answer for the next requested PID.
///
/// # Safety
/// `b` must be the builder an apps-lookup handler got (or NULL); `entry`
/// readable (or NULL), its strings and the labels readable as their
/// lengths say.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_apps_lookup_builder_add(
    b: *mut nipc_apps_lookup_builder_t,
    pid: u32,
    entry: *const nipc_apps_lookup_entry_t,
    labels: *const nipc_label_t,
    label_count: u32,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        build(
            b,
            "nipc_apps_lookup_builder_add",
            |builder: &mut AppsLookupBuilder<'static>, _| {
                if entry.is_null() {
                    return Err(Failure::Argument("entry is NULL"));
                }
                let e = &*entry;
                let entry = AppsEntry {
                    status: pid_status(u32::from(e.status))?,
                    cgroup_status: CgroupStatus::from_u16(e.cgroup_status).ok_or(
                        Failure::Argument(
                            "entry->cgroup_status is not a nipc_apps_cgroup_status_t value",
                        ),
                    )?,
                    orchestrator: e.orchestrator,
                    ppid: e.ppid,
                    uid: e.uid,
                    starttime: e.starttime,
                    comm: e.comm.bytes("entry->comm is NULL with a non-zero length")?,
                    cgroup_path: e
                        .cgroup_path
                        .bytes("entry->cgroup_path is NULL with a non-zero length")?,
                    cgroup_name: e
                        .cgroup_name
                        .bytes("entry->cgroup_name is NULL with a non-zero length")?,
                };
                Ok(with_labels(labels, label_count, |l| {
                    builder.add(pid, &entry, l)
                })??)
            },
        )
    }
}

/// `nipc_error_t nipc_apps_lookup_builder_add_status(b, pid, status)`: a
/// not-enriched answer (every field unset).
///
/// # Safety
/// `b` must be the builder an apps-lookup handler got (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_apps_lookup_builder_add_status(
    b: *mut nipc_apps_lookup_builder_t,
    pid: u32,
    status: u32,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        build(
            b,
            "nipc_apps_lookup_builder_add_status",
            |builder: &mut AppsLookupBuilder<'static>, _| {
                Ok(builder.add_status(pid, pid_status(status)?)?)
            },
        )
    }
}

/// `nipc_error_t nipc_apps_lookup_builder_set_generation(b, generation)`.
///
/// # Safety
/// `b` must be the builder an apps-lookup handler got (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_apps_lookup_builder_set_generation(
    b: *mut nipc_apps_lookup_builder_t,
    generation: u64,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        build(
            b,
            "nipc_apps_lookup_builder_set_generation",
            |builder: &mut AppsLookupBuilder<'static>, _| {
                builder.set_generation(generation);
                Ok(())
            },
        )
    }
}

/// `nipc_error_t nipc_apps_lookup_builder_error(const b)`.
///
/// # Safety
/// `b` must be the builder an apps-lookup handler got (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_apps_lookup_builder_error(
    b: *const nipc_apps_lookup_builder_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe { first_error(b, |builder: &AppsLookupBuilder<'static>| builder.error()) }
}
