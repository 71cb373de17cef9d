//! `netipc cache` end to end: the L3 snapshot cache of the CLI against a
//! spawned provider, lookups by Netdata's hash, repeated refreshes, the
//! same failure causes as `netipc call`, and `--watch` reporting what a
//! provider changes, its failures and its recovery.

#[path = "live/support.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Instant;

use serde_json::{Value, json};
use support::{RUN_LIMIT, Server, run, simple_hash};

#[test]
fn cache_refreshes_and_lists_every_item() {
    let server = Server::start("cgroups-snapshot", &["--synthetic", "12"]);
    let v = server
        .run(&["cache", "--json", "--count", "3", "--interval-ms", "10"])
        .json();
    let refreshes = v["refreshes"].as_array().expect("refreshes");
    assert_eq!(refreshes.len(), 3, "{v}");
    for r in refreshes {
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["items"], 12, "{r}");
        assert_eq!(r["generation"], 1, "{r}");
    }
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 12);
    for it in items {
        let name = it["name"].as_str().expect("name");
        assert_eq!(it["hash"], simple_hash(name.as_bytes()), "{it}");
    }

    let text = server.run(&["cache"]).ok();
    assert!(
        text.contains("generation 1, 12 cgroups, systemd_enabled 1"),
        "{text}"
    );
    assert!(
        text.contains("synthetic-1") && text.contains("system.slice/synthetic-1.service"),
        "{text}"
    );
    server.stop();
}

#[test]
fn cache_looks_names_up_by_netdata_hash() {
    let server = Server::start("cgroups-snapshot", &["--synthetic", "6"]);
    let v = server
        .run(&[
            "cache",
            "--json",
            "--name",
            "synthetic-1",
            "-n",
            "synthetic-4",
        ])
        .json();
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!(items[0]["name"], "synthetic-1");
    assert_eq!(items[1]["name"], "synthetic-4");
    assert!(v["missing"].as_array().expect("missing").is_empty());

    let mut cmd = support::netipc();
    let done = cmd
        .args([
            "cache",
            "--name",
            "synthetic-1",
            "--name",
            "no-such-cgroup",
            "--run-dir",
        ])
        .arg(server.run_dir())
        .output()
        .expect("run netipc cache");
    assert_eq!(done.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(stdout.contains("not cached: no-such-cgroup"), "{stdout}");
    assert!(stdout.contains("synthetic-1"), "{stdout}");
    server.stop();
}

#[test]
fn cache_and_call_name_the_same_cause() {
    let base = tempfile::tempdir().expect("tempdir");
    let empty = support::dir_arg(base.path());
    let cache = run(&["cache", "--run-dir", &empty]).fails(3);
    let call = run(&["call", "cgroups-snapshot", "--run-dir", &empty]).fails(3);
    assert!(
        cache.contains("no provider of service \"cgroups-snapshot\""),
        "{cache}"
    );
    assert_eq!(
        cache.trim_start_matches("netipc cache: "),
        call.trim_start_matches("netipc call: ")
    );
    let missing = support::dir_arg(&base.path().join("not-created"));
    let cache = run(&["cache", "--run-dir", &missing]).fails(3);
    assert!(
        cache.contains(&format!("the run directory {missing} does not exist")),
        "{cache}"
    );
}

#[test]
fn cache_waits_for_a_provider_that_starts_late() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = support::dir_arg(base.path());
    let mut cache = support::netipc();
    let child = cache
        .args(["cache", "--json", "--wait-ms", "20000", "--run-dir", &dir])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start netipc cache");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let server = Server::start_at(dir, None, "cgroups-snapshot", &["--synthetic", "3"], true);
    let out = child.wait_with_output().expect("netipc cache");
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["items"].as_array().expect("items").len(), 3, "{v}");
    server.stop();
}

