//! A consumer's memory is bounded by its own config, and so is a
//! provider's: whatever a peer declares (ceilings in HELLO_ACK, message
//! lengths, chunk totals and counts, batch item counts, counts inside
//! payloads), the attacked side allocates at most its own configured
//! maximum plus a small constant, and memory grows with the bytes that
//! actually arrive.
//!
//! Client cases meter the calling thread (a client does all its work
//! there); provider cases run alone in a child process and meter the whole
//! process. Every case ends with the attacked side serving an honest peer.

use std::time::Duration;

use netipc::Error;
use netipc::cache::SnapshotCache;
use netipc::codec::{CgroupsEntry, NO_LABELS, SnapshotBuilder, SnapshotItem};
use netipc::service::{
    CgroupsLookupClient, ClientConfig, ClientState, HandlerError, IncrementClient, ManagedServer,
    RunningServer, ServerConfig,
};
use netipc::transport::framing::{ChunkError, Packets, ProtocolError};
use netipc::transport::testing::RawConn;
use netipc::transport::{Listener, ServerOptions};
use netipc::wire::{ChunkHeader, FLAG_BATCH, HEADER_LEN, Header, MessageKind, Profiles};

use crate::alloc_meter::{self, Scope};
use crate::bounds::{
    FakeProvider, MIB, SLACK, ack, chunk_packet, eventually, hello, isolated, packet,
    raw_handshake, response, watchdog,
};
use crate::common::RunDir;

const BASELINE: Profiles = Profiles::BASELINE;

/// A baseline-only client with the default (1 MiB) response limit.
fn consumer() -> ClientConfig {
    ClientConfig {
        supported_profiles: BASELINE,
        ..ClientConfig::default()
    }
}

/// A real INCREMENT provider answering `value + 1`.
fn increment_server(dir: &RunDir, service: &str, config: &ServerConfig) -> RunningServer {
    ManagedServer::increment(dir.str(), service, config, |v| {
        Ok::<u64, HandlerError>(v + 1)
    })
    .spawn()
    .expect("spawn the increment server")
}

/// After an attack: the client reconnects to a real provider that took the
/// fake's place and is served.
fn recovers(dir: &RunDir, service: &str, client: &mut IncrementClient) {
    let server = increment_server(dir, service, &ServerConfig::default());
    let _ = client.connect();
    assert!(client.ready(), "reconnected: {:?}", client.status());
    assert_eq!(client.call(41).expect("a call to the real provider"), 42);
    server.stop();
}

/// Connects `client` and runs `call` on it, metering the thread; returns
/// the call's error and the peak bytes held.
fn metered_failure<T: std::fmt::Debug>(
    client: &mut IncrementClient,
    call: impl FnOnce(&mut IncrementClient) -> Result<T, Error>,
) -> (Error, usize) {
    let meter = Scope::start();
    let _ = client.connect();
    assert!(client.ready(), "connected: {:?}", client.status());
    let result = call(client);
    let peak = meter.peak();
    drop(meter);
    eprintln!("client peak: {peak} bytes");
    (
        result.expect_err("the lying provider makes the call fail"),
        peak,
    )
}

fn assert_too_large(e: &Error, len: u32) {
    assert!(
        matches!(
            e,
            Error::ResponseTooLarge { len: l, limit: MIB, setting: "ClientConfig::max_response_payload_bytes" } if *l == len
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "the provider sent a {len}-byte response; this client accepts at most 1048576 bytes (ClientConfig::max_response_payload_bytes)"
        )
    );
}

#[test]
fn a_hello_ack_with_4_gib_ceilings_is_held_to_the_clients_limit() {
    watchdog(|| {
        let dir = RunDir::new();
        // Ceilings and packet size of 4 GiB; the response declares 4 GiB
        // and nothing follows.
        let provider = FakeProvider::start(&dir, "lie", ack(u32::MAX, u32::MAX), |conn, req| {
            conn.send(&response(req, u32::MAX).to_bytes()).is_ok()
        });
        let mut client = IncrementClient::new(dir.str(), "lie", &consumer());
        let (e, peak) = metered_failure(&mut client, |c| {
            let info = c.session_info().expect("connected");
            assert_eq!(
                info.max_response_payload_bytes, MIB,
                "the ceiling is capped"
            );
            c.call(41)
        });
        assert_too_large(&e, u32::MAX);
        assert!(peak < MIB as usize + SLACK, "the client held {peak} bytes");
        assert_eq!(client.status().state, ClientState::Broken);
        assert_eq!(provider.requests(), 1, "no re-send of a hopeless call");
        drop(provider);
        recovers(&dir, "lie", &mut client);
    });
}

