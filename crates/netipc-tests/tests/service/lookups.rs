//! Logical lookups against managed servers (level2 section 9): round
//! trips, the transparent PAYLOAD_EXCEEDED suffix retry, client-made
//! OVERSIZED items, request renegotiation, timeouts and aborts inside a
//! sub-call, and lookups across processes. The checks of malformed
//! sub-responses and the logical limits are in `lookup_checks`.

use netipc::wire::Profiles;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netipc::Error;
use netipc::codec::{
    AppsEntry, CgroupStatus, CgroupsEntry, CgroupsLookupStatus, Label, NO_LABELS, PidStatus,
};
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, ClientConfig, ClientState, ManagedServer, RunningServer,
    ServerConfig,
};

use crate::support::*;

/// A short cgroup path ending in its index.
pub fn path(i: usize) -> Vec<u8> {
    format!("/k{i:03}").into_bytes()
}

/// What a lookup handler saw in one invocation: the index of its first
/// key, the number of keys, and how many it answered before running out of
/// budget.
type Invocations = Arc<Mutex<Vec<(usize, usize, usize)>>>;

/// A CGROUPS_LOOKUP server answering every path KNOWN with a name of
/// `name_len` bytes and one label; generation 9.
fn cgroups_server(
    dir: &RunDir,
    config: &ServerConfig,
    name_len: usize,
) -> (RunningServer, Invocations) {
    let log = Invocations::default();
    let l = log.clone();
    let server = ManagedServer::cgroups_lookup(dir.str(), "cg", config, move |request, b| {
        b.set_generation(9);
        let mut answered = 0;
        for (i, p) in request.paths().enumerate() {
            let mut name = [b"name:", p].concat();
            name.resize(name_len.max(name.len()), b'n');
            b.add_request_item(i, &CgroupsEntry::known(2, &name), &[(b"k", p)])?;
            if !b.in_suffix_mode() {
                answered += 1;
            }
        }
        let first = request.path(0).map_or(usize::MAX, key_index);
        l.lock().unwrap().push((first, request.len(), answered));
        Ok(())
    })
    .spawn()
    .unwrap();
    (server, log)
}

fn key_index(path: &[u8]) -> usize {
    std::str::from_utf8(&path[path.len().saturating_sub(3)..])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX)
}

/// An APPS_LOOKUP server answering every pid KNOWN with a cgroup path of
/// `path_len` bytes; generation 5.
fn apps_server(
    dir: &RunDir,
    config: &ServerConfig,
    path_len: usize,
) -> (RunningServer, Invocations) {
    let log = Invocations::default();
    let l = log.clone();
    let server = ManagedServer::apps_lookup(dir.str(), "apps", config, move |request, b| {
        b.set_generation(5);
        let mut answered = 0;
        for pid in request.pids() {
            let comm = format!("p{pid}");
            let mut cgroup = format!("/cg/{pid}").into_bytes();
            cgroup.resize(path_len.max(cgroup.len()), b'c');
            let entry = AppsEntry {
                status: PidStatus::Known,
                cgroup_status: CgroupStatus::Known,
                ppid: 1,
                uid: 1000,
                starttime: u64::from(pid) * 10,
                comm: comm.as_bytes(),
                cgroup_path: &cgroup,
                cgroup_name: b"svc",
                ..AppsEntry::unset(PidStatus::Known)
            };
            b.add(pid, &entry, &[(b"app", b"x")])?;
            if !b.in_suffix_mode() {
                answered += 1;
            }
        }
        let first = request.pid(0).map_or(usize::MAX, |p| p as usize);
        l.lock().unwrap().push((first, request.len(), answered));
        Ok(())
    })
    .spawn()
    .unwrap();
    (server, log)
}

