//! How a thread waiting for a shared-memory message polls before it
//! sleeps, and how that adapts to its peer. A local policy of each side
//! (nothing of it is on the wire); the backends supply the memory to poll
//! and the sleep.
//!
//! A wait polls in two phases: pure polls (a `pause` each, about two
//! microseconds in all: a message from a peer that is running arrives
//! within them, with no system call), then polls that yield the CPU
//! between them, up to a time limit, then it sleeps. Polling pays while
//! messages come within that time (two peers trading messages do not
//! settle into a sleep and a wake-up each); when they come later it only
//! burns CPU, in a different way on each side:
//!
//! - A client waits for answers ([`SpinPolicy::for_answers`]): its answer
//!   is on its way and comes late only when the provider is busy (many
//!   consumers on few cores). After [`MISSES`] answers in a row that came
//!   [`SLOW_WAIT`] or more after the pure polls, it polls only briefly for
//!   the next [`BRIEF_WAITS`] waits, a stretch that slow answers renew:
//!   yielding polls would only take CPU from the threads that are to
//!   answer. A fixed stretch, not "until one quick answer": otherwise the
//!   waiters that happen to poll get the quick answers and keep polling,
//!   and the others are served less.
//! - A server waits for its session's next request
//!   ([`SpinPolicy::for_requests`]), which comes when its client calls
//!   again: maybe within microseconds, maybe in a second. It polls for
//!   [`REQUEST_SPIN_TIME`]; after [`MISSES`] requests in a row that came
//!   later it polls only briefly, and every so often polls for the whole
//!   time again (a probe): a probe that catches its request brings the full
//!   polling back, one that does not makes the next come twice as late
//!   (from [`BRIEF_WAITS`] up to [`PROBE_EVERY_MAX`] waits apart). A
//!   provider whose calls are sparse (tens of thousands a second or fewer
//!   per session) thus sleeps at once, and one of a busy pair keeps its
//!   sub-microsecond round trips.

use std::time::{Duration, Instant};

/// Pure polls before a waiter starts yielding.
const SPIN_POLLS: u32 = 128;
/// How long a waiter polls in all, yielding the CPU between polls after
/// the pure ones, before it sleeps. Longer than a wake-up takes on a
/// loaded or virtual machine (tens of microseconds), so two peers trading
/// messages do not settle into a sleep and a wake-up per message; yielding
/// lets a peer that shares this CPU run instead of being starved by the
/// poll.
pub(crate) const SPIN_TIME: Duration = Duration::from_micros(50);
/// How long a server polls for its session's next request in all (see
/// [`SpinPolicy::for_requests`]).
pub(crate) const REQUEST_SPIN_TIME: Duration = Duration::from_micros(20);

/// Slow waits in a row after which a waiter only polls briefly.
pub(crate) const MISSES: u8 = 3;
/// A wait for an answer whose message came this long after the pure polls
/// is slow: polling longer would not have caught it.
pub(crate) const SLOW_WAIT: Duration = Duration::from_micros(200);
/// Brief waits in a stretch: a waiter for answers that saw [`MISSES`] slow
/// ones, and a waiter for requests before its first probe.
pub(crate) const BRIEF_WAITS: u16 = 64;
/// The most brief waits between two probes of a waiter for requests.
pub(crate) const PROBE_EVERY_MAX: u16 = 1024;

/// The polling phase of one wait: true from [`again`](Self::again) while
/// the waiter should poll again.
#[derive(Debug)]
pub(crate) struct Spin {
    polls: u32,
    /// How long the polling lasts in all; zero: only the pure polls.
    limit: Duration,
    /// When the pure polls ended (the clock is read only from then on).
    yielding_since: Option<Instant>,
}

impl Default for Spin {
    /// A full polling phase of [`SPIN_TIME`].
    fn default() -> Self {
        Self::new(SPIN_TIME)
    }
}

impl Spin {
    /// A polling phase of `limit` in all.
    pub(crate) fn new(limit: Duration) -> Self {
        Self {
            polls: 0,
            limit,
            yielding_since: None,
        }
    }

    /// A polling phase of the pure polls only.
    pub(crate) fn brief() -> Self {
        Self::new(Duration::ZERO)
    }

