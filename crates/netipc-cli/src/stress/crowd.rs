//! Many consumer threads: started with small stacks, moved through the
//! phases of a row by a [`Gate`], and joined with a deadline.
//!
//! Every consumer registers its client's abort handle. If consumers are
//! still running when the row's deadline passes, their calls are aborted
//! and, after a grace period, those that still did not finish are left
//! behind (counted as stuck) so that the tool itself never hangs.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use netipc::service::AbortHandle;

use crate::bench::BenchError;

/// Stack size of a consumer thread: enough for a client and its calls,
/// small enough for thousands of them.
pub const STACK_SIZE: usize = 256 * 1024;

/// How long stuck consumers get to return after their calls are aborted.
const ABORT_GRACE: Duration = Duration::from_secs(3);

/// How often the joiner looks at unfinished threads.
const POLL: Duration = Duration::from_millis(10);

/// The phase of a row, as the consumers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Connecting (and, for idle rows, making the first call).
    Setup = 0,
    /// The measured window.
    Run = 1,
    /// Everything ends: consumers close their clients and return.
    Stop = 2,
}

impl Phase {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Setup,
            1 => Self::Run,
            _ => Self::Stop,
        }
    }
}

/// Moves every consumer to the next phase at once. Reading the phase is
/// one atomic load (the consumers' hot loop); waiting for a phase blocks
/// on a condition variable.
#[derive(Debug)]
pub struct Gate {
    phase: AtomicU8,
    lock: Mutex<()>,
    changed: Condvar,
    /// Consumers done with their setup.
    settled: AtomicUsize,
    aborts: Mutex<Vec<AbortHandle>>,
}

impl Gate {
    pub fn new() -> Self {
        Self {
            phase: AtomicU8::new(Phase::Setup as u8),
            lock: Mutex::new(()),
            changed: Condvar::new(),
            settled: AtomicUsize::new(0),
            aborts: Mutex::new(Vec::new()),
        }
    }

    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Moves to `phase` (never back) and wakes every waiter.
    pub fn set(&self, phase: Phase) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
        self.changed.notify_all();
    }

    /// Waits until the phase is at least `phase` or `deadline` passes;
    /// returns whether the phase was reached.
    pub fn wait_for(&self, phase: Phase, deadline: Instant) -> bool {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while self.phase() < phase {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = self
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Sleeps for `pause`, waking early when the phase moves past `phase`.
    pub fn pause_in(&self, phase: Phase, pause: Duration) {
        let next = match phase {
            Phase::Setup => Phase::Run,
            Phase::Run | Phase::Stop => Phase::Stop,
        };
        self.wait_for(next, Instant::now() + pause);
    }

    /// A consumer is done with its setup.
    pub fn settle(&self) {
        self.settled.fetch_add(1, Ordering::AcqRel);
    }

    /// Consumers done with their setup so far.
    pub fn settled(&self) -> usize {
        self.settled.load(Ordering::Acquire)
    }

    /// Registers a client's abort handle, used if the consumer gets stuck.
    pub fn register(&self, handle: AbortHandle) {
        self.aborts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle);
    }

    fn abort_all(&self) {
        for h in self
            .aborts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            h.abort();
        }
    }
}

/// The running consumer threads of a row.
pub struct Crowd<R> {
    gate: Arc<Gate>,
    threads: Vec<JoinHandle<R>>,
}

/// What joining a crowd gave.
pub struct Joined<R> {
    /// The results of the consumers that returned.
    pub results: Vec<R>,
    /// Consumers that did not return (stuck past the deadline, or whose
    /// thread panicked).
    pub stuck: usize,
}

impl<R: Send + 'static> Crowd<R> {
    /// Starts `n` consumers running `consumer(index, gate)`.
    ///
    /// # Errors
    /// A thread could not be started; the ones already running are stopped
    /// and joined first.
    pub fn spawn<F>(n: usize, gate: &Arc<Gate>, consumer: F) -> Result<Self, BenchError>
    where
        F: Fn(usize, &Gate) -> R + Send + Sync + 'static,
    {
        let consumer = Arc::new(consumer);
        let mut crowd = Self {
            gate: gate.clone(),
            threads: Vec::with_capacity(n),
        };
        for i in 0..n {
            let (gate, consumer) = (gate.clone(), consumer.clone());
            let spawned = thread::Builder::new()
                .name(format!("consumer-{i}"))
                .stack_size(STACK_SIZE)
                .spawn(move || consumer(i, &gate));
            match spawned {
                Ok(t) => crowd.threads.push(t),
                Err(e) => {
                    crowd.gate.set(Phase::Stop);
                    let started = crowd.threads.len();
                    let _ = crowd.join(Instant::now() + Duration::from_secs(10));
                    return Err(BenchError::new(format!(
                        "cannot start consumer thread {} of {n} ({started} were running): {e}",
                        i + 1
                    )));
                }
            }
        }
        Ok(crowd)
    }

    /// Moves the consumers to [`Phase::Stop`] and joins them; consumers
    /// still running at `deadline` are aborted and, after a grace period,
    /// left behind.
    pub fn join(self, deadline: Instant) -> Joined<R> {
        self.gate.set(Phase::Stop);
        let mut pending = self.threads;
        let mut results = Vec::with_capacity(pending.len());
        let mut stuck = 0;
        let mut aborted = false;
        loop {
            let mut still = Vec::new();
            for t in pending {
                if t.is_finished() {
                    match t.join() {
                        Ok(r) => results.push(r),
                        Err(_) => stuck += 1,
                    }
                } else {
                    still.push(t);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline && !aborted {
                self.gate.abort_all();
                aborted = true;
            }
            if aborted && now >= deadline + ABORT_GRACE {
                // Left behind: they end with the process.
                stuck += pending.len();
                break;
            }
            thread::sleep(POLL);
        }
        Joined { results, stuck }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_stuck_consumers() {
        let gate = Arc::new(Gate::new());
        let crowd = Crowd::spawn(4, &gate, |i, gate| {
            gate.settle();
            gate.wait_for(Phase::Run, Instant::now() + Duration::from_secs(10));
            if i == 3 {
                // Ignores the stop for longer than the deadline and grace.
                thread::sleep(Duration::from_secs(30));
            }
            i
        })
        .expect("spawn");
        let until = Instant::now() + Duration::from_secs(10);
        while gate.settled() < 4 && Instant::now() < until {
            thread::sleep(POLL);
        }
        assert_eq!(gate.settled(), 4);
        gate.set(Phase::Run);
        assert_eq!(gate.phase(), Phase::Run);
        gate.set(Phase::Setup);
        assert_eq!(gate.phase(), Phase::Run, "phases never go back");
        let joined = crowd.join(Instant::now() + Duration::from_millis(100));
        let mut results = joined.results;
        results.sort_unstable();
        assert_eq!(results, [0, 1, 2]);
        assert_eq!(joined.stuck, 1);
    }
}
