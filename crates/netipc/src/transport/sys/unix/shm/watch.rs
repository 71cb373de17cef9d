//! Sleeping on many session regions at once: the Linux half of a
//! multi-session server's shared-memory wait groups.
//!
//! A group thread sleeps in one `futex_waitv` call (Linux 5.16 and later)
//! on up to [`group_capacity`] request signal words plus its own control
//! word, so idle sessions cost no thread and no polling. On older kernels
//! (`ENOSYS`) a group holds one region and sleeps in a plain `FUTEX_WAIT`;
//! whoever changes the group then also nudges that region's word.
//!
//! A region whose file another process truncated is never slept on: its
//! [`ShmWatch::arm`] reports it ready, so the server's worker finds the
//! loss when it looks for the request and ends that session. A futex wait
//! on a word whose page was truncated away fails with `EFAULT` instead of
//! faulting; the group then touches each of its regions, which marks the
//! truncated ones lost (see [`fault_guard`](super::fault_guard)), and
//! returns so that its caller re-arms: the lost regions leave the group
//! with their sessions ending, the others are slept on again.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use rustix::io::Errno;
use rustix::thread::futex;

use super::mapping::Mapping;
use super::region::intact;

/// Most futexes one `futex_waitv` call takes (the kernel's limit).
const WAITV_MAX: usize = 128;

/// Set when groups must not use `futex_waitv` (a test hook).
static NO_WAITV: AtomicBool = AtomicBool::new(false);

/// Whether `futex_waitv` works here, probed once with a wait that returns
/// at once (`EAGAIN`: the value differs) where it does.
fn has_waitv() -> bool {
    static PROBED: OnceLock<bool> = OnceLock::new();
    let exists = *PROBED.get_or_init(|| {
        let word = AtomicU32::new(0);
        let mut wait = futex::Wait::new();
        wait.val = 1;
        wait.uaddr = futex::WaitPtr::new(word.as_ptr().cast());
        wait.flags = futex::WaitFlags::SIZE_U32 | futex::WaitFlags::PRIVATE;
        // Only the answer of a working `futex_waitv` counts: ENOSYS (old
        // kernels) or EPERM (a seccomp filter) mean single waits.
        matches!(
            futex::waitv(
                &[wait],
                futex::WaitvFlags::empty(),
                None,
                rustix::time::ClockId::Monotonic
            ),
            Err(Errno::AGAIN)
        )
    });
    exists && !NO_WAITV.load(Ordering::Relaxed)
}

/// Regions one group thread can watch: 127 with `futex_waitv` (its 128th
/// futex is the group's control word), 1 without.
pub(crate) fn group_capacity() -> usize {
    if has_waitv() { WAITV_MAX - 1 } else { 1 }
}

/// Makes every later group use single-region waits, as on kernels without
/// `futex_waitv` (a test hook for that path).
#[cfg(feature = "test-support")]
pub(crate) fn disable_waitv() {
    NO_WAITV.store(true, Ordering::Relaxed);
}

/// One region a group watches: the request direction's sequence and
/// signal word, and the sequence number the next request will have.
#[derive(Debug)]
pub(crate) struct ShmWatch {
    map: Arc<Mapping>,
    seq: usize,
    signal: usize,
    expected: u64,
    wake_on_demand: bool,
}

impl ShmWatch {
    pub(super) fn new(
        map: Arc<Mapping>,
        seq: usize,
        signal: usize,
        expected: u64,
        wake_on_demand: bool,
    ) -> Self {
        Self {
            map,
            seq,
            signal,
            expected,
            wake_on_demand,
        }
    }

    /// Prepares a sleep: announces it (netipc peers wake only a sleeping
    /// consumer) or samples the signal word, then re-checks the sequence.
    /// Returns the value to sleep on, or `None` when the message is
    /// already there or the region was lost (truncated by another
    /// process: the receive that follows reports it). A publication after
    /// this changes the word, so the sleep returns at once and no wake-up
    /// is lost.
    pub(crate) fn arm(&self) -> Option<u32> {
        let signal = self.map.u32_at(self.signal);
        let value = if self.wake_on_demand {
            signal.swap(1, Ordering::SeqCst);
            1
        } else {
            signal.load(Ordering::Acquire)
        };
        if self.map.u64_at(self.seq).load(Ordering::SeqCst) >= self.expected {
            if self.wake_on_demand {
                signal.store(0, Ordering::Relaxed);
            }
            return None;
        }
        if !intact(&self.map) {
            return None;
        }
        Some(value)
    }

