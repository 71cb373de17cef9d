//! APPS_LOOKUP responses: one item per requested PID, in order.
//!
//! Item layout: a 60-byte fixed header, then comm, cgroup path, cgroup
//! name and the optional label table. The decoder validates every item
//! eagerly.

use crate::bytes::{align8, get_u16, get_u32, get_u64};
use crate::codec::lookup::Labels;
use crate::codec::lookup::raw::{self, RawResponse};
use crate::codec::lookup::validate::{
    fixed_end_unchecked, item_str, labels, str_unchecked, terminated_str,
};
use crate::error::{CodecError, codec_err};

/// Size of an APPS_LOOKUP item's fixed header.
pub const APPS_LOOKUP_ITEM_HEADER_LEN: usize = 60;
/// The uid of items that carry none.
pub const UID_UNSET: u32 = u32::MAX;
/// Longest process name (`comm`) in bytes.
pub const COMM_MAX_LEN: usize = 15;

/// The outcome for one PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum PidStatus {
    /// The process is known; its fields are filled in.
    Known = 0,
    /// No such process (or it vanished).
    Unknown = 1,
    /// The response budget ran out at this item; the client retries it.
    PayloadExceeded = 2,
    /// This item can never fit a response; a final outcome.
    OversizedItem = 3,
}

impl PidStatus {
    /// The status for a wire value.
    #[must_use]
    pub const fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            0 => Self::Known,
            1 => Self::Unknown,
            2 => Self::PayloadExceeded,
            3 => Self::OversizedItem,
            _ => return None,
        })
    }

    /// The specification's name.
    #[must_use]
    pub const fn spec_name(self) -> &'static str {
        match self {
            Self::Known => "KNOWN",
            Self::Unknown => "UNKNOWN",
            Self::PayloadExceeded => "PAYLOAD_EXCEEDED",
            Self::OversizedItem => "OVERSIZED_ITEM",
        }
    }
}

/// What is known about a process's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CgroupStatus {
    /// The cgroup is known: path (non-empty), name, orchestrator, labels.
    Known = 0,
    /// Not known yet (the path may be empty).
    UnknownRetryLater = 1,
    /// Known path, but it will never be enriched.
    UnknownPermanent = 2,
    /// The process lives in the host's root cgroup (no path).
    HostRoot = 3,
}

impl CgroupStatus {
    /// The status for a wire value.
    #[must_use]
    pub const fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            0 => Self::Known,
            1 => Self::UnknownRetryLater,
            2 => Self::UnknownPermanent,
            3 => Self::HostRoot,
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
            Self::HostRoot => "HOST_ROOT",
        }
    }
}

/// The fields of one APPS_LOOKUP item, as written by a server or read by a
/// client. For any status other than [`PidStatus::Known`] every field but
/// `pid` must be "unset": zeros, empty strings and `uid == UID_UNSET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppsEntry<'a> {
    /// The PID outcome.
    pub status: PidStatus,
    /// The cgroup outcome (KNOWN items only; `Known` otherwise).
    pub cgroup_status: CgroupStatus,
    /// Orchestrator of the cgroup (see [`orchestrator`](crate::codec::orchestrator)).
    pub orchestrator: u16,
    /// Parent PID.
    pub ppid: u32,
    /// Owner uid, or [`UID_UNSET`].
    pub uid: u32,
    /// Linux: `/proc/<pid>/stat` field 22 (jiffies since boot); 0 elsewhere.
    pub starttime: u64,
    /// Process name, 1..=15 bytes for KNOWN items.
    pub comm: &'a [u8],
    /// The joined cgroup's path.
    pub cgroup_path: &'a [u8],
    /// The joined cgroup's name.
    pub cgroup_name: &'a [u8],
}

impl AppsEntry<'static> {
    /// An item with every field unset and the given (non-KNOWN) status.
    #[must_use]
    pub const fn unset(status: PidStatus) -> Self {
        Self {
            status,
            cgroup_status: CgroupStatus::Known,
            orchestrator: 0,
            ppid: 0,
            uid: UID_UNSET,
            starttime: 0,
            comm: b"",
            cgroup_path: b"",
            cgroup_name: b"",
        }
    }
}

/// One answered PID, borrowed from the response payload.
#[derive(Debug, Clone, Copy)]
pub struct AppsLookupItem<'a> {
    /// The requested PID, echoed.
    pub pid: u32,
    /// Everything else about the process.
    pub entry: AppsEntry<'a>,
    /// Labels of the cgroup (KNOWN cgroups only).
    pub labels: Labels<'a>,
}

/// Raw numeric fields of an item, before enum conversion.
pub(crate) struct RawFields {
    pub(crate) status: u16,
    pub(crate) cgroup_status: u16,
    pub(crate) orchestrator: u16,
    pub(crate) ppid: u32,
    pub(crate) uid: u32,
    pub(crate) starttime: u64,
    pub(crate) comm_len: usize,
    pub(crate) path_len: usize,
    pub(crate) name_len: usize,
    pub(crate) label_count: usize,
}

