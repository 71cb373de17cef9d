//! The readable output: the header fields, the batch directory or chunk
//! header, then the payload ([`super::text_payload`]) and the notes.

use netipc::wire::{CHUNK_MAGIC, CHUNK_VERSION, ChunkHeader, HEADER_LEN, Header, MAGIC, VERSION};

use super::layout::{Align, Out};
use super::model::{Body, Content, Decoded, Opaque, Report, Subject};
use super::names::{bytes, code_meaning, code_name, flag_names};
use super::payload::label;
use super::text_payload::payload_fields;

/// Raw bytes shown in a hex dump before it is cut short.
const DUMP_LIMIT: usize = 256;

/// Renders the report as aligned text.
pub fn render(report: &Report<'_>) -> String {
    let mut out = Out::new();
    match &report.subject {
        Subject::Message { header, content } => message(&mut out, report, header, content),
        Subject::Chunk { header, data } => chunk(&mut out, report, header, data),
        Subject::Payload(decoded) => decoded_section(&mut out, 0, "bare payload", decoded),
    }
    if !report.notes.is_empty() {
        out.blank();
        for note in &report.notes {
            out.line(0, format!("note: {note}"));
        }
    }
    out.finish()
}

fn message(out: &mut Out, report: &Report<'_>, header: &Header, content: &Content<'_>) {
    out.line(
        0,
        format!(
            "NetIPC message, {} bytes ({HEADER_LEN}-byte header + {}-byte payload)",
            report.input_len,
            report.input_len.saturating_sub(HEADER_LEN)
        ),
    );
    out.blank();
    header_fields(out, header);
    out.blank();
    match content {
        Content::HeaderOnly => out.line(0, "payload: not decoded (--header-only)"),
        Content::NotDecoded(opaque) => opaque_section(out, 0, "payload", opaque),
        Content::Single(body) => body_section(out, 0, "payload", body),
        Content::Batch {
            packed_start,
            items,
        } => {
            out.line(
                0,
                format!(
                    "batch directory: {} items at byte {HEADER_LEN}, packed item area at byte {packed_start}",
                    items.len()
                ),
            );
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|item| {
                    vec![
                        item.index.to_string(),
                        item.offset.to_string(),
                        item.length.to_string(),
                        (packed_start + item.offset as usize).to_string(),
                    ]
                })
                .collect();
            let columns = [
                ("index", Align::Right),
                ("offset", Align::Right),
                ("length", Align::Right),
                ("at byte", Align::Right),
            ];
            if !rows.is_empty() {
                out.table(1, &columns, &rows);
            }
            for item in items {
                out.blank();
                body_section(out, 0, &format!("item {}", item.index), &item.content);
            }
        }
    }
}

fn header_fields(out: &mut Out, header: &Header) {
    let flags = flag_names(header.flags);
    let flags = if flags.is_empty() {
        format!("0x{:04x}", header.flags)
    } else {
        format!("0x{:04x} ({})", header.flags, flags.join("|"))
    };
    let code = format!(
        "{} ({} {})",
        header.code,
        code_meaning(header),
        code_name(header).unwrap_or("unknown")
    );
    let status = header.transport_status;
    let status = format!(
        "{} ({})",
        status.0,
        status.spec_name().unwrap_or("undefined")
    );
    out.line(0, format!("header (bytes 0..{HEADER_LEN})"));
    out.fields(
        1,
        &[
            ("magic", format!("0x{MAGIC:08x} (NIPC)")),
            ("version", VERSION.to_string()),
            ("header_len", HEADER_LEN.to_string()),
            (
                "kind",
                format!("{} ({})", header.kind as u16, header.kind.spec_name()),
            ),
            ("flags", flags),
            ("code", code),
            ("transport_status", status),
            ("payload_len", header.payload_len.to_string()),
            ("item_count", header.item_count.to_string()),
            ("message_id", header.message_id.to_string()),
        ],
    );
}

fn chunk(out: &mut Out, report: &Report<'_>, header: &ChunkHeader, data: &[u8]) {
    out.line(
        0,
        format!(
            "NetIPC chunk continuation packet, {} bytes ({HEADER_LEN}-byte chunk header + {} data bytes)",
            report.input_len,
            data.len()
        ),
    );
    out.blank();
    out.line(0, format!("chunk header (bytes 0..{HEADER_LEN})"));
    out.fields(
        1,
        &[
            ("magic", format!("0x{CHUNK_MAGIC:08x} (NCHK)")),
            ("version", CHUNK_VERSION.to_string()),
            ("flags", "0x0000".to_owned()),
            ("message_id", header.message_id.to_string()),
            ("total_message_len", header.total_message_len.to_string()),
            ("chunk_index", header.chunk_index.to_string()),
            ("chunk_count", header.chunk_count.to_string()),
            ("chunk_payload_len", header.chunk_payload_len.to_string()),
        ],
    );
    out.blank();
    if data.is_empty() {
        out.line(0, "data: none (header only)");
    } else {
        out.line(
            0,
            format!(
                "data: {} at byte {HEADER_LEN} (a slice of the message payload; not decoded)",
                bytes(data.len())
            ),
        );
        out.hexdump(1, data, HEADER_LEN, DUMP_LIMIT);
    }
}

fn body_section(out: &mut Out, indent: usize, title: &str, body: &Body<'_>) {
    match body {
        Body::Decoded(decoded) => decoded_section(out, indent, title, decoded),
        Body::Opaque(opaque) => opaque_section(out, indent, title, opaque),
    }
}

fn decoded_section(out: &mut Out, indent: usize, title: &str, decoded: &Decoded<'_>) {
    let at = if decoded.start == 0 {
        String::new()
    } else {
        format!(" at byte {}", decoded.start)
    };
    out.line(
        indent,
        format!(
            "{title}: {}, {}{at}",
            label(decoded.ty, decoded.direction),
            bytes(decoded.len)
        ),
    );
    payload_fields(out, indent + 1, &decoded.value);
}

fn opaque_section(out: &mut Out, indent: usize, title: &str, opaque: &Opaque<'_>) {
    if opaque.bytes.is_empty() {
        out.line(
            indent,
            format!("{title}: empty, not decoded ({})", opaque.reason),
        );
        return;
    }
    out.line(
        indent,
        format!(
            "{title}: {} at byte {}, not decoded ({})",
            bytes(opaque.bytes.len()),
            opaque.start,
            opaque.reason
        ),
    );
    out.hexdump(indent + 1, opaque.bytes, opaque.start, DUMP_LIMIT);
}
