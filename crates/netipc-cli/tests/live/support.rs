//! Running `netipc` processes with a watchdog: one-shot commands, and
//! `netipc serve` providers that are stopped cleanly (or killed on panic).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest a one-shot command may run (Wine starts slowly).
pub const RUN_LIMIT: Duration = Duration::from_secs(90);
/// The longest a provider may take to start or to stop.
pub const SERVE_LIMIT: Duration = Duration::from_secs(60);

/// The binary under test.
pub fn netipc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netipc"))
}

/// The result of one run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        self.stdout
    }

    /// Asserts exit 0 and parses stdout as JSON.
    pub fn json(self) -> Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Asserts exit `code` with nothing on stdout and returns stderr.
    pub fn fails(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        self.stderr
    }
}

pub fn drain(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The lines of `r`, as they come.
pub fn lines_of(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// As [`drain`], and what was read so far is in `seen` at any time.
pub fn drain_shared(
    mut r: impl Read + Send + 'static,
    seen: Arc<Mutex<String>>,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = r.read(&mut buf) {
            let mut text = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    })
}

/// Waits for `child` at most `limit`; kills it and panics when it hangs.
pub fn wait(child: &mut Child, limit: Duration, what: &str) -> i32 {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.code().unwrap_or(-1),
            Ok(None) if start.elapsed() < limit => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("watchdog: `{what}` did not finish within {limit:?}");
            }
        }
    }
}

/// Runs `netipc ARGS` with a watchdog.
pub fn run(args: &[&str]) -> Run {
    let mut child = netipc()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start netipc");
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let code = wait(&mut child, RUN_LIMIT, &args.join(" "));
    Run {
        code,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A run directory path as a command-line argument.
pub fn dir_arg(dir: &Path) -> String {
    dir.to_str().expect("UTF-8 temp dir").to_owned()
}

/// Entries left in a directory.
pub fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A running `netipc serve` in a private run directory.
pub struct Server {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<thread::JoinHandle<String>>,
    /// Its standard error so far.
    stderr_seen: Arc<Mutex<String>>,
    /// What it printed while starting.
    pub banner: Vec<String>,
    /// The run directory.
    run_dir: String,
    /// The private run directory (removed on drop), if it is one.
    _dir: Option<tempfile::TempDir>,
}

/// How a provider ended.
#[derive(Debug)]
pub struct Stopped {
    /// Exit code.
    pub code: i32,
    /// What it printed after its banner.
    pub output: String,
    /// Files left in its run directory.
    pub leftovers: Vec<String>,
    /// Everything it wrote to standard error.
    pub stderr: String,
}

impl Server {
    /// Starts `netipc serve KIND ARGS --run-dir <tempdir> --stop-on-eof`
    /// and waits until it listens.
    pub fn start(kind: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_at(dir_arg(dir.path()), Some(dir), kind, args, true)
    }

    /// As [`start`](Self::start), in `run_dir`, with or without
    /// `--stop-on-eof`.
    pub fn start_at(
        run_dir: String,
        dir: Option<tempfile::TempDir>,
        kind: &str,
        args: &[&str],
        eof: bool,
    ) -> Self {
        let mut cmd = netipc();
        cmd.args(["serve", kind, "--run-dir", &run_dir]).args(args);
        if eof {
            cmd.arg("--stop-on-eof");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start netipc serve");
        let lines = lines_of(child.stdout.take().expect("stdout"));
        let stderr_seen = Arc::new(Mutex::new(String::new()));
        let stderr = drain_shared(child.stderr.take().expect("stderr"), stderr_seen.clone());
        let mut server = Self {
            stdin: child.stdin.take(),
            child: Some(child),
            lines,
            stderr: Some(stderr),
            stderr_seen,
            banner: Vec::new(),
            run_dir,
            _dir: dir,
        };
        let deadline = Instant::now() + SERVE_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains("to stop.");
                    server.banner.push(line);
                    if done {
                        break;
                    }
                }
                Err(_) => {
                    let code = server.kill();
                    let err = server.stderr.take().map(|h| h.join().unwrap_or_default());
                    panic!(
                        "netipc serve {kind} did not start (exit {code:?}); stdout: {:?}; stderr: {err:?}",
                        server.banner
                    );
                }
            }
        }
        assert!(
            server.banner.iter().any(|l| l.contains("listening on")),
            "{:?}",
            server.banner
        );
        server
    }

    /// The run directory as an argument.
    pub fn run_dir(&self) -> String {
        self.run_dir.clone()
    }

    /// The provider's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The whole banner as one text.
    pub fn banner_text(&self) -> String {
        self.banner.join("\n")
    }

    fn kill(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok().and_then(|s| s.code())
    }

    /// Waits for the provider to exit on its own (after a signal, or its
    /// stdin closed) and returns its exit code and the rest of its stdout.
    pub fn wait_exit(&mut self) -> (i32, String) {
        let mut child = self.child.take().expect("running");
        let code = wait(&mut child, SERVE_LIMIT, "netipc serve (stopping)");
        let rest: Vec<String> = self.lines.try_iter().collect();
        (code, rest.join("\n"))
    }

    /// Closes its standard input (the portable stop) and waits for it.
    pub fn stop(mut self) -> Stopped {
        drop(self.stdin.take());
        self.stopped()
    }

    /// Waits for the exit after a stop request.
    pub fn stopped(&mut self) -> Stopped {
        let (code, mut rest) = self.wait_exit();
        // The reader thread may still be forwarding the last lines.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !rest.contains("stopped") && Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    rest.push('\n');
                    rest.push_str(&line);
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        Stopped {
            code,
            output: rest,
            leftovers: leftovers(Path::new(&self.run_dir)),
            stderr: self
                .stderr
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
        }
    }

    /// Waits at most `limit` for a line of standard output (after the
    /// banner) that contains `needle`, and returns it; the lines before it
    /// are dropped.
    pub fn wait_line(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("watchdog: no line with {needle:?} within {limit:?}"),
            }
        }
    }

    /// Waits at most `limit` until standard error contains `needle` and
    /// the message is complete (it ends with a newline and nothing more
    /// arrived for 100 ms: a message may come in several writes, as under
    /// wine), and returns all of it.
    pub fn wait_stderr(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let seen = || {
            self.stderr_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        loop {
            let text = seen();
            if text.contains(needle) && text.ends_with('\n') {
                thread::sleep(Duration::from_millis(100));
                if seen() == text {
                    return text;
                }
                continue;
            }
            assert!(
                Instant::now() < deadline,
                "watchdog: standard error has no {needle:?} within {limit:?}: {text}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A `netipc ARGS` run against this provider (adds `--run-dir`).
    pub fn run(&self, args: &[&str]) -> Run {
        let dir = self.run_dir();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--run-dir", &dir]);
        run(&all)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stdin.take());
        self.kill();
    }
}

/// Netdata's `simple_hash` (FNV-1, 32 bits), as the providers compute it.
pub fn simple_hash(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
        h.wrapping_mul(16_777_619) ^ u32::from(b)
    })
}
