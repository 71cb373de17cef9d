//! The `--json` output: the same facts as the text output as one JSON
//! object.
//!
//! Shape: `{"input_bytes", "type": "message"|"chunk"|"payload", ...,
//! "notes": [..]}`. Messages carry `"header"` and `"payload"`; a batch
//! payload has `"batch": true` and `"items"`, each with its own
//! `"payload"`. Strings are UTF-8 (lossy); a string that is not valid UTF-8
//! gets a sibling `<name>_hex` with its exact bytes.

use netipc::codec::{AppsLookupItem, CgroupsLookupItem, Labels, SnapshotItem};
use netipc::wire::{CHUNK_MAGIC, CHUNK_VERSION, ChunkHeader, HEADER_LEN, Header, MAGIC, VERSION};
use serde_json::{Map, Value, json};

use super::model::{Body, Content, Decoded, Opaque, Payload, Report, Subject};
use super::names::{code_name, flag_names, hex, orchestrator_name, profile_names};

/// Renders the report as a JSON value.
pub fn render(report: &Report<'_>) -> Value {
    let mut top = match &report.subject {
        Subject::Message { header, content } => json!({
            "type": "message",
            "header": header_json(header),
            "payload": content_json(content),
        }),
        Subject::Chunk { header, data } => json!({
            "type": "chunk",
            "chunk_header": chunk_json(header),
            "data": {"start": HEADER_LEN, "length": data.len(), "hex": hex(data)},
        }),
        Subject::Payload(decoded) => json!({
            "type": "payload",
            "payload": decoded_json(decoded),
        }),
    };
    top["input_bytes"] = json!(report.input_len);
    top["notes"] = json!(report.notes);
    top
}

fn header_json(h: &Header) -> Value {
    json!({
        "magic": MAGIC,
        "magic_hex": format!("0x{MAGIC:08x}"),
        "version": VERSION,
        "header_len": HEADER_LEN,
        "kind": h.kind as u16,
        "kind_name": h.kind.spec_name(),
        "flags": h.flags,
        "flag_names": flag_names(h.flags),
        "batch": h.is_batch(),
        "code": h.code,
        "code_name": code_name(h),
        "transport_status": h.transport_status.0,
        "transport_status_name": h.transport_status.spec_name(),
        "payload_len": h.payload_len,
        "item_count": h.item_count,
        "message_id": h.message_id,
    })
}

fn chunk_json(h: &ChunkHeader) -> Value {
    json!({
        "magic": CHUNK_MAGIC,
        "magic_hex": format!("0x{CHUNK_MAGIC:08x}"),
        "version": CHUNK_VERSION,
        "flags": 0,
        "message_id": h.message_id,
        "total_message_len": h.total_message_len,
        "chunk_index": h.chunk_index,
        "chunk_count": h.chunk_count,
        "chunk_payload_len": h.chunk_payload_len,
    })
}

fn content_json(content: &Content<'_>) -> Value {
    match content {
        Content::HeaderOnly => json!({"decoded": false, "reason": "--header-only"}),
        Content::NotDecoded(opaque) => opaque_json(opaque),
        Content::Single(body) => body_json(body),
        Content::Batch {
            packed_start,
            items,
        } => {
            let items: Vec<Value> = items
                .iter()
                .map(|item| {
                    json!({
                        "index": item.index,
                        "offset": item.offset,
                        "length": item.length,
                        "start": packed_start + item.offset as usize,
                        "payload": body_json(&item.content),
                    })
                })
                .collect();
            json!({
                "decoded": true,
                "batch": true,
                "start": HEADER_LEN,
                "packed_start": packed_start,
                "item_count": items.len(),
                "items": items,
            })
        }
    }
}

fn body_json(body: &Body<'_>) -> Value {
    match body {
        Body::Decoded(decoded) => decoded_json(decoded),
        Body::Opaque(opaque) => opaque_json(opaque),
    }
}

