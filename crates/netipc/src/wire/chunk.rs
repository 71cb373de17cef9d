//! The 32-byte chunk continuation header.

use crate::bytes::{get_u16, get_u32, get_u64, put_u16, put_u32, put_u64};
use crate::error::{CodecError, CodecErrorKind as K};

use super::HEADER_LEN;

/// Chunk header magic (`NCHK` read big-endian).
pub const CHUNK_MAGIC: u32 = 0x4e43_484b;
/// The only chunk header version.
pub const CHUNK_VERSION: u16 = 1;

/// A continuation packet header. Packet 0 of a chunked message carries the
/// normal outer header; packets 1.. carry this header instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkHeader {
    /// The message id of the message being continued.
    pub message_id: u64,
    /// `32 + payload_len` of the whole message.
    pub total_message_len: u32,
    /// 1 .. chunk_count-1.
    pub chunk_index: u32,
    /// Number of packets including packet 0.
    pub chunk_count: u32,
    /// Payload bytes in this packet; never 0.
    pub chunk_payload_len: u32,
}

impl ChunkHeader {
    /// Decodes and validates a chunk header: length, magic, version,
    /// `flags == 0`, `chunk_payload_len != 0`.
    ///
    /// # Errors
    /// `Truncated`, `BadMagic`, `BadVersion` or `BadLayout`.
    pub fn decode(buf: &[u8]) -> Result<Self, CodecError> {
        if buf.len() < HEADER_LEN {
            return Err(CodecError::new(K::Truncated, "chunk header", buf.len()));
        }
        if get_u32(buf, 0) != CHUNK_MAGIC {
            return Err(CodecError::new(K::BadMagic, "chunk header magic", 0));
        }
        if get_u16(buf, 4) != CHUNK_VERSION {
            return Err(CodecError::new(K::BadVersion, "chunk header version", 4));
        }
        if get_u16(buf, 6) != 0 {
            return Err(CodecError::new(K::BadLayout, "chunk header flags", 6));
        }
        let header = Self {
            message_id: get_u64(buf, 8),
            total_message_len: get_u32(buf, 16),
            chunk_index: get_u32(buf, 20),
            chunk_count: get_u32(buf, 24),
            chunk_payload_len: get_u32(buf, 28),
        };
        if header.chunk_payload_len == 0 {
            return Err(CodecError::new(
                K::BadLayout,
                "chunk header chunk_payload_len",
                28,
            ));
        }
        Ok(header)
    }

    /// Writes the 32-byte header.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        put_u32(out, 0, CHUNK_MAGIC);
        put_u16(out, 4, CHUNK_VERSION);
        put_u16(out, 6, 0);
        put_u64(out, 8, self.message_id);
        put_u32(out, 16, self.total_message_len);
        put_u32(out, 20, self.chunk_index);
        put_u32(out, 24, self.chunk_count);
        put_u32(out, 28, self.chunk_payload_len);
    }

    /// The encoded header as an array.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        self.encode(&mut out);
        out
    }
}
