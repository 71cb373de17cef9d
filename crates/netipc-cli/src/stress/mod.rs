//! `netipc stress`: whole-host load scenarios against one provider.
//!
//! Every row starts a fresh provider in a child process (the `bench-server`
//! of `l2-shm-increment`, a managed INCREMENT server that offers shared
//! memory and serves baseline sessions too) in a private run directory,
//! and runs its consumers as threads of this process, each with its own
//! `IncrementClient`:
//!
//! - [`load`]: N consumers call in a loop; calls/s, latency, fairness
//!   (consumers never served, calls per consumer), failures, CPU and memory;
//! - [`idle`]: N consumers hold a session each without calling; the
//!   provider's idle CPU and memory per session, and how long it takes to
//!   release the sessions when they all close;
//! - [`depart`]: N consumers hold idle sessions while other consumers come
//!   and leave one at a time; how soon the provider notices each
//!   departure;
//! - [`churn`]: one short-lived consumer after another; cycles/s, cycle
//!   time, failures, the provider's session counters.
//!
//! A row in which consumers were never served is a result, not an error of
//! the tool: the tool fails only when the provider cannot be started or
//! stops answering. Every call has a timeout, every wait a deadline, and
//! every row a watchdog, so the tool does not hang on a stuck provider.
//!
//! [`scenarios`] names the rows; [`row`] is what every row shares (its
//! provider with the consumer threads, the consumers' plan, the timed
//! window); [`held`] opens and closes the held sessions of idle and depart
//! rows; [`crowd`] runs the consumer threads, [`provider`] the child, its
//! counters and the CPU windows; [`latency`] and [`errors`] collect what
//! the consumers saw, [`limits`] raises the open-file limit, [`progress`]
//! and [`report`] show it all.

mod churn;
mod crowd;
mod depart;
mod errors;
mod held;
mod idle;
mod latency;
mod limits;
mod load;
mod progress;
mod provider;
mod report;
mod row;
mod scenarios;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use crate::bench::BenchError;
use progress::Progress;
use report::{RowResult, RunInfo};
use row::Row;
use scenarios::{DEFAULTS, Kind, Scenario};

/// How long a consumer pauses after the provider turned it away (or a
/// call failed) before it tries again.
pub const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How long rows run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The measured window of load rows and the idle window of idle rows.
    pub duration: Duration,
    /// How long consumers try to connect (idle rows: to be served) before
    /// the window opens.
    pub connect_timeout: Duration,
    /// Cycles of a churn row.
    pub cycles: u32,
    /// Departures of a depart row.
    pub departures: u32,
}

