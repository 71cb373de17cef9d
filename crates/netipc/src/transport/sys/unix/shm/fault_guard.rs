//! No SIGBUS, ever: a process-wide `SIGBUS` handler that turns an access
//! to a shared-memory file another process truncated into reads of zeros
//! and a "lost" flag, instead of killing the process.
//!
//! # The problem
//!
//! A session's region is a file in the run directory, mapped `MAP_SHARED`
//! by the provider and its consumer. Any process of the same user may
//! `truncate` it. The pages past the new end of file are then gone from
//! both mappings, and the next access to them raises `SIGBUS`, whose
//! default action kills the process: one `truncate -s 0` would take down a
//! provider with all its sessions, and the consumer with it.
//!
//! # The design (what Wayland compositors do with client pools)
//!
//! - Every mapping of a region file (and of the bench's raw-limit file)
//!   registers its address range here before its first access and
//!   deregisters after its last one, just before `munmap`
//!   ([`Guard`]). The registry is a chain of fixed-size chunks of slots,
//!   linked lock-free and never freed; a slot is claimed with a
//!   compare-and-swap and published with a sequence counter, so the signal
//!   handler can walk it without locks and without allocating.
//! - On the first registration the handler is installed once for the
//!   whole process (`sigaction(SIGBUS)`, `SA_SIGINFO | SA_ONSTACK`), after
//!   saving the disposition that was there before.
//! - The handler looks up the fault address. Inside one of our mappings,
//!   it sets that mapping's lost flag and replaces the whole mapping in
//!   place with anonymous zero memory (`mmap(MAP_FIXED | MAP_PRIVATE |
//!   MAP_ANONYMOUS)`), then returns: the faulting instruction runs again
//!   and reads zeros (or writes into memory nobody else sees). Every
//!   reader checks the flag after copying a message out, after publishing,
//!   and whenever a wait goes round its loop, and ends the session with
//!   [`Error::ShmRegionLost`](crate::Error::ShmRegionLost), which names the
//!   file.
//! - Anywhere else, the fault is not ours and the process must behave as
//!   if the handler did not exist: the previous handler is called (Rust's
//!   standard library installs one to report stack overflows; a C program
//!   may have its own); a previous default (or ignored, which cannot apply
//!   to a fault) disposition is restored and the handler returns, so the
//!   access faults again and the process dies of `SIGBUS` as it would
//!   have. A `SIGBUS` sent by another process (not a fault) is re-raised
//!   under the restored default, or dropped if it was ignored before.
//!
//! The check on the data path is one relaxed load of a flag that lives in
//! the registry slot of the mapping (its own cache line, written only when
//! the mapping is registered, deregistered or lost), so a busy session has
//! it in cache; nothing is added to the spinning part of a wait.
//!
//! # Why not something else
//!
//! - *`fstat` before each access*: a system call per message would cost
//!   more than the whole shared-memory round trip (under a microsecond),
//!   and it would still race with a truncate that comes right after it.
//! - *`memfd` with `F_SEAL_SHRINK`*: the region is a named file that the
//!   reference peers (C, Rust, Go) open by path in the run directory; its
//!   name and layout are part of the wire protocol, so it cannot become an
//!   anonymous sealed object without breaking interoperability.
//! - *Blocking `SIGBUS` or `MAP_POPULATE`*: a fault on a blocked `SIGBUS`
//!   kills the process anyway, and populated pages are still taken away by
//!   a truncate.
//!
//! A file that is truncated and grown back reads zeros without any fault;
//! the region code recognises it by its header magic, which is never zero
//! in a live region.
//!
//! # Limits
//!
//! A program that installs its own `SIGBUS` handler *after* the first
//! region was mapped replaces this one (install yours first: it is
//! chained). A fault on a thread that blocks `SIGBUS` kills the process
//! whatever the handler: the threads netipc starts unblock it first
//! ([`unblock_in_this_thread`]); threads of the program that call into
//! netipc must not block it. A `SIGBUS` sent with `kill` to a program
//! whose previous handler resets the disposition (Rust's does) leaves the
//! guard uninstalled (the sender could as well have killed the process). The previous handler is called with the signal mask of ours,
//! not with its own `sa_mask`.

use std::ffi::c_void;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous};

/// Slots per chunk of the registry (one chunk is 4 KiB).
const SLOTS: usize = 64;

/// One registered mapping. Its own cache line: the lost flag is read on
/// the data path of one session, and slots of other sessions are written
/// when they come and go.
#[repr(align(64))]
struct Slot {
    /// Owned by a [`Guard`] (claimed with a compare-and-swap).
    claimed: AtomicBool,
    /// Even: `base` and `len` are stable; odd: they are being changed.
    seq: AtomicUsize,
    /// Start of the mapping, 0 when the slot holds none.
    base: AtomicUsize,
    len: AtomicUsize,
    /// Set by the signal handler once the mapping was replaced.
    lost: AtomicBool,
}

