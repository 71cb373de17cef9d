//! netipc: local IPC for Netdata plugins.
//!
//! netipc speaks the NetIPC protocol of the `netdata/plugin-ipc` project
//! byte for byte, so a Rust plugin can talk to the C, Rust and Go peers of
//! that project and the other way round.
//!
//! # Layers
//!
//! | layer | module | what it does |
//! |---|---|---|
//! | wire vocabulary | [`wire`] | outer header, batch directory, chunk header, HELLO / HELLO_ACK |
//! | codec | [`codec`] | method payloads: encoders, zero-copy views, builders |
//! | L1 transport | [`transport`] | connect, listen, handshake, chunking, batching, pipelining, shared memory |
//! | L2 services | [`service`] | typed clients with reconnect and retry, managed servers |
//! | L3 cache | [`cache`] | the cgroups snapshot cache: last good copy, lock-free lookups |
//!
//! The byte layers are pure: no I/O, no allocation while decoding, and no
//! panic on any input. Errors name the violated rule, the field and the byte
//! offset ([`CodecError`]).
#![deny(missing_docs)]

mod bytes;
pub mod cache;
pub mod codec;
mod error;
pub mod netdata;
pub mod service;
pub mod transport;
pub mod wire;

pub use error::{CodecError, CodecErrorKind, Error, Result};
