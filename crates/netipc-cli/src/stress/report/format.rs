//! How numbers read in the Markdown tables.

use std::time::Duration;

use super::super::latency::Summary;
use super::super::scenarios::Transport;
use crate::bench::process::ServerCounters;

/// The transport column: the name, and how many of the successful
/// calls (sessions) used shared memory when it is not all of them.
pub fn transport_cell(t: Transport, on_shm: u64, total: u64) -> String {
    match t {
        Transport::Shm if on_shm < total => {
            format!("shm ({} of {} on shm)", group(on_shm), group(total))
        }
        Transport::Socket if on_shm > 0 => format!("socket ({} on shm!)", group(on_shm)),
        _ => t.name().to_owned(),
    }
}

/// p50, p99 and max in µs, or `-`.
pub fn percentiles(l: Option<&Summary>) -> (String, String, String) {
    l.map_or_else(
        || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
        |l| (micros(l.p50), micros(l.p99), micros(l.max)),
    )
}

/// Nanoseconds as microseconds.
pub fn micros(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us < 100.0 {
        format!("{us:.1}")
    } else {
        group(us.round() as u64)
    }
}

/// A duration in milliseconds, or `-`.
pub fn millis(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| format!("{:.1}", d.as_secs_f64() * 1000.0),
    )
}

pub fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "-".to_owned(),
        |b| format!("{:.1}", b as f64 / (1024.0 * 1024.0)),
    )
}

pub fn cores(c: Option<f64>) -> String {
    c.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"))
}

/// The provider's counter `name`, or `-`.
pub fn counter(counters: &ServerCounters, name: &str) -> String {
    counters.get(name).map_or_else(|| "-".to_owned(), group)
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(micros(12_345), "12.3");
        assert_eq!(micros(1_234_567), "1,235");
        assert_eq!(millis(Some(Duration::from_micros(1_260))), "1.3");
        assert_eq!(millis(None), "-");
        assert_eq!(mib(Some(3 * 1024 * 1024)), "3.0");
        assert_eq!(mib(None), "-");
        assert_eq!(counter(&ServerCounters::default(), "sessions"), "-");
        assert_eq!(transport_cell(Transport::Shm, 5, 5), "shm");
        assert_eq!(transport_cell(Transport::Shm, 3, 5), "shm (3 of 5 on shm)");
    }
}
