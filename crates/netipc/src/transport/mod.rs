//! L1 transport: connect, listen, accept, handshake, and the exchange of
//! single, batch and chunked messages with pipelining.
//!
//! The public types here have the same names and signatures on every
//! operating system; each wraps its backend twin in `sys`. The protocol
//! logic is written once as pure functions and state machines (the
//! handshake, the framing of chunks and batches, and the endpoint
//! [`names`]); the backends only move packets.
//!
//! What is public here is what tools and interop code need: sessions,
//! listeners, options, identities, run directories and endpoint names. The
//! handshake and framing state machines themselves (`transport::handshake`,
//! `transport::framing`) and raw packet access (`transport::testing`) are
//! public only with the `test-support` feature, which is not covered by
//! semver; the errors they produce are re-exported here
//! ([`HandshakeError`], [`ProtocolError`], [`LimitExceeded`],
//! [`ChunkError`]).
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
// Public only with `test-support` (see the module docs above).
#[cfg(feature = "test-support")]
pub mod framing;
#[cfg(not(feature = "test-support"))]
pub(crate) mod framing;
#[cfg(feature = "test-support")]
pub mod handshake;
#[cfg(not(feature = "test-support"))]
pub(crate) mod handshake;
pub mod identity;
mod interrupt;
pub(crate) mod multiplex;
pub mod names;
mod options;
mod peer;
pub mod run_dir;
mod server;
mod shm;
mod spin;
mod sys;
#[cfg(feature = "test-support")]
pub mod testing;

pub(crate) use channel::Wait;
pub use channel::{DataPlane, Items, Message};
pub use client::ClientSession;
pub use framing::{ChunkError, LimitExceeded, ProtocolError, is_chunk_packet};
pub use handshake::HandshakeError;
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
