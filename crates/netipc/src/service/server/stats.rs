//! The counters of a managed server and the snapshot users read.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// What a managed server has done so far and holds now, from
/// [`ManagedServer::stats`](super::ManagedServer::stats) and the other
/// handles. Counters start at zero when the server is created; reading
/// them never blocks the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Client sessions open now.
    pub sessions: usize,
    /// Most sessions open at the same time so far.
    pub peak_sessions: usize,
    /// The session limit in force: the configured `max_sessions`, or less
    /// when the process's descriptor limit allows fewer. 0 before `run`.
    pub session_limit: usize,
    /// Connections waiting for their client's HELLO now.
    pub handshaking: usize,
    /// Sessions opened (successful handshakes).
    pub sessions_opened: u64,
    /// Clients refused because `session_limit` sessions were open.
    pub refused_at_capacity: u64,
    /// Consumers refused because the identity the OS reports for them is
    /// not one the server's `consumer_identity` accepts (not counted in
    /// `handshake_failures`).
    pub refused_identity: u64,
    /// Handshakes that failed: rejected proposals (auth token, profiles,
    /// sizes), malformed HELLOs, connections closed before their HELLO.
    pub handshake_failures: u64,
    /// Handshakes refused because the client's auth token differs from the
    /// server's (counted in `handshake_failures` too). Nothing sized by such
    /// a client (shared memory, buffers) is created.
    pub auth_failures: u64,
    /// Connections closed because no HELLO came within the handshake
    /// deadline (counted in `handshake_failures` too).
    pub handshake_timeouts: u64,
    /// Connections closed unanswered because as many connections as the
    /// session limit were already waiting for their HELLO.
    pub dropped_connections: u64,
    /// Sessions closed because their client did not read a response, or
    /// stopped sending a request half way, for longer than the send
    /// timeout.
    pub send_timeouts: u64,
    /// Requests answered (with any status).
    pub requests: u64,
    /// Requests answered with an error status (bad request, handler
    /// failure, response too large, wrong method).
    pub failed_requests: u64,
    /// Handler calls that panicked (their requests are in
    /// `failed_requests` too).
    pub handler_panics: u64,
    /// Sessions closed because their client broke the protocol after the
    /// handshake: a message that does not decode, exceeds the agreed
    /// limits, has a bad chunk sequence or batch directory, is not a
    /// REQUEST, a shared-memory lane the client corrupted, or a region
    /// that was truncated or replaced. Each one is also logged (`warn`)
    /// with what was wrong.
    pub protocol_errors: u64,
}

/// A count with one cache line per worker: counting costs a worker a
/// plain store to a line no other thread writes. Slot `i` is written by
/// worker `i` only.
#[derive(Debug)]
pub(crate) struct PerWorker {
    slots: Box<[Slot]>,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicU64);

impl PerWorker {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            slots: (0..workers.max(1)).map(|_| Slot::default()).collect(),
        }
    }

    /// Adds one to worker `worker`'s slot (called by that worker only).
    pub(crate) fn bump(&self, worker: usize) {
        let slot = &self.slots[worker % self.slots.len()].0;
        slot.store(slot.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    fn total(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// The live counters behind [`ServerStats`].
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) sessions: AtomicUsize,
    pub(crate) peak_sessions: AtomicUsize,
    pub(crate) session_limit: AtomicUsize,
    pub(crate) handshaking: AtomicUsize,
    pub(crate) sessions_opened: AtomicU64,
    pub(crate) refused_at_capacity: AtomicU64,
    pub(crate) refused_identity: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) auth_failures: AtomicU64,
    pub(crate) handshake_timeouts: AtomicU64,
    pub(crate) dropped_connections: AtomicU64,
    pub(crate) send_timeouts: AtomicU64,
    pub(crate) requests: PerWorker,
    pub(crate) failed_requests: AtomicU64,
    pub(crate) handler_panics: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            sessions: AtomicUsize::new(0),
            peak_sessions: AtomicUsize::new(0),
            session_limit: AtomicUsize::new(0),
            handshaking: AtomicUsize::new(0),
            sessions_opened: AtomicU64::new(0),
            refused_at_capacity: AtomicU64::new(0),
            refused_identity: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            handshake_timeouts: AtomicU64::new(0),
            dropped_connections: AtomicU64::new(0),
            send_timeouts: AtomicU64::new(0),
            requests: PerWorker::new(workers),
            failed_requests: AtomicU64::new(0),
            handler_panics: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
        }
    }

    pub(crate) fn snapshot(&self) -> ServerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let size = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        ServerStats {
            sessions: size(&self.sessions),
            peak_sessions: size(&self.peak_sessions),
            session_limit: size(&self.session_limit),
            handshaking: size(&self.handshaking),
            sessions_opened: get(&self.sessions_opened),
            refused_at_capacity: get(&self.refused_at_capacity),
            refused_identity: get(&self.refused_identity),
            handshake_failures: get(&self.handshake_failures),
            auth_failures: get(&self.auth_failures),
            handshake_timeouts: get(&self.handshake_timeouts),
            dropped_connections: get(&self.dropped_connections),
            send_timeouts: get(&self.send_timeouts),
            requests: self.requests.total(),
            failed_requests: get(&self.failed_requests),
            handler_panics: get(&self.handler_panics),
            protocol_errors: get(&self.protocol_errors),
        }
    }
}
