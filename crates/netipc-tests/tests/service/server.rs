//! The managed server (level2 section 11): error responses and which of
//! them end the session, wrong methods, the session limit, workers that
//! serve many sessions, handler panics, many concurrent clients, and
//! stopping.

use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::service::{
    ClientConfig, ClientState, IncrementClient, ManagedServer, RunningServer, ServerConfig,
    StringReverseClient,
};
use netipc::transport::handshake::HandshakeError;
use netipc::transport::{ClientOptions, ClientSession};
use netipc::wire::{Header, Method, Profiles, TransportStatus};

use crate::support::*;

fn l1_options(profiles: Profiles) -> ClientOptions {
    ClientOptions {
        supported_profiles: if profiles == Profiles::empty() {
            netipc::service::DEFAULT_PROFILES
        } else {
            profiles
        },
        preferred_profiles: netipc::wire::Profiles::SHM_HYBRID,
        max_request_batch_items: 8,
        ..ClientOptions::default()
    }
}

fn l1_connect(dir: &RunDir, service: &str, profiles: Profiles) -> ClientSession {
    ClientSession::connect(dir.str(), service, &l1_options(profiles)).expect("L1 connect")
}

/// Asserts the documented shape of an error response to `request_id`.
fn assert_error_response(h: &Header, code: u16, request_id: u64, status: TransportStatus) {
    assert_eq!(h.transport_status, status, "{h:?}");
    assert_eq!(
        (h.code, h.message_id, h.payload_len, h.item_count, h.flags),
        (code, request_id, 0, 1, 0),
        "{h:?}"
    );
}

/// Asserts that the server closed the session.
fn assert_closed(session: &mut ClientSession) {
    match session.recv(Some(PATIENCE), None) {
        Err(Error::Disconnected) => {}
        other => panic!("the session is still open: {:?}", other.map(|m| m.header)),
    }
}

fn increment_server_failing_on_13(dir: &RunDir, profiles: Profiles) -> (RunningServer, Counter) {
    let calls = Counter::default();
    let c = calls.clone();
    let server = ManagedServer::increment(dir.str(), "inc", &server_config(profiles), move |v| {
        c.bump();
        if v == 13 {
            return Err("unlucky".into());
        }
        Ok(v + 1)
    })
    .spawn()
    .unwrap();
    (server, calls)
}

fn wrong_method_keeps_the_session(profiles: Profiles) {
    let dir = RunDir::new();
    let (_server, calls) = increment_server_failing_on_13(&dir, profiles);
    let mut session = l1_connect(&dir, "inc", profiles);
    let inc = Method::Increment.code();
    let rev = Method::StringReverse.code();
    let m = session
        .call(rev, 1, b"\x08\0\0\0\0\0\0\0\0", Some(PATIENCE))
        .unwrap();
    assert_error_response(&m.header, rev, 1, TransportStatus::UNSUPPORTED);
    // A batch of the wrong method gets a plain (non-batch) error too.
    let items = [&1u64.to_ne_bytes()[..], &2u64.to_ne_bytes()[..]];
    session.send_batch(rev, 2, items).unwrap();
    let m = session.recv(Some(PATIENCE), None).unwrap();
    assert_error_response(&m.header, rev, 2, TransportStatus::UNSUPPORTED);
    // The session is still usable.
    let m = session
        .call(inc, 3, &41u64.to_ne_bytes(), Some(PATIENCE))
        .unwrap();
    assert_eq!(m.header.transport_status, TransportStatus::OK);
    assert_eq!(m.payload, 42u64.to_ne_bytes());
    assert_eq!(calls.get(), 1);
}

#[test]
fn wrong_method_is_unsupported_and_the_session_stays_usable() {
    watchdog(|| wrong_method_keeps_the_session(Profiles::empty()));
}

#[test]
fn wrong_method_is_unsupported_and_the_session_stays_usable_baseline() {
    watchdog(|| wrong_method_keeps_the_session(BASELINE));
}

