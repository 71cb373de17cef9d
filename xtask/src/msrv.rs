//! The `msrv` step: the library builds with the oldest Rust it declares.
//!
//! The workspace's `rust-version` is the version of Debian's `rustc-web`
//! (1.85), which installs from apt like every other prerequisite of the
//! lanes; the step checks the library with it (its own target directory,
//! the locked dependencies). A `rust-version` that no longer matches that
//! compiler fails the step with both versions named.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{process, setup};

/// Debian's current Rust toolchain packages.
const PACKAGES: &[&str] = &["rustc-web", "cargo-web"];
/// Where they put their binaries.
const BIN: &str = "/usr/bin";

/// Runs the step for the workspace at `root`.
pub fn check(root: &Path, limit: Duration) -> Result<(), String> {
    let manifest = root.join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .map_err(|err| format!("cannot read {}: {err}", manifest.display()))?;
    let declared = declared_rust_version(&text)
        .ok_or_else(|| format!("no rust-version in {}", manifest.display()))?;
    setup::apt_install(PACKAGES)?;
    let bin = Path::new(BIN);
    let version = process::capture(Command::new(bin.join("rustc")).arg("--version"))?;
    if !same_minor(&version, &declared) {
        return Err(format!(
            "rust-version is {declared} but Debian's rustc-web is `{}`: check the library \
             with a Rust {declared} toolchain instead, or declare the version this one has",
            version.trim()
        ));
    }
    let mut cargo = Command::new(bin.join("cargo"));
    // Set by rustup for the cargo running xtask; they would point Debian's
    // cargo back at rustup's toolchain.
    for name in ["RUSTUP_TOOLCHAIN", "CARGO", "RUSTC_WRAPPER"] {
        cargo.env_remove(name);
    }
    cargo
        .env("RUSTC", bin.join("rustc"))
        .env("RUSTDOC", bin.join("rustdoc"))
        .env("CARGO_TARGET_DIR", root.join("target/msrv"))
        .args(["check", "-p", "netipc", "--lib", "--locked"]);
    process::run(&mut cargo, limit).map_err(|err| format!("Rust {declared}: {err}"))
}

/// The `rust-version = "X.Y"` of a manifest's `[workspace.package]` or
/// `[package]` table.
fn declared_rust_version(manifest: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let value = line.trim().strip_prefix("rust-version")?.trim_start();
        let value = value.strip_prefix('=')?.trim();
        Some(value.trim_matches('"').to_owned())
    })
}

/// Whether `rustc --version` output (`rustc 1.85.0 (...)`) is the release
/// `declared` (`1.85` or `1.85.0`) names.
fn same_minor(rustc_version: &str, declared: &str) -> bool {
    let Some(release) = rustc_version.split_whitespace().nth(1) else {
        return false;
    };
    let minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    minor(release) == minor(declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_declared_version() {
        let manifest = "[workspace.package]\nedition = \"2024\"\nrust-version = \"1.85\"\n";
        assert_eq!(declared_rust_version(manifest).as_deref(), Some("1.85"));
        assert_eq!(declared_rust_version("[package]\nname = \"x\"\n"), None);
        // `rust-version.workspace = true` is not a version.
        assert_eq!(
            declared_rust_version("rust-version.workspace = true\n"),
            None
        );
    }

    #[test]
    fn compares_releases_by_minor_version() {
        let debian = "rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)\n";
        assert!(same_minor(debian, "1.85"));
        assert!(same_minor(debian, "1.85.0"));
        assert!(!same_minor(debian, "1.88"));
        assert!(!same_minor("garbage", "1.85"));
    }
}
