//! CGROUPS_LOOKUP responses: one item per requested path, in order.
//!
//! Item layout: a 28-byte fixed header, the path, the name, then the
//! optional label table. The decoder validates every item eagerly.

use crate::bytes::{align8, get_u16, get_u32};
use crate::codec::lookup::raw::{self, RawResponse};
use crate::codec::lookup::validate::{
    fixed_end_unchecked, item_str, labels, str_unchecked, terminated_str,
};
use crate::codec::lookup::{Labels, orchestrator};
use crate::error::{CodecError, codec_err};

/// Size of a CGROUPS_LOOKUP item's fixed header.
pub const CGROUPS_LOOKUP_ITEM_HEADER_LEN: usize = 28;

/// The outcome of one CGROUPS_LOOKUP key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CgroupsLookupStatus {
    /// The path is known; name, orchestrator and labels are filled in.
    Known = 0,
    /// Not known yet; asking again later may succeed.
    UnknownRetryLater = 1,
    /// Not known and never will be.
    UnknownPermanent = 2,
    /// The response budget ran out at this item; the client retries it.
    PayloadExceeded = 3,
    /// This item can never fit a response; a final outcome.
    OversizedItem = 4,
}

impl CgroupsLookupStatus {
    /// The status for a wire value.
    #[must_use]
    pub const fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            0 => Self::Known,
            1 => Self::UnknownRetryLater,
            2 => Self::UnknownPermanent,
            3 => Self::PayloadExceeded,
            4 => Self::OversizedItem,
            _ => return None,
        })
    }

    /// The specification's name.
    #[must_use]
    pub const fn spec_name(self) -> &'static str {
        match self {
            Self::Known => "KNOWN",
            Self::UnknownRetryLater => "UNKNOWN_RETRY_LATER",
            Self::UnknownPermanent => "UNKNOWN_PERMANENT",
            Self::PayloadExceeded => "PAYLOAD_EXCEEDED",
            Self::OversizedItem => "OVERSIZED_ITEM",
        }
    }
}

/// The fields of one CGROUPS_LOOKUP item besides its path and labels, as a
/// server adds them ([`CgroupsLookupBuilder::add`](crate::codec::CgroupsLookupBuilder::add))
/// or a client reads them ([`CgroupsLookupItem::entry`]). For any status
/// other than [`CgroupsLookupStatus::Known`] the orchestrator must be 0 and
/// the name empty ([`unset`](Self::unset)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CgroupsEntry<'a> {
    /// The outcome.
    pub status: CgroupsLookupStatus,
    /// Orchestrator (KNOWN items only; 0 otherwise); see [`orchestrator`].
    pub orchestrator: u16,
    /// The cgroup's name (KNOWN items only; may be empty then too).
    pub name: &'a [u8],
}

impl<'a> CgroupsEntry<'a> {
    /// A KNOWN item with `name`, run by `orchestrator`.
    #[must_use]
    pub const fn known(orchestrator: u16, name: &'a [u8]) -> Self {
        Self {
            status: CgroupsLookupStatus::Known,
            orchestrator,
            name,
        }
    }
}

impl CgroupsEntry<'static> {
    /// An item that is not enriched (`UnknownRetryLater`,
    /// `UnknownPermanent`, ...): no orchestrator, no name.
    #[must_use]
    pub const fn unset(status: CgroupsLookupStatus) -> Self {
        Self {
            status,
            orchestrator: orchestrator::UNKNOWN,
            name: b"",
        }
    }
}

/// One answered path, borrowed from the response payload.
#[derive(Debug, Clone, Copy)]
pub struct CgroupsLookupItem<'a> {
    /// The outcome.
    pub status: CgroupsLookupStatus,
    /// Orchestrator (any value for KNOWN items, 0 otherwise); see
    /// [`orchestrator`].
    pub orchestrator: u16,
    /// The requested path, echoed (never empty).
    pub path: &'a [u8],
    /// The cgroup's name (empty unless KNOWN; may be empty then too).
    pub name: &'a [u8],
    /// Labels (only on KNOWN items).
    pub labels: Labels<'a>,
}

