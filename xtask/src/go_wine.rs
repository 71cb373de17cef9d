//! The windows lane's Go steps: the Go package built with `GOOS=windows`
//! (pure Go, `CGO_ENABLED=0`) and run under Wine.
//!
//! - `go-test`: `go test -c` of every package with tests for Windows, each
//!   test binary run under Wine with `-test.v=test2json` through `go tool
//!   test2json`, its events tallied by [`GoTestRun`] as in the go lane:
//!   every test must pass, a skip must be allow-listed
//!   ([`ALLOWED_SKIPS`], [`WINE_ALLOWED_SKIPS`]), the vectors package must
//!   say how many golden vectors it checked. A package whose test binary
//!   did not build, or that ended without a result (crash, watchdog),
//!   fails; a package with tests on Linux but none for Windows is named in
//!   the step's note. The tests that need Rust peers get the Windows
//!   builds (`NETIPC_BIN`, `NETIPC_TEST_PEER`).
//! - `go-examples`: the Go examples built for Windows, run as the go lane
//!   runs them ([`go_examples`], parts 1 to 3): the Go provider with the Go
//!   consumers and `netipc.exe call`/`cache`, the Go consumers against
//!   `netipc.exe serve`.
//!
//! Wine 8 lacks one call Go's standard library makes (see
//! [`patch_deleteat`]): the programs are built with a one-line change of
//! the standard library's Windows layer (`go build -overlay`), which real
//! Windows never takes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cross::{self, CrossCargo};
use crate::go_examples::{self, Programs};
use crate::go_lane::{GoLane, Toolchain};
use crate::go_test::{ALLOWED_SKIPS, AllowedSkip, GoTestRun, Mode};
use crate::process;
use crate::wine::{self, Wine};

/// The skips the windows lane accepts besides [`ALLOWED_SKIPS`].
pub const WINE_ALLOWED_SKIPS: &[AllowedSkip] = &[];

/// `-test.timeout` of one test binary; the watchdog of its run stays
/// above it, so Go reports the hung test.
const TEST_TIMEOUT: &str = "5m";
const TEST_WATCHDOG: Duration = Duration::from_secs(6 * 60);

/// Test binaries run at once. Each package's tests use their own run
/// directories (and so their own pipe and SHM names), as `go test` runs
/// packages in parallel on Linux; two match the machine's two cores.
const WORKERS: usize = 2;

/// The file of Go's standard library that [`patch_deleteat`] changes.
const AT_WINDOWS: &str = "src/internal/syscall/windows/at_windows.go";

/// The Go side of the windows lane.
pub struct GoWine<'a> {
    lane: GoLane,
    wine: &'a Wine,
    root: PathBuf,
    /// The Rust programs built for Windows.
    rust: PathBuf,
    /// Where the Windows builds go: `target/go/windows`.
    out: PathBuf,
    /// `-overlay=FILE` of every Go build, when the standard library needs
    /// the change for Wine.
    overlay: Option<String>,
}

impl<'a> GoWine<'a> {
    /// Finds (or installs) Go as the go lane does and prepares the change
    /// of the standard library.
    pub fn prepare(
        root: &Path,
        cross: &CrossCargo,
        wine: &'a Wine,
        limit: Duration,
    ) -> Result<Self, String> {
        let target = cross::target_dir(root, None);
        let toolchain = Toolchain::prepare(&target)?;
        let lane = GoLane::new(root, &target, toolchain, limit);
        let out = target.join("go/windows");
        let overlay = overlay(lane.goroot(), &out.join("overlay"))?;
        Ok(Self {
            lane,
            wine,
            root: root.to_owned(),
            rust: cross.target_dir(root).join(cross::TARGET).join("debug"),
            out,
            overlay,
        })
    }

    /// `go ARGS` for Windows, with the overlay.
    fn go(&self, args: &[&str]) -> Command {
        let mut cmd = self.lane.go(args);
        cmd.env("GOOS", "windows");
        cmd.args(&self.overlay);
        cmd
    }

    /// The Rust programs the Go tests and examples run with.
    fn rust_binaries(&self, cross: &CrossCargo) -> Result<(), String> {
        let mut build = cross.command("build");
        build.args(["-p", "netipc-cli", "-p", "netipc-tests", "--bins"]);
        process::run(&mut build, self.lane.limit())
            .map_err(|err| format!("building the Rust programs: {err}"))
    }

