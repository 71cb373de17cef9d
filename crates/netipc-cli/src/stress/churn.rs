//! Churn rows: one consumer after another, back to back: a new client,
//! `refresh()`, one call, close (drop). Each cycle is timed as a whole.
//!
//! Every step is bounded by the call timeout; the row also stops at its
//! watchdog deadline (generous for the cycle count) and then reports the
//! cycles it did.

use std::time::{Duration, Instant};

use netipc::service::IncrementClient;

use super::Settings;
use super::errors::Tally;
use super::latency::{self, Summary};
use super::progress::Progress;
use super::provider::{Meter, Provider, Window};
use super::scenarios::{CALL_TIMEOUT, Transport};
use crate::bench::BenchError;

/// Time a row may take: a base plus this much per cycle.
const WATCHDOG_BASE: Duration = Duration::from_secs(30);
const WATCHDOG_PER_CYCLE: Duration = Duration::from_millis(20);

/// How often the progress line is updated, in cycles.
const PROGRESS_EVERY: u32 = 100;

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
    pub provider_stderr: String,
}

impl ChurnRow {
    pub fn cycles_per_s(&self) -> f64 {
        f64::from(self.cycles_done) / self.window.wall_s.max(f64::MIN_POSITIVE)
    }
}

/// Runs one churn row of `cycles` cycles over `transport`.
///
/// # Errors
/// The provider could not be started or stopped answering.
pub fn run(
    name: &str,
    transport: Transport,
    settings: &Settings,
    run_dir: &str,
    progress: &Progress,
) -> Result<ChurnRow, BenchError> {
    progress.status("starting the provider");
    let mut provider = Provider::start(run_dir, name)?;
    let config = transport.config();
    let cycles = settings.cycles;
    let deadline = Instant::now() + WATCHDOG_BASE + WATCHDOG_PER_CYCLE * cycles;
    let mut row = ChurnRow {
        name: name.to_owned(),
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
        provider_stderr: String::new(),
    };
    let mut times = latency::histogram();
    let meter = Meter::start(&mut provider)?;
    for i in 0..cycles {
        if Instant::now() >= deadline {
            row.watchdog_fired = true;
            break;
        }
        if i % PROGRESS_EVERY == 0 {
            progress.status(&format!("cycle {i} of {cycles}"));
        }
        let t = Instant::now();
        let mut client = IncrementClient::new(run_dir, provider.service(), &config);
        client.set_call_timeout(CALL_TIMEOUT);
        client.refresh();
        if client.ready() {
            let value = u64::from(i);
            match client.call(value) {
                Ok(v) if v == value + 1 => {
                    if client.session_info().is_some_and(|s| s.shared_memory) {
                        row.shm_cycles += 1;
                    }
                }
                Ok(v) => {
                    row.failed += 1;
                    row.errors.wrong_answer(value, v);
                }
                Err(e) => {
                    row.failed += 1;
                    row.errors.call(&e);
                }
            }
        } else {
            row.failed += 1;
            row.errors.connect(client.status().state);
        }
        drop(client);
        latency::record(&mut times, t.elapsed());
        row.cycles_done += 1;
    }
    row.window = meter.finish(&mut provider)?;
    row.cycle_time = Summary::of(&times);
    row.provider_stderr = provider.stop()?;
    Ok(row)
}
