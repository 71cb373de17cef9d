//! Running external commands: streamed output, a watchdog, and process-tree kills.

use std::collections::BTreeSet;
use std::env;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
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
    let mut child = cmd
        .spawn()
        .map_err(|err| RunError::Io(program.clone(), err))?;
    let started = Instant::now();
    loop {
        let status = child
            .try_wait()
            .map_err(|err| RunError::Io(program.clone(), err))?;
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
        let stat = fs::read_to_string(format!("/proc/{}/stat", grandchild.trim()));
        let alive = stat.is_ok_and(|stat| {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !state.is_some_and(|state| state.starts_with('Z'))
        });
        assert!(
            !alive,
            "grandchild {} survived the watchdog",
            grandchild.trim()
        );
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
