//! `netipc serve -v`: the provider's events on standard error and its
//! statistics at the end; without `-v` neither.

#[path = "live/support.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{SERVE_LIMIT, dir_arg, drain, netipc, run, wait};

/// What a provider printed from start to stop.
struct Output {
    stdout: String,
    stderr: String,
}

/// Runs `netipc serve increment ARGS`, makes one `call` and one call of
/// another method against it, and stops it by closing its standard input.
fn serve_and_call(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = dir_arg(&dir.path().join("run"));
    let mut child = netipc()
        .args(["serve", "increment", "--run-dir", &run_dir, "--stop-on-eof"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netipc serve");
    let stdin = child.stdin.take().expect("stdin");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = drain(child.stderr.take().expect("stderr"));
    let mut out = Vec::new();
    let started = Instant::now() + SERVE_LIMIT;
    while !out.iter().any(|l: &String| l.contains("to stop.")) {
        let left = started.saturating_duration_since(Instant::now());
        out.push(lines.recv_timeout(left).expect("the provider starts"));
    }
    assert_eq!(
        run(&["call", "increment", "41", "--run-dir", &run_dir])
            .ok()
            .trim(),
        "42"
    );
    let other = run(&[
        "call",
        "string-reverse",
        "abc",
        "--service",
        "increment",
        "--run-dir",
        &run_dir,
    ]);
    assert_ne!(other.code, 0);
    drop(stdin);
    assert_eq!(wait(&mut child, SERVE_LIMIT, "netipc serve (stopping)"), 0);
    let give_up = Instant::now() + Duration::from_secs(5);
    while let Ok(line) = lines.recv_timeout(give_up.saturating_duration_since(Instant::now())) {
        out.push(line);
    }
    Output {
        stdout: out.join("\n"),
        stderr: stderr.join().unwrap_or_default(),
    }
}

#[test]
fn verbose_serve_logs_events_and_prints_statistics() {
    let out = serve_and_call(&["-vv"]);
    let log = &out.stderr;
    for expected in [
        "netipc::server: serving",
        "session opened",
        "profile=",
        "session closed",
        "reason=\"client left\"",
        "request failed",
        "status=UNSUPPORTED",
        "stopping",
        "netipc::server: stopped",
    ] {
        assert!(log.contains(expected), "{expected:?} missing from:\n{log}");
    }
    // -vv is debug: no per-request trace events.
    assert!(!log.contains("TRACE"), "{log}");
    let text = &out.stdout;
    assert!(text.contains("statistics:"), "{text}");
    assert!(
        text.contains("requests  2: OK 1, BAD_ENVELOPE 0, UNSUPPORTED 1"),
        "{text}"
    );
    assert!(text.contains("sessions  2 opened"), "{text}");
}

#[test]
fn quiet_serve_prints_no_events_and_no_statistics() {
    let out = serve_and_call(&[]);
    assert!(!out.stdout.contains("statistics:"), "{}", out.stdout);
    assert!(
        out.stdout.contains("served 2 requests in 2 sessions"),
        "{}",
        out.stdout
    );
    assert!(!out.stderr.contains("netipc::server"), "{}", out.stderr);
}
