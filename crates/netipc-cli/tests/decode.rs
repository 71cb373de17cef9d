//! `netipc decode` against the golden vectors of the library: the binary is
//! run as a process and its text, JSON, stderr and exit code are checked.

#[path = "decode/index.rs"]
mod index;
#[path = "decode/support.rs"]
mod support;

use std::path::Path;

use support::{decode, decode_json, field, netipc, netipc_stdin, vector, vectors};

#[test]
fn batch_request_shows_its_three_items() {
    let out = decode("envelope/env_batch_request_increment_3.bin").ok();
    assert_eq!(field(&out, "flags"), "0x0001 (BATCH)");
    assert_eq!(field(&out, "code"), "1 (method INCREMENT)");
    assert_eq!(field(&out, "item_count"), "3");
    assert!(out.contains("batch directory: 3 items"), "{out}");
    for (i, at) in [(0, 56), (1, 64), (2, 72)] {
        let title = format!("item {i}: INCREMENT request, 8 bytes at byte {at}");
        assert!(out.contains(&title), "{out}");
    }
    let values: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("value"))
        .map(str::trim)
        .collect();
    assert_eq!(values, ["1", "2", "3"]);
}

#[test]
fn batch_json_lists_directory_and_items() {
    let v = decode_json(&[], "envelope/env_batch_response_increment_3.bin");
    assert_eq!(v["type"], "message");
    assert_eq!(v["header"]["kind_name"], "RESPONSE");
    assert_eq!(v["header"]["batch"], true);
    let payload = &v["payload"];
    assert_eq!(payload["batch"], true);
    assert_eq!(payload["packed_start"], 56);
    let items = payload["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["index"], i);
        assert_eq!(item["offset"], 8 * i);
        assert_eq!(item["length"], 8);
        assert_eq!(item["payload"]["type"], "INCREMENT");
        assert_eq!(item["payload"]["direction"], "response");
        assert!(item["payload"]["value"].is_u64());
    }
}

#[test]
fn single_request_and_string() {
    let out = decode("envelope/env_request_string_reverse_single.bin").ok();
    assert!(
        out.contains("payload: STRING_REVERSE request, 21 bytes at byte 32"),
        "{out}"
    );
    assert_eq!(field(&out, "str"), "\"hello, world\"");
    assert_eq!(field(&out, "message_id"), "4294967298");
}

#[test]
fn hello_ack_shows_session_and_profiles() {
    let out = decode("handshake/hs_shm_hybrid_selected_hello_ack.bin").ok();
    assert_eq!(field(&out, "code"), "2 (control opcode HELLO_ACK)");
    assert_eq!(field(&out, "session_id"), "7");
    assert_eq!(field(&out, "selected_profile"), "0x02 (shm-hybrid)");

    let v = decode_json(
        &[],
        "handshake/hs_shm_futex_alias_no_preference_hello_ack.bin",
    );
    assert_eq!(v["payload"]["type"], "HELLO_ACK");
    assert_eq!(v["payload"]["session_id"], 4660);
}

#[test]
fn hello_shows_profile_masks_and_token() {
    let out = decode("handshake/hs_spec_example_hello.bin").ok();
    assert_eq!(
        field(&out, "supported_profiles"),
        "0x03 (baseline|shm-hybrid)"
    );
    assert_eq!(field(&out, "preferred_profiles"), "0x02 (shm-hybrid)");
    assert_eq!(field(&out, "auth_token"), "0x1122334455667788");
    assert_eq!(field(&out, "packet_size"), "65536");
}

#[test]
fn rejection_hello_ack_is_decoded_with_its_status() {
    let out = decode("handshake/hs_reject_auth_failed_hello_ack.bin").ok();
    assert_eq!(field(&out, "transport_status"), "2 (AUTH_FAILED)");
    assert!(
        out.contains("note: rejection HELLO_ACK (AUTH_FAILED)"),
        "{out}"
    );
}

#[test]
fn error_status_response_is_not_decoded() {
    let out = decode("envelope/env_response_status_unsupported.bin").ok();
    assert_eq!(field(&out, "transport_status"), "4 (UNSUPPORTED)");
    assert!(
        out.contains("payload: empty, not decoded (transport_status UNSUPPORTED"),
        "{out}"
    );
    let v = decode_json(&[], "envelope/env_response_status_limit_exceeded.bin");
    assert_eq!(v["header"]["transport_status_name"], "LIMIT_EXCEEDED");
    assert_eq!(v["payload"]["decoded"], false);
}

