//! The HELLO / HELLO_ACK handshake as pure functions: no sockets, only the
//! negotiation rules. Backends send and receive the two packets; this
//! module decides what is in them and what they mean.
//!
//! Public only with the `test-support` feature (not covered by semver);
//! [`HandshakeError`] is re-exported from [`transport`](super).

use crate::bytes::{get_u16, get_u32};
use crate::error::CodecError;
use crate::wire::{
    HEADER_LEN, HELLO_ACK_LEN, HELLO_LAYOUT_VERSION, HELLO_LEN, Header, Hello, HelloAck, MAGIC,
    MessageKind, Profiles, TransportStatus, control,
};

/// Largest handshake packet a peer reads (both control packets are
/// smaller: HELLO is 76 bytes, HELLO_ACK 80).
pub const HANDSHAKE_PACKET_MAX: usize = 128;

/// The encoded HELLO message (header + 44-byte payload).
pub const HELLO_MESSAGE_LEN: usize = HEADER_LEN + HELLO_LEN;
/// The encoded HELLO_ACK message (header + 48-byte payload).
pub const HELLO_ACK_MESSAGE_LEN: usize = HEADER_LEN + HELLO_ACK_LEN;

/// Why a handshake did not produce a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The auth tokens differ (status `AUTH_FAILED`).
    #[error("authentication failed: the auth tokens of client and server differ")]
    AuthFailed,
    /// The peers share no transport profile (status `UNSUPPORTED`).
    #[error("no common transport profile between client and server")]
    NoCommonProfile,
    /// Protocol or layout version mismatch, or a packet size of 32 bytes or
    /// less (status `INCOMPATIBLE`).
    #[error("incompatible peer: {0}")]
    Incompatible(&'static str),
    /// The client proposed a request payload ceiling above the server's
    /// maximum (status `LIMIT_EXCEEDED`).
    #[error(
        "the proposed request payload size exceeds the provider's maximum: lower the client's max_request_payload_bytes, or raise the provider's"
    )]
    LimitExceeded,
    /// The provider already serves as many sessions as it may (a netipc
    /// provider's rejection); try again later.
    #[error(
        "provider at capacity ({sessions} sessions): try again later, or raise the provider's session limit"
    )]
    AtCapacity {
        /// The provider's session limit.
        sessions: u32,
    },
    /// The provider does not serve this consumer's user or group (a netipc
    /// provider's rejection; its `consumer_identity`). Sticky: the auth
    /// token does not matter.
    #[error(
        "the provider refused this consumer for its user or group identity (the provider's consumer_identity): run the consumer as a user or group the provider accepts, or ask its operator to accept this one"
    )]
    IdentityRefused,
    /// The server rejected the handshake with a status this library does not
    /// define.
    #[error("handshake rejected with {0}")]
    Rejected(TransportStatus),
    /// The peer sent something that is not a valid handshake message.
    #[error("malformed handshake message: {0}")]
    Malformed(&'static str),
    /// The peer sent an undecodable handshake structure.
    #[error("malformed handshake message: {0}")]
    Undecodable(CodecError),
}

impl HandshakeError {
    /// The HELLO_ACK status a server sends for this rejection, or `None`
    /// when the server closes without a reply.
    #[must_use]
    pub fn reply_status(&self) -> Option<TransportStatus> {
        match self {
            Self::AuthFailed => Some(TransportStatus::AUTH_FAILED),
            Self::NoCommonProfile => Some(TransportStatus::UNSUPPORTED),
            Self::Incompatible(_) => Some(TransportStatus::INCOMPATIBLE),
            Self::LimitExceeded => Some(TransportStatus::LIMIT_EXCEEDED),
            Self::AtCapacity { .. } => Some(TransportStatus::INTERNAL_ERROR),
            Self::IdentityRefused => Some(TransportStatus::AUTH_FAILED),
            Self::Rejected(s) => Some(*s),
            Self::Malformed(_) | Self::Undecodable(_) => None,
        }
    }
}

