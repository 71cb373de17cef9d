//! What a server needs to serve many sessions with few threads: a poller
//! that worker threads share (readiness of the listener and of every
//! connection, plus tokens posted between threads) and wait groups that
//! sleep on the shared-memory sessions' request signals.
//!
//! Crate-private: the managed server (L2) is built on it. Every
//! registration is one-shot: an event goes to exactly one worker, which
//! re-arms the source when it is done with it. Events carry the caller's
//! `u64` tokens.

mod shm_wait;

// An alias, not a `use`: on a target without a backend the import would be
// a second error next to the backend's `compile_error!`.
pub(crate) type Event = super::sys::Event;
pub(crate) use shm_wait::{ShmWaiters, WatchId};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::sys;
use super::{Incoming, Listener, ServerSession};
use crate::error::Result;

/// The readiness poller of one server; `Send + Sync`, shared by all of its
/// worker threads.
#[derive(Debug)]
pub(crate) struct Poller {
    inner: sys::Poller,
    /// Posted tokens no worker has taken yet.
    queued: AtomicUsize,
}

impl Poller {
    /// # Errors
    /// `Io` when the OS object cannot be created.
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            inner: sys::Poller::new()?,
            queued: AtomicUsize::new(0),
        })
    }

    /// Watches `listener` for waiting connections under `token`.
    pub(crate) fn add_listener(&self, listener: &Listener, token: u64) -> Result<()> {
        self.inner.add_listener(&listener.inner, token)
    }

    /// Arms the listener for its next event.
    pub(crate) fn rearm_listener(&self, listener: &Listener, token: u64) -> Result<()> {
        self.inner.rearm_listener(&listener.inner, token)
    }

    /// Stops watching the listener.
    pub(crate) fn remove_listener(&self, listener: &Listener) {
        self.inner.remove_listener(&listener.inner);
    }

    /// Registers a new connection, armed for its HELLO.
    pub(crate) fn add_incoming(&self, incoming: &Incoming, token: u64) -> Result<()> {
        self.inner.add(incoming.conn(), token, sys::Interest::Read)
    }

    /// Arms a connection that is still waiting for its HELLO.
    pub(crate) fn rearm_incoming(&self, incoming: &Incoming, token: u64) -> Result<()> {
        self.inner
            .rearm(incoming.conn(), token, sys::Interest::Read)
    }

    /// Arms a session for its next request (baseline) or for its peer's
    /// hang-up (shared memory, whose requests arrive through a wait
    /// group).
    pub(crate) fn arm_session(&self, session: &ServerSession, token: u64) -> Result<()> {
        let interest = if session.chan.is_shm() {
            sys::Interest::HangUp
        } else {
            sys::Interest::Read
        };
        self.inner.rearm(&session.chan.conn, token, interest)
    }

    /// Arms a session for room to send what is left of its response.
    pub(crate) fn arm_session_write(&self, session: &ServerSession, token: u64) -> Result<()> {
        self.inner
            .rearm(&session.chan.conn, token, sys::Interest::Write)
    }

    /// Stops watching a connection that is about to be closed.
    pub(crate) fn remove_incoming(&self, incoming: &Incoming) {
        self.inner.remove(incoming.conn());
    }

    /// Stops watching a session that is about to be closed.
    pub(crate) fn remove_session(&self, session: &ServerSession) {
        self.inner.remove(&session.chan.conn);
    }

    /// Delivers `token` to one waiting worker.
    pub(crate) fn post(&self, token: u64) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        self.inner.post(token);
    }

    /// How many posted tokens wait for a worker (for example shared-memory
    /// sessions whose request has arrived).
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Waits for one event (`None`: the timeout passed, or a wake-up went
    /// to another worker).
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<Option<Event>> {
        let event = self.inner.wait(timeout)?;
        if let Some(Event::Posted(_)) = event {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(event)
    }
}

/// Call first in every thread a multi-session server starts: on Linux it
/// unblocks the signal the shared-memory fault guard needs (a thread
/// inherits its creator's mask, and daemons often block every signal).
pub(crate) fn prepare_thread() {
    sys::prepare_thread();
}

/// How many sessions a server may hold when each needs `per_session`
/// OS descriptors; see the backends (POSIX raises the open-file soft limit
/// as far as needed and allowed).
pub(crate) fn session_capacity(wanted: usize, per_session: usize) -> usize {
    sys::session_capacity(wanted, per_session)
}

/// The netipc protocol extensions this backend's servers offer.
pub(crate) fn extensions() -> u32 {
    sys::extensions()
}
