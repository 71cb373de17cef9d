//! `nipc_client_ctx_t`: the method-agnostic typed client of the C API.
//!
//! The reference C context serves any typed call (api-shape §5); the Rust
//! [`Client`] is bound to one method. A context therefore holds one Rust
//! client of whichever kind it last called, and a call of another kind
//! rebinds that client ([`Client::rebind`]): same session, state,
//! counters, abort handle and buffers, so refresh, status, abort and the
//! level-2 counters mean what they mean for the reference's single context.
//! A provider serves one method, so a call of another method than the
//! provider's fails with `NIPC_ERR_REJECTED` (status `UNSUPPORTED`).
//!
//! `nipc_client_close` keeps the context usable, as the reference does
//! (level2 §3.2: state DISCONNECTED, counters kept; `refresh` connects
//! again, which is how a client leaves AUTH_FAILED or INCOMPATIBLE): it
//! drops the Rust client and everything it allocated, and keeps the run
//! directory, service name and config inline in the caller's struct, from
//! which the next use creates a new client.
//!
//! Threads: everything but [`nipc_client_abort`], [`nipc_client_ready`],
//! [`nipc_client_status`] and [`nipc_client_last_error`] runs under the
//! context's mutex (C may break the one-thread rule; it then waits instead
//! of racing). Abort reaches the running call through the client's abort
//! handle, kept outside that mutex; ready and status read counters
//! published after every operation.

#![allow(non_camel_case_types)]

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use netipc::Error;
use netipc::service::{
    AbortHandle, AppsLookup, CgroupsLookup, CgroupsSnapshot, Client, ClientConfig, ClientState,
    ClientStatus, ServiceKind, SessionInfo,
};

use crate::builders::nipc_str_view_t;
use crate::config::nipc_client_config_t;
use crate::error::{LastError, nipc_error_t};
use crate::ffi::{Slot, c_slice, c_str, guard, guard_code, slot_size_fits};
use crate::views::{
    nipc_apps_lookup_resp_view_t, nipc_cgroups_lookup_resp_view_t, nipc_cgroups_resp_view_t,
    out_ref,
};

/// Longest run directory a context keeps, in bytes (the reference keeps
/// 255 and truncates; netipc refuses longer ones).
pub const RUN_DIR_MAX: usize = 255;
/// Longest service name a context keeps, in bytes.
pub const SERVICE_MAX: usize = 127;
/// Words of `nipc_client_ctx_t` (`NIPC_CLIENT_CTX_WORDS`).
pub const CLIENT_CTX_WORDS: usize = 512;
/// The call timeout `nipc_client_set_call_timeout(ctx, 0)` restores
/// (level2 §6).
const DEFAULT_CALL_TIMEOUT_MS: u64 = 30_000;

/// `nipc_client_ctx_t`: caller-allocated storage of a [`ClientCtx`].
#[repr(C)]
pub struct nipc_client_ctx_t {
    opaque_: [u64; CLIENT_CTX_WORDS],
}

/// `nipc_client_state_t` values (level2 §3), as `ClientState` in order.
pub(crate) fn state_code(state: ClientState) -> u32 {
    match state {
        ClientState::Disconnected => 0,
        ClientState::Connecting => 1,
        ClientState::Ready => 2,
        ClientState::NotFound => 3,
        ClientState::AuthFailed => 4,
        ClientState::Incompatible => 5,
        ClientState::Broken => 6,
    }
}

/// `NIPC_CLIENT_READY`.
const READY: u32 = 2;

/// `nipc_client_status_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nipc_client_status_t {
    /// A `nipc_client_state_t`.
    pub state: u32,
    /// Successful first connections.
    pub connect_count: u32,
    /// Successful reconnections.
    pub reconnect_count: u32,
    /// Successful request/response exchanges.
    pub call_count: u32,
    /// Failed calls.
    pub error_count: u32,
}

/// `nipc_client_session_info_t`: what the current session negotiated.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nipc_client_session_info_t {
    /// The selected profile (one `NIPC_PROFILE_*` bit).
    pub profile: u32,
    /// 1 when messages travel through shared memory.
    pub shared_memory: u32,
    /// Largest request payload the provider accepts.
    pub max_request_payload_bytes: u32,
    /// Most items in one batch.
    pub max_request_batch_items: u32,
    /// Largest response payload accepted.
    pub max_response_payload_bytes: u32,
    /// Always 0.
    pub reserved_: u32,
}

