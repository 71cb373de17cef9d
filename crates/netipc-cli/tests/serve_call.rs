//! `netipc serve`, `netipc call` and `netipc probe` end to end: a spawned
//! provider process, consumers against it, error paths, and a clean stop
//! that leaves no files.

#[path = "live/support.rs"]
mod support;

use serde_json::Value;
use support::{Server, run, simple_hash};

/// Stops the provider through its standard input and checks the exit.
fn stop_cleanly(server: Server) {
    let stopped = server.stop();
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert!(
        stopped.output.contains("standard input closed: stopped"),
        "{stopped:?}"
    );
    assert!(stopped.leftovers.is_empty(), "{stopped:?}");
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().expect("items")
}

#[test]
fn snapshot_call_and_probe() {
    let server = Server::start("cgroups-snapshot", &["--synthetic", "20"]);
    assert!(
        server
            .banner_text()
            .contains("data: 20 cgroups from 20 synthetic cgroups"),
        "{}",
        server.banner_text()
    );

    let v = server.run(&["call", "cgroups-snapshot", "--json"]).json();
    assert_eq!(v["generation"], 1);
    assert_eq!(v["systemd_enabled"], 1);
    let list = items(&v);
    assert_eq!(list.len(), 20);
    for it in list {
        let name = it["name"].as_str().expect("name");
        assert_eq!(it["hash"], simple_hash(name.as_bytes()), "{it}");
        assert!(
            it["path"]
                .as_str()
                .expect("path")
                .starts_with("/sys/fs/cgroup/"),
            "{it}"
        );
    }
    assert_eq!(list[1]["name"], "synthetic-1");
    assert_eq!(
        list[1]["path"],
        "/sys/fs/cgroup/system.slice/synthetic-1.service"
    );
    assert_eq!(list[1]["options"], 0x6, "SYSTEM_SLICE_SERVICE | IS_UNIFIED");

    let text = server.run(&["call", "cgroups-snapshot"]).ok();
    assert!(
        text.contains("20 items, systemd_enabled 1, generation 1"),
        "{text}"
    );
    assert!(
        text.contains("HASH") && text.contains("synthetic-1.service"),
        "{text}"
    );

    let probe = server.run(&["probe", "cgroups-snapshot"]).ok();
    assert!(
        probe.contains("answers CGROUPS_SNAPSHOT (cgroups-snapshot)"),
        "{probe}"
    );
    assert!(
        probe.contains("shm-hybrid (0x02): shared memory"),
        "{probe}"
    );
    assert!(probe.contains("full CGROUPS_SNAPSHOT calls"), "{probe}");
    assert!(probe.contains("20 items"), "{probe}");
    for field in [
        "session id",
        "request limit",
        "response limit",
        "packet size",
        "peer pid",
        "round trip",
    ] {
        assert!(probe.contains(field), "{field}: {probe}");
    }
    stop_cleanly(server);
}

#[test]
fn probe_json_and_baseline() {
    let server = Server::start("apps-lookup", &["--synthetic", "3", "--service", "apps"]);
    let v = server
        .run(&["probe", "apps", "--json", "--count", "5"])
        .json();
    assert_eq!(v["kind"], "apps-lookup", "found out by asking: {v}");
    assert_eq!(v["method"], "APPS_LOOKUP");
    assert_eq!(v["shared_memory"], true);
    assert_eq!(v["profile_name"], "shm-hybrid");
    assert!(v["session_id"].as_u64().is_some_and(|id| id >= 1), "{v}");
    assert!(
        v["max_response_payload_bytes"]
            .as_u64()
            .is_some_and(|n| n >= 1024),
        "{v}"
    );
    assert_eq!(v["round_trip"]["calls"], 5);
    assert!(
        v["round_trip"]["median_ns"].as_u64().is_some_and(|n| n > 0),
        "{v}"
    );
    assert_eq!(v["peer_pid"], server.pid(), "the provider's process");

    let v = server
        .run(&["probe", "apps", "--json", "--no-shm", "--count", "3"])
        .json();
    assert_eq!(v["profile_name"], "baseline");
    assert_eq!(v["shared_memory"], false);

    // The same set, named.
    let v = server
        .run(&[
            "probe",
            "apps",
            "--json",
            "--profiles",
            "baseline",
            "--count",
            "3",
        ])
        .json();
    assert_eq!(
        (v["profile"].as_u64(), v["shared_memory"].as_bool()),
        (Some(1), Some(false))
    );
    stop_cleanly(server);
}

