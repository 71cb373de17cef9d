//! `netipc stress` runs as a process with small rows (a few consumers,
//! short windows, few churn cycles and departures): the JSON must have
//! every field with sane values. These check the tool, not the provider's
//! capacity. `bench-server`'s `stats` control line is checked here too,
//! as the stress rows read the provider's counters through it.
//!
//! A child that runs longer than the support module's limit fails its
//! test (and is killed, where the test holds it), so a hung provider
//! cannot hang the test run.

#[path = "live/markdown.rs"]
mod markdown;
#[path = "live/support.rs"]
mod support;

use std::io::Write;
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;

use serde_json::Value;
use support::{RUN_LIMIT, Run, netipc, run};

/// The counters of a managed server (`ServerStats`), as `bench-server`
/// reports them on its control channel.
const SERVER_STATS: [&str; 19] = [
    "sessions",
    "peak_sessions",
    "session_limit",
    "handshaking",
    "sessions_opened",
    "refused_at_capacity",
    "handshake_failures",
    "handshake_timeouts",
    "dropped_connections",
    "send_timeouts",
    "requests",
    "failed_requests",
    "handler_errors",
    "handler_panics",
    "auth_failures",
    "refused_identity",
    "protocol_errors",
    "bytes_received",
    "bytes_sent",
];

