//! `netipc bench`, `bench-server` and `bench-client` run as processes with
//! very short durations: the rows must be there, plausible and verified,
//! and the roles must work alone. These check the engine, not the speed.
//!
//! Every child is killed by a watchdog after 60 s so a hung server cannot
//! hang the test run.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "live/markdown.rs"]
mod markdown;

const WATCHDOG: Duration = Duration::from_secs(60);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn netipc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netipc"))
}

/// Runs `netipc ARGS` to completion, killing it after [`WATCHDOG`].
fn run(args: &[&str]) -> Run {
    let mut child = netipc()
        .args(args)
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

fn json_of(r: &Run) -> Value {
    assert_eq!(r.code, 0, "stderr: {}\nstdout: {}", r.stderr, r.stdout);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn rows(v: &Value) -> &Vec<Value> {
    v["rows"].as_array().expect("rows")
}

fn row<'a>(v: &'a Value, name: &str) -> &'a Value {
    rows(v)
        .iter()
        .find(|r| r["scenario"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {v:#}"))
}

/// A measured row: answers counted, rates positive, percentiles ordered.
fn check_row(r: &Value, items_per_rt: u64, depth: u64) {
    assert_eq!(r["items_per_round_trip"], items_per_rt, "{r:#}");
    assert_eq!(r["depth"], depth, "{r:#}");
    let rts = r["round_trips"].as_u64().expect("round_trips");
    assert!(rts > 0, "{r:#}");
    assert_eq!(r["items"].as_u64(), Some(rts * items_per_rt), "{r:#}");
    assert!(r["round_trips_per_second"].as_f64().unwrap() > 0.0, "{r:#}");
    assert!(r["items_per_second"].as_f64().unwrap() > 0.0, "{r:#}");
    let l = &r["latency_ns"];
    let p = |k: &str| l[k].as_u64().unwrap_or_else(|| panic!("{k} in {r:#}"));
    assert!(p("min") > 0, "{r:#}");
    assert!(p("min") <= p("p50"), "{r:#}");
    assert!(p("p50") <= p("p95"), "{r:#}");
    assert!(p("p95") <= p("p99"), "{r:#}");
    assert!(p("p99") <= p("p999"), "{r:#}");
    assert!(p("p999") <= p("max"), "{r:#}");
    check_cpu(r, "client");
}

fn check_ratio(r: &Value) {
    let ratio = &r["ratio"];
    assert!(ratio["items_per_second"].as_f64().unwrap() > 0.0, "{r:#}");
    assert!(
        ratio["round_trips_per_second"].as_f64().unwrap() > 0.0,
        "{r:#}"
    );
    assert!(ratio["p50_latency"].as_f64().unwrap() > 0.0, "{r:#}");
}

/// The CPU use of one side (`client` or `server`) is reported. Windows
/// counts process CPU time in 15.6 ms ticks, so a short run of a side that
/// sleeps between messages may read 0 there; elsewhere it is exact.
fn check_cpu(r: &Value, side: &str) {
    let cpu = r["cpu_cores"][side].as_f64().unwrap();
    if cfg!(windows) {
        assert!(cpu >= 0.0, "{r:#}");
    } else {
        assert!(cpu > 0.0, "{r:#}");
    }
}

#[test]
fn selected_scenario_runs_with_its_limit_row() {
    let args = ["bench", "--quick", "--duration", "0.3"];
    let v = json_of(&run(&[
        &args[..],
        &["--scenario", "uds-pingpong", "--json"],
    ]
    .concat()));
    let names: Vec<&str> = rows(&v)
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["raw-packet-pingpong", "uds-pingpong"]);
    let limit = row(&v, "raw-packet-pingpong");
    check_row(limit, 1, 1);
    assert_eq!(limit["is_limit"], true);
    assert!(limit["ratio"].is_null());
    let uds = row(&v, "uds-pingpong");
    check_row(uds, 1, 1);
    assert_eq!(uds["limit"], "raw-packet-pingpong");
    check_ratio(uds);
    for r in rows(&v) {
        assert_eq!(r["data_plane"], "socket", "{r:#}");
        assert_eq!(r["wait"], "poll", "{r:#}");
    }
    for r in rows(&v) {
        check_cpu(r, "server");
    }
    assert!(v["machine"]["logical_cores"].as_u64().unwrap() >= 1);
    assert_eq!(v["settings"]["duration_seconds"], 0.3);
}

#[test]
fn every_scenario_in_markdown_and_csv() {
    let md = run(&["bench", "--duration", "0.2", "--batch", "8"]);
    assert_eq!(md.code, 0, "stderr: {}", md.stderr);
    for name in [
        "raw-packet-pingpong",
        "uds-pingpong",
        "uds-batch-pingpong",
        "uds-pipeline",
        "uds-pipeline-batch",
        "uds-snapshot-1",
        "uds-snapshot-16",
        "uds-snapshot-1000",
        "l2-increment",
        "l2-snapshot-1",
        "l2-snapshot-16",
        "l2-snapshot-1000",
        "raw-shm-pingpong",
        "shm-pingpong",
        "shm-batch-pingpong",
        "shm-snapshot-1",
        "shm-snapshot-16",
        "shm-snapshot-1000",
        "l2-shm-increment",
        "l2-shm-snapshot-1",
        "l2-shm-snapshot-16",
        "l2-shm-snapshot-1000",
        "uds-cgroups-lookup-1",
        "uds-cgroups-lookup-64",
        "uds-apps-lookup-1",
        "uds-apps-lookup-64",
        "l2-cgroups-lookup-1",
        "l2-cgroups-lookup-64",
        "l2-apps-lookup-1",
        "l2-apps-lookup-64",
        "shm-cgroups-lookup-1",
        "shm-cgroups-lookup-64",
        "shm-apps-lookup-1",
        "shm-apps-lookup-64",
        "l2-shm-cgroups-lookup-1",
        "l2-shm-cgroups-lookup-64",
        "l2-shm-apps-lookup-1",
        "l2-shm-apps-lookup-64",
        "raw-hashmap-lookup",
        "l3-cache-lookup",
    ] {
        markdown::row(&md.stdout, name);
    }
    markdown::assert_row_starts(&md.stdout, &["l3-cache-lookup", "none", "1000", "1"]);
    // Numbers are right-aligned, also for a Markdown renderer.
    let alignment = markdown::alignment_rows(&md.stdout);
    assert_eq!(alignment.len(), 1, "{}", md.stdout);
    assert!(alignment[0].starts_with("|-") && alignment[0].contains("-:|"));
    assert!(md.stdout.contains("  - `none`: "), "{}", md.stdout);
    assert!(
        md.stdout.contains("are compared to raw-hashmap-lookup"),
        "{}",
        md.stdout
    );
    markdown::assert_columns(&md.stdout, &["items/s vs L1", "p50 vs L1"]);
    assert!(
        md.stdout
            .contains("- `l2-shm-increment` (vs `raw-shm-pingpong`, L1 `shm-pingpong`): "),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout
            .contains("Client allocations in the measured round trips: none."),
        "{}",
        md.stdout
    );
    markdown::assert_columns(&md.stdout, &["items/s", "p50", "p95"]);
    // Each row says how it waits, and the header explains both ways.
    markdown::assert_row_starts(&md.stdout, &["uds-pingpong", "poll"]);
    markdown::assert_row_starts(&md.stdout, &["shm-pingpong", "spin+sleep"]);
    assert!(md.stdout.contains("  - `poll`: "), "{}", md.stdout);
    assert!(md.stdout.contains("  - `spin+sleep`: "), "{}", md.stdout);
    assert!(
        md.stdout
            .contains("- `shm-batch-pingpong` (vs `raw-shm-pingpong`): "),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("machine:"), "{}", md.stdout);

    let csv = run(&[
        "bench",
        "--duration",
        "0.2",
        "--csv",
        "--scenario",
        "uds-pipeline-batch",
    ]);
    assert_eq!(csv.code, 0, "stderr: {}", csv.stderr);
    let lines: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", csv.stdout);
    assert!(lines[0].starts_with("scenario,limit,"), "{}", csv.stdout);
    assert!(lines[2].starts_with("uds-pipeline-batch,raw-packet-pingpong,"));
    assert!(
        lines[0].ends_with(",data_plane,wait,l1,ratio_l1_items_per_s,ratio_l1_round_trips_per_s,ratio_l1_p50,client_allocations,reconnects,exchanges_per_round_trip,batch,items_per_round_trip_min,items_per_round_trip_max,p90_ns,target_calls_per_s,client_cpu_us_per_call,pacing_cpu_us_per_call,server_cpu_us_per_call,behind_calls,waited_calls,slept_calls,overslept_calls,mean_oversleep_us,p50_from_due_ns,p99_from_due_ns,max_from_due_ns"),
        "{}",
        csv.stdout
    );
    // Then the p90 and, for a row at a fixed rate only, its numbers.
    assert!(
        lines[1].contains(",socket,poll,,,,,0,,,,1,1,") && lines[1].ends_with(",,,,,,,,,,,,"),
        "{}",
        csv.stdout
    );
    // The pipeline+batch row draws 2 to 1000 items per batch by default.
    let header: Vec<&str> = lines[0].split(',').collect();
    let cells: Vec<&str> = lines[2].split(',').collect();
    let cell = |name: &str| cells[header.iter().position(|h| *h == name).expect(name)];
    assert_eq!(cell("batch"), "2..1000", "{}", csv.stdout);
    assert_eq!(cell("depth"), "16", "{}", csv.stdout);
    let (min, max) = (
        cell("items_per_round_trip_min"),
        cell("items_per_round_trip_max"),
    );
    let (min, max): (u64, u64) = (min.parse().unwrap(), max.parse().unwrap());
    assert!(2 <= min && min <= max && max <= 1000, "{}", csv.stdout);
}

#[test]
fn shm_rows_are_compared_to_the_raw_shm_limit() {
    let v = json_of(&run(&[
        "bench",
        "--duration",
        "0.25",
        "--batch",
        "7",
        "--json",
        "--scenario",
        "shm-batch-pingpong",
        "--scenario",
        "shm-pingpong",
    ]));
    let names: Vec<&str> = rows(&v)
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["raw-shm-pingpong", "shm-pingpong", "shm-batch-pingpong"]
    );
    let limit = row(&v, "raw-shm-pingpong");
    check_row(limit, 1, 1);
    assert_eq!(limit["is_limit"], true);
    assert!(limit["ratio"].is_null());
    check_row(row(&v, "shm-pingpong"), 1, 1);
    check_row(row(&v, "shm-batch-pingpong"), 7, 1);
    for name in ["shm-pingpong", "shm-batch-pingpong"] {
        let r = row(&v, name);
        assert_eq!(r["limit"], "raw-shm-pingpong", "{r:#}");
        assert_eq!(r["is_limit"], false, "{r:#}");
        check_ratio(r);
    }
    for r in rows(&v) {
        assert_eq!(r["data_plane"], "shm", "{r:#}");
        assert_eq!(r["wait"], "spin+sleep", "{r:#}");
        check_cpu(r, "server");
    }
    assert!(
        v["settings"]["waiting"]["spin+sleep"]
            .as_str()
            .unwrap()
            .contains("futex"),
        "{v:#}"
    );

    // The limit row alone is its own plan.
    let v = json_of(&run(&[
        "bench",
        "--duration",
        "0.2",
        "--json",
        "--scenario",
        "raw-shm-pingpong",
    ]));
    assert_eq!(rows(&v).len(), 1);
    check_row(row(&v, "raw-shm-pingpong"), 1, 1);
}

/// Items per round trip of a row named `*-N` (1 for the others).
fn items_of(name: &str) -> u64 {
    name.rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// The L2 rows of `plane` ("socket" or "shm", whose rows are named
/// `l2-shm-*`) with their L1 and limit rows: every row is measured, every
/// L2 row is compared to both, measured in a steady state (no reconnection)
/// and without allocating, and counts its exchanges (at least one per
/// round trip).
fn check_l2_rows(plane: &str, limit: &str, l1: &[&str], l2: &[&str]) {
    let mut args = vec!["bench", "--quick", "--duration", "0.2", "--json"];
    for name in l2 {
        args.extend(["--scenario", *name]);
    }
    let v = json_of(&run(&args));
    let names: Vec<&str> = rows(&v)
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    // Each L2 row right after its L1 row.
    let mut want = vec![limit];
    for (l1, l2) in l1.iter().zip(l2) {
        want.extend([*l1, *l2]);
    }
    assert_eq!(names, want);
    for (l1, l2) in l1.iter().zip(l2) {
        let items = items_of(l2);
        assert_eq!(items, items_of(l1));
        check_row(row(&v, l1), items, 1);
        check_ratio(row(&v, l1));
        assert!(row(&v, l1)["l1_ratio"].is_null());
        assert!(row(&v, l1)["exchanges_per_round_trip"].is_null());
        let r = row(&v, l2);
        check_row(r, items, 1);
        check_ratio(r);
        assert_eq!(r["limit"], limit, "{r:#}");
        assert_eq!(r["l1"], *l1, "{r:#}");
        let x = &r["l1_ratio"];
        assert!(x["items_per_second"].as_f64().unwrap() > 0.0, "{r:#}");
        assert!(x["p50_latency"].as_f64().unwrap() > 0.0, "{r:#}");
        // The warm-up absorbed the response growth of the first calls.
        assert_eq!(r["reconnects"], 0, "{r:#}");
        let exchanges = r["exchanges_per_round_trip"].as_f64().unwrap();
        assert!(exchanges >= 1.0, "{r:#}");
        if !l2.contains("-lookup-") {
            assert!(exchanges < 1.001, "{r:#}");
        }
    }
    for r in rows(&v) {
        assert_eq!(r["data_plane"], plane, "{r:#}");
        assert_eq!(r["client_allocations"], 0, "{r:#}");
        check_cpu(r, "server");
    }
}

#[test]
fn l2_rows_are_compared_to_their_l1_rows() {
    check_l2_rows(
        "socket",
        "raw-packet-pingpong",
        &[
            "uds-pingpong",
            "uds-snapshot-1",
            "uds-snapshot-16",
            "uds-snapshot-1000",
        ],
        &[
            "l2-increment",
            "l2-snapshot-1",
            "l2-snapshot-16",
            "l2-snapshot-1000",
        ],
    );
}

#[test]
fn l2_shm_rows_are_compared_to_their_l1_rows() {
    check_l2_rows(
        "shm",
        "raw-shm-pingpong",
        &[
            "shm-pingpong",
            "shm-snapshot-1",
            "shm-snapshot-16",
            "shm-snapshot-1000",
        ],
        &[
            "l2-shm-increment",
            "l2-shm-snapshot-1",
            "l2-shm-snapshot-16",
            "l2-shm-snapshot-1000",
        ],
    );
}

#[test]
fn lookup_rows_are_compared_to_their_l1_rows() {
    check_l2_rows(
        "socket",
        "raw-packet-pingpong",
        &[
            "uds-cgroups-lookup-1",
            "uds-cgroups-lookup-64",
            "uds-apps-lookup-1",
            "uds-apps-lookup-64",
        ],
        &[
            "l2-cgroups-lookup-1",
            "l2-cgroups-lookup-64",
            "l2-apps-lookup-1",
            "l2-apps-lookup-64",
        ],
    );
}

#[test]
fn shm_lookup_rows_are_compared_to_their_l1_rows() {
    check_l2_rows(
        "shm",
        "raw-shm-pingpong",
        &[
            "shm-cgroups-lookup-1",
            "shm-cgroups-lookup-64",
            "shm-apps-lookup-1",
            "shm-apps-lookup-64",
        ],
        &[
            "l2-shm-cgroups-lookup-1",
            "l2-shm-cgroups-lookup-64",
            "l2-shm-apps-lookup-1",
            "l2-shm-apps-lookup-64",
        ],
    );
}

#[test]
fn cache_row_is_compared_to_a_hashmap() {
    let v = json_of(&run(&[
        "bench",
        "--quick",
        "--duration",
        "0.2",
        "--json",
        "--scenario",
        "l3-cache-lookup",
    ]));
    let names: Vec<&str> = rows(&v)
        .iter()
        .map(|r| r["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["raw-hashmap-lookup", "l3-cache-lookup"]);
    let limit = row(&v, "raw-hashmap-lookup");
    check_row(limit, 1000, 1);
    assert_eq!(limit["is_limit"], true);
    // It runs in the client alone.
    assert!(limit["cpu_cores"]["server"].is_null(), "{limit:#}");
    let cache = row(&v, "l3-cache-lookup");
    check_row(cache, 1000, 1);
    check_ratio(cache);
    assert_eq!(cache["limit"], "raw-hashmap-lookup");
    assert!(cache["summary"].as_str().unwrap().contains("no I/O"));
    for r in rows(&v) {
        assert_eq!(r["data_plane"], "memory", "{r:#}");
        assert_eq!(r["wait"], "none", "{r:#}");
        assert_eq!(r["client_allocations"], 0, "{r:#}");
        assert!(r["reconnects"].is_null(), "{r:#}");
        assert!(r["exchanges_per_round_trip"].is_null(), "{r:#}");
    }

    // The limit row runs without a server; the cache row needs one.
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    let client = |scenario: &str| {
        let base = ["bench-client", "--scenario", scenario, "--run-dir", dir];
        run(&[&base[..], &["--duration", "0.1", "--json"]].concat())
    };
    let v = json_of(&client("raw-hashmap-lookup"));
    check_row(row(&v, "raw-hashmap-lookup"), 1000, 1);
    let r = client("l3-cache-lookup");
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("provider is not running"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("netipc bench-server --scenario l3-cache-lookup"),
        "{}",
        r.stderr
    );
    let r = run(&[
        "bench-server",
        "--scenario",
        "raw-hashmap-lookup",
        "--run-dir",
        dir,
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("has no server"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn batch_and_pipeline_rows() {
    let v = json_of(&run(&[
        "bench",
        "--duration",
        "0.25",
        "--batch",
        "5",
        "--json",
        "--scenario",
        "uds-batch-pingpong",
        "--scenario",
        "uds-pipeline",
        "--scenario",
        "uds-pipeline-batch",
    ]));
    assert_eq!(rows(&v).len(), 4);
    check_row(row(&v, "uds-batch-pingpong"), 5, 1);
    check_row(row(&v, "uds-pipeline"), 1, 16);
    check_row(row(&v, "uds-pipeline-batch"), 5, 16);
    for name in ["uds-batch-pingpong", "uds-pipeline", "uds-pipeline-batch"] {
        check_ratio(row(&v, name));
    }
    // Every batch row says its --batch, the others none.
    assert_eq!(row(&v, "uds-batch-pingpong")["batch"], "5");
    assert_eq!(row(&v, "uds-pipeline-batch")["batch"], "5");
    assert!(row(&v, "uds-pipeline")["batch"].is_null());
    assert_eq!(v["settings"]["batch"], "5");
    assert_eq!(
        v["settings"]["validation"],
        "item for item against netipc's bench data"
    );
}

/// A row of random batches of `min..max` items: the setting is reported,
/// every round trip carried `min` to `max` items, the counts vary, and
/// the items and items/s count the items sent, not round trips times a
/// size.
fn check_random_row(r: &Value, (min, max): (u64, u64), depth: u64) {
    assert_eq!(r["batch"], format!("{min}..{max}"), "{r:#}");
    assert_eq!(r["depth"], depth, "{r:#}");
    let rts = r["round_trips"].as_u64().expect("round_trips");
    let items = r["items"].as_u64().expect("items");
    let lo = r["items_per_round_trip_min"].as_u64().expect("min");
    let hi = r["items_per_round_trip_max"].as_u64().expect("max");
    assert!(rts > 0, "{r:#}");
    assert!(min <= lo && lo <= hi && hi <= max, "{r:#}");
    assert!(lo * rts <= items && items <= hi * rts, "{r:#}");
    if rts >= 8 {
        assert!(lo < hi, "the counts do not vary: {r:#}");
    }
    let mean = r["items_per_round_trip"].as_f64().expect("mean");
    assert!((mean - items as f64 / rts as f64).abs() < 0.01, "{r:#}");
    let per_s = r["items_per_second"].as_f64().expect("items/s");
    let wall = r["wall_seconds"].as_f64().expect("wall");
    assert!(
        (per_s * wall - items as f64).abs() < 1e-6 * items as f64 + 1e-6,
        "{r:#}"
    );
}

#[test]
fn random_batches_in_every_batch_row() {
    let v = json_of(&run(&[
        "bench",
        "--duration",
        "0.25",
        "--batch",
        "2..1000",
        "--json",
        "--scenario",
        "uds-batch-pingpong",
        "--scenario",
        "uds-pipeline-batch",
        "--scenario",
        "shm-batch-pingpong",
    ]));
    check_random_row(row(&v, "uds-batch-pingpong"), (2, 1000), 1);
    check_random_row(row(&v, "uds-pipeline-batch"), (2, 1000), 16);
    check_random_row(row(&v, "shm-batch-pingpong"), (2, 1000), 1);
    assert_eq!(v["settings"]["batch"], "2..1000");

    // uds-pipeline-batch draws 2..1000 by default (the reference matrix's
    // pipeline+batch), and bench-client takes --batch too.
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    let server = Server::start("shm-pingpong", dir);
    let client = |scenario: &str, extra: &[&str]| {
        let base = ["bench-client", "--scenario", scenario, "--run-dir", dir];
        let opts = ["--service", "test-bench", "--duration", "0.2", "--json"];
        json_of(&run(&[&base[..], &opts[..], extra].concat()))
    };
    let v = client("uds-pipeline-batch", &[]);
    check_random_row(row(&v, "uds-pipeline-batch"), (2, 1000), 16);
    assert!(v["settings"]["batch"].is_null(), "{v:#}");
    let v = client("shm-batch-pingpong", &["--batch", "3..9"]);
    check_random_row(row(&v, "shm-batch-pingpong"), (3, 9), 1);
    // A range of one count is that count.
    let v = client("uds-batch-pingpong", &["--batch", "7..7"]);
    check_row(row(&v, "uds-batch-pingpong"), 7, 1);
    assert_eq!(row(&v, "uds-batch-pingpong")["batch"], "7");
    assert_eq!(server.stop()["event"], "stopped");
}

#[test]
fn bad_batch_values_are_refused() {
    for (value, says) in [
        ("0", "at least 1 item"),
        (
            "5..2",
            "the range 5..2 is empty: write the smaller count first (2..5)",
        ),
        (
            "1..100000",
            "100000 items per batch is above the cap of 65536",
        ),
        ("70000", "above the cap of 65536"),
        ("many", "write N or MIN..MAX"),
    ] {
        let client = [
            "bench-client",
            "--scenario",
            "uds-pipeline-batch",
            "--run-dir",
            ".",
        ];
        for command in [&["bench"][..], &client[..]] {
            let r = run(&[command, &["--batch", value]].concat());
            assert_eq!(r.code, 2, "{command:?} --batch {value}: {}", r.stderr);
            assert!(
                r.stderr.contains(says),
                "{command:?} --batch {value}: {}",
                r.stderr
            );
            assert!(r.stdout.is_empty(), "{}", r.stdout);
        }
    }
}

/// The fixed-rate numbers of a paced row: its target, a rate reached, the
/// CPU of each side per call (the server's when a probe could ask it) and
/// calls that were either behind or waited for.
fn check_paced(r: &Value, target: u64, server_known: bool) {
    let at = &r["rate"];
    assert_eq!(at["target_calls_per_second"], target, "{r:#}");
    let rts = r["round_trips"].as_u64().expect("round_trips");
    assert!(rts >= 1, "{r:#}");
    // Calls due within the 0.2 s measured, and the first one at least.
    assert!(rts <= target / 5 + 1, "{r:#}");
    let behind = at["behind_calls"].as_u64().unwrap();
    let waited = at["waited_calls"].as_u64().unwrap();
    assert_eq!(behind + waited, rts - 1, "{r:#}");
    assert!(at["slept_calls"].as_u64().unwrap() <= waited, "{r:#}");
    let client = at["client_cpu_us_per_call"].as_f64().unwrap();
    let pacing = at["pacing_cpu_us_per_call"].as_f64().unwrap();
    assert!(client >= 0.0 && pacing >= 0.0, "{r:#}");
    assert_eq!(at["server_cpu_us_per_call"].is_f64(), server_known, "{r:#}");
    let l = &r["latency_ns"];
    assert!(l["p50"].as_u64() <= l["p90"].as_u64(), "{r:#}");
    assert!(l["p90"].as_u64() <= l["p99"].as_u64(), "{r:#}");
    // From the due times: never shorter (a late wake-up only adds to it).
    let due = &at["latency_from_due_ns"];
    assert!(l["max"].as_u64() <= due["max"].as_u64(), "{r:#}");
    assert!(l["p50"].as_u64() <= due["p50"].as_u64(), "{r:#}");
}

#[test]
fn every_row_runs_at_each_rate() {
    let v = json_of(&run(&[
        "bench",
        "--rates",
        "200,1k",
        "--duration",
        "0.2",
        "--scenario",
        "l2-shm-increment",
        "--json",
    ]));
    let runs: Vec<(&str, u64)> = rows(&v)
        .iter()
        .map(|r| {
            let target = r["rate"]["target_calls_per_second"].as_u64();
            (r["scenario"].as_str().unwrap(), target.unwrap())
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("raw-shm-pingpong", 200),
            ("raw-shm-pingpong", 1000),
            ("shm-pingpong", 200),
            ("shm-pingpong", 1000),
            ("l2-shm-increment", 200),
            ("l2-shm-increment", 1000),
        ]
    );
    for r in rows(&v) {
        let target = r["rate"]["target_calls_per_second"].as_u64().unwrap();
        check_paced(r, target, true);
        // Nothing is compared at a fixed rate.
        assert!(r["ratio"].is_null() && r["l1_ratio"].is_null(), "{r:#}");
    }
    assert_eq!(v["settings"]["rates"], serde_json::json!([200, 1000]));

    let md = run(&[
        "bench",
        "--rate",
        "500",
        "--duration",
        "0.2",
        "--scenario",
        "uds-pingpong",
    ]);
    assert_eq!(md.code, 0, "stderr: {}", md.stderr);
    markdown::assert_columns(
        &md.stdout,
        &[
            "target",
            "calls/s",
            "client CPU",
            "pacing",
            "server CPU",
            "total CPU",
        ],
    );
    markdown::assert_row_starts(&md.stdout, &["uds-pingpong", "poll", "500"]);
    markdown::assert_row_starts(&md.stdout, &["raw-packet-pingpong", "poll", "500"]);
    assert!(md.stdout.contains("both at 500 calls/s"), "{}", md.stdout);
}

#[test]
fn bench_client_runs_at_a_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    let server = Server::start("shm-pingpong", dir);
    for (scenario, depth) in [("shm-pingpong", 1), ("uds-pipeline", 16)] {
        let v = json_of(&run(&[
            "bench-client",
            "--scenario",
            scenario,
            "--run-dir",
            dir,
            "--service",
            "test-bench",
            "--duration",
            "0.2",
            "--rate",
            "2000",
            "--json",
        ]));
        let r = row(&v, scenario);
        check_row(r, 1, depth);
        // A client alone cannot ask the server for its CPU.
        check_paced(r, 2000, false);
    }
    assert_eq!(server.stop()["event"], "stopped");
}

#[test]
fn bad_rates_are_refused() {
    for args in [
        &["bench", "--rate", "0"][..],
        &["bench", "--rates", "1000,fast"],
        &["bench", "--rate", "20M"],
        &[
            "bench-client",
            "--scenario",
            "uds-pingpong",
            "--run-dir",
            ".",
            "--rate",
            "x",
        ],
    ] {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("calls per second"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = run(&["bench", "--rate", "10", "--rates", "10,20"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    let r = run(&[
        "bench-client",
        "--scenario",
        "uds-pingpong",
        "--run-dir",
        ".",
        "--rates",
        "1",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// A `bench-server` child whose stdin is held open by the test.
struct Server {
    child: Child,
    lines: Receiver<String>,
}

impl Server {
    fn start(scenario: &str, dir: &str) -> Self {
        Self::start_with(scenario, dir, &[])
    }

    fn start_with(scenario: &str, dir: &str, extra: &[&str]) -> Self {
        let mut child = netipc()
            .args(["bench-server", "--scenario", scenario, "--run-dir", dir])
            .args(["--service", "test-bench"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bench-server");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self { child, lines };
        assert_eq!(server.line(), "ready");
        server
    }

    /// The next stdout line; the child is killed after [`WATCHDOG`].
    fn line(&mut self) -> String {
        match self.lines.recv_timeout(WATCHDOG) {
            Ok(line) => line.trim().to_owned(),
            Err(e) => {
                let _ = self.child.kill();
                panic!("bench-server said nothing ({e}): killed");
            }
        }
    }

    /// Asks for a CPU sample, closes stdin and returns the last report.
    fn stop(mut self) -> Value {
        let mut stdin = self.child.stdin.take().expect("stdin");
        writeln!(stdin, "cpu").expect("ask cpu");
        let sample: Value = serde_json::from_str(&self.line()).expect("cpu json");
        assert_eq!(sample["event"], "cpu");
        drop(stdin);
        let last: Value = serde_json::from_str(&self.line()).expect("stop json");
        assert_eq!(wait(&mut self.child, &["bench-server"]), 0);
        last
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn roles_run_separately() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    let client = |scenario: &str, extra: &[&str]| {
        let base = ["bench-client", "--scenario", scenario, "--run-dir", dir];
        let opts = ["--service", "test-bench", "--duration", "0.2", "--json"];
        json_of(&run(&[&base[..], &opts[..], extra].concat()))
    };

    let server = Server::start("uds-pingpong", dir);
    let v = client("uds-pingpong", &[]);
    assert_eq!(rows(&v).len(), 1);
    check_row(row(&v, "uds-pingpong"), 1, 1);
    let v = client("uds-pipeline-batch", &["--batch", "16"]);
    check_row(row(&v, "uds-pipeline-batch"), 16, 16);
    let v = client("uds-batch-pingpong", &["--batch", "3"]);
    check_row(row(&v, "uds-batch-pingpong"), 3, 1);
    assert!(row(&v, "uds-batch-pingpong")["ratio"].is_null());
    let last = server.stop();
    assert_eq!(last["event"], "stopped");
    assert!(last["cpu_seconds"].as_f64().unwrap() > 0.0, "{last}");

    let raw = Server::start("raw-packet-pingpong", dir);
    let v = client("raw-packet-pingpong", &[]);
    check_row(row(&v, "raw-packet-pingpong"), 1, 1);
    assert_eq!(raw.stop()["event"], "stopped");

    // An SHM server serves SHM sessions, and baseline ones to socket
    // clients.
    let shm = Server::start("shm-pingpong", dir);
    let v = client("shm-pingpong", &[]);
    check_row(row(&v, "shm-pingpong"), 1, 1);
    assert_eq!(row(&v, "shm-pingpong")["wait"], "spin+sleep");
    let v = client("shm-batch-pingpong", &["--batch", "3"]);
    check_row(row(&v, "shm-batch-pingpong"), 3, 1);
    let v = client("uds-pingpong", &[]);
    check_row(row(&v, "uds-pingpong"), 1, 1);
    assert_eq!(shm.stop()["event"], "stopped");

    // The raw SHM server takes clients one after another (its counters go
    // on), and stops promptly although it waits in shared memory.
    let raw_shm = Server::start("raw-shm-pingpong", dir);
    let file = format!("{dir}/test-bench.rawshm");
    assert!(std::path::Path::new(&file).exists());
    for _ in 0..2 {
        let v = client("raw-shm-pingpong", &[]);
        check_row(row(&v, "raw-shm-pingpong"), 1, 1);
    }
    let stopping = Instant::now();
    assert_eq!(raw_shm.stop()["event"], "stopped");
    assert!(stopping.elapsed() < Duration::from_secs(5));
    assert!(!std::path::Path::new(&file).exists(), "{file} left behind");
}

/// Foreign peers (the reference bench drivers) use a fixed non-zero auth
/// token: both roles take one, and a client with another token is refused
/// with a message that says so.
#[test]
fn roles_take_an_auth_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    for scenario in ["uds-pingpong", "l2-increment"] {
        let server = Server::start_with(scenario, dir, &["--auth-token", "0x5eed"]);
        let client = |token: &str| {
            run(&[
                "bench-client",
                "--scenario",
                scenario,
                "--run-dir",
                dir,
                "--service",
                "test-bench",
                "--duration",
                "0.2",
                "--json",
                "--auth-token",
                token,
            ])
        };
        let v = json_of(&client("24301"));
        check_row(row(&v, scenario), 1, 1);
        let r = client("7");
        assert_ne!(r.code, 0, "{scenario}: a wrong token is refused");
        assert!(r.stderr.contains("auth"), "{scenario}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert_eq!(server.stop()["event"], "stopped");
    }
}

#[test]
fn l2_roles_run_separately() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    let client_with = |scenario: &str, extra: &[&str]| {
        let base = ["bench-client", "--scenario", scenario, "--run-dir", dir];
        let opts = ["--service", "test-bench", "--duration", "0.2", "--json"];
        run(&[&base[..], &opts[..], extra].concat())
    };
    let client = |scenario: &str| client_with(scenario, &[]);
    // An L2 SHM snapshot server serves SHM and baseline L2 snapshot
    // clients of its item count.
    let server = Server::start("l2-shm-snapshot-16", dir);
    for scenario in ["l2-shm-snapshot-16", "l2-snapshot-16"] {
        let v = json_of(&client(scenario));
        let r = row(&v, scenario);
        check_row(r, 16, 1);
        assert!(r["l1_ratio"].is_null(), "{r:#}");
        assert_eq!(r["reconnects"], 0, "{r:#}");
    }
    // Another method is refused with a hint.
    let r = client("l2-shm-increment");
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("does not serve this method"),
        "{}",
        r.stderr
    );
    // Another item count is measured as what it is (a server of another
    // implementation serves its own snapshot), unless the client checks
    // netipc's bench data.
    let v = json_of(&client("l2-shm-snapshot-1000"));
    check_row(row(&v, "l2-shm-snapshot-1000"), 16, 1);
    let r = client_with("l2-shm-snapshot-1000", &["--strict"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("a snapshot of 16 items, expected 1000"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(server.stop()["event"], "stopped");

    // A baseline L2 server refuses an SHM-only client.
    let server = Server::start("l2-increment", dir);
    let v = json_of(&client("l2-increment"));
    check_row(row(&v, "l2-increment"), 1, 1);
    let r = client("l2-shm-increment");
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("needs a shared-memory session"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("netipc bench-server --scenario l2-shm-increment"),
        "{}",
        r.stderr
    );
    assert_eq!(server.stop()["event"], "stopped");
}

#[test]
fn shm_client_refuses_a_session_that_is_not_shm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    let server = Server::start("uds-pingpong", dir);
    let r = run(&[
        "bench-client",
        "--scenario",
        "shm-pingpong",
        "--run-dir",
        dir,
        "--service",
        "test-bench",
        "--duration",
        "0.2",
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains("needs a shared-memory session"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("netipc bench-server --scenario shm-pingpong"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert_eq!(server.stop()["event"], "stopped");
}

#[test]
fn client_without_server_says_the_provider_is_not_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    let r = run(&[
        "bench-client",
        "--scenario",
        "uds-pingpong",
        "--run-dir",
        dir,
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("provider is not running"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("netipc bench-server --scenario uds-pingpong"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);

    let r = run(&[
        "bench-client",
        "--scenario",
        "raw-shm-pingpong",
        "--run-dir",
        dir,
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("provider is not running"), "{}", r.stderr);
    assert!(r.stderr.contains("no raw SHM file"), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn unknown_scenario_lists_the_known_ones() {
    let r = run(&["bench", "--scenario", "nope"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("uds-pipeline-batch"), "{}", r.stderr);
    let list = run(&["bench", "--list"]);
    assert_eq!(list.code, 0);
    let list = &list.stdout;
    markdown::assert_row_starts(list, &["uds-batch-pingpong", "raw-packet-pingpong"]);
    // The batch rows take --batch; pipeline+batch draws 2..1000 by default.
    let batch_rows = [
        ("uds-batch-pingpong", "socket", "poll", "--batch (64)", "1"),
        (
            "shm-batch-pingpong",
            "shm",
            "spin+sleep",
            "--batch (64)",
            "1",
        ),
        (
            "uds-pipeline-batch",
            "socket",
            "poll",
            "--batch (2..1000)",
            "16",
        ),
    ];
    for (name, plane, wait, items, depth) in batch_rows {
        let cells = markdown::row(list, name);
        assert_eq!(cells[4..8], [plane, wait, items, depth], "{cells:?}");
    }
    markdown::assert_row_starts(
        list,
        &[
            "shm-batch-pingpong",
            "raw-shm-pingpong",
            "-",
            "L1 INCREMENT, offers SHM",
            "shm",
            "spin+sleep",
        ],
    );
    markdown::assert_row_starts(
        list,
        &[
            "l2-snapshot-1000",
            "raw-packet-pingpong",
            "uds-snapshot-1000",
            "L2 CGROUPS_SNAPSHOT (1000)",
            "socket",
            "poll",
            "1000",
            "1",
        ],
    );
    markdown::assert_row_starts(
        list,
        &[
            "l2-shm-apps-lookup-64",
            "raw-shm-pingpong",
            "shm-apps-lookup-64",
            "L2 APPS_LOOKUP, offers SHM",
            "shm",
            "spin+sleep",
            "64",
            "1",
        ],
    );
    markdown::assert_row_starts(
        list,
        &[
            "l3-cache-lookup",
            "raw-hashmap-lookup",
            "-",
            "L2 CGROUPS_SNAPSHOT (1000)",
            "memory",
            "none",
            "1000",
            "1",
        ],
    );
}

/// Runs `bench-client` for `scenario` against `service` in `dir`.
fn bench_client(dir: &str, service: &str, scenario: &str, extra: &[&str]) -> Run {
    let base = ["bench-client", "--scenario", scenario, "--run-dir", dir];
    let opts = ["--service", service, "--duration", "0.2", "--json"];
    run(&[&base[..], &opts[..], extra].concat())
}

/// Servers of netipc's library that are not the bench server, as a
/// server of another implementation would be: a snapshot of 1500 cgroups
/// of its own, lookups that know none of the bench's keys (answered with
/// several statuses), and an INCREMENT server that counts the items it
/// answered. The snapshot server keeps the default response size, which
/// starts at 64 KiB and grows when an answer does not fit: an L1 client
/// connects again until its snapshot (about 140 KiB) fits.
#[test]
fn bench_client_measures_servers_that_are_not_the_bench_server() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use netipc::codec::{CgroupsEntry, CgroupsLookupStatus, NO_LABELS, PidStatus, SnapshotItem};
    use netipc::service::{ManagedServer, ServerConfig};

    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    const SNAPSHOT: u32 = 1500;
    let config = ServerConfig::default();
    let snapshot = ManagedServer::cgroups_snapshot(dir, "other-snapshot", &config, |b| {
        b.set_generation(99);
        for i in 0..SNAPSHOT {
            let name = format!("service-{i}");
            let path = format!("/sys/fs/cgroup/system.slice/{name}.service");
            b.add(&SnapshotItem {
                hash: i * 7,
                options: 0,
                enabled: i % 2,
                name: name.as_bytes(),
                path: path.as_bytes(),
            })?;
        }
        Ok(())
    });
    let cgroups = ManagedServer::cgroups_lookup(dir, "other-cgroups", &config, |request, b| {
        b.set_generation(5);
        for (i, path) in request.paths().enumerate() {
            let status = if path.len() % 2 == 0 {
                CgroupsLookupStatus::UnknownPermanent
            } else {
                CgroupsLookupStatus::UnknownRetryLater
            };
            b.add_request_item(i, &CgroupsEntry::unset(status), NO_LABELS)?;
        }
        Ok(())
    });
    let apps = ManagedServer::apps_lookup(dir, "other-apps", &config, |request, b| {
        for pid in request.pids() {
            b.add_status(pid, PidStatus::Unknown)?;
        }
        Ok(())
    });
    let answered = Arc::new(AtomicU64::new(0));
    let counted = answered.clone();
    // A fixed response size: no answer is refused, so every item the
    // handler answered reached the client.
    let fixed = ServerConfig {
        max_response_payload_bytes: 1 << 20,
        ..ServerConfig::default()
    };
    let increment = ManagedServer::increment(dir, "other-increment", &fixed, move |v| {
        counted.fetch_add(1, Ordering::Relaxed);
        Ok(v.wrapping_add(1))
    });
    let running: Vec<_> = [snapshot, cgroups, apps, increment]
        .into_iter()
        .map(|s| s.spawn().expect("spawn a server"))
        .collect();

    let measured = |service: &str, scenario: &str, items: u64| {
        let v = json_of(&bench_client(dir, service, scenario, &[]));
        check_row(row(&v, scenario), items, 1);
        assert!(
            v["settings"]["validation"]
                .as_str()
                .unwrap()
                .starts_with("structure only"),
            "{v:#}"
        );
    };
    // An L1 client primes its session: the first snapshot does not fit the
    // server's starting response size, the server grows, the client
    // connects again.
    measured("other-snapshot", "uds-snapshot-16", u64::from(SNAPSHOT));
    let refused = running[0].stats().responses.limit_exceeded;
    assert!(refused >= 1, "{:?}", running[0].stats());
    // Any snapshot: every item decoded, its count reported.
    for scenario in [
        "uds-snapshot-16",
        "shm-snapshot-1000",
        "l2-snapshot-16",
        "l2-shm-snapshot-1000",
    ] {
        measured("other-snapshot", scenario, u64::from(SNAPSHOT));
    }
    // The cache looks up the snapshot's own items.
    measured("other-snapshot", "l3-cache-lookup", 1000);
    // Lookups: one item per key, echoing it, any status.
    for scenario in [
        "uds-cgroups-lookup-64",
        "shm-cgroups-lookup-1",
        "l2-cgroups-lookup-64",
        "l2-shm-cgroups-lookup-1",
    ] {
        measured("other-cgroups", scenario, items_of(scenario));
    }
    for scenario in [
        "uds-apps-lookup-64",
        "l2-shm-apps-lookup-64",
        "l2-apps-lookup-1",
    ] {
        measured("other-apps", scenario, items_of(scenario));
    }

    // With --strict, the same answers are not netipc's bench data.
    for (service, scenario, says) in [
        (
            "other-snapshot",
            "uds-snapshot-16",
            "a snapshot of 1500 items, expected 16",
        ),
        (
            "other-snapshot",
            "l3-cache-lookup",
            "holds a snapshot of 1500 items, expected 1000",
        ),
        (
            "other-cgroups",
            "l2-cgroups-lookup-64",
            "a lookup answer of generation 5",
        ),
        (
            "other-apps",
            "uds-apps-lookup-1",
            "a lookup answer of generation 0",
        ),
    ] {
        let r = bench_client(dir, service, scenario, &["--strict"]);
        assert_ne!(r.code, 0, "{scenario}");
        assert!(r.stderr.contains(says), "{scenario}: {}", r.stderr);
    }

    // Random batches in flight: the items reported are the items the
    // server answered while measured. Besides those it answered the
    // priming request (1000 items) and the 16 warm-up batches (2 to 1000
    // items each).
    let before = answered.load(Ordering::Relaxed);
    let v = json_of(&bench_client(
        dir,
        "other-increment",
        "uds-pipeline-batch",
        &["--warmup", "0"],
    ));
    let r = row(&v, "uds-pipeline-batch");
    check_random_row(r, (2, 1000), 16);
    let items = r["items"].as_u64().unwrap();
    let served = answered.load(Ordering::Relaxed) - before;
    assert!(
        items + 1000 + 16 * 2 <= served && served <= items + 1000 + 16 * 1000,
        "the client reported {items} items, the server answered {served}"
    );
    let v = json_of(&bench_client(
        dir,
        "other-increment",
        "shm-batch-pingpong",
        &[],
    ));
    check_row(row(&v, "shm-batch-pingpong"), 64, 1);
    for server in running {
        server.stop();
    }
}

/// The size options: a client proposal above the server's maximum is
/// refused at the handshake with a message naming the size, what fits is
/// measured, and the client's own options must hold what it sends.
#[test]
fn limit_options_are_applied() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().to_str().expect("utf-8 dir");
    let client = |scenario: &str, extra: &[&str]| bench_client(dir, "test-bench", scenario, extra);
    let fails = |scenario: &str, extra: &[&str], says: &[&str]| {
        let r = client(scenario, extra);
        assert_ne!(r.code, 0, "{scenario} {extra:?}");
        for s in says {
            assert!(r.stderr.contains(s), "{scenario} {extra:?}: {}", r.stderr);
        }
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    };

    let server = Server::start_with("uds-pingpong", dir, &["--max-request-bytes", "4096"]);
    // 2..1000 items need requests of 16000 bytes.
    fails(
        "uds-pipeline-batch",
        &[],
        &[
            "refused the client's request payload size (max_request_payload_bytes, 16000 bytes)",
            "netipc bench-server --max-request-bytes",
            "a smaller --batch",
        ],
    );
    fails(
        "uds-pingpong",
        &["--max-request-bytes", "8192"],
        &["max_request_payload_bytes, 8192 bytes"],
    );
    // 200 items need 3200 bytes.
    let v = json_of(&client("uds-batch-pingpong", &["--batch", "200"]));
    check_row(row(&v, "uds-batch-pingpong"), 200, 1);
    let exact = ["--max-request-bytes", "4096", "--max-batch-items", "500"];
    let v = json_of(&client(
        "uds-pipeline-batch",
        &[&["--batch", "2..200"][..], &exact].concat(),
    ));
    check_random_row(row(&v, "uds-pipeline-batch"), (2, 200), 16);
    // The client's own options must hold what it sends.
    fails(
        "uds-batch-pingpong",
        &["--batch", "100", "--max-request-bytes", "1024"],
        &["needs requests of up to 1600 bytes, but --max-request-bytes is 1024"],
    );
    fails(
        "uds-batch-pingpong",
        &["--batch", "20", "--max-batch-items", "10"],
        &["needs up to 20 items per request, but --max-batch-items is 10"],
    );
    fails(
        "uds-batch-pingpong",
        &["--batch", "100", "--max-response-bytes", "1024"],
        &["needs answers of up to 1600 bytes, but --max-response-bytes is 1024"],
    );
    assert_eq!(server.stop()["event"], "stopped");

    // A server's response size bounds its answers: a larger one is refused.
    let server = Server::start_with("uds-snapshot-1000", dir, &["--max-response-bytes", "4096"]);
    let v = json_of(&client("uds-batch-pingpong", &["--batch", "200"]));
    check_row(row(&v, "uds-batch-pingpong"), 200, 1);
    let small = "max_response_payload_bytes) is 4096 bytes and does not grow";
    fails(
        "uds-batch-pingpong",
        &["--batch", "300"],
        &[small, "up to 4800 bytes", "--max-response-bytes"],
    );
    fails("uds-snapshot-1000", &[], &[small]);
    assert_eq!(server.stop()["event"], "stopped");

    // The L2 rows take them too.
    let server = Server::start_with("l2-increment", dir, &["--max-request-bytes", "1024"]);
    let v = json_of(&client("l2-increment", &["--max-request-bytes", "1024"]));
    check_row(row(&v, "l2-increment"), 1, 1);
    fails(
        "l2-increment",
        &["--max-request-bytes", "2048"],
        &["max_request_payload_bytes, 2048 bytes"],
    );
    assert_eq!(server.stop()["event"], "stopped");
}