/// The negotiated parameters of one session, identical on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionParams {
    /// The selected profile (a set of one).
    pub selected_profile: Profiles,
    /// Request payload ceiling (client to server).
    pub max_request_payload_bytes: u32,
    /// Request item ceiling.
    pub max_request_batch_items: u32,
    /// Response payload ceiling (server to client).
    pub max_response_payload_bytes: u32,
    /// Response item ceiling.
    pub max_response_batch_items: u32,
    /// Packet size for chunking on the baseline transport (> 32).
    pub packet_size: u32,
    /// The session id the server assigned.
    pub session_id: u64,
    /// netipc extensions the server acknowledged
    /// ([`extension`](crate::wire::extension) bits; 0 with other peers).
    pub extensions: u32,
}

impl SessionParams {
    fn from_ack(ack: &HelloAck) -> Self {
        Self {
            selected_profile: Profiles::from_bits_retain(ack.selected_profile),
            max_request_payload_bytes: ack.agreed_max_request_payload_bytes,
            max_request_batch_items: ack.agreed_max_request_batch_items,
            max_response_payload_bytes: ack.agreed_max_response_payload_bytes,
            max_response_batch_items: ack.agreed_max_response_batch_items,
            packet_size: ack.agreed_packet_size,
            session_id: ack.session_id,
            extensions: ack.extensions,
        }
    }

    /// Whether the selected profile moves the data plane to shared memory.
    #[must_use]
    pub fn is_shm(&self) -> bool {
        self.selected_profile.intersects(Profiles::SHM_ANY)
    }
}

/// What a client proposes in the handshake, with configuration defaults
/// already applied (see [`ClientOffer::with_defaults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClientOffer {
    /// HELLO flags (0 for reference peers; netipc clients set
    /// [`HELLO_FLAG_EXTENSIONS`](crate::wire::HELLO_FLAG_EXTENSIONS)).
    pub flags: u16,
    /// Profiles the client can use.
    pub supported_profiles: Profiles,
    /// Profiles the client prefers.
    pub preferred_profiles: Profiles,
    /// Proposed request payload ceiling.
    pub max_request_payload_bytes: u32,
    /// Proposed request (and response) item ceiling.
    pub max_request_batch_items: u32,
    /// Response payload hint (servers answer with their own ceiling).
    pub max_response_payload_bytes: u32,
    /// Response item hint (servers echo the request item ceiling).
    pub max_response_batch_items: u32,
    /// Shared secret.
    pub auth_token: u64,
    /// The client's packet size.
    pub packet_size: u32,
}

impl ClientOffer {
    /// Replaces zero (empty) values by the protocol defaults: supported profiles
    /// BASELINE, payload ceilings 1024, item ceilings 1, and
    /// `default_packet_size` for the packet size.
    #[must_use]
    pub fn with_defaults(mut self, default_packet_size: u32) -> Self {
        let or = |v: u32, d: u32| if v == 0 { d } else { v };
        self.supported_profiles = self.supported_profiles.or(Profiles::BASELINE);
        self.max_request_payload_bytes = or(
            self.max_request_payload_bytes,
            crate::wire::MAX_PAYLOAD_DEFAULT,
        );
        self.max_request_batch_items = or(self.max_request_batch_items, 1);
        self.max_response_payload_bytes = or(
            self.max_response_payload_bytes,
            crate::wire::MAX_PAYLOAD_DEFAULT,
        );
        self.max_response_batch_items = or(self.max_response_batch_items, 1);
        self.packet_size = or(self.packet_size, default_packet_size);
        self
    }

    /// The HELLO carrying this offer.
    #[must_use]
    pub fn hello(&self) -> Hello {
        Hello {
            flags: self.flags,
            supported_profiles: self.supported_profiles.bits(),
            preferred_profiles: self.preferred_profiles.bits(),
            max_request_payload_bytes: self.max_request_payload_bytes,
            max_request_batch_items: self.max_request_batch_items,
            max_response_payload_bytes: self.max_response_payload_bytes,
            max_response_batch_items: self.max_response_batch_items,
            auth_token: self.auth_token,
            packet_size: self.packet_size,
        }
    }
}

