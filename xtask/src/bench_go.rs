//! `cargo xtask bench-go`: the Go package's speed next to the Rust core's,
//! on the same scenarios, in one run.
//!
//! Builds the release `netipc` CLI and the Go bench driver
//! (`go/internal/cmd/netipc-go-bench`), then runs every scenario of
//! [`SCENARIOS`] round after round, four pairings in turn (the order
//! rotates from round to round): Rust client × Rust server, Go × Go, Go
//! client × Rust server, Rust client × Go server. Every pairing gets a
//! fresh server: `netipc bench-server` or `netipc-go-bench server`, which
//! speak the same process protocol (`ready` once listening; a `cpu` line on
//! stdin answered with a JSON line of the CPU time and resident memory; a
//! last such line, `stopped`, after `stop`). The clients (`netipc
//! bench-client` or `netipc-go-bench client`, both `--strict`: every
//! answer is checked item for item against the bench data, which both
//! servers serve) print their row as `--json`.
//!
//! Prints a Markdown table of medians: calls/s (items/s for the rows
//! whose calls carry several items), the ratio to the Rust × Rust row,
//! the client's and the server's CPU per 1,000 calls, the server's
//! resident memory and the client's allocations per call. Not part of
//! `cargo xtask test` (no timed asserts; run it on a quiet machine); the
//! go lane's `bench-smoke` step runs [`smoke`]: one short round of every
//! pairing, checking that each runs and validates.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::bench::median;
use crate::examples::{failed, with_run_dir};
use crate::go_lane::{GoLane, Toolchain};
use crate::process::{self, Background};

/// The scenarios both drivers run, in table order.
pub const SCENARIOS: &[&str] = &[
    "l2-increment",
    "l2-shm-increment",
    "l2-snapshot-16",
    "l2-shm-snapshot-16",
    "l2-cgroups-lookup-64",
    "l2-shm-cgroups-lookup-64",
    "l3-cache-lookup",
];

/// The Go bench driver's package.
const GO_BENCH_PACKAGE: &str = "./internal/cmd/netipc-go-bench";

/// Time for a server to start listening, and to stop once asked.
const SERVER_LIMIT: Duration = Duration::from_secs(60);
/// Time for a server to answer a `cpu` line.
const CPU_LIMIT: Duration = Duration::from_secs(10);
/// Time for a client beyond its warm-up and measurement.
const CLIENT_SLACK: Duration = Duration::from_secs(60);
/// Watchdog of the builds.
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The measurement of `--quick` and of the go lane's smoke step.
pub const QUICK: Timing = Timing {
    warmup: Duration::from_millis(100),
    duration: Duration::from_millis(300),
};

/// Which implementation plays a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Rust,
    Go,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Self::Rust => "Rust",
            Self::Go => "Go",
        }
    }
}

/// A (client, server) pairing.
type Pairing = (Side, Side);

/// The pairings, in table order; the first is the reference row.
const PAIRINGS: [Pairing; 4] = [
    (Side::Rust, Side::Rust),
    (Side::Go, Side::Go),
    (Side::Go, Side::Rust),
    (Side::Rust, Side::Go),
];

/// Warm-up and measurement of one client run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub warmup: Duration,
    pub duration: Duration,
}

impl Timing {
    /// `duration` measured, after a warm-up of a fifth of it (at most 1 s,
    /// the default of both clients).
    pub fn of(duration: Duration) -> Self {
        Self {
            warmup: (duration / 5).min(Duration::from_secs(1)),
            duration,
        }
    }
}

/// The two programs of each side.
pub struct Programs {
    /// The `netipc` CLI (`bench-server`, `bench-client`).
    pub netipc: PathBuf,
    /// The Go driver (`server`, `client`).
    pub go_bench: PathBuf,
}

impl Programs {
    /// `role` (`server` or `client`) of `side` for `scenario`, at
    /// `run_dir`.
    fn role(&self, side: Side, role: &str, scenario: &str, run_dir: &str) -> Command {
        let mut cmd = match side {
            Side::Rust => {
                let mut cmd = Command::new(&self.netipc);
                cmd.arg(format!("bench-{role}"));
                cmd
            }
            Side::Go => {
                let mut cmd = Command::new(&self.go_bench);
                cmd.arg(role);
                cmd
            }
        };
        cmd.args(["--scenario", scenario, "--run-dir", run_dir])
            .args(["--service", &service(scenario)]);
        cmd
    }

