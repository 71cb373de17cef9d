//! One test per rule of the wire envelope specification: outer header,
//! batch directory, chunking, limits, in-flight ids and the byte images of
//! section 13.

use netipc::CodecErrorKind as K;
use netipc::transport::framing::{
    ChunkError, FirstPacket, InFlight, Limits, Packets, ProtocolError, Reassembly, check_batch,
    first_packet,
};
use netipc::wire::*;

fn header(kind: MessageKind, payload_len: u32) -> Header {
    Header {
        kind,
        flags: 0,
        code: Method::StringReverse.code(),
        transport_status: TransportStatus::OK,
        payload_len,
        item_count: 1,
        message_id: 7,
    }
}

fn message(h: &Header, payload: &[u8]) -> Vec<u8> {
    [&h.to_bytes()[..], payload].concat()
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

// ---- outer header -------------------------------------------------------

#[test]
fn header_fields_sit_at_their_offsets() {
    let h = Header {
        kind: MessageKind::Response,
        flags: 0x0102,
        code: 0x0304,
        transport_status: TransportStatus(0x0506),
        payload_len: 0x0708_090a,
        item_count: 0x0b0c_0d0e,
        message_id: 0x1112_1314_1516_1718,
    };
    let b = h.to_bytes();
    assert_eq!(b.len(), 32);
    assert_eq!(&b[0..4], &MAGIC.to_ne_bytes());
    assert_eq!(&b[4..6], &1u16.to_ne_bytes());
    assert_eq!(&b[6..8], &32u16.to_ne_bytes());
    assert_eq!(&b[8..10], &2u16.to_ne_bytes());
    assert_eq!(&b[10..12], &0x0102u16.to_ne_bytes());
    assert_eq!(&b[12..14], &0x0304u16.to_ne_bytes());
    assert_eq!(&b[14..16], &0x0506u16.to_ne_bytes());
    assert_eq!(&b[16..20], &0x0708_090au32.to_ne_bytes());
    assert_eq!(&b[20..24], &0x0b0c_0d0eu32.to_ne_bytes());
    assert_eq!(&b[24..32], &0x1112_1314_1516_1718u64.to_ne_bytes());
    assert_eq!(Header::decode(&b), Ok(h));
}

#[test]
fn header_shorter_than_32_bytes_is_truncated() {
    let b = header(MessageKind::Request, 0).to_bytes();
    for n in 0..32 {
        assert_eq!(
            Header::decode(&b[..n]).unwrap_err().kind(),
            K::Truncated,
            "{n} bytes"
        );
    }
}

#[test]
fn header_bad_magic() {
    let mut b = header(MessageKind::Request, 0).to_bytes();
    b[0] ^= 1;
    let e = Header::decode(&b).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (K::BadMagic, 0));
}

#[test]
fn header_bad_version() {
    let mut b = header(MessageKind::Request, 0).to_bytes();
    b[4..6].copy_from_slice(&2u16.to_ne_bytes());
    let e = Header::decode(&b).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (K::BadVersion, 4));
}

#[test]
fn header_bad_header_len() {
    let mut b = header(MessageKind::Request, 0).to_bytes();
    b[6..8].copy_from_slice(&24u16.to_ne_bytes());
    assert_eq!(Header::decode(&b).unwrap_err().kind(), K::BadHeaderLen);
}

#[test]
fn header_kind_must_be_1_2_or_3() {
    for kind in [0u16, 4, 0xffff] {
        let mut b = header(MessageKind::Request, 0).to_bytes();
        b[8..10].copy_from_slice(&kind.to_ne_bytes());
        assert_eq!(
            Header::decode(&b).unwrap_err().kind(),
            K::BadKind,
            "kind {kind}"
        );
    }
}

