//! CGROUPS_SNAPSHOT (method 2): the full list of cgroups, every time.
//!
//! ```text
//! request   layout_version u16 = 1, flags u16 = 0
//! response  [ header 24 ][ directory: item_count x 8 ][ packed items ]
//! item      [ fixed 32 ][ name NUL ][ path NUL ]
//! ```
//!
//! The response decoder validates the header and the directory
//! ([`SnapshotView::decode`]); each item is validated when it is read
//! ([`SnapshotView::item`]), exactly like the reference peers. A consumer
//! that needs every item must treat an item error as a failed refresh.

use crate::bytes::{
    align8, end_within, get_u16, get_u32, get_u64, put_u16, put_u32, put_u64, to_u32,
};
use crate::error::{CodecError, codec_err};
use crate::wire::DIR_ENTRY_LEN;

/// Size of the snapshot request.
pub const SNAPSHOT_REQUEST_LEN: usize = 4;
/// Size of the response header.
pub const SNAPSHOT_HEADER_LEN: usize = 24;
/// Size of an item's fixed part.
pub const SNAPSHOT_ITEM_HEADER_LEN: usize = 32;
/// Directory entry plus the smallest aligned item; the unit of
/// [`estimate_max_items`].
const MIN_ITEM_FOOTPRINT: usize = DIR_ENTRY_LEN + 40;

/// The snapshot request. It has no parameters: every request asks for the
/// full snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SnapshotRequest {}

impl SnapshotRequest {
    /// Writes the 4-byte request `{layout_version 1, flags 0}`.
    ///
    /// # Errors
    /// `Overflow` if `out` is shorter than 4 bytes.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, CodecError> {
        if out.len() < SNAPSHOT_REQUEST_LEN {
            return Err(codec_err::overflow("snapshot request", 0));
        }
        put_u16(out, 0, 1);
        put_u16(out, 2, 0);
        Ok(SNAPSHOT_REQUEST_LEN)
    }

    /// Decodes a request. Extra bytes are ignored.
    ///
    /// # Errors
    /// `Truncated` (< 4 bytes) or `BadLayout` (layout_version or flags).
    pub fn decode(payload: &[u8]) -> Result<Self, CodecError> {
        if payload.len() < SNAPSHOT_REQUEST_LEN {
            return Err(codec_err::truncated("snapshot request", payload.len()));
        }
        if get_u16(payload, 0) != 1 {
            return Err(codec_err::layout("snapshot request layout_version", 0));
        }
        if get_u16(payload, 2) != 0 {
            return Err(codec_err::layout("snapshot request flags", 2));
        }
        Ok(Self {})
    }
}

/// One cgroup of a snapshot: what a server adds
/// ([`SnapshotBuilder::add`]) and a client reads ([`SnapshotView::item`]).
///
/// Its identity is the pair (`hash`, `name`). `Default` is an item with
/// every field zero or empty, for struct update syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SnapshotItem<'a> {
    /// Producer-supplied hash of `name` (never recomputed here); Netdata
    /// producers use [`netdata_hash`](crate::netdata::netdata_hash).
    pub hash: u32,
    /// Opaque cgroup option flags (Netdata's bits are in
    /// [`netdata`](crate::netdata)).
    pub options: u32,
    /// Opaque enabled value, exactly as sent (Netdata: 1 enabled, 0 not).
    pub enabled: u32,
    /// The cgroup name (no NUL). May contain any byte except that the
    /// producer is expected not to send NULs (not checked).
    pub name: &'a [u8],
    /// The cgroup path (no NUL).
    pub path: &'a [u8],
}

/// A decoded snapshot response, borrowing the payload.
#[derive(Debug, Clone, Copy)]
#[must_use = "a decoded response is read through its view"]
pub struct SnapshotView<'a> {
    payload: &'a [u8],
    item_count: usize,
    systemd_enabled: u32,
    generation: u64,
}

