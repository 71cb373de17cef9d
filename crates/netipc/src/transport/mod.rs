//! L1 transport: the handshake, framing and endpoint names.
//!
//! The protocol logic is written once as pure functions and state machines
//! ([`handshake`], [`framing`], [`names`]); the OS backends only move
//! packets.

pub mod framing;
pub mod handshake;
pub mod names;
