//! Rendering the rows: a Markdown table (default), CSV or JSON, and the
//! description of the machine they were measured on.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use procfs_core::{CpuInfo, FromRead, LoadAverage};
use serde::Serialize;

use super::batch::BatchSize;
use super::pace;
use super::scenarios::{
    WAIT_NONE, WAIT_POLL, WAIT_SPIN, WAIT_SPIN_SLEEP, WAIT_SPIN_SLEEP_ALWAYS_WAKE,
};
use super::stats::{AtRate, Latency, Ratio, Row};
use super::{Check, Timing};
use crate::common::json_text;
use crate::table::Table;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Csv,
    Json,
}

/// What the machine is, as far as it can be read portably.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: Option<String>,
    #[serde(rename = "logical_cores")]
    pub cores: usize,
    pub os: String,
    pub arch: &'static str,
    /// 1/5/15-minute load averages at the start, where readable.
    #[serde(rename = "load_average")]
    pub load: Option<String>,
}

impl Machine {
    /// Reads the machine description (files that do not exist on this OS
    /// are skipped; procfs-core parses Linux's `/proc` files).
    pub fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let cpu = CpuInfo::from_file("/proc/cpuinfo")
            .ok()
            .and_then(|c| c.model_name(0).map(str::to_owned))
            .or_else(|| std::env::var("PROCESSOR_IDENTIFIER").ok());
        let release = read("/etc/os-release").and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        });
        let kernel = read("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned());
        let mut os = std::env::consts::OS.to_owned();
        match (release, kernel) {
            (Some(r), Some(k)) => os = format!("{os} ({r}, kernel {k})"),
            (Some(r), None) => os = format!("{os} ({r})"),
            (None, Some(k)) => os = format!("{os} (kernel {k})"),
            (None, None) => {}
        }
        let load = LoadAverage::from_file("/proc/loadavg")
            .ok()
            .map(|l| format!("{:.2} {:.2} {:.2}", l.one, l.five, l.fifteen));
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            os,
            arch: std::env::consts::ARCH,
            load,
        }
    }
}

/// The run settings shown with the rows.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub timing: Timing,
    /// `--batch`, when given.
    pub batch: Option<BatchSize>,
    /// How the answers were checked.
    pub check: Check,
    /// The rates of a run at fixed rates (`--rate`, `--rates`), in calls
    /// per second; empty: as fast as the pairings go.
    pub rates: Vec<u64>,
    /// Whether a run at fixed rates prints one table per scenario, a row
    /// per rate (`--rates`), rather than one table of every scenario.
    pub rate_tables: bool,
}

impl RunInfo {
    /// How the answers were checked, in words.
    fn validation(&self) -> &'static str {
        match self.check {
            Check::BenchData => "item for item against netipc's bench data",
            Check::Structure => {
                "structure only: any well-formed answer of the scenario's method (see \
                 `netipc bench-client --help`)"
            }
        }
    }
}

/// Items per round trip as `--json` and `--csv` show them: the count when
/// every round trip carried the same, else the mean.
#[derive(Serialize)]
#[serde(untagged)]
enum PerRoundTrip {
    Exact(u32),
    Mean(f64),
}

impl PerRoundTrip {
    fn of(r: &Row) -> Self {
        if r.items_fixed() {
            Self::Exact(r.items_range.0)
        } else {
            Self::Mean(places(r.items_per_round_trip, 2))
        }
    }
}

/// The `items/rt` cell of a row: the count, or for a random batch (and
/// answers of varying size) the range and the mean.
fn items_cell(r: &Row) -> String {
    match (r.batch, r.items_fixed()) {
        (Some(b @ BatchSize::Random { .. }), _) => {
            format!("{b} (mean {:.1})", r.items_per_round_trip)
        }
        (_, true) => r.items_range.0.to_string(),
        (_, false) => format!(
            "{}..{} (mean {:.1})",
            r.items_range.0, r.items_range.1, r.items_per_round_trip
        ),
    }
}

/// Renders `rows` in `format`.
pub fn render(format: Format, rows: &[Row], machine: &Machine, run: &RunInfo) -> String {
    match format {
        Format::Markdown => markdown(rows, machine, run),
        Format::Csv => csv(rows),
        Format::Json => json_text(&Report::new(rows, machine, run)),
    }
}

