//! Method payload vectors: decode, compare, re-encode; negatives rejected.

use netipc::CodecError;
use netipc::codec::*;
use netipc::wire::{Hello, HelloAck};
use serde_json::{Value, json};

use crate::support::*;

/// Decodes a payload with the named decoder into the JSON shape of the
/// index's `expect` blocks. For CGROUPS_RESP every item is read (the lazy
/// phase B included).
pub fn decode(decoder: &str, p: &[u8]) -> Result<Value, CodecError> {
    Ok(match decoder {
        "INCREMENT" => json!({ "value": decode_increment(p)? }),
        "STRING_REVERSE" => json!({ "str": lossy(decode_string_reverse(p)?) }),
        "CGROUPS_REQ" => {
            SnapshotRequest::decode(p)?;
            json!({ "layout_version": 1, "flags": 0 })
        }
        "CGROUPS_RESP" => snapshot_json(&SnapshotView::decode(p)?)?,
        "CGL_REQ" => {
            let r = CgroupsLookupRequest::decode(p)?;
            let paths: Vec<Value> = r.paths().map(|p| json!({ "path": lossy(p) })).collect();
            json!({ "item_count": r.len(), "paths": paths })
        }
        "APPS_REQ" => {
            let r = AppsLookupRequest::decode(p)?;
            json!({ "item_count": r.len(), "pids": r.pids().collect::<Vec<_>>() })
        }
        "CGL_RESP" => {
            let v = CgroupsLookupView::decode(p)?;
            let items: Vec<Value> = v.iter().map(|i| cgl_item_json(&i)).collect();
            json!({ "layout_version": 1, "flags": 0, "item_count": v.len(), "generation": v.generation(), "items": items })
        }
        "APPS_RESP" => {
            let v = AppsLookupView::decode(p)?;
            let items: Vec<Value> = v.iter().map(|i| apps_item_json(&i)).collect();
            json!({ "layout_version": 1, "flags": 0, "item_count": v.len(), "generation": v.generation(), "items": items })
        }
        "HELLO" => hello_json(&Hello::decode(p)?),
        "HELLO_ACK" => hello_ack_json(&HelloAck::decode(p)?),
        other => panic!("unknown decoder {other}"),
    })
}

fn snapshot_json(v: &SnapshotView<'_>) -> Result<Value, CodecError> {
    let mut items = Vec::new();
    for item in v.iter() {
        let i = item?;
        items.push(json!({
            "layout_version": 1, "flags": 0, "hash": i.hash, "options": i.options,
            "enabled": i.enabled, "name": lossy(i.name), "path": lossy(i.path),
        }));
    }
    Ok(json!({
        "layout_version": 1, "flags": 0, "item_count": v.len(),
        "systemd_enabled": v.systemd_enabled(), "generation": v.generation(), "items": items,
    }))
}

fn labels_json(labels: &Labels<'_>) -> Value {
    labels
        .iter()
        .map(|l| json!({ "key": lossy(l.key), "value": lossy(l.value) }))
        .collect()
}

fn cgl_item_json(i: &CgroupsLookupItem<'_>) -> Value {
    json!({
        "status": i.status as u16, "orchestrator": i.orchestrator, "label_count": i.labels.len(),
        "path": lossy(i.path), "name": lossy(i.name), "labels": labels_json(&i.labels),
    })
}

fn apps_item_json(i: &AppsLookupItem<'_>) -> Value {
    let e = &i.entry;
    json!({
        "status": e.status as u16, "cgroup_status": e.cgroup_status as u16,
        "orchestrator": e.orchestrator, "pid": i.pid, "ppid": e.ppid, "uid": e.uid,
        "starttime": e.starttime, "label_count": i.labels.len(), "comm": lossy(e.comm),
        "cgroup_path": lossy(e.cgroup_path), "cgroup_name": lossy(e.cgroup_name),
        "labels": labels_json(&i.labels),
    })
}

