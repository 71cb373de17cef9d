//! Rendering the rows: a Markdown table per group (load, idle, depart,
//! churn) with the units in the headers, a legend and notes on failures
//! below each, or JSON with every number. Each group's module renders
//! both; [`format`] has the number formats.

mod churn;
mod depart;
mod format;
mod held;
mod idle;
mod load;

use std::fmt::Write as _;

use serde::Serialize;

use super::Settings;
use super::churn::ChurnRow;
use super::depart::{self as departures, DepartRow};
use super::errors::Tally;
use super::held::RELEASE_TIMEOUT;
use super::idle::{IdleRow, SETTLE};
use super::limits::OpenFiles;
use super::load::LoadRow;
use super::provider::PROVIDER_SCENARIO;
use super::scenarios::CALL_TIMEOUT;
use format::group;

/// One finished row.
#[derive(Debug, Clone)]
pub enum RowResult {
    Load(LoadRow),
    Idle(IdleRow),
    Depart(DepartRow),
    Churn(ChurnRow),
}

/// The rows of each group, in run order.
#[derive(Default)]
struct Groups<'a> {
    load: Vec<&'a LoadRow>,
    idle: Vec<&'a IdleRow>,
    depart: Vec<&'a DepartRow>,
    churn: Vec<&'a ChurnRow>,
}

impl<'a> Groups<'a> {
    fn of(rows: &'a [RowResult]) -> Self {
        let mut groups = Self::default();
        for row in rows {
            match row {
                RowResult::Load(r) => groups.load.push(r),
                RowResult::Idle(r) => groups.idle.push(r),
                RowResult::Depart(r) => groups.depart.push(r),
                RowResult::Churn(r) => groups.churn.push(r),
            }
        }
        groups
    }
}

/// What the rows were run with.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub settings: Settings,
    pub open_files: Option<OpenFiles>,
    pub cores: usize,
}

/// Failure kinds listed per row in the Markdown notes.
const KINDS_SHOWN: usize = 4;

pub fn markdown(rows: &[RowResult], info: &RunInfo) -> String {
    let mut s = String::from("# netipc stress\n\n");
    let open = info
        .open_files
        .as_ref()
        .map_or_else(|| "none on this system".to_owned(), OpenFiles::describe);
    let _ = writeln!(
        s,
        "- machine: {} logical cores, {} {}; open-file limit: {open}",
        info.cores,
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    let _ = writeln!(
        s,
        "- provider: `netipc bench-server --scenario {PROVIDER_SCENARIO}` in its own process (the \
         library's managed INCREMENT server, default configuration), a fresh one per row"
    );
    let _ = writeln!(
        s,
        "- consumers: threads of this process, one `IncrementClient` each; call timeout {} s; \
         after a failure a consumer pauses {} ms, reconnects and goes on",
        CALL_TIMEOUT.as_secs_f64(),
        super::RETRY_PAUSE.as_millis()
    );
    s.push_str(
        "- transport: socket = the baseline transport only (a Unix SEQPACKET socket; a named \
         pipe on Windows); shm = shared memory (SHM_HYBRID) preferred\n",
    );
    s.push_str(
        "- CPU in cores = CPU seconds per wall second of the window (1.00 = one core busy); \
         stress = this process, all consumers together\n",
    );
    s.push_str(
        "- provider counters (sessions opened, refused at capacity, ...) and session counts: \
         the managed server's `ServerStats`, asked for on the provider child's control channel\n",
    );
    let groups = Groups::of(rows);
    if !groups.load.is_empty() {
        load::table(&mut s, &groups.load, &info.settings);
    }
    if !groups.idle.is_empty() {
        idle::table(&mut s, &groups.idle, &info.settings);
    }
    if !groups.depart.is_empty() {
        depart::table(&mut s, &groups.depart);
    }
    if !groups.churn.is_empty() {
        churn::table(&mut s, &groups.churn);
    }
    s
}

/// The notes of one row: its own, then its failures by kind (under their
/// label), then what the provider wrote on stderr.
fn row_notes(
    s: &mut String,
    name: &str,
    notes: &[String],
    failures: &[(&str, &Tally)],
    stderr: &str,
) {
    let mut items: Vec<String> = notes.to_vec();
    for (label, errors) in failures {
        let kinds = errors.kinds();
        if kinds.is_empty() {
            continue;
        }
        let shown: Vec<String> = kinds
            .iter()
            .take(KINDS_SHOWN)
            .map(|f| format!("{} x {} (\"{}\")", group(f.count), f.kind, f.message))
            .collect();
        let more = if kinds.len() > KINDS_SHOWN {
            format!(" and {} more kinds", kinds.len() - KINDS_SHOWN)
        } else {
            String::new()
        };
        items.push(format!("{label}: {}{more}", shown.join(", ")));
    }
    if !stderr.is_empty() {
        items.push(format!(
            "the provider wrote on stderr:\n\n```text\n{stderr}\n```"
        ));
    }
    if !items.is_empty() {
        let _ = writeln!(s, "\n- `{name}`: {}", items.join("; "));
    }
}

/// The whole report of `--json`.
#[derive(Serialize)]
pub struct Report<'a> {
    machine: Machine,
    open_files_limit: Option<&'a OpenFiles>,
    provider: Provider,
    settings: JsonSettings,
    rows: Vec<JsonRow<'a>>,
}

