//! The L3 snapshot cache against real providers (managed servers and a raw
//! L1 server that sends malformed snapshots): every line of the level3
//! conformance checklist, readers hammering during refreshes, provider
//! restarts and absences, and a 100,000-item snapshot. Each test runs under
//! a watchdog.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::cache::{CacheItem, SnapshotCache};
use netipc::codec::{SnapshotBuilder, SnapshotItem, SnapshotRequest};
use netipc::service::{
    ClientConfig, ClientState, HandlerError, ManagedServer, RunningServer, ServerConfig,
};
use netipc::transport::{Listener, ServerOptions};
use netipc::wire::MessageKind;

mod common;

use common::RunDir;

const WATCHDOG: Duration = Duration::from_secs(120);

fn watchdog(case: impl FnOnce() + Send + 'static) {
    common::watchdog(WATCHDOG, case);
}

/// One cgroup of a test provider.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cgroup {
    hash: u32,
    name: String,
    path: String,
}

impl Cgroup {
    /// The snapshot item the test providers publish for it.
    fn item(&self) -> SnapshotItem<'_> {
        SnapshotItem {
            hash: self.hash,
            options: 0x10,
            enabled: 1,
            name: self.name.as_bytes(),
            path: self.path.as_bytes(),
        }
    }
}

fn cgroup(hash: u32, name: &str) -> Cgroup {
    Cgroup {
        hash,
        name: name.to_owned(),
        path: format!("/sys/fs/cgroup/{name}"),
    }
}

/// What a test provider serves; tests change it between refreshes.
#[derive(Debug, Default)]
struct Table {
    generation: AtomicU64,
    items: std::sync::Mutex<Vec<Cgroup>>,
    /// Makes every answer take 1.5 s.
    slow: AtomicBool,
}

impl Table {
    fn set(&self, generation: u64, items: Vec<Cgroup>) {
        *self.items.lock().unwrap() = items;
        self.generation.store(generation, Ordering::SeqCst);
    }
}

fn provider(
    dir: &RunDir,
    service: &str,
    table: &Arc<Table>,
    config: &ServerConfig,
) -> RunningServer {
    let table = table.clone();
    let handler = move |b: &mut SnapshotBuilder<'_>| -> Result<(), HandlerError> {
        if table.slow.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1500));
        }
        let items = table.items.lock().unwrap();
        b.set_systemd_enabled(1);
        b.set_generation(table.generation.load(Ordering::SeqCst));
        for c in items.iter() {
            b.add(&c.item())?;
        }
        Ok(())
    };
    ManagedServer::cgroups_snapshot(dir.str(), service, config, handler)
        .spawn()
        .expect("start the provider")
}

/// A provider of `items` at `generation` in a new run directory, and a
/// cache of it that has not refreshed yet.
fn served(
    generation: u64,
    items: Vec<Cgroup>,
) -> (RunDir, Arc<Table>, RunningServer, SnapshotCache) {
    let dir = RunDir::new();
    let t = table(generation, items);
    let server = provider(&dir, "cg", &t, &ServerConfig::default());
    let cache = SnapshotCache::new(dir.str(), "cg", &ClientConfig::default());
    (dir, t, server, cache)
}

fn table(generation: u64, items: Vec<Cgroup>) -> Arc<Table> {
    let t = Arc::new(Table::default());
    t.set(generation, items);
    t
}

fn three() -> Vec<Cgroup> {
    vec![
        cgroup(1, "system.slice"),
        cgroup(2, "docker-1a2b"),
        cgroup(3, "user.slice"),
    ]
}

fn assert_items(cache: &SnapshotCache, expected: &[Cgroup]) {
    let guard = cache.read();
    assert_eq!(guard.len(), expected.len());
    for (item, want) in guard.iter().zip(expected) {
        assert_eq!(
            (item.hash, item.name, item.path),
            (want.hash, want.name.as_bytes(), want.path.as_bytes())
        );
    }
    for want in expected {
        let item = guard
            .get(want.hash, want.name.as_bytes())
            .expect("item by (hash, name)");
        assert_eq!(item.path, want.path.as_bytes());
        assert_eq!((item.options, item.enabled), (0x10, 1));
    }
}

