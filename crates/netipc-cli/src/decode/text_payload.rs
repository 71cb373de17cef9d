//! The readable form of each decoded payload: scalar fields aligned,
//! snapshot items as a table, lookup items as one block each.

use netipc::codec::{
    AppsLookupItem, CgroupStatus, CgroupsLookupItem, CgroupsLookupStatus, Labels, PidStatus,
    SnapshotItem, UID_UNSET,
};
use netipc::wire::{HELLO_LAYOUT_VERSION, Hello, HelloAck};

use super::layout::{Align, Out};
use super::model::Payload;
use super::names::{escape, orchestrator_name, profile_mask};

/// Writes the fields of `value` at `indent`.
pub fn payload_fields(out: &mut Out, indent: usize, value: &Payload<'_>) {
    match value {
        Payload::Increment { value } => out.fields(indent, &[("value", value.to_string())]),
        Payload::StringReverse { text } => out.fields(
            indent,
            &[
                ("str_length", text.len().to_string()),
                ("str", escape(text, true)),
            ],
        ),
        Payload::SnapshotRequest => out.fields(
            indent,
            &[
                ("layout_version", "1".to_owned()),
                (
                    "flags",
                    "0x0000 (full snapshot; the request has no parameters)".to_owned(),
                ),
            ],
        ),
        Payload::Snapshot {
            systemd_enabled,
            generation,
            items,
        } => snapshot(out, indent, *systemd_enabled, *generation, items),
        Payload::CgroupsLookupRequest { paths } => {
            out.fields(indent, &[("item_count", paths.len().to_string())]);
            let rows: Vec<Vec<String>> = paths
                .iter()
                .enumerate()
                .map(|(i, p)| vec![i.to_string(), escape(p, true)])
                .collect();
            if !rows.is_empty() {
                out.table(indent, &[("#", Align::Right), ("path", Align::Left)], &rows);
            }
        }
        Payload::AppsLookupRequest { pids } => {
            out.fields(indent, &[("item_count", pids.len().to_string())]);
            let rows: Vec<Vec<String>> = pids
                .iter()
                .enumerate()
                .map(|(i, pid)| vec![i.to_string(), pid.to_string()])
                .collect();
            if !rows.is_empty() {
                out.table(indent, &[("#", Align::Right), ("pid", Align::Right)], &rows);
            }
        }
        Payload::CgroupsLookup { generation, items } => {
            lookup_header(out, indent, *generation, items.len());
            for (i, item) in items.iter().enumerate() {
                cgroups_item(out, indent, i, item);
            }
        }
        Payload::AppsLookup { generation, items } => {
            lookup_header(out, indent, *generation, items.len());
            for (i, item) in items.iter().enumerate() {
                apps_item(out, indent, i, item);
            }
        }
        Payload::Hello(hello) => hello_fields(out, indent, hello),
        Payload::HelloAck { ack, reserved } => hello_ack_fields(out, indent, ack, *reserved),
    }
}

fn snapshot(
    out: &mut Out,
    indent: usize,
    systemd_enabled: u32,
    generation: u64,
    items: &[SnapshotItem<'_>],
) {
    out.fields(
        indent,
        &[
            ("layout_version", "1".to_owned()),
            ("systemd_enabled", systemd_enabled.to_string()),
            ("generation", generation.to_string()),
            ("item_count", items.len().to_string()),
        ],
    );
    if items.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            vec![
                i.to_string(),
                format!("0x{:08x}", item.hash),
                format!("0x{:08x}", item.options),
                item.enabled.to_string(),
                escape(item.name, true),
                escape(item.path, true),
            ]
        })
        .collect();
    let columns = [
        ("#", Align::Right),
        ("hash", Align::Left),
        ("options", Align::Left),
        ("enabled", Align::Right),
        ("name", Align::Left),
        ("path", Align::Left),
    ];
    out.table(indent, &columns, &rows);
}

fn lookup_header(out: &mut Out, indent: usize, generation: u64, count: usize) {
    out.fields(
        indent,
        &[
            ("layout_version", "1".to_owned()),
            ("generation", generation.to_string()),
            ("item_count", count.to_string()),
        ],
    );
}

fn orchestrator(value: u16) -> String {
    format!("{value} ({})", orchestrator_name(value))
}

fn labels(out: &mut Out, indent: usize, labels: &Labels<'_>) {
    for label in labels.iter() {
        out.line(
            indent,
            format!(
                "{}={}",
                escape(label.key, false),
                escape(label.value, false)
            ),
        );
    }
}

