//! CGROUPS_LOOKUP requests: an ordered list of cgroup paths.
//!
//! Each key is the path followed by one NUL; its directory length counts
//! the NUL (`path_len + 1`).

use crate::bytes::{align8, has_nul, nul_at, put_u16, put_u32, to_u32};
use crate::codec::lookup::LOOKUP_HEADER_LEN;
use crate::codec::lookup::validate::{LenRule, dir_entry, ordered_dir, request_header};
use crate::error::{CodecError, codec_err};
use crate::wire::DIR_ENTRY_LEN;

/// Encoded size of a request for `paths`, `None` if it overflows a u32.
pub fn cgroups_lookup_request_len<P: AsRef<[u8]>>(paths: &[P]) -> Option<usize> {
    let mut end = paths
        .len()
        .checked_mul(DIR_ENTRY_LEN)?
        .checked_add(LOOKUP_HEADER_LEN)?;
    for p in paths {
        end = align8(end).checked_add(p.as_ref().len())?.checked_add(1)?;
    }
    to_u32(end).map(|_| end)
}

/// Size of a request carrying one key of `path_len` bytes (`25 + len`).
#[must_use]
pub const fn cgroups_lookup_single_request_len(path_len: usize) -> usize {
    LOOKUP_HEADER_LEN + DIR_ENTRY_LEN + path_len + 1
}

/// Encodes a request for `paths` (in order) and returns its length.
///
/// # Errors
/// `BadLayout` for an empty path or a path containing NUL, `Overflow` if
/// `out` is too small.
pub fn encode_cgroups_lookup_request<P: AsRef<[u8]>>(
    paths: &[P],
    out: &mut [u8],
) -> Result<usize, CodecError> {
    for p in paths {
        let p = p.as_ref();
        if p.is_empty() || has_nul(p) {
            return Err(codec_err::layout("cgroups lookup request path", 0));
        }
    }
    let total = cgroups_lookup_request_len(paths)
        .filter(|&t| t <= out.len())
        .ok_or(codec_err::overflow("cgroups lookup request", 0))?;
    let packed_start = LOOKUP_HEADER_LEN + paths.len() * DIR_ENTRY_LEN;
    let mut end = packed_start;
    for (i, p) in paths.iter().enumerate() {
        let p = p.as_ref();
        let start = align8(end);
        out[end..start].fill(0);
        out[start..start + p.len()].copy_from_slice(p);
        out[start + p.len()] = 0;
        let entry = LOOKUP_HEADER_LEN + i * DIR_ENTRY_LEN;
        // Offsets and lengths are below `total`, which fits a u32.
        put_u32(out, entry, (start - packed_start) as u32);
        put_u32(out, entry + 4, (p.len() + 1) as u32);
        end = start + p.len() + 1;
    }
    put_u16(out, 0, 1);
    put_u16(out, 2, 0);
    put_u32(out, 4, paths.len() as u32);
    put_u32(out, 8, 0);
    put_u32(out, 12, 0);
    debug_assert_eq!(end, total);
    Ok(total)
}

/// A decoded CGROUPS_LOOKUP request, borrowing the payload.
#[derive(Debug, Clone, Copy)]
pub struct CgroupsLookupRequest<'a> {
    payload: &'a [u8],
    count: usize,
    packed_start: usize,
}

impl<'a> CgroupsLookupRequest<'a> {
    /// Validates the whole request: header, ordered directory (keys at
    /// least 2 bytes), and every key (final NUL, no interior NUL).
    ///
    /// # Errors
    /// `Truncated`, `BadLayout`, `BadItemCount`, `BadAlignment`,
    /// `OutOfBounds` or `MissingNul`, with the offending byte offset.
    pub fn decode(payload: &'a [u8]) -> Result<Self, CodecError> {
        let count = request_header(payload, "cgroups lookup request header")?;
        let packed_start = ordered_dir(payload, count, LenRule::AtLeast(2), "cgroups lookup key")?;
        for i in 0..count {
            let (start, len) = dir_entry(payload, packed_start, i);
            let key = &payload[start..start + len];
            if key[len - 1] != 0 {
                return Err(codec_err::nul(
                    "cgroups lookup key terminator",
                    start + len - 1,
                ));
            }
            if let Some(pos) = nul_at(&key[..len - 1]) {
                return Err(codec_err::layout(
                    "cgroups lookup key interior NUL",
                    start + pos,
                ));
            }
        }
        Ok(Self {
            payload,
            count,
            packed_start,
        })
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the request has no keys (a generation probe).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Path `index` (without its NUL), or `None` past the end.
    #[must_use]
    pub fn path(&self, index: usize) -> Option<&'a [u8]> {
        (index < self.count).then(|| {
            let (start, len) = dir_entry(self.payload, self.packed_start, index);
            &self.payload[start..start + len - 1]
        })
    }

    /// The paths in order.
    #[must_use]
    pub fn paths(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let request = *self;
        (0..self.count).map(move |i| request.path(i).unwrap_or_default())
    }
}
