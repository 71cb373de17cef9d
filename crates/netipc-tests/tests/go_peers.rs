//! Rust clients against the Go implementation (`go/`): the Go peer
//! (`go/internal/cmd/netipc-go-peer`, a Go managed server of one service
//! kind, answering from a JSON data file in the shape `netipc call KIND
//! --json` prints) serves every method over every transport profile, and
//! the Rust clients, the Rust L3 cache included, must read exactly the
//! data the file holds: a chunked snapshot of thousands of cgroups,
//! lookups of 32,768 keys, batches of INCREMENT and STRING_REVERSE.
//!
//! The tests need the Go peer, which `cargo xtask test --lane go` builds
//! and names in `NETIPC_GO_PEER`; they are ignored otherwise (the go lane
//! runs them with `--ignored`). By hand:
//!
//! ```text
//! (cd go && go build -o /tmp/netipc-go-peer ./internal/cmd/netipc-go-peer)
//! NETIPC_GO_PEER=/tmp/netipc-go-peer cargo test -p netipc-tests --test go_peers -- --ignored
//! ```

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{RunDir, watchdog};
use netipc::cache::SnapshotCache;
use netipc::codec::{CgroupStatus, CgroupsLookupStatus, PidStatus, orchestrator};
use netipc::netdata::netdata_hash;
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, CgroupsSnapshotClient, ClientConfig, IncrementClient,
    Profiles, StringReverseClient,
};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(240);
const KEYS: usize = 32_768;

/// The profile sets the tests offer on both sides, and whether the data
/// then travels through shared memory.
const PROFILES: [(&str, bool); 3] = [
    ("baseline", false),
    ("baseline|shm-hybrid", true),
    ("baseline|shm-alt", true),
];

/// The Go peer binary, from `NETIPC_GO_PEER`.
fn go_peer() -> PathBuf {
    match std::env::var_os("NETIPC_GO_PEER") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "NETIPC_GO_PEER is not set: these tests run against the Go peer, \
             which `cargo xtask test --lane go` builds (see the module docs)"
        ),
    }
}

/// A data file outside the run directory, removed on drop.
struct DataFile(PathBuf);

impl DataFile {
    fn new(data: &Value) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("nipc-go-data-{}-{n}.json", std::process::id()));
        std::fs::write(&path, data.to_string()).expect("write the data file");
        Self(path)
    }

    /// Replaces the content, as a new file renamed over the old one.
    fn replace(&self, data: &Value) {
        let next = self.0.with_extension("next");
        std::fs::write(&next, data.to_string()).expect("write the data file");
        std::fs::rename(&next, &self.0).expect("rename the data file");
    }
}

impl Drop for DataFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A running Go peer; stopped (stdin closed) and checked by
/// [`stop`](Self::stop), killed if dropped before.
struct GoPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    what: String,
}