impl Slot {
    const fn new() -> Self {
        Self {
            claimed: AtomicBool::new(false),
            seq: AtomicUsize::new(0),
            base: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            lost: AtomicBool::new(false),
        }
    }

    /// Sets the range (the slot is claimed by the caller).
    fn publish(&self, base: usize, len: usize) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        self.base.store(base, Ordering::SeqCst);
        self.len.store(len, Ordering::SeqCst);
        self.lost.store(false, Ordering::SeqCst);
        self.seq.fetch_add(1, Ordering::SeqCst);
    }

    /// The stable range of this slot, if it holds one. Async-signal-safe.
    fn range(&self) -> Option<(usize, usize)> {
        let before = self.seq.load(Ordering::SeqCst);
        if before % 2 == 1 {
            return None;
        }
        let base = self.base.load(Ordering::SeqCst);
        let len = self.len.load(Ordering::SeqCst);
        if base == 0 || self.seq.load(Ordering::SeqCst) != before {
            // Empty, or changing now: a mapping being registered or
            // removed is not in use, so the fault cannot be in it.
            return None;
        }
        Some((base, len))
    }
}

/// A fixed-size block of slots; chunks are chained and never freed.
struct Chunk {
    slots: [Slot; SLOTS],
    next: AtomicPtr<Chunk>,
}

impl Chunk {
    const fn new() -> Self {
        Self {
            slots: [const { Slot::new() }; SLOTS],
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    fn next(&self) -> Option<&'static Chunk> {
        // SAFETY: `next` is null or a chunk leaked by `claim`, never freed.
        unsafe { self.next.load(Ordering::SeqCst).as_ref() }
    }
}

static FIRST: Chunk = Chunk::new();

/// Iterates over every slot of the registry. Async-signal-safe.
fn slots() -> impl Iterator<Item = &'static Slot> {
    std::iter::successors(Some(&FIRST), |chunk| chunk.next()).flat_map(|chunk| chunk.slots.iter())
}

/// Claims a free slot, adding a chunk when all are taken. Not called from
/// the handler (it may allocate).
fn claim() -> &'static Slot {
    let mut chunk: &'static Chunk = &FIRST;
    loop {
        for slot in &chunk.slots {
            if slot
                .claimed
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return slot;
            }
        }
        chunk = match chunk.next() {
            Some(next) => next,
            None => {
                let fresh = Box::into_raw(Box::new(Chunk::new()));
                match chunk.next.compare_exchange(
                    std::ptr::null_mut(),
                    fresh,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    // SAFETY: just leaked; it is never freed from now on.
                    Ok(_) => unsafe { &*fresh },
                    Err(winner) => {
                        // SAFETY: `fresh` was never shared; `winner` is a
                        // leaked chunk that is never freed.
                        unsafe {
                            drop(Box::from_raw(fresh));
                            &*winner
                        }
                    }
                }
            }
        };
    }
}

/// The registration of one mapping; deregister it (drop) before `munmap`.
#[derive(Debug)]
pub(super) struct Guard {
    slot: &'static Slot,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("range", &self.range())
            .field("lost", &self.lost.load(Ordering::Relaxed))
            .finish()
    }
}

impl Guard {
    /// Registers the mapping `[base, base + len)`, installing the handler
    /// first if this is the first one of the process. Call it before the
    /// first access to the mapping.
    ///
    /// # Errors
    /// When the handler cannot be installed (`sigaction` failed).
    pub(super) fn register(base: *mut u8, len: usize) -> io::Result<Self> {
        install()?;
        let slot = claim();
        slot.publish(base as usize, len);
        Ok(Self { slot })
    }

    /// Whether a fault replaced the mapping with anonymous zero memory
    /// (another process truncated the file). One relaxed load; the
    /// compiler fence keeps it after the accesses that came before it in
    /// program order (the handler runs on the faulting thread).
    #[inline]
    pub(super) fn is_lost(&self) -> bool {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        self.slot.lost.load(Ordering::Relaxed)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let slot = self.slot;
        slot.seq.fetch_add(1, Ordering::SeqCst);
        slot.base.store(0, Ordering::SeqCst);
        slot.len.store(0, Ordering::SeqCst);
        slot.seq.fetch_add(1, Ordering::SeqCst);
        slot.claimed.store(false, Ordering::SeqCst);
    }
}

