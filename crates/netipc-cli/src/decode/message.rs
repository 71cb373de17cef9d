//! Analysis of the input as a whole: outer header and message length,
//! batch directory, chunk continuation header, or a bare payload.

use netipc::transport::is_chunk_packet;
use netipc::wire::{
    ChunkHeader, DIR_ENTRY_LEN, FLAG_BATCH, HEADER_LEN, Header, MessageKind, Method,
    TransportStatus, control,
};

use super::error::Malformed;
use super::model::{
    BatchItem, Body, Content, Decoded, Direction, Opaque, Payload, PayloadType, Report, Subject,
};
use super::payload::{decode_at, label};

/// What the command line says about the input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Decode the whole input as this bare payload.
    pub payload: Option<(PayloadType, Direction)>,
    /// Decode only the outer header.
    pub header_only: bool,
    /// Show the payload (or batch items) as hex instead of decoding it by
    /// method code or control opcode.
    pub raw: bool,
}

/// Decodes `input` completely. `input_len` is the length of the whole
/// input, of which `input` holds the bytes the decode needs (all of them
/// up to the length the header declares; see
/// [`read_input`](super::input::read_input)).
///
/// # Errors
/// The first rule the input breaks, with its byte offset.
pub fn analyze<'a>(
    input: &'a [u8],
    input_len: usize,
    options: &Options,
) -> Result<Report<'a>, Malformed> {
    let mut notes = Vec::new();
    let subject = if let Some((ty, direction)) = options.payload {
        let mut decoded = decode_at(ty, direction, input, 0, "payload")?;
        // Bytes the decoder does not read were counted, not kept.
        let unread = input_len.saturating_sub(input.len());
        if unread > 0 {
            decoded.len = input_len;
            decoded.ignored_tail = decoded.ignored_tail.map(|t| t + unread);
        }
        note_decoded(&decoded, "payload", &mut notes);
        Subject::Payload(decoded)
    } else if is_chunk_packet(input) {
        chunk(input, input_len, &mut notes)?
    } else {
        message(input, input_len, options, &mut notes)?
    };
    Ok(Report {
        input_len,
        subject,
        notes,
    })
}

fn chunk<'a>(
    input: &'a [u8],
    input_len: usize,
    notes: &mut Vec<String>,
) -> Result<Subject<'a>, Malformed> {
    let header =
        ChunkHeader::decode(input).map_err(|e| Malformed::codec("chunk header", e, 0, ""))?;
    let data = &input[HEADER_LEN..];
    let data_len = input_len - HEADER_LEN;
    let announced = header.chunk_payload_len as usize;
    let expected_end = HEADER_LEN.saturating_add(announced);
    if data_len == 0 {
        notes.push(format!(
            "chunk header only: the {announced} continuation bytes it announces are not in the input"
        ));
    } else if data_len < announced {
        return Err(Malformed::rule(
            "chunk packet",
            "truncated (TRUNCATED)",
            "chunk_payload_len",
            input_len,
            format!(
                "chunk_payload_len (byte 28) is {announced}, so the packet needs {expected_end} bytes, but the input ends at byte {input_len}"
            ),
        ));
    } else if data_len > announced {
        return Err(Malformed::rule(
            "chunk packet",
            "trailing bytes",
            "chunk_payload_len",
            expected_end,
            format!(
                "chunk_payload_len (byte 28) is {announced}, so the packet ends at byte {expected_end}, but the input has {input_len} bytes"
            ),
        ));
    }
    if header.chunk_index == 0 || header.chunk_index >= header.chunk_count {
        notes.push(format!(
            "chunk_index {} is outside 1..{}: continuation packets are numbered from 1 and packet 0 carries the outer header",
            header.chunk_index, header.chunk_count
        ));
    }
    if (header.total_message_len as usize) <= HEADER_LEN {
        notes.push(format!(
            "total_message_len {} leaves no payload to continue",
            header.total_message_len
        ));
    }
    Ok(Subject::Chunk { header, data })
}