impl GoPeer {
    /// Starts `netipc-go-peer` serving `kind` as `service` in `dir`,
    /// offering `profiles`, and waits until it prints `ready`.
    fn start(dir: &RunDir, kind: &str, profiles: &str, data: Option<&DataFile>) -> Self {
        let mut cmd = Command::new(go_peer());
        cmd.args([
            "-run-dir",
            dir.str(),
            "-service",
            kind,
            "-profiles",
            profiles,
        ]);
        if let Some(data) = data {
            cmd.arg("-data").arg(&data.0);
        }
        cmd.arg(kind)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let what = format!("netipc-go-peer {kind} ({profiles})");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                eprintln!("go peer: {line}");
                let _ = tx.send(line);
            }
        });
        let stdin = child.stdin.take();
        let mut peer = Self { child, stdin, what };
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.trim() == "ready" => break,
                Ok(_) => {}
                Err(e) => {
                    let status = peer.child.try_wait();
                    panic!(
                        "{} did not print `ready` ({e}); status {status:?}",
                        peer.what
                    );
                }
            }
        }
        peer
    }

    /// Closes its stdin: it must stop within 10 s and exit 0.
    fn stop(mut self) {
        self.stdin = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{} exited with {status}", self.what);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} still runs 10 s after its stdin closed",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GoPeer {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A client config offering `profiles`.
fn config(profiles: &str) -> ClientConfig {
    ClientConfig {
        supported_profiles: profiles.parse::<Profiles>().expect("profiles"),
        call_timeout: Duration::from_secs(30),
        ..ClientConfig::default()
    }
}

/// Checks that the session travels over shared memory exactly when `shm`.
fn check_transport(info: Option<netipc::service::SessionInfo>, profiles: &str, shm: bool) {
    let info = info.expect("a connected session");
    assert_eq!(info.shared_memory, shm, "{profiles}: {info:?}");
    let expected = match profiles {
        "baseline|shm-alt" => Profiles::SHM_ALT,
        _ if shm => Profiles::SHM_HYBRID,
        _ => Profiles::BASELINE,
    };
    assert_eq!(info.profile, expected, "{profiles}");
}

// ---- The data ----

/// A snapshot item of the data file: (hash, options, enabled, name, path).
type SnapshotRow = (u32, u32, u32, String, String);

/// `n` cgroups; every third has an explicit hash (the others Netdata's
/// hash of the name, the file's default), names include UTF-8.
fn snapshot_rows(n: usize) -> Vec<SnapshotRow> {
    (0..n)
        .map(|i| {
            let name = match i % 5 {
                0 => format!("docker-{i:06x}"),
                1 => format!("système-{i}"),
                _ => format!("cg-{i}"),
            };
            let path = format!(
                "/sys/fs/cgroup/kubepods.slice/kubepods-burstable-pod{:08x}.slice/{name}.scope",
                i * 2_654_435_761 % (1 << 32)
            );
            let hash = if i % 3 == 0 {
                (i as u32).wrapping_mul(0x9e37_79b9)
            } else {
                netdata_hash(name.as_bytes())
            };
            (hash, (i % 7) as u32, (i % 2) as u32, name, path)
        })
        .collect()
}

fn snapshot_file(generation: u64, rows: &[SnapshotRow]) -> Value {
    let items: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, (hash, options, enabled, name, path))| {
            let mut item =
                json!({"options": options, "enabled": enabled, "name": name, "path": path});
            if i % 3 == 0 {
                item["hash"] = json!(hash);
            }
            item
        })
        .collect();
    json!({"generation": generation, "systemd_enabled": 1, "items": items})
}

/// A cgroup of the lookup table: path, orchestrator, name, labels.
type CgroupRow = (String, u16, String, Vec<(String, String)>);

/// The lookup keys: `n` paths, of which every 11th is not in the table.
fn lookup_paths(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "/kubepods/burstable/pod{:08x}/container-{i}",
                i * 2_654_435_761 % (1 << 32)
            )
        })
        .collect()
}

fn listed(i: usize) -> bool {
    i % 11 != 3
}

fn cgroup_row(i: usize, path: &str) -> CgroupRow {
    let labels = (0..i % 4)
        .map(|l| (format!("label{l}"), format!("value-{i}-{l}")))
        .collect();
    (
        path.to_owned(),
        (i % 8) as u16,
        format!("container-{i}"),
        labels,
    )
}

fn cgroups_file(paths: &[String]) -> (Value, Vec<Option<CgroupRow>>) {
    let rows: Vec<Option<CgroupRow>> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| listed(i).then(|| cgroup_row(i, p)))
        .collect();
    let items: Vec<Value> = rows
        .iter()
        .flatten()
        .map(|(path, orch, name, labels)| {
            let labels: serde_json::Map<String, Value> =
                labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            json!({"path": path, "orchestrator": orch, "name": name, "labels": labels})
        })
        .collect();
    (
        json!({"generation": 7, "unknown_status": "UNKNOWN_PERMANENT", "items": items}),
        rows,
    )
}

/// The PIDs looked up: `n` of them, every 11th not in the table.
fn pids(n: usize) -> Vec<u32> {
    (1..=n as u32).map(|i| i * 3 + 100).collect()
}

/// A process of the table: (pid, comm, ppid, uid, starttime, cgroup path).
type AppRow = (u32, String, u32, Option<u32>, u64, String);

fn apps_file(pids: &[u32]) -> (Value, Vec<Option<AppRow>>) {
    let rows: Vec<Option<AppRow>> = pids
        .iter()
        .enumerate()
        .map(|(i, &pid)| {
            listed(i).then(|| {
                let path = if i % 5 == 0 {
                    String::new()
                } else {
                    format!("/system.slice/app-{i}.service")
                };
                let uid = (i % 6 != 0).then_some(1000 + (i % 50) as u32);
                (
                    pid,
                    format!("p{}", i % 1000),
                    pid / 2,
                    uid,
                    1000 + i as u64,
                    path,
                )
            })
        })
        .collect();
    let items: Vec<Value> = rows
        .iter()
        .flatten()
        .map(|(pid, comm, ppid, uid, start, path)| {
            let mut item =
                json!({"pid": pid, "comm": comm, "ppid": ppid, "uid": uid, "starttime": start});
            if !path.is_empty() {
                item["cgroup_path"] = json!(path);
                item["cgroup_name"] = json!(format!("app-{pid}"));
                item["orchestrator"] = json!(orchestrator::SYSTEMD);
                item["labels"] = json!({"unit": format!("app-{pid}.service")});
            }
            item
        })
        .collect();
    (json!({"generation": 3, "items": items}), rows)
}

