//! What the idle and depart groups show alike of their held sessions.

use serde::Serialize;

use super::super::errors::Tally;
use super::super::held::HeldSummary;
use super::super::scenarios::Transport;
use super::format::transport_cell;

/// The transport column: how many served sessions used shared memory.
pub fn transport(t: Transport, held: &HeldSummary) -> String {
    transport_cell(t, held.served_on_shm as u64, held.served as u64)
}

/// Notes on the held sessions: consumers that did not return.
pub fn notes(held: &HeldSummary) -> Vec<String> {
    if held.stuck == 0 {
        return Vec::new();
    }
    vec![format!(
        "{} consumers holding sessions did not return by the deadline",
        held.stuck
    )]
}

/// The fields of the held sessions in a row's JSON.
#[derive(Serialize)]
pub struct Json<'a> {
    sessions: usize,
    served: usize,
    served_on_shm: usize,
    setup_seconds: f64,
    failures_before_served: &'a Tally,
    stuck_consumers: usize,
}

pub fn json(held: &HeldSummary, setup_s: f64) -> Json<'_> {
    Json {
        sessions: held.sessions,
        served: held.served,
        served_on_shm: held.served_on_shm,
        setup_seconds: setup_s,
        failures_before_served: &held.errors,
        stuck_consumers: held.stuck,
    }
}
