//! `cargo xtask bench-c`: the C API's cost next to the Rust API's, on the
//! same scenarios against the same provider, in one run.
//!
//! Builds the release library, the release fixture provider and
//! `capi_bench_rust` (crates/netipc-c/bench/rust_bench.rs), compiles
//! crates/netipc-c/bench/capi_bench.c with `-O2`, starts the provider, and
//! runs every scenario of [`SCENARIOS`] round after round, three ways in
//! turn: the C program (the C API called from C), the Rust program (the
//! Rust API), and the Rust program `--paired` (the Rust API and the C API
//! in one process, alternating batches of calls: the steadier ratio on a
//! busy machine). Prints the median nanoseconds per operation and the
//! ratios. Not part of `cargo xtask test` (no timed asserts; run it on a
//! quiet machine).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::examples::with_run_dir;
use crate::process::{self, Background};

/// The scenarios both bench programs know, and whether the Rust program
/// also runs them `--paired`. Add a scenario to both programs and here.
pub const SCENARIOS: &[(&str, bool)] = &[
    ("snapshot-16-socket", true),
    ("snapshot-16-shm", true),
    ("lookup-64-socket", true),
    ("lookup-64-shm", true),
    ("cache-lookup-16", false),
];

const LIMIT: Duration = Duration::from_secs(30 * 60);

/// One measurement: `SCENARIO NS_PER_OP... OPS` on the program's stdout;
/// the `values` nanosecond figures.
fn parse(line: &str, scenario: &str, values: usize) -> Result<Vec<f64>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let numbers: Option<Vec<f64>> = words
        .get(1..=values)
        .map(|w| w.iter().map(|n| n.parse().ok()).collect())
        .unwrap_or(None);
    match numbers {
        Some(ns) if words.len() == values + 2 && words[0] == scenario => Ok(ns),
        _ => Err(format!("unexpected output for {scenario}: {line:?}")),
    }
}

/// The middle value of `values` (the upper one of an even count); sorts
/// them.
pub fn median(values: &mut [f64]) -> f64 {
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

    let table = with_run_dir("netipc-bench-c", "the provider", |dir| {
        let mut provider = Command::new(release.join("examples/c_fixture_provider"));
        provider.arg(dir);
        let mut provider = Background::spawn(&mut provider, true).map_err(|err| err.to_string())?;
        let result = provider
            .wait_for_line("ready", Duration::from_secs(60))
            .and_then(|()| {
                let rust_bench = release.join("examples/capi_bench_rust");
                measure_all(&c_bench, &rust_bench, dir, millis, rounds)
            });
        provider.close_stdin();
        let stopped = provider.wait(Duration::from_secs(60));
        let table = result?;
        stopped.map_err(|err| format!("c_fixture_provider: {err}"))?;
        Ok(table)
    })?;
    println!("{table}");
    Ok(())
}

/// Every scenario, the three ways in turn, `rounds` times; the table of
/// medians.
fn measure_all(
    c_bench: &Path,
    rust_bench: &Path,
    run_dir: &str,
    millis: u64,
    rounds: usize,
) -> Result<String, String> {
    // Per scenario: C program, Rust program, paired Rust API, paired C API.
    let mut samples = vec![[const { Vec::new() }; 4]; SCENARIOS.len()];
    let millis_arg = millis.to_string();
    for round in 1..=rounds {
        for (s, &(scenario, paired)) in SCENARIOS.iter().enumerate() {
            let mut runs: Vec<(&Path, &[&str], usize)> =
                vec![(c_bench, &[], 1), (rust_bench, &[], 1)];
            if paired {
                runs.push((rust_bench, &["--paired"], 2));
            }
            let mut at = 0;
            for (program, extra, values) in runs {
                let out = process::capture(
                    Command::new(program)
                        .args([run_dir, scenario, &millis_arg])
                        .args(extra),
                )?;
                for ns in parse(out.trim(), scenario, values)? {
                    samples[s][at].push(ns);
                    at += 1;
                }
            }
            let last = samples[s]
                .each_ref()
                .map(|v| v.last().copied().unwrap_or(0.0));
            eprintln!("xtask: bench-c: round {round}: {scenario}: {last:?}");
        }
    }
    let mut table = format!(
        "| scenario (median of {rounds} × {millis} ms) | C program ns/op | Rust program ns/op | C / Rust | one process: C API ns/op | Rust API ns/op | C / Rust |\n\
         |---|--:|--:|--:|--:|--:|--:|\n"
    );
    for ((scenario, _), [c, rust, paired_rust, paired_c]) in
        SCENARIOS.iter().zip(samples.iter_mut())
    {
        let (c, rust) = (median(c), median(rust));
        let paired = if paired_c.is_empty() {
            "– | – | –".to_owned()
        } else {
            let (pc, pr) = (median(paired_c), median(paired_rust));
            format!("{pc:.0} | {pr:.0} | {:.3}", pc / pr)
        };
        table.push_str(&format!(
            "| {scenario} | {c:.0} | {rust:.0} | {:.3} | {paired} |\n",
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
        let parsed = |line| parse(line, "lookup-64-shm", 1);
        assert_eq!(parsed("lookup-64-shm 1234.5 99"), Ok(vec![1234.5]));
        assert_eq!(
            parse("lookup-64-shm 1 2 99", "lookup-64-shm", 2),
            Ok(vec![1.0, 2.0])
        );
        assert!(parsed("lookup-64-shm 1 2 99").is_err());
        assert!(parsed("lookup-64-shm x 99").is_err());
        assert!(parsed("snapshot-16-shm 1 1").is_err());
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
