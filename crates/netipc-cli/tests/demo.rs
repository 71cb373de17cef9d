//! `netipc demo`: it runs, reports the key facts, cleans up and exits 0;
//! on a machine without cgroups (Windows, an empty filesystem root) it
//! says so and falls back to synthetic data.

#[path = "live/support.rs"]
mod support;

use std::path::Path;

use support::run;

/// The number before " cgroups (" in the snapshot cache line.
fn cache_count(out: &str) -> usize {
    let line = out
        .lines()
        .find(|l| l.starts_with("snapshot cache (L3) refreshed"))
        .unwrap_or_else(|| panic!("no cache line in:\n{out}"));
    let (_, rest) = line.split_once(": ").expect("count");
    rest.split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("number")
}

/// Facts every demo run must show.
fn common_facts(out: &str) {
    assert!(
        out.contains("providers   cgroups-snapshot, cgroups-lookup, apps-lookup listening"),
        "{out}"
    );
    assert!(
        out.contains("cache lookups by (hash, name), no I/O"),
        "{out}"
    );
    assert!(out.contains("\"no-such-cgroup\" not found"), "{out}");
    assert!(out.contains("apps-lookup (L2) of"), "{out}");
    assert!(out.contains("this process"), "{out}");
    assert!(out.contains("exited child"), "{out}");
    // The fast path: shared memory was negotiated.
    assert!(
        out.contains("transport   shm-hybrid (0x02): shared memory"),
        "{out}"
    );
    assert!(out.contains("— the fast path"), "{out}");
    assert!(out.contains("round trip  full snapshot"), "{out}");
    assert!(
        out.contains("cleanup     3 providers stopped; they left no files; run dir removed"),
        "{out}"
    );
    // It fits a screen.
    assert!(
        out.lines().count() <= 40,
        "{} lines:\n{out}",
        out.lines().count()
    );
}

/// The exited child (or, when synthetic data happens to list its PID,
/// the first PID the provider does not know) is UNKNOWN.
fn exited_child_is_unknown(out: &str) {
    let row = out
        .lines()
        .find(|l| {
            let l = l.trim_start();
            l.starts_with("exited child") || l.starts_with("unknown pid")
        })
        .unwrap_or_else(|| panic!("no exited child row in:\n{out}"));
    assert!(row.contains("UNKNOWN"), "{row}");
}

/// The run directory the demo printed no longer exists.
fn run_dir_is_gone(out: &str) {
    let line = out
        .lines()
        .find(|l| l.starts_with("run dir"))
        .expect("run dir line");
    let dir = line["run dir".len()..]
        .trim()
        .split(" (")
        .next()
        .expect("dir");
    if !cfg!(windows) {
        assert!(!Path::new(dir).exists(), "{dir} still exists");
    }
}

#[test]
fn demo_on_this_machine() {
    let out = run(&["demo", "--rounds", "50"]).ok();
    common_facts(&out);
    exited_child_is_unknown(&out);
    run_dir_is_gone(&out);
    assert!(cache_count(&out) > 0, "{out}");
    if cfg!(windows) {
        // No cgroups and no /proc on Windows: said plainly, synthetic data shown.
        assert!(
            out.contains("note        this is windows, not Linux"),
            "{out}"
        );
        assert!(out.contains("cgroups from 64 synthetic cgroups"), "{out}");
        assert!(
            out.contains("processes from 64 synthetic processes"),
            "{out}"
        );
        assert_eq!(cache_count(&out), 64);
        let me = out
            .lines()
            .find(|l| l.contains("this process"))
            .expect("row");
        assert!(me.contains("UNKNOWN"), "{me}");
    } else {
        let has_cgroups = std::fs::read_to_string("/proc/self/mountinfo")
            .is_ok_and(|m| m.lines().any(|l| l.contains(" - cgroup")));
        if has_cgroups {
            // Real cgroups, or (a container with a private cgroup
            // namespace) a plain note and synthetic ones.
            assert!(
                out.contains("cgroups from this machine's")
                    || out.contains("has no cgroups below its root"),
                "{out}"
            );
        } else {
            assert!(out.contains("no cgroup filesystem found"), "{out}");
        }
        assert!(out.contains("processes from this machine's /proc"), "{out}");
        // This process is alive and found, with its name.
        let me = out
            .lines()
            .find(|l| l.contains("this process"))
            .expect("row");
        assert!(
            me.contains(&std::process::id().to_string()) || me.contains("KNOWN"),
            "{me}"
        );
        assert!(me.contains("KNOWN") && me.contains("netipc"), "{me}");
        assert!(out.contains("its parent"), "{out}");
    }
}

