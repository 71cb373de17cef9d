//! Validation rules shared by CGROUPS_LOOKUP and APPS_LOOKUP: headers, the
//! ordered directory, item strings and the label table.

use super::{LOOKUP_HEADER_LEN, LookupHeader};
use crate::bytes::{align8, count_nul, end_within, get_u16, get_u32, get_u64, nul_at};
use crate::error::{CodecError, codec_err};
use crate::wire::DIR_ENTRY_LEN;

/// Label table entry size.
pub(crate) const LABEL_ENTRY_LEN: usize = 16;

/// Length rule a directory entry must satisfy.
#[derive(Clone, Copy)]
pub(crate) enum LenRule {
    AtLeast(usize),
    Exactly(usize),
}

impl LenRule {
    fn accepts(self, len: usize) -> bool {
        match self {
            Self::AtLeast(min) => len >= min,
            Self::Exactly(n) => len == n,
        }
    }
}

/// Checks a request header and returns its item count.
pub(crate) fn request_header(payload: &[u8], what: &'static str) -> Result<usize, CodecError> {
    if payload.len() < LOOKUP_HEADER_LEN {
        return Err(codec_err::truncated(what, payload.len()));
    }
    if get_u16(payload, 0) != 1 {
        return Err(codec_err::layout("lookup request layout_version", 0));
    }
    if get_u16(payload, 2) != 0 {
        return Err(codec_err::layout("lookup request flags", 2));
    }
    if get_u32(payload, 8) != 0 {
        return Err(codec_err::layout("lookup request reserved0", 8));
    }
    if get_u32(payload, 12) != 0 {
        return Err(codec_err::layout("lookup request reserved1", 12));
    }
    Ok(get_u32(payload, 4) as usize)
}

/// Checks a response header.
pub(crate) fn response_header(
    payload: &[u8],
    what: &'static str,
) -> Result<LookupHeader, CodecError> {
    if payload.len() < LOOKUP_HEADER_LEN {
        return Err(codec_err::truncated(what, payload.len()));
    }
    if get_u16(payload, 0) != 1 {
        return Err(codec_err::layout("lookup response layout_version", 0));
    }
    if get_u16(payload, 2) != 0 {
        return Err(codec_err::layout("lookup response flags", 2));
    }
    Ok(LookupHeader {
        item_count: get_u32(payload, 4) as usize,
        generation: get_u64(payload, 8),
    })
}

/// Validates the ordered directory that follows a 16-byte header and
/// returns the start of the packed area. Entries must be 8-aligned, satisfy
/// `rule`, lie inside the packed area and ascend without overlapping.
pub(crate) fn ordered_dir(
    payload: &[u8],
    count: usize,
    rule: LenRule,
    what: &'static str,
) -> Result<usize, CodecError> {
    let dir_len = count
        .checked_mul(DIR_ENTRY_LEN)
        .ok_or(codec_err::count("lookup item_count", 4))?;
    let packed_start = end_within(LOOKUP_HEADER_LEN, dir_len, payload.len())
        .ok_or(codec_err::truncated("lookup directory", payload.len()))?;
    let packed_len = payload.len() - packed_start;
    let mut prev_end = 0usize;
    for i in 0..count {
        let at = LOOKUP_HEADER_LEN + i * DIR_ENTRY_LEN;
        let offset = get_u32(payload, at) as usize;
        let len = get_u32(payload, at + 4) as usize;
        if offset % 8 != 0 {
            return Err(codec_err::align(what, at));
        }
        if !rule.accepts(len) {
            return Err(codec_err::layout(what, at + 4));
        }
        let Some(end) = end_within(offset, len, packed_len) else {
            return Err(codec_err::bounds(what, at + 4));
        };
        if i > 0 && offset < prev_end {
            return Err(codec_err::layout(what, at));
        }
        prev_end = end;
    }
    Ok(packed_start)
}

/// The byte range `[start, len)` of directory entry `index` (already validated).
pub(crate) fn dir_entry(payload: &[u8], packed_start: usize, index: usize) -> (usize, usize) {
    let at = LOOKUP_HEADER_LEN + index * DIR_ENTRY_LEN;
    (
        packed_start + get_u32(payload, at) as usize,
        get_u32(payload, at + 4) as usize,
    )
}

