//! Harness bodies of the netipc fuzz targets.
//!
//! Every fuzz target in `fuzz_targets/` is a one-line call of the function
//! of the same name below. Each function feeds the input to a decoder or
//! parser of the library and asserts properties that must hold for *every*
//! input: no panic, accepted inputs re-encode to an equal value, documented
//! check orders, builder budget rules. A failing assertion is a bug.
//!
//! This file depends on nothing but `std` and `netipc`:
//! `crates/netipc-tests/tests/fuzz_regressions.rs` compiles it as a module and
//! replays the inputs kept in
//! `crates/netipc-tests/tests/data/fuzz-regressions/<target>/` through it in the
//! normal test suite.

use netipc::codec::{
    self, APPS_LOOKUP_ITEM_HEADER_LEN, APPS_LOOKUP_PLACEHOLDER_LEN, AppsEntry, AppsLookupBuilder,
    AppsLookupItem, AppsLookupRequest, AppsLookupView, CGROUPS_LOOKUP_ITEM_HEADER_LEN,
    CgroupStatus, CgroupsEntry, CgroupsLookupBuilder, CgroupsLookupItem, CgroupsLookupRequest,
    CgroupsLookupStatus, CgroupsLookupView, DispatchError, LABEL_ENTRY_LEN, LOOKUP_HEADER_LEN,
    Label, PidStatus, SNAPSHOT_HEADER_LEN, SNAPSHOT_ITEM_HEADER_LEN, SnapshotBuilder, SnapshotItem,
    SnapshotRequest, SnapshotView,
};
use netipc::transport::framing::{
    self, FirstPacket, InFlight, Limits, Packets, ProtocolError, Reassembly,
};
use netipc::transport::handshake::{self, HandshakeError, ServerOffer, SessionParams};
use netipc::transport::names::{self, NameError};
use netipc::transport::testing;
use netipc::wire::{
    self, BatchBuilder, BatchView, ChunkHeader, HEADER_LEN, HELLO_ACK_LEN, HELLO_LEN, Header,
    Hello, HelloAck, MessageKind, TransportStatus,
};
use netipc::{CodecError, CodecErrorKind};

/// A harness body: one fuzz input in, panics on a violated property.
pub type Harness = fn(&[u8]);

/// Every harness, by fuzz target name (the name of the file in
/// `fuzz_targets/` and of the directory of its regression inputs).
pub const TARGETS: &[(&str, Harness)] = &[
    ("header", header),
    ("chunk_header", chunk_header),
    ("hello", hello),
    ("hello_ack", hello_ack),
    ("batch_view", batch_view),
    ("increment", increment),
    ("string_reverse", string_reverse),
    ("snapshot_request", snapshot_request),
    ("snapshot_response", snapshot_response),
    ("snapshot_cache", snapshot_cache),
    ("cgroups_lookup_request", cgroups_lookup_request),
    ("cgroups_lookup_response", cgroups_lookup_response),
    ("cgroups_lookup_dispatch", cgroups_lookup_dispatch),
    ("apps_lookup_request", apps_lookup_request),
    ("apps_lookup_response", apps_lookup_response),
    ("apps_lookup_dispatch", apps_lookup_dispatch),
    ("receiver", receiver),
    ("server_handshake", server_handshake),
    ("client_handshake", client_handshake),
    ("names", names),
];

/// Round-trip buffers larger than this are skipped (keeps every execution
/// fast; libFuzzer inputs are a few KiB, so this is never reached there).
const MAX_REBUILD: usize = 1 << 24;

/// Sequential reader of harness parameters (little-endian).
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.0.split_first_chunk::<N>()?;
        self.0 = tail;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes::<1>().map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.bytes().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.bytes().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.bytes().map(u64::from_le_bytes)
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n.min(self.0.len()));
        self.0 = tail;
        head
    }
    fn rest(self) -> &'a [u8] {
        self.0
    }
}

fn ne_u16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn ne_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn ne_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(a)
}

const fn align8(x: usize) -> usize {
    (x + 7) & !7
}

/// Packed-area size of items placed at 8-aligned offsets, the last one
/// unpadded (the layout of every NetIPC item area).
fn packed_len(sizes: impl IntoIterator<Item = usize>) -> usize {
    let mut end = 0;
    for s in sizes {
        end = align8(end) + s;
    }
    end
}

/// A decoder error names a byte inside the buffer (or its end, for
/// truncation).
fn assert_offset(e: &CodecError, len: usize) {
    assert!(
        e.offset() <= len,
        "error offset {} is past the {len}-byte input: {e}",
        e.offset()
    );
}

fn assert_no_nul(s: &[u8], what: &str) {
    assert!(!s.contains(&0), "{what} contains a NUL: {s:?}");
}

// ---- wire -----------------------------------------------------------------

/// `wire::Header::decode`: check order, exact re-encoding.
pub fn header(data: &[u8]) {
    let expected = if data.len() < HEADER_LEN {
        Some(CodecErrorKind::Truncated)
    } else if ne_u32(data, 0) != wire::MAGIC {
        Some(CodecErrorKind::BadMagic)
    } else if ne_u16(data, 4) != wire::VERSION {
        Some(CodecErrorKind::BadVersion)
    } else if usize::from(ne_u16(data, 6)) != HEADER_LEN {
        Some(CodecErrorKind::BadHeaderLen)
    } else if !(1..=3).contains(&ne_u16(data, 8)) {
        Some(CodecErrorKind::BadKind)
    } else {
        None
    };
    match Header::decode(data) {
        Ok(h) => {
            assert_eq!(expected, None, "accepted a header that breaks a rule");
            assert_eq!(h.to_bytes()[..], data[..HEADER_LEN], "re-encoding differs");
            assert_eq!(Header::decode(&h.to_bytes()), Ok(h));
            assert_eq!(
                h.message_len(),
                h.payload_len.checked_add(HEADER_LEN as u32)
            );
            assert_eq!(h.is_batch(), h.flags & wire::FLAG_BATCH != 0);
            assert_eq!(Limits::UNLIMITED.check(&h), Ok(()));
        }
        Err(e) => {
            assert_eq!(Some(e.kind()), expected, "wrong rule reported: {e}");
            assert_offset(&e, data.len());
        }
    }
}

/// `wire::ChunkHeader::decode`: check order, exact re-encoding.
pub fn chunk_header(data: &[u8]) {
    let expected = if data.len() < HEADER_LEN {
        Some(CodecErrorKind::Truncated)
    } else if ne_u32(data, 0) != wire::CHUNK_MAGIC {
        Some(CodecErrorKind::BadMagic)
    } else if ne_u16(data, 4) != wire::CHUNK_VERSION {
        Some(CodecErrorKind::BadVersion)
    } else if ne_u16(data, 6) != 0 || ne_u32(data, 28) == 0 {
        Some(CodecErrorKind::BadLayout)
    } else {
        None
    };
    match ChunkHeader::decode(data) {
        Ok(c) => {
            assert_eq!(expected, None, "accepted a chunk header that breaks a rule");
            assert_ne!(c.chunk_payload_len, 0);
            assert_eq!(c.to_bytes()[..], data[..HEADER_LEN], "re-encoding differs");
            assert_eq!(ChunkHeader::decode(&c.to_bytes()), Ok(c));
            assert!(framing::is_chunk_packet(data));
        }
        Err(e) => {
            assert_eq!(Some(e.kind()), expected, "wrong rule reported: {e}");
            assert_offset(&e, data.len());
        }
    }
}

