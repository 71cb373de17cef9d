//! Batch payloads: an item directory followed by 8-aligned packed items.
//!
//! ```text
//! offset 0                   directory: item_count x {offset u32, length u32}
//! offset D = item_count * 8  packed item area; item i starts at D + offset_i
//! ```

use super::{ALIGNMENT, DIR_ENTRY_LEN};
use crate::bytes::{align8, end_within, get_u32, put_u32, to_u32};
use crate::error::{CodecError, codec_err};

/// The payload length of a batch holding items of the given lengths:
/// `8 * n + align8(end of the last item)`. `None` if it overflows a u32.
pub fn batch_payload_len<I: IntoIterator<Item = usize>>(item_lens: I) -> Option<usize> {
    let mut count = 0usize;
    let mut end = 0usize;
    for len in item_lens {
        end = align8(end).checked_add(len)?;
        count += 1;
    }
    let total = count.checked_mul(DIR_ENTRY_LEN)?.checked_add(align8(end))?;
    to_u32(total).map(|_| total)
}

/// Builds a batch payload in a caller-provided buffer.
///
/// The directory for `reserved` items is set aside up front; if fewer items
/// are added, [`finish`](Self::finish) moves the packed area down. Gap and
/// trailing padding bytes are written as zero, and the trailing padding is
/// part of the payload length, exactly like the reference encoder.
#[derive(Debug)]
#[must_use = "a builder writes a complete payload only in finish()"]
pub struct BatchBuilder<'a> {
    buf: &'a mut [u8],
    reserved: usize,
    count: usize,
    /// End of the last item, relative to the packed area.
    end: usize,
}

impl<'a> BatchBuilder<'a> {
    /// Starts a batch of at most `reserved` items in `buf`.
    ///
    /// # Errors
    /// `Overflow` if `buf` cannot even hold the directory.
    pub fn new(buf: &'a mut [u8], reserved: u32) -> Result<Self, CodecError> {
        let reserved = reserved as usize;
        match reserved.checked_mul(DIR_ENTRY_LEN) {
            Some(dir) if dir <= buf.len() => Ok(Self {
                buf,
                reserved,
                count: 0,
                end: 0,
            }),
            _ => Err(codec_err::overflow("batch directory", 0)),
        }
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

    fn packed_start(&self) -> usize {
        self.reserved * DIR_ENTRY_LEN
    }

    /// Appends a copy of `item`.
    ///
    /// # Errors
    /// `Overflow` when all reserved entries are used or the item does not fit.
    pub fn push(&mut self, item: &[u8]) -> Result<(), CodecError> {
        let space = self.item_space()?;
        if item.len() > space.len() {
            return Err(codec_err::overflow(
                "batch item",
                self.packed_start() + align8(self.end),
            ));
        }
        space[..item.len()].copy_from_slice(item);
        self.commit(item.len())
    }

    /// The writable space for the next item, starting at its aligned
    /// position. Write the item at the start of the slice and then call
    /// [`commit`](Self::commit) with its length; this lets a producer encode
    /// an item in place without a copy.
    ///
    /// # Errors
    /// `Overflow` when all reserved entries are used.
    pub fn item_space(&mut self) -> Result<&mut [u8], CodecError> {
        if self.count == self.reserved {
            return Err(codec_err::overflow("batch item count", 0));
        }
        let start = self
            .packed_start()
            .saturating_add(align8(self.end))
            .min(self.buf.len());
        let gap_from = self.packed_start() + self.end;
        self.buf[gap_from.min(start)..start].fill(0);
        Ok(&mut self.buf[start..])
    }

    /// Records the item written into [`item_space`](Self::item_space).
    ///
    /// # Errors
    /// `Overflow` when all reserved entries are used, the length exceeds the
    /// space, or an offset would not fit a u32.
    pub fn commit(&mut self, len: usize) -> Result<(), CodecError> {
        let offset = align8(self.end);
        let at = self.packed_start() + offset;
        if self.count == self.reserved || end_within(at, len, self.buf.len()).is_none() {
            return Err(codec_err::overflow("batch item", at));
        }
        let (Some(off32), Some(len32)) = (to_u32(offset), to_u32(len)) else {
            return Err(codec_err::overflow("batch item offset", at));
        };
        let entry = self.count * DIR_ENTRY_LEN;
        put_u32(self.buf, entry, off32);
        put_u32(self.buf, entry + 4, len32);
        self.end = offset + len;
        self.count += 1;
        Ok(())
    }

    /// Pads the packed area to a multiple of 8, closes the directory gap if
    /// fewer items than reserved were added, and returns the payload length.
    ///
    /// # Errors
    /// `Overflow` if the trailing padding does not fit the buffer or the
    /// payload length does not fit a u32.
    pub fn finish(self) -> Result<usize, CodecError> {
        let start = self.packed_start();
        let padded = align8(self.end);
        let Some(stop) = end_within(start, padded, self.buf.len()) else {
            return Err(codec_err::overflow("batch padding", start + self.end));
        };
        self.buf[start + self.end..stop].fill(0);
        let dir = self.count * DIR_ENTRY_LEN;
        if dir != start {
            self.buf.copy_within(start..stop, dir);
        }
        let total = dir + padded;
        to_u32(total).ok_or(codec_err::overflow("batch payload_len", 0))?;
        Ok(total)
    }
}

/// A validated, zero-copy view of a batch payload.
///
/// Creating the view checks every directory entry (alignment and bounds);
/// item access is O(1) and returns slices of the original buffer.
#[derive(Debug, Clone, Copy)]
#[must_use = "a decoded batch is read through its view"]
pub struct BatchView<'a> {
    payload: &'a [u8],
    count: usize,
}

