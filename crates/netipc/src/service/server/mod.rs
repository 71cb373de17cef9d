//! Managed servers: a listener, a small pool of worker threads serving
//! every session (see [`engine`] for the design), typed handlers, learned
//! payload sizes, statistics and a prompt stop.

mod control;
mod engine;
mod handlers;
mod registry;
mod request;
mod stats;

use std::sync::Arc;
use std::thread::JoinHandle;

pub use engine::STOP_GRACE;
pub use handlers::{HandlerError, SnapshotHandler};
pub use stats::{ResponseCounts, ServerStats};

use self::engine::{Engine, Shared};
use self::handlers::Dispatch;
use self::request::Learned;
use self::stats::Counters;
use crate::codec::{
    AppsLookupBuilder, AppsLookupRequest, CgroupsLookupBuilder, CgroupsLookupRequest,
    SnapshotBuilder,
};
use crate::error::{Error, Result};
use crate::service::ServerConfig;
use crate::transport::{Listener, ServerOptions};

/// Stops a managed server from any thread, and reads its statistics.
/// Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone)]
#[must_use = "a stop handle does nothing unless it is kept and used"]
pub struct StopHandle {
    shared: Arc<Shared>,
}

impl StopHandle {
    /// Stops the server: the endpoint is removed at once, handlers still
    /// running get up to [`STOP_GRACE`] to finish, every session is
    /// closed (shared-memory regions removed) and
    /// [`ManagedServer::run`] returns. Does not block. Stopping is final.
    pub fn stop(&self) {
        self.shared.control.stop();
    }

    /// The server's counters and current load.
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        self.shared.counters.snapshot()
    }
}

