//! Validation of lookup sub-responses and the logical limits (level2
//! section 9), against raw servers that answer as scripted: zero-key
//! probes, mixed generations, keys not echoed, a broken PAYLOAD_EXCEEDED
//! suffix, no progress, and the item, sub-call and size limits.

use netipc::Error;
use netipc::codec::{
    AppsEntry, AppsLookupBuilder, AppsLookupRequest, CgroupStatus, CgroupsEntry,
    CgroupsLookupBuilder, CgroupsLookupRequest, CgroupsLookupStatus, NO_LABELS, PidStatus,
};
use netipc::service::{AppsLookupClient, CgroupsLookupClient, ClientConfig, ClientState};
use netipc::transport::ServerOptions;
use netipc::wire::{Method, Profiles};

use crate::lookups::path;
use crate::support::*;

/// A CGROUPS_LOOKUP response built by hand.
fn cgroups_response(generation: u64, items: &[(&[u8], CgroupsLookupStatus)]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = CgroupsLookupBuilder::new(&mut buf, items.len() as u32, generation).unwrap();
    for &(p, status) in items {
        match status {
            CgroupsLookupStatus::Known => b.add(p, &CgroupsEntry::known(0, b"n"), NO_LABELS),
            other => b.add_status(p, other),
        }
        .unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

/// An APPS_LOOKUP response built by hand.
fn apps_response(generation: u64, items: &[(u32, PidStatus)]) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 16];
    let mut b = AppsLookupBuilder::new(&mut buf, items.len() as u32, generation).unwrap();
    for &(pid, status) in items {
        match status {
            PidStatus::Known => {
                let entry = AppsEntry {
                    status,
                    cgroup_status: CgroupStatus::HostRoot,
                    uid: 0,
                    comm: b"p",
                    ..AppsEntry::unset(status)
                };
                b.add(pid, &entry, NO_LABELS)
            }
            other => b.add_status(pid, other),
        }
        .unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

/// Room for any scripted answer; requests keep the default 1024 bytes.
fn scripted_options() -> ServerOptions {
    ServerOptions {
        max_response_payload_bytes: 1 << 16,
        ..raw_options(Profiles::empty())
    }
}

fn request_paths(seen: &Seen) -> Vec<Vec<u8>> {
    CgroupsLookupRequest::decode(&seen.payload)
        .unwrap()
        .paths()
        .map(<[u8]>::to_vec)
        .collect()
}

fn request_pids(seen: &Seen) -> Vec<u32> {
    AppsLookupRequest::decode(&seen.payload)
        .unwrap()
        .pids()
        .collect()
}

/// A raw CGROUPS_LOOKUP server whose answer to each request is
/// `statuses(request number, path index)` for every requested path.
fn scripted_cgroups(
    dir: &RunDir,
    generation: impl Fn(usize) -> u64 + Send + 'static,
    answer: impl Fn(usize, usize, &[u8]) -> (Vec<u8>, CgroupsLookupStatus) + Send + 'static,
) -> RawServer {
    let mut requests = 0;
    RawServer::start(dir, "cg", scripted_options(), move |seen| {
        let paths = request_paths(seen);
        let items: Vec<(Vec<u8>, CgroupsLookupStatus)> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| answer(requests, i, p))
            .collect();
        let refs: Vec<(&[u8], CgroupsLookupStatus)> =
            items.iter().map(|(p, s)| (&p[..], *s)).collect();
        let payload = cgroups_response(generation(requests), &refs);
        requests += 1;
        Action::Respond(payload)
    })
}

fn scripted_apps(
    dir: &RunDir,
    generation: impl Fn(usize) -> u64 + Send + 'static,
    answer: impl Fn(usize, usize, u32) -> (u32, PidStatus) + Send + 'static,
) -> RawServer {
    let mut requests = 0;
    RawServer::start(dir, "apps", scripted_options(), move |seen| {
        let items: Vec<(u32, PidStatus)> = request_pids(seen)
            .into_iter()
            .enumerate()
            .map(|(i, pid)| answer(requests, i, pid))
            .collect();
        let payload = apps_response(generation(requests), &items);
        requests += 1;
        Action::Respond(payload)
    })
}

#[test]
fn zero_key_lookups_send_one_16_byte_request_and_return_the_generation() {
    watchdog(|| {
        let dir = RunDir::new();
        let cg = scripted_cgroups(&dir, |_| 42, |_, _, _| unreachable!("no keys"));
        let apps = scripted_apps(&dir, |_| 43, |_, _, _| unreachable!("no keys"));
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        {
            let view = client.call::<&[u8]>(&[]).unwrap();
            assert_eq!((view.len(), view.generation()), (0, 42));
        }
        let mut apps_client = AppsLookupClient::new(dir.str(), "apps", &ClientConfig::default());
        let _ = apps_client.connect();
        {
            let view = apps_client.call(&[]).unwrap();
            assert_eq!((view.len(), view.generation()), (0, 43));
        }
        for (server, method) in [(&cg, Method::CgroupsLookup), (&apps, Method::AppsLookup)] {
            let seen = server.seen();
            assert_eq!(seen.len(), 1);
            let h = seen[0].header;
            assert_eq!(
                (h.code, h.payload_len, h.flags, h.item_count, h.message_id),
                (method.code(), 16, 0, 1, 1)
            );
        }
        assert_eq!(client.status().call_count, 1);
    });
}

#[test]
fn sub_responses_with_different_generations_fail_the_lookup() {
    watchdog(|| {
        let dir = RunDir::new();
        // 100 pids need two sub-calls at the default 1024-byte request size.
        let server = scripted_apps(
            &dir,
            |n| n as u64 + 1,
            |_, _, pid| (pid, PidStatus::Unknown),
        );
        let mut client = AppsLookupClient::new(dir.str(), "apps", &ClientConfig::default());
        let _ = client.connect();
        let pids: Vec<u32> = (1..=100).collect();
        let result = client.call(&pids).map(|v| v.len());
        assert!(matches!(result, Err(Error::BadResponse(_))), "{result:?}");
        assert_eq!(server.seen().len(), 2);
        // Validation happens after the exchange: the session stays usable.
        // The one reconnect: the client asked for a request size that takes
        // all 100 pids, which this server (1024 bytes) refused.
        let s = client.status();
        assert_eq!(
            (s.state, s.call_count, s.error_count, s.reconnect_count),
            (ClientState::Ready, 2, 1, 1)
        );
        // The refusal is remembered: the next call does not ask again.
        assert!(client.call(&pids).is_err());
        assert_eq!(client.status().reconnect_count, 1);
        // A suffix retry that comes back with another generation, too.
        let dir = RunDir::new();
        let server = scripted_cgroups(
            &dir,
            |n| n as u64,
            |n, i, p| {
                let status = if n == 0 && i > 0 {
                    CgroupsLookupStatus::PayloadExceeded
                } else {
                    CgroupsLookupStatus::Known
                };
                (p.to_vec(), status)
            },
        );
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call(&[path(0), path(1)]).map(|v| v.len());
        assert!(matches!(result, Err(Error::BadResponse(_))), "{result:?}");
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(request_paths(&seen[1]), [path(1)]);
    });
}

#[test]
fn an_item_that_does_not_echo_its_key_fails_the_lookup() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = scripted_cgroups(
            &dir,
            |_| 1,
            |_, i, p| {
                let p = if i == 1 {
                    b"/elsewhere".to_vec()
                } else {
                    p.to_vec()
                };
                (p, CgroupsLookupStatus::UnknownRetryLater)
            },
        );
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call(&[path(0), path(1), path(2)]).map(|v| v.len());
        assert!(matches!(result, Err(Error::BadResponse(_))), "{result:?}");
        assert_eq!(
            server.seen().len(),
            1,
            "validation failures are not retried"
        );
        assert_eq!(client.status().state, ClientState::Ready);

        let apps = scripted_apps(
            &dir,
            |_| 1,
            |_, i, pid| (pid + (i == 2) as u32, PidStatus::Unknown),
        );
        let mut client = AppsLookupClient::new(dir.str(), "apps", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call(&[5, 6, 7]).map(|v| v.len());
        assert!(matches!(result, Err(Error::BadResponse(_))), "{result:?}");
        assert_eq!(apps.seen().len(), 1);
    });
}

