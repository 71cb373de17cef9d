//! `netipc cache` end to end: the L3 snapshot cache of the CLI against a
//! spawned provider, lookups by Netdata's hash, repeated refreshes, and
//! the same failure causes as `netipc call`.

#[path = "live/support.rs"]
mod support;

use support::{Server, run, simple_hash};

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
        .run(&["cache", "--json", "synthetic-1", "synthetic-4"])
        .json();
    let items = v["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!(items[0]["name"], "synthetic-1");
    assert_eq!(items[1]["name"], "synthetic-4");
    assert!(v["missing"].as_array().expect("missing").is_empty());

    let mut cmd = support::netipc();
    let done = cmd
        .args(["cache", "synthetic-1", "no-such-cgroup", "--run-dir"])
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
