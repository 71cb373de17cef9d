//! The `bench-server` child process of `netipc bench` (and of
//! `netipc stress`): start it, wait for its `ready` line, ask it for CPU
//! and memory samples and for its managed server's counters, stop it.
//!
//! The child's stdin is its control channel (see `server.rs`): closing it
//! stops the child, and the child also stops by itself when this process
//! dies. Its stderr is collected and shown when it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use super::BenchError;
use super::client::{CpuSample, ServerProbe};
use super::scenarios::Scenario;
use super::server::{CpuLine, READY};

/// Longest wait for the child's `ready` line.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for an answer on the control channel and for the exit.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// The child's CPU time, running time and resident memory at one moment,
/// as it reports them. The child reads its memory between two readings of
/// its clocks: a window measured from one sample's `*_after` times to the
/// next sample's plain times leaves the memory reads out.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// CPU seconds used by the child so far (before reading its memory).
    pub cpu_s: f64,
    /// Seconds since the child started (before reading its memory).
    pub wall_s: f64,
    /// Resident memory in bytes, where the child could read it.
    pub rss_bytes: Option<u64>,
    /// CPU seconds after reading its memory.
    pub cpu_after_s: f64,
    /// Seconds since the child started, after reading its memory.
    pub wall_after_s: f64,
}

/// The counters of the child's managed server as its `stats` line reports
/// them: every field of the library's `ServerStats`, by its name
/// (`sessions`, `sessions_opened`, `refused_at_capacity`, ...).
///
/// They are kept as the child sent them (a JSON object), so a counter the
/// library adds to `ServerStats` reaches the reports without a change here.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ServerCounters(Map<String, Value>);

impl ServerCounters {
    /// Reads a `stats` answer of the child of `scenario`.
    fn parse(answer: Value, scenario: &str) -> Result<Self, BenchError> {
        if let Some(error) = answer["error"].as_str() {
            return Err(BenchError::new(format!(
                "bench-server ({scenario}) has no statistics: {error}"
            )));
        }
        match answer {
            Value::Object(mut fields) if fields.get("sessions").is_some_and(Value::is_u64) => {
                fields.remove("event");
                Ok(Self(fields))
            }
            other => Err(BenchError::new(format!(
                "bench-server ({scenario}) answered stats with {other}, without sessions"
            ))),
        }
    }

    /// The counter `name` (a field of `ServerStats`), if it was reported.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.0.get(name).and_then(Value::as_u64)
    }

    /// Client sessions open now.
    pub fn sessions(&self) -> u64 {
        self.get("sessions").unwrap_or(0)
    }
}

