//! The `--json` output: the same facts as the text output as one JSON
//! object, serialized by serde.
//!
//! Shape: `{"input_bytes", "type": "message"|"chunk"|"payload", ...,
//! "notes": [..]}`. Messages carry `"header"` and `"payload"`; a batch
//! payload has `"batch": true` and `"items"`, each with its own
//! `"payload"`. Strings are UTF-8 (lossy); a string that is not valid UTF-8
//! gets a sibling `<name>_hex` with its exact bytes.

use netipc::codec::{AppsLookupItem, CgroupsLookupItem, Labels, SnapshotItem};
use netipc::wire::{
    CHUNK_MAGIC, CHUNK_VERSION, ChunkHeader, HEADER_LEN, Header, Hello, HelloAck, MAGIC, VERSION,
};
use serde::Serialize;

use super::model::{Body, Content, Decoded, Opaque, Payload, Report, Subject};
use super::names::{code_name, flag_names, hex, orchestrator_name, profile_names};

/// The report as JSON.
pub fn render<'a>(report: &'a Report<'a>) -> impl Serialize + 'a {
    Top {
        subject: match &report.subject {
            Subject::Message { header, content } => Kind::Message {
                header: HeaderJson::new(header),
                payload: ContentJson::new(content),
            },
            Subject::Chunk { header, data } => Kind::Chunk {
                chunk_header: ChunkJson::new(header),
                data: Data {
                    start: HEADER_LEN,
                    length: data.len(),
                    hex: hex(data),
                },
            },
            Subject::Payload(decoded) => Kind::Payload {
                payload: DecodedJson::new(decoded),
            },
        },
        input_bytes: report.input_len,
        notes: &report.notes,
    }
}

#[derive(Serialize)]
struct Top<'a> {
    #[serde(flatten)]
    subject: Kind<'a>,
    input_bytes: usize,
    notes: &'a [String],
}

/// What the input is, in the `type` field.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Kind<'a> {
    Message {
        header: HeaderJson,
        payload: ContentJson<'a>,
    },
    Chunk {
        chunk_header: ChunkJson,
        data: Data,
    },
    Payload {
        payload: DecodedJson<'a>,
    },
}

#[derive(Serialize)]
struct HeaderJson {
    magic: u32,
    magic_hex: String,
    version: u16,
    header_len: usize,
    kind: u16,
    kind_name: &'static str,
    flags: u16,
    flag_names: Vec<String>,
    batch: bool,
    code: u16,
    code_name: Option<&'static str>,
    transport_status: u16,
    transport_status_name: Option<&'static str>,
    payload_len: u32,
    item_count: u32,
    message_id: u64,
}

impl HeaderJson {
    fn new(h: &Header) -> Self {
        Self {
            magic: MAGIC,
            magic_hex: format!("0x{MAGIC:08x}"),
            version: VERSION,
            header_len: HEADER_LEN,
            kind: h.kind as u16,
            kind_name: h.kind.spec_name(),
            flags: h.flags,
            flag_names: flag_names(h.flags),
            batch: h.is_batch(),
            code: h.code,
            code_name: code_name(h),
            transport_status: h.transport_status.0,
            transport_status_name: h.transport_status.spec_name(),
            payload_len: h.payload_len,
            item_count: h.item_count,
            message_id: h.message_id,
        }
    }
}

#[derive(Serialize)]
struct ChunkJson {
    magic: u32,
    magic_hex: String,
    version: u16,
    flags: u16,
    message_id: u64,
    total_message_len: u32,
    chunk_index: u32,
    chunk_count: u32,
    chunk_payload_len: u32,
}

impl ChunkJson {
    fn new(h: &ChunkHeader) -> Self {
        Self {
            magic: CHUNK_MAGIC,
            magic_hex: format!("0x{CHUNK_MAGIC:08x}"),
            version: CHUNK_VERSION,
            flags: 0,
            message_id: h.message_id,
            total_message_len: h.total_message_len,
            chunk_index: h.chunk_index,
            chunk_count: h.chunk_count,
            chunk_payload_len: h.chunk_payload_len,
        }
    }
}

/// Bytes after a chunk header.
#[derive(Serialize)]
struct Data {
    start: usize,
    length: usize,
    hex: String,
}

/// The payload of a message.
#[derive(Serialize)]
#[serde(untagged)]
enum ContentJson<'a> {
    Skipped {
        decoded: bool,
        reason: &'static str,
    },
    Body(BodyJson<'a>),
    Batch {
        decoded: bool,
        batch: bool,
        start: usize,
        packed_start: usize,
        item_count: usize,
        items: Vec<BatchItemJson<'a>>,
    },
}