#[test]
fn a_new_cache_is_empty_and_does_no_io() {
    watchdog(|| {
        let dir = RunDir::new();
        let cache = SnapshotCache::new(dir.str(), "cgroups-snapshot", &ClientConfig::default());
        assert!(!cache.ready());
        let s = cache.status();
        assert!(!s.populated);
        assert_eq!((s.item_count, s.generation, s.systemd_enabled), (0, 0, 0));
        assert_eq!((s.refresh_success_count, s.refresh_failure_count), (0, 0));
        assert_eq!(s.connection_state, ClientState::Disconnected);
        assert_eq!(s.last_refresh, None);
        assert_eq!(cache.session_info(), None);
        let guard = cache.read();
        assert!(!guard.is_populated());
        assert!(guard.is_empty());
        assert_eq!(guard.get(1, b"system.slice"), None);
        assert!(
            dir.is_empty(),
            "creating a cache must not touch the run directory"
        );
    });
}

#[test]
fn first_refresh_publishes_the_provider_snapshot() {
    watchdog(|| {
        let (_dir, _t, _server, cache) = served(7, three());
        let before = Instant::now();
        cache.refresh().expect("refresh");
        assert!(cache.ready());
        let s = cache.status();
        assert!(s.populated);
        assert_eq!((s.item_count, s.generation, s.systemd_enabled), (3, 7, 1));
        assert_eq!((s.refresh_success_count, s.refresh_failure_count), (1, 0));
        assert_eq!(s.connection_state, ClientState::Ready);
        let at = s.last_refresh.expect("last refresh time");
        assert!(at >= before && at <= Instant::now());
        let info = cache.session_info().expect("connected");
        assert!(info.shared_memory, "the default fast path: {info:?}");
        assert_items(&cache, &three());
    });
}

#[test]
fn refresh_without_a_provider_fails_and_counts() {
    watchdog(|| {
        let dir = RunDir::new();
        let cache = SnapshotCache::new(dir.str(), "absent", &ClientConfig::default());
        let err = cache.refresh().expect_err("no provider");
        assert!(
            matches!(
                err,
                Error::NotReady {
                    state: ClientState::NotFound,
                    ..
                }
            ),
            "{err:?}"
        );
        let s = cache.status();
        assert!(!cache.ready() && !s.populated);
        assert_eq!((s.refresh_success_count, s.refresh_failure_count), (0, 1));
        assert_eq!(s.connection_state, ClientState::NotFound);
    });
}

#[test]
fn a_failed_refresh_keeps_every_previous_item() {
    watchdog(|| {
        let (_dir, _t, server, cache) = served(1, three());
        cache.refresh().expect("refresh");
        let first = cache.status().last_refresh;
        server.stop();
        assert!(cache.refresh().is_err());
        let s = cache.status();
        assert!(cache.ready() && s.populated);
        assert_eq!((s.refresh_success_count, s.refresh_failure_count), (1, 1));
        assert_eq!(s.generation, 1);
        assert_eq!(
            s.last_refresh, first,
            "the publication time is the last success"
        );
        assert_ne!(s.connection_state, ClientState::Ready);
        assert_items(&cache, &three());
    });
}

#[test]
fn get_needs_both_hash_and_name_and_returns_the_first_duplicate() {
    watchdog(|| {
        let dir = RunDir::new();
        let mut items = three();
        items.push(Cgroup {
            hash: 2,
            name: "docker-1a2b".into(),
            path: "/second/copy".into(),
        });
        let t = table(1, items);
        let _server = provider(&dir, "cg", &t, &ServerConfig::default());
        let cache = SnapshotCache::new(dir.str(), "cg", &ClientConfig::default());
        cache.refresh().expect("refresh");
        let guard = cache.read();
        assert_eq!(guard.len(), 4);
        assert_eq!(
            guard.get(2, b"docker-1a2b").expect("found").path,
            b"/sys/fs/cgroup/docker-1a2b"
        );
        assert_eq!(guard.get(3, b"docker-1a2b"), None, "same name, other hash");
        assert_eq!(guard.get(2, b"docker-1a2"), None, "prefix of the name");
        assert_eq!(
            guard.get(2, b"docker-1a2b\0"),
            None,
            "name with a trailing NUL"
        );
        assert_eq!(guard.get(1, b"user.slice"), None, "name of another hash");
    });
}