    fn server(&self, side: Side, scenario: &str, run_dir: &str) -> Command {
        self.role(side, "server", scenario, run_dir)
    }

    fn client(&self, side: Side, scenario: &str, run_dir: &str, timing: Timing) -> Command {
        let mut cmd = self.role(side, "client", scenario, run_dir);
        cmd.args(["--warmup", &secs(timing.warmup)])
            .args(["--duration", &secs(timing.duration)])
            .args(["--strict", "--json"]);
        cmd
    }
}

/// The service name of a scenario's servers.
fn service(scenario: &str) -> String {
    format!("gobench-{scenario}")
}

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// What one client run measured, per call.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    calls_per_s: f64,
    items_per_s: f64,
    /// Items per call (1 for INCREMENT).
    items_per_call: f64,
    /// CPU seconds of the client per call.
    client_cpu: f64,
    /// CPU seconds of the server per call.
    server_cpu: f64,
    /// The server's resident memory after the run, in bytes.
    server_rss: Option<f64>,
    /// Client allocations per call while measured.
    allocs: f64,
}

/// The numbers of a client's `--json` report (its first row).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ClientRow {
    round_trips: f64,
    items: f64,
    wall_s: f64,
    /// Client CPU in cores over `wall_s`.
    cores: f64,
    allocations: f64,
}

fn parse_client(json: &str, scenario: &str) -> Result<ClientRow, String> {
    let value: Value = serde_json::from_str(json)
        .map_err(|err| format!("the client's report is not JSON ({err}):\n{json}"))?;
    let row = &value["rows"][0];
    if row["scenario"].as_str() != Some(scenario) {
        return Err(format!("the client's report is not of {scenario}:\n{json}"));
    }
    let number = |v: &Value, what: &str| {
        v.as_f64()
            .ok_or_else(|| format!("the client's report has no {what}:\n{json}"))
    };
    let parsed = ClientRow {
        round_trips: number(&row["round_trips"], "round_trips")?,
        items: number(&row["items"], "items")?,
        wall_s: number(&row["wall_seconds"], "wall_seconds")?,
        cores: number(&row["cpu_cores"]["client"], "cpu_cores.client")?,
        allocations: number(&row["client_allocations"], "client_allocations")?,
    };
    if parsed.round_trips < 1.0 || parsed.wall_s <= 0.0 {
        return Err(format!("the client measured no calls:\n{json}"));
    }
    Ok(parsed)
}

/// A server's `cpu` (or `stopped`) line.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuLine {
    /// CPU and wall seconds before the memory was read.
    cpu: f64,
    wall: f64,
    /// The same after it (the next window starts there).
    cpu_after: f64,
    wall_after: f64,
    rss: Option<f64>,
}

fn parse_cpu(line: &str) -> Result<CpuLine, String> {
    let value: Value = serde_json::from_str(line)
        .map_err(|err| format!("a cpu line that is not JSON ({err}): {line}"))?;
    let number = |field: &str| {
        value[field]
            .as_f64()
            .ok_or_else(|| format!("a cpu line without {field}: {line}"))
    };
    let (cpu, wall) = (number("cpu_seconds")?, number("wall_seconds")?);
    Ok(CpuLine {
        cpu,
        wall,
        cpu_after: value["cpu_seconds_after_rss"].as_f64().unwrap_or(cpu),
        wall_after: value["wall_seconds_after_rss"].as_f64().unwrap_or(wall),
        rss: value["rss_bytes"].as_f64(),
    })
}

