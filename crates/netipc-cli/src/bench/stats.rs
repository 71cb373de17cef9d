//! Numbers of one row: what the client measured, the latency summary of
//! its histogram and the ratios to the limit row and, for an L2 row, to
//! its L1 row.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::batch::BatchSize;
use super::pace::Pacing;
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
    /// Items in the answers.
    pub items: u64,
    /// The fewest and the most items of one round trip.
    pub items_range: (u32, u32),
    /// The batch setting of a batch row.
    pub batch: Option<BatchSize>,
    /// Wall time of the phase.
    pub wall: Duration,
    /// Round-trip latencies in nanoseconds (at a fixed rate: from each
    /// call's due time, or the end of the client's sleep when that ended
    /// after it).
    pub latency: Histogram<u64>,
    /// At a fixed rate, the latencies from the due times, the client's late
    /// wake-ups included.
    pub latency_from_due: Option<Histogram<u64>>,
    /// CPU time of the client thread during the phase.
    pub client_cpu: Duration,
    /// Server CPU cores used during the phase, when the server reports it.
    pub server_cores: Option<f64>,
    /// How the two sides waited for each other (the `wait` column).
    pub wait: &'static str,
    /// Allocations the client process made inside its measured round trips
    /// (progress display excluded).
    pub allocations: u64,
    /// Reconnections of an L2 client during the measurement (`None` for
    /// the other rows); anything but 0 means the row did not measure a
    /// steady state.
    pub reconnects: Option<u32>,
    /// Request/response exchanges of an L2 client during the measurement
    /// (`None` for the other rows): a logical lookup may take several.
    pub exchanges: Option<u32>,
    /// What the pacing did, at a fixed rate (`None`: as fast as it goes).
    pub pacing: Option<Pacing>,
}

/// Latency percentiles in nanoseconds (as `--json` shows them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
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
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// A row compared to its limit row (as `--json` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    /// Items/s of the row divided by items/s of the limit row.
    #[serde(rename = "items_per_second")]
    pub items_per_s: f64,
    /// Round trips/s of the row divided by those of the limit row.
    #[serde(rename = "round_trips_per_second")]
    pub round_trips_per_s: f64,
    /// p50 latency of the row divided by that of the limit row.
    #[serde(rename = "p50_latency")]
    pub p50: f64,
}

/// A row measured at a fixed rate (as `--json` shows it): the CPU per
/// call of both sides and what the client's pacing did. 1 µs per call is
/// 1 ms per 1,000 calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtRate {
    /// The rate asked for; the row's `round_trips_per_second` is the rate
    /// achieved.
    pub target_calls_per_second: u64,
    /// CPU time of the client thread per call, its pacing included.
    pub client_cpu_us_per_call: f64,
    /// The part of it spent waiting for the due times (sleeping, the
    /// spin before a due time, reading the CPU clock around a wait).
    pub pacing_cpu_us_per_call: f64,
    /// CPU time of the server process per call, when it reports it.
    pub server_cpu_us_per_call: Option<f64>,
    /// Calls already due when the client was free to send them (the
    /// pairing, or the client, was behind the schedule).
    pub behind_calls: u64,
    /// Calls the client waited for, of which it slept for `slept_calls`
    /// (it only spun for the others).
    pub waited_calls: u64,
    pub slept_calls: u64,
    /// Sleeps that ended after the due time, and their mean lateness.
    pub overslept_calls: u64,
    pub mean_oversleep_us: f64,
    /// The latencies from the due times, late wake-ups of the client
    /// included (the row's `latency_ns` start after them).
    pub latency_from_due_ns: Option<Latency>,
}

impl AtRate {
    fn new(pacing: &Pacing, m: &Measurement) -> Self {
        let calls = m.round_trips.max(1) as f64;
        let per_call = |d: Duration| d.as_secs_f64() * 1e6 / calls;
        Self {
            target_calls_per_second: pacing.rate,
            client_cpu_us_per_call: per_call(m.client_cpu),
            pacing_cpu_us_per_call: per_call(pacing.cpu),
            server_cpu_us_per_call: m
                .server_cores
                .map(|cores| cores * m.wall.as_secs_f64() * 1e6 / calls),
            behind_calls: pacing.behind,
            waited_calls: pacing.waits,
            slept_calls: pacing.sleeps,
            overslept_calls: pacing.overslept,
            mean_oversleep_us: pacing.oversleep.as_secs_f64() * 1e6
                / pacing.overslept.max(1) as f64,
            latency_from_due_ns: m.latency_from_due.as_ref().map(Latency::of),
        }
    }