impl<'a> ContentJson<'a> {
    fn new(content: &'a Content<'a>) -> Self {
        match content {
            Content::HeaderOnly => Self::Skipped {
                decoded: false,
                reason: "--header-only",
            },
            Content::NotDecoded(opaque) => Self::Body(BodyJson::Opaque(OpaqueJson::new(opaque))),
            Content::Single(body) => Self::Body(BodyJson::new(body)),
            Content::Batch {
                packed_start,
                items,
            } => Self::Batch {
                decoded: true,
                batch: true,
                start: HEADER_LEN,
                packed_start: *packed_start,
                item_count: items.len(),
                items: items
                    .iter()
                    .map(|item| BatchItemJson {
                        index: item.index,
                        offset: item.offset,
                        length: item.length,
                        start: packed_start + item.offset as usize,
                        payload: BodyJson::new(&item.content),
                    })
                    .collect(),
            },
        }
    }
}

#[derive(Serialize)]
struct BatchItemJson<'a> {
    index: usize,
    offset: u32,
    length: u32,
    start: usize,
    payload: BodyJson<'a>,
}

/// A payload decoded, or shown raw.
#[derive(Serialize)]
#[serde(untagged)]
enum BodyJson<'a> {
    Decoded(DecodedJson<'a>),
    Opaque(OpaqueJson),
}

impl<'a> BodyJson<'a> {
    fn new(body: &'a Body<'a>) -> Self {
        match body {
            Body::Decoded(decoded) => Self::Decoded(DecodedJson::new(decoded)),
            Body::Opaque(opaque) => Self::Opaque(OpaqueJson::new(opaque)),
        }
    }
}

#[derive(Serialize)]
struct OpaqueJson {
    decoded: bool,
    reason: String,
    start: usize,
    length: usize,
    hex: String,
}

impl OpaqueJson {
    fn new(o: &Opaque<'_>) -> Self {
        Self {
            decoded: false,
            reason: o.reason.clone(),
            start: o.start,
            length: o.bytes.len(),
            hex: hex(o.bytes),
        }
    }
}

#[derive(Serialize)]
struct DecodedJson<'a> {
    decoded: bool,
    #[serde(rename = "type")]
    ty: &'static str,
    direction: &'static str,
    start: usize,
    length: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored_tail_bytes: Option<usize>,
    #[serde(flatten)]
    value: PayloadJson<'a>,
}

impl<'a> DecodedJson<'a> {
    fn new(d: &'a Decoded<'a>) -> Self {
        Self {
            decoded: true,
            ty: d.ty.spec_name(),
            direction: d.direction.name(),
            start: d.start,
            length: d.len,
            ignored_tail_bytes: d.ignored_tail,
            value: PayloadJson::new(&d.value),
        }
    }
}

/// Bytes as text (lossy), with their exact bytes in hex when they are not
/// UTF-8: the fields `<name>` and `<name>_hex`.
struct Lossy {
    text: String,
    hex: Option<String>,
}

impl Lossy {
    fn new(bytes: &[u8]) -> Self {
        Self {
            text: String::from_utf8_lossy(bytes).into_owned(),
            hex: std::str::from_utf8(bytes).is_err().then(|| hex(bytes)),
        }
    }
}

/// The fields of one decoded payload, by layout.
#[derive(Serialize)]
#[serde(untagged)]
enum PayloadJson<'a> {
    Increment {
        value: u64,
    },
    StringReverse {
        str_length: usize,
        str: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        str_hex: Option<String>,
    },
    SnapshotRequest {
        layout_version: u16,
        flags: u16,
    },
    Snapshot {
        systemd_enabled: u32,
        generation: u64,
        item_count: usize,
        items: Vec<SnapshotItemJson>,
    },
    CgroupsLookupRequest {
        item_count: usize,
        paths: Vec<PathJson>,
    },
    AppsLookupRequest {
        item_count: usize,
        pids: &'a [u32],
    },
    CgroupsLookup {
        generation: u64,
        item_count: usize,
        items: Vec<CgroupsItemJson>,
    },
    AppsLookup {
        generation: u64,
        item_count: usize,
        items: Vec<AppsItemJson>,
    },
    Hello(HelloJson),
    HelloAck(HelloAckJson),
}

