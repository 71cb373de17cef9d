//! Rendering the rows: a Markdown table per group (load, idle, churn) with
//! the units in the headers and notes on failures below each, or JSON with
//! every number.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::Settings;
use super::churn::ChurnRow;
use super::errors::Tally;
use super::idle::{self, IdleRow};
use super::latency::Summary;
use super::limits::OpenFiles;
use super::load::LoadRow;
use super::provider::PROVIDER_SCENARIO;
use super::scenarios::{CALL_TIMEOUT, Transport};

/// One finished row.
#[derive(Debug, Clone)]
pub enum RowResult {
    Load(LoadRow),
    Idle(IdleRow),
    Churn(ChurnRow),
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
    let load: Vec<&LoadRow> = rows
        .iter()
        .filter_map(|r| match r {
            RowResult::Load(l) => Some(l),
            _ => None,
        })
        .collect();
    let idle: Vec<&IdleRow> = rows
        .iter()
        .filter_map(|r| match r {
            RowResult::Idle(i) => Some(i),
            _ => None,
        })
        .collect();
    let churn: Vec<&ChurnRow> = rows
        .iter()
        .filter_map(|r| match r {
            RowResult::Churn(c) => Some(c),
            _ => None,
        })
        .collect();
    if !load.is_empty() {
        load_table(&mut s, &load, &info.settings);
    }
    if !idle.is_empty() {
        idle_table(&mut s, &idle, &info.settings);
    }
    if !churn.is_empty() {
        churn_table(&mut s, &churn);
    }
    s
}

fn load_table(s: &mut String, rows: &[&LoadRow], settings: &Settings) {
    let _ = writeln!(
        s,
        "\n## Load: every consumer calls in a loop for {:.1} s\n",
        settings.duration.as_secs_f64()
    );
    s.push_str(
        "| scenario | consumers | transport | ready at start | calls/s | p50 (µs) | p99 (µs) \
         | max (µs) | never served | calls per consumer, max/min | failed calls \
         | provider CPU (cores) | provider RSS (MiB) | stress CPU (cores) |\n",
    );
    s.push_str("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in rows {
        let (p50, p99, max) = percentiles(r.latency.as_ref());
        let spread = r
            .spread()
            .map_or_else(|| "inf".to_owned(), |x| format!("{x:.2}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {p50} | {p99} | {max} | {} | {spread} | {} | {:.2} | {} | {} |",
            r.name,
            r.consumers,
            transport_cell(r.transport, r.shm_calls, r.calls),
            r.ready_at_start,
            group(r.calls_per_s().round() as u64),
            r.never_served,
            group(r.failed_calls),
            r.window.provider_cores,
            mib(r.window.provider_rss),
            cores(r.window.own_cores),
        );
    }
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
            ("failures", &r.errors),
            &r.provider_stderr,
        );
    }
}

fn idle_table(s: &mut String, rows: &[&IdleRow], settings: &Settings) {
    let _ = writeln!(
        s,
        "\n## Idle: sessions held open, no calls, for {:.1} s\n",
        settings.duration.as_secs_f64()
    );
    s.push_str(
        "| scenario | sessions | transport | served | provider CPU idle (% of a core) \
         | provider RSS before (MiB) | with sessions open (MiB) | per served session (KiB) \
         | after close (MiB) |\n",
    );
    s.push_str("|---|--:|---|--:|--:|--:|--:|--:|--:|\n");
    for r in rows {
        let per = r
            .rss_per_session()
            .map_or_else(|| "-".to_owned(), |b| format!("{:.1}", b / 1024.0));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {} | {} | {per} | {} |",
            r.name,
            r.sessions,
            transport_cell(r.transport, r.served_on_shm as u64, r.served as u64),
            r.served,
            r.cpu_percent(),
            mib(r.rss_before),
            mib(r.window.provider_rss),
            mib(r.rss_after_close),
        );
    }
    s.push('\n');
    let _ = writeln!(
        s,
        "served = sessions whose first call succeeded (the others gave up after the connect \
         timeout, {:.0} s, and hold nothing in the window); per served session = (RSS with \
         the sessions open - RSS before) / served; after close = {:.0} s after every session \
         closed.",
        settings.connect_timeout.as_secs_f64(),
        idle::SETTLE.as_secs_f64()
    );
    for r in rows {
        let mut notes = Vec::new();
        if r.stuck > 0 {
            notes.push(format!(
                "{} consumers did not return by the deadline",
                r.stuck
            ));
        }
        row_notes(
            s,
            &r.name,
            &notes,
            (
                "failed attempts before being served (or giving up)",
                &r.errors,
            ),
            &r.provider_stderr,
        );
    }
}

fn churn_table(s: &mut String, rows: &[&ChurnRow]) {
    s.push_str("\n## Churn: new client, connect, one call, close, back to back\n\n");
    s.push_str(
        "| scenario | cycles | failed | cycles/s | p50 (µs) | p99 (µs) | max (µs) \
         | provider CPU (cores) | provider RSS at end (MiB) | stress CPU (cores) |\n",
    );
    s.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in rows {
        let (p50, p99, max) = percentiles(r.cycle_time.as_ref());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {p50} | {p99} | {max} | {:.2} | {} | {} |",
            r.name,
            group(u64::from(r.cycles_done)),
            group(r.failed),
            group(r.cycles_per_s().round() as u64),
            r.window.provider_cores,
            mib(r.window.provider_rss),
            cores(r.window.own_cores),
        );
    }
    s.push('\n');
    s.push_str(
        "The times are of a whole cycle (client created, connected, called, dropped); failed = \
         cycles whose call did not succeed.\n",
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
            ("failures", &r.errors),
            &r.provider_stderr,
        );
    }
}