/// `wire::Hello::decode`: rules, exact re-encoding.
pub fn hello(data: &[u8]) {
    match Hello::decode(data) {
        Ok(h) => {
            assert!(data.len() >= HELLO_LEN);
            assert_eq!(ne_u16(data, 0), wire::HELLO_LAYOUT_VERSION);
            assert_eq!(ne_u32(data, 28), 0, "accepted non-zero reserved bytes");
            assert_eq!(h.to_bytes()[..], data[..HELLO_LEN], "re-encoding differs");
            assert_eq!(Hello::decode(&h.to_bytes()), Ok(h));
        }
        Err(e) => {
            let kind = if data.len() < HELLO_LEN {
                CodecErrorKind::Truncated
            } else {
                CodecErrorKind::BadLayout
            };
            assert_eq!(e.kind(), kind, "wrong rule reported: {e}");
            assert_offset(&e, data.len());
        }
    }
}

/// `wire::HelloAck::decode`: rules, exact re-encoding (bytes 36..40 are the
/// netipc extension word).
pub fn hello_ack(data: &[u8]) {
    match HelloAck::decode(data) {
        Ok(a) => {
            assert!(data.len() >= HELLO_ACK_LEN);
            assert_eq!(ne_u16(data, 0), wire::HELLO_LAYOUT_VERSION);
            assert_eq!(ne_u16(data, 2), 0, "accepted non-zero flags");
            let bytes = a.to_bytes();
            assert_eq!(bytes[..], data[..HELLO_ACK_LEN], "re-encoding differs");
            assert_eq!(a.extensions, ne_u32(data, 36));
            assert_eq!(HelloAck::decode(&bytes), Ok(a));
        }
        Err(e) => {
            let kind = if data.len() < HELLO_ACK_LEN {
                CodecErrorKind::Truncated
            } else {
                CodecErrorKind::BadLayout
            };
            assert_eq!(e.kind(), kind, "wrong rule reported: {e}");
            assert_offset(&e, data.len());
        }
    }
}

/// `wire::BatchView::new` with the item count in the first 4 input bytes
/// (native order, as in the outer header): item access, rebuild with
/// `BatchBuilder`, re-decode.
pub fn batch_view(data: &[u8]) {
    let Some((count, payload)) = data.split_first_chunk::<4>() else {
        return;
    };
    let count = u32::from_ne_bytes(*count);
    let view = match BatchView::new(payload, count) {
        Ok(v) => v,
        Err(e) => return assert_offset(&e, payload.len()),
    };
    assert_eq!(view.len(), count as usize);
    assert_eq!(view.is_empty(), count == 0);
    let dir = view.len() * wire::DIR_ENTRY_LEN;
    let base = payload.as_ptr() as usize;
    let items: Vec<&[u8]> = view.iter().collect();
    assert_eq!(items.len(), view.len());
    for (i, item) in items.iter().enumerate() {
        assert_eq!(view.item(i), Some(*item));
        let at = item.as_ptr() as usize - base;
        assert!(
            at >= dir && at + item.len() <= payload.len(),
            "item {i} outside the packed area"
        );
        assert_eq!((at - dir) % wire::ALIGNMENT, 0, "item {i} misaligned");
        assert_eq!(ne_u32(payload, i * 8) as usize, at - dir);
        assert_eq!(ne_u32(payload, i * 8 + 4) as usize, item.len());
    }
    assert_eq!(view.item(view.len()), None);

    let total = wire::batch_payload_len(items.iter().map(|i| i.len()))
        .expect("a decoded batch re-encodes within u32");
    assert_eq!(
        total,
        dir + align8(packed_len(items.iter().map(|i| i.len())))
    );
    if total > MAX_REBUILD {
        return;
    }
    // One spare directory entry exercises the compaction in `finish`.
    let mut buf = vec![0xA5u8; total + wire::DIR_ENTRY_LEN];
    let mut b = BatchBuilder::new(&mut buf, count.saturating_add(1)).expect("directory fits");
    for item in &items {
        b.push(item).expect("item fits");
    }
    assert_eq!(b.len(), items.len());
    let len = b.finish().expect("finish");
    assert_eq!(len, total);
    let again = BatchView::new(&buf[..len], count).expect("a rebuilt batch decodes");
    assert!(
        again.iter().eq(items.iter().copied()),
        "items differ after rebuild"
    );
}

// ---- codec: simple methods -------------------------------------------------

/// `codec::decode_increment` and its encoder.
pub fn increment(data: &[u8]) {
    match codec::decode_increment(data) {
        Ok(v) => {
            let mut out = [0u8; codec::INCREMENT_PAYLOAD_LEN];
            assert_eq!(codec::encode_increment(v, &mut out), Ok(out.len()));
            assert_eq!(out[..], data[..out.len()]);
        }
        Err(e) => {
            assert!(data.len() < codec::INCREMENT_PAYLOAD_LEN);
            assert_offset(&e, data.len());
        }
    }
}

/// `codec::decode_string_reverse` and its encoder.
pub fn string_reverse(data: &[u8]) {
    match codec::decode_string_reverse(data) {
        Ok(s) => {
            let mut out = vec![0u8; codec::string_reverse_len(s.len())];
            let n = codec::encode_string_reverse(s, &mut out).expect("encode");
            assert_eq!(n, out.len());
            assert_eq!(out[..], data[..n], "re-encoding differs");
            assert_eq!(codec::decode_string_reverse(&out), Ok(s));
        }
        Err(e) => assert_offset(&e, data.len()),
    }
}

/// `codec::SnapshotRequest::decode` and its encoder.
pub fn snapshot_request(data: &[u8]) {
    match SnapshotRequest::decode(data) {
        Ok(r) => {
            let mut out = [0u8; codec::SNAPSHOT_REQUEST_LEN];
            assert_eq!(r.encode(&mut out), Ok(out.len()));
            assert_eq!(out[..], data[..out.len()]);
        }
        Err(e) => assert_offset(&e, data.len()),
    }
}

/// `codec::SnapshotView::decode`, every item read through `iter()` and
/// `item()`; a snapshot whose items all decode is rebuilt with
/// `SnapshotBuilder` and must decode to the same items.
pub fn snapshot_response(data: &[u8]) {
    let view = match SnapshotView::decode(data) {
        Ok(v) => v,
        Err(e) => return assert_offset(&e, data.len()),
    };
    assert_eq!(view.is_empty(), view.iter().len() == 0);
    let items: Vec<Result<SnapshotItem<'_>, CodecError>> = view.iter().collect();
    assert_eq!(items.len(), view.len());
    for (i, item) in items.iter().enumerate() {
        assert_eq!(&view.item(i), item);
        if let Err(e) = item {
            assert_offset(e, data.len());
        }
    }
    assert!(view.item(view.len()).is_err());
    let Ok(items) = items.into_iter().collect::<Result<Vec<_>, _>>() else {
        return;
    };
    let sizes = items
        .iter()
        .map(|it| SNAPSHOT_ITEM_HEADER_LEN + it.name.len() + it.path.len() + 2);
    let need = SNAPSHOT_HEADER_LEN + 8 * items.len() + packed_len(sizes);
    if need > MAX_REBUILD {
        return;
    }
    let count = u32::try_from(items.len()).expect("count came from a u32");
    // One spare directory entry exercises the compaction in `finish`.
    let mut buf = vec![0xA5u8; need + 8];
    let mut b = SnapshotBuilder::new(&mut buf, count.saturating_add(1)).expect("directory fits");
    b.set_systemd_enabled(view.systemd_enabled());
    b.set_generation(view.generation());
    for it in &items {
        b.add(it).expect("item fits");
    }
    assert_eq!(b.error(), None);
    let len = b.finish();
    assert_eq!(len, need);
    let again = SnapshotView::decode(&buf[..len]).expect("a rebuilt snapshot decodes");
    assert_eq!(again.len(), items.len());
    assert_eq!(again.generation(), view.generation());
    assert_eq!(again.systemd_enabled(), view.systemd_enabled());
    for (i, it) in items.iter().enumerate() {
        assert_eq!(again.item(i), Ok(*it), "item {i} differs after rebuild");
    }
}

