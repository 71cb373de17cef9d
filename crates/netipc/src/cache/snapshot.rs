//! One published generation of the cache: owned items, their strings (each
//! followed by a NUL) in one buffer, and an open-addressing index over
//! `(hash, name)`.

use crate::codec::SnapshotView;
use crate::error::CodecError;

/// Multiplier of the slot mixing (2^64 / golden ratio).
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;
/// Multiplier of the name hash (the FxHash constant).
const NAME_MUL: u64 = 0x517C_C1B7_2722_0A95;
/// Fewest index slots of a non-empty snapshot.
const MIN_SLOTS: usize = 16;
/// Payload bytes every item of a snapshot takes at the least when items do
/// not overlap: its directory entry and its fixed part.
const MIN_ITEM_BYTES: usize = crate::wire::DIR_ENTRY_LEN + crate::codec::SNAPSHOT_ITEM_HEADER_LEN;
/// Longest probe sequence the index accepts when it is keyed by the
/// producer's hash alone; a longer one means the producer's hashes are
/// poor, and the index is rebuilt with the names mixed into the key.
const MAX_PROBE: usize = 32;

/// Fixed fields of one item and where its strings are.
#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u32,
    options: u32,
    enabled: u32,
    name: (u32, u32),
    path: (u32, u32),
}

/// An immutable snapshot, shared by every reader that loaded it.
#[derive(Debug)]
pub(crate) struct Snapshot {
    entries: Vec<Entry>,
    strings: Vec<u8>,
    /// `key << 32 | (item index + 1)`; 0 marks an empty slot. Keeping the
    /// key in the slot rejects most mismatches without touching `entries`.
    slots: Vec<u64>,
    /// `slots.len() - 1` (a power of two minus one).
    mask: usize,
    /// Shift that turns the mixed key into a slot number.
    shift: u32,
    /// Whether keys include a hash of the name (only when the producer's
    /// hashes collide too much to be used alone).
    mix_names: bool,
    pub(crate) generation: u64,
    pub(crate) systemd_enabled: u32,
}

/// A hash of `name` read 8 bytes at a time, mixed into the producer's
/// hash when a producer sends equal hashes for many different names, so
/// the index does not degrade to a list.
fn name_hash(name: &[u8]) -> u32 {
    let mut h = name.len() as u64;
    let mut chunks = name.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        h = (h.rotate_left(5) ^ word).wrapping_mul(NAME_MUL);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(NAME_MUL);
    }
    (h >> 32) as u32 ^ h as u32
}