pub fn hello_json(h: &Hello) -> Value {
    json!({
        "layout_version": 1, "flags": h.flags, "supported_profiles": h.supported_profiles,
        "preferred_profiles": h.preferred_profiles,
        "max_request_payload_bytes": h.max_request_payload_bytes,
        "max_request_batch_items": h.max_request_batch_items,
        "max_response_payload_bytes": h.max_response_payload_bytes,
        "max_response_batch_items": h.max_response_batch_items,
        "auth_token": h.auth_token, "packet_size": h.packet_size,
    })
}

pub fn hello_ack_json(a: &HelloAck) -> Value {
    json!({
        "layout_version": 1, "flags": 0,
        "server_supported_profiles": a.server_supported_profiles,
        "intersection_profiles": a.intersection_profiles,
        "selected_profile": a.selected_profile,
        "agreed_max_request_payload_bytes": a.agreed_max_request_payload_bytes,
        "agreed_max_request_batch_items": a.agreed_max_request_batch_items,
        "agreed_max_response_payload_bytes": a.agreed_max_response_payload_bytes,
        "agreed_max_response_batch_items": a.agreed_max_response_batch_items,
        "agreed_packet_size": a.agreed_packet_size, "session_id": a.session_id,
    })
}

pub fn hello_from(f: &Value) -> Result<Hello, String> {
    Ok(Hello {
        flags: f["flags"].as_u64().unwrap_or(0) as u16,
        supported_profiles: u32_of(f, "supported_profiles")?,
        preferred_profiles: u32_of(f, "preferred_profiles")?,
        max_request_payload_bytes: u32_of(f, "max_request_payload_bytes")?,
        max_request_batch_items: u32_of(f, "max_request_batch_items")?,
        max_response_payload_bytes: u32_of(f, "max_response_payload_bytes")?,
        max_response_batch_items: u32_of(f, "max_response_batch_items")?,
        auth_token: u64_of(f, "auth_token")?,
        packet_size: u32_of(f, "packet_size")?,
    })
}

pub fn hello_ack_from(f: &Value) -> Result<HelloAck, String> {
    Ok(HelloAck {
        server_supported_profiles: u32_of(f, "server_supported_profiles")?,
        intersection_profiles: u32_of(f, "intersection_profiles")?,
        selected_profile: u32_of(f, "selected_profile")?,
        agreed_max_request_payload_bytes: u32_of(f, "agreed_max_request_payload_bytes")?,
        agreed_max_request_batch_items: u32_of(f, "agreed_max_request_batch_items")?,
        agreed_max_response_payload_bytes: u32_of(f, "agreed_max_response_payload_bytes")?,
        agreed_max_response_batch_items: u32_of(f, "agreed_max_response_batch_items")?,
        agreed_packet_size: u32_of(f, "agreed_packet_size")?,
        session_id: u64_of(f, "session_id")?,
        extensions: 0,
    })
}

fn labels_of(item: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    item["labels"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| (bytes_of(l, "key"), bytes_of(l, "value")))
                .collect()
        })
        .unwrap_or_default()
}

fn cgl_status(item: &Value) -> Result<CgroupsLookupStatus, String> {
    CgroupsLookupStatus::from_u16(u16_of(item, "status")?).ok_or("bad status".into())
}

fn apps_entry<'a>(item: &Value, strings: &'a [Vec<u8>; 3]) -> Result<AppsEntry<'a>, String> {
    let status = PidStatus::from_u16(u16_of(item, "status")?).ok_or("bad status")?;
    let cgroup_status = CgroupStatus::from_u16(item["cgroup_status"].as_u64().unwrap_or(0) as u16)
        .ok_or("bad cgroup status")?;
    Ok(AppsEntry {
        status,
        cgroup_status,
        orchestrator: item["orchestrator"].as_u64().unwrap_or(0) as u16,
        ppid: item["ppid"].as_u64().unwrap_or(0) as u32,
        uid: item["uid"].as_u64().map_or(UID_UNSET, |u| u as u32),
        starttime: item["starttime"].as_u64().unwrap_or(0),
        comm: &strings[0],
        cgroup_path: &strings[1],
        cgroup_name: &strings[2],
    })
}

