//! A counting global allocator for the adversarial suite: how many heap
//! bytes a piece of code holds at its peak.
//!
//! Two views:
//! - per thread ([`Scope`]): the bytes the current thread allocated and
//!   has not freed, and their peak, while a scope is open. Other threads
//!   (fake peers, other tests of this binary) do not count. A client does
//!   all of its work on the calling thread, so this measures a call.
//! - per process ([`live`], [`process_peak`]): every thread's bytes, for
//!   servers, whose workers allocate. Only exact when nothing else runs in
//!   the process, which is why those cases run in a child process of their
//!   own (see `bounds::isolated`).
//!
//! A `realloc` counts as its net change (the system allocator resizes large
//! blocks in place); everything else is counted as requested.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

/// The allocator registered by `main.rs`.
pub struct Meter;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    /// Whether this thread counts, its live bytes since the scope opened,
    /// and their peak. Const-initialised `Cell`s: no allocation, no
    /// destructor, safe to touch from inside the allocator.
    static ON: Cell<bool> = const { Cell::new(false) };
    static THREAD_LIVE: Cell<isize> = const { Cell::new(0) };
    static THREAD_PEAK: Cell<isize> = const { Cell::new(0) };
}

fn record(delta: isize) {
    let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
    PEAK.fetch_max(now, Ordering::Relaxed);
    let _ = ON.try_with(|on| {
        if on.get() {
            let live = THREAD_LIVE.with(|l| {
                l.set(l.get() + delta);
                l.get()
            });
            THREAD_PEAK.with(|p| p.set(p.get().max(live)));
        }
    });
}

fn size(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// bookkeeping only touches atomics and const-initialised thread-locals,
// which never allocate.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            record(size(layout.size()));
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            record(size(layout.size()));
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) };
        record(-size(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            record(size(new_size) - size(layout.size()));
        }
        p
    }
}

/// Counts what the current thread allocates while it is alive.
pub struct Scope {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Scope {
    /// Starts counting on this thread from zero.
    pub fn start() -> Self {
        THREAD_LIVE.with(|l| l.set(0));
        THREAD_PEAK.with(|p| p.set(0));
        ON.with(|on| on.set(true));
        Self {
            _not_send: std::marker::PhantomData,
        }
    }

    /// Most bytes this thread held at once since [`start`](Self::start)
    /// (beyond what it held before).
    pub fn peak(&self) -> usize {
        usize::try_from(THREAD_PEAK.with(Cell::get)).unwrap_or(0)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        ON.with(|on| on.set(false));
    }
}

/// Heap bytes the whole process holds now.
pub fn live() -> usize {
    usize::try_from(LIVE.load(Ordering::Relaxed)).unwrap_or(0)
}

/// Restarts the process-wide peak at the current level.
pub fn reset_process_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Most heap bytes the whole process held at once since the last
/// [`reset_process_peak`].
pub fn process_peak() -> usize {
    usize::try_from(PEAK.load(Ordering::Relaxed)).unwrap_or(0)
}
