//! `netipc bench`, `netipc bench-server` and `netipc bench-client`: the
//! benchmark engine.
//!
//! `bench` runs every selected scenario with its server in a child process
//! (`bench-server`, started from this executable in a private temporary
//! run directory) and the client in this process, then prints one row per
//! scenario next to its limit row. The two roles also run alone, so a
//! server or client of another NetIPC implementation can take either side.
//!
//! With `--rate` (or `--rates`) every row runs at a fixed rate instead of
//! as fast as it goes, and the report shows the CPU of both sides per call
//! and the latency percentiles at that rate ([`pace`] paces the calls).
//!
//! Modules: [`scenarios`] is the table of rows, [`batch`] the item counts
//! of the batch rows, [`client`] drives and measures one scenario,
//! [`pace`] paces it at a fixed rate, [`server`] answers it, [`snapshot`]
//! is the cgroup list of the snapshot (and cache) rows, [`lookup`] the table of the
//! lookup rows, [`process`] manages the server child,
//! [`progress`] draws the progress bar, [`stats`] turns measurements into
//! rows and [`report`] prints them. [`alloc`] is the executable's global
//! allocator: the system one with a counter, so the client can report the
//! allocations of its measured round trips.

mod alloc;
mod batch;
mod client;
mod lookup;
mod pace;
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

use batch::BatchSize;
use client::{ClientParams, NoProbe, ServerProbe, Stage};
use process::ServerChild;
use progress::Progress;
use report::{Format, Machine, RunInfo};
use scenarios::{SCENARIOS, Scenario, ServerKind};
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

/// How the client checks the answers it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Item for item against netipc's bench data: `netipc bench` (which
    /// runs netipc's bench-server) and `bench-client --strict`.
    BenchData,
    /// Any well-formed answer of the scenario's method (`bench-client`
    /// without `--strict`): a foreign server serves its own data.
    Structure,
}

/// The sizes a client proposes in its handshake; 0 is what the scenario
/// needs (L1 rows) or the library's default (L2 rows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub request_bytes: u32,
    pub response_bytes: u32,
    pub batch_items: u32,
}

/// The largest value of a size option: 64 MiB, the largest stitched lookup
/// answer a netipc client takes by default (the L1 bench server holds an
/// answer buffer of its response size per session).
const MAX_SIZE_OPTION: u32 = 64 << 20;

/// Parses a size option: 0 (the default) up to [`MAX_SIZE_OPTION`].
fn parse_size(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n <= MAX_SIZE_OPTION => Ok(n),
        _ => Err(format!(
            "`{s}` is not a size in bytes from 0 (the default) to {MAX_SIZE_OPTION} (64 MiB)"
        )),
    }
}

