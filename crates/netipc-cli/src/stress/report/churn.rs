//! The churn group: its Markdown table with notes, and its JSON rows.

use serde::Serialize;

use super::super::churn::ChurnRow;
use super::super::errors::Tally;
use super::super::latency::Summary;
use super::super::scenarios::Transport;
use super::format::{cores, counter, group, mib, percentiles};
use super::row_notes;
use crate::bench::process::ServerCounters;
use crate::table::Table;

pub fn table(s: &mut String, rows: &[&ChurnRow]) {
    s.push_str("\n## Churn: new client, connect, one call, close, back to back\n\n");
    let mut table = Table::markdown(&[
        "scenario",
        "cycles",
        "failed",
        "cycles/s",
        "p50 (µs)",
        "p99 (µs)",
        "max (µs)",
        "provider CPU (cores)",
        "provider RSS at end (MiB)",
        "stress CPU (cores)",
        "sessions opened",
        "refused at capacity",
        "handshake failures",
    ])
    .right(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for r in rows {
        let (p50, p99, max) = percentiles(r.cycle_time.as_ref());
        let c = &r.counters;
        table.row(vec![
            r.name.clone(),
            group(u64::from(r.cycles_done)),
            group(r.failed),
            group(r.cycles_per_s().round() as u64),
            p50,
            p99,
            max,
            format!("{:.2}", r.window.provider_cores),
            mib(r.window.provider_rss),
            cores(r.window.own_cores),
            counter(c, "sessions_opened"),
            counter(c, "refused_at_capacity"),
            counter(c, "handshake_failures"),
        ]);
    }
    s.push_str(&table.render());
    s.push('\n');
    s.push_str(
        "The times are of a whole cycle (client created, connected, called, dropped); failed = \
         cycles whose call did not succeed; sessions opened, refused at capacity and handshake \
         failures = the provider's counters (its `ServerStats`) after the cycles.\n",
    );
    for r in rows {
        let mut notes = Vec::new();
        if r.watchdog_fired {
            notes.push(format!(
                "stopped by the watchdog after {} of {} cycles",
                r.cycles_done, r.cycles
            ));
        }
        if r.transport == Transport::Shm
            && r.shm_cycles < u64::from(r.cycles_done).saturating_sub(r.failed)
        {
            notes.push(format!(
                "only {} of the successful cycles used shared memory",
                r.shm_cycles
            ));
        }
        row_notes(
            s,
            &r.name,
            &notes,
            &[("failures", &r.errors)],
            &r.provider_stderr,
        );
    }
}

/// A churn row in JSON.
#[derive(Serialize)]
pub struct Json<'a> {
    scenario: &'a str,
    group: &'static str,
    transport: &'static str,
    cycles: u32,
    cycles_done: u32,
    failed_cycles: u64,
    shm_cycles: u64,
    failures: &'a Tally,
    wall_seconds: f64,
    cycles_per_second: f64,
    cycle_time_ns: Option<Summary>,
    provider: Provider,
    stress_cpu_cores: Option<f64>,
    watchdog_fired: bool,
    provider_stats: &'a ServerCounters,
    provider_stderr: &'a str,
}

/// The provider's CPU and memory in a churn row.
#[derive(Serialize)]
struct Provider {
    cpu_cores: f64,
    rss_bytes: Option<u64>,
}

pub fn json(r: &ChurnRow) -> Json<'_> {
    Json {
        scenario: &r.name,
        group: "churn",
        transport: r.transport.name(),
        cycles: r.cycles,
        cycles_done: r.cycles_done,
        failed_cycles: r.failed,
        shm_cycles: r.shm_cycles,
        failures: &r.errors,
        wall_seconds: r.window.wall_s,
        cycles_per_second: r.cycles_per_s(),
        cycle_time_ns: r.cycle_time,
        provider: Provider {
            cpu_cores: r.window.provider_cores,
            rss_bytes: r.window.provider_rss,
        },
        stress_cpu_cores: r.window.own_cores,
        watchdog_fired: r.watchdog_fired,
        provider_stats: &r.counters,
        provider_stderr: &r.provider_stderr,
    }
}
