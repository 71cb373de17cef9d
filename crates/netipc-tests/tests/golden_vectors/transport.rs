//! Envelope, handshake, chunking, receiver and name vectors.

use netipc::transport::framing::{
    FirstPacket, InFlight, Limits, Packets, ProtocolError, check_batch, first_packet,
};
use netipc::transport::handshake::{
    ClientOffer, HandshakeError, ServerOffer, client_handshake, hello_message, server_handshake,
};
use netipc::transport::names::{self, NameError};
use netipc::wire::{
    BatchBuilder, BatchView, ChunkHeader, HEADER_LEN, Header, Hello, HelloAck, MessageKind,
    Profiles, TransportStatus,
};
use serde_json::{Value, json};

use crate::codec::{decode, hello_ack_from, hello_ack_json, hello_from, hello_json};
use crate::support::*;

fn header_json(h: &Header) -> Value {
    json!({
        "magic": netipc::wire::MAGIC, "version": 1, "header_len": 32,
        "kind": h.kind as u16, "flags": h.flags, "code": h.code,
        "transport_status": h.transport_status.0, "payload_len": h.payload_len,
        "item_count": h.item_count, "message_id": h.message_id,
    })
}

fn header_from(f: &Value) -> Result<Header, String> {
    let kind = match u16_of(f, "kind")? {
        1 => MessageKind::Request,
        2 => MessageKind::Response,
        3 => MessageKind::Control,
        k => return Err(format!("bad kind {k}")),
    };
    Ok(Header {
        kind,
        flags: u16_of(f, "flags")?,
        code: u16_of(f, "code")?,
        transport_status: TransportStatus(u16_of(f, "transport_status")?),
        payload_len: u32_of(f, "payload_len")?,
        item_count: u32_of(f, "item_count")?,
        message_id: u64_of(f, "message_id")?,
    })
}

fn chunk_json(c: &ChunkHeader) -> Value {
    json!({
        "magic": netipc::wire::CHUNK_MAGIC, "version": 1, "flags": 0,
        "message_id": c.message_id, "total_message_len": c.total_message_len,
        "chunk_index": c.chunk_index, "chunk_count": c.chunk_count,
        "chunk_payload_len": c.chunk_payload_len,
    })
}

fn decoder_for(code: u16) -> &'static str {
    match code {
        1 => "INCREMENT",
        2 => "CGROUPS_REQ",
        3 => "STRING_REVERSE",
        4 => "CGL_REQ",
        _ => "APPS_REQ",
    }
}

pub fn envelope(_ix: &Index, v: &Vector) -> Result<(), String> {
    let bytes = v.bytes()?;
    let f = v.fields();
    match v.str("kind") {
        "chunk_header" => {
            let c = ChunkHeader::decode(&bytes).map_err(|e| e.to_string())?;
            assert_subset(
                "expect.chunk_header",
                &chunk_json(&c),
                &v.expect()["chunk_header"],
            )?;
            same_bytes("re-encoded chunk header", &c.to_bytes(), &bytes)
        }
        "outer_header" => {
            let h = Header::decode(&bytes).map_err(|e| e.to_string())?;
            assert_subset("expect.header", &header_json(&h), &v.expect()["header"])?;
            same_bytes(
                "re-encoded header",
                &header_from(&f["header"])?.to_bytes(),
                &bytes,
            )
        }
        _ => {
            let h = match first_packet(&bytes, &Limits::UNLIMITED, None, 65536) {
                Ok(FirstPacket::Complete(h)) => h,
                other => {
                    return Err(format!(
                        "receiver did not accept one complete message: {other:?}"
                    ));
                }
            };
            let payload = &bytes[HEADER_LEN..];
            check_batch(&h, payload).map_err(|e| e.to_string())?;
            assert_subset("expect.header", &header_json(&h), &v.expect()["header"])?;
            let mut rebuilt = header_from(&f["header"])?.to_bytes().to_vec();
            if let Some(items) = f["items"].as_array() {
                let items: Vec<Vec<u8>> = items
                    .iter()
                    .map(|i| hex(i["hex"].as_str().unwrap_or("")))
                    .collect::<Result<_, _>>()?;
                let mut buf = vec![0u8; 4096];
                let mut b =
                    BatchBuilder::new(&mut buf, items.len() as u32).map_err(|e| e.to_string())?;
                for item in &items {
                    b.push(item).map_err(|e| e.to_string())?;
                }
                let n = b.finish().map_err(|e| e.to_string())?;
                rebuilt.extend_from_slice(&buf[..n]);
                let view = BatchView::new(payload, h.item_count).map_err(|e| e.to_string())?;
                let got: Vec<Value> = view
                    .iter()
                    .map(|i| json!(i.iter().map(|b| format!("{b:02x}")).collect::<String>()))
                    .collect();
                assert_subset("expect.items_hex", &json!(got), &v.expect()["items_hex"])?;
            } else {
                rebuilt.extend(hex(f["payload_hex"].as_str().unwrap_or(""))?);
            }
            if let Some(want) = v.expect().get("payload_decoded") {
                let got = decode(decoder_for(h.code), payload).map_err(|e| e.to_string())?;
                assert_subset("expect.payload_decoded", &got, want)?;
            }
            same_bytes("re-encoded message", &rebuilt, &bytes)
        }
    }
}