/// Parses `--warmup`: 0, or seconds as `--duration` takes them.
fn parse_warmup(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(0.0) => Ok(0.0),
        _ => crate::common::parse_secs(s).map_err(|e| format!("{e}, or 0")),
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
    /// Warm-up seconds before measuring; 0: only one round of requests
    /// (default: a fifth of the duration, at most 1).
    #[arg(long, value_name = "SECS", value_parser = parse_warmup)]
    warmup: Option<f64>,
    /// Items per request of the batch rows (uds-batch-pingpong,
    /// shm-batch-pingpong, uds-pipeline-batch): N, or MIN..MAX to draw each
    /// request's count uniformly from MIN to MAX, both included (the same
    /// sequence on every run: a fixed seed); 1 to 65536 items (a request
    /// of 1 item is sent as a single message) [default: 64 for the batch
    /// ping-pong rows, 2..1000 for uds-pipeline-batch, the reference
    /// matrix's pipeline+batch]
    #[arg(long, value_name = "N|MIN..MAX", value_parser = batch::parse)]
    batch: Option<BatchSize>,
    /// Calls (round trips) per second: pace the calls of every row on a
    /// fixed schedule (call k is due k/N s after the start; a late call is
    /// sent at once and its latency counts from its due time) and report
    /// the CPU of both sides per call; 1 to 10M, e.g. 1000, 10k, 1M. A rate
    /// the pairing cannot reach shows the rate it did reach.
    #[arg(long, value_name = "N", value_parser = pace::parse_rate)]
    rate: Option<u64>,
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
  netipc bench --quick --scenario uds-pipeline-batch --batch 2..1000
  netipc bench --quick --scenario l2-increment --scenario l2-shm-snapshot-1000
  netipc bench --quick --scenario l2-cgroups-lookup-64 --scenario l3-cache-lookup
  netipc bench --rate 1000 --scenario l2-shm-increment
  netipc bench --rates 1000,10000,100000 --scenario l2-increment --scenario l2-shm-increment

At a fixed rate (--rate, --rates) the limit and L1 rows run at the same rate too, no \
row is compared to another, and the report shows per row the rate reached, the CPU \
time per call of the client thread (the part of it spent pacing shown apart, not \
subtracted) and of the server process, and the latency percentiles.")]
pub struct BenchArgs {
    /// Run only this scenario (repeatable); see --list.
    #[arg(long = "scenario", value_name = "NAME", value_parser = scenarios::parse)]
    scenarios: Vec<&'static Scenario>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// Run every row at each of these rates (calls per second, as --rate
    /// takes them) and print one table per scenario, a row per rate.
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', value_parser = pace::parse_rate,
          conflicts_with = "rate")]
    rates: Vec<u64>,
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

What a client of any NetIPC implementation may call (at --run-dir, as --service, with \
the --auth-token of the server):
- INCREMENT (method 1), on the uds-*, shm-*, l2-increment and l2-shm-increment servers: \
single requests of an 8-byte value, or batch requests (BATCH flag) of any item count up \
to the client's own max_request_batch_items (servers do not cap it); every item is \
answered value + 1, a batch with a batch of the same count. A baseline session may keep \
several requests in flight (they are answered in order).
- CGROUPS_SNAPSHOT (2), on the servers of the snapshot scenarios and l3-cache-lookup: a \
snapshot of 16 or 1000 container cgroups (generation 7, systemd_enabled 1), encoded on \
every request.
- CGROUPS_LOOKUP (4) and APPS_LOOKUP (5), on the uds-* and shm-* servers and the \
lookup servers of the l2-* rows: answered from a table of 1024 container cgroups (names \
and container labels) and 1024 processes (PIDs 1000, 1007, ..., 8161); other keys are \
answered UNKNOWN_RETRY_LATER (paths) or UNKNOWN (PIDs).
- Any other method is answered UNSUPPORTED.
Sizes: a client may propose a request payload size up to --max-request-bytes (a larger \
proposal is refused at the handshake with LIMIT_EXCEEDED); answers are at most \
--max-response-bytes, and one that does not fit is answered LIMIT_EXCEEDED. Servers do \
not cap batch items: a client's max_request_batch_items is taken as proposed.

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
    /// Largest request payload size, in bytes, a client may propose
    /// (max_request_payload_bytes); a larger proposal is refused at the
    /// handshake. 0: 1 MiB.
    #[arg(long, value_name = "BYTES", default_value_t = 0, value_parser = parse_size)]
    max_request_bytes: u32,
    /// Response payload size, in bytes, announced to every client
    /// (max_response_payload_bytes). 0: 1 MiB on the uds-* and shm-*
    /// servers; the managed servers (l2-*, l3-cache-lookup) start at 64 KiB
    /// and grow to 1 MiB as their answers need (a value fixes it).
    #[arg(long, value_name = "BYTES", default_value_t = 0, value_parser = parse_size)]
    max_response_bytes: u32,

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
(`netipc bench-server`, or a NetIPC server of any implementation) and prints its row. \
The server's CPU and the ratios to the limit and L1 rows are only measured by \
`netipc bench`.

