//! Shared-memory sessions on Linux kernels without `futex_waitv` (before
//! 5.16): the server then waits on each idle session with a thread of its
//! own. This suite forces that path (a process-wide switch, hence its own
//! test binary) and checks that sessions are served, released and cycled
//! as on newer kernels. On other systems the switch does nothing and the
//! cases run on the normal path.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{RunDir, watchdog};
use netipc::service::{ClientConfig, HandlerError, IncrementClient, ManagedServer, ServerConfig};
use netipc::transport::testing::disable_multi_waits;

const WATCHDOG: Duration = Duration::from_secs(120);

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Threads of this process that wait on shared-memory sessions.
#[cfg(target_os = "linux")]
fn wait_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("netipc-shm-wait"))
        .count()
}

#[test]
fn single_waits_serve_release_and_cycle_shared_memory_sessions() {
    disable_multi_waits();
    watchdog(WATCHDOG, || {
        let dir = RunDir::new();
        let config = ServerConfig {
            workers: 2,
            ..ServerConfig::default()
        };
        let server = ManagedServer::increment(dir.str(), "inc", &config, |v| {
            Ok::<u64, HandlerError>(v + 1)
        })
        .spawn()
        .unwrap();
        let mut clients: Vec<_> = (0..40)
            .map(|_| {
                let mut c = IncrementClient::new(dir.str(), "inc", &ClientConfig::default());
                let _ = c.connect();
                assert!(c.session_info().unwrap().shared_memory);
                c
            })
            .collect();
        for round in 0..3u64 {
            for (i, c) in clients.iter_mut().enumerate() {
                let v = round * 1000 + i as u64;
                assert_eq!(c.call(v).unwrap(), v + 1);
            }
            // Idle long enough for every session to go to its waiter.
            std::thread::sleep(Duration::from_millis(20));
        }
        #[cfg(target_os = "linux")]
        assert!(
            wait_threads() >= 40,
            "one waiting thread per idle session: {}",
            wait_threads()
        );
        clients.truncate(10);
        eventually("departed sessions to be released", || {
            server.stats().sessions == 10
        });
        for i in 0..300 {
            let mut c = IncrementClient::new(dir.str(), "inc", &ClientConfig::default());
            let _ = c.connect();
            assert_eq!(c.call(i).unwrap(), i + 1);
        }
        for c in &mut clients {
            assert_eq!(c.call(7).unwrap(), 8);
        }
        drop(clients);
        eventually("every session to be released", || {
            server.stats().sessions == 0 && !dir.entries().iter().any(|e| e.ends_with(".ipcshm"))
        });
        server.stop();
        assert!(dir.is_empty(), "{:?}", dir.entries());
    });
}