/// What a server offers in the handshake, with configuration defaults
/// already applied (see [`ServerOffer::with_defaults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerOffer {
    /// Profiles the server can serve right now.
    pub supported_profiles: Profiles,
    /// Profiles the server prefers.
    pub preferred_profiles: Profiles,
    /// Largest request payload the server accepts.
    pub max_request_payload_bytes: u32,
    /// The server's response payload ceiling (sent as the agreed value).
    pub max_response_payload_bytes: u32,
    /// Shared secret.
    pub auth_token: u64,
    /// The server's packet size.
    pub packet_size: u32,
    /// netipc extensions the server offers to clients that ask for them
    /// ([`extension`](crate::wire::extension) bits).
    pub extensions: u32,
}

impl ServerOffer {
    /// Replaces zero (empty) values by the protocol defaults: payload maxima 1024,
    /// supported profiles BASELINE, and `default_packet_size` for the
    /// packet size.
    #[must_use]
    pub fn with_defaults(mut self, default_packet_size: u32) -> Self {
        let or = |v: u32, d: u32| if v == 0 { d } else { v };
        self.supported_profiles = self.supported_profiles.or(Profiles::BASELINE);
        self.max_request_payload_bytes = or(
            self.max_request_payload_bytes,
            crate::wire::MAX_PAYLOAD_DEFAULT,
        );
        self.max_response_payload_bytes = or(
            self.max_response_payload_bytes,
            crate::wire::MAX_PAYLOAD_DEFAULT,
        );
        self.packet_size = or(self.packet_size, default_packet_size);
        self
    }
}

fn control_message<const N: usize, const P: usize>(
    code: u16,
    status: TransportStatus,
    payload: [u8; P],
) -> [u8; N] {
    let mut out = [0u8; N];
    let mut header = Header::new(MessageKind::Control, code, 0, P as u32);
    header.transport_status = status;
    out[..HEADER_LEN].copy_from_slice(&header.to_bytes());
    out[HEADER_LEN..].copy_from_slice(&payload);
    out
}

/// The 76-byte HELLO message for `hello`.
#[must_use]
pub fn hello_message(hello: &Hello) -> [u8; HELLO_MESSAGE_LEN] {
    control_message(control::HELLO, TransportStatus::OK, hello.to_bytes())
}

/// The 80-byte HELLO_ACK message carrying `ack` with `status`.
#[must_use]
pub fn hello_ack_message(status: TransportStatus, ack: &HelloAck) -> [u8; HELLO_ACK_MESSAGE_LEN] {
    control_message(control::HELLO_ACK, status, ack.to_bytes())
}

/// What the server does with one received HELLO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOutcome {
    /// The HELLO_ACK to send, if any (rejections of malformed packets get
    /// none: the server just closes).
    pub reply: Option<[u8; HELLO_ACK_MESSAGE_LEN]>,
    /// The session parameters, or why there is no session. After any
    /// error the server closes the connection (after sending the reply).
    pub result: Result<SessionParams, HandshakeError>,
}

impl ServerOutcome {
    fn reject(error: HandshakeError) -> Self {
        let reply = error
            .reply_status()
            .map(|status| hello_ack_message(status, &HelloAck::default()));
        Self {
            reply,
            result: Err(error),
        }
    }
}

/// The answer to a well-formed HELLO from a client the provider cannot
/// take because it serves `limit` sessions already: a rejection with
/// status `INTERNAL_ERROR` (reference clients treat it as a failed
/// attempt and retry later); a netipc client also learns the reason and
/// the limit from the extension word and the `session_id` field.
#[must_use]
pub fn capacity_rejection(hello: &Hello, limit: u32) -> ServerOutcome {
    let error = HandshakeError::AtCapacity { sessions: limit };
    let ack = if hello.flags & crate::wire::HELLO_FLAG_EXTENSIONS != 0 {
        HelloAck {
            extensions: crate::wire::extension::AT_CAPACITY,
            session_id: u64::from(limit),
            ..HelloAck::default()
        }
    } else {
        HelloAck::default()
    };
    ServerOutcome {
        reply: Some(hello_ack_message(TransportStatus::INTERNAL_ERROR, &ack)),
        result: Err(error),
    }
}

