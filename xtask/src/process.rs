//! Running external commands: streamed or captured output, a watchdog, and
//! process-tree kills.

use std::collections::BTreeSet;
use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often a running child is checked for exit or timeout.
const POLL: Duration = Duration::from_millis(200);

/// Why a command did not succeed.
#[derive(Debug)]
pub enum RunError {
    /// The program could not be started (or waited for).
    Io(String, io::Error),
    /// The program ran and exited unsuccessfully.
    Exit(ExitStatus),
    /// The watchdog killed the program's process tree.
    TimedOut(Duration),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(program, err) => write!(f, "could not run `{program}`: {err}"),
            Self::Exit(status) => match status.code() {
                Some(code) => write!(f, "exit code {code}"),
                None => write!(f, "{status}"),
            },
            Self::TimedOut(limit) => {
                write!(
                    f,
                    "timed out after {}s (watchdog killed it)",
                    limit.as_secs()
                )
            }
        }
    }
}

/// Runs `cmd` with inherited stdio, killing its whole process tree if it is
/// still running after `limit`.
///
/// The child stays in our process group so that Ctrl-C reaches it; the
/// watchdog finds its descendants through `/proc` instead.
pub fn run(cmd: &mut Command, limit: Duration) -> Result<(), RunError> {
    eprintln!("$ {}", describe(cmd));
    let program = program_name(cmd);
    let mut child = start(cmd).map_err(|err| RunError::Io(program.clone(), err))?;
    wait_with_watchdog(&mut child, &program, limit)
}

/// Starts `cmd`, trying again for a moment while the program file is
/// "busy": a program written just before (the tests of this crate write
/// some) stays busy while another thread's fork, made before the file was
/// closed, has not reached its exec yet.
fn start(cmd: &mut Command) -> std::io::Result<Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(err) if err.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Waits for `child` to exit; kills its process tree if it is still running
/// after `limit`.
fn wait_with_watchdog(child: &mut Child, program: &str, limit: Duration) -> Result<(), RunError> {
    let started = Instant::now();
    loop {
        let status = child
            .try_wait()
            .map_err(|err| RunError::Io(program.to_owned(), err))?;
        if let Some(status) = status {
            return if status.success() {
                Ok(())
            } else {
                Err(RunError::Exit(status))
            };
        }
        if started.elapsed() >= limit {
            eprintln!(
                "xtask: watchdog: `{program}` still running after {}s; killing its process tree",
                limit.as_secs()
            );
            kill_tree(child.id());
            // Reaps the killed child; its status no longer matters.
            let _ = child.wait();
            return Err(RunError::TimedOut(limit));
        }
        thread::sleep(POLL);
    }
}