/// The snapshot cache's intake (`testing::cache_intake`): it accepts a
/// payload exactly when the payload decodes, every item decodes, the items
/// could lie apart (directory entry and fixed part of each within the
/// payload) and their strings are no more than the payload; then it holds
/// every item, in order, and a lookup finds the first item with the same
/// `(hash, name)`. A snapshot rebuilt with `SnapshotBuilder` (items apart,
/// as every producer lays them out) is always accepted.
pub fn snapshot_cache(data: &[u8]) {
    let got = testing::cache_intake(data);
    let items = match SnapshotView::decode(data) {
        Ok(view) => view.iter().collect::<Result<Vec<_>, _>>(),
        Err(e) => {
            return assert!(
                matches!(&got, Err(netipc::Error::Codec(c)) if *c == e),
                "{got:?}"
            );
        }
    };
    let Ok(items) = items else {
        return assert!(matches!(got, Err(netipc::Error::Codec(_))), "{got:?}");
    };
    let strings: usize = items.iter().map(|i| i.name.len() + i.path.len()).sum();
    let apart = items.len() * (8 + SNAPSHOT_ITEM_HEADER_LEN) <= data.len();
    if !(apart && strings <= data.len()) {
        return assert!(matches!(got, Err(netipc::Error::Codec(_))), "{got:?}");
    }
    let copy = got.expect("a snapshot whose items lie apart is accepted");
    assert_eq!(copy.len(), items.len());
    for (i, ((held, found), item)) in copy.iter().zip(&items).enumerate() {
        assert_eq!(
            (held.hash, held.options, held.enabled),
            (item.hash, item.options, item.enabled)
        );
        assert_eq!((&held.name[..], &held.path[..]), (item.name, item.path));
        let first = items
            .iter()
            .position(|o| o.hash == item.hash && o.name == item.name);
        assert_eq!(Some(*found), first, "lookup of item {i}");
    }
    // The same items laid out by a producer.
    let sizes = items
        .iter()
        .map(|it| SNAPSHOT_ITEM_HEADER_LEN + it.name.len() + it.path.len() + 2);
    let need = SNAPSHOT_HEADER_LEN + 8 * items.len() + packed_len(sizes);
    if need > MAX_REBUILD {
        return;
    }
    let mut buf = vec![0u8; need];
    let count = u32::try_from(items.len()).expect("count came from a u32");
    let mut b = SnapshotBuilder::new(&mut buf, count).expect("directory fits");
    for it in &items {
        b.add(it).expect("item fits");
    }
    let len = b.finish();
    let rebuilt = testing::cache_intake(&buf[..len]).expect("a producer's snapshot is accepted");
    assert_eq!(rebuilt, copy);
}

// ---- codec: CGROUPS_LOOKUP -------------------------------------------------

/// `codec::CgroupsLookupRequest::decode`: paths; re-encoding with
/// `encode_cgroups_lookup_request` yields the same paths and is never
/// longer than the input.
pub fn cgroups_lookup_request(data: &[u8]) {
    let req = match CgroupsLookupRequest::decode(data) {
        Ok(r) => r,
        Err(e) => return assert_offset(&e, data.len()),
    };
    let paths: Vec<&[u8]> = req.paths().collect();
    assert_eq!(paths.len(), req.len());
    assert_eq!(req.is_empty(), paths.is_empty());
    for (i, p) in paths.iter().enumerate() {
        assert_eq!(req.path(i), Some(*p));
        assert!(!p.is_empty(), "empty path {i}");
        assert_no_nul(p, "path");
    }
    assert_eq!(req.path(req.len()), None);
    let total = codec::cgroups_lookup_request_len(&paths).expect("fits u32");
    assert!(
        total <= data.len(),
        "canonical encoding longer than the input"
    );
    let mut out = vec![0xA5u8; total];
    assert_eq!(
        codec::encode_cgroups_lookup_request(&paths, &mut out),
        Ok(total)
    );
    let again = CgroupsLookupRequest::decode(&out).expect("re-encoded request decodes");
    assert!(again.paths().eq(paths.iter().copied()), "paths differ");
}

type CgTuple<'a> = (CgroupsLookupStatus, u16, &'a [u8], &'a [u8], Vec<Label<'a>>);

fn cg_tuple<'a>(it: &CgroupsLookupItem<'a>) -> CgTuple<'a> {
    (
        it.status,
        it.orchestrator,
        it.path,
        it.name,
        it.labels.iter().collect(),
    )
}

/// A validated item's string at the `(offset u32, length u32)` pair at
/// `at`, read independently of the library.
fn raw_str(item: &[u8], at: usize) -> (&[u8], usize) {
    let offset = ne_u32(item, at) as usize;
    let len = ne_u32(item, at + 4) as usize;
    (&item[offset..offset + len], offset + len + 1)
}

/// A validated item's labels, read independently of the library.
fn raw_labels(item: &[u8], fixed_end: usize, count: usize) -> Vec<Label<'_>> {
    let table = align8(fixed_end);
    (0..count)
        .map(|j| {
            let at = table + j * LABEL_ENTRY_LEN;
            Label {
                key: raw_str(item, at).0,
                value: raw_str(item, at + 8).0,
            }
        })
        .collect()
}

/// A validated CGROUPS_LOOKUP item read independently of the library.
fn cg_reference(item: &[u8]) -> CgTuple<'_> {
    let (path, path_end) = raw_str(item, 8);
    let (name, name_end) = raw_str(item, 16);
    let status = CgroupsLookupStatus::from_u16(ne_u16(item, 2)).expect("validated status");
    let labels = raw_labels(item, path_end.max(name_end), usize::from(ne_u16(item, 24)));
    (status, ne_u16(item, 4), path, name, labels)
}

/// A validated APPS_LOOKUP item read independently of the library.
fn apps_reference(item: &[u8]) -> AppsTuple<'_> {
    let (comm, comm_end) = raw_str(item, 32);
    let (cgroup_path, path_end) = raw_str(item, 40);
    let (cgroup_name, name_end) = raw_str(item, 48);
    let entry = AppsEntry {
        status: PidStatus::from_u16(ne_u16(item, 2)).expect("validated status"),
        cgroup_status: CgroupStatus::from_u16(ne_u16(item, 6)).expect("validated status"),
        orchestrator: ne_u16(item, 4),
        ppid: ne_u32(item, 12),
        uid: ne_u32(item, 16),
        starttime: ne_u64(item, 24),
        comm,
        cgroup_path,
        cgroup_name,
    };
    let fixed_end = comm_end.max(path_end).max(name_end);
    let labels = raw_labels(item, fixed_end, usize::from(ne_u16(item, 56)));
    (ne_u32(item, 8), entry, labels)
}

fn check_labels(labels: &codec::Labels<'_>) {
    let all: Vec<Label<'_>> = labels.iter().collect();
    assert_eq!(all.len(), labels.len());
    assert_eq!(labels.is_empty(), all.is_empty());
    for (j, l) in all.iter().enumerate() {
        assert_eq!(labels.get(j), Some(*l));
        assert!(!l.key.is_empty(), "empty label key");
        assert_no_nul(l.key, "label key");
        assert_no_nul(l.value, "label value");
    }
    assert_eq!(labels.get(labels.len()), None);
}