impl<'a> SnapshotView<'a> {
    /// Validates the header and the directory (phase A of the spec).
    /// Creating the view takes one pass over the directory and allocates
    /// nothing; items are checked when read.
    ///
    /// # Errors
    /// In order: `Truncated` (< 24 bytes), `BadLayout` (layout_version,
    /// flags, reserved), `BadItemCount` (directory size overflows),
    /// `Truncated` (directory past the end), then per entry `BadAlignment`,
    /// `OutOfBounds`, `Truncated` (item shorter than 32 bytes).
    pub fn decode(payload: &'a [u8]) -> Result<Self, CodecError> {
        if payload.len() < SNAPSHOT_HEADER_LEN {
            return Err(codec_err::truncated("snapshot header", payload.len()));
        }
        if get_u16(payload, 0) != 1 {
            return Err(codec_err::layout("snapshot layout_version", 0));
        }
        if get_u16(payload, 2) != 0 {
            return Err(codec_err::layout("snapshot flags", 2));
        }
        if get_u32(payload, 12) != 0 {
            return Err(codec_err::layout("snapshot reserved", 12));
        }
        let item_count = get_u32(payload, 4) as usize;
        let dir_len = item_count
            .checked_mul(DIR_ENTRY_LEN)
            .ok_or(codec_err::count("snapshot item_count", 4))?;
        let packed_start = end_within(SNAPSHOT_HEADER_LEN, dir_len, payload.len())
            .ok_or(codec_err::truncated("snapshot directory", payload.len()))?;
        let packed_len = payload.len() - packed_start;
        for i in 0..item_count {
            let at = SNAPSHOT_HEADER_LEN + i * DIR_ENTRY_LEN;
            let offset = get_u32(payload, at) as usize;
            let len = get_u32(payload, at + 4) as usize;
            if offset % 8 != 0 {
                return Err(codec_err::align("snapshot item offset", at));
            }
            if end_within(offset, len, packed_len).is_none() {
                return Err(codec_err::bounds("snapshot item length", at + 4));
            }
            if len < SNAPSHOT_ITEM_HEADER_LEN {
                return Err(codec_err::truncated("snapshot item length", at + 4));
            }
        }
        Ok(Self {
            payload,
            item_count,
            systemd_enabled: get_u32(payload, 8),
            generation: get_u64(payload, 16),
        })
    }

    /// The view over `payload`, which [`decode`](Self::decode) accepted
    /// already: the header and directory are not checked again (debug
    /// builds do). For a client that validated the response when it
    /// arrived.
    pub(crate) fn from_checked(payload: &'a [u8]) -> Self {
        debug_assert!(
            Self::decode(payload).is_ok(),
            "a snapshot view over unchecked bytes"
        );
        Self {
            payload,
            item_count: get_u32(payload, 4) as usize,
            systemd_enabled: get_u32(payload, 8),
            generation: get_u64(payload, 16),
        }
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.item_count
    }

    /// Size of the decoded payload in bytes.
    pub(crate) fn payload_len(&self) -> usize {
        self.payload.len()
    }

    /// Whether the snapshot is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.item_count == 0
    }

    /// The producer's opaque `systemd_enabled` value.
    #[must_use]
    pub fn systemd_enabled(&self) -> u32 {
        self.systemd_enabled
    }

    /// The producer's generation number.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Reads and validates item `index` (phase B of the spec).
    ///
    /// # Errors
    /// `OutOfBounds` for an index past the end; otherwise the item's first
    /// violated rule, with the offset relative to the payload start:
    /// `BadLayout` (layout_version, flags, name/path ranges intersecting),
    /// `OutOfBounds` (string offset below 32 or past the item),
    /// `MissingNul`.
    pub fn item(&self, index: usize) -> Result<SnapshotItem<'a>, CodecError> {
        if index >= self.item_count {
            return Err(codec_err::bounds("snapshot item index", 4));
        }
        let packed_start = SNAPSHOT_HEADER_LEN + self.item_count * DIR_ENTRY_LEN;
        let at = SNAPSHOT_HEADER_LEN + index * DIR_ENTRY_LEN;
        let start = packed_start + get_u32(self.payload, at) as usize;
        let len = get_u32(self.payload, at + 4) as usize;
        let item = &self.payload[start..start + len];
        decode_item(item).map_err(|e| e.shifted(start))
    }

    /// The payload the view was decoded from.
    #[doc(hidden)]
    #[must_use]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.payload
    }

    /// Item `index` of `payload`, a response decoded earlier by
    /// [`decode`](Self::decode): checks the header, that one directory
    /// entry and the item (phase B), not the other entries. For readers
    /// whose only handle on the response is its payload (the C API's
    /// views).
    ///
    /// # Errors
    /// `OutOfBounds` for an index past the end; the violated rule of the
    /// header, the entry or the item.
    #[doc(hidden)]
    pub fn item_at(payload: &'a [u8], index: usize) -> Result<SnapshotItem<'a>, CodecError> {
        if payload.len() < SNAPSHOT_HEADER_LEN {
            return Err(codec_err::truncated("snapshot header", payload.len()));
        }
        let item_count = get_u32(payload, 4) as usize;
        if index >= item_count {
            return Err(codec_err::bounds("snapshot item index", 4));
        }
        let packed_start = item_count
            .checked_mul(DIR_ENTRY_LEN)
            .and_then(|d| end_within(SNAPSHOT_HEADER_LEN, d, payload.len()))
            .ok_or(codec_err::truncated("snapshot directory", payload.len()))?;
        let at = SNAPSHOT_HEADER_LEN + index * DIR_ENTRY_LEN;
        let offset = get_u32(payload, at) as usize;
        let len = get_u32(payload, at + 4) as usize;
        if offset % 8 != 0 {
            return Err(codec_err::align("snapshot item offset", at));
        }
        let Some(end) = end_within(offset, len, payload.len() - packed_start) else {
            return Err(codec_err::bounds("snapshot item length", at + 4));
        };
        if len < SNAPSHOT_ITEM_HEADER_LEN {
            return Err(codec_err::truncated("snapshot item length", at + 4));
        }
        let start = packed_start + offset;
        decode_item(&payload[start..packed_start + end]).map_err(|e| e.shifted(start))
    }

    /// Every item in order; each one is validated as it is yielded.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Result<SnapshotItem<'a>, CodecError>> + 'a {
        let view = *self;
        (0..self.item_count).map(move |i| view.item(i))
    }
}