/// The answer to a well-formed HELLO from a consumer whose identity the
/// provider does not serve: status `AUTH_FAILED` (what every peer
/// understands as "not allowed"); a netipc client also finds the
/// [`IDENTITY_REFUSED`](crate::wire::extension::IDENTITY_REFUSED) bit and
/// reports the real reason.
#[must_use]
pub fn identity_rejection(hello: &Hello) -> ServerOutcome {
    let ack = if hello.flags & crate::wire::HELLO_FLAG_EXTENSIONS != 0 {
        HelloAck {
            extensions: crate::wire::extension::IDENTITY_REFUSED,
            ..HelloAck::default()
        }
    } else {
        HelloAck::default()
    };
    ServerOutcome {
        reply: Some(hello_ack_message(TransportStatus::AUTH_FAILED, &ack)),
        result: Err(HandshakeError::IdentityRefused),
    }
}

/// The HELLO in `packet`, if it is one that decodes (the checks of
/// [`server_handshake`] decide what to answer).
pub(crate) fn peek_hello(packet: &[u8]) -> Option<Hello> {
    let header = Header::decode(packet).ok()?;
    if header.kind != MessageKind::Control || header.code != control::HELLO {
        return None;
    }
    Hello::decode(&packet[HEADER_LEN..]).ok()
}

/// Processes the first packet of a connection on the server side, in the
/// normative order of the reference peers: header (a HELLO that differs
/// only in its version gets an INCOMPATIBLE reply; anything else malformed
/// gets none), HELLO layout version, reserved bytes, profile intersection,
/// auth token, request payload ceiling, packet size.
#[must_use]
pub fn server_handshake(packet: &[u8], offer: &ServerOffer, session_id: u64) -> ServerOutcome {
    match Header::decode(packet) {
        Ok(h) if h.kind == MessageKind::Control && h.code == control::HELLO => {}
        Ok(_) => {
            return ServerOutcome::reject(HandshakeError::Malformed("first packet is not a HELLO"));
        }
        Err(e) if looks_like_hello_of_other_version(packet) => {
            let _ = e;
            return ServerOutcome::reject(HandshakeError::Incompatible(
                "HELLO header version is not 1",
            ));
        }
        Err(e) => return ServerOutcome::reject(HandshakeError::Undecodable(e)),
    }
    let payload = &packet[HEADER_LEN..];
    if payload.len() >= HELLO_LEN && get_u16(payload, 0) != HELLO_LAYOUT_VERSION {
        return ServerOutcome::reject(HandshakeError::Incompatible(
            "HELLO layout_version is not 1",
        ));
    }
    let hello = match Hello::decode(payload) {
        Ok(h) => h,
        Err(e) => return ServerOutcome::reject(HandshakeError::Undecodable(e)),
    };
    match negotiate(&hello, offer, session_id) {
        Ok(ack) => ServerOutcome {
            reply: Some(hello_ack_message(TransportStatus::OK, &ack)),
            result: Ok(SessionParams::from_ack(&ack)),
        },
        Err(e) => ServerOutcome::reject(e),
    }
}

/// The server's negotiation rules once a well-formed HELLO arrived.
///
/// # Errors
/// `NoCommonProfile`, `AuthFailed`, `LimitExceeded` or `Incompatible`
/// (agreed packet size of 32 bytes or less), checked in that order.
pub fn negotiate(
    hello: &Hello,
    offer: &ServerOffer,
    session_id: u64,
) -> Result<HelloAck, HandshakeError> {
    let intersection =
        Profiles::from_bits_retain(hello.supported_profiles) & offer.supported_profiles;
    if intersection.is_empty() {
        return Err(HandshakeError::NoCommonProfile);
    }
    if hello.auth_token != offer.auth_token {
        return Err(HandshakeError::AuthFailed);
    }
    let selected = intersection
        .select(Profiles::from_bits_retain(hello.preferred_profiles) & offer.preferred_profiles);
    if hello.max_request_payload_bytes > offer.max_request_payload_bytes {
        return Err(HandshakeError::LimitExceeded);
    }
    let packet_size = hello.packet_size.min(offer.packet_size);
    if packet_size as usize <= HEADER_LEN {
        return Err(HandshakeError::Incompatible(
            "agreed packet size is 32 bytes or less",
        ));
    }
    Ok(HelloAck {
        server_supported_profiles: offer.supported_profiles.bits(),
        intersection_profiles: intersection.bits(),
        selected_profile: selected.bits(),
        agreed_max_request_payload_bytes: hello.max_request_payload_bytes,
        agreed_max_request_batch_items: hello.max_request_batch_items,
        agreed_max_response_payload_bytes: offer.max_response_payload_bytes,
        agreed_max_response_batch_items: hello.max_request_batch_items,
        agreed_packet_size: packet_size,
        session_id,
        extensions: if hello.flags & crate::wire::HELLO_FLAG_EXTENSIONS != 0 {
            offer.extensions
        } else {
            0
        },
    })
}