#[test]
fn cache_takes_the_service_and_hashes() {
    let server = Server::start(
        "cgroups-snapshot",
        &["--synthetic", "4", "--service", "snap"],
    );
    let hash = simple_hash(b"synthetic-1");
    let v = server
        .run(&["cache", "snap", "--json", "--hash", &format!("{hash:#x}")])
        .json();
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["name"], "synthetic-1");
    assert_eq!(v["status"]["items"], 4);
    assert_eq!(v["status"]["connection"], "ready");
    assert_eq!(v["status"]["refreshes_ok"], 1);
    // The older spelling still works.
    let text = server.run(&["cache", "--service", "snap"]).ok();
    assert!(
        text.contains("cache of \"snap\"") && text.contains("4 cgroups"),
        "{text}"
    );
    let out = server.run(&["cache", "snap", "--hash", "7"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout.contains("no item has hash 0x00000007"),
        "{out:?}"
    );
    // A cgroup name where the service goes says how names are looked up.
    let err = server.run(&["cache", "synthetic-1"]).fails(3);
    assert!(err.contains("pass --name NAME"), "{err}");
    let err = server.run(&["cache", "snap", "--service", "snap"]).fails(2);
    assert!(err.contains("cannot be used with"), "{err}");
    server.stop();
}

/// A running `netipc cache --watch`, its output read line by line.
struct Watcher {
    child: Child,
    lines: Receiver<String>,
}

impl Watcher {
    fn start(run_dir: &str, args: &[&str]) -> Self {
        let mut child = support::netipc()
            .args([
                "cache",
                "--watch",
                "--interval-ms",
                "100",
                "--run-dir",
                run_dir,
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start netipc cache --watch");
        let lines = support::lines_of(child.stdout.take().expect("stdout"));
        Self { child, lines }
    }

    /// The next line that `wanted` accepts (earlier ones are dropped).
    fn line(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + RUN_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(e) => panic!("watchdog: the watch printed no such line ({e})"),
            }
        }
    }

    /// The next JSON event that `wanted` accepts.
    fn event(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let line = self.line(|l| serde_json::from_str(l).is_ok_and(|v: Value| wanted(&v)));
        serde_json::from_str(&line).expect("json")
    }

    /// Stops it as Ctrl-C does (POSIX; elsewhere it is killed) and
    /// returns the exit code and the lines after the last one read.
    fn interrupt(mut self) -> (i32, Vec<String>) {
        if cfg!(unix) {
            let status = std::process::Command::new("kill")
                .args(["-INT", &self.child.id().to_string()])
                .status()
                .expect("kill");
            assert!(status.success());
        } else {
            let _ = self.child.kill();
        }
        let code = support::wait(&mut self.child, RUN_LIMIT, "netipc cache --watch");
        (code, self.lines.iter().collect())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_json(path: &Path, value: &Value) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string(value).expect("json")).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect()
}

#[test]
fn watch_prints_what_the_provider_changed() {
    let files = tempfile::tempdir().expect("tempdir");
    let file = files.path().join("snapshot.json");
    write_json(
        &file,
        &json!({"items": [{"name": "a", "path": "/cg/a"}, {"name": "b", "path": "/cg/b"}]}),
    );
    let data = file.to_str().expect("UTF-8").to_owned();
    let server = Server::start("cgroups-snapshot", &["--data", &data]);
    let watch = Watcher::start(&server.run_dir(), &["--json"]);
    let first = watch.event(|v| v["refresh"] == 1);
    assert_eq!(first["ok"], true, "{first}");
    assert!(first["previous_generation"].is_null(), "{first}");
    assert_eq!(names(&first["added"]), ["a", "b"], "{first}");

    write_json(
        &file,
        &json!({"items": [{"name": "a", "path": "/cg/a", "enabled": 0}, {"name": "c", "path": "/cg/c"}]}),
    );
    let changed = watch.event(|v| v["generation"] == 2);
    assert_eq!(changed["previous_generation"], 1, "{changed}");
    assert_eq!(names(&changed["added"]), ["c"], "{changed}");
    assert_eq!(names(&changed["removed"]), ["b"], "{changed}");
    let c = &changed["changed"][0];
    assert_eq!(
        (
            c["before"]["enabled"].as_u64(),
            c["after"]["enabled"].as_u64()
        ),
        (Some(1), Some(0)),
        "{changed}"
    );
    assert_eq!(changed["items"], 2);
    let unchanged = watch.event(|v| v["refresh"].as_u64() > changed["refresh"].as_u64());
    assert!(
        unchanged["added"].as_array().is_some_and(Vec::is_empty),
        "{unchanged}"
    );

    let (code, rest) = watch.interrupt();
    if cfg!(unix) {
        assert_eq!(code, 0, "Ctrl-C is a clean stop: {rest:?}");
        let last: Value = serde_json::from_str(rest.last().expect("a last line")).expect("json");
        assert_eq!(last["stopped"], "interrupted", "{rest:?}");
    }
    server.stop();
}

