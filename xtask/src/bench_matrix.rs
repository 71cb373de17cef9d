//! `cargo xtask bench-matrix`: Rust, C and Go clients against Rust, C and
//! Go servers (every pairing) on the same scenarios, in one run, on Linux
//! or (`--wine`) with the Windows builds under wine.
//!
//! The three implementations speak one process protocol: the server
//! (`netipc bench-server`, `bench_peer server`, `netipc-go-bench server`)
//! prints `ready` once listening, answers a `cpu` line on stdin with a
//! JSON line of its CPU time and resident memory, and stops on `stop`
//! after a last such line (`stopped`); the client (`netipc bench-client`,
//! `bench_peer client`, `netipc-go-bench client`, all `--strict`: every
//! answer is checked item for item against the bench data, which all
//! three servers serve) prints its row as `--json`; with `--rate N` the
//! clients get `--rate N` too (only then, so a client that cannot pace
//! still runs without it) and pace their calls at N per second, and the
//! CPU columns are the cost per call at that rate. The C side is
//! crates/netipc-c/bench/bench_peer.c, built with `gcc -O2` (Linux) or
//! mingw-w64 (Windows) against the release C library; the Go side is
//! go/internal/cmd/netipc-go-bench (`GOOS=windows` for wine).
//!
//! Every scenario of [`SCENARIOS`] runs round after round, every pairing
//! in turn (the order rotates from round to round), each with a fresh
//! server. Ping-pong is a refresh of a cgroups snapshot of one item, the
//! smallest exchange every API has (the C API has no INCREMENT).
//!
//! Prints a Markdown table of medians: calls/s (items/s for the rows
//! whose calls carry several items), the ratio to Rust × Rust, the
//! client's and the server's CPU per 1,000 calls, the server's resident
//! memory and the client's allocations per call, with the machine's load
//! average before and after. Not part of `cargo xtask test` (no timed
//! asserts); [`smoke`] (one short round of every pairing, answers checked,
//! no timing judged) is the go lane's `bench-smoke` step.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::bench::median;
use crate::c_lane;
use crate::cross::{self, CrossCargo, RouteChoice};
use crate::examples::{failed, with_run_dir};
use crate::go_lane::{GoLane, Toolchain};
use crate::lanes::{self, Options};
use crate::process::{self, Background};
use crate::wine::Wine;

/// A scenario: its name (the same in the three drivers) and how the
/// table names it.
pub struct Scenario {
    pub name: &'static str,
    label: &'static str,
}

/// The scenarios, in table order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "l2-snapshot-1",
        label: "ping-pong, socket",
    },
    Scenario {
        name: "l2-shm-snapshot-1",
        label: "ping-pong, SHM",
    },
    Scenario {
        name: "l2-snapshot-16",
        label: "snapshot of 16 items, socket",
    },
    Scenario {
        name: "l2-shm-snapshot-16",
        label: "snapshot of 16 items, SHM",
    },
    Scenario {
        name: "l2-cgroups-lookup-64",
        label: "lookup of 64 keys, socket",
    },
    Scenario {
        name: "l2-shm-cgroups-lookup-64",
        label: "lookup of 64 keys, SHM",
    },
    Scenario {
        name: "l3-cache-lookup",
        label: "L3 cache, 1,000 lookups per call",
    },
];

/// The scenario names, for the command line.
pub fn scenario_names() -> Vec<&'static str> {
    SCENARIOS.iter().map(|s| s.name).collect()
}

/// The Go bench driver's package.
const GO_BENCH_PACKAGE: &str = "./internal/cmd/netipc-go-bench";
/// The C bench peer's source, under the workspace root.
const C_PEER_SOURCE: &str = "crates/netipc-c/bench/bench_peer.c";

/// Time for a server to start listening, and to stop once asked (wine
/// starts slowly).
const SERVER_LIMIT: Duration = Duration::from_secs(120);
/// Time for a server to answer a `cpu` line.
const CPU_LIMIT: Duration = Duration::from_secs(10);
/// Time for a client beyond its warm-up and measurement.
const CLIENT_SLACK: Duration = Duration::from_secs(120);
/// Watchdog of the builds.
const BUILD_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The measurement of `--quick` and of [`smoke`].
pub const QUICK: Timing = Timing {
    warmup: Duration::from_millis(100),
    duration: Duration::from_millis(300),
    rate: None,
};

