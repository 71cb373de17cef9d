//! The managed server of the C API: `nipc_managed_server_t`, the handler
//! structs and the `nipc_server_*` functions of `netipc_service.h`.
//!
//! # How a C server runs
//!
//! `nipc_server_init_*` builds a [`ManagedServer`] around the C handler
//! and binds its endpoint at once ([`ManagedServer::bind`]), as the
//! reference C library does, so that a live provider on the endpoint is
//! reported by init. `nipc_server_run` serves on the calling thread
//! ([`BoundServer::run`]) and starts a `Waiter` thread that parks until
//! `nipc_server_stop`: stopping is an atomic store and an unpark (a futex
//! wake on Linux), so it may be called from a signal handler, and the
//! waiter then stops the server.
//!
//! Every call of a C handler is counted (`Calls`): `nipc_server_drain`
//! waits for the count to drop to zero, and `nipc_server_destroy` waits
//! for it too, so the `user` pointer is no longer used once destroy has
//! returned (a handler still running after the server's stop grace keeps
//! running on its worker thread).
//!
//! A failed init stores its message inside the caller's struct (state
//! word `FAILED`, then the text) and nothing else: nothing is allocated,
//! so a caller that does not destroy a server whose init failed leaks
//! nothing, and `nipc_server_last_error` still says why.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use netipc::codec::SnapshotBuilder;
use netipc::service::{
    BoundServer, HandlerError, ManagedServer, ServerConfig, SnapshotHandler, StopHandle,
};

use crate::builders::{
    Misuse, lend_apps_lookup, lend_cgroups_lookup, lend_snapshot, nipc_apps_lookup_builder_t,
    nipc_apps_lookup_req_view_t, nipc_cgroups_builder_t, nipc_cgroups_lookup_builder_t,
    nipc_cgroups_lookup_req_view_t, nipc_cgroups_req_t,
};
use crate::config::nipc_server_config_t;
use crate::error::{LastError, nipc_error_t};
use crate::ffi::{CLOSED, Slot, c_str, guard, guard_code, slot_size_fits};

/// Words of `nipc_managed_server_t`: the live server takes 128 bytes on
/// Linux and Windows; the rest leaves room to grow and holds the message
/// of a failed init (up to 503 bytes).
pub const NIPC_MANAGED_SERVER_WORDS: usize = 64;

/// `nipc_managed_server_t`: a caller-allocated managed server.
#[repr(C)]
#[derive(Debug)]
pub struct nipc_managed_server_t {
    opaque_: [u64; NIPC_MANAGED_SERVER_WORDS],
}

const _: () = assert!(slot_size_fits::<Server>(NIPC_MANAGED_SERVER_WORDS));
const _: () = assert!(size_of::<nipc_server_stats_t>() == 32 * 8);

/// State word of a server whose init failed; the NUL-terminated message
/// follows it.
const FAILED: u64 = 0x6e69_7063_6661_696c; // "nipcfail"

/// `nipc_cgroups_handler_fn`.
pub type nipc_cgroups_handler_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        req: *const nipc_cgroups_req_t,
        builder: *mut nipc_cgroups_builder_t,
    ) -> bool,
>;

/// `nipc_cgroups_lookup_handler_fn`.
pub type nipc_cgroups_lookup_handler_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        req: *const nipc_cgroups_lookup_req_view_t,
        builder: *mut nipc_cgroups_lookup_builder_t,
    ) -> bool,
>;

/// `nipc_apps_lookup_handler_fn`.
pub type nipc_apps_lookup_handler_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        req: *const nipc_apps_lookup_req_view_t,
        builder: *mut nipc_apps_lookup_builder_t,
    ) -> bool,
>;

/// `nipc_cgroups_service_handler_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_cgroups_service_handler_t {
    /// Answers a snapshot request.
    pub handle: nipc_cgroups_handler_fn,
    /// Most items the handler adds (0: as many as the response holds).
    pub snapshot_max_items: u32,
    /// Passed to `handle`.
    pub user: *mut c_void,
}