/// `codec::CgroupsLookupView::decode`: every item and label; re-encoding
/// through `encode_cgroups_lookup_raw_response` over `raw_item(i)` and
/// through `CgroupsLookupBuilder` yields the same items.
pub fn cgroups_lookup_response(data: &[u8]) {
    let view = match CgroupsLookupView::decode(data) {
        Ok(v) => v,
        Err(e) => return assert_offset(&e, data.len()),
    };
    let n = view.len();
    assert_eq!(view.is_empty(), n == 0);
    let items: Vec<CgroupsLookupItem<'_>> = (0..n)
        .map(|i| {
            view.item(i)
                .expect("every item of a decoded view is readable")
        })
        .collect();
    assert_eq!(view.iter().count(), n);
    assert!(view.item(n).is_none() && view.raw_item(n).is_none());
    for it in &items {
        assert!(!it.path.is_empty());
        assert_no_nul(it.path, "path");
        assert_no_nul(it.name, "name");
        check_labels(&it.labels);
        if it.status != CgroupsLookupStatus::Known {
            assert_eq!(it.orchestrator, 0);
            assert!(it.name.is_empty() && it.labels.is_empty());
        }
    }
    let expected: Vec<CgTuple<'_>> = items.iter().map(cg_tuple).collect();
    for (i, e) in expected.iter().enumerate() {
        let raw = view.raw_item(i).expect("raw item");
        assert_eq!(*e, cg_reference(raw), "item {i} is read wrongly");
    }
    let iterated: Vec<CgTuple<'_>> = view.iter().map(|it| cg_tuple(&it)).collect();
    assert_eq!(iterated, expected, "iter() and item() differ");

    // Raw re-encoding: same item bytes, canonical placement.
    let raws: Vec<&[u8]> = (0..n)
        .map(|i| view.raw_item(i).expect("raw item"))
        .collect();
    let need = LOOKUP_HEADER_LEN + 8 * n + packed_len(raws.iter().map(|r| r.len()));
    assert!(
        need <= data.len(),
        "canonical encoding longer than the input"
    );
    let mut out = vec![0xA5u8; need];
    let len = codec::encode_cgroups_lookup_raw_response(
        raws.iter().copied(),
        view.generation(),
        &mut out,
    )
    .expect("raw items of a decoded response re-encode");
    assert_eq!(len, need);
    let again = CgroupsLookupView::decode(&out[..len]).expect("raw re-encoding decodes");
    assert_eq!(again.generation(), view.generation());
    for (i, raw) in raws.iter().enumerate() {
        assert_eq!(again.raw_item(i), Some(*raw), "raw item {i} differs");
    }
    let got: Vec<CgTuple<'_>> = again.iter().map(|it| cg_tuple(&it)).collect();
    assert_eq!(got, expected, "items differ after raw re-encoding");

    // Builder re-encoding: never larger than the input, never converted.
    let mut buf = vec![0xA5u8; data.len()];
    let count = u32::try_from(n).expect("count came from a u32");
    let mut b = CgroupsLookupBuilder::new(&mut buf, count, view.generation()).expect("directory");
    for it in &items {
        let labels: Vec<(&[u8], &[u8])> = it.labels.iter().map(|l| (l.key, l.value)).collect();
        b.add(it.path, &it.entry(), &labels)
            .expect("a decoded item is accepted by the builder");
        assert!(!b.in_suffix_mode(), "builder converted an item that fits");
    }
    assert_eq!(b.error(), None);
    let len = b.finish();
    let again = CgroupsLookupView::decode(&buf[..len]).expect("builder output decodes");
    assert_eq!(again.generation(), view.generation());
    let got: Vec<CgTuple<'_>> = again.iter().map(|it| cg_tuple(&it)).collect();
    assert_eq!(got, expected, "items differ after the builder");
}

/// Deterministic text the dispatch handlers draw strings from.
const TEXT: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789/._-ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn lookup_item_size(header: usize, fixed: &[&[u8]], labels: &[(&[u8], &[u8])]) -> usize {
    let fixed_end = header + fixed.iter().map(|s| s.len() + 1).sum::<usize>();
    if labels.is_empty() {
        return fixed_end;
    }
    align8(fixed_end)
        + labels.len() * LABEL_ENTRY_LEN
        + labels
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>()
}

struct CgAnswer<'a> {
    status: CgroupsLookupStatus,
    orchestrator: u16,
    name: &'a [u8],
    labels: Vec<(&'a [u8], &'a [u8])>,
}

fn cg_answer(path: &[u8]) -> CgAnswer<'_> {
    let sel = path.len() + usize::from(path[0]);
    match sel % 3 {
        0 => CgAnswer {
            status: CgroupsLookupStatus::Known,
            orchestrator: (sel % 9) as u16,
            name: path.rsplit(|&b| b == b'/').next().unwrap_or_default(),
            labels: (0..sel % 4).map(|j| (&TEXT[j..2 * j + 1], path)).collect(),
        },
        1 => CgAnswer {
            status: CgroupsLookupStatus::UnknownRetryLater,
            orchestrator: 0,
            name: b"",
            labels: Vec::new(),
        },
        _ => CgAnswer {
            status: CgroupsLookupStatus::UnknownPermanent,
            orchestrator: 0,
            name: b"",
            labels: Vec::new(),
        },
    }
}

/// The length a lookup dispatch produced within a `budget`-byte buffer, or
/// `None` when it failed, which it may only do (with `Overflow`) when the
/// budget cannot hold the `min` bytes of the directory and every
/// placeholder.
fn dispatched_len(
    result: Result<usize, DispatchError>,
    budget: usize,
    min: usize,
) -> Option<usize> {
    match result {
        Ok(len) => {
            assert!(len <= budget);
            Some(len)
        }
        Err(e) => {
            assert!(
                budget < min,
                "dispatch failed with a {budget}-byte budget although {min} bytes hold every placeholder: {e:?}"
            );
            assert!(
                matches!(e, DispatchError::Builder(c) if c.kind() == CodecErrorKind::Overflow),
                "{e:?}"
            );
            None
        }
    }
}

