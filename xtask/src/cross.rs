//! The Rust toolchain that cross-compiles for `x86_64-pc-windows-gnu`.
//!
//! Two routes:
//! - `rustup`: the active rustup toolchain plus `rustup target add` (the
//!   normal case; needs rustup's download server).
//! - `debian`: when rustup cannot download the target, Debian's packaged Rust
//!   (`rustc-web`, `cargo-web`, `rust-web-clippy`) builds the Windows
//!   standard library from Debian's `rust-web-src` with `-Zbuild-std`
//!   (unlocked by `RUSTC_BOOTSTRAP=1`). Everything comes from apt, plus the
//!   standard library's own crates.io dependencies.

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{fsutil, process, setup};

/// The Windows target triple of the `windows` lane.
pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// Debian packages of the fallback route.
const DEBIAN_PACKAGES: &[&str] = &["rustc-web", "cargo-web", "rust-web-src", "rust-web-clippy"];
/// Where those packages put their binaries.
const DEBIAN_BIN: &str = "/usr/bin";

/// Which route the user asked for (`--windows-route`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteChoice {
    /// rustup, falling back to Debian if the target cannot be added.
    Auto,
    Rustup,
    Debian,
}

impl RouteChoice {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "auto" => Some(Self::Auto),
            "rustup" => Some(Self::Rustup),
            "debian" => Some(Self::Debian),
            _ => None,
        }
    }
}

/// The route actually in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Rustup,
    Debian,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rustup => "rustup target",
            Self::Debian => "debian rustc-web + -Zbuild-std",
        })
    }
}

/// How to invoke cargo for the Windows target.
pub struct CrossCargo {
    pub route: Route,
    /// Whether `auto` had to fall back from rustup to Debian.
    pub fell_back: bool,
    cargo: OsString,
    envs: Vec<(&'static str, OsString)>,
    removed_envs: &'static [&'static str],
    /// Flags placed right after the cargo subcommand.
    flags: Vec<String>,
}

impl CrossCargo {
    /// Ensures the toolchain for `choice` is installed and returns it.
    /// `root` is the workspace root (the Debian route keeps its own target dir).
    pub fn prepare(choice: RouteChoice, root: &Path) -> Result<Self, String> {
        match choice {
            RouteChoice::Rustup => Self::rustup(),
            RouteChoice::Debian => Self::debian(root),
            RouteChoice::Auto => Self::rustup().or_else(|rustup_err| {
                eprintln!(
                    "xtask: windows lane: the rustup route is unavailable: {rustup_err}\n\
                     xtask: windows lane: falling back to Debian's rustc-web + rust-web-src \
                     with -Zbuild-std"
                );
                let debian = Self::debian(root).map_err(|debian_err| {
                    format!(
                        "no way to build for {TARGET}: rustup route: {rustup_err}; \
                         debian fallback: {debian_err}"
                    )
                })?;
                Ok(Self {
                    fell_back: true,
                    ..debian
                })
            }),
        }
    }

    fn rustup() -> Result<Self, String> {
        setup::rustup_target(TARGET)?;
        Ok(Self {
            route: Route::Rustup,
            fell_back: false,
            // The cargo that runs xtask, so `cargo +toolchain xtask` is honoured.
            cargo: env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
            envs: Vec::new(),
            removed_envs: &[],
            flags: Vec::new(),
        })
    }