fn offer_from(c: &Value) -> Result<ServerOffer, String> {
    Ok(ServerOffer {
        supported_profiles: Profiles::from_bits_retain(u32_of(c, "supported_profiles")?),
        preferred_profiles: Profiles::from_bits_retain(u32_of(c, "preferred_profiles")?),
        max_request_payload_bytes: u32_of(c, "max_request_payload_bytes")?,
        max_response_payload_bytes: u32_of(c, "max_response_payload_bytes")?,
        auth_token: u64_of(c, "auth_token")?,
        packet_size: u32_of(c, "packet_size")?,
        extensions: 0,
    })
}

fn client_offer_from(c: &Value) -> Result<ClientOffer, String> {
    Ok(ClientOffer {
        flags: 0,
        supported_profiles: Profiles::from_bits_retain(u32_of(c, "supported_profiles")?),
        preferred_profiles: Profiles::from_bits_retain(u32_of(c, "preferred_profiles")?),
        max_request_payload_bytes: u32_of(c, "max_request_payload_bytes")?,
        max_request_batch_items: u32_of(c, "max_request_batch_items")?,
        max_response_payload_bytes: u32_of(c, "max_response_payload_bytes")?,
        max_response_batch_items: u32_of(c, "max_response_batch_items")?,
        auth_token: u64_of(c, "auth_token")?,
        packet_size: u32_of(c, "packet_size")?,
    })
}

fn handshake_result(
    r: &Result<netipc::transport::handshake::SessionParams, HandshakeError>,
) -> &'static str {
    match r {
        Ok(_) => "OK",
        Err(HandshakeError::AuthFailed) => "AUTH_FAILED",
        Err(HandshakeError::NoCommonProfile) => "NO_PROFILE",
        Err(HandshakeError::Incompatible(_)) => "INCOMPATIBLE",
        Err(HandshakeError::LimitExceeded) => "LIMIT_EXCEEDED",
        Err(_) => "PROTOCOL",
    }
}

/// Runs the server handshake on `hello` with the scenario of `v` (or of
/// `fallback`) and checks the result, whether it replies, and the reply.
fn check_server(
    hello: &[u8],
    scenario: &Value,
    expect: &Value,
    reply: Option<&[u8]>,
) -> Result<(), String> {
    let offer = offer_from(&scenario["server_config"])?;
    let session = u64_of(scenario, "session_id_given_to_accept")?;
    let out = server_handshake(hello, &offer, session);
    if let Some(want) = expect["server_result"].as_str() {
        let got = handshake_result(&out.result);
        if got != want {
            return Err(format!(
                "server result {got} ({:?}), expected {want}",
                out.result
            ));
        }
    }
    if let Some(replies) = expect["server_replies"].as_bool() {
        if replies != out.reply.is_some() {
            return Err(format!(
                "server replied: {}, expected {replies}",
                out.reply.is_some()
            ));
        }
    }
    match (reply, out.reply) {
        (Some(want), Some(got)) => same_bytes("server reply", &got, want),
        (Some(_), None) => Err("server sent no reply".into()),
        (None, _) => Ok(()),
    }
}