/// Runs `netipc ARGS` with `envs`, `input` on its stdin (then closed), to
/// completion; fails after [`RUN_LIMIT`] (the child is left to its own
/// watchdogs).
fn run_fed(args: &[&str], envs: &[(&str, &str)], input: &str) -> Run {
    let mut child = netipc()
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netipc");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    let (tx, done) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = done
        .recv_timeout(RUN_LIMIT)
        .unwrap_or_else(|_| panic!("netipc {args:?} still running after {RUN_LIMIT:?}"))
        .expect("wait for netipc");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn row<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["scenario"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {v:#}"))
}

fn at<'a>(r: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(r, |v, key| &v[*key])
}

fn u(r: &Value, path: &[&str]) -> u64 {
    at(r, path)
        .as_u64()
        .unwrap_or_else(|| panic!("{} is not a count in {r:#}", path.join(".")))
}

fn f(r: &Value, path: &[&str]) -> f64 {
    at(r, path)
        .as_f64()
        .unwrap_or_else(|| panic!("{} is not a number in {r:#}", path.join(".")))
}

/// CPU in cores: never negative. Windows counts process CPU time in
/// 15.6 ms ticks, so a short window may read 0 there; elsewhere a busy
/// provider reads more than 0.
fn check_cpu(r: &Value, path: &[&str], busy: bool) {
    let cpu = f(r, path);
    assert!(cpu >= 0.0, "{r:#}");
    if busy && !cfg!(windows) {
        assert!(cpu > 0.0, "{r:#}");
    }
}

/// Latency percentiles in ns: present and ordered.
fn check_latency(r: &Value, key: &str) {
    let p = |q: &str| u(r, &[key, q]);
    assert!(p("min") > 0, "{r:#}");
    assert!(p("min") <= p("p50"), "{r:#}");
    assert!(p("p50") <= p("p99"), "{r:#}");
    assert!(p("p99") <= p("max"), "{r:#}");
}

fn check_load(r: &Value, consumers: u64) {
    assert_eq!(r["group"], "load", "{r:#}");
    assert_eq!(u(r, &["consumers"]), consumers, "{r:#}");
    let calls = u(r, &["calls"]);
    assert!(calls > 0, "{r:#}");
    assert!(f(r, &["calls_per_second"]) > 0.0, "{r:#}");
    assert!(f(r, &["wall_seconds"]) > 0.0, "{r:#}");
    check_latency(r, "latency_ns");
    // The provider serves every consumer at once.
    assert_eq!(u(r, &["never_served"]), 0, "{r:#}");
    let (min, max) = (
        u(r, &["calls_per_consumer", "min"]),
        u(r, &["calls_per_consumer", "max"]),
    );
    assert!(min <= max && max <= calls, "{r:#}");
    if min == 0 {
        assert!(r["calls_per_consumer"]["max_over_min"].is_null(), "{r:#}");
    } else {
        assert!(
            f(r, &["calls_per_consumer", "max_over_min"]) >= 1.0,
            "{r:#}"
        );
    }
    u(r, &["failed_calls"]);
    assert!(r["failures"].is_array(), "{r:#}");
    check_cpu(r, &["provider", "cpu_cores"], true);
    check_cpu(r, &["stress_cpu_cores"], true);
    assert!(u(r, &["provider", "rss_bytes"]) > 0, "{r:#}");
    assert!(u(r, &["provider", "rss_bytes_before"]) > 0, "{r:#}");
    assert_eq!(u(r, &["stuck_consumers"]), 0, "{r:#}");
}

fn check_churn(r: &Value, cycles: u64) {
    assert_eq!(r["group"], "churn", "{r:#}");
    assert_eq!(u(r, &["cycles"]), cycles, "{r:#}");
    assert_eq!(u(r, &["cycles_done"]), cycles, "{r:#}");
    assert_eq!(r["watchdog_fired"], false, "{r:#}");
    // Sessions come and go without a failure.
    assert_eq!(u(r, &["failed_cycles"]), 0, "{r:#}");
    assert!(
        r["failures"].as_array().expect("failures").is_empty(),
        "{r:#}"
    );
    assert!(f(r, &["cycles_per_second"]) > 0.0, "{r:#}");
    check_latency(r, "cycle_time_ns");
    check_cpu(r, &["provider", "cpu_cores"], false);
    assert!(u(r, &["provider", "rss_bytes"]) > 0, "{r:#}");
}

/// Idle and depart rows: the held sessions were all served.
fn check_held(r: &Value, sessions: u64) {
    assert_eq!(u(r, &["sessions"]), sessions, "{r:#}");
    assert_eq!(u(r, &["served"]), sessions, "{r:#}");
    assert_eq!(u(r, &["stuck_consumers"]), 0, "{r:#}");
    assert!(f(r, &["setup_seconds"]) > 0.0, "{r:#}");
    assert!(r["failures_before_served"].is_array(), "{r:#}");
}

/// The provider's counters: every field, no session left, at least
/// `opened` sessions opened, none refused or failed.
fn check_provider_stats(r: &Value, opened: u64) {
    for key in SERVER_STATS {
        u(r, &["provider_stats", key]);
    }
    let stat = |key: &str| u(r, &["provider_stats", key]);
    assert_eq!(stat("sessions"), 0, "{r:#}");
    assert!(stat("sessions_opened") >= opened, "{r:#}");
    assert!(stat("peak_sessions") >= 1, "{r:#}");
    assert!(stat("session_limit") >= stat("peak_sessions"), "{r:#}");
    assert_eq!(stat("refused_at_capacity"), 0, "{r:#}");
    assert_eq!(stat("handshake_failures"), 0, "{r:#}");
}

fn check_idle(r: &Value, sessions: u64) {
    assert_eq!(r["group"], "idle", "{r:#}");
    check_held(r, sessions);
    check_cpu(r, &["provider", "cpu_percent_of_a_core"], false);
    for key in [
        "rss_bytes_before",
        "rss_bytes_open",
        "rss_bytes_after_close",
    ] {
        assert!(u(r, &["provider", key]) > 0, "{r:#}");
    }
    assert!(
        r["provider"]["rss_bytes_per_served_session"].is_number(),
        "{r:#}"
    );
    // Released, within the timeout, after the last close.
    let released = f(r, &["released_after_seconds"]);
    assert!((0.0..10.0).contains(&released), "{r:#}");
    let after_last = f(r, &["released_after_last_close_seconds"]);
    assert!(after_last >= 0.0 && after_last <= released, "{r:#}");
    check_provider_stats(r, sessions);
}

fn check_depart(r: &Value, sessions: u64, departures: u64, shm: bool) {
    assert_eq!(r["group"], "depart", "{r:#}");
    check_held(r, sessions);
    assert_eq!(u(r, &["departures"]), departures, "{r:#}");
    assert_eq!(u(r, &["departures_done"]), departures, "{r:#}");
    assert_eq!(u(r, &["departures_served"]), departures, "{r:#}");
    assert_eq!(u(r, &["departures_not_released"]), 0, "{r:#}");
    let on_shm = if shm { departures } else { 0 };
    assert_eq!(u(r, &["departures_on_shm"]), on_shm, "{r:#}");
    assert_eq!(u(r, &["served_on_shm"]), if shm { sessions } else { 0 });
    assert_eq!(r["watchdog_fired"], false, "{r:#}");
    assert!(
        r["failures"].as_array().expect("failures").is_empty(),
        "{r:#}"
    );
    check_latency(r, "release_ns");
    check_latency(r, "consumer_close_ns");
    check_latency(r, "stats_round_trip_ns");
    // Each departure is noticed well within the 2 s timeout, and no
    // sooner than the consumer's own close.
    assert!(u(r, &["release_ns", "max"]) < 2_000_000_000, "{r:#}");
    assert!(
        u(r, &["release_ns", "min"]) >= u(r, &["consumer_close_ns", "min"]),
        "{r:#}"
    );
    check_provider_stats(r, sessions + departures);
}

#[test]
fn every_group_in_json() {
    let r = run(&[
        "stress",
        "--quick",
        "--json",
        "--duration",
        "0.5",
        "--cycles",
        "40",
        "--departures",
        "20",
        "--scenario",
        "load-4-socket",
        "--scenario",
        "load-4-shm",
        "--scenario",
        "idle-3-shm",
        "--scenario",
        "depart-3-shm",
        "--scenario",
        "depart-2-socket",
        "--scenario",
        "churn-socket",
        "--scenario",
        "churn-shm",
    ]);
    let v = r.json();
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(7), "{v:#}");
    assert_eq!(v["settings"]["duration_seconds"], 0.5);
    assert_eq!(v["settings"]["cycles"], 40);
    assert_eq!(v["settings"]["departures"], 20);
    assert!(u(&v, &["machine", "logical_cores"]) >= 1);

    let socket = row(&v, "load-4-socket");
    check_load(socket, 4);
    assert_eq!(u(socket, &["shm_calls"]), 0, "{socket:#}");
    let shm = row(&v, "load-4-shm");
    check_load(shm, 4);
    assert!(u(shm, &["shm_calls"]) > 0, "{shm:#}");

    check_idle(row(&v, "idle-3-shm"), 3);
    check_depart(row(&v, "depart-3-shm"), 3, 20, true);
    check_depart(row(&v, "depart-2-socket"), 2, 20, false);

    for name in ["churn-socket", "churn-shm"] {
        let churn = row(&v, name);
        check_churn(churn, 40);
        check_provider_stats(churn, 40);
    }
}