const _: () = assert!(size_of::<nipc_client_status_t>() == 20);
const _: () = assert!(size_of::<nipc_client_session_info_t>() == 24);

/// A string kept inside the context.
#[derive(Clone, Copy)]
struct Inline<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    fn new(text: &str) -> Option<Self> {
        let len = u8::try_from(text.len())
            .ok()
            .filter(|&l| usize::from(l) <= N)?;
        let mut bytes = [0; N];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(Self { len, bytes })
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// The Rust client, of the kind of the last call.
enum Bound {
    Snapshot(Client<CgroupsSnapshot>),
    CgroupsLookup(Client<CgroupsLookup>),
    AppsLookup(Client<AppsLookup>),
}

/// Runs `$body` with `$c` bound to the client, whatever its kind.
macro_rules! any_client {
    ($bound:expr, $c:ident => $body:expr) => {
        match $bound {
            Bound::Snapshot($c) => $body,
            Bound::CgroupsLookup($c) => $body,
            Bound::AppsLookup($c) => $body,
        }
    };
}

/// The three service kinds a context calls, and how a [`Bound`] becomes
/// one of them.
trait Kind: ServiceKind + Sized {
    fn wrap(client: Client<Self>) -> Bound;
    fn get(bound: &mut Bound) -> Option<&mut Client<Self>>;
}

macro_rules! kind {
    ($kind:ident, $variant:ident) => {
        impl Kind for $kind {
            fn wrap(client: Client<Self>) -> Bound {
                Bound::$variant(client)
            }
            fn get(bound: &mut Bound) -> Option<&mut Client<Self>> {
                match bound {
                    Bound::$variant(c) => Some(c),
                    _ => None,
                }
            }
        }
    };
}

kind!(CgroupsSnapshot, Snapshot);
kind!(CgroupsLookup, CgroupsLookup);
kind!(AppsLookup, AppsLookup);

/// What a context does with its client whatever the client's kind.
trait Ops {
    fn connect(&mut self) -> Result<(), Error>;
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), Error>;
    fn status(&self) -> ClientStatus;
    fn set_call_timeout(&mut self, timeout: Duration);
    fn session_info(&self) -> Option<SessionInfo>;
}

impl<K: ServiceKind> Ops for Client<K> {
    fn connect(&mut self) -> Result<(), Error> {
        Client::connect(self)
    }
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), Error> {
        Client::wait_ready(self, timeout)
    }
    fn status(&self) -> ClientStatus {
        Client::status(self)
    }
    fn set_call_timeout(&mut self, timeout: Duration) {
        Client::set_call_timeout(self, timeout);
    }
    fn session_info(&self) -> Option<SessionInfo> {
        Client::session_info(self)
    }
}

impl Bound {
    fn ops(&mut self) -> &mut dyn Ops {
        any_client!(self, c => c)
    }

    fn rebind<K: Kind>(self) -> Client<K> {
        any_client!(self, c => c.rebind())
    }
}

/// What `nipc_client_init` got: where and how to connect.
struct Target {
    run_dir: Inline<RUN_DIR_MAX>,
    service: Inline<SERVICE_MAX>,
    config: ClientConfig,
}

/// Everything behind the context's mutex.
struct Inner {
    /// `None` until first used, and after `close`.
    client: Option<Bound>,
    /// The call timeout `set_call_timeout` chose (kept across `close`).
    call_timeout: Duration,
    /// Counters of clients dropped by `close` (level2: counters are kept).
    base: ClientStatus,
}

/// The Rust object behind `nipc_client_ctx_t`.
pub struct ClientCtx {
    /// `None` when `nipc_client_init` got invalid arguments: every function
    /// then returns `NIPC_ERR_INVALID_ARGUMENT` (the last error says why).
    target: Option<Target>,
    inner: Mutex<Inner>,
    /// The current client's abort handle, reachable while a call runs.
    abort: Mutex<Option<AbortHandle>>,
    /// The abort flag of the context, applied to every new client.
    aborted: AtomicBool,
    /// `nipc_client_status_t`, published after every operation.
    published: [AtomicU32; 5],
    last_error: LastError,
    /// Whether `last_error` holds a message (a success clears it only
    /// then: calls do not take its lock).
    failed: AtomicBool,
}