impl Snapshot {
    /// The snapshot of a cache that has none.
    pub(crate) const EMPTY: &'static Snapshot = &Snapshot {
        entries: Vec::new(),
        strings: Vec::new(),
        slots: Vec::new(),
        mask: 0,
        shift: 0,
        mix_names: false,
        generation: 0,
        systemd_enabled: 0,
    };

    /// Copies every item of `view` (validating each one) and indexes them.
    ///
    /// The copy is never larger than what arrived: items that do not
    /// overlap (as every producer lays them out) take at least
    /// [`MIN_ITEM_BYTES`] payload bytes each and hold their strings, so a
    /// snapshot with more items than that, or more string bytes than its
    /// payload, can only point several directory entries at the same bytes
    /// and is refused before it is copied.
    ///
    /// # Errors
    /// The first item that fails validation; `BadItemCount` for more items
    /// than the payload can hold apart; `OutOfBounds` for more string
    /// bytes than the payload.
    pub(crate) fn build(view: &SnapshotView<'_>) -> Result<Self, CodecError> {
        let count = view.len();
        let payload = view.payload_len();
        if count.saturating_mul(MIN_ITEM_BYTES) > payload {
            return Err(crate::error::codec_err::count(
                "snapshot item_count (more items than the payload holds apart: items overlap)",
                4,
            ));
        }
        let mut entries = Vec::with_capacity(count);
        let mut strings = Vec::new();
        for item in view.iter() {
            let item = item?;
            // Each string is stored with a NUL after it (as on the wire), so
            // C callers can read it in place (`CacheGuard::c_strings`).
            let mut place = |s: &[u8]| -> Result<(u32, u32), CodecError> {
                let start = strings.len();
                if start + s.len() + 1 > payload {
                    return Err(crate::error::codec_err::bounds(
                        "snapshot strings (more string bytes than the payload: items overlap)",
                        0,
                    ));
                }
                if strings.capacity() < start + s.len() + 1 {
                    let target = strings
                        .capacity()
                        .saturating_mul(2)
                        .clamp(start + s.len() + 1, payload);
                    strings.reserve_exact(target - start);
                }
                strings.extend_from_slice(s);
                strings.push(0);
                let start = u32::try_from(start).map_err(|_| too_big())?;
                let len = u32::try_from(s.len()).map_err(|_| too_big())?;
                Ok((start, len))
            };
            let name = place(item.name)?;
            let path = place(item.path)?;
            entries.push(Entry {
                hash: item.hash,
                options: item.options,
                enabled: item.enabled,
                name,
                path,
            });
        }
        strings.shrink_to_fit();
        let mut snapshot = Self {
            entries,
            strings,
            slots: Vec::new(),
            mask: 0,
            shift: 0,
            mix_names: false,
            generation: view.generation(),
            systemd_enabled: view.systemd_enabled(),
        };
        snapshot.index();
        Ok(snapshot)
    }

    /// Builds the index: at least twice as many slots as items (a power of
    /// two, at least 16), linear probing, insertion in item order so the
    /// first of duplicate `(hash, name)` pairs is found first. The key is
    /// the producer's hash (already a hash of the name) unless that makes
    /// some probe sequence longer than [`MAX_PROBE`].
    fn index(&mut self) {
        if self.entries.is_empty() {
            return;
        }
        let slots = (2 * self.entries.len()).next_power_of_two().max(MIN_SLOTS);
        self.mask = slots - 1;
        self.shift = 64 - slots.trailing_zeros();
        self.mix_names = false;
        if !self.fill(MAX_PROBE) {
            self.mix_names = true;
            self.fill(usize::MAX);
        }
    }

    /// Inserts every item; gives up (returns false) when an insertion
    /// probes more than `max_probe` slots.
    fn fill(&mut self, max_probe: usize) -> bool {
        self.slots.clear();
        self.slots.resize(self.mask + 1, 0);
        for i in 0..self.entries.len() {
            let e = self.entries[i];
            let k = self.key(e.hash, self.bytes(e.name));
            let mut s = self.slot(k);
            let mut probes = 0;
            while self.slots[s] != 0 {
                probes += 1;
                if probes > max_probe {
                    return false;
                }
                s = (s + 1) & self.mask;
            }
            self.slots[s] = u64::from(k) << 32 | (i as u64 + 1);
        }
        true
    }

    #[inline]
    fn key(&self, hash: u32, name: &[u8]) -> u32 {
        if self.mix_names {
            hash ^ name_hash(name)
        } else {
            hash
        }
    }

    #[inline]
    fn slot(&self, key: u32) -> usize {
        (u64::from(key).wrapping_mul(MIX) >> self.shift) as usize
    }

    #[inline]
    fn bytes(&self, (start, len): (u32, u32)) -> &[u8] {
        &self.strings[start as usize..start as usize + len as usize]
    }

    /// A string with the NUL stored after it.
    #[inline]
    fn with_nul(&self, (start, len): (u32, u32)) -> &[u8] {
        &self.strings[start as usize..start as usize + len as usize + 1]
    }

    /// The name and path of item `i` (which must exist), each with the NUL
    /// stored after it.
    pub(crate) fn nul_terminated(&self, i: usize) -> (&[u8], &[u8]) {
        let e = &self.entries[i];
        (self.with_nul(e.name), self.with_nul(e.path))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The first item whose hash and name both match.
    pub(crate) fn find(&self, hash: u32, name: &[u8]) -> Option<usize> {
        self.find_with(
            hash,
            || name,
            |stored| stored.split_last().map(|(_, n)| n) == Some(name),
        )
    }

    /// [`find`](Self::find) for a name whose bytes are costly to get:
    /// `name` gives them only when the key needs them, and `is_name` says
    /// whether a stored name (that of an item with the right hash, with the
    /// NUL stored after it) is it.
    #[inline]
    pub(crate) fn find_with<'n>(
        &self,
        hash: u32,
        name: impl FnOnce() -> &'n [u8],
        is_name: impl Fn(&[u8]) -> bool,
    ) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let k = if self.mix_names {
            self.key(hash, name())
        } else {
            hash
        };
        let mut s = self.slot(k);
        loop {
            let slot = self.slots[s];
            if slot == 0 {
                return None;
            }
            if (slot >> 32) as u32 == k {
                let i = (slot as u32 - 1) as usize;
                let e = &self.entries[i];
                if e.hash == hash && is_name(self.with_nul(e.name)) {
                    return Some(i);
                }
            }
            s = (s + 1) & self.mask;
        }
    }

    /// Every item in order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = CachedItem<'_>> + '_ {
        (0..self.entries.len()).map(|i| self.item(i))
    }

    /// Item `i` (which must exist).
    pub(crate) fn item(&self, i: usize) -> CachedItem<'_> {
        let e = &self.entries[i];
        CachedItem {
            hash: e.hash,
            options: e.options,
            enabled: e.enabled,
            name: self.bytes(e.name),
            path: self.bytes(e.path),
        }
    }
}