#[test]
fn positions_and_nul_terminated_strings_match_the_items() {
    watchdog(|| {
        let (_dir, t, _server, cache) = served(1, three());
        cache.refresh().expect("refresh");
        // An owned guard may outlive the cache and move to another thread.
        let owned = cache.read_owned();
        let guard = cache.read();
        for (i, item) in guard.iter().enumerate() {
            assert_eq!(guard.position(item.hash, item.name), Some(i));
            let (name, path) = guard.c_strings(i).expect("strings of an item");
            assert_eq!(
                (&name[..name.len() - 1], name.last()),
                (item.name, Some(&0))
            );
            assert_eq!(
                (&path[..path.len() - 1], path.last()),
                (item.path, Some(&0))
            );
        }
        assert_eq!(guard.position(2, b"user.slice"), None);
        assert_eq!(guard.c_strings(3), None);
        t.set(2, vec![cgroup(9, "other")]);
        cache.refresh().expect("second refresh");
        drop(cache);
        let other_thread = std::thread::spawn(move || {
            let names: Vec<Vec<u8>> = owned.iter().map(|i| i.name.to_vec()).collect();
            (owned.generation(), names)
        });
        let (generation, names) = other_thread.join().expect("reader");
        assert_eq!(generation, 1);
        assert_eq!(names, [&b"system.slice"[..], b"docker-1a2b", b"user.slice"]);
    });
}

#[test]
fn owned_copies_outlive_the_guard_and_later_refreshes() {
    watchdog(|| {
        let (_dir, t, _server, cache) = served(1, three());
        cache.refresh().expect("refresh");
        let owned: CacheItem = {
            let guard = cache.read();
            guard.get(2, b"docker-1a2b").expect("found").to_owned_item()
        };
        t.set(2, vec![cgroup(9, "other")]);
        cache.refresh().expect("second refresh");
        assert_eq!(cache.read().get(2, b"docker-1a2b"), None);
        assert_eq!(
            owned,
            CacheItem {
                hash: 2,
                options: 0x10,
                enabled: 1,
                name: b"docker-1a2b".to_vec(),
                path: b"/sys/fs/cgroup/docker-1a2b".to_vec(),
            }
        );
    });
}

#[test]
fn a_held_guard_keeps_its_generation_while_a_refresh_publishes() {
    watchdog(|| {
        let dir = RunDir::new();
        let t = table(1, three());
        let _server = provider(&dir, "cg", &t, &ServerConfig::default());
        let cache = Arc::new(SnapshotCache::new(
            dir.str(),
            "cg",
            &ClientConfig::default(),
        ));
        cache.refresh().expect("refresh");
        let guard = cache.read();
        let view = guard.get(3, b"user.slice").expect("found");
        t.set(2, vec![cgroup(4, "new.slice")]);
        // Another thread refreshes to completion while this one holds the
        // guard: publication does not wait for readers.
        let refresher = {
            let cache = cache.clone();
            std::thread::spawn(move || cache.refresh())
        };
        refresher
            .join()
            .expect("refresher")
            .expect("refresh while a guard is held");
        assert_eq!(cache.status().generation, 2);
        assert_eq!(view.path, b"/sys/fs/cgroup/user.slice");
        assert_eq!((guard.generation(), guard.len()), (1, 3));
        assert_eq!(guard.get(4, b"new.slice"), None);
        let fresh = cache.read();
        assert_eq!((fresh.generation(), fresh.len()), (2, 1));
        assert!(fresh.get(4, b"new.slice").is_some());
        // The refreshing thread may itself hold a guard.
        t.set(3, three());
        cache
            .refresh()
            .expect("refresh while this thread holds two guards");
        assert_eq!(cache.read().generation(), 3);
    });
}