fn markdown(rows: &[Row], m: &Machine, run: &RunInfo) -> String {
    let mut s = String::from("# netipc bench\n\n");
    let cpu = m.cpu.as_deref().unwrap_or("unknown CPU");
    let _ = writeln!(
        s,
        "- machine: {cpu}, {} logical cores, {} {}",
        m.cores, m.os, m.arch
    );
    if let Some(load) = &m.load {
        let _ = writeln!(s, "- load average at start: {load}");
    }
    let _ = writeln!(
        s,
        "- each row: {:.1} s warm-up, then {:.1} s measured{}; client and server in separate \
         processes",
        run.timing.warmup.as_secs_f64(),
        run.timing.duration.as_secs_f64(),
        match run.rates.as_slice() {
            [] => String::new(),
            [rate] => format!(", both at {} calls/s", count(*rate as f64)),
            _ => ", both at each rate".to_owned(),
        }
    );
    if !run.rates.is_empty() {
        let _ = writeln!(
            s,
            "- pacing: {}; `behind`: the share of calls already due when the client was free \
             to send them; `woke late`: the share of calls whose sleep ended after their due \
             time (the client's own lateness, in their latency)",
            pacing_text()
        );
        s.push_str(
            "- CPU per call: client = the client thread, its pacing included (`pacing` is that \
             part: the CPU time of its sleeps and spins); server = the server process; total = \
             both; 1 µs per call = 1 ms per 1,000 calls\n",
        );
    }
    s.push_str("- waiting, per row (column `wait`):\n");
    for (wait, text) in WAITS {
        if rows.iter().any(|r| r.wait == *wait) {
            let _ = writeln!(s, "  - `{wait}`: {text}");
        }
    }
    if run.rates.is_empty() {
        s.push_str("- latency = from sending a request to its answer, measured by the client\n");
    } else {
        s.push_str(
            "- latency = from a call's due time to its answer, measured by the client; when \
             the client's own sleep ended after the due time, from the end of the sleep (the \
             latencies from the due times are in --json and --csv)\n",
        );
    }
    let _ = writeln!(s, "- answers checked: {}", run.validation());
    if rows.iter().any(|r| r.batch.is_some()) {
        s.push_str(
            "- a batch row's items/rt is its --batch: N items in every request, or MIN..MAX \
             drawn for each request (uniformly, from a fixed seed, so runs draw the same \
             sequence) with the mean of the measured requests; items/s counts the items \
             answered\n",
        );
    }
    if rows.iter().any(|r| r.scenario.contains("snapshot")) {
        s.push_str(
            "- a round trip of a snapshot row is one full refresh: items/rt is the cgroups in \
             it, items/s counts cgroups, the latency is per refresh\n",
        );
    }
    if rows.iter().any(|r| r.scenario.contains("-lookup-")) {
        s.push_str(
            "- a round trip of a lookup row is one logical call: items/rt is the keys in it \
             (cgroup paths or PIDs), items/s counts keys answered, the latency is per call \
             (an L2 call may make several request/response exchanges, see below)\n",
        );
    }
    if rows.iter().any(|r| r.wait == WAIT_NONE) {
        s.push_str(
            "- the in-process rows (data plane `memory`) do no I/O: a round trip is a batch of \
             lookups in the client's own memory, items/s counts lookups, the latency is per \
             batch\n",
        );
    }
    s.push('\n');
    if run.rates.is_empty() {
        s.push_str(&speed_table(rows));
    } else {
        s.push_str(&rate_tables(rows, run));
    }
    s.push('\n');
    // With several rates a scenario has several rows, one after the other.
    let mut last = None;
    for r in rows
        .iter()
        .filter(|r| last.replace(r.scenario) != Some(r.scenario))
    {
        match (r.limit, r.l1) {
            (Some(limit), Some(l1)) => {
                let _ = writeln!(
                    s,
                    "- `{}` (vs `{limit}`, L1 `{l1}`): {}",
                    r.scenario, r.summary
                );
            }
            (Some(limit), None) => {
                let _ = writeln!(s, "- `{}` (vs `{limit}`): {}", r.scenario, r.summary);
            }
            (None, _) => {
                let _ = writeln!(s, "- `{}`: {}", r.scenario, r.summary);
            }
        }
    }
    let allocating: Vec<&Row> = rows.iter().filter(|r| r.client_allocations > 0).collect();
    if allocating.is_empty() {
        s.push_str("\nClient allocations in the measured round trips: none.\n");
    } else {
        s.push_str("\nClient allocations in the measured round trips (expected none):\n");
        for r in allocating {
            let _ = writeln!(
                s,
                "- {}: {} ({:.2} per round trip)",
                label(r),
                r.client_allocations,
                r.client_allocations as f64 / r.round_trips.max(1) as f64
            );
        }
    }
    for r in rows {
        if let Some(x) = r.exchanges_per_round_trip.filter(|&x| x > 1.005) {
            let _ = writeln!(
                s,
                "- {}: {x:.2} request/response exchanges per logical call (the L2 client \
                 split each call into sub-calls that fit the negotiated request and response \
                 sizes)",
                label(r)
            );
        }
    }
    for r in rows {
        if let Some(n @ 1..) = r.reconnects {
            let _ = writeln!(
                s,
                "- {}: the L2 client reconnected {n} times while measured, so the row \
                 is not a steady state",
                label(r)
            );
        }
    }
    s
}

