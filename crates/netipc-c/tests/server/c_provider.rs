//! A Rust consumer against the C example provider
//! (`examples/cgroups_provider.c`), built with the system's C compiler
//! (`$CC`, else `cc`) against this package's static library, over both
//! transport profiles; stopped with SIGINT (its handler calls
//! `nipc_server_stop`) and by its time limit. Linux (the same source runs
//! under wine in the C lane).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use netipc::codec::{CgroupsLookupStatus, orchestrator};
use netipc::netdata::{CGROUPS_LOOKUP_SERVICE, CGROUPS_SNAPSHOT_SERVICE, netdata_hash};
use netipc::service::{CgroupsLookupClient, CgroupsSnapshotClient};

use crate::support::{PROFILES, RunDir, client_config, watchdog};

/// The example's cgroups: name, path, orchestrator, image label.
const CGROUPS: [(&str, &str, u16, Option<&str>); 4] = [
    (
        "system.slice",
        "/sys/fs/cgroup/system.slice",
        orchestrator::SYSTEMD,
        None,
    ),
    (
        "docker-1a2b3c",
        "/sys/fs/cgroup/system.slice/docker-1a2b3c.scope",
        orchestrator::DOCKER,
        Some("nginx:1.27"),
    ),
    (
        "qemu-1-web",
        "/sys/fs/cgroup/machine.slice/machine-qemu-1-web.scope",
        orchestrator::KVM,
        None,
    ),
    (
        "user-1000.slice",
        "/sys/fs/cgroup/user.slice/user-1000.slice",
        orchestrator::SYSTEMD,
        None,
    ),
];

/// `target/<profile>`, where cargo put this package's static library.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test>
    exe.parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_path_buf()
}

/// The static library of this package in `target`, checked to be as new
/// as the Rust library the tests were built with (`cargo test` does not
/// build static libraries; the xtask lanes build it before their tests).
fn static_library(target: &Path) -> PathBuf {
    let lib = target.join("libnetipc_c.a");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let rlib = std::fs::read_dir(target.join("deps"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libnetipc_c-") && n.ends_with(".rlib"))
        })
        .filter_map(|p| modified(&p))
        .max();
    let fresh = match (modified(&lib), rlib) {
        (Some(a), Some(r)) => a >= r,
        (Some(_), None) => true,
        (None, _) => false,
    };
    assert!(
        fresh,
        "{} is missing or older than the Rust library: run `cargo build -p netipc-c` before \
         `cargo test` (cargo test does not build static libraries; `cargo xtask test` does)",
        lib.display()
    );
    lib
}

/// Builds the example provider as `cgroups_provider-<pid>-<tag>`; returns
/// its path.
fn build_provider(tag: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = target_dir();
    let lib = static_library(&target);
    let out = target.join(format!("cgroups_provider-{}-{tag}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(manifest.join("include"))
        .arg(manifest.join("examples/cgroups_provider.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-o"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
    assert!(status.success(), "{cc} failed to build the example");
    out
}

/// The running example; killed on drop if it is still running.
struct Provider {
    child: Child,
    stdout: BufReader<ChildStdout>,
    exe: PathBuf,
}

impl Provider {
    /// Starts it and waits for the line that says it serves.
    fn start(dir: &RunDir, seconds: Option<u32>, tag: &str) -> Self {
        let exe = build_provider(tag);
        let mut cmd = Command::new(&exe);
        cmd.arg(dir.str());
        if let Some(s) = seconds {
            cmd.arg(s.to_string());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the example");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("first line");
        assert!(
            line.starts_with("cgroups_provider: serving cgroups-snapshot and cgroups-lookup"),
            "{line}"
        );
        Self { child, stdout, exe }
    }

    /// Waits for it to exit; returns its exit code and the rest of its
    /// output.
    fn wait(&mut self) -> (Option<i32>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the provider did not stop"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("output");
        (status.code(), rest)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.exe);
    }
}

fn consume(dir: &RunDir) {
    for profiles in PROFILES {
        let config = client_config(profiles);
        let mut snapshot = CgroupsSnapshotClient::new(dir.str(), CGROUPS_SNAPSHOT_SERVICE, &config);
        snapshot
            .wait_ready(Duration::from_secs(10))
            .expect("connect");
        assert_eq!(
            snapshot.session_info().expect("session").shared_memory,
            profiles == netipc::service::Profiles::SHM_HYBRID
        );
        let view = snapshot.call().expect("snapshot");
        assert_eq!(view.generation(), 1);
        assert_eq!(view.systemd_enabled(), 1);
        assert_eq!(view.len(), CGROUPS.len());
        for (i, (name, path, _, _)) in CGROUPS.iter().enumerate() {
            let item = view.item(i).expect("item");
            assert_eq!(item.name, name.as_bytes());
            assert_eq!(item.path, path.as_bytes());
            assert_eq!(item.hash, netdata_hash(name.as_bytes()));
            assert_eq!(item.enabled, 1);
        }

        let mut lookup = CgroupsLookupClient::new(dir.str(), CGROUPS_LOOKUP_SERVICE, &config);
        lookup.wait_ready(Duration::from_secs(10)).expect("connect");
        let mut paths: Vec<&str> = CGROUPS.iter().map(|c| c.1).collect();
        paths.insert(1, "/sys/fs/cgroup/no-such-cgroup");
        let answer = lookup.call(&paths).expect("lookup");
        assert_eq!(answer.generation(), 1);
        assert_eq!(answer.len(), 5);
        let unknown = answer.item(1).expect("item");
        assert_eq!(unknown.status, CgroupsLookupStatus::UnknownPermanent);
        let known: Vec<_> = answer.iter().filter(|i| i.path != unknown.path).collect();
        for (item, (name, path, orch, image)) in known.iter().zip(CGROUPS) {
            assert_eq!(item.status, CgroupsLookupStatus::Known);
            assert_eq!(item.path, path.as_bytes());
            assert_eq!(item.name, name.as_bytes());
            assert_eq!(item.orchestrator, orch);
            let labels: Vec<_> = item.labels.iter().map(|l| (l.key, l.value)).collect();
            let expected: Vec<(&[u8], &[u8])> = image
                .map(|i| (b"image".as_slice(), i.as_bytes()))
                .into_iter()
                .collect();
            assert_eq!(labels, expected);
        }
    }
}

#[test]
fn a_rust_consumer_reads_the_c_example_provider_which_stops_on_sigint() {
    watchdog(|| {
        let dir = RunDir::new();
        let mut provider = Provider::start(&dir, None, "sigint");
        consume(&dir);
        let status = Command::new("kill")
            .args(["-INT", &provider.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let (code, rest) = provider.wait();
        assert_eq!(code, Some(0), "{rest}");
        assert!(
            rest.contains("stopped: 2 snapshots and 2 lookups (10 paths) answered, 4 sessions, 0 failed requests"),
            "{rest}"
        );
        assert!(dir.is_empty(), "the provider left files behind");
    });
}

#[test]
fn the_c_example_provider_stops_after_its_time_limit() {
    watchdog(|| {
        let dir = RunDir::new();
        let mut provider = Provider::start(&dir, Some(1), "limit");
        let (code, rest) = provider.wait();
        assert_eq!(code, Some(0), "{rest}");
        assert!(rest.contains("stopped: 0 snapshots"), "{rest}");
        assert!(dir.is_empty());
    });
}