fn cgroups_round_trip(profiles: Profiles) {
    let dir = RunDir::new();
    let (_server, log) = cgroups_server(&dir, &server_config(profiles), 0);
    let mut client = CgroupsLookupClient::new(dir.str(), "cg", &client_config(profiles));
    let _ = client.connect();
    assert_eq!(
        client.session_info().unwrap().shared_memory,
        profiles != BASELINE
    );
    let paths = [path(3), path(1), path(3), path(2)];
    let view = client.call(&paths).unwrap();
    assert_eq!((view.len(), view.generation()), (4, 9));
    for (item, p) in view.iter().zip(&paths) {
        assert_eq!(item.status, CgroupsLookupStatus::Known);
        assert_eq!((item.path, item.orchestrator), (&p[..], 2));
        assert_eq!(item.name, [b"name:", &p[..]].concat());
        let labels: Vec<Label<'_>> = item.labels.iter().collect();
        assert_eq!(
            labels,
            [Label {
                key: b"k",
                value: p
            }]
        );
    }
    assert_eq!(client.status().call_count, 1);
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[test]
fn cgroups_lookup_round_trip() {
    watchdog(|| cgroups_round_trip(Profiles::empty()));
}

#[test]
fn cgroups_lookup_round_trip_baseline() {
    watchdog(|| cgroups_round_trip(BASELINE));
}

fn apps_round_trip(profiles: Profiles) {
    let dir = RunDir::new();
    let (_server, _log) = apps_server(&dir, &server_config(profiles), 0);
    let mut client = AppsLookupClient::new(dir.str(), "apps", &client_config(profiles));
    let _ = client.connect();
    let pids = [42, 7, 42, 1];
    let view = client.call(&pids).unwrap();
    assert_eq!((view.len(), view.generation()), (4, 5));
    for (item, pid) in view.iter().zip(pids) {
        assert_eq!(item.pid, pid);
        assert_eq!(item.entry.status, PidStatus::Known);
        assert_eq!(item.entry.comm, format!("p{pid}").as_bytes());
        assert_eq!(item.entry.starttime, u64::from(pid) * 10);
        assert_eq!(item.entry.cgroup_path, format!("/cg/{pid}").as_bytes());
        assert_eq!(item.labels.len(), 1);
    }
}

#[test]
fn apps_lookup_round_trip() {
    watchdog(|| apps_round_trip(Profiles::empty()));
}

#[test]
fn apps_lookup_round_trip_baseline() {
    watchdog(|| apps_round_trip(BASELINE));
}

/// Checks that the sub-calls asked for consecutive key ranges, each one
/// starting where the previous answer stopped, and answered all `keys`.
fn assert_suffix_retries(log: &Invocations, keys: usize, first: usize) {
    let log = log.lock().unwrap().clone();
    assert!(log.len() > 2, "expected several sub-calls: {log:?}");
    let mut next = first;
    for &(start, count, answered) in &log {
        assert_eq!(start, next, "{log:?}");
        assert!(answered >= 1 && answered <= count, "{log:?}");
        next = start + answered;
    }
    assert_eq!(next, first + keys, "{log:?}");
    assert!(
        log.iter().any(|&(_, count, answered)| answered < count),
        "no sub-response ended in a PAYLOAD_EXCEEDED suffix: {log:?}"
    );
}

#[test]
fn cgroups_lookup_retries_the_payload_exceeded_suffix() {
    watchdog(|| {
        let dir = RunDir::new();
        // A fixed 4096-byte response budget holds the placeholders of all
        // 30 paths (one request) but only about ten answers.
        let config = ServerConfig {
            max_response_payload_bytes: 4096,
            ..ServerConfig::default()
        };
        let (_server, log) = cgroups_server(&dir, &config, 300);
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let paths: Vec<Vec<u8>> = (0..30).map(path).collect();
        let calls = {
            let view = client.call(&paths).unwrap();
            assert_eq!((view.len(), view.generation()), (30, 9));
            for (item, p) in view.iter().zip(&paths) {
                assert_eq!(item.status, CgroupsLookupStatus::Known);
                assert_eq!(item.path, &p[..]);
                assert!(item.name.starts_with(b"name:"));
                assert_eq!(item.name.len(), 300);
            }
            log.lock().unwrap().len()
        };
        assert_suffix_retries(&log, 30, 0);
        let s = client.status();
        assert_eq!(
            (s.state, s.call_count, s.reconnect_count, s.error_count),
            (ClientState::Ready, calls as u32, 0, 0)
        );
    });
}

#[test]
fn apps_lookup_retries_the_payload_exceeded_suffix() {
    watchdog(|| {
        let dir = RunDir::new();
        let config = ServerConfig {
            max_response_payload_bytes: 4096,
            ..ServerConfig::default()
        };
        let (_server, log) = apps_server(&dir, &config, 200);
        let mut client = AppsLookupClient::new(dir.str(), "apps", &ClientConfig::default());
        let _ = client.connect();
        let pids: Vec<u32> = (100..140).collect();
        {
            let view = client.call(&pids).unwrap();
            assert_eq!((view.len(), view.generation()), (40, 5));
            for (item, pid) in view.iter().zip(&pids) {
                assert_eq!((item.pid, item.entry.status), (*pid, PidStatus::Known));
                assert_eq!(item.entry.cgroup_path.len(), 200);
            }
        }
        assert_suffix_retries(&log, 40, 100);
    });
}

#[test]
fn cgroups_path_too_big_for_the_request_ceiling_is_answered_locally() {
    watchdog(|| {
        let dir = RunDir::new();
        let (_server, log) = cgroups_server(&dir, &ServerConfig::default(), 0);
        // A fixed request size is also the ceiling of renegotiation.
        let config = ClientConfig {
            max_request_payload_bytes: 1024,
            ..ClientConfig::default()
        };
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &config);
        let _ = client.connect();
        let big = [b"/huge/".to_vec(), vec![b'x'; 2000], b"/k999".to_vec()].concat();
        {
            let paths = [path(0), big.clone(), path(2)];
            let view = client.call(&paths).unwrap();
            assert_eq!((view.len(), view.generation()), (3, 9));
            let items: Vec<_> = view.iter().collect();
            assert_eq!(items[0].status, CgroupsLookupStatus::Known);
            assert_eq!(items[1].status, CgroupsLookupStatus::OversizedItem);
            assert_eq!(items[1].path, &big[..]);
            assert!(items[1].name.is_empty() && items[1].labels.is_empty());
            assert_eq!(
                (items[2].status, items[2].path),
                (CgroupsLookupStatus::Known, &path(2)[..])
            );
        }
        // Only oversized paths: a zero-key probe still supplies the
        // generation.
        {
            let view = client.call(std::slice::from_ref(&big)).unwrap();
            assert_eq!((view.len(), view.generation()), (1, 9));
            assert_eq!(
                view.item(0).unwrap().status,
                CgroupsLookupStatus::OversizedItem
            );
        }
        let log = log.lock().unwrap().clone();
        let keys: usize = log.iter().map(|&(_, count, _)| count).sum();
        assert_eq!(keys, 2, "the big path was never sent: {log:?}");
        assert_eq!(log.last().unwrap().1, 0);
        let s = client.status();
        assert_eq!((s.state, s.reconnect_count), (ClientState::Ready, 0));
    });
}

