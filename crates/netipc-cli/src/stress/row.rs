//! What every row shares: what it is run with ([`Row`]), its provider with
//! the consumer threads around it ([`Crowded`]), the plan each consumer
//! follows ([`Plan`]), the timed windows ([`pass_window`]) and steps done
//! one after another under a watchdog ([`Steps`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use netipc::service::IncrementClient;

use super::Settings;
use super::crowd::{Crowd, Gate, Joined};
use super::progress::Progress;
use super::provider::Provider;
use super::scenarios::{CALL_TIMEOUT, Transport};
use crate::bench::BenchError;

/// How often a wait for the consumers looks at them.
const SETTLE_POLL: Duration = Duration::from_millis(20);

/// Time steps done one after another may take, before their own time.
const STEPS_BASE: Duration = Duration::from_secs(30);

/// What a row is run with.
pub struct Row<'a> {
    pub name: &'a str,
    pub transport: Transport,
    pub settings: &'a Settings,
    /// The private run directory of the providers.
    pub run_dir: &'a str,
    pub progress: &'a Progress,
}

impl Row<'_> {
    /// Starts the row's provider.
    ///
    /// # Errors
    /// It could not be started.
    pub fn provider(&self) -> Result<Provider, BenchError> {
        Provider::start(self.run_dir, self.name, self.progress)
    }
}

/// Everything a consumer thread of a row needs.
pub struct Plan {
    run_dir: String,
    service: String,
    transport: Transport,
    /// Consumers stop trying to connect (or to be served) at this time.
    pub connect_deadline: Instant,
    /// No consumer waits past this for a phase change.
    pub watchdog: Instant,
}

impl Plan {
    /// The consumer's client, its abort handle registered with `gate` (so
    /// a stuck call can be aborted at the watchdog).
    pub fn client(&self, gate: &Gate) -> IncrementClient {
        let client = self.transport.client(&self.run_dir, &self.service);
        gate.register(client.abort_handle());
        client
    }
}

/// Whether the client's session uses shared memory.
pub fn on_shm(client: &IncrementClient) -> bool {
    client.session_info().is_some_and(|s| s.shared_memory)
}

/// A row's provider with its consumer threads running.
pub struct Crowded<R> {
    pub provider: Provider,
    /// Provider resident memory before any consumer started.
    pub rss_before: Option<u64>,
    /// When the consumers were started.
    pub started: Instant,
    pub gate: Arc<Gate>,
    crowd: Crowd<R>,
    /// The end of the time allowed for the row's window.
    window_end: Instant,
    watchdog: Instant,
}

impl<R: Send + 'static> Crowded<R> {
    /// Starts the row's provider, reads its memory, then starts
    /// `consumers` threads running `consumer(plan, index, gate)` (showing
    /// `status`). The watchdog allows the connect timeout, then `window`,
    /// then the consumers' last calls.
    ///
    /// # Errors
    /// The provider could not be started or did not answer, or the
    /// consumer threads could not be started.
    pub fn start<F>(
        row: &Row<'_>,
        consumers: usize,
        window: Duration,
        status: &str,
        consumer: F,
    ) -> Result<Self, BenchError>
    where
        F: Fn(&Plan, usize, &Gate) -> R + Send + Sync + 'static,
    {
        let mut provider = row.provider()?;
        let rss_before = provider.usage()?.rss_bytes;
        let started = Instant::now();
        let connect_deadline = started + row.settings.connect_timeout;
        let window_end = connect_deadline + window;
        let watchdog = window_end + 4 * CALL_TIMEOUT + Duration::from_secs(5);
        let plan = Plan {
            run_dir: row.run_dir.to_owned(),
            service: provider.service().to_owned(),
            transport: row.transport,
            connect_deadline,
            watchdog,
        };
        row.progress.status(status);
        let gate = Arc::new(Gate::new());
        let crowd = Crowd::spawn(consumers, &gate, move |i, gate| consumer(&plan, i, gate))?;
        Ok(Self {
            provider,
            rss_before,
            started,
            gate,
            crowd,
            window_end,
            watchdog,
        })
    }

    /// Waits until `n` consumers are done with their setup or `until`
    /// passes, showing `label: <done> of <n> done`.
    pub fn await_settled(&self, n: usize, until: Instant, progress: &Progress, label: &str) {
        while self.gate.settled() < n && Instant::now() < until {
            progress.status(&format!("{label}: {} of {n} done", self.gate.settled()));
            std::thread::sleep(SETTLE_POLL);
        }
    }

    /// The end of the time the watchdog allows for the row's window
    /// (counted from the connect deadline).
    pub fn window_end(&self) -> Instant {
        self.window_end
    }

    /// Stops and joins the consumers (see [`Crowd::join`]); hands back the
    /// provider.
    pub fn join(self) -> (Provider, Joined<R>) {
        let joined = self.crowd.join(self.watchdog);
        (self.provider, joined)
    }
}

/// Sleeps through a window of `duration`, showing
/// `label: <elapsed> of <duration> s`.
pub fn pass_window(duration: Duration, progress: &Progress, label: &str) {
    let end = Instant::now() + duration;
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let done = duration.saturating_sub(left);
        progress.status(&format!(
            "{label}: {:.1} of {:.1} s",
            done.as_secs_f64(),
            duration.as_secs_f64()
        ));
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Steps of a row done one after another (churn cycles, departures),
/// stopped by a watchdog deadline, with a progress line.
pub struct Steps<'a> {
    /// What one step is called in the progress line.
    what: &'static str,
    total: u32,
    /// The progress line is updated every this many steps.
    every: u32,
    deadline: Instant,
    progress: &'a Progress,
}

impl<'a> Steps<'a> {
    /// The time `total` steps may take: a base plus `per_step` each.
    pub fn budget(total: u32, per_step: Duration) -> Duration {
        STEPS_BASE + per_step * total
    }

    pub fn new(
        row: &Row<'a>,
        what: &'static str,
        total: u32,
        every: u32,
        deadline: Instant,
    ) -> Self {
        Self {
            what,
            total,
            every: every.max(1),
            deadline,
            progress: row.progress,
        }
    }

    /// Whether step `i` (from 0) may start: `false` once the deadline has
    /// passed.
    pub fn start(&self, i: u32) -> bool {
        if Instant::now() >= self.deadline {
            return false;
        }
        if i % self.every == 0 {
            self.progress
                .status(&format!("{} {i} of {}", self.what, self.total));
        }
        true
    }
}
