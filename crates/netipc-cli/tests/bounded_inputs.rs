//! Command-line inputs that could make `netipc` allocate or read without
//! bound are refused with a message that names the bound: `decode` never
//! reads past the largest legal message (files, stdin, devices), `serve`
//! and `demo` refuse a synthetic data set larger than the largest legal
//! snapshot, `serve --workers` is bounded.
//!
//! On POSIX every run has its address space limited (`RLIMIT_AS`, see
//! [`MEMORY_CAP`]), so an input that made the program allocate in
//! proportion to it would fail loudly instead of passing by luck; every run
//! is killed by a watchdog if it does not end.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Address space a run may use: enough for the program, far below the
/// 4 GiB an unbounded read of the inputs here would need.
#[cfg(unix)]
const MEMORY_CAP: u64 = 512 << 20;

/// Longest a run may take (counting an endless device to the 4 GiB bound
/// takes well under a second; wine and debug builds are slower).
const WATCHDOG: Duration = Duration::from_secs(120);

/// The outcome of one run.
struct Run {
    code: Option<i32>,
    stderr: String,
}

impl Run {
    /// Asserts a clean refusal: exit code 2, no panic, no abort.
    fn refused(&self) -> &str {
        assert_eq!(self.code, Some(2), "stderr: {}", self.stderr);
        for sign in ["panicked", "backtrace", "memory allocation"] {
            assert!(!self.stderr.contains(sign), "{}", self.stderr);
        }
        &self.stderr
    }
}

/// The `netipc` command with the memory cap applied (POSIX).
fn netipc(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netipc"));
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the forked child before exec and only
        // makes one system call (setrlimit through rustix, no allocation,
        // no lock), which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let limit = rustix::process::Rlimit {
                    current: Some(MEMORY_CAP),
                    maximum: Some(MEMORY_CAP),
                };
                rustix::process::setrlimit(rustix::process::Resource::As, limit)
                    .map_err(std::io::Error::from)
            });
        }
    }
    cmd
}

/// Waits for `child` under the [`WATCHDOG`] and collects its stderr.
fn finish(mut child: Child) -> Run {
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let give_up = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: netipc did not finish within {WATCHDOG:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code(),
        stderr: reader.join().expect("stderr reader"),
    }
}

fn run(args: &[&str]) -> Run {
    finish(
        netipc(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("start netipc"),
    )
}

/// The refusal of input beyond the largest message.
const MESSAGE_BOUND: &str = "more than the largest legal NetIPC message (4294967295 bytes";

#[cfg(unix)]
#[test]
fn decode_refuses_an_endless_device() {
    let run = run(&["decode", "/dev/zero"]);
    let err = run.refused();
    assert!(
        err.contains("`/dev/zero` has more than 4294967295 bytes"),
        "{err}"
    );
    assert!(err.contains(MESSAGE_BOUND), "{err}");
    assert!(err.contains("reading stopped"), "{err}");
}

#[cfg(unix)]
#[test]
fn decode_refuses_endless_stdin() {
    let zero = std::fs::File::open("/dev/zero").expect("/dev/zero");
    let child = netipc(&["decode", "-"])
        .stdin(zero)
        .spawn()
        .expect("start netipc");
    let run = finish(child);
    let err = run.refused();
    assert!(
        err.contains("stdin has more than 4294967295 bytes"),
        "{err}"
    );
    assert!(err.contains(MESSAGE_BOUND), "{err}");
}

/// A well-formed header that declares 8 payload bytes, followed by an
/// endless stream: only the declared message is kept, the rest is counted
/// up to the bound.
#[cfg(unix)]
#[test]
fn decode_keeps_only_the_declared_message_of_an_endless_pipe() {
    use netipc::wire::{Header, MessageKind};
    use std::io::Write;
    let mut child = netipc(&["decode", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("start netipc");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let header = Header::new(MessageKind::Request, 1, 7, 8).to_bytes();
        let _ = stdin.write_all(&header);
        let zeros = vec![0u8; 1 << 16];
        // Until netipc stops reading and the pipe breaks.
        while stdin.write_all(&zeros).is_ok() {}
    });
    let run = finish(child);
    writer.join().expect("writer");
    let err = run.refused();
    assert!(err.contains(MESSAGE_BOUND), "{err}");
}

#[cfg(unix)]
#[test]
fn decode_refuses_an_endless_bare_payload() {
    let run = run(&["decode", "--payload", "increment", "/dev/zero"]);
    let err = run.refused();
    assert!(
        err.contains("more than the largest legal NetIPC payload (4294967263 bytes"),
        "{err}"
    );
}

#[test]
fn decode_refuses_a_file_larger_than_the_largest_message_before_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.bin");
    // Sparse: nothing is written, the size alone must make it refused.
    let file = std::fs::File::create(&path).expect("create");
    file.set_len(u64::from(u32::MAX) + 1).expect("set_len");
    drop(file);
    let run = run(&["decode", path.to_str().expect("utf-8 path")]);
    let err = run.refused();
    assert!(err.contains("has 4294967296 bytes"), "{err}");
    assert!(err.contains(MESSAGE_BOUND), "{err}");
    let hex = self::run(&["decode", "--hex", path.to_str().expect("utf-8 path")]);
    // Hex text of a legal message may be up to four characters a byte.
    assert!(
        hex.refused().contains("invalid hex input"),
        "{}",
        hex.stderr
    );
}

#[test]
fn serve_refuses_more_synthetic_items_than_the_largest_snapshot_holds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run_dir = dir.path().join("never-created");
    for command in [
        vec!["serve", "cgroups-snapshot", "--synthetic", "4294967295"],
        vec!["serve", "apps-lookup", "--synthetic", "100000000"],
        vec!["demo", "--synthetic", "4294967295"],
    ] {
        let mut args = command.clone();
        let dir_arg = run_dir.to_str().expect("utf-8 path");
        if args[0] == "serve" {
            args.extend(["--run-dir", dir_arg]);
        }
        let run = run(&args);
        let err = run.refused();
        assert!(err.contains("invalid value"), "{command:?}: {err}");
        assert!(
            err.contains("more than the largest legal snapshot (4294967263 bytes"),
            "{command:?}: {err}"
        );
        let cap = err
            .split("at most ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("the message names the cap: {err}"));
        assert!(cap > 1_000_000, "{err}");
    }
    assert!(!run_dir.exists(), "nothing was created");
}

#[test]
fn serve_bounds_its_worker_threads() {
    let run = run(&["serve", "increment", "--workers", "1000000000"]);
    let err = run.refused();
    assert!(
        err.contains("not a number of worker threads from 1 to 1024"),
        "{err}"
    );
}
