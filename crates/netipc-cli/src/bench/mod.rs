//! `netipc bench`, `netipc bench-server` and `netipc bench-client`: the
//! benchmark engine.
//!
//! `bench` runs every selected scenario with its server in a child process
//! (`bench-server`, started from this executable in a private temporary
//! run directory) and the client in this process, then prints one row per
//! scenario next to its limit row. The two roles also run alone, so a
//! server or client of another NetIPC implementation can take either side.
//!
//! Modules: [`scenarios`] is the table of rows, [`client`] drives and
//! measures one scenario, [`server`] answers it, [`snapshot`] is the cgroup
//! list of the snapshot (and cache) rows, [`lookup`] the table of the
//! lookup rows, [`process`] manages the server child,
//! [`progress`] draws the progress bar, [`stats`] turns measurements into
//! rows and [`report`] prints them. [`alloc`] is the executable's global
//! allocator: the system one with a counter, so the client can report the
//! allocations of its measured round trips.

mod alloc;
mod client;
mod lookup;
pub(crate) mod process;
mod progress;
mod report;
mod scenarios;
mod server;
mod snapshot;
mod stats;

use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use client::{ClientParams, NoProbe, ServerProbe, Stage};
use process::ServerChild;
use progress::Progress;
use report::{Format, Machine, RunInfo};
use scenarios::{DEFAULT_BATCH, SCENARIOS, Scenario, ServerKind};
use stats::Row;

use crate::table::Table;

/// The service name of the roles when `--service` is not given.
const DEFAULT_SERVICE: &str = "netipc-bench";

/// A benchmark failure, with everything the user needs to act on it.
#[derive(Debug)]
pub struct BenchError(String);

impl BenchError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Warm-up and measurement time of one scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub warmup: Duration,
    pub duration: Duration,
}

/// How long scenarios run.
#[derive(Debug, clap::Args)]
pub struct TimingArgs {
    /// Short runs (about 1 s per scenario) for a quick look.
    #[arg(long)]
    quick: bool,
    /// Measured seconds per scenario (default 5, or 1 with --quick).
    #[arg(long, value_name = "SECS", value_parser = crate::common::parse_secs)]
    duration: Option<f64>,
    /// Warm-up seconds before measuring (default: a fifth of the
    /// duration, at most 1).
    #[arg(long, value_name = "SECS", value_parser = crate::common::parse_secs)]
    warmup: Option<f64>,
    /// Items per batch of uds-batch-pingpong and shm-batch-pingpong.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    batch: u32,
}

impl TimingArgs {
    fn timing(&self) -> Timing {
        let duration = self.duration.unwrap_or(if self.quick { 1.0 } else { 5.0 });
        let warmup = self.warmup.unwrap_or((duration / 5.0).min(1.0));
        Timing {
            warmup: Duration::from_secs_f64(warmup),
            duration: Duration::from_secs_f64(duration),
        }
    }
}

/// How results are printed.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Print CSV instead of a Markdown table.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Print JSON (every number) instead of a Markdown table.
    #[arg(long)]
    json: bool,
}

impl OutputArgs {
    fn format(&self) -> Format {
        match (self.csv, self.json) {
            (true, _) => Format::Csv,
            (_, true) => Format::Json,
            _ => Format::Markdown,
        }
    }
}

/// Arguments of `netipc bench`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Every row runs its server (if it has one) in a separate process and is compared to \
its limit row, which is always run too: raw-packet-pingpong (the same socket with no protocol) for \
the socket rows, raw-shm-pingpong (two counters in shared memory, no protocol) for \
the shared-memory rows (shm-*, l2-shm-*), raw-hashmap-lookup (the same lookups in a \
std HashMap) for the in-process row l3-cache-lookup (an L3 SnapshotCache filled from \
its server before the row starts; no I/O while measured). An L2 row (l2-*: the typed \
service API with a managed server) is also compared to its L1 row, the same exchange \
on a bare session, which is run too. A lookup row (*-lookup-N) makes logical calls of \
N keys. The servers listen in a private directory created under the temporary \
directory (TMPDIR).

Examples:
  netipc bench
  netipc bench --quick
  netipc bench --scenario uds-pipeline --duration 10 --json
  netipc bench --scenario shm-pingpong --scenario shm-batch-pingpong --batch 16
  netipc bench --quick --scenario l2-increment --scenario l2-shm-snapshot-1000
  netipc bench --quick --scenario l2-cgroups-lookup-64 --scenario l3-cache-lookup")]
