//! The test lanes and their reports.

use std::env;
use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::c_lane::{Flavor, Programs};
use crate::cross::{self, CrossCargo, RouteChoice};
use crate::examples::Examples;
use crate::go_examples;
use crate::go_lane::{GoLane, Toolchain};
use crate::go_wine::GoWine;
use crate::install;
use crate::matrix;
use crate::msrv;
use crate::os_cfg;
use crate::process;
use crate::setup;
use crate::unsupported;
use crate::wine::{self, Wine};

/// One independent way of testing the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Native: the OS-cfg check, fmt, clippy, docs, the one error of a
    /// target without a backend, tests, examples, a publishing dry run of
    /// the library and its oldest Rust on the host.
    Linux,
    /// Cross-compiled to x86_64-pc-windows-gnu, tests and examples run under
    /// Wine; the C programs built with mingw-w64 and the Go package built
    /// with GOOS=windows run there too.
    Windows,
    /// The C API: its C tests and examples with gcc, under ASan+UBSan and
    /// valgrind, and built against an installed prefix (the Windows build
    /// of the same programs runs in the windows lane).
    C,
    /// The Go package: gofmt, vet (also for Windows), a pure-Go build,
    /// its tests plain and under the race detector, its examples, and its
    /// interop with the Rust core in both roles.
    Go,
    /// The interop matrix: every Rust/C/Go provider × consumer pairing on
    /// every transport profile, on Linux and on Windows under Wine.
    Interop,
}

impl Lane {
    pub const ALL: [Self; 5] = [Self::Linux, Self::Windows, Self::C, Self::Go, Self::Interop];

    pub fn name(self) -> &'static str {
        match self {
            Self::Linux => "linux",
            Self::Windows => "windows",
            Self::C => "c",
            Self::Go => "go",
            Self::Interop => "interop",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|lane| lane.name() == name)
    }
}

/// Settings shared by all lanes.
pub struct Options {
    /// Workspace root; every command runs there.
    pub root: PathBuf,
    /// Watchdog limit for each cargo invocation.
    pub timeout: Duration,
    pub windows_route: RouteChoice,
}

/// Runs `lane` to the end and reports how it went; never panics on failure.
pub fn run(lane: Lane, options: &Options) -> Report {
    eprintln!("\n==> lane {}", lane.name());
    let mut report = Report {
        lane,
        route: None,
        setup_error: None,
        steps: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    match lane {
        Lane::Linux => linux(options, &mut report),
        Lane::Windows => windows(options, &mut report),
        Lane::C => c(options, &mut report),
        Lane::Go => go(options, &mut report),
        Lane::Interop => interop(options, &mut report),
    }
    report.elapsed = started.elapsed();
    report
}

fn linux(options: &Options, report: &mut Report) {
    // Cheap and needs no toolchain: first.
    report.step_with("os-cfg", || os_cfg::check(&options.root));
    if let Err(err) = setup::rustup_components(&["rustfmt", "clippy"]) {
        report.setup_error = Some(err);
        return;
    }
    let limit = options.timeout;
    report.step("fmt", limit, host_cargo(&["fmt", "--all", "--check"]));
    report.step(
        "clippy",
        limit,
        host_cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    );
    report.step("clippy-lib", limit, host_cargo(&LIB_CLIPPY));
    report.step_with("doc", || {
        for features in [&[][..], &["--features", "test-support"]] {
            let mut doc = host_cargo(&["doc", "-p", "netipc", "--no-deps"]);
            doc.args(features).env("RUSTDOCFLAGS", "-D warnings");
            process::run(&mut doc, limit).map_err(|err| format!("{features:?}: {err}"))?;
        }
        Ok(())
    });
    report.step_with("unsupported-target", || {
        unsupported::check(&options.root, limit)
    });
    // The C API's tests link C programs against its static library, which
    // `cargo test` does not build.
    report.step("c-library", limit, host_cargo(&["build", "-p", "netipc-c"]));
    report.step("test", limit, host_cargo(&["test", "--workspace"]));
    report.step_with("examples", || {
        let mut build = host_cargo(&["build", "--examples", "-p", "netipc"]);
        process::run(&mut build, limit).map_err(|err| format!("build: {err}"))?;
        Examples::native(&cross::target_dir(&options.root, None)).run("linux")
    });
    // Packages the library as crates.io would and builds the package alone
    // (reads the crates.io index; uploads nothing, needs no token).
    // --allow-dirty: this checks the package, not the state of the checkout.
    report.step(
        "publish",
        limit,
        host_cargo(&["publish", "--dry-run", "--allow-dirty", "-p", "netipc"]),
    );
    report.step_with("msrv", || msrv::check(&options.root, limit));
}

/// Clippy on the library alone: in workspace builds the CLI and the test
/// package turn on its `test-support` feature, so the library as published
/// (without it) is linted here.
const LIB_CLIPPY: [&str; 7] = [
    "clippy",
    "-p",
    "netipc",
    "--all-targets",
    "--",
    "-D",
    "warnings",
];

/// The cargo that runs xtask, so `cargo +toolchain xtask` is honoured.
pub fn host_cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(args);
    cmd
}