    /// The `go-test` step (see the module docs).
    pub fn test(&self, cross: &CrossCargo) -> Result<String, String> {
        self.rust_binaries(cross)?;
        let linux = self.packages(None)?;
        let windows = self.packages(Some("windows"))?;
        let untested: Vec<String> = linux
            .iter()
            .filter(|p| p.tested && !windows.iter().any(|w| w.tested && w.import == p.import))
            .map(|p| crate::go_test::short(&p.import))
            .collect();
        let tested: Vec<&Package> = windows.iter().filter(|p| p.tested).collect();
        if tested.is_empty() {
            return Err("no package has tests for Windows".into());
        }
        let dir = self.out.join("tests");
        let started = Instant::now();
        let build_output = self.build_tests(&dir, &tested)?;
        eprintln!(
            "xtask: go-test: test binaries built in {:.1}s",
            started.elapsed().as_secs_f64()
        );

        let run = self.run_all(&dir, tested, &build_output);
        let note = if untested.is_empty() {
            String::new()
        } else {
            format!("; no tests for Windows in {}", untested.join(", "))
        };
        run.verdict(Ok(()))
            .map(|summary| format!("{summary}{note}"))
            .map_err(|err| format!("{err}{note}"))
    }

    /// Runs the test binaries in `dir` of `tested`, [`WORKERS`] at once:
    /// the slowest packages of the last run first, so that the workers end
    /// together (new packages before all). A package without a binary
    /// fails with what `go test -c` printed for it (`build_output`).
    fn run_all(
        &self,
        dir: &Path,
        mut tested: Vec<&Package>,
        build_output: &BTreeMap<String, String>,
    ) -> GoTestRun {
        let durations = self.out.join("test-seconds.json");
        let last: BTreeMap<String, f64> = fs::read_to_string(&durations)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        tested.sort_by(|a, b| {
            let seconds = |p: &Package| last.get(&p.import).copied().unwrap_or(f64::MAX);
            seconds(b).total_cmp(&seconds(a))
        });
        let run = Mutex::new(GoTestRun::with_allowed(
            Mode::Plain,
            &[ALLOWED_SKIPS, WINE_ALLOWED_SKIPS],
        ));
        let seconds = Mutex::new(BTreeMap::<String, f64>::new());
        let next = AtomicUsize::new(0);
        let started = Instant::now();
        thread::scope(|scope| {
            for _ in 0..WORKERS.min(tested.len()) {
                scope.spawn(|| {
                    while let Some(package) = tested.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let exe = dir.join(binary_name(&package.import));
                        if !exe.is_file() {
                            let why = build_output.get(&package.import).map_or(
                                "its test binary did not build (see the output of go test -c)",
                                String::as_str,
                            );
                            lock(&run).package_broke(&package.import, why);
                            continue;
                        }
                        let started = Instant::now();
                        self.run_tests(package, &exe, &run);
                        lock(&seconds)
                            .insert(package.import.clone(), started.elapsed().as_secs_f64());
                    }
                });
            }
        });
        eprintln!(
            "xtask: go-test: test binaries ran in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let seconds = seconds.into_inner().unwrap_or_else(PoisonError::into_inner);
        if let Ok(json) = serde_json::to_string_pretty(&seconds) {
            let _ = fs::write(&durations, json);
        }
        run.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    /// The module's packages for `goos` (the host's when `None`).
    fn packages(&self, goos: Option<&str>) -> Result<Vec<Package>, String> {
        let mut list = self.lane.go(&[
            "list",
            "-f",
            "{{.ImportPath}}\t{{.Dir}}\t{{len .TestGoFiles}}\t{{len .XTestGoFiles}}",
            "./...",
        ]);
        if let Some(goos) = goos {
            list.env("GOOS", goos);
        }
        parse_packages(&process::capture(&mut list)?)
    }

    /// `go test -c` of `packages` into `dir` (emptied first). Returns what
    /// the build printed for each package that failed to build; fails
    /// only when `go` itself did not run.
    fn build_tests(
        &self,
        dir: &Path,
        packages: &[&Package],
    ) -> Result<BTreeMap<String, String>, String> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        let out = format!("{}/", dir.display());
        let mut build = self.go(&["test", "-c", "-json", "-o", &out]);
        build.args(packages.iter().map(|p| &p.import));
        let mut output = BTreeMap::<String, String>::new();
        let exit = process::run_lines(&mut build, self.lane.limit(), |line| {
            match serde_json::from_str::<Value>(line) {
                Ok(event) if event["Action"] == "build-output" => {
                    let text = event["Output"].as_str().unwrap_or("");
                    eprint!("{text}");
                    // `github.com/x/pkg [github.com/x/pkg.test]`.
                    let package = event["ImportPath"].as_str().unwrap_or("");
                    let package = package.split(' ').next().unwrap_or("");
                    output.entry(package.to_owned()).or_default().push_str(text);
                }
                Ok(_) => {}
                Err(_) => eprintln!("{line}"),
            }
        });
        match exit {
            // A package that did not build: its binary is missing.
            Ok(()) | Err(process::RunError::Exit(_)) => Ok(output),
            Err(err) => Err(format!("go test -c: {err}")),
        }
    }

