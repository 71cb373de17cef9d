//! Machinery shared by the integration suites: a watchdog that turns a
//! hang into a failure, and private run directories.
#![allow(dead_code)] // each suite uses a part of it

use std::path::PathBuf;

use netipc::service::{ClientConfig, Profiles, ServerConfig};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `case` on its own thread and fails if it does not finish within
/// `limit`; a panic of the case is re-raised with its message.
pub fn watchdog(limit: Duration, case: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        case();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => worker.join().expect("case thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(p) = worker.join() {
                std::panic::resume_unwind(p);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("watchdog: the test did not finish within {limit:?}")
        }
    }
}

/// A private run directory (unique per process and test), removed on drop.
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("nipc-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create run dir");
        Self { path }
    }

    pub fn str(&self) -> &str {
        self.path.to_str().expect("utf-8 temp dir")
    }

    /// The names of the entries in the directory.
    pub fn entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.path)
            .expect("read run dir")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A client configuration offering `profiles` (empty: the defaults).
pub fn client_config(profiles: Profiles) -> ClientConfig {
    ClientConfig {
        supported_profiles: profiles,
        ..ClientConfig::default()
    }
}

/// A server configuration offering `profiles` (empty: the defaults).
pub fn server_config(profiles: Profiles) -> ServerConfig {
    ServerConfig {
        supported_profiles: profiles,
        ..ServerConfig::default()
    }
}
