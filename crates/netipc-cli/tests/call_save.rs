//! `netipc call --save FILE --save-response FILE` end to end, for every
//! method: the files hold the exact request and response messages (header
//! and payload), `netipc decode` decodes them, and they say what the call
//! printed.

#[path = "live/support.rs"]
mod support;

use std::path::Path;

use serde_json::Value;
use support::{Server, run};

/// The files of one saved call.
struct Saved {
    _dir: tempfile::TempDir,
    request: String,
    response: String,
}

impl Saved {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |name: &str| support::dir_arg(&dir.path().join(name));
        Self {
            request: path("request.bin"),
            response: path("response.bin"),
            _dir: dir,
        }
    }

    /// `netipc call ARGS --save … --save-response …` against `server`.
    fn call(&self, server: &Server, args: &[&str]) -> support::Run {
        let mut all = vec!["call"];
        all.extend(args);
        all.extend(["--save", &self.request, "--save-response", &self.response]);
        server.run(&all)
    }

    fn bytes(path: &str) -> Vec<u8> {
        std::fs::read(Path::new(path)).expect("a saved message")
    }
}

/// `netipc decode --json FILE`.
fn decode(path: &str) -> Value {
    run(&["decode", "--json", path]).json()
}

/// Checks the header of a decoded message.
fn check_header(v: &Value, kind: &str, method: &str, status: &str) {
    let h = &v["header"];
    assert_eq!(h["kind_name"], kind, "{v}");
    assert_eq!(h["code_name"], method, "{v}");
    assert_eq!(h["transport_status_name"], status, "{v}");
    assert_eq!(h["message_id"], 1, "{v}");
    assert_eq!(h["item_count"], 1, "{v}");
    assert_eq!(h["flags"], 0, "{v}");
    assert_eq!(v["notes"], Value::Array(vec![]), "a clean message: {v}");
}

/// The 32-byte header of a single message, as the protocol lays it out.
fn header_bytes(kind: u16, code: u16, status: u16, payload_len: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend(0x4e49_5043_u32.to_ne_bytes());
    h.extend(1u16.to_ne_bytes());
    h.extend(32u16.to_ne_bytes());
    h.extend(kind.to_ne_bytes());
    h.extend(0u16.to_ne_bytes());
    h.extend(code.to_ne_bytes());
    h.extend(status.to_ne_bytes());
    h.extend(payload_len.to_ne_bytes());
    h.extend(1u32.to_ne_bytes());
    h.extend(1u64.to_ne_bytes());
    h
}

#[test]
fn increment_and_string_reverse_messages_are_exact() {
    let server = Server::start("increment", &[]);
    let saved = Saved::new();
    assert_eq!(saved.call(&server, &["increment", "41"]).ok(), "42\n");
    let mut request = header_bytes(1, 1, 0, 8);
    request.extend(41u64.to_ne_bytes());
    assert_eq!(Saved::bytes(&saved.request), request);
    let mut response = header_bytes(2, 1, 0, 8);
    response.extend(42u64.to_ne_bytes());
    assert_eq!(Saved::bytes(&saved.response), response);
    let v = decode(&saved.request);
    check_header(&v, "REQUEST", "INCREMENT", "OK");
    assert_eq!(v["payload"]["value"], 41);
    let v = decode(&saved.response);
    check_header(&v, "RESPONSE", "INCREMENT", "OK");
    assert_eq!(v["payload"]["value"], 42);
    server.stop();

    let server = Server::start("string-reverse", &[]);
    let out = saved
        .call(&server, &["string-reverse", "héllo", "--json"])
        .json();
    let v = decode(&saved.request);
    check_header(&v, "REQUEST", "STRING_REVERSE", "OK");
    assert_eq!(v["payload"]["str"], "héllo");
    let v = decode(&saved.response);
    check_header(&v, "RESPONSE", "STRING_REVERSE", "OK");
    assert_eq!(v["payload"]["str"], out["result"]);
    assert_eq!(out["result"], "olléh");
    server.stop();
}

#[test]
fn snapshot_messages_decode_to_what_call_printed() {
    let server = Server::start("cgroups-snapshot", &["--synthetic", "9"]);
    let saved = Saved::new();
    let printed = saved.call(&server, &["cgroups-snapshot", "--json"]).json();
    let v = decode(&saved.request);
    check_header(&v, "REQUEST", "CGROUPS_SNAPSHOT", "OK");
    assert_eq!(v["input_bytes"], 36);
    let v = decode(&saved.response);
    check_header(&v, "RESPONSE", "CGROUPS_SNAPSHOT", "OK");
    let p = &v["payload"];
    assert_eq!(p["generation"], printed["generation"]);
    assert_eq!(p["systemd_enabled"], printed["systemd_enabled"]);
    let items = p["items"].as_array().expect("items");
    let want = printed["items"].as_array().expect("items");
    assert_eq!(items.len(), 9);
    for (got, want) in items.iter().zip(want) {
        for field in ["hash", "options", "enabled", "name", "path"] {
            assert_eq!(got[field], want[field], "{field}: {got} vs {want}");
        }
    }
    // The same as a typed call prints.
    assert_eq!(
        server.run(&["call", "cgroups-snapshot", "--json"]).json(),
        printed
    );
    server.stop();
}

