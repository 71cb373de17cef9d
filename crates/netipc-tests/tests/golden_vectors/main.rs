//! Every golden vector of the reference project, checked byte for byte.
//!
//! Valid vectors must decode to exactly the listed field values and
//! re-encode byte-identically from their fields; invalid vectors must be
//! rejected with the listed error class at the listed stage.

mod codec;
mod support;
mod transport;

use support::{Index, Vector, load_index};

fn check(ix: &Index, v: &Vector) -> Result<(), String> {
    match (v.str("category"), v.str("kind")) {
        ("envelope", _) => transport::envelope(ix, v),
        ("handshake", _) => transport::handshake(ix, v),
        ("chunking", _) => transport::chunking(ix, v),
        ("names", _) => transport::names(ix, v),
        ("codec", "payload") => codec::payload(ix, v),
        ("codec", "builder_outcome") => codec::builder_outcome(ix, v),
        ("negative", "payload") => codec::negative_payload(ix, v),
        ("negative", "message") => transport::negative_message(ix, v),
        ("negative", "packet") => transport::negative_packet(ix, v),
        (c, k) => Err(format!("no checker for category {c} kind {k}")),
    }
}

#[test]
fn golden_vectors() {
    let index = load_index();
    let mut failures = Vec::new();
    let mut checked = 0usize;
    for v in &index.vectors {
        match v.verify_file().and_then(|()| check(&index, v)) {
            Ok(()) => checked += 1,
            Err(e) => failures.push(format!("{}: {e}", v.id())),
        }
    }
    println!("vectors: {checked} checked");
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        checked,
        index.vectors.len(),
        "every vector of the index must be checked"
    );
}
