//! Timeouts and aborts of single calls (level2 section 6): a timed-out or
//! aborted wait ends the call without a re-send and leaves the client
//! broken; the abort flag is sticky until cleared or closed.

use netipc::wire::Profiles;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::service::{
    CgroupsSnapshotClient, ClientConfig, ClientState, ManagedServer, ServerConfig,
};

use crate::support::*;

fn gated_increment_server(
    dir: &RunDir,
    profiles: Profiles,
    gate: &Gate,
) -> netipc::service::RunningServer {
    let g = gate.clone();
    ManagedServer::increment(dir.str(), "inc", &server_config(profiles), move |v| {
        if v == 0 {
            g.pass();
        }
        Ok(v + 1)
    })
    .spawn()
    .unwrap()
}

fn timeout_breaks_without_resend(profiles: Profiles) {
    let dir = RunDir::new();
    let gate = Gate::default();
    let _server = gated_increment_server(&dir, profiles, &gate);
    let mut client = ready_increment_client(&dir, "inc", &client_config(profiles));
    assert_eq!(client.call(1).unwrap(), 2);
    client.set_call_timeout(Duration::from_millis(300));
    let result = client.call(0);
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    // No reconnect, so no re-send; the session is gone.
    let s = client.status();
    assert_eq!(
        (s.state, s.reconnect_count, s.call_count, s.error_count),
        (ClientState::Broken, 0, 1, 1)
    );
    assert_eq!(client.session_info(), None);
    assert_eq!(gate.entered(), 1);
    gate.open();
    client.set_call_timeout(Duration::ZERO);
    client.connect().unwrap();
    assert_eq!(client.call(1).unwrap(), 2);
    assert_eq!(client.status().reconnect_count, 1);
}

#[test]
fn timeout_returns_timeout_without_resend_and_breaks_the_session() {
    watchdog(|| timeout_breaks_without_resend(Profiles::empty()));
}

#[test]
fn timeout_returns_timeout_without_resend_and_breaks_the_session_baseline() {
    watchdog(|| timeout_breaks_without_resend(BASELINE));
}

#[test]
fn timeout_against_a_silent_server_sends_the_request_once() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = RawServer::start(&dir, "inc", raw_options(Profiles::empty()), |_| {
            Action::Ignore
        });
        let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
        client.set_call_timeout(Duration::from_millis(300));
        assert!(matches!(client.call(1), Err(Error::Timeout { .. })));
        // A re-send would have needed a new session, handshaken (so
        // accepted) before the call returned.
        assert_eq!(server.accepted(), 1);
        assert_eq!(server.seen().len(), 1);
        assert_eq!(client.status().state, ClientState::Broken);
    });
}

#[test]
fn per_call_timeout_overrides_the_default() {
    watchdog(|| {
        let dir = RunDir::new();
        let gate = Gate::default();
        let g = gate.clone();
        let _server = ManagedServer::cgroups_snapshot(
            dir.str(),
            "snap",
            &ServerConfig::default(),
            move |b| {
                g.pass();
                b.set_generation(1);
                Ok(())
            },
        )
        .spawn()
        .unwrap();
        let mut client = CgroupsSnapshotClient::new(dir.str(), "snap", &ClientConfig::default());
        let _ = client.connect();
        assert_eq!(client.call_timeout(), Duration::from_secs(30));
        let result = client
            .call_with_timeout(Some(Duration::from_millis(300)))
            .map(|v| v.len());
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        assert_eq!(client.status().state, ClientState::Broken);
        gate.open();
        let _ = client.connect();
        // Zero is refused before anything is sent; `None` is the default.
        let calls = client.status().call_count;
        let result = client
            .call_with_timeout(Some(Duration::ZERO))
            .map(|v| v.len());
        assert!(
            matches!(result, Err(Error::ZeroTimeout { call }) if call.contains("call_with_timeout")),
            "{result:?}"
        );
        assert_eq!(client.status().state, ClientState::Ready);
        assert_eq!(client.status().call_count, calls, "nothing was sent");
        assert_eq!(client.call_with_timeout(None).unwrap().len(), 0);
    });
}

fn abort_unblocks_a_waiting_call(profiles: Profiles) {
    let dir = RunDir::new();
    let gate = Gate::default();
    let _server = gated_increment_server(&dir, profiles, &gate);
    let mut client = ready_increment_client(&dir, "inc", &client_config(profiles));
    client.set_call_timeout(PATIENCE);
    let handle = client.abort_handle();
    let (tx, rx) = mpsc::channel();
    let g = gate.clone();
    let aborter = std::thread::spawn(move || {
        g.wait_entered(1);
        let _ = tx.send(Instant::now());
        handle.abort();
    });
    let result = client.call(0);
    let returned = Instant::now();
    aborter.join().unwrap();
    let aborted_at = rx.recv().unwrap();
    assert!(matches!(result, Err(Error::Aborted)), "{result:?}");
    // Far sooner than the call timeout: the abort woke the wait.
    assert!(returned - aborted_at < Duration::from_secs(10));
    let s = client.status();
    assert_eq!(
        (s.state, s.reconnect_count, s.error_count),
        (ClientState::Broken, 0, 1)
    );
    gate.open();

    // Sticky: after a reconnect, calls still fail without I/O (the session
    // stays usable) until the flag is cleared.
    client.connect().unwrap();
    for _ in 0..2 {
        assert!(matches!(client.call(1), Err(Error::Aborted)));
        assert_eq!(client.status().state, ClientState::Ready);
    }
    assert_eq!(client.status().error_count, 3);
    let handle = client.abort_handle();
    assert!(handle.is_aborted());
    handle.clear();
    assert_eq!(client.call(1).unwrap(), 2);
    // close() clears it too.
    handle.abort();
    client.close();
    let _ = client.connect();
    assert_eq!(client.call(2).unwrap(), 3);
    assert_eq!(client.status().call_count, 2);
}

#[test]
fn abort_from_another_thread_unblocks_a_waiting_call() {
    watchdog(|| abort_unblocks_a_waiting_call(Profiles::empty()));
}

#[test]
fn abort_from_another_thread_unblocks_a_waiting_call_baseline() {
    watchdog(|| abort_unblocks_a_waiting_call(BASELINE));
}

#[test]
fn abort_before_a_call_sends_nothing() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = RawServer::start(
            &dir,
            "inc",
            raw_options(Profiles::empty()),
            answer_increment,
        );
        let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
        client.abort_handle().abort();
        assert!(matches!(client.call(1), Err(Error::Aborted)));
        assert!(matches!(client.call_batch(&[], &mut Vec::new()), Ok(())));
        let s = client.status();
        assert_eq!((s.state, s.error_count), (ClientState::Ready, 1));
        client.abort_handle().clear();
        assert_eq!(client.call(1).unwrap(), 2);
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].header.message_id, 1);
        assert_eq!(server.accepted(), 1);
    });
}
