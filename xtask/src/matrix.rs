//! The interop lane: every pairing of a provider and a consumer written
//! with netipc's three APIs (Rust, C, Go), on Linux and on Windows under
//! Wine, over every transport profile (docs/interop-matrix.md).
//!
//! [`Peers::build`] builds the three matrix peers for both OSes: the Rust
//! one (`netipc-matrix-peer`, with the host cargo and the windows lane's
//! cross route), the C one (`crates/netipc-c/tests/matrix/matrix_peer.c`,
//! compiled as the c lane compiles C programs, against the debug static
//! library) and the Go one (`go/internal/cmd/netipc-go-matrix`, also with
//! `GOOS=windows`). A peer that cannot be built fails that step with the
//! reason, and every cell it takes part in fails with it.
//!
//! [`run`] then starts, for each provider language and profile, one
//! provider in a fresh run directory, runs the three consumers against it
//! one after the other (each with a watchdog), closes the provider's
//! standard input (it must exit 0 within [`STOP_LIMIT`] and leave its run
//! directory empty), and prints the [`Table`] of every check.

mod table;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::c_lane;
use crate::cross::{self, TARGET};
use crate::examples::entries;
use crate::go_lane::{GoLane, Toolchain};
use crate::lanes::{Options, host_cargo, prepare_windows};
use crate::process::{self, Background};
use crate::setup;
use crate::wine::Wine;
pub use table::Os;
use table::{Lang, PROFILES, Row, Table};

/// The C peer's source, relative to the workspace root.
const C_SOURCE: &str = "crates/netipc-c/tests/matrix/matrix_peer.c";
/// The Go peer's package, relative to the Go module.
const GO_PACKAGE: &str = "./internal/cmd/netipc-go-matrix";
/// The Rust peer's binary.
const RUST_BIN: &str = "netipc-matrix-peer";

/// The cargo build of the Rust peer and the C library.
const RUST_BUILD: [&str; 8] = [
    "build",
    "-p",
    "netipc-tests",
    "--bin",
    RUST_BIN,
    "-p",
    "netipc-c",
    "--lib",
];
/// Time for `go build` of the Go peer.
const BUILD_LIMIT: Duration = Duration::from_secs(600);
/// Time for a provider to print `ready` (Wine can be slow to start).
const READY_LIMIT: Duration = Duration::from_secs(120);
/// Time for one consumer to run its five checks.
const CONSUMER_LIMIT: Duration = Duration::from_secs(300);
/// Time for a provider to exit once its standard input is closed.
const STOP_LIMIT: Duration = Duration::from_secs(60);

/// The built peers of one OS, indexed by [`Lang::index`]: the program, or
/// why there is none.
type Programs = [Result<PathBuf, String>; 3];

/// The matrix peers of both OSes, and the Wine that runs the Windows ones.
pub struct Peers {
    linux: Programs,
    windows: Programs,
    wine: Result<Wine, String>,
}

