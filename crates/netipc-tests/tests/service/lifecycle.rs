//! The client state machine (level2 sections 3 and 10): states, counters,
//! `refresh`, sticky failures, calls while not ready, `close`, the default
//! timeout, and providers that start late, die and come back.

use std::time::Duration;

use netipc::Error;
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, CgroupsSnapshotClient, ClientConfig, ClientState,
    ClientStatus, DEFAULT_CALL_TIMEOUT, IncrementClient, ManagedServer, ServerConfig,
    StringReverseClient,
};
use netipc::transport::{Listener, ServerOptions};
use netipc::wire::Profiles;

use crate::support::*;

fn status(
    state: ClientState,
    connect: u32,
    reconnect: u32,
    calls: u32,
    errors: u32,
) -> ClientStatus {
    ClientStatus {
        state,
        connect_count: connect,
        reconnect_count: reconnect,
        call_count: calls,
        error_count: errors,
    }
}

#[test]
fn new_client_is_disconnected_and_does_no_io() {
    watchdog(|| {
        let dir = RunDir::new();
        let listener = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap();
        let client = IncrementClient::new(dir.str(), "svc", &ClientConfig::default());
        assert_eq!(
            client.status(),
            status(ClientState::Disconnected, 0, 0, 0, 0)
        );
        assert!(!client.ready());
        assert_eq!(client.session_info(), None);
        assert!(!client.abort_handle().is_aborted());
        assert_no_connection(&listener);
    });
}

#[test]
fn refresh_without_a_provider_is_not_found_and_retries() {
    watchdog(|| {
        let dir = RunDir::new();
        let mut client = IncrementClient::new(dir.str(), "svc", &ClientConfig::default());
        assert!(
            client.connect().is_err(),
            "Disconnected -> NotFound is a change"
        );
        assert_eq!(client.status(), status(ClientState::NotFound, 0, 0, 0, 0));
        assert!(client.connect().is_err(), "still NotFound: no change");
        assert_eq!(client.status(), status(ClientState::NotFound, 0, 0, 0, 0));
        // The second refresh really tried: a provider that appears now is
        // found by the next one.
        let _server = increment_server(&dir, "svc", &ServerConfig::default());
        client.connect().unwrap();
        assert_eq!(client.status(), status(ClientState::Ready, 1, 0, 0, 0));
    });
}

#[test]
fn client_started_before_the_server_connects_once_it_appears() {
    watchdog(|| {
        let dir = RunDir::new();
        let mut client = IncrementClient::new(dir.str(), "late", &ClientConfig::default());
        for _ in 0..3 {
            let _ = client.connect();
            assert_eq!(client.status().state, ClientState::NotFound);
            assert!(matches!(
                client.call(1),
                Err(Error::NotReady {
                    state: ClientState::NotFound,
                    ..
                })
            ));
        }
        let _server = increment_server(&dir, "late", &ServerConfig::default());
        client.connect().unwrap();
        assert!(client.ready());
        assert_eq!(client.call(41).unwrap(), 42);
        assert_eq!(client.status(), status(ClientState::Ready, 1, 0, 1, 3));
    });
}

#[test]
fn wrong_auth_token_is_sticky_until_close() {
    watchdog(|| {
        let dir = RunDir::new();
        let options = ServerOptions {
            auth_token: 0xAAAA,
            ..raw_options(Profiles::empty())
        };
        let server = RawServer::start(&dir, "svc", options, answer_increment);
        let config = ClientConfig {
            auth_token: 0xBBBB,
            ..ClientConfig::default()
        };
        let mut client = IncrementClient::new(dir.str(), "svc", &config);
        assert!(client.connect().is_err());
        assert_eq!(client.status(), status(ClientState::AuthFailed, 0, 0, 0, 0));
        assert_eq!(server.accepted(), 1);
        // Sticky: refresh does nothing (no connection is made).
        assert!(client.connect().is_err());
        assert!(client.connect().is_err());
        assert_eq!(client.status().state, ClientState::AuthFailed);
        assert_eq!(server.accepted(), 1);
        assert!(matches!(
            client.call(1),
            Err(Error::NotReady {
                state: ClientState::AuthFailed,
                ..
            })
        ));
        // close() is the way out; the next refresh tries again.
        client.close();
        assert_eq!(
            client.status(),
            status(ClientState::Disconnected, 0, 0, 0, 1)
        );
        assert!(client.connect().is_err());
        assert_eq!(client.status().state, ClientState::AuthFailed);
        assert_eq!(server.accepted(), 2);
        assert!(server.seen().is_empty());
    });
}