/// `nipc_cgroups_lookup_service_handler_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_cgroups_lookup_service_handler_t {
    /// Answers a cgroups-lookup request.
    pub handle: nipc_cgroups_lookup_handler_fn,
    /// Passed to `handle`.
    pub user: *mut c_void,
}

/// `nipc_apps_lookup_service_handler_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_apps_lookup_service_handler_t {
    /// Answers an apps-lookup request.
    pub handle: nipc_apps_lookup_handler_fn,
    /// Passed to `handle`.
    pub user: *mut c_void,
}

/// `nipc_server_stats_t`: the counters of [`netipc::service::ServerStats`]
/// as plain data.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
#[allow(missing_docs)] // every field is documented in netipc_service.h
pub struct nipc_server_stats_t {
    pub sessions: u64,
    pub peak_sessions: u64,
    pub session_limit: u64,
    pub handshaking: u64,
    pub sessions_opened: u64,
    pub refused_at_capacity: u64,
    pub refused_identity: u64,
    pub handshake_failures: u64,
    pub auth_failures: u64,
    pub handshake_timeouts: u64,
    pub dropped_connections: u64,
    pub send_timeouts: u64,
    pub requests: u64,
    pub responses_ok: u64,
    pub responses_bad_envelope: u64,
    pub responses_unsupported: u64,
    pub responses_limit_exceeded: u64,
    pub responses_internal_error: u64,
    pub failed_requests: u64,
    pub handler_errors: u64,
    pub handler_panics: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub protocol_errors: u64,
    pub reserved_: [u64; 8],
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The time left until `deadline` (`None`: no deadline); zero once passed.
fn left(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// Waits on `cv` while `busy` holds, until `deadline`; returns the guard
/// and whether `busy` ended.
fn wait_while<'a, T>(
    cv: &Condvar,
    mut guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
    busy: impl Fn(&T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    while busy(&guard) {
        guard = match left(deadline) {
            None => cv.wait(guard).unwrap_or_else(PoisonError::into_inner),
            Some(t) if t.is_zero() => return (guard, false),
            Some(t) => {
                cv.wait_timeout(guard, t)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
    (guard, true)
}

/// The C handler calls running now. A call only touches two atomics (no
/// lock, no system call: a worker answers requests at full speed); a
/// waiter of [`wait_idle`](Self::wait_idle) registers in `waiters` under
/// `lock`, and the call that ends last takes `lock` and wakes it only when
/// one is registered.
#[derive(Debug, Default)]
struct Calls {
    running: AtomicUsize,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    idle: Condvar,
}

impl Calls {
    fn enter(&self) -> CallGuard<'_> {
        self.running.fetch_add(1, Ordering::SeqCst);
        CallGuard(self)
    }

    /// Waits until no call runs (or `deadline` passes); whether none runs.
    fn wait_idle(&self, deadline: Option<Instant>) -> bool {
        let guard = lock(&self.lock);
        // Registered before `running` is read (both SeqCst): a call that
        // ends after that read sees the waiter and wakes it under `lock`,
        // which this thread holds until it waits.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let idle = wait_while(&self.idle, guard, deadline, |_| {
            self.running.load(Ordering::SeqCst) > 0
        })
        .1;
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        idle
    }
}

struct CallGuard<'a>(&'a Calls);

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        let calls = self.0;
        if calls.running.fetch_sub(1, Ordering::SeqCst) == 1
            && calls.waiters.load(Ordering::SeqCst) > 0
        {
            let _locked = lock(&calls.lock);
            calls.idle.notify_all();
        }
    }
}

/// The caller's `user` pointer.
#[derive(Clone, Copy)]
struct User(*mut c_void);

// SAFETY: the header requires `user` (and what it points to) to be usable
// from the server's worker threads, several at once; netipc only passes it
// back to the caller's handler.
unsafe impl Send for User {}
// SAFETY: as above.
unsafe impl Sync for User {}

