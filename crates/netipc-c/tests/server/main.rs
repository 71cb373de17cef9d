//! The C API's managed servers, driven through their C ABI from Rust:
//! handlers written as `extern "C"` functions (what a C provider links),
//! consumed by the netipc crate's clients over both transport profiles.
//! `c_provider` also builds the C example provider with the system's C
//! compiler and consumes it from Rust (Linux).

mod builders;
#[cfg(target_os = "linux")]
mod c_provider;
#[path = "../../../netipc-tests/tests/common/mod.rs"]
mod common;
mod lifecycle;
mod lookups;
mod snapshot;
mod support;