impl<'a> BatchView<'a> {
    /// Validates the directory of a batch of `item_count` items.
    ///
    /// # Errors
    /// `BadItemCount` if the directory size overflows, `Truncated` if the
    /// payload is shorter than the directory, `BadAlignment` for an offset
    /// that is not a multiple of 8 and `OutOfBounds` for an item running past
    /// the packed area.
    pub fn new(payload: &'a [u8], item_count: u32) -> Result<Self, CodecError> {
        let count = item_count as usize;
        let dir = count
            .checked_mul(DIR_ENTRY_LEN)
            .filter(|d| to_u32(*d).is_some())
            .ok_or(codec_err::count("batch directory size", 0))?;
        if payload.len() < dir {
            return Err(codec_err::truncated("batch directory", payload.len()));
        }
        let view = Self { payload, count };
        for i in 0..count {
            view.entry(i)?;
        }
        Ok(view)
    }

    /// The view of a batch whose directory [`new`](Self::new) accepted
    /// already (the session checked it on receipt): not checked again
    /// up front (debug builds do); reading an item still checks its entry.
    pub(crate) fn from_checked(payload: &'a [u8], item_count: u32) -> Self {
        debug_assert!(
            Self::new(payload, item_count).is_ok(),
            "a batch view over unchecked bytes"
        );
        Self {
            payload,
            count: item_count as usize,
        }
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the batch has no items.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn entry(&self, i: usize) -> Result<&'a [u8], CodecError> {
        let at = i * DIR_ENTRY_LEN;
        let packed = &self.payload[self.count * DIR_ENTRY_LEN..];
        let offset = get_u32(self.payload, at) as usize;
        let len = get_u32(self.payload, at + 4) as usize;
        if offset % ALIGNMENT != 0 {
            return Err(codec_err::align("batch item offset", at));
        }
        match end_within(offset, len, packed.len()) {
            Some(end) => Ok(&packed[offset..end]),
            None => Err(codec_err::bounds("batch item length", at + 4)),
        }
    }

    /// Item `index`, or `None` past the end.
    #[must_use]
    pub fn item(&self, index: usize) -> Option<&'a [u8]> {
        if index >= self.count {
            return None;
        }
        self.entry(index).ok()
    }

    /// The items in order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let view = *self;
        (0..self.count).map(move |i| view.entry(i).unwrap_or_default())
    }
}