/// A server for one service, answering one method with a typed handler.
///
/// Create it with the constructor of its service kind (no I/O), then
/// [`run`](Self::run) it on a thread of your choice or
/// [`spawn`](Self::spawn) it. Up to `max_sessions` clients can be
/// connected at once (a client beyond that is refused with "provider at
/// capacity" and retries later); `workers` threads answer their requests,
/// so at most that many handlers run at the same time. Handlers must
/// synchronise their own data. A handler that fails or panics fails only
/// its request: the client gets `INTERNAL_ERROR` (and does not send the
/// request again), the session goes on, and the server logs the error's
/// message and counts it (see
/// [handler failures](crate::service#handler-failures)).
///
/// The run directory must exist when the server binds, on every OS (see
/// [`crate::transport::run_dir`] for its rules; `prepare_run_dir` creates
/// one safely).
///
/// A server that is neither run nor spawned serves nothing, so dropping
/// one unused is a warning (`#[must_use]`):
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use netipc::service::{ManagedServer, ServerConfig};
///
/// // error: unused `ManagedServer` that must be used (no `.spawn()?`)
/// ManagedServer::increment("/tmp", "inc", &ServerConfig::default(), |v| Ok(v + 1));
/// ```
///
/// Idle sessions cost no CPU, and a departing client is noticed at once.
/// Memory per idle session is a few kilobytes: the connection, its receive
/// buffer (the agreed request size) and, for shared memory, the region
/// (both agreed payload sizes, reserved in the run directory's file
/// system).
///
/// # Platform-specific behavior
///
/// POSIX: each session holds up to two descriptors, and a connection
/// waiting for its HELLO one more; the session limit is lowered to what
/// the open-file limit allows (after raising the soft limit towards the
/// hard one). Idle shared-memory sessions are waited on 127 at a time per
/// `futex_waitv` (Linux 5.16+). Where it is missing (older kernels, or a
/// seccomp filter that refuses it) each idle shared-memory session gets a
/// sleeping thread of its own; those threads stay until the server stops,
/// as many as the most idle shared-memory sessions there were at once.
///
/// Windows: pipes complete on one I/O completion port; shared-memory
/// events are waited on 63 at a time. Sessions of the busy-wait profile
/// ([`Profiles::SHM_ALT`](crate::wire::Profiles::SHM_ALT), never the default) have no events: an idle one is polled (with
/// yields for 20 ms, then once per millisecond), which costs some CPU.
#[must_use = "a ManagedServer serves nothing until run() or spawn()"]
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
                control: Default::default(),
                response_size: Learned::new(config.response_growth()),
                counters: Counters::new(config.workers()),
            }),
        }
    }

    /// A `cgroups-snapshot` server: `handler` adds every cgroup to the
    /// builder and sets its header values (an `add` that overflows makes
    /// the server answer `LIMIT_EXCEEDED`, and the client reconnects with a
    /// larger response size). A type implementing [`SnapshotHandler`] is
    /// served with [`from_snapshot_handler`](Self::from_snapshot_handler).
    /// No I/O.
    ///
    /// `handler` runs on the server's worker threads, several at once; an
    /// `Err` (or a panic) answers `INTERNAL_ERROR`.
    ///
    /// ```
    /// use netipc::codec::SnapshotItem;
    /// use netipc::netdata::{CGROUPS_SNAPSHOT_SERVICE, netdata_hash};
    /// use netipc::service::{ManagedServer, ServerConfig};
    ///
    /// let server = ManagedServer::cgroups_snapshot("/tmp", CGROUPS_SNAPSHOT_SERVICE, &ServerConfig::default(), |builder| {
    ///     builder.set_generation(42);
    ///     let name = b"docker-1a2b";
    ///     builder.add(&SnapshotItem { hash: netdata_hash(name), name, path: b"/sys/fs/cgroup/docker-1a2b", ..SnapshotItem::default() })?;
    ///     Ok(())
    /// });
    /// # drop(server);
    /// ```
    pub fn cgroups_snapshot(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl Fn(&mut SnapshotBuilder<'_>) -> Result<(), HandlerError> + Send + Sync + 'static,
    ) -> Self {
        Self::from_snapshot_handler(run_dir, service, config, handler)
    }

    /// A `cgroups-snapshot` server answered by a type implementing
    /// [`SnapshotHandler`] (which may also bound the number of items it
    /// adds). Otherwise the same as [`cgroups_snapshot`](Self::cgroups_snapshot).
    pub fn from_snapshot_handler(
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

    /// A `cgroups-lookup` server: `handler` adds exactly one item per
    /// requested path, in request order
    /// ([`add_request_item`](CgroupsLookupBuilder::add_request_item) is the
    /// convenient way), and sets the generation. No I/O.
    ///
    /// `handler` runs on the server's worker threads, several at once; an
    /// `Err` (or a panic) answers `INTERNAL_ERROR`.
    ///
    /// ```
    /// use netipc::codec::{CgroupsEntry, NO_LABELS};
    /// use netipc::service::{ManagedServer, ServerConfig};
    ///
    /// let server = ManagedServer::cgroups_lookup("/tmp", "cgroups-lookup", &ServerConfig::default(), |request, builder| {
    ///     builder.set_generation(7);
    ///     for i in 0..request.len() {
    ///         builder.add_request_item(i, &CgroupsEntry::known(0, b"init"), NO_LABELS)?;
    ///     }
    ///     Ok(())
    /// });
    /// # drop(server);
    /// ```
    pub fn cgroups_lookup(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl Fn(
            &CgroupsLookupRequest<'_>,
            &mut CgroupsLookupBuilder<'_, '_>,
        ) -> Result<(), HandlerError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self::new(
            run_dir,
            service,
            config,
            Arc::new(handlers::CgroupsLookup(handler)),
        )
    }

    /// An `apps-lookup` server: `handler` adds exactly one item per
    /// requested PID, in request order, and sets the generation. No I/O.
    ///
    /// `handler` runs on the server's worker threads, several at once; an
    /// `Err` (or a panic) answers `INTERNAL_ERROR`.
    ///
    /// ```
    /// use netipc::codec::PidStatus;
    /// use netipc::service::{ManagedServer, ServerConfig};
    ///
    /// let server = ManagedServer::apps_lookup("/tmp", "apps-lookup", &ServerConfig::default(), |request, builder| {
    ///     for pid in request.pids() {
    ///         builder.add_status(pid, PidStatus::Unknown)?;
    ///     }
    ///     Ok(())
    /// });
    /// # drop(server);
    /// ```
    pub fn apps_lookup(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl Fn(&AppsLookupRequest<'_>, &mut AppsLookupBuilder<'_>) -> Result<(), HandlerError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self::new(
            run_dir,
            service,
            config,
            Arc::new(handlers::AppsLookup(handler)),
        )
    }

    /// An INCREMENT test/benchmark server: `handler` answers a value (the
    /// reference test servers answer `value + 1`). No I/O.
    ///
    /// `handler` runs on the server's worker threads, several at once; an
    /// `Err` (or a panic) answers `INTERNAL_ERROR`.
    ///
    /// ```
    /// use netipc::service::{ManagedServer, ServerConfig};
    ///
    /// let server = ManagedServer::increment("/tmp", "increment", &ServerConfig::default(), |value| Ok(value + 1));
    /// # drop(server);
    /// ```
    pub fn increment(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl Fn(u64) -> Result<u64, HandlerError> + Send + Sync + 'static,
    ) -> Self {
        Self::new(
            run_dir,
            service,
            config,
            Arc::new(handlers::Increment(handler)),
        )
    }

    /// A STRING_REVERSE test server: `handler` writes the answer for a
    /// text into the vector it gets (cleared, and reused between
    /// requests). No I/O.
    ///
    /// `handler` runs on the server's worker threads, several at once; an
    /// `Err` (or a panic) answers `INTERNAL_ERROR`.
    ///
    /// ```
    /// use netipc::service::{ManagedServer, ServerConfig};
    ///
    /// let server = ManagedServer::string_reverse("/tmp", "reverse", &ServerConfig::default(), |text, out| {
    ///     out.extend(text.iter().rev());
    ///     Ok(())
    /// });
    /// # drop(server);
    /// ```
    pub fn string_reverse(
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
        handler: impl Fn(&[u8], &mut Vec<u8>) -> Result<(), HandlerError> + Send + Sync + 'static,
    ) -> Self {
        Self::new(
            run_dir,
            service,
            config,
            Arc::new(handlers::StringReverse(handler)),
        )
    }

    /// A handle that stops the server (and reads its statistics) from
    /// another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            shared: self.shared.clone(),
        }
    }

    /// Stops the server (see [`StopHandle::stop`]).
    pub fn stop(&self) {
        self.shared.control.stop();
    }

    /// The server's counters and current load.
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        self.shared.counters.snapshot()
    }

    /// Creates the endpoint and the engine around it.
    fn engine(&self) -> Result<Arc<Engine>> {
        let options = ServerOptions {
            supported_profiles: self.config.supported(),
            // Room for a crowd of clients connecting at the same moment.
            backlog: 1024,
            consumer_identity: self.config.consumer_identity,
            endpoint_access: self.config.endpoint_access,
            ..ServerOptions::default()
        };
        let listener = Listener::bind(&self.run_dir, &self.service, &options)?;
        Engine::new(
            &self.service,
            self.shared.clone(),
            self.dispatcher.clone(),
            self.config,
            listener,
        )
    }

    /// Creates the endpoint and serves until stopped; returns once the
    /// endpoint is removed and every session is closed (see
    /// [`StopHandle::stop`]). Blocks the calling thread, which keeps the
    /// server's deadlines; `workers` threads answer requests.
    ///
    /// # Errors
    /// `AddressInUse` when a live server owns the endpoint, `Name`, `Io`.
    pub fn run(&self) -> Result<()> {
        let engine = self.engine()?;
        engine.run(&self.thread_name());
        Ok(())
    }

    fn thread_name(&self) -> String {
        format!("netipc-{}", self.service)
    }

    /// Creates the endpoint on the calling thread (so binding errors are
    /// reported here) and serves on a new thread.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn spawn(self) -> Result<RunningServer> {
        self.bind()?.spawn()
    }

    /// Creates the endpoint on the calling thread without serving yet, so
    /// that binding errors are reported before the server is handed to
    /// the thread that runs it (the C API binds in `nipc_server_init_*`
    /// this way). Clients that connect meanwhile wait for their HELLO to
    /// be answered until the server runs (their handshake deadline
    /// applies).
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub fn bind(self) -> Result<BoundServer> {
        let engine = self.engine()?;
        Ok(BoundServer {
            stop: self.stop_handle(),
            name: self.thread_name(),
            engine,
        })
    }
}