#[test]
fn a_4_gib_response_of_a_few_bytes_then_close_allocates_nothing_for_it() {
    watchdog(|| {
        let dir = RunDir::new();
        // Honest ceilings and packet size; the response still declares
        // 4 GiB, carries 100 bytes, and the provider hangs up.
        let provider = FakeProvider::start(&dir, "lie", ack(MIB, 4096), |conn, req| {
            let _ = conn.send(&packet(&response(req, u32::MAX), &[7u8; 100]));
            false
        });
        let mut client = IncrementClient::new(dir.str(), "lie", &consumer());
        let (e, peak) = metered_failure(&mut client, |c| c.call(41));
        assert_too_large(&e, u32::MAX);
        assert!(peak < SLACK, "the client held {peak} bytes");
        drop(provider);
        recovers(&dir, "lie", &mut client);
    });
}

#[test]
fn a_declared_response_grows_the_buffer_only_with_the_packets_that_arrive() {
    watchdog(|| {
        let dir = RunDir::new();
        // A legal 1 MiB response (the client's limit) of which only the
        // first 4096-byte packet ever arrives.
        let provider = FakeProvider::start(&dir, "lie", ack(MIB, 4096), |conn, req| {
            let _ = conn.send(&packet(&response(req, MIB), &[1u8; 4096 - HEADER_LEN]));
            false
        });
        let mut client = IncrementClient::new(dir.str(), "lie", &consumer());
        let (e, peak) = metered_failure(&mut client, |c| c.call(41));
        assert!(matches!(e, Error::Disconnected), "{e:?}");
        assert!(
            peak < SLACK,
            "the client held {peak} bytes for 4096 received"
        );
        assert_eq!(provider.requests(), 2, "one re-send after a broken session");
        drop(provider);
        recovers(&dir, "lie", &mut client);
    });
}

#[test]
fn a_shared_memory_area_larger_than_the_clients_limit_is_not_mirrored() {
    watchdog(|| {
        let dir = RunDir::new();
        // A provider announcing 16 MiB responses, so its region's response
        // area is 16 MiB; it answers with 2 MiB.
        let options = ServerOptions {
            supported_profiles: BASELINE | Profiles::SHM_HYBRID,
            preferred_profiles: Profiles::SHM_HYBRID,
            max_response_payload_bytes: 16 * MIB,
            ..ServerOptions::default()
        };
        let listener = Listener::bind(dir.str(), "big", &options).expect("bind");
        let provider = std::thread::spawn(move || {
            let incoming = listener
                .accept(Some(Duration::from_secs(30)), None)
                .expect("accept");
            let mut session = incoming.handshake(1).expect("handshake");
            assert!(session.params().is_shm());
            let request = session
                .recv(Some(Duration::from_secs(30)), None)
                .expect("request")
                .header;
            session
                .respond(&request, &vec![9u8; 2 * MIB as usize])
                .expect("respond");
            // Keep the session until the client has given up on it.
            let _ = session.recv(Some(Duration::from_secs(30)), None);
        });
        let config = ClientConfig {
            supported_profiles: BASELINE | Profiles::SHM_HYBRID,
            ..ClientConfig::default()
        };
        let mut client = IncrementClient::new(dir.str(), "big", &config);
        let (e, peak) = metered_failure(&mut client, |c| {
            let info = c.session_info().expect("connected");
            assert!(info.shared_memory);
            assert_eq!(
                info.max_response_payload_bytes, MIB,
                "the ceiling is capped"
            );
            c.call(41)
        });
        assert_too_large(&e, 2 * MIB);
        // The client's receive buffer follows its own limit, not the
        // provider's 16 MiB area.
        assert!(peak < MIB as usize + SLACK, "the client held {peak} bytes");
        provider.join().expect("provider thread");
        recovers(&dir, "big", &mut client);
    });
}