#[test]
fn long_path_renegotiates_the_request_size() {
    watchdog(|| {
        let dir = RunDir::new();
        let config = ServerConfig {
            max_request_payload_bytes: 1 << 16,
            max_response_payload_bytes: 1 << 16,
            ..ServerConfig::default()
        };
        let (_server, _log) = cgroups_server(&dir, &config, 0);
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let big = [b"/".to_vec(), vec![b'y'; 1996], b"k001".to_vec()].concat();
        {
            let view = client.call(&[path(0), big.clone()]).unwrap();
            assert_eq!(view.item(1).unwrap().path, &big[..]);
            assert_eq!(view.item(1).unwrap().status, CgroupsLookupStatus::Known);
        }
        // One key of 2001 bytes needs a 2026-byte request: 2048.
        assert_eq!(
            client.session_info().unwrap().max_request_payload_bytes,
            2048
        );
        assert_eq!(client.status().reconnect_count, 1);
    });
}

#[test]
fn long_path_against_a_server_that_cannot_grow_fails_the_call_only() {
    watchdog(|| {
        let dir = RunDir::new();
        let fixed = ServerConfig {
            max_request_payload_bytes: 1024,
            ..ServerConfig::default()
        };
        let (_server, _log) = cgroups_server(&dir, &fixed, 0);
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let big = vec![b'z'; 2000];
        let result = client.call(&[big]).map(|v| v.len());
        assert!(
            matches!(result, Err(Error::CapacityExhausted)),
            "{result:?}"
        );
        assert_eq!(client.status().state, ClientState::Broken);
        client.connect().unwrap();
        assert_eq!(client.call(&[path(1)]).unwrap().len(), 1);
    });
}

fn gated_cgroups_server(dir: &RunDir, gate: &Gate) -> RunningServer {
    let g = gate.clone();
    ManagedServer::cgroups_lookup(
        dir.str(),
        "cg",
        &ServerConfig::default(),
        move |request, b| {
            g.pass();
            for i in 0..request.len() {
                b.add_request_item(
                    i,
                    &CgroupsEntry::unset(CgroupsLookupStatus::UnknownPermanent),
                    NO_LABELS,
                )?;
            }
            Ok(())
        },
    )
    .spawn()
    .unwrap()
}