/// A row's name in the notes: its scenario, and its rate when it has one.
fn label(r: &Row) -> String {
    match &r.rate {
        None => format!("`{}`", r.scenario),
        Some(at) => format!(
            "`{}` at {} calls/s",
            r.scenario,
            count(at.target_calls_per_second as f64)
        ),
    }
}

/// How a run at a fixed rate paces its calls (`settings.pacing` of
/// `--json`, and a bullet of the Markdown header).
fn pacing_text() -> String {
    format!(
        "call k of a row is due k/N s after the row's start (N: the rate); the client sleeps \
         until {} µs before a due time, then spins (a shorter gap is only spun), and sends a \
         late call at once; a latency counts from the call's due time (from the end of the \
         client's sleep when that ended after it: the client's own lateness, which the `woke \
         late` share counts); the client CPU includes \
         the pacing (shown apart, not subtracted); a rate the pairing cannot reach shows the \
         rate it reached",
        pace::SPIN.as_micros()
    )
}

/// The tables of a run at fixed rates: one table with a row per scenario
/// (one rate), or one table per scenario with a row per rate (`--rates`).
fn rate_tables(rows: &[Row], run: &RunInfo) -> String {
    let mut s = String::new();
    if !run.rate_tables {
        let mut table = Table::markdown(&[
            "scenario",
            "wait",
            "target",
            "calls/s",
            "client CPU",
            "pacing",
            "server CPU",
            "total CPU",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "behind",
            "woke late",
        ])
        .right(&[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        for r in rows {
            let l = &r.latency;
            let mut cells = vec![r.scenario.to_owned(), r.wait.to_owned()];
            cells.extend(rate_cells(r));
            cells.extend([l.p50, l.p90, l.p99, l.p999, l.max].map(micros));
            cells.extend(late(r));
            table.row(cells);
        }
        s.push_str(&table.render());
        s.push('\n');
    }
    let mut start = 0;
    while run.rate_tables && start < rows.len() {
        let scenario = rows[start].scenario;
        let end = rows[start..]
            .iter()
            .position(|r| r.scenario != scenario)
            .map_or(rows.len(), |n| start + n);
        let first = &rows[start];
        let _ = writeln!(s, "### `{scenario}` (wait: {})\n", first.wait);
        let mut table = Table::markdown(&[
            "target",
            "calls/s",
            "client CPU",
            "pacing",
            "server CPU",
            "total CPU",
            "p50",
            "p99",
            "behind",
            "woke late",
        ])
        .right(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        for r in &rows[start..end] {
            let mut cells = rate_cells(r);
            cells.extend([r.latency.p50, r.latency.p99].map(micros));
            cells.extend(late(r));
            table.row(cells);
        }
        s.push_str(&table.render());
        s.push('\n');
        start = end;
    }
    s.push_str(
        "target and calls/s: calls (round trips) per second asked for and reached; CPU in µs \
         per call.\n",
    );
    if rows.iter().any(fell_behind) {
        s.push_str(
            "`*`: the pairing could not keep up with the target, so its calls fell ever further \
             behind their due times, and its latencies (from the due times) measure that \
             backlog, not a call.\n",
        );
    }
    s
}

/// A row at a fixed rate that reached less than this share of its target
/// could not keep up (a row that keeps up reaches about all of it: only
/// the last call's latency is beyond its last due time).
const KEPT_UP: f64 = 0.95;

/// Whether a row at a fixed rate could not keep up with it.
fn fell_behind(r: &Row) -> bool {
    r.rate
        .as_ref()
        .is_some_and(|at| r.round_trips_per_s < at.target_calls_per_second as f64 * KEPT_UP)
}

/// The target, rate reached and CPU cells of a row at a fixed rate.
fn rate_cells(r: &Row) -> Vec<String> {
    let Some(at) = &r.rate else {
        return vec!["-".to_owned(); 6];
    };
    let server = at.server_cpu_us_per_call.map_or("-".to_owned(), cpu_cell);
    vec![
        count(at.target_calls_per_second as f64),
        count(r.round_trips_per_s) + if fell_behind(r) { " *" } else { "" },
        cpu_cell(at.client_cpu_us_per_call),
        cpu_cell(at.pacing_cpu_us_per_call),
        server,
        at.total_cpu_us_per_call().map_or("-".to_owned(), cpu_cell),
    ]
}

/// The `behind` and `woke late` cells: the share of calls already due
/// when the client was free to send them, and of calls whose sleep ended
/// after their due time.
fn late(r: &Row) -> [String; 2] {
    let Some(at) = &r.rate else {
        return ["-".to_owned(), "-".to_owned()];
    };
    let share = |n: u64| format!("{:.1}%", n as f64 * 100.0 / r.round_trips.max(1) as f64);
    [share(at.behind_calls), share(at.overslept_calls)]
}

/// CPU microseconds per call: 2 decimals below 10, 1 above.
fn cpu_cell(us: f64) -> String {
    if us < 10.0 {
        format!("{us:.2}")
    } else {
        format!("{us:.1}")
    }
}

/// The table of a run as fast as it goes: rates, latencies, CPU in cores
/// and the ratios to the limit and L1 rows.
fn speed_table(rows: &[Row]) -> String {
    let mut s = String::new();
    let mut table = Table::markdown(&[
        "scenario",
        "wait",
        "items/rt",
        "depth",
        "round trips/s",
        "items/s",
        "p50",
        "p95",
        "p99",
        "p99.9",
        "client CPU",
        "server CPU",
        "items/s vs limit",
        "p50 vs limit",
        "items/s vs L1",
        "p50 vs L1",
    ])
    .right(&[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    for r in rows {
        let (tput, p50) = match (&r.ratio, r.limit) {
            (Some(x), _) => (format!("{:.2}x", x.items_per_s), format!("{:.2}x", x.p50)),
            (None, None) => ("limit".to_owned(), "limit".to_owned()),
            (None, Some(_)) => ("-".to_owned(), "-".to_owned()),
        };
        let (l1_tput, l1_p50) = r.l1_ratio.map_or(("-".to_owned(), "-".to_owned()), |x| {
            (format!("{:.2}x", x.items_per_s), format!("{:.2}x", x.p50))
        });
        let l = &r.latency;
        table.row(vec![
            r.scenario.to_owned(),
            r.wait.to_owned(),
            items_cell(r),
            r.depth.to_string(),
            count(r.round_trips_per_s),
            count(r.items_per_s),
            micros(l.p50),
            micros(l.p95),
            micros(l.p99),
            micros(l.p999),
            format!("{:.2}", r.client_cores),
            r.server_cores.map_or("-".to_owned(), |c| format!("{c:.2}")),
            tput,
            p50,
            l1_tput,
            l1_p50,
        ]);
    }
    s.push_str(&table.render());
    s.push_str(
        "\nCPU is in cores (CPU seconds per wall second). \"vs limit\" divides by the row's \
         limit row, named below (raw-packet-pingpong for socket rows: the same socket, no \
         protocol; raw-shm-pingpong for SHM rows: two counters in a shared file with the same \
         spin-then-futex wait, no protocol): items/s above 1x means more items per second \
         than the raw ping-pong, p50 above 1x means slower round trips.",
    );
    if rows.iter().any(|r| r.wait == WAIT_NONE) {
        s.push_str(
            " The in-process rows (no I/O) are compared to raw-hashmap-lookup: the same \
             lookups in a std HashMap built in the client.",
        );
    }
    if rows.iter().any(|r| r.l1.is_some()) {
        s.push_str(
            " \"vs L1\" divides an L2 row (typed client and managed server) by its L1 row, \
             the same exchange on a bare session with a hand-written server: the cost of \
             the L2 layer.",
        );
    }
    s
}

/// What every `wait` value means, in report order.
const WAITS: &[(&str, &str)] = &[
    (
        WAIT_POLL,
        "baseline rows (socket / named pipe): a waiting thread blocks in the kernel until \
         a packet arrives (it sleeps, no spinning); every message is a send and a receive \
         system call",
    ),
    (
        WAIT_SPIN_SLEEP,
        "SHM rows: a waiting thread polls the shared memory briefly, then sleeps (futex on \
         Linux, event on Windows); the publisher makes the wake-up system call only when the \
         peer sleeps, so a peer that caught the message while spinning costs no system call",
    ),
    (
        WAIT_SPIN_SLEEP_ALWAYS_WAKE,
        "SHM rows whose server wakes on every message (another implementation): as \
         spin+sleep, but every message is followed by a wake-up system call",
    ),
    (
        WAIT_SPIN,
        "SHM rows of the busy-wait profile: a waiting thread never sleeps; it polls and \
         yields its time slice now and then",
    ),
    (
        WAIT_NONE,
        "in-process rows: lookups in the client's own memory, no I/O and no peer to wait for",
    ),
];

/// One row of `--csv`: the numbers of a row, flat, under the names of
/// the header line (empty where there is no value).
#[derive(Serialize)]
struct CsvRow<'a> {
    scenario: &'a str,
    limit: Option<&'a str>,
    items_per_round_trip: PerRoundTrip,
    depth: u32,
    round_trips: u64,
    items: u64,
    wall_s: f64,
    round_trips_per_s: f64,
    items_per_s: f64,
    p50_ns: u64,
    p95_ns: u64,
    p99_ns: u64,
    p999_ns: u64,
    min_ns: u64,
    max_ns: u64,
    mean_ns: f64,
    client_cpu_cores: f64,
    server_cpu_cores: Option<f64>,
    ratio_items_per_s: Option<f64>,
    ratio_round_trips_per_s: Option<f64>,
    ratio_p50: Option<f64>,
    data_plane: &'a str,
    wait: &'a str,
    l1: Option<&'a str>,
    ratio_l1_items_per_s: Option<f64>,
    ratio_l1_round_trips_per_s: Option<f64>,
    ratio_l1_p50: Option<f64>,
    client_allocations: u64,
    reconnects: Option<u32>,
    exchanges_per_round_trip: Option<f64>,
    batch: Option<String>,
    items_per_round_trip_min: u32,
    items_per_round_trip_max: u32,
    p90_ns: u64,
    target_calls_per_s: Option<u64>,
    client_cpu_us_per_call: Option<f64>,
    pacing_cpu_us_per_call: Option<f64>,
    server_cpu_us_per_call: Option<f64>,
    behind_calls: Option<u64>,
    waited_calls: Option<u64>,
    slept_calls: Option<u64>,
    overslept_calls: Option<u64>,
    mean_oversleep_us: Option<f64>,
    p50_from_due_ns: Option<u64>,
    p99_from_due_ns: Option<u64>,
    max_from_due_ns: Option<u64>,
}

impl<'a> CsvRow<'a> {
    fn new(r: &'a Row) -> Self {
        let l = &r.latency;
        let from_due = r.rate.and_then(|at| at.latency_from_due_ns);
        Self {
            scenario: r.scenario,
            limit: r.limit,
            items_per_round_trip: PerRoundTrip::of(r),
            depth: r.depth,
            round_trips: r.round_trips,
            items: r.items,
            wall_s: places(r.wall_s, 4),
            round_trips_per_s: places(r.round_trips_per_s, 1),
            items_per_s: places(r.items_per_s, 1),
            p50_ns: l.p50,
            p95_ns: l.p95,
            p99_ns: l.p99,
            p999_ns: l.p999,
            min_ns: l.min,
            max_ns: l.max,
            mean_ns: places(l.mean, 1),
            client_cpu_cores: places(r.client_cores, 4),
            server_cpu_cores: r.server_cores.map(|c| places(c, 4)),
            ratio_items_per_s: r.ratio.map(|x| places(x.items_per_s, 4)),
            ratio_round_trips_per_s: r.ratio.map(|x| places(x.round_trips_per_s, 4)),
            ratio_p50: r.ratio.map(|x| places(x.p50, 4)),
            data_plane: r.plane,
            wait: r.wait,
            l1: r.l1,
            ratio_l1_items_per_s: r.l1_ratio.map(|x| places(x.items_per_s, 4)),
            ratio_l1_round_trips_per_s: r.l1_ratio.map(|x| places(x.round_trips_per_s, 4)),
            ratio_l1_p50: r.l1_ratio.map(|x| places(x.p50, 4)),
            client_allocations: r.client_allocations,
            reconnects: r.reconnects,
            exchanges_per_round_trip: r.exchanges_per_round_trip.map(|x| places(x, 4)),
            batch: r.batch.map(|b| b.to_string()),
            items_per_round_trip_min: r.items_range.0,
            items_per_round_trip_max: r.items_range.1,
            p90_ns: l.p90,
            target_calls_per_s: r.rate.map(|at| at.target_calls_per_second),
            client_cpu_us_per_call: r.rate.map(|at| places(at.client_cpu_us_per_call, 3)),
            pacing_cpu_us_per_call: r.rate.map(|at| places(at.pacing_cpu_us_per_call, 3)),
            server_cpu_us_per_call: r
                .rate
                .and_then(|at| at.server_cpu_us_per_call)
                .map(|us| places(us, 3)),
            behind_calls: r.rate.map(|at| at.behind_calls),
            waited_calls: r.rate.map(|at| at.waited_calls),
            slept_calls: r.rate.map(|at| at.slept_calls),
            overslept_calls: r.rate.map(|at| at.overslept_calls),
            mean_oversleep_us: r.rate.map(|at| places(at.mean_oversleep_us, 3)),
            p50_from_due_ns: from_due.map(|l| l.p50),
            p99_from_due_ns: from_due.map(|l| l.p99),
            max_from_due_ns: from_due.map(|l| l.max),
        }
    }
}

/// `v` rounded to `n` decimal places: the CSV shows rates to 0.1 and
/// seconds, cores and ratios to 0.0001.
fn places(v: f64, n: i32) -> f64 {
    let scale = 10f64.powi(n);
    (v * scale).round() / scale
}

/// The rows as CSV (the `csv` crate quotes what needs quoting), with a
/// header line.
fn csv(rows: &[Row]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let written = rows
        .iter()
        .try_for_each(|r| out.serialize(CsvRow::new(r)))
        .map_err(|e| e.to_string())
        .and_then(|()| out.into_inner().map_err(|e| e.to_string()));
    match written {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("error: cannot write CSV: {e}\n"),
    }
}

/// The whole report of `--json`.
#[derive(Serialize)]
struct Report<'a> {
    tool: &'static str,
    version: &'static str,
    machine: &'a Machine,
    settings: Settings,
    rows: Vec<JsonRow<'a>>,
}

/// The settings of the run, and what every `wait` value means.
#[derive(Serialize)]
struct Settings {
    warmup_seconds: f64,
    duration_seconds: f64,
    /// `--batch`, when given (each batch row's `batch` says what it used).
    batch: Option<String>,
    validation: &'static str,
    waiting: BTreeMap<&'static str, &'static str>,
    /// The rates of a run at fixed rates, in calls per second (empty: as
    /// fast as the pairings go), and how the calls were paced.
    rates: Vec<u64>,
    pacing: Option<String>,
}

/// One row of `--json`.
#[derive(Serialize)]
struct JsonRow<'a> {
    scenario: &'a str,
    summary: &'a str,
    limit: Option<&'a str>,
    is_limit: bool,
    data_plane: &'a str,
    wait: &'a str,
    /// The `--batch` of a batch row.
    batch: Option<String>,
    items_per_round_trip: PerRoundTrip,
    items_per_round_trip_min: u32,
    items_per_round_trip_max: u32,
    depth: u32,
    round_trips: u64,
    items: u64,
    wall_seconds: f64,
    round_trips_per_second: f64,
    items_per_second: f64,
    latency_ns: Latency,
    cpu_cores: Cores,
    ratio: Option<Ratio>,
    l1: Option<&'a str>,
    l1_ratio: Option<Ratio>,
    client_allocations: u64,
    reconnects: Option<u32>,
    exchanges_per_round_trip: Option<f64>,
    /// The fixed-rate numbers of a row measured at a rate.
    rate: Option<AtRate>,
}

/// CPU of both sides, in cores.
#[derive(Serialize)]
struct Cores {
    client: f64,
    server: Option<f64>,
}

impl<'a> Report<'a> {
    fn new(rows: &'a [Row], machine: &'a Machine, run: &RunInfo) -> Self {
        let rows = rows
            .iter()
            .map(|r| JsonRow {
                scenario: r.scenario,
                summary: r.summary,
                limit: r.limit,
                is_limit: r.limit.is_none(),
                data_plane: r.plane,
                wait: r.wait,
                batch: r.batch.map(|b| b.to_string()),
                items_per_round_trip: PerRoundTrip::of(r),
                items_per_round_trip_min: r.items_range.0,
                items_per_round_trip_max: r.items_range.1,
                depth: r.depth,
                round_trips: r.round_trips,
                items: r.items,
                wall_seconds: r.wall_s,
                round_trips_per_second: r.round_trips_per_s,
                items_per_second: r.items_per_s,
                latency_ns: r.latency,
                cpu_cores: Cores {
                    client: r.client_cores,
                    server: r.server_cores,
                },
                ratio: r.ratio,
                l1: r.l1,
                l1_ratio: r.l1_ratio,
                client_allocations: r.client_allocations,
                reconnects: r.reconnects,
                exchanges_per_round_trip: r.exchanges_per_round_trip,
                rate: r.rate,
            })
            .collect();
        Self {
            tool: "netipc bench",
            version: env!("CARGO_PKG_VERSION"),
            machine,
            settings: Settings {
                warmup_seconds: run.timing.warmup.as_secs_f64(),
                duration_seconds: run.timing.duration.as_secs_f64(),
                batch: run.batch.map(|b| b.to_string()),
                validation: run.validation(),
                waiting: WAITS.iter().copied().collect(),
                rates: run.rates.clone(),
                pacing: (!run.rates.is_empty()).then(pacing_text),
            },
            rows,
        }
    }
}

/// A rate with thousands separators (no decimals).
fn count(v: f64) -> String {
    let n = v.round().max(0.0) as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Nanoseconds as microseconds.
fn micros(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us < 100.0 {
        format!("{us:.1} µs")
    } else {
        format!("{us:.0} µs")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::pace::Pacing;
    use super::super::stats::measured_at;
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(1234567.4), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(micros(12_345), "12.3 µs");
        assert_eq!(micros(1_234_567), "1235 µs");
        assert_eq!(places(0.123_456, 4), 0.1235);
        assert_eq!(places(94_548.528, 1), 94_548.5);
    }

    #[test]
    fn csv_quotes_and_leaves_missing_values_empty() {
        let mut row = super::super::stats::measured("uds-pingpong", &[10; 10], 1);
        row.scenario = "odd, \"name\"";
        let text = csv(&[row]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("scenario,limit,items_per_round_trip,"));
        assert!(
            lines[1]
                .starts_with("\"odd, \"\"name\"\"\",raw-packet-pingpong,1,1,10,10,1.0,10.0,10.0,"),
            "{text}"
        );
        assert!(
            lines[1].ends_with(",socket,poll,,,,,0,,,,1,1,10007,,,,,,,,,,,,"),
            "{text}"
        );
    }

    fn pacing(rate: u64, behind: u64, overslept: u64) -> Pacing {
        Pacing {
            rate,
            behind,
            waits: 1000 - behind,
            sleeps: 1000 - behind,
            overslept,
            oversleep: Duration::from_micros(overslept * 20),
            cpu: Duration::from_millis(50),
        }
    }

    fn run_at(rates: &[u64], rate_tables: bool) -> RunInfo {
        RunInfo {
            timing: Timing {
                warmup: Duration::from_millis(200),
                duration: Duration::from_secs(1),
            },
            batch: None,
            check: Check::BenchData,
            rates: rates.to_vec(),
            rate_tables,
        }
    }

    fn machine() -> Machine {
        Machine {
            cpu: Some("a CPU".to_owned()),
            cores: 2,
            os: "an OS".to_owned(),
            arch: "x86_64",
            load: Some("0.50 0.40 0.30".to_owned()),
        }
    }

    /// The cells of the Markdown table row that begins with `first`.
    fn cells<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
        text.lines()
            .filter_map(|l| l.strip_prefix('|')?.strip_suffix('|'))
            .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
            .find(|c| c[0] == first)
            .unwrap_or_else(|| panic!("no row {first:?} in\n{text}"))
    }

    #[test]
    fn one_rate_is_one_table_of_every_scenario() {
        let rows = [
            measured_at("raw-shm-pingpong", &[2; 1000], pacing(1000, 0, 0)),
            measured_at("shm-pingpong", &[4; 1000], pacing(1000, 100, 50)),
        ];
        let text = render(Format::Markdown, &rows, &machine(), &run_at(&[1000], false));
        assert!(text.contains("both at 1,000 calls/s"), "{text}");
        assert!(
            text.contains("- load average at start: 0.50 0.40 0.30"),
            "{text}"
        );
        assert!(
            text.contains("- pacing: call k of a row is due k/N s"),
            "{text}"
        );
        assert!(
            text.contains("- latency = from a call's due time"),
            "{text}"
        );
        assert_eq!(
            cells(&text, "scenario"),
            [
                "scenario",
                "wait",
                "target",
                "calls/s",
                "client CPU",
                "pacing",
                "server CPU",
                "total CPU",
                "p50",
                "p90",
                "p99",
                "p99.9",
                "max",
                "behind",
                "woke late"
            ]
        );
        assert_eq!(
            cells(&text, "shm-pingpong"),
            [
                "shm-pingpong",
                "spin+sleep",
                "1,000",
                "1,000",
                "500.0",
                "50.0",
                "250.0",
                "750.0",
                "4.0 µs",
                "4.0 µs",
                "4.0 µs",
                "4.0 µs",
                "4.0 µs",
                "10.0%",
                "5.0%"
            ]
        );
        // Both rows kept up.
        assert!(!text.contains("could not keep up"), "{text}");
        // No ratios at a fixed rate.
        assert!(!text.contains("vs limit"), "{text}");
        // 1,000 calls in 1 s at 10,000 calls/s: a backlog.
        let fast = [measured_at(
            "shm-pingpong",
            &[4; 1000],
            pacing(10_000, 999, 0),
        )];
        let text = render(
            Format::Markdown,
            &fast,
            &machine(),
            &run_at(&[10_000], false),
        );
        assert_eq!(cells(&text, "shm-pingpong")[3], "1,000 *", "{text}");
        assert!(
            text.contains("`*`: the pairing could not keep up with the target"),
            "{text}"
        );
    }

    #[test]
    fn several_rates_are_a_table_per_scenario_with_a_row_per_rate() {
        let rates = [1000, 10_000, 100_000];
        let rows: Vec<Row> = ["uds-pingpong", "l2-increment"]
            .into_iter()
            .flat_map(|name| rates.map(|rate| measured_at(name, &[30; 1000], pacing(rate, 0, 0))))
            .collect();
        let text = render(Format::Markdown, &rows, &machine(), &run_at(&rates, true));
        assert!(text.contains("both at each rate"), "{text}");
        let uds = text.find("### `uds-pingpong` (wait: poll)").expect(&text);
        let l2 = text.find("### `l2-increment` (wait: poll)").expect(&text);
        assert!(uds < l2, "{text}");
        let table = |from: usize| {
            text[from..]
                .lines()
                .skip(2)
                .take_while(|l| l.starts_with('|'))
                .filter(|l| !l.starts_with("|-"))
                .map(|l| l.split('|').map(str::trim).nth(1).unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            table(uds),
            ["target", "1,000", "10,000", "100,000"],
            "{text}"
        );
        assert_eq!(table(l2).len(), 4, "{text}");
        assert_eq!(
            cells(&text, "10,000"),
            [
                "10,000", "1,000 *", "500.0", "50.0", "250.0", "750.0", "30.0 µs", "30.0 µs",
                "0.0%", "0.0%"
            ]
        );
        // 1,000 calls in 1 s keep up with 1,000 calls/s only.
        assert_eq!(text.matches("| 1,000 * |").count(), 4, "{text}");
        assert_eq!(text.matches("could not keep up").count(), 1, "{text}");
        // Each scenario is described once.
        assert_eq!(text.matches("- `l2-increment` (vs").count(), 1, "{text}");
    }

    #[test]
    fn paced_rows_in_csv_and_json() {
        let rows = [measured_at("uds-pingpong", &[30; 1000], pacing(1000, 7, 0))];
        let text = csv(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with(
                ",p90_ns,target_calls_per_s,client_cpu_us_per_call,pacing_cpu_us_per_call,\
                 server_cpu_us_per_call,behind_calls,waited_calls,slept_calls,overslept_calls,\
                 mean_oversleep_us,p50_from_due_ns,p99_from_due_ns,max_from_due_ns"
            ),
            "{text}"
        );
        assert!(
            lines[1].ends_with(",30015,1000,500.0,50.0,250.0,7,993,993,0,0.0,30015,30015,30015"),
            "{text}"
        );
        let json = render(Format::Json, &rows, &machine(), &run_at(&[1000], false));
        let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(v["settings"]["rates"], serde_json::json!([1000]));
        assert!(v["settings"]["pacing"].as_str().is_some(), "{v:#}");
        let at = &v["rows"][0]["rate"];
        assert_eq!(at["target_calls_per_second"], 1000, "{v:#}");
        assert_eq!(at["behind_calls"], 7, "{v:#}");
        assert_eq!(at["server_cpu_us_per_call"], 250.0, "{v:#}");
        assert_eq!(v["rows"][0]["latency_ns"]["p90"], 30015, "{v:#}");
        assert_eq!(at["latency_from_due_ns"]["p99"], 30015, "{v:#}");
        // A run as fast as it goes has no rate.
        let plain = [super::super::stats::measured("uds-pingpong", &[30; 10], 1)];
        let json = render(Format::Json, &plain, &machine(), &run_at(&[], false));
        let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        assert!(v["rows"][0]["rate"].is_null(), "{v:#}");
        assert!(v["settings"]["pacing"].is_null(), "{v:#}");
    }
}