#[test]
fn header_checks_run_in_specified_order() {
    // Bad magic and bad version: magic wins; bad version and bad kind: version wins.
    let mut b = header(MessageKind::Request, 0).to_bytes();
    b[0] ^= 1;
    b[4] = 9;
    b[8] = 9;
    assert_eq!(Header::decode(&b).unwrap_err().kind(), K::BadMagic);
    b[0] ^= 1;
    assert_eq!(Header::decode(&b).unwrap_err().kind(), K::BadVersion);
}

#[test]
fn header_flags_code_and_status_are_not_validated() {
    let mut h = header(MessageKind::Request, 0);
    h.flags = 0xfffe;
    h.code = 999;
    h.transport_status = TransportStatus(777);
    assert_eq!(Header::decode(&h.to_bytes()), Ok(h));
}

#[test]
fn message_len_must_fit_u32() {
    assert_eq!(
        header(MessageKind::Request, u32::MAX - 32).message_len(),
        Some(u32::MAX)
    );
    assert_eq!(
        header(MessageKind::Request, u32::MAX - 31).message_len(),
        None
    );
    let b = header(MessageKind::Request, u32::MAX).to_bytes();
    assert_eq!(
        first_packet(&b, &Limits::UNLIMITED, None, 65536),
        Err(ProtocolError::MessageTooLarge(u32::MAX))
    );
}

// ---- batch directory ----------------------------------------------------

#[test]
fn batch_builder_matches_the_spec_example() {
    let mut buf = [0xaau8; 64];
    let mut b = BatchBuilder::new(&mut buf, 3).unwrap();
    for item in [&b"abc"[..], b"12345678", b"Z"] {
        b.push(item).unwrap();
    }
    let n = b.finish().unwrap();
    let want = hex(
        "00 00 00 00 03 00 00 00 08 00 00 00 08 00 00 00 10 00 00 00 01 00 00 00 \
         61 62 63 00 00 00 00 00 31 32 33 34 35 36 37 38 5a 00 00 00 00 00 00 00",
    );
    assert_eq!(&buf[..n], &want[..]);
    assert_eq!(batch_payload_len([3, 8, 1]), Some(48));
}

#[test]
fn batch_offsets_are_relative_aligned_and_gaps_zeroed() {
    let mut buf = [0xffu8; 128];
    let mut b = BatchBuilder::new(&mut buf, 4).unwrap();
    for item in [&b"a"[..], b"", b"0123456789", b"z"] {
        b.push(item).unwrap();
    }
    let n = b.finish().unwrap();
    assert_eq!(n % 8, 0, "payload_len includes the trailing padding");
    let view = BatchView::new(&buf[..n], 4).unwrap();
    let items: Vec<&[u8]> = view.iter().collect();
    assert_eq!(items, [&b"a"[..], b"", b"0123456789", b"z"]);
    for i in 0..4 {
        let off = u32::from_ne_bytes(buf[i * 8..i * 8 + 4].try_into().unwrap());
        assert_eq!(off % 8, 0);
    }
    let packed = &buf[32..n];
    assert!(
        packed[1..8].iter().all(|&b| b == 0),
        "gap after item 0 is zero"
    );
    assert!(
        packed[n - 32 - 7..].iter().all(|&b| b == 0),
        "trailing pad is zero"
    );
}

#[test]
fn batch_builder_compacts_an_unused_reservation() {
    let mut buf = [0u8; 128];
    let mut b = BatchBuilder::new(&mut buf, 5).unwrap();
    b.push(b"xy").unwrap();
    b.push(b"z").unwrap();
    let n = b.finish().unwrap();
    assert_eq!(n, 16 + 16);
    let view = BatchView::new(&buf[..n], 2).unwrap();
    assert_eq!(view.item(0), Some(&b"xy"[..]));
    assert_eq!(view.item(1), Some(&b"z"[..]));
}

