//! The 32-byte outer message header.

use super::TransportStatus;
use crate::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use crate::error::{CodecError, CodecErrorKind as K};

/// Outer header magic (`NIPC` read big-endian).
pub const MAGIC: u32 = 0x4e49_5043;
/// The only protocol version.
pub const VERSION: u16 = 1;
/// Size of the outer header (and of a chunk continuation header).
pub const HEADER_LEN: usize = 32;

/// The `kind` field of the outer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MessageKind {
    /// Client to server, data plane.
    Request = 1,
    /// Server to client, data plane.
    Response = 2,
    /// Handshake control message.
    Control = 3,
}

impl MessageKind {
    /// The specification's name.
    #[must_use]
    pub const fn spec_name(self) -> &'static str {
        match self {
            Self::Request => "REQUEST",
            Self::Response => "RESPONSE",
            Self::Control => "CONTROL",
        }
    }
}

/// A decoded outer header. `magic`, `version` and `header_len` are implied:
/// [`Header::decode`] checks them and [`Header::encode`] writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Message kind.
    pub kind: MessageKind,
    /// Flag bits; only [`FLAG_BATCH`](super::FLAG_BATCH) is defined.
    pub flags: u16,
    /// Method code (REQUEST/RESPONSE) or control opcode (CONTROL).
    pub code: u16,
    /// Envelope status; requests carry OK.
    pub transport_status: TransportStatus,
    /// Payload bytes following the header.
    pub payload_len: u32,
    /// 1 for a single message, the number of items for a batch.
    pub item_count: u32,
    /// Correlation id, echoed in the response.
    pub message_id: u64,
}

impl Header {
    /// A single (non-batch) message header with status OK.
    #[must_use]
    pub const fn new(kind: MessageKind, code: u16, message_id: u64, payload_len: u32) -> Self {
        Self {
            kind,
            flags: 0,
            code,
            transport_status: TransportStatus::OK,
            payload_len,
            item_count: 1,
            message_id,
        }
    }

    /// Whether the BATCH flag is set.
    #[must_use]
    pub const fn is_batch(&self) -> bool {
        self.flags & super::FLAG_BATCH != 0
    }

    /// Decodes and validates the first 32 bytes of `buf`, in the
    /// specification's order: length, magic, version, header_len, kind.
    /// `flags`, `code` and `transport_status` are not validated here.
    ///
    /// # Errors
    /// `Truncated`, `BadMagic`, `BadVersion`, `BadHeaderLen` or `BadKind`.
    pub fn decode(buf: &[u8]) -> Result<Self, CodecError> {
        if buf.len() < HEADER_LEN {
            return Err(CodecError::new(K::Truncated, "outer header", buf.len()));
        }
        if get_u32(buf, 0) != MAGIC {
            return Err(CodecError::new(K::BadMagic, "outer header magic", 0));
        }
        if get_u16(buf, 4) != VERSION {
            return Err(CodecError::new(K::BadVersion, "outer header version", 4));
        }
        if usize::from(get_u16(buf, 6)) != HEADER_LEN {
            return Err(CodecError::new(
                K::BadHeaderLen,
                "outer header header_len",
                6,
            ));
        }
        let kind = match get_u16(buf, 8) {
            1 => MessageKind::Request,
            2 => MessageKind::Response,
            3 => MessageKind::Control,
            _ => return Err(CodecError::new(K::BadKind, "outer header kind", 8)),
        };
        Ok(Self {
            kind,
            flags: get_u16(buf, 10),
            code: get_u16(buf, 12),
            transport_status: TransportStatus(get_u16(buf, 14)),
            payload_len: get_u32(buf, 16),
            item_count: get_u32(buf, 20),
            message_id: get_u64(buf, 24),
        })
    }

    /// Writes the 32-byte header, including magic, version and header_len.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        put_u32(out, 0, MAGIC);
        put_u16(out, 4, VERSION);
        put_u16(out, 6, HEADER_LEN as u16);
        put_u16(out, 8, self.kind as u16);
        put_u16(out, 10, self.flags);
        put_u16(out, 12, self.code);
        put_u16(out, 14, self.transport_status.0);
        put_u32(out, 16, self.payload_len);
        put_u32(out, 20, self.item_count);
        put_u64(out, 24, self.message_id);
    }

    /// The encoded header as an array.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        self.encode(&mut out);
        out
    }

    /// `32 + payload_len`, the total message size, if it fits a u32.
    #[must_use]
    pub const fn message_len(&self) -> Option<u32> {
        self.payload_len.checked_add(HEADER_LEN as u32)
    }
}