impl<'a> PayloadJson<'a> {
    fn new(value: &'a Payload<'a>) -> Self {
        match value {
            Payload::Increment { value } => Self::Increment { value: *value },
            Payload::StringReverse { text } => {
                let s = Lossy::new(text);
                Self::StringReverse {
                    str_length: text.len(),
                    str: s.text,
                    str_hex: s.hex,
                }
            }
            Payload::SnapshotRequest => Self::SnapshotRequest {
                layout_version: 1,
                flags: 0,
            },
            Payload::Snapshot {
                systemd_enabled,
                generation,
                items,
            } => Self::Snapshot {
                systemd_enabled: *systemd_enabled,
                generation: *generation,
                item_count: items.len(),
                items: items
                    .iter()
                    .enumerate()
                    .map(SnapshotItemJson::new)
                    .collect(),
            },
            Payload::CgroupsLookupRequest { paths } => Self::CgroupsLookupRequest {
                item_count: paths.len(),
                paths: paths
                    .iter()
                    .enumerate()
                    .map(|(index, p)| {
                        let path = Lossy::new(p);
                        PathJson {
                            index,
                            path: path.text,
                            path_hex: path.hex,
                        }
                    })
                    .collect(),
            },
            Payload::AppsLookupRequest { pids } => Self::AppsLookupRequest {
                item_count: pids.len(),
                pids,
            },
            Payload::CgroupsLookup { generation, items } => Self::CgroupsLookup {
                generation: *generation,
                item_count: items.len(),
                items: items.iter().enumerate().map(CgroupsItemJson::new).collect(),
            },
            Payload::AppsLookup { generation, items } => Self::AppsLookup {
                generation: *generation,
                item_count: items.len(),
                items: items.iter().enumerate().map(AppsItemJson::new).collect(),
            },
            Payload::Hello(h) => Self::Hello(HelloJson::new(h)),
            Payload::HelloAck { ack, reserved } => {
                Self::HelloAck(HelloAckJson::new(ack, *reserved))
            }
        }
    }
}

#[derive(Serialize)]
struct HelloJson {
    layout_version: u16,
    flags: u16,
    supported_profiles: u32,
    supported_profiles_names: Vec<String>,
    preferred_profiles: u32,
    preferred_profiles_names: Vec<String>,
    max_request_payload_bytes: u32,
    max_request_batch_items: u32,
    max_response_payload_bytes: u32,
    max_response_batch_items: u32,
    packet_size: u32,
    auth_token: u64,
}

impl HelloJson {
    fn new(h: &Hello) -> Self {
        Self {
            layout_version: 1,
            flags: h.flags,
            supported_profiles: h.supported_profiles,
            supported_profiles_names: profile_names(h.supported_profiles),
            preferred_profiles: h.preferred_profiles,
            preferred_profiles_names: profile_names(h.preferred_profiles),
            max_request_payload_bytes: h.max_request_payload_bytes,
            max_request_batch_items: h.max_request_batch_items,
            max_response_payload_bytes: h.max_response_payload_bytes,
            max_response_batch_items: h.max_response_batch_items,
            packet_size: h.packet_size,
            auth_token: h.auth_token,
        }
    }
}

#[derive(Serialize)]
struct HelloAckJson {
    layout_version: u16,
    flags: u16,
    server_supported_profiles: u32,
    server_supported_profiles_names: Vec<String>,
    intersection_profiles: u32,
    intersection_profiles_names: Vec<String>,
    selected_profile: u32,
    selected_profile_names: Vec<String>,
    agreed_max_request_payload_bytes: u32,
    agreed_max_request_batch_items: u32,
    agreed_max_response_payload_bytes: u32,
    agreed_max_response_batch_items: u32,
    agreed_packet_size: u32,
    reserved: u32,
    session_id: u64,
}

impl HelloAckJson {
    fn new(a: &HelloAck, reserved: u32) -> Self {
        Self {
            layout_version: 1,
            flags: 0,
            server_supported_profiles: a.server_supported_profiles,
            server_supported_profiles_names: profile_names(a.server_supported_profiles),
            intersection_profiles: a.intersection_profiles,
            intersection_profiles_names: profile_names(a.intersection_profiles),
            selected_profile: a.selected_profile,
            selected_profile_names: profile_names(a.selected_profile),
            agreed_max_request_payload_bytes: a.agreed_max_request_payload_bytes,
            agreed_max_request_batch_items: a.agreed_max_request_batch_items,
            agreed_max_response_payload_bytes: a.agreed_max_response_payload_bytes,
            agreed_max_response_batch_items: a.agreed_max_response_batch_items,
            agreed_packet_size: a.agreed_packet_size,
            reserved,
            session_id: a.session_id,
        }
    }
}

#[derive(Serialize)]
struct PathJson {
    index: usize,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_hex: Option<String>,
}

#[derive(Serialize)]
struct SnapshotItemJson {
    index: usize,
    hash: u32,
    options: u32,
    enabled: u32,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name_hex: Option<String>,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_hex: Option<String>,
}

