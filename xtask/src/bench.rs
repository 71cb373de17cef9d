//! `cargo xtask bench-c`: the C API's cost next to the Rust API's, on the
//! same scenarios against the same provider, in one run.
//!
//! Builds the release library, the release fixture provider and
//! `capi_bench_rust` (crates/netipc-c/bench/rust_bench.rs), compiles
//! crates/netipc-c/bench/capi_bench.c with `-O2`, starts the provider, and
//! runs every scenario of [`SCENARIOS`] through C and Rust in turn, round
//! after round. Prints the median nanoseconds per operation of each side
//! and their ratio. Not part of `cargo xtask test` (no timed asserts; run
//! it on a quiet machine).

use std::env;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::process::{self, Background};

/// The scenarios both bench programs know. Add a scenario to both programs
/// and here.
pub const SCENARIOS: &[&str] = &[
    "snapshot-16-socket",
    "snapshot-16-shm",
    "lookup-64-socket",
    "lookup-64-shm",
];

const LIMIT: Duration = Duration::from_secs(30 * 60);

/// One measurement: `SCENARIO NS_PER_OP OPS` on the program's stdout.
fn parse(line: &str, scenario: &str) -> Result<f64, String> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next().map(str::parse::<f64>)) {
        (Some(name), Some(Ok(ns))) if name == scenario => Ok(ns),
        _ => Err(format!("unexpected output for {scenario}: {line:?}")),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs the bench; `cargo` is a bare cargo command, `millis` the time of
/// one measurement, `rounds` how many of each.
pub fn run(
    root: &Path,
    cargo: impl Fn() -> Command,
    millis: u64,
    rounds: usize,
) -> Result<(), String> {
    for args in [
        &["build", "--release", "-p", "netipc-c", "--lib"][..],
        &[
            "build",
            "--release",
            "-p",
            "netipc-c",
            "--example",
            "c_fixture_provider",
            "--example",
            "capi_bench_rust",
        ],
    ] {
        let mut build = cargo();
        build.args(args);
        process::run(&mut build, LIMIT).map_err(|err| format!("cargo build: {err}"))?;
    }
    let release = crate::cross::target_dir(root, None).join("release");
    let c_bench = release.join("capi_bench");
    let mut cc = Command::new("gcc");
    cc.args([
        "-std=c11",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pedantic",
        "-I",
    ])
    .arg(root.join("crates/netipc-c/include"))
    .arg(root.join("crates/netipc-c/bench/capi_bench.c"))
    .arg(release.join("libnetipc_c.a"))
    .args(["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-o"])
    .arg(&c_bench);
    process::run(&mut cc, LIMIT).map_err(|err| format!("gcc: {err}"))?;

    let run_dir = env::temp_dir().join(format!("netipc-bench-c-{}", std::process::id()));
    let _ = fs::remove_dir_all(&run_dir);
    fs::create_dir_all(&run_dir).map_err(|err| format!("{}: {err}", run_dir.display()))?;
    let dir = run_dir.to_string_lossy().into_owned();
    let mut provider = Command::new(release.join("examples/c_fixture_provider"));
    provider.arg(&dir);
    let mut provider = Background::spawn(&mut provider, true).map_err(|err| err.to_string())?;
    let result = provider
        .wait_for_line("ready", Duration::from_secs(60))
        .and_then(|()| {
            let sides = [
                ("C", c_bench.clone()),
                ("Rust", release.join("examples/capi_bench_rust")),
            ];
            measure_all(&sides, &dir, millis, rounds)
        });
    provider.close_stdin();
    let stopped = provider.wait(Duration::from_secs(60));
    let _ = fs::remove_dir_all(&run_dir);
    let table = result?;
    stopped.map_err(|err| format!("c_fixture_provider: {err}"))?;
    println!("{table}");
    Ok(())
}

/// Every scenario, each side in turn, `rounds` times; the table of medians.
fn measure_all(
    sides: &[(&str, std::path::PathBuf); 2],
    run_dir: &str,
    millis: u64,
    rounds: usize,
) -> Result<String, String> {
    let mut samples = vec![[Vec::new(), Vec::new()]; SCENARIOS.len()];
    for round in 0..rounds {
        for (s, scenario) in SCENARIOS.iter().enumerate() {
            for (side, (name, program)) in sides.iter().enumerate() {
                let out = process::capture(Command::new(program).args([
                    run_dir,
                    scenario,
                    &millis.to_string(),
                ]))?;
                let ns = parse(out.trim(), scenario)?;
                eprintln!(
                    "xtask: bench-c: round {}: {scenario} {name}: {ns:.0} ns",
                    round + 1
                );
                samples[s][side].push(ns);
            }
        }
    }
    let mut table = format!(
        "| scenario (median of {rounds}, {millis} ms each) | C API ns/op | Rust API ns/op | C / Rust |\n|---|--:|--:|--:|\n"
    );
    for (scenario, [c, rust]) in SCENARIOS.iter().zip(samples.iter_mut()) {
        let (c, rust) = (median(c), median(rust));
        table.push_str(&format!(
            "| {scenario} | {c:.0} | {rust:.0} | {:.3} |\n",
            c / rust
        ));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurements_parse_and_medians_are_middle_values() {
        assert_eq!(
            parse("lookup-64-shm 1234.5 99", "lookup-64-shm"),
            Ok(1234.5)
        );
        assert!(parse("lookup-64-shm x 99", "lookup-64-shm").is_err());
        assert!(parse("snapshot-16-shm 1 1", "lookup-64-shm").is_err());
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