// ---- The checks ----

fn check_snapshot(client: &mut CgroupsSnapshotClient, generation: u64, rows: &[SnapshotRow]) {
    let view = client.call().expect("snapshot");
    assert_eq!(
        (view.generation(), view.systemd_enabled(), view.len()),
        (generation, 1, rows.len())
    );
    for (i, (hash, options, enabled, name, path)) in rows.iter().enumerate() {
        let item = view.item(i).expect("item");
        assert_eq!(
            (item.hash, item.options, item.enabled, item.name, item.path),
            (*hash, *options, *enabled, name.as_bytes(), path.as_bytes()),
            "item {i}"
        );
    }
}

fn check_cgroups(client: &mut CgroupsLookupClient, paths: &[String], rows: &[Option<CgroupRow>]) {
    let view = client.call(paths).expect("cgroups lookup");
    assert_eq!((view.len(), view.generation()), (paths.len(), 7));
    for (i, (path, row)) in paths.iter().zip(rows).enumerate() {
        let item = view.item(i).expect("item");
        assert_eq!(item.path, path.as_bytes(), "{i}");
        match row {
            None => {
                assert_eq!(item.status, CgroupsLookupStatus::UnknownPermanent, "{i}");
                assert!(item.name.is_empty() && item.labels.is_empty(), "{i}");
            }
            Some((_, orch, name, labels)) => {
                assert_eq!(
                    (item.status, item.orchestrator, item.name),
                    (CgroupsLookupStatus::Known, *orch, name.as_bytes()),
                    "{i}"
                );
                let got: Vec<(&[u8], &[u8])> =
                    item.labels.iter().map(|l| (l.key, l.value)).collect();
                let want: Vec<(&[u8], &[u8])> = labels
                    .iter()
                    .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
                    .collect();
                assert_eq!(got, want, "{i}");
            }
        }
    }
}

fn check_apps(client: &mut AppsLookupClient, pids: &[u32], rows: &[Option<AppRow>]) {
    let view = client.call(pids).expect("apps lookup");
    assert_eq!((view.len(), view.generation()), (pids.len(), 3));
    for (i, (&pid, row)) in pids.iter().zip(rows).enumerate() {
        let item = view.item(i).expect("item");
        assert_eq!(item.pid, pid, "{i}");
        let e = item.entry;
        match row {
            None => assert_eq!(e.status, PidStatus::Unknown, "{i}"),
            Some((_, comm, ppid, uid, start, path)) => {
                assert_eq!(e.status, PidStatus::Known, "{i}");
                assert_eq!(
                    (e.comm, e.ppid, e.uid, e.starttime, e.cgroup_path),
                    (
                        comm.as_bytes(),
                        *ppid,
                        uid.unwrap_or(u32::MAX),
                        *start,
                        path.as_bytes()
                    ),
                    "{i}"
                );
                if path.is_empty() {
                    assert_eq!(e.cgroup_status, CgroupStatus::HostRoot, "{i}");
                    assert!(item.labels.is_empty(), "{i}");
                } else {
                    assert_eq!(
                        (e.cgroup_status, e.orchestrator, e.cgroup_name),
                        (
                            CgroupStatus::Known,
                            orchestrator::SYSTEMD,
                            format!("app-{pid}").as_bytes()
                        ),
                        "{i}"
                    );
                    let label = item.labels.get(0).expect("the unit label");
                    assert_eq!(
                        (label.key, label.value),
                        (&b"unit"[..], format!("app-{pid}.service").as_bytes())
                    );
                }
            }
        }
    }
}

// ---- The tests ----

#[test]
#[ignore = "needs the Go peer: cargo xtask test --lane go (NETIPC_GO_PEER)"]
fn snapshot_over_every_profile() {
    watchdog(LIMIT, || {
        let rows = snapshot_rows(40);
        let data = DataFile::new(&snapshot_file(5, &rows));
        for (profiles, shm) in PROFILES {
            let dir = RunDir::new();
            let peer = GoPeer::start(&dir, "cgroups-snapshot", profiles, Some(&data));
            let mut client =
                CgroupsSnapshotClient::new(dir.str(), "cgroups-snapshot", &config(profiles));
            client.connect().expect("connect");
            check_transport(client.session_info(), profiles, shm);
            check_snapshot(&mut client, 5, &rows);
            // Again on the same session.
            check_snapshot(&mut client, 5, &rows);
            client.close();
            peer.stop();
            assert!(dir.is_empty(), "{profiles}: {:?}", dir.entries());
        }
    });
}