// About 2.6 KiB on Linux and Windows (x86_64): 4 KiB leaves room to grow.
const _: () = assert!(slot_size_fits::<ClientCtx>(CLIENT_CTX_WORDS));
// Several C threads reach one context (abort, status during a call).
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<ClientCtx>();
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

const ZERO_STATUS: ClientStatus = ClientStatus {
    state: ClientState::Disconnected,
    connect_count: 0,
    reconnect_count: 0,
    call_count: 0,
    error_count: 0,
};

/// `s` with the counters of `base` added.
fn add(base: ClientStatus, s: ClientStatus) -> ClientStatus {
    ClientStatus {
        state: s.state,
        connect_count: base.connect_count.wrapping_add(s.connect_count),
        reconnect_count: base.reconnect_count.wrapping_add(s.reconnect_count),
        call_count: base.call_count.wrapping_add(s.call_count),
        error_count: base.error_count.wrapping_add(s.error_count),
    }
}

impl ClientCtx {
    fn new(target: Result<Target, String>) -> Self {
        let last_error = LastError::default();
        let failed = target.is_err();
        let (target, call_timeout) = match target {
            Ok(t) => {
                let timeout = t.config.call_timeout;
                (Some(t), timeout)
            }
            Err(message) => {
                last_error.set(&message);
                (None, Duration::ZERO)
            }
        };
        Self {
            target,
            inner: Mutex::new(Inner {
                client: None,
                call_timeout,
                base: ZERO_STATUS,
            }),
            abort: Mutex::new(None),
            aborted: AtomicBool::new(false),
            published: Default::default(),
            last_error,
            failed: AtomicBool::new(failed),
        }
    }

    fn publish(&self, inner: &mut Inner) {
        let status = match &mut inner.client {
            Some(c) => add(inner.base, c.ops().status()),
            None => inner.base,
        };
        let words = [
            state_code(status.state),
            status.connect_count,
            status.reconnect_count,
            status.call_count,
            status.error_count,
        ];
        for (cell, word) in self.published.iter().zip(words) {
            cell.store(word, Ordering::Release);
        }
    }

    fn status(&self) -> nipc_client_status_t {
        let word = |i: usize| self.published[i].load(Ordering::Acquire);
        nipc_client_status_t {
            state: word(0),
            connect_count: word(1),
            reconnect_count: word(2),
            call_count: word(3),
            error_count: word(4),
        }
    }

    /// A new client of kind `K` with the context's settings.
    fn create<K: Kind>(&self, target: &Target, call_timeout: Duration) -> Bound {
        let mut client = Client::<K>::new(
            target.run_dir.as_str(),
            target.service.as_str(),
            &target.config,
        );
        client.set_call_timeout(call_timeout);
        let handle = client.abort_handle();
        if self.aborted.load(Ordering::SeqCst) {
            handle.abort();
        }
        *lock(&self.abort) = Some(handle);
        K::wrap(client)
    }

    /// Runs `f` on the client as a client of kind `K` (creating it, or
    /// rebinding it from another kind), publishes the status and records
    /// the outcome as the last error.
    fn with<K: Kind, R>(
        &self,
        f: impl FnOnce(&mut Client<K>) -> Result<R, Error>,
    ) -> Result<R, nipc_error_t> {
        let target = self
            .target
            .as_ref()
            .ok_or(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT)?;
        let mut inner = lock(&self.inner);
        // Rebinding moves the client; the usual call finds it bound already.
        if inner.client.as_mut().is_none_or(|b| K::get(b).is_none()) {
            let bound = match inner.client.take() {
                Some(b) => K::wrap(b.rebind::<K>()),
                None => self.create::<K>(target, inner.call_timeout),
            };
            inner.client = Some(bound);
        }
        let result = match inner.client.as_mut().and_then(K::get) {
            Some(c) => f(c),
            None => return Err(nipc_error_t::NIPC_ERR_INTERNAL),
        };
        self.finish(&mut inner, result)
    }