#[test]
fn client_of_another_method_is_rejected_unsupported() {
    watchdog(|| {
        let dir = RunDir::new();
        let (_server, calls) = increment_server_failing_on_13(&dir, Profiles::empty());
        let mut client = StringReverseClient::new(dir.str(), "inc", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call(b"abc").map(<[u8]>::to_vec);
        assert!(
            matches!(result, Err(Error::Rejected(TransportStatus::UNSUPPORTED))),
            "{result:?}"
        );
        let s = client.status();
        assert_eq!((s.state, s.reconnect_count), (ClientState::Ready, 0));
        assert_eq!(calls.get(), 0);
    });
}

/// Error responses are empty single messages; `BAD_ENVELOPE` and
/// `LIMIT_EXCEEDED` end the session, a failed handler's `INTERNAL_ERROR`
/// does not.
fn failed_requests(profiles: Profiles) {
    let dir = RunDir::new();
    let inc = Method::Increment.code();
    let (_server, calls) = increment_server_failing_on_13(&dir, profiles);

    // Undecodable request: BAD_ENVELOPE, then the session is closed.
    let mut session = l1_connect(&dir, "inc", profiles);
    let m = session.call(inc, 1, &[1, 2, 3], Some(PATIENCE)).unwrap();
    assert_error_response(&m.header, inc, 1, TransportStatus::BAD_ENVELOPE);
    assert_closed(&mut session);

    // Failing handler: INTERNAL_ERROR, and the session goes on.
    let mut session = l1_connect(&dir, "inc", profiles);
    let m = session
        .call(inc, 1, &1u64.to_ne_bytes(), Some(PATIENCE))
        .unwrap();
    assert_eq!(m.payload, 2u64.to_ne_bytes());
    let m = session
        .call(inc, 2, &13u64.to_ne_bytes(), Some(PATIENCE))
        .unwrap();
    assert_error_response(&m.header, inc, 2, TransportStatus::INTERNAL_ERROR);

    // One failing item fails a whole batch, answered as a single message.
    let items = [
        &1u64.to_ne_bytes()[..],
        &13u64.to_ne_bytes()[..],
        &3u64.to_ne_bytes()[..],
    ];
    session.send_batch(inc, 7, items).unwrap();
    let m = session.recv(Some(PATIENCE), None).unwrap();
    assert_error_response(&m.header, inc, 7, TransportStatus::INTERNAL_ERROR);
    let m = session
        .call(inc, 8, &41u64.to_ne_bytes(), Some(PATIENCE))
        .unwrap();
    assert_eq!(m.payload, 42u64.to_ne_bytes());
    assert!(calls.get() >= 4);

    // A response larger than the budget: LIMIT_EXCEEDED, then closed; the
    // server learned a larger response size for new sessions.
    let _doubling = ManagedServer::string_reverse(
        dir.str(),
        "double",
        &server_config(profiles),
        |text, out| {
            // 72,000 bytes from 900: above the default 64 KiB.
            for _ in 0..80 {
                out.extend_from_slice(text);
            }
            Ok(())
        },
    )
    .spawn()
    .unwrap();
    let rev = Method::StringReverse.code();
    let mut session = l1_connect(&dir, "double", profiles);
    assert_eq!(
        session.params().max_response_payload_bytes,
        netipc::service::DEFAULT_SERVER_RESPONSE_START
    );
    let mut request = vec![0u8; 900 + 9];
    netipc::codec::encode_string_reverse(&[b'q'; 900], &mut request).unwrap();
    let m = session.call(rev, 1, &request, Some(PATIENCE)).unwrap();
    assert_error_response(&m.header, rev, 1, TransportStatus::LIMIT_EXCEEDED);
    assert_closed(&mut session);
    let mut session = l1_connect(&dir, "double", profiles);
    assert_eq!(session.params().max_response_payload_bytes, 128 << 10);
    let m = session.call(rev, 1, &request, Some(PATIENCE)).unwrap();
    assert_eq!(m.header.transport_status, TransportStatus::OK);
    assert_eq!(m.header.payload_len, 72_000 + 9);

    // A lookup handler that answers the wrong number of items:
    // BAD_ENVELOPE, then closed.
    let _lookup =
        ManagedServer::cgroups_lookup(dir.str(), "cg", &server_config(profiles), |_, _| Ok(()))
            .spawn()
            .unwrap();
    let cg = Method::CgroupsLookup.code();
    let mut request = vec![0u8; 64];
    let n = netipc::codec::encode_cgroups_lookup_request(&[b"/a", b"/b"], &mut request).unwrap();
    let mut session = l1_connect(&dir, "cg", profiles);
    let m = session.call(cg, 1, &request[..n], Some(PATIENCE)).unwrap();
    assert_error_response(&m.header, cg, 1, TransportStatus::BAD_ENVELOPE);
    assert_closed(&mut session);
}

#[test]
fn error_responses_are_empty_single_messages() {
    watchdog(|| failed_requests(Profiles::empty()));
}

#[test]
fn error_responses_are_empty_single_messages_baseline() {
    watchdog(|| failed_requests(BASELINE));
}

#[test]
fn malformed_snapshot_request_is_bad_envelope() {
    watchdog(|| {
        let dir = RunDir::new();
        let _server = ManagedServer::cgroups_snapshot(
            dir.str(),
            "snap",
            &ServerConfig::default(),
            |_| Ok(()),
        )
        .spawn()
        .unwrap();
        let code = Method::CgroupsSnapshot.code();
        let mut session = l1_connect(&dir, "snap", Profiles::empty());
        let m = session
            .call(code, 1, &[1, 0, 0, 0], Some(PATIENCE))
            .unwrap();
        assert_eq!(m.header.transport_status, TransportStatus::OK);
        assert_eq!(m.header.payload_len, 24);
        let m = session
            .call(code, 2, &[1, 0, 1, 0], Some(PATIENCE))
            .unwrap();
        assert_error_response(&m.header, code, 2, TransportStatus::BAD_ENVELOPE);
        assert_closed(&mut session);
    });
}

#[test]
fn handler_panic_fails_only_its_request() {
    watchdog(|| {
        let dir = RunDir::new();
        let calls = Counter::default();
        let c = calls.clone();
        let _server =
            ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), move |v| {
                c.bump();
                assert_ne!(v, 666, "handler panics on purpose");
                Ok(v + 1)
            })
            .spawn()
            .unwrap();
        let mut victim = ready_increment_client(&dir, "inc", &ClientConfig::default());
        let mut bystander = ready_increment_client(&dir, "inc", &ClientConfig::default());
        assert_eq!(bystander.call(1).unwrap(), 2);
        let result = victim.call(666);
        assert!(
            matches!(
                result,
                Err(Error::Rejected(TransportStatus::INTERNAL_ERROR))
            ),
            "{result:?}"
        );
        assert_eq!(victim.status().state, ClientState::Ready);
        assert_eq!(calls.get(), 2, "the panicking request was not sent again");
        // The server and the other sessions carry on.
        for v in 2..20 {
            assert_eq!(bystander.call(v).unwrap(), v + 1);
        }
        assert_eq!(victim.call(5).unwrap(), 6);
        assert_eq!(victim.status().reconnect_count, 0);
        let b = bystander.status();
        assert_eq!((b.reconnect_count, b.error_count), (0, 0));
        // On the wire: INTERNAL_ERROR, and the session goes on.
        let mut session = l1_connect(&dir, "inc", Profiles::empty());
        let code = Method::Increment.code();
        let m = session
            .call(code, 9, &666u64.to_ne_bytes(), Some(PATIENCE))
            .unwrap();
        assert_error_response(&m.header, code, 9, TransportStatus::INTERNAL_ERROR);
        let m = session
            .call(code, 10, &1u64.to_ne_bytes(), Some(PATIENCE))
            .unwrap();
        assert_eq!(m.payload, 2u64.to_ne_bytes());
    });
}

