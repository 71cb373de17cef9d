#![doc = include_str!("../README.md")]
//!
//! ## Entry points
//!
//! - A provider: [`service::ManagedServer`] with one handler per service,
//!   filling the builders of [`codec`] (such as [`codec::SnapshotBuilder`]).
//! - A consumer: the typed clients of [`service`] (such as
//!   [`service::CgroupsLookupClient`]) and the snapshot cache
//!   [`cache::SnapshotCache`], configured with [`service::ClientConfig`].
//! - Netdata's names and hash: [`netdata`].
//! - Failures: [`Error`] (I/O layers) and [`CodecError`] (byte layers).
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]

mod bytes;
pub mod cache;
pub mod codec;
mod error;
pub mod netdata;
pub mod service;
pub mod transport;
pub mod wire;

pub use error::{CodecError, CodecErrorKind, Error, Result};