fn too_big() -> CodecError {
    crate::error::codec_err::bounds("snapshot strings total", 0)
}

/// One cgroup in the cache, borrowed from the snapshot its guard holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CachedItem<'a> {
    /// The producer's hash of the name.
    pub hash: u32,
    /// Opaque cgroup option flags.
    pub options: u32,
    /// Opaque enabled value.
    pub enabled: u32,
    /// The cgroup name, exactly the bytes the producer sent.
    pub name: &'a [u8],
    /// The cgroup path, exactly the bytes the producer sent.
    pub path: &'a [u8],
}

impl CachedItem<'_> {
    /// An owned copy that outlives the guard and every later refresh.
    #[must_use]
    pub fn to_owned_item(&self) -> CacheItem {
        CacheItem {
            hash: self.hash,
            options: self.options,
            enabled: self.enabled,
            name: self.name.to_vec(),
            path: self.path.to_vec(),
        }
    }
}

/// An owned copy of a cached cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheItem {
    /// The producer's hash of the name.
    pub hash: u32,
    /// Opaque cgroup option flags.
    pub options: u32,
    /// Opaque enabled value.
    pub enabled: u32,
    /// The cgroup name, exactly the bytes the producer sent.
    pub name: Vec<u8>,
    /// The cgroup path, exactly the bytes the producer sent.
    pub path: Vec<u8>,
}

impl From<CachedItem<'_>> for CacheItem {
    fn from(item: CachedItem<'_>) -> Self {
        item.to_owned_item()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{SnapshotBuilder, SnapshotItem};

    fn snapshot(items: &[(u32, &str)]) -> Snapshot {
        let mut buf = vec![0u8; 1 << 20];
        let mut b = SnapshotBuilder::new(&mut buf, items.len() as u32).unwrap();
        b.set_systemd_enabled(1);
        b.set_generation(7);
        for &(hash, name) in items {
            b.add(&SnapshotItem {
                hash,
                options: 0,
                enabled: 1,
                name: name.as_bytes(),
                path: format!("/p/{name}").as_bytes(),
            })
            .unwrap();
        }
        let n = b.finish();
        Snapshot::build(&SnapshotView::decode(&buf[..n]).unwrap()).unwrap()
    }

    #[test]
    fn finds_by_hash_and_name_only() {
        let s = snapshot(&[(1, "a"), (2, "b"), (1, "c")]);
        assert!(!s.mix_names);
        assert_eq!(s.find(1, b"a"), Some(0));
        assert_eq!(s.find(1, b"c"), Some(2));
        assert_eq!(s.find(2, b"a"), None);
        assert_eq!(s.find(1, b"b"), None);
        assert_eq!(s.item(1).path, b"/p/b");
        assert_eq!(s.nul_terminated(1), (&b"b\0"[..], &b"/p/b\0"[..]));
    }

    #[test]
    fn equal_hashes_for_every_name_still_index_every_item() {
        let names: Vec<String> = (0..5000).map(|i| format!("cgroup-{i}")).collect();
        let items: Vec<(u32, &str)> = names.iter().map(|n| (0, n.as_str())).collect();
        let s = snapshot(&items);
        assert!(s.mix_names);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(s.find(0, n.as_bytes()), Some(i));
        }
    }

    #[test]
    fn an_empty_snapshot_has_no_index() {
        let s = snapshot(&[]);
        assert_eq!(s.find(0, b""), None);
        assert!(s.slots.is_empty());
    }
}
