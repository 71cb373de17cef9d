//! Binding at init, drain, destroy and stop with clients and handlers
//! involved (the paths without clients are in tests/c/test_server.c).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::service::{CgroupsSnapshotClient, ManagedServer, Profiles, ServerConfig};
use netipc_c::config::nipc_server_config_t;
use netipc_c::nipc_error_t;

use crate::snapshot::Snapshot;
use crate::support::{CServer, RunDir, client_config, watchdog};

/// Calls the snapshot service on a new thread; the result comes back
/// through the handle.
fn call_in_background(
    dir: &RunDir,
    service: &str,
) -> std::thread::JoinHandle<Result<usize, Error>> {
    let mut client =
        CgroupsSnapshotClient::new(dir.str(), service, &client_config(Profiles::empty()));
    client.wait_ready(Duration::from_secs(10)).expect("connect");
    std::thread::spawn(move || client.call().map(|view| view.len()))
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn drain_waits_for_a_slow_handler_and_its_client_gets_the_answer() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Snapshot {
            delay: Duration::from_millis(300),
            ..Snapshot::with_items(4, 20)
        });
        let mut server = CServer::start(dir.str(), "slow", &data.handler(0));
        let call = call_in_background(&dir, "slow");
        wait_for("the handler was not called", || {
            data.entered.load(Ordering::SeqCst)
        });
        assert!(server.drain(Duration::from_secs(20)));
        assert!(data.returned.load(Ordering::SeqCst));
        assert_eq!(call.join().expect("client thread").expect("answer"), 4);
        assert_eq!(server.join(), nipc_error_t::NIPC_OK);
        assert!(server.drain(Duration::ZERO));
    });
}

#[test]
fn drain_gives_up_on_a_handler_and_destroy_waits_for_it() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Snapshot {
            delay: Duration::from_millis(1500),
            ..Snapshot::with_items(4, 20)
        });
        let mut server = CServer::start(dir.str(), "stuck", &data.handler(0));
        let call = call_in_background(&dir, "stuck");
        wait_for("the handler was not called", || {
            data.entered.load(Ordering::SeqCst)
        });
        assert!(!server.drain(Duration::from_millis(50)));
        assert!(!data.returned.load(Ordering::SeqCst));
        // Run returns after the server's stop grace, while the handler runs.
        assert_eq!(server.join(), nipc_error_t::NIPC_OK);
        drop(server);
        assert!(
            data.returned.load(Ordering::SeqCst),
            "destroy returned while a handler still ran"
        );
        // The handler's client got its answer or lost its session; either
        // way it does not hang.
        let _ = call.join().expect("client thread");
    });
}

#[test]
fn init_binds_so_a_second_provider_of_the_endpoint_fails_at_init() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Snapshot::with_items(1, 10));
        let config = nipc_server_config_t::default();
        // A Rust provider first: the C one fails at init, naming its pid.
        let rust =
            ManagedServer::cgroups_snapshot(dir.str(), "shared", &ServerConfig::default(), |_| {
                Ok(())
            })
            .spawn()
            .expect("rust provider");
        let (code, message) = CServer::new(dir.str(), "shared", &config, 1, &data.handler(0))
            .err()
            .expect("the endpoint is taken");
        assert_eq!(code, nipc_error_t::NIPC_ERR_ADDR_IN_USE);
        assert!(message.contains("pid"), "{message}");
        assert!(message.starts_with("nipc_server_init_typed: "), "{message}");
        rust.stop();
        // A C provider that never runs holds the endpoint too...
        let c = CServer::new(dir.str(), "shared", &config, 1, &data.handler(0)).expect("free");
        match ManagedServer::cgroups_snapshot(dir.str(), "shared", &ServerConfig::default(), |_| {
            Ok(())
        })
        .spawn()
        {
            Err(Error::AddressInUse { .. }) => {}
            other => panic!("expected AddressInUse, got {other:?}"),
        }
        // ...until it is destroyed.
        drop(c);
        assert!(dir.is_empty());
        let rust =
            ManagedServer::cgroups_snapshot(dir.str(), "shared", &ServerConfig::default(), |_| {
                Ok(())
            })
            .spawn()
            .expect("free again");
        rust.stop();
    });
}

#[test]
fn a_client_that_connects_before_run_is_answered_once_the_server_runs() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Snapshot::with_items(3, 10));
        let mut server = CServer::new(
            dir.str(),
            "later",
            &nipc_server_config_t::default(),
            1,
            &data.handler(0),
        )
        .expect("init");
        let early = std::thread::spawn({
            let path = dir.str().to_owned();
            move || {
                let mut client =
                    CgroupsSnapshotClient::new(&path, "later", &client_config(Profiles::empty()));
                client.wait_ready(Duration::from_secs(20))?;
                client.call().map(|view| view.len())
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(data.calls.load(Ordering::SeqCst), 0);
        server.run();
        assert_eq!(early.join().expect("client thread").expect("answer"), 3);
        assert_eq!(server.stop(), nipc_error_t::NIPC_OK);
    });
}