/// Server dispatch of a CGROUPS_LOOKUP request (input: response budget as
/// u16 LE, then the request) with a handler answering every path. Checks
/// the budget rules: a budget that holds the directory and every
/// placeholder never fails, a budget that holds the full answer never
/// converts, OVERSIZED_ITEM only first, PAYLOAD_EXCEEDED only as a suffix.
pub fn cgroups_lookup_dispatch(data: &[u8]) {
    let mut input = Input(data);
    let Some(budget) = input.u16() else {
        return;
    };
    let request = input.rest();
    let mut buf = vec![0xA5u8; usize::from(budget)];
    let Ok(req) = CgroupsLookupRequest::decode(request) else {
        let r = codec::dispatch_cgroups_lookup(request, &mut buf, |_, _| true);
        assert!(matches!(r, Err(DispatchError::BadRequest(_))), "{r:?}");
        return;
    };
    let paths: Vec<&[u8]> = req.paths().collect();
    let answers: Vec<CgAnswer<'_>> = paths.iter().map(|p| cg_answer(p)).collect();
    let n = paths.len();
    let dir_end = LOOKUP_HEADER_LEN + 8 * n;
    let min = dir_end
        + packed_len(
            paths
                .iter()
                .map(|p| codec::cgroups_lookup_placeholder_len(p.len())),
        );
    let full = dir_end
        + packed_len(paths.iter().zip(&answers).map(|(p, a)| {
            lookup_item_size(CGROUPS_LOOKUP_ITEM_HEADER_LEN, &[*p, a.name], &a.labels)
        }));
    let result = codec::dispatch_cgroups_lookup(request, &mut buf, |r, b| {
        assert_eq!(r.len(), n);
        for (i, a) in answers.iter().enumerate() {
            let _ = b.add_request_item(
                i,
                &CgroupsEntry {
                    status: a.status,
                    orchestrator: a.orchestrator,
                    name: a.name,
                },
                &a.labels,
            );
        }
        true
    });
    let Some(len) = dispatched_len(result, buf.len(), min) else {
        return;
    };
    let view = CgroupsLookupView::decode(&buf[..len]).expect("dispatch output decodes");
    assert_eq!(view.len(), n);
    let mut suffix = false;
    let mut converted = false;
    for (i, a) in answers.iter().enumerate() {
        let it = view.item(i).expect("item");
        assert_eq!(it.path, paths[i], "item {i} answers another path");
        match it.status {
            CgroupsLookupStatus::PayloadExceeded => {
                assert!(i > 0, "PAYLOAD_EXCEEDED on the first item");
                suffix = true;
                converted = true;
            }
            CgroupsLookupStatus::OversizedItem => {
                assert_eq!(i, 0, "OVERSIZED_ITEM after the first item");
                converted = true;
            }
            status => {
                assert!(
                    !suffix,
                    "item {i} is real after the PAYLOAD_EXCEEDED suffix began"
                );
                assert_eq!(status, a.status);
                assert_eq!(it.orchestrator, a.orchestrator);
                assert_eq!(it.name, a.name);
                let labels: Vec<(&[u8], &[u8])> =
                    it.labels.iter().map(|l| (l.key, l.value)).collect();
                assert_eq!(labels, a.labels);
            }
        }
    }
    if buf.len() >= full {
        assert!(!converted, "items converted although the full answer fits");
        assert_eq!(len, full);
    }
}

// ---- codec: APPS_LOOKUP ----------------------------------------------------

/// `codec::AppsLookupRequest::decode`: PIDs; re-encoding with
/// `encode_apps_lookup_request` yields the same PIDs.
pub fn apps_lookup_request(data: &[u8]) {
    let req = match AppsLookupRequest::decode(data) {
        Ok(r) => r,
        Err(e) => return assert_offset(&e, data.len()),
    };
    let pids: Vec<u32> = req.pids().collect();
    assert_eq!(pids.len(), req.len());
    assert_eq!(req.is_empty(), pids.is_empty());
    for (i, p) in pids.iter().enumerate() {
        assert_eq!(req.pid(i), Some(*p));
    }
    assert_eq!(req.pid(req.len()), None);
    let total = codec::apps_lookup_request_len(pids.len());
    assert!(
        total <= data.len(),
        "canonical encoding longer than the input"
    );
    let mut out = vec![0xA5u8; total];
    assert_eq!(
        codec::encode_apps_lookup_request(&pids, &mut out),
        Ok(total)
    );
    let again = AppsLookupRequest::decode(&out).expect("re-encoded request decodes");
    assert!(again.pids().eq(pids.iter().copied()), "pids differ");
}

type AppsTuple<'a> = (u32, AppsEntry<'a>, Vec<Label<'a>>);

fn apps_tuple<'a>(it: &AppsLookupItem<'a>) -> AppsTuple<'a> {
    (it.pid, it.entry, it.labels.iter().collect())
}

/// `codec::AppsLookupView::decode`: every item and label; re-encoding
/// through `encode_apps_lookup_raw_response` over `raw_item(i)` and through
/// `AppsLookupBuilder` yields the same items.
pub fn apps_lookup_response(data: &[u8]) {
    let view = match AppsLookupView::decode(data) {
        Ok(v) => v,
        Err(e) => return assert_offset(&e, data.len()),
    };
    let n = view.len();
    assert_eq!(view.is_empty(), n == 0);
    let items: Vec<AppsLookupItem<'_>> = (0..n)
        .map(|i| {
            view.item(i)
                .expect("every item of a decoded view is readable")
        })
        .collect();
    assert_eq!(view.iter().count(), n);
    assert!(view.item(n).is_none() && view.raw_item(n).is_none());
    for it in &items {
        let e = &it.entry;
        assert!(e.comm.len() <= codec::COMM_MAX_LEN);
        for s in [e.comm, e.cgroup_path, e.cgroup_name] {
            assert_no_nul(s, "apps string");
        }
        check_labels(&it.labels);
        if e.status == PidStatus::Known {
            assert!(!e.comm.is_empty());
        } else {
            assert_eq!(*e, AppsEntry::unset(e.status));
            assert!(it.labels.is_empty());
        }
        if e.cgroup_status == CgroupStatus::HostRoot {
            assert!(e.cgroup_path.is_empty());
        }
    }
    let expected: Vec<AppsTuple<'_>> = items.iter().map(apps_tuple).collect();
    for (i, e) in expected.iter().enumerate() {
        let raw = view.raw_item(i).expect("raw item");
        assert_eq!(*e, apps_reference(raw), "item {i} is read wrongly");
    }
    let iterated: Vec<AppsTuple<'_>> = view.iter().map(|it| apps_tuple(&it)).collect();
    assert_eq!(iterated, expected, "iter() and item() differ");

    let raws: Vec<&[u8]> = (0..n)
        .map(|i| view.raw_item(i).expect("raw item"))
        .collect();
    let need = LOOKUP_HEADER_LEN + 8 * n + packed_len(raws.iter().map(|r| r.len()));
    assert!(
        need <= data.len(),
        "canonical encoding longer than the input"
    );
    let mut out = vec![0xA5u8; need];
    let len =
        codec::encode_apps_lookup_raw_response(raws.iter().copied(), view.generation(), &mut out)
            .expect("raw items of a decoded response re-encode");
    assert_eq!(len, need);
    let again = AppsLookupView::decode(&out[..len]).expect("raw re-encoding decodes");
    assert_eq!(again.generation(), view.generation());
    for (i, raw) in raws.iter().enumerate() {
        assert_eq!(again.raw_item(i), Some(*raw), "raw item {i} differs");
    }
    let got: Vec<AppsTuple<'_>> = again.iter().map(|it| apps_tuple(&it)).collect();
    assert_eq!(got, expected, "items differ after raw re-encoding");

    let mut buf = vec![0xA5u8; data.len()];
    let count = u32::try_from(n).expect("count came from a u32");
    let mut b = AppsLookupBuilder::new(&mut buf, count, view.generation()).expect("directory");
    for it in &items {
        let labels: Vec<(&[u8], &[u8])> = it.labels.iter().map(|l| (l.key, l.value)).collect();
        b.add(it.pid, &it.entry, &labels)
            .expect("a decoded item is accepted by the builder");
        assert!(!b.in_suffix_mode(), "builder converted an item that fits");
    }
    assert_eq!(b.error(), None);
    let len = b.finish();
    let again = AppsLookupView::decode(&buf[..len]).expect("builder output decodes");
    assert_eq!(again.generation(), view.generation());
    let got: Vec<AppsTuple<'_>> = again.iter().map(|it| apps_tuple(&it)).collect();
    assert_eq!(got, expected, "items differ after the builder");
}

type Labeled<'a> = Vec<(&'a [u8], &'a [u8])>;