impl Peers {
    /// Builds the six peers (see the module docs); `wine_prefix` is the
    /// windows lane's prefix.
    pub fn build(options: &Options, wine_prefix: &Path) -> Self {
        let root = &options.root;
        let limit = options.timeout;
        let target = cross::target_dir(root, None);
        let out = |os: Os| target.join("matrix").join(os.name());

        // Linux: the Rust peer and the C library in one cargo build.
        let rust = process::run(&mut host_cargo(&RUST_BUILD), limit)
            .map(|()| target.join("debug").join(RUST_BIN))
            .map_err(|err| format!("cargo build: {err}"));
        let c = setup::apt_install(&["gcc"]).and_then(|()| {
            let library = rust.as_ref().map_err(|err| format!("no library: {err}"))?;
            let library = library.with_file_name("libnetipc_c.a");
            compile_c(root, &library, &out(Os::Linux), Os::Linux)
        });
        let go = Toolchain::prepare(&target).map(|t| GoLane::new(root, &target, t, limit));
        let go_linux = build_go(&go, &out(Os::Linux), Os::Linux);
        let linux = [rust, c, go_linux];

        let (windows, wine) = match prepare_windows(options, wine_prefix.to_path_buf()) {
            Ok((cross, wine)) => {
                let mut cargo = cross.command(RUST_BUILD[0]);
                cargo.args(&RUST_BUILD[1..]);
                let dir = cross.target_dir(root).join(TARGET).join("debug");
                let rust = process::run(&mut cargo, limit)
                    .map(|()| dir.join(format!("{RUST_BIN}.exe")))
                    .map_err(|err| format!("cargo build --target {TARGET}: {err}"));
                let c = match &rust {
                    Ok(_) => compile_c(
                        root,
                        &dir.join("libnetipc_c.a"),
                        &out(Os::Windows),
                        Os::Windows,
                    ),
                    Err(err) => Err(format!("no library: {err}")),
                };
                let go = build_go(&go, &out(Os::Windows), Os::Windows);
                ([rust, c, go], Ok(wine))
            }
            Err(err) => {
                let why = format!("no Windows toolchain: {err}");
                (
                    [Err(why.clone()), Err(why.clone()), Err(why.clone())],
                    Err(why),
                )
            }
        };
        Self {
            linux,
            windows,
            wine,
        }
    }

    /// `6 peers`, or which could not be built and why.
    pub fn verdict(&self) -> Result<String, String> {
        let failed: Vec<String> = [(Os::Linux, &self.linux), (Os::Windows, &self.windows)]
            .into_iter()
            .flat_map(|(os, programs)| {
                Lang::ALL.into_iter().filter_map(move |lang| {
                    let err = programs[lang.index()].as_ref().err()?;
                    Some(format!("{} ({}): {err}", lang.name(), os.name()))
                })
            })
            .collect();
        if failed.is_empty() {
            Ok("6 peers".to_owned())
        } else {
            Err(failed.join("; "))
        }
    }
}

/// Compiles the C peer for `os` against `library` into `dir`.
fn compile_c(root: &Path, library: &Path, dir: &Path, os: Os) -> Result<PathBuf, String> {
    let source = root.join(C_SOURCE);
    if !source.is_file() {
        return Err(format!("{C_SOURCE} does not exist"));
    }
    fs::create_dir_all(dir).map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let binary = dir.join(program_name("matrix_peer", os));
    let windows = os == Os::Windows;
    c_lane::compile(root, &source, library, &binary, windows, &[])?;
    Ok(binary)
}

/// Builds the Go peer for `os` into `dir` (`GOOS=windows` for Windows).
fn build_go(go: &Result<GoLane, String>, dir: &Path, os: Os) -> Result<PathBuf, String> {
    let go = go
        .as_ref()
        .map_err(|err| format!("no Go toolchain: {err}"))?;
    let binary = dir.join(program_name("netipc-go-matrix", os));
    let mut build = go.go(&["build", "-o"]);
    build.arg(&binary).arg(GO_PACKAGE).env("GOOS", os.name());
    let mut child = Background::spawn(&mut build, false).map_err(|err| err.to_string())?;
    let built = child.wait(BUILD_LIMIT);
    if let Err(err) = built {
        eprint!("{}", child.transcript());
        let why = last_words(&child.stderr());
        return Err(format!("go build {GO_PACKAGE}: {err}{why}"));
    }
    Ok(binary)
}

/// `name`, with `.exe` on Windows.
fn program_name(name: &str, os: Os) -> String {
    match os {
        Os::Linux => name.to_owned(),
        Os::Windows => format!("{name}.exe"),
    }
}