/// A C handler function `F` with its user pointer.
struct CHandler<F> {
    handle: F,
    user: User,
    calls: Arc<Calls>,
}

impl<F: Copy> CHandler<F> {
    fn new(handle: Option<F>, user: *mut c_void, calls: Arc<Calls>) -> Result<Self, &'static str> {
        Ok(Self {
            handle: handle.ok_or(NO_HANDLER)?,
            user: User(user),
            calls,
        })
    }

    /// Calls the handler through `call` (which lends it the request view
    /// and the builder) and turns its outcome into the handler result.
    fn answer(
        &self,
        call: impl FnOnce(F, *mut c_void) -> (bool, Option<Misuse>),
    ) -> Result<(), HandlerError> {
        let _running = self.calls.enter();
        match call(self.handle, self.user.0) {
            (true, None) => Ok(()),
            (false, None) => Err("the C handler returned false".into()),
            (true, Some(m)) => Err(format!(
                "the C handler returned true but passed an invalid argument: {m}"
            )
            .into()),
            (false, Some(m)) => {
                Err(format!("the C handler returned false after an invalid argument: {m}").into())
            }
        }
    }
}

type SnapshotFn = unsafe extern "C" fn(
    *mut c_void,
    *const nipc_cgroups_req_t,
    *mut nipc_cgroups_builder_t,
) -> bool;

/// A C snapshot handler as a [`SnapshotHandler`].
struct CSnapshot {
    handler: CHandler<SnapshotFn>,
    max_items: u32,
}

impl SnapshotHandler for CSnapshot {
    fn snapshot(&self, builder: &mut SnapshotBuilder<'_>) -> Result<(), HandlerError> {
        self.handler.answer(|handle, user| {
            lend_snapshot(builder, |req, b| {
                // SAFETY: the caller of init promised a handler with this
                // signature; `req` and `b` are valid during the call.
                unsafe { handle(user, req, b) }
            })
        })
    }

    fn max_items(&self) -> u32 {
        self.max_items
    }
}

/// Where a server is in its life.
enum Phase {
    /// Bound by init; not run yet.
    Bound(BoundServer),
    /// `nipc_server_run` is serving.
    Running,
    /// Run returned, or the server was drained before it ran.
    Done,
}

/// What a live `nipc_managed_server_t` holds.
struct Server {
    phase: Mutex<Phase>,
    /// Signalled when the phase becomes `Done`.
    changed: Condvar,
    stop: StopHandle,
    stop_requested: Arc<AtomicBool>,
    /// The waiter of the running server (see [`Waiter`]).
    runner: OnceLock<Thread>,
    calls: Arc<Calls>,
    last_error: LastError,
}

/// The thread that turns a stop request into a stop of the server: it
/// parks until `requested` is set, so that `nipc_server_stop` only has to
/// store and unpark (the engine's own stop takes locks). Stopped and joined
/// on drop.
struct Waiter {
    requested: Arc<AtomicBool>,
    handle: Thread,
    thread: Option<JoinHandle<()>>,
}

impl Waiter {
    fn start(requested: Arc<AtomicBool>, stop: StopHandle) -> std::io::Result<Self> {
        let flag = requested.clone();
        let thread = std::thread::Builder::new()
            .name("netipc-c-stop".into())
            .spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    std::thread::park();
                }
                stop.stop();
            })?;
        Ok(Self {
            requested,
            handle: thread.thread().clone(),
            thread: Some(thread),
        })
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.requested.store(true, Ordering::SeqCst);
        self.handle.unpark();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Marks the server done when run returns (also by a panic).
struct MarkDone<'a>(&'a Server);

impl Drop for MarkDone<'_> {
    fn drop(&mut self) {
        *lock(&self.0.phase) = Phase::Done;
        self.0.changed.notify_all();
    }
}