    /// CPU of both sides per call (`None` when the server's is unknown).
    pub fn total_cpu_us_per_call(&self) -> Option<f64> {
        self.server_cpu_us_per_call
            .map(|server| server + self.client_cpu_us_per_call)
    }
}

/// One finished row of the report.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: &'static str,
    pub summary: &'static str,
    pub limit: Option<&'static str>,
    /// The L1 row of an L2 row.
    pub l1: Option<&'static str>,
    /// Data plane: `socket` or `shm`.
    pub plane: &'static str,
    /// How the two sides waited for each other.
    pub wait: &'static str,
    pub depth: u32,
    /// The batch setting of a batch row.
    pub batch: Option<BatchSize>,
    /// Items per round trip: the mean, the fewest and the most.
    pub items_per_round_trip: f64,
    pub items_range: (u32, u32),
    pub round_trips: u64,
    /// Items answered in the phase.
    pub items: u64,
    pub wall_s: f64,
    pub round_trips_per_s: f64,
    pub items_per_s: f64,
    pub latency: Latency,
    /// Client CPU in cores (CPU seconds per wall second).
    pub client_cores: f64,
    /// Server CPU in cores, when known.
    pub server_cores: Option<f64>,
    /// Client allocations during the measured round trips.
    pub client_allocations: u64,
    /// Reconnections of an L2 client during the measurement.
    pub reconnects: Option<u32>,
    /// Request/response exchanges per round trip of an L2 client (a
    /// logical lookup may take several sub-calls).
    pub exchanges_per_round_trip: Option<f64>,
    /// Filled by [`add_ratios`] when the limit row was measured too.
    pub ratio: Option<Ratio>,
    /// Filled by [`add_ratios`] when the L1 row of an L2 row was measured
    /// too.
    pub l1_ratio: Option<Ratio>,
    /// The fixed-rate numbers, for a row measured at a rate.
    pub rate: Option<AtRate>,
}

impl Row {
    /// The row of `scenario` from its measurement.
    pub fn new(scenario: &'static Scenario, m: &Measurement) -> Self {
        let wall_s = m.wall.as_secs_f64().max(f64::MIN_POSITIVE);
        let round_trips_per_s = m.round_trips as f64 / wall_s;
        let items = m.items as f64;
        Self {
            scenario: scenario.name,
            summary: scenario.summary,
            limit: scenario.limit,
            l1: scenario.l1,
            plane: scenario.plane.name(),
            wait: m.wait,
            depth: scenario.depth,
            batch: m.batch,
            items_per_round_trip: items / m.round_trips.max(1) as f64,
            items_range: m.items_range,
            round_trips: m.round_trips,
            items: m.items,
            wall_s,
            round_trips_per_s,
            items_per_s: items / wall_s,
            latency: Latency::of(&m.latency),
            client_cores: m.client_cpu.as_secs_f64() / wall_s,
            server_cores: m.server_cores,
            client_allocations: m.allocations,
            reconnects: m.reconnects,
            exchanges_per_round_trip: m
                .exchanges
                .map(|n| f64::from(n) / m.round_trips.max(1) as f64),
            ratio: None,
            l1_ratio: None,
            rate: m.pacing.as_ref().map(|pacing| AtRate::new(pacing, m)),
        }
    }

    /// Whether every round trip carried the same number of items.
    pub fn items_fixed(&self) -> bool {
        self.items_range.0 == self.items_range.1
    }

    /// This row's numbers divided by those of `base`.
    fn ratio_to(&self, base: &Row) -> Ratio {
        Ratio {
            items_per_s: self.items_per_s / base.items_per_s.max(f64::MIN_POSITIVE),
            round_trips_per_s: self.round_trips_per_s
                / base.round_trips_per_s.max(f64::MIN_POSITIVE),
            p50: self.latency.p50 as f64 / base.latency.p50.max(1) as f64,
        }
    }
}

/// Fills the ratio of every row whose limit row is among `rows`, and the
/// L1 ratio of every L2 row whose L1 row is among them.
pub fn add_ratios(rows: &mut [Row]) {
    let bases: Vec<Row> = rows.to_vec();
    let find = |name: Option<&str>| bases.iter().find(|r| Some(r.scenario) == name);
    for row in rows.iter_mut() {
        row.ratio = find(row.limit).map(|base| row.ratio_to(base));
        row.l1_ratio = find(row.l1).map(|base| row.ratio_to(base));
    }
}