#[test]
fn an_answer_after_a_payload_exceeded_item_fails_the_lookup() {
    watchdog(|| {
        let dir = RunDir::new();
        let statuses = [
            CgroupsLookupStatus::Known,
            CgroupsLookupStatus::PayloadExceeded,
            CgroupsLookupStatus::UnknownPermanent,
        ];
        let server = scripted_cgroups(&dir, |_| 1, move |_, i, p| (p.to_vec(), statuses[i]));
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call(&[path(0), path(1), path(2)]).map(|v| v.len());
        assert!(matches!(result, Err(Error::BadResponse(_))), "{result:?}");
        assert_eq!(server.seen().len(), 1);

        let statuses = [
            PidStatus::Unknown,
            PidStatus::PayloadExceeded,
            PidStatus::Known,
        ];
        let apps = scripted_apps(&dir, |_| 1, move |_, i, pid| (pid, statuses[i]));
        let mut client = AppsLookupClient::new(dir.str(), "apps", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call(&[5, 6, 7]).map(|v| v.len());
        assert!(matches!(result, Err(Error::BadResponse(_))), "{result:?}");
        assert_eq!(apps.seen().len(), 1);
    });
}

#[test]
fn payload_exceeded_at_position_zero_fails_with_overflow() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = scripted_cgroups(
            &dir,
            |_| 1,
            |_, _, p| (p.to_vec(), CgroupsLookupStatus::PayloadExceeded),
        );
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call(&[path(0), path(1)]).map(|v| v.len());
        assert!(
            matches!(result, Err(Error::CapacityExhausted)),
            "{result:?}"
        );
        assert_eq!(server.seen().len(), 1);
        assert_eq!(client.status().state, ClientState::Ready);

        let apps = scripted_apps(&dir, |_| 1, |_, _, pid| (pid, PidStatus::PayloadExceeded));
        let mut client = AppsLookupClient::new(dir.str(), "apps", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call(&[1]).map(|v| v.len());
        assert!(
            matches!(result, Err(Error::CapacityExhausted)),
            "{result:?}"
        );
        assert_eq!(apps.seen().len(), 1);
    });
}