/// Checks the semantic rules of an APPS_LOOKUP item, in the order of the
/// specification; shared by the decoder and the builder. Errors carry the
/// offset of the offending field inside the item.
pub(crate) fn check_semantics(f: &RawFields) -> Result<(PidStatus, CgroupStatus), CodecError> {
    let bad = |field, at| Err(codec_err::layout(field, at));
    let Some(status) = PidStatus::from_u16(f.status) else {
        return bad("apps lookup item status", 2);
    };
    let Some(cgroup_status) = CgroupStatus::from_u16(f.cgroup_status) else {
        return bad("apps lookup item cgroup_status", 6);
    };
    if f.comm_len > COMM_MAX_LEN {
        return bad("apps lookup item comm_length (max 15)", 36);
    }
    if status != PidStatus::Known {
        let unset = [
            (f.orchestrator != 0, 4),
            (f.cgroup_status != 0, 6),
            (f.ppid != 0, 12),
            (f.uid != UID_UNSET, 16),
            (f.starttime != 0, 24),
            (f.comm_len != 0, 36),
            (f.path_len != 0, 44),
            (f.name_len != 0, 52),
            (f.label_count != 0, 56),
        ];
        return match unset.iter().find(|(set, _)| *set) {
            Some(&(_, at)) => bad("apps lookup item field set on a non-KNOWN pid", at),
            None => Ok((status, cgroup_status)),
        };
    }
    if f.comm_len == 0 {
        return bad("apps lookup item comm_length (KNOWN needs a name)", 36);
    }
    let what = "apps lookup item field for its cgroup_status";
    let enriched = [
        (f.orchestrator != 0, 4),
        (f.name_len != 0, 52),
        (f.label_count != 0, 56),
    ];
    let first_enriched = enriched.iter().find(|(set, _)| *set).map(|&(_, at)| at);
    match cgroup_status {
        CgroupStatus::Known if f.path_len == 0 => bad(what, 44),
        CgroupStatus::UnknownPermanent if f.path_len == 0 => bad(what, 44),
        CgroupStatus::HostRoot if f.path_len != 0 => bad(what, 44),
        CgroupStatus::Known => Ok((status, cgroup_status)),
        _ => match first_enriched {
            Some(at) => bad(what, at),
            None => Ok((status, cgroup_status)),
        },
    }
}

impl<'a> AppsLookupItem<'a> {
    /// Validates one encoded item (the bytes of
    /// [`raw_item`](AppsLookupView::raw_item)) and returns its view. For
    /// readers that keep only an item's bytes (the C API's item views).
    ///
    /// # Errors
    /// The item's first violated rule, with its offset in the item.
    #[doc(hidden)]
    pub fn decode(item: &'a [u8]) -> Result<Self, CodecError> {
        decode_item(item)
    }

    /// Reads one encoded item of a response that
    /// [`decode`](AppsLookupView::decode) accepted, checking only that its
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
        const H: usize = APPS_LOOKUP_ITEM_HEADER_LEN;
        if item.len() < H {
            return Err(codec_err::truncated("apps lookup item", item.len()));
        }
        let (comm, comm_end) = terminated_str(item, H, 32, "apps lookup item comm")?;
        let (path, path_end) = terminated_str(item, H, 40, "apps lookup item cgroup_path")?;
        let (name, name_end) = terminated_str(item, H, 48, "apps lookup item cgroup_name")?;
        Ok(Self {
            pid: get_u32(item, 8),
            entry: AppsEntry {
                status: PidStatus::from_u16(get_u16(item, 2)).unwrap_or(PidStatus::Known),
                cgroup_status: CgroupStatus::from_u16(get_u16(item, 6))
                    .unwrap_or(CgroupStatus::Known),
                orchestrator: get_u16(item, 4),
                ppid: get_u32(item, 12),
                uid: get_u32(item, 16),
                starttime: get_u64(item, 24),
                comm,
                cgroup_path: path,
                cgroup_name: name,
            },
            labels: Labels::new(
                item,
                align8(comm_end.max(path_end).max(name_end)),
                usize::from(get_u16(item, 56)),
            ),
        })
    }
}