#[test]
fn generation_is_reported_as_published_even_when_it_goes_down() {
    watchdog(|| {
        let (_dir, t, _server, cache) = served(100, three());
        for generation in [100, 5, 5, 0, 42] {
            t.set(generation, three());
            cache.refresh().expect("refresh");
            assert_eq!(cache.status().generation, generation);
            assert_eq!(cache.read().generation(), generation);
        }
        assert_eq!(cache.status().refresh_success_count, 5);
    });
}

#[test]
fn an_empty_snapshot_is_a_successful_refresh() {
    watchdog(|| {
        let (_dir, _t, _server, cache) = served(3, Vec::new());
        cache.refresh().expect("refresh");
        assert!(cache.ready());
        let s = cache.status();
        assert_eq!((s.populated, s.item_count, s.generation), (true, 0, 3));
        assert!(cache.read().is_populated());
        assert_eq!(cache.read().get(0, b""), None);
    });
}

#[test]
fn close_unpublishes_and_twice_is_harmless() {
    watchdog(|| {
        let (_dir, _t, _server, cache) = served(1, three());
        cache.refresh().expect("refresh");
        let held = cache.read();
        cache.close();
        assert!(!cache.ready());
        let s = cache.status();
        assert!(!s.populated);
        assert_eq!((s.item_count, s.generation, s.last_refresh), (0, 0, None));
        assert_eq!(s.refresh_success_count, 1, "counters are kept");
        assert_eq!(s.connection_state, ClientState::Disconnected);
        assert_eq!(cache.session_info(), None);
        assert_eq!(
            held.len(),
            3,
            "a guard taken before close keeps its snapshot"
        );
        cache.close();
        assert!(!cache.ready());
        cache.refresh().expect("a refresh after close starts over");
        assert!(cache.ready());
    });
}

#[test]
fn connection_state_follows_the_client() {
    watchdog(|| {
        let dir = RunDir::new();
        let cache = SnapshotCache::new(
            dir.str(),
            "cg",
            &ClientConfig {
                auth_token: 1,
                ..ClientConfig::default()
            },
        );
        assert!(cache.refresh().is_err());
        assert_eq!(cache.status().connection_state, ClientState::NotFound);
        let t = table(1, three());
        let server = provider(
            &dir,
            "cg",
            &t,
            &ServerConfig {
                auth_token: 2,
                ..ServerConfig::default()
            },
        );
        assert!(cache.refresh().is_err());
        assert_eq!(cache.status().connection_state, ClientState::AuthFailed);
        assert!(cache.refresh().is_err(), "AuthFailed is sticky");
        assert_eq!(cache.status().connection_state, ClientState::AuthFailed);
        drop(server);
        let _server = provider(
            &dir,
            "cg",
            &t,
            &ServerConfig {
                auth_token: 1,
                ..ServerConfig::default()
            },
        );
        cache.close();
        cache.refresh().expect("refresh after close");
        assert_eq!(cache.status().connection_state, ClientState::Ready);
        assert_eq!(cache.status().refresh_failure_count, 3);
    });
}

/// A raw provider that answers every snapshot request with `payload`
/// (over the baseline transport).
fn raw_provider(
    dir: &RunDir,
    service: &str,
    payload: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let listener = Listener::bind(
        dir.str(),
        service,
        &ServerOptions {
            max_response_payload_bytes: 4096,
            ..ServerOptions::default()
        },
    )
    .expect("bind");
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let Ok(incoming) = listener.accept(Some(Duration::from_millis(50)), None) else {
                continue;
            };
            let Ok(mut session) = incoming.handshake(1) else {
                continue;
            };
            while let Ok(m) = session.recv(Some(Duration::from_secs(10)), None) {
                assert_eq!(m.header.kind, MessageKind::Request);
                SnapshotRequest::decode(m.payload).expect("snapshot request");
                let header = m.header;
                if session.respond(&header, &payload).is_err() {
                    break;
                }
            }
        }
    })
}