#[test]
fn large_snapshot_grows_the_response() {
    let server = Server::start("cgroups-snapshot", &["--synthetic", "3000"]);
    let v = server.run(&["call", "cgroups-snapshot", "--json"]).json();
    assert_eq!(items(&v).len(), 3000);
    let probe = server
        .run(&["probe", "cgroups-snapshot", "--count", "3"])
        .ok();
    assert!(probe.contains("3000 items"), "{probe}");
    stop_cleanly(server);
}

#[test]
fn cgroups_lookup_statuses() {
    let server = Server::start("cgroups-lookup", &["--synthetic", "10"]);
    let known = "/sys/fs/cgroup/system.slice/synthetic-1.service";
    let v = server
        .run(&[
            "call",
            "cgroups-lookup",
            known,
            "/sys/fs/cgroup/not-there.scope",
            "relative",
            "--json",
        ])
        .json();
    let list = items(&v);
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["status"], "KNOWN");
    assert_eq!(list[0]["name"], "synthetic-1");
    assert_eq!(list[0]["orchestrator_name"], "systemd");
    assert_eq!(list[0]["labels"]["unit"], "synthetic-1.service");
    assert_eq!(list[1]["status"], "UNKNOWN_RETRY_LATER");
    assert_eq!(list[2]["status"], "UNKNOWN_PERMANENT");
    assert_eq!(list[2]["path"], "relative");
    // Many keys: every item answered, in order (sub-calls are stitched).
    let snapshot_paths: Vec<String> = (0..10)
        .map(|_| known.to_owned())
        .chain((0..200).map(|i| format!("/sys/fs/cgroup/x{i}")))
        .collect();
    let mut args = vec!["call", "cgroups-lookup"];
    args.extend(snapshot_paths.iter().map(String::as_str));
    args.push("--json");
    let v = server.run(&args).json();
    assert_eq!(items(&v).len(), 210);
    assert!(items(&v)[..10].iter().all(|i| i["status"] == "KNOWN"));
    let text = server.run(&["call", "cgroups-lookup", known]).ok();
    assert!(
        text.contains("KNOWN") && text.contains("unit=synthetic-1.service"),
        "{text}"
    );
    stop_cleanly(server);
}

#[test]
fn apps_lookup_of_synthetic_processes() {
    let server = Server::start("apps-lookup", &["--synthetic", "5"]);
    let v = server
        .run(&["call", "apps-lookup", "1", "3", "99", "--json"])
        .json();
    let list = items(&v);
    assert_eq!(list[0]["pid"], 1);
    assert_eq!(list[0]["status"], "KNOWN");
    assert_eq!(list[0]["comm"], "synthetic-1");
    assert_eq!(list[0]["cgroup_status"], "HOST_ROOT");
    assert_eq!(list[1]["cgroup_status"], "KNOWN");
    assert_eq!(list[1]["cgroup_name"], "synthetic-1");
    assert_eq!(list[1]["ppid"], 1);
    assert_eq!(list[2]["status"], "UNKNOWN");
    assert!(list[2]["uid"].is_null());
    let text = server.run(&["call", "apps-lookup", "2", "99"]).ok();
    assert!(
        text.contains("2 PIDs") && text.contains("UNKNOWN"),
        "{text}"
    );
    stop_cleanly(server);
}

#[test]
fn apps_lookup_of_this_machine_or_the_fallback() {
    let server = Server::start("apps-lookup", &[]);
    let banner = server.banner_text();
    if cfg!(windows) {
        assert!(
            banner.contains("note: there is no /proc on windows"),
            "{banner}"
        );
        assert!(banner.contains("64 synthetic processes"), "{banner}");
    } else {
        assert!(
            banner.contains("processes from this machine's /proc"),
            "{banner}"
        );
        let pid = server.pid().to_string();
        let v = server.run(&["call", "apps-lookup", &pid, "--json"]).json();
        let me = &items(&v)[0];
        assert_eq!(me["status"], "KNOWN", "{me}");
        assert_eq!(me["comm"], "netipc");
        assert_eq!(me["ppid"], std::process::id(), "its parent is this test");
    }
    stop_cleanly(server);
}

#[test]
fn increment_and_string_reverse() {
    let inc = Server::start("increment", &["--service", "inc"]);
    assert_eq!(
        inc.run(&["call", "increment", "41", "--service", "inc"])
            .ok(),
        "42\n"
    );
    let v = inc
        .run(&["call", "increment", "7", "--service", "inc", "--json"])
        .json();
    assert_eq!(v["result"], 8);
    // A service name that says nothing: probe finds the method by asking.
    let probe = inc.run(&["probe", "inc"]).ok();
    assert!(probe.contains("answers INCREMENT (increment)"), "{probe}");
    stop_cleanly(inc);

    let rev = Server::start("string-reverse", &[]);
    assert_eq!(
        rev.run(&["call", "string-reverse", "héllo wörld"]).ok(),
        "dlröw olléh\n"
    );
    stop_cleanly(rev);
}