fn apps_strings(item: &Value) -> [Vec<u8>; 3] {
    [
        bytes_of(item, "comm"),
        bytes_of(item, "cgroup_path"),
        bytes_of(item, "cgroup_name"),
    ]
}

/// Re-creates a payload from the vector's logical fields.
fn encode(v: &Vector) -> Result<Vec<u8>, String> {
    let f = v.fields();
    let mut out = vec![0u8; 1 << 16];
    let e = |e: CodecError| e.to_string();
    let len = match v.str("decoder") {
        "INCREMENT" => encode_increment(u64_of(f, "value")?, &mut out).map_err(e)?,
        "STRING_REVERSE" => encode_string_reverse(&bytes_of(f, "str"), &mut out).map_err(e)?,
        "CGROUPS_REQ" => SnapshotRequest::default().encode(&mut out).map_err(e)?,
        "CGL_REQ" => {
            let paths: Vec<Vec<u8>> = f["paths"]
                .as_array()
                .ok_or("paths")?
                .iter()
                .map(|p| p.as_str().unwrap_or("").as_bytes().to_vec())
                .collect();
            let want = cgroups_lookup_request_len(&paths).ok_or("size")?;
            let n = encode_cgroups_lookup_request(&paths, &mut out).map_err(e)?;
            if n != want {
                return Err(format!("request length {n} != computed length {want}"));
            }
            n
        }
        "APPS_REQ" => {
            let pids: Vec<u32> = f["pids"]
                .as_array()
                .ok_or("pids")?
                .iter()
                .map(|p| p.as_u64().unwrap_or(0) as u32)
                .collect();
            encode_apps_lookup_request(&pids, &mut out).map_err(e)?
        }
        "HELLO" => {
            let b = hello_from(f)?.to_bytes();
            out[..b.len()].copy_from_slice(&b);
            b.len()
        }
        "HELLO_ACK" => {
            let b = hello_ack_from(f)?.to_bytes();
            out[..b.len()].copy_from_slice(&b);
            b.len()
        }
        "CGROUPS_RESP" => {
            let b = &f["builder"];
            let mut builder = SnapshotBuilder::new(&mut out, u32_of(b, "max_items")?).map_err(e)?;
            builder.set_systemd_enabled(u32_of(b, "systemd_enabled")?);
            builder.set_generation(u64_of(b, "generation")?);
            for it in f["items"].as_array().ok_or("items")? {
                builder
                    .add(&SnapshotItem {
                        hash: u32_of(it, "hash")?,
                        options: u32_of(it, "options")?,
                        enabled: u32_of(it, "enabled")?,
                        name: &bytes_of(it, "name"),
                        path: &bytes_of(it, "path"),
                    })
                    .map_err(e)?;
            }
            builder.finish()
        }
        "CGL_RESP" if f.get("server_dispatch").is_some() => {
            return dispatch(v).map_err(|e| e.to_string());
        }
        "APPS_RESP" if f.get("server_dispatch").is_some() => {
            return dispatch(v).map_err(|e| e.to_string());
        }
        "CGL_RESP" => {
            let b = &f["builder"];
            let mut builder = CgroupsLookupBuilder::new(
                &mut out,
                u32_of(b, "max_items")?,
                u64_of(b, "generation")?,
            )
            .map_err(e)?;
            for it in f["items"].as_array().ok_or("items")? {
                let labels = labels_of(it);
                builder
                    .add(
                        &bytes_of(it, "path"),
                        &CgroupsEntry {
                            status: cgl_status(it)?,
                            orchestrator: it["orchestrator"].as_u64().unwrap_or(0) as u16,
                            name: &bytes_of(it, "name"),
                        },
                        &labels,
                    )
                    .map_err(e)?;
            }
            builder.finish()
        }
        "APPS_RESP" => {
            let b = &f["builder"];
            let mut builder =
                AppsLookupBuilder::new(&mut out, u32_of(b, "max_items")?, u64_of(b, "generation")?)
                    .map_err(e)?;
            for it in f["items"].as_array().ok_or("items")? {
                let strings = apps_strings(it);
                builder
                    .add(
                        u32_of(it, "pid")?,
                        &apps_entry(it, &strings)?,
                        &labels_of(it),
                    )
                    .map_err(e)?;
            }
            builder.finish()
        }
        other => return Err(format!("no encoder for {other}")),
    };
    out.truncate(len);
    if let Some(t) = f["trailing_hex"].as_str() {
        out.extend(hex(t)?);
    }
    Ok(out)
}