fn session_limit(profiles: Profiles) {
    let dir = RunDir::new();
    let config = ServerConfig {
        max_sessions: 1,
        ..server_config(profiles)
    };
    let server = increment_server(&dir, "inc", &config);
    let mut first = ready_increment_client(&dir, "inc", &client_config(profiles));
    assert_eq!(first.call(1).unwrap(), 2);

    // A client beyond the limit is refused in its handshake, with the
    // reason and the limit.
    let started = Instant::now();
    let refused = ClientSession::connect(dir.str(), "inc", &l1_options(profiles)).unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Handshake(HandshakeError::AtCapacity { sessions: 1 })
        ),
        "{refused}"
    );
    assert!(
        refused
            .to_string()
            .contains("provider at capacity (1 sessions)"),
        "{refused}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused promptly"
    );
    // An L2 client stays disconnected and retries on its next refresh.
    let mut second = IncrementClient::new(dir.str(), "inc", &client_config(profiles));
    let _ = second.connect();
    assert_eq!(second.status().state, ClientState::Disconnected);
    eventually("the refusals to be counted", || {
        server.stats().refused_at_capacity == 2
    });
    assert_eq!(server.stats().sessions, 1);

    // The first client was not disturbed.
    for v in 2..10 {
        assert_eq!(first.call(v).unwrap(), v + 1);
    }
    assert_eq!(first.status().reconnect_count, 0);

    // Once it leaves, its place is free again.
    drop(first);
    eventually("the session slot to be freed", || {
        let _ = second.connect();
        second.ready() && second.call(7).is_ok_and(|v| v == 8)
    });
    // Being turned away never costs the client its shared memory.
    let info = second.session_info().unwrap();
    assert_eq!(info.shared_memory, profiles != BASELINE);
}