/// A provider that sends the first 4096-byte packet of a 1 MiB response and
/// then `continuation` (given the request and the legal chunk header).
fn chunking_liar(dir: &RunDir, continuation: fn(&Header, ChunkHeader) -> Vec<u8>) -> FakeProvider {
    FakeProvider::start(dir, "lie", ack(MIB, 4096), move |conn, req| {
        let budget = 4096 - HEADER_LEN as u32;
        let legal = ChunkHeader {
            message_id: req.message_id,
            total_message_len: MIB + HEADER_LEN as u32,
            chunk_index: 1,
            chunk_count: 1 + (MIB - budget).div_ceil(budget),
            chunk_payload_len: budget,
        };
        let _ = conn.send(&packet(&response(req, MIB), &[1u8; 4096 - HEADER_LEN]));
        let _ = conn.send(&continuation(req, legal));
        true
    })
}

#[test]
fn chunk_headers_declaring_huge_totals_and_counts_are_refused() {
    watchdog(|| {
        let dir = RunDir::new();
        let provider = chunking_liar(&dir, |_, legal| {
            let lie = ChunkHeader {
                total_message_len: u32::MAX,
                chunk_count: u32::MAX,
                chunk_payload_len: u32::MAX,
                ..legal
            };
            chunk_packet(&lie, &[2u8; 100])
        });
        let mut client = IncrementClient::new(dir.str(), "lie", &consumer());
        let (e, peak) = metered_failure(&mut client, |c| c.call(41));
        assert!(
            matches!(
                e,
                Error::Protocol(ProtocolError::Chunk(ChunkError::Mismatch {
                    field: "chunk_count",
                    ..
                }))
            ),
            "{e:?}"
        );
        assert!(peak < SLACK, "the client held {peak} bytes");
        drop(provider);
        recovers(&dir, "lie", &mut client);
    });
}

#[test]
fn a_continuation_longer_than_the_packet_size_is_refused() {
    watchdog(|| {
        let dir = RunDir::new();
        // Every field as the receiver expects, but 64 KiB of body in a
        // session whose packets are 4096 bytes.
        let provider = chunking_liar(&dir, |_, legal| {
            let body = vec![3u8; 64 << 10];
            let lie = ChunkHeader {
                chunk_payload_len: body.len() as u32,
                ..legal
            };
            chunk_packet(&lie, &body)
        });
        let mut client = IncrementClient::new(dir.str(), "lie", &consumer());
        let (e, peak) = metered_failure(&mut client, |c| c.call(41));
        assert!(
            matches!(
                e,
                Error::Protocol(ProtocolError::PacketTooLarge {
                    packet_size: 4096,
                    ..
                })
            ),
            "{e:?}"
        );
        assert!(peak < SLACK, "the client held {peak} bytes");
        drop(provider);
        recovers(&dir, "lie", &mut client);
    });
}

#[test]
fn a_batch_item_count_of_u32_max_is_refused_without_allocating() {
    watchdog(|| {
        let dir = RunDir::new();
        let provider = FakeProvider::start(&dir, "lie", ack(MIB, 4096), |conn, req| {
            let mut h = response(req, 16);
            h.flags = FLAG_BATCH;
            h.item_count = u32::MAX;
            conn.send(&packet(&h, &[0u8; 16])).is_ok()
        });
        let config = ClientConfig {
            max_request_batch_items: 4,
            ..consumer()
        };
        let mut client = IncrementClient::new(dir.str(), "lie", &config);
        let mut out = Vec::with_capacity(4);
        let (e, peak) = metered_failure(&mut client, |c| c.call_batch(&[1, 2], &mut out));
        assert!(
            matches!(e, Error::Protocol(ProtocolError::BatchDirectory(_))),
            "{e:?}"
        );
        assert!(peak < SLACK, "the client held {peak} bytes");
        drop(provider);
        recovers(&dir, "lie", &mut client);
    });
}

/// A snapshot payload of `count` directory entries that all point at the
/// same single item (whose path is `path_len` bytes long).
fn overlapping_snapshot(count: u32, path_len: usize) -> Vec<u8> {
    let path = vec![b'p'; path_len];
    let mut one = vec![0u8; path_len + 256];
    let mut b = SnapshotBuilder::new(&mut one, 1).expect("builder");
    b.set_generation(1);
    b.add(&SnapshotItem {
        hash: 1,
        options: 0,
        enabled: 1,
        name: b"a",
        path: &path,
    })
    .expect("one item");
    let n = b.finish();
    let (header, rest) = one[..n].split_at(24);
    let (entry, item) = rest.split_at(8);
    let mut payload = header.to_vec();
    payload[4..8].copy_from_slice(&count.to_ne_bytes());
    for _ in 0..count {
        payload.extend_from_slice(entry);
    }
    payload.extend_from_slice(item);
    payload
}