/// Fully validates one item and returns its view.
pub(crate) fn decode_item(item: &[u8]) -> Result<AppsLookupItem<'_>, CodecError> {
    let h = APPS_LOOKUP_ITEM_HEADER_LEN;
    if item.len() < h {
        return Err(codec_err::truncated("apps lookup item", item.len()));
    }
    if get_u16(item, 0) != 1 {
        return Err(codec_err::layout("apps lookup item layout_version", 0));
    }
    if get_u32(item, 20) != 0 {
        return Err(codec_err::layout("apps lookup item reserved0", 20));
    }
    if get_u16(item, 58) != 0 {
        return Err(codec_err::layout("apps lookup item reserved1", 58));
    }
    let fields = RawFields {
        status: get_u16(item, 2),
        orchestrator: get_u16(item, 4),
        cgroup_status: get_u16(item, 6),
        ppid: get_u32(item, 12),
        uid: get_u32(item, 16),
        starttime: get_u64(item, 24),
        comm_len: get_u32(item, 36) as usize,
        path_len: get_u32(item, 44) as usize,
        name_len: get_u32(item, 52) as usize,
        label_count: usize::from(get_u16(item, 56)),
    };
    let (status, cgroup_status) = check_semantics(&fields)?;
    let comm = item_str(item, h, 32, "apps lookup item comm")?;
    let path = item_str(item, h, 40, "apps lookup item cgroup_path")?;
    let name = item_str(item, h, 48, "apps lookup item cgroup_name")?;
    if comm.overlaps(&path) {
        return Err(codec_err::layout(
            "apps lookup item cgroup_path overlaps comm",
            40,
        ));
    }
    if comm.overlaps(&name) || path.overlaps(&name) {
        return Err(codec_err::layout(
            "apps lookup item cgroup_name overlaps another string",
            48,
        ));
    }
    let fixed_end = comm.end.max(path.end).max(name.end);
    let table = labels(item, h, fixed_end, fields.label_count)?;
    Ok(AppsLookupItem {
        pid: get_u32(item, 8),
        entry: AppsEntry {
            status,
            cgroup_status,
            orchestrator: fields.orchestrator,
            ppid: fields.ppid,
            uid: fields.uid,
            starttime: fields.starttime,
            comm: comm.bytes,
            cgroup_path: path.bytes,
            cgroup_name: name.bytes,
        },
        labels: Labels::new(item, table, fields.label_count),
    })
}

/// Reads an item that [`decode_item`] already accepted, without checking
/// it again (views validate every item once, when they are created).
fn read_item(item: &[u8]) -> AppsLookupItem<'_> {
    let label_count = usize::from(get_u16(item, 56));
    let table = align8(fixed_end_unchecked(item, &[32, 40, 48]));
    AppsLookupItem {
        pid: get_u32(item, 8),
        entry: AppsEntry {
            status: PidStatus::from_u16(get_u16(item, 2)).unwrap_or(PidStatus::Known),
            cgroup_status: CgroupStatus::from_u16(get_u16(item, 6)).unwrap_or(CgroupStatus::Known),
            orchestrator: get_u16(item, 4),
            ppid: get_u32(item, 12),
            uid: get_u32(item, 16),
            starttime: get_u64(item, 24),
            comm: str_unchecked(item, 32),
            cgroup_path: str_unchecked(item, 40),
            cgroup_name: str_unchecked(item, 48),
        },
        labels: Labels::new(item, table, label_count),
    }
}

fn check_item(item: &[u8]) -> Result<(), CodecError> {
    decode_item(item).map(|_| ())
}

/// A decoded APPS_LOOKUP response, borrowing the payload. Every item was
/// validated when the view was created.
#[derive(Debug, Clone, Copy)]
#[must_use = "a decoded response is read through its view"]
pub struct AppsLookupView<'a> {
    raw: RawResponse<'a>,
}

impl<'a> AppsLookupView<'a> {
    /// Validates the header, the ordered directory and every item.
    ///
    /// # Errors
    /// The first violated rule, with its byte offset in the payload.
    pub fn decode(payload: &'a [u8]) -> Result<Self, CodecError> {
        RawResponse::decode(payload, APPS_LOOKUP_ITEM_HEADER_LEN, check_item)
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
    pub fn item(&self, index: usize) -> Option<AppsLookupItem<'a>> {
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
    /// directory entry only (read the item with `AppsLookupItem::decode`). For
    /// readers whose only handle on the response is its payload (the C
    /// API's views).
    ///
    /// # Errors
    /// `OutOfBounds` for an index past the end; the violated rule of the
    /// header or the entry.
    #[doc(hidden)]
    pub fn raw_item_at(payload: &'a [u8], index: usize) -> Result<&'a [u8], CodecError> {
        raw::item_at(payload, index, APPS_LOOKUP_ITEM_HEADER_LEN)
    }

    /// The exact encoded bytes of item `index`.
    #[must_use]
    pub fn raw_item(&self, index: usize) -> Option<&'a [u8]> {
        self.raw.item(index)
    }

    /// The items in order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = AppsLookupItem<'a>> + 'a {
        let raw = self.raw;
        (0..self.len()).map(move |i| read_item(raw.item(i).unwrap_or_default()))
    }
}

/// Builds a response from already-encoded items (for example the raw items
/// of several sub-responses). Every item is fully validated first.
///
/// # Errors
/// The first item's validation error, or `Overflow` if `out` is too small.
pub fn encode_apps_lookup_raw_response<'i, I>(
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