fn opaque_json(o: &Opaque<'_>) -> Value {
    json!({
        "decoded": false,
        "reason": o.reason,
        "start": o.start,
        "length": o.bytes.len(),
        "hex": hex(o.bytes),
    })
}

fn decoded_json(d: &Decoded<'_>) -> Value {
    let mut map = Map::new();
    map.insert("decoded".into(), json!(true));
    map.insert("type".into(), json!(d.ty.spec_name()));
    map.insert("direction".into(), json!(d.direction.name()));
    map.insert("start".into(), json!(d.start));
    map.insert("length".into(), json!(d.len));
    if let Some(tail) = d.ignored_tail {
        map.insert("ignored_tail_bytes".into(), json!(tail));
    }
    payload_json(&mut map, &d.value);
    Value::Object(map)
}

/// Inserts `key` as a (lossy) string, plus `key_hex` when the bytes are
/// not valid UTF-8.
fn put_str(map: &mut Map<String, Value>, key: &str, bytes: &[u8]) {
    map.insert(key.into(), json!(String::from_utf8_lossy(bytes)));
    if std::str::from_utf8(bytes).is_err() {
        map.insert(format!("{key}_hex"), json!(hex(bytes)));
    }
}

fn profiles(map: &mut Map<String, Value>, key: &str, mask: u32) {
    map.insert(key.into(), json!(mask));
    map.insert(format!("{key}_names"), json!(profile_names(mask)));
}

fn payload_json(map: &mut Map<String, Value>, value: &Payload<'_>) {
    match value {
        Payload::Increment { value } => {
            map.insert("value".into(), json!(value));
        }
        Payload::StringReverse { text } => {
            map.insert("str_length".into(), json!(text.len()));
            put_str(map, "str", text);
        }
        Payload::SnapshotRequest => {
            map.insert("layout_version".into(), json!(1));
            map.insert("flags".into(), json!(0));
        }
        Payload::Snapshot {
            systemd_enabled,
            generation,
            items,
        } => {
            map.insert("systemd_enabled".into(), json!(systemd_enabled));
            map.insert("generation".into(), json!(generation));
            map.insert("item_count".into(), json!(items.len()));
            let items: Vec<Value> = items.iter().enumerate().map(snapshot_item).collect();
            map.insert("items".into(), json!(items));
        }
        Payload::CgroupsLookupRequest { paths } => {
            map.insert("item_count".into(), json!(paths.len()));
            let items: Vec<Value> = paths
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut m = Map::new();
                    m.insert("index".into(), json!(i));
                    put_str(&mut m, "path", p);
                    Value::Object(m)
                })
                .collect();
            map.insert("paths".into(), json!(items));
        }
        Payload::AppsLookupRequest { pids } => {
            map.insert("item_count".into(), json!(pids.len()));
            map.insert("pids".into(), json!(pids));
        }
        Payload::CgroupsLookup { generation, items } => {
            map.insert("generation".into(), json!(generation));
            map.insert("item_count".into(), json!(items.len()));
            let items: Vec<Value> = items.iter().enumerate().map(cgroups_item).collect();
            map.insert("items".into(), json!(items));
        }
        Payload::AppsLookup { generation, items } => {
            map.insert("generation".into(), json!(generation));
            map.insert("item_count".into(), json!(items.len()));
            let items: Vec<Value> = items.iter().enumerate().map(apps_item).collect();
            map.insert("items".into(), json!(items));
        }
        Payload::Hello(h) => {
            map.insert("layout_version".into(), json!(1));
            map.insert("flags".into(), json!(h.flags));
            profiles(map, "supported_profiles", h.supported_profiles);
            profiles(map, "preferred_profiles", h.preferred_profiles);
            let rest = [
                ("max_request_payload_bytes", h.max_request_payload_bytes),
                ("max_request_batch_items", h.max_request_batch_items),
                ("max_response_payload_bytes", h.max_response_payload_bytes),
                ("max_response_batch_items", h.max_response_batch_items),
                ("packet_size", h.packet_size),
            ];
            for (k, v) in rest {
                map.insert(k.into(), json!(v));
            }
            map.insert("auth_token".into(), json!(h.auth_token));
        }
        Payload::HelloAck { ack: a, reserved } => {
            map.insert("layout_version".into(), json!(1));
            map.insert("flags".into(), json!(0));
            profiles(
                map,
                "server_supported_profiles",
                a.server_supported_profiles,
            );
            profiles(map, "intersection_profiles", a.intersection_profiles);
            profiles(map, "selected_profile", a.selected_profile);
            let rest = [
                (
                    "agreed_max_request_payload_bytes",
                    a.agreed_max_request_payload_bytes,
                ),
                (
                    "agreed_max_request_batch_items",
                    a.agreed_max_request_batch_items,
                ),
                (
                    "agreed_max_response_payload_bytes",
                    a.agreed_max_response_payload_bytes,
                ),
                (
                    "agreed_max_response_batch_items",
                    a.agreed_max_response_batch_items,
                ),
                ("agreed_packet_size", a.agreed_packet_size),
                ("reserved", *reserved),
            ];
            for (k, v) in rest {
                map.insert(k.into(), json!(v));
            }
            map.insert("session_id".into(), json!(a.session_id));
        }
    }
}