/// A sample from the client's row and the server's CPU lines around it:
/// the server's cores over the window between the lines, times the
/// client's wall time per call.
fn sample(row: &ClientRow, before: &CpuLine, after: &CpuLine) -> Sample {
    let per_call = row.wall_s / row.round_trips;
    let window = after.wall - before.wall_after;
    let server_cores = if window > 0.0 {
        (after.cpu - before.cpu_after).max(0.0) / window
    } else {
        0.0
    };
    Sample {
        calls_per_s: row.round_trips / row.wall_s,
        items_per_s: row.items / row.wall_s,
        items_per_call: row.items / row.round_trips,
        client_cpu: row.cores * per_call,
        server_cpu: server_cores * per_call,
        server_rss: after.rss,
        allocs: row.allocations / row.round_trips,
    }
}

/// Asks the server for a `cpu` line.
fn cpu(server: &mut Background) -> Result<CpuLine, String> {
    server.send_line("cpu")?;
    let line = server.next_line("a cpu line", |l| l.contains("\"event\":\"cpu\""), CPU_LIMIT)?;
    parse_cpu(&line)
}

/// Runs one client of `scenario` against a fresh server.
fn run_pairing(
    programs: &Programs,
    (client, server): Pairing,
    scenario: &str,
    run_dir: &str,
    timing: Timing,
) -> Result<Sample, String> {
    let name = |side: Side, role: &str| format!("{} {role} ({scenario})", side.name());
    let server_name = name(server, "server");
    let mut srv = Background::spawn(&mut programs.server(server, scenario, run_dir), true)
        .map_err(|err| format!("{server_name}: {err}"))?;
    srv.wait_for_line("ready", SERVER_LIMIT)
        .map_err(|err| failed(&server_name, &err, &srv))?;
    let before = cpu(&mut srv).map_err(|err| failed(&server_name, &err, &srv))?;
    let client_name = name(client, "client");
    let mut cli = Background::spawn(
        &mut programs.client(client, scenario, run_dir, timing),
        false,
    )
    .map_err(|err| format!("{client_name}: {err}"))?;
    let limit = timing.warmup + timing.duration + CLIENT_SLACK;
    if let Err(err) = cli.wait(limit) {
        eprintln!("xtask: the server's output so far:");
        eprint!("{}", srv.transcript());
        return Err(failed(&client_name, &err.to_string(), &cli));
    }
    let after = cpu(&mut srv).map_err(|err| failed(&server_name, &err, &srv))?;
    srv.send_line("stop")
        .and_then(|()| {
            srv.next_line(
                "the stopped line",
                |l| l.contains("\"event\":\"stopped\""),
                SERVER_LIMIT,
            )
        })
        .map_err(|err| failed(&server_name, &err, &srv))?;
    srv.close_stdin();
    srv.wait(SERVER_LIMIT)
        .map_err(|err| failed(&server_name, &err.to_string(), &srv))?;
    let row =
        parse_client(&cli.stdout(), scenario).map_err(|err| failed(&client_name, &err, &cli))?;
    Ok(sample(&row, &before, &after))
}

/// The samples of every scenario and pairing, `rounds` times (the order
/// of the pairings rotates each round).
fn measure_all(
    programs: &Programs,
    scenarios: &[&str],
    rounds: usize,
    timing: Timing,
) -> Result<Vec<[Vec<Sample>; 4]>, String> {
    let mut samples = vec![[const { Vec::new() }; 4]; scenarios.len()];
    with_run_dir("netipc-bench-go", "the bench servers", |run_dir| {
        for round in 0..rounds {
            for (s, scenario) in scenarios.iter().enumerate() {
                for k in 0..PAIRINGS.len() {
                    let p = (k + round) % PAIRINGS.len();
                    let pairing = PAIRINGS[p];
                    let sample = run_pairing(programs, pairing, scenario, run_dir, timing)?;
                    eprintln!(
                        "xtask: bench-go: round {}/{rounds}: {scenario}: {}: {:.0} calls/s",
                        round + 1,
                        label(pairing),
                        sample.calls_per_s
                    );
                    samples[s][p].push(sample);
                }
            }
        }
        Ok(samples)
    })
}

/// `Go × Rust`: client × server.
fn label((client, server): Pairing) -> String {
    format!("{} × {}", client.name(), server.name())
}

/// The median of one field over samples.
fn median_of(samples: &[Sample], field: impl Fn(&Sample) -> f64) -> f64 {
    let mut values: Vec<f64> = samples.iter().map(field).collect();
    if values.is_empty() {
        return f64::NAN;
    }
    median(&mut values)
}