#[test]
fn no_provider_says_how_to_start_one() {
    let empty = tempfile::tempdir().expect("tempdir");
    let dir = support::dir_arg(empty.path());
    let err = run(&["call", "cgroups-snapshot", "--run-dir", &dir]).fails(3);
    assert!(
        err.contains("no provider of service \"cgroups-snapshot\" is running"),
        "{err}"
    );
    assert!(
        err.contains(&format!("netipc serve cgroups-snapshot --run-dir {dir}")),
        "{err}"
    );
    let err = run(&[
        "call",
        "apps-lookup",
        "1",
        "--run-dir",
        &dir,
        "--service",
        "mine",
    ])
    .fails(3);
    assert!(err.contains("--service mine"), "{err}");
    let err = run(&["probe", "apps-lookup", "--run-dir", &dir]).fails(3);
    assert!(err.contains("netipc serve apps-lookup"), "{err}");
    let err = run(&["probe", "whatever", "--run-dir", &dir]).fails(3);
    assert!(err.contains("netipc serve SERVICE-KIND"), "{err}");
}

/// `call` (through the typed client) and `probe` (through a transport
/// session) name the same cause.
#[test]
fn call_and_probe_name_the_same_cause() {
    let base = tempfile::tempdir().expect("tempdir");
    let missing = support::dir_arg(&base.path().join("not-created"));
    let call = run(&["call", "increment", "1", "--run-dir", &missing]).fails(3);
    let probe = run(&["probe", "increment", "--run-dir", &missing]).fails(3);
    let cause = format!("the run directory {missing} does not exist");
    assert!(call.contains(&cause), "{call}");
    assert!(probe.contains(&cause), "{probe}");
    if !cfg!(target_os = "linux") {
        // Windows hashes the run directory into the pipe name: only the
        // hash input's limit (511 bytes) applies, checked by the library's
        // tests.
        return;
    }
    let long = format!("{}/{}", support::dir_arg(base.path()), "d".repeat(200));
    let call = run(&["call", "increment", "1", "--run-dir", &long]).fails(2);
    let probe = run(&["probe", "increment", "--run-dir", &long]).fails(2);
    assert!(call.contains("use a shorter run directory"), "{call}");
    assert!(probe.contains("use a shorter run directory"), "{probe}");
}

#[test]
fn bad_arguments() {
    let err = run(&["call", "apps-lookup", "12", "abc"]).fails(2);
    assert!(err.contains("`abc` is not a PID"), "{err}");
    let err = run(&["call", "increment"]).fails(2);
    assert!(err.contains("exactly one number"), "{err}");
    let err = run(&["call", "cgroups-snapshot", "extra"]).fails(2);
    assert!(err.contains("takes no arguments"), "{err}");
    let err = run(&["call", "cgroups-lookup"]).fails(2);
    assert!(err.contains("needs one or more cgroup PATHs"), "{err}");
    let err = run(&["call", "no-such-kind"]).fails(2);
    assert!(err.contains("invalid value 'no-such-kind'"), "{err}");
    let err = run(&["serve", "increment", "--service", "bad/name"]).fails(2);
    assert!(err.contains("invalid service name"), "{err}");
    let err = run(&["call", "increment", "1", "--auth-token", "zz"]).fails(2);
    assert!(err.contains("not a 64-bit number"), "{err}");
    let err = run(&["probe", "x", "--count", "0"]).fails(2);
    assert!(err.contains("--count"), "{err}");
}

#[test]
fn auth_token_mismatch() {
    let server = Server::start("increment", &["--auth-token", "0x1234"]);
    let err = server.run(&["call", "increment", "1"]).fails(1);
    assert!(
        err.contains("refused the auth token: pass the provider's token with --auth-token"),
        "{err}"
    );
    let err = server
        .run(&["probe", "increment", "--auth-token", "99"])
        .fails(1);
    assert!(err.contains("refused the auth token"), "{err}");
    assert_eq!(
        server
            .run(&["call", "increment", "1", "--auth-token", "4660"])
            .ok(),
        "2\n"
    );
    stop_cleanly(server);
}

