//! The adversarial suite: what a local process (a buggy or compromised
//! plugin of the same user, or a non-root consumer of a root provider) can
//! do to a provider or a consumer, one case per attack (issue "nothing a
//! local process can do crashes, hijacks or exhausts a provider or a
//! consumer").
//!
//! Every case asserts that the attacked side survives, that its other
//! consumers are still served, that its resources return to their
//! baseline, and that the error it reports names what happened. Each case
//! runs under a watchdog in its own run directory.

#[path = "../common/mod.rs"]
mod common;
mod malformed;
mod malformed_mirror;
mod malformed_support;
mod one_provider;
mod run_dir;
mod rundir_support;
mod sigbus;

mod alloc_meter;
mod auth_first;
mod bounds;
mod identity;
mod memory;

#[global_allocator]
static HEAP: alloc_meter::Meter = alloc_meter::Meter;