/// The table of medians.
fn table(
    scenarios: &[&str],
    samples: &[[Vec<Sample>; 4]],
    rounds: usize,
    timing: Timing,
) -> String {
    let mut out = format!(
        "| scenario (median of {rounds} × {:.1} s) | client × server | calls/s | items/s | vs Rust × Rust | client CPU ms / 1k calls | server CPU ms / 1k calls | server RSS MiB | client allocs / call |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|\n",
        timing.duration.as_secs_f64()
    );
    for (scenario, per_pairing) in scenarios.iter().zip(samples) {
        let reference = median_of(&per_pairing[0], |s| s.calls_per_s);
        for (pairing, samples) in PAIRINGS.iter().zip(per_pairing.iter()) {
            let calls = median_of(samples, |s| s.calls_per_s);
            let items = if median_of(samples, |s| s.items_per_call) > 1.0 {
                count(median_of(samples, |s| s.items_per_s))
            } else {
                "–".to_owned()
            };
            let mut rss: Vec<f64> = samples.iter().filter_map(|s| s.server_rss).collect();
            let rss = if rss.is_empty() {
                "–".to_owned()
            } else {
                format!("{:.1}", median(&mut rss) / f64::from(1 << 20))
            };
            let _ = writeln!(
                out,
                "| {scenario} | {} | {} | {items} | {:.2} | {:.1} | {:.1} | {rss} | {:.2} |",
                label(*pairing),
                count(calls),
                calls / reference,
                median_of(samples, |s| s.client_cpu) * 1e6,
                median_of(samples, |s| s.server_cpu) * 1e6,
                median_of(samples, |s| s.allocs),
            );
        }
    }
    out.push_str(
        "\nA call is one L2 call (l3-cache-lookup: a batch of 1,000 cache lookups by hash and \
         name, no I/O); items/s counts snapshot items, lookup keys or cache lookups. Every \
         client checks every answer item for item against the bench data (`--strict`). \
         Client CPU: the Rust client's thread, the Go client's process (its runtime and GC \
         included), over the measured calls; server CPU: the server process between two \
         `cpu` lines taken around the client run, as cores times the client's time per call \
         (the Go side reads its CPU time from /proc, in 10 ms steps).\n",
    );
    out
}

