//! The idle group: its Markdown table with notes, and its JSON rows.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::super::Settings;
use super::super::held::{RELEASE_TIMEOUT, Release};

use super::super::idle::{IdleRow, SETTLE};
use super::format::{counter, mib, millis};
use super::{held, row_notes};
use crate::bench::process::ServerCounters;
use crate::table::Table;

pub fn table(s: &mut String, rows: &[&IdleRow], settings: &Settings) {
    let _ = writeln!(
        s,
        "\n## Idle: sessions held open, no calls, for {:.1} s\n",
        settings.duration.as_secs_f64()
    );
    let mut table = Table::markdown(&[
        "scenario",
        "sessions",
        "transport",
        "served",
        "provider CPU idle (% of a core)",
        "provider RSS before (MiB)",
        "with sessions open (MiB)",
        "per served session (KiB)",
        "after close (MiB)",
        "released after (ms)",
        "after the last close (ms)",
        "sessions opened",
        "refused at capacity",
    ])
    .right(&[1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for r in rows {
        let per = r
            .rss_per_session()
            .map_or_else(|| "-".to_owned(), |b| format!("{:.1}", b / 1024.0));
        let c = &r.release.counters;
        table.row(vec![
            r.name.clone(),
            r.held.sessions.to_string(),
            held::transport(r.transport, &r.held),
            r.held.served.to_string(),
            format!("{:.2}", r.cpu_percent()),
            mib(r.rss_before),
            mib(r.window.provider_rss),
            per,
            mib(r.rss_after_close),
            millis(r.release.after_stop),
            millis(r.release.after_last_close),
            counter(c, "sessions_opened"),
            counter(c, "refused_at_capacity"),
        ]);
    }
    s.push_str(&table.render());
    s.push('\n');
    let _ = writeln!(
        s,
        "served = sessions whose first call succeeded (the others gave up after the connect \
         timeout, {:.0} s, and hold nothing in the window); per served session = (RSS with \
         the sessions open - RSS before) / served; after close = {:.0} s after the consumers \
         were told to close. released after = from telling every consumer to close (all at \
         once; they close in parallel) to the first answer of the provider's `stats` showing \
         no session; after the last close = from the moment the last consumer began to close \
         to that answer (both late by up to one `stats` round trip to the provider child, which \
         the depart rows measure). sessions \
         opened and refused at capacity = the provider's counters (its `ServerStats`) then, \
         retries included.",
        settings.connect_timeout.as_secs_f64(),
        SETTLE.as_secs_f64()
    );
    for r in rows {
        let mut notes = held::notes(&r.held);
        if r.release.after_stop.is_none() {
            notes.push(unreleased(&r.release));
        }
        row_notes(
            s,
            &r.name,
            &notes,
            &[(
                "failed attempts before being served (or giving up)",
                &r.held.errors,
            )],
            &r.provider_stderr,
        );
    }
}

/// The note of a provider that still held sessions at the timeout.
fn unreleased(release: &Release) -> String {
    format!(
        "the provider still held {} sessions {} s after the close",
        release.counters.sessions(),
        RELEASE_TIMEOUT.as_secs()
    )
}

/// An idle row in JSON.
#[derive(Serialize)]
pub struct Json<'a> {
    scenario: &'a str,
    group: &'static str,
    transport: &'static str,
    idle_seconds: f64,
    provider: Provider,
    released_after_seconds: Option<f64>,
    released_after_last_close_seconds: Option<f64>,
    provider_stats: &'a ServerCounters,
    stress_cpu_cores: Option<f64>,
    provider_stderr: &'a str,
    #[serde(flatten)]
    held: held::Json<'a>,
}

/// The provider's CPU and memory in an idle row.
#[derive(Serialize)]
struct Provider {
    cpu_cores: f64,
    cpu_percent_of_a_core: f64,
    rss_bytes_before: Option<u64>,
    rss_bytes_open: Option<u64>,
    rss_bytes_per_served_session: Option<f64>,
    rss_bytes_after_close: Option<u64>,
}

pub fn json(r: &IdleRow) -> Json<'_> {
    let seconds = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    Json {
        scenario: &r.name,
        group: "idle",
        transport: r.transport.name(),
        idle_seconds: r.window.wall_s,
        provider: Provider {
            cpu_cores: r.window.provider_cores,
            cpu_percent_of_a_core: r.cpu_percent(),
            rss_bytes_before: r.rss_before,
            rss_bytes_open: r.window.provider_rss,
            rss_bytes_per_served_session: r.rss_per_session(),
            rss_bytes_after_close: r.rss_after_close,
        },
        released_after_seconds: seconds(r.release.after_stop),
        released_after_last_close_seconds: seconds(r.release.after_last_close),
        provider_stats: &r.release.counters,
        stress_cpu_cores: r.window.own_cores,
        provider_stderr: &r.provider_stderr,
        held: held::json(&r.held, r.setup_s),
    }
}