/// A header that fails to decode only because its version is not 1, while
/// magic, header_len, kind and code say "HELLO".
fn looks_like_hello_of_other_version(packet: &[u8]) -> bool {
    packet.len() >= HEADER_LEN
        && get_u32(packet, 0) == MAGIC
        && get_u16(packet, 4) != crate::wire::VERSION
        && usize::from(get_u16(packet, 6)) == HEADER_LEN
        && get_u16(packet, 8) == MessageKind::Control as u16
        && get_u16(packet, 12) == control::HELLO
}

/// Processes the server's HELLO_ACK packet on the client side.
///
/// # Errors
/// In order: a header of another version → `Incompatible`; any other
/// header problem or a packet that is not a HELLO_ACK → `Malformed`; a
/// non-OK status → the matching rejection; a short payload or non-zero
/// flags → `Undecodable`; a layout version other than 1 → `Incompatible`;
/// an agreed packet size of 32 or less → `Malformed`.
pub fn client_handshake(packet: &[u8]) -> Result<SessionParams, HandshakeError> {
    let header = match Header::decode(packet) {
        Ok(h) => h,
        Err(e) if e.kind() == crate::CodecErrorKind::BadVersion => {
            return Err(HandshakeError::Incompatible(
                "HELLO_ACK header version is not 1",
            ));
        }
        Err(e) => return Err(HandshakeError::Undecodable(e)),
    };
    if header.kind != MessageKind::Control || header.code != control::HELLO_ACK {
        return Err(HandshakeError::Malformed("reply is not a HELLO_ACK"));
    }
    match header.transport_status {
        TransportStatus::OK => {}
        TransportStatus::AUTH_FAILED => {
            return Err(match HelloAck::decode(&packet[HEADER_LEN..]) {
                Ok(ack) if ack.extensions & crate::wire::extension::IDENTITY_REFUSED != 0 => {
                    HandshakeError::IdentityRefused
                }
                _ => HandshakeError::AuthFailed,
            });
        }
        TransportStatus::UNSUPPORTED => return Err(HandshakeError::NoCommonProfile),
        TransportStatus::INCOMPATIBLE => {
            return Err(HandshakeError::Incompatible("rejected by the server"));
        }
        TransportStatus::LIMIT_EXCEEDED => return Err(HandshakeError::LimitExceeded),
        TransportStatus::INTERNAL_ERROR => {
            return Err(match HelloAck::decode(&packet[HEADER_LEN..]) {
                Ok(ack) if ack.extensions & crate::wire::extension::AT_CAPACITY != 0 => {
                    HandshakeError::AtCapacity {
                        sessions: u32::try_from(ack.session_id).unwrap_or(u32::MAX),
                    }
                }
                _ => HandshakeError::Rejected(TransportStatus::INTERNAL_ERROR),
            });
        }
        other => return Err(HandshakeError::Rejected(other)),
    }
    let payload = &packet[HEADER_LEN..];
    if payload.len() >= 2
        && get_u16(payload, 0) != HELLO_LAYOUT_VERSION
        && payload.len() >= HELLO_ACK_LEN
    {
        return Err(HandshakeError::Incompatible(
            "HELLO_ACK layout_version is not 1",
        ));
    }
    let ack = HelloAck::decode(payload).map_err(HandshakeError::Undecodable)?;
    if ack.agreed_packet_size as usize <= HEADER_LEN {
        return Err(HandshakeError::Malformed(
            "agreed packet size is 32 bytes or less",
        ));
    }
    Ok(SessionParams::from_ack(&ack))
}
