//! The mirror of the malformed-message cases: a fake provider sends each
//! malformed class (handshake, data phase, batch directory, chunk
//! sequence and, on Linux, its shared-memory lane) to an L2 client. The
//! client must return a typed error that names the cause (checked variant
//! by variant), and work again once an honest provider serves the same
//! endpoint.

use std::sync::Arc;
use std::time::Duration;

use netipc::service::{ClientConfig, ClientState, IncrementClient};
use netipc::transport::framing::{ChunkError, Packets, ProtocolError};
use netipc::transport::handshake::{HandshakeError, SessionParams, hello_ack_message};
use netipc::transport::testing::RawConn;
use netipc::transport::{ClientOptions, ClientSession};
use netipc::wire::{
    ChunkHeader, FLAG_BATCH, HEADER_LEN, Header, HelloAck, MessageKind, Profiles, TransportStatus,
};
use netipc::{CodecErrorKind, Error};

use crate::malformed_support::*;

/// What the fake provider does on every connection.
type Script = fn(&RawConn);

/// What the client must report.
enum Reported {
    /// The handshake fails: the L1 error and the L2 client's state.
    Handshake(fn(&Error) -> bool, ClientState),
    /// The handshake succeeds and the call fails with this error.
    Call(fn(&Error) -> bool),
}

struct Mirror {
    name: &'static str,
    script: Script,
    reported: Reported,
}