    /// Runs the test binary `exe` of `package` under Wine, in the
    /// package's directory as `go test` does, and feeds its events to
    /// `run`.
    fn run_tests(&self, package: &Package, exe: &Path, run: &Mutex<GoTestRun>) {
        let timeout = format!("-test.timeout={TEST_TIMEOUT}");
        let mut cmd = self
            .lane
            .go(&["tool", "test2json", "-t", "-p", &package.import]);
        cmd.arg(self.wine.wine64())
            .arg(exe)
            // As `go test` runs them: a test calling os.Exit(0) fails.
            .args(["-test.v=test2json", "-test.paniconexit0", &timeout])
            .current_dir(&package.dir)
            .envs(self.wine.env())
            .env(
                "NETIPC_BIN",
                wine::windows_path(&self.rust.join("netipc.exe")),
            )
            .env(
                "NETIPC_TEST_PEER",
                wine::windows_path(&self.rust.join("netipc-test-peer.exe")),
            )
            .env(
                "NETIPC_VECTORS",
                wine::windows_path(&self.root.join("crates/netipc-tests/tests/data/vectors")),
            );
        let mut ended = false;
        let exit = process::run_lines(&mut cmd, TEST_WATCHDOG, |line| {
            ended |= ends_package(line);
            lock(run).line(line);
        });
        if !ended {
            let why = match exit {
                Err(err) => format!("its test binary under Wine: {err}"),
                Ok(()) => "its test binary ended without a result".to_owned(),
            };
            lock(run).package_broke(&package.import, &why);
        }
    }

    /// The `go-examples` step (see the module docs).
    pub fn examples(&self, cross: &CrossCargo) -> Result<String, String> {
        self.rust_binaries(cross)?;
        let bin = self.out.join("bin");
        self.lane
            .build_into(&bin, self.go(&["build"]), &go_examples::EXAMPLES)?;
        go_examples::check(Programs {
            bin,
            netipc: self.rust.join("netipc.exe"),
            data: self.out.join("examples-data"),
            wine: Some(self.wine),
        })
    }
}

fn lock<T>(value: &Mutex<T>) -> MutexGuard<'_, T> {
    value.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A package of the module, as `go list` sees it for one OS.
#[derive(Debug, PartialEq, Eq)]
struct Package {
    import: String,
    dir: PathBuf,
    /// It has test files.
    tested: bool,
}

/// Reads the lines `IMPORT\tDIR\tTESTS\tXTESTS` of `go list -f`.
fn parse_packages(listed: &str) -> Result<Vec<Package>, String> {
    listed
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let count = |i: usize| fields.get(i).and_then(|n| n.trim().parse::<usize>().ok());
            match (fields.first(), fields.get(1), count(2), count(3)) {
                (Some(import), Some(dir), Some(tests), Some(xtests)) => Ok(Package {
                    import: (*import).to_owned(),
                    dir: PathBuf::from(dir),
                    tested: tests + xtests > 0,
                }),
                _ => Err(format!("go list printed {line:?}")),
            }
        })
        .collect()
}

/// The file `go test -c -o DIR/` writes for `import`: its last element.
fn binary_name(import: &str) -> String {
    format!("{}.test.exe", import.rsplit('/').next().unwrap_or(import))
}

/// Whether `line` is the event that ends a package (its result).
fn ends_package(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|event| {
        event.get("Test").is_none()
            && matches!(event["Action"].as_str(), Some("pass" | "fail" | "skip"))
    })
}