fn apps_answer(pid: u32) -> (AppsEntry<'static>, Labeled<'static>) {
    let p = pid as usize;
    let comm = &TEXT[..1 + p % codec::COMM_MAX_LEN];
    let path = &TEXT[..1 + (p >> 4) % TEXT.len()];
    let known = AppsEntry {
        status: PidStatus::Known,
        cgroup_status: CgroupStatus::Known,
        orchestrator: (pid >> 16) as u16,
        ppid: pid / 2,
        uid: pid ^ 1,
        starttime: u64::from(pid) * 3,
        comm,
        cgroup_path: path,
        cgroup_name: &TEXT[..(p >> 10) % 20],
    };
    match pid % 4 {
        0 => {
            let labels = (0..(p >> 8) % 4)
                .map(|j| (&TEXT[j..2 * j + 1], &TEXT[..(p >> 12) % 30]))
                .collect();
            (known, labels)
        }
        1 => (AppsEntry::unset(PidStatus::Unknown), Vec::new()),
        2 => {
            let entry = AppsEntry {
                cgroup_status: CgroupStatus::HostRoot,
                orchestrator: 0,
                cgroup_path: b"",
                cgroup_name: b"",
                ..known
            };
            (entry, Vec::new())
        }
        _ => {
            let entry = AppsEntry {
                cgroup_status: CgroupStatus::UnknownPermanent,
                orchestrator: 0,
                cgroup_name: b"",
                ..known
            };
            (entry, Vec::new())
        }
    }
}

/// Server dispatch of an APPS_LOOKUP request (input: response budget as
/// u16 LE, then the request); the same budget rules as
/// [`cgroups_lookup_dispatch`].
pub fn apps_lookup_dispatch(data: &[u8]) {
    let mut input = Input(data);
    let Some(budget) = input.u16() else {
        return;
    };
    let request = input.rest();
    let mut buf = vec![0xA5u8; usize::from(budget)];
    let Ok(req) = AppsLookupRequest::decode(request) else {
        let r = codec::dispatch_apps_lookup(request, &mut buf, |_, _| true);
        assert!(matches!(r, Err(DispatchError::BadRequest(_))), "{r:?}");
        return;
    };
    let pids: Vec<u32> = req.pids().collect();
    let answers: Vec<_> = pids.iter().map(|&p| apps_answer(p)).collect();
    let n = pids.len();
    let dir_end = LOOKUP_HEADER_LEN + 8 * n;
    let min = dir_end + packed_len((0..n).map(|_| APPS_LOOKUP_PLACEHOLDER_LEN));
    let full = dir_end
        + packed_len(answers.iter().map(|(e, labels)| {
            let fixed = [e.comm, e.cgroup_path, e.cgroup_name];
            lookup_item_size(APPS_LOOKUP_ITEM_HEADER_LEN, &fixed, labels)
        }));
    let result = codec::dispatch_apps_lookup(request, &mut buf, |r, b| {
        assert_eq!(r.len(), n);
        for (&pid, (entry, labels)) in pids.iter().zip(&answers) {
            let _ = b.add(pid, entry, labels);
        }
        true
    });
    let Some(len) = dispatched_len(result, buf.len(), min) else {
        return;
    };
    let view = AppsLookupView::decode(&buf[..len]).expect("dispatch output decodes");
    assert_eq!(view.len(), n);
    let mut suffix = false;
    let mut converted = false;
    for (i, (entry, labels)) in answers.iter().enumerate() {
        let it = view.item(i).expect("item");
        assert_eq!(it.pid, pids[i], "item {i} answers another pid");
        match it.entry.status {
            PidStatus::PayloadExceeded => {
                assert!(i > 0, "PAYLOAD_EXCEEDED on the first item");
                assert_eq!(it.entry, AppsEntry::unset(PidStatus::PayloadExceeded));
                suffix = true;
                converted = true;
            }
            PidStatus::OversizedItem => {
                assert_eq!(i, 0, "OVERSIZED_ITEM after the first item");
                assert_eq!(it.entry, AppsEntry::unset(PidStatus::OversizedItem));
                converted = true;
            }
            _ => {
                assert!(
                    !suffix,
                    "item {i} is real after the PAYLOAD_EXCEEDED suffix began"
                );
                assert_eq!(it.entry, *entry);
                let got: Vec<(&[u8], &[u8])> = it.labels.iter().map(|l| (l.key, l.value)).collect();
                assert_eq!(&got, labels);
            }
        }
    }
    if buf.len() >= full {
        assert!(!converted, "items converted although the full answer fits");
        assert_eq!(len, full);
    }
}

// ---- transport: framing ----------------------------------------------------

/// `Reassembly::accept_within` against `accept_split` on a copy: the same
/// verdict, except that a chunk longer than the receiver's room (one
/// `accept_split` would take) is refused; an accepted body lies inside
/// `next_body(room)`, which never reaches past the payload or holds more
/// than `room` bytes.
fn within(
    r: &mut Reassembly,
    head: &[u8],
    body_len: usize,
    room: usize,
    packet_size: u32,
) -> Result<std::ops::Range<usize>, ProtocolError> {
    let next = r.next_body(room);
    assert_eq!(next.start, r.received());
    assert!(next.end <= r.header().payload_len as usize);
    assert!(next.len() <= room);
    let mut probe = r.clone();
    let split = probe.accept_split(head, body_len);
    let got = r.accept_within(head, body_len, room, packet_size);
    match (&got, &split) {
        (Ok(range), Ok(same)) => {
            assert_eq!(range, same);
            assert!(range.end <= next.end, "a body past the receiver's room");
        }
        (Err(ProtocolError::PacketTooLarge { packet, .. }), Ok(range)) => {
            assert!(range.end > next.end);
            assert_eq!(*packet, HEADER_LEN + body_len);
        }
        (Err(e), Err(same)) => assert_eq!(e, same),
        _ => panic!("accept_within {got:?}, accept_split {split:?}"),
    }
    got
}

/// How the receiver feeds continuation packets to the reassembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// `Reassembly::accept` on the whole packet.
    Whole,
    /// `Reassembly::accept_split` on header and body length.
    Split,
    /// `Reassembly::accept_within` with the room a session receiver has
    /// (`continuation_room`), after growing its buffer to `next_body`.
    Within(usize),
}

fn receive(
    packets: &[&[u8]],
    limits: &Limits,
    in_flight: Option<&mut InFlight>,
    packet_size: u32,
    feed: Feed,
) -> Option<(Header, Vec<u8>)> {
    let first = *packets.first()?;
    let decoded = Header::decode(first);
    let result = framing::first_packet(first, limits, in_flight, packet_size);
    // The rules are checked in the documented order.
    match (&decoded, &result) {
        (Err(e), _) => assert_eq!(result, Err(ProtocolError::Header(*e))),
        (Ok(h), _) if limits.check(h).is_err() => {
            assert_eq!(
                result,
                Err(ProtocolError::Limit(limits.check(h).unwrap_err()))
            );
        }
        (Ok(h), Ok(_)) => assert!(first.len() <= HEADER_LEN + h.payload_len as usize),
        (Ok(_), Err(_)) => {}
    }
    match result.ok()? {
        FirstPacket::Complete(h) => {
            assert_eq!(Ok(h), decoded);
            assert_eq!(first.len(), HEADER_LEN + h.payload_len as usize);
            Some((h, first[HEADER_LEN..].to_vec()))
        }
        FirstPacket::Chunked(mut r) => {
            let h = *r.header();
            assert_eq!(Ok(h), decoded);
            assert!(first.len() < HEADER_LEN + h.payload_len as usize);
            let mut payload = first[HEADER_LEN..].to_vec();
            assert_eq!(r.received(), payload.len());
            assert_eq!(r, Reassembly::new(h, payload.len(), packet_size));
            for p in &packets[1..] {
                let before = r.received();
                let was_complete = r.is_complete();
                let (head, body_len) = (
                    &p[..p.len().min(HEADER_LEN)],
                    p.len().saturating_sub(HEADER_LEN),
                );
                let accepted = match feed {
                    Feed::Whole => r.accept(p),
                    Feed::Split => r.accept_split(head, body_len),
                    Feed::Within(room) => within(&mut r, head, body_len, room, packet_size),
                };
                match accepted {
                    Ok(range) => {
                        assert!(
                            !was_complete,
                            "accepted a chunk after the message was complete"
                        );
                        assert_eq!(range.start, before);
                        assert_eq!(range.len(), p.len() - HEADER_LEN);
                        assert!(range.end <= h.payload_len as usize);
                        assert_eq!(r.received(), range.end);
                        payload.extend_from_slice(&p[HEADER_LEN..]);
                    }
                    Err(e) => {
                        let too_large = matches!(e, ProtocolError::PacketTooLarge { .. });
                        assert!(
                            matches!(e, ProtocolError::Chunk(_))
                                || (too_large && matches!(feed, Feed::Within(_))),
                            "{e:?}"
                        );
                        assert_eq!(r.received(), before, "a rejected chunk changed the state");
                        return None;
                    }
                }
            }
            r.is_complete().then_some((h, payload))
        }
    }
}

