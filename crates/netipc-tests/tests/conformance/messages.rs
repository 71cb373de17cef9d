//! Data plane: single, chunked, batched and pipelined messages, limits,
//! message ids, and every way a peer can corrupt a message.

use std::time::{Duration, Instant};

use netipc::Error;
use netipc::transport::framing::{ChunkError, Packets, ProtocolError};
use netipc::transport::handshake::{ClientOffer, SessionParams, client_handshake, hello_message};
use netipc::transport::testing::{RawConn, RawListener};
use netipc::transport::{ClientOptions, ClientSession, Interrupt, Listener, ServerOptions};
use netipc::wire::{ChunkHeader, Header, MessageKind, Profiles, TransportStatus};

use crate::support::*;

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub fn single_messages_round_trip(b: &Backend) {
    let dir = RunDir::new();
    let (_l, mut c, mut s) = pair(b, &dir);
    for (id, len) in [(1u64, 0usize), (2, 1), (3, 8), (4, 1000), (5, 1 << 16)] {
        let payload = bytes(len, id as u8);
        c.send_request(1, id, &payload).unwrap();
        let m = s.recv(SHORT, None).unwrap();
        assert_eq!(
            (m.header.message_id, m.header.kind, m.payload.len()),
            (id, MessageKind::Request, len)
        );
        assert_eq!(m.payload, &payload[..]);
        let h = m.header;
        s.respond(&h, &payload).unwrap();
        let r = c.recv(SHORT, None).unwrap();
        assert_eq!(
            (r.header.kind, r.header.message_id, r.header.code),
            (MessageKind::Response, id, 1)
        );
        assert_eq!(r.payload, &payload[..]);
    }
}

/// A client that did the handshake by hand, for sending crafted packets.
fn raw_client(run_dir: &str, packet_size: u32) -> (RawConn, SessionParams) {
    let conn = RawConn::connect(run_dir, "svc").unwrap();
    let offer = ClientOffer {
        supported_profiles: netipc::wire::Profiles::BASELINE,
        max_request_payload_bytes: 1024,
        max_request_batch_items: 4,
        packet_size,
        ..ClientOffer::default()
    };
    conn.send(&hello_message(&offer.with_defaults(packet_size).hello()))
        .unwrap();
    let mut ack = [0u8; 128];
    let n = conn.recv(&mut ack, SHORT).unwrap();
    (conn, client_handshake(&ack[..n.min(128)]).unwrap())
}

/// A listener, a raw client and the server session it talks to.
fn raw_pair(
    b: &Backend,
    packet_size: u32,
) -> (RunDir, Listener, RawConn, netipc::transport::ServerSession) {
    let dir = RunDir::new();
    let options = ServerOptions {
        max_request_payload_bytes: 1024,
        ..server_options(b)
    };
    let listener = Listener::bind(dir.str(), "svc", &options).unwrap();
    let run_dir = dir.str().to_owned();
    let client = std::thread::spawn(move || raw_client(&run_dir, packet_size));
    let session = listener.accept(SHORT, None).unwrap().handshake(1).unwrap();
    let (conn, _) = client.join().unwrap();
    (dir, listener, conn, session)
}

fn packets_of(header: Header, payload: &[u8], packet_size: u32) -> Vec<Vec<u8>> {
    Packets::new(header, payload, packet_size)
        .map(|p| [&p.prefix[..], p.body].concat())
        .collect()
}