/// Writes the overlay of [`patch_deleteat`] into `dir` when the
/// toolchain in `goroot` needs it; returns the `-overlay` flag.
fn overlay(goroot: &Path, dir: &Path) -> Result<Option<String>, String> {
    let original = goroot.join(AT_WINDOWS);
    let source = fs::read_to_string(&original)
        .map_err(|err| format!("cannot read {}: {err}", original.display()))?;
    let Some(patched) =
        patch_deleteat(&source).map_err(|err| format!("{}: {err}", original.display()))?
    else {
        return Ok(None);
    };
    fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let file = dir.join("at_windows.go");
    let json = dir.join("overlay.json");
    let replace =
        serde_json::json!({ "Replace": { original.to_string_lossy(): file.to_string_lossy() } });
    for (path, text) in [(&file, patched), (&json, replace.to_string())] {
        if fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
            fs::write(path, text)
                .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        }
    }
    Ok(Some(format!("-overlay={}", json.display())))
}

/// Go (1.25 and later) deletes files with `FileDispositionInformationEx`
/// (Windows 10 1607 and later), and falls back to `FileDispositionInfo`
/// when Windows answers that it does not know the class or a flag. Wine 8
/// answers `STATUS_NOT_IMPLEMENTED`, which Go passes on as "Invalid
/// function": every `os.RemoveAll`, and so the cleanup of every
/// `t.TempDir`, fails. This adds that status to the fallback's cases in
/// `source` (the toolchain's `at_windows.go`); `None` when the toolchain
/// does not make the call, an error when it makes it differently than
/// expected.
fn patch_deleteat(source: &str) -> Result<Option<String>, String> {
    if !source.contains("FileDispositionInformationEx") {
        return Ok(None);
    }
    let case = "\t\tSTATUS_NOT_SUPPORTED:";
    if source.matches(case).count() != 1 {
        return Err(format!(
            "expected one `{}` in Deleteat's fallback cases; this Go deletes files differently \
             (update patch_deleteat in xtask/src/go_wine.rs)",
            case.trim()
        ));
    }
    let patched = source.replace(
        case,
        "\t\tSTATUS_NOT_SUPPORTED, statusNotImplementedUnderWine:",
    );
    Ok(Some(format!(
        "{patched}\n// statusNotImplementedUnderWine is STATUS_NOT_IMPLEMENTED, Wine 8's answer \
         to FileDispositionInformationEx\n// (added by xtask for the builds it runs under Wine).\n\
         const statusNotImplementedUnderWine NTStatus = 0xC0000002\n"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_read_from_go_list() {
        let listed = "github.com/x/go\t/w/go\t0\t1\n\
                      github.com/x/go/sys\t/w/go/sys\t0\t0\n\n";
        assert_eq!(
            parse_packages(listed),
            Ok(vec![
                Package {
                    import: "github.com/x/go".into(),
                    dir: "/w/go".into(),
                    tested: true
                },
                Package {
                    import: "github.com/x/go/sys".into(),
                    dir: "/w/go/sys".into(),
                    tested: false
                },
            ])
        );
        assert!(parse_packages("github.com/x/go\t/w/go\n").is_err());
    }

    #[test]
    fn test_binaries_are_named_after_the_last_element() {
        assert_eq!(binary_name("github.com/netdata/netipc/go"), "go.test.exe");
        assert_eq!(
            binary_name("github.com/netdata/netipc/go/internal/transport/shm"),
            "shm.test.exe"
        );
    }

    #[test]
    fn only_package_results_end_a_package() {
        assert!(ends_package(
            r#"{"Action":"fail","Package":"p","Elapsed":1}"#
        ));
        assert!(ends_package(r#"{"Action":"pass","Package":"p"}"#));
        assert!(!ends_package(
            r#"{"Action":"pass","Package":"p","Test":"TestA"}"#
        ));
        assert!(!ends_package(r#"{"Action":"output","Package":"p"}"#));
        assert!(!ends_package("PASS"));
    }

    #[test]
    fn the_deleteat_fallback_takes_wines_status() {
        let source = "func Deleteat() {\n\tconst FileDispositionInformationEx = 64\n\
                      \tswitch err {\n\tcase STATUS_INVALID_INFO_CLASS,\n\
                      \t\tSTATUS_NOT_SUPPORTED:\n\t\treturn deleteatFallback(h)\n\t}\n}\n";
        let patched = patch_deleteat(source).unwrap().unwrap();
        assert!(patched.contains("\t\tSTATUS_NOT_SUPPORTED, statusNotImplementedUnderWine:\n"));
        assert!(patched.ends_with("const statusNotImplementedUnderWine NTStatus = 0xC0000002\n"));
        assert_eq!(patch_deleteat("package windows\n"), Ok(None));
        assert!(patch_deleteat("FileDispositionInformationEx\n").is_err());
    }
}
