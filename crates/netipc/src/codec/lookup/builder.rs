//! The budget-aware core shared by both lookup response builders.
//!
//! The builder reserves the directory for `max_items` entries, packs items
//! at 8-aligned offsets and applies the payload-pressure rules of the spec:
//! an item that cannot be placed together with the minimal placeholders of
//! every later item of the request becomes `OVERSIZED_ITEM` (if it is the
//! first item) or starts the `PAYLOAD_EXCEEDED` suffix (otherwise). The
//! first error is sticky so the dispatcher can report it even when a
//! handler ignores it.

use super::LOOKUP_HEADER_LEN;
use super::validate::LABEL_ENTRY_LEN;
use crate::bytes::{align8, end_within, has_nul, put_u16, put_u32, put_u64, to_u32};
use crate::error::{CodecError, codec_err};
use crate::wire::DIR_ENTRY_LEN;

/// The byte layout of one item: fixed header, fixed strings packed after
/// it, then (with labels) zero padding, the label table and label strings.
pub(crate) struct ItemLayout<const N: usize> {
    /// Offsets of the fixed strings, relative to the item start.
    pub(crate) offsets: [usize; N],
    pub(crate) fixed_end: usize,
    pub(crate) size: usize,
}

impl<const N: usize> ItemLayout<N> {
    /// Computes the layout; `None` if a size overflows.
    pub(crate) fn compute<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        header_len: usize,
        fixed: [&[u8]; N],
        labels: &[(K, V)],
    ) -> Option<Self> {
        let mut offsets = [0usize; N];
        let mut cursor = header_len;
        for (slot, s) in offsets.iter_mut().zip(fixed) {
            *slot = cursor;
            cursor = cursor.checked_add(s.len())?.checked_add(1)?;
        }
        let fixed_end = cursor;
        let size = if labels.is_empty() {
            fixed_end
        } else {
            let mut end =
                align8(fixed_end).checked_add(labels.len().checked_mul(LABEL_ENTRY_LEN)?)?;
            for (k, v) in labels {
                end = end
                    .checked_add(k.as_ref().len())?
                    .checked_add(v.as_ref().len())?
                    .checked_add(2)?;
            }
            end
        };
        to_u32(size)?;
        Some(Self {
            offsets,
            fixed_end,
            size,
        })
    }

    /// Writes the fixed strings, the padding, the label table and the label
    /// strings into `item` (exactly `size` bytes). The caller writes the
    /// fixed header.
    pub(crate) fn write_body<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &self,
        item: &mut [u8],
        fixed: [&[u8]; N],
        labels: &[(K, V)],
    ) {
        for (&at, s) in self.offsets.iter().zip(fixed) {
            item[at..at + s.len()].copy_from_slice(s);
            item[at + s.len()] = 0;
        }
        if labels.is_empty() {
            return;
        }
        let table = align8(self.fixed_end);
        item[self.fixed_end..table].fill(0);
        let mut cursor = table + labels.len() * LABEL_ENTRY_LEN;
        for (i, (k, v)) in labels.iter().enumerate() {
            let entry = table + i * LABEL_ENTRY_LEN;
            for (slot, s) in [(entry, k.as_ref()), (entry + 8, v.as_ref())] {
                // Every offset and length is below `size`, which fits a u32.
                put_u32(item, slot, cursor as u32);
                put_u32(item, slot + 4, s.len() as u32);
                item[cursor..cursor + s.len()].copy_from_slice(s);
                item[cursor + s.len()] = 0;
                cursor += s.len() + 1;
            }
        }
    }
}

/// Checks caller strings: no NUL anywhere, label keys non-empty.
pub(crate) fn check_strings<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    fixed: &[&[u8]],
    labels: &[(K, V)],
) -> Result<(), CodecError> {
    if fixed.iter().any(|s| has_nul(s)) {
        return Err(codec_err::layout("lookup item string contains NUL", 0));
    }
    for (k, v) in labels {
        if k.as_ref().is_empty() {
            return Err(codec_err::layout("lookup label key is empty", 0));
        }
        if has_nul(k.as_ref()) || has_nul(v.as_ref()) {
            return Err(codec_err::layout("lookup label contains NUL", 0));
        }
    }
    Ok(())
}

/// Buffer management, directory, suffix reservation and sticky error.
#[derive(Debug)]
pub(crate) struct Core<'a> {
    buf: &'a mut [u8],
    max_items: usize,
    count: usize,
    /// Absolute end of the last item written.
    end: usize,
    generation: u64,
    /// Bytes reserved for the placeholders of items `count..n`.
    suffix: usize,
    /// Number of items the reservation covers.
    reserved_for: usize,
    suffix_mode: bool,
    /// Whether the budget turned the first item into `OVERSIZED_ITEM`.
    oversized: bool,
    error: Option<CodecError>,
}