/// The notes of one row: its own, then its failures by kind, then what
/// the provider wrote on stderr.
fn row_notes(
    s: &mut String,
    name: &str,
    notes: &[String],
    (label, errors): (&str, &Tally),
    stderr: &str,
) {
    let mut items: Vec<String> = notes.to_vec();
    let kinds = errors.kinds();
    if !kinds.is_empty() {
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

/// The transport column: the name, and how many of the successful
/// calls (sessions) used shared memory when it is not all of them.
fn transport_cell(t: Transport, on_shm: u64, total: u64) -> String {
    match t {
        Transport::Shm if on_shm < total => {
            format!("shm ({} of {} on shm)", group(on_shm), group(total))
        }
        Transport::Socket if on_shm > 0 => format!("socket ({} on shm!)", group(on_shm)),
        _ => t.name().to_owned(),
    }
}

fn percentiles(l: Option<&Summary>) -> (String, String, String) {
    l.map_or_else(
        || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        |l| (micros(l.p50), micros(l.p99), micros(l.max)),
    )
}

fn micros(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us < 100.0 {
        format!("{us:.1}")
    } else {
        group(us.round() as u64)
    }
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "-".to_owned(),
        |b| format!("{:.1}", b as f64 / (1024.0 * 1024.0)),
    )
}

fn cores(c: Option<f64>) -> String {
    c.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"))
}

/// `1234567` as `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn json(rows: &[RowResult], info: &RunInfo) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| match r {
            RowResult::Load(l) => load_json(l),
            RowResult::Idle(i) => idle_json(i),
            RowResult::Churn(c) => churn_json(c),
        })
        .collect();
    json!({
        "machine": {
            "logical_cores": info.cores,
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        },
        "open_files_limit": info.open_files.as_ref().map(OpenFiles::to_json),
        "provider": {"bench_server_scenario": PROVIDER_SCENARIO},
        "settings": {
            "duration_seconds": info.settings.duration.as_secs_f64(),
            "connect_timeout_seconds": info.settings.connect_timeout.as_secs_f64(),
            "cycles": info.settings.cycles,
            "call_timeout_seconds": CALL_TIMEOUT.as_secs_f64(),
            "retry_pause_seconds": super::RETRY_PAUSE.as_secs_f64(),
            "idle_settle_seconds": idle::SETTLE.as_secs_f64(),
        },
        "rows": rows,
    })
}

fn load_json(r: &LoadRow) -> Value {
    json!({
        "scenario": r.name,
        "group": "load",
        "transport": r.transport.name(),
        "consumers": r.consumers,
        "ready_at_start": r.ready_at_start,
        "connect_seconds": r.connect_s,
        "wall_seconds": r.window.wall_s,
        "calls": r.calls,
        "calls_per_second": r.calls_per_s(),
        "shm_calls": r.shm_calls,
        "latency_ns": Summary::to_json(r.latency.as_ref()),
        "never_served": r.never_served,
        "calls_per_consumer": {
            "min": r.min_calls,
            "max": r.max_calls,
            "max_over_min": r.spread(),
        },
        "failed_calls": r.failed_calls,
        "failed_connects": r.failed_connects,
        "failures": r.errors.to_json(),
        "provider": {
            "cpu_cores": r.window.provider_cores,
            "rss_bytes": r.window.provider_rss,
            "rss_bytes_before": r.rss_before,
        },
        "stress_cpu_cores": r.window.own_cores,
        "stuck_consumers": r.stuck,
        "provider_stderr": r.provider_stderr,
    })
}

fn idle_json(r: &IdleRow) -> Value {
    json!({
        "scenario": r.name,
        "group": "idle",
        "transport": r.transport.name(),
        "sessions": r.sessions,
        "served": r.served,
        "served_on_shm": r.served_on_shm,
        "setup_seconds": r.setup_s,
        "idle_seconds": r.window.wall_s,
        "provider": {
            "cpu_cores": r.window.provider_cores,
            "cpu_percent_of_a_core": r.cpu_percent(),
            "rss_bytes_before": r.rss_before,
            "rss_bytes_open": r.window.provider_rss,
            "rss_bytes_per_served_session": r.rss_per_session(),
            "rss_bytes_after_close": r.rss_after_close,
        },
        "stress_cpu_cores": r.window.own_cores,
        "failures_before_served": r.errors.to_json(),
        "stuck_consumers": r.stuck,
        "provider_stderr": r.provider_stderr,
    })
}

fn churn_json(r: &ChurnRow) -> Value {
    json!({
        "scenario": r.name,
        "group": "churn",
        "transport": r.transport.name(),
        "cycles": r.cycles,
        "cycles_done": r.cycles_done,
        "failed_cycles": r.failed,
        "shm_cycles": r.shm_cycles,
        "failures": r.errors.to_json(),
        "wall_seconds": r.window.wall_s,
        "cycles_per_second": r.cycles_per_s(),
        "cycle_time_ns": Summary::to_json(r.cycle_time.as_ref()),
        "provider": {
            "cpu_cores": r.window.provider_cores,
            "rss_bytes": r.window.provider_rss,
        },
        "stress_cpu_cores": r.window.own_cores,
        "watchdog_fired": r.watchdog_fired,
        "provider_stderr": r.provider_stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(micros(12_345), "12.3");
        assert_eq!(micros(1_234_567), "1,235");
        assert_eq!(mib(Some(3 * 1024 * 1024)), "3.0");
        assert_eq!(mib(None), "-");
        assert_eq!(transport_cell(Transport::Shm, 5, 5), "shm");
        assert_eq!(transport_cell(Transport::Shm, 3, 5), "shm (3 of 5 on shm)");
    }
}