/// Unblocks `SIGBUS` for the calling thread. A fault on a thread that
/// blocks it kills the process whatever the handler, so every thread
/// netipc starts calls this first (threads inherit the signal mask of
/// their creator, and daemons often block every signal before they start
/// their threads). Threads of the program that call into netipc must not
/// block `SIGBUS` either.
pub(crate) fn unblock_in_this_thread() {
    // SAFETY: a sigset initialised by sigemptyset/sigaddset; changing the
    // calling thread's mask has no other precondition.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGBUS);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// The `SIGBUS` disposition that was in force before ours.
struct Previous(std::cell::UnsafeCell<libc::sigaction>);

// SAFETY: written once by `install` before our handler is installed (so
// before the handler can read it), read-only afterwards.
unsafe impl Sync for Previous {}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();

/// Installs the handler once per process; later calls return the first
/// result.
fn install() -> io::Result<()> {
    static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| {
        // SAFETY: `sigaction` is plain data; zero is a valid value, filled
        // by the kernel below.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: queries the current disposition into `old`.
        if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) } != 0 {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        // The handler reads PREVIOUS only after it is installed below.
        let _ = PREVIOUS.set(Previous(std::cell::UnsafeCell::new(old)));
        // SAFETY: as above.
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `new.sa_mask` is a valid sigset to initialise; the
        // handler is an `extern "C"` function of the SA_SIGINFO shape.
        let rc = unsafe {
            libc::sigemptyset(&mut new.sa_mask);
            libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
        }
        Ok(())
    });
    result.map_err(|code| {
        io::Error::new(
            io::Error::from_raw_os_error(code).kind(),
            format!(
                "installing the SIGBUS guard of the shared-memory mappings: {}",
                io::Error::from_raw_os_error(code)
            ),
        )
    })
}

/// The handler. Async-signal-safe: atomics, `mmap`, `sigaction`, `raise`,
/// no locks, no allocation.
extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void) {
    // SAFETY: the thread's errno location, saved and restored so that the
    // interrupted code does not see a value set here.
    let errno = unsafe { *libc::__errno_location() };
    // SAFETY: the kernel passes a valid siginfo (checked for null anyway).
    let fault = unsafe { info.as_ref() }
        .filter(|i| i.si_code > 0)
        // SAFETY: a kernel-generated SIGBUS carries the fault address.
        .map(|i| unsafe { i.si_addr() } as usize);
    let ours = fault.and_then(|addr| {
        slots().find(|slot| {
            slot.range()
                .is_some_and(|(base, len)| addr >= base && addr - base < len)
        })
    });
    let handled = ours.is_some_and(|slot| {
        let Some((base, len)) = slot.range() else {
            return false;
        };
        slot.lost.store(true, Ordering::SeqCst);
        // SAFETY: `[base, base + len)` is a live mapping of ours (a
        // thread is accessing it, so its owner has not deregistered it);
        // replacing it keeps every pointer into it valid. The data was
        // lost with the file anyway.
        unsafe {
            mmap_anonymous(
                base as *mut c_void,
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                // NORESERVE: not charged against the commit limit, so even
                // a large mapping can be replaced; its zeros cost nothing.
                MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE,
            )
        }
        .is_ok()
    });
    if !handled {
        chain(signal, info, context, fault.is_some());
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Hands a signal that is not ours to what was there before.
fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut c_void, fault: bool) {
    let Some(previous) = PREVIOUS.get() else {
        return restore_default(signal, fault);
    };
    // SAFETY: written before the handler was installed, never changed.
    let previous = unsafe { &*previous.0.get() };
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL {
        return restore_default(signal, fault);
    }
    if handler == libc::SIG_IGN {
        if fault {
            // The kernel does not let a fault be ignored: it kills.
            restore_default(signal, true);
        }
        return;
    }
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it
        // has this signature; it gets the same arguments the kernel gave.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute(handler) };
        f(signal, info, context);
    } else {
        // SAFETY: a plain handler of this signature.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(signal);
    }
}

/// Restores the default action; a fault then happens again when the
/// handler returns and kills the process, a signal sent by a process is
/// raised again (it stays pending until the handler returns).
fn restore_default(signal: libc::c_int, fault: bool) {
    // SAFETY: plain data; zero with SIG_DFL is a valid disposition.
    let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
    default.sa_sigaction = libc::SIG_DFL;
    // SAFETY: sigaction and raise are async-signal-safe.
    unsafe {
        libc::sigaction(signal, &default, std::ptr::null_mut());
        if !fault {
            libc::raise(signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_the_registry_grows() {
        let guards: Vec<Guard> = (0..SLOTS * 2 + 3)
            .map(|i| Guard::register((0x1000 * (i + 1)) as *mut u8, 0x1000).unwrap())
            .collect();
        let addr = 0x1000 * (SLOTS + 5) + 12;
        let found = slots()
            .filter(|s| s.range().is_some_and(|(b, l)| addr >= b && addr - b < l))
            .count();
        assert_eq!(found, 1);
        drop(guards);
        assert!(
            slots()
                .filter(|s| s.range().is_some_and(|(b, l)| addr >= b && addr - b < l))
                .count()
                == 0
        );
    }
}