/// Runs the server dispatch of a `server_dispatch` vector with the
/// recorded budget and handler answers.
fn dispatch(v: &Vector) -> Result<Vec<u8>, DispatchError> {
    let d = &v.fields()["server_dispatch"];
    let request = read_file(d["request_file"].as_str().unwrap_or("")).expect("request file");
    let mut out = vec![0u8; d["response_buffer_size"].as_u64().unwrap_or(0) as usize];
    let generation = d["generation"].as_u64().unwrap_or(0);
    let answers = d["handler_answers_per_request_item"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let len = if v.str("method") == "CGROUPS_LOOKUP" {
        dispatch_cgroups_lookup(&request, &mut out, |req, b| {
            b.set_generation(generation);
            answers.iter().enumerate().take(req.len()).all(|(i, a)| {
                let status = cgl_status(a).expect("status");
                let orch = a["orchestrator"].as_u64().unwrap_or(0) as u16;
                b.add_request_item(
                    i,
                    &CgroupsEntry {
                        status,
                        orchestrator: orch,
                        name: &bytes_of(a, "name"),
                    },
                    &labels_of(a),
                )
                .is_ok()
            })
        })?
    } else {
        dispatch_apps_lookup(&request, &mut out, |req, b| {
            b.set_generation(generation);
            answers.iter().enumerate().take(req.len()).all(|(i, a)| {
                let strings = apps_strings(a);
                let entry = apps_entry(a, &strings).expect("entry");
                b.add(req.pid(i).expect("pid"), &entry, &labels_of(a))
                    .is_ok()
            })
        })?
    };
    out.truncate(len);
    Ok(out)
}

pub fn payload(_ix: &Index, v: &Vector) -> Result<(), String> {
    let bytes = v.bytes()?;
    let decoded = decode(v.str("decoder"), &bytes).map_err(|e| format!("decode failed: {e}"))?;
    assert_subset("expect", &decoded, v.expect())?;
    same_bytes("re-encoded payload", &encode(v)?, &bytes)
}

pub fn builder_outcome(_ix: &Index, v: &Vector) -> Result<(), String> {
    match dispatch(v) {
        Ok(_) => Err("dispatch succeeded but the vector expects a failure".into()),
        Err(DispatchError::Builder(e)) if e.kind().spec_name() == v.str("reject_error") => Ok(()),
        Err(e) => Err(format!(
            "dispatch failed with {e:?}, expected {}",
            v.str("reject_error")
        )),
    }
}

pub fn negative_payload(_ix: &Index, v: &Vector) -> Result<(), String> {
    let bytes = v.bytes()?;
    let decoder = v.fields()["decoder"].as_str().unwrap_or("");
    let want = v.str("reject_error");
    let got = match (v.str("reject_stage"), decoder) {
        ("item_access", "CGROUPS_RESP") => {
            let view =
                SnapshotView::decode(&bytes).map_err(|e| format!("phase A must pass: {e}"))?;
            let index = v.0["reject_item_index"]
                .as_u64()
                .ok_or("reject_item_index")? as usize;
            for i in 0..index {
                view.item(i)
                    .map_err(|e| format!("item {i} before the bad one failed: {e}"))?;
            }
            view.item(index).err()
        }
        ("decode", d) => decode(d, &bytes).err(),
        (stage, d) => return Err(format!("no checker for stage {stage} decoder {d}")),
    };
    match got {
        Some(e) if e.kind().spec_name() == want => Ok(()),
        Some(e) => Err(format!(
            "rejected with {} ({e}), expected {want}",
            e.kind().spec_name()
        )),
        None => Err(format!("accepted, expected {want}")),
    }
}