#[test]
fn lookup_item_limit_is_checked_first_and_sends_nothing() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = scripted_cgroups(
            &dir,
            |_| 1,
            |_, _, p| (p.to_vec(), CgroupsLookupStatus::Known),
        );
        let config = ClientConfig {
            max_lookup_items: 3,
            ..ClientConfig::default()
        };
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &config);
        let four: Vec<Vec<u8>> = (0..4).map(path).collect();
        // Before readiness (the Rust order of the spec).
        let result = client.call(&four).map(|v| v.len());
        assert!(
            matches!(result, Err(Error::LookupLimit("max_lookup_items"))),
            "{result:?}"
        );
        let _ = client.connect();
        let result = client.call(&four).map(|v| v.len());
        assert!(
            matches!(result, Err(Error::LookupLimit("max_lookup_items"))),
            "{result:?}"
        );
        assert_eq!(client.call(&four[..3]).unwrap().len(), 3);
        let s = client.status();
        assert_eq!(
            (s.state, s.error_count, s.call_count),
            (ClientState::Ready, 2, 1)
        );
        assert_eq!(server.seen().len(), 1);

        let mut apps = AppsLookupClient::new(
            dir.str(),
            "apps",
            &ClientConfig {
                max_lookup_items: 1,
                ..ClientConfig::default()
            },
        );
        assert!(matches!(
            apps.call(&[1, 2]),
            Err(Error::LookupLimit("max_lookup_items"))
        ));
    });
}

#[test]
fn lookup_subcall_limit_stops_the_lookup() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = scripted_apps(&dir, |_| 1, |_, _, pid| (pid, PidStatus::Unknown));
        let config = ClientConfig {
            max_lookup_subcalls: 1,
            ..ClientConfig::default()
        };
        let mut client = AppsLookupClient::new(dir.str(), "apps", &config);
        let _ = client.connect();
        // (1024 - 16) / 16 = 63 pids fit one request.
        let pids: Vec<u32> = (1..=64).collect();
        assert_eq!(client.call(&pids[..63]).unwrap().len(), 63);
        let result = client.call(&pids).map(|v| v.len());
        assert!(
            matches!(result, Err(Error::LookupLimit("max_lookup_subcalls"))),
            "{result:?}"
        );
        assert_eq!(server.seen().len(), 2);
        let s = client.status();
        assert_eq!(
            (s.state, s.call_count, s.error_count),
            (ClientState::Ready, 2, 1)
        );
    });
}

#[test]
fn lookup_response_size_limit_stops_the_lookup() {
    watchdog(|| {
        let dir = RunDir::new();
        let _server = scripted_cgroups(
            &dir,
            |_| 1,
            |_, _, p| (p.to_vec(), CgroupsLookupStatus::Known),
        );
        let config = ClientConfig {
            max_lookup_response_bytes: 100,
            ..ClientConfig::default()
        };
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &config);
        let _ = client.connect();
        assert_eq!(client.call(&[path(0)]).unwrap().len(), 1);
        let result = client.call(&[path(0), path(1), path(2)]).map(|v| v.len());
        assert!(
            matches!(result, Err(Error::LookupLimit("max_lookup_response_bytes"))),
            "{result:?}"
        );
        assert_eq!(client.status().state, ClientState::Ready);
    });
}

#[test]
fn invalid_paths_fail_without_io() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = scripted_cgroups(
            &dir,
            |_| 1,
            |_, _, p| (p.to_vec(), CgroupsLookupStatus::Known),
        );
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        for bad in [&b""[..], b"/a\0b"] {
            let result = client.call(&[&path(0)[..], bad]).map(|v| v.len());
            assert!(matches!(result, Err(Error::Codec(_))), "{result:?}");
        }
        assert!(server.seen().is_empty());
        assert_eq!(client.status().state, ClientState::Ready);
    });
}

#[test]
fn aborted_lookup_sends_nothing() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = scripted_apps(&dir, |_| 1, |_, _, pid| (pid, PidStatus::Unknown));
        let mut client = AppsLookupClient::new(dir.str(), "apps", &ClientConfig::default());
        let _ = client.connect();
        client.abort_handle().abort();
        assert!(matches!(client.call(&[1]), Err(Error::Aborted)));
        assert!(matches!(client.call(&[]), Err(Error::Aborted)));
        assert!(server.seen().is_empty());
        assert_eq!(client.status().state, ClientState::Ready);
        client.abort_handle().clear();
        assert_eq!(client.call(&[1]).unwrap().len(), 1);
    });
}
