//! STRING_REVERSE (method 3): a string in, a string out. Test service.
//!
//! Layout (both directions): `str_offset u32 = 8`, `str_length u32`, the
//! bytes, one NUL.

use crate::bytes::{end_within, get_u32, put_u32, to_u32};
use crate::error::{CodecError, codec_err};

/// Size of the fixed part before the string.
pub const STRING_REVERSE_HEADER_LEN: usize = 8;

/// Encoded size for a string of `len` bytes: `9 + len`.
#[must_use]
pub const fn string_reverse_len(len: usize) -> usize {
    STRING_REVERSE_HEADER_LEN + len + 1
}

/// Encodes `s` and returns the payload length. The bytes are copied as
/// they are; interior NULs are allowed.
///
/// # Errors
/// `Overflow` if `out` is shorter than `9 + s.len()` or the length does not
/// fit a u32.
pub fn encode_string_reverse(s: &[u8], out: &mut [u8]) -> Result<usize, CodecError> {
    let total = string_reverse_len(s.len());
    let Some(len32) = to_u32(s.len()).filter(|_| total <= out.len()) else {
        return Err(codec_err::overflow("STRING_REVERSE string", 0));
    };
    put_u32(out, 0, STRING_REVERSE_HEADER_LEN as u32);
    put_u32(out, 4, len32);
    out[STRING_REVERSE_HEADER_LEN..total - 1].copy_from_slice(s);
    out[total - 1] = 0;
    Ok(total)
}

/// Returns the string of a STRING_REVERSE payload (without its NUL).
/// Interior NULs are not checked; trailing bytes are ignored.
///
/// # Errors
/// In order: `Truncated` (< 8 bytes), `BadLayout` (`str_offset != 8`),
/// `OutOfBounds` (string or NUL past the end), `MissingNul`.
pub fn decode_string_reverse(payload: &[u8]) -> Result<&[u8], CodecError> {
    if payload.len() < STRING_REVERSE_HEADER_LEN {
        return Err(codec_err::truncated("STRING_REVERSE header", payload.len()));
    }
    if get_u32(payload, 0) as usize != STRING_REVERSE_HEADER_LEN {
        return Err(codec_err::layout("STRING_REVERSE str_offset", 0));
    }
    let len = get_u32(payload, 4) as usize;
    let Some(end) = end_within(STRING_REVERSE_HEADER_LEN + 1, len, payload.len()) else {
        return Err(codec_err::bounds("STRING_REVERSE str_length", 4));
    };
    let nul = end - 1;
    if payload[nul] != 0 {
        return Err(codec_err::nul("STRING_REVERSE terminator", nul));
    }
    Ok(&payload[STRING_REVERSE_HEADER_LEN..nul])
}