    /// Runs `f` on the client whatever its kind (creating a snapshot
    /// client when there is none yet).
    fn with_any<R>(
        &self,
        f: impl FnOnce(&mut dyn Ops) -> Result<R, Error>,
    ) -> Result<R, nipc_error_t> {
        let target = self
            .target
            .as_ref()
            .ok_or(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT)?;
        let mut inner = lock(&self.inner);
        if inner.client.is_none() {
            let created = self.create::<CgroupsSnapshot>(target, inner.call_timeout);
            inner.client = Some(created);
        }
        let result = match &mut inner.client {
            Some(c) => f(c.ops()),
            None => return Err(nipc_error_t::NIPC_ERR_INTERNAL),
        };
        self.finish(&mut inner, result)
    }

    fn finish<R>(&self, inner: &mut Inner, result: Result<R, Error>) -> Result<R, nipc_error_t> {
        self.publish(inner);
        match result {
            Ok(r) => {
                // A load first: the usual call finds nothing to clear and
                // needs no atomic read-modify-write.
                if self.failed.load(Ordering::Relaxed) && self.failed.swap(false, Ordering::Relaxed)
                {
                    self.last_error.clear();
                }
                Ok(r)
            }
            Err(e) => Err(self.fail(&e)),
        }
    }

    /// Records why an operation failed and returns its code.
    fn fail(&self, e: &Error) -> nipc_error_t {
        self.failed.store(true, Ordering::Relaxed);
        if let Error::Aborted = e {
            self.last_error.set(
                "aborted by nipc_client_abort: call nipc_client_clear_abort to make calls again",
            );
            return nipc_error_t::NIPC_ERR_ABORTED;
        }
        self.last_error.record(e)
    }

    /// Refuses an argument of a call: the last error says which.
    fn refuse(&self, why: &str) -> nipc_error_t {
        self.failed.store(true, Ordering::Relaxed);
        self.last_error.set(why);
        nipc_error_t::NIPC_ERR_INVALID_ARGUMENT
    }

    fn close(&self) {
        self.failed.store(false, Ordering::Relaxed);
        self.last_error.clear();
        if self.target.is_none() {
            return;
        }
        let mut inner = lock(&self.inner);
        if let Some(mut client) = inner.client.take() {
            let status = client.ops().status();
            inner.base = add(inner.base, status);
        }
        inner.base.state = ClientState::Disconnected;
        *lock(&self.abort) = None;
        self.aborted.store(false, Ordering::SeqCst);
        self.publish(&mut inner);
    }

    fn abort(&self, on: bool) -> Result<(), nipc_error_t> {
        if self.target.is_none() {
            return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
        }
        self.aborted.store(on, Ordering::SeqCst);
        if let Some(handle) = &*lock(&self.abort) {
            if on {
                handle.abort();
            } else {
                handle.clear();
            }
        }
        Ok(())
    }
}

/// The context behind `ctx`.
///
/// # Safety
/// `ctx`, when not NULL, must point to a `nipc_client_ctx_t`.
unsafe fn ctx<'a>(ctx: *const nipc_client_ctx_t) -> Result<&'a ClientCtx, nipc_error_t> {
    // SAFETY: the caller's contract; the storage is as large as the const
    // assertion above checks.
    unsafe { Slot::get(ctx.cast::<Slot<ClientCtx>>()) }
}

/// The checked arguments of `nipc_client_init`.
///
/// # Safety
/// As [`nipc_client_init`].
unsafe fn target(
    run_dir: *const c_char,
    service_name: *const c_char,
    config: *const nipc_client_config_t,
) -> Result<Target, String> {
    let text = |ptr, what: &str, max: usize| -> Result<&str, String> {
        // SAFETY: the caller's contract.
        let text = unsafe { c_str(ptr) }
            .map_err(|_| format!("nipc_client_init: {what} is NULL or not UTF-8"))?;
        if text.len() > max {
            return Err(format!(
                "nipc_client_init: {what} is {} bytes long; at most {max} are allowed",
                text.len()
            ));
        }
        Ok(text)
    };
    let run_dir = text(run_dir, "run_dir", RUN_DIR_MAX)?;
    let service = text(service_name, "service_name", SERVICE_MAX)?;
    // SAFETY: the caller's contract.
    let config = unsafe { config.as_ref() }.ok_or("nipc_client_init: config is NULL")?;
    Ok(Target {
        run_dir: Inline::new(run_dir).ok_or("nipc_client_init: run_dir is too long")?,
        service: Inline::new(service).ok_or("nipc_client_init: service_name is too long")?,
        config: config.to_rust(),
    })
}