/// Runs every cell of `os` and prints its table; returns the lane note
/// (`135/135 cells in 12s`) or which cells failed.
pub fn run(os: Os, peers: &Peers) -> Result<String, String> {
    let started = Instant::now();
    let (programs, wine) = match os {
        Os::Linux => (&peers.linux, None),
        Os::Windows => match &peers.wine {
            Ok(wine) => (&peers.windows, Some(wine)),
            Err(err) => return Err(format!("cannot run Windows programs: {err}")),
        },
    };
    let runner = Runner {
        os,
        programs,
        wine,
        stop_limit: STOP_LIMIT,
    };
    let mut rows = Vec::new();
    for provider in Lang::ALL {
        for profile in PROFILES {
            rows.extend(runner.provider(provider, profile));
        }
    }
    let table = Table { os, rows };
    eprintln!("\n{}", table.render());
    let seconds = started.elapsed().as_secs();
    table
        .verdict()
        .map(|cells| format!("{cells} in {seconds}s"))
        .map_err(|err| format!("{err} in {seconds}s"))
}

/// Runs the cells of one OS.
struct Runner<'a> {
    os: Os,
    programs: &'a Programs,
    wine: Option<&'a Wine>,
    /// [`STOP_LIMIT`], shorter in tests.
    stop_limit: Duration,
}

impl Runner<'_> {
    /// `program ARGS`, under Wine for Windows.
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = match self.wine {
            Some(wine) => {
                let mut cmd = Command::new(wine.wine64());
                cmd.arg(program).envs(wine.env());
                cmd
            }
            None => Command::new(program),
        };
        cmd.args(args);
        cmd
    }

    /// `dir` as the peers get it: for Windows the same directory as a
    /// Windows path (Wine's drive `Z:` is `/`), so that what Windows
    /// peers leave in it shows.
    fn run_dir(&self, dir: &RunDir) -> String {
        match self.os {
            Os::Linux => dir.path().to_owned(),
            Os::Windows => format!("Z:{}", dir.path().replace('/', "\\")),
        }
    }

    /// The program of `lang`, or why a cell with it cannot run.
    fn program(&self, lang: Lang) -> Result<&PathBuf, String> {
        self.programs[lang.index()]
            .as_ref()
            .map_err(|err| format!("the {} peer was not built: {err}", lang.name()))
    }

    /// The three rows of `provider` on `profile`.
    fn provider(&self, provider: Lang, profile: &'static str) -> Vec<Row> {
        let failed = |reason: &str| {
            Lang::ALL
                .map(|consumer| Row::failed(provider, consumer, profile, reason))
                .to_vec()
        };
        let program = match self.program(provider) {
            Ok(program) => program,
            Err(err) => return failed(&err),
        };
        let name = format!("nm-{}-{}-{profile}", self.os.name(), provider.name());
        let dir = match RunDir::create(&name) {
            Ok(dir) => dir,
            Err(err) => return failed(&err),
        };
        let label = format!(
            "{} provider ({}, {profile})",
            provider.name(),
            self.os.name()
        );
        let run_dir = self.run_dir(&dir);
        let mut serve = self.command(program, &["serve", &run_dir, provider.prefix(), profile]);
        let mut server = match Background::spawn(&mut serve, true) {
            Ok(server) => server,
            Err(err) => return failed(&format!("the {label} did not start: {err}")),
        };
        if let Err(err) = server.wait_for_line("ready", READY_LIMIT) {
            eprintln!("xtask: interop: the {label} failed: {err}; its output:");
            eprint!("{}", server.transcript());
            return failed(&format!(
                "the {label} did not start: {err}{}",
                last_words(&server.stderr())
            ));
        }
        let mut rows: Vec<Row> = Lang::ALL
            .into_iter()
            .map(|consumer| self.consumer(provider, consumer, profile, &run_dir))
            .collect();
        server.close_stdin();
        let stopped = server.wait(self.stop_limit);
        let left = entries(&dir.0);
        let trouble = match stopped {
            Err(err) => {
                eprintln!("xtask: interop: the {label} did not stop cleanly: {err}; its output:");
                eprint!("{}", server.transcript());
                Some(format!(
                    "the provider did not exit 0 after its stdin closed: {err}{}",
                    last_words(&server.stderr())
                ))
            }
            Ok(()) if !left.is_empty() => Some(format!(
                "the provider left {} in its run directory",
                left.join(", ")
            )),
            Ok(()) => None,
        };
        if let Some(reason) = trouble {
            for row in &mut rows {
                row.fail_passes(&reason);
            }
        }
        rows
    }

    /// The row of `consumer` against the running provider.
    fn consumer(&self, provider: Lang, consumer: Lang, profile: &'static str, dir: &str) -> Row {
        let program = match self.program(consumer) {
            Ok(program) => program,
            Err(err) => return Row::failed(provider, consumer, profile, &err),
        };
        let mut check = self.command(program, &["check", dir, provider.prefix(), profile]);
        let mut child = match Background::spawn(&mut check, false) {
            Ok(child) => child,
            Err(err) => {
                let reason = format!("the consumer did not start: {err}");
                return Row::failed(provider, consumer, profile, &reason);
            }
        };
        let exit = child
            .wait(CONSUMER_LIMIT)
            .map_err(|err| format!("{err}{}", last_words(&child.stderr())));
        let row = Row::from_output(provider, consumer, profile, &child.stdout(), &exit);
        eprintln!(
            "xtask: interop: {} -> {} ({}, {profile}): {}",
            provider.name(),
            consumer.name(),
            self.os.name(),
            match &exit {
                Ok(()) => "exited 0".to_owned(),
                Err(err) => err.clone(),
            }
        );
        eprint!("{}", child.transcript());
        row
    }
}

