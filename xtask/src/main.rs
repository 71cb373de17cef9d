//! `cargo xtask`: project automation. `cargo xtask test` is the one test
//! command, used by developers and by `.ci/run` alike.

mod cross;
mod examples;
mod fsutil;
mod lanes;
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

use cross::RouteChoice;
use lanes::{Lane, Options};

const USAGE: &str = "\
cargo xtask: netipc project automation

USAGE:
    cargo xtask test [OPTIONS]    run the test lanes (all of them by default)
    cargo xtask help              print this help

OPTIONS for `test`:
    --lane <NAME>                 run only this lane; repeatable
                                  (lanes: linux, windows)
    --timeout <MINUTES>           watchdog limit for each cargo command [default: 30]
    --windows-route <ROUTE>       how the windows lane gets a Windows Rust toolchain:
                                  auto (default): rustup target add, falling back to debian
                                  rustup: `rustup target add x86_64-pc-windows-gnu` only
                                  debian: Debian's rustc-web + rust-web-src with -Zbuild-std

LANES:
    linux     os-cfg (no OS-specific cfg outside crates/netipc/src/transport/sys),
              cargo fmt --check, cargo clippy -D warnings (workspace, and the
              library alone), cargo doc -D warnings, cargo test, examples,
              cargo publish --dry-run -p netipc, and the library checked with
              its rust-version (Debian's rustc-web, installed when missing)
              (host)
    windows   cargo clippy -D warnings, cargo doc, cargo test and examples for
              x86_64-pc-windows-gnu, run under Wine; installs mingw-w64, wine
              and the Rust target when missing (apt-get, as root or through sudo)

    examples: builds netipc's examples, starts cgroups_provider, runs
    snapshot_consumer and lookup_consumer against it and checks their output,
    then closes the provider's stdin and checks that it exits 0 and leaves its
    run directory empty.

Each lane prints one summary line at the end; the exit code is non-zero if any
lane failed. A lane that cannot be set up fails; none is skipped.
";

struct TestArgs {
    lanes: Vec<Lane>,
    timeout: Duration,
    windows_route: RouteChoice,
}

enum Cli {
    Help,
    Test(TestArgs),
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match parse(&args) {
        Ok(Cli::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Cli::Test(test)) => run_tests(test),
        Err(err) => {
            eprintln!("error: {err}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse(args: &[String]) -> Result<Cli, String> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Cli::Help);
    };
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Cli::Help),
        "test" if rest.iter().any(|arg| arg == "--help" || arg == "-h") => Ok(Cli::Help),
        "test" => parse_test(rest).map(Cli::Test),
        other => Err(format!("unknown command `{other}`")),
    }
}

fn parse_test(args: &[String]) -> Result<TestArgs, String> {
    let mut test = TestArgs {
        lanes: Vec::new(),
        timeout: Duration::from_secs(30 * 60),
        windows_route: RouteChoice::Auto,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("`{flag}` needs a value"))
        };
        match flag {
            "--lane" => {
                let name = value()?;
                let lane = Lane::parse(&name).ok_or_else(|| format!("unknown lane `{name}`"))?;
                if !test.lanes.contains(&lane) {
                    test.lanes.push(lane);
                }
            }
            "--timeout" => {
                let minutes = value()?;
                let minutes: u64 =
                    minutes.parse().ok().filter(|&m| m > 0).ok_or_else(|| {
                        format!("`--timeout` wants whole minutes, got `{minutes}`")
                    })?;
                test.timeout = Duration::from_secs(minutes * 60);
            }
            "--windows-route" => {
                let name = value()?;
                test.windows_route = RouteChoice::parse(&name)
                    .ok_or_else(|| format!("unknown windows route `{name}`"))?;
            }
            _ => return Err(format!("unknown option `{arg}` for `test`")),
        }
    }
    if test.lanes.is_empty() {
        test.lanes = Lane::ALL.to_vec();
    }
    Ok(test)
}

fn run_tests(test: TestArgs) -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf();
    if let Err(err) = env::set_current_dir(&root) {
        eprintln!("error: cannot enter {}: {err}", root.display());
        return ExitCode::FAILURE;
    }
    let options = Options {
        root,
        timeout: test.timeout,
        windows_route: test.windows_route,
    };
    let reports: Vec<_> = test
        .lanes
        .iter()
        .map(|&lane| lanes::run(lane, &options))
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

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    fn test_args(words: &[&str]) -> TestArgs {
        match parse(&args(words)) {
            Ok(Cli::Test(test)) => test,
            Ok(Cli::Help) => panic!("parsed {words:?} as help"),
            Err(err) => panic!("{words:?}: {err}"),
        }
    }

    #[test]
    fn test_runs_every_lane_by_default() {
        let test = test_args(&["test"]);
        assert_eq!(test.lanes, Lane::ALL);
        assert_eq!(test.timeout, Duration::from_secs(1800));
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
        assert_eq!(test.lanes, [Lane::Windows]);
        assert_eq!(test.timeout, Duration::from_secs(300));
        assert_eq!(test.windows_route, RouteChoice::Debian);
        assert_eq!(
            test_args(&["test", "--lane=linux", "--lane", "linux"]).lanes,
            [Lane::Linux]
        );
    }

    #[test]
    fn help_and_errors() {
        assert!(matches!(parse(&args(&["--help"])), Ok(Cli::Help)));
        assert!(matches!(parse(&args(&["help"])), Ok(Cli::Help)));
        assert!(matches!(parse(&args(&["test", "-h"])), Ok(Cli::Help)));
        assert!(matches!(parse(&args(&[])), Ok(Cli::Help)));
        assert!(parse(&args(&["build"])).is_err());
        assert!(parse(&args(&["test", "--lane", "macos"])).is_err());
        assert!(parse(&args(&["test", "--lane"])).is_err());
        assert!(parse(&args(&["test", "--timeout", "0"])).is_err());
        assert!(parse(&args(&["test", "--bogus"])).is_err());
    }
}