#[test]
fn lookup_messages_hold_every_key_in_one_exchange() {
    let server = Server::start("cgroups-lookup", &["--synthetic", "4"]);
    let saved = Saved::new();
    let known = "/sys/fs/cgroup/system.slice/synthetic-1.service";
    let keys: Vec<String> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                known.to_owned()
            } else {
                format!("/sys/fs/cgroup/x{i}")
            }
        })
        .collect();
    let mut args = vec!["cgroups-lookup"];
    args.extend(keys.iter().map(String::as_str));
    args.push("--json");
    let printed = saved.call(&server, &args).json();
    let v = decode(&saved.request);
    check_header(&v, "REQUEST", "CGROUPS_LOOKUP", "OK");
    assert_eq!(v["payload"]["item_count"], 200);
    let v = decode(&saved.response);
    check_header(&v, "RESPONSE", "CGROUPS_LOOKUP", "OK");
    let items = v["payload"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 200);
    let want = printed["items"].as_array().expect("items");
    for (i, (got, want)) in items.iter().zip(want).enumerate() {
        assert_eq!(got["path"], keys[i].as_str());
        assert_eq!(got["status_name"], want["status"]);
        assert_eq!(got["name"], want["name"]);
    }
    assert_eq!(items[0]["status_name"], "KNOWN");
    assert_eq!(items[1]["status_name"], "UNKNOWN_RETRY_LATER");
    server.stop();

    let server = Server::start("apps-lookup", &["--synthetic", "3"]);
    let printed = saved
        .call(&server, &["apps-lookup", "1", "2", "77", "--json"])
        .json();
    let v = decode(&saved.request);
    check_header(&v, "REQUEST", "APPS_LOOKUP", "OK");
    assert_eq!(v["payload"]["pids"], serde_json::json!([1, 2, 77]));
    let v = decode(&saved.response);
    check_header(&v, "RESPONSE", "APPS_LOOKUP", "OK");
    let items = v["payload"]["items"].as_array().expect("items");
    let want = printed["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    for (got, want) in items.iter().zip(want) {
        assert_eq!(got["pid"], want["pid"]);
        assert_eq!(got["status_name"], want["status"]);
        assert_eq!(got["comm"], want["comm"]);
        assert_eq!(got["cgroup_path"], want["cgroup_path"]);
    }
    server.stop();
}

/// A response larger than the provider's first response size (a default
/// provider starts well below half a megabyte and may grow to 1 MiB): the
/// request goes again on a new session, and the files hold that exchange.
#[test]
fn a_response_that_did_not_fit_is_asked_for_again() {
    let server = Server::start("apps-lookup", &["--synthetic", "2"]);
    let saved = Saved::new();
    let pids: Vec<String> = (1..=6000).map(|p| p.to_string()).collect();
    let mut args = vec!["apps-lookup"];
    args.extend(pids.iter().map(String::as_str));
    args.push("--json");
    let out = saved.call(&server, &args);
    assert!(
        out.stderr.contains("did not fit at first (LIMIT_EXCEEDED)")
            && out.stderr.contains("the files hold the last exchange"),
        "{out:?}"
    );
    let printed = out.json();
    assert_eq!(printed["items"].as_array().map(Vec::len), Some(6000));
    let v = decode(&saved.response);
    check_header(&v, "RESPONSE", "APPS_LOOKUP", "OK");
    let items = v["payload"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 6000);
    assert_eq!(items[0]["status_name"], "KNOWN");
    assert_eq!(items[5999]["pid"], 6000);
    assert_eq!(items[5999]["status_name"], "UNKNOWN");
    server.stop();
}

#[test]
fn an_error_response_is_saved_and_the_call_fails() {
    let server = Server::start("increment", &["--service", "inc"]);
    let saved = Saved::new();
    let err = saved
        .call(&server, &["string-reverse", "x", "--service", "inc"])
        .fails(1);
    assert!(err.contains("(UNSUPPORTED)"), "{err}");
    assert!(
        err.contains(&format!("the response is saved in {}", saved.response)),
        "{err}"
    );
    let v = decode(&saved.response);
    assert_eq!(v["header"]["transport_status_name"], "UNSUPPORTED");
    assert_eq!(v["header"]["payload_len"], 0);
    let v = decode(&saved.request);
    check_header(&v, "REQUEST", "STRING_REVERSE", "OK");

    // Nothing is saved when no provider answers.
    std::fs::remove_file(&saved.request).expect("rm");
    let empty = tempfile::tempdir().expect("tempdir");
    let err = run(&[
        "call",
        "increment",
        "1",
        "--save",
        &saved.request,
        "--run-dir",
        &support::dir_arg(empty.path()),
    ])
    .fails(3);
    assert!(err.contains("no provider"), "{err}");
    assert!(!Path::new(&saved.request).exists());
    server.stop();
}
