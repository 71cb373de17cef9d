//! Transport-level options of a client connection and of a listener.
//!
//! These are L1 knobs: the typed services (L2) derive them from their
//! service-level configuration. A value of zero means the documented
//! default on every operating system.

use std::time::Duration;

use super::handshake::{ClientOffer, ServerOffer};
use super::identity::{EndpointAccess, IdentityPolicy};
use crate::wire::Profiles;

/// Default time a handshake may take before the peer is given up on.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default listen backlog.
pub const DEFAULT_BACKLOG: u32 = 16;
/// Default time a send may wait for the peer to make room (a peer that
/// stops reading for this long is given up on).
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// What a client proposes when it connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientOptions {
    /// Profiles to offer; empty means baseline only.
    pub supported_profiles: Profiles,
    /// Profiles to prefer; empty means no preference.
    pub preferred_profiles: Profiles,
    /// Proposed request payload ceiling in bytes; 0 means 1024.
    pub max_request_payload_bytes: u32,
    /// Proposed request (and response) item ceiling; 0 means 1.
    pub max_request_batch_items: u32,
    /// Response payload hint in bytes (the server decides); 0 means 1024.
    pub max_response_payload_bytes: u32,
    /// Largest response payload in bytes this client accepts, whatever the
    /// server announces: a larger ceiling in the HELLO_ACK is capped to it,
    /// and a larger response ends the session with
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge) before
    /// any memory is set aside for it. 0 means the larger of
    /// `max_response_payload_bytes` and 1 MiB.
    pub response_payload_limit: u32,
    /// Shared secret; must equal the server's.
    pub auth_token: u64,
    /// Packet size for chunking in bytes; 0 means the transport's default
    /// (POSIX: the socket send buffer; Windows: 65536).
    pub packet_size: u32,
    /// Time allowed for connecting, the handshake and attaching shared
    /// memory; zero means [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// Longest a send waits for the server to make room; zero means
    /// [`DEFAULT_SEND_TIMEOUT`].
    pub send_timeout: Duration,
    /// Which providers the client talks to, checked after connecting and
    /// before the HELLO (which carries `auth_token`) is sent.
    /// [`IdentityPolicy::Default`]: a provider running as this process's
    /// user or as the OS administrator (see [`super::identity`]).
    pub provider_identity: IdentityPolicy,
}

impl ClientOptions {
    pub(crate) fn offer(
        &self,
        default_packet_size: u32,
        available_profiles: Profiles,
    ) -> ClientOffer {
        let mut offer = ClientOffer {
            flags: 0,
            supported_profiles: self.supported_profiles,
            preferred_profiles: self.preferred_profiles,
            max_request_payload_bytes: self.max_request_payload_bytes,
            max_request_batch_items: self.max_request_batch_items,
            max_response_payload_bytes: self.max_response_payload_bytes,
            max_response_batch_items: self.max_request_batch_items,
            auth_token: self.auth_token,
            packet_size: self.packet_size,
        }
        .with_defaults(default_packet_size);
        offer.supported_profiles &= available_profiles | Profiles::BASELINE;
        offer
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        or_default(self.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT)
    }

    pub(crate) fn send_timeout(&self) -> Duration {
        or_default(self.send_timeout, DEFAULT_SEND_TIMEOUT)
    }

    /// The response payload limit with its default applied.
    pub(crate) fn response_limit(&self) -> u32 {
        match self.response_payload_limit {
            0 => self
                .max_response_payload_bytes
                .max(crate::wire::MAX_PAYLOAD_CAP),
            n => n,
        }
    }
}

/// What a listener offers to every client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerOptions {
    /// Profiles to offer; empty means baseline only.
    pub supported_profiles: Profiles,
    /// Profiles to prefer; empty means no preference.
    pub preferred_profiles: Profiles,
    /// Largest request payload accepted, in bytes; 0 means 1024.
    pub max_request_payload_bytes: u32,
    /// Response payload ceiling announced to clients, in bytes; 0 means 1024.
    pub max_response_payload_bytes: u32,
    /// Shared secret; clients must present the same value.
    pub auth_token: u64,
    /// Packet size for chunking in bytes; 0 means the transport's default.
    pub packet_size: u32,
    /// Listen backlog; 0 means [`DEFAULT_BACKLOG`].
    pub backlog: u32,
    /// Time allowed for a client's HELLO; zero means
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// Longest a response send waits for the client to make room; zero
    /// means [`DEFAULT_SEND_TIMEOUT`].
    pub send_timeout: Duration,
    /// Which consumers the server serves, checked when their HELLO
    /// arrives; a refused consumer gets an authentication failure (netipc
    /// clients learn that it was for their identity) and nothing is set up
    /// for it. [`IdentityPolicy::Default`]: any process that can open the
    /// endpoint.
    pub consumer_identity: IdentityPolicy,
    /// Who may open the endpoint and the shared-memory regions.
    /// [`EndpointAccess::OwnerOnly`] by default (POSIX: mode 0600).
    pub endpoint_access: EndpointAccess,
}

impl ServerOptions {
    pub(crate) fn offer(
        &self,
        default_packet_size: u32,
        available_profiles: Profiles,
        extensions: u32,
    ) -> ServerOffer {
        let mut offer = ServerOffer {
            supported_profiles: self.supported_profiles,
            preferred_profiles: self.preferred_profiles,
            max_request_payload_bytes: self.max_request_payload_bytes,
            max_response_payload_bytes: self.max_response_payload_bytes,
            auth_token: self.auth_token,
            packet_size: self.packet_size,
            extensions,
        }
        .with_defaults(default_packet_size);
        offer.supported_profiles &= available_profiles | Profiles::BASELINE;
        offer.preferred_profiles &= offer.supported_profiles;
        offer
    }

    pub(crate) fn backlog(&self) -> u32 {
        if self.backlog == 0 {
            DEFAULT_BACKLOG
        } else {
            self.backlog
        }
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        or_default(self.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT)
    }

    pub(crate) fn send_timeout(&self) -> Duration {
        or_default(self.send_timeout, DEFAULT_SEND_TIMEOUT)
    }
}

fn or_default(d: Duration, default: Duration) -> Duration {
    if d.is_zero() { default } else { d }
}
