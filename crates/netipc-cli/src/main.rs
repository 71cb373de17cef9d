//! The `netipc` command.
fn main() {}