    fn debian(root: &Path) -> Result<Self, String> {
        setup::apt_install(DEBIAN_PACKAGES)?;
        let bin = Path::new(DEBIAN_BIN);
        for tool in ["cargo", "rustc", "rustdoc", "cargo-clippy", "clippy-driver"] {
            if !bin.join(tool).is_file() {
                return Err(format!(
                    "{} is missing although {} are installed",
                    bin.join(tool).display(),
                    DEBIAN_PACKAGES.join(" ")
                ));
            }
        }
        let rustc = bin.join("rustc");
        let sysroot = process::capture(Command::new(&rustc).args(["--print", "sysroot"]))?;
        let library = PathBuf::from(sysroot.trim()).join("lib/rustlib/src/rust/library");
        if !library.join("std").is_dir() {
            return Err(format!(
                "{} is missing: -Zbuild-std needs Debian's rust-web-src",
                library.display()
            ));
        }
        let version = process::capture(Command::new(&rustc).arg("--version"))?;
        eprintln!("xtask: windows lane: using {}", version.trim());
        let startup = root.join("target/debian-rust/rtstartup");
        build_startup_objects(&rustc, &library, &startup)?;

        // Debian's binaries must win over rustup's proxies in ~/.cargo/bin,
        // also for the `cargo-clippy` and `clippy-driver` that cargo looks up.
        let path = env::var_os("PATH").unwrap_or_default();
        let path =
            env::join_paths(std::iter::once(bin.to_path_buf()).chain(env::split_paths(&path)))
                .map_err(|err| format!("cannot build PATH: {err}"))?;
        Ok(Self {
            route: Route::Debian,
            fell_back: false,
            cargo: bin.join("cargo").into_os_string(),
            envs: vec![
                ("PATH", path),
                ("RUSTC", rustc.into_os_string()),
                ("RUSTDOC", bin.join("rustdoc").into_os_string()),
                // -Z flags on a stable toolchain.
                ("RUSTC_BOOTSTRAP", "1".into()),
                // Artifacts of another compiler: keep them apart from rustup's.
                (
                    "CARGO_TARGET_DIR",
                    root.join("target/debian-rust").into_os_string(),
                ),
            ],
            // Set by rustup/cargo for the cargo running xtask; they would
            // point Debian's cargo back at rustup's toolchain.
            removed_envs: &["RUSTUP_TOOLCHAIN", "CARGO", "RUSTC_WRAPPER"],
            flags: vec![
                "-Zbuild-std".into(),
                // Lets rustc find rsbegin.o/rsend.o, which -Zbuild-std does not build.
                "--config".into(),
                format!(
                    "target.{TARGET}.rustflags=['-L', 'native={}']",
                    startup.display()
                ),
            ],
        })
    }

    /// How the route was chosen, for logs and the lane summary.
    pub fn describe(&self) -> String {
        if self.fell_back {
            format!("{} (fallback: rustup target add failed)", self.route)
        } else {
            self.route.to_string()
        }
    }

    /// Where this route's cargo puts its build output (the Windows binaries
    /// are under `<dir>/x86_64-pc-windows-gnu/`).
    pub fn target_dir(&self, root: &Path) -> PathBuf {
        let own = self
            .envs
            .iter()
            .find(|(key, _)| *key == "CARGO_TARGET_DIR")
            .map(|(_, value)| value.clone());
        target_dir(root, own)
    }

    /// `cargo <subcommand> [route flags] --target x86_64-pc-windows-gnu`.
    pub fn command(&self, subcommand: &str) -> Command {
        let mut cmd = Command::new(&self.cargo);
        for name in self.removed_envs {
            cmd.env_remove(name);
        }
        cmd.envs(self.envs.iter().map(|(key, value)| (key, value)))
            .arg(subcommand)
            .args(&self.flags)
            .args(["--target", TARGET]);
        cmd
    }
}

/// Cargo's target directory for the workspace at `root`: `explicit`, else
/// `CARGO_TARGET_DIR` from our environment, else `<root>/target` (relative
/// values are relative to `root`, where cargo runs).
pub fn target_dir(root: &Path, explicit: Option<OsString>) -> PathBuf {
    explicit
        .or_else(|| env::var_os("CARGO_TARGET_DIR"))
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// Builds the startup objects `rsbegin.o` and `rsend.o` that rustc links into
/// every windows-gnu binary. A rustup target ships them in its sysroot; with
/// -Zbuild-std we compile them from the standard library sources ourselves,
/// the way the Rust build system does (same compiler version, so without
/// `--cfg bootstrap`).
fn build_startup_objects(rustc: &Path, library: &Path, out_dir: &Path) -> Result<(), String> {
    fs::create_dir_all(out_dir)
        .map_err(|err| format!("cannot create {}: {err}", out_dir.display()))?;
    for name in ["rsbegin", "rsend"] {
        let source = library.join(format!("rtstartup/{name}.rs"));
        let object = out_dir.join(format!("{name}.o"));
        if !fsutil::is_stale(&object, &[&source]) {
            continue;
        }
        let mut cmd = Command::new(rustc);
        cmd.env("RUSTC_BOOTSTRAP", "1")
            .args(["--target", TARGET, "--emit=obj", "-o"])
            .arg(&object)
            .arg(&source);
        process::run(&mut cmd, Duration::from_secs(10 * 60))
            .map_err(|err| format!("building {} failed: {err}", object.display()))?;
    }
    Ok(())
}
