//! Numbers of one row: what the client measured, the latency summary of
//! its histogram and the ratios to the limit row.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::scenarios::Scenario;

/// Largest latency the histogram keeps exactly (larger values saturate).
const MAX_LATENCY_NS: u64 = 60_000_000_000;

/// A new latency histogram in nanoseconds (3 significant digits).
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// What the client side measured during the measurement phase.
#[derive(Debug)]
pub struct Measurement {
    /// Completed round trips (requests answered).
    pub round_trips: u64,
    /// Items per round trip.
    pub items_per_round_trip: u32,
    /// Wall time of the phase.
    pub wall: Duration,
    /// Round-trip latencies in nanoseconds.
    pub latency: Histogram<u64>,
    /// CPU time of the client thread during the phase.
    pub client_cpu: Duration,
    /// Server CPU cores used during the phase, when the server reports it.
    pub server_cores: Option<f64>,
    /// How the two sides waited for each other (the `wait` column).
    pub wait: &'static str,
}

/// Latency percentiles in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        Self {
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// A row compared to its limit row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// Items/s of the row divided by items/s of the limit row.
    pub items_per_s: f64,
    /// Round trips/s of the row divided by those of the limit row.
    pub round_trips_per_s: f64,
    /// p50 latency of the row divided by that of the limit row.
    pub p50: f64,
}

/// One finished row of the report.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: &'static str,
    pub summary: &'static str,
    pub limit: Option<&'static str>,
    /// Data plane: `socket` or `shm`.
    pub plane: &'static str,
    /// How the two sides waited for each other.
    pub wait: &'static str,
    pub depth: u32,
    pub items_per_round_trip: u32,
    pub round_trips: u64,
    pub wall_s: f64,
    pub round_trips_per_s: f64,
    pub items_per_s: f64,
    pub latency: Latency,
    /// Client CPU in cores (CPU seconds per wall second).
    pub client_cores: f64,
    /// Server CPU in cores, when known.
    pub server_cores: Option<f64>,
    /// Filled by [`add_ratios`] when the limit row was measured too.
    pub ratio: Option<Ratio>,
}

impl Row {
    /// The row of `scenario` from its measurement.
    pub fn new(scenario: &'static Scenario, m: &Measurement) -> Self {
        let wall_s = m.wall.as_secs_f64().max(f64::MIN_POSITIVE);
        let round_trips_per_s = m.round_trips as f64 / wall_s;
        Self {
            scenario: scenario.name,
            summary: scenario.summary,
            limit: scenario.limit,
            plane: scenario.plane.name(),
            wait: m.wait,
            depth: scenario.depth,
            items_per_round_trip: m.items_per_round_trip,
            round_trips: m.round_trips,
            wall_s,
            round_trips_per_s,
            items_per_s: round_trips_per_s * f64::from(m.items_per_round_trip),
            latency: Latency::of(&m.latency),
            client_cores: m.client_cpu.as_secs_f64() / wall_s,
            server_cores: m.server_cores,
            ratio: None,
        }
    }

    /// Items answered in the phase.
    pub fn items(&self) -> u64 {
        self.round_trips * u64::from(self.items_per_round_trip)
    }
}

/// Fills the ratio of every row whose limit row is among `rows`.
pub fn add_ratios(rows: &mut [Row]) {
    let limits: Vec<(&'static str, f64, f64, u64)> = rows
        .iter()
        .filter(|r| r.limit.is_none())
        .map(|r| {
            (
                r.scenario,
                r.items_per_s,
                r.round_trips_per_s,
                r.latency.p50,
            )
        })
        .collect();
    for row in rows.iter_mut() {
        let Some(limit) = row.limit else { continue };
        let Some(&(_, items, rts, p50)) = limits.iter().find(|l| l.0 == limit) else {
            continue;
        };
        row.ratio = Some(Ratio {
            items_per_s: row.items_per_s / items.max(f64::MIN_POSITIVE),
            round_trips_per_s: row.round_trips_per_s / rts.max(f64::MIN_POSITIVE),
            p50: row.latency.p50 as f64 / p50.max(1) as f64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::scenarios::find;

    fn measured(name: &str, micros: &[u64], items: u32) -> Row {
        let mut latency = latency_histogram();
        for &us in micros {
            latency.record(us * 1000).unwrap();
        }
        let m = Measurement {
            round_trips: micros.len() as u64,
            items_per_round_trip: items,
            wall: Duration::from_secs(1),
            latency,
            client_cpu: Duration::from_millis(500),
            server_cores: Some(0.25),
            wait: find(name).unwrap().plane.wait(),
        };
        Row::new(find(name).unwrap(), &m)
    }

    #[test]
    fn percentiles_and_ratios() {
        let limit = measured("raw-packet-pingpong", &[10; 100], 1);
        let batch = measured("uds-batch-pingpong", &[20; 50], 64);
        let mut rows = vec![limit, batch];
        add_ratios(&mut rows);
        assert!(rows[0].ratio.is_none());
        let r = rows[1].ratio.expect("ratio");
        assert!((r.round_trips_per_s - 0.5).abs() < 1e-9);
        assert!((r.items_per_s - 32.0).abs() < 1e-9);
        assert!((r.p50 - 2.0).abs() < 0.01);
        assert_eq!(rows[1].items(), 50 * 64);
        assert!((rows[1].client_cores - 0.5).abs() < 1e-9);
        let l = rows[1].latency;
        assert!(l.p50 <= l.p95 && l.p95 <= l.p99 && l.p99 <= l.p999);
    }

    #[test]
    fn shm_rows_are_compared_to_the_shm_limit() {
        let mut rows = vec![
            measured("raw-packet-pingpong", &[10; 100], 1),
            measured("raw-shm-pingpong", &[1; 100], 1),
            measured("shm-pingpong", &[4; 100], 1),
        ];
        add_ratios(&mut rows);
        let r = rows[2].ratio.expect("ratio");
        assert!((r.round_trips_per_s - 1.0).abs() < 1e-9);
        assert!((r.p50 - 4.0).abs() < 0.01, "{r:?}");
        assert_eq!(rows[2].plane, "shm");
        assert_eq!(rows[2].wait, "spin+sleep");
        assert_eq!(rows[0].wait, "poll");
    }
}