#[test]
fn a_client_beyond_the_session_limit_is_refused_at_capacity() {
    watchdog(|| session_limit(Profiles::empty()));
}

#[test]
fn a_client_beyond_the_session_limit_is_refused_at_capacity_baseline() {
    watchdog(|| session_limit(BASELINE));
}

/// One worker thread serves any number of connected sessions.
fn one_worker_many_sessions(profiles: Profiles) {
    let dir = RunDir::new();
    let config = ServerConfig {
        workers: 1,
        ..server_config(profiles)
    };
    let server = increment_server(&dir, "inc", &config);
    let mut clients: Vec<_> = (0..20)
        .map(|_| ready_increment_client(&dir, "inc", &client_config(profiles)))
        .collect();
    for round in 0..5u64 {
        for (i, client) in clients.iter_mut().enumerate() {
            let v = round * 100 + i as u64;
            assert_eq!(client.call(v).unwrap(), v + 1);
        }
    }
    assert_eq!(server.stats().sessions, 20);
    assert_eq!(server.stats().refused_at_capacity, 0);
}

#[test]
fn one_worker_serves_many_sessions() {
    watchdog(|| one_worker_many_sessions(Profiles::empty()));
}

#[test]
fn one_worker_serves_many_sessions_baseline() {
    watchdog(|| one_worker_many_sessions(BASELINE));
}

#[test]
fn thirty_two_concurrent_clients_fail_independently() {
    watchdog(|| {
        const CLIENTS: usize = 32;
        const CALLS: u64 = 40;
        const POISON: u64 = 1 << 40;
        let dir = Arc::new(RunDir::new());
        let config = ServerConfig {
            workers: 64,
            ..ServerConfig::default()
        };
        let _server = ManagedServer::increment(dir.str(), "inc", &config, |v| {
            if v >= POISON {
                return Err("poisoned".into());
            }
            Ok(v + 1)
        })
        .spawn()
        .unwrap();

        // Misbehaving raw clients run alongside.
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let d = dir.clone();
        let vandal = std::thread::spawn(move || {
            let code = Method::Increment.code();
            let mut rounds = 0;
            while stop_rx.try_recv().is_err() {
                let mut session = l1_connect(&d, "inc", Profiles::empty());
                // Wrong method: answered, session kept.
                let m = session.call(99, 1, &[0; 8], Some(PATIENCE)).unwrap();
                assert_eq!(m.header.transport_status, TransportStatus::UNSUPPORTED);
                // Garbage: answered, session ended.
                let m = session.call(code, 2, &[0; 3], Some(PATIENCE)).unwrap();
                assert_eq!(m.header.transport_status, TransportStatus::BAD_ENVELOPE);
                // And a client that leaves in the middle of a request.
                let mut quitter = l1_connect(&d, "inc", BASELINE);
                quitter.send_request(code, 1, &[0; 8]).unwrap();
                drop(quitter);
                rounds += 1;
            }
            rounds
        });

        let barrier = Arc::new(Barrier::new(CLIENTS));
        let workers: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (dir, barrier) = (dir.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
                    barrier.wait();
                    let poisoned = i % 4 == 3;
                    for n in 0..CALLS {
                        if poisoned && n % 10 == 5 {
                            let r = client.call(POISON + n);
                            assert!(
                                matches!(r, Err(Error::Rejected(TransportStatus::INTERNAL_ERROR))),
                                "client {i}: {r:?}"
                            );
                            assert!(client.ready(), "client {i} keeps its session");
                        } else {
                            let v = (i as u64) << 20 | n;
                            assert_eq!(client.call(v).unwrap(), v + 1, "client {i}");
                        }
                    }
                    (poisoned, client.status())
                })
            })
            .collect();
        for w in workers {
            let (poisoned, s) = w.join().expect("client thread");
            assert_eq!(s.state, ClientState::Ready);
            if poisoned {
                // Four failures, answered on the session, which goes on.
                assert_eq!(
                    (s.call_count, s.error_count, s.reconnect_count),
                    (36, 4, 0),
                    "{s:?}"
                );
            } else {
                assert_eq!(
                    (s.call_count, s.error_count, s.reconnect_count),
                    (40, 0, 0),
                    "{s:?}"
                );
            }
        }
        stop_tx.send(()).unwrap();
        assert!(vandal.join().expect("vandal thread") >= 1);
    });
}