/// `nipc_error_t nipc_client_init(nipc_client_ctx_t *ctx, const char
/// *run_dir, const char *service_name, const nipc_client_config_t
/// *config)`. No I/O.
///
/// # Safety
/// `ctx` must point to writable storage of a `nipc_client_ctx_t` that no
/// other thread uses; the strings must be NUL-terminated, `config` readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_init(
    ctx: *mut nipc_client_ctx_t,
    run_dir: *const c_char,
    service_name: *const c_char,
    config: *const nipc_client_config_t,
) -> nipc_error_t {
    guard_code(|| {
        if ctx.is_null() {
            return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
        }
        // SAFETY: the caller's contract.
        let target = unsafe { target(run_dir, service_name, config) };
        let code = match target {
            Ok(_) => nipc_error_t::NIPC_OK,
            Err(_) => nipc_error_t::NIPC_ERR_INVALID_ARGUMENT,
        };
        let value = ClientCtx::new(target);
        // SAFETY: `ctx` is writable storage of the right size (the caller's
        // contract and the const assertion), used by this thread only.
        unsafe { Slot::init(ctx.cast::<Slot<ClientCtx>>(), value) };
        // SAFETY: just initialized.
        let c = unsafe { self::ctx(ctx) }?;
        let mut inner = lock(&c.inner);
        c.publish(&mut inner);
        match code {
            nipc_error_t::NIPC_OK => Ok(()),
            other => Err(other),
        }
    })
}

/// `bool nipc_client_refresh(nipc_client_ctx_t *ctx)`: connects when
/// disconnected or not found, reconnects when broken; true when the state
/// changed.
///
/// # Safety
/// `ctx`, when not NULL, must point to a `nipc_client_ctx_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_refresh(ctx: *mut nipc_client_ctx_t) -> bool {
    guard(false, || {
        // SAFETY: the caller's contract.
        let Ok(c) = (unsafe { self::ctx(ctx) }) else {
            return false;
        };
        let before = c.status().state;
        let _ = c.with_any(|client| client.connect());
        c.status().state != before
    })
}

/// `bool nipc_client_ready(const nipc_client_ctx_t *ctx)`: whether the
/// state is READY. No system call.
///
/// # Safety
/// As [`nipc_client_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_ready(ctx: *const nipc_client_ctx_t) -> bool {
    guard(false, || {
        // SAFETY: the caller's contract.
        unsafe { self::ctx(ctx) }.is_ok_and(|c| c.status().state == READY)
    })
}

/// `nipc_error_t nipc_client_status(const nipc_client_ctx_t *ctx,
/// nipc_client_status_t *out)`.
///
/// # Safety
/// As [`nipc_client_refresh`]; `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_status(
    ctx: *const nipc_client_ctx_t,
    out: *mut nipc_client_status_t,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_ref(out, nipc_client_status_t::default()) }?;
        // SAFETY: the caller's contract.
        out.set(unsafe { self::ctx(ctx) }?.status());
        Ok(())
    })
}

/// `nipc_error_t nipc_client_session_info(nipc_client_ctx_t *ctx,
/// nipc_client_session_info_t *out)`: what the current session negotiated;
/// `NIPC_ERR_NOT_READY` when not connected.
///
/// # Safety
/// As [`nipc_client_status`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_session_info(
    ctx: *mut nipc_client_ctx_t,
    out: *mut nipc_client_session_info_t,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_ref(out, nipc_client_session_info_t::default()) }?;
        // SAFETY: the caller's contract.
        let c = unsafe { self::ctx(ctx) }?;
        let info = c.with_any(|client| {
            let status = client.status();
            client.session_info().ok_or(Error::NotReady {
                state: status.state,
                cause: None,
            })
        })?;
        out.set(nipc_client_session_info_t {
            profile: info.profile.bits(),
            shared_memory: u32::from(info.shared_memory),
            max_request_payload_bytes: info.max_request_payload_bytes,
            max_request_batch_items: info.max_request_batch_items,
            max_response_payload_bytes: info.max_response_payload_bytes,
            reserved_: 0,
        });
        Ok(())
    })
}

