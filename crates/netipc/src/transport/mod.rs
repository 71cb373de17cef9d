//! L1 transport: connect, listen, accept, handshake, and the exchange of
//! single, batch and chunked messages with pipelining.
//!
//! The public types here have the same names and signatures on every
//! operating system; each wraps its backend twin in `sys`. The protocol
//! logic is written once as pure functions and state machines
//! ([`handshake`], [`framing`], [`names`]); the backends only move packets.
//!
//! ```no_run
//! use netipc::transport::{ClientOptions, ClientSession};
//! use netipc::wire::Method;
//!
//! let mut client = ClientSession::connect("/run/netdata", "echo", &ClientOptions::default())?;
//! let reply = client.call(Method::Increment.code(), 1, &41u64.to_ne_bytes(), None)?;
//! assert_eq!(reply.payload, 42u64.to_ne_bytes());
//! # Ok::<(), netipc::Error>(())
//! ```

mod channel;
mod client;
pub mod framing;
pub mod handshake;
pub mod identity;
mod interrupt;
pub(crate) mod multiplex;
pub mod names;
mod options;
mod peer;
pub mod run_dir;
mod server;
mod shm;
mod sys;
#[cfg(feature = "test-support")]
pub mod testing;

pub(crate) use channel::Wait;
pub use channel::{DataPlane, Items, Message};
pub use client::ClientSession;
pub use identity::{
    EndpointAccess, Identities, Identity, IdentityParseError, IdentityPolicy, MAX_IDENTITIES, Sid,
    UntrustedProvider,
};
pub use interrupt::Interrupt;
pub use options::{
    ClientOptions, DEFAULT_BACKLOG, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_SEND_TIMEOUT, ServerOptions,
};
pub use peer::PeerCredentials;
pub(crate) use server::status_header;
pub use server::{Incoming, Listener, ServerSession, response_header};
pub use shm::ShmAttachError;