/// A string of an item: its bytes and its occupied range (NUL included).
pub(crate) struct ItemStr<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl ItemStr<'_> {
    pub(crate) fn overlaps(&self, other: &ItemStr<'_>) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Applies the item string rule to the `(offset, length)` pair at byte `at`
/// of `item`: offset at or after the fixed header, string and NUL inside the
/// item, NUL terminator, no interior NUL.
pub(crate) fn item_str<'a>(
    item: &'a [u8],
    header_len: usize,
    at: usize,
    what: &'static str,
) -> Result<ItemStr<'a>, CodecError> {
    str_at(
        item,
        header_len,
        get_u32(item, at) as usize,
        get_u32(item, at + 4) as usize,
        at,
        what,
    )
}

/// The end (NUL included) of the string `(offset, len)` described at byte
/// `at`, checking that it lies after the fixed header, inside the item, and
/// ends with a NUL.
#[inline]
fn terminated_at(
    item: &[u8],
    header_len: usize,
    offset: usize,
    len: usize,
    at: usize,
    what: &'static str,
) -> Result<usize, CodecError> {
    if offset < header_len {
        return Err(codec_err::bounds(what, at));
    }
    let Some(end) = offset
        .checked_add(len)
        .and_then(|e| end_within(e, 1, item.len()))
    else {
        return Err(codec_err::bounds(what, at + 4));
    };
    if item[end - 1] != 0 {
        return Err(codec_err::nul(what, end - 1));
    }
    Ok(end)
}

/// The string at byte `at` of an item a decode accepted earlier and its
/// end (NUL included), checking only what its reader relies on (inside the
/// item, NUL-terminated), not the rest of the string rule.
#[inline]
pub(crate) fn terminated_str<'a>(
    item: &'a [u8],
    header_len: usize,
    at: usize,
    what: &'static str,
) -> Result<(&'a [u8], usize), CodecError> {
    let offset = get_u32(item, at) as usize;
    let len = get_u32(item, at + 4) as usize;
    let end = terminated_at(item, header_len, offset, len, at, what)?;
    Ok((&item[offset..end - 1], end))
}

fn str_at<'a>(
    item: &'a [u8],
    header_len: usize,
    offset: usize,
    len: usize,
    at: usize,
    what: &'static str,
) -> Result<ItemStr<'a>, CodecError> {
    let end = terminated_at(item, header_len, offset, len, at, what)?;
    let bytes = &item[offset..end - 1];
    if let Some(pos) = nul_at(bytes) {
        return Err(codec_err::layout(what, offset + pos));
    }
    Ok(ItemStr {
        bytes,
        start: offset,
        end,
    })
}

/// Validates the canonical item end and the label table: with no labels the
/// item ends exactly at `fixed_end`; otherwise zero padding to 8, the
/// table, then `key NUL value NUL` pairs packed in order to the item's end.
/// Returns the start of the table.
pub(crate) fn labels(
    item: &[u8],
    header_len: usize,
    fixed_end: usize,
    label_count: usize,
) -> Result<usize, CodecError> {
    if label_count == 0 {
        if item.len() != fixed_end {
            return Err(codec_err::layout(
                "lookup item end",
                fixed_end.min(item.len()),
            ));
        }
        return Ok(fixed_end);
    }
    let table = align8(fixed_end);
    if table > item.len() {
        return Err(codec_err::bounds("lookup label table", fixed_end));
    }
    if let Some(pos) = item[fixed_end..table].iter().position(|&b| b != 0) {
        return Err(codec_err::layout("lookup label padding", fixed_end + pos));
    }
    let Some(strings) = end_within(table, label_count * LABEL_ENTRY_LEN, item.len()) else {
        return Err(codec_err::bounds("lookup label table", table));
    };
    let mut expected = strings;
    for i in 0..label_count {
        let at = table + i * LABEL_ENTRY_LEN;
        expected = label_string(item, header_len, at, expected, true)?;
        expected = label_string(item, header_len, at + 8, expected, false)?;
    }
    if expected != item.len() {
        return Err(codec_err::layout("lookup item end", expected));
    }
    // The strings are packed from the end of the table to the end of the
    // item, each with its NUL (checked above): one NUL per string in that
    // span means no interior NUL. One counting pass over the span instead
    // of a search per string; the strings are searched one by one only to
    // name the one at fault.
    if count_nul(&item[strings..]) != 2 * label_count {
        return Err(interior_nul(item, table, label_count));
    }
    Ok(table)
}

