//! Every golden vector file, checked against what `index.json` says about
//! it: valid ones decode and carry the expected field values, structurally
//! invalid ones are rejected with exit code 2 and the expected error class.

use serde_json::Value;

use crate::support::{netipc, vector, vectors};

/// The `--payload` argument for an index `decoder` name.
fn payload_arg(decoder: &str) -> &'static str {
    match decoder {
        "INCREMENT" => "increment",
        "STRING_REVERSE" => "string-reverse",
        "CGROUPS_REQ" => "cgroups-snapshot:request",
        "CGROUPS_RESP" => "cgroups-snapshot:response",
        "CGL_REQ" => "cgroups-lookup:request",
        "CGL_RESP" => "cgroups-lookup:response",
        "APPS_REQ" => "apps-lookup:request",
        "APPS_RESP" => "apps-lookup:response",
        "HELLO" => "hello",
        "HELLO_ACK" => "hello-ack",
        other => panic!("unknown decoder {other}"),
    }
}

/// Checks that every key of `expected` that `actual` also has carries the
/// same value (recursively; arrays element by element). Returns the number
/// of scalar values compared.
fn assert_subset(expected: &Value, actual: &Value, path: &str) -> usize {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .filter_map(|(k, ev)| a.get(k).map(|av| (k, ev, av)))
            .map(|(k, ev, av)| assert_subset(ev, av, &format!("{path}.{k}")))
            .sum(),
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.len(), a.len(), "{path}: array length");
            e.iter()
                .zip(a)
                .enumerate()
                .map(|(i, (ev, av))| assert_subset(ev, av, &format!("{path}[{i}]")))
                .sum()
        }
        _ => {
            assert_eq!(expected, actual, "{path}");
            1
        }
    }
}

/// Stages of the index at which the inspector must reject a vector: the
/// structural decoders. Other stages (receiver limits, reassembly,
/// handshake policy) depend on session state the inspector does not have.
const STRUCTURAL_STAGES: [&str; 6] = [
    "decode",
    "item_access",
    "header_decode",
    "hello_decode",
    "hello_ack_decode",
    "chunk_header_decode",
];

#[test]
fn every_vector_file_decodes_as_the_index_says() {
    let index: Value = serde_json::from_slice(
        &std::fs::read(vectors().join("index.json")).expect("read index.json"),
    )
    .expect("parse index.json");
    let mut checked = 0;
    for v in index["vectors"].as_array().expect("vectors") {
        let Some(file) = v["file"].as_str() else {
            continue;
        };
        let id = v["id"].as_str().unwrap_or_default();
        let expect = &v["expect"];
        let mut args = vec!["decode".to_owned(), "--json".to_owned()];
        match v["kind"].as_str() {
            Some("payload") => {
                let decoder = v["decoder"].as_str().or(v["fields"]["decoder"].as_str());
                args.push("--payload".to_owned());
                args.push(payload_arg(decoder.expect("decoder")).to_owned());
            }
            Some("outer_header") => args.push("--header-only".to_owned()),
            Some("packet") if expect.get("outer_header").is_some() => {
                args.push("--header-only".to_owned());
            }
            _ if id.contains("opaque") => args.push("--raw".to_owned()),
            _ => {}
        }
        args.push(vector(file));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = netipc(&argv);
        assert!(!run.stderr.contains("panicked"), "{id}: {}", run.stderr);

        if v["valid"] == true {
            let out = run.json();
            let mut compared = 0;
            for (key, target) in [
                ("header", &out["header"]),
                ("outer_header", &out["header"]),
                ("chunk_header", &out["chunk_header"]),
                ("hello", &out["payload"]),
                ("hello_ack", &out["payload"]),
                ("payload_decoded", &out["payload"]),
            ] {
                if let Some(e) = expect.get(key) {
                    compared += assert_subset(e, target, &format!("{id}.{key}"));
                }
            }
            if let Some(dir) = expect.get("directory") {
                compared += assert_subset(dir, &out["payload"]["items"], &format!("{id}.dir"));
                let packed = expect["packed_area_offset_in_payload"]
                    .as_u64()
                    .expect("packed");
                assert_eq!(out["payload"]["packed_start"], packed + 32, "{id}");
            }
            if v["kind"] == "payload" {
                compared += assert_subset(expect, &out["payload"], id);
            }
            assert!(compared > 0, "{id}: nothing compared");
            checked += 1;
        } else if let Some(stage) = v["reject_stage"].as_str() {
            if STRUCTURAL_STAGES.contains(&stage) {
                assert_eq!(run.code, 2, "{id}: {}", run.stderr);
                assert!(run.stderr.contains("at byte"), "{id}: {}", run.stderr);
                let name = v["reject_error"].as_str().expect("reject_error");
                // A chunk whose magic was replaced by the outer magic is read
                // as an outer header and fails there, for another reason.
                if stage != "chunk_header_decode" || name != "BAD_MAGIC" {
                    assert!(run.stderr.contains(name), "{id}: {}", run.stderr);
                }
                checked += 1;
            } else {
                assert!(run.code == 0 || run.code == 2, "{id}: {}", run.stderr);
            }
        }
    }
    assert!(checked > 200, "only {checked} vectors checked");
}
