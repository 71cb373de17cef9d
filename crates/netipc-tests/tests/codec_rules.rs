//! One test per rule of the codec specification: every rejection
//! condition of every decoder, and the builder behaviours of the
//! conformance checklist.

use netipc::CodecErrorKind as K;
use netipc::codec::NO_LABELS;
use netipc::codec::*;

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}
fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}
fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

// ---- INCREMENT, STRING_REVERSE ---------------------------------------------

#[test]
fn increment_needs_8_bytes_and_ignores_the_rest() {
    assert_eq!(decode_increment(&[0; 7]).unwrap_err().kind(), K::Truncated);
    assert_eq!(decode_increment(&[]).unwrap_err().kind(), K::Truncated);
    let mut b = [0xffu8; 12];
    assert_eq!(encode_increment(41, &mut b), Ok(8));
    assert_eq!(decode_increment(&b), Ok(41));
    assert_eq!(
        encode_increment(1, &mut [0; 7]).unwrap_err().kind(),
        K::Overflow
    );
}

#[test]
fn string_reverse_of_empty_string_is_9_bytes() {
    let mut b = [0xffu8; 16];
    assert_eq!(encode_string_reverse(b"", &mut b), Ok(9));
    assert_eq!(&b[..9], &[8, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn string_reverse_rejections_in_order() {
    let mut ok = [0u8; 14];
    encode_string_reverse(b"hello", &mut ok).unwrap();
    assert_eq!(
        decode_string_reverse(&ok[..7]).unwrap_err().kind(),
        K::Truncated
    );
    let mut b = ok;
    put32(&mut b, 0, 4);
    assert_eq!(decode_string_reverse(&b).unwrap_err().kind(), K::BadLayout);
    let mut b = ok;
    put32(&mut b, 4, 6);
    assert_eq!(
        decode_string_reverse(&b).unwrap_err().kind(),
        K::OutOfBounds
    );
    let mut b = ok;
    put32(&mut b, 4, u32::MAX);
    assert_eq!(
        decode_string_reverse(&b).unwrap_err().kind(),
        K::OutOfBounds
    );
    let mut b = ok;
    b[13] = b'!';
    assert_eq!(decode_string_reverse(&b).unwrap_err().kind(), K::MissingNul);
}

#[test]
fn string_reverse_accepts_interior_nul_and_trailing_bytes() {
    let mut b = [0xeeu8; 20];
    let n = encode_string_reverse(b"a\0b", &mut b).unwrap();
    assert_eq!(decode_string_reverse(&b[..n + 5]), Ok(&b"a\0b"[..]));
}

// ---- CGROUPS_SNAPSHOT -------------------------------------------------------

#[test]
fn snapshot_request_rules() {
    let mut b = [0u8; 4];
    SnapshotRequest::default().encode(&mut b).unwrap();
    assert_eq!(b, [1, 0, 0, 0]);
    assert!(SnapshotRequest::decode(&b).is_ok());
    assert!(
        SnapshotRequest::decode(&[1, 0, 0, 0, 9, 9]).is_ok(),
        "extra bytes ignored"
    );
    assert_eq!(
        SnapshotRequest::decode(&b[..3]).unwrap_err().kind(),
        K::Truncated
    );
    assert_eq!(
        SnapshotRequest::decode(&[2, 0, 0, 0]).unwrap_err().kind(),
        K::BadLayout
    );
    assert_eq!(
        SnapshotRequest::decode(&[1, 0, 1, 0]).unwrap_err().kind(),
        K::BadLayout
    );
}

fn snapshot(items: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = SnapshotBuilder::new(&mut buf, items.len() as u32).unwrap();
    b.set_systemd_enabled(1);
    b.set_generation(7);
    for (i, (name, path)) in items.iter().enumerate() {
        b.add(&SnapshotItem {
            hash: i as u32,
            options: 0,
            enabled: 1,
            name,
            path,
        })
        .unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

fn three() -> Vec<u8> {
    snapshot(&[(b"a", b"/a"), (b"bb", b"/bb"), (b"ccc", b"/ccc")])
}

#[test]
fn snapshot_spec_example_is_75_bytes() {
    let mut buf = [0u8; 128];
    let mut b = SnapshotBuilder::new(&mut buf, 1).unwrap();
    b.add(&SnapshotItem {
        hash: 1,
        options: 0,
        enabled: 1,
        name: b"test",
        path: b"/test",
    })
    .unwrap();
    assert_eq!(b.finish(), 75);
    assert_eq!((get32(&buf, 24), get32(&buf, 28)), (0, 43));
    let item = SnapshotView::decode(&buf[..75]).unwrap().item(0).unwrap();
    assert_eq!((item.name, item.path), (&b"test"[..], &b"/test"[..]));
    assert_eq!((get32(&buf, 32 + 16), get32(&buf, 32 + 24)), (32, 37));
}

#[test]
fn snapshot_with_zero_items_is_24_bytes() {
    let mut buf = [0u8; 64];
    assert_eq!(SnapshotBuilder::new(&mut buf, 4).unwrap().finish(), 24);
    assert_eq!(SnapshotView::decode(&buf[..24]).unwrap().len(), 0);
}

#[test]
fn snapshot_estimate_max_items() {
    assert_eq!(estimate_max_items(0), 0);
    assert_eq!(estimate_max_items(24), 0);
    for k in [1usize, 2, 100] {
        assert_eq!(estimate_max_items(24 + 48 * k), k);
        assert_eq!(estimate_max_items(24 + 48 * k + 47), k);
    }
}

#[test]
fn snapshot_header_rules_a1_to_a4() {
    let ok = three();
    assert_eq!(
        SnapshotView::decode(&ok[..23]).unwrap_err().kind(),
        K::Truncated
    );
    for (at, field) in [(0usize, "layout"), (2, "flags"), (12, "reserved")] {
        let mut b = ok.clone();
        b[at] = 2;
        let e = SnapshotView::decode(&b).unwrap_err();
        assert_eq!((e.kind(), e.offset()), (K::BadLayout, at), "{field}");
    }
}

#[test]
fn snapshot_directory_past_the_end_is_truncated_a6() {
    let mut b = three();
    put32(&mut b, 4, 1000);
    assert_eq!(SnapshotView::decode(&b).unwrap_err().kind(), K::Truncated);
    put32(&mut b, 4, u32::MAX);
    assert_eq!(SnapshotView::decode(&b).unwrap_err().kind(), K::Truncated);
}

#[test]
fn snapshot_directory_misaligned_a7() {
    let mut b = three();
    put32(&mut b, 24 + 8, 4);
    let e = SnapshotView::decode(&b).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (K::BadAlignment, 32));
}

#[test]
fn snapshot_directory_out_of_bounds_a8() {
    let mut b = three();
    put32(&mut b, 24 + 16 + 4, 1000);
    assert_eq!(SnapshotView::decode(&b).unwrap_err().kind(), K::OutOfBounds);
}

#[test]
fn snapshot_directory_item_shorter_than_32_a9() {
    let mut b = three();
    put32(&mut b, 24 + 4, 31);
    assert_eq!(SnapshotView::decode(&b).unwrap_err().kind(), K::Truncated);
}

fn item_start(b: &[u8], i: usize) -> usize {
    let count = get32(b, 4) as usize;
    24 + 8 * count + get32(b, 24 + 8 * i) as usize
}

fn item_error(mut mutate: impl FnMut(&mut Vec<u8>, usize)) -> netipc::CodecError {
    let mut b = three();
    let at = item_start(&b, 1);
    mutate(&mut b, at);
    let v = SnapshotView::decode(&b).expect("phase A passes");
    assert!(v.item(0).is_ok());
    v.item(1).unwrap_err()
}

#[test]
fn snapshot_item_index_out_of_range_b0() {
    let b = three();
    assert_eq!(
        SnapshotView::decode(&b)
            .unwrap()
            .item(3)
            .unwrap_err()
            .kind(),
        K::OutOfBounds
    );
}

#[test]
fn snapshot_item_layout_and_flags_b1_b2() {
    assert_eq!(item_error(|b, at| b[at] = 2).kind(), K::BadLayout);
    assert_eq!(item_error(|b, at| b[at + 2] = 1).kind(), K::BadLayout);
}

#[test]
fn snapshot_item_name_offset_below_header_b3() {
    let e = item_error(|b, at| put32(b, at + 16, 31));
    assert_eq!(e.kind(), K::OutOfBounds);
}

#[test]
fn snapshot_item_name_past_item_b4() {
    assert_eq!(
        item_error(|b, at| put32(b, at + 20, 100)).kind(),
        K::OutOfBounds
    );
    assert_eq!(
        item_error(|b, at| put32(b, at + 20, u32::MAX)).kind(),
        K::OutOfBounds
    );
}

#[test]
fn snapshot_item_missing_nul_b5() {
    let e = item_error(|b, at| b[at + 32 + 2] = b'x');
    assert_eq!(e.kind(), K::MissingNul);
}

#[test]
fn snapshot_item_path_rules_b6_to_b8() {
    assert_eq!(
        item_error(|b, at| put32(b, at + 24, 8)).kind(),
        K::OutOfBounds
    );
    assert_eq!(
        item_error(|b, at| put32(b, at + 28, 100)).kind(),
        K::OutOfBounds
    );
    assert_eq!(
        item_error(|b, at| put32(b, at + 28, 2)).kind(),
        K::MissingNul
    );
}

#[test]
fn snapshot_item_name_path_overlap_b9() {
    // Point the path at the name (same range, valid NUL): ranges intersect.
    let e = item_error(|b, at| {
        put32(b, at + 24, 32);
        put32(b, at + 28, 2);
    });
    assert_eq!(e.kind(), K::BadLayout);
}

#[test]
fn snapshot_accepts_interior_nul_and_unused_item_bytes() {
    let b = snapshot(&[(b"a\0b", b"/p\0q")]);
    let item = SnapshotView::decode(&b).unwrap().item(0).unwrap();
    assert_eq!(item.name, b"a\0b");
    let mut padded = snapshot(&[(b"x", b"/x")]);
    let len = get32(&padded, 28) + 5;
    put32(&mut padded, 28, len);
    padded.extend_from_slice(&[7; 5]);
    assert!(
        SnapshotView::decode(&padded).unwrap().item(0).is_ok(),
        "bytes after the strings"
    );
}

#[test]
fn snapshot_builder_overflow_and_reservation() {
    let mut small = [0u8; 20];
    assert_eq!(
        SnapshotBuilder::new(&mut small, 0).unwrap_err().kind(),
        K::Overflow
    );
    let mut buf = [0u8; 100];
    let mut b = SnapshotBuilder::new(&mut buf, 1).unwrap();
    assert_eq!(
        b.add(&SnapshotItem {
            hash: 0,
            options: 0,
            enabled: 0,
            name: &[b'n'; 60],
            path: b"/p"
        })
        .unwrap_err()
        .kind(),
        K::Overflow
    );
    b.add(&SnapshotItem {
        hash: 0,
        options: 0,
        enabled: 0,
        name: b"n",
        path: b"/p",
    })
    .unwrap();
    assert_eq!(
        b.add(&SnapshotItem {
            hash: 0,
            options: 0,
            enabled: 0,
            name: b"n",
            path: b"/p"
        })
        .unwrap_err()
        .kind(),
        K::Overflow,
        "max_items reached"
    );
    assert_eq!(
        b.error().unwrap().kind(),
        K::Overflow,
        "first error is remembered"
    );
}

// ---- lookup requests ----------------------------------------------------------

fn cgl_request(paths: &[&str]) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let n = encode_cgroups_lookup_request(paths, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn cgroups_request_spec_example_is_43_bytes() {
    let b = cgl_request(&["/a/b", "/c"]);
    assert_eq!(b.len(), 43);
    assert_eq!(
        (get32(&b, 16), get32(&b, 20), get32(&b, 24), get32(&b, 28)),
        (0, 5, 8, 3)
    );
    let r = CgroupsLookupRequest::decode(&b).unwrap();
    assert_eq!(r.paths().collect::<Vec<_>>(), [&b"/a/b"[..], b"/c"]);
}

#[test]
fn lookup_request_header_rules() {
    let ok = cgl_request(&["/a", "/b"]);
    assert_eq!(
        CgroupsLookupRequest::decode(&ok[..15]).unwrap_err().kind(),
        K::Truncated
    );
    for at in [0usize, 2, 8, 12] {
        let mut b = ok.clone();
        b[at] = 3;
        assert_eq!(
            CgroupsLookupRequest::decode(&b).unwrap_err().kind(),
            K::BadLayout,
            "byte {at}"
        );
    }
    let mut b = ok.clone();
    put32(&mut b, 4, 100);
    assert_eq!(
        CgroupsLookupRequest::decode(&b).unwrap_err().kind(),
        K::Truncated
    );
}

#[test]
fn cgroups_request_key_rules() {
    let ok = cgl_request(&["/abc", "/de"]);
    let mut b = ok.clone();
    put32(&mut b, 16 + 4, 1);
    assert_eq!(
        CgroupsLookupRequest::decode(&b).unwrap_err().kind(),
        K::BadLayout,
        "length 1"
    );
    let mut b = ok.clone();
    b[32 + 4] = b'x';
    assert_eq!(
        CgroupsLookupRequest::decode(&b).unwrap_err().kind(),
        K::MissingNul
    );
    let mut b = ok.clone();
    b[32 + 1] = 0;
    assert_eq!(
        CgroupsLookupRequest::decode(&b).unwrap_err().kind(),
        K::BadLayout,
        "interior NUL"
    );
    let mut b = ok.clone();
    put32(&mut b, 24, 4);
    assert_eq!(
        CgroupsLookupRequest::decode(&b).unwrap_err().kind(),
        K::BadAlignment
    );
    let mut b = ok.clone();
    put32(&mut b, 28, 9);
    assert_eq!(
        CgroupsLookupRequest::decode(&b).unwrap_err().kind(),
        K::OutOfBounds
    );
}

#[test]
fn lookup_directory_must_ascend_even_without_overlap() {
    let ok = cgl_request(&["/a", "/b"]);
    let mut b = ok.clone();
    // Swap the two entries: non-overlapping but descending.
    let (e0, e1) = (ok[16..24].to_vec(), ok[24..32].to_vec());
    b[16..24].copy_from_slice(&e1);
    b[24..32].copy_from_slice(&e0);
    assert_eq!(
        CgroupsLookupRequest::decode(&b).unwrap_err().kind(),
        K::BadLayout
    );
}

#[test]
fn cgroups_request_encoder_rejects_empty_or_nul_paths() {
    let mut buf = [0u8; 64];
    assert_eq!(
        encode_cgroups_lookup_request(&[""], &mut buf)
            .unwrap_err()
            .kind(),
        K::BadLayout
    );
    assert_eq!(
        encode_cgroups_lookup_request(&["a\0b"], &mut buf)
            .unwrap_err()
            .kind(),
        K::BadLayout
    );
    assert_eq!(
        encode_cgroups_lookup_request(&["/a"; 10], &mut buf)
            .unwrap_err()
            .kind(),
        K::Overflow
    );
    assert_eq!(
        encode_cgroups_lookup_request::<&str>(&[], &mut buf),
        Ok(16),
        "zero keys: a probe"
    );
}

#[test]
fn apps_request_rules() {
    let mut ok = vec![0u8; 64];
    assert_eq!(
        encode_apps_lookup_request(&[0, 1234, 4321], &mut ok),
        Ok(64)
    );
    let r = AppsLookupRequest::decode(&ok).unwrap();
    assert_eq!(r.pids().collect::<Vec<_>>(), [0, 1234, 4321]);
    let mut b = ok.clone();
    put32(&mut b, 24 + 4, 16);
    assert_eq!(
        AppsLookupRequest::decode(&b).unwrap_err().kind(),
        K::BadLayout,
        "key length 16"
    );
    let mut b = ok.clone();
    put32(&mut b, 24 + 4, 4);
    assert_eq!(
        AppsLookupRequest::decode(&b).unwrap_err().kind(),
        K::BadLayout,
        "key length 4"
    );
    let mut b = ok.clone();
    put32(&mut b, 40 + 8 + 4, 1);
    assert_eq!(
        AppsLookupRequest::decode(&b).unwrap_err().kind(),
        K::BadLayout,
        "key reserved"
    );
    let mut b = ok.clone();
    put32(&mut b, 24, 12);
    assert_eq!(
        AppsLookupRequest::decode(&b).unwrap_err().kind(),
        K::BadAlignment
    );
    let mut b = ok.clone();
    put32(&mut b, 32, 24);
    assert_eq!(
        AppsLookupRequest::decode(&b).unwrap_err().kind(),
        K::OutOfBounds
    );
}

// ---- CGROUPS_LOOKUP responses ---------------------------------------------------

fn cgl_response(add: impl FnOnce(&mut CgroupsLookupBuilder<'_, '_>)) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let mut b = CgroupsLookupBuilder::new(&mut buf, 8, 5).unwrap();
    add(&mut b);
    let n = b.finish();
    buf.truncate(n);
    buf
}

fn known_with_label() -> Vec<u8> {
    cgl_response(|b| {
        b.add(b"/p", &CgroupsEntry::known(3, b"n"), &[("k", "v")])
            .unwrap()
    })
}

const CGL_ITEM: usize = 16 + 8;

#[test]
fn cgroups_label_example_is_a_60_byte_item() {
    let b = known_with_label();
    assert_eq!(get32(&b, 20), 60);
    let item = &b[CGL_ITEM..];
    assert_eq!(
        (
            get32(item, 8),
            get32(item, 12),
            get32(item, 16),
            get32(item, 20)
        ),
        (28, 2, 31, 1)
    );
    assert!(item[33..40].iter().all(|&x| x == 0), "padding to the table");
    assert_eq!(
        (
            get32(item, 40),
            get32(item, 44),
            get32(item, 48),
            get32(item, 52)
        ),
        (56, 1, 58, 1)
    );
    let v = CgroupsLookupView::decode(&b).unwrap();
    let i = v.item(0).unwrap();
    assert_eq!(
        i.labels.get(0).map(|l| (l.key, l.value)),
        Some((&b"k"[..], &b"v"[..]))
    );
    assert_eq!(i.labels.get(1), None);
}

fn cgl_err(mutate: impl FnOnce(&mut Vec<u8>)) -> K {
    let mut b = known_with_label();
    mutate(&mut b);
    CgroupsLookupView::decode(&b).unwrap_err().kind()
}

#[test]
fn lookup_response_header_rules() {
    assert_eq!(cgl_err(|b| b.truncate(15)), K::Truncated);
    assert_eq!(cgl_err(|b| b[0] = 2), K::BadLayout);
    assert_eq!(cgl_err(|b| b[2] = 1), K::BadLayout);
    assert_eq!(cgl_err(|b| put32(b, 4, 1000)), K::Truncated);
}

#[test]
fn lookup_response_generation_takes_every_value() {
    for g in [0u64, u64::MAX] {
        let mut b = known_with_label();
        put64(&mut b, 8, g);
        assert_eq!(CgroupsLookupView::decode(&b).unwrap().generation(), g);
    }
}

#[test]
fn cgroups_response_directory_rules() {
    assert_eq!(cgl_err(|b| put32(b, 16, 4)), K::BadAlignment);
    assert_eq!(
        cgl_err(|b| put32(b, 20, 27)),
        K::BadLayout,
        "shorter than the item header"
    );
    assert_eq!(cgl_err(|b| put32(b, 20, 61)), K::OutOfBounds);
}

#[test]
fn cgroups_item_fixed_fields() {
    assert_eq!(cgl_err(|b| b[CGL_ITEM] = 2), K::BadLayout, "layout_version");
    assert_eq!(cgl_err(|b| b[CGL_ITEM + 6] = 1), K::BadLayout, "reserved0");
    assert_eq!(cgl_err(|b| b[CGL_ITEM + 26] = 1), K::BadLayout, "reserved1");
}

#[test]
fn cgroups_item_status_rules() {
    assert_eq!(cgl_err(|b| b[CGL_ITEM + 2] = 5), K::BadLayout, "status 5");
    assert_eq!(
        cgl_err(|b| put32(b, CGL_ITEM + 12, 0)),
        K::BadLayout,
        "path_length 0"
    );
    let unknown = |mutate: fn(&mut Vec<u8>)| {
        let mut b = cgl_response(|b| {
            b.add_status(b"/x", CgroupsLookupStatus::UnknownRetryLater)
                .unwrap()
        });
        assert!(CgroupsLookupView::decode(&b).is_ok());
        mutate(&mut b);
        CgroupsLookupView::decode(&b).unwrap_err().kind()
    };
    assert_eq!(
        unknown(|b| b[CGL_ITEM + 4] = 1),
        K::BadLayout,
        "orchestrator"
    );
    assert_eq!(
        unknown(|b| put32(b, CGL_ITEM + 20, 1)),
        K::BadLayout,
        "name"
    );
    assert_eq!(unknown(|b| b[CGL_ITEM + 24] = 1), K::BadLayout, "labels");
}

#[test]
fn cgroups_unknown_orchestrator_on_known_item_is_exposed() {
    let b = cgl_response(|b| {
        b.add(b"/p", &CgroupsEntry::known(999, b""), NO_LABELS)
            .unwrap()
    });
    assert_eq!(
        CgroupsLookupView::decode(&b)
            .unwrap()
            .item(0)
            .unwrap()
            .orchestrator,
        999
    );
}

#[test]
fn lookup_item_string_rules() {
    assert_eq!(
        cgl_err(|b| put32(b, CGL_ITEM + 8, 27)),
        K::OutOfBounds,
        "offset below header"
    );
    assert_eq!(
        cgl_err(|b| put32(b, CGL_ITEM + 12, 200)),
        K::OutOfBounds,
        "past the item"
    );
    assert_eq!(cgl_err(|b| b[CGL_ITEM + 30] = b'x'), K::MissingNul);
    assert_eq!(
        cgl_err(|b| b[CGL_ITEM + 29] = 0),
        K::BadLayout,
        "interior NUL"
    );
    let name_on_path_nul = |b: &mut Vec<u8>| {
        put32(b, CGL_ITEM + 16, 30);
        put32(b, CGL_ITEM + 20, 0);
    };
    assert_eq!(
        cgl_err(name_on_path_nul),
        K::BadLayout,
        "empty name on the path's NUL"
    );
}

#[test]
fn lookup_item_must_end_exactly() {
    let mut b = cgl_response(|b| {
        b.add(b"/p", &CgroupsEntry::known(0, b"n"), NO_LABELS)
            .unwrap()
    });
    let len = get32(&b, 20) + 1;
    put32(&mut b, 20, len);
    b.push(0);
    assert_eq!(
        CgroupsLookupView::decode(&b).unwrap_err().kind(),
        K::BadLayout,
        "no labels"
    );
    let mut b = known_with_label();
    put32(&mut b, 20, 61);
    b.push(0);
    assert_eq!(
        CgroupsLookupView::decode(&b).unwrap_err().kind(),
        K::BadLayout,
        "with labels"
    );
}

#[test]
fn label_table_rules() {
    let t = CGL_ITEM + 40;
    assert_eq!(
        cgl_err(|b| b[CGL_ITEM + 35] = 1),
        K::BadLayout,
        "non-zero padding"
    );
    assert_eq!(cgl_err(|b| put32(b, t + 4, 0)), K::BadLayout, "empty key");
    assert_eq!(
        cgl_err(|b| put32(b, t, 48)),
        K::BadLayout,
        "table at a non-canonical place"
    );
    assert_eq!(
        cgl_err(|b| put32(b, t + 8, 59)),
        K::BadLayout,
        "gap between strings"
    );
    assert_eq!(
        cgl_err(|b| b[CGL_ITEM + 24] = 100),
        K::OutOfBounds,
        "table past the item"
    );
    assert_eq!(cgl_err(|b| b[CGL_ITEM + 57] = b'x'), K::MissingNul);
}

#[test]
fn label_strings_have_no_interior_nul() {
    let ok = cgl_response(|b| {
        b.add(
            b"/p",
            &CgroupsEntry::known(3, b"n"),
            &[("key", "value"), ("k2", "v2")],
        )
        .unwrap()
    });
    assert_eq!(CgroupsLookupView::decode(&ok).unwrap().len(), 1);
    // The label table of this item starts at its byte 40 (as in the
    // 60-byte example): (key offset, key length, value offset, value
    // length) per label.
    let string = |b: &[u8], field: usize| CGL_ITEM + get32(b, CGL_ITEM + 40 + field) as usize;
    for (at, what) in [
        (string(&ok, 0) + 1, "lookup label key"),
        (string(&ok, 8) + 2, "lookup label value"),
        (string(&ok, 16) + 1, "lookup label key"),
        (string(&ok, 24), "lookup label value"),
    ] {
        let mut b = ok.clone();
        b[at] = 0;
        let e = CgroupsLookupView::decode(&b).unwrap_err();
        assert_eq!(e.kind(), K::BadLayout, "{e}");
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
}

#[test]
fn cgroups_placeholder_is_30_plus_path_bytes() {
    let b = cgl_response(|b| {
        b.add_status(b"/abcd", CgroupsLookupStatus::PayloadExceeded)
            .unwrap()
    });
    assert_eq!(get32(&b, 20), 30 + 5);
    assert_eq!(cgroups_lookup_placeholder_len(5), 35);
}

#[test]
fn cgroups_builder_rejects_invalid_items_and_remembers_it() {
    let mut buf = [0u8; 512];
    let mut b = CgroupsLookupBuilder::new(&mut buf, 4, 0).unwrap();
    let e = b.add(
        b"/p",
        &CgroupsEntry {
            status: CgroupsLookupStatus::UnknownPermanent,
            orchestrator: 1,
            name: b"",
        },
        NO_LABELS,
    );
    assert_eq!(
        e.unwrap_err().kind(),
        K::BadLayout,
        "orchestrator on a non-KNOWN item"
    );
    assert_eq!(
        b.add(b"", &CgroupsEntry::known(0, b""), NO_LABELS)
            .unwrap_err()
            .kind(),
        K::BadLayout,
        "empty path"
    );
    assert_eq!(
        b.add(b"/p", &CgroupsEntry::known(0, b"n\0"), NO_LABELS)
            .unwrap_err()
            .kind(),
        K::BadLayout
    );
    assert_eq!(
        b.add(b"/p", &CgroupsEntry::known(0, b""), &[("", "v")])
            .unwrap_err()
            .kind(),
        K::BadLayout
    );
    assert_eq!(b.error().unwrap().kind(), K::BadLayout);
}

fn dispatch_cgl(
    paths: &[&str],
    budget: usize,
    name: &[u8],
) -> Result<Vec<CgroupsLookupStatus>, DispatchError> {
    let req = cgl_request(paths);
    let mut out = vec![0u8; budget];
    let n = dispatch_cgroups_lookup(&req, &mut out, |r, b| {
        (0..r.len()).all(|i| {
            b.add_request_item(i, &CgroupsEntry::known(1, name), NO_LABELS)
                .is_ok()
        })
    })?;
    let v = CgroupsLookupView::decode(&out[..n]).unwrap();
    for (i, item) in v.iter().enumerate() {
        assert_eq!(item.path, paths[i].as_bytes(), "every item echoes its key");
    }
    Ok(v.iter().map(|i| i.status).collect())
}

#[test]
fn builder_suffix_mode_and_oversized_first_item() {
    use CgroupsLookupStatus::*;
    let paths = ["/a", "/b", "/c"];
    let full = dispatch_cgl(&paths, 4096, &[b'n'; 40]).unwrap();
    assert_eq!(full, [Known, Known, Known]);
    // Room for the first item and the placeholders, not more.
    let small = dispatch_cgl(&paths, 16 + 24 + 72 + 8 + 32 + 32, &[b'n'; 40]).unwrap();
    assert_eq!(small, [Known, PayloadExceeded, PayloadExceeded]);
    // Not even the first item fits with the reservation.
    let tiny = dispatch_cgl(&paths, 16 + 24 + 32 + 32 + 32, &[b'n'; 40]).unwrap();
    assert_eq!(tiny, [OversizedItem, PayloadExceeded, PayloadExceeded]);
}

#[test]
fn builder_reports_overflow_when_placeholders_do_not_fit() {
    let e = dispatch_cgl(&["/a", "/b", "/c"], 60, b"n").unwrap_err();
    assert_eq!(
        e.transport_status(),
        netipc::wire::TransportStatus::LIMIT_EXCEEDED
    );
}

#[test]
fn dispatch_requires_one_item_per_key() {
    let req = cgl_request(&["/a", "/b"]);
    let mut out = vec![0u8; 1024];
    let e = dispatch_cgroups_lookup(&req, &mut out, |_, b| {
        b.add(b"/a", &CgroupsEntry::known(0, b""), NO_LABELS)
            .is_ok()
    });
    assert!(matches!(e, Err(DispatchError::Builder(c)) if c.kind() == K::BadItemCount));
    let e = dispatch_cgroups_lookup(&req, &mut out, |_, _| false);
    assert_eq!(e, Err(DispatchError::HandlerFailed));
    let e = dispatch_cgroups_lookup(&req[..10], &mut out, |_, _| true);
    assert!(matches!(e, Err(DispatchError::BadRequest(_))));
    assert_eq!(
        e.unwrap_err().transport_status(),
        netipc::wire::TransportStatus::BAD_ENVELOPE
    );
}

#[test]
fn raw_reencode_rejects_an_invalid_item() {
    let b = known_with_label();
    let v = CgroupsLookupView::decode(&b).unwrap();
    let item = v.raw_item(0).unwrap();
    let mut out = vec![0u8; 256];
    let n = encode_cgroups_lookup_raw_response([item], 5, &mut out).unwrap();
    assert_eq!(&out[..n], &b[..]);
    let mut broken = item.to_vec();
    broken[2] = 9;
    assert!(encode_cgroups_lookup_raw_response([&broken[..]], 5, &mut out).is_err());
    assert_eq!(
        encode_cgroups_lookup_raw_response([item], 5, &mut out[..40])
            .unwrap_err()
            .kind(),
        K::Overflow
    );
}

// ---- APPS_LOOKUP responses --------------------------------------------------------

fn known_app() -> AppsEntry<'static> {
    AppsEntry {
        status: PidStatus::Known,
        cgroup_status: CgroupStatus::Known,
        orchestrator: 2,
        ppid: 1,
        uid: 1000,
        starttime: 77,
        comm: b"nginx",
        cgroup_path: b"/docker/c0",
        cgroup_name: b"c0",
    }
}

fn apps_response(entries: &[AppsEntry<'_>]) -> Vec<u8> {
    let mut buf = vec![0u8; 2048];
    let mut b = AppsLookupBuilder::new(&mut buf, entries.len() as u32, 1).unwrap();
    for (i, e) in entries.iter().enumerate() {
        b.add(i as u32 + 100, e, &[("team", "web")][..e.label_count()])
            .unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

trait LabelCount {
    fn label_count(&self) -> usize;
}
impl LabelCount for AppsEntry<'_> {
    fn label_count(&self) -> usize {
        usize::from(self.status == PidStatus::Known && self.cgroup_status == CgroupStatus::Known)
    }
}

fn apps_err(entry: AppsEntry<'_>, mutate: impl FnOnce(&mut Vec<u8>)) -> K {
    let mut b = apps_response(&[entry]);
    assert!(AppsLookupView::decode(&b).is_ok(), "base decodes");
    mutate(&mut b);
    AppsLookupView::decode(&b).unwrap_err().kind()
}

const APPS_ITEM: usize = 24;

#[test]
fn apps_item_fixed_fields() {
    assert_eq!(apps_err(known_app(), |b| b[APPS_ITEM] = 2), K::BadLayout);
    assert_eq!(
        apps_err(known_app(), |b| b[APPS_ITEM + 20] = 1),
        K::BadLayout,
        "reserved0"
    );
    assert_eq!(
        apps_err(known_app(), |b| b[APPS_ITEM + 58] = 1),
        K::BadLayout,
        "reserved1"
    );
    assert_eq!(
        apps_err(known_app(), |b| put32(b, 20, 59)),
        K::BadLayout,
        "shorter than 60"
    );
}

#[test]
fn apps_status_domains_and_comm_length() {
    assert_eq!(
        apps_err(known_app(), |b| b[APPS_ITEM + 2] = 4),
        K::BadLayout,
        "status 4"
    );
    assert_eq!(
        apps_err(known_app(), |b| b[APPS_ITEM + 6] = 4),
        K::BadLayout,
        "cgroup_status 4"
    );
    let mut buf = [0u8; 512];
    let mut b = AppsLookupBuilder::new(&mut buf, 2, 0).unwrap();
    let long = AppsEntry {
        comm: &[b'c'; 16],
        ..known_app()
    };
    assert_eq!(
        b.add(1, &long, NO_LABELS).unwrap_err().kind(),
        K::BadLayout,
        "comm 16"
    );
    let empty = AppsEntry {
        comm: b"",
        ..known_app()
    };
    assert_eq!(
        b.add(1, &empty, NO_LABELS).unwrap_err().kind(),
        K::BadLayout,
        "KNOWN comm empty"
    );
    let max = AppsEntry {
        comm: &[b'c'; 15],
        ..known_app()
    };
    let mut buf = [0u8; 512];
    let mut b = AppsLookupBuilder::new(&mut buf, 1, 0).unwrap();
    assert!(b.add(1, &max, NO_LABELS).is_ok(), "comm 15");
}

#[test]
fn apps_non_known_items_carry_only_the_pid() {
    let unknown = AppsEntry::unset(PidStatus::Unknown);
    for (at, value) in [(16usize, 0u8), (12, 1), (24, 1), (4, 1), (6, 1)] {
        assert_eq!(
            apps_err(unknown, |b| b[APPS_ITEM + at] = value),
            K::BadLayout,
            "byte {at}"
        );
    }
    let b = apps_response(&[unknown]);
    assert_eq!(get32(&b, 20), 63, "placeholder size");
    let item = AppsLookupView::decode(&b).unwrap().item(0).unwrap();
    assert_eq!((item.pid, item.entry.uid), (100, UID_UNSET));
}

#[test]
fn apps_cgroup_status_table() {
    let e = |cgroup_status, path: &'static [u8], orchestrator, name: &'static [u8]| AppsEntry {
        cgroup_status,
        cgroup_path: path,
        orchestrator,
        cgroup_name: name,
        ..known_app()
    };
    let ok = |entry: AppsEntry<'_>| {
        let mut buf = [0u8; 512];
        let mut b = AppsLookupBuilder::new(&mut buf, 1, 0).unwrap();
        b.add(1, &entry, NO_LABELS).is_ok()
    };
    assert!(ok(e(CgroupStatus::Known, b"/p", 5, b"n")));
    assert!(
        !ok(e(CgroupStatus::Known, b"", 0, b"")),
        "KNOWN needs a path"
    );
    assert!(
        ok(e(CgroupStatus::UnknownRetryLater, b"", 0, b"")),
        "empty path allowed"
    );
    assert!(!ok(e(CgroupStatus::UnknownRetryLater, b"/p", 1, b"")));
    assert!(ok(e(CgroupStatus::UnknownPermanent, b"/p", 0, b"")));
    assert!(
        !ok(e(CgroupStatus::UnknownPermanent, b"", 0, b"")),
        "permanent needs a path"
    );
    assert!(!ok(e(CgroupStatus::UnknownPermanent, b"/p", 0, b"n")));
    assert!(ok(e(CgroupStatus::HostRoot, b"", 0, b"")));
    assert!(
        !ok(e(CgroupStatus::HostRoot, b"/p", 0, b"")),
        "host root has no path"
    );
    // The same rule holds in the decoder.
    let host = e(CgroupStatus::HostRoot, b"", 0, b"");
    assert_eq!(apps_err(host, |b| b[APPS_ITEM + 4] = 1), K::BadLayout);
}

#[test]
fn apps_string_rules_and_overlap() {
    assert_eq!(
        apps_err(known_app(), |b| put32(b, APPS_ITEM + 32, 59)),
        K::OutOfBounds
    );
    assert_eq!(
        apps_err(known_app(), |b| b[APPS_ITEM + 65] = b'x'),
        K::MissingNul
    );
    // cgroup_name re-pointed into the cgroup_path.
    assert_eq!(
        apps_err(known_app(), |b| put32(b, APPS_ITEM + 48, 66 + 8)),
        K::BadLayout
    );
}

#[test]
fn apps_dispatch_budget_rules() {
    let mut req = vec![0u8; 64];
    let n = encode_apps_lookup_request(&[1, 2, 3], &mut req).unwrap();
    let run = |budget: usize| {
        let mut out = vec![0u8; budget];
        dispatch_apps_lookup(&req[..n], &mut out, |r, b| {
            r.pids()
                .all(|pid| b.add(pid, &known_app(), &[("k", "v")]).is_ok())
        })
        .map(|len| {
            let v = AppsLookupView::decode(&out[..len]).unwrap();
            v.iter()
                .map(|i| (i.pid, i.entry.status))
                .collect::<Vec<_>>()
        })
    };
    use PidStatus::*;
    assert_eq!(run(4096).unwrap(), [(1, Known), (2, Known), (3, Known)]);
    assert_eq!(
        run(40 + 63 + 1 + 63 + 1 + 63).unwrap(),
        [
            (1, OversizedItem),
            (2, PayloadExceeded),
            (3, PayloadExceeded)
        ]
    );
    assert!(run(100).is_err());
}

#[test]
fn apps_errors_point_at_the_offending_field() {
    let offset = |at: usize, value: u8| {
        let mut b = apps_response(&[AppsEntry::unset(PidStatus::Unknown)]);
        b[APPS_ITEM + at] = value;
        AppsLookupView::decode(&b).unwrap_err().offset()
    };
    assert_eq!(offset(16, 0), APPS_ITEM + 16, "uid");
    assert_eq!(offset(12, 1), APPS_ITEM + 12, "ppid");
    assert_eq!(offset(24, 1), APPS_ITEM + 24, "starttime");
    assert_eq!(offset(6, 9), APPS_ITEM + 6, "cgroup_status");
    let mut b = apps_response(&[known_app()]);
    put32(&mut b, APPS_ITEM + 48, 66 + 8);
    assert_eq!(
        AppsLookupView::decode(&b).unwrap_err().offset(),
        APPS_ITEM + 48,
        "cgroup_name overlap"
    );
}