#[test]
fn no_common_profile_is_incompatible_and_sticky() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = RawServer::start(&dir, "svc", raw_options(BASELINE), answer_increment);
        let config = client_config(Profiles::SHM_HYBRID);
        let mut client = IncrementClient::new(dir.str(), "svc", &config);
        assert!(client.connect().is_err());
        assert_eq!(client.status().state, ClientState::Incompatible);
        assert!(client.connect().is_err());
        assert_eq!(client.status().state, ClientState::Incompatible);
        assert_eq!(server.accepted(), 1);
        client.close();
        assert_eq!(client.status().state, ClientState::Disconnected);
        assert!(client.connect().is_err());
        assert_eq!(client.status().state, ClientState::Incompatible);
        assert_eq!(server.accepted(), 2);
    });
}

#[test]
fn calls_while_not_ready_fail_without_io_and_count_errors() {
    watchdog(|| {
        let dir = RunDir::new();
        let (run_dir, cfg) = (dir.str(), ClientConfig::default());
        let not_ready = |state| {
            move |r: Result<(), Error>| match r {
                Err(Error::NotReady { state: s, .. }) => assert_eq!(s, state),
                other => panic!("expected NotReady({state:?}), got {other:?}"),
            }
        };

        // Disconnected (never refreshed), with a listener that would see
        // any attempt to connect.
        let listener = Listener::bind(run_dir, "svc", &ServerOptions::default()).unwrap();
        let check = not_ready(ClientState::Disconnected);
        let mut inc = IncrementClient::new(run_dir, "svc", &cfg);
        check(inc.call(1).map(drop));
        check(inc.call_batch(&[1, 2], &mut Vec::new()));
        assert_eq!(inc.status(), status(ClientState::Disconnected, 0, 0, 0, 2));
        let mut rev = StringReverseClient::new(run_dir, "svc", &cfg);
        check(rev.call(b"abc").map(drop));
        check(rev.call_batch(&["a", "b"]).map(drop));
        assert_eq!(rev.status().error_count, 2);
        let mut snap = CgroupsSnapshotClient::new(run_dir, "svc", &cfg);
        check(snap.call().map(drop));
        assert_eq!(snap.status().error_count, 1);
        let mut cg = CgroupsLookupClient::new(run_dir, "svc", &cfg);
        check(cg.call(&[b"/a"]).map(drop));
        check(cg.call::<&[u8]>(&[]).map(drop));
        assert_eq!(cg.status().error_count, 2);
        let mut apps = AppsLookupClient::new(run_dir, "svc", &cfg);
        check(apps.call(&[1, 2]).map(drop));
        assert_eq!(apps.status().error_count, 1);
        assert_no_connection(&listener);
        drop(listener);

        // NotFound: the refresh found nobody; a listener appearing later
        // is not contacted by a call, only by the next refresh.
        let mut inc = IncrementClient::new(run_dir, "other", &cfg);
        let _ = inc.connect();
        assert_eq!(inc.status().state, ClientState::NotFound);
        let listener = Listener::bind(run_dir, "other", &ServerOptions::default()).unwrap();
        not_ready(ClientState::NotFound)(inc.call(7).map(drop));
        assert_eq!(inc.status(), status(ClientState::NotFound, 0, 0, 0, 1));
        assert_no_connection(&listener);
    });
}

#[test]
fn refresh_while_ready_does_nothing() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = RawServer::start(
            &dir,
            "svc",
            raw_options(Profiles::empty()),
            answer_increment,
        );
        let mut client = ready_increment_client(&dir, "svc", &ClientConfig::default());
        client.connect().unwrap();
        client.connect().unwrap();
        assert_eq!(client.call(1).unwrap(), 2);
        assert_eq!(client.status(), status(ClientState::Ready, 1, 0, 1, 0));
        assert_eq!(server.accepted(), 1);
    });
}