#[test]
fn wrong_kind_and_taken_name() {
    let server = Server::start("increment", &["--service", "svc"]);
    let err = server
        .run(&["call", "string-reverse", "x", "--service", "svc"])
        .fails(1);
    assert!(
        err.contains("does not answer string-reverse requests (UNSUPPORTED)"),
        "{err}"
    );
    let err = server
        .run(&["probe", "svc", "--kind", "apps-lookup"])
        .fails(1);
    assert!(
        err.contains("does not answer apps-lookup requests"),
        "{err}"
    );
    // A second provider of the same service is refused.
    let err = server
        .run(&["serve", "increment", "--service", "svc"])
        .fails(1);
    assert!(
        err.contains("another provider already serves \"svc\""),
        "{err}"
    );
    stop_cleanly(server);
}

#[test]
fn serve_removes_the_run_dir_it_created() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("fresh");
    let dir_s = support::dir_arg(&dir);
    let server = Server::start_at(dir_s.clone(), None, "increment", &[], true);
    if !cfg!(windows) {
        assert!(dir.join("increment.sock").exists());
    }
    assert_eq!(server.run(&["call", "increment", "1"]).ok(), "2\n");
    let stopped = server.stop();
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert!(
        !dir.exists(),
        "{} was created by serve and should be gone",
        dir.display()
    );
}

#[cfg(unix)]
#[test]
fn sigint_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start_at(
        support::dir_arg(dir.path()),
        None,
        "cgroups-snapshot",
        &["--synthetic", "3"],
        false,
    );
    assert!(
        server.banner_text().contains("Press Ctrl-C to stop."),
        "{}",
        server.banner_text()
    );
    // A client session is open while the signal comes.
    assert!(
        server
            .run(&["call", "cgroups-snapshot"])
            .ok()
            .contains("3 items")
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let stopped = server.stopped();
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert!(
        stopped.output.contains("interrupted: stopped"),
        "{stopped:?}"
    );
    assert!(stopped.leftovers.is_empty(), "{stopped:?}");
}

#[test]
fn a_provider_at_capacity_is_reported_as_such() {
    let server = Server::start("increment", &["--max-sessions", "1"]);
    let mut held = netipc::service::IncrementClient::new(
        &server.run_dir(),
        "increment",
        &netipc::service::ClientConfig::default(),
    );
    let _ = held.connect();
    assert_eq!(held.call(1).expect("the first consumer is served"), 2);
    let err = server.run(&["call", "increment", "1"]).fails(1);
    assert!(
        err.contains("is at capacity (1 sessions): try again later"),
        "{err}"
    );
    let err = server.run(&["probe", "increment"]).fails(1);
    assert!(err.contains("at capacity (1 sessions)"), "{err}");
    drop(held);
    stop_cleanly(server);
}

#[cfg(unix)]
#[test]
fn sigint_stops_promptly_with_many_sessions_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start_at(support::dir_arg(dir.path()), None, "increment", &[], false);
    let config = netipc::service::ClientConfig::default();
    let mut open: Vec<_> = (0..300)
        .map(|_| {
            let mut c =
                netipc::service::IncrementClient::new(&server.run_dir(), "increment", &config);
            let _ = c.connect();
            c
        })
        .collect();
    for c in &mut open {
        assert_eq!(c.call(41).expect("served"), 42);
    }
    let started = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let stopped = server.stopped();
    let took = started.elapsed();
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert!(stopped.leftovers.is_empty(), "{stopped:?}");
    assert!(
        took < std::time::Duration::from_secs(3),
        "Ctrl-C took {took:?}"
    );
}

#[test]
fn profiles_are_named_sets() {
    for args in [
        &["serve", "increment", "--profiles", "baseline|shm"][..],
        &["call", "increment", "1", "--profiles", "shm-futex"],
        &["probe", "increment", "--profiles", ""],
    ] {
        let err = run(args).fails(2);
        assert!(
            err.contains("is not a transport profile"),
            "{args:?}: {err}"
        );
    }
    let err = run(&["probe", "increment", "--profiles", "baseline", "--no-shm"]).fails(2);
    assert!(err.contains("cannot be used with"), "{err}");

    // A provider that offers the baseline alone: a consumer that offers
    // shared memory only finds no common profile, one that offers both
    // gets the baseline.
    let server = Server::start("increment", &["--service", "inc", "--profiles", "BASELINE"]);
    let v = server
        .run(&[
            "probe",
            "inc",
            "--json",
            "--profiles",
            "baseline,shm-hybrid",
            "--count",
            "2",
        ])
        .json();
    assert_eq!(v["profile_name"], "baseline");
    let out = server.run(&[
        "call",
        "increment",
        "41",
        "--service",
        "inc",
        "--profiles",
        "shm-hybrid",
    ]);
    assert_ne!(out.code, 0, "no common profile");
    stop_cleanly(server);
}