/// `nipc_error_t nipc_client_set_call_timeout(nipc_client_ctx_t *ctx,
/// uint32_t timeout_ms)`: the default time a call may take; 0 restores
/// 30000 ms.
///
/// # Safety
/// As [`nipc_client_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_set_call_timeout(
    ctx: *mut nipc_client_ctx_t,
    timeout_ms: u32,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let c = unsafe { self::ctx(ctx) }?;
        let ms = match timeout_ms {
            0 => DEFAULT_CALL_TIMEOUT_MS,
            ms => u64::from(ms),
        };
        if c.target.is_none() {
            return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
        }
        let timeout = Duration::from_millis(ms);
        let mut inner = lock(&c.inner);
        inner.call_timeout = timeout;
        if let Some(client) = &mut inner.client {
            client.ops().set_call_timeout(timeout);
        }
        Ok(())
    })
}

/// `nipc_error_t nipc_client_wait_ready(nipc_client_ctx_t *ctx, uint32_t
/// timeout_ms)`: refreshes until ready or `timeout_ms` passed.
///
/// # Safety
/// As [`nipc_client_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_wait_ready(
    ctx: *mut nipc_client_ctx_t,
    timeout_ms: u32,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let c = unsafe { self::ctx(ctx) }?;
        let failed = c.with_any(|client| {
            Ok(client
                .wait_ready(Duration::from_millis(u64::from(timeout_ms)))
                .err())
        })?;
        match failed {
            None => Ok(()),
            // The code of the cause (no provider, permission...).
            Some(e @ Error::NotReady { .. }) => {
                let code = c.fail(&e);
                match e {
                    Error::NotReady {
                        cause: Some(cause), ..
                    } => Err(nipc_error_t::from_error(&cause)),
                    _ => Err(code),
                }
            }
            Some(e) => Err(c.fail(&e)),
        }
    })
}

/// `nipc_error_t nipc_client_abort(nipc_client_ctx_t *ctx)`: makes the
/// running call (if any) and every later one fail with
/// `NIPC_ERR_ABORTED` until cleared. Any thread.
///
/// # Safety
/// As [`nipc_client_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_abort(ctx: *mut nipc_client_ctx_t) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        unsafe { self::ctx(ctx) }?.abort(true)
    })
}

/// `nipc_error_t nipc_client_clear_abort(nipc_client_ctx_t *ctx)`.
///
/// # Safety
/// As [`nipc_client_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_clear_abort(ctx: *mut nipc_client_ctx_t) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        unsafe { self::ctx(ctx) }?.abort(false)
    })
}

/// `void nipc_client_close(nipc_client_ctx_t *ctx)`: disconnects and frees
/// everything the context allocated; the context stays usable (state
/// DISCONNECTED, counters kept).
///
/// # Safety
/// As [`nipc_client_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_close(ctx: *mut nipc_client_ctx_t) {
    guard((), || {
        // SAFETY: the caller's contract.
        if let Ok(c) = unsafe { self::ctx(ctx) } {
            c.close();
        }
    });
}

/// `const char *nipc_client_last_error(const nipc_client_ctx_t *ctx)`.
///
/// # Safety
/// As [`nipc_client_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_last_error(ctx: *const nipc_client_ctx_t) -> *const c_char {
    guard(c"nipc_client_last_error: internal error".as_ptr(), || {
        // SAFETY: the caller's contract.
        match unsafe { self::ctx(ctx) } {
            Ok(c) => c.last_error.as_ptr(),
            Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT) => c"the client context is NULL".as_ptr(),
            Err(_) => c"the client context is not initialized (zeroed, or never passed to nipc_client_init)".as_ptr(),
        }
    })
}

/// A call's timeout: 0 is the context's.
fn timeout(ms: u32) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(u64::from(ms)))
}

/// The body of a typed call of kind `K`: `args` checks the call's arguments,
/// then `call` runs on the context's client; `*out` gets its view (zeroed
/// on failure).
///
/// # Safety
/// As [`nipc_client_refresh`]; `out`, when not NULL, must be writable.
unsafe fn typed_call<K: Kind, A, V: Copy>(
    ctx: *mut nipc_client_ctx_t,
    out: *mut V,
    zero: V,
    args: impl FnOnce(&ClientCtx) -> Result<A, nipc_error_t>,
    call: impl FnOnce(&mut Client<K>, A) -> Result<V, Error>,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_ref(out, zero) }?;
        // SAFETY: the caller's contract.
        let c = unsafe { self::ctx(ctx) }?;
        let args = args(c)?;
        out.set(c.with::<K, _>(|client| call(client, args))?);
        Ok(())
    })
}