What the server must serve (at --run-dir, as --service, with the client's --auth-token):
- raw-packet-pingpong and raw-shm-pingpong: no protocol, only `netipc bench-server` \
serves them; raw-hashmap-lookup needs no server.
- uds-pingpong, shm-pingpong, uds-pipeline (16 requests in flight on one session, \
answers matched by message id), l2-increment, l2-shm-increment: INCREMENT (method 1), \
single requests of an 8-byte value, answered value + 1.
- uds-batch-pingpong, shm-batch-pingpong (one request in flight), uds-pipeline-batch \
(16 in flight): INCREMENT batch requests (BATCH flag) of --batch items, every item \
answered value + 1 in a batch of the same count (a request of 1 item is a single \
message). The server must take the request payload size the client proposes (16 bytes \
per item of the largest batch, at least 1024) and announce a response size at least as \
large.
- *-snapshot-1, *-snapshot-16 and *-snapshot-1000: CGROUPS_SNAPSHOT (2). Any \
well-formed snapshot is measured: every item is decoded and items/s counts the items the \
server sent (the row shows how many; netipc's bench server sends 1, 16 or 1000, the \
reference matrix refreshes 16; *-snapshot-1 is the ping-pong every API has, the C API \
having no INCREMENT).
- *-cgroups-lookup-N: CGROUPS_LOOKUP (4) of N cgroup paths per call \
(/sys/fs/cgroup/system.slice/docker-<64 hex>.scope and kubepods paths, which need not \
exist); *-apps-lookup-N: APPS_LOOKUP (5) of N PIDs (1000, 1007, 1014, ...). An answer \
must hold one item per key, echoing it, with any status (an unknown key's UNKNOWN status \
is an answer). The uds-* and shm-* rows send all N keys in one request, so the server's \
response size must hold N answers; the l2-* rows make as many sub-calls as the \
negotiated sizes need.
- l3-cache-lookup: CGROUPS_SNAPSHOT; the cache is filled once, then each round trip \
looks up 1000 of the snapshot's items by (hash, name).

Transport profiles offered: BASELINE only by the uds-*, l2-* (not l2-shm-*) and \
l3-cache-lookup rows; BASELINE and SHM_HYBRID, preferring SHM_HYBRID, by the shm-* rows, \
which fail unless SHM_HYBRID is selected; SHM_HYBRID only by the l2-shm-* rows.

Sizes proposed: the uds-* and shm-* rows propose the request payload size their largest \
request needs (at least 1024), the largest --batch count as max_request_batch_items (1 \
for the other rows), a response size hint of 1024 (at least a batch answer; the server \
decides) and take answers up to 1 MiB; the l2-* rows and l3-cache-lookup use the \
library's defaults (request and response sizes start at 1024 and grow to 1 MiB, 1 batch \
item). --max-request-bytes, --max-response-bytes and --max-batch-items propose other \
values (a server refuses a request payload size above its maximum). Before the warm-up \
the uds-* and shm-* rows send one request (a batch row: of the largest count) and \
connect again while it is answered LIMIT_EXCEEDED and the server's response size grows \
(at their defaults netipc's managed servers start at 64 KiB, the reference Rust and \
Go ones at 1024 bytes).

Answers are checked for their structure only (as above); --strict checks them item \
for item against netipc's bench data, for a netipc bench-server.

Examples:
  netipc bench-client --scenario uds-pipeline-batch --run-dir /tmp/bench --batch 2..1000
  netipc bench-client --scenario uds-snapshot-16 --run-dir /run/netdata \\
      --service cgroups-snapshot --auth-token 0x1234")]
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
    /// Request payload size, in bytes, to propose
    /// (max_request_payload_bytes); it must hold the scenario's largest
    /// request. 0: what that request needs, at least 1024 (l2-* rows:
    /// 1024, growing to 1 MiB as requests need).
    #[arg(long, value_name = "BYTES", default_value_t = 0, value_parser = parse_size)]
    max_request_bytes: u32,
    /// Response payload size, in bytes: proposed as the hint (the server
    /// decides) and the largest answer taken (l2-* rows: fixed, no
    /// growth). 0: a hint of 1024 (at least a batch answer) and answers
    /// up to 1 MiB (l2-* rows: from 1024, growing to 1 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = 0, value_parser = parse_size)]
    max_response_bytes: u32,
    /// Items per request to propose (max_request_batch_items; servers
    /// take the proposal as it is); it must hold the largest --batch
    /// count. 0: that count for a batch row, 1 otherwise.
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_batch_items: u32,
    /// Check the answers item for item against netipc's bench data (for
    /// a netipc bench-server) instead of their structure only.
    #[arg(long)]
    strict: bool,

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
        check: if args.strict {
            Check::BenchData
        } else {
            Check::Structure
        },
        rates: args.timing.rate.into_iter().collect(),
        rate_tables: false,
    };
    let params = ClientParams {
        run_dir: &args.run_dir,
        service: &args.service,
        timing: run.timing,
        batch: run.batch,
        auth_token: args.auth_token,
        limits: Limits {
            request_bytes: args.max_request_bytes,
            response_bytes: args.max_response_bytes,
            batch_items: args.max_batch_items,
        },
        check: run.check,
        rate: args.timing.rate,
    };
    let progress = Progress::new(1, run.timing);
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
        check: Check::BenchData,
        rates: if args.rates.is_empty() {
            args.timing.rate.into_iter().collect()
        } else {
            args.rates.clone()
        },
        rate_tables: !args.rates.is_empty(),
    };
    // One run per scenario, or per scenario and rate.
    let rates: Vec<Option<u64>> = if run.rates.is_empty() {
        vec![None]
    } else {
        run.rates.iter().copied().map(Some).collect()
    };
    let machine = Machine::detect();
    let (dir, run_dir) = crate::common::temp_run_dir("netipc-bench-").map_err(BenchError::new)?;
    let run_dir = run_dir.as_str();
    let progress = Progress::new(plan.len() * rates.len(), run.timing);
    let mut rows = Vec::with_capacity(plan.len() * rates.len());
    let runs = plan
        .iter()
        .flat_map(|&scenario| rates.iter().map(move |&rate| (scenario, rate)));
    for (i, (scenario, rate)) in runs.enumerate() {
        progress.at(i, scenario, Stage::Warmup, Duration::ZERO);
        match run_one(scenario, rate, run_dir, &run, &progress, i) {
            Ok(row) => rows.push(row),
            Err(e) => {
                progress.done();
                let at = rate.map(|r| format!(" at {r} calls/s")).unwrap_or_default();
                return Err(BenchError::new(format!(
                    "scenario {}{at}: {e}",
                    scenario.name
                )));
            }
        }
    }
    progress.done();
    if run.rates.is_empty() {
        stats::add_ratios(&mut rows);
    }
    dir.close()
        .map_err(|e| BenchError::new(format!("cannot remove the temporary run directory: {e}")))?;
    Ok(report::render(args.output.format(), &rows, &machine, &run))
}

/// Runs one scenario (at `rate`, when given) against a fresh server child
/// (or alone, for a scenario without a server).
fn run_one(
    scenario: &'static Scenario,
    rate: Option<u64>,
    run_dir: &str,
    run: &RunInfo,
    progress: &Progress,
    index: usize,
) -> Result<Row, BenchError> {
    let service = match rate {
        None => format!("bench-{}", scenario.name),
        Some(rate) => format!("bench-{}-at-{rate}", scenario.name),
    };
    let params = ClientParams {
        run_dir,
        service: &service,
        timing: run.timing,
        batch: run.batch,
        auth_token: 0,
        limits: Limits::default(),
        check: run.check,
        rate,
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
    use scenarios::Plane;
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
        let items = match sc.batch(None) {
            Some(default) => format!("--batch ({default})"),
            None => sc.items(None).to_string(),
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
