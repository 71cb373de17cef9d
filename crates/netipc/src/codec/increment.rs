//! INCREMENT (method 1): a u64 in, a u64 out. Test and benchmark service.

use crate::bytes::{get_u64, put_u64};
use crate::error::{CodecError, codec_err};

/// Payload size of an INCREMENT request or response.
pub const INCREMENT_PAYLOAD_LEN: usize = 8;

/// Writes `value` into the first 8 bytes of `out` and returns 8.
///
/// # Errors
/// `Overflow` if `out` is shorter than 8 bytes.
pub fn encode_increment(value: u64, out: &mut [u8]) -> Result<usize, CodecError> {
    if out.len() < INCREMENT_PAYLOAD_LEN {
        return Err(codec_err::overflow("INCREMENT value", 0));
    }
    put_u64(out, 0, value);
    Ok(INCREMENT_PAYLOAD_LEN)
}

/// Reads the value of an INCREMENT payload. Bytes after the first 8 are
/// ignored, as by every reference peer.
///
/// # Errors
/// `Truncated` if the payload is shorter than 8 bytes.
pub fn decode_increment(payload: &[u8]) -> Result<u64, CodecError> {
    if payload.len() < INCREMENT_PAYLOAD_LEN {
        return Err(codec_err::truncated("INCREMENT value", payload.len()));
    }
    Ok(get_u64(payload, 0))
}