/// A running `netipc bench-server` child.
pub struct ServerChild {
    scenario: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl ServerChild {
    /// Starts the server of `scenario` in `run_dir` and waits until it
    /// listens.
    ///
    /// # Errors
    /// The executable cannot be started, or the child exited or said
    /// nothing before it was ready (its stderr is in the message).
    pub fn start(
        scenario: &'static Scenario,
        run_dir: &str,
        service: &str,
    ) -> Result<Self, BenchError> {
        let exe = std::env::current_exe()
            .map_err(|e| BenchError::new(format!("cannot find the netipc executable: {e}")))?;
        let mut child = Command::new(self_exe(&exe))
            .args(["bench-server", "--scenario", scenario.name])
            .args(["--run-dir", run_dir, "--service", service])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                BenchError::new(format!("cannot start {} bench-server: {e}", exe.display()))
            })?;
        let (tx, lines) = channel();
        let stdout = child.stdout.take().map(BufReader::new);
        if let Some(stdout) = stdout {
            thread::spawn(move || {
                for line in stdout.lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = child.stderr.take().map(|mut err| {
            thread::spawn(move || {
                let mut text = String::new();
                let _ = err.read_to_string(&mut text);
                text
            })
        });
        let mut server = Self {
            scenario: scenario.name,
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        };
        match server.lines.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.trim() == READY => Ok(server),
            Ok(line) => Err(server.failed(&format!("said {line:?} instead of {READY:?}"))),
            Err(RecvTimeoutError::Timeout) => Err(server.failed(&format!(
                "was not ready within {} s",
                START_TIMEOUT.as_secs()
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(server.failed("exited before it was ready")),
        }
    }

    /// Starts the server of the scenario named `name` (see [`start`](Self::start)).
    ///
    /// # Errors
    /// An unknown scenario name, or as `start`.
    pub fn start_named(name: &str, run_dir: &str, service: &str) -> Result<Self, BenchError> {
        let scenario = super::scenarios::parse(name).map_err(BenchError::new)?;
        Self::start(scenario, run_dir, service)
    }

    /// Asks the child for its CPU time and resident memory now.
    ///
    /// # Errors
    /// The child did not answer, or answered without the CPU numbers.
    pub fn usage(&mut self) -> Result<Usage, BenchError> {
        let line = cpu_line(self.ask("cpu")?)?;
        let s = sample(&line)?;
        Ok(Usage {
            cpu_s: s.cpu_s,
            wall_s: s.wall_s,
            rss_bytes: line.rss_bytes,
            cpu_after_s: line.cpu_seconds_after_rss.unwrap_or(s.cpu_s),
            wall_after_s: line.wall_seconds_after_rss.unwrap_or(s.wall_s),
        })
    }

    /// Asks the child for its managed server's counters now.
    ///
    /// # Errors
    /// The child did not answer, or its scenario runs no managed server
    /// (the child's reason is in the message).
    pub fn stats(&mut self) -> Result<ServerCounters, BenchError> {
        let answer = self.ask("stats")?;
        ServerCounters::parse(answer, self.scenario)
    }

    /// Sends one control line and reads the JSON answer.
    fn ask(&mut self, line: &str) -> Result<Value, BenchError> {
        let sent = match self.stdin.as_mut() {
            Some(stdin) => writeln!(stdin, "{line}").and_then(|()| stdin.flush()),
            None => return Err(BenchError::new("the server's control channel is closed")),
        };
        if let Err(e) = sent {
            return Err(self.failed(&format!("stopped reading its control channel ({e})")));
        }
        self.answer()
    }

    fn answer(&mut self) -> Result<Value, BenchError> {
        match self.lines.recv_timeout(CONTROL_TIMEOUT) {
            Ok(line) => serde_json::from_str(&line).map_err(|e| {
                BenchError::new(format!(
                    "bench-server ({}) answered {line:?}, not JSON: {e}",
                    self.scenario
                ))
            }),
            Err(RecvTimeoutError::Timeout) => {
                Err(self.failed("did not answer its control channel"))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.failed("exited unexpectedly")),
        }
    }

    /// Stops the child (closes its stdin), reads its last report and
    /// waits for it. Returns its CPU sample at the stop and whatever it
    /// wrote on stderr.
    ///
    /// # Errors
    /// The child did not report or exited with a failure.
    pub fn stop(mut self) -> Result<(CpuSample, String), BenchError> {
        drop(self.stdin.take());
        let report = cpu_line(self.answer()?)?;
        let status = self.wait(CONTROL_TIMEOUT);
        let stderr = self.take_stderr();
        match status {
            Some(s) if s.success() => Ok((sample(&report)?, stderr)),
            Some(s) => Err(BenchError::new(format!(
                "bench-server ({}) exited with {s} after it was stopped{}",
                self.scenario,
                show(&stderr)
            ))),
            None => Err(BenchError::new(format!(
                "bench-server ({}) did not exit after it was stopped; it was killed{}",
                self.scenario,
                show(&stderr)
            ))),
        }
    }

    /// The error for a child that misbehaved: it is stopped (killed if
    /// needed) and its exit status and stderr go into the message.
    fn failed(&mut self, what: &str) -> BenchError {
        drop(self.stdin.take());
        let status = self.wait(CONTROL_TIMEOUT);
        let stderr = self.take_stderr();
        let status = status.map_or_else(|| "it was killed".to_owned(), |s| s.to_string());
        BenchError::new(format!(
            "bench-server for scenario {} {what} ({status}){}",
            self.scenario,
            show(&stderr)
        ))
    }

    /// Waits up to `timeout` for the child to exit; kills it otherwise.
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return None;
                }
            }
        }
    }

