//! Load rows: N consumers connect, then all of them call INCREMENT in a
//! loop for the measured window.
//!
//! Each consumer is a thread with its own `IncrementClient`. Before the
//! window it refreshes until its client is ready (pausing briefly after
//! every attempt the provider turned away) or the connect deadline passes.
//! In the window it calls `call(value)` back to back; after a failure it
//! pauses briefly, reconnects and goes on, as a plugin would. Only calls
//! that complete inside the window count.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::RETRY_PAUSE;
use super::crowd::{Gate, Phase};
use super::errors::Tally;
use super::latency::{self, Summary};
use super::provider::{Meter, Window};
use super::row::{Crowded, Plan, Row, on_shm, pass_window};
use super::scenarios::{CALL_TIMEOUT, Transport};
use crate::bench::BenchError;

/// What one consumer saw in the window.
struct Outcome {
    ready_at_start: bool,
    calls: u64,
    /// Successful calls made over shared memory.
    shm_calls: u64,
    failed_calls: u64,
    failed_connects: u64,
    latency: Histogram<u64>,
    errors: Tally,
}

/// A finished load row.
#[derive(Debug, Clone)]
pub struct LoadRow {
    pub name: String,
    pub transport: Transport,
    pub consumers: usize,
    /// Consumers whose client was ready when the window opened.
    pub ready_at_start: usize,
    /// Seconds from starting the consumers to opening the window.
    pub connect_s: f64,
    pub window: Window,
    /// Provider resident memory before any consumer started.
    pub rss_before: Option<u64>,
    /// Successful calls in the window.
    pub calls: u64,
    pub shm_calls: u64,
    pub latency: Option<Summary>,
    /// Consumers with no successful call in the window.
    pub never_served: usize,
    pub min_calls: u64,
    pub max_calls: u64,
    pub failed_calls: u64,
    /// Connection attempts in the window that left a client not ready.
    pub failed_connects: u64,
    pub errors: Tally,
    /// Consumers that did not return (see `crowd`).
    pub stuck: usize,
    /// What the provider wrote on stderr.
    pub provider_stderr: String,
}

impl LoadRow {
    pub fn calls_per_s(&self) -> f64 {
        self.calls as f64 / self.window.wall_s.max(f64::MIN_POSITIVE)
    }

    /// Max calls over min calls per consumer; `None` when some consumer
    /// made none.
    pub fn spread(&self) -> Option<f64> {
        (self.min_calls > 0).then(|| self.max_calls as f64 / self.min_calls as f64)
    }
}

/// Runs one load row of `consumers` consumers.
///
/// # Errors
/// The provider could not be started or stopped answering, or the
/// consumer threads could not be started.
pub fn run(row: &Row<'_>, consumers: usize) -> Result<LoadRow, BenchError> {
    let status = format!("starting {consumers} consumers");
    let duration = row.settings.duration;
    let mut crowded = Crowded::start(row, consumers, duration, &status, consume)?;
    let measured = measure(&mut crowded, consumers, row);
    row.progress.status("stopping the consumers");
    let rss_before = crowded.rss_before;
    let (provider, joined) = crowded.join();
    let (connect_s, window) = measured?;
    let provider_stderr = provider.stop()?;
    let mut out = LoadRow {
        name: row.name.to_owned(),
        transport: row.transport,
        consumers,
        ready_at_start: 0,
        connect_s,
        window,
        rss_before,
        calls: 0,
        shm_calls: 0,
        latency: None,
        never_served: joined.stuck,
        min_calls: if joined.stuck > 0 { 0 } else { u64::MAX },
        max_calls: 0,
        failed_calls: 0,
        failed_connects: 0,
        errors: Tally::default(),
        stuck: joined.stuck,
        provider_stderr,
    };
    let mut all = latency::histogram();
    for o in &joined.results {
        out.ready_at_start += usize::from(o.ready_at_start);
        out.calls += o.calls;
        out.shm_calls += o.shm_calls;
        out.never_served += usize::from(o.calls == 0);
        out.min_calls = out.min_calls.min(o.calls);
        out.max_calls = out.max_calls.max(o.calls);
        out.failed_calls += o.failed_calls;
        out.failed_connects += o.failed_connects;
        out.errors.merge(&o.errors);
        latency::merge(&mut all, &o.latency);
    }
    if out.min_calls == u64::MAX {
        out.min_calls = 0;
    }
    out.latency = Summary::of(&all);
    Ok(out)
}

/// Waits for the consumers to connect, then measures the window. Returns
/// the connect time and the window.
fn measure(
    crowded: &mut Crowded<Outcome>,
    consumers: usize,
    row: &Row<'_>,
) -> Result<(f64, Window), BenchError> {
    // Consumers give up connecting at the deadline; a little slack for
    // the last attempt.
    let until =
        crowded.started + row.settings.connect_timeout + CALL_TIMEOUT + Duration::from_secs(1);
    crowded.await_settled(consumers, until, row.progress, "connecting");
    let connect_s = crowded.started.elapsed().as_secs_f64();
    let meter = Meter::start(&mut crowded.provider)?;
    crowded.gate.set(Phase::Run);
    pass_window(row.settings.duration, row.progress, "measuring");
    let window = meter.finish(&mut crowded.provider)?;
    crowded.gate.set(Phase::Stop);
    Ok((connect_s, window))
}

/// One consumer: connect, wait for the window, call until it closes.
fn consume(plan: &Plan, index: usize, gate: &Gate) -> Outcome {
    let mut client = plan.client(gate);
    while !client.ready() && Instant::now() < plan.connect_deadline && gate.phase() == Phase::Setup
    {
        let _ = client.connect();
        if !client.ready() {
            gate.pause_in(Phase::Setup, RETRY_PAUSE);
        }
    }
    gate.settle();
    let mut out = Outcome {
        ready_at_start: false,
        calls: 0,
        shm_calls: 0,
        failed_calls: 0,
        failed_connects: 0,
        latency: latency::histogram(),
        errors: Tally::default(),
    };
    if !gate.wait_for(Phase::Run, plan.watchdog) {
        return out;
    }
    out.ready_at_start = client.ready();
    // Distinct values per consumer, so a crossed answer would show.
    let mut value = (index as u64) << 32;
    while gate.phase() == Phase::Run {
        if !client.ready() {
            let _ = client.connect();
            if !client.ready() {
                if gate.phase() == Phase::Run {
                    out.failed_connects += 1;
                    out.errors
                        .connect(client.status().state, client.last_error());
                }
                gate.pause_in(Phase::Run, RETRY_PAUSE);
                continue;
            }
        }
        let t = Instant::now();
        let answer = client.call(value);
        let took = t.elapsed();
        if gate.phase() != Phase::Run {
            break; // completed after the window closed: not counted
        }
        if out.errors.check(value, &answer) {
            out.calls += 1;
            latency::record(&mut out.latency, took);
            if on_shm(&client) {
                out.shm_calls += 1;
            }
        } else {
            out.failed_calls += 1;
            if answer.is_err() {
                gate.pause_in(Phase::Run, RETRY_PAUSE);
            }
        }
        value = value.wrapping_add(1);
    }
    out
}