/// Packages the windows lane needs whatever the route.
const WINDOWS_PACKAGES: &[&str] = &["gcc-mingw-w64-x86-64", "wine", "wine64"];

fn windows(options: &Options, report: &mut Report) {
    let prefix = options.root.join("target/wineprefix");
    match prepare_windows(options, prefix.clone()) {
        Ok((cross, wine)) => {
            report.route = Some(cross.describe());
            windows_steps(options, report, &cross, &wine);
        }
        Err(err) => report.setup_error = Some(err),
    }
    // Leave no wineserver behind, also after a failed or timed-out run.
    if let Ok(wine) = Wine::locate(prefix) {
        wine.shutdown();
    }
}

/// Installs and locates what Windows builds need: mingw-w64, wine (with
/// its prefix at `prefix` and the `bcryptprimitives.dll` stand-in) and a
/// Rust toolchain for the Windows target.
pub fn prepare_windows(options: &Options, prefix: PathBuf) -> Result<(CrossCargo, Wine), String> {
    setup::apt_install(WINDOWS_PACKAGES)?;
    if process::find_program(wine::MINGW_GCC).is_none() {
        return Err(format!(
            "`{}` (the linker for {}) is not on PATH although gcc-mingw-w64-x86-64 is installed; \
             check `update-alternatives --display {}`",
            wine::MINGW_GCC,
            cross::TARGET,
            wine::MINGW_GCC
        ));
    }
    let cross = CrossCargo::prepare(options.windows_route, &options.root)?;
    eprintln!("xtask: windows lane: route: {}", cross.describe());
    let wine = Wine::locate(prefix)?;
    wine.ensure_prefix()?;
    wine.install_prng_shim(
        &options.root.join("xtask/wine"),
        &options.root.join("target/wine"),
    )?;
    Ok((cross, wine))
}