pub fn chunking_boundaries_over_the_wire(b: &Backend) {
    let dir = RunDir::new();
    let listener = RawListener::bind(dir.str(), "svc").unwrap();
    let run_dir = dir.str().to_owned();
    let client = std::thread::spawn(move || {
        let options = ClientOptions {
            packet_size: 64,
            ..client_options(&BASELINE)
        };
        let mut c = ClientSession::connect(&run_dir, "svc", &options).unwrap();
        c.send_request(3, 1, &[7u8; 32]).unwrap(); // exactly 64 bytes
        c.send_request(3, 2, &[7u8; 33]).unwrap(); // one byte more
        c.send_request(3, 3, &[7u8; 1000]).unwrap();
        c
    });
    let conn = listener.accept(SHORT, None).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.recv(&mut buf, SHORT).unwrap();
    let offer = netipc::transport::handshake::ServerOffer {
        supported_profiles: Profiles::BASELINE,
        preferred_profiles: Profiles::empty(),
        max_request_payload_bytes: 1 << 16,
        max_response_payload_bytes: 1 << 16,
        auth_token: 0,
        packet_size: 64,
        extensions: 0,
    };
    let reply = netipc::transport::handshake::server_handshake(&buf[..n], &offer, 1)
        .reply
        .unwrap();
    conn.send(&reply).unwrap();
    let mut sizes = Vec::new();
    for _ in 0..(1 + 2 + 1 + (1000 - 32usize).div_ceil(32)) {
        sizes.push(conn.recv(&mut buf, SHORT).unwrap());
    }
    assert_eq!(
        &sizes[..3],
        &[64, 64, 33],
        "64 bytes: one packet; 65: two packets"
    );
    assert!(
        sizes.iter().all(|&s| s <= 64),
        "no packet exceeds the packet size"
    );
    let _ = client.join().unwrap();
    let _ = b;
}

pub fn chunked_messages_round_trip(b: &Backend) {
    for packet_size in [33u32, 64, 100, 4096] {
        let dir = RunDir::new();
        let listener = Listener::bind(dir.str(), "svc", &server_options(b)).unwrap();
        let server = echo_server(listener, 1);
        let client = ClientOptions {
            packet_size,
            ..client_options(b)
        };
        let mut c = ClientSession::connect(dir.str(), "svc", &client).unwrap();
        // Tiny packets carry a byte or two each: keep those messages short.
        let sizes: &[usize] = if packet_size < 100 {
            &[0, 1, 31, 32, 33, 63, 64, 65, 1000, 4000]
        } else {
            &[0, 1, 31, 32, 33, 63, 64, 65, 1000, 20_000, 65536]
        };
        for &len in sizes {
            let payload = bytes(len, len as u8);
            let r = c.call(3, len as u64 + 1, &payload, SHORT).unwrap();
            assert_eq!(r.payload, &payload[..], "len {len} packet {packet_size}");
        }
        drop(c);
        server.join().unwrap();
    }
}

pub fn large_message_64_mib(b: &Backend) {
    let dir = RunDir::new();
    let size = 64 << 20;
    let server = ServerOptions {
        max_request_payload_bytes: size,
        max_response_payload_bytes: size,
        ..server_options(b)
    };
    let client = ClientOptions {
        max_request_payload_bytes: size,
        response_payload_limit: size,
        ..client_options(b)
    };
    let (_l, mut c, mut s) = pair_with(&dir, &server, &client);
    let payload = bytes(size as usize, 3);
    let server = std::thread::spawn(move || {
        let m = s.recv(SHORT, None).unwrap();
        let (h, sum) = (
            m.header,
            m.payload.iter().map(|&x| u64::from(x)).sum::<u64>(),
        );
        let p = m.payload.to_vec();
        s.respond(&h, &p).unwrap();
        sum
    });
    let r = c
        .call(3, 1, &payload, Some(Duration::from_secs(50)))
        .unwrap();
    assert_eq!(r.payload.len(), payload.len());
    assert!(r.payload == payload.as_slice(), "64 MiB echoed intact");
    assert_eq!(
        server.join().unwrap(),
        payload.iter().map(|&x| u64::from(x)).sum::<u64>()
    );
}

