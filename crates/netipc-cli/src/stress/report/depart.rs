//! The depart group: its Markdown table with notes, and its JSON rows.

use std::fmt::Write as _;

use serde::Serialize;

use super::super::depart::{DEPARTURE_TIMEOUT, DepartRow, IDLE_PAUSE, PROBES};
use super::super::errors::Tally;
use super::super::latency::Summary;
use super::super::scenarios::Transport;
use super::format::{counter, group, micros, percentiles};
use super::{held, row_notes};
use crate::bench::process::ServerCounters;
use crate::table::Table;

pub fn table(s: &mut String, rows: &[&DepartRow]) {
    s.push_str("\n## Depart: consumers leave one at a time while other sessions are held idle\n\n");
    let mut table = Table::markdown(&[
        "scenario",
        "idle sessions",
        "transport",
        "departures",
        "released p50 (µs)",
        "p99 (µs)",
        "max (µs)",
        "not released",
        "of which the consumer's close, p50 (µs)",
        "resolution: stats round trip p50 (µs)",
        "sessions opened",
        "refused at capacity",
    ])
    .right(&[1, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    for r in rows {
        let seen = &r.seen;
        let (p50, p99, max) = percentiles(seen.release.as_ref());
        let departures = if seen.served == r.departures {
            group(u64::from(seen.served))
        } else {
            format!(
                "{} of {}",
                group(u64::from(seen.served)),
                group(u64::from(r.departures))
            )
        };
        let p50_of = |l: Option<Summary>| l.map_or_else(|| "-".to_owned(), |l| micros(l.p50));
        let c = &r.counters;
        table.row(vec![
            r.name.clone(),
            r.held.served.to_string(),
            held::transport(r.transport, &r.held),
            departures,
            p50,
            p99,
            max,
            seen.not_released.to_string(),
            p50_of(seen.close),
            p50_of(seen.probe),
            counter(c, "sessions_opened"),
            counter(c, "refused_at_capacity"),
        ]);
    }
    s.push_str(&table.render());
    s.push('\n');
    let _ = writeln!(
        s,
        "idle sessions = consumers holding a served, idle session meanwhile; departures = \
         departing consumers served. Each connects, makes one call, stays idle for {} ms (the \
         provider then waits for its next request) and closes. released = from the start of \
         its close to the first answer of the provider's `stats` showing its session count \
         back down, including the consumer's own close (dropping its client: its socket and, over \
         shm, its shared-memory mapping); not released = not within {} s. Resolution: the tool learns the count by \
         asking the provider child over its stdin and stdout, one request after the other, so \
         every time is late by up to one such round trip (its column: p50 of {PROBES} round \
         trips). A provider that notices a departure by its connection's hang-up shows times \
         near that resolution; one that polled its sessions would show times near its polling \
         period. sessions opened and refused at capacity = the provider's counters (its \
         `ServerStats`) at the end.",
        IDLE_PAUSE.as_millis(),
        DEPARTURE_TIMEOUT.as_secs()
    );
    for r in rows {
        let seen = &r.seen;
        let mut notes = held::notes(&r.held);
        if seen.watchdog_fired {
            notes.push(format!(
                "stopped by the watchdog after {} of {} departures",
                seen.done, r.departures
            ));
        }
        if r.transport == Transport::Shm && seen.served_on_shm < seen.served {
            notes.push(format!(
                "only {} of the served departing consumers used shared memory",
                seen.served_on_shm
            ));
        }
        let failed = seen.done - seen.served;
        if failed > 0 {
            notes.push(format!("{failed} departing consumers were not served"));
        }
        row_notes(
            s,
            &r.name,
            &notes,
            &[
                ("failures of the departing consumers", &seen.errors),
                (
                    "failed attempts of the idle consumers before being served (or giving up)",
                    &r.held.errors,
                ),
            ],
            &r.provider_stderr,
        );
    }
}

/// A depart row in JSON.
#[derive(Serialize)]
pub struct Json<'a> {
    scenario: &'a str,
    group: &'static str,
    transport: &'static str,
    departures: u32,
    departures_done: u32,
    departures_served: u32,
    departures_on_shm: u32,
    departures_not_released: u32,
    release_ns: Option<Summary>,
    consumer_close_ns: Option<Summary>,
    stats_round_trip_ns: Option<Summary>,
    failures: &'a Tally,
    watchdog_fired: bool,
    provider_stats: &'a ServerCounters,
    provider_stderr: &'a str,
    #[serde(flatten)]
    held: held::Json<'a>,
}

pub fn json(r: &DepartRow) -> Json<'_> {
    let seen = &r.seen;
    Json {
        scenario: &r.name,
        group: "depart",
        transport: r.transport.name(),
        departures: r.departures,
        departures_done: seen.done,
        departures_served: seen.served,
        departures_on_shm: seen.served_on_shm,
        departures_not_released: seen.not_released,
        release_ns: seen.release,
        consumer_close_ns: seen.close,
        stats_round_trip_ns: seen.probe,
        failures: &seen.errors,
        watchdog_fired: seen.watchdog_fired,
        provider_stats: &r.counters,
        provider_stderr: &r.provider_stderr,
        held: held::json(&r.held, r.setup_s),
    }
}
