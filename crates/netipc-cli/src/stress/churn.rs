//! Churn rows: one consumer after another, back to back: a new client,
//! `refresh()`, one call, close (drop). Each cycle is timed as a whole.
//!
//! Every step is bounded by the call timeout; the row also stops at its
//! watchdog deadline (generous for the cycle count) and then reports the
//! cycles it did. After the cycles it reads the provider's counters: the
//! sessions it opened, refused and failed to open.

use std::time::{Duration, Instant};

use super::errors::Tally;
use super::latency::{self, Summary};
use super::provider::{Meter, Window};
use super::row::{Row, Steps, on_shm};
use super::scenarios::Transport;
use crate::bench::BenchError;
use crate::bench::process::ServerCounters;

/// Time a row may take per cycle (see [`Steps::budget`]).
const PER_CYCLE: Duration = Duration::from_millis(20);

/// A finished churn row.
#[derive(Debug, Clone)]
pub struct ChurnRow {
    pub name: String,
    pub transport: Transport,
    /// Cycles asked for.
    pub cycles: u32,
    /// Cycles done (fewer only when the watchdog stopped the row).
    pub cycles_done: u32,
    /// Cycles whose call did not succeed.
    pub failed: u64,
    /// Cycles whose call succeeded over shared memory.
    pub shm_cycles: u64,
    pub errors: Tally,
    pub window: Window,
    pub cycle_time: Option<Summary>,
    pub watchdog_fired: bool,
    /// The provider's counters after the cycles.
    pub counters: ServerCounters,
    pub provider_stderr: String,
}

impl ChurnRow {
    pub fn cycles_per_s(&self) -> f64 {
        f64::from(self.cycles_done) / self.window.wall_s.max(f64::MIN_POSITIVE)
    }
}

/// Runs one churn row of `--cycles` cycles.
///
/// # Errors
/// The provider could not be started or stopped answering.
pub fn run(row: &Row<'_>) -> Result<ChurnRow, BenchError> {
    let mut provider = row.provider()?;
    let transport = row.transport;
    let cycles = row.settings.cycles;
    let deadline = Instant::now() + Steps::budget(cycles, PER_CYCLE);
    let steps = Steps::new(row, "cycle", cycles, 100, deadline);
    let mut out = ChurnRow {
        name: row.name.to_owned(),
        transport,
        cycles,
        cycles_done: 0,
        failed: 0,
        shm_cycles: 0,
        errors: Tally::default(),
        window: Window {
            wall_s: 0.0,
            provider_cores: 0.0,
            provider_rss: None,
            own_cores: None,
        },
        cycle_time: None,
        watchdog_fired: false,
        counters: ServerCounters::default(),
        provider_stderr: String::new(),
    };
    let mut times = latency::histogram();
    let meter = Meter::start(&mut provider)?;
    for i in 0..cycles {
        if !steps.start(i) {
            out.watchdog_fired = true;
            break;
        }
        let t = Instant::now();
        let mut client = transport.client(row.run_dir, provider.service());
        let _ = client.connect();
        if client.ready() {
            let value = u64::from(i);
            if out.errors.check(value, &client.call(value)) {
                out.shm_cycles += u64::from(on_shm(&client));
            } else {
                out.failed += 1;
            }
        } else {
            out.failed += 1;
            out.errors
                .connect(client.status().state, client.last_error());
        }
        drop(client);
        latency::record(&mut times, t.elapsed());
        out.cycles_done += 1;
    }
    out.window = meter.finish(&mut provider)?;
    out.cycle_time = Summary::of(&times);
    // The counters once the last consumer's departure is seen (a provider
    // notices it a moment after the close returns).
    let (_, counters) = provider.released(0, Instant::now(), super::depart::DEPARTURE_TIMEOUT)?;
    out.counters = counters;
    out.provider_stderr = provider.stop()?;
    Ok(out)
}