fn snapshot_payload(generation: u64, items: &[Cgroup]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = SnapshotBuilder::new(&mut buf, items.len() as u32).expect("builder");
    b.set_systemd_enabled(1);
    b.set_generation(generation);
    for c in items {
        b.add(&c.item()).expect("add");
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

#[test]
fn a_malformed_item_fails_the_refresh_and_keeps_the_old_snapshot() {
    watchdog(|| {
        let (dir, _t, server, cache) = served(1, three());
        cache.refresh().expect("refresh");
        server.stop();
        // Item 1's name loses its NUL terminator: the header and directory
        // are fine, the item is not.
        let mut payload = snapshot_payload(2, &[cgroup(1, "aaaa"), cgroup(2, "bbbb")]);
        let at = payload
            .windows(5)
            .position(|w| w == b"bbbb\0")
            .expect("name of item 1")
            + 4;
        payload[at] = b'X';
        let stop = Arc::new(AtomicBool::new(false));
        let raw = raw_provider(&dir, "cg", payload, stop.clone());
        let err = cache.refresh().expect_err("malformed item");
        assert!(matches!(err, Error::Codec(_)), "{err:?}");
        let s = cache.status();
        assert_eq!(
            (
                s.generation,
                s.refresh_success_count,
                s.refresh_failure_count
            ),
            (1, 1, 1)
        );
        assert_eq!(
            s.connection_state,
            ClientState::Ready,
            "an item error leaves the session usable"
        );
        assert_items(&cache, &three());
        stop.store(true, Ordering::SeqCst);
        cache.close();
        raw.join().expect("raw provider");
    });
}

#[test]
fn a_provider_restart_is_followed_by_the_next_refresh() {
    watchdog(|| {
        let (dir, t, server, cache) = served(10, three());
        cache.refresh().expect("refresh");
        server.stop();
        t.set(1, vec![cgroup(7, "restarted.slice")]);
        let _server = provider(&dir, "cg", &t, &ServerConfig::default());
        // The session broke under the cache: the refresh reconnects inside
        // the call and publishes the new provider's data.
        cache.refresh().expect("refresh after the restart");
        let s = cache.status();
        assert_eq!(
            (s.generation, s.item_count, s.connection_state),
            (1, 1, ClientState::Ready)
        );
        assert!(cache.read().get(7, b"restarted.slice").is_some());
    });
}

#[test]
fn a_provider_gone_for_many_cycles_keeps_the_cache_and_comes_back() {
    watchdog(|| {
        let (dir, t, server, cache) = served(1, three());
        cache.refresh().expect("refresh");
        server.stop();
        for cycle in 1..=50 {
            assert!(cache.refresh().is_err(), "cycle {cycle}");
            assert!(cache.ready());
            assert_items(&cache, &three());
        }
        let s = cache.status();
        assert_eq!((s.refresh_success_count, s.refresh_failure_count), (1, 50));
        assert_eq!(s.connection_state, ClientState::NotFound);
        t.set(2, vec![cgroup(5, "back.slice")]);
        let _server = provider(&dir, "cg", &t, &ServerConfig::default());
        cache.refresh().expect("refresh once the provider is back");
        assert_eq!(cache.status().generation, 2);
        assert!(cache.read().get(5, b"back.slice").is_some());
    });
}

#[test]
fn an_aborted_or_timed_out_refresh_keeps_the_snapshot() {
    watchdog(|| {
        let (_dir, t, _server, cache) = served(1, three());
        let cache = Arc::new(cache);
        cache.refresh().expect("refresh");
        t.slow.store(true, Ordering::SeqCst);
        t.set(2, Vec::new());

        cache.set_call_timeout(Duration::from_millis(200));
        assert!(matches!(cache.refresh(), Err(Error::Timeout { .. })));
        assert_eq!(cache.status().connection_state, ClientState::Broken);
        assert_items(&cache, &three());

        cache.set_call_timeout(Duration::ZERO);
        let abort = cache.abort_handle();
        let refresher = {
            let cache = cache.clone();
            std::thread::spawn(move || cache.refresh())
        };
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        abort.abort();
        let result = refresher.join().expect("refresher");
        assert!(matches!(result, Err(Error::Aborted)), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "abort must end the wait promptly"
        );
        assert!(
            matches!(cache.refresh(), Err(Error::Aborted)),
            "abort is sticky"
        );
        assert_items(&cache, &three());
        abort.clear();
        t.slow.store(false, Ordering::SeqCst);
        cache.refresh().expect("refresh after clearing the abort");
        assert_eq!(cache.status().generation, 2);
        assert_eq!(cache.status().refresh_failure_count, 3);
    });
}

/// Items of generation `g`: their count and paths encode `g`, so a reader
/// can tell a mix of generations apart.
fn generation_items(g: u64) -> Vec<Cgroup> {
    (0..(50 + g % 37) as u32)
        .map(|i| Cgroup {
            hash: i.wrapping_mul(2_654_435_761),
            name: format!("cg-{i}"),
            path: format!("/gen/{g}/cg-{i}"),
        })
        .collect()
}

#[test]
fn readers_never_see_a_torn_generation_while_refreshes_publish() {
    watchdog(|| {
        let dir = RunDir::new();
        let t = table(1, generation_items(1));
        let _server = provider(&dir, "cg", &t, &ServerConfig::default());
        let cache = Arc::new(SnapshotCache::new(
            dir.str(),
            "cg",
            &ClientConfig::default(),
        ));
        cache.refresh().expect("refresh");
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (cache, done) = (cache.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut checks = 0u64;
                    let mut generations = std::collections::BTreeSet::new();
                    while !done.load(Ordering::SeqCst) {
                        let guard = cache.read();
                        let g = guard.generation();
                        let expected = generation_items(g);
                        assert_eq!(guard.len(), expected.len(), "generation {g}");
                        let prefix = format!("/gen/{g}/");
                        for (item, want) in guard.iter().zip(&expected) {
                            assert!(
                                item.path.starts_with(prefix.as_bytes()),
                                "torn read in generation {g}"
                            );
                            assert_eq!(item.name, want.name.as_bytes());
                        }
                        for want in expected.iter().step_by(7) {
                            let item = guard.get(want.hash, want.name.as_bytes()).expect("indexed");
                            assert_eq!(item.path, want.path.as_bytes());
                        }
                        generations.insert(g);
                        checks += 1;
                    }
                    (checks, generations.len())
                })
            })
            .collect();
        for g in 2..=200 {
            t.set(g, generation_items(g));
            cache.refresh().expect("refresh");
        }
        done.store(true, Ordering::SeqCst);
        for r in readers {
            let (checks, seen) = r.join().expect("reader");
            assert!(checks > 0 && seen >= 1);
        }
        assert_eq!(cache.status().refresh_success_count, 200);
    });
}