pub struct BenchArgs {
    /// Run only this scenario (repeatable); see --list.
    #[arg(long = "scenario", value_name = "NAME", value_parser = scenarios::parse)]
    scenarios: Vec<&'static Scenario>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    #[command(flatten)]
    timing: TimingArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Arguments of `netipc bench-server`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Prints `ready` once listening. Stops when stdin closes (or on a `stop` line), so it \
also stops when the process that started it dies; use --forever where stdin is \
/dev/null (a background job of a script). A `cpu` line on stdin is answered with a \
JSON line of the CPU time used so far and the resident memory; the last line, at the \
stop, is such a line too.

The server of a shared-memory scenario offers shared memory (SHM_HYBRID) and still \
accepts baseline sessions. Every uds-* and shm-* scenario has the same L1 server \
(INCREMENT, CGROUPS_LOOKUP and APPS_LOOKUP), except that only the server of a \
snapshot scenario answers snapshots, with its item count; an shm-* server serves the \
uds-* scenarios too. An l2-* server is a managed server of one service kind \
(INCREMENT, a snapshot of N items, CGROUPS_LOOKUP or APPS_LOOKUP, the lookups of any \
key count); an l2-shm-* server also serves its baseline twin (l2-shm-increment serves \
l2-increment). The l3-cache-lookup server is the snapshot server of l2-snapshot-1000; \
raw-hashmap-lookup has no server. The raw-shm-pingpong server creates \
<run-dir>/<service>.rawshm and answers one client at a time.

Example (two terminals):
  mkdir -m 0700 /tmp/bench
  netipc bench-server --scenario shm-pingpong --run-dir /tmp/bench
  netipc bench-client --scenario shm-batch-pingpong --run-dir /tmp/bench")]
pub struct ServerArgs {
    /// The scenario to serve (see below for which servers serve which
    /// scenarios).
    #[arg(long, value_name = "NAME", value_parser = scenarios::parse)]
    scenario: &'static Scenario,
    /// Run directory of the endpoint: an existing directory of yours (or
    /// root's) that others cannot write.
    #[arg(long, value_name = "DIR")]
    run_dir: String,
    /// Shared secret of server and client (decimal or 0x-hex); foreign
    /// peers such as the reference bench drivers use a fixed non-zero one.
    #[arg(long, value_name = "TOKEN", default_value = "0", value_parser = crate::common::parse_token)]
    auth_token: u64,

