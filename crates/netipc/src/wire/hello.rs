//! HELLO and HELLO_ACK, the handshake payloads.

use crate::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use crate::error::{CodecError, codec_err};

/// HELLO payload size on the wire.
pub const HELLO_LEN: usize = 44;
/// HELLO_ACK payload size on the wire.
pub const HELLO_ACK_LEN: usize = 48;
/// The only layout version of both handshake payloads.
pub const HELLO_LAYOUT_VERSION: u16 = 1;

/// HELLO flag set by netipc clients: "I read the HELLO_ACK extension word".
/// Reference servers ignore HELLO flags, so other peers are unaffected.
pub const HELLO_FLAG_EXTENSIONS: u16 = 0x4000;

/// Bits of the HELLO_ACK extension word (the reserved u32 at offset 36,
/// which reference servers write as 0 and reference clients ignore). A
/// netipc server sets them only for clients that sent
/// [`HELLO_FLAG_EXTENSIONS`], so every other peer pairing uses the plain
/// protocol.
pub mod extension {
    /// Shared memory, POSIX: the consumer announces in the direction's
    /// signal word that it is about to sleep, and the publisher calls
    /// `FUTEX_WAKE` only then. No syscall per message while the peer spins.
    pub const SHM_WAKE_ON_DEMAND: u32 = 0x0000_0001;
    /// In a rejection HELLO_ACK (status `INTERNAL_ERROR`): the provider
    /// already serves as many sessions as it may. The ack's `session_id`
    /// field then carries that session limit. Reference clients see an
    /// ordinary rejection and retry later, as they should.
    pub const AT_CAPACITY: u32 = 0x0000_0002;
    /// In a rejection HELLO_ACK (status `AUTH_FAILED`): the provider does
    /// not serve this consumer's user or group (its `consumer_identity`),
    /// whatever the auth token. Reference clients see an ordinary
    /// authentication failure.
    pub const IDENTITY_REFUSED: u32 = 0x0000_0004;
}

/// The client's handshake proposal (44 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hello {
    /// Sent as 0; servers ignore it.
    pub flags: u16,
    /// Profiles the client can use.
    pub supported_profiles: u32,
    /// Profiles the client prefers.
    pub preferred_profiles: u32,
    /// Proposed request payload ceiling.
    pub max_request_payload_bytes: u32,
    /// Proposed request (and response) item ceiling.
    pub max_request_batch_items: u32,
    /// Hint only; servers answer with their own response ceiling.
    pub max_response_payload_bytes: u32,
    /// Hint only; servers echo the request item ceiling.
    pub max_response_batch_items: u32,
    /// Shared secret compared by the server.
    pub auth_token: u64,
    /// The client's packet size for chunking.
    pub packet_size: u32,
}

impl Hello {
    /// Decodes a HELLO payload: length, `layout_version == 1`, reserved
    /// bytes 28..32 zero. `flags` are not checked.
    ///
    /// # Errors
    /// `Truncated` or `BadLayout`.
    pub fn decode(buf: &[u8]) -> Result<Self, CodecError> {
        if buf.len() < HELLO_LEN {
            return Err(codec_err::truncated("HELLO payload", buf.len()));
        }
        if get_u16(buf, 0) != HELLO_LAYOUT_VERSION {
            return Err(codec_err::layout("HELLO layout_version", 0));
        }
        if get_u32(buf, 28) != 0 {
            return Err(codec_err::layout("HELLO reserved", 28));
        }
        Ok(Self {
            flags: get_u16(buf, 2),
            supported_profiles: get_u32(buf, 4),
            preferred_profiles: get_u32(buf, 8),
            max_request_payload_bytes: get_u32(buf, 12),
            max_request_batch_items: get_u32(buf, 16),
            max_response_payload_bytes: get_u32(buf, 20),
            max_response_batch_items: get_u32(buf, 24),
            auth_token: get_u64(buf, 32),
            packet_size: get_u32(buf, 40),
        })
    }