#[test]
fn batch_builder_overflows_cleanly() {
    let mut buf = [0u8; 16];
    assert_eq!(
        BatchBuilder::new(&mut buf, 3).unwrap_err().kind(),
        K::Overflow
    );
    let mut b = BatchBuilder::new(&mut buf, 1).unwrap();
    assert_eq!(b.push(b"123456789").unwrap_err().kind(), K::Overflow);
    b.push(b"1234").unwrap();
    assert_eq!(
        b.push(b"1").unwrap_err().kind(),
        K::Overflow,
        "all reserved entries used"
    );
}

fn batch_payload() -> Vec<u8> {
    let mut buf = vec![0u8; 64];
    let mut b = BatchBuilder::new(&mut buf, 2).unwrap();
    b.push(b"hello").unwrap();
    b.push(b"world!").unwrap();
    let n = b.finish().unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn batch_view_rejects_a_misaligned_offset() {
    let mut p = batch_payload();
    p[8..12].copy_from_slice(&4u32.to_ne_bytes());
    let e = BatchView::new(&p, 2).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (K::BadAlignment, 8));
}

#[test]
fn batch_view_rejects_an_item_past_the_packed_area() {
    let mut p = batch_payload();
    let packed = p.len() - 16;
    p[12..16].copy_from_slice(&(packed as u32 - 8 + 1).to_ne_bytes());
    assert_eq!(BatchView::new(&p, 2).unwrap_err().kind(), K::OutOfBounds);
    p[8..12].copy_from_slice(&u32::MAX.to_ne_bytes().map(|b| b & 0xf8));
    assert_eq!(
        BatchView::new(&p, 2).unwrap_err().kind(),
        K::OutOfBounds,
        "no overflow"
    );
}

#[test]
fn batch_view_rejects_a_directory_longer_than_the_payload() {
    let p = batch_payload();
    assert_eq!(
        BatchView::new(&p[..15], 2).unwrap_err().kind(),
        K::Truncated
    );
    assert_eq!(BatchView::new(&p, 100).unwrap_err().kind(), K::Truncated);
}

#[test]
fn batch_view_accepts_zero_length_items() {
    let mut buf = [0u8; 16];
    let mut b = BatchBuilder::new(&mut buf, 2).unwrap();
    b.push(b"").unwrap();
    b.push(b"").unwrap();
    assert_eq!(b.finish().unwrap(), 16);
    let v = BatchView::new(&buf, 2).unwrap();
    assert_eq!(v.iter().collect::<Vec<_>>(), [&b""[..], b""]);
}

#[test]
fn batch_with_one_item_is_not_directory_validated_at_level_1() {
    let mut h = header(MessageKind::Request, 8);
    h.flags = FLAG_BATCH;
    h.item_count = 1;
    assert_eq!(check_batch(&h, &[0xff; 8]), Ok(()));
    h.item_count = 2;
    assert!(matches!(
        check_batch(&h, &[0xff; 8]),
        Err(ProtocolError::BatchDirectory(_))
    ));
    h.flags = 0;
    assert_eq!(check_batch(&h, &[0xff; 8]), Ok(()), "not a batch");
}

// ---- chunking -----------------------------------------------------------

fn split(len: usize, packet_size: u32) -> Vec<Vec<u8>> {
    let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
    Packets::new(
        header(MessageKind::Request, len as u32),
        &payload,
        packet_size,
    )
    .map(|p| [&p.prefix[..], p.body].concat())
    .collect()
}

#[test]
fn message_of_exactly_packet_size_is_one_packet() {
    let packets = split(64 - 32, 64);
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].len(), 64);
}

#[test]
fn one_byte_more_than_packet_size_is_two_packets() {
    let packets = split(64 - 32 + 1, 64);
    assert_eq!(packets.len(), 2);
    assert_eq!(packets[1].len(), 33);
}