pub fn handshake(ix: &Index, v: &Vector) -> Result<(), String> {
    let bytes = v.bytes()?;
    let f = v.fields();
    let h = Header::decode(&bytes).map_err(|e| e.to_string())?;
    assert_subset("expect.header", &header_json(&h), &v.expect()["header"])?;
    let payload = &bytes[HEADER_LEN..];
    if v.str("method") == "HELLO" {
        let hello = Hello::decode(payload).map_err(|e| e.to_string())?;
        assert_subset("expect.hello", &hello_json(&hello), &v.expect()["hello"])?;
        same_bytes(
            "re-encoded HELLO",
            &hello_message(&hello_from(&f["hello"])?),
            &bytes,
        )?;
        if let Some(client) = f["scenario"].get("client_config") {
            let offer = client_offer_from(client)?.with_defaults(65536);
            same_bytes(
                "HELLO from the client config",
                &hello_message(&offer.hello()),
                &bytes,
            )?;
        }
        if v.expect().get("server_result").is_some() {
            let reply = read_file(v.expect()["reply_file"].as_str().unwrap_or(""))?;
            check_server(&bytes, &f["scenario"], v.expect(), Some(&reply))?;
        }
        return Ok(());
    }
    let ack = HelloAck::decode(payload).map_err(|e| e.to_string())?;
    assert_subset(
        "expect.hello_ack",
        &hello_ack_json(&ack),
        &v.expect()["hello_ack"],
    )?;
    let mut rebuilt = h.to_bytes().to_vec();
    rebuilt.extend_from_slice(&hello_ack_from(&f["hello_ack"])?.to_bytes());
    same_bytes("re-encoded HELLO_ACK", &rebuilt, &bytes)?;
    // Regenerate the reply from the HELLO it answers and the server config.
    let hello_file = f["in_reply_to"]
        .as_str()
        .ok_or("HELLO_ACK without in_reply_to")?;
    let scenario = match f.get("scenario") {
        Some(s) => s.clone(),
        None => ix.find(hello_file)?.fields()["scenario"].clone(),
    };
    check_server(&read_file(hello_file)?, &scenario, v.expect(), Some(&bytes))?;
    let client = client_handshake(&bytes);
    if let Some(want) = v.expect()["client_result"].as_str() {
        let got = handshake_result(&client);
        if got != want {
            return Err(format!("client result {got} ({client:?}), expected {want}"));
        }
    }
    if let (Some(want), Ok(p)) = (v.expect().get("negotiated"), client) {
        let got = json!({
            "selected_profile": p.selected_profile.bits(),
            "agreed_max_request_payload_bytes": p.max_request_payload_bytes,
            "agreed_max_request_batch_items": p.max_request_batch_items,
            "agreed_max_response_payload_bytes": p.max_response_payload_bytes,
            "agreed_max_response_batch_items": p.max_response_batch_items,
            "agreed_packet_size": p.packet_size,
            "session_id": p.session_id,
        });
        assert_subset("expect.negotiated", &got, want)?;
    }
    Ok(())
}

fn sequence_packets(ix: &Index, sequence: &str) -> Result<(Vector, Vec<Vec<u8>>), String> {
    let msg = ix.find(&format!("{sequence}_message"))?;
    let files = msg.fields()["packets"].as_array().ok_or("packets")?;
    let packets = files
        .iter()
        .map(|p| read_file(p.as_str().unwrap_or("")))
        .collect::<Result<_, _>>()?;
    Ok((Vector(msg.0.clone()), packets))
}

/// Feeds packets to the receiver: first packet, continuations, batch check.
fn receive(
    packets: &[Vec<u8>],
    packet_size: u32,
) -> Result<(Header, Vec<u8>), (usize, ProtocolError)> {
    match first_packet(&packets[0], &Limits::UNLIMITED, None, packet_size).map_err(|e| (0, e))? {
        FirstPacket::Complete(h) => Ok((h, packets[0][HEADER_LEN..].to_vec())),
        FirstPacket::Chunked(mut r) => {
            let mut payload = vec![0u8; r.header().payload_len as usize];
            payload[..r.received()].copy_from_slice(&packets[0][HEADER_LEN..]);
            for (i, p) in packets.iter().enumerate().skip(1) {
                let range = r.accept(p).map_err(|e| (i, e))?;
                payload[range].copy_from_slice(&p[HEADER_LEN..]);
            }
            assert!(r.is_complete(), "reassembly incomplete after every packet");
            let h = *r.header();
            check_batch(&h, &payload).map_err(|e| (packets.len(), e))?;
            Ok((h, payload))
        }
    }
}