/// What the report says of the machine.
#[derive(Serialize)]
struct Machine {
    logical_cores: usize,
    os: &'static str,
    arch: &'static str,
}

/// The provider every row starts.
#[derive(Serialize)]
struct Provider {
    bench_server_scenario: &'static str,
}

/// What the rows were run with, and the tool's fixed times.
#[derive(Serialize)]
struct JsonSettings {
    duration_seconds: f64,
    connect_timeout_seconds: f64,
    cycles: u32,
    call_timeout_seconds: f64,
    retry_pause_seconds: f64,
    idle_settle_seconds: f64,
    release_timeout_seconds: f64,
    departures: u32,
    departure_idle_pause_seconds: f64,
    departure_timeout_seconds: f64,
    stats_round_trips_timed: u32,
}

/// One row, in the shape of its group.
#[derive(Serialize)]
#[serde(untagged)]
enum JsonRow<'a> {
    Load(load::Json<'a>),
    Idle(idle::Json<'a>),
    Depart(depart::Json<'a>),
    Churn(churn::Json<'a>),
}

pub fn json<'a>(rows: &'a [RowResult], info: &'a RunInfo) -> Report<'a> {
    let rows = rows
        .iter()
        .map(|r| match r {
            RowResult::Load(r) => JsonRow::Load(load::json(r)),
            RowResult::Idle(r) => JsonRow::Idle(idle::json(r)),
            RowResult::Depart(r) => JsonRow::Depart(depart::json(r)),
            RowResult::Churn(r) => JsonRow::Churn(churn::json(r)),
        })
        .collect();
    let settings = &info.settings;
    Report {
        machine: Machine {
            logical_cores: info.cores,
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
        },
        open_files_limit: info.open_files.as_ref(),
        provider: Provider {
            bench_server_scenario: PROVIDER_SCENARIO,
        },
        settings: JsonSettings {
            duration_seconds: settings.duration.as_secs_f64(),
            connect_timeout_seconds: settings.connect_timeout.as_secs_f64(),
            cycles: settings.cycles,
            call_timeout_seconds: CALL_TIMEOUT.as_secs_f64(),
            retry_pause_seconds: super::RETRY_PAUSE.as_secs_f64(),
            idle_settle_seconds: SETTLE.as_secs_f64(),
            release_timeout_seconds: RELEASE_TIMEOUT.as_secs_f64(),
            departures: settings.departures,
            departure_idle_pause_seconds: departures::IDLE_PAUSE.as_secs_f64(),
            departure_timeout_seconds: departures::DEPARTURE_TIMEOUT.as_secs_f64(),
            stats_round_trips_timed: departures::PROBES,
        },
        rows,
    }
}