fn message<'a>(
    input: &'a [u8],
    input_len: usize,
    options: &Options,
    notes: &mut Vec<String>,
) -> Result<Subject<'a>, Malformed> {
    let header = Header::decode(input).map_err(|e| Malformed::codec("outer header", e, 0, ""))?;
    note_header(&header, notes);
    if options.header_only {
        if input_len > HEADER_LEN {
            notes.push(format!(
                "--header-only: the {} bytes after the header are not decoded",
                input_len - HEADER_LEN
            ));
        }
        let content = Content::HeaderOnly;
        return Ok(Subject::Message { header, content });
    }
    let payload = message_payload(&header, input, input_len)?;
    let content = match header.kind {
        MessageKind::Control if options.raw => Content::Single(raw_body(payload, HEADER_LEN)),
        MessageKind::Control => Content::Single(control_body(&header, payload, notes)?),
        MessageKind::Request | MessageKind::Response => {
            data_content(&header, payload, options.raw, notes)?
        }
    };
    Ok(Subject::Message { header, content })
}

/// The payload of a message whose input must be exactly `32 + payload_len`
/// bytes long (`input_len`; `input` holds at most that many).
fn message_payload<'a>(
    header: &Header,
    input: &'a [u8],
    input_len: usize,
) -> Result<&'a [u8], Malformed> {
    let payload_len = header.payload_len;
    let Some(total) = header.message_len() else {
        return Err(Malformed::rule(
            "message",
            "too large",
            "payload_len",
            16,
            format!("32 + payload_len {payload_len} does not fit a u32"),
        ));
    };
    let total = total as usize;
    if input_len < total {
        return Err(Malformed::rule(
            "message",
            "truncated (TRUNCATED)",
            "payload_len",
            input_len,
            format!(
                "payload_len (byte 16) is {payload_len}, so the message needs {total} bytes, but the input ends at byte {input_len}; for packet 0 of a chunked message or a bare header use --header-only"
            ),
        ));
    }
    if input_len > total {
        return Err(Malformed::rule(
            "message",
            "trailing bytes",
            "payload_len",
            total,
            format!(
                "payload_len (byte 16) is {payload_len}, so the message ends at byte {total}, but the input has {input_len} bytes ({} too many)",
                input_len - total
            ),
        ));
    }
    Ok(&input[HEADER_LEN..total])
}

fn note_header(header: &Header, notes: &mut Vec<String>) {
    let reserved = header.flags & !FLAG_BATCH;
    if reserved != 0 {
        notes.push(format!(
            "reserved flag bits 0x{reserved:04x} are set (senders must write 0; receivers ignore them)"
        ));
    }
    if header.kind == MessageKind::Request && header.transport_status != TransportStatus::OK {
        notes.push("requests normally carry transport_status OK".to_owned());
    }
    if header.is_batch() && header.kind == MessageKind::Control {
        notes.push("BATCH is set on a CONTROL message; the payload is decoded as one".to_owned());
    } else if !header.is_batch() && header.item_count != 1 {
        notes.push(format!(
            "item_count is {} on a non-batch message (senders use 1; receivers treat the payload as one)",
            header.item_count
        ));
    }
    if header.kind == MessageKind::Control && header.message_id != 0 {
        notes.push("handshake messages normally carry message_id 0".to_owned());
    }
}

fn control_body<'a>(
    header: &Header,
    payload: &'a [u8],
    notes: &mut Vec<String>,
) -> Result<Body<'a>, Malformed> {
    let (ty, direction) = match header.code {
        control::HELLO => (PayloadType::Hello, Direction::Request),
        control::HELLO_ACK => (PayloadType::HelloAck, Direction::Response),
        code => {
            notes.push(format!("unknown control opcode {code}: payload shown raw"));
            return Ok(Body::Opaque(Opaque {
                bytes: payload,
                start: HEADER_LEN,
                reason: format!("unknown control opcode {code}"),
            }));
        }
    };
    let decoded = decode_at(ty, direction, payload, HEADER_LEN, "payload")?;
    if ty == PayloadType::HelloAck && header.transport_status != TransportStatus::OK {
        notes.push(format!(
            "rejection HELLO_ACK ({}): by design only layout_version is set",
            header.transport_status
        ));
    }
    note_decoded(&decoded, "payload", notes);
    Ok(Body::Decoded(decoded))
}

