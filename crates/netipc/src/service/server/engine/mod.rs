//! The engine of a managed server: how one process serves every consumer
//! on the machine with a handful of threads.
//!
//! # Design
//!
//! Sessions are not threads. A server runs:
//!
//! - **`workers` worker threads** that all wait on one shared poller (an
//!   epoll instance on Linux, a completion port on Windows). Every source
//!   is registered one-shot, so each event goes to exactly one worker,
//!   which handles it and re-arms the source: accepting connections,
//!   reading a HELLO and answering it, receiving a request, running the
//!   handler and sending the response. `workers` therefore bounds how many
//!   handlers run at the same time; any number of sessions (up to
//!   `max_sessions`) can be connected. A request costs one wake-up, as
//!   with a thread per session.
//! - **Wait groups** for shared-memory sessions, whose requests arrive in
//!   memory, not on a socket: a group thread sleeps on up to 127 request
//!   signals at once (`futex_waitv`; 63 events per
//!   `WaitForMultipleObjects` on Windows) and posts a session to the
//!   poller when its request arrives. A worker that has just answered a
//!   shared-memory request first polls for the next one for a few tens of
//!   microseconds while another worker is free, so a busy consumer is
//!   answered without any wake-up at all; only a session that goes quiet
//!   is handed to a group.
//! - **One control thread** (the caller of `run`) that sleeps until the
//!   earliest deadline — a connection that has not said HELLO, a response
//!   its client does not read — or until `stop`.
//!
//! An idle session therefore costs no CPU and a few kilobytes (measured
//! with `netipc stress`: about 2 KiB for a socket session, 6.5 KiB with
//! shared memory): its socket sits in the poller and its shared-memory
//! signal in a group's single wait, without timeouts. A consumer that
//! leaves is noticed by an event (its socket hangs up), never by polling,
//! and its region is removed at once.
//!
//! The price of sharing workers is two system calls per socket request
//! (the poller's wait and the one-shot re-arm, on top of the receive and
//! the send); shared-memory requests cost nothing extra. While the server
//! has fewer sessions than workers, a worker that answered a busy socket
//! session waits for its next request in the socket instead, as a thread
//! per session would (see [`linger`]).
//!
//! Fairness: a socket session gets one request per event, behind every
//! other ready socket (but while a worker waits in its socket, see
//! [`linger`]); a worker answers a busy shared-memory session for
//! at most half a millisecond in a row, and for one request only while
//! other shared-memory sessions wait, then puts it back behind them.
//! Connections that never send their HELLO cost a descriptor until the
//! handshake deadline, not a worker. Responses are sent without blocking:
//! what does not fit waits for the socket to drain (the session answers
//! nothing else meanwhile) and the session is closed when its client has
//! not made room within the send timeout; a request that stops half way
//! gets the same time.
//!
//! Stop: the control thread wakes every worker, removes the endpoint,
//! waits for running handlers up to [`STOP_GRACE`], then closes every
//! session (a handler still running keeps its session until it returns).

mod admission;
mod closing;
mod events;
mod linger;
mod serving;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use self::events::{TARGET, Why};
use self::linger::Linger;
use super::control::Control;
use super::handlers::Dispatch;
use super::registry::Registry;
use super::request::{Buffers, Learned, Reply, answer_message};
use super::stats::{Counters, bump};
use crate::error::Result;
use crate::service::ServerConfig;
use crate::transport::multiplex::{self, Event, Poller, ShmWaiters, WatchId};
use crate::transport::{
    Incoming, Listener, ServerOptions, ServerSession, Wait, response_header, status_header,
};
use crate::wire::{HEADER_LEN, Header, TransportStatus};

/// How long `stop` waits for handlers that are still running.
pub const STOP_GRACE: Duration = Duration::from_millis(500);
/// How long a new connection may take to send its HELLO.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections accepted per listener event before others get a turn.
const ACCEPT_BATCH: usize = 64;
/// Pause before accepting again after the OS refused (out of descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Longest a worker keeps answering one busy shared-memory session before
/// it puts the session back behind the others.
const TURN: Duration = Duration::from_micros(500);
/// Buffers above this size are given back once a message is done.
const TRIM_ABOVE: usize = 256 * 1024;
/// Descriptors a session may need (its socket and its region's directory)
/// plus one for a connection waiting for its HELLO.
const DESCRIPTORS_PER_SESSION: usize = 3;