impl<'a> Core<'a> {
    pub(crate) fn new(
        buf: &'a mut [u8],
        max_items: u32,
        generation: u64,
    ) -> Result<Self, CodecError> {
        let max_items = max_items as usize;
        let Some(end) = max_items
            .checked_mul(DIR_ENTRY_LEN)
            .and_then(|d| end_within(LOOKUP_HEADER_LEN, d, buf.len()))
        else {
            return Err(codec_err::overflow("lookup directory reservation", 0));
        };
        Ok(Self {
            buf,
            max_items,
            count: 0,
            end,
            generation,
            suffix: 0,
            reserved_for: 0,
            suffix_mode: false,
            oversized: false,
            error: None,
        })
    }

    /// Reserves room for the placeholders of `n` items whose sizes
    /// `placeholder_len(i)` gives: `suffix[i] = align8(p_i) + suffix[i+1]`,
    /// the last one unpadded.
    pub(crate) fn reserve(&mut self, n: usize, placeholder_len: impl Fn(usize) -> usize) {
        self.reserved_for = n;
        self.suffix = (0..n).map(|i| self.step(i, placeholder_len(i))).sum();
    }

    fn step(&self, index: usize, placeholder_len: usize) -> usize {
        if index + 1 < self.reserved_for {
            align8(placeholder_len)
        } else if index < self.reserved_for {
            placeholder_len
        } else {
            0
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    pub(crate) fn error(&self) -> Option<CodecError> {
        self.error
    }

    pub(crate) fn suffix_mode(&self) -> bool {
        self.suffix_mode
    }

    pub(crate) fn set_generation(&mut self, generation: u64) {
        self.generation = generation;
    }

    /// Records the first error and returns it.
    pub(crate) fn fail(&mut self, e: CodecError) -> CodecError {
        *self.error.get_or_insert(e)
    }

    /// Fails with a sticky `Overflow` when the directory is full.
    pub(crate) fn check_room(&mut self) -> Result<(), CodecError> {
        if self.count == self.max_items {
            return Err(self.fail(codec_err::overflow("lookup item count", 4)));
        }
        Ok(())
    }

    /// Whether an item of `size` bytes fits at the next aligned position
    /// together with the placeholders reserved for the items after it.
    /// `size == None` means its size overflowed.
    pub(crate) fn fits(&self, size: Option<usize>, placeholder_len: usize) -> bool {
        let start = align8(self.end);
        let Some(item_end) = size.and_then(|s| start.checked_add(s)) else {
            return false;
        };
        let rest = self.suffix - self.step(self.count, placeholder_len).min(self.suffix);
        let needed = if rest > 0 {
            align8(item_end).checked_add(rest)
        } else {
            Some(item_end)
        };
        needed.is_some_and(|n| n <= self.buf.len())
    }

    /// Enters suffix mode: every later item becomes `PAYLOAD_EXCEEDED`.
    pub(crate) fn enter_suffix_mode(&mut self) {
        self.suffix_mode = true;
    }

    /// Records that the budget turned the first item into `OVERSIZED_ITEM`.
    pub(crate) fn note_oversized(&mut self) {
        self.oversized = true;
    }

    /// Whether the budget converted any item (to `OVERSIZED_ITEM` or into
    /// the `PAYLOAD_EXCEEDED` suffix).
    pub(crate) fn budget_converted(&self) -> bool {
        self.oversized || self.suffix_mode
    }

    /// The zeroed gap before the next item is written and the item's bytes
    /// are returned for writing; `None` (and a sticky `Overflow`) if `size`
    /// bytes do not fit at the next aligned position.
    pub(crate) fn slot(&mut self, size: usize) -> Result<(usize, &mut [u8]), CodecError> {
        let start = align8(self.end);
        let Some(end) = end_within(start, size, self.buf.len()) else {
            return Err(self.fail(codec_err::overflow("lookup item", start)));
        };
        self.buf[self.end..start].fill(0);
        Ok((start, &mut self.buf[start..end]))
    }

    /// Records the item written at `start` (from [`slot`](Self::slot)).
    pub(crate) fn commit(&mut self, start: usize, size: usize, placeholder_len: usize) {
        let packed_start = LOOKUP_HEADER_LEN + self.max_items * DIR_ENTRY_LEN;
        let entry = LOOKUP_HEADER_LEN + self.count * DIR_ENTRY_LEN;
        // Both fit: the item lies inside the buffer and its size fits a u32.
        put_u32(self.buf, entry, (start - packed_start) as u32);
        put_u32(self.buf, entry + 4, size as u32);
        self.suffix -= self.step(self.count, placeholder_len).min(self.suffix);
        self.end = start + size;
        self.count += 1;
    }

    /// Writes the header, compacts the directory reservation and returns
    /// the payload length.
    pub(crate) fn finish(self) -> usize {
        let reserved_start = LOOKUP_HEADER_LEN + self.max_items * DIR_ENTRY_LEN;
        let packed_start = LOOKUP_HEADER_LEN + self.count * DIR_ENTRY_LEN;
        if packed_start != reserved_start {
            self.buf.copy_within(reserved_start..self.end, packed_start);
        }
        put_u16(self.buf, 0, 1);
        put_u16(self.buf, 2, 0);
        put_u32(self.buf, 4, self.count as u32);
        put_u64(self.buf, 8, self.generation);
        self.end - (reserved_start - packed_start)
    }
}