#[test]
fn lookup_timeout_inside_a_sub_call_breaks_the_session() {
    watchdog(|| {
        let dir = RunDir::new();
        let gate = Gate::default();
        let _server = gated_cgroups_server(&dir, &gate);
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let result = client
            .call_with_timeout(&[path(0)], Some(Duration::from_millis(300)))
            .map(|v| v.len());
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.error_count),
            (ClientState::Broken, 0, 1)
        );
        gate.open();
        let _ = client.connect();
        assert_eq!(client.call(&[path(0)]).unwrap().len(), 1);
    });
}

#[test]
fn lookup_abort_from_another_thread_unblocks_it() {
    watchdog(|| {
        let dir = RunDir::new();
        let gate = Gate::default();
        let _server = gated_cgroups_server(&dir, &gate);
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let handle = client.abort_handle();
        let g = gate.clone();
        let aborter = std::thread::spawn(move || {
            g.wait_entered(1);
            handle.abort();
        });
        let result = client.call(&[path(0)]).map(|v| v.len());
        aborter.join().unwrap();
        assert!(matches!(result, Err(Error::Aborted)), "{result:?}");
        assert_eq!(client.status().state, ClientState::Broken);
        gate.open();
    });
}

#[test]
fn lookup_servers_across_processes_and_a_restart() {
    watchdog(|| {
        let dir = RunDir::new();
        let mut cg_peer = Peer::start("l2-cgroups-lookup", &dir, "cg", Profiles::empty(), 1);
        let mut apps_peer = Peer::start("l2-apps-lookup", &dir, "apps", Profiles::empty(), 1);
        let mut cg = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let mut apps = AppsLookupClient::new(dir.str(), "apps", &ClientConfig::default());
        let _ = cg.connect();
        let _ = apps.connect();
        let paths: Vec<Vec<u8>> = (0..50).map(path).collect();
        let pids: Vec<u32> = (1000..1100).collect();
        for generation in [1, 2] {
            {
                let view = cg.call(&paths).unwrap();
                assert_eq!((view.len(), view.generation()), (50, generation));
                for (item, p) in view.iter().zip(&paths) {
                    assert_eq!(item.name, [b"name:", &p[..]].concat());
                }
            }
            {
                let view = apps.call(&pids).unwrap();
                assert_eq!((view.len(), view.generation()), (100, generation));
                for (item, pid) in view.iter().zip(&pids) {
                    assert_eq!(item.pid, *pid);
                    assert_eq!(item.entry.ppid, generation as u32);
                    assert_eq!(item.entry.comm, format!("p{}", pid % 1000).as_bytes());
                }
            }
            if generation == 1 {
                cg_peer.kill();
                apps_peer.kill();
                cg_peer = Peer::start("l2-cgroups-lookup", &dir, "cg", Profiles::empty(), 2);
                apps_peer = Peer::start("l2-apps-lookup", &dir, "apps", Profiles::empty(), 2);
            }
        }
        // The 50 paths fit one 1024-byte request; the 100 pids do not, so
        // the apps client reconnects once to grow its request size. Each
        // reconnects once more after the restart.
        for (s, grew) in [(cg.status(), 0), (apps.status(), 1)] {
            assert_eq!(
                (s.state, s.reconnect_count, s.error_count),
                (ClientState::Ready, 1 + grew, 0)
            );
        }
    });
}

