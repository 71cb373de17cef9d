//! Idle rows: N consumers open a session each and make one call to prove
//! they are served, then hold their sessions without calling while the
//! provider's CPU and memory are measured; then they all close.
//!
//! A consumer that is turned away retries (pausing briefly) until it is
//! served or the connect deadline passes; one that was never served closes
//! its client before the window, so the window holds served sessions only.
//! The provider's memory is read before the consumers start, at the end of
//! the idle window, and a moment after every session closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use netipc::service::IncrementClient;

use super::crowd::{Crowd, Gate, Phase};
use super::errors::Tally;
use super::progress::Progress;
use super::provider::{Meter, Provider, Window};
use super::scenarios::{CALL_TIMEOUT, Transport};
use super::{RETRY_PAUSE, Settings};
use crate::bench::BenchError;

/// How long the provider gets to release closed sessions before its
/// memory is read again.
pub const SETTLE: Duration = Duration::from_secs(1);

/// What one consumer saw.
struct Outcome {
    served: bool,
    on_shm: bool,
    /// Attempts before it was served (or gave up).
    errors: Tally,
}

/// A finished idle row.
#[derive(Debug, Clone)]
pub struct IdleRow {
    pub name: String,
    pub transport: Transport,
    /// Consumers, each trying to hold one session.
    pub sessions: usize,
    /// Consumers whose call succeeded: the sessions held in the window.
    pub served: usize,
    /// Served consumers whose session used shared memory.
    pub served_on_shm: usize,
    /// Seconds from starting the consumers to the window.
    pub setup_s: f64,
    pub window: Window,
    pub rss_before: Option<u64>,
    pub rss_after_close: Option<u64>,
    /// Failed attempts before consumers were served (or gave up).
    pub errors: Tally,
    pub stuck: usize,
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
        (self.served > 0).then(|| (open as f64 - before as f64) / self.served as f64)
    }
}

struct Plan {
    run_dir: String,
    service: String,
    transport: Transport,
    connect_deadline: Instant,
    watchdog: Instant,
}

/// Runs one idle row of `sessions` consumers over `transport`.
///
/// # Errors
/// The provider could not be started or stopped answering, or the
/// consumer threads could not be started.
pub fn run(
    name: &str,
    sessions: usize,
    transport: Transport,
    settings: &Settings,
    run_dir: &str,
    progress: &Progress,
) -> Result<IdleRow, BenchError> {
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
    progress.status(&format!("opening {sessions} sessions"));
    let gate = Arc::new(Gate::new());
    let crowd = Crowd::spawn(sessions, &gate, move |_, gate| hold(&plan, gate))?;
    let measured = measure(&gate, sessions, settings, &mut provider, progress, started);
    progress.status("closing the sessions");
    let joined = crowd.join(watchdog);
    let (setup_s, window) = measured?;
    progress.status("waiting for the provider to release the sessions");
    std::thread::sleep(SETTLE);
    let rss_after_close = provider.usage()?.rss_bytes;
    let provider_stderr = provider.stop()?;
    let mut errors = Tally::default();
    for o in &joined.results {
        errors.merge(&o.errors);
    }
    Ok(IdleRow {
        name: name.to_owned(),
        transport,
        sessions,
        served: joined.results.iter().filter(|o| o.served).count(),
        served_on_shm: joined.results.iter().filter(|o| o.on_shm).count(),
        setup_s,
        window,
        rss_before,
        rss_after_close,
        errors,
        stuck: joined.stuck,
        provider_stderr,
    })
}

/// Waits until every consumer is served or gave up, then measures the
/// idle window. Returns the setup time and the window.
fn measure(
    gate: &Gate,
    sessions: usize,
    settings: &Settings,
    provider: &mut Provider,
    progress: &Progress,
    started: Instant,
) -> Result<(f64, Window), BenchError> {
    let until = started + settings.connect_timeout + 2 * CALL_TIMEOUT + Duration::from_secs(1);
    while gate.settled() < sessions && Instant::now() < until {
        progress.status(&format!(
            "opening sessions: {} of {sessions} done",
            gate.settled()
        ));
        std::thread::sleep(Duration::from_millis(50));
    }
    let setup_s = started.elapsed().as_secs_f64();
    // Consumers still trying give up now; their last attempt ends within
    // a call timeout, before the window opens.
    gate.set(Phase::Run);
    let until = Instant::now() + 2 * CALL_TIMEOUT;
    while gate.settled() < sessions && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let meter = Meter::start(provider)?;
    let end = Instant::now() + settings.duration;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let done = settings.duration.saturating_sub(left);
        progress.status(&format!(
            "idle: {:.1} of {:.1} s",
            done.as_secs_f64(),
            settings.duration.as_secs_f64()
        ));
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    let window = meter.finish(provider)?;
    Ok((setup_s, window))
}

/// One consumer: get served once, then hold the session until the stop.
fn hold(plan: &Plan, gate: &Gate) -> Outcome {
    let mut client = IncrementClient::new(&plan.run_dir, &plan.service, &plan.transport.config());
    client.set_call_timeout(CALL_TIMEOUT);
    gate.register(client.abort_handle());
    let mut out = Outcome {
        served: false,
        on_shm: false,
        errors: Tally::default(),
    };
    while Instant::now() < plan.connect_deadline && gate.phase() == Phase::Setup {
        if !client.ready() {
            client.refresh();
        }
        if client.ready() {
            match client.call(1) {
                Ok(2) => {
                    out.served = true;
                    out.on_shm = client.session_info().is_some_and(|s| s.shared_memory);
                    break;
                }
                Ok(v) => out.errors.wrong_answer(1, v),
                Err(e) => out.errors.call(&e),
            }
        } else {
            out.errors.connect(client.status().state);
        }
        gate.pause_in(Phase::Setup, RETRY_PAUSE);
    }
    if !out.served {
        client.close();
    }
    gate.settle();
    gate.wait_for(Phase::Stop, plan.watchdog);
    drop(client);
    out
}
