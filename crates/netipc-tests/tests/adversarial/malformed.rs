//! Malformed messages, class by class: the handshake, the data phase, the
//! batch directory, the chunk sequence and (Linux) the shared-memory lanes.
//!
//! Every provider case attacks a managed INCREMENT provider with a raw
//! consumer and asserts that
//!
//! 1. the provider survives (it keeps serving with its single worker, so a
//!    worker that died would show, and no handler panicked);
//! 2. an honest consumer connected before the attack is served during and
//!    after it;
//! 3. the provider returns to its baseline: only the honest session open,
//!    nobody handshaking and (Linux) the same region files, descriptors and
//!    mappings for the endpoint as before;
//! 4. what the attacker sees says what happened (a rejection status, an
//!    error response, or the connection closed without an answer), and the
//!    provider's counters moved as the case says (`handshake_failures`,
//!    `protocol_errors`, `failed_requests`, `send_timeouts`).
//!
//! The mirror cases (a provider attacking a client) are in
//! `malformed_mirror.rs`. The cases are tables, one per class; each runs
//! in its own run directory, against its own provider.

use std::time::Duration;

use netipc::transport::framing::Packets;
use netipc::transport::handshake::{
    ClientOffer, HANDSHAKE_PACKET_MAX, SessionParams, client_handshake, hello_message,
};
use netipc::transport::testing::RawConn;
use netipc::wire::{ChunkHeader, HEADER_LEN, Header, MessageKind, Profiles, TransportStatus};

use crate::malformed_support::*;

/// How long a case waits to be sure that nothing arrives.
const QUIET: Duration = Duration::from_millis(300);

// ===========================================================================
// Attacks on a provider
// ===========================================================================

/// What an attack left behind for the checks: the attacker's connection
/// and, after a handshake, its session parameters.
struct Probe {
    conn: RawConn,
    params: Option<SessionParams>,
}

impl From<Attacker> for Probe {
    fn from(a: Attacker) -> Self {
        Self {
            conn: a.conn,
            params: Some(a.params),
        }
    }
}

/// One attack: what it sends, what the attacker must see, which counter
/// of the provider must move.
struct Attack {
    name: &'static str,
    run: fn(&RunDir) -> Probe,
    outcome: Outcome,
    counted: Counted,
}

/// Runs every attack of a table, each against a fresh provider.
fn attack_all(table: &'static [Attack]) {
    for attack in table {
        guarded(move || attack_provider(attack));
    }
}

fn attack_provider(attack: &Attack) {
    let name = attack.name;
    let mut provider = Provider::start();
    let before = provider.stats();
    let probe = (attack.run)(&provider.dir);
    provider.served(&format!("during \"{name}\""));
    check_outcome(name, &probe, attack.outcome);
    drop(probe);
    provider.settled(name, &before, attack.counted);
    provider.served(&format!("after \"{name}\""));
}

/// A valid request on the attacker's session is answered.
fn still_usable(name: &str, probe: &Probe) {
    let params = probe.params.as_ref().expect("a session");
    probe.conn.send(&request(999, 41)).expect("send a request");
    let (h, payload) = receive_message(&probe.conn, params, true)
        .unwrap_or_else(|e| panic!("{name}: the session is usable, but: {e}"));
    assert_eq!(h.transport_status, TransportStatus::OK, "{name}");
    assert_eq!(h.message_id, 999, "{name}");
    assert_eq!(payload, 42u64.to_ne_bytes(), "{name}");
}