impl<'a> CgroupsLookupItem<'a> {
    /// Status, orchestrator and name, as a builder takes them (for
    /// example to pass an item on).
    #[must_use]
    pub const fn entry(&self) -> CgroupsEntry<'a> {
        CgroupsEntry {
            status: self.status,
            orchestrator: self.orchestrator,
            name: self.name,
        }
    }
}

/// Checks the semantic rules of a CGROUPS_LOOKUP item; shared by the
/// decoder and the builder.
pub(crate) fn check_semantics(
    status: u16,
    orchestrator: u16,
    path_len: usize,
    name_len: usize,
    label_count: usize,
) -> Result<CgroupsLookupStatus, CodecError> {
    let status = CgroupsLookupStatus::from_u16(status)
        .ok_or(codec_err::layout("cgroups lookup item status", 2))?;
    if path_len == 0 {
        return Err(codec_err::layout("cgroups lookup item path_length", 12));
    }
    if status != CgroupsLookupStatus::Known {
        if orchestrator != orchestrator::UNKNOWN {
            return Err(codec_err::layout(
                "cgroups lookup item orchestrator (not KNOWN)",
                4,
            ));
        }
        if name_len != 0 {
            return Err(codec_err::layout(
                "cgroups lookup item name_length (not KNOWN)",
                20,
            ));
        }
        if label_count != 0 {
            return Err(codec_err::layout(
                "cgroups lookup item label_count (not KNOWN)",
                24,
            ));
        }
    }
    Ok(status)
}

impl<'a> CgroupsLookupItem<'a> {
    /// Validates one encoded item (the bytes of
    /// [`raw_item`](CgroupsLookupView::raw_item)) and returns its view. For
    /// readers that keep only an item's bytes (the C API's item views).
    ///
    /// # Errors
    /// The item's first violated rule, with its offset in the item.
    #[doc(hidden)]
    pub fn decode(item: &'a [u8]) -> Result<Self, CodecError> {
        decode_item(item)
    }

    /// Reads one encoded item of a response that
    /// [`decode`](CgroupsLookupView::decode) accepted, checking only that its
    /// strings lie inside it and end with a NUL (what a reader relies
    /// on); the other rules were checked by the decode. For readers that
    /// keep only a payload (the C API's views). Its label table is not
    /// checked: read its labels with [`Labels::read`], which checks the
    /// label it reads, when the bytes may have changed since.
    ///
    /// # Errors
    /// `Truncated` below the header size; `OutOfBounds`, `MissingNul`.
    #[doc(hidden)]
    pub fn read(item: &'a [u8]) -> Result<Self, CodecError> {
        const H: usize = CGROUPS_LOOKUP_ITEM_HEADER_LEN;
        if item.len() < H {
            return Err(codec_err::truncated("cgroups lookup item", item.len()));
        }
        let (path, path_end) = terminated_str(item, H, 8, "cgroups lookup item path")?;
        let (name, name_end) = terminated_str(item, H, 16, "cgroups lookup item name")?;
        Ok(Self {
            status: CgroupsLookupStatus::from_u16(get_u16(item, 2))
                .unwrap_or(CgroupsLookupStatus::Known),
            orchestrator: get_u16(item, 4),
            path,
            name,
            labels: Labels::new(
                item,
                align8(path_end.max(name_end)),
                usize::from(get_u16(item, 24)),
            ),
        })
    }
}

/// Fully validates one item and returns its view.
pub(crate) fn decode_item(item: &[u8]) -> Result<CgroupsLookupItem<'_>, CodecError> {
    if item.len() < CGROUPS_LOOKUP_ITEM_HEADER_LEN {
        return Err(codec_err::truncated("cgroups lookup item", item.len()));
    }
    if get_u16(item, 0) != 1 {
        return Err(codec_err::layout("cgroups lookup item layout_version", 0));
    }
    if get_u16(item, 6) != 0 {
        return Err(codec_err::layout("cgroups lookup item reserved0", 6));
    }
    if get_u16(item, 26) != 0 {
        return Err(codec_err::layout("cgroups lookup item reserved1", 26));
    }
    let orchestrator = get_u16(item, 4);
    let label_count = usize::from(get_u16(item, 24));
    let status = check_semantics(
        get_u16(item, 2),
        orchestrator,
        get_u32(item, 12) as usize,
        get_u32(item, 20) as usize,
        label_count,
    )?;
    let h = CGROUPS_LOOKUP_ITEM_HEADER_LEN;
    let path = item_str(item, h, 8, "cgroups lookup item path")?;
    let name = item_str(item, h, 16, "cgroups lookup item name")?;
    if path.overlaps(&name) {
        return Err(codec_err::layout(
            "cgroups lookup item path/name overlap",
            16,
        ));
    }
    let table = labels(item, h, path.end.max(name.end), label_count)?;
    Ok(CgroupsLookupItem {
        status,
        orchestrator,
        path: path.bytes,
        name: name.bytes,
        labels: Labels::new(item, table, label_count),
    })
}

