//! What the idle and depart groups show alike of their held sessions.

use serde_json::Value;

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

/// `row` (a JSON object) with the fields of the held sessions added.
pub fn json(held: &HeldSummary, setup_s: f64, mut row: Value) -> Value {
    if let Value::Object(fields) = &mut row {
        let add = [
            ("sessions", Value::from(held.sessions)),
            ("served", Value::from(held.served)),
            ("served_on_shm", Value::from(held.served_on_shm)),
            ("setup_seconds", Value::from(setup_s)),
            ("failures_before_served", held.errors.to_json()),
            ("stuck_consumers", Value::from(held.stuck)),
        ];
        for (key, value) in add {
            fields.insert(key.to_owned(), value);
        }
    }
    row
}
