//! `netipc stress` runs as a process with small rows (a few consumers,
//! short windows, few churn cycles): the JSON must have every field with
//! sane values. These check the tool, not the provider's capacity.
//!
//! Every child is killed by a watchdog after 60 s so a hung provider
//! cannot hang the test run.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const WATCHDOG: Duration = Duration::from_secs(60);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `netipc ARGS` (with `envs`) to completion, killing it after
/// [`WATCHDOG`].
fn run_with(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_netipc"))
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netipc");
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let code = wait(&mut child, args);
    Run {
        code,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn run(args: &[&str]) -> Run {
    run_with(args, &[])
}

fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Waits for `child`, killing it (and failing) after [`WATCHDOG`].
fn wait(child: &mut Child, what: &[&str]) -> i32 {
    let until = Instant::now() + WATCHDOG;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("netipc {what:?} still running after {WATCHDOG:?}: killed");
        }
        thread::sleep(Duration::from_millis(20));
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

fn u(r: &Value, path: &[&str]) -> u64 {
    let mut v = r;
    for key in path {
        v = &v[*key];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("{} is not a count in {r:#}", path.join(".")))
}

fn f(r: &Value, path: &[&str]) -> f64 {
    let mut v = r;
    for key in path {
        v = &v[*key];
    }
    v.as_f64()
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

#[test]
fn load_idle_and_churn_rows_in_json() {
    let r = run(&[
        "stress",
        "--quick",
        "--json",
        "--duration",
        "0.5",
        "--cycles",
        "40",
        "--scenario",
        "load-4-socket",
        "--scenario",
        "load-4-shm",
        "--scenario",
        "idle-3-shm",
        "--scenario",
        "churn-socket",
        "--scenario",
        "churn-shm",
    ]);
    assert_eq!(r.code, 0, "stderr: {}\nstdout: {}", r.stderr, r.stdout);
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(5), "{v:#}");
    assert_eq!(v["settings"]["duration_seconds"], 0.5);
    assert_eq!(v["settings"]["cycles"], 40);
    assert!(u(&v, &["machine", "logical_cores"]) >= 1);

    let socket = row(&v, "load-4-socket");
    check_load(socket, 4);
    assert_eq!(u(socket, &["shm_calls"]), 0, "{socket:#}");
    let shm = row(&v, "load-4-shm");
    check_load(shm, 4);
    assert!(u(shm, &["shm_calls"]) > 0, "{shm:#}");

    let idle = row(&v, "idle-3-shm");
    assert_eq!(idle["group"], "idle", "{idle:#}");
    assert_eq!(u(idle, &["sessions"]), 3, "{idle:#}");
    assert!(u(idle, &["served"]) >= 1, "{idle:#}");
    check_cpu(idle, &["provider", "cpu_percent_of_a_core"], false);
    for key in [
        "rss_bytes_before",
        "rss_bytes_open",
        "rss_bytes_after_close",
    ] {
        assert!(u(idle, &["provider", key]) > 0, "{idle:#}");
    }
    assert!(
        idle["provider"]["rss_bytes_per_served_session"].is_number(),
        "{idle:#}"
    );

    check_churn(row(&v, "churn-socket"), 40);
    check_churn(row(&v, "churn-shm"), 40);
}

#[test]
fn markdown_tables_and_list() {
    let r = run(&[
        "stress",
        "--duration",
        "0.2",
        "--cycles",
        "10",
        "--scenario",
        "load-2-socket",
        "--scenario",
        "churn-socket",
    ]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    for text in [
        "# netipc stress",
        "## Load: every consumer calls in a loop for 0.2 s",
        "| calls/s | p50 (µs) |",
        "| provider CPU (cores) | provider RSS (MiB) | stress CPU (cores) |",
        "| load-2-socket | 2 | socket | ",
        "## Churn: ",
        "| churn-socket | 10 | ",
    ] {
        assert!(r.stdout.contains(text), "{text:?} in\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("## Idle"), "{}", r.stdout);
    assert!(
        r.stderr.contains("row 1 of 2: load-2-socket"),
        "{}",
        r.stderr
    );

    let list = run(&["stress", "--list"]);
    assert_eq!(list.code, 0, "stderr: {}", list.stderr);
    for name in [
        "load-64-socket",
        "load-1000-shm",
        "idle-1000-socket",
        "idle-1000-shm",
        "churn-socket",
        "churn-shm",
    ] {
        assert!(
            list.stdout.contains(&format!("| {name} |")),
            "{}",
            list.stdout
        );
    }
}

#[test]
fn bad_scenario_names_are_refused() {
    let r = run(&["stress", "--scenario", "load-0-shm"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("load-<N>-<socket|shm>"), "{}", r.stderr);
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
    let r = run_with(
        &["stress", "--quick", "--scenario", "load-2-socket"],
        &[("TMPDIR", tmp)],
    );
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("netipc stress: error: scenario load-2-socket: bench-server"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("cannot listen"), "{}", r.stderr);
}