/// The sans-IO receiver. Input: flags u8 (bit 0: client side with an
/// in-flight set, bit 1: the id of packet 0 is in flight, bit 2: feed
/// continuations through `accept_split` instead of `accept`, bit 3: through
/// `accept_within` with a session receiver's room), packet size u32,
/// max payload u32, max items u32, packet count u8, then packets of u16 LE
/// length + bytes. Checks `first_packet` (rule order), `Reassembly::accept`
/// (ranges, no chunk after completion), `accept_within` (the verdict of
/// `accept_split`, bodies inside the receiver's room), `check_batch`, and
/// that a received message split again by `Packets` is received again
/// unchanged (with a session receiver's room whenever the packet size is
/// one a handshake can agree).
pub fn receiver(data: &[u8]) {
    let mut input = Input(data);
    let (Some(flags), Some(packet_size), Some(max_payload), Some(max_items), Some(count)) = (
        input.u8(),
        input.u32(),
        input.u32(),
        input.u32(),
        input.u8(),
    ) else {
        return;
    };
    let mut packets = Vec::new();
    for _ in 0..count {
        let Some(len) = input.u16() else { break };
        packets.push(input.take(usize::from(len)));
    }
    let Some(&first) = packets.first() else {
        return;
    };
    let limits = Limits {
        max_payload,
        max_items,
    };
    let client = flags & 1 != 0;
    let mut in_flight = InFlight::new();
    if flags & 2 != 0 && first.len() >= HEADER_LEN {
        assert!(in_flight.insert(ne_u64(first, 24)));
    }
    if let Ok(h) = Header::decode(first) {
        let body = &first[HEADER_LEN..];
        let needs_dir = h.is_batch() && h.item_count > 1;
        match framing::check_batch(&h, body) {
            Ok(()) => assert!(!needs_dir || BatchView::new(body, h.item_count).is_ok()),
            Err(ProtocolError::BatchDirectory(e)) => {
                assert!(needs_dir);
                assert_eq!(BatchView::new(body, h.item_count).err(), Some(e));
            }
            Err(e) => panic!("check_batch returned {e:?}"),
        }
    }
    let side = if client { Some(&mut in_flight) } else { None };
    // What a session receiver uses: the handshake never agrees a packet
    // size of 32 or less.
    let room = (packet_size as usize > HEADER_LEN)
        .then(|| framing::continuation_room(packet_size, &limits));
    if let Some(room) = room {
        assert_eq!(
            room + HEADER_LEN,
            framing::first_packet_capacity(packet_size, &limits)
        );
    }
    let feed = match (flags & 8 != 0, room, flags & 4 != 0) {
        (true, Some(room), _) => Feed::Within(room),
        (_, _, true) => Feed::Split,
        _ => Feed::Whole,
    };
    let Some((header, payload)) = receive(&packets, &limits, side, packet_size, feed) else {
        return;
    };
    if client && header.kind == MessageKind::Response {
        assert!(
            flags & 2 != 0,
            "a response for an id that was never in flight"
        );
        assert!(
            !in_flight.contains(header.message_id),
            "the id stays in flight"
        );
    }
    assert_eq!(payload.len(), header.payload_len as usize);
    if let Err(e) = framing::check_batch(&header, &payload) {
        assert!(matches!(e, ProtocolError::BatchDirectory(_)), "{e:?}");
    }

    // What a sender emits for this message is received unchanged.
    let split = Packets::new(header, &payload, packet_size);
    let expected_count = split.len();
    let sent: Vec<Vec<u8>> = split.map(|p| [&p.prefix[..], p.body].concat()).collect();
    assert_eq!(sent.len(), expected_count);
    let max_packet = (packet_size as usize).max(HEADER_LEN + 1);
    for p in &sent {
        assert!(p.len() <= max_packet, "packet of {} bytes", p.len());
    }
    let views: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
    // A legal message always fits a session receiver's room.
    let feed = match (room, feed) {
        (Some(room), Feed::Whole | Feed::Split) => Feed::Within(room),
        (_, Feed::Split) => Feed::Whole,
        _ => Feed::Split,
    };
    let again = receive(&views, &limits, None, packet_size, feed);
    assert_eq!(again, Some((header, payload)), "re-split message differs");
}

// ---- transport: handshake --------------------------------------------------

/// The fixed server configuration of the `server_handshake` target (the
/// auth token of the golden vectors).
const OFFER: ServerOffer = ServerOffer {
    supported_profiles: wire::Profiles::BASELINE.union(wire::Profiles::SHM_ANY),
    preferred_profiles: wire::Profiles::SHM_HYBRID,
    max_request_payload_bytes: 4096,
    max_response_payload_bytes: 65536,
    auth_token: 0x1122_3344_5566_7788,
    packet_size: 65536,
    extensions: wire::extension::SHM_WAKE_ON_DEMAND,
};
const SESSION_ID: u64 = 1;

/// `handshake::server_handshake` with a fixed offer. A session's reply is
/// accepted by `client_handshake` with identical parameters; a rejection's
/// reply makes the client report the same rejection.
pub fn server_handshake(data: &[u8]) {
    let out = handshake::server_handshake(data, &OFFER, SESSION_ID);
    match (&out.result, &out.reply) {
        (Ok(params), Some(reply)) => {
            assert_eq!(handshake::client_handshake(reply), Ok(*params));
            let h = Header::decode(reply).expect("reply header");
            assert_eq!(
                (h.kind, h.code),
                (MessageKind::Control, wire::control::HELLO_ACK)
            );
            assert_eq!(h.transport_status, TransportStatus::OK);
            let hello = Hello::decode(&data[HEADER_LEN..]).expect("a session needs a HELLO");
            let ack = handshake::negotiate(&hello, &OFFER, SESSION_ID).expect("negotiate");
            assert_eq!(HelloAck::decode(&reply[HEADER_LEN..]), Ok(ack));
            let selected = params.selected_profile;
            assert_eq!(selected.bits().count_ones(), 1, "selected {selected}");
            let hello_supported = wire::Profiles::from_bits_retain(hello.supported_profiles);
            assert!((hello_supported & OFFER.supported_profiles).contains(selected));
            assert!(params.packet_size as usize > HEADER_LEN);
            assert!(params.packet_size <= OFFER.packet_size.min(hello.packet_size));
            assert_eq!(
                params.max_request_payload_bytes,
                hello.max_request_payload_bytes
            );
            assert!(params.max_request_payload_bytes <= OFFER.max_request_payload_bytes);
            assert_eq!(
                params.max_response_payload_bytes,
                OFFER.max_response_payload_bytes
            );
            assert_eq!(params.session_id, SESSION_ID);
            let asked = hello.flags & wire::HELLO_FLAG_EXTENSIONS != 0;
            assert_eq!(params.extensions, if asked { OFFER.extensions } else { 0 });
        }
        (Ok(_), None) => panic!("a session without a HELLO_ACK"),
        (Err(e), reply) => {
            assert_eq!(reply.is_some(), e.reply_status().is_some(), "{e:?}");
            let Some(reply) = reply else { return };
            let h = Header::decode(reply).expect("reply header");
            assert_eq!(Some(h.transport_status), e.reply_status());
            let client = handshake::client_handshake(reply);
            let same = match e {
                HandshakeError::AuthFailed
                | HandshakeError::NoCommonProfile
                | HandshakeError::LimitExceeded => client == Err(*e),
                HandshakeError::Incompatible(_) => {
                    matches!(client, Err(HandshakeError::Incompatible(_)))
                }
                other => panic!("{other:?} has a reply"),
            };
            assert!(same, "server said {e:?}, client understood {client:?}");
        }
    }
}

