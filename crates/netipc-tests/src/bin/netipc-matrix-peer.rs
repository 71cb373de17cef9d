//! The Rust matrix peer of the interop matrix (docs/interop-matrix.md):
//! a provider or a consumer of the matrix's data set
//! ([`netipc_tests::matrix`]), built on netipc's public API.
//!
//! ```text
//! netipc-matrix-peer serve RUN_DIR PREFIX PROFILE
//! netipc-matrix-peer check RUN_DIR PREFIX PROFILE
//! ```
//!
//! `PROFILE` is `baseline`, `shm-hybrid` or `shm-alt`; both roles support
//! `baseline` and `PROFILE`, and prefer `PROFILE`.
//!
//! - `serve` starts `PREFIX-snapshot`, `PREFIX-snapshot-big`,
//!   `PREFIX-cgroups-lookup` and `PREFIX-apps-lookup`, prints `ready` once
//!   they accept clients, and stops them and exits 0 when its standard
//!   input reaches end-of-file. A failure to start: a message on standard
//!   error, exit 1.
//! - `check` runs the five checks in order and prints one line per check,
//!   `ok CHECK PROFILE_USED DETAIL` or `FAIL CHECK REASON`; exit 0 when all
//!   five are `ok`, 1 otherwise.

use std::io::{self, Write};
use std::process::ExitCode;

use netipc::service::Profiles;
use netipc_tests::matrix::{self, Check};

const USAGE: &str =
    "usage: netipc-matrix-peer serve|check RUN_DIR PREFIX baseline|shm-hybrid|shm-alt";

/// Prints `line` on standard output at once (the runner reads it live).
fn say(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

fn serve(run_dir: &str, prefix: &str, profile: Profiles) -> Result<(), String> {
    let providers = matrix::serve(run_dir, prefix, profile)
        .map_err(|e| format!("cannot start the providers of `{prefix}`: {e}"))?;
    say("ready").map_err(|e| format!("cannot write to standard output: {e}"))?;
    // Serve until standard input ends; its contents are ignored.
    let read = io::copy(&mut io::stdin().lock(), &mut io::sink());
    providers.stop();
    read.map(drop)
        .map_err(|e| format!("reading standard input: {e}"))
}

fn check(run_dir: &str, prefix: &str, profile: Profiles) -> bool {
    let mut all_ok = true;
    for c in Check::ALL {
        let line = matrix::check(c, run_dir, prefix, profile);
        all_ok &= line.starts_with("ok ");
        // A consumer whose output is gone has nobody to report to.
        if say(&line).is_err() {
            return false;
        }
    }
    all_ok
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [role, run_dir, prefix, profile] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let Some(profile) = matrix::parse_profile(profile) else {
        eprintln!("netipc-matrix-peer: unknown profile `{profile}`\n{USAGE}");
        return ExitCode::FAILURE;
    };
    match role.as_str() {
        "serve" => match serve(run_dir, prefix, profile) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("netipc-matrix-peer: {err}");
                ExitCode::FAILURE
            }
        },
        "check" if check(run_dir, prefix, profile) => ExitCode::SUCCESS,
        "check" => ExitCode::FAILURE,
        _ => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}