fn data_content<'a>(
    header: &Header,
    payload: &'a [u8],
    raw: bool,
    notes: &mut Vec<String>,
) -> Result<Content<'a>, Malformed> {
    let direction = if header.kind == MessageKind::Request {
        Direction::Request
    } else {
        Direction::Response
    };
    if direction == Direction::Response && header.transport_status != TransportStatus::OK {
        let reason = format!(
            "transport_status {}: the payload carries no method data",
            header.transport_status
        );
        if !payload.is_empty() {
            notes.push(format!(
                "a {} response normally has an empty payload, this one has {} bytes",
                header.transport_status,
                payload.len()
            ));
        }
        return Ok(Content::NotDecoded(Opaque {
            bytes: payload,
            start: HEADER_LEN,
            reason,
        }));
    }
    let ty = Method::from_code(header.code).map(payload_type);
    if raw {
        if header.is_batch() {
            return batch(header, payload, None, direction, notes);
        }
        return Ok(Content::Single(raw_body(payload, HEADER_LEN)));
    }
    if ty.is_none() {
        notes.push(format!(
            "unknown method code {}: payload shown raw",
            header.code
        ));
    }
    if header.is_batch() {
        return batch(header, payload, ty, direction, notes);
    }
    let body = decode_body(ty, direction, payload, HEADER_LEN, "payload", header.code)?;
    if let Body::Decoded(decoded) = &body {
        note_decoded(decoded, "payload", notes);
    }
    Ok(Content::Single(body))
}

fn batch<'a>(
    header: &Header,
    payload: &'a [u8],
    ty: Option<PayloadType>,
    direction: Direction,
    notes: &mut Vec<String>,
) -> Result<Content<'a>, Malformed> {
    let view = netipc::wire::BatchView::new(payload, header.item_count)
        .map_err(|e| Malformed::codec("batch directory", e, HEADER_LEN, "payload"))?;
    if header.item_count <= 1 {
        notes.push(format!(
            "BATCH with item_count {}: reference receivers validate the directory only above 1 and senders use a single message instead",
            header.item_count
        ));
    }
    let packed_rel = view.len() * DIR_ENTRY_LEN;
    let packed_start = HEADER_LEN + packed_rel;
    let mut items = Vec::with_capacity(view.len());
    for index in 0..view.len() {
        let at = index * DIR_ENTRY_LEN;
        let offset = read_u32(payload, at);
        let length = read_u32(payload, at + 4);
        let region = format!("batch item {index}");
        let bytes = view.item(index).ok_or_else(|| {
            Malformed::rule(
                "batch directory",
                "unreadable entry",
                "batch item offset",
                HEADER_LEN + at,
                "the library validated the directory but cannot return this item",
            )
        })?;
        let start = packed_start + offset as usize;
        let content = decode_body(ty, direction, bytes, start, &region, header.code)?;
        if let Body::Decoded(decoded) = &content {
            note_decoded(decoded, &region, notes);
        }
        items.push(BatchItem {
            index,
            offset,
            length,
            content,
        });
    }
    Ok(Content::Batch {
        packed_start,
        items,
    })
}

fn raw_body(bytes: &[u8], start: usize) -> Body<'_> {
    Body::Opaque(Opaque {
        bytes,
        start,
        reason: "--raw".to_owned(),
    })
}

fn decode_body<'a>(
    ty: Option<PayloadType>,
    direction: Direction,
    bytes: &'a [u8],
    start: usize,
    region: &str,
    code: u16,
) -> Result<Body<'a>, Malformed> {
    match ty {
        Some(ty) => decode_at(ty, direction, bytes, start, region).map(Body::Decoded),
        None if Method::from_code(code).is_some() => Ok(raw_body(bytes, start)),
        None => Ok(Body::Opaque(Opaque {
            bytes,
            start,
            reason: format!("unknown method code {code}"),
        })),
    }
}

fn payload_type(method: Method) -> PayloadType {
    match method {
        Method::Increment => PayloadType::Increment,
        Method::CgroupsSnapshot => PayloadType::CgroupsSnapshot,
        Method::StringReverse => PayloadType::StringReverse,
        Method::CgroupsLookup => PayloadType::CgroupsLookup,
        Method::AppsLookup => PayloadType::AppsLookup,
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(b)
}

/// Notes about a decoded payload: bytes its decoder ignores, unusual but
/// accepted values.
fn note_decoded(decoded: &Decoded<'_>, region: &str, notes: &mut Vec<String>) {
    let name = label(decoded.ty, decoded.direction);
    if let Some(tail) = decoded.ignored_tail.filter(|&t| t > 0) {
        notes.push(format!(
            "{name} {region}: the last {tail} bytes (from byte {}) are ignored by the decoder",
            decoded.start + decoded.len - tail
        ));
    }
    if let Payload::HelloAck { reserved, .. } = decoded.value {
        if reserved != 0 {
            notes.push(format!(
                "HELLO_ACK reserved field (payload byte 36) is 0x{reserved:08x}; written as 0, not checked by clients"
            ));
        }
    }
}
