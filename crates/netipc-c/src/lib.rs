//! The C API of netipc, backed by the Rust core.
//!
//! C programs include `include/netipc/netipc_service.h` (clients, managed
//! servers, the snapshot cache) and `include/netipc/netipc_protocol.h`
//! (error codes, views of responses and requests, builders for handlers),
//! and link `libnetipc_c` (static or shared). The headers state the rules
//! every function follows: caller-allocated structs of the same size on
//! every OS, zero-init or `_init` before use, no copies after init, which
//! functions may run concurrently, and how long every view lives.
//!
//! This crate's Rust items exist for those `extern "C"` functions; Rust
//! programs use the `netipc` crate itself.

#![deny(missing_docs)]
#![allow(unsafe_code)]

pub mod builders;
pub mod cache;
pub mod client;
pub mod config;
pub mod error;
pub mod ffi;
pub mod names;
pub mod server;
pub mod views;

pub use error::nipc_error_t;