/// `nipc_error_t nipc_client_call_cgroups_snapshot_timeout(
/// nipc_client_ctx_t *ctx, nipc_cgroups_resp_view_t *out, uint32_t
/// timeout_ms)`.
///
/// # Safety
/// As [`nipc_client_refresh`]; `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_call_cgroups_snapshot_timeout(
    ctx: *mut nipc_client_ctx_t,
    out: *mut nipc_cgroups_resp_view_t,
    timeout_ms: u32,
) -> nipc_error_t {
    let empty = nipc_cgroups_resp_view_t::EMPTY;
    // SAFETY: the caller's contract.
    unsafe {
        typed_call(
            ctx,
            out,
            empty,
            |_| Ok(()),
            |client: &mut Client<CgroupsSnapshot>, ()| {
                let view = client.call_with_timeout(timeout(timeout_ms))?;
                Ok(nipc_cgroups_resp_view_t::of(&view))
            },
        )
    }
}

/// `nipc_error_t nipc_client_call_cgroups_snapshot(nipc_client_ctx_t *ctx,
/// nipc_cgroups_resp_view_t *out)`.
///
/// # Safety
/// As [`nipc_client_call_cgroups_snapshot_timeout`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_call_cgroups_snapshot(
    ctx: *mut nipc_client_ctx_t,
    out: *mut nipc_cgroups_resp_view_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe { nipc_client_call_cgroups_snapshot_timeout(ctx, out, 0) }
}

/// A path argument: a `nipc_str_view_t` checked by [`paths`] to point to
/// at least one byte.
#[repr(transparent)]
struct PathArg(nipc_str_view_t);

impl AsRef<[u8]> for PathArg {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `paths` made sure that `ptr` is not NULL and `len` is not
        // 0 (the lookup reads the paths many times: no checks here); the
        // bytes are valid during the call by the caller's contract.
        unsafe { std::slice::from_raw_parts(self.0.ptr.cast::<u8>(), self.0.len as usize) }
    }
}

/// The paths of a cgroups lookup, checked: none NULL or empty.
///
/// # Safety
/// `paths`, when not NULL, must point to `count` views of valid bytes.
unsafe fn paths<'a>(
    c: &ClientCtx,
    paths: *const nipc_str_view_t,
    count: u32,
) -> Result<&'a [PathArg], nipc_error_t> {
    // SAFETY: the caller's contract.
    let views = unsafe { c_slice(paths, count as usize) }.map_err(|e| match e {
        nipc_error_t::NIPC_ERR_INVALID_ARGUMENT => {
            c.refuse(&format!("paths is NULL but count is {count}"))
        }
        other => other,
    })?;
    for (i, view) in views.iter().enumerate() {
        if view.len == 0 {
            return Err(c.refuse(&format!("paths[{i}] is empty")));
        }
        if view.ptr.is_null() {
            let len = view.len;
            return Err(c.refuse(&format!("paths[{i}] is NULL with a length of {len}")));
        }
        // A NUL byte inside is refused by the request encoder
        // (NIPC_ERR_BAD_LAYOUT, codec.md 6.2), which scans the paths anyway.
    }
    // SAFETY: `PathArg` is a transparent wrapper of `nipc_str_view_t`.
    Ok(unsafe { std::slice::from_raw_parts(views.as_ptr().cast::<PathArg>(), views.len()) })
}

/// `nipc_error_t nipc_client_call_cgroups_lookup_timeout(
/// nipc_client_ctx_t *ctx, const nipc_str_view_t *paths, uint32_t count,
/// nipc_cgroups_lookup_resp_view_t *out, uint32_t timeout_ms)`.
///
/// # Safety
/// As [`nipc_client_refresh`]; `paths` must point to `count` views of
/// readable bytes; `out` must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_call_cgroups_lookup_timeout(
    ctx: *mut nipc_client_ctx_t,
    paths: *const nipc_str_view_t,
    count: u32,
    out: *mut nipc_cgroups_lookup_resp_view_t,
    timeout_ms: u32,
) -> nipc_error_t {
    let empty = nipc_cgroups_lookup_resp_view_t::EMPTY;
    // SAFETY: the caller's contract (also for `paths`).
    unsafe {
        typed_call(
            ctx,
            out,
            empty,
            |c| self::paths(c, paths, count),
            |client: &mut Client<CgroupsLookup>, paths| {
                let view = client.call_with_timeout(paths, timeout(timeout_ms))?;
                Ok(nipc_cgroups_lookup_resp_view_t::of_cgroups(&view))
            },
        )
    }
}

