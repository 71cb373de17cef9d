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
use netipc::service::IncrementClient;

use super::crowd::{Crowd, Gate, Phase};
use super::errors::Tally;
use super::latency::{self, Summary};
use super::progress::Progress;
use super::provider::{Meter, Provider, Window};
use super::scenarios::{CALL_TIMEOUT, Transport};
use super::{RETRY_PAUSE, Settings};
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

/// Everything a consumer needs.
struct Plan {
    run_dir: String,
    service: String,
    transport: Transport,
    connect_deadline: Instant,
    /// No consumer waits past this for a phase change.
    watchdog: Instant,
}

/// Runs one load row of `consumers` consumers over `transport`.
///
/// # Errors
/// The provider could not be started or stopped answering, or the
/// consumer threads could not be started.
pub fn run(
    name: &str,
    consumers: usize,
    transport: Transport,
    settings: &Settings,
    run_dir: &str,
    progress: &Progress,
) -> Result<LoadRow, BenchError> {
    progress.status("starting the provider");
    let mut provider = Provider::start(run_dir, name)?;
    let rss_before = provider.usage()?.rss_bytes;
    let started = Instant::now();
    let connect_deadline = started + settings.connect_timeout;
    let watchdog = connect_deadline + settings.duration + 4 * CALL_TIMEOUT + Duration::from_secs(5);
    let plan = Plan {
        run_dir: run_dir.to_owned(),
        service: provider.service().to_owned(),
        transport,
        connect_deadline,
        watchdog,
    };
    progress.status(&format!("starting {consumers} consumers"));
    let gate = std::sync::Arc::new(Gate::new());
    let crowd = Crowd::spawn(consumers, &gate, move |i, gate| consume(&plan, i, gate))?;
    let measured = measure(&gate, consumers, settings, &mut provider, progress, started);
    progress.status("stopping the consumers");
    let joined = crowd.join(watchdog);
    let (connect_s, window) = measured?;
    let provider_stderr = provider.stop()?;
    let mut row = LoadRow {
        name: name.to_owned(),
        transport,
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
        row.ready_at_start += usize::from(o.ready_at_start);
        row.calls += o.calls;
        row.shm_calls += o.shm_calls;
        row.never_served += usize::from(o.calls == 0);
        row.min_calls = row.min_calls.min(o.calls);
        row.max_calls = row.max_calls.max(o.calls);
        row.failed_calls += o.failed_calls;
        row.failed_connects += o.failed_connects;
        row.errors.merge(&o.errors);
        latency::merge(&mut all, &o.latency);
    }
    if row.min_calls == u64::MAX {
        row.min_calls = 0;
    }
    row.latency = Summary::of(&all);
    Ok(row)
}

/// Waits for the consumers to connect, then measures the window. Returns
/// the connect time and the window.
fn measure(
    gate: &Gate,
    consumers: usize,
    settings: &Settings,
    provider: &mut Provider,
    progress: &Progress,
    started: Instant,
) -> Result<(f64, Window), BenchError> {
    // Consumers give up connecting at the deadline; a little slack for
    // the last attempt.
    let until = started + settings.connect_timeout + CALL_TIMEOUT + Duration::from_secs(1);
    while gate.settled() < consumers && Instant::now() < until {
        progress.status(&format!(
            "connecting: {} of {consumers} done",
            gate.settled()
        ));
        std::thread::sleep(Duration::from_millis(50));
    }
    let connect_s = started.elapsed().as_secs_f64();
    let meter = Meter::start(provider)?;
    gate.set(Phase::Run);
    let end = Instant::now() + settings.duration;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let done = settings.duration.saturating_sub(left);
        progress.status(&format!(
            "measuring: {:.1} of {:.1} s",
            done.as_secs_f64(),
            settings.duration.as_secs_f64()
        ));
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    let window = meter.finish(provider)?;
    gate.set(Phase::Stop);
    Ok((connect_s, window))
}

/// One consumer: connect, wait for the window, call until it closes.
fn consume(plan: &Plan, index: usize, gate: &Gate) -> Outcome {
    let mut client = IncrementClient::new(&plan.run_dir, &plan.service, &plan.transport.config());
    client.set_call_timeout(CALL_TIMEOUT);
    gate.register(client.abort_handle());
    while !client.ready() && Instant::now() < plan.connect_deadline && gate.phase() == Phase::Setup
    {
        client.refresh();
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
            client.refresh();
            if !client.ready() {
                if gate.phase() == Phase::Run {
                    out.failed_connects += 1;
                    out.errors.connect(client.status().state);
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
        match answer {
            Ok(v) if v == value.wrapping_add(1) => {
                out.calls += 1;
                latency::record(&mut out.latency, took);
                if client.session_info().is_some_and(|s| s.shared_memory) {
                    out.shm_calls += 1;
                }
            }
            Ok(v) => {
                out.failed_calls += 1;
                out.errors.wrong_answer(value, v);
            }
            Err(e) => {
                out.failed_calls += 1;
                out.errors.call(&e);
                gate.pause_in(Phase::Run, RETRY_PAUSE);
            }
        }
        value = value.wrapping_add(1);
    }
    out
}