pub fn pipelined_responses_match_out_of_order(b: &Backend) {
    let dir = RunDir::new();
    let (_l, mut c, mut s) = pair(b, &dir);
    for id in 1..=16u64 {
        c.send_request(1, id, &id.to_ne_bytes()).unwrap();
    }
    assert_eq!(c.in_flight(), 16);
    let mut requests = Vec::new();
    for _ in 0..16 {
        let m = s.recv(SHORT, None).unwrap();
        requests.push((m.header, m.payload.to_vec()));
    }
    for (h, p) in requests.iter().rev() {
        s.respond(h, p).unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..16 {
        let r = c.recv(SHORT, None).unwrap();
        assert_eq!(r.payload, r.header.message_id.to_ne_bytes());
        seen.push(r.header.message_id);
    }
    assert_eq!(seen, (1..=16).rev().collect::<Vec<_>>());
    assert_eq!(c.in_flight(), 0);
}

pub fn duplicate_message_id_is_refused_locally(b: &Backend) {
    let dir = RunDir::new();
    let (_l, mut c, mut s) = pair(b, &dir);
    c.send_request(1, 5, b"a").unwrap();
    assert!(matches!(
        c.send_request(1, 5, b"b"),
        Err(Error::DuplicateMessageId(5))
    ));
    let m = s.recv(SHORT, None).unwrap();
    let h = m.header;
    s.respond(&h, b"ok").unwrap();
    assert_eq!(
        c.recv(SHORT, None).unwrap().payload,
        b"ok",
        "the session is still usable"
    );
    c.send_request(1, 5, b"c").unwrap();
}

pub fn unknown_response_id_breaks_the_session(b: &Backend) {
    let dir = RunDir::new();
    let (_l, mut c, mut s) = pair(b, &dir);
    c.send_request(1, 1, b"a").unwrap();
    c.send_request(1, 2, b"b").unwrap();
    let h = s.recv(SHORT, None).unwrap().header;
    let mut wrong = netipc::transport::response_header(&h, TransportStatus::OK);
    wrong.message_id = 99;
    s.send(&wrong, b"x").unwrap();
    let err = c.recv(SHORT, None).unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::UnknownMessageId(99))),
        "{err}"
    );
    assert_eq!(c.in_flight(), 0, "an error forgets every in-flight id");
}

pub fn batches_round_trip(b: &Backend) {
    let dir = RunDir::new();
    let client = ClientOptions {
        max_request_batch_items: 16,
        max_request_payload_bytes: 4096,
        ..client_options(b)
    };
    let (_l, mut c, mut s) = pair_with(&dir, &server_options(b), &client);
    for n in 1..=16usize {
        let items: Vec<Vec<u8>> = (0..n).map(|i| bytes(i * 7 % 20, i as u8)).collect();
        c.send_batch(1, n as u64, items.iter().map(Vec::as_slice))
            .unwrap();
        let m = s.recv(SHORT, None).unwrap();
        assert!(m.header.is_batch());
        assert_eq!(m.header.item_count as usize, n);
        let got: Vec<Vec<u8>> = (0..n)
            .map(|i| m.items().unwrap().get(i).unwrap().to_vec())
            .collect();
        assert_eq!(got, items);
        let h = m.header;
        s.respond_batch(&h, got.iter().rev().map(Vec::as_slice))
            .unwrap();
        let r = c.recv(SHORT, None).unwrap();
        assert_eq!(
            (r.header.is_batch(), r.header.item_count as usize),
            (true, n)
        );
        let items_back = r.items().unwrap();
        assert_eq!(items_back.get(0).unwrap(), &items[n - 1][..]);
    }
    // Empty items, and a batch whose payload is exactly at the limit.
    let exact = vec![1u8; 4096 - 16];
    let cases: [(u64, Vec<&[u8]>, usize); 2] = [
        (100, vec![b"", b"", b""], 3),
        (101, vec![&exact[..8], &exact[8..]], 2),
    ];
    for (id, items, n) in cases {
        c.send_batch(1, id, items.iter().copied()).unwrap();
        let m = s.recv(SHORT, None).unwrap();
        assert_eq!(m.items().unwrap().len(), n);
        let (h, len) = (m.header, m.payload.len());
        s.respond_status(&h, TransportStatus::OK).unwrap();
        assert_eq!(c.recv(SHORT, None).unwrap().header.message_id, id);
        if id == 101 {
            assert_eq!(len, 4096, "a batch exactly at the payload limit");
        }
    }
}