#[test]
fn connect_and_reconnect_counters() {
    watchdog(|| {
        let dir = RunDir::new();
        let gate = Gate::default();
        let g = gate.clone();
        let _server = ManagedServer::increment(dir.str(), "svc", &ServerConfig::default(), {
            move |v| {
                if v == 0 {
                    g.pass();
                }
                Ok(v + 1)
            }
        })
        .spawn()
        .unwrap();
        let mut client = ready_increment_client(&dir, "svc", &ClientConfig::default());
        assert_eq!(client.status(), status(ClientState::Ready, 1, 0, 0, 0));
        assert_eq!(client.call(1).unwrap(), 2);
        // Break the session: a timed-out call leaves it Broken.
        client.set_call_timeout(Duration::from_millis(200));
        assert!(matches!(client.call(0), Err(Error::Timeout { .. })));
        assert_eq!(client.status(), status(ClientState::Broken, 1, 0, 1, 1));
        gate.open();
        client.set_call_timeout(Duration::ZERO);
        // From Broken, refresh reconnects and counts a reconnect.
        client.connect().unwrap();
        assert_eq!(client.status(), status(ClientState::Ready, 1, 1, 1, 1));
        assert_eq!(client.call(2).unwrap(), 3);
        // After close, a refresh is a first connect again.
        client.close();
        assert_eq!(
            client.status(),
            status(ClientState::Disconnected, 1, 1, 2, 1)
        );
        client.connect().unwrap();
        assert_eq!(client.status(), status(ClientState::Ready, 2, 1, 2, 1));
    });
}

#[test]
fn close_keeps_counters_and_clears_the_abort_flag() {
    watchdog(|| {
        let dir = RunDir::new();
        let _server = increment_server(&dir, "svc", &ServerConfig::default());
        let mut client = ready_increment_client(&dir, "svc", &ClientConfig::default());
        assert_eq!(client.call(1).unwrap(), 2);
        let abort = client.abort_handle();
        abort.abort();
        assert!(matches!(client.call(1), Err(Error::Aborted)));
        client.close();
        assert!(!abort.is_aborted(), "close clears the abort flag");
        assert_eq!(
            client.status(),
            status(ClientState::Disconnected, 1, 0, 1, 1)
        );
        assert_eq!(client.session_info(), None);
        client.close();
        assert_eq!(
            client.status(),
            status(ClientState::Disconnected, 1, 0, 1, 1)
        );
        client.connect().unwrap();
        assert_eq!(client.call(5).unwrap(), 6);
        assert_eq!(client.status(), status(ClientState::Ready, 2, 0, 2, 1));
    });
}

#[test]
fn default_call_timeout_is_30_s_and_zero_restores_the_default() {
    watchdog(|| {
        let mut client = IncrementClient::new("/nonexistent", "svc", &ClientConfig::default());
        assert_eq!(DEFAULT_CALL_TIMEOUT, Duration::from_millis(30000));
        assert_eq!(client.call_timeout(), DEFAULT_CALL_TIMEOUT);
        client.set_call_timeout(Duration::from_secs(5));
        assert_eq!(client.call_timeout(), Duration::from_secs(5));
        client.set_call_timeout(Duration::ZERO);
        assert_eq!(client.call_timeout(), DEFAULT_CALL_TIMEOUT);

        // A configured timeout is what zero restores.
        let config = ClientConfig {
            call_timeout: Duration::from_secs(2),
            ..ClientConfig::default()
        };
        let mut client = IncrementClient::new("/nonexistent", "svc", &config);
        assert_eq!(client.call_timeout(), Duration::from_secs(2));
        client.set_call_timeout(Duration::from_secs(7));
        assert_eq!(client.call_timeout(), Duration::from_secs(7));
        client.set_call_timeout(Duration::ZERO);
        assert_eq!(client.call_timeout(), Duration::from_secs(2));
    });
}