impl Server {
    fn run(&self) -> Result<(), nipc_error_t> {
        let bound = {
            let mut phase = lock(&self.phase);
            match std::mem::replace(&mut *phase, Phase::Running) {
                Phase::Bound(bound) => bound,
                Phase::Running => {
                    self.last_error
                        .set("nipc_server_run: the server is already running on another thread");
                    return Err(nipc_error_t::NIPC_ERR_BUSY);
                }
                Phase::Done => {
                    *phase = Phase::Done;
                    return Ok(());
                }
            }
        };
        let _done = MarkDone(self);
        if self.stop_requested.load(Ordering::SeqCst) {
            // Stopped before it ran: dropping `bound` removes the endpoint.
            return Ok(());
        }
        let waiter =
            Waiter::start(self.stop_requested.clone(), self.stop.clone()).map_err(|e| {
                self.last_error.set(&format!(
                    "nipc_server_run: cannot start a thread: {e}; the server did not run"
                ));
                nipc_error_t::NIPC_ERR_IO
            })?;
        // Only the one run that took the bound server gets here.
        let _ = self.runner.set(waiter.handle.clone());
        if self.stop_requested.load(Ordering::SeqCst) {
            // A stop that came before `runner` was set did not unpark it.
            waiter.handle.unpark();
        }
        // Returns once the waiter has stopped the server.
        bound.run();
        drop(waiter);
        Ok(())
    }

    /// Async-signal-safe on Linux: an atomic store, then (once run has
    /// started) an unpark of the waiter, which is an atomic swap and a
    /// futex wake.
    fn stop(&self) {
        self.stop_requested.store(true, Ordering::SeqCst);
        if let Some(runner) = self.runner.get() {
            runner.unpark();
        }
    }

    /// Stops; a server that never ran removes its endpoint at once.
    /// Returns the phase lock once the server is not running (or
    /// `deadline` passed).
    fn stop_and_wait(&self, deadline: Option<Instant>) -> MutexGuard<'_, Phase> {
        self.stop();
        let mut phase = lock(&self.phase);
        if matches!(*phase, Phase::Bound(_)) {
            *phase = Phase::Done;
        }
        wait_while(&self.changed, phase, deadline, |p| {
            matches!(p, Phase::Running)
        })
        .0
    }

    fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        drop(self.stop_and_wait(deadline));
        self.calls.wait_idle(deadline)
    }
}

/// Records a failed init in the caller's struct: the state word
/// [`FAILED`] and the message, truncated to the struct's size.
///
/// # Safety
/// `server` must point to a writable `nipc_managed_server_t`.
unsafe fn fail(
    server: *mut nipc_managed_server_t,
    code: nipc_error_t,
    message: &str,
) -> nipc_error_t {
    let room = NIPC_MANAGED_SERVER_WORDS * 8 - 8 - 1;
    let mut end = message.len().min(room);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut text = [0u8; NIPC_MANAGED_SERVER_WORDS * 8 - 8];
    for (t, m) in text.iter_mut().zip(message[..end].bytes()) {
        *t = if m == 0 { b' ' } else { m };
    }
    // SAFETY: `server` is writable and 8-aligned (an array of u64); the
    // state word is written last, as by `Slot::init`.
    unsafe {
        let words = server.cast::<u64>();
        words
            .add(1)
            .cast::<[u8; NIPC_MANAGED_SERVER_WORDS * 8 - 8]>()
            .write(text);
        words.write(FAILED);
    }
    code
}

/// The state word of a server struct.
///
/// # Safety
/// `server` must point to a `nipc_managed_server_t` and not be NULL.
unsafe fn state(server: *const nipc_managed_server_t) -> u64 {
    // SAFETY: the caller's contract; the first word is the state word.
    unsafe { server.cast::<u64>().read() }
}

/// The live server at `server`.
///
/// # Safety
/// As [`Slot::get`].
unsafe fn live<'a>(server: *const nipc_managed_server_t) -> Result<&'a Server, nipc_error_t> {
    // SAFETY: the caller's contract.
    unsafe { Slot::get(server.cast::<Slot<Server>>()) }
}