#[test]
fn chunk_count_follows_the_formula_and_indices_start_at_1() {
    for (len, p) in [
        (100usize, 96u32),
        (309, 128),
        (8, 33),
        (5000, 1000),
        (0, 33),
    ] {
        let b = p as usize - 32;
        let expected = 1 + (len - len.min(b)).div_ceil(b);
        let packets = split(len, p);
        assert_eq!(packets.len(), expected, "len {len} packet {p}");
        for (i, pkt) in packets.iter().enumerate().skip(1) {
            let c = ChunkHeader::decode(pkt).unwrap();
            assert_eq!(c.chunk_index as usize, i);
            assert_eq!(c.chunk_count as usize, expected);
            assert_eq!(c.total_message_len as usize, 32 + len);
            assert_eq!(c.chunk_payload_len as usize, pkt.len() - 32);
            assert!(pkt.len() <= p as usize);
        }
    }
}

#[test]
fn chunk_header_matches_the_spec_image() {
    let c = ChunkHeader {
        message_id: 7,
        total_message_len: 132,
        chunk_index: 1,
        chunk_count: 2,
        chunk_payload_len: 36,
    };
    let want = hex(
        "4b 48 43 4e 01 00 00 00 07 00 00 00 00 00 00 00 84 00 00 00 01 00 00 00 02 00 00 00 24 00 00 00",
    );
    assert_eq!(c.to_bytes().to_vec(), want);
    assert_eq!(ChunkHeader::decode(&want), Ok(c));
}

fn reassembly(len: usize, p: u32) -> (Reassembly, Vec<Vec<u8>>) {
    let packets = split(len, p);
    match first_packet(&packets[0], &Limits::UNLIMITED, None, p).unwrap() {
        FirstPacket::Chunked(r) => (r, packets),
        FirstPacket::Complete(_) => panic!("expected a chunked message"),
    }
}