/// A server whose endpoint exists but which does not serve yet (from
/// [`ManagedServer::bind`]). Dropping it removes the endpoint. Stopping
/// it (through a [`StopHandle`]) before it runs makes `run` return at
/// once.
#[must_use = "a BoundServer serves nothing until run() or spawn(); dropping it removes the endpoint"]
pub struct BoundServer {
    stop: StopHandle,
    name: String,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("thread", &self.name)
            .finish_non_exhaustive()
    }
}

impl BoundServer {
    /// A handle that stops the server (and reads its statistics) from
    /// another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The server's counters and current load.
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        self.stop.stats()
    }

    /// Serves until stopped, as [`ManagedServer::run`] does after binding.
    /// Blocks the calling thread.
    pub fn run(self) {
        self.engine.run(&self.name);
    }

    /// Serves on a new thread.
    ///
    /// # Errors
    /// `Io` when the thread cannot be started (the endpoint is removed).
    pub fn spawn(self) -> Result<RunningServer> {
        let Self { stop, name, engine } = self;
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || engine.run(&name))
            .map_err(|e| Error::io("starting the server thread", e))?;
        Ok(RunningServer {
            stop,
            thread: Some(thread),
        })
    }
}

/// A server running on its own thread (from [`ManagedServer::spawn`]).
/// Dropping it stops the server and waits for it.
#[derive(Debug)]
#[must_use = "dropping a RunningServer stops the server at once: keep it as long as the service should run"]
pub struct RunningServer {
    stop: StopHandle,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// A handle that stops the server (and reads its statistics) from
    /// another thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// The server's counters and current load.
    #[must_use]
    pub fn stats(&self) -> ServerStats {
        self.stop.stats()
    }

    /// Stops the server and waits until it has shut down (at most about
    /// [`STOP_GRACE`] for handlers that are still running).
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