/// Runs `cmd` with its stdout handed to `on_line` line by line (without
/// the line end) as it arrives, and stderr inherited; kills its process
/// tree if it is still running after `limit`.
pub fn run_lines(
    cmd: &mut Command,
    limit: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<(), RunError> {
    eprintln!("$ {}", describe(cmd));
    let program = program_name(cmd);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = start(cmd).map_err(|err| RunError::Io(program.clone(), err))?;
    let started = Instant::now();
    let (sender, lines) = mpsc::channel();
    if let Some(pipe) = child.stdout.take() {
        thread::spawn(move || {
            let mut pipe = BufReader::new(pipe);
            let mut line = Vec::new();
            while pipe.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                let text = String::from_utf8_lossy(&line);
                if sender
                    .send(text.trim_end_matches(['\r', '\n']).to_owned())
                    .is_err()
                {
                    return;
                }
                line.clear();
            }
        });
    }
    loop {
        match lines.recv_timeout(POLL) {
            Ok(line) => on_line(&line),
            // Its stdout is closed: it is exiting (or a grandchild kept
            // nothing open); the watchdog below covers the rest.
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if started.elapsed() >= limit {
            break;
        }
    }
    wait_with_watchdog(
        &mut child,
        &program,
        limit.saturating_sub(started.elapsed()),
    )
    .map_err(|err| match err {
        RunError::TimedOut(_) => RunError::TimedOut(limit),
        other => other,
    })
}

/// A child process running alongside xtask, with its stdout and stderr
/// collected by background threads, and a watchdog on every wait.
///
/// Dropping it kills the child's process tree if the child is still
/// running, so an early return never leaves a process behind.
pub struct Background {
    program: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Stdout lines (without the line end) as they arrive.
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Background {
    /// Starts `cmd` with stdout and stderr captured. Its stdin is a pipe
    /// (closed by [`close_stdin`](Self::close_stdin) or on drop) when
    /// `pipe_stdin`, and empty otherwise.
    pub fn spawn(cmd: &mut Command, pipe_stdin: bool) -> Result<Self, RunError> {
        eprintln!("$ {} &", describe(cmd));
        let program = program_name(cmd);
        cmd.stdin(if pipe_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = start(cmd).map_err(|err| RunError::Io(program.clone(), err))?;
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let (sender, lines) = mpsc::channel();
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(collect(pipe, Arc::clone(&stdout), Some(sender)));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(collect(pipe, Arc::clone(&stderr), None));
        }
        Ok(Self {
            program,
            stdin: child.stdin.take(),
            child,
            lines,
            stdout,
            stderr,
            readers,
        })
    }

    /// Waits until the child prints the line `wanted` on stdout.
    ///
    /// # Errors
    /// The child did not print it within `limit`, or ended its stdout first.
    pub fn wait_for_line(&mut self, wanted: &str, limit: Duration) -> Result<(), String> {
        self.wait_for(wanted, |line| line == wanted, limit)
    }

    /// Waits until the child prints a line (without its end) that
    /// `matches`; `wanted` describes it for the error.
    ///
    /// # Errors
    /// As [`wait_for_line`](Self::wait_for_line).
    pub fn wait_for(
        &mut self,
        wanted: &str,
        matches: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Result<(), String> {
        self.next_line(wanted, matches, limit).map(drop)
    }

    /// As [`wait_for`](Self::wait_for), returning the line (without its
    /// end); the lines before it are skipped.
    ///
    /// # Errors
    /// As [`wait_for_line`](Self::wait_for_line).
    pub fn next_line(
        &mut self,
        wanted: &str,
        matches: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if matches(line.trim_end()) => return Ok(line.trim_end().to_owned()),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "`{}` did not print `{wanted}` within {}s (watchdog)",
                        self.program,
                        limit.as_secs()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // It is exiting: let the transcript get its last words.
                    self.drain_readers();
                    return Err(format!(
                        "`{}` closed its stdout without printing `{wanted}`",
                        self.program
                    ));
                }
            }
        }
    }

    /// Sends the child SIGINT (Ctrl-C), as a user stopping it would.
    pub fn interrupt(&self) {
        signal("INT", &[self.child.id()]);
    }

    /// Writes `line` and a line end to the child's stdin.
    ///
    /// # Errors
    /// Its stdin is not a pipe (any more), or the child closed it.
    pub fn send_line(&mut self, line: &str) -> Result<(), String> {
        let program = &self.program;
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("`{program}` has no stdin pipe to write {line:?} to"))?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|err| format!("cannot write {line:?} to `{program}`: {err}"))
    }

    /// Closes the child's stdin (it sees end-of-file).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the child to exit successfully, killing its process tree
    /// after `limit`, then for the rest of its output.
    pub fn wait(&mut self, limit: Duration) -> Result<(), RunError> {
        let result = wait_with_watchdog(&mut self.child, &self.program, limit);
        self.drain_readers();
        result
    }

    /// Everything the child printed on stdout so far.
    pub fn stdout(&self) -> String {
        lock(&self.stdout).clone()
    }

    /// Everything the child printed on stderr so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// Stdout and stderr so far, labelled, for failure reports.
    pub fn transcript(&self) -> String {
        let mut text = String::new();
        for (name, stream) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let stream = lock(stream);
            if stream.trim().is_empty() {
                text.push_str(&format!("  [{name}: empty]\n"));
            } else {
                text.push_str(&format!("  [{name}]\n"));
                for line in stream.lines() {
                    text.push_str(&format!("  | {line}\n"));
                }
            }
        }
        text
    }

    /// Gives the reader threads a moment to see end-of-file. A grandchild
    /// that inherited the pipes (a daemon the child started) may keep them
    /// open: then the output read so far is all there is.
    fn drain_readers(&mut self) {
        let deadline = Instant::now() + READER_GRACE;
        while Instant::now() < deadline && !self.readers.iter().all(JoinHandle::is_finished) {
            thread::sleep(Duration::from_millis(20));
        }
        self.readers.retain(|reader| !reader.is_finished());
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stdin = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            eprintln!(
                "xtask: stopping `{}` (pid {}), which is still running",
                self.program,
                self.child.id()
            );
            kill_tree(self.child.id());
            let _ = self.child.wait();
        }
    }
}