impl SnapshotItemJson {
    fn new((index, item): (usize, &SnapshotItem<'_>)) -> Self {
        let (name, path) = (Lossy::new(item.name), Lossy::new(item.path));
        Self {
            index,
            hash: item.hash,
            options: item.options,
            enabled: item.enabled,
            name: name.text,
            name_hex: name.hex,
            path: path.text,
            path_hex: path.hex,
        }
    }
}

#[derive(Serialize)]
struct LabelJson {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_hex: Option<String>,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_hex: Option<String>,
}

fn labels(labels: &Labels<'_>) -> Vec<LabelJson> {
    labels
        .iter()
        .map(|label| {
            let (key, value) = (Lossy::new(label.key), Lossy::new(label.value));
            LabelJson {
                key: key.text,
                key_hex: key.hex,
                value: value.text,
                value_hex: value.hex,
            }
        })
        .collect()
}

#[derive(Serialize)]
struct CgroupsItemJson {
    index: usize,
    status: u16,
    status_name: &'static str,
    orchestrator: u16,
    orchestrator_name: &'static str,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_hex: Option<String>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name_hex: Option<String>,
    label_count: usize,
    labels: Vec<LabelJson>,
}

impl CgroupsItemJson {
    fn new((index, item): (usize, &CgroupsLookupItem<'_>)) -> Self {
        let (path, name) = (Lossy::new(item.path), Lossy::new(item.name));
        Self {
            index,
            status: item.status as u16,
            status_name: item.status.spec_name(),
            orchestrator: item.orchestrator,
            orchestrator_name: orchestrator_name(item.orchestrator),
            path: path.text,
            path_hex: path.hex,
            name: name.text,
            name_hex: name.hex,
            label_count: item.labels.len(),
            labels: labels(&item.labels),
        }
    }
}

#[derive(Serialize)]
struct AppsItemJson {
    index: usize,
    pid: u32,
    status: u16,
    status_name: &'static str,
    cgroup_status: u16,
    cgroup_status_name: &'static str,
    orchestrator: u16,
    orchestrator_name: &'static str,
    ppid: u32,
    uid: u32,
    starttime: u64,
    comm: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    comm_hex: Option<String>,
    cgroup_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup_path_hex: Option<String>,
    cgroup_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup_name_hex: Option<String>,
    label_count: usize,
    labels: Vec<LabelJson>,
}

impl AppsItemJson {
    fn new((index, item): (usize, &AppsLookupItem<'_>)) -> Self {
        let e = &item.entry;
        let (comm, path, name) = (
            Lossy::new(e.comm),
            Lossy::new(e.cgroup_path),
            Lossy::new(e.cgroup_name),
        );
        Self {
            index,
            pid: item.pid,
            status: e.status as u16,
            status_name: e.status.spec_name(),
            cgroup_status: e.cgroup_status as u16,
            cgroup_status_name: e.cgroup_status.spec_name(),
            orchestrator: e.orchestrator,
            orchestrator_name: orchestrator_name(e.orchestrator),
            ppid: e.ppid,
            uid: e.uid,
            starttime: e.starttime,
            comm: comm.text,
            comm_hex: comm.hex,
            cgroup_path: path.text,
            cgroup_path_hex: path.hex,
            cgroup_name: name.text,
            cgroup_name_hex: name.hex,
            label_count: item.labels.len(),
            labels: labels(&item.labels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::model::{Direction, PayloadType};

    fn bare(text: &[u8]) -> serde_json::Value {
        let report = Report {
            input_len: 7,
            subject: Subject::Payload(Decoded {
                ty: PayloadType::StringReverse,
                direction: Direction::Request,
                len: 7,
                start: 0,
                value: Payload::StringReverse { text },
                ignored_tail: None,
            }),
            notes: vec!["a note".to_owned()],
        };
        serde_json::to_value(render(&report)).expect("JSON")
    }

    #[test]
    fn text_that_is_not_utf8_gets_its_hex() {
        let v = bare(b"a\xff");
        assert_eq!(v["type"], "payload");
        assert_eq!(v["input_bytes"], 7);
        assert_eq!(v["notes"][0], "a note");
        let p = &v["payload"];
        assert_eq!(p["decoded"], true);
        assert_eq!(p["type"], "STRING_REVERSE");
        assert_eq!(p["direction"], "request");
        assert_eq!(p["str_length"], 2);
        assert_eq!(p["str"], "a\u{fffd}");
        assert_eq!(p["str_hex"], "61ff");
        assert!(p.get("ignored_tail_bytes").is_none(), "{p}");

        let p = &bare(b"ok")["payload"];
        assert_eq!(p["str"], "ok");
        assert!(p.get("str_hex").is_none(), "{p}");
    }
}