/// Binds a server of the kind `make` builds around `*handler` and
/// initializes `server`: the body of every `nipc_server_init_*`.
///
/// # Safety
/// `server` must be writable storage of a `nipc_managed_server_t` (or
/// NULL); the strings NUL-terminated (or NULL); `config` and `handler`
/// readable (or NULL).
#[allow(clippy::too_many_arguments)]
unsafe fn init<H: Copy>(
    function: &str,
    server: *mut nipc_managed_server_t,
    run_dir: *const c_char,
    service_name: *const c_char,
    config: *const nipc_server_config_t,
    worker_count: i32,
    handler: *const H,
    make: impl FnOnce(H, &str, &str, &ServerConfig, Arc<Calls>) -> Result<ManagedServer, &'static str>,
) -> nipc_error_t {
    guard(nipc_error_t::NIPC_ERR_INTERNAL, || {
        if server.is_null() {
            return nipc_error_t::NIPC_ERR_INVALID_ARGUMENT;
        }
        let invalid = |what: &str| {
            // SAFETY: `server` is not NULL and writable by the caller's contract.
            unsafe {
                fail(
                    server,
                    nipc_error_t::NIPC_ERR_INVALID_ARGUMENT,
                    &format!("{function}: {what}"),
                )
            }
        };
        // SAFETY: NUL-terminated or NULL by the caller's contract.
        let Ok(run_dir) = (unsafe { c_str(run_dir) }) else {
            return invalid("run_dir is NULL or not UTF-8");
        };
        // SAFETY: as above.
        let Ok(service) = (unsafe { c_str(service_name) }) else {
            return invalid("service_name is NULL or not UTF-8");
        };
        if config.is_null() {
            return invalid("config is NULL (pass a zeroed nipc_server_config_t for the defaults)");
        }
        // SAFETY: not NULL, readable by the caller's contract.
        let config = unsafe { *config }.to_rust(worker_count);
        // SAFETY: readable or NULL by the caller's contract.
        let Some(handler) = (unsafe { handler.as_ref() }).copied() else {
            return invalid(NO_HANDLER);
        };
        let calls = Arc::new(Calls::default());
        let managed = match make(handler, run_dir, service, &config, calls.clone()) {
            Ok(managed) => managed,
            Err(what) => return invalid(what),
        };
        let stop = managed.stop_handle();
        match managed.bind() {
            Ok(bound) => {
                let live = Server {
                    phase: Mutex::new(Phase::Bound(bound)),
                    changed: Condvar::new(),
                    stop,
                    stop_requested: Arc::new(AtomicBool::new(false)),
                    runner: OnceLock::new(),
                    calls,
                    last_error: LastError::default(),
                };
                // SAFETY: writable, 8-aligned storage large enough for the slot
                // (asserted at compile time), not used by anyone else during init.
                unsafe { Slot::init(server.cast::<Slot<Server>>(), live) };
                nipc_error_t::NIPC_OK
            }
            // SAFETY: `server` is not NULL and writable.
            Err(e) => unsafe {
                fail(
                    server,
                    nipc_error_t::from_error(&e),
                    &format!("{function}: {e}"),
                )
            },
        }
    })
}

const NO_HANDLER: &str = "handler is NULL or its handle is NULL";

/// `nipc_error_t nipc_server_init_typed(server, run_dir, service_name,
/// config, worker_count, handler)`: a cgroups-snapshot server, bound.
///
/// # Safety
/// See `netipc_service.h`: `server` writable storage (or NULL), strings
/// NUL-terminated, `config` and `handler` readable (or NULL), the handler
/// callable from worker threads with `user`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_server_init_typed(
    server: *mut nipc_managed_server_t,
    run_dir: *const c_char,
    service_name: *const c_char,
    config: *const nipc_server_config_t,
    worker_count: i32,
    handler: *const nipc_cgroups_service_handler_t,
) -> nipc_error_t {
    let make =
        |h: nipc_cgroups_service_handler_t, run_dir: &str, service: &str, config: &_, calls| {
            let handler = CSnapshot {
                handler: CHandler::new(h.handle, h.user, calls)?,
                max_items: h.snapshot_max_items,
            };
            Ok(ManagedServer::from_snapshot_handler(
                run_dir, service, config, handler,
            ))
        };
    // SAFETY: the caller's contract.
    unsafe {
        init(
            "nipc_server_init_typed",
            server,
            run_dir,
            service_name,
            config,
            worker_count,
            handler,
            make,
        )
    }
}

