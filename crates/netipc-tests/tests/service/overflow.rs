//! Capacity growth (level2 section 5 and 5.1): responses and requests that
//! do not fit the negotiated sizes, recovery by reconnecting with larger
//! sizes, and the limits of that recovery.

use netipc::Error;
use netipc::codec::SnapshotItem;
use netipc::service::{
    CgroupsSnapshotClient, ClientConfig, ClientState, ManagedServer, RunningServer, ServerConfig,
    StringReverseClient,
};

use std::time::Duration;

use netipc::transport::{Listener, ServerOptions};
use netipc::wire::{Profiles, TransportStatus};

use crate::support::*;

/// A snapshot server whose handler adds `items` cgroups with paths of
/// about `path_len` bytes, counting its invocations.
fn big_snapshot_server(
    dir: &RunDir,
    config: &ServerConfig,
    items: usize,
    path_len: usize,
) -> (RunningServer, Counter) {
    let calls = Counter::default();
    let c = calls.clone();
    let server = ManagedServer::cgroups_snapshot(dir.str(), "snap", config, move |b| {
        c.bump();
        b.set_generation(items as u64);
        for i in 0..items {
            let name = format!("cgroup-{i:04}");
            let mut path = format!("/sys/fs/cgroup/{name}");
            while path.len() < path_len {
                path.push('/');
                path.push_str(&name);
            }
            b.add(&SnapshotItem {
                hash: i as u32,
                options: 0,
                enabled: 1,
                name: name.as_bytes(),
                path: path.as_bytes(),
            })?;
        }
        Ok(())
    })
    .spawn()
    .unwrap();
    (server, calls)
}

fn check_snapshot(client: &mut CgroupsSnapshotClient, items: usize) {
    let view = client.call().unwrap();
    assert_eq!((view.len(), view.generation()), (items, items as u64));
    for (i, item) in view.iter().enumerate() {
        let item = item.unwrap();
        assert_eq!(item.hash, i as u32);
        assert_eq!(item.name, format!("cgroup-{i:04}").as_bytes());
        assert!(item.path.starts_with(b"/sys/fs/cgroup/cgroup-"));
    }
}

fn overflow_recovers_end_to_end(profiles: Profiles) {
    let dir = RunDir::new();
    let (_server, calls) = big_snapshot_server(&dir, &server_config(profiles), 1000, 0);
    let mut client = CgroupsSnapshotClient::new(dir.str(), "snap", &client_config(profiles));
    let _ = client.connect();
    assert_eq!(
        client.session_info().unwrap().max_response_payload_bytes,
        netipc::service::DEFAULT_SERVER_RESPONSE_START
    );
    // About 94 KB: the server answers LIMIT_EXCEEDED, measures the answer
    // (one more handler run) and learns 128 KiB (the next power of two),
    // so one reconnect is enough.
    check_snapshot(&mut client, 1000);
    let info = client.session_info().unwrap();
    assert_eq!(info.max_response_payload_bytes, 128 << 10);
    assert_eq!(info.shared_memory, profiles != BASELINE);
    let s = client.status();
    assert_eq!(
        (s.state, s.reconnect_count, s.call_count, s.error_count),
        (ClientState::Ready, 1, 1, 0)
    );
    assert_eq!(calls.get(), 3);
    // The session keeps the size.
    check_snapshot(&mut client, 1000);
    assert_eq!(client.status().reconnect_count, 1);
    // The server learned it: a new client needs no growth.
    let mut other = CgroupsSnapshotClient::new(dir.str(), "snap", &client_config(profiles));
    let _ = other.connect();
    assert_eq!(
        other.session_info().unwrap().max_response_payload_bytes,
        128 << 10
    );
    check_snapshot(&mut other, 1000);
    assert_eq!(other.status().reconnect_count, 0);
    assert_eq!(calls.get(), 5);
}

#[test]
fn response_overflow_recovers_with_the_measured_size() {
    watchdog(|| overflow_recovers_end_to_end(Profiles::empty()));
}