/// How long to wait for a finished child's output pipes to reach EOF.
const READER_GRACE: Duration = Duration::from_secs(5);

/// Appends everything `pipe` yields to `sink`, and passes each line to
/// `lines` if given.
fn collect(
    pipe: impl Read + Send + 'static,
    sink: Arc<Mutex<String>>,
    lines: Option<Sender<String>>,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut pipe = BufReader::new(pipe);
        let mut line = Vec::new();
        while pipe.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line);
            lock(&sink).push_str(&text);
            if let Some(lines) = &lines {
                // The receiver may be gone already: then nobody waits for lines.
                let _ = lines.send(text.trim_end_matches(['\r', '\n']).to_owned());
            }
            line.clear();
        }
    })
}

/// Locks `text`, also after a reader thread panicked.
fn lock(text: &Mutex<String>) -> MutexGuard<'_, String> {
    text.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `cmd` quietly and returns its stdout; stderr is part of the error.
pub fn capture(cmd: &mut Command) -> Result<String, String> {
    let program = program_name(cmd);
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("could not run `{program}`: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            describe(cmd),
            RunError::Exit(output.status),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Looks `name` up on `PATH` the way a shell would.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Returns the first of `candidates` that is an executable file, falling back
/// to a `PATH` lookup of `name`.
pub fn find_program_at(candidates: &[&str], name: &str) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|candidate| is_executable(candidate))
        .or_else(|| find_program(name))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A shell-like rendering of `cmd` for logs: explicit env vars (except
/// `PATH`), the program and its arguments.
pub fn describe(cmd: &Command) -> String {
    let envs = cmd
        .get_envs()
        .filter(|(key, _)| *key != "PATH")
        .filter_map(|(key, value)| Some(format!("{}={}", key.to_string_lossy(), quote(value?))));
    let words = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote);
    envs.chain(words).collect::<Vec<_>>().join(" ")
}

fn program_name(cmd: &Command) -> String {
    cmd.get_program().to_string_lossy().into_owned()
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Kills `root` and all of its descendants.
///
/// Everything is stopped first (repeating until no new descendant shows up),
/// so nothing can fork or be re-parented away between the scan and the kill.
fn kill_tree(root: u32) {
    let mut stopped = BTreeSet::new();
    for _ in 0..100 {
        let fresh: Vec<u32> = process_tree(root)
            .into_iter()
            .filter(|pid| !stopped.contains(pid))
            .collect();
        if fresh.is_empty() {
            break;
        }
        signal("STOP", &fresh);
        stopped.extend(fresh);
    }
    signal("KILL", &stopped.into_iter().collect::<Vec<_>>());
}

/// `root` plus every process whose ancestry leads to it, read from `/proc`.
fn process_tree(root: u32) -> BTreeSet<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter_map(|pid| Some((pid, parent_pid(pid)?)))
        .collect();
    let mut tree = BTreeSet::from([root]);
    loop {
        let before = tree.len();
        for &(pid, ppid) in &parents {
            if tree.contains(&ppid) {
                tree.insert(pid);
            }
        }
        if tree.len() == before {
            return tree;
        }
    }
}

fn parent_pid(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain ") ".
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn signal(name: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    // Best effort: a process may exit on its own in the meantime.
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_quotes_only_when_needed() {
        let mut cmd = Command::new("cargo");
        cmd.args(["test", "--target", "x86_64-pc-windows-gnu", "a b", "it's"])
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=");
        assert_eq!(
            describe(&cmd),
            "WINEDLLOVERRIDES=mscoree,mshtml= cargo test --target x86_64-pc-windows-gnu 'a b' 'it'\\''s'"
        );
    }

    #[test]
    fn parent_of_self_is_known() {
        let me = std::process::id();
        assert!(parent_pid(me).is_some());
        assert!(process_tree(me).contains(&me));
    }

    #[test]
    fn watchdog_kills_the_whole_tree() {
        let pid_file = env::temp_dir().join(format!("xtask-watchdog-{}", std::process::id()));
        let script = format!("sleep 60 & echo $! > '{}'; wait", pid_file.display());
        let started = Instant::now();
        let result = run(
            Command::new("sh").args(["-c", &script]),
            Duration::from_secs(1),
        );
        assert!(matches!(result, Err(RunError::TimedOut(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(10));

        // The grandchild `sleep` must be gone too (or a zombie awaiting reaping).
        let grandchild = fs::read_to_string(&pid_file).unwrap();
        fs::remove_file(&pid_file).unwrap();
        let alive = || {
            let stat = fs::read_to_string(format!("/proc/{}/stat", grandchild.trim()));
            stat.is_ok_and(|stat| {
                let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
                !state.is_some_and(|state| state.starts_with('Z'))
            })
        };
        // SIGKILL takes effect asynchronously: give a loaded machine a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !alive(),
            "grandchild {} survived the watchdog",
            grandchild.trim()
        );
    }

    #[test]
    fn background_waits_for_a_line_then_for_stdin_eof() {
        let script = "echo starting; echo ready; cat > /dev/null; echo bye >&2";
        let mut child = Background::spawn(Command::new("sh").args(["-c", script]), true).unwrap();
        child
            .wait_for_line("ready", Duration::from_secs(10))
            .unwrap();
        child.close_stdin();
        child.wait(Duration::from_secs(10)).unwrap();
        assert_eq!(child.stdout(), "starting\nready\n");
        assert_eq!(
            child.transcript(),
            "  [stdout]\n  | starting\n  | ready\n  [stderr]\n  | bye\n"
        );
    }

    #[test]
    fn background_failures_are_reported() {
        let mut quiet =
            Background::spawn(Command::new("sh").args(["-c", "exit 4"]), false).unwrap();
        let err = quiet.wait_for_line("ready", Duration::from_secs(10));
        assert!(err.unwrap_err().contains("closed its stdout"));
        assert_eq!(
            quiet.wait(Duration::from_secs(10)).unwrap_err().to_string(),
            "exit code 4"
        );
        assert_eq!(quiet.transcript(), "  [stdout: empty]\n  [stderr: empty]\n");

        let mut stuck = Background::spawn(Command::new("sleep").arg("60"), true).unwrap();
        let err = stuck.wait_for_line("ready", Duration::from_millis(200));
        assert!(err.unwrap_err().contains("did not print `ready` within 0s"));
        let started = Instant::now();
        let err = stuck.wait(Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, RunError::TimedOut(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn dropping_a_background_child_kills_it() {
        let child = Background::spawn(Command::new("sleep").arg("60"), true).unwrap();
        let pid = child.child.id();
        drop(child);
        // Killed and reaped: the pid is gone (unless reused, which is unlikely this soon).
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
    }

    #[test]
    fn lines_arrive_as_printed_and_the_watchdog_holds() {
        let mut seen = Vec::new();
        run_lines(
            Command::new("sh").args(["-c", "echo one; echo two >&2; printf 'three'"]),
            Duration::from_secs(30),
            |line| seen.push(line.to_owned()),
        )
        .unwrap();
        assert_eq!(seen, ["one", "three"]);

        let err = run_lines(
            Command::new("sh").args(["-c", "echo x; exit 5"]),
            Duration::from_secs(30),
            |_| {},
        );
        assert_eq!(err.unwrap_err().to_string(), "exit code 5");

        let started = Instant::now();
        let mut seen = 0;
        let err = run_lines(
            Command::new("sh").args(["-c", "echo early; sleep 60"]),
            Duration::from_secs(1),
            |_| seen += 1,
        );
        assert!(matches!(err, Err(RunError::TimedOut(_))), "{err:?}");
        assert_eq!(seen, 1);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn failures_report_the_exit_code() {
        let result = run(
            Command::new("sh").args(["-c", "exit 3"]),
            Duration::from_secs(30),
        );
        assert_eq!(result.unwrap_err().to_string(), "exit code 3");
    }
}