    /// Service name.
    #[arg(long, value_name = "S", default_value = DEFAULT_SERVICE)]
    service: String,
    /// Ignore stdin and serve until killed.
    #[arg(long)]
    forever: bool,
}

/// Arguments of `netipc bench-client`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Runs the client side of one scenario against a server that is already running \
(`netipc bench-server`, or any NetIPC server of the scenario's method) and prints its \
row. The server's CPU and the ratios to the limit and L1 rows are only measured by \
`netipc bench`.")]
pub struct ClientArgs {
    /// The scenario to run.
    #[arg(long, value_name = "NAME", value_parser = scenarios::parse)]
    scenario: &'static Scenario,
    /// Run directory of the server's endpoint.
    #[arg(long, value_name = "DIR")]
    run_dir: String,
    /// Shared secret of server and client (decimal or 0x-hex); foreign
    /// peers such as the reference bench drivers use a fixed non-zero one.
    #[arg(long, value_name = "TOKEN", default_value = "0", value_parser = crate::common::parse_token)]
    auth_token: u64,

    /// Service name.
    #[arg(long, value_name = "S", default_value = DEFAULT_SERVICE)]
    service: String,
    #[command(flatten)]
    timing: TimingArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `netipc bench`.
pub fn run(args: &BenchArgs) -> ExitCode {
    if args.list {
        print!("{}", list());
        return ExitCode::SUCCESS;
    }
    finish("bench", run_suite(args))
}

/// Runs `netipc bench-server`.
pub fn run_server(args: &ServerArgs) -> ExitCode {
    server::run(args)
}

/// Runs `netipc bench-client`.
pub fn run_client(args: &ClientArgs) -> ExitCode {
    if let Err(e) = crate::common::check_consumer_run_dir(
        &args.run_dir,
        false,
        &netipc::transport::IdentityPolicy::Default,
    ) {
        return finish("bench-client", Err(BenchError::new(e.message)));
    }
    let machine = Machine::detect();
    let run = RunInfo {
        timing: args.timing.timing(),
        batch: args.timing.batch,
    };
    let params = ClientParams {
        run_dir: &args.run_dir,
        service: &args.service,
        timing: run.timing,
        batch: run.batch,
        auth_token: args.auth_token,
    };
    let progress = Progress::new(&[args.scenario], run.timing);
    let measured = client::run(args.scenario, &params, &mut NoProbe, &mut |stage, d| {
        progress.at(0, args.scenario, stage, d);
    });
    progress.done();
    let result = measured.map(|m| {
        let rows = [Row::new(args.scenario, &m)];
        report::render(args.output.format(), &rows, &machine, &run)
    });
    finish("bench-client", result)
}

fn finish(command: &str, result: Result<String, BenchError>) -> ExitCode {
    match result {
        Ok(text) => {
            let mut out = io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("netipc {command}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_suite(args: &BenchArgs) -> Result<String, BenchError> {
    let plan = scenarios::plan(&args.scenarios);
    let run = RunInfo {
        timing: args.timing.timing(),
        batch: args.timing.batch,
    };
    let machine = Machine::detect();
    let (dir, run_dir) = crate::common::temp_run_dir("netipc-bench-").map_err(BenchError::new)?;
    let run_dir = run_dir.as_str();
    let progress = Progress::new(&plan, run.timing);
    let mut rows = Vec::with_capacity(plan.len());
    for (i, &scenario) in plan.iter().enumerate() {
        progress.at(i, scenario, Stage::Warmup, Duration::ZERO);
        let row = run_one(scenario, run_dir, &run, &progress, i);
        match row {
            Ok(row) => rows.push(row),
            Err(e) => {
                progress.done();
                return Err(BenchError::new(format!("scenario {}: {e}", scenario.name)));
            }
        }
    }
    progress.done();
    stats::add_ratios(&mut rows);
    dir.close()
        .map_err(|e| BenchError::new(format!("cannot remove the temporary run directory: {e}")))?;
    Ok(report::render(args.output.format(), &rows, &machine, &run))
}

/// Runs one scenario against a fresh server child (or alone, for a
/// scenario without a server).
fn run_one(
    scenario: &'static Scenario,
    run_dir: &str,
    run: &RunInfo,
    progress: &Progress,
    index: usize,
) -> Result<Row, BenchError> {
    let service = format!("bench-{}", scenario.name);
    let params = ClientParams {
        run_dir,
        service: &service,
        timing: run.timing,
        batch: run.batch,
        auth_token: 0,
    };
    let measure = |probe: &mut dyn ServerProbe| {
        client::run(scenario, &params, probe, &mut |stage, d| {
            progress.at(index, scenario, stage, d);
        })
    };
    if scenario.server == ServerKind::None {
        return measure(&mut NoProbe).map(|m| Row::new(scenario, &m));
    }
    let mut server = ServerChild::start(scenario, run_dir, &service)?;
    let measured = measure(&mut server);
    let stopped = server.stop();
    let measurement = match (measured, stopped) {
        (Ok(m), Ok((_, stderr))) => {
            if !stderr.trim().is_empty() {
                progress.println(&format!(
                    "bench-server ({}) wrote:\n{}",
                    scenario.name,
                    stderr.trim()
                ));
            }
            m
        }
        (Ok(_), Err(e)) => return Err(e),
        (Err(e), Ok((_, stderr))) if !stderr.trim().is_empty() => {
            return Err(BenchError::new(format!(
                "{e}\nbench-server stderr:\n{}",
                stderr.trim()
            )));
        }
        (Err(e), Ok(_)) => return Err(e),
        (Err(e), Err(server_error)) => {
            return Err(BenchError::new(format!(
                "{e}\nand the server: {server_error}"
            )));
        }
    };
    Ok(Row::new(scenario, &measurement))
}

/// The scenario table for `--list`.
fn list() -> String {
    use scenarios::{Batch, Drive, Plane};
    let mut table = Table::markdown(&[
        "scenario",
        "compared to",
        "L1 row",
        "server",
        "data plane",
        "wait",
        "items/round trip",
        "depth",
        "what",
    ])
    .right(&[6, 7]);
    for sc in SCENARIOS {
        let items = match sc.drive {
            Drive::Increment(Batch::FromOption) => format!("--batch ({DEFAULT_BATCH})"),
            _ => sc.items(DEFAULT_BATCH).to_string(),
        };
        let mut server = match (sc.server, sc.snapshot_items(), sc.lookup()) {
            (ServerKind::L1, Some(n), _) => format!("L1 INCREMENT + CGROUPS_SNAPSHOT ({n})"),
            (ServerKind::L1, _, Some(kind)) => format!("L1 INCREMENT + {}", kind.method()),
            (ServerKind::L2Snapshot, Some(n), _) => format!("L2 CGROUPS_SNAPSHOT ({n})"),
            (kind, _, _) => kind.name().to_owned(),
        };
        if sc.plane == Plane::Shm && !matches!(sc.server, ServerKind::RawShm) {
            server.push_str(", offers SHM");
        }
        table.row(vec![
            sc.name.to_owned(),
            sc.limit.unwrap_or("(limit row)").to_owned(),
            sc.l1.unwrap_or("-").to_owned(),
            server,
            sc.plane.name().to_owned(),
            sc.plane.wait().to_owned(),
            items,
            sc.depth.to_string(),
            sc.summary.to_owned(),
        ]);
    }
    table.render()
}