/// `; stderr: LAST LINE` when `stderr` has a line, for failure reasons.
fn last_words(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .map(|line| format!("; stderr: {line}"))
        .unwrap_or_default()
}

/// A fresh run directory `<tmp>/<name>-<pid>-<n>` (mode 0700), removed on
/// drop.
struct RunDir(PathBuf);

impl RunDir {
    fn create(name: &str) -> Result<Self, String> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Unique also when tests run cells at the same time.
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        // Short: Unix socket paths are limited to 107 bytes.
        let dir = std::env::temp_dir().join(format!("{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        match dir.to_str() {
            Some(_) => Ok(Self(dir)),
            None => Err(format!("{} is not UTF-8", dir.display())),
        }
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Peers that are shell scripts: `serve` and `check` bodies per
    /// language.
    struct FakePeers {
        dir: PathBuf,
        peers: Peers,
    }

    impl FakePeers {
        fn new(name: &str, bodies: [Option<&str>; 3]) -> Self {
            let dir =
                std::env::temp_dir().join(format!("xtask-matrix-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            let linux = Lang::ALL.map(|lang| {
                let body =
                    bodies[lang.index()].ok_or_else(|| "compiling x.c: exit code 1".to_owned())?;
                let path = dir.join(lang.name());
                fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
                Ok(path)
            });
            let none = || Err("no Windows toolchain: test".to_owned());
            Self {
                dir,
                peers: Peers {
                    linux,
                    windows: [none(), none(), none()],
                    wine: Err("no Windows toolchain: test".to_owned()),
                },
            }
        }
    }

    impl Drop for FakePeers {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    /// A peer that serves (until stdin ends) and checks by the contract.
    const GOOD: &str = r#"case "$1" in
serve) echo ready; cat >/dev/null; exit 0;;
check) for c in "snapshot 16 items" "snapshot-big 5000 items" "cgroups-lookup 32768 keys" \
         "apps-lookup 1000 pids" "cache 5000 items"; do
         name=${c%% *}; detail=${c#* }; echo "ok $name $4 $detail"; done;;
esac"#;

    #[test]
    fn well_behaved_peers_pass_every_cell() {
        let fake = FakePeers::new("good", [Some(GOOD); 3]);
        assert_eq!(
            fake.peers.verdict(),
            Err("rust (windows): no Windows toolchain: test; \
            c (windows): no Windows toolchain: test; go (windows): no Windows toolchain: test"
                .into())
        );
        let note = run(Os::Linux, &fake.peers).unwrap();
        assert!(note.starts_with("135/135 cells in "), "{note}");
        assert_eq!(
            run(Os::Windows, &fake.peers),
            Err("cannot run Windows programs: no Windows toolchain: test".into())
        );
    }

    #[test]
    fn missing_and_misbehaving_peers_fail_their_cells() {
        // C: not built. Go: a provider that leaves a file behind, and a
        // consumer that fails its cache check.
        let go = r#"case "$1" in
serve) echo ready; cat >/dev/null; touch "$2/stale.sock"; exit 0;;
check) echo "ok snapshot $4 16 items"; echo "ok snapshot-big $4 5000 items";
       echo "ok cgroups-lookup $4 32768 keys"; echo "ok apps-lookup $4 1000 pids";
       echo "FAIL cache refresh: timed out"; exit 1;;
esac"#;
        let fake = FakePeers::new("bad", [Some(GOOD), None, Some(go)]);
        let err = run(Os::Linux, &fake.peers).unwrap_err();
        // The rust provider: 4 + 5 cells fail of each profile's 15 (the C
        // consumer's, the Go consumer's cache); the C provider's and the Go
        // provider's (it leaves a file) all fail.
        assert!(
            err.starts_with(
                "27/135 cells, 108 failed: rust -> c baseline (5), rust -> go baseline (1), "
            ),
            "{err}"
        );
    }

    #[test]
    fn a_provider_that_does_not_start_or_stop_fails_its_rows() {
        let stuck = r#"case "$1" in
serve) echo ready; exec sleep 600;;
check) exit 0;;
esac"#;
        let fake = FakePeers::new(
            "stuck",
            [
                Some("echo 'cannot bind' >&2; exit 1"),
                Some(stuck),
                Some(GOOD),
            ],
        );
        let runner = Runner {
            os: Os::Linux,
            programs: &fake.peers.linux,
            wine: None,
            stop_limit: Duration::from_secs(1),
        };
        let rows = runner.provider(Lang::Rust, "baseline");
        assert_eq!(rows.len(), 3);
        let reason = |row: &Row, check: usize| match &row.cells[check] {
            table::Cell::Fail(reason) => reason.clone(),
            table::Cell::Pass => panic!("{row:?}"),
        };
        let why = reason(&rows[2], 4);
        assert!(
            why.starts_with("the rust provider (linux, baseline) did not start: "),
            "{why}"
        );
        assert!(why.ends_with("; stderr: cannot bind"), "{why}");

        // The C provider never exits: every cell its consumers passed fails.
        let rows = runner.provider(Lang::C, "shm-alt");
        assert_eq!(
            reason(&rows[2], 0),
            "the provider did not exit 0 after its stdin closed: \
             timed out after 1s (watchdog killed it)"
        );
        // The C consumer printed nothing, the Rust one failed.
        assert_eq!(reason(&rows[1], 3), "no line for this check");
        assert_eq!(
            reason(&rows[0], 3),
            "no line for this check (the consumer: exit code 1; stderr: cannot bind)"
        );
    }

    #[test]
    fn windows_peers_get_a_windows_path() {
        let dir = RunDir::create("xtask-matrix-path").unwrap();
        let programs: Programs = [Err(String::new()), Err(String::new()), Err(String::new())];
        let runner = |os| Runner {
            os,
            programs: &programs,
            wine: None,
            stop_limit: STOP_LIMIT,
        };
        let unix = dir.path();
        assert!(
            unix.starts_with('/') && unix.contains("/xtask-matrix-path-"),
            "{unix}"
        );
        assert_eq!(runner(Os::Linux).run_dir(&dir), unix);
        let windows = runner(Os::Windows).run_dir(&dir);
        assert_eq!(windows, format!("Z:{}", unix.replace('/', "\\")));
        assert!(!windows.contains('/'), "{windows}");
        assert_eq!(
            fs::metadata(&dir.0).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }

    #[test]
    fn last_words_are_the_last_line() {
        assert_eq!(last_words("a\nb\n\n"), "; stderr: b");
        assert_eq!(last_words(" \n"), "");
    }
}
