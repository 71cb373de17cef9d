//! Held sessions, the ground of the idle and depart rows: N consumers open
//! a session each and make one call to prove they are served, then hold
//! their sessions without calling until the row closes them all at once.
//!
//! A consumer that is turned away retries (pausing briefly) until it is
//! served or the connect deadline passes; one that was never served closes
//! its client right away, so the rest of the row sees served sessions
//! only. At the close, the provider's `stats` are asked, one request after
//! the other, until it holds no session: the time it took to release them.

use std::time::{Duration, Instant};

use super::RETRY_PAUSE;
use super::crowd::{Gate, Joined, Phase};
use super::errors::Tally;
use super::progress::Progress;
use super::provider::Provider;
use super::row::{Crowded, Plan, Row, on_shm};
use super::scenarios::CALL_TIMEOUT;
use crate::bench::BenchError;
use crate::bench::process::ServerCounters;

/// Longest wait for the provider to release the sessions after the close.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one consumer saw.
pub struct Outcome {
    served: bool,
    on_shm: bool,
    /// Attempts before it was served (or gave up).
    errors: Tally,
    /// When it began to close its session at the stop (served ones only).
    closing: Option<Instant>,
}

/// The held sessions of a row, open.
pub struct Held {
    pub crowded: Crowded<Outcome>,
    /// Consumers, each trying to hold one session.
    pub sessions: usize,
    /// Seconds from starting the consumers until every one was served or
    /// gave up.
    pub setup_s: f64,
}

/// What the consumers saw, together.
#[derive(Debug, Clone)]
pub struct HeldSummary {
    /// Consumers, each trying to hold one session.
    pub sessions: usize,
    /// Consumers whose call succeeded: the sessions held.
    pub served: usize,
    /// Served consumers whose session used shared memory.
    pub served_on_shm: usize,
    /// Failed attempts before consumers were served (or gave up).
    pub errors: Tally,
    /// Consumers that did not return (see `crowd`).
    pub stuck: usize,
}

/// How the provider released the sessions at the close.
#[derive(Debug, Clone)]
pub struct Release {
    /// From telling every consumer to close to the first `stats` answer
    /// showing no session; `None`: not within [`RELEASE_TIMEOUT`].
    pub after_stop: Option<Duration>,
    /// From the moment the last consumer began to close to that answer.
    pub after_last_close: Option<Duration>,
    /// The provider's counters at that answer (or at the timeout).
    pub counters: ServerCounters,
}

/// The held sessions, closed.
pub struct Closed {
    pub provider: Provider,
    pub summary: HeldSummary,
    pub release: Release,
    /// When the consumers were told to close.
    pub stopped_at: Instant,
}

/// Starts `sessions` consumers and waits until every one is served or gave
/// up; those still trying give up then. The watchdog allows `window` for
/// what the row does with the sessions open.
///
/// # Errors
/// The provider could not be started or did not answer, or the consumer
/// threads could not be started.
pub fn open(row: &Row<'_>, sessions: usize, window: Duration) -> Result<Held, BenchError> {
    let status = format!("opening {sessions} sessions");
    let crowded = Crowded::start(row, sessions, window, &status, hold)?;
    let until =
        crowded.started + row.settings.connect_timeout + 2 * CALL_TIMEOUT + Duration::from_secs(1);
    crowded.await_settled(sessions, until, row.progress, "opening sessions");
    let setup_s = crowded.started.elapsed().as_secs_f64();
    // Consumers still trying give up now; their last attempt ends within
    // a call timeout.
    crowded.gate.set(Phase::Run);
    let until = Instant::now() + 2 * CALL_TIMEOUT;
    crowded.await_settled(sessions, until, row.progress, "opening sessions");
    Ok(Held {
        crowded,
        sessions,
        setup_s,
    })
}

impl Held {
    /// Tells every consumer to close its session, asks the provider's
    /// `stats` until it holds none (or [`RELEASE_TIMEOUT`]), and joins the
    /// consumers.
    ///
    /// # Errors
    /// The provider did not answer (the consumers are joined first).
    pub fn close(self, progress: &Progress) -> Result<Closed, BenchError> {
        let Self {
            mut crowded,
            sessions,
            ..
        } = self;
        progress.status("closing the sessions; waiting for the provider to release them");
        let stopped_at = Instant::now();
        crowded.gate.set(Phase::Stop);
        let released = crowded.provider.released(0, stopped_at, RELEASE_TIMEOUT);
        let (provider, joined) = crowded.join();
        let (after_stop, counters) = released?;
        let last_close = joined.results.iter().filter_map(|o| o.closing).max();
        let after_last_close = after_stop
            .zip(last_close)
            .map(|(d, last)| (stopped_at + d).saturating_duration_since(last));
        Ok(Closed {
            provider,
            summary: summary(sessions, &joined),
            release: Release {
                after_stop,
                after_last_close,
                counters,
            },
            stopped_at,
        })
    }
}

fn summary(sessions: usize, joined: &Joined<Outcome>) -> HeldSummary {
    let mut errors = Tally::default();
    for o in &joined.results {
        errors.merge(&o.errors);
    }
    HeldSummary {
        sessions,
        served: joined.results.iter().filter(|o| o.served).count(),
        served_on_shm: joined.results.iter().filter(|o| o.on_shm).count(),
        errors,
        stuck: joined.stuck,
    }
}

/// One consumer: get served once, then hold the session until the stop.
fn hold(plan: &Plan, _index: usize, gate: &Gate) -> Outcome {
    let mut client = plan.client(gate);
    let mut out = Outcome {
        served: false,
        on_shm: false,
        errors: Tally::default(),
        closing: None,
    };
    while Instant::now() < plan.connect_deadline && gate.phase() == Phase::Setup {
        if !client.ready() {
            let _ = client.connect();
        }
        if client.ready() {
            if out.errors.check(1, &client.call(1)) {
                out.served = true;
                out.on_shm = on_shm(&client);
                break;
            }
        } else {
            out.errors
                .connect(client.status().state, client.last_error());
        }
        gate.pause_in(Phase::Setup, RETRY_PAUSE);
    }
    if !out.served {
        client.close();
    }
    gate.settle();
    gate.wait_for(Phase::Stop, plan.watchdog);
    out.closing = out.served.then(Instant::now);
    drop(client);
    out
}