#[test]
fn chunk_header_is_recognised() {
    let out = decode("envelope/hdr_chunk_only.bin").ok();
    assert!(
        out.starts_with("NetIPC chunk continuation packet, 32 bytes"),
        "{out}"
    );
    assert_eq!(field(&out, "chunk_index"), "3");
    assert_eq!(field(&out, "chunk_count"), "10");
    assert_eq!(field(&out, "chunk_payload_len"), "8192");

    let v = decode_json(&[], "chunking/chunk_p128_string_reverse_request_pkt2.bin");
    assert_eq!(v["type"], "chunk");
    assert_eq!(v["chunk_header"]["chunk_index"], 2);
    assert_eq!(v["data"]["length"], v["chunk_header"]["chunk_payload_len"]);
}

#[test]
fn packet_zero_needs_header_only() {
    let file = "chunking/chunk_p128_string_reverse_request_pkt0.bin";
    let err = decode(file).malformed();
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains("field `payload_len`"), "{err}");
    assert!(err.contains("at byte 128"), "{err}");
    let out = netipc(&["decode", "--header-only", &vector(file)]).ok();
    assert_eq!(field(&out, "payload_len"), "309");
    assert!(
        out.contains("payload: not decoded (--header-only)"),
        "{out}"
    );
}

#[test]
fn snapshot_response_table() {
    let out = netipc(&[
        "decode",
        "--payload",
        "cgroups-snapshot:response",
        &vector("codec/cgs_resp_multi.bin"),
    ])
    .ok();
    assert_eq!(field(&out, "generation"), "999");
    let row = out
        .lines()
        .find(|l| l.contains("docker-abc.scope\""))
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "1",
            "0x000000c8",
            "0x00000002",
            "0",
            "\"system.slice/docker-abc.scope\"",
            "\"/sys/fs/cgroup/system.slice/docker-abc.scope\""
        ]
    );
}

#[test]
fn lookup_responses_show_status_and_labels() {
    let file = vector("codec/cgl_resp_all_statuses.bin");
    let out = netipc(&["decode", "--payload", "cgroups-lookup:response", &file]).ok();
    assert!(out.contains("item 0: KNOWN (0)"), "{out}");
    assert!(out.contains("item 1: UNKNOWN_RETRY_LATER (1)"), "{out}");
    assert!(out.contains("item 4: PAYLOAD_EXCEEDED (3)"), "{out}");
    assert_eq!(field(&out, "orchestrator"), "1 (systemd)");
    assert!(out.lines().any(|l| l.trim() == "unit=ssh.service"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "empty="), "{out}");

    let file = vector("codec/apps_resp_mixed.bin");
    let out = netipc(&["decode", "--payload", "apps-lookup:response", &file]).ok();
    assert!(out.contains("item 0: pid 100 KNOWN (0)"), "{out}");
    assert!(out.contains("item 2: pid 102 UNKNOWN (1)"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "team=café"), "{out}");
    assert!(out.contains("999 (unrecognized)"), "{out}");
}

