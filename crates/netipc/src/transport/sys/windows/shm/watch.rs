//! Sleeping on many session regions at once: the Windows half of a
//! multi-session server's shared-memory wait groups.
//!
//! A group thread sleeps in one `WaitForMultipleObjects` call on its own
//! wake-up event plus the request events of up to [`group_capacity`]
//! SHM_HYBRID regions (64 handles, the call's limit). Arming a region
//! raises the request lane's `req_server_waiting` flag, so the client
//! signals the event with its next request; its close protocol
//! (`req_client_closed`, then the event) wakes the group too.
//!
//! SHM_BUSYWAIT regions have no events (their clients never signal), so
//! a group holding one polls: yielding between polls for
//! [`BUSY_POLL_WINDOW`] after the session went idle (a busy client's next
//! request is picked up within microseconds), then once per
//! [`BUSY_POLL_MS`] (the system timer's tick, 15.6 ms by default, bounds
//! the latency of an idle session's first request and the cost to about
//! 64 wake-ups a second per group).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::Threading::{INFINITE, Sleep, SwitchToThread};

use super::event::NamedEvent;
use super::layout::Lane;
use super::view::View;
use crate::transport::sys::windows::overlapped::wait_any;
use crate::transport::sys::windows::util::Event;

/// Most handles one wait takes (MAXIMUM_WAIT_OBJECTS).
const MAX_WAIT: usize = 64;
/// How long after going idle a SHM_BUSYWAIT session is polled with
/// yields only.
const BUSY_POLL_WINDOW: Duration = Duration::from_millis(20);
/// The polling period of an idle SHM_BUSYWAIT session after that.
const BUSY_POLL_MS: u32 = 1;
/// The polling period of a group whose wake-up event could not be created.
const NO_EVENT_POLL_MS: u32 = 10;

/// Regions one group thread can watch: 63 request events plus the group's
/// own wake-up event fill one `WaitForMultipleObjects`.
pub(crate) fn group_capacity() -> usize {
    MAX_WAIT - 1
}

/// A Linux test hook (single-region futex waits); nothing to change here.
#[cfg(feature = "test-support")]
pub(crate) fn disable_waitv() {}

/// One region a group watches: the request lane, the sequence number the
/// next request will have, and the request event (SHM_HYBRID).
#[derive(Debug)]
pub(crate) struct ShmWatch {
    view: Arc<View>,
    lane: Lane,
    expected: i64,
    event: Option<Arc<NamedEvent>>,
    idle_since: Instant,
}

impl ShmWatch {
    pub(super) fn new(
        view: Arc<View>,
        lane: Lane,
        expected: i64,
        event: Option<Arc<NamedEvent>>,
    ) -> Self {
        Self {
            view,
            lane,
            expected,
            event,
            idle_since: Instant::now(),
        }
    }

    fn ready(&self) -> bool {
        self.view.i64_at(self.lane.seq).load(Ordering::SeqCst) >= self.expected
            || self
                .view
                .i32_at(self.lane.writer_closed)
                .load(Ordering::SeqCst)
                != 0
    }

    /// Prepares a sleep: announces it (SHM_HYBRID: the client signals the
    /// request event only while the flag is up), then re-checks the
    /// sequence and the client's closed flag. `None` when the request or
    /// the close is already there (the flag is lowered again). A
    /// publication after this signals the event, which the group waits
    /// on, so no wake-up is lost. The value is meaningless on Windows.
    pub(crate) fn arm(&self) -> Option<u32> {
        let waiting = self.view.i32_at(self.lane.reader_waiting);
        if self.event.is_some() {
            waiting.swap(1, Ordering::SeqCst);
        }
        if self.ready() {
            if self.event.is_some() {
                waiting.swap(0, Ordering::SeqCst);
            }
            return None;
        }
        Some(0)
    }

    /// Nothing to do: every change of a group also sets the group's own
    /// wake-up event, which its wait always includes.
    pub(crate) fn nudge(&self) {}

    /// How long a group holding this SHM_BUSYWAIT region may sleep.
    fn poll_ms(&self) -> u32 {
        if self.idle_since.elapsed() < BUSY_POLL_WINDOW {
            0
        } else {
            BUSY_POLL_MS
        }
    }
}

/// The wake-up of one group thread: a counter the group reads before it
/// builds its wait list, and an auto-reset event its wait includes.
#[derive(Debug)]
pub(crate) struct GroupSignal {
    value: AtomicU32,
    /// `None` only if the event could not be created: the group then
    /// polls.
    event: Option<Event>,
}

impl Default for GroupSignal {
    fn default() -> Self {
        Self {
            value: AtomicU32::new(0),
            event: Event::new(false).ok(),
        }
    }
}

impl GroupSignal {
    /// The current value, read before the group builds its wait list.
    pub(crate) fn value(&self) -> u32 {
        self.value.load(Ordering::SeqCst)
    }

    /// Makes the group thread return from its wait.
    pub(crate) fn wake(&self) {
        self.value.fetch_add(1, Ordering::SeqCst);
        if let Some(event) = &self.event {
            event.set();
        }
    }
}

/// Sleeps until `signal` moves from `seen` or one of the `armed` regions is
/// signalled; with SHM_BUSYWAIT regions armed, for at most their polling
/// period. Spurious returns are allowed: the caller re-checks everything.
pub(crate) fn wait_group(signal: &GroupSignal, seen: u32, armed: &[(Arc<ShmWatch>, u32)]) {
    if signal.value() != seen {
        return;
    }
    let mut handles: [HANDLE; MAX_WAIT] = [std::ptr::null_mut(); MAX_WAIT];
    let mut count = 0;
    let mut ms = INFINITE;
    match &signal.event {
        Some(event) => {
            handles[0] = event.raw();
            count = 1;
        }
        None => ms = NO_EVENT_POLL_MS,
    }
    for (watch, _) in armed {
        match &watch.event {
            Some(event) if count < MAX_WAIT => {
                handles[count] = event.raw();
                count += 1;
            }
            // More than one wait takes (not with group_capacity members).
            Some(_) => ms = ms.min(BUSY_POLL_MS),
            None => ms = ms.min(watch.poll_ms()),
        }
    }
    if count == 0 {
        // SAFETY: no preconditions.
        unsafe { Sleep(ms) };
    } else {
        wait_any(&handles[..count], ms);
    }
    if ms == 0 {
        // SAFETY: no preconditions.
        unsafe { SwitchToThread() };
    }
}