/// The row of scenario `name` after round trips of `micros` µs each with
/// `items` items, in one second.
#[cfg(test)]
pub fn measured(name: &str, micros: &[u64], items: u32) -> Row {
    measured_paced(name, micros, items, None)
}

/// The row of scenario `name` after calls of `micros` µs each, in one
/// second, paced as `pacing` says.
#[cfg(test)]
pub fn measured_at(name: &str, micros: &[u64], pacing: Pacing) -> Row {
    measured_paced(name, micros, 1, Some(pacing))
}

/// As [`measured`], with the client's pacing: 0.5 s of client CPU, a
/// server using 0.25 cores.
#[cfg(test)]
fn measured_paced(name: &str, micros: &[u64], items: u32, pacing: Option<Pacing>) -> Row {
    let mut latency = latency_histogram();
    for &us in micros {
        latency.record(us * 1000).unwrap();
    }
    let m = Measurement {
        round_trips: micros.len() as u64,
        items: micros.len() as u64 * u64::from(items),
        items_range: (items, items),
        batch: None,
        wall: Duration::from_secs(1),
        latency_from_due: pacing.map(|_| latency.clone()),
        latency,
        client_cpu: Duration::from_millis(500),
        server_cores: Some(0.25),
        wait: super::scenarios::find(name).unwrap().plane.wait(),
        allocations: 0,
        reconnects: None,
        exchanges: None,
        pacing,
    };
    Row::new(super::scenarios::find(name).unwrap(), &m)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(rows[1].items, 50 * 64);
        assert!((rows[1].items_per_round_trip - 64.0).abs() < 1e-9);
        assert!(rows[1].items_fixed());
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

    #[test]
    fn l2_rows_are_compared_to_their_l1_row_too() {
        let mut rows = vec![
            measured("raw-packet-pingpong", &[10; 100], 1),
            measured("uds-snapshot-1000", &[100; 100], 1000),
            measured("l2-snapshot-1000", &[150; 50], 1000),
            measured("l2-increment", &[12; 100], 1),
        ];
        add_ratios(&mut rows);
        let r = rows[2].l1_ratio.expect("L1 ratio");
        assert!((r.items_per_s - 0.5).abs() < 1e-9, "{r:?}");
        assert!((r.p50 - 1.5).abs() < 0.01, "{r:?}");
        let r = rows[2].ratio.expect("ratio");
        assert!((r.items_per_s - 500.0).abs() < 1e-9, "{r:?}");
        assert!(rows[1].l1_ratio.is_none());
        // Its L1 row (uds-pingpong) was not measured.
        assert!(rows[3].l1_ratio.is_none());
        assert!(rows[3].ratio.is_some());
    }

    #[test]
    fn a_paced_row_has_the_cpu_of_both_sides_per_call() {
        let pacing = Pacing {
            rate: 1000,
            behind: 9,
            waits: 990,
            sleeps: 980,
            overslept: 4,
            oversleep: Duration::from_micros(10),
            cpu: Duration::from_millis(100),
        };
        let row = measured_at("shm-pingpong", &[3; 1000], pacing);
        let at = row.rate.expect("a paced row");
        assert_eq!(at.target_calls_per_second, 1000);
        // 0.5 s of client CPU, 0.1 s of it pacing, and 0.25 server cores
        // over 1 s, in 1000 calls.
        assert!((at.client_cpu_us_per_call - 500.0).abs() < 1e-9, "{at:?}");
        assert!((at.pacing_cpu_us_per_call - 100.0).abs() < 1e-9, "{at:?}");
        let server = at.server_cpu_us_per_call.expect("server CPU");
        assert!((server - 250.0).abs() < 1e-9, "{at:?}");
        assert!((at.total_cpu_us_per_call().unwrap() - 750.0).abs() < 1e-9);
        assert_eq!(
            (
                at.behind_calls,
                at.waited_calls,
                at.slept_calls,
                at.overslept_calls
            ),
            (9, 990, 980, 4)
        );
        assert!((at.mean_oversleep_us - 2.5).abs() < 1e-9, "{at:?}");
        assert!((row.round_trips_per_s - 1000.0).abs() < 1e-9);
        assert_eq!(row.latency.p90, row.latency.p50);
        assert_eq!(at.latency_from_due_ns, Some(row.latency));
        // Unknown server CPU: no total.
        let blind = AtRate {
            server_cpu_us_per_call: None,
            ..at
        };
        assert_eq!(blind.total_cpu_us_per_call(), None);
        assert!(measured("shm-pingpong", &[3; 10], 1).rate.is_none());
    }
}