#[test]
fn stop_from_another_thread_ends_run_and_removes_every_file() {
    watchdog(|| {
        let dir = RunDir::new();
        let server =
            ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), |v| Ok(v + 1));
        let stop = server.stop_handle();
        let (tx, rx) = mpsc::channel();
        let runner = std::thread::spawn(move || {
            let _ = tx.send(server.run());
        });
        // run() gives no signal when it is listening: wait until a client
        // gets in.
        let mut client = IncrementClient::new(dir.str(), "inc", &ClientConfig::default());
        eventually("the server to listen", || {
            let _ = client.connect();
            client.ready()
        });
        assert_eq!(client.call(1).unwrap(), 2);
        // A second, idle session keeps its server thread waiting.
        let idle = ready_increment_client(&dir, "inc", &ClientConfig::default());
        assert!(idle.session_info().unwrap().shared_memory);

        std::thread::spawn(move || stop.stop()).join().unwrap();
        let result = rx.recv_timeout(PATIENCE).expect("run() returned");
        assert!(result.is_ok(), "{result:?}");
        runner.join().unwrap();
        assert_eq!(dir.entries(), Vec::<String>::new());
        // The client notices at its next call: the one reconnect finds
        // nobody.
        assert!(client.call(2).is_err());
        assert_eq!(client.status().state, ClientState::NotFound);
    });
}

#[test]
fn stopping_a_spawned_server_waits_for_it_and_cleans_up() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = increment_server(&dir, "inc", &ServerConfig::default());
        let mut clients: Vec<IncrementClient> = (0..3)
            .map(|_| ready_increment_client(&dir, "inc", &ClientConfig::default()))
            .collect();
        for c in &mut clients {
            assert_eq!(c.call(1).unwrap(), 2);
        }
        let handle = server.stop_handle();
        handle.stop();
        handle.stop();
        server.stop();
        assert_eq!(dir.entries(), Vec::<String>::new());
        // Stopping is final: run() on a stopped server returns at once.
        let stopped = ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), Ok);
        stopped.stop();
        assert!(stopped.run().is_ok());
        assert_eq!(dir.entries(), Vec::<String>::new());
        // Dropping a running server stops it as well.
        drop(increment_server(&dir, "inc", &ServerConfig::default()));
        assert_eq!(dir.entries(), Vec::<String>::new());
    });
}

#[test]
fn a_live_endpoint_cannot_be_taken_over() {
    watchdog(|| {
        let dir = RunDir::new();
        let _server = increment_server(&dir, "inc", &ServerConfig::default());
        let second = ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), Ok);
        assert!(matches!(second.spawn(), Err(Error::AddressInUse { .. })));
        let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
        assert_eq!(client.call(1).unwrap(), 2);
    });
}

#[test]
fn bind_creates_the_endpoint_before_the_server_runs() {
    watchdog(|| {
        let dir = RunDir::new();
        let bound =
            ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), |v| Ok(v + 1))
                .bind()
                .expect("bind");
        // The endpoint is taken from the moment of bind...
        let second = ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), Ok);
        assert!(matches!(second.bind(), Err(Error::AddressInUse { .. })));
        // ...a client that connects now is answered once it runs...
        let early = std::thread::spawn({
            let dir = dir.str().to_owned();
            move || {
                let mut client = IncrementClient::new(&dir, "inc", &ClientConfig::default());
                client.wait_ready(Duration::from_secs(10))?;
                client.call(41)
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        let stop = bound.stop_handle();
        let thread = std::thread::spawn(move || bound.run());
        assert_eq!(early.join().unwrap().unwrap(), 42);
        assert_eq!(stop.stats().responses.ok, 1);
        stop.stop();
        thread.join().unwrap();
        assert_eq!(dir.entries(), Vec::<String>::new());
        // ...and dropping a bound server that never ran removes it.
        let bound = ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), Ok)
            .bind()
            .expect("bind again");
        drop(bound);
        assert_eq!(dir.entries(), Vec::<String>::new());
        // Stopped before it runs, it returns at once.
        let bound = ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), Ok)
            .bind()
            .expect("bind a third time");
        bound.stop_handle().stop();
        bound.run();
        assert_eq!(dir.entries(), Vec::<String>::new());
    });
}