pub fn over_limit_sends_are_refused_locally(b: &Backend) {
    let dir = RunDir::new();
    let client = ClientOptions {
        max_request_payload_bytes: 100,
        max_request_batch_items: 2,
        ..client_options(b)
    };
    let (_l, mut c, mut s) = pair_with(&dir, &server_options(b), &client);
    assert!(matches!(
        c.send_request(1, 1, &[0; 101]),
        Err(Error::LimitExceeded(_))
    ));
    assert!(matches!(
        c.send_batch(1, 2, [&b"a"[..], b"b", b"c"]),
        Err(Error::LimitExceeded(_))
    ));
    assert_eq!(c.in_flight(), 0, "refused ids are not in flight");
    c.send_request(1, 1, &[0; 100]).unwrap();
    assert_eq!(
        s.recv(SHORT, None).unwrap().payload.len(),
        100,
        "session still usable"
    );
    let mut response = Header::new(MessageKind::Response, 1, 1, 0);
    response.item_count = 1;
    let too_big = vec![0u8; s.params().max_response_payload_bytes as usize + 1];
    assert!(matches!(
        s.send(&response, &too_big),
        Err(Error::LimitExceeded(_))
    ));
}

pub fn peer_over_limit_message_is_rejected(b: &Backend) {
    let (_d, _l, conn, mut s) = raw_pair(b, 65536);
    let h = Header::new(MessageKind::Request, 1, 1, 2000);
    conn.send(&[&h.to_bytes()[..], &[0u8; 2000]].concat())
        .unwrap();
    let err = s.recv(SHORT, None).unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::Limit(_))),
        "{err}"
    );
}

pub fn malformed_header_is_rejected(b: &Backend) {
    for mutate in [
        (|p: &mut [u8]| p[0] ^= 1) as fn(&mut [u8]),
        |p| p[4] = 2,
        |p| p[6] = 16,
        |p| p[8] = 9,
    ] {
        let (_d, _l, conn, mut s) = raw_pair(b, 65536);
        let mut packet = [
            &Header::new(MessageKind::Request, 1, 1, 8).to_bytes()[..],
            &[0u8; 8],
        ]
        .concat();
        mutate(&mut packet);
        conn.send(&packet).unwrap();
        let err = s.recv(SHORT, None).unwrap_err();
        assert!(
            matches!(err, Error::Protocol(ProtocolError::Header(_))),
            "{err}"
        );
    }
    let (_d, _l, conn, mut s) = raw_pair(b, 65536);
    conn.send(&[1, 2, 3]).unwrap();
    assert!(matches!(
        s.recv(SHORT, None),
        Err(Error::Protocol(ProtocolError::Header(_)))
    ));
}

pub fn packet_longer_than_message_is_rejected(b: &Backend) {
    let (_d, _l, conn, mut s) = raw_pair(b, 65536);
    let packet = [
        &Header::new(MessageKind::Request, 1, 1, 8).to_bytes()[..],
        &[0u8; 12],
    ]
    .concat();
    conn.send(&packet).unwrap();
    assert!(matches!(
        s.recv(SHORT, None),
        Err(Error::Protocol(
            ProtocolError::PacketLongerThanMessage { .. }
        ))
    ));
}

pub fn corrupt_chunk_sequences_are_rejected(b: &Backend) {
    // (field offset in the chunk header, new value)
    for (at, value) in [(20usize, 2u32), (8, 99), (24, 9), (16, 1), (28, 5), (0, 1)] {
        let (_d, _l, conn, mut s) = raw_pair(b, 64);
        let header = Header::new(MessageKind::Request, 3, 7, 200);
        let mut packets = packets_of(header, &[5u8; 200], 64);
        packets[1][at..at + 4].copy_from_slice(&value.to_ne_bytes());
        for p in &packets[..2] {
            conn.send(p).unwrap();
        }
        let err = s.recv(SHORT, None).unwrap_err();
        assert!(
            matches!(err, Error::Protocol(ProtocolError::Chunk(_))),
            "field at {at}: {err}"
        );
    }
    // A continuation that carries more than announced.
    let (_d, _l, conn, mut s) = raw_pair(b, 64);
    let packets = packets_of(Header::new(MessageKind::Request, 3, 7, 40), &[5u8; 40], 64);
    let mut long = packets[1].clone();
    long.extend_from_slice(&[0; 4]);
    conn.send(&packets[0]).unwrap();
    conn.send(&long).unwrap();
    assert!(matches!(
        s.recv(SHORT, None),
        Err(Error::Protocol(ProtocolError::Chunk(
            ChunkError::Mismatch { .. }
        )))
    ));
    let _ = ChunkHeader::decode(&packets[1]).unwrap();
}

