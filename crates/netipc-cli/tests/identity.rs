//! `netipc call`, `probe` and `serve` with providers and consumers of
//! other users: the hijack of a root consumer by another user's provider
//! is refused before the auth token is sent, and a provider restricts its
//! consumers and its socket's group. Linux only (it runs processes as
//! other uids, which needs root, as the CI has).
#![cfg(target_os = "linux")]

#[path = "live/support.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;

use support::{Run, dir_arg, netipc, run};

/// The other user that runs a provider.
const MALLORY: u32 = 12345;
/// Consumers in the socket's group: allowed and refused.
const ALICE: u32 = 12346;
const BOB: u32 = 12347;
const NETDATA_GID: u32 = 12350;
/// A user outside the socket's group.
const EVE: u32 = 12348;

fn assert_root() {
    assert_eq!(
        std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1),
        0,
        "running processes as other users needs root (the CI runs the tests as root)"
    );
}

/// `netipc serve ARGS --stop-on-eof` as `uid`/`gid`, stopped (or killed)
/// on drop.
struct Provider(Child);

impl Provider {
    fn start(uid: u32, gid: u32, args: &[&str]) -> Self {
        let mut child = netipc()
            .arg("serve")
            .args(args)
            .arg("--stop-on-eof")
            .uid(uid)
            .gid(gid)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start netipc serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let provider = Self(child);
        loop {
            let line = rx
                .recv_timeout(support::SERVE_LIMIT)
                .expect("netipc serve starts");
            if line.contains("to stop.") {
                break;
            }
        }
        provider
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `netipc ARGS` as `uid`/`gid`, with a watchdog.
fn run_as(uid: u32, gid: u32, args: &[&str]) -> Run {
    let mut cmd = netipc();
    cmd.args(args).uid(uid).gid(gid);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(cmd.stdin(Stdio::null()).output());
    });
    let out = rx
        .recv_timeout(support::RUN_LIMIT)
        .expect("netipc finishes in time")
        .expect("run netipc");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn call_and_probe_refuse_a_provider_of_another_user() {
    assert_root();
    // The demonstrated attack: another user owns the run directory and
    // serves the endpoint a root consumer uses.
    let dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::chown(dir.path(), Some(MALLORY), Some(MALLORY)).expect("chown");
    let run_dir = dir_arg(dir.path());
    let _provider = Provider::start(
        MALLORY,
        MALLORY,
        &["increment", "--run-dir", &run_dir, "--auth-token", "7"],
    );
    let call_and_probe = |run_dir: &str, extra: &[&str]| {
        let call = [
            "call",
            "increment",
            "41",
            "--run-dir",
            run_dir,
            "--auth-token",
            "7",
        ];
        let probe = [
            "probe",
            "increment",
            "--run-dir",
            run_dir,
            "--auth-token",
            "7",
        ];
        [call.as_slice(), probe.as_slice()].map(|args| {
            let mut args = args.to_vec();
            args.extend_from_slice(extra);
            run(&args).fails(1)
        })
    };
    // The run directory check refuses first: its owner controls it.
    for err in call_and_probe(&run_dir, &[]) {
        for part in [
            format!("the run directory {run_dir} belongs to uid {MALLORY}"),
            format!("--provider-identity uid:{MALLORY}"),
        ] {
            assert!(err.contains(&part), "{part:?} missing in: {err}");
        }
    }
    // In a directory shared by a group (root-owned, 1770), the identity of
    // the provider is what refuses it, before the token is sent.
    let shared = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::chown(shared.path(), Some(0), Some(MALLORY)).expect("chown");
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1770))
        .expect("chmod");
    let shared_dir = dir_arg(shared.path());
    let _squatter = Provider::start(
        MALLORY,
        MALLORY,
        &[
            "increment",
            "--run-dir",
            &shared_dir,
            "--shared-run-dir",
            "--auth-token",
            "7",
        ],
    );
    let shared_socket = format!("{shared_dir}/increment.sock");
    for err in call_and_probe(&shared_dir, &["--shared-run-dir"]) {
        for part in [
            format!("the provider at {shared_socket} runs as uid:{MALLORY}"),
            "expected uid:0".to_owned(),
            "refusing to send the auth token".to_owned(),
            format!("--provider-identity uid:{MALLORY}"),
        ] {
            assert!(err.contains(&part), "{part:?} missing in: {err}");
        }
    }
    // Accepting that user explicitly (or any provider) talks to it.
    for policy in [format!("uid:{MALLORY}"), "any".to_owned()] {
        let out = run(&[
            "call",
            "increment",
            "41",
            "--run-dir",
            &run_dir,
            "--auth-token",
            "7",
            "--provider-identity",
            &policy,
        ])
        .ok();
        assert_eq!(out, "42\n");
    }
    let err = run(&[
        "call",
        "increment",
        "1",
        "--run-dir",
        &run_dir,
        "--provider-identity",
        "nobody",
    ])
    .fails(2);
    assert!(err.contains("`nobody` is not"), "{err}");
}

#[test]
fn serve_restricts_its_consumers_and_its_socket_group() {
    assert_root();
    // The Netdata layout: a root provider, consumers in a group.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let run_dir = dir_arg(dir.path());
    let access = format!("group:gid:{NETDATA_GID}");
    let allowed = format!("uid:{ALICE}");
    let _provider = Provider::start(
        0,
        0,
        &[
            "increment",
            "--run-dir",
            &run_dir,
            "--endpoint-access",
            &access,
            "--consumer-identity",
            &allowed,
        ],
    );
    let socket = std::fs::symlink_metadata(dir.path().join("increment.sock")).expect("stat");
    assert_eq!(socket.mode() & 0o777, 0o660);
    assert_eq!(socket.gid(), NETDATA_GID);

    let call = ["call", "increment", "41", "--run-dir", &run_dir];
    let err = run_as(BOB, NETDATA_GID, &call).fails(1);
    assert!(
        err.contains(&format!(
            "refused this consumer (uid:{BOB}) for its identity"
        )),
        "{err}"
    );
    assert_eq!(run_as(ALICE, NETDATA_GID, &call).ok(), "42\n");
    // A user outside the socket's group cannot even connect.
    let err = run_as(EVE, EVE, &call).fails(1);
    assert!(
        err.contains(&format!(
            "this process may not open {}/increment.sock (owned by uid 0, group {NETDATA_GID}, mode 0660)",
            run_dir
        )),
        "{err}"
    );
    // Root is not on the list either (the provider's list is exact).
    let err = run(&call).fails(1);
    assert!(err.contains("refused this consumer (uid:0)"), "{err}");
}
