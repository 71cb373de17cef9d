//! `netipc serve KIND --data FILE` end to end: what `netipc call --json`
//! prints serves again unchanged, a changed file is served after a reload
//! (with a new generation), a file that does not parse keeps the previous
//! data and is reported with its line and column, and a bad file at start
//! stops the provider with a message naming the file and the line.

#[path = "live/support.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{RUN_LIMIT, Server, run};

/// Writes `value` to `path` as a whole (a temporary file renamed over it,
/// so the provider never reads half of it).
fn write_json(path: &Path, value: &Value) {
    write_text(path, &serde_json::to_string_pretty(value).expect("json"));
}

fn write_text(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the data file");
    std::fs::rename(&tmp, path).expect("rename the data file");
}

fn arg(path: &Path) -> String {
    path.to_str().expect("UTF-8 temp dir").to_owned()
}

/// Calls until `done` accepts the JSON answer (a reload takes one poll of
/// 250 ms, more under load or wine); returns it.
fn call_until(server: &Server, args: &[&str], done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        let v = server.run(args).json();
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "watchdog: never got it: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn call_json_serves_again_unchanged() {
    let files = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, &[&str], &[&str]); 3] = [
        ("cgroups-snapshot", &["--synthetic", "7"], &[]),
        (
            "cgroups-lookup",
            &["--synthetic", "5"],
            &[
                "/sys/fs/cgroup/system.slice/synthetic-1.service",
                "/sys/fs/cgroup/gone.scope",
                "relative",
            ],
        ),
        ("apps-lookup", &["--synthetic", "5"], &["1", "3", "99"]),
    ];
    for (kind, source_args, keys) in cases {
        let source = Server::start(kind, source_args);
        let mut call = vec!["call", kind];
        call.extend(keys);
        call.push("--json");
        let original = source.run(&call).json();
        source.stop();

        let file = files.path().join(format!("{kind}.json"));
        write_json(&file, &original);
        let copy = Server::start(kind, &["--data", &arg(&file)]);
        assert!(
            copy.banner_text()
                .contains(&format!("from {} (generation 1)", file.display())),
            "{}",
            copy.banner_text()
        );
        assert_eq!(copy.run(&call).json(), original, "{kind}");
        let stopped = copy.stop();
        assert_eq!(stopped.code, 0, "{stopped:?}");
        assert!(stopped.leftovers.is_empty(), "{stopped:?}");
    }
}