#[test]
fn watch_reports_failures_and_the_recovery() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = support::dir_arg(base.path());
    let start = || {
        Server::start_at(
            dir.clone(),
            None,
            "cgroups-snapshot",
            &["--synthetic", "3"],
            true,
        )
    };
    let server = start();
    let watch = Watcher::start(&dir, &[]);
    let first = watch.line(|l| l.contains("refresh 1:"));
    assert!(
        first.contains("ok in") && first.contains("3 cgroups") && first.contains("3 added"),
        "{first}"
    );
    server.stop();
    // The first failure may be the session that broke; then the provider
    // is missing.
    let failed = watch.line(|l| l.contains("FAILED") && l.contains("no provider"));
    assert!(
        failed.contains("keeping generation 1 (3 cgroups)"),
        "{failed}"
    );
    assert!(
        failed.contains("no provider of service \"cgroups-snapshot\""),
        "{failed}"
    );
    assert!(
        failed.contains("start it with `netipc serve"),
        "what to do: {failed}"
    );
    let again = watch.line(|l| l.contains("FAILED"));
    assert!(
        again.contains("FAILED again") && again.contains("the same cause"),
        "{again}"
    );
    let server = start();
    let recovered = watch.line(|l| l.contains("ok in"));
    assert!(recovered.contains("recovered after"), "{recovered}");
    assert!(recovered.contains("generation 1, 3 cgroups"), "{recovered}");
    assert!(recovered.ends_with("no change"), "{recovered}");
    let (code, rest) = watch.interrupt();
    if cfg!(unix) {
        assert_eq!(code, 0, "{rest:?}");
        assert!(
            rest.last().is_some_and(|l| l.contains("interrupted after")),
            "{rest:?}"
        );
    }
    server.stop();
}

#[test]
fn watch_ends_after_count_with_the_last_outcome() {
    let watch = |run_dir: &str| {
        run(&[
            "cache",
            "--watch",
            "--json",
            "--count",
            "2",
            "--interval-ms",
            "10",
            "--run-dir",
            run_dir,
        ])
    };
    let server = Server::start("cgroups-snapshot", &["--synthetic", "2"]);
    let out = watch(&server.run_dir());
    let lines: Vec<Value> = out
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        (lines[0]["refresh"].as_u64(), lines[1]["refresh"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(
        lines[2],
        json!({"stopped": "count reached", "refreshes": 2, "failed": 0})
    );
    server.stop();

    let empty = tempfile::tempdir().expect("tempdir");
    let out = watch(&support::dir_arg(empty.path()));
    assert_eq!(out.code, 3, "no provider: {out:?}");
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines[0]["ok"], false);
    assert_eq!(lines[0]["same_error"], false);
    assert!(lines[0]["kept_generation"].is_null());
    assert_eq!(lines[1]["same_error"], true);
    assert_eq!(lines[1]["failures_in_a_row"], 2);
    assert!(out.stderr.contains("no provider of service"), "{out:?}");
}
