//! When a worker waits for a socket session's next request in the socket
//! itself instead of handing the session back to the shared poller.
//!
//! A request that comes through the poller costs the server four system
//! calls (the poller's wait, the receive, the send and the one-shot
//! re-arm); a worker that has just answered a busy session and blocks in
//! the session's `recv` until the next request comes needs two, as a thread
//! per session would. That wait is a sleep, not a spin, but it keeps the
//! worker from the other sessions, so it happens only:
//!
//! - while the server has **fewer sessions than workers**, so that every
//!   session could have a worker to itself and one is left over: with more
//!   sessions, a worker held by a client that is slow to call again (a
//!   thread among many on few cores) would make the others wait;
//! - while **another worker is free** and no other session waits for one
//!   (the same rule as the shared-memory poll,
//!   [`Engine::may_spin`](super::Engine::may_spin));
//! - for a **busy** session: one whose last request came within
//!   [`BUSY_GAP`] of the answer before it (its client calls back to back),
//!   and that has not let a wait run out since;
//! - on sockets: a Windows pipe cannot be waited on this way without an
//!   overlapped read to cancel, so it is re-armed at once
//!   (`ServerSession::LINGERS`).
//!
//! The wait is the socket's receive timeout, [`LINGER`], which the kernel
//! keeps in timer ticks (see `Conn::linger_recv_packet`: 4-8 ms at 250 Hz).
//! A session that goes quiet therefore costs one such wait of a worker that
//! was free when it began; the session and worker counts are checked only
//! then, so a session that arrives meanwhile and finds the other workers
//! busy may wait up to that long for one. The quiet session is not busy any
//! more until its requests follow their answers quickly again. `stop` waits
//! for the wait to end; a client that leaves ends it at once.

use std::time::{Duration, Instant};

/// The receive timeout of a worker waiting for a busy session's next
/// request.
pub(super) const LINGER: Duration = Duration::from_millis(1);

/// A session whose next request came this soon after its answer is busy.
pub(super) const BUSY_GAP: Duration = Duration::from_millis(1);

/// Whether a socket session is busy, and what tells it.
#[derive(Debug, Default)]
pub(super) struct Linger {
    /// The session's requests follow their answers within [`BUSY_GAP`].
    busy: bool,
    /// When the last answer went out, kept while the session is not busy
    /// (to time the next request).
    answered: Option<Instant>,
}

impl Linger {
    /// A request came through the poller: the session is busy when it came
    /// within [`BUSY_GAP`] of the last answer.
    pub(super) fn request_came(&mut self) {
        if let Some(answered) = self.answered.take() {
            self.busy = answered.elapsed() <= BUSY_GAP;
        }
    }

    /// An answer went out; `true` when the session is busy (its next
    /// request may be waited for), else the answer's time is kept.
    pub(super) fn answered(&mut self) -> bool {
        if !self.busy {
            self.answered = Some(Instant::now());
        }
        self.busy
    }

    /// A wait ran out before the next request came: the session is quiet.
    pub(super) fn ran_out(&mut self) {
        self.busy = false;
        self.answered = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer that went out just now, however long the test thread is
    /// kept off the CPU before it looks (`elapsed` of a later instant is 0).
    fn just_now() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(3600))
    }

    /// An answer that went out longer than [`BUSY_GAP`] ago.
    fn long_ago() -> Option<Instant> {
        Instant::now().checked_sub(BUSY_GAP * 2)
    }

    #[test]
    fn a_session_is_busy_once_a_request_follows_its_answer_quickly() {
        let mut linger = Linger::default();
        assert!(!linger.answered(), "a new session is not busy");
        assert!(linger.answered.is_some(), "its answer is timed");
        linger.answered = just_now();
        linger.request_came();
        assert!(linger.answered(), "a request at once after the answer");
        assert!(linger.answered(), "busy sessions stay busy");
    }

    #[test]
    fn a_session_whose_request_came_late_or_whose_wait_ran_out_is_not_busy() {
        let mut linger = Linger {
            answered: long_ago(),
            ..Linger::default()
        };
        linger.request_came();
        assert!(!linger.answered(), "the request came after the gap");
        linger.answered = just_now();
        linger.request_came();
        assert!(linger.answered());
        linger.ran_out();
        assert!(!linger.answered(), "the wait ran out");
        linger.answered = long_ago();
        linger.request_came();
        assert!(!linger.answered());
    }

    #[test]
    fn a_request_without_a_timed_answer_changes_nothing() {
        let mut linger = Linger::default();
        linger.request_came();
        assert!(!linger.busy);
        linger.busy = true;
        linger.request_came();
        assert!(linger.busy, "a busy session is not timed");
    }
}
