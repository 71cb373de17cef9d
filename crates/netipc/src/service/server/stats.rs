//! The counters of a managed server and the snapshot users read.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::wire::TransportStatus;

/// What a managed server has done so far and holds now, from
/// [`ManagedServer::stats`](super::ManagedServer::stats),
/// [`RunningServer::stats`](super::RunningServer::stats) and
/// [`StopHandle::stats`](super::StopHandle::stats), at any time and from
/// any thread (also after the server stopped).
///
/// Counters start at zero when the server is created and only grow; the
/// values of `sessions`, `handshaking` and `session_limit` are the
/// current ones. Reading costs a few relaxed loads and never blocks or
/// slows the server: the per-request counters are kept per worker thread
/// and summed when read, so a snapshot taken while requests are being
/// answered may be a request or two behind in some fields (each field is
/// exact once the server is quiet).
///
/// Refusals by reason: `refused_at_capacity`, `refused_identity`,
/// `auth_failures` (within `handshake_failures`), `handshake_timeouts`
/// (within `handshake_failures`) and `dropped_connections`. Every
/// refusal and failure is also a [`tracing`](https://docs.rs/tracing)
/// event (see the [service module](crate::service#observing-a-provider)).
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
    /// Requests answered, with any status: the sum of `responses`.
    pub requests: u64,
    /// The responses sent, by transport status. A response is counted
    /// (with its bytes) as it is handed to the transport, so a client that
    /// has its answer finds it counted.
    pub responses: ResponseCounts,
    /// Requests answered with an error status (every status in
    /// `responses` but `OK`).
    pub failed_requests: u64,
    /// Handler calls that returned an error, answered `INTERNAL_ERROR`
    /// (also in `responses.internal_error`). An error of a handler whose
    /// `add` ran out of room answers `LIMIT_EXCEEDED` instead (the client
    /// grows its sizes) and is not counted here.
    pub handler_errors: u64,
    /// Handler calls that panicked, answered `INTERNAL_ERROR` (also in
    /// `responses.internal_error`).
    pub handler_panics: u64,
    /// Bytes of the requests answered: each message's 32-byte header and
    /// its payload (batch directories included; chunk headers and the
    /// handshake are not counted).
    pub bytes_received: u64,
    /// Bytes of the responses sent, counted as for `bytes_received`.
    pub bytes_sent: u64,
    /// Sessions closed because their client broke the protocol after the
    /// handshake: a message that does not decode, exceeds the agreed
    /// limits, has a bad chunk sequence or batch directory, is not a
    /// REQUEST, a shared-memory lane the client corrupted, or a region
    /// that was truncated or replaced. Each one is also logged (`warn`)
    /// with what was wrong.
    pub protocol_errors: u64,
}

/// The responses a managed server sent, by transport status (the
/// statuses a managed server answers requests with).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseCounts {
    /// `OK`: answered.
    pub ok: u64,
    /// `BAD_ENVELOPE`: the request did not decode, or the handler's answer
    /// was invalid (a lookup answer with the wrong number of items).
    pub bad_envelope: u64,
    /// `UNSUPPORTED`: a request for another method than the server's.
    pub unsupported: u64,
    /// `LIMIT_EXCEEDED`: the answer did not fit the session's response
    /// size; the session ends and the client reconnects with a larger one.
    pub limit_exceeded: u64,
    /// `INTERNAL_ERROR`: the handler returned an error or panicked.
    pub internal_error: u64,
}

impl ResponseCounts {
    /// The responses sent with `status` (0 for a status a managed server
    /// never sends).
    pub fn get(&self, status: TransportStatus) -> u64 {
        match status {
            TransportStatus::OK => self.ok,
            TransportStatus::BAD_ENVELOPE => self.bad_envelope,
            TransportStatus::UNSUPPORTED => self.unsupported,
            TransportStatus::LIMIT_EXCEEDED => self.limit_exceeded,
            TransportStatus::INTERNAL_ERROR => self.internal_error,
            _ => 0,
        }
    }

    /// Every response sent.
    pub fn total(&self) -> u64 {
        self.ok + self.failed()
    }

    /// The responses with an error status.
    pub fn failed(&self) -> u64 {
        self.bad_envelope + self.unsupported + self.limit_exceeded + self.internal_error
    }
}

/// The defined status codes (0 to 6), which the per-worker counts keep
/// apart; a managed server sends no other.
const STATUSES: usize = 7;

/// One worker's request counters, on cache lines no other thread writes.
#[derive(Debug, Default)]
#[repr(align(64))]
struct WorkerCounts {
    /// Responses sent, by status code.
    responses: [AtomicU64; STATUSES],
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
}

/// Adds `n` to a counter only its own worker writes: a plain load and
/// store, no read-modify-write.
fn add(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// The per-request counters, one set per worker: counting an answer costs
/// a worker three plain stores to lines no other thread writes. Set `i` is
/// written by worker `i` only; readers sum them.
#[derive(Debug)]
pub(crate) struct PerWorker {
    slots: Box<[WorkerCounts]>,
}

impl PerWorker {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            slots: (0..workers.max(1))
                .map(|_| WorkerCounts::default())
                .collect(),
        }
    }

    /// Counts a request of `received` bytes answered with `status` in a
    /// response of `sent` bytes (called by worker `worker` only).
    pub(crate) fn answered(
        &self,
        worker: usize,
        status: TransportStatus,
        received: usize,
        sent: usize,
    ) {
        let slot = &self.slots[worker % self.slots.len()];
        add(&slot.responses[usize::from(status.0).min(STATUSES - 1)], 1);
        add(&slot.bytes_received, received as u64);
        add(&slot.bytes_sent, sent as u64);
    }

    fn sum(&self, field: impl Fn(&WorkerCounts) -> &AtomicU64) -> u64 {
        self.slots
            .iter()
            .map(|s| field(s).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    fn responses(&self) -> ResponseCounts {
        let status = |s: TransportStatus| self.sum(|w| &w.responses[usize::from(s.0)]);
        ResponseCounts {
            ok: status(TransportStatus::OK),
            bad_envelope: status(TransportStatus::BAD_ENVELOPE),
            unsupported: status(TransportStatus::UNSUPPORTED),
            limit_exceeded: status(TransportStatus::LIMIT_EXCEEDED),
            internal_error: status(TransportStatus::INTERNAL_ERROR),
        }
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
    pub(crate) per_worker: PerWorker,
    pub(crate) handler_errors: AtomicU64,
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
            per_worker: PerWorker::new(workers),
            handler_errors: AtomicU64::new(0),
            handler_panics: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
        }
    }

    pub(crate) fn snapshot(&self) -> ServerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let size = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        let responses = self.per_worker.responses();
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
            requests: responses.total(),
            responses,
            failed_requests: responses.failed(),
            handler_errors: get(&self.handler_errors),
            handler_panics: get(&self.handler_panics),
            bytes_received: self.per_worker.sum(|w| &w.bytes_received),
            bytes_sent: self.per_worker.sum(|w| &w.bytes_sent),
            protocol_errors: get(&self.protocol_errors),
        }
    }
}