#[test]
fn response_overflow_recovers_with_the_measured_size_baseline() {
    watchdog(|| overflow_recovers_end_to_end(BASELINE));
}

#[test]
fn overflow_without_any_growth_fails_after_one_reconnect() {
    watchdog(|| {
        let dir = RunDir::new();
        let fixed = ServerConfig {
            max_response_payload_bytes: 4096,
            ..ServerConfig::default()
        };
        let (_server, calls) = big_snapshot_server(&dir, &fixed, 1000, 0);
        let config = ClientConfig {
            max_response_payload_bytes: 4096,
            ..ClientConfig::default()
        };
        let mut client = CgroupsSnapshotClient::new(dir.str(), "snap", &config);
        let _ = client.connect();
        let result = client.call().map(|v| v.len());
        assert!(
            matches!(result, Err(Error::CapacityExhausted)),
            "{result:?}"
        );
        assert_eq!(calls.get(), 1);
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.call_count, s.error_count),
            (ClientState::Broken, 1, 0, 1)
        );
    });
}

#[test]
fn overflow_against_a_fixed_response_size_stops_after_one_reconnect() {
    watchdog(|| {
        // Only the client's own response proposal would grow, and the
        // provider's size wins the negotiation: no second attempt.
        let dir = RunDir::new();
        let fixed = ServerConfig {
            max_response_payload_bytes: 4096,
            ..ServerConfig::default()
        };
        let (_server, calls) = big_snapshot_server(&dir, &fixed, 1000, 0);
        let mut client = CgroupsSnapshotClient::new(dir.str(), "snap", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call().map(|v| v.len());
        assert!(
            matches!(result, Err(Error::CapacityExhausted)),
            "{result:?}"
        );
        assert_eq!(calls.get(), 1);
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.error_count),
            (ClientState::Broken, 1, 1)
        );
        client.connect().unwrap();
        assert_eq!(
            client.session_info().unwrap().max_response_payload_bytes,
            4096
        );
    });
}

#[test]
fn overflow_recovery_makes_at_most_eight_attempts() {
    watchdog(|| {
        // A scripted server that offers twice the response size on every
        // connection and still answers LIMIT_EXCEEDED: the sizes keep
        // growing, so only the attempt cap ends the call.
        let dir = RunDir::new();
        let listener = Listener::bind(dir.str(), "snap", &ServerOptions::default()).unwrap();
        let server = std::thread::spawn(move || {
            let mut sessions = 0u32;
            while let Ok(incoming) = listener.accept(Some(Duration::from_secs(3)), None) {
                let options = ServerOptions {
                    max_response_payload_bytes: 1024 << sessions,
                    ..ServerOptions::default()
                };
                sessions += 1;
                let mut session = incoming
                    .handshake_with(u64::from(sessions), &options, None)
                    .unwrap();
                if let Ok(m) = session.recv(Some(PATIENCE), None) {
                    let header = m.header;
                    let _ = session.respond_status(&header, TransportStatus::LIMIT_EXCEEDED);
                }
            }
            sessions
        });
        let config = ClientConfig {
            supported_profiles: BASELINE,
            ..ClientConfig::default()
        };
        let mut client = CgroupsSnapshotClient::new(dir.str(), "snap", &config);
        let _ = client.connect();
        let result = client.call().map(|v| v.len());
        assert!(
            matches!(result, Err(Error::CapacityExhausted)),
            "{result:?}"
        );
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.error_count),
            (ClientState::Broken, 8, 1)
        );
        drop(client);
        // One first session, then eight reconnects: the eighth is made but
        // not used for a ninth attempt.
        assert_eq!(server.join().unwrap(), 9);
    });
}

fn reverse_server(dir: &RunDir, config: &ServerConfig) -> RunningServer {
    ManagedServer::string_reverse(dir.str(), "rev", config, |text, out| {
        out.extend(text.iter().rev());
        Ok(())
    })
    .spawn()
    .unwrap()
}