fn windows_steps(options: &Options, report: &mut Report, cross: &CrossCargo, wine: &Wine) {
    // xtask is host-only tooling (it uses Unix APIs): it is not built for Windows.
    let workspace = ["--workspace", "--exclude", "xtask"];
    let limit = options.timeout;

    let mut clippy = cross.command("clippy");
    clippy
        .args(workspace)
        .args(["--all-targets", "--", "-D", "warnings"]);
    report.step("clippy", limit, clippy);
    let mut clippy_lib = cross.command(LIB_CLIPPY[0]);
    clippy_lib.args(&LIB_CLIPPY[1..]);
    report.step("clippy-lib", limit, clippy_lib);
    // docs.rs also documents the Windows build.
    let mut doc = cross.command("doc");
    doc.args(["-p", "netipc", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings");
    report.step("doc", limit, doc);

    // Unit tests of libs and bins plus integration tests. Doctests cannot run
    // for a cross target, so they are left to the linux lane.
    let mut test = cross.command("test");
    test.args(workspace)
        .args(["--lib", "--bins", "--tests"])
        .envs(wine.env())
        // The runner starts each test binary under wine, once more when
        // wine did not start it at all (see the script).
        .env(
            "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER",
            options.root.join("xtask/wine/runner.sh"),
        )
        .env("NETIPC_WINE64", wine.wine64());
    report.step("test", limit, test);

    report.step_with("examples", || {
        let mut build = cross.command("build");
        build.args(["--examples", "-p", "netipc"]);
        process::run(&mut build, limit).map_err(|err| format!("build: {err}"))?;
        Examples::wine(&cross.target_dir(&options.root), wine).run("windows")
    });
    // The C API's programs, built with mingw-w64 from the same sources.
    report.step_counted("c", || {
        let mut build = cross.command("build");
        build.args(["-p", "netipc-c", "--lib", "--example", "c_fixture_provider"]);
        process::run(&mut build, limit).map_err(|err| format!("build: {err}"))?;
        let target = cross.target_dir(&options.root);
        Programs::windows(&options.root, &target, wine).check()
    });
    // The Go package built for Windows: its tests and its examples.
    let go = GoWine::prepare(&options.root, cross, wine, limit);
    report.step_noted("go-test", || go.as_ref().map_err(Clone::clone)?.test(cross));
    report.step_noted("go-examples", || {
        go.as_ref().map_err(Clone::clone)?.examples(cross)
    });
}

/// Packages the c lane needs.
const C_PACKAGES: &[&str] = &["gcc", "valgrind", "pkg-config", "cmake"];

fn c(options: &Options, report: &mut Report) {
    if let Err(err) = setup::apt_install(C_PACKAGES) {
        report.setup_error = Some(err);
        return;
    }
    let limit = options.timeout;
    let target = cross::target_dir(&options.root, None);
    report.step_with("build", || {
        for args in [
            &[
                "build",
                "-p",
                "netipc-c",
                "--lib",
                "--example",
                "c_fixture_provider",
            ][..],
            &["build", "--release", "-p", "netipc-c", "--lib"],
            &["build", "-p", "netipc", "--examples"],
        ] {
            process::run(&mut host_cargo(args), limit).map_err(|err| err.to_string())?;
        }
        Ok(())
    });
    for flavor in [Flavor::Gcc, Flavor::Asan, Flavor::Valgrind] {
        report.step_counted(flavor.name(), || {
            Programs::linux(flavor, &options.root, &target).check()
        });
    }
    report.step_with("install", || {
        install::check_installed(&options.root, &target, host_cargo(&[]), limit)
    });
}

fn go(options: &Options, report: &mut Report) {
    let limit = options.timeout;
    let target = cross::target_dir(&options.root, None);
    // gcc: the race detector needs cgo.
    let toolchain = setup::apt_install(&["gcc"]).and_then(|()| Toolchain::prepare(&target));
    let lane = match toolchain {
        Ok(toolchain) => GoLane::new(&options.root, &target, toolchain, limit),
        Err(err) => {
            report.setup_error = Some(err);
            return;
        }
    };
    report.step_with("gofmt", || lane.gofmt());
    report.step("vet", limit, lane.go(&["vet", "./..."]));
    report.step("build", limit, lane.go(&["build", "./..."]));
    report.step_noted("vet-windows", || lane.vet_windows());
    report.step_noted("api", || lane.api_parity());
    // The Rust peers of the interop tests and examples.
    report.step(
        "rust-binaries",
        limit,
        host_cargo(&["build", "-p", "netipc-cli", "-p", "netipc-tests", "--bins"]),
    );
    report.step_noted("test", || lane.test());
    report.step_noted("race", || lane.race());
    report.step_noted("examples", || go_examples::run(&lane, &target));
    report.step_noted("interop", || lane.interop(host_cargo(&[])));
    // Rust and Go; `Some((&options.root, host_cargo(&[])))` adds the C peer.
    report.step_noted("bench-smoke", || crate::bench_matrix::smoke(&lane, None));
}

fn interop(options: &Options, report: &mut Report) {
    let prefix = options.root.join("target/wineprefix");
    let mut built = None;
    report.step_noted("peers", || {
        let peers = built.insert(matrix::Peers::build(options, &prefix));
        peers.verdict()
    });
    if let Some(peers) = &built {
        report.step_noted("linux", || matrix::run(matrix::Os::Linux, peers));
        report.step_noted("windows", || matrix::run(matrix::Os::Windows, peers));
    }
    // Leave no wineserver behind, also after a failed or timed-out run.
    if let Ok(wine) = Wine::locate(prefix) {
        wine.shutdown();
    }
}

/// What happened in one lane.
pub struct Report {
    pub lane: Lane,
    /// How the lane built its code, when there is a choice (windows).
    route: Option<String>,
    /// Why the lane could not even start its steps.
    setup_error: Option<String>,
    steps: Vec<Step>,
    elapsed: Duration,
}

struct Step {
    name: &'static str,
    /// What the step checked ("7 programs"), shown after its name.
    note: Option<String>,
    result: Result<(), String>,
}

impl Report {
    /// Runs one command as a step; later steps run even if this one fails.
    fn step(&mut self, name: &'static str, limit: Duration, mut cmd: Command) {
        self.step_with(name, || {
            process::run(&mut cmd, limit).map_err(|err| err.to_string())
        });
    }

    /// Runs one step done by xtask itself; later steps run even if this one
    /// fails. The error should be one line: it goes into the summary.
    fn step_with(&mut self, name: &'static str, step: impl FnOnce() -> Result<(), String>) {
        eprintln!("\n--> {}: {name}", self.lane.name());
        let result = step();
        if let Err(err) = &result {
            eprintln!("xtask: {}: {name} FAILED: {err}", self.lane.name());
        }
        self.steps.push(Step {
            name,
            note: None,
            result,
        });
    }

    /// [`step_with`](Self::step_with) for a step that runs a number of
    /// programs: the summary shows how many (`gcc: 7 programs`).
    fn step_counted(&mut self, name: &'static str, step: impl FnOnce() -> Result<usize, String>) {
        self.step_noted(name, || Ok(format!("{} programs", step()?)));
    }

    /// [`step_with`](Self::step_with) for a step that says what it
    /// checked: the summary shows it after the step's name (`test: 412
    /// tests in 14 packages (0 skipped)`).
    fn step_noted(&mut self, name: &'static str, step: impl FnOnce() -> Result<String, String>) {
        let mut note = None;
        self.step_with(name, || {
            note = Some(step()?);
            Ok(())
        });
        if let Some(last) = self.steps.last_mut() {
            last.note = note;
        }
    }

    pub fn passed(&self) -> bool {
        self.setup_error.is_none()
            && !self.steps.is_empty()
            && self.steps.iter().all(|step| step.result.is_ok())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        write!(f, "lane {}: {verdict} (", self.lane.name())?;
        let passed = self
            .steps
            .iter()
            .filter(|step| step.result.is_ok())
            .map(|step| match &step.note {
                Some(note) => format!("{}: {note}", step.name),
                None => step.name.to_owned(),
            });
        if let Some(err) = &self.setup_error {
            write!(f, "setup: {err}")?;
        } else if self.passed() {
            write!(f, "{}", passed.clone().collect::<Vec<_>>().join(", "))?;
        } else {
            let failed = self
                .steps
                .iter()
                .filter_map(|step| Some(format!("{}: {}", step.name, step.result.as_ref().err()?)));
            write!(f, "{}", failed.collect::<Vec<_>>().join("; "))?;
        }
        write!(f, ") in {}s", self.elapsed.as_secs())?;
        if let Some(route) = &self.route {
            write!(f, " [route: {route}]")?;
        }
        if !self.passed() {
            let passed: Vec<_> = passed.collect();
            if !passed.is_empty() {
                write!(f, "; passed: {}", passed.join(", "))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(setup_error: Option<&str>, steps: &[(&'static str, Result<(), &str>)]) -> Report {
        Report {
            lane: Lane::Windows,
            route: Some("rustup target".into()),
            setup_error: setup_error.map(Into::into),
            steps: steps
                .iter()
                .map(|&(name, result)| Step {
                    name,
                    note: None,
                    result: result.map_err(Into::into),
                })
                .collect(),
            elapsed: Duration::from_secs(42),
        }
    }

    #[test]
    fn passing_lane_lists_its_steps() {
        let report = report(None, &[("clippy", Ok(())), ("test", Ok(()))]);
        assert!(report.passed());
        assert_eq!(
            report.to_string(),
            "lane windows: PASS (clippy, test) in 42s [route: rustup target]"
        );
    }

    #[test]
    fn failing_lane_names_failures_and_passes() {
        let report = report(None, &[("clippy", Ok(())), ("test", Err("exit code 101"))]);
        assert!(!report.passed());
        assert_eq!(
            report.to_string(),
            "lane windows: FAIL (test: exit code 101) in 42s [route: rustup target]; passed: clippy"
        );
    }

    #[test]
    fn setup_failure_fails_the_lane() {
        let report = report(Some("apt-get install -y wine64 failed"), &[]);
        assert!(!report.passed());
        assert!(
            report
                .to_string()
                .starts_with("lane windows: FAIL (setup: apt-get install -y wine64 failed) in 42s")
        );
    }

    #[test]
    fn xtask_steps_are_recorded_like_commands() {
        let mut report = report(None, &[]);
        report.step_with("os-cfg", || Ok(()));
        report.step_with("examples", || Err("lookup_consumer: exit code 1".into()));
        report.step("true", Duration::from_secs(30), Command::new("true"));
        assert!(!report.passed());
        assert_eq!(
            report.to_string(),
            "lane windows: FAIL (examples: lookup_consumer: exit code 1) in 42s \
             [route: rustup target]; passed: os-cfg, true"
        );
    }

    #[test]
    fn counted_steps_show_their_count() {
        let mut report = report(None, &[]);
        report.step_counted("gcc", || Ok(7));
        report.step_counted("wine", || Err("lookup_consumer: exit code 1".into()));
        assert_eq!(
            report.to_string(),
            "lane windows: FAIL (wine: lookup_consumer: exit code 1) in 42s \
             [route: rustup target]; passed: gcc: 7 programs"
        );
    }

    #[test]
    fn a_lane_without_steps_never_passes() {
        assert!(!report(None, &[]).passed());
    }

    #[test]
    fn lane_names_round_trip() {
        for lane in Lane::ALL {
            assert_eq!(Lane::parse(lane.name()), Some(lane));
        }
        assert_eq!(Lane::parse("macos"), None);
    }
}