/// `nipc_error_t nipc_server_init_cgroups_lookup(server, run_dir,
/// service_name, config, worker_count, handler)`: a cgroups-lookup server,
/// bound.
///
/// # Safety
/// As [`nipc_server_init_typed`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_server_init_cgroups_lookup(
    server: *mut nipc_managed_server_t,
    run_dir: *const c_char,
    service_name: *const c_char,
    config: *const nipc_server_config_t,
    worker_count: i32,
    handler: *const nipc_cgroups_lookup_service_handler_t,
) -> nipc_error_t {
    let make = |h: nipc_cgroups_lookup_service_handler_t,
                run_dir: &str,
                service: &str,
                config: &_,
                calls| {
        let c = CHandler::new(h.handle, h.user, calls)?;
        Ok(ManagedServer::cgroups_lookup(
            run_dir,
            service,
            config,
            move |request, builder| {
                c.answer(|handle, user| {
                    lend_cgroups_lookup(request, builder, |req, b| {
                        // SAFETY: as in `CSnapshot::snapshot`.
                        unsafe { handle(user, req, b) }
                    })
                })
            },
        ))
    };
    // SAFETY: the caller's contract.
    unsafe {
        init(
            "nipc_server_init_cgroups_lookup",
            server,
            run_dir,
            service_name,
            config,
            worker_count,
            handler,
            make,
        )
    }
}

/// `nipc_error_t nipc_server_init_apps_lookup(server, run_dir,
/// service_name, config, worker_count, handler)`: an apps-lookup server,
/// bound.
///
/// # Safety
/// As [`nipc_server_init_typed`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_server_init_apps_lookup(
    server: *mut nipc_managed_server_t,
    run_dir: *const c_char,
    service_name: *const c_char,
    config: *const nipc_server_config_t,
    worker_count: i32,
    handler: *const nipc_apps_lookup_service_handler_t,
) -> nipc_error_t {
    let make =
        |h: nipc_apps_lookup_service_handler_t, run_dir: &str, service: &str, config: &_, calls| {
            let c = CHandler::new(h.handle, h.user, calls)?;
            Ok(ManagedServer::apps_lookup(
                run_dir,
                service,
                config,
                move |request, builder| {
                    c.answer(|handle, user| {
                        lend_apps_lookup(request, builder, |req, b| {
                            // SAFETY: as in `CSnapshot::snapshot`.
                            unsafe { handle(user, req, b) }
                        })
                    })
                },
            ))
        };
    // SAFETY: the caller's contract.
    unsafe {
        init(
            "nipc_server_init_apps_lookup",
            server,
            run_dir,
            service_name,
            config,
            worker_count,
            handler,
            make,
        )
    }
}

/// `nipc_error_t nipc_server_run(server)`: serves until stopped.
///
/// # Safety
/// `server` must point to a `nipc_managed_server_t` (or be NULL) that is
/// not destroyed while run runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_server_run(server: *mut nipc_managed_server_t) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        unsafe { live(server) }?.run()
    })
}

/// `void nipc_server_stop(server)`: asks a server to stop, from any
/// thread or a signal handler.
///
/// # Safety
/// As [`nipc_server_run`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_server_stop(server: *mut nipc_managed_server_t) {
    guard((), || {
        // SAFETY: the caller's contract.
        if let Ok(s) = unsafe { live(server) } {
            s.stop();
        }
    });
}