fn restart_under_a_running_client(profiles: Profiles) {
    let dir = RunDir::new();
    let mut peer = Peer::start("l2-increment", &dir, "svc", profiles, 1);
    let mut client = ready_increment_client(&dir, "svc", &client_config(profiles));
    assert_eq!(client.call(10).unwrap(), 11);
    let shm = client.session_info().unwrap().shared_memory;
    assert_eq!(shm, profiles != BASELINE, "{:?}", client.session_info());

    // Killed between calls and back before the next call: the call
    // reconnects once and is answered by the new process.
    peer.kill();
    let _peer = Peer::start("l2-increment", &dir, "svc", profiles, 1000);
    assert_eq!(client.call(10).unwrap(), 1010);
    assert_eq!(client.status(), status(ClientState::Ready, 1, 1, 2, 0));
    assert_eq!(client.session_info().unwrap().shared_memory, shm);
    assert_eq!(client.call(20).unwrap(), 1020);
    assert_eq!(client.status(), status(ClientState::Ready, 1, 1, 3, 0));
}

#[test]
fn server_process_restarted_under_a_running_client() {
    watchdog(|| restart_under_a_running_client(Profiles::empty()));
}

#[test]
fn server_process_restarted_under_a_running_client_baseline() {
    watchdog(|| restart_under_a_running_client(BASELINE));
}

#[test]
fn server_process_gone_leaves_the_client_not_found() {
    watchdog(|| {
        let dir = RunDir::new();
        let mut peer = Peer::start("l2-increment", &dir, "svc", Profiles::empty(), 1);
        let mut client = ready_increment_client(&dir, "svc", &ClientConfig::default());
        assert_eq!(client.call(1).unwrap(), 2);
        peer.kill();
        // The call's one reconnect finds nobody: the state is that
        // reconnect's result, not Broken.
        assert!(client.call(1).is_err());
        assert_eq!(client.status(), status(ClientState::NotFound, 1, 0, 1, 1));
        assert!(client.connect().is_err());
        // Back again: the next refresh counts as a first connect.
        let _peer = Peer::start("l2-increment", &dir, "svc", Profiles::empty(), 5);
        client.connect().unwrap();
        assert_eq!(client.status(), status(ClientState::Ready, 2, 0, 1, 1));
        assert_eq!(client.call(1).unwrap(), 6);
    });
}

#[test]
fn snapshot_server_restart_shows_the_new_generation() {
    watchdog(|| {
        let dir = RunDir::new();
        let mut peer = Peer::start("l2-snapshot", &dir, "snap", Profiles::empty(), 3);
        let mut client = CgroupsSnapshotClient::new(dir.str(), "snap", &ClientConfig::default());
        let _ = client.connect();
        {
            let view = client.call().unwrap();
            assert_eq!((view.len(), view.generation()), (3, 3));
        }
        peer.kill();
        let _peer = Peer::start("l2-snapshot", &dir, "snap", Profiles::empty(), 5);
        let view = client.call().unwrap();
        assert_eq!((view.len(), view.generation()), (5, 5));
        let names: Vec<Vec<u8>> = view.iter().map(|i| i.unwrap().name.to_vec()).collect();
        assert_eq!(names[4], b"cg4");
        assert_eq!(client.status(), status(ClientState::Ready, 1, 1, 2, 0));
    });
}

#[test]
fn string_reverse_across_processes() {
    watchdog(|| {
        let dir = RunDir::new();
        let _peer = Peer::start("l2-string-reverse", &dir, "rev", Profiles::empty(), 1);
        let config = ClientConfig {
            max_request_batch_items: 4,
            ..ClientConfig::default()
        };
        let mut client = StringReverseClient::new(dir.str(), "rev", &config);
        client.connect().unwrap();
        assert!(client.session_info().unwrap().shared_memory);
        assert_eq!(client.call(b"netipc").unwrap(), b"cpiten");
        let answers = client.call_batch(&["ab", "", "xyz"]).unwrap();
        let got: Vec<&[u8]> = answers.iter().collect();
        assert_eq!(got, [&b"ba"[..], b"", b"zyx"]);
    });
}
