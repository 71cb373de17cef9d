//! Running the `netipc` binary and reading its output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The golden vector directory of the library.
pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../netipc-tests/tests/data/vectors")
}

/// The path of one vector file, as a command-line argument.
pub fn vector(name: &str) -> String {
    vectors().join(name).to_string_lossy().into_owned()
}

/// The result of one run of the binary.
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output, lossy UTF-8.
    pub stdout: String,
    /// Standard error, lossy UTF-8.
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "stderr: {}\nstdout: {}",
            self.stderr, self.stdout
        );
        self.stdout
    }

    /// Asserts success and parses stdout as JSON.
    pub fn json(self) -> Value {
        let stdout = self.ok();
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// Asserts exit code 2 with empty stdout and returns stderr.
    pub fn malformed(self) -> String {
        assert_eq!(
            self.code, 2,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self.stderr
    }
}

/// Runs `start` until the process starts. Wine now and then fails to
/// create a process at all under load (`CreateProcess`:
/// `ERROR_INTERNAL_ERROR`, 1359, an error no test expects and no Linux
/// errno); this suite starts the binary some 500 times, so such a start is
/// tried again, up to 3 times, a moment apart.
fn started<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    const WINE_COULD_NOT_CREATE: i32 = 1359;
    for _ in 0..3 {
        match start() {
            Err(e) if e.raw_os_error() == Some(WINE_COULD_NOT_CREATE) => {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            result => return result.expect("run netipc"),
        }
    }
    start().expect("run netipc")
}

/// Runs `netipc ARGS` with an empty stdin.
pub fn netipc(args: &[&str]) -> Run {
    let out = started(|| {
        Command::new(env!("CARGO_BIN_EXE_netipc"))
            .args(args)
            .stdin(Stdio::null())
            .output()
    });
    Run::from(out)
}

/// Runs `netipc ARGS` with `input` on stdin.
pub fn netipc_stdin(args: &[&str], input: Vec<u8>) -> Run {
    let mut child = started(|| {
        Command::new(env!("CARGO_BIN_EXE_netipc"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    });
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        // The child may exit early on an error; a closed pipe is fine then.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for netipc");
    writer.join().expect("stdin writer");
    Run::from(out)
}

/// `netipc decode` of one vector file.
pub fn decode(file: &str) -> Run {
    netipc(&["decode", &vector(file)])
}

/// `netipc decode --json EXTRA...` of one vector file, parsed.
pub fn decode_json(extra: &[&str], file: &str) -> Value {
    let path = vector(file);
    let mut args = vec!["decode", "--json"];
    args.extend_from_slice(extra);
    args.push(&path);
    netipc(&args).json()
}

/// The value of the line `key  value` in the text output (first match).
pub fn field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .map(str::trim_start)
        .find_map(|l| l.strip_prefix(key).filter(|rest| rest.starts_with("  ")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no field `{key}` in:\n{text}"))
}