#[test]
fn demo_with_synthetic_data() {
    let out = run(&["demo", "--synthetic", "7", "--rounds", "20"]).ok();
    common_facts(&out);
    assert_eq!(cache_count(&out), 7, "{out}");
    assert!(out.contains("cgroups from 7 synthetic cgroups"), "{out}");
    assert!(
        out.contains("cgroups-lookup (L2) of all 7 paths in one logical call (generation 1): docker 2, systemd 2, k8s 1, lxc 1, podman 1"),
        "{out}"
    );
    // No fallback notes: synthetic data was asked for.
    assert!(!out.contains("note "), "{out}");
}

#[test]
fn demo_without_cgroups_falls_back() {
    let empty = tempfile::tempdir().expect("tempdir");
    let root = support::dir_arg(empty.path());
    let out = run(&["demo", "--fs-root", &root, "--rounds", "20"]).ok();
    common_facts(&out);
    assert_eq!(cache_count(&out), 64, "{out}");
    if cfg!(windows) {
        assert!(
            out.contains("note        this is windows, not Linux"),
            "{out}"
        );
    } else {
        assert!(
            out.contains("note        no cgroup filesystem found"),
            "{out}"
        );
        assert!(out.contains("note        no process information"), "{out}");
    }
    assert!(out.contains("synthetic processes (PIDs 1-64)"), "{out}");
    let init = out
        .lines()
        .find(|l| l.trim_start().starts_with("synthetic") && l.contains(" 1  KNOWN"));
    assert!(init.is_some_and(|l| l.contains("HOST_ROOT")), "{out}");
}

#[test]
fn demo_on_a_fixture_filesystem() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/linux-v2");
    let out = run(&[
        "demo",
        "--fs-root",
        &support::dir_arg(&root),
        "--rounds",
        "20",
    ])
    .ok();
    common_facts(&out);
    if cfg!(windows) {
        // Linux formats are never read on Windows.
        assert!(
            out.contains("note        this is windows, not Linux"),
            "{out}"
        );
        return;
    }
    assert!(
        out.contains("cgroups from this machine's cgroup v2 at /sys/fs/cgroup"),
        "{out}"
    );
    assert_eq!(cache_count(&out), 15, "{out}");
    assert!(out.contains("systemd_enabled 1"), "{out}");
    assert!(
        out.contains("systemd 8, k8s 4, docker 1, lxc 1, podman 1"),
        "{out}"
    );
    assert!(out.contains("4f2a9c1e8b7d"), "{out}");
    let init = out
        .lines()
        .find(|l| l.trim_start().starts_with("init"))
        .expect("init row");
    assert!(
        init.contains("KNOWN") && init.contains("systemd") && init.contains("init.scope"),
        "{init}"
    );
}

#[test]
fn demo_rejects_bad_arguments() {
    let err = run(&["demo", "--rounds", "0"]).fails(2);
    assert!(err.contains("--rounds"), "{err}");
}

/// `netipc demo | head -1`: a reader that goes away ends the output
/// quietly (exit 0, no panic), and the demo still cleans up.
#[test]
fn demo_into_a_closed_pipe_exits_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = support::netipc()
        .args(["demo", "--synthetic", "40"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netipc demo");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("first line");
    assert!(first.starts_with("netipc demo"), "{first}");
    // The reader is gone now (dropped with the BufReader).
    let stderr = support::drain(child.stderr.take().expect("stderr"));
    let code = support::wait(&mut child, support::RUN_LIMIT, "netipc demo | head -1");
    let stderr = stderr.join().unwrap_or_default();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, 0, "{stderr}");
}