fn item_string<'a>(
    item: &'a [u8],
    at: usize,
    what: &'static str,
) -> Result<(&'a [u8], usize, usize), CodecError> {
    let offset = get_u32(item, at) as usize;
    let len = get_u32(item, at + 4) as usize;
    if offset < SNAPSHOT_ITEM_HEADER_LEN {
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
    Ok((&item[offset..end - 1], offset, end))
}

fn decode_item(item: &[u8]) -> Result<SnapshotItem<'_>, CodecError> {
    if get_u16(item, 0) != 1 {
        return Err(codec_err::layout("snapshot item layout_version", 0));
    }
    if get_u16(item, 2) != 0 {
        return Err(codec_err::layout("snapshot item flags", 2));
    }
    let (name, name_start, name_end) = item_string(item, 16, "snapshot item name")?;
    let (path, path_start, path_end) = item_string(item, 24, "snapshot item path")?;
    if name_start < path_end && path_start < name_end {
        return Err(codec_err::layout("snapshot item name/path overlap", 24));
    }
    Ok(SnapshotItem {
        hash: get_u32(item, 4),
        options: get_u32(item, 8),
        enabled: get_u32(item, 12),
        name,
        path,
    })
}

/// How many items a response buffer of `len` bytes can reserve when nothing
/// else is known: `(len - 24) / 48`, or 0 for `len <= 24`.
#[must_use]
pub const fn estimate_max_items(len: usize) -> usize {
    if len <= SNAPSHOT_HEADER_LEN {
        0
    } else {
        (len - SNAPSHOT_HEADER_LEN) / MIN_ITEM_FOOTPRINT
    }
}

/// Builds a snapshot response in a caller-provided buffer.
///
/// Items are packed right after the header as they are added, with room
/// kept for one directory entry per item; [`finish`](Self::finish) moves
/// them up once and writes the directory (items are self-describing, so
/// nothing is reserved up front and the whole buffer is usable). The first
/// failed [`add`](Self::add) is remembered ([`error`](Self::error)) so a
/// dispatcher can report it even if the handler ignores it.
#[derive(Debug)]
#[must_use = "a builder writes a complete payload only in finish()"]
pub struct SnapshotBuilder<'a> {
    buf: &'a mut [u8],
    max_items: usize,
    count: usize,
    /// Absolute end of the last item, before `finish` moves the items up.
    end: usize,
    systemd_enabled: u32,
    generation: u64,
    error: Option<CodecError>,
}

impl<'a> SnapshotBuilder<'a> {
    /// Starts a response of at most `max_items` items, with
    /// `systemd_enabled` and `generation` 0 until set.
    ///
    /// # Errors
    /// `Overflow` if `buf` cannot hold the header and `max_items` directory
    /// entries.
    pub fn new(buf: &'a mut [u8], max_items: u32) -> Result<Self, CodecError> {
        let max_items = max_items as usize;
        if max_items
            .checked_mul(DIR_ENTRY_LEN)
            .and_then(|d| end_within(SNAPSHOT_HEADER_LEN, d, buf.len()))
            .is_none()
        {
            return Err(codec_err::overflow("snapshot directory reservation", 0));
        }
        Ok(Self {
            buf,
            max_items,
            count: 0,
            end: SNAPSHOT_HEADER_LEN,
            systemd_enabled: 0,
            generation: 0,
            error: None,
        })
    }