/// `handshake::client_handshake`: an accepted HELLO_ACK yields the
/// parameters it carries, and re-encoding them is accepted identically.
pub fn client_handshake(data: &[u8]) {
    match handshake::client_handshake(data) {
        Ok(params) => {
            assert!(params.packet_size as usize > HEADER_LEN);
            let h = Header::decode(data).expect("header");
            assert_eq!(
                (h.kind, h.code),
                (MessageKind::Control, wire::control::HELLO_ACK)
            );
            assert_eq!(h.transport_status, TransportStatus::OK);
            let ack = HelloAck::decode(&data[HEADER_LEN..]).expect("HELLO_ACK payload");
            let expected = SessionParams {
                selected_profile: wire::Profiles::from_bits_retain(ack.selected_profile),
                max_request_payload_bytes: ack.agreed_max_request_payload_bytes,
                max_request_batch_items: ack.agreed_max_request_batch_items,
                max_response_payload_bytes: ack.agreed_max_response_payload_bytes,
                max_response_batch_items: ack.agreed_max_response_batch_items,
                packet_size: ack.agreed_packet_size,
                session_id: ack.session_id,
                extensions: ack.extensions,
            };
            assert_eq!(params, expected);
            let again = handshake::hello_ack_message(TransportStatus::OK, &ack);
            assert_eq!(handshake::client_handshake(&again), Ok(params));
        }
        Err(e) => {
            let Ok(h) = Header::decode(data) else { return };
            if h.kind != MessageKind::Control || h.code != wire::control::HELLO_ACK {
                return assert!(matches!(e, HandshakeError::Malformed(_)), "{e:?}");
            }
            // netipc rejections name their reason in the extension word.
            let ext = HelloAck::decode(&data[HEADER_LEN..]).map_or(0, |a| a.extensions);
            let expected = match h.transport_status {
                TransportStatus::OK => return,
                TransportStatus::AUTH_FAILED if ext & wire::extension::IDENTITY_REFUSED != 0 => {
                    HandshakeError::IdentityRefused
                }
                TransportStatus::AUTH_FAILED => HandshakeError::AuthFailed,
                TransportStatus::INTERNAL_ERROR if ext & wire::extension::AT_CAPACITY != 0 => {
                    return assert!(matches!(e, HandshakeError::AtCapacity { .. }), "{e:?}");
                }
                TransportStatus::UNSUPPORTED => HandshakeError::NoCommonProfile,
                TransportStatus::LIMIT_EXCEEDED => HandshakeError::LimitExceeded,
                TransportStatus::INCOMPATIBLE => {
                    return assert!(matches!(e, HandshakeError::Incompatible(_)), "{e:?}");
                }
                other => HandshakeError::Rejected(other),
            };
            assert_eq!(e, expected);
        }
    }
}

// ---- transport: names ------------------------------------------------------

fn valid_service(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
}

fn expect_name(got: Result<String, NameError>, valid: bool, expected: &str, max: usize) {
    match got {
        Ok(name) => {
            assert!(valid && expected.len() <= max, "accepted {name:?}");
            assert_eq!(name, expected);
        }
        Err(NameError::InvalidServiceName(_)) => assert!(!valid),
        Err(NameError::TooLong { len, max: m, .. }) => {
            assert!(valid && len > m && m == max, "TooLong {len} > {m}");
        }
        Err(e) => panic!("unexpected {e:?}"),
    }
}

/// Endpoint name derivations. Input: run_dir length u8, profile u8, auth
/// token u64, session id u64, run_dir, service name (lossy UTF-8).
pub fn names(data: &[u8]) {
    let mut input = Input(data);
    let (Some(dir_len), Some(profile), Some(token), Some(session)) =
        (input.u8(), input.u8(), input.u64(), input.u64())
    else {
        return;
    };
    let run_dir = String::from_utf8_lossy(input.take(usize::from(dir_len))).into_owned();
    let service = String::from_utf8_lossy(input.rest()).into_owned();
    let valid = valid_service(&service);
    assert_eq!(names::validate_service_name(&service).is_ok(), valid);

    let sock = format!("{run_dir}/{service}.sock");
    expect_name(
        names::socket_path(&run_dir, &service),
        valid,
        &sock,
        names::SOCKET_PATH_MAX,
    );
    let file = format!("{service}-{session:016x}.ipcshm");
    let file_res = names::shm_region_file_name(&service, session);
    let file_ok = file_res.is_ok();
    expect_name(file_res, valid, &file, names::SHM_PATH_MAX);
    let path_res = names::shm_region_path(&run_dir, &service, session);
    if file_ok {
        let path = format!("{run_dir}/{file}");
        expect_name(path_res, valid, &path, names::SHM_PATH_MAX);
    } else {
        assert!(path_res.is_err());
    }
    let hash = names::fnv1a64(run_dir.as_bytes());
    let pipe = format!(r"\\.\pipe\netipc-{hash:016x}-{service}");
    expect_name(
        names::pipe_name(&run_dir, &service),
        valid,
        &pipe,
        names::WINDOWS_NAME_MAX,
    );

    let profile = u32::from(profile % 8);
    match names::windows_shm_names(&run_dir, &service, token, profile, session) {
        Ok(n) => {
            assert!(valid && (profile == 2 || profile == 4));
            let prefix = n.mapping.strip_suffix("-mapping").expect("mapping suffix");
            assert!(prefix.starts_with(r"Local\netipc-"));
            assert!(prefix.ends_with(&format!("-{service}-p{profile}-s{session:016x}")));
            assert!(n.mapping.len() <= names::WINDOWS_NAME_MAX);
            assert_eq!(n.req_event.is_some(), profile == 2);
            assert_eq!(n.resp_event.is_some(), profile == 2);
            for ev in [&n.req_event, &n.resp_event].into_iter().flatten() {
                assert!(ev.starts_with(prefix) && ev.len() <= names::WINDOWS_NAME_MAX);
            }
        }
        Err(NameError::InvalidServiceName(_)) => assert!(!valid),
        Err(NameError::InvalidProfile(p)) => assert!(valid && p == profile && p != 2 && p != 4),
        Err(NameError::TooLong { len, max, .. }) => assert!(valid && len > max),
        Err(e) => panic!("unexpected {e:?}"),
    }
}