    fn take_stderr(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

/// The executable to start a server child from: this very executable.
/// On Linux that is `/proc/self/exe`, which still names it when the file
/// was replaced meanwhile (a rebuild during a long run); elsewhere its path
/// (Windows does not let a running executable be replaced).
fn self_exe(path: &Path) -> &Path {
    const PROC_SELF_EXE: &str = "/proc/self/exe";
    if cfg!(target_os = "linux") && Path::new(PROC_SELF_EXE).exists() {
        Path::new(PROC_SELF_EXE)
    } else {
        path
    }
}

impl ServerProbe for ServerChild {
    fn sample(&mut self) -> Result<Option<CpuSample>, BenchError> {
        let line = cpu_line(self.ask("cpu")?)?;
        sample(&line).map(Some)
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if matches!(self.child.try_wait(), Ok(None)) {
            self.wait(CONTROL_TIMEOUT);
        }
    }
}

/// A `cpu` (or `stopped`) answer of the child.
fn cpu_line(v: Value) -> Result<CpuLine, BenchError> {
    serde_json::from_value(v.clone())
        .map_err(|e| BenchError::new(format!("bench-server sent {v}, not a CPU sample: {e}")))
}

fn sample(line: &CpuLine) -> Result<CpuSample, BenchError> {
    match (line.cpu_seconds, line.wall_seconds) {
        (Some(cpu_s), Some(wall_s)) => Ok(CpuSample { cpu_s, wall_s }),
        _ => Err(BenchError::new(format!(
            "bench-server sent {line:?} without cpu_seconds and wall_seconds"
        ))),
    }
}

/// The child's stderr as a message suffix.
fn show(stderr: &str) -> String {
    let text = stderr.trim();
    if text.is_empty() {
        "; it wrote nothing on stderr".to_owned()
    } else {
        format!("; its stderr:\n{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_answers() {
        let answer = serde_json::json!({"event": "stats", "sessions": 3, "sessions_opened": 7});
        let counters = ServerCounters::parse(answer, "l2-increment").expect("counters");
        assert_eq!(counters.sessions(), 3);
        assert_eq!(counters.get("sessions_opened"), Some(7));
        assert_eq!(counters.get("refused_at_capacity"), None);
        assert_eq!(
            serde_json::to_value(&counters).expect("JSON"),
            serde_json::json!({"sessions": 3, "sessions_opened": 7})
        );
        let none = serde_json::json!({"event": "stats", "error": "no managed server"});
        let e = ServerCounters::parse(none, "uds-pingpong").expect_err("no statistics");
        assert!(e.to_string().contains("no managed server"), "{e}");
        let odd = serde_json::json!({"event": "stats"});
        assert!(ServerCounters::parse(odd, "l2-increment").is_err());
    }

    #[test]
    fn cpu_answers() {
        let old = serde_json::json!({"event": "cpu", "cpu_seconds": 1.5, "wall_seconds": 2.0});
        let line = cpu_line(old).expect("a sample without the memory fields");
        let s = sample(&line).expect("sample");
        assert_eq!((s.cpu_s, s.wall_s), (1.5, 2.0));
        assert_eq!(line.rss_bytes, None);
        let unreadable =
            serde_json::json!({"event": "cpu", "cpu_seconds": null, "wall_seconds": 1});
        let e = sample(&cpu_line(unreadable).expect("line")).expect_err("no CPU time");
        assert!(e.to_string().contains("without cpu_seconds"), "{e}");
        assert!(cpu_line(serde_json::json!({"event": "cpu", "cpu_seconds": "x"})).is_err());
    }
}