/// Which implementation plays a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Rust,
    C,
    Go,
}

impl Side {
    /// Every side, in table order (Rust first: the reference).
    pub const ALL: [Self; 3] = [Self::Rust, Self::C, Self::Go];

    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "Rust",
            Self::C => "C",
            Self::Go => "Go",
        }
    }

    /// The side called `name` (`rust`, `c`, `go`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|side| side.name().eq_ignore_ascii_case(name))
    }
}

/// A (client, server) pairing.
type Pairing = (Side, Side);

/// Warm-up, measurement and pace of one client run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub warmup: Duration,
    pub duration: Duration,
    /// Calls per second of a client paced at a fixed rate (`--rate`);
    /// `None`: as fast as it goes.
    pub rate: Option<u64>,
}

impl Timing {
    /// `duration` measured, after a warm-up of a fifth of it (at most 1 s,
    /// the default of the clients), as fast as the client goes.
    pub fn of(duration: Duration) -> Self {
        Self {
            warmup: (duration / 5).min(Duration::from_secs(1)),
            duration,
            rate: None,
        }
    }
}

/// A loader that runs the programs (wine64 and its environment).
type Loader = (PathBuf, Vec<(&'static str, OsString)>);

/// The programs of each side, and how they run.
pub struct Programs {
    /// The `netipc` CLI (`bench-server`, `bench-client`).
    netipc: PathBuf,
    /// The C peer (`server`, `client`), when C takes part.
    c_peer: Option<PathBuf>,
    /// The Go driver (`server`, `client`), when Go takes part.
    go_bench: Option<PathBuf>,
    /// Runs the programs (wine), or `None` to start them directly.
    loader: Option<Loader>,
    /// Where they run, for the table's caption.
    platform: &'static str,
}

impl Programs {
    /// Rust and, where built, C and Go: the sides in table order.
    fn sides(&self) -> Vec<Side> {
        Side::ALL
            .into_iter()
            .filter(|side| match side {
                Side::Rust => true,
                Side::C => self.c_peer.is_some(),
                Side::Go => self.go_bench.is_some(),
            })
            .collect()
    }

    /// Every (client, server) pairing of the sides: Rust × Rust first.
    fn pairings(&self) -> Vec<Pairing> {
        let sides = self.sides();
        sides
            .iter()
            .flat_map(|&client| sides.iter().map(move |&server| (client, server)))
            .collect()
    }

    /// `role` (`server` or `client`) of `side` for `scenario` at
    /// `run_dir`. Only the [`sides`](Self::sides) are asked for: a side
    /// without a program would start the CLI, whose role names differ.
    fn role(&self, side: Side, role: &str, scenario: &str, run_dir: &str) -> Command {
        let (program, role) = match side {
            Side::Rust => (&self.netipc, format!("bench-{role}")),
            Side::C => (
                self.c_peer.as_ref().unwrap_or(&self.netipc),
                role.to_owned(),
            ),
            Side::Go => (
                self.go_bench.as_ref().unwrap_or(&self.netipc),
                role.to_owned(),
            ),
        };
        let mut cmd = match &self.loader {
            None => Command::new(program),
            Some((loader, envs)) => {
                let mut cmd = Command::new(loader);
                cmd.arg(program)
                    .envs(envs.iter().map(|(key, value)| (key, value)));
                cmd
            }
        };
        cmd.arg(role)
            .args(["--scenario", scenario, "--run-dir", run_dir])
            .args(["--service", &service(scenario)]);
        cmd
    }

    fn server(&self, side: Side, scenario: &str, run_dir: &str) -> Command {
        self.role(side, "server", scenario, run_dir)
    }

    /// The client command; `--rate` only at a fixed rate, so a client
    /// that cannot pace its calls still runs as fast as it goes.
    fn client(&self, side: Side, scenario: &str, run_dir: &str, timing: Timing) -> Command {
        let mut cmd = self.role(side, "client", scenario, run_dir);
        cmd.args(["--warmup", &secs(timing.warmup)])
            .args(["--duration", &secs(timing.duration)]);
        if let Some(rate) = timing.rate {
            cmd.args(["--rate", &rate.to_string()]);
        }
        cmd.args(["--strict", "--json"]);
        cmd
    }
}

/// The service name of a scenario's servers.
fn service(scenario: &str) -> String {
    format!("matrix-{scenario}")
}

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

/// What one client run measured, per call (NaN where a side could not
/// tell).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    calls_per_s: f64,
    items_per_s: f64,
    /// Items per call.
    items_per_call: f64,
    /// CPU seconds of the client per call.
    client_cpu: f64,
    /// CPU seconds of the server per call.
    server_cpu: f64,
    /// The server's resident memory after the run, in bytes.
    server_rss: Option<f64>,
    /// Client allocations per call while measured (the C peer cannot
    /// count them).
    allocs: Option<f64>,
}

/// The numbers of a client's `--json` report (its first row).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ClientRow {
    round_trips: f64,
    items: f64,
    wall_s: f64,
    /// Client CPU in cores over `wall_s` (NaN: unknown).
    cores: f64,
    allocations: Option<f64>,
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
        cores: row["cpu_cores"]["client"].as_f64().unwrap_or(f64::NAN),
        allocations: row["client_allocations"].as_f64(),
    };
    if parsed.round_trips < 1.0 || parsed.wall_s <= 0.0 {
        return Err(format!("the client measured no calls:\n{json}"));
    }
    Ok(parsed)
}