/// A rate with thousands separators.
fn count(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_owned();
    }
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Runs the bench: builds the release `netipc` CLI (`cargo` is a bare
/// cargo command) and the Go driver, measures `scenarios` (all when
/// empty) `rounds` times and prints the table.
pub fn run(
    root: &Path,
    cargo: impl Fn() -> Command,
    scenarios: &[String],
    rounds: usize,
    timing: Timing,
) -> Result<(), String> {
    let target = crate::cross::target_dir(root, None);
    let mut build = cargo();
    build.args(["build", "--release", "-p", "netipc-cli", "--bin", "netipc"]);
    process::run(&mut build, BUILD_LIMIT).map_err(|err| format!("cargo build: {err}"))?;
    let go = GoLane::new(root, &target, Toolchain::prepare(&target)?, BUILD_LIMIT);
    let programs = Programs {
        netipc: target.join("release/netipc"),
        go_bench: go.build(&[GO_BENCH_PACKAGE])?.join("netipc-go-bench"),
    };
    let chosen: Vec<&str> = if scenarios.is_empty() {
        SCENARIOS.to_vec()
    } else {
        SCENARIOS
            .iter()
            .copied()
            .filter(|s| scenarios.iter().any(|c| c == s))
            .collect()
    };
    let samples = measure_all(&programs, &chosen, rounds, timing)?;
    println!("{}", table(&chosen, &samples, rounds, timing));
    Ok(())
}

/// The go lane's smoke step: one [`QUICK`] round of every scenario and
/// pairing with the lane's (debug) `netipc` CLI; checks that every
/// pairing runs and its answers validate. No timing is judged.
pub fn smoke(lane: &GoLane) -> Result<String, String> {
    let programs = Programs {
        netipc: lane.netipc().to_owned(),
        go_bench: lane.build(&[GO_BENCH_PACKAGE])?.join("netipc-go-bench"),
    };
    let samples = measure_all(&programs, SCENARIOS, 1, QUICK)?;
    let runs: usize = samples.iter().flatten().map(Vec::len).sum();
    Ok(format!("{runs} pairings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUST_ROW: &str = r#"{"tool":"netipc bench","rows":[{"scenario":"l2-snapshot-16",
        "round_trips":1000,"items":16000,"wall_seconds":2.0,"round_trips_per_second":500.0,
        "cpu_cores":{"client":0.5,"server":null},"client_allocations":0}]}"#;

    #[test]
    fn client_reports_parse() {
        let row = parse_client(RUST_ROW, "l2-snapshot-16").unwrap();
        assert_eq!(
            row,
            ClientRow {
                round_trips: 1000.0,
                items: 16000.0,
                wall_s: 2.0,
                cores: 0.5,
                allocations: 0.0
            }
        );
        assert!(parse_client(RUST_ROW, "l2-increment").is_err());
        assert!(parse_client("not json", "l2-snapshot-16").is_err());
        let none = RUST_ROW.replace("\"round_trips\":1000", "\"round_trips\":0");
        assert!(parse_client(&none, "l2-snapshot-16").is_err());
        let missing = RUST_ROW.replace("\"client\":0.5", "\"client\":null");
        assert!(parse_client(&missing, "l2-snapshot-16").is_err());
    }

    #[test]
    fn samples_are_per_call_and_use_the_window_between_cpu_lines() {
        let row = parse_client(RUST_ROW, "l2-snapshot-16").unwrap();
        let before = parse_cpu(
            r#"{"event":"cpu","cpu_seconds":1.0,"wall_seconds":10.0,"rss_bytes":4096,
               "cpu_seconds_after_rss":1.5,"wall_seconds_after_rss":10.5}"#,
        )
        .unwrap();
        let after =
            parse_cpu(r#"{"event":"cpu","cpu_seconds":2.5,"wall_seconds":12.5,"rss_bytes":8192}"#)
                .unwrap();
        assert_eq!(after.cpu_after, 2.5);
        let s = sample(&row, &before, &after);
        assert_eq!(s.calls_per_s, 500.0);
        assert_eq!(s.items_per_s, 8000.0);
        assert_eq!(s.items_per_call, 16.0);
        // 0.5 cores × 2 ms per call; the server: 1 CPU s over 2 s.
        assert_eq!(s.client_cpu, 0.001);
        assert_eq!(s.server_cpu, 0.001);
        assert_eq!(s.server_rss, Some(8192.0));
        assert!(parse_cpu(r#"{"event":"cpu"}"#).is_err());
    }

    #[test]
    fn the_table_shows_medians_and_ratios() {
        let s = |calls: f64| Sample {
            calls_per_s: calls,
            items_per_s: calls * 16.0,
            items_per_call: 16.0,
            client_cpu: 2e-6,
            server_cpu: 1e-6,
            server_rss: Some(f64::from(3 << 20)),
            allocs: 0.0,
        };
        let samples = vec![[
            vec![s(100.0), s(300.0), s(200.0)],
            vec![s(100.0), s(100.0), s(100.0)],
            vec![s(400.0), s(400.0), s(400.0)],
            vec![s(200.0), s(200.0), s(200.0)],
        ]];
        let text = table(&["l2-snapshot-16"], &samples, 3, QUICK);
        assert!(
            text.contains(
                "| l2-snapshot-16 | Rust × Rust | 200 | 3,200 | 1.00 | 2.0 | 1.0 | 3.0 | 0.00 |"
            ),
            "{text}"
        );
        assert!(text.contains("| Go × Go | 100 | 1,600 | 0.50 |"), "{text}");
        assert!(
            text.contains("| Go × Rust | 400 | 6,400 | 2.00 |"),
            "{text}"
        );
        assert_eq!(count(1234567.4), "1,234,567");
        assert_eq!(
            Timing::of(Duration::from_secs(2)).warmup,
            Duration::from_millis(400)
        );
    }
}