fn snapshot_item((index, item): (usize, &SnapshotItem<'_>)) -> Value {
    let mut m = Map::new();
    m.insert("index".into(), json!(index));
    m.insert("hash".into(), json!(item.hash));
    m.insert("options".into(), json!(item.options));
    m.insert("enabled".into(), json!(item.enabled));
    put_str(&mut m, "name", item.name);
    put_str(&mut m, "path", item.path);
    Value::Object(m)
}

fn labels_json(labels: &Labels<'_>) -> Value {
    let list: Vec<Value> = labels
        .iter()
        .map(|label| {
            let mut m = Map::new();
            put_str(&mut m, "key", label.key);
            put_str(&mut m, "value", label.value);
            Value::Object(m)
        })
        .collect();
    json!(list)
}

fn orchestrator(m: &mut Map<String, Value>, value: u16) {
    m.insert("orchestrator".into(), json!(value));
    m.insert("orchestrator_name".into(), json!(orchestrator_name(value)));
}

fn cgroups_item((index, item): (usize, &CgroupsLookupItem<'_>)) -> Value {
    let mut m = Map::new();
    m.insert("index".into(), json!(index));
    m.insert("status".into(), json!(item.status as u16));
    m.insert("status_name".into(), json!(item.status.spec_name()));
    orchestrator(&mut m, item.orchestrator);
    put_str(&mut m, "path", item.path);
    put_str(&mut m, "name", item.name);
    m.insert("label_count".into(), json!(item.labels.len()));
    m.insert("labels".into(), labels_json(&item.labels));
    Value::Object(m)
}

fn apps_item((index, item): (usize, &AppsLookupItem<'_>)) -> Value {
    let e = &item.entry;
    let mut m = Map::new();
    m.insert("index".into(), json!(index));
    m.insert("pid".into(), json!(item.pid));
    m.insert("status".into(), json!(e.status as u16));
    m.insert("status_name".into(), json!(e.status.spec_name()));
    m.insert("cgroup_status".into(), json!(e.cgroup_status as u16));
    m.insert(
        "cgroup_status_name".into(),
        json!(e.cgroup_status.spec_name()),
    );
    orchestrator(&mut m, e.orchestrator);
    m.insert("ppid".into(), json!(e.ppid));
    m.insert("uid".into(), json!(e.uid));
    m.insert("starttime".into(), json!(e.starttime));
    put_str(&mut m, "comm", e.comm);
    put_str(&mut m, "cgroup_path", e.cgroup_path);
    put_str(&mut m, "cgroup_name", e.cgroup_name);
    m.insert("label_count".into(), json!(item.labels.len()));
    m.insert("labels".into(), labels_json(&item.labels));
    Value::Object(m)
}