    /// Sets the generation written by [`finish`](Self::finish).
    pub fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }

    /// Sets the opaque `systemd_enabled` value written by
    /// [`finish`](Self::finish).
    pub fn set_systemd_enabled(&mut self, systemd_enabled: u32) {
        self.systemd_enabled = systemd_enabled;
    }

    /// Items added so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no item was added yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first error an [`add`](Self::add) returned, if any.
    #[must_use]
    pub fn error(&self) -> Option<CodecError> {
        self.error
    }

    /// Appends one item. Name and path are copied as they are.
    ///
    /// # Errors
    /// `Overflow` when `max_items` items exist or the item does not fit.
    pub fn add(&mut self, item: &SnapshotItem<'_>) -> Result<(), CodecError> {
        let result = self.try_add(item);
        if let Err(e) = result {
            self.error.get_or_insert(e);
        }
        result
    }

    fn try_add(&mut self, item: &SnapshotItem<'_>) -> Result<(), CodecError> {
        let SnapshotItem {
            hash,
            options,
            enabled,
            name,
            path,
        } = *item;
        if self.count == self.max_items {
            return Err(codec_err::overflow("snapshot item count", 4));
        }
        let start = align8(self.end);
        let size = SNAPSHOT_ITEM_HEADER_LEN
            .checked_add(name.len())
            .and_then(|s| s.checked_add(path.len()))
            .and_then(|s| s.checked_add(2));
        // The item, plus one directory entry for it and every earlier item.
        let directory = (self.count + 1) * DIR_ENTRY_LEN;
        let fits = size
            .and_then(|s| s.checked_add(directory))
            .and_then(|s| end_within(start, s, self.buf.len()));
        let (Some(size), Some(_)) = (size, fits) else {
            return Err(codec_err::overflow("snapshot item", start));
        };
        let end = start + size;
        let (Some(_), Some(_), Some(name_len), Some(path_len)) = (
            to_u32(start - SNAPSHOT_HEADER_LEN),
            to_u32(size),
            to_u32(name.len()),
            to_u32(path.len()),
        ) else {
            return Err(codec_err::overflow("snapshot item offset", start));
        };
        self.buf[self.end..start].fill(0);
        let item = &mut self.buf[start..end];
        let name_at = SNAPSHOT_ITEM_HEADER_LEN;
        let path_at = name_at + name.len() + 1;
        put_u16(item, 0, 1);
        put_u16(item, 2, 0);
        put_u32(item, 4, hash);
        put_u32(item, 8, options);
        put_u32(item, 12, enabled);
        put_u32(item, 16, name_at as u32);
        put_u32(item, 20, name_len);
        put_u32(item, 24, path_at as u32);
        put_u32(item, 28, path_len);
        item[name_at..path_at - 1].copy_from_slice(name);
        item[path_at - 1] = 0;
        item[path_at..size - 1].copy_from_slice(path);
        item[size - 1] = 0;
        self.end = end;
        self.count += 1;
        Ok(())
    }

    /// Moves the items up behind the directory, writes the directory and
    /// the header, and returns the payload length (`24` for an empty
    /// snapshot). The last item is not padded.
    #[must_use = "the payload is the first `len` bytes of the buffer"]
    pub fn finish(self) -> usize {
        let shift = self.count * DIR_ENTRY_LEN;
        let packed_start = SNAPSHOT_HEADER_LEN + shift;
        self.buf
            .copy_within(SNAPSHOT_HEADER_LEN..self.end, packed_start);
        // Every item was written by `add`, so its length follows from its
        // own string lengths, and offsets and lengths fit a u32.
        let mut at = 0;
        for i in 0..self.count {
            let item = packed_start + at;
            let len = SNAPSHOT_ITEM_HEADER_LEN
                + get_u32(self.buf, item + 20) as usize
                + get_u32(self.buf, item + 28) as usize
                + 2;
            let entry = SNAPSHOT_HEADER_LEN + i * DIR_ENTRY_LEN;
            put_u32(self.buf, entry, at as u32);
            put_u32(self.buf, entry + 4, len as u32);
            at = align8(at + len);
        }
        put_u16(self.buf, 0, 1);
        put_u16(self.buf, 2, 0);
        // count <= max_items, whose directory size was checked against the buffer.
        put_u32(self.buf, 4, self.count as u32);
        put_u32(self.buf, 8, self.systemd_enabled);
        put_u32(self.buf, 12, 0);
        put_u64(self.buf, 16, self.generation);
        self.end + shift
    }
}
