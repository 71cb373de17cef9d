//! The control thread's clock: deadlines of connections and sessions
//! (handshakes, stalled sends, a deferred listener), and the stop signal.
//!
//! The control thread sleeps until the earliest deadline or until it is
//! notified, so a server without pending deadlines does not wake up at
//! all.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

#[derive(Debug, Default)]
pub(crate) struct Control {
    deadlines: Mutex<BinaryHeap<Reverse<(Instant, u64)>>>,
    changed: Condvar,
    stopped: AtomicBool,
}

impl Control {
    fn heap(&self) -> MutexGuard<'_, BinaryHeap<Reverse<(Instant, u64)>>> {
        self.deadlines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for `token` to be handed back at `at`.
    pub(crate) fn schedule(&self, at: Instant, token: u64) {
        let mut heap = self.heap();
        let earliest = heap.peek().is_none_or(|Reverse((first, _))| at < *first);
        heap.push(Reverse((at, token)));
        if earliest {
            self.changed.notify_all();
        }
    }

    /// Marks the server stopped and wakes the control thread.
    pub(crate) fn stop(&self) {
        let _heap = self.heap();
        self.stopped.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Sleeps until deadlines pass (their tokens go to `expired`) or the
    /// server stops (`false`).
    pub(crate) fn wait(&self, expired: &mut Vec<u64>) -> bool {
        let mut heap = self.heap();
        loop {
            if self.is_stopped() {
                return false;
            }
            let now = Instant::now();
            while let Some(Reverse((at, token))) = heap.peek().copied() {
                if at > now {
                    break;
                }
                heap.pop();
                expired.push(token);
            }
            if !expired.is_empty() {
                return true;
            }
            heap = match heap.peek() {
                Some(Reverse((at, _))) => {
                    let left = at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(heap, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(heap)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}