/// A snapshot provider answering every request with `payload` (in 64 KiB
/// packets).
fn snapshot_liar(dir: &RunDir, payload: Vec<u8>) -> FakeProvider {
    FakeProvider::start(dir, "cg", ack(MIB, 1 << 16), move |conn, req| {
        let h = response(req, payload.len() as u32);
        Packets::new(h, &payload, 1 << 16)
            .all(|p| conn.send(&[&p.prefix[..], p.body].concat()).is_ok())
    })
}

#[test]
fn snapshot_item_counts_beyond_the_payload_are_refused_by_the_cache() {
    watchdog(|| {
        for (what, payload, bound) in [
            // u32::MAX items in a 24-byte payload.
            // (The provider's packets are 64 KiB: the first packet's buffer.)
            (
                "count past the payload",
                overlapping_snapshot(0, 8)[..24].to_vec(),
                (64 << 10) + SLACK,
            ),
            // 16,384 entries on one 64 KiB item: a copy per entry would be
            // 1 GiB.
            (
                "many entries, one item",
                overlapping_snapshot(16_384, 64 << 10),
                MIB as usize + SLACK,
            ),
            // 3 entries on one 200 KiB item: more string bytes than arrived.
            (
                "few entries, one large item",
                overlapping_snapshot(3, 200 << 10),
                MIB as usize + SLACK,
            ),
        ] {
            let dir = RunDir::new();
            let payload = if what == "count past the payload" {
                let mut p = payload;
                p[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
                p
            } else {
                payload
            };
            let provider = snapshot_liar(&dir, payload);
            let cache = SnapshotCache::new(dir.str(), "cg", &consumer());
            let meter = Scope::start();
            let result = cache.refresh();
            let peak = meter.peak();
            drop(meter);
            eprintln!("{what}: cache peak {peak} bytes");
            let e = result.expect_err(what);
            assert!(matches!(e, Error::Codec(_)), "{what}: {e:?}");
            assert!(peak < bound, "{what}: the cache held {peak} bytes");
            assert_eq!(cache.status().item_count, 0, "{what}");
            drop(provider);
        }
    });
}

#[test]
fn lookup_stitching_stops_at_the_clients_limit() {
    watchdog(|| {
        let dir = RunDir::new();
        // An honest provider with 16 KiB answers: 1024 paths make 16 MiB
        // of items, answered about 1 MiB per sub-call.
        let server = ManagedServer::cgroups_lookup(
            dir.str(),
            "cg",
            &ServerConfig {
                supported_profiles: BASELINE,
                ..ServerConfig::default()
            },
            |request, b| {
                let name = vec![b'n'; 16 << 10];
                for i in 0..request.len() {
                    b.add_request_item(i, &CgroupsEntry::known(0, &name), NO_LABELS)?;
                }
                Ok(())
            },
        )
        .spawn()
        .expect("spawn the lookup server");
        let limit = 256 << 10;
        let config = ClientConfig {
            max_lookup_response_bytes: limit,
            ..consumer()
        };
        let paths: Vec<String> = (0..1024).map(|i| format!("/sys/fs/cgroup/c{i}")).collect();
        let mut client = CgroupsLookupClient::new(dir.str(), "cg", &config);
        let _ = client.connect();
        // Warm up the provider's response size (1 MiB) and the client's.
        let _ = client.call(&paths[..1]);
        let meter = Scope::start();
        let result = client.call(&paths).map(|v| v.len());
        let peak = meter.peak();
        drop(meter);
        eprintln!("lookup peak: {peak} bytes");
        assert!(
            matches!(result, Err(Error::LookupLimit("max_lookup_response_bytes"))),
            "{result:?}"
        );
        // One 1 MiB sub-response plus the 256 KiB limit, not 16 MiB.
        assert!(
            peak < MIB as usize + limit as usize + 2 * SLACK,
            "the client held {peak} bytes"
        );
        assert_eq!(client.call(&paths[..4]).expect("a small lookup").len(), 4);
        server.stop();
    });
}

/// How a lying consumer opens a session with the provider: proposing the
/// provider's whole request ceiling, every item count and 4096-byte packets.
fn liar(dir: &RunDir) -> RawConn {
    let mut h = hello(0);
    h.max_request_payload_bytes = MIB;
    h.max_request_batch_items = u32::MAX;
    h.packet_size = 4096;
    let (conn, status, ack) = raw_handshake(dir, "inc", &h);
    assert_eq!(status, netipc::wire::TransportStatus::OK);
    assert_eq!(ack.expect("ack").agreed_packet_size, 4096);
    conn
}

fn request(payload_len: u32) -> Header {
    Header::new(MessageKind::Request, 1, 1, payload_len)
}

#[test]
fn lying_consumers_cost_the_provider_only_what_they_send() {
    isolated(
        "memory::lying_consumers_cost_the_provider_only_what_they_send",
        || {
            let dir = RunDir::new();
            let config = ServerConfig {
                supported_profiles: BASELINE,
                send_timeout: Duration::from_secs(120),
                // Each worker keeps a response buffer of this size once it
                // has answered (64 KiB by default): a fixed cost of the
                // workers, not of the consumers this test measures.
                max_response_payload_bytes: 4096,
                ..ServerConfig::default()
            };
            let server = increment_server(&dir, "inc", &config);
            let mut honest = IncrementClient::new(dir.str(), "inc", &consumer());
            let _ = honest.connect();
            for v in 0..200 {
                assert_eq!(honest.call(v).expect("warm-up"), v + 1);
            }
            let baseline = alloc_meter::live();
            alloc_meter::reset_process_peak();

            // Requests that break a rule the header shows: closed at once.
            let n_closed = 24u32;
            for i in 0..n_closed {
                let conn = liar(&dir);
                let sent = match i % 3 {
                    // 4 GiB declared.
                    0 => conn.send(&request(u32::MAX).to_bytes()),
                    // u32::MAX batch items in 16 bytes.
                    1 => {
                        let mut h = request(16);
                        h.flags = FLAG_BATCH;
                        h.item_count = u32::MAX;
                        conn.send(&packet(&h, &[0u8; 16]))
                    }
                    // A legal first packet, then a chunk header lying
                    // about the total and the count.
                    _ => conn
                        .send(&packet(&request(MIB), &[1u8; 4096 - HEADER_LEN]))
                        .and_then(|()| {
                            conn.send(&chunk_packet(
                                &ChunkHeader {
                                    message_id: 1,
                                    total_message_len: u32::MAX,
                                    chunk_index: 1,
                                    chunk_count: u32::MAX,
                                    chunk_payload_len: 100,
                                },
                                &[2u8; 100],
                            ))
                        }),
                };
                sent.expect("the lie is sent");
                let mut buf = [0u8; 64];
                assert!(
                    conn.recv(&mut buf, Some(Duration::from_secs(30))).is_err(),
                    "the provider closes a session that broke the rules"
                );
            }
            // Requests declaring the whole 1 MiB ceiling, of which one
            // packet arrives; they stay open.
            let stalled: Vec<RawConn> = (0..32)
                .map(|_| {
                    let conn = liar(&dir);
                    conn.send(&packet(&request(MIB), &[1u8; 4096 - HEADER_LEN]))
                        .expect("first packet");
                    conn
                })
                .collect();
            eventually("every stalled session is open", || {
                server.stats().sessions == 1 + stalled.len()
            });
            // The honest consumer is served meanwhile (and its calls give
            // the provider time to read every first packet).
            for v in 0..200 {
                assert_eq!(honest.call(v).expect("served during the attack"), v + 1);
            }
            std::thread::sleep(Duration::from_millis(300));
            assert_eq!(honest.call(7).expect("served during the attack"), 8);
            let during = alloc_meter::process_peak().saturating_sub(baseline);
            eprintln!("provider: baseline {baseline} bytes, grew by {during} during the attack");
            // What arrived (4 KiB per stalled session) and one packet of
            // room each, plus the session's bookkeeping: not the 1 MiB
            // each declared (32 MiB).
            assert!(
                during < stalled.len() * (16 << 10) + 4 * SLACK,
                "the provider grew by {during} bytes during the attack"
            );
            let stats = server.stats();
            assert_eq!(stats.handshake_failures, 0, "{stats:?}");

            drop(stalled);
            eventually("the stalled sessions are released", || {
                server.stats().sessions == 1
            });
            assert_eq!(honest.call(1).expect("served after the attack"), 2);
            let after = alloc_meter::live();
            eprintln!("provider: {after} bytes after the attack");
            assert!(
                after < baseline + SLACK,
                "the provider holds {after} bytes after the attack, {baseline} before"
            );
            drop(honest);
            server.stop();
        },
    );
}
