//! Idle rows: N consumers open a session each and make one call to prove
//! they are served (see [`held`](super::held)), then hold their sessions
//! without calling while the provider's CPU and memory are measured; then
//! they all close and the provider's `stats` are asked until it holds no
//! session: how long it took to release them.
//!
//! The provider's memory is read before the consumers start, at the end of
//! the idle window, and [`SETTLE`] after the consumers were told to close.

use std::time::Duration;

use super::held::{self, HeldSummary, Release};
use super::provider::{Meter, Provider, Window};
use super::row::{Row, pass_window};
use super::scenarios::Transport;
use crate::bench::BenchError;

/// When the provider's memory is read again after the close (counted from
/// the close).
pub const SETTLE: Duration = Duration::from_secs(1);

/// A finished idle row.
#[derive(Debug, Clone)]
pub struct IdleRow {
    pub name: String,
    pub transport: Transport,
    /// The consumers and the sessions they held.
    pub held: HeldSummary,
    /// Seconds from starting the consumers to the window.
    pub setup_s: f64,
    pub window: Window,
    pub rss_before: Option<u64>,
    pub rss_after_close: Option<u64>,
    /// How the provider released the sessions, with its counters.
    pub release: Release,
    pub provider_stderr: String,
}

impl IdleRow {
    /// Provider CPU over the idle window as % of one core.
    pub fn cpu_percent(&self) -> f64 {
        self.window.provider_cores * 100.0
    }

    /// Provider memory growth with the sessions open, per served session.
    pub fn rss_per_session(&self) -> Option<f64> {
        let (before, open) = (self.rss_before?, self.window.provider_rss?);
        let served = self.held.served;
        (served > 0).then(|| (open as f64 - before as f64) / served as f64)
    }
}

/// Runs one idle row of `sessions` consumers.
///
/// # Errors
/// The provider could not be started or stopped answering, or the
/// consumer threads could not be started.
pub fn run(row: &Row<'_>, sessions: usize) -> Result<IdleRow, BenchError> {
    let duration = row.settings.duration;
    let mut held = held::open(row, sessions, duration)?;
    let rss_before = held.crowded.rss_before;
    let window = measure(&mut held.crowded.provider, duration, row);
    let setup_s = held.setup_s;
    let closed = held.close(row.progress);
    let window = window?;
    let mut closed = closed?;
    std::thread::sleep(SETTLE.saturating_sub(closed.stopped_at.elapsed()));
    let rss_after_close = closed.provider.usage()?.rss_bytes;
    let provider_stderr = closed.provider.stop()?;
    Ok(IdleRow {
        name: row.name.to_owned(),
        transport: row.transport,
        held: closed.summary,
        setup_s,
        window,
        rss_before,
        rss_after_close,
        release: closed.release,
        provider_stderr,
    })
}

/// The idle window.
fn measure(
    provider: &mut Provider,
    duration: Duration,
    row: &Row<'_>,
) -> Result<Window, BenchError> {
    let meter = Meter::start(provider)?;
    pass_window(duration, row.progress, "idle");
    meter.finish(provider)
}