/// Thousands of cgroups: the response (about 700 KB) outgrows the Go
/// server's first response size (it grows) and, over the socket, travels
/// in many packets.
#[test]
#[ignore = "needs the Go peer: cargo xtask test --lane go (NETIPC_GO_PEER)"]
fn chunked_snapshot_of_thousands_of_cgroups() {
    watchdog(LIMIT, || {
        let rows = snapshot_rows(6000);
        let data = DataFile::new(&snapshot_file(11, &rows));
        for (profiles, shm) in [PROFILES[0], PROFILES[1]] {
            let dir = RunDir::new();
            let peer = GoPeer::start(&dir, "cgroups-snapshot", profiles, Some(&data));
            let mut client =
                CgroupsSnapshotClient::new(dir.str(), "cgroups-snapshot", &config(profiles));
            client.connect().expect("connect");
            check_snapshot(&mut client, 11, &rows);
            check_transport(client.session_info(), profiles, shm);
            let info = client.session_info().expect("session");
            assert!(info.max_response_payload_bytes >= 600_000, "{info:?}");
            client.close();
            peer.stop();
        }
    });
}

#[test]
#[ignore = "needs the Go peer: cargo xtask test --lane go (NETIPC_GO_PEER)"]
fn cgroups_lookups_over_every_profile() {
    watchdog(LIMIT, || {
        let paths = lookup_paths(200);
        let (file, rows) = cgroups_file(&paths);
        let data = DataFile::new(&file);
        for (profiles, shm) in PROFILES {
            let dir = RunDir::new();
            let peer = GoPeer::start(&dir, "cgroups-lookup", profiles, Some(&data));
            let mut client =
                CgroupsLookupClient::new(dir.str(), "cgroups-lookup", &config(profiles));
            client.connect().expect("connect");
            check_transport(client.session_info(), profiles, shm);
            check_cgroups(&mut client, &paths, &rows);
            check_cgroups(&mut client, &paths[3..4], &rows[3..4]);
            check_cgroups(&mut client, &paths[..1], &rows[..1]);
            client.close();
            peer.stop();
        }
    });
}

#[test]
#[ignore = "needs the Go peer: cargo xtask test --lane go (NETIPC_GO_PEER)"]
fn apps_lookups_over_every_profile() {
    watchdog(LIMIT, || {
        let keys = pids(200);
        let (file, rows) = apps_file(&keys);
        let data = DataFile::new(&file);
        for (profiles, shm) in PROFILES {
            let dir = RunDir::new();
            let peer = GoPeer::start(&dir, "apps-lookup", profiles, Some(&data));
            let mut client = AppsLookupClient::new(dir.str(), "apps-lookup", &config(profiles));
            client.connect().expect("connect");
            check_transport(client.session_info(), profiles, shm);
            check_apps(&mut client, &keys, &rows);
            check_apps(&mut client, &keys[3..4], &rows[3..4]);
            client.close();
            peer.stop();
        }
    });
}

/// 32,768 keys in one logical lookup of each kind, over the socket and
/// over shared memory: the Rust client splits them into as many exchanges
/// as the Go server's sizes need and stitches the answers.
#[test]
#[ignore = "needs the Go peer: cargo xtask test --lane go (NETIPC_GO_PEER)"]
fn lookups_of_32768_keys() {
    watchdog(LIMIT, || {
        let paths = lookup_paths(KEYS);
        let (file, cgroup_rows) = cgroups_file(&paths);
        let cgroups_data = DataFile::new(&file);
        let keys = pids(KEYS);
        let (file, app_rows) = apps_file(&keys);
        let apps_data = DataFile::new(&file);
        for (profiles, _) in [PROFILES[0], PROFILES[1]] {
            let dir = RunDir::new();
            let cgroups = GoPeer::start(&dir, "cgroups-lookup", profiles, Some(&cgroups_data));
            let apps = GoPeer::start(&dir, "apps-lookup", profiles, Some(&apps_data));
            let mut client =
                CgroupsLookupClient::new(dir.str(), "cgroups-lookup", &config(profiles));
            client.connect().expect("connect");
            let started = Instant::now();
            check_cgroups(&mut client, &paths, &cgroup_rows);
            eprintln!("{profiles}: 32,768 cgroup paths in {:?}", started.elapsed());
            let mut client = AppsLookupClient::new(dir.str(), "apps-lookup", &config(profiles));
            client.connect().expect("connect");
            let started = Instant::now();
            check_apps(&mut client, &keys, &app_rows);
            eprintln!("{profiles}: 32,768 PIDs in {:?}", started.elapsed());
            cgroups.stop();
            apps.stop();
        }
    });
}