/// Reads an item that [`decode_item`] already accepted, without checking
/// it again (views validate every item once, when they are created).
fn read_item(item: &[u8]) -> CgroupsLookupItem<'_> {
    let label_count = usize::from(get_u16(item, 24));
    let table = align8(fixed_end_unchecked(item, &[8, 16]));
    CgroupsLookupItem {
        status: CgroupsLookupStatus::from_u16(get_u16(item, 2))
            .unwrap_or(CgroupsLookupStatus::Known),
        orchestrator: get_u16(item, 4),
        path: str_unchecked(item, 8),
        name: str_unchecked(item, 16),
        labels: Labels::new(item, table, label_count),
    }
}

fn check_item(item: &[u8]) -> Result<(), CodecError> {
    decode_item(item).map(|_| ())
}

/// A decoded CGROUPS_LOOKUP response, borrowing the payload. Every item was
/// validated when the view was created.
#[derive(Debug, Clone, Copy)]
#[must_use = "a decoded response is read through its view"]
pub struct CgroupsLookupView<'a> {
    raw: RawResponse<'a>,
}

impl<'a> CgroupsLookupView<'a> {
    /// Validates the header, the ordered directory and every item.
    ///
    /// # Errors
    /// The first violated rule, with its byte offset in the payload.
    pub fn decode(payload: &'a [u8]) -> Result<Self, CodecError> {
        RawResponse::decode(payload, CGROUPS_LOOKUP_ITEM_HEADER_LEN, check_item)
            .map(|raw| Self { raw })
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.raw.header.item_count
    }

    /// Whether the response has no items.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The provider's generation.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.raw.header.generation
    }

    /// Item `index`, or `None` past the end.
    pub fn item(&self, index: usize) -> Option<CgroupsLookupItem<'a>> {
        self.raw.item(index).map(read_item)
    }

    /// The payload the view was decoded from.
    #[doc(hidden)]
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw.payload
    }

    /// The bytes of item `index` of `payload`, a response decoded earlier
    /// by [`decode`](Self::decode), checking the header and that one
    /// directory entry only (read the item with `CgroupsLookupItem::decode`). For
    /// readers whose only handle on the response is its payload (the C
    /// API's views).
    ///
    /// # Errors
    /// `OutOfBounds` for an index past the end; the violated rule of the
    /// header or the entry.
    #[doc(hidden)]
    pub fn raw_item_at(payload: &'a [u8], index: usize) -> Result<&'a [u8], CodecError> {
        raw::item_at(payload, index, CGROUPS_LOOKUP_ITEM_HEADER_LEN)
    }

    /// The exact encoded bytes of item `index`.
    #[must_use]
    pub fn raw_item(&self, index: usize) -> Option<&'a [u8]> {
        self.raw.item(index)
    }

    /// The items in order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = CgroupsLookupItem<'a>> + 'a {
        let raw = self.raw;
        (0..self.len()).map(move |i| read_item(raw.item(i).unwrap_or_default()))
    }
}

/// Builds a response from already-encoded items (for example the raw items
/// of several sub-responses). Every item is fully validated first; items
/// are placed at 8-aligned offsets with zeroed gaps.
///
/// # Errors
/// The first item's validation error, or `Overflow` if `out` is too small.
pub fn encode_cgroups_lookup_raw_response<'i, I>(
    items: I,
    generation: u64,
    out: &mut [u8],
) -> Result<usize, CodecError>
where
    I: IntoIterator<Item = &'i [u8]>,
    I::IntoIter: ExactSizeIterator,
{
    raw::encode(items, generation, out, check_item)
}