/// Arguments of `netipc stress`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Each row starts its own provider in a separate process (`netipc bench-server --scenario \
l2-shm-increment`: the library's managed INCREMENT server with its default configuration, \
offering shared memory and the baseline transport) in a private directory under TMPDIR. The \
consumers are threads of this process, one IncrementClient each, with a 2 s call timeout. \
Load rows report calls/s, call latency, consumers never served, the spread of calls per \
consumer, failures, and the CPU (in cores) and resident memory of the provider and the CPU of \
this process. Idle rows report the provider's CPU with the sessions open and idle, its memory \
per session, and how long it took to release every session once they all closed. Depart rows \
hold the idle sessions while, --departures times, one more consumer connects, calls once, goes \
idle for a few ms and closes; they report how soon the provider's session count dropped back \
(percentiles), which shows whether a departure is noticed by an event or by polling. Churn rows \
report cycles/s and the time of a whole cycle. Idle, depart and churn rows also report the \
provider's counters (sessions opened, refused at capacity, handshake failures), read from its \
statistics over its control channel (`stats`); so are the session counts the release times \
are measured with, which makes them late by up to one such round trip (the depart rows \
report it).

Rows where consumers were never served are reported, not treated as errors; the command fails \
only when a provider cannot be started or stops answering. The soft open-file limit is raised \
to the hard limit first.

Examples:
  netipc stress
  netipc stress --quick
  netipc stress --list
  netipc stress --scenario load-1000-shm --duration 10
  netipc stress --scenario idle-1000-socket --scenario idle-1000-shm --json
  netipc stress --scenario depart-1000-shm --departures 1000
  netipc stress --quick --scenario load-32-socket --scenario churn-shm --cycles 500")]
pub struct StressArgs {
    /// Run only this row (repeatable): load-N-socket, load-N-shm,
    /// idle-N-socket, idle-N-shm, depart-N-socket, depart-N-shm (N
    /// consumers), churn-socket or churn-shm; see --list.
    #[arg(long = "scenario", value_name = "NAME", value_parser = scenarios::parse)]
    scenarios: Vec<Scenario>,
    /// List the default rows and exit.
    #[arg(long)]
    list: bool,
    /// Short runs: 1 s windows, 1000 churn cycles and 50 departures.
    #[arg(long)]
    quick: bool,
    /// Seconds of the measured window of load rows and of the idle window
    /// of idle rows (default 5, or 1 with --quick).
    #[arg(long, value_name = "SECS", value_parser = crate::common::parse_secs)]
    duration: Option<f64>,
    /// Cycles of a churn row (default 10000, or 1000 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    cycles: Option<u32>,
    /// Departures of a depart row (default 200, or 50 with --quick).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    departures: Option<u32>,
    /// Seconds consumers keep trying to connect (idle rows: to be served)
    /// before the window opens.
    #[arg(long, value_name = "SECS", value_parser = crate::common::parse_secs, default_value_t = 10.0)]
    connect_timeout: f64,
    /// Print JSON (every number) instead of Markdown tables.
    #[arg(long)]
    json: bool,
}

impl StressArgs {
    fn settings(&self) -> Settings {
        let duration = self.duration.unwrap_or(if self.quick { 1.0 } else { 5.0 });
        Settings {
            duration: Duration::from_secs_f64(duration),
            connect_timeout: Duration::from_secs_f64(self.connect_timeout),
            cycles: self
                .cycles
                .unwrap_or(if self.quick { 1_000 } else { 10_000 }),
            departures: self.departures.unwrap_or(if self.quick { 50 } else { 200 }),
        }
    }
}

/// Runs `netipc stress`.
pub fn run(args: &StressArgs) -> ExitCode {
    if args.list {
        print!("{}", scenarios::list());
        return ExitCode::SUCCESS;
    }
    match run_rows(args) {
        Ok(text) => {
            let mut out = io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            }
        }
        Err(e) => {
            eprintln!("netipc stress: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_rows(args: &StressArgs) -> Result<String, BenchError> {
    let open_files = limits::raise_open_files();
    let settings = args.settings();
    let mut plan: Vec<Scenario> = Vec::new();
    for sc in if args.scenarios.is_empty() {
        &DEFAULTS[..]
    } else {
        &args.scenarios[..]
    } {
        if !plan.contains(sc) {
            plan.push(*sc);
        }
    }
    let (dir, run_dir) = crate::common::temp_run_dir("netipc-stress-").map_err(BenchError::new)?;
    let run_dir = run_dir.as_str();
    let progress = Progress::new(plan.len());
    let mut rows = Vec::with_capacity(plan.len());
    for (i, sc) in plan.iter().enumerate() {
        let name = sc.to_string();
        progress.row(i, &name);
        let row = Row {
            name: &name,
            transport: sc.transport,
            settings: &settings,
            run_dir,
            progress: &progress,
        };
        let row = match sc.kind {
            Kind::Load(n) => load::run(&row, n).map(RowResult::Load),
            Kind::Idle(n) => idle::run(&row, n).map(RowResult::Idle),
            Kind::Depart(n) => depart::run(&row, n).map(RowResult::Depart),
            Kind::Churn => churn::run(&row).map(RowResult::Churn),
        };
        match row {
            Ok(row) => rows.push(row),
            Err(e) => {
                progress.done();
                return Err(BenchError::new(format!("scenario {name}: {e}")));
            }
        }
    }
    progress.done();
    dir.close()
        .map_err(|e| BenchError::new(format!("cannot remove the temporary run directory: {e}")))?;
    let info = RunInfo {
        settings,
        open_files,
        cores: std::thread::available_parallelism().map_or(0, usize::from),
    };
    if args.json {
        let mut s = serde_json::to_string_pretty(&report::json(&rows, &info))
            .map_err(|e| BenchError::new(format!("cannot encode the JSON report: {e}")))?;
        s.push('\n');
        Ok(s)
    } else {
        Ok(report::markdown(&rows, &info))
    }
}
