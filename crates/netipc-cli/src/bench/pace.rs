//! Fixed-rate pacing of the bench client (`--rate`, `--rates`): the
//! absolute schedule of the calls, the wait for each call's due time and
//! what that waiting costs.
//!
//! Call `k` of a phase is due at `start + k / rate`, whatever happened to
//! the calls before it: a call that is already due when the client is free
//! to send it is sent at once ("behind"), and its latency counts from its
//! due time, so a stall of the pairing shows in the latency of every call
//! it delayed (no coordinated omission). A call that is not due yet is
//! waited for: the client thread sleeps until [`SPIN`] before the due time
//! and spins the rest (a gap of [`SPIN`] or less is only spun), so the idle
//! time between calls is slept, not spun. The client thread's CPU time
//! spent waiting is measured ([`Pacing::cpu`]) and reported next to the
//! client CPU, which includes it (nothing is subtracted).
//!
//! A sleep may end after the due time (a virtual machine often wakes a
//! thread tens of µs late after a sleep of a millisecond): then the call's
//! latency counts from the end of the sleep, where the client sent it,
//! since nothing of the pairing delayed it; the lateness is counted
//! ([`Pacing::overslept`]), and the latencies from the due times are
//! kept too ([`Start::due`]), the client's lateness included.
//!
//! On Linux the client thread's timer slack is set to 1 ns while it paces
//! ([`FineTimers`]), so a sleep ends within a few µs of its deadline
//! instead of the default 50 µs later.

use std::thread;
use std::time::{Duration, Instant};

use crate::usage;

/// The largest `--rate`: 10 M calls/s (a due time every 100 ns).
pub const MAX_RATE: u64 = 10_000_000;

/// How long before a due time a waiting client stops sleeping and spins:
/// about what a sleep overshoots its deadline by on a quiet Linux machine
/// (with a timer slack of 1 ns), so the spin absorbs the usual wake-up
/// lateness.
pub const SPIN: Duration = Duration::from_micros(10);

/// Parses a rate in calls per second, 1 to [`MAX_RATE`]: digits, with
/// optional `_` separators (`100_000`) and a `k` or `M` suffix (`10k`,
/// `1M`).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().replace('_', "");
    let (digits, scale) = match t.as_bytes().last() {
        Some(b'k' | b'K') => (&t[..t.len() - 1], 1_000),
        Some(b'M') => (&t[..t.len() - 1], 1_000_000),
        _ => (t.as_str(), 1),
    };
    match digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
    {
        Some(n @ 1..=MAX_RATE) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a rate in calls per second from 1 to {MAX_RATE} (e.g. 1000, 10k, 1M)"
        )),
    }
}

/// The due times of a phase's calls: call `k` is due `k / rate` seconds
/// after the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    start: Instant,
    rate: u64,
}

impl Schedule {
    /// The schedule of `rate` calls per second (at least 1) from `start`.
    pub fn new(start: Instant, rate: u64) -> Self {
        Self {
            start,
            rate: rate.max(1),
        }
    }

    /// How long after the start call `k` (counted from 0) is due; exact to
    /// the nanosecond, so the schedule does not drift.
    pub fn offset(&self, k: u64) -> Duration {
        let ns = u128::from(k) * 1_000_000_000 / u128::from(self.rate);
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// When call `k` is due. A phase lasts a day at most (`--duration`),
    /// so the due times of its calls are far from what an `Instant` holds.
    pub fn due(&self, k: u64) -> Instant {
        self.start + self.offset(k)
    }
}

/// What the pacing of one phase did. Every call but the first (which
/// starts the schedule) is either `behind` (sent at once, already due) or
/// waited for (`waits`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pacing {
    /// The target rate, in calls per second.
    pub rate: u64,
    /// Calls that were already due when the client was free to send them
    /// (sent at once; their latency counts from their due time).
    pub behind: u64,
    /// Calls the client waited for (it was early).
    pub waits: u64,
    /// Waits that slept (the others only spun: a gap of at most [`SPIN`]).
    pub sleeps: u64,
    /// Sleeps that ended after the due time (the client woke late; the
    /// call's latency counts from the end of the sleep).
    pub overslept: u64,
    /// The total lateness of those sleeps.
    pub oversleep: Duration,
    /// CPU time of the client thread while waiting (sleeping, spinning and
    /// reading its CPU clock around each wait); it is part of the client
    /// CPU.
    pub cpu: Duration,
}

/// When a call was due, and where its latency starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// The call's due time.
    pub due: Instant,
    /// The start of its latency: its due time, or the end of the client's
    /// sleep when that ended after the due time (the client's own
    /// lateness, which nothing of the pairing caused).
    pub from: Instant,
}

/// Waits for the due times of a [`Schedule`], call after call, and counts
/// what that cost.
#[derive(Debug)]
pub struct Pacer {
    schedule: Schedule,
    /// Calls waited for so far: the next one is call `calls`.
    calls: u64,
    pacing: Pacing,
}

impl Pacer {
    pub fn new(schedule: Schedule) -> Self {
        Self {
            schedule,
            calls: 0,
            pacing: Pacing {
                rate: schedule.rate,
                ..Pacing::default()
            },
        }
    }

    /// When the next call is due.
    pub fn due(&self) -> Instant {
        self.schedule.due(self.calls)
    }

