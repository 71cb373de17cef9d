//! The L2 (typed services) suite: client state machine, retry policy,
//! timeouts and aborts, capacity growth, shared-memory fallback, logical
//! lookups and the managed server (level2 spec sections 3 to 11 and the
//! checklist of section 15).
//!
//! Every test runs under a watchdog (`support::watchdog`), in its own run
//! directory. The same source runs on Linux and on Windows. Most tests use
//! the default profiles (shared memory on both systems); the core call
//! paths also run on the baseline transport only. Misbehaving servers are
//! scripted with the L1 API (`support::RawServer`); server crashes and
//! restarts use the `netipc-test-peer` process.

mod calls;
#[path = "../common/mod.rs"]
mod common;
mod lifecycle;
mod lookup_checks;
mod lookups;
mod overflow;
mod server;
mod shm_fallback;
mod support;
mod waits;
