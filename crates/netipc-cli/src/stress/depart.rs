//! Depart rows: how soon the provider notices a consumer that leaves while
//! it holds many idle sessions.
//!
//! N consumers open a session each and hold it idle (see
//! [`held`](super::held)). Then, `--departures` times, one at a time, a
//! separate consumer connects, calls once, stays idle for [`IDLE_PAUSE`]
//! (so the provider waits for its next request rather than serving it)
//! and closes; from the start of its close, the provider's `stats` are
//! asked, one request after the other, until its session count is back
//! down. A provider that notices the hang-up by an event shows
//! sub-millisecond to few-millisecond times; one that polled its sessions
//! would show times near its polling period.
//!
//! The times are late by at most one `stats` round trip (this process to
//! the provider child over its stdin and stdout and back), so the row also
//! measures [`PROBES`] such round trips: the measurement's resolution.

use std::thread;
use std::time::{Duration, Instant};

use super::errors::Tally;
use super::held::{self, HeldSummary};
use super::latency::{self, Summary};
use super::provider::Provider;
use super::row::{Row, Steps, on_shm};
use super::scenarios::Transport;
use crate::bench::BenchError;
use crate::bench::process::ServerCounters;

/// How long a departing consumer stays idle before it closes.
pub const IDLE_PAUSE: Duration = Duration::from_millis(5);
/// Longest wait for the provider to notice one departure.
pub const DEPARTURE_TIMEOUT: Duration = Duration::from_secs(2);
/// `stats` round trips timed for the resolution.
pub const PROBES: u32 = 50;

/// Time a row may take per departure (see [`Steps::budget`]).
const PER_DEPARTURE: Duration = Duration::from_millis(50);

/// A finished depart row.
#[derive(Debug, Clone)]
pub struct DepartRow {
    pub name: String,
    pub transport: Transport,
    /// The consumers holding idle sessions meanwhile.
    pub held: HeldSummary,
    /// Seconds to open the held sessions.
    pub setup_s: f64,
    /// Departures asked for.
    pub departures: u32,
    pub seen: Departures,
    /// The provider's counters after the held sessions closed.
    pub counters: ServerCounters,
    pub provider_stderr: String,
}

/// What the departures showed.
#[derive(Debug, Clone, Default)]
pub struct Departures {
    /// Departures done (fewer than asked only when the watchdog stopped
    /// the row).
    pub done: u32,
    /// Departing consumers that were served (the others failed to connect
    /// or call, and are in `errors`).
    pub served: u32,
    /// Served departing consumers whose session used shared memory.
    pub served_on_shm: u32,
    /// From the start of a departing consumer's close to the first `stats`
    /// answer with the session count back down, in ns.
    pub release: Option<Summary>,
    /// How long the departing consumer's own close (dropping its client)
    /// took, in ns: part of `release`.
    pub close: Option<Summary>,
    /// Served departures the provider did not show released within
    /// [`DEPARTURE_TIMEOUT`].
    pub not_released: u32,
    /// One `stats` round trip, in ns: the resolution of `release`.
    pub probe: Option<Summary>,
    pub errors: Tally,
    pub watchdog_fired: bool,
}

/// What one departure showed.
struct Departure {
    on_shm: bool,
    /// The consumer's own close.
    close: Duration,
    /// `None`: not released within [`DEPARTURE_TIMEOUT`].
    released: Option<Duration>,
}

/// Runs one depart row with `sessions` held sessions.
///
/// # Errors
/// The provider could not be started or stopped answering, or the
/// consumer threads could not be started.
pub fn run(row: &Row<'_>, sessions: usize) -> Result<DepartRow, BenchError> {
    let departures = row.settings.departures;
    let window = Steps::budget(departures, PER_DEPARTURE);
    let mut held = held::open(row, sessions, window)?;
    let deadline = held.crowded.window_end();
    let setup_s = held.setup_s;
    let seen = measure(row, &mut held.crowded.provider, departures, deadline);
    let closed = held.close(row.progress);
    let seen = seen?;
    let closed = closed?;
    Ok(DepartRow {
        name: row.name.to_owned(),
        transport: row.transport,
        held: closed.summary,
        setup_s,
        departures,
        seen,
        counters: closed.release.counters,
        provider_stderr: closed.provider.stop()?,
    })
}

/// Times the `stats` round trip, then `departures` departures (until
/// `deadline`).
fn measure(
    row: &Row<'_>,
    provider: &mut Provider,
    departures: u32,
    deadline: Instant,
) -> Result<Departures, BenchError> {
    row.progress.status("timing the stats round trip");
    let mut probes = latency::histogram();
    for _ in 0..PROBES {
        let t = Instant::now();
        provider.stats()?;
        latency::record(&mut probes, t.elapsed());
    }
    let mut seen = Departures {
        probe: Summary::of(&probes),
        ..Departures::default()
    };
    let steps = Steps::new(row, "departure", departures, 10, deadline);
    let (mut times, mut closes) = (latency::histogram(), latency::histogram());
    for i in 0..departures {
        if !steps.start(i) {
            seen.watchdog_fired = true;
            break;
        }
        seen.done += 1;
        let Some(d) = depart(row, provider, u64::from(i), &mut seen.errors)? else {
            continue;
        };
        seen.served += 1;
        seen.served_on_shm += u32::from(d.on_shm);
        latency::record(&mut closes, d.close);
        match d.released {
            Some(took) => latency::record(&mut times, took),
            None => seen.not_released += 1,
        }
    }
    seen.release = Summary::of(&times);
    seen.close = Summary::of(&closes);
    Ok(seen)
}

/// One departing consumer: connect, call once with `value`, stay idle,
/// close, and wait for the provider to show one session less. `None` when
/// it was not served (counted in `errors`).
fn depart(
    row: &Row<'_>,
    provider: &mut Provider,
    value: u64,
    errors: &mut Tally,
) -> Result<Option<Departure>, BenchError> {
    let mut client = row.transport.client(row.run_dir, provider.service());
    let _ = client.connect();
    if !client.ready() {
        errors.connect(client.status().state, client.last_error());
        return Ok(None);
    }
    if !errors.check(value, &client.call(value)) {
        return Ok(None);
    }
    let on_shm = on_shm(&client);
    thread::sleep(IDLE_PAUSE);
    let open = provider.stats()?.sessions();
    let closing = Instant::now();
    drop(client);
    let close = closing.elapsed();
    let (released, _) = provider.released(open.saturating_sub(1), closing, DEPARTURE_TIMEOUT)?;
    Ok(Some(Departure {
        on_shm,
        close,
        released,
    }))
}