pub fn chunking(ix: &Index, v: &Vector) -> Result<(), String> {
    let bytes = v.bytes()?;
    let f = v.fields();
    if v.str("kind") == "packet" {
        let got = if f.get("chunk_header").is_some() {
            let c = ChunkHeader::decode(&bytes).map_err(|e| e.to_string())?;
            assert_subset(
                "expect.chunk_header",
                &chunk_json(&c),
                &v.expect()["chunk_header"],
            )?;
            chunk_json(&c)
        } else {
            let h = Header::decode(&bytes).map_err(|e| e.to_string())?;
            header_json(&h)
        };
        let _ = got;
        // The packet must be exactly the one the splitter emits.
        let (msg, _) = sequence_packets(ix, f["sequence"].as_str().unwrap_or(""))?;
        let whole = msg.bytes()?;
        let h = Header::decode(&whole).map_err(|e| e.to_string())?;
        let index = u64_of(f, "packet_index")? as usize;
        let p = Packets::new(h, &whole[HEADER_LEN..], u32_of(f, "packet_size")?)
            .nth(index)
            .ok_or("splitter emitted fewer packets")?;
        return same_bytes("split packet", &[&p.prefix[..], p.body].concat(), &bytes);
    }
    let h = Header::decode(&bytes).map_err(|e| e.to_string())?;
    assert_subset("expect.header", &header_json(&h), &v.expect()["header"])?;
    let packet_size = u32_of(f, "packet_size")?;
    let split: Vec<Vec<u8>> = Packets::new(h, &bytes[HEADER_LEN..], packet_size)
        .map(|p| [&p.prefix[..], p.body].concat())
        .collect();
    let (_, packets) = sequence_packets(ix, v.id().trim_end_matches("_message"))?;
    if split.len() != packets.len() || u64_of(f, "packet_count")? as usize != packets.len() {
        return Err(format!(
            "split into {} packets, expected {}",
            split.len(),
            packets.len()
        ));
    }
    for (i, (got, want)) in split.iter().zip(&packets).enumerate() {
        same_bytes(&format!("packet {i}"), got, want)?;
    }
    let (rh, payload) =
        receive(&packets, packet_size).map_err(|(i, e)| format!("packet {i} rejected: {e}"))?;
    if rh != h || payload != bytes[HEADER_LEN..] {
        return Err("reassembled message differs".into());
    }
    Ok(())
}

fn receiver_error(e: &ProtocolError) -> &'static str {
    match e {
        ProtocolError::Limit(_) => "LIMIT_EXCEEDED",
        ProtocolError::UnknownMessageId(_) => "UNKNOWN_MSG_ID",
        ProtocolError::Chunk(_) => "CHUNK",
        _ => "PROTOCOL",
    }
}

pub fn negative_message(_ix: &Index, v: &Vector) -> Result<(), String> {
    let bytes = v.bytes()?;
    let f = v.fields();
    if let Some(scenario) = f.get("scenario") {
        if scenario.get("server_config").is_some() {
            let reply = match v.expect()["reply_file"].as_str() {
                Some(file) => Some(read_file(file)?),
                None => None,
            };
            return check_server(&bytes, scenario, v.expect(), reply.as_deref());
        }
        let got = handshake_result(&client_handshake(&bytes));
        let want = v.expect()["client_result"].as_str().unwrap_or("");
        return if got == want {
            Ok(())
        } else {
            Err(format!("client result {got}, expected {want}"))
        };
    }
    let ctx = &f["receiver_context"];
    let client = ctx["role"].as_str() == Some("client");
    let dir = if client { "response" } else { "request" };
    let limits = Limits {
        max_payload: u32_of(ctx, &format!("max_{dir}_payload_bytes"))?,
        max_items: u32_of(ctx, &format!("max_{dir}_batch_items"))?,
    };
    let mut in_flight = InFlight::new();
    for id in ctx["in_flight_message_ids"]
        .as_array()
        .into_iter()
        .flatten()
    {
        in_flight.insert(id.as_u64().unwrap_or(0));
    }
    let result = first_packet(
        &bytes,
        &limits,
        client.then_some(&mut in_flight),
        u32_of(ctx, "packet_size")?,
    )
    .and_then(|first| match first {
        FirstPacket::Complete(h) => check_batch(&h, &bytes[HEADER_LEN..]),
        FirstPacket::Chunked(_) => Ok(()),
    });
    let err = result
        .err()
        .ok_or("message accepted, expected a rejection")?;
    let want = v.str("receiver_error");
    if receiver_error(&err) != want {
        return Err(format!(
            "rejected as {} ({err}), expected {want}",
            receiver_error(&err)
        ));
    }
    let kind = match err {
        ProtocolError::Header(e) => Some(e.kind()),
        ProtocolError::BatchDirectory(e) => f.get("directory_error").map(|_| e.kind()),
        _ => None,
    };
    let want_kind = v.0["reject_error"]
        .as_str()
        .or(f["directory_error"].as_str());
    match (kind.map(|k| k.spec_name()), want_kind) {
        (Some(got), Some(want)) if got != want => Err(format!("error kind {got}, expected {want}")),
        _ => Ok(()),
    }
}

