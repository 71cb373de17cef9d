//! A prompt stop whatever the peers do, and silent peers that never say
//! HELLO.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::service::{
    ClientConfig, HandlerError, IncrementClient, ManagedServer, STOP_GRACE, ServerConfig,
};
use netipc::transport::testing::RawConn;
use netipc::transport::{ClientOptions, ClientSession};
use netipc::wire::{Method, Profiles};

use crate::support::*;

/// How long a stop may take in these tests: the grace period for running
/// handlers plus room for a slow machine (`netipc stress` measures it).
const STOP_BOUND: Duration = Duration::from_secs(3);

fn stop_with_everything_going_on(profiles: Profiles) {
    let dir = RunDir::new();
    let entered = Arc::new(AtomicUsize::new(0));
    let config = ServerConfig {
        workers: 2,
        max_request_payload_bytes: 4 << 20,
        ..server_config(profiles)
    };
    let server = {
        let entered = entered.clone();
        ManagedServer::increment(dir.str(), "inc", &config, move |v| {
            if v == 999 {
                entered.fetch_add(1, Ordering::SeqCst);
                // Longer than the grace period: stop must not wait for it.
                std::thread::sleep(STOP_GRACE * 4);
            }
            Ok::<u64, HandlerError>(v + 1)
        })
        .spawn()
        .unwrap()
    };
    // Idle sessions.
    let mut idle: Vec<IncrementClient> = (0..200).map(|_| connected(&dir, profiles)).collect();
    for client in &mut idle {
        assert_eq!(client.call(1).unwrap(), 2);
    }
    // Connections in the middle of their handshake.
    let silent: Vec<RawConn> = (0..20)
        .map(|_| RawConn::connect(dir.str(), "inc").unwrap())
        .collect();
    // A consumer whose request is still arriving and that reads nothing.
    let options = ClientOptions {
        supported_profiles: Profiles::BASELINE,
        max_request_payload_bytes: 4 << 20,
        ..ClientOptions::default()
    };
    let mut sending = ClientSession::connect(dir.str(), "inc", &options).unwrap();
    let half_sent = std::thread::spawn(move || {
        let _ = sending.send_request(Method::Increment.code(), 1, &vec![0u8; 4 << 20]);
        sending
    });
    // A handler that is still running.
    let busy = {
        let run_dir = dir.str().to_owned();
        let config = ClientConfig {
            call_timeout: Duration::from_secs(30),
            ..client_config(profiles)
        };
        std::thread::spawn(move || {
            let mut client = IncrementClient::new(&run_dir, "inc", &config);
            let _ = client.connect();
            client.call(999).map_err(|e| e.to_string())
        })
    };
    eventually("the slow handler to start", || {
        entered.load(Ordering::SeqCst) == 1
    });

    let started = Instant::now();
    server.stop();
    let took = started.elapsed();
    assert!(took < STOP_BOUND, "stop took {took:?}");

    // The endpoint is gone at once; every session but the one whose
    // handler still runs is closed, and that one follows when it returns.
    assert!(
        !dir.entries().iter().any(|e| e.ends_with(".sock")),
        "{:?}",
        dir.entries()
    );
    assert!(idle.iter_mut().all(|c| c.call(2).is_err()));
    let mut buf = [0u8; 128];
    for conn in &silent {
        assert!(matches!(
            conn.recv(&mut buf, Some(PATIENCE)),
            Err(Error::Disconnected)
        ));
    }
    let _ = busy.join().unwrap();
    drop(half_sent.join().unwrap());
    eventually("the last session to be released", || dir.is_empty());
}

#[test]
fn stop_is_prompt_whatever_the_peers_do() {
    heavy(|| stop_with_everything_going_on(Profiles::empty()));
}

#[test]
fn stop_is_prompt_whatever_the_peers_do_baseline() {
    heavy(|| stop_with_everything_going_on(TRANSPORTS[1]));
}

fn silent_connections(profiles: Profiles) {
    let dir = RunDir::new();
    let server = increment_server(&dir, &server_config(profiles));
    let silent: Vec<RawConn> = (0..100)
        .map(|_| RawConn::connect(dir.str(), "inc").unwrap())
        .collect();
    eventually("the silent connections to be accepted", || {
        server.stats().handshaking == 100
    });
    // Ordinary consumers are served meanwhile, new and old.
    let mut client = connected(&dir, profiles);
    for v in 0..500 {
        assert_eq!(client.call(v).unwrap(), v + 1);
    }
    // The silent ones are dropped after the handshake deadline.
    eventually("the silent connections to be dropped", || {
        server.stats().handshake_timeouts == 100
    });
    let mut buf = [0u8; 128];
    for conn in &silent {
        assert!(matches!(
            conn.recv(&mut buf, Some(PATIENCE)),
            Err(Error::Disconnected)
        ));
    }
    assert_eq!(server.stats().handshaking, 0);
    assert_eq!(client.call(7).unwrap(), 8);
}

#[test]
fn silent_connections_cost_no_worker_and_are_dropped_at_the_handshake_deadline() {
    heavy(|| silent_connections(Profiles::empty()));
}

#[test]
fn silent_connections_cost_no_worker_and_are_dropped_at_the_handshake_deadline_baseline() {
    heavy(|| silent_connections(TRANSPORTS[1]));
}
