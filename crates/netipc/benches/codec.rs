//! Codec micro-benchmarks.
fn main() {}