#[test]
fn markdown_tables_and_list() {
    let md = run(&[
        "stress",
        "--duration",
        "0.2",
        "--cycles",
        "10",
        "--departures",
        "5",
        "--scenario",
        "load-2-socket",
        "--scenario",
        "idle-2-socket",
        "--scenario",
        "depart-2-socket",
        "--scenario",
        "churn-socket",
    ]);
    let stderr = md.stderr.clone();
    let out = md.ok();
    for text in [
        "# netipc stress",
        "## Load: every consumer calls in a loop for 0.2 s",
        "## Idle: sessions held open, no calls, for 0.2 s",
        "## Depart: ",
        "stdin and stdout",
        "## Churn: ",
    ] {
        assert!(out.contains(text), "{text:?} in\n{out}");
    }
    for columns in [
        &["calls/s", "p50 (µs)"][..],
        &[
            "provider CPU (cores)",
            "provider RSS (MiB)",
            "stress CPU (cores)",
        ],
        &[
            "after close (MiB)",
            "released after (ms)",
            "after the last close (ms)",
            "sessions opened",
            "refused at capacity",
        ],
        &[
            "departures",
            "released p50 (µs)",
            "p99 (µs)",
            "max (µs)",
            "not released",
        ],
        &["resolution: stats round trip p50 (µs)"],
        &[
            "sessions opened",
            "refused at capacity",
            "handshake failures",
        ],
    ] {
        markdown::assert_columns(&out, columns);
    }
    markdown::assert_row_starts(&out, &["load-2-socket", "2", "socket"]);
    markdown::assert_row_starts(&out, &["idle-2-socket", "2", "socket", "2"]);
    markdown::assert_row_starts(&out, &["depart-2-socket", "2", "socket", "5"]);
    markdown::assert_row_starts(&out, &["churn-socket", "10"]);
    assert_eq!(markdown::alignment_rows(&out).len(), 4, "{out}");
    assert!(stderr.contains("row 1 of 4: load-2-socket"), "{stderr}");

    let list = run(&["stress", "--list"]).ok();
    for name in [
        "load-64-socket",
        "load-1000-shm",
        "idle-1000-socket",
        "idle-1000-shm",
        "depart-1000-socket",
        "depart-1000-shm",
        "churn-socket",
        "churn-shm",
    ] {
        markdown::row(&list, name);
    }
}

