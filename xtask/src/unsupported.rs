//! The `unsupported-target` step: building the library for a target that
//! has no backend fails with exactly one error, the backend's
//! `compile_error!` naming the supported OSes, not a cascade of raw
//! errors. FreeBSD stands for every such target (its standard library
//! installs with rustup; its check needs no linker).

use std::env;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::process::{Background, RunError};
use crate::setup;

/// A Unix target without a netipc backend.
pub const TARGET: &str = "x86_64-unknown-freebsd";
/// The start of the library's `compile_error!` message.
const MESSAGE: &str = "netipc supports Linux and Windows only";
/// What cargo says when exactly that one error stopped the library.
const ONE_ERROR: &str = "could not compile `netipc` (lib) due to 1 previous error";

/// Checks the library for [`TARGET`] and judges cargo's report.
pub fn check(root: &Path, limit: Duration) -> Result<(), String> {
    setup::rustup_target(TARGET)?;
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root)
        .args(["check", "-p", "netipc", "--lib", "--target", TARGET])
        .args(["--message-format", "short", "--color", "never"]);
    let mut check = Background::spawn(&mut cmd, false).map_err(|err| err.to_string())?;
    let succeeded = match check.wait(limit) {
        Ok(()) => true,
        Err(RunError::Exit(_)) => false,
        Err(err) => return Err(format!("`cargo check --target {TARGET}`: {err}")),
    };
    judge(succeeded, &check.transcript())
}

/// The verdict on a check that ended with `succeeded` and printed
/// `output`.
fn judge(succeeded: bool, output: &str) -> Result<(), String> {
    if succeeded {
        return Err(format!(
            "`cargo check --target {TARGET}` succeeded: a target without a backend must fail \
             with the compile_error! in crates/netipc/src/transport/sys/mod.rs"
        ));
    }
    let errors: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("error") && !line.contains("could not compile"))
        .collect();
    if output.contains(MESSAGE) && output.contains(ONE_ERROR) {
        eprintln!("xtask: unsupported-target: {TARGET} fails with the one clear error");
        return Ok(());
    }
    eprintln!("{output}");
    Err(format!(
        "a build for {TARGET} must fail with exactly one error, \"{MESSAGE}...\"; it reported \
         {} error line(s), first: {}",
        errors.len(),
        errors.first().copied().unwrap_or("(none)")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_one_clear_error_passes() {
        let one = format!(
            "crates/netipc/src/transport/sys/mod.rs:44:1: error: {MESSAGE}: this target has \
             neither\nerror: {ONE_ERROR}\n"
        );
        assert!(judge(false, &one).is_ok());
        assert!(judge(true, "").is_err(), "a successful build is wrong");
        let more = format!(
            "x.rs:1:1: error: {MESSAGE}\ny.rs:2:2: error[E0432]: unresolved import\nerror: \
             could not compile `netipc` (lib) due to 2 previous errors\n"
        );
        let err = judge(false, &more).unwrap_err();
        assert!(err.contains("2 error line(s)"), "{err}");
        let other = "z.rs:1:1: error[E0425]: cannot find function\nerror: could not compile \
                     `netipc` (lib) due to 1 previous error\n";
        assert!(
            judge(false, other).is_err(),
            "another single error is wrong"
        );
    }
}