fn cgroups_item(out: &mut Out, indent: usize, index: usize, item: &CgroupsLookupItem<'_>) {
    out.line(
        indent,
        format!(
            "item {index}: {} ({})",
            item.status.spec_name(),
            item.status as u16
        ),
    );
    let mut rows = vec![("path", escape(item.path, true))];
    if item.status == CgroupsLookupStatus::Known {
        rows.push(("orchestrator", orchestrator(item.orchestrator)));
        rows.push(("name", escape(item.name, true)));
        rows.push(("labels", item.labels.len().to_string()));
    }
    out.fields(indent + 1, &rows);
    labels(out, indent + 2, &item.labels);
}

fn apps_item(out: &mut Out, indent: usize, index: usize, item: &AppsLookupItem<'_>) {
    let e = &item.entry;
    out.line(
        indent,
        format!(
            "item {index}: pid {} {} ({})",
            item.pid,
            e.status.spec_name(),
            e.status as u16
        ),
    );
    if e.status != PidStatus::Known {
        return;
    }
    let uid = if e.uid == UID_UNSET {
        format!("{} (unset)", e.uid)
    } else {
        e.uid.to_string()
    };
    let mut rows = vec![
        ("ppid", e.ppid.to_string()),
        ("uid", uid),
        ("starttime", e.starttime.to_string()),
        ("comm", escape(e.comm, true)),
        (
            "cgroup_status",
            format!(
                "{} ({})",
                e.cgroup_status.spec_name(),
                e.cgroup_status as u16
            ),
        ),
    ];
    match e.cgroup_status {
        CgroupStatus::Known => {
            rows.push(("orchestrator", orchestrator(e.orchestrator)));
            rows.push(("cgroup_path", escape(e.cgroup_path, true)));
            rows.push(("cgroup_name", escape(e.cgroup_name, true)));
            rows.push(("labels", item.labels.len().to_string()));
        }
        CgroupStatus::UnknownRetryLater | CgroupStatus::UnknownPermanent => {
            rows.push(("cgroup_path", escape(e.cgroup_path, true)));
        }
        CgroupStatus::HostRoot => {}
    }
    out.fields(indent + 1, &rows);
    labels(out, indent + 2, &item.labels);
}

fn hello_fields(out: &mut Out, indent: usize, h: &Hello) {
    out.fields(
        indent,
        &[
            ("layout_version", HELLO_LAYOUT_VERSION.to_string()),
            ("flags", format!("0x{:04x}", h.flags)),
            ("supported_profiles", profile_mask(h.supported_profiles)),
            ("preferred_profiles", profile_mask(h.preferred_profiles)),
            (
                "max_request_payload_bytes",
                h.max_request_payload_bytes.to_string(),
            ),
            (
                "max_request_batch_items",
                h.max_request_batch_items.to_string(),
            ),
            (
                "max_response_payload_bytes",
                h.max_response_payload_bytes.to_string(),
            ),
            (
                "max_response_batch_items",
                h.max_response_batch_items.to_string(),
            ),
            ("auth_token", format!("0x{:016x}", h.auth_token)),
            ("packet_size", h.packet_size.to_string()),
        ],
    );
}

fn hello_ack_fields(out: &mut Out, indent: usize, a: &HelloAck, reserved: u32) {
    out.fields(
        indent,
        &[
            ("layout_version", HELLO_LAYOUT_VERSION.to_string()),
            ("flags", "0x0000".to_owned()),
            (
                "server_supported_profiles",
                profile_mask(a.server_supported_profiles),
            ),
            (
                "intersection_profiles",
                profile_mask(a.intersection_profiles),
            ),
            ("selected_profile", profile_mask(a.selected_profile)),
            (
                "agreed_max_request_payload_bytes",
                a.agreed_max_request_payload_bytes.to_string(),
            ),
            (
                "agreed_max_request_batch_items",
                a.agreed_max_request_batch_items.to_string(),
            ),
            (
                "agreed_max_response_payload_bytes",
                a.agreed_max_response_payload_bytes.to_string(),
            ),
            (
                "agreed_max_response_batch_items",
                a.agreed_max_response_batch_items.to_string(),
            ),
            ("agreed_packet_size", a.agreed_packet_size.to_string()),
            ("reserved", format!("0x{reserved:08x}")),
            ("session_id", a.session_id.to_string()),
        ],
    );
}
