//! Sessions are not threads: a thousand sessions on two workers, the
//! session limit, departures and churn.

use netipc::Error;
use netipc::service::{ClientState, IncrementClient, ServerConfig};
use netipc::transport::handshake::HandshakeError;
use netipc::transport::{ClientOptions, ClientSession};

use crate::support::*;

/// The default session limit.
const HOST: usize = 1024;

fn thousand_sessions(profiles: Profiles) {
    let dir = RunDir::new();
    let config = ServerConfig {
        workers: 2,
        ..server_config(profiles)
    };
    let server = increment_server(&dir, &config);
    assert_eq!(server.stats().session_limit, HOST, "the default limit");
    let mut clients: Vec<IncrementClient> = (0..HOST).map(|_| connected(&dir, profiles)).collect();
    for round in 0..2u64 {
        for (i, client) in clients.iter_mut().enumerate() {
            let v = round << 32 | i as u64;
            assert_eq!(client.call(v).expect("served"), v + 1);
        }
    }
    let stats = server.stats();
    assert_eq!((stats.sessions, stats.peak_sessions), (HOST, HOST));
    assert_eq!(stats.refused_at_capacity, 0);
    assert_eq!(stats.requests, 2 * HOST as u64);
    assert!(clients.iter().all(|c| c.status().reconnect_count == 0));
    // (Windows regions are kernel objects, not files.)
    if cfg!(unix) && profiles != netipc::wire::Profiles::BASELINE {
        assert_eq!(regions(&dir).len(), HOST, "one region per session");
    }
    drop(clients);
    eventually("every session to be released", || {
        server.stats().sessions == 0 && regions(&dir).is_empty()
    });
}

#[test]
fn two_workers_serve_1024_concurrent_sessions() {
    heavy(|| thousand_sessions(Profiles::empty()));
}

#[test]
fn two_workers_serve_1024_concurrent_sessions_baseline() {
    heavy(|| thousand_sessions(TRANSPORTS[1]));
}

fn session_limit_under_crowd(profiles: Profiles) {
    const LIMIT: usize = 50;
    let dir = RunDir::new();
    let config = ServerConfig {
        max_sessions: LIMIT,
        ..server_config(profiles)
    };
    let server = increment_server(&dir, &config);
    let mut admitted = Vec::new();
    let mut refused = 0;
    for _ in 0..LIMIT + 10 {
        let mut client = IncrementClient::new(dir.str(), "inc", &client_config(profiles));
        let _ = client.connect();
        match client.status().state {
            ClientState::Ready => admitted.push(client),
            ClientState::Disconnected => refused += 1,
            other => panic!("unexpected state {other:?}"),
        }
    }
    // Never turned away below the limit; refused above it, with the reason.
    assert_eq!((admitted.len(), refused), (LIMIT, 10));
    let options = ClientOptions {
        supported_profiles: client_config(profiles).supported_profiles,
        ..ClientOptions::default()
    };
    match ClientSession::connect(dir.str(), "inc", &options) {
        Err(Error::Handshake(HandshakeError::AtCapacity { sessions })) => {
            assert_eq!(sessions as usize, LIMIT)
        }
        other => panic!("expected a capacity refusal, got {other:?}"),
    }
    // (The server counts a refusal just after sending it.)
    eventually("the refusals to be counted", || {
        server.stats().refused_at_capacity == 11
    });
    for (i, client) in admitted.iter_mut().enumerate() {
        assert_eq!(client.call(i as u64).unwrap(), i as u64 + 1);
    }
    // Places freed by departing clients go to the next ones.
    admitted.truncate(LIMIT - 5);
    eventually("five places to be freed", || {
        server.stats().sessions == LIMIT - 5
    });
    for _ in 0..5 {
        let mut client = connected(&dir, profiles);
        assert_eq!(client.call(1).unwrap(), 2);
        admitted.push(client);
    }
}

#[test]
fn the_session_limit_admits_exactly_its_count() {
    heavy(|| session_limit_under_crowd(Profiles::empty()));
}

#[test]
fn the_session_limit_admits_exactly_its_count_baseline() {
    heavy(|| session_limit_under_crowd(TRANSPORTS[1]));
}

fn departure(profiles: Profiles) {
    let dir = RunDir::new();
    let server = increment_server(&dir, &server_config(profiles));
    let mut stay = connected(&dir, profiles);
    let mut leave = connected(&dir, profiles);
    assert_eq!(leave.call(1).unwrap(), 2);
    // Let the server hand the idle session to its wait group first.
    std::thread::sleep(std::time::Duration::from_millis(20));
    drop(leave);
    eventually("the departed session to be released", || {
        server.stats().sessions == 1
    });
    if cfg!(unix) && profiles != netipc::wire::Profiles::BASELINE {
        // The count drops when the session leaves the registry; its region
        // file is removed as the session is dropped, a moment later.
        eventually("its region to be removed", || regions(&dir).len() == 1);
    }
    assert_eq!(stay.call(5).unwrap(), 6);
}

#[test]
fn a_departed_consumer_is_released() {
    heavy(|| departure(Profiles::empty()));
}

#[test]
fn a_departed_consumer_is_released_baseline() {
    heavy(|| departure(TRANSPORTS[1]));
}

/// Back-to-back cycles of a new client, one call and a close.
fn churn(profiles: Profiles) {
    let cycles = if cfg!(windows) { 1_000 } else { 10_000 };
    let dir = RunDir::new();
    let server = increment_server(&dir, &server_config(profiles));
    let mut failures = Vec::new();
    for i in 0..cycles {
        let mut client = IncrementClient::new(dir.str(), "inc", &client_config(profiles));
        let _ = client.connect();
        if let Err(e) = client.call(i) {
            failures.push(format!("cycle {i}: {e} ({:?})", client.status().state));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(server.stats().sessions_opened, cycles);
    eventually("every session to be released", || {
        server.stats().sessions == 0 && regions(&dir).is_empty()
    });
}

#[test]
fn connect_call_disconnect_churn_never_fails() {
    heavy(|| churn(Profiles::empty()));
}

#[test]
fn connect_call_disconnect_churn_never_fails_baseline() {
    heavy(|| churn(TRANSPORTS[1]));
}