pub fn negative_packet(ix: &Index, v: &Vector) -> Result<(), String> {
    let f = v.fields();
    let (msg, mut packets) = sequence_packets(ix, f["base_sequence"].as_str().unwrap_or(""))?;
    let index = u64_of(f, "replaces_packet_index")? as usize;
    packets[index] = v.bytes()?;
    let packet_size = u32_of(&msg.fields().clone(), "packet_size")?;
    match receive(&packets, packet_size) {
        Ok(_) => Err("sequence accepted, expected a rejection".into()),
        Err((i, e)) if i == index && receiver_error(&e) == v.str("receiver_error") => {
            if let (
                ProtocolError::Chunk(netipc::transport::framing::ChunkError::Header(c)),
                Some(want),
            ) = (e, v.0["reject_error"].as_str())
            {
                if c.kind().spec_name() != want {
                    return Err(format!(
                        "chunk header error {}, expected {want}",
                        c.kind().spec_name()
                    ));
                }
            }
            Ok(())
        }
        Err((i, e)) => Err(format!(
            "packet {i} rejected with {e}, expected packet {index}: {}",
            v.str("receiver_error")
        )),
    }
}

fn name_error(e: &NameError) -> &'static str {
    match e {
        NameError::InvalidServiceName(_) => "INVALID_SERVICE_NAME",
        NameError::InvalidProfile(_) => "INVALID_PROFILE",
        NameError::TooLong { what, .. } if what.contains("hash input") => "HASH_INPUT_TOO_LONG",
        NameError::TooLong { what, .. } if what.contains("mapping") => "MAPPING_NAME_TOO_LONG",
        NameError::TooLong { what, .. } if what.contains("event") => "EVENT_NAME_TOO_LONG",
        NameError::TooLong { .. } => "TOO_LONG",
        _ => "OTHER",
    }
}

pub fn names(_ix: &Index, v: &Vector) -> Result<(), String> {
    let f = v.fields();
    let e = v.expect();
    let run_dir = f["run_dir"].as_str().unwrap_or("");
    let service = f["service_name"].as_str().unwrap_or("");
    let got: Result<Value, NameError> = match v.str("kind") {
        "fnv1a64" => Ok(json!({ "fnv1a64": format!("{:016x}", names::fnv1a64(f["input"].as_str().unwrap_or("").as_bytes())) })),
        "uds_socket_path" => names::socket_path(run_dir, service).map(|p| json!({ "result": "OK", "socket_path": p })),
        "posix_shm_path" => names::shm_region_path(run_dir, service, u64_of(f, "session_id")?)
            .map(|p| json!({ "result": "OK", "shm_path": p })),
        "windows_pipe_name" => names::pipe_name(run_dir, service).map(|p| {
            json!({ "result": "OK", "pipe_name": p, "fnv1a64_run_dir": format!("{:016x}", names::fnv1a64(run_dir.as_bytes())) })
        }),
        "windows_shm_names" => names::windows_shm_names(
            run_dir,
            service,
            u64_of(f, "auth_token")?,
            u32_of(f, "profile")?,
            u64_of(f, "session_id")?,
        )
        .map(|n| {
            let input = format!("{run_dir}\n{service}\n{}", f["auth_token"]);
            json!({
                "result": "OK", "mapping": n.mapping, "req_event": n.req_event, "resp_event": n.resp_event,
"hash_input_length": input.len(), "hash_input": input, "fnv1a64": format!("{:016x}", names::fnv1a64(input.as_bytes())),
            })
        }),
        k => return Err(format!("unknown name kind {k}")),
    };
    match got {
        Ok(value) if v.valid() => assert_subset("expect", &value, e),
        Ok(value) => Err(format!(
            "derived {value}, expected {}",
            v.str("reject_error")
        )),
        Err(err) if !v.valid() && name_error(&err) == v.str("reject_error") => Ok(()),
        Err(err) => Err(format!(
            "failed with {} ({err}), expected {}",
            name_error(&err),
            e["result"]
        )),
    }
}