fn corrupt(offset: usize, value: u32) -> ProtocolError {
    let (mut r, mut packets) = reassembly(200, 64);
    packets[1][offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
    r.accept(&packets[1]).unwrap_err()
}

#[test]
fn continuation_with_wrong_magic_is_rejected() {
    assert!(
        matches!(corrupt(0, 0x4e49_5043), ProtocolError::Chunk(ChunkError::Header(e)) if e.kind() == K::BadMagic)
    );
}

#[test]
fn continuation_with_wrong_version_is_rejected() {
    let (mut r, mut packets) = reassembly(200, 64);
    packets[1][4] = 2;
    assert!(
        matches!(r.accept(&packets[1]), Err(ProtocolError::Chunk(ChunkError::Header(e))) if e.kind() == K::BadVersion)
    );
}

#[test]
fn continuation_with_nonzero_flags_is_rejected() {
    let (mut r, mut packets) = reassembly(200, 64);
    packets[1][6] = 1;
    assert!(
        matches!(r.accept(&packets[1]), Err(ProtocolError::Chunk(ChunkError::Header(e))) if e.kind() == K::BadLayout)
    );
}

#[test]
fn continuation_with_zero_chunk_payload_len_is_rejected() {
    assert!(
        matches!(corrupt(28, 0), ProtocolError::Chunk(ChunkError::Header(e)) if e.kind() == K::BadLayout)
    );
}

#[test]
fn continuation_with_wrong_message_id_is_rejected() {
    assert!(matches!(
        corrupt(8, 8),
        ProtocolError::Chunk(ChunkError::Mismatch {
            field: "message_id",
            ..
        })
    ));
}

#[test]
fn continuation_with_wrong_total_len_is_rejected() {
    assert!(matches!(
        corrupt(16, 233),
        ProtocolError::Chunk(ChunkError::Mismatch {
            field: "total_message_len",
            ..
        })
    ));
}

#[test]
fn continuation_with_wrong_index_is_rejected() {
    assert!(matches!(
        corrupt(20, 2),
        ProtocolError::Chunk(ChunkError::Mismatch {
            field: "chunk_index",
            ..
        })
    ));
}

#[test]
fn continuation_with_wrong_count_is_rejected() {
    assert!(matches!(
        corrupt(24, 99),
        ProtocolError::Chunk(ChunkError::Mismatch {
            field: "chunk_count",
            ..
        })
    ));
}

#[test]
fn continuation_whose_length_differs_from_its_bytes_is_rejected() {
    assert!(matches!(
        corrupt(28, 31),
        ProtocolError::Chunk(ChunkError::Mismatch {
            field: "chunk_payload_len",
            ..
        })
    ));
}

#[test]
fn continuation_carrying_more_than_the_message_is_rejected() {
    let (mut r, packets) = reassembly(40, 64);
    let mut extra = packets[1].clone();
    extra.extend_from_slice(&[0; 4]);
    let body = extra.len() as u32 - 32;
    extra[28..32].copy_from_slice(&body.to_ne_bytes());
    assert!(matches!(
        r.accept(&extra),
        Err(ProtocolError::Chunk(ChunkError::TooLong { .. }))
    ));
}

#[test]
fn reassembly_completes_with_the_exact_payload() {
    let (mut r, packets) = reassembly(1000, 100);
    let mut payload = vec![0u8; 1000];
    payload[..r.received()].copy_from_slice(&packets[0][32..]);
    for p in &packets[1..] {
        let range = r.accept(p).unwrap();
        payload[range].copy_from_slice(&p[32..]);
    }
    assert!(r.is_complete());
    assert!(payload.iter().enumerate().all(|(i, &b)| b == i as u8));
}

#[test]
fn first_packet_longer_than_its_message_is_rejected() {
    let mut m = message(&header(MessageKind::Request, 4), b"abcd");
    m.push(0);
    assert!(matches!(
        first_packet(&m, &Limits::UNLIMITED, None, 65536),
        Err(ProtocolError::PacketLongerThanMessage {
            packet: 37,
            message: 36
        })
    ));
}

// ---- limits and in-flight ids --------------------------------------------

#[test]
fn payload_ceiling_is_enforced_and_equal_is_accepted() {
    let limits = Limits {
        max_payload: 4,
        max_items: 1,
    };
    let ok = message(&header(MessageKind::Request, 4), b"abcd");
    assert!(first_packet(&ok, &limits, None, 65536).is_ok());
    let big = message(&header(MessageKind::Request, 5), b"abcde");
    assert!(matches!(
        first_packet(&big, &limits, None, 65536),
        Err(ProtocolError::Limit(_))
    ));
}

#[test]
fn item_ceiling_applies_to_single_messages_too() {
    let m = message(&header(MessageKind::Request, 0), b"");
    let zero = Limits {
        max_payload: 1024,
        max_items: 0,
    };
    assert!(matches!(
        first_packet(&m, &zero, None, 65536),
        Err(ProtocolError::Limit(_))
    ));
    let one = Limits {
        max_payload: 1024,
        max_items: 1,
    };
    assert!(first_packet(&m, &one, None, 65536).is_ok());
}

#[test]
fn limits_are_checked_before_the_packet_length() {
    // A chunked message over the limit fails on its header alone.
    let h = header(MessageKind::Request, 10_000);
    let limits = Limits {
        max_payload: 1024,
        max_items: 1,
    };
    assert!(matches!(
        first_packet(&h.to_bytes(), &limits, None, 64),
        Err(ProtocolError::Limit(_))
    ));
}

#[test]
fn client_rejects_a_response_id_not_in_flight_and_removes_answered_ids() {
    let mut ids = InFlight::new();
    assert!(ids.insert(7));
    assert!(!ids.insert(7), "duplicate id refused");
    let m = message(&header(MessageKind::Response, 0), b"");
    assert!(first_packet(&m, &Limits::UNLIMITED, Some(&mut ids), 65536).is_ok());
    assert!(ids.is_empty());
    assert_eq!(
        first_packet(&m, &Limits::UNLIMITED, Some(&mut ids), 65536),
        Err(ProtocolError::UnknownMessageId(7))
    );
    ids.insert(1);
    ids.insert(2);
    ids.clear();
    assert!(ids.is_empty(), "errors clear the in-flight set");
}

#[test]
fn pipelined_responses_match_in_any_order() {
    let mut ids = InFlight::new();
    for id in 1..=16 {
        ids.insert(id);
    }
    for id in (1..=16).rev().step_by(2).chain((1..=15).step_by(2)) {
        let mut h = header(MessageKind::Response, 0);
        h.message_id = id;
        assert!(
            first_packet(&h.to_bytes(), &Limits::UNLIMITED, Some(&mut ids), 65536).is_ok(),
            "id {id}"
        );
    }
    assert!(ids.is_empty());
}

// ---- handshake payload images ---------------------------------------------

#[test]
fn hello_and_ack_match_the_spec_images() {
    use netipc::transport::handshake::{hello_ack_message, hello_message};
    let hello = Hello {
        flags: 0,
        supported_profiles: 0x03,
        preferred_profiles: 0x02,
        max_request_payload_bytes: 1024,
        max_request_batch_items: 1,
        max_response_payload_bytes: 1024,
        max_response_batch_items: 1,
        auth_token: 0x1122_3344_5566_7788,
        packet_size: 65536,
    };
    let want = hex(
        "43 50 49 4e 01 00 20 00 03 00 00 00 01 00 00 00 2c 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 \
         01 00 00 00 03 00 00 00 02 00 00 00 00 04 00 00 01 00 00 00 00 04 00 00 01 00 00 00 00 00 00 00 \
         88 77 66 55 44 33 22 11 00 00 01 00",
    );
    assert_eq!(hello_message(&hello).to_vec(), want);
    assert_eq!(want.len(), 76);
    let ack = HelloAck {
        server_supported_profiles: 3,
        intersection_profiles: 3,
        selected_profile: 2,
        agreed_max_request_payload_bytes: 1024,
        agreed_max_request_batch_items: 1,
        agreed_max_response_payload_bytes: 65536,
        agreed_max_response_batch_items: 1,
        agreed_packet_size: 65536,
        session_id: 1,
        extensions: 0,
    };
    let want = hex(
        "43 50 49 4e 01 00 20 00 03 00 00 00 02 00 00 00 30 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00 \
         01 00 00 00 03 00 00 00 03 00 00 00 02 00 00 00 00 04 00 00 01 00 00 00 00 00 01 00 01 00 00 00 \
         00 00 01 00 00 00 00 00 01 00 00 00 00 00 00 00",
    );
    assert_eq!(hello_ack_message(TransportStatus::OK, &ack).to_vec(), want);
    assert_eq!(want.len(), 80);
}

#[test]
fn hello_payload_rules() {
    let b = Hello::default().to_bytes();
    assert_eq!(Hello::decode(&b[..43]).unwrap_err().kind(), K::Truncated);
    let mut bad = b;
    bad[0] = 2;
    assert_eq!(Hello::decode(&bad).unwrap_err().kind(), K::BadLayout);
    let mut bad = b;
    bad[28] = 1;
    assert_eq!(Hello::decode(&bad).unwrap_err().kind(), K::BadLayout);
    let mut flags = b;
    flags[2] = 0xff;
    assert!(Hello::decode(&flags).is_ok(), "HELLO flags are not checked");
}

#[test]
fn hello_ack_payload_rules() {
    let b = HelloAck::default().to_bytes();
    assert_eq!(HelloAck::decode(&b[..47]).unwrap_err().kind(), K::Truncated);
    let mut bad = b;
    bad[0] = 0;
    assert_eq!(HelloAck::decode(&bad).unwrap_err().kind(), K::BadLayout);
    let mut bad = b;
    bad[2] = 1;
    assert_eq!(HelloAck::decode(&bad).unwrap_err().kind(), K::BadLayout);
    let mut reserved = b;
    reserved[36] = 1;
    assert!(
        HelloAck::decode(&reserved).is_ok(),
        "HELLO_ACK reserved bytes are not checked"
    );
}