#[test]
#[ignore = "needs the Go peer: cargo xtask test --lane go (NETIPC_GO_PEER)"]
fn increment_and_string_reverse_batches() {
    watchdog(LIMIT, || {
        for (profiles, shm) in PROFILES {
            let dir = RunDir::new();
            let inc = GoPeer::start(&dir, "increment", profiles, None);
            let rev = GoPeer::start(&dir, "string-reverse", profiles, None);
            let batched = ClientConfig {
                max_request_batch_items: 1000,
                ..config(profiles)
            };

            let mut client = IncrementClient::new(dir.str(), "increment", &batched);
            client.connect().expect("connect");
            check_transport(client.session_info(), profiles, shm);
            assert_eq!(client.call(41).expect("increment"), 42);
            assert_eq!(client.call(u64::MAX - 1).expect("increment"), u64::MAX);
            let values: Vec<u64> = (0..1000).map(|i| i * 1_000_003).collect();
            let mut out = Vec::new();
            client.call_batch(&values, &mut out).expect("batch");
            let want: Vec<u64> = values.iter().map(|v| v + 1).collect();
            assert_eq!(out, want);
            client
                .call_batch(&values[..2], &mut out)
                .expect("batch of 2");
            assert_eq!(out, want[..2]);

            let mut client = StringReverseClient::new(dir.str(), "string-reverse", &batched);
            client.connect().expect("connect");
            assert_eq!(client.call(b"netipc").expect("reverse"), b"cpiten");
            assert_eq!(client.call(b"").expect("reverse"), b"");
            // One large text: a chunked request and response on the socket.
            let large: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
            let mut reversed = large.clone();
            reversed.reverse();
            assert_eq!(client.call(&large).expect("reverse"), &reversed[..]);
            let texts: Vec<String> = (0..500)
                .map(|i| "x".repeat(i % 40) + &i.to_string())
                .collect();
            let batch = client.call_batch(&texts).expect("batch");
            assert_eq!(batch.len(), texts.len());
            for (text, answer) in texts.iter().zip(batch.iter()) {
                let want: Vec<u8> = text.bytes().rev().collect();
                assert_eq!(answer, &want[..]);
            }
            inc.stop();
            rev.stop();
            assert!(dir.is_empty(), "{profiles}: {:?}", dir.entries());
        }
    });
}

/// The Rust L3 cache against a Go provider: refresh, look items up by
/// (hash, name), see a new generation after the data changed.
#[test]
#[ignore = "needs the Go peer: cargo xtask test --lane go (NETIPC_GO_PEER)"]
fn rust_cache_against_a_go_provider() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let rows = snapshot_rows(500);
        let data = DataFile::new(&snapshot_file(1, &rows));
        let peer = GoPeer::start(&dir, "cgroups-snapshot", "baseline|shm-hybrid", Some(&data));
        let cache = SnapshotCache::new(dir.str(), "cgroups-snapshot", &ClientConfig::default());
        cache.refresh().expect("refresh");
        {
            let read = cache.read();
            assert_eq!((read.generation(), read.len()), (1, rows.len()));
            for (hash, _, _, name, path) in &rows {
                let item = read.get(*hash, name.as_bytes()).expect("cached");
                assert_eq!(item.path, path.as_bytes());
            }
            assert!(read.get(1, b"no-such-cgroup").is_none());
        }
        // The peer reloads a changed file and serves a new generation.
        let fewer = &rows[..100];
        data.replace(&snapshot_file(1, fewer));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            cache.refresh().expect("refresh");
            let read = cache.read();
            if read.generation() >= 2 {
                assert_eq!(read.len(), fewer.len());
                assert!(read.get(rows[200].0, rows[200].3.as_bytes()).is_none());
                break;
            }
            assert!(Instant::now() < deadline, "the new data never arrived");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            cache.status().refresh_success_count >= 2,
            "{:?}",
            cache.status()
        );
        cache.close();
        peer.stop();
    });
}