/// `bench-server` answers `stats` with every counter of its managed
/// server, and with an error where it runs none.
#[test]
fn bench_server_reports_its_statistics() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = support::dir_arg(dir.path());
    let fed = |scenario: &str| {
        let args = ["bench-server", "--scenario", scenario, "--run-dir", &dir];
        let out = run_fed(&args, &[], "stats\n").ok();
        let lines: Vec<String> = out.lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[0], "ready", "{out}");
        let stopped: Value = serde_json::from_str(&lines[2]).expect("stop line");
        assert_eq!(stopped["event"], "stopped", "{out}");
        let stats: Value = serde_json::from_str(&lines[1]).expect("stats line");
        assert_eq!(stats["event"], "stats", "{out}");
        stats
    };
    let stats = fed("l2-shm-increment");
    for key in SERVER_STATS {
        u(&stats, &[key]);
    }
    assert_eq!(u(&stats, &["sessions"]), 0, "{stats}");
    assert!(u(&stats, &["session_limit"]) > 0, "{stats}");
    assert!(stats["error"].is_null(), "{stats}");

    let none = fed("uds-pingpong");
    let error = none["error"].as_str().expect("error");
    assert!(error.contains("does not run a managed server"), "{none}");
    assert!(none["sessions"].is_null(), "{none}");
}

#[test]
fn bad_scenario_names_are_refused() {
    let stderr = run(&["stress", "--scenario", "load-0-shm"]).fails(2);
    assert!(stderr.contains("load-<N>-<socket|shm>"), "{stderr}");
    assert!(stderr.contains("depart-<N>-<socket|shm>"), "{stderr}");
}

/// A provider that cannot listen (its socket path would be longer than a
/// Unix socket address allows) fails the command with the provider's
/// reason. Named pipes have no such limit, hence Unix only.
#[cfg(unix)]
#[test]
fn a_provider_that_cannot_start_fails_the_command() {
    let base = tempfile::tempdir().expect("temporary directory");
    let deep = base.path().join("d".repeat(120));
    std::fs::create_dir(&deep).expect("deep directory");
    let tmp = deep.to_str().expect("UTF-8 path");
    let args = ["stress", "--quick", "--scenario", "load-2-socket"];
    let stderr = run_fed(&args, &[("TMPDIR", tmp)], "").fails(1);
    assert!(
        stderr.contains("netipc stress: error: scenario load-2-socket: bench-server"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot listen"), "{stderr}");
}
