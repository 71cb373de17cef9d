//! Managed servers: a listener, one thread per session up to a worker
//! limit, typed handlers, learned payload sizes, and a prompt stop.

mod handlers;
mod session;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

pub use handlers::{
    AppsLookupHandler, CgroupsLookupHandler, HandlerError, IncrementHandler, SnapshotHandler,
    StringReverseHandler,
};

use self::handlers::Dispatch;
use self::session::Learned;
use crate::error::{Error, Result};
use crate::service::ServerConfig;
use crate::service::config::growth;
use crate::transport::{Incoming, Interrupt, Listener, ServerOptions};

/// How long a client beyond the worker limit may take to say HELLO before
/// it is dropped.
const OVER_CAPACITY_HANDSHAKE: Duration = Duration::from_secs(1);
/// Pause after a failed accept before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// State shared by the server, its stop handles and its threads.
#[derive(Debug)]
struct Shared {
    stopped: AtomicBool,
    /// Wakes the accept loop and every session; created by the first run.
    interrupt: OnceLock<Option<Interrupt>>,
    response_size: Learned,
}

impl Shared {
    fn interrupt(&self) -> Option<&Interrupt> {
        let interrupt = self
            .interrupt
            .get_or_init(|| Interrupt::new().ok())
            .as_ref()?;
        if self.stopped.load(Ordering::SeqCst) {
            interrupt.raise();
        }
        Some(interrupt)
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        if let Some(Some(i)) = self.interrupt.get() {
            i.raise();
        }
    }
}

/// Stops a managed server from any thread. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct StopHandle {
    shared: Arc<Shared>,
}

impl StopHandle {
    /// Stops the server: the accept loop and every session end promptly,
    /// [`ManagedServer::run`] returns once all sessions are gone, and the
    /// endpoint and shared-memory regions are removed. Stopping is final.
    pub fn stop(&self) {
        self.shared.stop();
    }
}