/// `bool nipc_server_drain(server, timeout_ms)`: stops and waits up to
/// `timeout_ms` for running handlers; whether they all returned.
///
/// # Safety
/// As [`nipc_server_run`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_server_drain(
    server: *mut nipc_managed_server_t,
    timeout_ms: u32,
) -> bool {
    guard(false, || {
        // SAFETY: the caller's contract.
        unsafe { live(server) }.is_ok_and(|s| s.drain(Duration::from_millis(u64::from(timeout_ms))))
    })
}

/// `void nipc_server_destroy(server)`: releases a server.
///
/// # Safety
/// `server` must point to a `nipc_managed_server_t` (or be NULL) that no
/// other thread uses during or after the call (run has returned).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_server_destroy(server: *mut nipc_managed_server_t) {
    guard((), || {
        if server.is_null() {
            return;
        }
        // SAFETY: not NULL; the caller's contract.
        if unsafe { state(server) } == FAILED {
            // SAFETY: as above; the message needs no release.
            unsafe { server.cast::<u64>().write(CLOSED) };
            return;
        }
        // SAFETY: the caller's contract.
        if let Ok(s) = unsafe { live(server) } {
            // Harmless after run returned; a run still going (a misuse)
            // is stopped and waited for.
            drop(s.stop_and_wait(None));
            s.calls.wait_idle(None);
        }
        // SAFETY: nobody else uses it (the caller's contract).
        unsafe { Slot::close(server.cast::<Slot<Server>>()) };
    });
}

/// `const char *nipc_server_last_error(const server)`: the message of the
/// server's last failure ("" when none).
///
/// # Safety
/// As [`nipc_server_run`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_server_last_error(
    server: *const nipc_managed_server_t,
) -> *const c_char {
    guard(c"".as_ptr(), || {
        if server.is_null() {
            return c"".as_ptr();
        }
        // SAFETY: not NULL; the caller's contract.
        if unsafe { state(server) } == FAILED {
            // SAFETY: the NUL-terminated message follows the state word.
            return unsafe { server.cast::<u64>().add(1) }.cast();
        }
        // SAFETY: the caller's contract.
        unsafe { live(server) }.map_or(c"".as_ptr(), |s| s.last_error.as_ptr())
    })
}

/// `nipc_error_t nipc_server_stats(const server, out)`: the server's
/// counters.
///
/// # Safety
/// As [`nipc_server_run`]; `out` writable (or NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_server_stats(
    server: *const nipc_managed_server_t,
    out: *mut nipc_server_stats_t,
) -> nipc_error_t {
    guard_code(|| {
        if out.is_null() {
            return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
        }
        // SAFETY: the caller's contract.
        let s = unsafe { live(server) }?.stop.stats();
        let size = |n: usize| n as u64;
        let stats = nipc_server_stats_t {
            sessions: size(s.sessions),
            peak_sessions: size(s.peak_sessions),
            session_limit: size(s.session_limit),
            handshaking: size(s.handshaking),
            sessions_opened: s.sessions_opened,
            refused_at_capacity: s.refused_at_capacity,
            refused_identity: s.refused_identity,
            handshake_failures: s.handshake_failures,
            auth_failures: s.auth_failures,
            handshake_timeouts: s.handshake_timeouts,
            dropped_connections: s.dropped_connections,
            send_timeouts: s.send_timeouts,
            requests: s.requests,
            responses_ok: s.responses.ok,
            responses_bad_envelope: s.responses.bad_envelope,
            responses_unsupported: s.responses.unsupported,
            responses_limit_exceeded: s.responses.limit_exceeded,
            responses_internal_error: s.responses.internal_error,
            failed_requests: s.failed_requests,
            handler_errors: s.handler_errors,
            handler_panics: s.handler_panics,
            bytes_received: s.bytes_received,
            bytes_sent: s.bytes_sent,
            protocol_errors: s.protocol_errors,
            reserved_: [0; 8],
        };
        // SAFETY: not NULL, writable by the caller's contract.
        unsafe { out.write(stats) };
        Ok(())
    })
}
