//! Whole-response decoding and raw re-encoding shared by both lookups.

use super::validate::{LenRule, dir_entry, ordered_dir, response_header};
use super::{LOOKUP_HEADER_LEN, LookupHeader};
use crate::bytes::{align8, end_within, put_u16, put_u32, put_u64, to_u32};
use crate::error::{CodecError, codec_err};
use crate::wire::DIR_ENTRY_LEN;

/// Validates one encoded item.
type CheckItem = fn(&[u8]) -> Result<(), CodecError>;

/// The header and directory extent of a validated lookup response,
/// without its bytes: a client that validated a response keeps this to
/// hand out the view over the same bytes without validating them twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    header: LookupHeader,
    packed_start: usize,
}

/// A validated lookup response: header, directory and every item.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawResponse<'a> {
    pub(crate) payload: &'a [u8],
    pub(crate) header: LookupHeader,
    pub(crate) packed_start: usize,
}

impl<'a> RawResponse<'a> {
    /// Validates the header, the ordered directory (entries at least
    /// `item_header_len` long) and every item with `check_item`.
    pub(crate) fn decode(
        payload: &'a [u8],
        item_header_len: usize,
        check_item: fn(&[u8]) -> Result<(), CodecError>,
    ) -> Result<Self, CodecError> {
        let header = response_header(payload, "lookup response header")?;
        let packed_start = ordered_dir(
            payload,
            header.item_count,
            LenRule::AtLeast(item_header_len),
            "lookup response item",
        )?;
        let response = Self {
            payload,
            header,
            packed_start,
        };
        for i in 0..header.item_count {
            let (start, len) = dir_entry(payload, packed_start, i);
            check_item(&payload[start..start + len]).map_err(|e| e.shifted(start))?;
        }
        Ok(response)
    }

    /// What [`decode`](Self::decode) found, to rebuild the response over
    /// the same bytes later without checking them again.
    pub(crate) fn checked(&self) -> Checked {
        Checked {
            header: self.header,
            packed_start: self.packed_start,
        }
    }

    /// The response over `payload`, which [`decode`](Self::decode) (or
    /// [`encode_checked`]) accepted as `checked`: nothing is checked again
    /// (debug builds do, and compare).
    pub(crate) fn from_checked(
        payload: &'a [u8],
        checked: Checked,
        item_header_len: usize,
        check_item: fn(&[u8]) -> Result<(), CodecError>,
    ) -> Self {
        debug_assert!(
            Self::decode(payload, item_header_len, check_item)
                .is_ok_and(|r| r.checked() == checked),
            "a lookup response rebuilt over other bytes"
        );
        Self {
            payload,
            header: checked.header,
            packed_start: checked.packed_start,
        }
    }

    /// The exact bytes of item `index`.
    pub(crate) fn item(&self, index: usize) -> Option<&'a [u8]> {
        (index < self.header.item_count).then(|| {
            let (start, len) = dir_entry(self.payload, self.packed_start, index);
            &self.payload[start..start + len]
        })
    }
}

/// The bytes of item `index` of a lookup response, checking only what
/// reading that one item needs: the header, the directory's extent, and
/// the entry's alignment, length and bounds (not the other entries, not
/// the item itself). For readers of a response decoded earlier whose only
/// handle is the payload (the C API's views).
pub(crate) fn item_at(
    payload: &[u8],
    index: usize,
    item_header_len: usize,
) -> Result<&[u8], CodecError> {
    let header = response_header(payload, "lookup response header")?;
    if index >= header.item_count {
        return Err(codec_err::bounds("lookup item index", 4));
    }
    let packed_start = header
        .item_count
        .checked_mul(DIR_ENTRY_LEN)
        .and_then(|d| end_within(LOOKUP_HEADER_LEN, d, payload.len()))
        .ok_or(codec_err::truncated("lookup directory", payload.len()))?;
    let at = LOOKUP_HEADER_LEN + index * DIR_ENTRY_LEN;
    let (start, len) = dir_entry(payload, packed_start, index);
    if (start - packed_start) % 8 != 0 {
        return Err(codec_err::align("lookup response item", at));
    }
    if len < item_header_len {
        return Err(codec_err::layout("lookup response item", at + 4));
    }
    let end = end_within(start, len, payload.len())
        .ok_or(codec_err::bounds("lookup response item", at + 4))?;
    Ok(&payload[start..end])
}

/// Builds a response from already-encoded items, each of which must pass
/// `check_item`. Items go to 8-aligned positions with zeroed gaps.
pub(crate) fn encode<'i, I>(
    items: I,
    generation: u64,
    out: &mut [u8],
    check_item: fn(&[u8]) -> Result<(), CodecError>,
) -> Result<usize, CodecError>
where
    I: IntoIterator<Item = &'i [u8]>,
    I::IntoIter: ExactSizeIterator,
{
    encode_with(items, generation, out, Some(check_item)).map(|(n, _)| n)
}

/// [`encode`] of items that were validated already (the items of decoded
/// responses): they are not checked again, and the response is returned
/// as [`Checked`] with its length.
pub(crate) fn encode_checked<'i, I>(
    items: I,
    generation: u64,
    out: &mut [u8],
) -> Result<(usize, Checked), CodecError>
where
    I: IntoIterator<Item = &'i [u8]>,
    I::IntoIter: ExactSizeIterator,
{
    encode_with(items, generation, out, None)
}

fn encode_with<'i, I>(
    items: I,
    generation: u64,
    out: &mut [u8],
    check_item: Option<CheckItem>,
) -> Result<(usize, Checked), CodecError>
where
    I: IntoIterator<Item = &'i [u8]>,
    I::IntoIter: ExactSizeIterator,
{
    let items = items.into_iter();
    let count = items.len();
    let packed_start = count
        .checked_mul(DIR_ENTRY_LEN)
        .and_then(|d| end_within(LOOKUP_HEADER_LEN, d, out.len()))
        .ok_or(codec_err::overflow("lookup response directory", 0))?;
    let count32 = to_u32(count).ok_or(codec_err::overflow("lookup item_count", 4))?;
    let mut end = packed_start;
    let mut written = 0usize;
    for (i, item) in items.enumerate() {
        written = i + 1;
        if let Some(check_item) = check_item {
            check_item(item)?;
        }
        let start = align8(end);
        let stop = end_within(start, item.len(), out.len())
            .ok_or(codec_err::overflow("lookup response item", start))?;
        let (Some(rel), Some(len)) = (to_u32(start - packed_start), to_u32(item.len())) else {
            return Err(codec_err::overflow("lookup response item", start));
        };
        out[end..start].fill(0);
        out[start..stop].copy_from_slice(item);
        let entry = LOOKUP_HEADER_LEN + i * DIR_ENTRY_LEN;
        put_u32(out, entry, rel);
        put_u32(out, entry + 4, len);
        end = stop;
    }
    if written != count {
        return Err(codec_err::count("lookup item_count", 4));
    }
    put_u16(out, 0, 1);
    put_u16(out, 2, 0);
    put_u32(out, 4, count32);
    put_u64(out, 8, generation);
    let checked = Checked {
        header: LookupHeader {
            item_count: count,
            generation,
        },
        packed_start,
    };
    Ok((end, checked))
}