/// The baseline-only L2 client of the mirror cases, with a short call
/// timeout (a provider that goes silent costs that much).
fn mirror_client(dir: &RunDir) -> IncrementClient {
    let config = ClientConfig {
        supported_profiles: Profiles::BASELINE,
        call_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    IncrementClient::new(dir.str(), SERVICE, &config)
}

fn mirror_all(table: &'static [Mirror]) {
    for case in table {
        guarded(move || mirror(case));
    }
}

fn mirror(case: &Mirror) {
    let name = case.name;
    let dir = RunDir::new();
    let script = case.script;
    let fake = FakeProvider::start(&dir, Arc::new(move |conn, _| script(conn)));
    let mut client = mirror_client(&dir);
    match &case.reported {
        Reported::Handshake(expected, state) => {
            let options = ClientOptions {
                handshake_timeout: Duration::from_secs(2),
                ..ClientOptions::default()
            };
            match ClientSession::connect(dir.str(), SERVICE, &options) {
                Err(e) => assert!(expected(&e), "{name}: the L1 client reported {e:?}"),
                Ok(_) => panic!("{name}: the handshake succeeded"),
            }
            let _ = client.connect();
            assert_eq!(client.status().state, *state, "{name}: the L2 state");
        }
        Reported::Call(expected) => {
            let _ = client.connect();
            assert_eq!(client.status().state, ClientState::Ready, "{name}");
            match client.call(41) {
                Err(e) => assert!(expected(&e), "{name}: the call reported {e:?}"),
                Ok(v) => panic!("{name}: the call returned {v}"),
            }
        }
    }
    assert!(fake.accepted() >= 1, "{name}");
    // A client that got an error status as its answer is still on the
    // fake's session (which keeps a Windows pipe name taken).
    if client.status().state == ClientState::Ready {
        client.close();
    }
    drop(fake);
    // Recovery: an honest provider at the same endpoint.
    let _honest = honest_provider(&dir, Profiles::BASELINE);
    if matches!(
        client.status().state,
        ClientState::Incompatible | ClientState::AuthFailed
    ) {
        client.close();
    }
    let _ = client.connect();
    assert_eq!(
        client.status().state,
        ClientState::Ready,
        "{name}: recovers"
    );
    assert_eq!(
        client.call(41).expect("honest call"),
        42,
        "{name}: recovers"
    );
}

/// An ack for `hello`, changed by `tweak`, sent as a raw 80-byte message
/// that `patch` may change further.
fn ack_with(conn: &RawConn, tweak: impl FnOnce(&mut HelloAck), patch: impl FnOnce(&mut Vec<u8>)) {
    let Some(hello) = read_hello(conn) else {
        return;
    };
    let mut ack = honest_ack(conn, &hello);
    tweak(&mut ack);
    let mut bytes = hello_ack_message(TransportStatus::OK, &ack).to_vec();
    patch(&mut bytes);
    let _ = conn.send(&bytes);
    linger(conn);
}

fn handshake_error(e: &Error, test: fn(&HandshakeError) -> bool) -> bool {
    matches!(e, Error::Handshake(h) if test(h))
}

static MIRROR_HANDSHAKE: &[Mirror] = &[
    Mirror {
        name: "HELLO_ACK truncated to its header",
        script: |c| ack_with(c, |_| {}, |b| b.truncate(HEADER_LEN)),
        reported: Reported::Handshake(
            |e| {
                handshake_error(
                    e,
                    |h| matches!(h, HandshakeError::Undecodable(c) if c.kind() == CodecErrorKind::Truncated),
                )
            },
            ClientState::Disconnected,
        ),
    },
    Mirror {
        name: "HELLO_ACK with a wrong magic",
        script: |c| ack_with(c, |_| {}, |b| b[..4].copy_from_slice(b"XPIN")),
        reported: Reported::Handshake(
            |e| {
                handshake_error(
                    e,
                    |h| matches!(h, HandshakeError::Undecodable(c) if c.kind() == CodecErrorKind::BadMagic),
                )
            },
            ClientState::Disconnected,
        ),
    },
    Mirror {
        name: "HELLO_ACK with header version 2",
        script: |c| ack_with(c, |_| {}, |b| b[4..6].copy_from_slice(&2u16.to_ne_bytes())),
        reported: Reported::Handshake(
            |e| handshake_error(e, |h| matches!(h, HandshakeError::Incompatible(_))),
            ClientState::Incompatible,
        ),
    },
    Mirror {
        name: "a RESPONSE instead of the HELLO_ACK",
        script: |c| ack_with(c, |_| {}, |b| b[8..10].copy_from_slice(&2u16.to_ne_bytes())),
        reported: Reported::Handshake(
            |e| handshake_error(e, |h| matches!(h, HandshakeError::Malformed(_))),
            ClientState::Disconnected,
        ),
    },
    Mirror {
        name: "a HELLO instead of the HELLO_ACK",
        script: |c| {
            ack_with(
                c,
                |_| {},
                |b| b[12..14].copy_from_slice(&1u16.to_ne_bytes()),
            )
        },
        reported: Reported::Handshake(
            |e| handshake_error(e, |h| matches!(h, HandshakeError::Malformed(_))),
            ClientState::Disconnected,
        ),
    },
    Mirror {
        name: "HELLO_ACK layout_version 2",
        script: |c| {
            ack_with(
                c,
                |_| {},
                |b| b[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&2u16.to_ne_bytes()),
            )
        },
        reported: Reported::Handshake(
            |e| handshake_error(e, |h| matches!(h, HandshakeError::Incompatible(_))),
            ClientState::Incompatible,
        ),
    },
    Mirror {
        name: "HELLO_ACK flags set",
        script: |c| {
            ack_with(
                c,
                |_| {},
                |b| b[HEADER_LEN + 2..HEADER_LEN + 4].copy_from_slice(&1u16.to_ne_bytes()),
            )
        },
        reported: Reported::Handshake(
            |e| {
                handshake_error(
                    e,
                    |h| matches!(h, HandshakeError::Undecodable(c) if c.kind() == CodecErrorKind::BadLayout),
                )
            },
            ClientState::Disconnected,
        ),
    },
    Mirror {
        name: "HELLO_ACK agreeing on packet size 32",
        script: |c| ack_with(c, |a| a.agreed_packet_size = 32, |_| {}),
        reported: Reported::Handshake(
            |e| handshake_error(e, |h| matches!(h, HandshakeError::Malformed(_))),
            ClientState::Disconnected,
        ),
    },
    Mirror {
        name: "HELLO_ACK with an undefined status 77",
        script: |c| {
            ack_with(
                c,
                |_| {},
                |b| b[14..16].copy_from_slice(&77u16.to_ne_bytes()),
            )
        },
        reported: Reported::Handshake(
            |e| {
                handshake_error(
                    e,
                    |h| matches!(h, HandshakeError::Rejected(s) if *s == TransportStatus(77)),
                )
            },
            ClientState::Disconnected,
        ),
    },
    Mirror {
        name: "garbage instead of the HELLO_ACK",
        script: |c| {
            if read_hello(c).is_some() {
                let _ = c.send(&[0xee; 100]);
                linger(c);
            }
        },
        reported: Reported::Handshake(
            |e| handshake_error(e, |h| matches!(h, HandshakeError::Undecodable(_))),
            ClientState::Disconnected,
        ),
    },
    Mirror {
        name: "the provider hangs up after the HELLO",
        script: |c| {
            let _ = read_hello(c);
        },
        reported: Reported::Handshake(
            |e| matches!(e, Error::Disconnected),
            ClientState::Disconnected,
        ),
    },
    Mirror {
        name: "the provider stays silent after the HELLO",
        script: |c| {
            if read_hello(c).is_some() {
                linger(c);
            }
        },
        reported: Reported::Handshake(
            |e| matches!(e, Error::Timeout { .. }),
            ClientState::Disconnected,
        ),
    },
];

#[test]
fn mirror_handshake_class() {
    mirror_all(MIRROR_HANDSHAKE);
}

/// A fake provider with an honest handshake (packet size as the client
/// proposed, or `packet_size` when not 0) that answers every request with
/// what `answer` makes of it.
fn answer_with(
    conn: &RawConn,
    packet_size: u32,
    answer: impl Fn(&Header, &SessionParams) -> Vec<Vec<u8>>,
) {
    let Some(hello) = read_hello(conn) else {
        return;
    };
    let mut ack = honest_ack(conn, &hello);
    ack.agreed_max_request_batch_items = 16;
    ack.agreed_max_response_batch_items = 16;
    if packet_size != 0 {
        ack.agreed_packet_size = packet_size;
    }
    send_ack(conn, &ack);
    let params = params_of(&ack);
    while let Some((request, _)) = read_request(conn, &params) {
        for packet in answer(&request, &params) {
            if conn.send(&packet).is_err() {
                return;
            }
        }
    }
}

/// The OK response header for `request` with `payload_len` bytes.
fn response_to(request: &Header, payload_len: u32) -> Header {
    Header {
        kind: MessageKind::Response,
        ..Header::new(
            MessageKind::Response,
            request.code,
            request.message_id,
            payload_len,
        )
    }
}

/// One response packet: the right header for `request`, changed by
/// `tweak`, and `payload`.
fn respond(request: &Header, payload: &[u8], tweak: impl FnOnce(&mut Header)) -> Vec<Vec<u8>> {
    let mut h = response_to(request, payload.len() as u32);
    tweak(&mut h);
    vec![message(h, payload)]
}

fn protocol(e: &Error, test: fn(&ProtocolError) -> bool) -> bool {
    matches!(e, Error::Protocol(p) if test(p))
}

static MIRROR_DATA: &[Mirror] = &[
    Mirror {
        name: "response with a wrong magic",
        script: |c| {
            answer_with(c, 0, |r, _| {
                let mut p = respond(r, &42u64.to_ne_bytes(), |_| {});
                p[0][..4].copy_from_slice(b"XPIN");
                p
            })
        },
        reported: Reported::Call(|e| {
            protocol(
                e,
                |p| matches!(p, ProtocolError::Header(c) if c.kind() == CodecErrorKind::BadMagic),
            )
        }),
    },
    Mirror {
        name: "response with kind 5",
        script: |c| {
            answer_with(c, 0, |r, _| {
                let mut p = respond(r, &42u64.to_ne_bytes(), |_| {});
                p[0][8..10].copy_from_slice(&5u16.to_ne_bytes());
                p
            })
        },
        reported: Reported::Call(|e| {
            protocol(
                e,
                |p| matches!(p, ProtocolError::Header(c) if c.kind() == CodecErrorKind::BadKind),
            )
        }),
    },
    Mirror {
        name: "a REQUEST instead of the response",
        script: |c| {
            answer_with(c, 0, |r, _| {
                respond(r, &42u64.to_ne_bytes(), |h| h.kind = MessageKind::Request)
            })
        },
        reported: Reported::Call(
            |e| matches!(e, Error::BadResponse(m) if m.contains("not a RESPONSE")),
        ),
    },
    Mirror {
        name: "a CONTROL message instead of the response",
        script: |c| {
            answer_with(c, 0, |r, _| {
                respond(r, &42u64.to_ne_bytes(), |h| h.kind = MessageKind::Control)
            })
        },
        reported: Reported::Call(
            |e| matches!(e, Error::BadResponse(m) if m.contains("not a RESPONSE")),
        ),
    },
    Mirror {
        name: "response for another method",
        script: |c| {
            answer_with(c, 0, |r, _| {
                respond(r, &42u64.to_ne_bytes(), |h| h.code = 3)
            })
        },
        reported: Reported::Call(
            |e| matches!(e, Error::BadResponse(m) if m.contains("another method")),
        ),
    },
    Mirror {
        name: "response for a message id never sent",
        script: |c| {
            answer_with(c, 0, |r, _| {
                respond(r, &42u64.to_ne_bytes(), |h| h.message_id = 0xdead)
            })
        },
        reported: Reported::Call(|e| {
            protocol(e, |p| matches!(p, ProtocolError::UnknownMessageId(0xdead)))
        }),
    },
    Mirror {
        name: "response payload_len larger than the bytes sent",
        script: |c| {
            answer_with(c, 0, |r, _| {
                let mut p = respond(r, &42u64.to_ne_bytes(), |_| {});
                p[0][16..20].copy_from_slice(&64u32.to_ne_bytes());
                p
            })
        },
        reported: Reported::Call(|e| matches!(e, Error::Timeout { .. })),
    },
    Mirror {
        name: "response payload_len smaller than the bytes sent",
        script: |c| {
            answer_with(c, 0, |r, _| {
                let mut p = respond(r, &42u64.to_ne_bytes(), |_| {});
                p[0][16..20].copy_from_slice(&4u32.to_ne_bytes());
                p
            })
        },
        reported: Reported::Call(|e| {
            protocol(e, |p| {
                matches!(p, ProtocolError::PacketLongerThanMessage { .. })
            })
        }),
    },
    Mirror {
        name: "response payload_len above the agreed ceiling",
        script: |c| {
            answer_with(c, 0, |r, p| {
                let big = vec![0u8; p.max_response_payload_bytes as usize + 8];
                respond(r, &big, |_| {})
            })
        },
        reported: Reported::Call(|e| matches!(e, Error::CapacityExhausted)),
    },
    Mirror {
        name: "response with status BAD_ENVELOPE",
        script: |c| {
            answer_with(c, 0, |r, _| {
                respond(r, &[], |h| {
                    h.transport_status = TransportStatus::BAD_ENVELOPE
                })
            })
        },
        reported: Reported::Call(|e| matches!(e, Error::Rejected(TransportStatus::BAD_ENVELOPE))),
    },
    Mirror {
        name: "response with an undefined status 77",
        script: |c| {
            answer_with(c, 0, |r, _| {
                respond(r, &[], |h| h.transport_status = TransportStatus(77))
            })
        },
        reported: Reported::Call(|e| matches!(e, Error::Rejected(TransportStatus(77)))),
    },
    Mirror {
        name: "INCREMENT response of 3 bytes",
        script: |c| answer_with(c, 0, |r, _| respond(r, &[1, 2, 3], |_| {})),
        reported: Reported::Call(
            |e| matches!(e, Error::Codec(c) if c.kind() == CodecErrorKind::Truncated),
        ),
    },
    Mirror {
        name: "an empty packet instead of the response",
        script: |c| answer_with(c, 0, |_, _| vec![Vec::new()]),
        reported: Reported::Call(|e| matches!(e, Error::Disconnected)),
    },
];

#[test]
fn mirror_data_phase_class() {
    mirror_all(MIRROR_DATA);
}

/// A batch response to `request` of the INCREMENT answers, with the
/// payload changed by `tweak` and `items` items declared.
fn batch_response(request: &Header, items: u32, tweak: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut payload = batch(&[42, 43]);
    tweak(&mut payload);
    let h = Header {
        flags: FLAG_BATCH,
        item_count: items,
        ..response_to(request, payload.len() as u32)
    };
    message(h, &payload)
}

/// The client's batch call of the mirror batch cases.
fn batch_call(client: &mut IncrementClient) -> Result<Vec<u64>, Error> {
    let mut out = Vec::new();
    client.call_batch(&[41, 42], &mut out).map(|()| out)
}

/// A batch mirror case: the fake provider answers every request with
/// `answer`; the client's batch call must fail as `expected` says, then
/// recover against an honest provider.
fn mirror_batch(name: &str, answer: fn(&Header) -> Vec<u8>, expected: fn(&Error) -> bool) {
    let dir = RunDir::new();
    let fake = FakeProvider::start(
        &dir,
        Arc::new(move |conn, _| answer_with(conn, 0, |r, _| vec![answer(r)])),
    );
    let config = ClientConfig {
        supported_profiles: Profiles::BASELINE,
        max_request_batch_items: 16,
        call_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    };
    let mut client = IncrementClient::new(dir.str(), SERVICE, &config);
    let _ = client.connect();
    assert_eq!(client.status().state, ClientState::Ready, "{name}");
    match batch_call(&mut client) {
        Err(e) => assert!(expected(&e), "{name}: the call reported {e:?}"),
        Ok(v) => panic!("{name}: the batch call returned {v:?}"),
    }
    drop(fake);
    let _honest = honest_provider(&dir, Profiles::BASELINE);
    let _ = client.connect();
    assert_eq!(batch_call(&mut client).expect("honest"), [42, 43], "{name}");
}

#[test]
fn mirror_batch_directory_class() {
    type Case = (&'static str, fn(&Header) -> Vec<u8>, fn(&Error) -> bool);
    let cases: [Case; 6] = [
        (
            "entry past the packed area",
            |r| batch_response(r, 2, |p| entry(p, 1, 8, 16)),
            |e| {
                protocol(
                    e,
                    |p| matches!(p, ProtocolError::BatchDirectory(c) if c.kind() == CodecErrorKind::OutOfBounds),
                )
            },
        ),
        (
            "misaligned entry offset",
            |r| batch_response(r, 2, |p| entry(p, 1, 4, 4)),
            |e| {
                protocol(
                    e,
                    |p| matches!(p, ProtocolError::BatchDirectory(c) if c.kind() == CodecErrorKind::BadAlignment),
                )
            },
        ),
        (
            "item_count larger than the directory the payload holds",
            |r| batch_response(r, 9, |_| {}),
            |e| {
                protocol(
                    e,
                    |p| matches!(p, ProtocolError::BatchDirectory(c) if c.kind() == CodecErrorKind::Truncated),
                )
            },
        ),
        (
            "item_count other than the request's",
            |r| batch_response(r, 1, |_| {}),
            |e| matches!(e, Error::BadResponse(m) if m.contains("item count")),
        ),
        (
            "a single response to a batch request",
            |r| message(response_to(r, 8), &42u64.to_ne_bytes()),
            |e| matches!(e, Error::BadResponse(m) if m.contains("item count")),
        ),
        (
            "a 4-byte item",
            |r| batch_response(r, 2, |p| entry(p, 1, 8, 4)),
            |e| matches!(e, Error::Codec(c) if c.kind() == CodecErrorKind::Truncated),
        ),
    ];
    for (name, answer, expected) in cases {
        guarded(move || mirror_batch(name, answer, expected));
    }
}

/// The response packets of an honest provider at the small packet size,
/// for a request, with continuation packet `index` changed by `tweak`.
fn chunked_response(
    request: &Header,
    index: usize,
    tweak: impl FnOnce(&mut ChunkHeader, &mut Vec<u8>),
) -> Vec<Vec<u8>> {
    let mut payload = vec![0x5au8; 80];
    payload[..8].copy_from_slice(&42u64.to_ne_bytes());
    let header = response_to(request, 80);
    let mut packets: Vec<Vec<u8>> = Packets::new(header, &payload, SMALL_PACKET)
        .map(|p| {
            let mut v = p.prefix.to_vec();
            v.extend_from_slice(p.body);
            v
        })
        .collect();
    if index > 0 {
        let packet = &mut packets[index];
        let mut chunk = ChunkHeader::decode(packet).expect("chunk");
        let mut body = packet[HEADER_LEN..].to_vec();
        tweak(&mut chunk, &mut body);
        let mut rebuilt = chunk.to_bytes().to_vec();
        rebuilt.extend_from_slice(&body);
        *packet = rebuilt;
    }
    packets
}

fn chunk_error(e: &Error, name: &'static str) -> bool {
    matches!(e, Error::Protocol(ProtocolError::Chunk(ChunkError::Mismatch { field, .. })) if *field == name)
}

static MIRROR_CHUNKS: &[Mirror] = &[
    Mirror {
        name: "wrong chunk index",
        script: |c| {
            answer_with(c, SMALL_PACKET, |r, _| {
                chunked_response(r, 1, |h, _| h.chunk_index = 2)
            })
        },
        reported: Reported::Call(|e| chunk_error(e, "chunk_index")),
    },
    Mirror {
        name: "a chunk of another message id",
        script: |c| {
            answer_with(c, SMALL_PACKET, |r, _| {
                chunked_response(r, 1, |h, _| h.message_id ^= 1)
            })
        },
        reported: Reported::Call(|e| chunk_error(e, "message_id")),
    },
    Mirror {
        name: "total_message_len changes mid-message",
        script: |c| {
            answer_with(c, SMALL_PACKET, |r, _| {
                chunked_response(r, 2, |h, _| h.total_message_len = 1000)
            })
        },
        reported: Reported::Call(|e| chunk_error(e, "total_message_len")),
    },
    Mirror {
        name: "chunk_count changes mid-message",
        script: |c| {
            answer_with(c, SMALL_PACKET, |r, _| {
                chunked_response(r, 2, |h, _| h.chunk_count = 9)
            })
        },
        reported: Reported::Call(|e| chunk_error(e, "chunk_count")),
    },
    Mirror {
        name: "a missing chunk",
        script: |c| {
            answer_with(c, SMALL_PACKET, |r, _| {
                let mut p = chunked_response(r, 0, |_, _| {});
                p.remove(1);
                p
            })
        },
        reported: Reported::Call(|e| chunk_error(e, "chunk_index")),
    },
    Mirror {
        name: "the last chunk never comes",
        script: |c| {
            answer_with(c, SMALL_PACKET, |r, _| {
                let mut p = chunked_response(r, 0, |_, _| {});
                p.pop();
                p
            })
        },
        reported: Reported::Call(|e| matches!(e, Error::Timeout { .. })),
    },
    Mirror {
        name: "a chunk header with a wrong magic",
        script: |c| {
            answer_with(c, SMALL_PACKET, |r, _| {
                let mut p = chunked_response(r, 0, |_, _| {});
                p[1][..4].copy_from_slice(b"XXXX");
                p
            })
        },
        reported: Reported::Call(|e| {
            protocol(e, |p| {
                matches!(p, ProtocolError::Chunk(ChunkError::Header(_)))
            })
        }),
    },
    Mirror {
        name: "a chunk carrying more than the message has left",
        script: |c| {
            answer_with(c, SMALL_PACKET, |r, _| {
                chunked_response(r, 2, |h, body| {
                    body.resize(32, 0);
                    h.chunk_payload_len = 32;
                })
            })
        },
        reported: Reported::Call(|e| {
            protocol(e, |p| {
                matches!(p, ProtocolError::Chunk(ChunkError::TooLong { .. }))
            })
        }),
    },
];

#[test]
fn mirror_chunk_sequence_class() {
    mirror_all(MIRROR_CHUNKS);
}

#[cfg(target_os = "linux")]
mod shm {
    use super::*;
    use crate::malformed_support::region::Region;
    use netipc::transport::names::shm_region_path;

    // --- mirror: a fake provider corrupting its response lane --------------

    /// How the fake provider answers the `n`th request (0-based) of a
    /// connection.
    type ShmAnswer = fn(&Region, &Header, usize);

    /// A fake provider that offers shared memory, creates the session's
    /// region itself and answers every request through `answer`.
    fn shm_provider(dir: &RunDir, answer: ShmAnswer) -> FakeProvider {
        let run_dir = dir.str().to_owned();
        FakeProvider::start(
            dir,
            Arc::new(move |conn, index| {
                let Some(hello) = read_hello(conn) else {
                    return;
                };
                let session = index as u64 + 1;
                let path = shm_region_path(&run_dir, SERVICE, session).expect("path");
                let region = Region::create(&path);
                let mut ack = honest_ack(conn, &hello);
                ack.server_supported_profiles = (Profiles::BASELINE | Profiles::SHM_HYBRID).bits();
                ack.intersection_profiles = (Profiles::BASELINE | Profiles::SHM_HYBRID).bits();
                ack.selected_profile = Profiles::SHM_HYBRID.bits();
                ack.session_id = session;
                send_ack(conn, &ack);
                let (mut seen, mut nth) = (0, 0);
                let mut buf = [0u8; 16];
                loop {
                    if let Some((seq, bytes)) =
                        region.wait(region.request, seen, Duration::from_millis(50))
                    {
                        seen = seq;
                        let header = Header::decode(&bytes).expect("a request");
                        answer(&region, &header, nth);
                        nth += 1;
                    }
                    // The client left: the socket reports it.
                    match conn.recv(&mut buf, Some(Duration::from_millis(1))) {
                        Err(Error::Timeout { .. }) => {}
                        _ => break,
                    }
                }
                let _ = std::fs::remove_file(&path);
            }),
        )
    }

    /// The answer `region` gives to `request`, published with `len` and
    /// the sequence stepped by `step`.
    fn shm_answer(region: &Region, request: &Header, len: Option<u32>, step: u64) {
        let r = message(response_to(request, 8), &42u64.to_ne_bytes());
        let len = len.unwrap_or(r.len() as u32);
        region.publish_raw(region.response, &r, len, step);
    }

    fn shm_mirror(name: &str, answer: ShmAnswer, expected: fn(&Error) -> bool) {
        let dir = RunDir::new();
        let fake = shm_provider(&dir, answer);
        let mut client = shm_client(&dir, name);
        match client.call(41) {
            Err(e) => assert!(expected(&e), "{name}: the call reported {e:?}"),
            Ok(v) => panic!("{name}: the call returned {v}"),
        }
        drop(fake);
        recovers(&dir, &mut client, name);
    }

    /// A connected L2 client offering shared memory (2 s calls).
    fn shm_client(dir: &RunDir, name: &str) -> IncrementClient {
        let config = ClientConfig {
            call_timeout: Duration::from_secs(2),
            ..ClientConfig::default()
        };
        let mut client = IncrementClient::new(dir.str(), SERVICE, &config);
        let _ = client.connect();
        assert_eq!(client.status().state, ClientState::Ready, "{name}");
        let info = client.session_info().expect("session");
        assert!(info.shared_memory, "{name}: the session uses shared memory");
        client
    }

    /// The client works with an honest provider, over shared memory again.
    fn recovers(dir: &RunDir, client: &mut IncrementClient, name: &str) {
        // The fake provider removes its regions once its client is gone; a
        // region file left at a session's name would keep the honest
        // provider from offering shared memory to that session.
        eventually("the fake provider's regions to be removed", || {
            !dir.entries().iter().any(|e| e.ends_with(".ipcshm"))
        });
        let _honest = honest_provider(dir, Profiles::empty());
        let _ = client.connect();
        assert_eq!(
            client.call(41).expect("honest call"),
            42,
            "{name}: recovers"
        );
        assert!(
            client.session_info().expect("session").shared_memory,
            "{name}: shared memory again after recovering"
        );
    }

    #[test]
    fn mirror_shared_memory_class() {
        type Case = (&'static str, ShmAnswer, fn(&Error) -> bool);
        let cases: [Case; 5] = [
            (
                "published length 0",
                |r, h, _| shm_answer(r, h, Some(0), 1),
                |e| protocol(e, |p| matches!(p, ProtocolError::ShmEmptyMessage)),
            ),
            (
                "published length beyond the area",
                |r, h, _| shm_answer(r, h, Some(r.response.capacity as u32 + 8), 1),
                |e| protocol(e, |p| matches!(p, ProtocolError::ShmMessageTooLarge { .. })),
            ),
            (
                "published length shorter than the header says",
                |r, h, _| shm_answer(r, h, Some(36), 1),
                |e| protocol(e, |p| matches!(p, ProtocolError::ShmLengthMismatch { .. })),
            ),
            (
                "garbage in the response area",
                |r, _, _| r.publish(r.response, &[0xee; 40]),
                |e| protocol(e, |p| matches!(p, ProtocolError::Header(_))),
            ),
            (
                "a response for a message id never sent",
                |r, h, _| {
                    let bad = Header {
                        message_id: h.message_id + 100,
                        ..*h
                    };
                    shm_answer(r, &bad, None, 1)
                },
                |e| protocol(e, |p| matches!(p, ProtocolError::UnknownMessageId(_))),
            ),
        ];
        for (name, answer, expected) in cases {
            guarded(move || shm_mirror(name, answer, expected));
        }
    }

    /// A provider whose response sequence jumps ahead: the client refuses
    /// the answer (the sequence grows by one per message), tries once more
    /// on a new session, which the fake answers the same way, and reports
    /// the protocol error; it then works against an honest provider.
    #[test]
    fn mirror_response_sequence_jumping_ahead() {
        guarded(|| {
            let name = "response sequence jumps ahead by 1000";
            let dir = RunDir::new();
            let fake = shm_provider(&dir, |r, h, _| shm_answer(r, h, None, 1000));
            let mut client = shm_client(&dir, name);
            let err = client.call(41).expect_err(name);
            assert!(
                protocol(&err, |p| matches!(p, ProtocolError::ShmCorrupt(_))),
                "{name}: {err}"
            );
            assert!(err.to_string().contains("skipped"), "{name}: {err}");
            client.close();
            drop(fake);
            recovers(&dir, &mut client, name);
        });
    }
}