pub fn timeout_spans_every_chunk(b: &Backend) {
    let (_d, _l, conn, mut s) = raw_pair(b, 64);
    let packets = packets_of(
        Header::new(MessageKind::Request, 3, 7, 300),
        &[5u8; 300],
        64,
    );
    let sender = std::thread::spawn(move || {
        // Keep sending slowly: each packet alone is within the timeout, the
        // message as a whole is not.
        for p in &packets {
            if conn.send(p).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        conn
    });
    let started = Instant::now();
    let err = s.recv(Some(Duration::from_millis(350)), None).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        took >= Duration::from_millis(340) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    let _ = sender.join();
}

pub fn interrupt_wakes_a_blocked_receive(b: &Backend) {
    let dir = RunDir::new();
    let (_l, mut c, _s) = pair(b, &dir);
    let interrupt = Interrupt::new().unwrap();
    let raiser = interrupt.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        raiser.raise();
    });
    let started = Instant::now();
    c.send_request(1, 1, b"x").unwrap();
    let err = c.recv(None, Some(&interrupt)).unwrap_err();
    assert!(matches!(err, Error::Interrupted), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    t.join().unwrap();
    assert!(interrupt.is_raised(), "sticky until cleared");
    assert!(matches!(
        c.recv(None, Some(&interrupt)),
        Err(Error::Interrupted)
    ));
    interrupt.clear();
    assert!(matches!(
        c.recv(Some(Duration::from_millis(50)), Some(&interrupt)),
        Err(Error::Timeout { .. })
    ));
}

pub fn interrupt_wakes_a_blocked_accept(b: &Backend) {
    let dir = RunDir::new();
    let listener = Listener::bind(dir.str(), "svc", &server_options(b)).unwrap();
    let interrupt = Interrupt::new().unwrap();
    let raiser = interrupt.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        raiser.raise();
    });
    let started = Instant::now();
    assert!(matches!(
        listener.accept(None, Some(&interrupt)),
        Err(Error::Interrupted)
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
    t.join().unwrap();
    let started = Instant::now();
    interrupt.clear();
    assert!(matches!(
        listener.accept(Some(Duration::from_millis(100)), Some(&interrupt)),
        Err(Error::Timeout { .. })
    ));
    assert!(started.elapsed() >= Duration::from_millis(90));
}

pub fn closing_either_side_is_a_disconnect(b: &Backend) {
    let dir = RunDir::new();
    let (_l, mut c, s) = pair(b, &dir);
    drop(s);
    assert!(matches!(
        c.call(1, 1, b"x", SHORT),
        Err(Error::Disconnected)
    ));
    let dir = RunDir::new();
    let (_l, c, mut s) = pair(b, &dir);
    drop(c);
    assert!(matches!(s.recv(SHORT, None), Err(Error::Disconnected)));
}

pub fn wrong_kinds_are_refused(b: &Backend) {
    let dir = RunDir::new();
    let (_l, mut c, mut s) = pair(b, &dir);
    let response = Header::new(MessageKind::Response, 1, 1, 0);
    assert!(matches!(
        c.send(&response, b""),
        Err(Error::WrongKind { .. })
    ));
    let request = Header::new(MessageKind::Request, 1, 1, 0);
    assert!(matches!(
        s.send(&request, b""),
        Err(Error::WrongKind { .. })
    ));
}

pub fn error_responses_are_empty_single_messages(b: &Backend) {
    let dir = RunDir::new();
    let (_l, mut c, mut s) = pair(b, &dir);
    c.send_batch(2, 9, [&b"a"[..], b"b"]).unwrap();
    let h = s.recv(SHORT, None).unwrap().header;
    s.respond_status(&h, TransportStatus::UNSUPPORTED).unwrap();
    let r = c.recv(SHORT, None).unwrap();
    assert_eq!(r.header.transport_status, TransportStatus::UNSUPPORTED);
    assert_eq!(
        (
            r.header.flags,
            r.header.item_count,
            r.payload.len(),
            r.header.code
        ),
        (0, 1, 0, 2)
    );
}