/// A lookup builder places the first item of a sub-response only together
/// with the placeholders of every later key (codec spec 5.8 step 6, level2
/// 14.8), so a small budget turns valid keys into OVERSIZED_ITEM (a final
/// status) or PAYLOAD_EXCEEDED. A growable server (1024 bytes at first)
/// answers such a cut-short response LIMIT_EXCEEDED instead and learns a
/// larger size: the client reconnects and every key comes back KNOWN. Only
/// a server already at its ceiling sends cut-short answers.
#[test]
fn growable_lookup_server_grows_instead_of_cutting_answers_short() {
    watchdog(|| {
        let paths: Vec<Vec<u8>> = (0..50)
            .map(|i| format!("/sys/fs/cgroup/k{i:03}").into_bytes())
            .collect();
        let statuses = |config: &ServerConfig| {
            let dir = RunDir::new();
            let (_server, _log) = cgroups_server(&dir, config, 0);
            let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
            let _ = client.connect();
            let mut runs = Vec::new();
            for _ in 0..2 {
                let view = client.call(&paths).unwrap();
                assert_eq!(view.len(), 50);
                for (item, p) in view.iter().zip(&paths) {
                    assert_eq!(item.path, &p[..]);
                }
                runs.push(view.iter().map(|i| i.status).collect::<Vec<_>>());
            }
            assert_eq!(runs[0], runs[1], "the server did not learn");
            runs.remove(0)
        };
        let growable = statuses(&ServerConfig::default());
        assert!(growable.iter().all(|s| *s == CgroupsLookupStatus::Known));
        // A small fixed budget: the client sends only as many keys as the
        // budget can answer at least minimally, and asks for the
        // PAYLOAD_EXCEEDED suffix again.
        let small = statuses(&ServerConfig {
            max_response_payload_bytes: 1024,
            ..ServerConfig::default()
        });
        assert!(small.iter().all(|s| *s == CgroupsLookupStatus::Known));
        let fixed = statuses(&ServerConfig {
            max_response_payload_bytes: 1 << 16,
            ..ServerConfig::default()
        });
        assert!(fixed.iter().all(|s| *s == CgroupsLookupStatus::Known));
    });
}

/// A fixed budget where each answer fits alone but not next to the other
/// keys' placeholders: the server marks the first key OVERSIZED_ITEM only
/// because of its neighbours, so the client asks that key again alone and
/// gets its real answer. Every key costs at most two sub-calls.
#[test]
fn first_key_oversized_next_to_placeholders_is_asked_again_alone() {
    watchdog(|| {
        let dir = RunDir::new();
        let config = ServerConfig {
            max_response_payload_bytes: 1024,
            ..ServerConfig::default()
        };
        let (_server, log) = cgroups_server(&dir, &config, 700);
        let paths: Vec<Vec<u8>> = (0..6)
            .map(|i| format!("/sys/fs/cgroup/k{i:03}").into_bytes())
            .collect();
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        let view = client.call(&paths).unwrap();
        assert_eq!(view.len(), paths.len());
        for (item, p) in view.iter().zip(&paths) {
            assert_eq!(
                (item.status, item.path),
                (CgroupsLookupStatus::Known, &p[..])
            );
            assert_eq!(item.name.len(), 700);
        }
        let log = log.lock().unwrap();
        assert!(
            log.iter().any(|&(_, keys, _)| keys == 1),
            "some key was asked alone: {log:?}"
        );
        assert!(log.len() <= 2 * paths.len(), "{log:?}");
        assert_eq!(client.status().error_count, 0);
    });
}

/// With default configs on both sides, a 64-path lookup settles into one
/// exchange per call: the first calls grow the request size (one
/// reconnect) and the response size (the server answers LIMIT_EXCEEDED
/// instead of cutting answers short, and learns the size); then every call
/// sends all paths in one request and uses the single answer as it is.
#[test]
fn a_large_lookup_settles_into_one_exchange_per_call() {
    watchdog(|| {
        let dir = RunDir::new();
        let (_server, log) = cgroups_server(&dir, &ServerConfig::default(), 40);
        let paths: Vec<Vec<u8>> = (0..64)
            .map(|i| format!("/sys/fs/cgroup/system.slice/docker-{i:040}.scope").into_bytes())
            .collect();
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &ClientConfig::default());
        let _ = client.connect();
        // The response size grows with what each sub-call turned out to
        // need, so it takes a couple of calls to settle.
        for _ in 0..2 {
            assert_eq!(client.call(&paths).unwrap().len(), 64);
        }
        let first = client.status();
        log.lock().unwrap().clear();
        for _ in 0..3 {
            let view = client.call(&paths).unwrap();
            assert_eq!(view.len(), 64);
            for (item, p) in view.iter().zip(&paths) {
                assert_eq!(
                    (item.status, item.path),
                    (CgroupsLookupStatus::Known, &p[..])
                );
            }
        }
        let seen = log.lock().unwrap().clone();
        assert_eq!(
            seen.len(),
            3,
            "one exchange per call: {seen:?} {:?}",
            client.session_info()
        );
        let s = client.status();
        assert_eq!(
            (s.reconnect_count, s.call_count),
            (first.reconnect_count, first.call_count + 3)
        );
        assert!(first.reconnect_count <= 4, "{first:?}");
    });
}