/// A server for one service, answering one method with a typed handler.
///
/// Create it with the constructor of its service kind (no I/O), then
/// [`run`](Self::run) it on a thread of your choice or
/// [`spawn`](Self::spawn) it. Each client session runs on its own thread,
/// up to the configured number of workers; a client beyond that is
/// disconnected right after its handshake (it retries later). Handlers run
/// concurrently and must synchronise their own data. A handler that fails
/// or panics fails only its request, whose session then ends.
pub struct ManagedServer {
    run_dir: String,
    service: String,
    config: ServerConfig,
    dispatcher: Arc<dyn Dispatch>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ManagedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedServer")
            .field("run_dir", &self.run_dir)
            .field("service", &self.service)
            .field("method", &self.dispatcher.method())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ManagedServer {
    fn new(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        dispatcher: Arc<dyn Dispatch>,
    ) -> Self {
        Self {
            run_dir: run_dir.to_owned(),
            service: service.to_owned(),
            config: *config,
            dispatcher,
            shared: Arc::new(Shared {
                stopped: AtomicBool::new(false),
                interrupt: OnceLock::new(),
                response_size: Learned::new(growth(config.max_response_payload_bytes)),
            }),
        }
    }

    /// A `cgroups-snapshot` server.
    pub fn cgroups_snapshot(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl SnapshotHandler,
    ) -> Self {
        Self::new(
            run_dir,
            service,
            config,
            Arc::new(handlers::Snapshot(handler)),
        )
    }

    /// A `cgroups-lookup` server.
    pub fn cgroups_lookup(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl CgroupsLookupHandler,
    ) -> Self {
        Self::new(
            run_dir,
            service,
            config,
            Arc::new(handlers::CgroupsLookup(handler)),
        )
    }

    /// An `apps-lookup` server.
    pub fn apps_lookup(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl AppsLookupHandler,
    ) -> Self {
        Self::new(
            run_dir,
            service,
            config,
            Arc::new(handlers::AppsLookup(handler)),
        )
    }

    /// An INCREMENT test/benchmark server.
    pub fn increment(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl IncrementHandler,
    ) -> Self {
        Self::new(
            run_dir,
            service,
            config,
            Arc::new(handlers::Increment(handler)),
        )
    }

    /// A STRING_REVERSE test server.
    pub fn string_reverse(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl StringReverseHandler,
    ) -> Self {
        Self::new(
            run_dir,
            service,
            config,
            Arc::new(handlers::StringReverse(handler)),
        )
    }

    /// A handle that stops the server from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            shared: self.shared.clone(),
        }
    }

    /// Stops the server (see [`StopHandle::stop`]).
    pub fn stop(&self) {
        self.shared.stop();
    }

    fn options(&self) -> ServerOptions {
        ServerOptions {
            supported_profiles: self.config.supported(),
            preferred_profiles: self.config.preferred(),
            // Requests: the ceiling. The agreed size is the client's
            // proposal, which starts small and grows on demand; buffers and
            // shared memory follow the agreed size.
            max_request_payload_bytes: growth(self.config.max_request_payload_bytes).1,
            max_response_payload_bytes: self.shared.response_size.get(),
            auth_token: self.config.auth_token,
            packet_size: 0,
            backlog: 0,
            handshake_timeout: Duration::ZERO,
        }
    }

    fn bind(&self) -> Result<Listener> {
        if self.shared.interrupt().is_none() {
            return Err(Error::io(
                "creating the stop event",
                std::io::ErrorKind::Other.into(),
            ));
        }
        Listener::bind(&self.run_dir, &self.service, &self.options())
    }

    /// Creates the endpoint and serves until stopped; returns after every
    /// session has ended, with the endpoint removed. Blocks the calling
    /// thread.
    ///
    /// # Errors
    /// `AddressInUse` when a live server owns the endpoint, `Name`, `Io`.
    pub fn run(&self) -> Result<()> {
        let listener = self.bind()?;
        self.serve(listener);
        Ok(())
    }

    /// Creates the endpoint on the calling thread (so binding errors are
    /// reported here) and serves on a new thread.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn spawn(self) -> Result<RunningServer> {
        let listener = self.bind()?;
        let stop = self.stop_handle();
        let thread = std::thread::Builder::new()
            .name(format!("netipc-{}", self.service))
            .spawn(move || self.serve(listener))
            .map_err(|e| Error::io("starting the server thread", e))?;
        Ok(RunningServer {
            stop,
            thread: Some(thread),
        })
    }

    fn serve(&self, listener: Listener) {
        let Some(stop) = self.shared.interrupt() else {
            return;
        };
        let active = Arc::new(AtomicUsize::new(0));
        let mut sessions: Vec<JoinHandle<()>> = Vec::new();
        let mut next_id = 1u64;
        while !self.shared.stopped.load(Ordering::SeqCst) {
            let incoming = match listener.accept(None, Some(stop)) {
                Ok(incoming) => incoming,
                Err(Error::Interrupted) => break,
                Err(_) => {
                    std::thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            };
            let session_id = next_id;
            next_id += 1;
            sessions.retain(|t| !t.is_finished());
            if active.load(Ordering::SeqCst) >= self.config.workers() {
                // The client sees a completed handshake, then EOF, and
                // retries later (as with every NetIPC server).
                let options = ServerOptions {
                    handshake_timeout: OVER_CAPACITY_HANDSHAKE,
                    ..self.options()
                };
                let _ = incoming.handshake_with(session_id, &options, Some(stop));
                continue;
            }
            active.fetch_add(1, Ordering::SeqCst);
            match self.start_session(incoming, session_id, active.clone()) {
                Ok(thread) => sessions.push(thread),
                Err(_) => {
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
        drop(listener);
        for thread in sessions {
            let _ = thread.join();
        }
    }

    fn start_session(
        &self,
        incoming: Incoming,
        session_id: u64,
        active: Arc<AtomicUsize>,
    ) -> Result<JoinHandle<()>> {
        let options = self.options();
        let shared = self.shared.clone();
        let dispatcher = self.dispatcher.clone();
        std::thread::Builder::new()
            .name(format!("netipc-{}-{session_id}", self.service))
            .spawn(move || {
                if let Some(stop) = shared.interrupt() {
                    if let Ok(session) = incoming.handshake_with(session_id, &options, Some(stop)) {
                        session::serve(session, &*dispatcher, &shared.response_size, stop);
                    }
                }
                active.fetch_sub(1, Ordering::SeqCst);
            })
            .map_err(|e| Error::io("starting a session thread", e))
    }
}

/// A server running on its own thread (from [`ManagedServer::spawn`]).
/// Dropping it stops the server and waits for it.
#[derive(Debug)]
pub struct RunningServer {
    stop: StopHandle,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// A handle that stops the server from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops the server and waits until it has shut down.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
