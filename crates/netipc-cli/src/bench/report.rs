//! Rendering the rows: a Markdown table (default), CSV or JSON, and the
//! description of the machine they were measured on.

use std::fmt::Write as _;

use procfs_core::{CpuInfo, FromRead, LoadAverage};
use serde_json::{Value, json};

use super::Timing;
use super::scenarios::{
    WAIT_NONE, WAIT_POLL, WAIT_SPIN, WAIT_SPIN_SLEEP, WAIT_SPIN_SLEEP_ALWAYS_WAKE,
};
use super::stats::Row;
use crate::table::Table;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Csv,
    Json,
}

/// What the machine is, as far as it can be read portably.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: Option<String>,
    pub cores: usize,
    pub os: String,
    pub arch: &'static str,
    /// 1/5/15-minute load averages at the start, where readable.
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

    fn to_json(&self) -> Value {
        json!({
            "cpu": self.cpu,
            "logical_cores": self.cores,
            "os": self.os,
            "arch": self.arch,
            "load_average": self.load,
        })
    }
}

/// The run settings shown with the rows.
#[derive(Debug, Clone, Copy)]
pub struct RunInfo {
    pub timing: Timing,
    pub batch: u32,
}

/// Renders `rows` in `format`.
pub fn render(format: Format, rows: &[Row], machine: &Machine, run: &RunInfo) -> String {
    match format {
        Format::Markdown => markdown(rows, machine, run),
        Format::Csv => csv(rows),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&to_json(rows, machine, run))
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
            s.push('\n');
            s
        }
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
        "- each row: {:.1} s warm-up, then {:.1} s measured; client and server in separate processes",
        run.timing.warmup.as_secs_f64(),
        run.timing.duration.as_secs_f64()
    );
    s.push_str("- waiting, per row (column `wait`):\n");
    for (wait, text) in WAITS {
        if rows.iter().any(|r| r.wait == *wait) {
            let _ = writeln!(s, "  - `{wait}`: {text}");
        }
    }
    s.push_str("- latency = from sending a request to its answer, measured by the client\n");
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
            r.items_per_round_trip.to_string(),
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
    s.push('\n');
    for r in rows {
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
                "- `{}`: {} ({:.2} per round trip)",
                r.scenario,
                r.client_allocations,
                r.client_allocations as f64 / r.round_trips.max(1) as f64
            );
        }
    }
    for r in rows {
        if let Some(x) = r.exchanges_per_round_trip.filter(|&x| x > 1.005) {
            let _ = writeln!(
                s,
                "- `{}`: {x:.2} request/response exchanges per logical call (the L2 client \
                 split each call into sub-calls that fit the negotiated request and response \
                 sizes)",
                r.scenario
            );
        }
    }
    for r in rows {
        if let Some(n @ 1..) = r.reconnects {
            let _ = writeln!(
                s,
                "- `{}`: the L2 client reconnected {n} times while measured, so the row \
                 is not a steady state",
                r.scenario
            );
        }
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

fn csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "scenario,limit,items_per_round_trip,depth,round_trips,items,wall_s,round_trips_per_s,\
         items_per_s,p50_ns,p95_ns,p99_ns,p999_ns,min_ns,max_ns,mean_ns,client_cpu_cores,\
         server_cpu_cores,ratio_items_per_s,ratio_round_trips_per_s,ratio_p50,data_plane,wait,\
         l1,ratio_l1_items_per_s,ratio_l1_round_trips_per_s,ratio_l1_p50,client_allocations,\
         reconnects,exchanges_per_round_trip\n",
    );
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    for r in rows {
        let l = &r.latency;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{:.4},{:.1},{:.1},{},{},{},{},{},{},{:.1},{:.4},{},{},{},{},{},{},\
             {},{},{},{},{},{},{}",
            r.scenario,
            r.limit.unwrap_or(""),
            r.items_per_round_trip,
            r.depth,
            r.round_trips,
            r.items(),
            r.wall_s,
            r.round_trips_per_s,
            r.items_per_s,
            l.p50,
            l.p95,
            l.p99,
            l.p999,
            l.min,
            l.max,
            l.mean,
            r.client_cores,
            opt(r.server_cores),
            opt(r.ratio.map(|x| x.items_per_s)),
            opt(r.ratio.map(|x| x.round_trips_per_s)),
            opt(r.ratio.map(|x| x.p50)),
            r.plane,
            r.wait,
            r.l1.unwrap_or(""),
            opt(r.l1_ratio.map(|x| x.items_per_s)),
            opt(r.l1_ratio.map(|x| x.round_trips_per_s)),
            opt(r.l1_ratio.map(|x| x.p50)),
            r.client_allocations,
            r.reconnects.map_or(String::new(), |n| n.to_string()),
            opt(r.exchanges_per_round_trip),
        );
    }
    s
}

/// The whole report as JSON.
pub fn to_json(rows: &[Row], machine: &Machine, run: &RunInfo) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let l = &r.latency;
            json!({
                "scenario": r.scenario,
                "summary": r.summary,
                "limit": r.limit,
                "is_limit": r.limit.is_none(),
                "data_plane": r.plane,
                "wait": r.wait,
                "items_per_round_trip": r.items_per_round_trip,
                "depth": r.depth,
                "round_trips": r.round_trips,
                "items": r.items(),
                "wall_seconds": r.wall_s,
                "round_trips_per_second": r.round_trips_per_s,
                "items_per_second": r.items_per_s,
                "latency_ns": {
                    "min": l.min, "mean": l.mean, "p50": l.p50, "p95": l.p95,
                    "p99": l.p99, "p999": l.p999, "max": l.max,
                },
                "cpu_cores": { "client": r.client_cores, "server": r.server_cores },
                "ratio": r.ratio.map(|x| json!({
                    "items_per_second": x.items_per_s,
                    "round_trips_per_second": x.round_trips_per_s,
                    "p50_latency": x.p50,
                })),
                "l1": r.l1,
                "l1_ratio": r.l1_ratio.map(|x| json!({
                    "items_per_second": x.items_per_s,
                    "round_trips_per_second": x.round_trips_per_s,
                    "p50_latency": x.p50,
                })),
                "client_allocations": r.client_allocations,
                "reconnects": r.reconnects,
                "exchanges_per_round_trip": r.exchanges_per_round_trip,
            })
        })
        .collect();
    json!({
        "tool": "netipc bench",
        "version": env!("CARGO_PKG_VERSION"),
        "machine": machine.to_json(),
        "settings": {
            "warmup_seconds": run.timing.warmup.as_secs_f64(),
            "duration_seconds": run.timing.duration.as_secs_f64(),
            "batch": run.batch,
            "waiting": WAITS.iter()
                .map(|(wait, text)| ((*wait).to_owned(), Value::from(*text)))
                .collect::<serde_json::Map<_, _>>(),
        },
        "rows": rows,
    })
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
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(1234567.4), "1,234,567");
        assert_eq!(count(999.0), "999");
        assert_eq!(micros(12_345), "12.3 µs");
        assert_eq!(micros(1_234_567), "1235 µs");
    }
}