    /// Whether this phase has only the pure polls.
    fn is_brief(&self) -> bool {
        self.limit.is_zero()
    }

    /// Whether the waiter should poll again (after a pause or a yield);
    /// false once the phase is over and the waiter should sleep.
    #[inline]
    pub(crate) fn again(&mut self) -> bool {
        if self.polls < SPIN_POLLS {
            self.polls += 1;
            std::hint::spin_loop();
            return true;
        }
        self.again_yielding()
    }

    /// The yielding phase, out of the way of the pure polls.
    #[cold]
    #[inline(never)]
    fn again_yielding(&mut self) -> bool {
        let now = Instant::now();
        let since = *self.yielding_since.get_or_insert(now);
        if now >= since + self.limit {
            return false;
        }
        std::thread::yield_now();
        true
    }
}

/// One waiter's adaptive polling (see the module docs): ask
/// [`spin`](Self::spin) for each wait's polling phase, and tell
/// [`record`](Self::record) how the wait went.
#[derive(Debug)]
pub(crate) struct SpinPolicy {
    /// How long a full polling phase lasts.
    limit: Duration,
    /// Waiting for requests (probing, backing off) rather than answers.
    requests: bool,
    /// Slow waits (answers) or missed full ones (requests) in a row.
    misses: u8,
    /// Brief waits left in the current stretch.
    brief_left: u16,
    /// Requests: the length of the current stretch, 0 while polling fully.
    probe_every: u16,
}

impl SpinPolicy {
    /// The policy of a waiter for answers (a client): its message is on
    /// its way (the request is out), so it polls for [`SPIN_TIME`], longer
    /// than a sleeping server takes to wake up.
    pub(crate) fn for_answers() -> Self {
        Self::new(SPIN_TIME, false)
    }

    /// The policy of a waiter for requests (a server): its message may not
    /// come for a long time, so it polls for [`REQUEST_SPIN_TIME`], about
    /// what a sleep and a wake-up cost the server in CPU (so a gap it does
    /// not catch costs the server at most about twice what sleeping at once
    /// would have). Longer polls would catch gaps of 20-50 µs too, for
    /// lower latency at a higher CPU cost per call at those rates.
    pub(crate) fn for_requests() -> Self {
        Self::new(REQUEST_SPIN_TIME, true)
    }

    fn new(limit: Duration, requests: bool) -> Self {
        Self {
            limit,
            requests,
            misses: 0,
            brief_left: 0,
            probe_every: 0,
        }
    }

    /// The polling phase of the next wait.
    #[inline]
    pub(crate) fn spin(&mut self) -> Spin {
        if self.brief_left > 0 {
            self.brief_left -= 1;
            return Spin::brief();
        }
        Spin::new(self.limit)
    }

    /// Records how a wait whose phase came from [`spin`](Self::spin) went:
    /// `caught` when its message arrived while it polled (it did not
    /// sleep). Call it when the message has arrived, or when the waiter
    /// stops polling to sleep (a server handing its session over); a wait
    /// cut short for another reason (an interrupt, a deadline) is not
    /// recorded.
    #[inline]
    pub(crate) fn record(&mut self, spin: &Spin, caught: bool) {
        if self.requests {
            // A brief wait says nothing about the full polling; a caught
            // one while polling fully changes nothing.
            let settled = caught && self.misses == 0 && self.probe_every == 0;
            if !spin.is_brief() && !settled {
                self.record_request(caught);
            }
        } else if spin.yielding_since.is_some() || self.misses > 0 {
            self.record_answer(spin);
        }
    }

    #[cold]
    fn record_answer(&mut self, spin: &Spin) {
        let slow = spin
            .yielding_since
            .is_some_and(|since| since.elapsed() >= SLOW_WAIT);
        self.misses = if slow { self.misses + 1 } else { 0 };
        if self.misses >= MISSES {
            self.misses = 0;
            self.brief_left = BRIEF_WAITS;
        }
    }

    #[cold]
    fn record_request(&mut self, caught: bool) {
        if caught {
            self.misses = 0;
            self.probe_every = 0;
        } else if self.probe_every > 0 {
            // A probe that missed: the next one comes twice as late.
            self.probe_every = self.probe_every.saturating_mul(2).min(PROBE_EVERY_MAX);
            self.brief_left = self.probe_every;
        } else {
            self.misses += 1;
            if self.misses >= MISSES {
                self.misses = 0;
                self.probe_every = BRIEF_WAITS;
                self.brief_left = BRIEF_WAITS;
            }
        }
    }