fn check_outcome(name: &str, probe: &Probe, outcome: Outcome) {
    match outcome {
        Outcome::Closed | Outcome::Stalled => expect_closed(name, &probe.conn),
        Outcome::Rejected(status) => {
            let mut ack = [0u8; HANDSHAKE_PACKET_MAX];
            let n = probe
                .conn
                .recv(&mut ack, Some(PATIENCE))
                .unwrap_or_else(|e| panic!("{name}: expected a rejection, got {e}"));
            let header = Header::decode(&ack[..n]).expect("a HELLO_ACK header");
            assert_eq!(header.kind, MessageKind::Control, "{name}");
            assert_eq!(header.transport_status, status, "{name}");
            expect_closed(name, &probe.conn);
        }
        Outcome::RefusedThenClosed(status) | Outcome::Refused(status) => {
            let params = probe.params.as_ref().expect("a session");
            let (h, payload) = receive_message(&probe.conn, params, true)
                .unwrap_or_else(|e| panic!("{name}: expected a {status} response, got {e}"));
            assert_eq!(h.transport_status, status, "{name}");
            assert!(payload.is_empty(), "{name}: an error response is empty");
            if outcome == Outcome::Refused(status) {
                still_usable(name, probe);
            } else {
                expect_closed(name, &probe.conn);
            }
        }
        Outcome::Answered => {
            let params = probe.params.as_ref().expect("a session");
            let (h, _) = receive_message(&probe.conn, params, true)
                .unwrap_or_else(|e| panic!("{name}: expected an answer, got {e}"));
            assert_eq!(h.transport_status, TransportStatus::OK, "{name}");
            still_usable(name, probe);
        }
        Outcome::AnsweredThenClosed => {
            let params = probe.params.as_ref().expect("a session");
            let (h, _) = receive_message(&probe.conn, params, true)
                .unwrap_or_else(|e| panic!("{name}: expected an answer, got {e}"));
            assert_eq!(h.transport_status, TransportStatus::OK, "{name}");
            expect_closed(name, &probe.conn);
        }
        Outcome::Usable => still_usable(name, probe),
    }
}

/// Sends `packets` on `conn`; the provider may close the connection
/// before the last ones (that is what some cases are about).
fn send_all(conn: &RawConn, packets: &[&[u8]]) {
    for p in packets {
        if conn.send(p).is_err() {
            break;
        }
    }
}

/// A raw connection that has sent `packets` and nothing else.
fn raw(dir: &RunDir, packets: &[&[u8]]) -> Probe {
    let conn = RawConn::connect(dir.str(), SERVICE).expect("raw connect");
    send_all(&conn, packets);
    Probe { conn, params: None }
}

/// A HELLO message as a netipc client would send it (with a 64 KiB
/// packet size), changed by `tweak`.
fn hello_bytes(tweak: impl FnOnce(&mut ClientOffer)) -> Vec<u8> {
    let mut o = ClientOffer {
        supported_profiles: Profiles::BASELINE,
        max_request_batch_items: 16,
        ..ClientOffer::default()
    }
    .with_defaults(65536);
    tweak(&mut o);
    hello_message(&o.hello()).to_vec()
}

/// A baseline session; then `packets` are sent.
fn session(dir: &RunDir, packets: &[&[u8]]) -> Probe {
    session_with(dir, |_| {}, packets)
}

fn session_with(dir: &RunDir, tweak: impl FnOnce(&mut ClientOffer), packets: &[&[u8]]) -> Probe {
    let attacker = Attacker::session(dir, tweak);
    send_all(&attacker.conn, packets);
    attacker.into()
}

/// A valid HELLO with the bytes at `at` replaced by `bytes`.
fn hello_patched(at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut hello = hello_bytes(|_| {});
    hello[at..at + bytes.len()].copy_from_slice(bytes);
    hello
}

// --- handshake ---------------------------------------------------------------