#[test]
fn a_snapshot_of_100000_items() {
    watchdog(|| {
        let dir = RunDir::new();
        let items: Vec<Cgroup> = (0..100_000u32)
            .map(|i| Cgroup {
                hash: i.wrapping_mul(2_654_435_761),
                name: format!("docker-{i:012x}"),
                path: format!("/sys/fs/cgroup/system.slice/docker-{i:012x}.scope"),
            })
            .collect();
        let t = table(9, items.clone());
        // The automatic growth stops at 1 MiB; 100,000 items need ~12 MiB,
        // so the provider configures its response size, and the consumer
        // the largest response it accepts.
        let config = ServerConfig {
            max_response_payload_bytes: 16 << 20,
            ..ServerConfig::default()
        };
        let _server = provider(&dir, "cg", &t, &config);
        let consumer = ClientConfig {
            max_response_payload_bytes: 16 << 20,
            ..ClientConfig::default()
        };
        let cache = SnapshotCache::new(dir.str(), "cg", &consumer);
        cache.refresh().expect("refresh");
        let s = cache.status();
        assert_eq!((s.item_count, s.generation), (100_000, 9));
        let guard = cache.read();
        for c in &items {
            let item = guard
                .get(c.hash, c.name.as_bytes())
                .expect("every item is indexed");
            assert_eq!(item.path, c.path.as_bytes());
        }
        assert_eq!(guard.get(items[0].hash ^ 1, items[0].name.as_bytes()), None);
    });
}
