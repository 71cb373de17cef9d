//! Installing prerequisites: Debian packages (apt) and rustup components/targets.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::process::{self, RunError};

/// Generous limit for one `apt-get` call (wine alone is a few hundred MB).
const APT_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Limit for one `rustup` download.
const RUSTUP_LIMIT: Duration = Duration::from_secs(10 * 60);

/// Installs the Debian `packages` that are not installed yet.
///
/// Runs `apt-get install -y` first and `apt-get update` only if that fails
/// (a fresh machine has no package lists). Uses `sudo` when not root.
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| !dpkg_installed(package))
        .collect();
    if missing.is_empty() {
        eprintln!("xtask: apt packages present: {}", packages.join(" "));
        return Ok(());
    }
    let list = missing.join(" ");
    let fix = format!(
        "fix: run `sudo apt-get update && sudo apt-get install -y {list}` yourself, then re-run"
    );
    let install = || {
        let mut cmd = apt_get()?;
        cmd.args(["install", "-y"]).args(&missing);
        process::run(&mut cmd, APT_LIMIT).map_err(|err| err.to_string())
    };
    eprintln!("xtask: installing apt packages: {list}");
    if let Err(first) = install() {
        eprintln!("xtask: apt-get install failed ({first}); running apt-get update and retrying");
        let mut update = apt_get().map_err(|err| format!("cannot install {list}: {err}"))?;
        update.arg("update");
        process::run(&mut update, APT_LIMIT).map_err(|err| {
            format!(
                "cannot install {list}: `apt-get install -y {list}` failed ({first}), \
                 and so did `apt-get update` ({err}); {fix}"
            )
        })?;
        install().map_err(|err| {
            format!(
                "cannot install {list}: `apt-get install -y {list}` failed ({err}) \
                 even after `apt-get update`; {fix}"
            )
        })?;
    }
    match missing.iter().find(|package| !dpkg_installed(package)) {
        Some(package) => Err(format!(
            "apt-get reported success but `{package}` is still not installed; {fix}"
        )),
        None => Ok(()),
    }
}

/// Whether dpkg knows `package` as fully installed.
fn dpkg_installed(package: &str) -> bool {
    process::capture(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_ok_and(|status| status.trim() == "install ok installed")
}

/// `apt-get`, non-interactive, with root rights (directly or through sudo).
fn apt_get() -> Result<Command, String> {
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else if process::find_program("sudo").is_some() {
        // sudo drops the environment, so pass DEBIAN_FRONTEND through `env`.
        let mut sudo = Command::new("sudo");
        sudo.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        sudo
    } else {
        return Err("installing apt packages needs root, and `sudo` is not installed".into());
    };
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    Ok(cmd)
}

/// Whether this process runs with effective uid 0 (read from `/proc`, no libc).
fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|uids| uids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Adds the rustup `components` of the active toolchain that are missing.
pub fn rustup_components(components: &[&str]) -> Result<(), String> {
    rustup_add("component", components)
}

/// Adds the rustup target `target` to the active toolchain if missing.
pub fn rustup_target(target: &str) -> Result<(), String> {
    rustup_add("target", &[target])
}

fn rustup_add(kind: &str, wanted: &[&str]) -> Result<(), String> {
    if process::find_program("rustup").is_none() {
        return Err(format!(
            "`rustup` is not on PATH, so rustup {kind}s {} cannot be checked or added; \
             install rustup (https://rustup.rs) or put ~/.cargo/bin on PATH",
            wanted.join(" ")
        ));
    }
    let installed = process::capture(Command::new("rustup").args([kind, "list", "--installed"]))?;
    // Components are listed with the host triple appended: `clippy-x86_64-unknown-linux-gnu`.
    let suffix = match kind {
        "component" => format!("-{}", host_triple()?),
        _ => String::new(),
    };
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|name| {
            !installed
                .lines()
                .any(|line| line.trim() == format!("{name}{suffix}"))
        })
        .collect();
    if missing.is_empty() {
        eprintln!("xtask: rustup {kind}s present: {}", wanted.join(" "));
        return Ok(());
    }
    let mut cmd = Command::new("rustup");
    cmd.args([kind, "add"]).args(&missing);
    process::run(&mut cmd, RUSTUP_LIMIT).map_err(|err: RunError| {
        format!(
            "`rustup {kind} add {}` failed ({err}); check that rustup can download \
             (network/proxy) and run it yourself",
            missing.join(" ")
        )
    })
}

/// The host triple of the active toolchain, from `rustc -vV`.
fn host_triple() -> Result<String, String> {
    let version = process::capture(Command::new("rustc").arg("-vV"))?;
    version
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(|host| host.trim().to_owned())
        .ok_or_else(|| format!("`rustc -vV` printed no host triple:\n{version}"))
}