static HANDSHAKE: &[Attack] = &[
    Attack {
        name: "control: a well-formed HELLO opens a session",
        run: |d| session(d, &[]),
        outcome: Outcome::Usable,
        counted: Counted::Nothing,
    },
    Attack {
        name: "truncated HELLO (20 of 44 payload bytes)",
        run: |d| {
            let hello = hello_bytes(|_| {});
            raw(d, &[&hello[..HEADER_LEN + 20]])
        },
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO header without payload",
        run: |d| {
            let hello = hello_bytes(|_| {});
            raw(d, &[&hello[..HEADER_LEN]])
        },
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "10-byte first packet",
        run: |d| raw(d, &[&[0x43; 10]]),
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO with a wrong magic",
        run: |d| raw(d, &[&hello_patched(0, b"XPIN")]),
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO with header version 2",
        run: |d| raw(d, &[&hello_patched(4, &2u16.to_ne_bytes())]),
        outcome: Outcome::Rejected(TransportStatus::INCOMPATIBLE),
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO with header_len 64",
        run: |d| raw(d, &[&hello_patched(6, &64u16.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO with kind REQUEST",
        run: |d| raw(d, &[&hello_patched(8, &1u16.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO with kind 9",
        run: |d| raw(d, &[&hello_patched(8, &9u16.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "a HELLO_ACK instead of a HELLO",
        run: |d| raw(d, &[&hello_patched(12, &2u16.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO layout_version 2",
        run: |d| raw(d, &[&hello_patched(HEADER_LEN, &2u16.to_ne_bytes())]),
        outcome: Outcome::Rejected(TransportStatus::INCOMPATIBLE),
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO reserved bytes set",
        run: |d| raw(d, &[&hello_patched(HEADER_LEN + 28, &[1, 0, 0, 0])]),
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO flags all set (ignored, as by the reference peers)",
        run: |d| session_with(d, |o| o.flags = !netipc::wire::HELLO_FLAG_EXTENSIONS, &[]),
        outcome: Outcome::Usable,
        counted: Counted::Nothing,
    },
    Attack {
        name: "HELLO with packet_size 32",
        run: |d| raw(d, &[&hello_bytes(|o| o.packet_size = 32)]),
        outcome: Outcome::Rejected(TransportStatus::INCOMPATIBLE),
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO proposing 4 GiB requests",
        run: |d| {
            raw(
                d,
                &[&hello_bytes(|o| o.max_request_payload_bytes = u32::MAX)],
            )
        },
        outcome: Outcome::Rejected(TransportStatus::LIMIT_EXCEEDED),
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO offering no known profile",
        run: |d| {
            raw(
                d,
                &[&hello_bytes(|o| {
                    o.supported_profiles = Profiles::from_bits_retain(0x100)
                })],
            )
        },
        outcome: Outcome::Rejected(TransportStatus::UNSUPPORTED),
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO with a wrong auth token",
        run: |d| raw(d, &[&hello_bytes(|o| o.auth_token = 0xbad)]),
        outcome: Outcome::Rejected(TransportStatus::AUTH_FAILED),
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO twice",
        run: |d| {
            let again = hello_bytes(|_| {});
            session(d, &[&again])
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a request before the HELLO",
        run: |d| raw(d, &[&request(1, 41)]),
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "HELLO in a 64 KiB packet of garbage",
        run: |d| {
            let mut packet = vec![0xa5u8; 60 * 1024];
            packet[..4].copy_from_slice(&0x4e49_5043u32.to_ne_bytes());
            raw(d, &[&packet])
        },
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "a valid HELLO at the start of a 60 KiB packet (the rest ignored)",
        run: |d| {
            let mut packet = hello_bytes(|_| {});
            packet.resize(60 * 1024, 0xa5);
            let conn = RawConn::connect(d.str(), SERVICE).expect("raw connect");
            conn.send(&packet).expect("send");
            let mut ack = [0u8; HANDSHAKE_PACKET_MAX];
            let n = conn.recv(&mut ack, Some(PATIENCE)).expect("HELLO_ACK");
            let params = client_handshake(&ack[..n]).expect("accepted");
            Probe {
                conn,
                params: Some(params),
            }
        },
        outcome: Outcome::Usable,
        counted: Counted::Nothing,
    },
    Attack {
        name: "silent for a while, then garbage",
        run: |d| {
            let probe = raw(d, &[]);
            std::thread::sleep(QUIET);
            probe.conn.send(&[0xff; 100]).expect("send");
            probe
        },
        outcome: Outcome::Closed,
        counted: Counted::Handshake,
    },
    Attack {
        name: "connect and hang up before the HELLO",
        run: |d| {
            drop(RawConn::connect(d.str(), SERVICE).expect("connect"));
            session(d, &[])
        },
        outcome: Outcome::Usable,
        counted: Counted::Handshake,
    },
];

#[test]
fn handshake_class() {
    attack_all(HANDSHAKE);
}

// --- data phase --------------------------------------------------------------

/// A request whose header field at `at` is replaced by `bytes`.
fn request_patched(at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut r = request(1, 41);
    r[at..at + bytes.len()].copy_from_slice(bytes);
    r
}

/// A single request with `header` changed by `tweak` and an 8-byte payload.
fn request_with(tweak: impl FnOnce(&mut Header)) -> Vec<u8> {
    let mut h = Header::new(MessageKind::Request, INCREMENT, 1, 8);
    tweak(&mut h);
    message(h, &increment(41))
}

static DATA_PHASE: &[Attack] = &[
    Attack {
        name: "control: a well-formed request is answered",
        run: |d| session(d, &[&request(1, 41)]),
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "request with a wrong magic",
        run: |d| session(d, &[&request_patched(0, b"XPIN")]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "request with version 7",
        run: |d| session(d, &[&request_patched(4, &7u16.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "request with header_len 16",
        run: |d| session(d, &[&request_patched(6, &16u16.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "message of kind 0",
        run: |d| session(d, &[&request_patched(8, &0u16.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a RESPONSE from the client",
        run: |d| session(d, &[&request_with(|h| h.kind = MessageKind::Response)]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a CONTROL message in the data phase",
        run: |d| session(d, &[&request_with(|h| h.kind = MessageKind::Control)]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "32-byte packet, header only",
        run: |d| session(d, &[&request(1, 41)[..HEADER_LEN]]),
        outcome: Outcome::Stalled,
        counted: Counted::Stalled,
    },
    Attack {
        name: "payload_len larger than the bytes sent (64 declared, 8 sent)",
        run: |d| session(d, &[&request_patched(16, &64u32.to_ne_bytes())]),
        outcome: Outcome::Stalled,
        counted: Counted::Stalled,
    },
    Attack {
        name: "payload_len smaller than the bytes sent (4 declared, 8 sent)",
        run: |d| session(d, &[&request_patched(16, &4u32.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "payload_len 0 with 8 bytes sent",
        run: |d| session(d, &[&request_patched(16, &0u32.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "payload_len above the agreed ceiling",
        run: |d| {
            let big = vec![7u8; 2000];
            let r = message(Header::new(MessageKind::Request, INCREMENT, 1, 2000), &big);
            session(d, &[&r])
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "payload_len 4294967295",
        run: |d| session(d, &[&request_patched(16, &u32::MAX.to_ne_bytes())]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "packet larger than the agreed packet size",
        run: |d| {
            let big = vec![7u8; 200];
            let r = message(Header::new(MessageKind::Request, INCREMENT, 1, 200), &big);
            session_with(d, |o| o.packet_size = 64, &[&r])
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "item_count above the agreed ceiling on a single message",
        run: |d| session(d, &[&request_with(|h| h.item_count = 1000)]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "item_count 7 on a single message (treated as one payload)",
        run: |d| session(d, &[&request_with(|h| h.item_count = 7)]),
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "unknown method 77",
        run: |d| session(d, &[&request_with(|h| h.code = 77)]),
        outcome: Outcome::Refused(TransportStatus::UNSUPPORTED),
        counted: Counted::FailedRequest,
    },
    Attack {
        name: "another service's method (CGROUPS_SNAPSHOT)",
        run: |d| session(d, &[&request_with(|h| h.code = 2)]),
        outcome: Outcome::Refused(TransportStatus::UNSUPPORTED),
        counted: Counted::FailedRequest,
    },
    Attack {
        name: "transport_status INTERNAL_ERROR in a request (ignored)",
        run: |d| {
            session(
                d,
                &[&request_with(|h| h.transport_status = TransportStatus(6))],
            )
        },
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "transport_status 65535 in a request (ignored)",
        run: |d| {
            session(
                d,
                &[&request_with(|h| {
                    h.transport_status = TransportStatus(0xffff)
                })],
            )
        },
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "reserved flag bits in a request (ignored)",
        run: |d| session(d, &[&request_with(|h| h.flags = 0xfffe)]),
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "INCREMENT payload of 7 bytes",
        run: |d| {
            let r = message(Header::new(MessageKind::Request, INCREMENT, 1, 7), &[1; 7]);
            session(d, &[&r])
        },
        outcome: Outcome::RefusedThenClosed(TransportStatus::BAD_ENVELOPE),
        counted: Counted::FailedRequestClosed,
    },
    Attack {
        name: "a request that makes the handler panic",
        run: |d| session(d, &[&request(1, PANIC_VALUE)]),
        outcome: Outcome::Refused(TransportStatus::INTERNAL_ERROR),
        counted: Counted::HandlerPanic,
    },
    Attack {
        name: "an empty packet",
        run: |d| session(d, &[&[]]),
        outcome: Outcome::Closed,
        counted: Counted::Nothing,
    },
];

#[test]
fn data_phase_class() {
    attack_all(DATA_PHASE);
}

// --- batch directory ---------------------------------------------------------

/// A batch request of `values` whose payload `tweak` may change; the
/// header says `items` items.
fn batch_request(values: &[u64], items: u32, tweak: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut payload = batch(values);
    tweak(&mut payload);
    message(batch_header(1, items, payload.len() as u32), &payload)
}

static BATCH: &[Attack] = &[
    Attack {
        name: "control: a well-formed batch of 3 is answered",
        run: |d| session(d, &[&batch_request(&[1, 2, 3], 3, |_| {})]),
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "entry past the packed area",
        run: |d| session(d, &[&batch_request(&[1, 2, 3], 3, |p| entry(p, 2, 16, 16))]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "entry offset far out of range",
        run: |d| {
            session(
                d,
                &[&batch_request(&[1, 2, 3], 3, |p| {
                    entry(p, 1, 0x7fff_fff8, 8)
                })],
            )
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "entry length 4294967295 (offset + length overflows)",
        run: |d| {
            session(
                d,
                &[&batch_request(&[1, 2, 3], 3, |p| entry(p, 0, 8, u32::MAX))],
            )
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "misaligned entry offset",
        run: |d| session(d, &[&batch_request(&[1, 2, 3], 3, |p| entry(p, 1, 4, 8))]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "overlapping entries (legal at L1: both read the same item)",
        run: |d| session(d, &[&batch_request(&[1, 2, 3], 3, |p| entry(p, 1, 0, 8))]),
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "item_count larger than the directory the payload holds",
        run: |d| session(d, &[&batch_request(&[1, 2, 3], 10, |_| {})]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "item_count smaller than the directory (decoded as declared)",
        run: |d| session(d, &[&batch_request(&[1, 2, 3], 2, |_| {})]),
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "item_count above the agreed item ceiling",
        run: |d| session(d, &[&batch_request(&[1; 17], 17, |_| {})]),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "item_count 1 with a broken directory",
        run: |d| session(d, &[&batch_request(&[1], 1, |p| entry(p, 0, 64, 8))]),
        outcome: Outcome::RefusedThenClosed(TransportStatus::BAD_ENVELOPE),
        counted: Counted::FailedRequestClosed,
    },
    Attack {
        name: "BATCH with item_count 0 (the payload is one request)",
        run: |d| {
            let r = message(batch_header(1, 0, 8), &increment(41));
            session(d, &[&r])
        },
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "a 4-byte item in a valid directory",
        run: |d| session(d, &[&batch_request(&[1, 2, 3], 3, |p| entry(p, 1, 8, 4))]),
        outcome: Outcome::RefusedThenClosed(TransportStatus::BAD_ENVELOPE),
        counted: Counted::FailedRequestClosed,
    },
];

#[test]
fn batch_directory_class() {
    attack_all(BATCH);
}

// --- chunk sequence ----------------------------------------------------------

/// The chunked request: a batch of five (80 payload bytes, 3 packets).
const CHUNKED_VALUES: [u64; 5] = [10, 20, 30, 40, 50];

/// The packets of the chunked request, each as its own byte vector.
fn chunked_packets() -> Vec<Vec<u8>> {
    let payload = batch(&CHUNKED_VALUES);
    let header = batch_header(1, CHUNKED_VALUES.len() as u32, payload.len() as u32);
    Packets::new(header, &payload, SMALL_PACKET)
        .map(|p| {
            let mut v = p.prefix.to_vec();
            v.extend_from_slice(p.body);
            v
        })
        .collect()
}

/// Changes continuation packet `index` of the chunked request.
fn chunk_patched(index: usize, tweak: impl FnOnce(&mut ChunkHeader, &mut Vec<u8>)) -> Vec<Vec<u8>> {
    let mut packets = chunked_packets();
    let packet = &mut packets[index];
    let mut chunk = ChunkHeader::decode(packet).expect("a chunk header");
    let mut body = packet[HEADER_LEN..].to_vec();
    tweak(&mut chunk, &mut body);
    let mut rebuilt = chunk.to_bytes().to_vec();
    rebuilt.extend_from_slice(&body);
    *packet = rebuilt;
    packets
}

/// A small-packet session; then `packets` are sent.
fn chunked(d: &RunDir, packets: Vec<Vec<u8>>) -> Probe {
    let attacker = Attacker::session(d, |o| o.packet_size = SMALL_PACKET);
    assert_eq!(attacker.params.packet_size, SMALL_PACKET);
    let packets: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    send_all(&attacker.conn, &packets);
    attacker.into()
}

static CHUNKS: &[Attack] = &[
    Attack {
        name: "control: a well-formed chunked request is answered",
        run: |d| chunked(d, chunked_packets()),
        outcome: Outcome::Answered,
        counted: Counted::Nothing,
    },
    Attack {
        name: "wrong chunk index (2 where 1 belongs)",
        run: |d| chunked(d, chunk_patched(1, |c, _| c.chunk_index = 2)),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "chunk index 0",
        run: |d| chunked(d, chunk_patched(1, |c, _| c.chunk_index = 0)),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a missing chunk (1 skipped)",
        run: |d| {
            let mut packets = chunked_packets();
            packets.remove(1);
            chunked(d, packets)
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "the last chunk never comes",
        run: |d| {
            let mut packets = chunked_packets();
            packets.pop();
            chunked(d, packets)
        },
        outcome: Outcome::Stalled,
        counted: Counted::Stalled,
    },
    Attack {
        name: "an extra chunk after the final one",
        run: |d| {
            let mut packets = chunked_packets();
            let last = packets.last().expect("packets").clone();
            let mut extra = ChunkHeader::decode(&last).expect("chunk");
            extra.chunk_index += 1;
            let mut p = extra.to_bytes().to_vec();
            p.extend_from_slice(&last[HEADER_LEN..]);
            packets.push(p);
            chunked(d, packets)
        },
        outcome: Outcome::AnsweredThenClosed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "chunk index past the count (3 of 3)",
        run: |d| chunked(d, chunk_patched(2, |c, _| c.chunk_index = 3)),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a chunk of another message id",
        run: |d| chunked(d, chunk_patched(1, |c, _| c.message_id = 2)),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "total_message_len changes mid-message",
        run: |d| chunked(d, chunk_patched(2, |c, _| c.total_message_len = 200)),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "chunk_count changes mid-message",
        run: |d| chunked(d, chunk_patched(2, |c, _| c.chunk_count = 4)),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "chunk_payload_len differs from the bytes carried",
        run: |d| chunked(d, chunk_patched(1, |c, _| c.chunk_payload_len = 16)),
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a chunk carrying more than the message has left",
        run: |d| {
            chunked(
                d,
                chunk_patched(2, |c, body| {
                    body.resize(32, 0);
                    c.chunk_payload_len = 32;
                }),
            )
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a chunk header with a wrong magic",
        run: |d| {
            let mut packets = chunked_packets();
            packets[1][..4].copy_from_slice(b"XXXX");
            chunked(d, packets)
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a chunk header with flags set",
        run: |d| {
            let mut packets = chunked_packets();
            packets[1][6..8].copy_from_slice(&1u16.to_ne_bytes());
            chunked(d, packets)
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a new message where a chunk belongs",
        run: |d| {
            let mut packets = chunked_packets();
            packets[1] = request(2, 41);
            chunked(d, packets)
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
    Attack {
        name: "a chunk without a message",
        run: |d| {
            let packets = chunked_packets();
            chunked(d, vec![packets[1].clone()])
        },
        outcome: Outcome::Closed,
        counted: Counted::Protocol,
    },
];

#[test]
fn chunk_sequence_class() {
    attack_all(CHUNKS);
}

// ===========================================================================
// Shared memory (Linux)
// ===========================================================================

#[cfg(target_os = "linux")]
mod shm {
    use super::*;
    use crate::malformed_support::region::{self, Region};
    use netipc::transport::names::shm_region_path;

    /// A raw consumer on a shared-memory session: the socket it
    /// handshook on and the region mapped by hand.
    struct ShmAttacker {
        conn: RawConn,
        region: Region,
        responses: u64,
    }

    impl ShmAttacker {
        fn connect(dir: &RunDir) -> Self {
            let attacker = Attacker::session(dir, |o| {
                o.supported_profiles = Profiles::BASELINE | Profiles::SHM_HYBRID;
                o.preferred_profiles = Profiles::SHM_HYBRID;
            });
            assert_eq!(attacker.params.selected_profile, Profiles::SHM_HYBRID);
            let path = shm_region_path(dir.str(), SERVICE, attacker.params.session_id)
                .expect("region path");
            Self {
                conn: attacker.conn,
                region: Region::open(&path),
                responses: 0,
            }
        }

        /// The next response, if one comes within `timeout`.
        fn response(&mut self, timeout: Duration) -> Option<(Header, Vec<u8>)> {
            let (seq, bytes) = self
                .region
                .wait(self.region.response, self.responses, timeout)?;
            self.responses = seq;
            let header = Header::decode(&bytes).expect("a response header");
            Some((header, bytes[HEADER_LEN..].to_vec()))
        }

        /// A valid request is answered.
        fn answered(&mut self, name: &str, id: u64) {
            self.region.publish(self.region.request, &request(id, 41));
            let (h, payload) = self
                .response(PATIENCE)
                .unwrap_or_else(|| panic!("{name}: no answer"));
            assert_eq!(h.message_id, id, "{name}");
            assert_eq!(h.transport_status, TransportStatus::OK, "{name}");
            assert_eq!(payload, 42u64.to_ne_bytes(), "{name}");
        }
    }

    /// What the shared-memory attacker must see afterwards.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Seen {
        /// The provider ends the session (its socket closes).
        Closed,
        /// The session keeps working: a valid request is answered.
        Answered,
        /// The provider does not answer anything any more on this
        /// session (it waits for a sequence that never comes).
        Ignored,
    }

    struct ShmAttack {
        name: &'static str,
        run: fn(&mut ShmAttacker),
        seen: Seen,
        counted: Counted,
    }

    fn garbage_request(a: &mut ShmAttacker, len: u32) {
        let r = request(1, 41);
        a.region.publish_raw(a.region.request, &r, len, 1);
    }

    static SHM: &[ShmAttack] = &[
        ShmAttack {
            name: "control: a well-formed request is answered",
            run: |a| a.answered("control", 1),
            seen: Seen::Answered,
            counted: Counted::Nothing,
        },
        ShmAttack {
            name: "published length 0",
            run: |a| garbage_request(a, 0),
            seen: Seen::Closed,
            counted: Counted::Protocol,
        },
        ShmAttack {
            name: "published length beyond the area",
            run: |a| {
                let len = a.region.request.capacity as u32 + 64;
                garbage_request(a, len)
            },
            seen: Seen::Closed,
            counted: Counted::Protocol,
        },
        ShmAttack {
            name: "published length 4294967295",
            run: |a| garbage_request(a, u32::MAX),
            seen: Seen::Closed,
            counted: Counted::Protocol,
        },
        ShmAttack {
            name: "published length shorter than the message's header says",
            run: |a| garbage_request(a, 36),
            seen: Seen::Closed,
            counted: Counted::Protocol,
        },
        ShmAttack {
            name: "published length longer than the message's header says",
            run: |a| garbage_request(a, 48),
            seen: Seen::Closed,
            counted: Counted::Protocol,
        },
        ShmAttack {
            name: "garbage in the request area",
            run: |a| {
                a.region.publish(a.region.request, &[0xee; 40]);
            },
            seen: Seen::Closed,
            counted: Counted::Protocol,
        },
        ShmAttack {
            name: "a RESPONSE in the request area",
            run: |a| {
                let mut r = request(1, 41);
                r[8..10].copy_from_slice(&2u16.to_ne_bytes());
                a.region.publish(a.region.request, &r);
            },
            seen: Seen::Closed,
            counted: Counted::Protocol,
        },
        ShmAttack {
            name: "request sequence set back to 0",
            run: |a| {
                a.answered("first", 1);
                a.region
                    .u64(region::REQ_SEQ)
                    .store(0, std::sync::atomic::Ordering::SeqCst);
                a.region.signal(a.region.request);
                // Now "published" again from 0 to 1: not new to the provider.
                a.region.publish(a.region.request, &request(2, 41));
            },
            seen: Seen::Ignored,
            counted: Counted::Nothing,
        },
        ShmAttack {
            name: "header magic zeroed after the attach (the region counts as replaced)",
            run: |a| {
                use std::sync::atomic::Ordering;
                a.region.u32(region::MAGIC).store(0, Ordering::SeqCst);
                a.region.publish(a.region.request, &request(1, 41));
            },
            seen: Seen::Closed,
            counted: Counted::Protocol,
        },
        ShmAttack {
            name: "layout fields overwritten after the attach (never read again)",
            run: |a| {
                use std::sync::atomic::Ordering;
                for (at, value) in [
                    (region::REQ_OFFSET, u32::MAX - 63),
                    (region::REQ_CAPACITY, u32::MAX - 63),
                    (region::RESP_OFFSET, 0),
                    (region::RESP_CAPACITY, 64),
                ] {
                    a.region.u32(at).store(value, Ordering::SeqCst);
                }
                a.region.write(region::VERSION, &99u16.to_ne_bytes());
            },
            seen: Seen::Answered,
            counted: Counted::Nothing,
        },
        ShmAttack {
            name: "the response lane written by the consumer",
            run: |a| {
                use std::sync::atomic::Ordering;
                a.region
                    .u32(region::RESP_LEN)
                    .store(u32::MAX, Ordering::SeqCst);
                a.region
                    .u32(region::RESP_SIGNAL)
                    .store(u32::MAX, Ordering::SeqCst);
            },
            seen: Seen::Answered,
            counted: Counted::Nothing,
        },
        ShmAttack {
            name: "signal word garbage and a storm of wake-ups",
            run: |a| {
                use std::sync::atomic::Ordering;
                a.region
                    .u32(region::REQ_SIGNAL)
                    .store(0xdead_beef, Ordering::SeqCst);
                for _ in 0..10_000 {
                    a.region.signal(a.region.request);
                }
            },
            seen: Seen::Answered,
            counted: Counted::Nothing,
        },
    ];

    fn shm_attack(attack: &ShmAttack) {
        let name = attack.name;
        let mut provider = Provider::start();
        let before = provider.stats();
        let mut attacker = ShmAttacker::connect(&provider.dir);
        (attack.run)(&mut attacker);
        provider.served(&format!("during \"{name}\""));
        match attack.seen {
            Seen::Closed => expect_closed(name, &attacker.conn),
            Seen::Answered => attacker.answered(name, 77),
            Seen::Ignored => {
                let got = attacker.response(QUIET);
                assert!(got.is_none(), "{name}: answered {got:?}");
            }
        }
        drop(attacker);
        provider.settled(name, &before, attack.counted);
        provider.served(&format!("after \"{name}\""));
    }

    #[test]
    fn shared_memory_class() {
        for attack in SHM {
            guarded(move || shm_attack(attack));
        }
    }

    /// A request sequence that grows by more than one (one request in
    /// flight per direction) ends the session as a protocol error, instead
    /// of making the provider answer the same bytes again and again.
    #[test]
    fn request_sequence_jumping_ahead_ends_the_session() {
        guarded(|| {
            let name = "request sequence jumps ahead by 1000";
            let provider = Provider::start();
            let before = provider.stats();
            let attacker = ShmAttacker::connect(&provider.dir);
            attacker
                .region
                .publish_raw(attacker.region.request, &request(1, 41), 40, 1000);
            expect_closed(name, &attacker.conn);
            drop(attacker);
            provider.settled(name, &before, Counted::Protocol);
        });
    }
}
