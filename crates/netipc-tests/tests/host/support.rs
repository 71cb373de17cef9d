//! Machinery of the whole-host suite.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use netipc::service::{
    ClientState, HandlerError, IncrementClient, ManagedServer, RunningServer, ServerConfig,
};
pub use netipc::wire::Profiles;

pub use crate::common::{RunDir, client_config, server_config};

/// Every case runs under this watchdog.
pub const WATCHDOG: Duration = Duration::from_secs(240);

/// How long a case waits for something that must happen.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The transports every case runs on: shared memory (the default
/// profiles) and the baseline transport alone.
pub const TRANSPORTS: [Profiles; 2] = [Profiles::empty(), Profiles::BASELINE];

/// Runs `case` under the watchdog, alone among the heavy cases.
pub fn heavy(case: impl FnOnce() + Send + 'static) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn: MutexGuard<'_, ()> = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    crate::common::watchdog(WATCHDOG, case);
}

/// An INCREMENT managed server answering `value + 1`.
pub fn increment_server(dir: &RunDir, config: &ServerConfig) -> RunningServer {
    ManagedServer::increment(dir.str(), "inc", config, |v| Ok::<u64, HandlerError>(v + 1))
        .spawn()
        .expect("spawn the increment server")
}

/// A connected INCREMENT client of the `inc` service.
pub fn connected(dir: &RunDir, profiles: Profiles) -> IncrementClient {
    let mut client = IncrementClient::new(dir.str(), "inc", &client_config(profiles));
    let _ = client.connect();
    assert_eq!(client.status().state, ClientState::Ready, "connect");
    let shm = client.session_info().expect("session").shared_memory;
    assert_eq!(shm, profiles != Profiles::BASELINE, "the transport");
    client
}

/// Waits until `done` holds, polling; fails after [`PATIENCE`].
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Names of shared-memory region files in `dir`.
pub fn regions(dir: &RunDir) -> Vec<String> {
    dir.entries()
        .into_iter()
        .filter(|e| e.ends_with(".ipcshm"))
        .collect()
}