    /// Whether the waiter polls only briefly now (requests: between
    /// probes).
    #[cfg(test)]
    fn is_brief(&self) -> bool {
        self.brief_left > 0 || self.probe_every > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `n` waits through the policy, each caught or not (and, for
    /// answers, slow when not caught); returns which were brief.
    fn waits(policy: &mut SpinPolicy, n: usize, caught: bool) -> Vec<bool> {
        (0..n)
            .map(|_| {
                let mut spin = policy.spin();
                let brief = spin.is_brief();
                if !caught {
                    // The message came long after the pure polls.
                    spin.yielding_since = Some(Instant::now() - 2 * SLOW_WAIT);
                }
                policy.record(&spin, caught);
                brief
            })
            .collect()
    }

    #[test]
    fn polls_fully_while_messages_come_in_time() {
        for mut policy in [SpinPolicy::for_answers(), SpinPolicy::for_requests()] {
            assert!(waits(&mut policy, 1000, true).iter().all(|brief| !brief));
            // Two misses in a row are not enough.
            waits(&mut policy, 2, false);
            waits(&mut policy, 1, true);
            waits(&mut policy, 2, false);
            assert!(!policy.is_brief());
        }
    }

    #[test]
    fn a_server_with_sparse_requests_polls_briefly_and_its_probes_back_off() {
        let mut policy = SpinPolicy::for_requests();
        let briefs = waits(&mut policy, MISSES as usize, false);
        assert!(briefs.iter().all(|brief| !brief));
        assert!(policy.is_brief());
        // The first probe after BRIEF_WAITS brief waits, then twice as far
        // each time, up to PROBE_EVERY_MAX.
        let mut every = usize::from(BRIEF_WAITS);
        for _ in 0..8 {
            let briefs = waits(&mut policy, every + 1, false);
            assert!(briefs[..every].iter().all(|brief| *brief), "{every}");
            assert!(!briefs[every], "a probe after {every} brief waits");
            every = (every * 2).min(usize::from(PROBE_EVERY_MAX));
        }
        assert_eq!(every, usize::from(PROBE_EVERY_MAX));
    }

    #[test]
    fn a_probe_that_catches_its_request_brings_full_polling_back() {
        let mut policy = SpinPolicy::for_requests();
        waits(&mut policy, MISSES as usize, false);
        // Brief waits that catch their message change nothing...
        let briefs = waits(&mut policy, usize::from(BRIEF_WAITS), true);
        assert!(briefs.iter().all(|brief| *brief));
        assert!(policy.is_brief());
        // ...the probe does.
        assert_eq!(waits(&mut policy, 1, true), [false]);
        assert!(!policy.is_brief());
        assert!(waits(&mut policy, 100, true).iter().all(|brief| !brief));
    }

    #[test]
    fn a_client_with_slow_answers_polls_briefly_while_they_stay_slow() {
        let mut policy = SpinPolicy::for_answers();
        waits(&mut policy, MISSES as usize, false);
        assert!(policy.is_brief());
        // Slow answers renew the stretch...
        let briefs = waits(&mut policy, 10 * usize::from(BRIEF_WAITS), false);
        assert!(briefs.iter().all(|brief| *brief));
        // ...quick ones let it end, then the waits poll fully again.
        let briefs = waits(&mut policy, usize::from(BRIEF_WAITS) + 1, true);
        assert!(briefs.iter().filter(|brief| **brief).count() < usize::from(BRIEF_WAITS) + 1);
        assert!(!briefs[usize::from(BRIEF_WAITS)]);
        assert!(!policy.is_brief());
    }

    #[test]
    fn a_brief_phase_has_no_yielding_polls() {
        let mut spin = Spin::brief();
        let mut polls = 0;
        while spin.again() {
            polls += 1;
        }
        assert_eq!(polls, SPIN_POLLS);
        // A full phase yields until its limit has passed.
        let start = Instant::now();
        let mut spin = Spin::default();
        while spin.again() {}
        assert!(start.elapsed() >= SPIN_TIME);
    }
}