    /// Touches the region (its signal word and its last byte), so that a
    /// file truncated under it is found out now: the access faults, the
    /// mapping becomes lost and the next [`arm`](Self::arm) says so.
    /// Returns whether the region is lost.
    fn probe(&self) -> bool {
        let _ = self.word().load(Ordering::Relaxed);
        self.map.probe();
        !intact(&self.map)
    }

    /// Wakes a group thread sleeping on this region alone (the path
    /// without `futex_waitv`; with it, the group's control word does). It
    /// changes the word before the wake, so a thread that is about to
    /// sleep on it returns at once instead of missing the wake. Only used
    /// for a region whose session is closing: its client does not mind
    /// (a netipc client then skips one wake call; a reference client only
    /// ever adds to the word).
    pub(crate) fn nudge(&self) {
        if has_waitv() {
            return;
        }
        let word = self.word();
        if self.wake_on_demand {
            word.store(0, Ordering::SeqCst);
        } else {
            word.fetch_add(1, Ordering::SeqCst);
        }
        let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
    }

    fn word(&self) -> &AtomicU32 {
        self.map.u32_at(self.signal)
    }
}

/// The control word of one group thread: bumped to make it re-read its
/// list of regions.
#[derive(Debug, Default)]
pub(crate) struct GroupSignal(AtomicU32);

impl GroupSignal {
    /// The current value, read before the group builds its wait list.
    pub(crate) fn value(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }

    /// Makes the group thread return from its wait.
    pub(crate) fn wake(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        let _ = futex::wake(&self.0, futex::Flags::PRIVATE, 1);
    }
}

/// Sleeps until the control word moves from `seen` or one of the `armed`
/// regions (each with the value [`ShmWatch::arm`] returned) is signalled.
/// Spurious returns are allowed: the caller re-checks everything.
pub(crate) fn wait_group(signal: &GroupSignal, seen: u32, armed: &[(Arc<ShmWatch>, u32)]) {
    if has_waitv() && !armed.is_empty() {
        let mut waits = [futex::Wait::new(); WAITV_MAX];
        waits[0].val = u64::from(seen);
        waits[0].uaddr = futex::WaitPtr::new(signal.0.as_ptr().cast());
        waits[0].flags = futex::WaitFlags::SIZE_U32 | futex::WaitFlags::PRIVATE;
        let armed = &armed[..armed.len().min(WAITV_MAX - 1)];
        for (slot, (watch, value)) in waits[1..].iter_mut().zip(armed) {
            slot.val = u64::from(*value);
            slot.uaddr = futex::WaitPtr::new(watch.word().as_ptr().cast());
            slot.flags = futex::WaitFlags::SIZE_U32;
        }
        if let Err(Errno::FAULT) = futex::waitv(
            &waits[..=armed.len()],
            futex::WaitvFlags::empty(),
            None,
            rustix::time::ClockId::Monotonic,
        ) {
            find_lost(armed);
        }
        return;
    }
    wait_single(signal, seen, armed);
}

/// [`wait_group`] without `futex_waitv`: a group holds one region; sleep
/// on its word (a change of the group nudges it), or on the control word
/// when empty.
pub(super) fn wait_single(signal: &GroupSignal, seen: u32, armed: &[(Arc<ShmWatch>, u32)]) {
    match armed.first() {
        Some((watch, value)) if signal.value() == seen => {
            if let Err(Errno::FAULT) =
                futex::wait(watch.word(), futex::Flags::empty(), *value, None)
            {
                find_lost(armed);
            }
        }
        Some(_) => {}
        None => {
            let _ = futex::wait(&signal.0, futex::Flags::PRIVATE, seen, None);
        }
    }
}

/// After a wait failed with `EFAULT`: touches every armed region so that
/// the truncated ones are marked lost (their next `arm` reports them). If
/// none is, pauses briefly, so that a fault that cannot be pinned on a
/// region does not turn the group's loop into a busy one.
#[cold]
fn find_lost(armed: &[(Arc<ShmWatch>, u32)]) {
    let mut found = false;
    for (watch, _) in armed {
        found |= watch.probe();
    }
    if !found {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
