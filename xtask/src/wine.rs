//! Wine: a dedicated, quiet WINEPREFIX for running Windows test binaries,
//! plus the `bcryptprimitives.dll` shim that Rust >= 1.78 binaries need.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{fsutil, process};

/// Where Debian's `wine64` package puts the 64-bit loader (not on PATH).
const WINE64_PATHS: &[&str] = &["/usr/lib/wine/wine64"];
const WINESERVER_PATHS: &[&str] = &["/usr/lib/wine/wineserver64", "/usr/lib/wine/wineserver"];
/// The MinGW cross compiler, used both by cargo (as linker) and for the shim.
pub const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";
/// Limit for creating the prefix and for stopping wineserver.
const WINE_SETUP_LIMIT: Duration = Duration::from_secs(10 * 60);
const SHIM: &str = "bcryptprimitives";

/// A located Wine installation bound to one prefix.
pub struct Wine {
    wine64: PathBuf,
    wineserver: PathBuf,
    prefix: PathBuf,
}

impl Wine {
    /// Finds `wine64` and `wineserver`; `prefix` must be absolute.
    pub fn locate(prefix: PathBuf) -> Result<Self, String> {
        let missing = |what: &str| {
            format!(
                "`{what}` not found (looked in /usr/lib/wine and on PATH); \
                 install Debian's `wine64` package"
            )
        };
        let wine64 =
            process::find_program_at(WINE64_PATHS, "wine64").ok_or_else(|| missing("wine64"))?;
        let wineserver = process::find_program_at(WINESERVER_PATHS, "wineserver")
            .ok_or_else(|| missing("wineserver"))?;
        Ok(Self {
            wine64,
            wineserver,
            prefix,
        })
    }

    /// The loader to use as cargo's target runner.
    pub fn wine64(&self) -> &Path {
        &self.wine64
    }

    /// Environment that selects our prefix and keeps Wine quiet and offline.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("WINEPREFIX", self.prefix.clone().into_os_string()),
            ("WINEARCH", "win64".into()),
            ("WINEDEBUG", "-all".into()),
            // No Mono/Gecko download prompts: disable the DLLs that ask for them.
            ("WINEDLLOVERRIDES", "mscoree,mshtml=".into()),
        ]
    }

    /// `wine64 exe`: runs the Windows program `exe` in our prefix.
    pub fn program(&self, exe: &Path) -> Command {
        let mut cmd = self.command(&self.wine64);
        cmd.arg(exe);
        cmd
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.envs(self.env());
        cmd
    }

    /// Creates the prefix unless a complete one is already there.
    pub fn ensure_prefix(&self) -> Result<(), String> {
        if self.prefix.join("system.reg").is_file() {
            eprintln!("xtask: reusing WINEPREFIX {}", self.prefix.display());
            return Ok(());
        }
        eprintln!(
            "xtask: creating WINEPREFIX {} (one-time)",
            self.prefix.display()
        );
        let started = Instant::now();
        let created = self.boot().inspect_err(|_| {
            // A half-made prefix would be taken as complete next time.
            let _ = fs::remove_dir_all(&self.prefix);
        });
        created?;
        eprintln!(
            "xtask: WINEPREFIX ready in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    fn boot(&self) -> Result<(), String> {
        if let Some(parent) = self.prefix.parent() {
            fs::create_dir_all(parent)
                .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
        }
        let mut boot = self.command(&self.wine64);
        boot.args(["wineboot", "--init"]);
        process::run(&mut boot, WINE_SETUP_LIMIT)
            .map_err(|err| format!("`wine64 wineboot --init` failed: {err}"))?;
        // The registry is written out when wineserver exits: wait for that.
        let mut wait = self.command(&self.wineserver);
        wait.arg("-w");
        process::run(&mut wait, WINE_SETUP_LIMIT)
            .map_err(|err| format!("`wineserver -w` failed: {err}"))?;
        if self.prefix.join("system.reg").is_file() {
            Ok(())
        } else {
            Err("wineboot finished but the prefix has no system.reg".into())
        }
    }

    /// Builds `bcryptprimitives.dll` from `source_dir` into `build_dir` when
    /// missing or stale, and installs it into the prefix's system32.
    pub fn install_prng_shim(&self, source_dir: &Path, build_dir: &Path) -> Result<(), String> {
        let sources = [
            source_dir.join(format!("{SHIM}.c")),
            source_dir.join(format!("{SHIM}.def")),
        ];
        let dll = build_dir.join(format!("{SHIM}.dll"));
        if fsutil::is_stale(&dll, &[&sources[0], &sources[1]]) {
            fs::create_dir_all(build_dir)
                .map_err(|err| format!("cannot create {}: {err}", build_dir.display()))?;
            let mut gcc = Command::new(MINGW_GCC);
            gcc.args(["-shared", "-O2", "-Wall", "-Wextra", "-o"])
                .arg(&dll)
                .args(&sources)
                .arg("-lbcrypt");
            process::run(&mut gcc, WINE_SETUP_LIMIT)
                .map_err(|err| format!("building {} failed: {err}", dll.display()))?;
        }
        let installed = self
            .prefix
            .join("drive_c/windows/system32")
            .join(format!("{SHIM}.dll"));
        let built = fs::read(&dll).map_err(|err| format!("{}: {err}", dll.display()))?;
        if fs::read(&installed).ok().as_ref() != Some(&built) {
            fs::write(&installed, &built)
                .map_err(|err| format!("cannot install {}: {err}", installed.display()))?;
            eprintln!("xtask: installed {}", installed.display());
        }
        Ok(())
    }

    /// Stops every Wine process of our prefix (`wineserver -k`).
    pub fn shutdown(&self) {
        if !self.prefix.is_dir() {
            return;
        }
        let mut kill = self.command(&self.wineserver);
        kill.arg("-k");
        // wineserver -k exits non-zero when no server was running: that is fine.
        let _ = process::run(&mut kill, WINE_SETUP_LIMIT);
    }
}

/// The Windows spelling of the absolute host path `path` for programs
/// under Wine: the prefix maps drive Z: to `/` (`/work/x` is `Z:\work\x`).
pub fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_are_on_drive_z() {
        assert_eq!(
            windows_path(Path::new("/work/go/x.test.exe")),
            r"Z:\work\go\x.test.exe"
        );
    }
}
