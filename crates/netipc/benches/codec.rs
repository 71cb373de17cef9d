//! Codec micro-benchmarks: building and decoding 1,000-item snapshot and
//! lookup responses. Run with `cargo bench -p netipc --bench codec`.
//!
//! Each benchmark reports items per second; `decode_view` measures only
//! the creation of the view (header + directory validation for snapshots,
//! full eager validation for lookups), `decode_all` also reads every item.

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use netipc::codec::*;

const N: usize = 1000;

fn main() {
    divan::main();
}

struct Cgroup {
    name: String,
    path: String,
}

fn cgroups() -> Vec<Cgroup> {
    (0..N)
        .map(|i| Cgroup {
            name: format!("docker-{i:064x}.scope"),
            path: format!("/sys/fs/cgroup/system.slice/docker-{i:064x}.scope"),
        })
        .collect()
}

fn snapshot_bytes(items: &[Cgroup]) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 20];
    let n = build_snapshot(items, &mut buf);
    buf.truncate(n);
    buf
}

fn build_snapshot(items: &[Cgroup], buf: &mut [u8]) -> usize {
    let mut b = SnapshotBuilder::new(buf, items.len() as u32).unwrap();
    b.set_systemd_enabled(1);
    b.set_generation(42);
    for (i, c) in items.iter().enumerate() {
        b.add(&SnapshotItem {
            hash: i as u32,
            options: 0,
            enabled: 1,
            name: c.name.as_bytes(),
            path: c.path.as_bytes(),
        })
        .unwrap();
    }
    b.finish()
}

#[divan::bench(name = "snapshot_1000/encode")]
fn snapshot_encode(bencher: Bencher) {
    let items = cgroups();
    let mut buf = vec![0u8; 1 << 20];
    bencher
        .counter(ItemsCount::new(N))
        .bench_local(|| build_snapshot(black_box(&items), &mut buf));
}

#[divan::bench(name = "snapshot_1000/decode_view")]
fn snapshot_decode_view(bencher: Bencher) {
    let bytes = snapshot_bytes(&cgroups());
    bencher
        .counter(ItemsCount::new(N))
        .bench_local(|| SnapshotView::decode(black_box(&bytes)).unwrap().len());
}

#[divan::bench(name = "snapshot_1000/decode_all")]
fn snapshot_decode_all(bencher: Bencher) {
    let bytes = snapshot_bytes(&cgroups());
    bencher.counter(ItemsCount::new(N)).bench_local(|| {
        let view = SnapshotView::decode(black_box(&bytes)).unwrap();
        view.iter().map(|i| i.unwrap().name.len()).sum::<usize>()
    });
}

const LABELS: &[(&str, &str)] = &[("namespace", "production"), ("pod", "web-7f9c")];

fn build_cgroups_lookup(items: &[Cgroup], buf: &mut [u8]) -> usize {
    let mut b = CgroupsLookupBuilder::new(buf, items.len() as u32, 9).unwrap();
    for c in items {
        b.add(
            c.path.as_bytes(),
            &CgroupsEntry::known(orchestrator::K8S, c.name.as_bytes()),
            LABELS,
        )
        .unwrap();
    }
    b.finish()
}

#[divan::bench(name = "cgroups_lookup_1000/encode")]
fn cgroups_lookup_encode(bencher: Bencher) {
    let items = cgroups();
    let mut buf = vec![0u8; 1 << 20];
    bencher
        .counter(ItemsCount::new(N))
        .bench_local(|| build_cgroups_lookup(black_box(&items), &mut buf));
}

#[divan::bench(name = "cgroups_lookup_1000/decode_view")]
fn cgroups_lookup_decode_view(bencher: Bencher) {
    let mut buf = vec![0u8; 1 << 20];
    let n = build_cgroups_lookup(&cgroups(), &mut buf);
    let bytes = &buf[..n];
    bencher
        .counter(ItemsCount::new(N))
        .bench_local(|| CgroupsLookupView::decode(black_box(bytes)).unwrap().len());
}

#[divan::bench(name = "cgroups_lookup_1000/decode_all")]
fn cgroups_lookup_decode_all(bencher: Bencher) {
    let mut buf = vec![0u8; 1 << 20];
    let n = build_cgroups_lookup(&cgroups(), &mut buf);
    let bytes = &buf[..n];
    bencher.counter(ItemsCount::new(N)).bench_local(|| {
        let view = CgroupsLookupView::decode(black_box(bytes)).unwrap();
        view.iter()
            .map(|i| i.name.len() + i.labels.len())
            .sum::<usize>()
    });
}

fn app(i: u32) -> AppsEntry<'static> {
    AppsEntry {
        status: PidStatus::Known,
        cgroup_status: CgroupStatus::Known,
        orchestrator: orchestrator::DOCKER,
        ppid: 1,
        uid: 1000 + i % 7,
        starttime: 123_456 + u64::from(i),
        comm: b"nginx",
        cgroup_path: b"/system.slice/docker-0123456789abcdef.scope",
        cgroup_name: b"web",
    }
}

fn build_apps_lookup(buf: &mut [u8]) -> usize {
    let mut b = AppsLookupBuilder::new(buf, N as u32, 9).unwrap();
    for i in 0..N as u32 {
        b.add(1000 + i, &app(i), LABELS).unwrap();
    }
    b.finish()
}

#[divan::bench(name = "apps_lookup_1000/encode")]
fn apps_lookup_encode(bencher: Bencher) {
    let mut buf = vec![0u8; 1 << 20];
    bencher
        .counter(ItemsCount::new(N))
        .bench_local(|| build_apps_lookup(black_box(&mut buf)));
}

#[divan::bench(name = "apps_lookup_1000/decode_view")]
fn apps_lookup_decode_view(bencher: Bencher) {
    let mut buf = vec![0u8; 1 << 20];
    let n = build_apps_lookup(&mut buf);
    let bytes = &buf[..n];
    bencher
        .counter(ItemsCount::new(N))
        .bench_local(|| AppsLookupView::decode(black_box(bytes)).unwrap().len());
}

#[divan::bench(name = "apps_lookup_1000/decode_all")]
fn apps_lookup_decode_all(bencher: Bencher) {
    let mut buf = vec![0u8; 1 << 20];
    let n = build_apps_lookup(&mut buf);
    let bytes = &buf[..n];
    bencher.counter(ItemsCount::new(N)).bench_local(|| {
        let view = AppsLookupView::decode(black_box(bytes)).unwrap();
        view.iter()
            .map(|i| i.entry.comm.len() + i.labels.len())
            .sum::<usize>()
    });
}

#[divan::bench(name = "lookup_requests_1000/encode_cgroups")]
fn cgroups_request_encode(bencher: Bencher) {
    let paths: Vec<String> = cgroups().into_iter().map(|c| c.path).collect();
    let mut buf = vec![0u8; 1 << 20];
    bencher
        .counter(ItemsCount::new(N))
        .bench_local(|| encode_cgroups_lookup_request(black_box(&paths), &mut buf).unwrap());
}

#[divan::bench(name = "lookup_requests_1000/decode_cgroups")]
fn cgroups_request_decode(bencher: Bencher) {
    let paths: Vec<String> = cgroups().into_iter().map(|c| c.path).collect();
    let mut buf = vec![0u8; 1 << 20];
    let n = encode_cgroups_lookup_request(&paths, &mut buf).unwrap();
    let bytes = &buf[..n];
    bencher.counter(ItemsCount::new(N)).bench_local(|| {
        CgroupsLookupRequest::decode(black_box(bytes))
            .unwrap()
            .len()
    });
}