/// The token of the listener.
const LISTENER: u64 = 1;
/// A token posted only to wake a worker.
const WAKE: u64 = 2;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`] if nobody holds `m` now (a poisoned lock is taken too, as
/// [`lock`] does: handlers run under `catch_unwind`, so a poisoned state is
/// still consistent).
fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// What a connection is.
enum State {
    /// Accepted; its HELLO has not been answered yet.
    Handshaking {
        incoming: Incoming,
        deadline: Instant,
    },
    /// A session.
    Open(Box<Open>),
    /// Closed (or being closed).
    Closed,
}

struct Open {
    session: ServerSession,
    /// While a message is half way (part of a response waits for the
    /// client to read, or part of a request has arrived): the time by
    /// which it must be through.
    stall_deadline: Option<Instant>,
    /// The wait group holding the session while it is idle (shared memory).
    watch: Option<WatchId>,
    /// Requests answered in this session.
    served: u64,
    /// Whether a worker may wait in the socket for the next request.
    linger: Linger,
}

/// One connection of the server.
struct Entry {
    token: u64,
    state: Mutex<State>,
    /// Set by whoever wants the connection closed while another thread
    /// holds it; that thread closes it when it lets go.
    close_requested: AtomicBool,
    /// The session's requests arrive in shared memory: its socket events
    /// only mean that the client left.
    shm: AtomicBool,
    /// An event of the connection came while another thread held it: that
    /// thread handles it when it lets go (see [`Engine::on_event`]).
    pending: AtomicBool,
    /// A worker holding the connection waits in its socket for the next
    /// request (see [`linger`]).
    lingering: AtomicBool,
}

/// What to do with a connection after handling an event.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Keep,
    Close(Why),
}

/// State shared by the server object, its handles and the engine.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) control: Control,
    pub(super) response_size: Learned,
    pub(super) counters: Counters,
}

/// The running machinery of one server.
pub(super) struct Engine {
    /// The service name (the `service` field of every event).
    service: String,
    shared: Arc<Shared>,
    dispatcher: Arc<dyn Dispatch>,
    config: ServerConfig,
    /// Worker threads: `config.workers()` (which may read the process's
    /// CPU quota: read once), then those that started.
    workers: AtomicUsize,
    session_limit: usize,
    poller: Arc<Poller>,
    waiters: ShmWaiters,
    listener: Mutex<Option<Listener>>,
    registry: Mutex<Registry<Entry>>,
    next_session_id: AtomicU64,
    /// Workers waiting for an event right now.
    idle: AtomicUsize,
    /// Workers that have not returned yet, and the signal when one does.
    running: Mutex<usize>,
    exited: Condvar,
    /// Whether the last handshake found the server full (to log the
    /// first refusal only).
    full: AtomicBool,
    /// Whether a consumer was refused for its identity already (to log
    /// the first refusal at warn only).
    refused_before: AtomicBool,
}

impl Engine {
    /// Builds the engine around a bound listener.
    pub(super) fn new(
        service: &str,
        shared: Arc<Shared>,
        dispatcher: Arc<dyn Dispatch>,
        config: ServerConfig,
        listener: Listener,
    ) -> Result<Arc<Self>> {
        let poller = Arc::new(Poller::new()?);
        poller.add_listener(&listener, LISTENER)?;
        let workers = config.workers();
        let wanted = config.max_sessions();
        let session_limit = multiplex::session_capacity(wanted, DESCRIPTORS_PER_SESSION);
        if session_limit < wanted {
            tracing::warn!(
                target: TARGET,
                service = %service,
                wanted,
                session_limit,
                "session limit lowered"
            );
        }
        shared
            .counters
            .session_limit
            .store(session_limit, Ordering::Relaxed);
        tracing::info!(
            target: TARGET,
            service = %service,
            endpoint = listener.endpoint(),
            method = ?dispatcher.method(),
            workers,
            session_limit,
            "serving"
        );
        Ok(Arc::new(Self {
            service: service.to_owned(),
            waiters: ShmWaiters::new(poller.clone()),
            poller,
            shared,
            dispatcher,
            config,
            workers: AtomicUsize::new(workers),
            session_limit,
            listener: Mutex::new(Some(listener)),
            registry: Mutex::new(Registry::default()),
            next_session_id: AtomicU64::new(1),
            idle: AtomicUsize::new(0),
            running: Mutex::new(0),
            exited: Condvar::new(),
            full: AtomicBool::new(false),
            refused_before: AtomicBool::new(false),
        }))
    }

    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    fn stopped(&self) -> bool {
        self.shared.control.is_stopped()
    }

    /// Serves until stopped, on the calling thread (the control thread),
    /// with `workers` worker threads; returns after shutdown.
    pub(super) fn run(self: &Arc<Self>, name: &str) {
        multiplex::prepare_thread();
        let count = self.workers.load(Ordering::Relaxed);
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
            let engine = self.clone();
            *lock(&self.running) += 1;
            match std::thread::Builder::new()
                .name(format!("{name}-w{i}"))
                .spawn(move || engine.work(i))
            {
                Ok(thread) => workers.push(thread),
                Err(e) => {
                    *lock(&self.running) -= 1;
                    tracing::error!(
                        target: TARGET,
                        service = %self.service,
                        error = %e,
                        "worker start failed"
                    );
                }
            }
        }
        self.workers.store(workers.len(), Ordering::Relaxed);
        let mut expired = Vec::new();
        while self.shared.control.wait(&mut expired) {
            for token in expired.drain(..) {
                self.expire(token);
            }
        }
        self.shutdown(workers);
    }

    /// A worker thread: takes one event at a time until the server stops.
    fn work(self: Arc<Self>, index: usize) {
        multiplex::prepare_thread();
        let mut buffers = Buffers::new(index);
        while !self.stopped() {
            self.idle.fetch_add(1, Ordering::SeqCst);
            let event = self.poller.wait(None);
            self.idle.fetch_sub(1, Ordering::SeqCst);
            if self.stopped() {
                break;
            }
            match event {
                Ok(Some(event)) => self.on_event(event, &mut buffers),
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(
                        target: TARGET,
                        service = %self.service,
                        error = %e,
                        "event wait failed"
                    );
                    std::thread::sleep(ACCEPT_BACKOFF);
                }
            }
        }
        *lock(&self.running) -= 1;
        self.exited.notify_all();
    }

    fn on_event(&self, event: Event, buffers: &mut Buffers) {
        let (token, io) = match event {
            Event::Io { token, .. } => (token, true),
            Event::Posted(token) => (token, false),
        };
        match token {
            LISTENER => return self.accept(),
            WAKE => return,
            _ => {}
        }
        let Some(entry) = lock(&self.registry).get(token) else {
            return;
        };
        if io && entry.shm.load(Ordering::SeqCst) {
            // A shared-memory session's socket only reports that the
            // client left.
            self.request_close(&entry);
            return;
        }
        // A connection is handled by one thread at a time, and a thread
        // never waits for another to let go of one: a client that answers
        // at once can send its next request before the thread that
        // answered it has let go (it re-arms the connection first). The
        // event is left to that thread instead, which looks again when it
        // lets go. (The fences make sure that of a thread leaving the event
        // and one letting go, at least one sees the other.)
        entry.pending.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        while let Some(mut state) = try_lock(&entry.state) {
            if !entry.pending.swap(false, Ordering::SeqCst) {
                // Handled by the thread that let go just now.
                return;
            }
            let step = match &mut *state {
                State::Closed => Step::Keep,
                State::Handshaking { .. } => self.handshake(&entry, &mut state),
                State::Open(open) => self.serve(&entry, open, buffers),
            };
            drop(state);
            match step {
                Step::Close(why) => self.close(&entry, why),
                // Another thread saw the client leave while this one held it.
                Step::Keep if entry.close_requested.load(Ordering::SeqCst) => {
                    self.close(&entry, Why::ClientLeft);
                }
                Step::Keep => {}
            }
            fence(Ordering::SeqCst);
            if !entry.pending.load(Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Lets go of a connection held outside [`on_event`](Self::on_event)
    /// (which handles what is left to it by itself): an event left to this
    /// thread meanwhile is posted again, for a worker.
    fn let_go(&self, entry: &Entry, state: MutexGuard<'_, State>) {
        drop(state);
        fence(Ordering::SeqCst);
        if entry.pending.load(Ordering::SeqCst) {
            self.poller.post(entry.token);
        }
    }

    /// Keeps a connection whose source was (re-)armed, closes one whose
    /// arming failed.
    fn armed(&self, result: Result<()>) -> Step {
        match result {
            Ok(()) => Step::Keep,
            Err(e) => {
                tracing::debug!(
                    target: TARGET,
                    service = %self.service,
                    error = %e,
                    "connection wait failed"
                );
                Step::Close(Why::Failed)
            }
        }
    }

    /// Stops the workers (waiting for running handlers up to
    /// [`STOP_GRACE`]), removes the endpoint and closes every connection.
    fn shutdown(&self, workers: Vec<JoinHandle<()>>) {
        tracing::info!(
            target: TARGET,
            service = %self.service,
            sessions = self.counters().sessions.load(Ordering::Relaxed),
            "stopping"
        );
        for _ in 0..workers.len() {
            self.poller.post(WAKE);
        }
        if let Some(listener) = lock(&self.listener).take() {
            self.poller.remove_listener(&listener);
        }
        let grace = Instant::now() + STOP_GRACE;
        let mut running = lock(&self.running);
        while *running > 0 {
            let left = grace.saturating_duration_since(Instant::now());
            if left.is_zero() {
                tracing::warn!(
                    target: TARGET,
                    service = %self.service,
                    handlers = *running,
                    "stop grace exceeded"
                );
                break;
            }
            running = self
                .exited
                .wait_timeout(running, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        drop(running);
        for worker in workers {
            if worker.is_finished() {
                let _ = worker.join();
            }
        }
        self.waiters.stop();
        let entries = lock(&self.registry).drain();
        for entry in entries {
            // A connection held by a handler that is still running is
            // closed when that handler returns and lets go of it.
            if let Some(mut state) = try_lock(&entry.state) {
                let old = std::mem::replace(&mut *state, State::Closed);
                drop(state);
                self.release(entry.token, old, Why::Stopped);
            }
        }
        let stats = self.counters().snapshot();
        tracing::info!(
            target: TARGET,
            service = %self.service,
            sessions_opened = stats.sessions_opened,
            requests = stats.requests,
            failed_requests = stats.failed_requests,
            "stopped"
        );
    }
}
