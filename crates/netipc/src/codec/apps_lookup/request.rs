//! APPS_LOOKUP requests: an ordered list of PIDs, each an 8-byte key
//! `{pid u32, reserved u32 = 0}`.

use crate::bytes::{get_u32, put_u16, put_u32};
use crate::codec::lookup::LOOKUP_HEADER_LEN;
use crate::codec::lookup::validate::{LenRule, dir_entry, ordered_dir, request_header};
use crate::error::{CodecError, codec_err};
use crate::wire::DIR_ENTRY_LEN;

/// Size of one APPS_LOOKUP key.
pub const APPS_LOOKUP_KEY_LEN: usize = 8;

/// Encoded size of a request for `count` PIDs: `16 + 16 * count`.
#[must_use]
pub const fn apps_lookup_request_len(count: usize) -> usize {
    LOOKUP_HEADER_LEN + count * (DIR_ENTRY_LEN + APPS_LOOKUP_KEY_LEN)
}

/// Encodes a request for `pids` (in order) and returns its length.
///
/// # Errors
/// `Overflow` if `out` is too small or the count does not fit a u32.
pub fn encode_apps_lookup_request(pids: &[u32], out: &mut [u8]) -> Result<usize, CodecError> {
    let total = pids
        .len()
        .checked_mul(DIR_ENTRY_LEN + APPS_LOOKUP_KEY_LEN)
        .and_then(|n| n.checked_add(LOOKUP_HEADER_LEN))
        .filter(|&t| t <= out.len() && u32::try_from(t).is_ok())
        .ok_or(codec_err::overflow("apps lookup request", 0))?;
    let packed_start = LOOKUP_HEADER_LEN + pids.len() * DIR_ENTRY_LEN;
    for (i, &pid) in pids.iter().enumerate() {
        let entry = LOOKUP_HEADER_LEN + i * DIR_ENTRY_LEN;
        let key = packed_start + i * APPS_LOOKUP_KEY_LEN;
        // Below `total`, which fits a u32.
        put_u32(out, entry, (i * APPS_LOOKUP_KEY_LEN) as u32);
        put_u32(out, entry + 4, APPS_LOOKUP_KEY_LEN as u32);
        put_u32(out, key, pid);
        put_u32(out, key + 4, 0);
    }
    put_u16(out, 0, 1);
    put_u16(out, 2, 0);
    put_u32(out, 4, pids.len() as u32);
    put_u32(out, 8, 0);
    put_u32(out, 12, 0);
    Ok(total)
}

/// A decoded APPS_LOOKUP request, borrowing the payload.
#[derive(Debug, Clone, Copy)]
pub struct AppsLookupRequest<'a> {
    payload: &'a [u8],
    count: usize,
    packed_start: usize,
}

impl<'a> AppsLookupRequest<'a> {
    /// Validates the whole request: header, ordered directory of exactly
    /// 8-byte keys, and every key's reserved field.
    ///
    /// # Errors
    /// `Truncated`, `BadLayout`, `BadItemCount`, `BadAlignment` or
    /// `OutOfBounds`, with the offending byte offset.
    pub fn decode(payload: &'a [u8]) -> Result<Self, CodecError> {
        let count = request_header(payload, "apps lookup request header")?;
        let packed_start = ordered_dir(
            payload,
            count,
            LenRule::Exactly(APPS_LOOKUP_KEY_LEN),
            "apps lookup key",
        )?;
        for i in 0..count {
            let (start, _) = dir_entry(payload, packed_start, i);
            if get_u32(payload, start + 4) != 0 {
                return Err(codec_err::layout("apps lookup key reserved", start + 4));
            }
        }
        Ok(Self {
            payload,
            count,
            packed_start,
        })
    }

    /// Number of PIDs.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the request has no keys (a generation probe).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// PID `index`, or `None` past the end.
    #[must_use]
    pub fn pid(&self, index: usize) -> Option<u32> {
        (index < self.count).then(|| {
            let (start, _) = dir_entry(self.payload, self.packed_start, index);
            get_u32(self.payload, start)
        })
    }

    /// The PIDs in order.
    #[must_use]
    pub fn pids(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let request = *self;
        (0..self.count).map(move |i| request.pid(i).unwrap_or_default())
    }
}