#[test]
fn request_overflow_grows_the_request_size_when_the_server_allows_it() {
    watchdog(|| {
        let dir = RunDir::new();
        let config = ServerConfig {
            max_request_payload_bytes: 1 << 16,
            max_response_payload_bytes: 1 << 16,
            ..ServerConfig::default()
        };
        let _server = reverse_server(&dir, &config);
        let mut client = StringReverseClient::new(dir.str(), "rev", &ClientConfig::default());
        let _ = client.connect();
        assert_eq!(
            client.session_info().unwrap().max_request_payload_bytes,
            1024
        );
        let text = vec![b'a'; 3000];
        assert_eq!(client.call(&text).unwrap(), &text[..]);
        // 3009 bytes: the proposal grows to the next power of two.
        let info = client.session_info().unwrap();
        assert_eq!(info.max_request_payload_bytes, 4096);
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.call_count),
            (ClientState::Ready, 1, 1)
        );
    });
}

#[test]
fn request_and_response_overflow_both_recover() {
    watchdog(|| {
        let dir = RunDir::new();
        let config = ServerConfig {
            max_request_payload_bytes: 1 << 17,
            ..ServerConfig::default()
        };
        let _server = reverse_server(&dir, &config);
        let mut client = StringReverseClient::new(dir.str(), "rev", &ClientConfig::default());
        let _ = client.connect();
        let text: Vec<u8> = (0..70_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let reversed: Vec<u8> = text.iter().rev().copied().collect();
        assert_eq!(client.call(&text).unwrap(), &reversed[..]);
        // One reconnect for the request (1024 -> 128 KiB), one for the
        // response (the server measures the 70,009-byte answer: 128 KiB).
        let info = client.session_info().unwrap();
        assert_eq!(
            (
                info.max_request_payload_bytes,
                info.max_response_payload_bytes
            ),
            (128 << 10, 128 << 10)
        );
        assert_eq!(client.status().reconnect_count, 2);
    });
}

#[test]
fn request_overflow_against_a_server_that_cannot_grow_fails_the_call_only() {
    watchdog(|| {
        // A server configured for 1024-byte requests refuses a larger
        // proposal at the handshake.
        let dir = RunDir::new();
        let fixed = ServerConfig {
            max_request_payload_bytes: 1024,
            ..ServerConfig::default()
        };
        let _server = reverse_server(&dir, &fixed);
        let mut client = StringReverseClient::new(dir.str(), "rev", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call(&[b'a'; 3000]).map(<[u8]>::len);
        assert!(
            matches!(result, Err(Error::CapacityExhausted)),
            "{result:?}"
        );
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.error_count),
            (ClientState::Broken, 1, 1)
        );
        // The refused proposal is not kept: the client can connect again
        // and make the calls that fit.
        client.connect().unwrap();
        assert_eq!(
            client.session_info().unwrap().max_request_payload_bytes,
            1024
        );
        assert_eq!(client.call(b"abc").unwrap(), b"cba");
        assert!(client.call(&[b'a'; 3000]).is_err());
        client.connect().unwrap();
        assert_eq!(client.call(b"xy").unwrap(), b"yx");
    });
}

#[test]
fn a_snapshot_near_the_growth_ceiling_succeeds_on_the_first_call() {
    watchdog(|| {
        // About 930 KB, just under the 1 MiB ceiling of the automatic
        // growth: one overflow, one measurement, one reconnect.
        let dir = RunDir::new();
        let (_server, calls) = big_snapshot_server(&dir, &ServerConfig::default(), 6000, 100);
        let mut client = CgroupsSnapshotClient::new(dir.str(), "snap", &ClientConfig::default());
        let _ = client.connect();
        check_snapshot(&mut client, 6000);
        assert_eq!(
            client.session_info().unwrap().max_response_payload_bytes,
            1 << 20
        );
        assert_eq!((client.status().reconnect_count, calls.get()), (1, 3));
    });
}