#[test]
fn a_changed_file_is_served_and_a_bad_one_keeps_the_old_data() {
    let files = tempfile::tempdir().expect("tempdir");
    let file = files.path().join("apps.json");
    write_json(
        &file,
        &json!({"items": [{"pid": 7, "comm": "first", "ppid": 1, "uid": 1000}]}),
    );
    let server = Server::start("apps-lookup", &["--data", &arg(&file)]);
    let v = server
        .run(&["call", "apps-lookup", "7", "8", "--json"])
        .json();
    assert_eq!(v["generation"], 1);
    assert_eq!(v["items"][0]["comm"], "first");
    assert_eq!(v["items"][0]["cgroup_status"], "HOST_ROOT");
    assert_eq!(v["items"][1]["status"], "UNKNOWN", "not listed");

    // A new file: new data, the next generation.
    write_json(
        &file,
        &json!({"items": [
            {"pid": 7, "comm": "second", "cgroup_path": "/sys/fs/cgroup/a.scope",
             "cgroup_name": "a", "orchestrator_name": "docker", "labels": {"k": "v"}},
            {"pid": 8, "comm": "new"}
        ]}),
    );
    let v = call_until(&server, &["call", "apps-lookup", "7", "8", "--json"], |v| {
        v["items"][0]["comm"] == "second"
    });
    assert_eq!(v["generation"], 2, "{v}");
    assert_eq!(v["items"][0]["cgroup_status"], "KNOWN");
    assert_eq!(v["items"][0]["orchestrator"], 2);
    assert_eq!(v["items"][0]["labels"]["k"], "v");
    assert_eq!(v["items"][1]["comm"], "new");
    assert!(
        server
            .wait_line("reloaded", RUN_LIMIT)
            .contains("2 processes, generation 2")
    );

    // A file that does not parse: reported, the old data stays.
    write_text(&file, "{\"items\": [\n  {\"pid\": 7, \"comm\": 42}\n]}\n");
    let err = server.wait_stderr("cannot reload", RUN_LIMIT);
    assert!(
        err.contains(&format!("cannot reload {}", file.display())),
        "{err}"
    );
    assert!(err.contains("line 2, column"), "{err}");
    assert!(err.contains("expected a string"), "{err}");
    assert!(
        err.contains("still serving generation 2 (2 processes)"),
        "{err}"
    );
    let v = server.run(&["call", "apps-lookup", "7", "--json"]).json();
    assert_eq!(
        (v["generation"].as_u64(), v["items"][0]["comm"].as_str()),
        (Some(2), Some("second"))
    );

    // Fixed again; a generation in the file wins when it is higher.
    write_json(
        &file,
        &json!({"generation": 10, "items": [{"pid": 7, "comm": "third"}]}),
    );
    let v = call_until(&server, &["call", "apps-lookup", "7", "--json"], |v| {
        v["items"][0]["comm"] == "third"
    });
    assert_eq!(v["generation"], 10);
    let stopped = server.stop();
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

#[test]
fn a_reloaded_snapshot_reaches_call_and_cache() {
    let files = tempfile::tempdir().expect("tempdir");
    let file = files.path().join("snapshot.json");
    write_json(
        &file,
        &json!({"generation": 4, "systemd_enabled": 1,
                "items": [{"name": "ssh", "path": "/sys/fs/cgroup/system.slice/ssh.service"}]}),
    );
    let server = Server::start("cgroups-snapshot", &["--data", &arg(&file)]);
    let v = server.run(&["call", "cgroups-snapshot", "--json"]).json();
    assert_eq!(v["generation"], 4);
    assert_eq!(v["items"][0]["hash"], support::simple_hash(b"ssh"));
    assert_eq!(v["items"][0]["enabled"], 1);
    write_json(
        &file,
        &json!({"generation": 4, "items": [
            {"name": "ssh", "path": "/sys/fs/cgroup/system.slice/ssh.service", "enabled": 0},
            {"name": "web", "path": "/sys/fs/cgroup/web.scope", "hash": 1234}
        ]}),
    );
    let v = call_until(&server, &["call", "cgroups-snapshot", "--json"], |v| {
        v["items"].as_array().is_some_and(|i| i.len() == 2)
    });
    assert_eq!(v["generation"], 5, "the file's 4 is not newer: {v}");
    assert_eq!(v["systemd_enabled"], 0);
    assert_eq!(v["items"][1]["hash"], 1234, "as given");
    let cache = server
        .run(&["cache", "--json", "--name", "ssh", "--hash", "1234"])
        .json();
    assert_eq!(cache["status"]["generation"], 5);
    assert_eq!(cache["items"][0]["enabled"], 0);
    assert_eq!(cache["items"][1]["name"], "web");
    server.stop();
}

#[test]
fn a_bad_file_at_start_names_the_file_and_the_line() {
    let files = tempfile::tempdir().expect("tempdir");
    let file = files.path().join("lookup.json");
    let run_dir = files.path().join("run");
    write_text(
        &file,
        "{\"items\": [\n  {\"path\": \"/a\"},\n  {\"path\": \"/a\", \"status\": \"KNOWN\"}\n]}\n",
    );
    let serve = |kind: &str| {
        run(&[
            "serve",
            kind,
            "--data",
            &arg(&file),
            "--run-dir",
            &arg(&run_dir),
        ])
    };
    let err = serve("cgroups-lookup").fails(1);
    assert!(
        err.contains(&format!("cannot serve {}: line 3, column", file.display())),
        "{err}"
    );
    assert!(
        err.contains("item 1 repeats the path \"/a\" of item 0"),
        "{err}"
    );
    assert!(!run_dir.exists(), "nothing was created");

    // Valid data of another kind is named as such.
    write_text(&file, r#"{"items": [{"pid": 1, "comm": "init"}]}"#);
    let err = serve("cgroups-snapshot").fails(1);
    assert!(err.contains("line 1, column"), "{err}");
    assert!(err.contains("unknown field `pid`"), "{err}");
    assert!(
        err.contains(
            "the file is apps-lookup data: serve it with `netipc serve apps-lookup --data FILE`"
        ),
        "{err}"
    );

    let err = serve("increment").fails(2);
    assert!(err.contains("--data serves cgroups-snapshot"), "{err}");
    let err = run(&[
        "serve",
        "apps-lookup",
        "--data",
        &arg(&files.path().join("missing.json")),
    ])
    .fails(1);
    assert!(
        err.contains("cannot read") && err.contains("missing.json"),
        "{err}"
    );
    let err = run(&[
        "serve",
        "apps-lookup",
        "--data",
        &arg(&file),
        "--synthetic",
        "3",
    ])
    .fails(2);
    assert!(err.contains("cannot be used with"), "{err}");
}