/// The error for a label string with an interior NUL (the table and the
/// terminators are valid).
#[cold]
fn interior_nul(item: &[u8], table: usize, label_count: usize) -> CodecError {
    for at in (0..2 * label_count).map(|i| table + i * 8) {
        if let Some(pos) = nul_at(str_unchecked(item, at)) {
            let what = if (at - table) % LABEL_ENTRY_LEN == 0 {
                "lookup label key"
            } else {
                "lookup label value"
            };
            return codec_err::layout(what, get_u32(item, at) as usize + pos);
        }
    }
    codec_err::layout("lookup label", table)
}

fn label_string(
    item: &[u8],
    header_len: usize,
    at: usize,
    expected: usize,
    is_key: bool,
) -> Result<usize, CodecError> {
    let what = if is_key {
        "lookup label key"
    } else {
        "lookup label value"
    };
    let offset = get_u32(item, at) as usize;
    let len = get_u32(item, at + 4) as usize;
    if is_key && len == 0 {
        return Err(codec_err::layout("lookup label key_length", at + 4));
    }
    if offset != expected {
        return Err(codec_err::layout(what, at));
    }
    // Interior NULs are looked for by the caller, over all the strings.
    terminated_at(item, header_len, offset, len, at, what)
}

/// Reads the `(offset, length)` string at byte `at` of a validated item.
pub(crate) fn str_unchecked(item: &[u8], at: usize) -> &[u8] {
    let offset = get_u32(item, at) as usize;
    let len = get_u32(item, at + 4) as usize;
    item.get(offset..offset.saturating_add(len))
        .unwrap_or_default()
}

/// The end of the fixed strings of a validated item (the furthest NUL + 1).
#[inline]
pub(crate) fn fixed_end_unchecked<const N: usize>(item: &[u8], string_fields: [usize; N]) -> usize {
    string_fields
        .into_iter()
        .map(|at| (get_u32(item, at) as usize).saturating_add(get_u32(item, at + 4) as usize) + 1)
        .max()
        .unwrap_or(0)
}

/// Label `index` of the table at `table` of an item a decode accepted
/// earlier, checking only what its reader relies on: the entry lies inside
/// the item, and the key and the value lie after the table's start, inside
/// the item, and end with a NUL (not the rest of the label rules).
#[inline]
pub(crate) fn label_terminated(
    item: &[u8],
    table: usize,
    index: usize,
) -> Result<(&[u8], &[u8]), CodecError> {
    let at = index
        .checked_mul(LABEL_ENTRY_LEN)
        .and_then(|rel| table.checked_add(rel))
        .filter(|&at| end_within(at, LABEL_ENTRY_LEN, item.len()).is_some())
        .ok_or(codec_err::bounds(
            "lookup label table",
            table.min(item.len()),
        ))?;
    let (key, _) = terminated_str(item, table, at, "lookup label key")?;
    let (value, _) = terminated_str(item, table, at + 8, "lookup label value")?;
    Ok((key, value))
}

/// Reads label `index` of a validated table.
pub(crate) fn label_at(item: &[u8], table: usize, index: usize) -> (&[u8], &[u8]) {
    let at = table + index * LABEL_ENTRY_LEN;
    let slice = |at: usize| {
        let offset = get_u32(item, at) as usize;
        let len = get_u32(item, at + 4) as usize;
        item.get(offset..offset.saturating_add(len))
            .unwrap_or_default()
    };
    (slice(at), slice(at + 8))
}
