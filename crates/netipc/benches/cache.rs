//! L3 snapshot cache benchmarks. Run with `cargo bench -p netipc --bench cache`.
//!
//! - `lookup/*`: `(hash, name)` lookups of 1,000 cached cgroups, cycling over
//!   every key, with 1 and 2 threads. `held_guard` keeps one read guard for
//!   all lookups (the intended use in a hot loop); `guard_per_lookup` takes a
//!   fresh guard for every lookup; `hashmap_limit` is the limit row: a plain
//!   `std::collections::HashMap<(u32, Vec<u8>), usize>` lookup of the same
//!   keys (with the standard hasher, which hashes the full key).
//! - `refresh/*`: one full refresh (request, response, copy, index, publish)
//!   from an in-process provider over the default transport, for 1,000 and
//!   100,000 items.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use netipc::cache::SnapshotCache;
use netipc::codec::{SnapshotBuilder, SnapshotItem};
use netipc::service::{ClientConfig, HandlerError, ManagedServer, RunningServer, ServerConfig};

fn main() {
    divan::main();
}

struct Cgroup {
    hash: u32,
    name: String,
    path: String,
}

fn cgroups(n: usize) -> Vec<Cgroup> {
    (0..n as u32)
        .map(|i| Cgroup {
            hash: i.wrapping_mul(2_654_435_761),
            name: format!("docker-{i:012x}.scope"),
            path: format!("/sys/fs/cgroup/system.slice/docker-{i:012x}.scope"),
        })
        .collect()
}

/// A provider of `n` items in a private run directory, and a cache that
/// has refreshed from it once.
struct Fixture {
    _server: RunningServer,
    cache: SnapshotCache,
    items: Arc<Vec<Cgroup>>,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.cache.close();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(n: usize) -> Fixture {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nipc-bench-cache-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("run dir");
    let run_dir = dir.to_str().expect("utf-8 temp dir");
    let items = Arc::new(cgroups(n));
    let served = items.clone();
    let handler = move |b: &mut SnapshotBuilder<'_>| -> Result<(), HandlerError> {
        b.set_systemd_enabled(1);
        b.set_generation(1);
        for c in served.iter() {
            b.add(&SnapshotItem {
                hash: c.hash,
                options: 0,
                enabled: 1,
                name: c.name.as_bytes(),
                path: c.path.as_bytes(),
            })?;
        }
        Ok(())
    };
    let config = ServerConfig {
        max_response_payload_bytes: 32 << 20,
        ..ServerConfig::default()
    };
    let server = ManagedServer::cgroups_snapshot(run_dir, "cgroups", &config, handler)
        .spawn()
        .expect("provider");
    let cache = SnapshotCache::new(run_dir, "cgroups", &ClientConfig::default());
    cache.refresh().expect("first refresh");
    Fixture {
        _server: server,
        cache,
        items,
        dir,
    }
}

const LOOKUP_ITEMS: usize = 1000;

#[divan::bench(name = "lookup/held_guard", threads = [1, 2])]
fn lookup_held_guard(bencher: Bencher) {
    let f = fixture(LOOKUP_ITEMS);
    let next = AtomicUsize::new(0);
    bencher.counter(ItemsCount::new(LOOKUP_ITEMS)).bench(|| {
        let guard = f.cache.read();
        let start = next.fetch_add(1, Ordering::Relaxed);
        // One guard, then every key once: amortized over 1,000 lookups.
        let mut found = 0;
        for i in 0..LOOKUP_ITEMS {
            let c = &f.items[(start + i) % LOOKUP_ITEMS];
            if let Some(item) = guard.get(black_box(c.hash), black_box(c.name.as_bytes())) {
                black_box(item.path);
                found += 1;
            }
        }
        assert_eq!(found, LOOKUP_ITEMS);
    });
}

#[divan::bench(name = "lookup/guard_per_lookup", threads = [1, 2])]
fn lookup_guard_per_lookup(bencher: Bencher) {
    let f = fixture(LOOKUP_ITEMS);
    let next = AtomicUsize::new(0);
    bencher.counter(ItemsCount::new(LOOKUP_ITEMS)).bench(|| {
        let start = next.fetch_add(1, Ordering::Relaxed);
        let mut found = 0;
        for i in 0..LOOKUP_ITEMS {
            let c = &f.items[(start + i) % LOOKUP_ITEMS];
            let guard = f.cache.read();
            if let Some(item) = guard.get(black_box(c.hash), black_box(c.name.as_bytes())) {
                black_box(item.path);
                found += 1;
            }
        }
        assert_eq!(found, LOOKUP_ITEMS);
    });
}

#[divan::bench(name = "lookup/hashmap_limit", threads = [1, 2])]
fn lookup_hashmap_limit(bencher: Bencher) {
    let items = cgroups(LOOKUP_ITEMS);
    let map: HashMap<(u32, Vec<u8>), usize> = items
        .iter()
        .enumerate()
        .map(|(i, c)| ((c.hash, c.name.as_bytes().to_vec()), i))
        .collect();
    let keys: Vec<(u32, Vec<u8>)> = items
        .iter()
        .map(|c| (c.hash, c.name.as_bytes().to_vec()))
        .collect();
    let next = AtomicUsize::new(0);
    bencher.counter(ItemsCount::new(LOOKUP_ITEMS)).bench(|| {
        let start = next.fetch_add(1, Ordering::Relaxed);
        let mut found = 0;
        for i in 0..LOOKUP_ITEMS {
            if let Some(&index) = map.get(black_box(&keys[(start + i) % LOOKUP_ITEMS])) {
                black_box(&items[index].path);
                found += 1;
            }
        }
        assert_eq!(found, LOOKUP_ITEMS);
    });
}

#[divan::bench(name = "refresh", args = [1_000, 100_000], sample_count = 20, sample_size = 1)]
fn refresh(bencher: Bencher, n: usize) {
    let f = fixture(n);
    bencher
        .counter(ItemsCount::new(n))
        .bench_local(|| f.cache.refresh().expect("refresh"));
}