    /// Returns when the next call is due (at once if that has passed):
    /// sleeps until [`SPIN`] before it, then spins. The first call, due at
    /// the start of the schedule, starts it: it is neither behind nor
    /// waited for.
    pub fn wait(&mut self) -> Start {
        let due = self.due();
        self.calls += 1;
        let now = Instant::now();
        if now >= due {
            if self.calls > 1 {
                self.pacing.behind += 1;
            }
            return Start { due, from: due };
        }
        let cpu_before = usage::thread_cpu();
        self.pacing.waits += 1;
        let mut from = due;
        if due - now > SPIN {
            self.pacing.sleeps += 1;
            thread::sleep(due - now - SPIN);
            let woke = Instant::now();
            if woke > due {
                self.pacing.overslept += 1;
                self.pacing.oversleep += woke - due;
                from = woke;
            }
        }
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        if let (Some(before), Some(after)) = (cpu_before, usage::thread_cpu()) {
            self.pacing.cpu += after.saturating_sub(before);
        }
        Start { due, from }
    }

    /// What the pacing did so far.
    pub fn pacing(&self) -> Pacing {
        self.pacing
    }
}

/// Fine sleeps for the calling thread while it lives: on Linux its timer
/// slack is 1 ns (the previous value comes back on drop); elsewhere
/// nothing changes.
pub struct FineTimers {
    #[cfg(target_os = "linux")]
    previous: Option<u64>,
}

impl FineTimers {
    pub fn set() -> Self {
        #[cfg(target_os = "linux")]
        {
            use rustix::thread::{current_timer_slack, set_current_timer_slack};
            let previous = current_timer_slack().ok();
            let _ = set_current_timer_slack(std::num::NonZeroU64::new(1));
            Self { previous }
        }
        #[cfg(not(target_os = "linux"))]
        Self {}
    }
}

impl Drop for FineTimers {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(previous) = self.previous {
            let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(previous));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_absolute_and_exact() {
        let start = Instant::now();
        let s = Schedule::new(start, 3);
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), Duration::from_nanos(333_333_333));
        assert_eq!(s.offset(2), Duration::from_nanos(666_666_666));
        // No drift: call 3 is due exactly 1 s after the start.
        assert_eq!(s.offset(3), Duration::from_secs(1));
        assert_eq!(s.due(3_000_000), start + Duration::from_secs(1_000_000));
        let fast = Schedule::new(start, MAX_RATE);
        assert_eq!(fast.offset(1), Duration::from_nanos(100));
        assert_eq!(fast.offset(MAX_RATE * 60), Duration::from_secs(60));
        // A rate of 0 is taken as 1, so nothing divides by 0.
        assert_eq!(Schedule::new(start, 0).offset(2), Duration::from_secs(2));
        // Far calls saturate instead of overflowing.
        let far = Duration::from_nanos(u64::MAX);
        assert_eq!(Schedule::new(start, 1).offset(u64::MAX), far);
    }

    #[test]
    fn rates_parse_with_suffixes_and_separators() {
        assert_eq!(parse_rate("1000"), Ok(1000));
        assert_eq!(parse_rate("10k"), Ok(10_000));
        assert_eq!(parse_rate("100_000"), Ok(100_000));
        assert_eq!(parse_rate("1M"), Ok(1_000_000));
        assert_eq!(parse_rate("10M"), Ok(MAX_RATE));
        for bad in [
            "0",
            "",
            "k",
            "-5",
            "1.5",
            "11M",
            "1m",
            "99999999999999999999k",
        ] {
            let e = parse_rate(bad).expect_err(bad);
            assert!(e.contains("calls per second"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_passed_due_time_is_behind_and_a_future_one_is_waited_for() {
        let start = Instant::now();
        // Call 1 is due 100 ms after call 0, call 2 at once after call 1.
        let mut p = Pacer::new(Schedule::new(start, 10));
        assert_eq!(
            p.wait(),
            Start {
                due: start,
                from: start
            }
        );
        let due = start + Duration::from_millis(100);
        assert_eq!(p.due(), due);
        let second = p.wait();
        assert_eq!(second.due, due);
        assert!(Instant::now() >= second.from && second.from >= due);
        let first = p.pacing();
        assert_eq!(
            (first.rate, first.behind, first.waits),
            (10, 0, 1),
            "{first:?}"
        );
        // Only a 100 ms sleep that began within 10 µs of its due time
        // could have not slept (a very loaded machine).
        assert!(first.sleeps <= 1, "{first:?}");
        assert_eq!(first.overslept == 0, first.oversleep.is_zero(), "{first:?}");
        // A late wake-up starts the latency where it ended.
        assert_eq!(first.overslept == 1, second.from > due, "{first:?}");

        // A schedule that started long ago: its calls are behind.
        let past = Instant::now() - Duration::from_secs(1);
        let mut late = Pacer::new(Schedule::new(past, 1000));
        for k in 0..5 {
            let due = past + Duration::from_millis(k);
            assert_eq!(late.wait(), Start { due, from: due });
        }
        let done = late.pacing();
        assert_eq!(
            (done.behind, done.waits, done.sleeps),
            (4, 0, 0),
            "{done:?}"
        );
        assert!(done.cpu.is_zero());
    }
}