/// A server's `cpu` (or `stopped`) line.
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuLine {
    /// CPU (NaN: unknown) and wall seconds before the memory was read.
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
    let wall = value["wall_seconds"]
        .as_f64()
        .ok_or_else(|| format!("a cpu line without wall_seconds: {line}"))?;
    let cpu = value["cpu_seconds"].as_f64().unwrap_or(f64::NAN);
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
    let used = after.cpu - before.cpu_after;
    // Unknown (NaN) stays unknown: f64::max would make it 0.
    let server_cores = if window > 0.0 && !used.is_nan() {
        used.max(0.0) / window
    } else {
        f64::NAN
    };
    Sample {
        calls_per_s: row.round_trips / row.wall_s,
        items_per_s: row.items / row.wall_s,
        items_per_call: row.items / row.round_trips,
        client_cpu: row.cores * per_call,
        server_cpu: server_cores * per_call,
        server_rss: after.rss,
        allocs: row.allocations.map(|a| a / row.round_trips),
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

/// The samples of every scenario (outer) and pairing (inner), `rounds`
/// times (the order of the pairings rotates each round).
fn measure_all(
    programs: &Programs,
    scenarios: &[&Scenario],
    rounds: usize,
    timing: Timing,
) -> Result<Vec<Vec<Vec<Sample>>>, String> {
    let pairings = programs.pairings();
    let mut samples = vec![vec![Vec::new(); pairings.len()]; scenarios.len()];
    with_run_dir("netipc-bench-matrix", "the bench servers", |run_dir| {
        for round in 0..rounds {
            for (s, scenario) in scenarios.iter().enumerate() {
                for k in 0..pairings.len() {
                    let p = (k + round) % pairings.len();
                    let sample =
                        run_pairing(programs, pairings[p], scenario.name, run_dir, timing)?;
                    eprintln!(
                        "xtask: bench-matrix: round {}/{rounds}: {}: {}: {:.0} calls/s",
                        round + 1,
                        scenario.name,
                        label(pairings[p]),
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

/// The median of one field over the samples where it is known (NaN when
/// it is known in none).
fn median_of(samples: &[Sample], field: impl Fn(&Sample) -> f64) -> f64 {
    let mut values: Vec<f64> = samples.iter().map(field).filter(|v| !v.is_nan()).collect();
    if values.is_empty() {
        return f64::NAN;
    }
    median(&mut values)
}

/// `v` with `places` decimals, or "–" when unknown.
fn fixed(v: f64, places: usize) -> String {
    if v.is_finite() {
        format!("{v:.places$}")
    } else {
        "–".to_owned()
    }
}

/// The table of medians, with its caption and notes.
fn table(
    programs: &Programs,
    scenarios: &[&Scenario],
    samples: &[Vec<Vec<Sample>>],
    rounds: usize,
    timing: Timing,
    load: &str,
) -> String {
    let pace = timing
        .rate
        .map(|rate| format!(" at {} calls/s", count(rate as f64)))
        .unwrap_or_default();
    let mut out = format!(
        "netipc bench-matrix on {} (client × server{pace}; median of {rounds} × {:.1} s; \
         {load})\n\n\
         | scenario | client × server | calls/s | items/s | vs Rust × Rust | client CPU ms / 1k calls | server CPU ms / 1k calls | server RSS MiB | client allocs / call |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|\n",
        programs.platform,
        timing.duration.as_secs_f64()
    );
    for (scenario, per_pairing) in scenarios.iter().zip(samples) {
        let reference = median_of(&per_pairing[0], |s| s.calls_per_s);
        for (i, (pairing, samples)) in programs.pairings().iter().zip(per_pairing).enumerate() {
            let calls = median_of(samples, |s| s.calls_per_s);
            let items = if median_of(samples, |s| s.items_per_call) > 1.0 {
                count(median_of(samples, |s| s.items_per_s))
            } else {
                "–".to_owned()
            };
            let rss = median_of(samples, |s| s.server_rss.unwrap_or(f64::NAN));
            let allocs = median_of(samples, |s| s.allocs.unwrap_or(f64::NAN));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {items} | {:.2} | {} | {} | {} | {} |",
                if i == 0 { scenario.label } else { "" },
                label(*pairing),
                count(calls),
                calls / reference,
                fixed(median_of(samples, |s| s.client_cpu) * 1e6, 1),
                fixed(median_of(samples, |s| s.server_cpu) * 1e6, 1),
                fixed(rss / f64::from(1 << 20), 1),
                fixed(allocs, 2),
            );
        }
    }
    let names: Vec<String> = scenarios
        .iter()
        .map(|s| format!("{} = `{}`", s.label, s.name))
        .collect();
    let _ = write!(
        out,
        "\nPing-pong is one L2 call of the smallest exchange every API has (the C API has no \
         INCREMENT): a cgroups snapshot refresh answered with a snapshot of one cgroup (a \
         4-byte request, a 167-byte answer, each behind the 32-byte message header, every \
         field checked). A call is one L2 call (the L3 cache row: a batch \
         of 1,000 cache lookups by hash and name under one read guard, no I/O); items/s counts \
         snapshot items, lookup keys or cache lookups. Every client checks every answer item \
         for item against the bench data (`--strict`). Client CPU: the Rust client's thread, \
         the C and Go client's process (the Go runtime and GC included), over the measured \
         calls; server CPU: the server process between two `cpu` lines taken around the client \
         run, as cores times the client's time per call; ms per 1,000 calls equals µs per \
         call. The C peer cannot count allocations (–). Scenarios: {}.\n",
        names.join(", ")
    );
    if timing.rate.is_some() {
        out.push_str(
            "\nEvery client paced its calls at the rate (`--rate`: call k due k/N s after the \
             start, a late call sent at once); calls/s is the rate it reached, and the CPU \
             columns are the cost per call at that rate, the client's pacing (its sleeps and \
             the short spin before each due time) included.\n",
        );
    }
    if programs.loader.is_some() {
        out.push_str(
            "\nWine numbers are indicative only: wine emulates named pipes and events through \
             its wineserver process (whose CPU time is in neither column) and its clocks are \
             coarse; they show that every pairing works under wine, not how fast Windows is.\n",
        );
    }
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

/// The load average now (`/proc/loadavg`'s first three numbers).
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Compiles the C peer from `root` against `library` into `out` (gcc,
/// or mingw-w64 for `windows`, as the c lane compiles, with `-O2`);
/// returns the program.
fn compile_c_peer(
    root: &Path,
    library: &Path,
    out: &Path,
    windows: bool,
) -> Result<PathBuf, String> {
    fs::create_dir_all(out).map_err(|err| format!("cannot create {}: {err}", out.display()))?;
    let program = out.join(if windows {
        "bench_peer.exe"
    } else {
        "bench_peer"
    });
    c_lane::compile(
        root,
        &root.join(C_PEER_SOURCE),
        library,
        &program,
        windows,
        &["-O2"],
    )?;
    Ok(program)
}

/// The Go toolchain's commands (the go lane's, with a watchdog for
/// builds).
fn go_lane(root: &Path, target: &Path) -> Result<GoLane, String> {
    Ok(GoLane::new(
        root,
        target,
        Toolchain::prepare(target)?,
        BUILD_LIMIT,
    ))
}

/// Builds the release programs of `sides` for Linux.
fn build_linux(root: &Path, sides: &[Side]) -> Result<Programs, String> {
    let target = cross::target_dir(root, None);
    let mut build =
        lanes::host_cargo(&["build", "--release", "-p", "netipc-cli", "--bin", "netipc"]);
    if sides.contains(&Side::C) {
        build.args(["-p", "netipc-c", "--lib"]);
    }
    process::run(&mut build, BUILD_LIMIT).map_err(|err| format!("cargo build: {err}"))?;
    let release = target.join("release");
    let c_peer = if sides.contains(&Side::C) {
        let library = release.join("libnetipc_c.a");
        Some(compile_c_peer(
            root,
            &library,
            &target.join("bench/linux"),
            false,
        )?)
    } else {
        None
    };
    let go_bench = if sides.contains(&Side::Go) {
        Some(
            go_lane(root, &target)?
                .build(&[GO_BENCH_PACKAGE])?
                .join("netipc-go-bench"),
        )
    } else {
        None
    };
    Ok(Programs {
        netipc: release.join("netipc"),
        c_peer,
        go_bench,
        loader: None,
        platform: "Linux",
    })
}

/// Builds the release programs of `sides` for Windows (Rust cross-built
/// for x86_64-pc-windows-gnu, C with mingw-w64, Go with GOOS=windows),
/// run under wine in the prefix `$WINEPREFIX` (default
/// `target/wineprefix`, the windows lane's).
fn build_wine(root: &Path, sides: &[Side]) -> Result<Programs, String> {
    let options = Options {
        root: root.to_path_buf(),
        timeout: BUILD_LIMIT,
        windows_route: RouteChoice::Auto,
    };
    let prefix = std::env::var_os("WINEPREFIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/wineprefix"));
    let (cross, wine): (CrossCargo, Wine) = lanes::prepare_windows(&options, prefix)?;
    let mut build = cross.command("build");
    build.args(["--release", "-p", "netipc-cli", "--bin", "netipc"]);
    if sides.contains(&Side::C) {
        build.args(["-p", "netipc-c", "--lib"]);
    }
    process::run(&mut build, BUILD_LIMIT).map_err(|err| format!("cargo build: {err}"))?;
    let target = cross::target_dir(root, None);
    let release = cross.target_dir(root).join(cross::TARGET).join("release");
    let out = target.join("bench/windows");
    let c_peer = if sides.contains(&Side::C) {
        Some(compile_c_peer(
            root,
            &release.join("libnetipc_c.a"),
            &out,
            true,
        )?)
    } else {
        None
    };
    let go_bench = if sides.contains(&Side::Go) {
        let program = out.join("netipc-go-bench.exe");
        let mut go = go_lane(root, &target)?.go(&["build", "-o"]);
        go.arg(&program)
            .arg(GO_BENCH_PACKAGE)
            .env("GOOS", "windows");
        process::run(&mut go, BUILD_LIMIT).map_err(|err| format!("go build: {err}"))?;
        Some(program)
    } else {
        None
    };
    Ok(Programs {
        netipc: release.join("netipc.exe"),
        c_peer,
        go_bench,
        loader: Some((wine.wine64().to_path_buf(), wine.env())),
        platform: "Windows (x86_64-pc-windows-gnu) under wine — indicative only",
    })
}

/// What to run: the sides (Rust is always one), the scenarios (all when
/// empty), the rounds and their timing, and whether under wine.
pub struct Plan<'a> {
    pub sides: &'a [Side],
    pub scenarios: &'a [String],
    pub rounds: usize,
    pub timing: Timing,
    pub wine: bool,
}

/// Runs the bench: builds the programs, measures and prints the table.
pub fn run(root: &Path, plan: &Plan<'_>) -> Result<(), String> {
    let programs = if plan.wine {
        build_wine(root, plan.sides)?
    } else {
        build_linux(root, plan.sides)?
    };
    let chosen: Vec<&Scenario> = SCENARIOS
        .iter()
        .filter(|s| plan.scenarios.is_empty() || plan.scenarios.iter().any(|c| c == s.name))
        .collect();
    let before = load_average();
    let samples = measure_all(&programs, &chosen, plan.rounds, plan.timing)?;
    let load = format!("load average {before} before, {} after", load_average());
    println!(
        "{}",
        table(
            &programs,
            &chosen,
            &samples,
            plan.rounds,
            plan.timing,
            &load
        )
    );
    Ok(())
}

/// One [`QUICK`] round of every scenario and pairing: checks that every
/// pairing runs and its answers validate; no timing is judged. The go
/// lane's `bench-smoke` step, with the lane's (debug) `netipc` CLI and Go
/// driver; with `with_c` also the C peer, built with gcc against the debug
/// C library (`cargo` builds it: a bare cargo command).
pub fn smoke(lane: &GoLane, with_c: Option<(&Path, Command)>) -> Result<String, String> {
    let c_peer = match with_c {
        Some((root, mut cargo)) => {
            cargo.args(["build", "-p", "netipc-c", "--lib"]);
            process::run(&mut cargo, BUILD_LIMIT).map_err(|err| format!("cargo build: {err}"))?;
            let target = cross::target_dir(root, None);
            let library = target.join("debug/libnetipc_c.a");
            Some(compile_c_peer(
                root,
                &library,
                &target.join("bench/smoke"),
                false,
            )?)
        }
        None => None,
    };
    let programs = Programs {
        netipc: lane.netipc().to_owned(),
        c_peer,
        go_bench: Some(lane.build(&[GO_BENCH_PACKAGE])?.join("netipc-go-bench")),
        loader: None,
        platform: "Linux",
    };
    let all: Vec<&Scenario> = SCENARIOS.iter().collect();
    let samples = measure_all(&programs, &all, 1, QUICK)?;
    let runs: usize = samples.iter().flatten().map(Vec::len).sum();
    Ok(format!(
        "{runs} runs: {} pairings × {} scenarios",
        programs.pairings().len(),
        all.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUST_ROW: &str = r#"{"tool":"netipc bench","rows":[{"scenario":"l2-snapshot-16",
        "round_trips":1000,"items":16000,"wall_seconds":2.0,"round_trips_per_second":500.0,
        "cpu_cores":{"client":0.5,"server":null},"client_allocations":0}]}"#;

    fn programs(c: bool, go: bool) -> Programs {
        Programs {
            netipc: "/t/netipc".into(),
            c_peer: c.then(|| "/t/bench_peer".into()),
            go_bench: go.then(|| "/t/netipc-go-bench".into()),
            loader: None,
            platform: "Linux",
        }
    }

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
                allocations: Some(0.0)
            }
        );
        assert!(parse_client(RUST_ROW, "l2-snapshot-1").is_err());
        assert!(parse_client("not json", "l2-snapshot-16").is_err());
        let none = RUST_ROW.replace("\"round_trips\":1000", "\"round_trips\":0");
        assert!(parse_client(&none, "l2-snapshot-16").is_err());
        // The C peer's: no allocation count.
        let c = RUST_ROW.replace("\"client_allocations\":0", "\"client_allocations\":null");
        assert_eq!(
            parse_client(&c, "l2-snapshot-16").unwrap().allocations,
            None
        );
        let unknown = RUST_ROW.replace("\"client\":0.5", "\"client\":null");
        assert!(
            parse_client(&unknown, "l2-snapshot-16")
                .unwrap()
                .cores
                .is_nan()
        );
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
        assert_eq!(s.allocs, Some(0.0));
        assert!(parse_cpu(r#"{"event":"cpu"}"#).is_err());
        // A server that cannot read its CPU time: unknown, not 0.
        let blind = parse_cpu(r#"{"event":"cpu","cpu_seconds":null,"wall_seconds":12.5}"#).unwrap();
        assert!(sample(&row, &before, &blind).server_cpu.is_nan());
    }

    #[test]
    fn pairings_are_every_client_with_every_server_rust_first() {
        let all = programs(true, true);
        assert_eq!(all.sides(), Side::ALL);
        let pairings = all.pairings();
        assert_eq!(pairings.len(), 9);
        assert_eq!(pairings[0], (Side::Rust, Side::Rust));
        assert_eq!(pairings[5], (Side::C, Side::Go));
        assert_eq!(programs(false, true).pairings().len(), 4);
        assert_eq!(
            programs(false, false).pairings(),
            [(Side::Rust, Side::Rust)]
        );
        assert_eq!(Side::parse("go"), Some(Side::Go));
        assert_eq!(Side::parse("C"), Some(Side::C));
        assert_eq!(Side::parse("java"), None);
    }

    #[test]
    fn commands_name_each_sides_program_and_role() {
        let p = programs(true, true);
        let args = |cmd: &Command| -> Vec<String> {
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let rust = p.server(Side::Rust, "l2-snapshot-1", "/r");
        assert_eq!(rust.get_program(), "/t/netipc");
        assert_eq!(
            args(&rust),
            [
                "bench-server",
                "--scenario",
                "l2-snapshot-1",
                "--run-dir",
                "/r",
                "--service",
                "matrix-l2-snapshot-1"
            ]
        );
        let c = p.client(Side::C, "l3-cache-lookup", "/r", QUICK);
        assert_eq!(c.get_program(), "/t/bench_peer");
        assert_eq!(args(&c)[0], "client");
        assert!(args(&c).ends_with(&[
            "--warmup".into(),
            "0.1".into(),
            "--duration".into(),
            "0.3".into(),
            "--strict".into(),
            "--json".into()
        ]));
        // A paced client gets --rate; an unpaced one (above) does not.
        assert!(!args(&c).contains(&"--rate".to_owned()));
        let paced = Timing {
            rate: Some(1000),
            ..QUICK
        };
        let go = p.client(Side::Go, "l2-snapshot-16", "/r", paced);
        assert!(
            args(&go).ends_with(&[
                "--rate".into(),
                "1000".into(),
                "--strict".into(),
                "--json".into()
            ]),
            "{:?}",
            args(&go)
        );
        let wine = Programs {
            loader: Some((
                "/usr/lib/wine/wine64".into(),
                vec![("WINEDEBUG", "-all".into())],
            )),
            ..programs(true, true)
        };
        let go = wine.server(Side::Go, "l2-snapshot-1", "/r");
        assert_eq!(go.get_program(), "/usr/lib/wine/wine64");
        assert_eq!(args(&go)[..2], ["/t/netipc-go-bench", "server"]);
    }

    #[test]
    fn the_table_shows_medians_ratios_and_unknowns() {
        let s = |calls: f64, allocs: Option<f64>| Sample {
            calls_per_s: calls,
            items_per_s: calls * 16.0,
            items_per_call: 16.0,
            client_cpu: 2e-6,
            server_cpu: 1e-6,
            server_rss: Some(f64::from(3 << 20)),
            allocs,
        };
        let p = programs(true, false);
        let samples = vec![vec![
            vec![
                s(100.0, Some(0.0)),
                s(300.0, Some(0.0)),
                s(200.0, Some(0.0)),
            ],
            vec![s(100.0, Some(0.0)); 3],
            vec![s(400.0, None); 3],
            vec![s(200.0, None); 3],
        ]];
        let scenario = &SCENARIOS[2];
        let text = table(&p, &[scenario], &samples, 3, QUICK, "load average 1 2 3");
        assert!(
            text.contains("on Linux (client × server; median of 3 × 0.3 s; load average 1 2 3)"),
            "{text}"
        );
        assert!(
            text.contains(
                "| snapshot of 16 items, socket | Rust × Rust | 200 | 3,200 | 1.00 | 2.0 | 1.0 | 3.0 | 0.00 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("|  | Rust × C | 100 | 1,600 | 0.50 |"),
            "{text}"
        );
        assert!(
            text.contains("|  | C × Rust | 400 | 6,400 | 2.00 | 2.0 | 1.0 | 3.0 | – |"),
            "{text}"
        );
        assert!(
            text.contains("snapshot of 16 items, socket = `l2-snapshot-16`"),
            "{text}"
        );
        assert!(!text.contains("wine"), "{text}");
        assert!(!text.contains("paced"), "{text}");
        let paced = Timing {
            rate: Some(10_000),
            ..QUICK
        };
        let text = table(&p, &[scenario], &samples, 3, paced, "load average 1 2 3");
        assert!(
            text.contains("(client × server at 10,000 calls/s; median of 3 × 0.3 s;"),
            "{text}"
        );
        assert!(text.contains("Every client paced its calls"), "{text}");
        assert_eq!(count(1234567.4), "1,234,567");
        assert_eq!(fixed(f64::NAN, 1), "–");
        assert_eq!(
            Timing::of(Duration::from_secs(2)).warmup,
            Duration::from_millis(400)
        );
    }
}
