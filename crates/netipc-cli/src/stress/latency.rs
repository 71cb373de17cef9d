//! Latency histograms of the consumers and their summary.
//!
//! Every consumer thread records into its own histogram; the row merges
//! them. A histogram keeps two significant digits (1 % resolution), which
//! keeps it near 30 KiB, so a thousand of them stay small.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest latency kept exactly (larger values saturate).
const MAX_NS: u64 = 60_000_000_000;

/// A new, empty latency histogram in nanoseconds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 2).expect("valid histogram bounds")
}

/// Records `d` (saturating at the histogram's bound).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
    h.saturating_record(ns);
}

/// Adds `from` into `into` (both made by [`histogram`]).
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    // Same bounds and precision: adding cannot fail; saturate if it did.
    if into.add(from).is_err() {
        for v in from.iter_recorded() {
            let _ = into.record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

/// Percentiles in nanoseconds; `None` when nothing was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_percentiles() {
        let mut a = histogram();
        let mut b = histogram();
        for _ in 0..99 {
            record(&mut a, Duration::from_micros(10));
        }
        record(&mut b, Duration::from_millis(5));
        merge(&mut a, &b);
        let s = Summary::of(&a).expect("recorded");
        assert!((9_900..=10_100).contains(&s.p50), "{s:?}");
        assert!(s.max >= 4_950_000, "{s:?}");
        assert!(s.min <= s.p50 && s.p50 <= s.p99 && s.p99 <= s.max);
        assert!(Summary::of(&histogram()).is_none());
    }
}