    /// The 44-byte encoding.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        put_u16(&mut b, 0, HELLO_LAYOUT_VERSION);
        put_u16(&mut b, 2, self.flags);
        put_u32(&mut b, 4, self.supported_profiles);
        put_u32(&mut b, 8, self.preferred_profiles);
        put_u32(&mut b, 12, self.max_request_payload_bytes);
        put_u32(&mut b, 16, self.max_request_batch_items);
        put_u32(&mut b, 20, self.max_response_payload_bytes);
        put_u32(&mut b, 24, self.max_response_batch_items);
        put_u64(&mut b, 32, self.auth_token);
        put_u32(&mut b, 40, self.packet_size);
        b
    }
}

/// The server's handshake answer (48 bytes). A rejection carries a non-OK
/// header status and all-zero fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct HelloAck {
    /// The server's effective supported profiles.
    pub server_supported_profiles: u32,
    /// Client supported AND server supported.
    pub intersection_profiles: u32,
    /// The session's profile (one bit).
    pub selected_profile: u32,
    /// Final request payload ceiling.
    pub agreed_max_request_payload_bytes: u32,
    /// Final request item ceiling.
    pub agreed_max_request_batch_items: u32,
    /// Final response payload ceiling.
    pub agreed_max_response_payload_bytes: u32,
    /// Final response item ceiling.
    pub agreed_max_response_batch_items: u32,
    /// Final packet size for chunking.
    pub agreed_packet_size: u32,
    /// Server-assigned session id.
    pub session_id: u64,
    /// The netipc extension word (reserved bytes 36..40): 0 from reference
    /// servers; see [`extension`].
    pub extensions: u32,
}

impl HelloAck {
    /// Decodes a HELLO_ACK payload: length, `layout_version == 1`,
    /// `flags == 0`. The reserved bytes are not checked.
    ///
    /// # Errors
    /// `Truncated` or `BadLayout`.
    pub fn decode(buf: &[u8]) -> Result<Self, CodecError> {
        if buf.len() < HELLO_ACK_LEN {
            return Err(codec_err::truncated("HELLO_ACK payload", buf.len()));
        }
        if get_u16(buf, 0) != HELLO_LAYOUT_VERSION {
            return Err(codec_err::layout("HELLO_ACK layout_version", 0));
        }
        if get_u16(buf, 2) != 0 {
            return Err(codec_err::layout("HELLO_ACK flags", 2));
        }
        Ok(Self {
            server_supported_profiles: get_u32(buf, 4),
            intersection_profiles: get_u32(buf, 8),
            selected_profile: get_u32(buf, 12),
            agreed_max_request_payload_bytes: get_u32(buf, 16),
            agreed_max_request_batch_items: get_u32(buf, 20),
            agreed_max_response_payload_bytes: get_u32(buf, 24),
            agreed_max_response_batch_items: get_u32(buf, 28),
            agreed_packet_size: get_u32(buf, 32),
            session_id: get_u64(buf, 40),
            extensions: get_u32(buf, 36),
        })
    }

    /// The 48-byte encoding.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HELLO_ACK_LEN] {
        let mut b = [0u8; HELLO_ACK_LEN];
        put_u16(&mut b, 0, HELLO_LAYOUT_VERSION);
        put_u32(&mut b, 4, self.server_supported_profiles);
        put_u32(&mut b, 8, self.intersection_profiles);
        put_u32(&mut b, 12, self.selected_profile);
        put_u32(&mut b, 16, self.agreed_max_request_payload_bytes);
        put_u32(&mut b, 20, self.agreed_max_request_batch_items);
        put_u32(&mut b, 24, self.agreed_max_response_payload_bytes);
        put_u32(&mut b, 28, self.agreed_max_response_batch_items);
        put_u32(&mut b, 32, self.agreed_packet_size);
        put_u32(&mut b, 36, self.extensions);
        put_u64(&mut b, 40, self.session_id);
        b
    }
}
