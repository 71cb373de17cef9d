//! What the server suites share: the netipc suites' watchdog and private
//! run directories (`crates/netipc-tests/tests/common`), and a C server
//! driven through the C ABI from Rust.

use std::ffi::{CStr, CString, c_void};
use std::thread::JoinHandle;
use std::time::Duration;

use netipc::service::Profiles;
use netipc_c::config::nipc_server_config_t;
use netipc_c::nipc_error_t;
use netipc_c::server::{
    nipc_apps_lookup_service_handler_t, nipc_cgroups_lookup_service_handler_t,
    nipc_cgroups_service_handler_t, nipc_managed_server_t, nipc_server_destroy, nipc_server_drain,
    nipc_server_init_apps_lookup, nipc_server_init_cgroups_lookup, nipc_server_init_typed,
    nipc_server_last_error, nipc_server_run, nipc_server_stats, nipc_server_stats_t,
    nipc_server_stop,
};

pub use crate::common::{RunDir, client_config};

/// Longest a case may take.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs `case` under the watchdog of the netipc suites, with [`LIMIT`].
pub fn watchdog(case: impl FnOnce() + Send + 'static) {
    crate::common::watchdog(LIMIT, case);
}

/// Both profile choices a client can make against a default server.
pub const PROFILES: [Profiles; 2] = [Profiles::BASELINE, Profiles::SHM_HYBRID];

/// A `nipc_managed_server_t` pointer that the run thread may use.
#[derive(Clone, Copy)]
struct Ptr(*mut nipc_managed_server_t);
// SAFETY: the C API lets nipc_server_run run on another thread than init,
// stop, drain and stats; destroy waits for the run thread to be joined.
unsafe impl Send for Ptr {}

/// One kind of C server.
pub enum Handler {
    Snapshot(nipc_cgroups_service_handler_t),
    CgroupsLookup(nipc_cgroups_lookup_service_handler_t),
    AppsLookup(nipc_apps_lookup_service_handler_t),
}

/// A C managed server in heap storage (it must not move), run on a thread
/// of its own; stopped, joined and destroyed on drop.
pub struct CServer {
    ptr: Ptr,
    thread: Option<JoinHandle<nipc_error_t>>,
}

// SAFETY: the server's functions may be called from any thread (the C
// API's threading rules); the storage is owned by this value.
unsafe impl Send for CServer {}
// SAFETY: as above; `&self` methods are the thread-safe ones.
unsafe impl Sync for CServer {}

/// A server struct's storage: zeroed, as C callers may declare it.
pub fn zeroed_server() -> Box<nipc_managed_server_t> {
    // SAFETY: an array of u64 words, valid when zeroed.
    Box::new(unsafe { std::mem::zeroed() })
}

/// Inits `server` as `handler`'s kind of server.
pub fn init(
    server: *mut nipc_managed_server_t,
    run_dir: &str,
    service: &str,
    config: &nipc_server_config_t,
    workers: i32,
    handler: &Handler,
) -> nipc_error_t {
    let dir = CString::new(run_dir).expect("no NUL");
    let name = CString::new(service).expect("no NUL");
    // SAFETY: valid storage, strings and structs for the call.
    unsafe {
        match handler {
            Handler::Snapshot(h) => {
                nipc_server_init_typed(server, dir.as_ptr(), name.as_ptr(), config, workers, h)
            }
            Handler::CgroupsLookup(h) => nipc_server_init_cgroups_lookup(
                server,
                dir.as_ptr(),
                name.as_ptr(),
                config,
                workers,
                h,
            ),
            Handler::AppsLookup(h) => nipc_server_init_apps_lookup(
                server,
                dir.as_ptr(),
                name.as_ptr(),
                config,
                workers,
                h,
            ),
        }
    }
}

/// The last error of a server struct.
pub fn last_error(server: *const nipc_managed_server_t) -> String {
    // SAFETY: a server struct (or NULL); the text is copied at once.
    unsafe { CStr::from_ptr(nipc_server_last_error(server)) }
        .to_string_lossy()
        .into_owned()
}

impl CServer {
    /// Inits a server (not running yet).
    pub fn new(
        run_dir: &str,
        service: &str,
        config: &nipc_server_config_t,
        workers: i32,
        handler: &Handler,
    ) -> Result<Self, (nipc_error_t, String)> {
        let storage = Box::into_raw(zeroed_server());
        let code = init(storage, run_dir, service, config, workers, handler);
        if code != nipc_error_t::NIPC_OK {
            let message = last_error(storage);
            // SAFETY: from Box::into_raw above; destroy frees nothing here.
            unsafe {
                nipc_server_destroy(storage);
                drop(Box::from_raw(storage));
            }
            return Err((code, message));
        }
        Ok(Self {
            ptr: Ptr(storage),
            thread: None,
        })
    }

    /// Inits a server with the default config and 2 workers, and runs it.
    pub fn start(run_dir: &str, service: &str, handler: &Handler) -> Self {
        Self::start_with(
            run_dir,
            service,
            &nipc_server_config_t::default(),
            2,
            handler,
        )
    }

    /// Inits a server and runs it.
    pub fn start_with(
        run_dir: &str,
        service: &str,
        config: &nipc_server_config_t,
        workers: i32,
        handler: &Handler,
    ) -> Self {
        let mut server = Self::new(run_dir, service, config, workers, handler)
            .unwrap_or_else(|(code, message)| panic!("init failed: {code:?} {message}"));
        server.run();
        server
    }

    /// Calls nipc_server_run on a new thread.
    pub fn run(&mut self) {
        let ptr = self.ptr;
        self.thread = Some(std::thread::spawn(move || {
            let ptr = ptr;
            // SAFETY: the storage lives until drop, which joins this thread.
            unsafe { nipc_server_run(ptr.0) }
        }));
    }

    /// Stops the server and returns what run returned.
    pub fn stop(&mut self) -> nipc_error_t {
        // SAFETY: live storage.
        unsafe { nipc_server_stop(self.ptr.0) };
        self.join()
    }

    /// Waits for run to return.
    pub fn join(&mut self) -> nipc_error_t {
        self.thread
            .take()
            .map_or(nipc_error_t::NIPC_OK, |t| t.join().expect("run thread"))
    }

    pub fn drain(&self, timeout: Duration) -> bool {
        let ms = u32::try_from(timeout.as_millis()).expect("short");
        // SAFETY: live storage.
        unsafe { nipc_server_drain(self.ptr.0, ms) }
    }

    pub fn stats(&self) -> nipc_server_stats_t {
        let mut stats = nipc_server_stats_t::default();
        // SAFETY: live storage, writable output.
        let code = unsafe { nipc_server_stats(self.ptr.0, &raw mut stats) };
        assert_eq!(code, nipc_error_t::NIPC_OK);
        stats
    }
}

impl Drop for CServer {
    fn drop(&mut self) {
        // SAFETY: live storage; the run thread is joined before destroy, and
        // the storage freed after.
        unsafe {
            nipc_server_stop(self.ptr.0);
            let _ = self.join();
            nipc_server_destroy(self.ptr.0);
            drop(Box::from_raw(self.ptr.0));
        }
    }
}

/// `user` for a handler struct.
pub fn user<T>(data: &T) -> *mut c_void {
    std::ptr::from_ref(data).cast_mut().cast()
}