/// `nipc_error_t nipc_client_call_cgroups_lookup(nipc_client_ctx_t *ctx,
/// const nipc_str_view_t *paths, uint32_t count,
/// nipc_cgroups_lookup_resp_view_t *out)`.
///
/// # Safety
/// As [`nipc_client_call_cgroups_lookup_timeout`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_call_cgroups_lookup(
    ctx: *mut nipc_client_ctx_t,
    paths: *const nipc_str_view_t,
    count: u32,
    out: *mut nipc_cgroups_lookup_resp_view_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe { nipc_client_call_cgroups_lookup_timeout(ctx, paths, count, out, 0) }
}

/// `nipc_error_t nipc_client_call_apps_lookup_timeout(nipc_client_ctx_t
/// *ctx, const uint32_t *pids, uint32_t count, nipc_apps_lookup_resp_view_t
/// *out, uint32_t timeout_ms)`.
///
/// # Safety
/// As [`nipc_client_refresh`]; `pids` must point to `count` values; `out`
/// must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_call_apps_lookup_timeout(
    ctx: *mut nipc_client_ctx_t,
    pids: *const u32,
    count: u32,
    out: *mut nipc_apps_lookup_resp_view_t,
    timeout_ms: u32,
) -> nipc_error_t {
    let empty = nipc_apps_lookup_resp_view_t::EMPTY;
    // SAFETY: the caller's contract (also for `pids`).
    unsafe {
        typed_call(
            ctx,
            out,
            empty,
            |c| {
                c_slice(pids, count as usize)
                    .map_err(|_| c.refuse(&format!("pids is NULL but count is {count}")))
            },
            |client: &mut Client<AppsLookup>, pids| {
                let view = client.call_with_timeout(pids, timeout(timeout_ms))?;
                Ok(nipc_apps_lookup_resp_view_t::of_apps(&view))
            },
        )
    }
}

/// `nipc_error_t nipc_client_call_apps_lookup(nipc_client_ctx_t *ctx, const
/// uint32_t *pids, uint32_t count, nipc_apps_lookup_resp_view_t *out)`.
///
/// # Safety
/// As [`nipc_client_call_apps_lookup_timeout`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_client_call_apps_lookup(
    ctx: *mut nipc_client_ctx_t,
    pids: *const u32,
    count: u32,
    out: *mut nipc_apps_lookup_resp_view_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe { nipc_client_call_apps_lookup_timeout(ctx, pids, count, out, 0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_have_the_reference_values() {
        let states = [
            ClientState::Disconnected,
            ClientState::Connecting,
            ClientState::Ready,
            ClientState::NotFound,
            ClientState::AuthFailed,
            ClientState::Incompatible,
            ClientState::Broken,
        ];
        for (value, state) in states.into_iter().enumerate() {
            assert_eq!(state_code(state) as usize, value);
        }
        assert_eq!(state_code(ClientState::Ready), READY);
    }

    #[test]
    fn inline_strings_keep_up_to_their_size() {
        let full = "x".repeat(SERVICE_MAX);
        assert_eq!(Inline::<SERVICE_MAX>::new(&full).unwrap().as_str(), full);
        assert!(Inline::<SERVICE_MAX>::new(&format!("{full}x")).is_none());
        assert_eq!(Inline::<RUN_DIR_MAX>::new("").unwrap().as_str(), "");
    }

    #[test]
    fn counters_of_closed_clients_add_up() {
        let one = ClientStatus {
            state: ClientState::Ready,
            connect_count: 1,
            reconnect_count: 2,
            call_count: 3,
            error_count: 4,
        };
        let sum = add(
            one,
            ClientStatus {
                state: ClientState::Broken,
                ..one
            },
        );
        assert_eq!(sum.state, ClientState::Broken);
        assert_eq!(
            (
                sum.connect_count,
                sum.reconnect_count,
                sum.call_count,
                sum.error_count
            ),
            (2, 4, 6, 8)
        );
    }
}
