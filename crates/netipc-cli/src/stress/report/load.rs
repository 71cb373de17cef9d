//! The load group: its Markdown table with notes, and its JSON rows.

use std::fmt::Write as _;

use serde::Serialize;

use super::super::Settings;
use super::super::errors::Tally;
use super::super::latency::Summary;
use super::super::load::LoadRow;
use super::format::{cores, group, mib, percentiles, transport_cell};
use super::row_notes;
use crate::table::Table;

pub fn table(s: &mut String, rows: &[&LoadRow], settings: &Settings) {
    let _ = writeln!(
        s,
        "\n## Load: every consumer calls in a loop for {:.1} s\n",
        settings.duration.as_secs_f64()
    );
    let mut table = Table::markdown(&[
        "scenario",
        "consumers",
        "transport",
        "ready at start",
        "calls/s",
        "p50 (µs)",
        "p99 (µs)",
        "max (µs)",
        "never served",
        "calls per consumer, max/min",
        "failed calls",
        "provider CPU (cores)",
        "provider RSS (MiB)",
        "stress CPU (cores)",
    ])
    .right(&[1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    for r in rows {
        let (p50, p99, max) = percentiles(r.latency.as_ref());
        let spread = r
            .spread()
            .map_or_else(|| "inf".to_owned(), |x| format!("{x:.2}"));
        table.row(vec![
            r.name.clone(),
            r.consumers.to_string(),
            transport_cell(r.transport, r.shm_calls, r.calls),
            r.ready_at_start.to_string(),
            group(r.calls_per_s().round() as u64),
            p50,
            p99,
            max,
            r.never_served.to_string(),
            spread,
            group(r.failed_calls),
            format!("{:.2}", r.window.provider_cores),
            mib(r.window.provider_rss),
            cores(r.window.own_cores),
        ]);
    }
    s.push_str(&table.render());
    s.push('\n');
    s.push_str(
        "ready at start = consumers whose client was connected when the window opened (a \
         provider that turns a client away after its handshake leaves it connected until its \
         first call); never served = consumers with no successful call in the window; calls \
         per consumer max/min is inf when some consumer made none; failed calls include the \
         retries of consumers that were turned away. Provider RSS at the end of the \
         window.\n",
    );
    for r in rows {
        let mut notes = Vec::new();
        if r.failed_connects > 0 {
            notes.push(format!(
                "{} connection attempts failed in the window",
                group(r.failed_connects)
            ));
        }
        if r.stuck > 0 {
            notes.push(format!(
                "{} consumers did not return by the deadline (counted as never served)",
                r.stuck
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

/// A load row in JSON.
#[derive(Serialize)]
pub struct Json<'a> {
    scenario: &'a str,
    group: &'static str,
    transport: &'static str,
    consumers: usize,
    ready_at_start: usize,
    connect_seconds: f64,
    wall_seconds: f64,
    calls: u64,
    calls_per_second: f64,
    shm_calls: u64,
    latency_ns: Option<Summary>,
    never_served: usize,
    calls_per_consumer: CallsPerConsumer,
    failed_calls: u64,
    failed_connects: u64,
    failures: &'a Tally,
    provider: Provider,
    stress_cpu_cores: Option<f64>,
    stuck_consumers: usize,
    provider_stderr: &'a str,
}

/// How evenly the consumers were served.
#[derive(Serialize)]
struct CallsPerConsumer {
    min: u64,
    max: u64,
    max_over_min: Option<f64>,
}

/// The provider's CPU and memory in a load row.
#[derive(Serialize)]
struct Provider {
    cpu_cores: f64,
    rss_bytes: Option<u64>,
    rss_bytes_before: Option<u64>,
}

pub fn json(r: &LoadRow) -> Json<'_> {
    Json {
        scenario: &r.name,
        group: "load",
        transport: r.transport.name(),
        consumers: r.consumers,
        ready_at_start: r.ready_at_start,
        connect_seconds: r.connect_s,
        wall_seconds: r.window.wall_s,
        calls: r.calls,
        calls_per_second: r.calls_per_s(),
        shm_calls: r.shm_calls,
        latency_ns: r.latency,
        never_served: r.never_served,
        calls_per_consumer: CallsPerConsumer {
            min: r.min_calls,
            max: r.max_calls,
            max_over_min: r.spread(),
        },
        failed_calls: r.failed_calls,
        failed_connects: r.failed_connects,
        failures: &r.errors,
        provider: Provider {
            cpu_cores: r.window.provider_cores,
            rss_bytes: r.window.provider_rss,
            rss_bytes_before: r.rss_before,
        },
        stress_cpu_cores: r.window.own_cores,
        stuck_consumers: r.stuck,
        provider_stderr: &r.provider_stderr,
    }
}