#[test]
fn strings_escape_control_bytes() {
    let file = vector("codec/sr_req_interior_nul.bin");
    let out = netipc(&["decode", "--payload", "string-reverse", &file]).ok();
    assert_eq!(field(&out, "str"), r#""a\0b""#);
}

#[test]
fn malformed_message_payload_offsets_count_the_header() {
    let err = decode("negative/neg_hs_hello_reserved_nonzero.bin").malformed();
    assert!(err.contains("BAD_LAYOUT"), "{err}");
    assert!(err.contains("field `HELLO reserved`"), "{err}");
    assert!(err.contains("at byte 60"), "{err}");
    assert!(
        err.contains("byte 28 of the payload, which starts at byte 32"),
        "{err}"
    );
}

#[test]
fn malformed_header_names_field_and_offset() {
    let err = decode("negative/neg_env_bad_kind_4.bin").malformed();
    assert!(err.contains("BAD_KIND"), "{err}");
    assert!(err.contains("field `outer header kind`"), "{err}");
    assert!(err.contains("at byte 8"), "{err}");
}

#[test]
fn trailing_bytes_are_an_error() {
    let err = decode("negative/neg_env_packet_longer_than_message.bin").malformed();
    assert!(err.contains("trailing bytes at byte 40"), "{err}");
    assert!(err.contains("48 bytes"), "{err}");
}

#[test]
fn malformed_batch_directory() {
    let err = decode("negative/neg_env_batch_dir_misaligned_offset.bin").malformed();
    assert!(err.contains("batch directory"), "{err}");
    assert!(err.contains("BAD_ALIGNMENT"), "{err}");
    assert!(err.contains("at byte 40"), "{err}");
}

#[test]
fn snapshot_item_errors_name_the_item() {
    let file = vector("negative/neg_cgs_resp_item_flags.bin");
    let err = netipc(&["decode", "--payload", "cgroups-snapshot:response", &file]).malformed();
    assert!(err.contains("item 1"), "{err}");
    assert!(err.contains("field `snapshot item flags`"), "{err}");
    assert!(err.contains("at byte 122"), "{err}");
}

#[test]
fn lookup_item_errors_name_the_item() {
    let file = vector("negative/neg_apps_resp_unknown_uid_not_unset.bin");
    let err = netipc(&["decode", "--payload", "apps-lookup:response", &file]).malformed();
    assert!(err.contains("item 2"), "{err}");
    assert!(err.contains("BAD_LAYOUT"), "{err}");
}

#[test]
fn json_mode_errors_go_to_stderr() {
    let file = vector("negative/neg_env_bad_magic.bin");
    let err = netipc(&["decode", "--json", &file]).malformed();
    assert!(err.contains("BAD_MAGIC"), "{err}");
    assert!(err.contains("at byte 0"), "{err}");
}

#[test]
fn opaque_batch_with_raw() {
    let file = vector("envelope/env_batch_request_opaque_spec_example.bin");
    let err = netipc(&["decode", &file]).malformed();
    assert!(err.contains("batch item 0"), "{err}");
    let out = netipc(&["decode", "--raw", &file]).ok();
    assert!(out.contains("|12345678|"), "{out}");
    assert!(
        out.contains("item 2: 1 byte at byte 72, not decoded (--raw)"),
        "{out}"
    );
}

#[test]
fn stdin_input() {
    let bytes = std::fs::read(vector("envelope/env_request_increment.bin")).expect("read");
    let out = netipc_stdin(&["decode", "-"], bytes).ok();
    assert_eq!(field(&out, "value"), "41");
}

fn to_hex_text(bytes: &[u8]) -> String {
    let mut text = String::new();
    for (i, b) in bytes.iter().enumerate() {
        text.push_str(&format!("{b:02X}"));
        text.push(if i % 16 == 15 { '\n' } else { ' ' });
    }
    text
}

#[test]
fn hex_input_from_stdin_and_file() {
    let bytes = std::fs::read(vector("handshake/hs_spec_example_hello_ack.bin")).expect("read");
    let hex = to_hex_text(&bytes);
    let out = netipc_stdin(&["decode", "--hex", "-"], hex.clone().into_bytes()).ok();
    assert_eq!(field(&out, "session_id"), "1");

    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("netipc-decode-hello-ack.hex");
    std::fs::write(&path, hex).expect("write");
    let v = netipc(&["decode", "--hex", "--json", &path.to_string_lossy()]).json();
    assert_eq!(v["payload"]["agreed_max_response_payload_bytes"], 65536);

    let err = netipc_stdin(&["decode", "--hex", "-"], b"43 50 zz".to_vec()).malformed();
    assert!(err.contains("invalid hex input"), "{err}");
    assert!(err.contains("line 1, column 7"), "{err}");
}

#[test]
fn missing_file_exits_1() {
    let path = vectors().join("no/such/file.bin");
    let run = netipc(&["decode", &path.to_string_lossy()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn payload_direction_is_required_where_layouts_differ() {
    let file = vector("codec/cgl_req_two.bin");
    let run = netipc(&["decode", "--payload", "cgroups-lookup", &file]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("cgroups-lookup:request"),
        "{}",
        run.stderr
    );
    let run = netipc(&["decode", "--payload", "frobnicate", &file]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("unknown method"), "{}", run.stderr);
}
