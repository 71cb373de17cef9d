//! The Rust side of `cargo xtask bench-c`: times one scenario through the
//! Rust API against the fixture provider and prints `SCENARIO NS_PER_OP
//! OPS`, like `capi_bench.c` does for the C API (see there).
//!
//! ```text
//! capi_bench_rust RUN_DIR SCENARIO MILLIS
//! ```

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use netipc::service::{CgroupsLookupClient, CgroupsSnapshotClient, ClientConfig, Profiles};

const LOOKUP_KEYS: usize = 64;

/// Calls `op` for a tenth of `time` (warm-up), then for `time`; returns
/// the nanoseconds per call and the calls.
fn measure(
    time: Duration,
    mut op: impl FnMut(&mut u64) -> Result<(), Box<dyn Error>>,
) -> Result<(f64, u64, u64), Box<dyn Error>> {
    let mut sink = 0u64;
    let started = Instant::now();
    while started.elapsed() < time / 10 {
        op(&mut sink)?;
    }
    let started = Instant::now();
    let mut ops = 0u64;
    loop {
        op(&mut sink)?;
        ops += 1;
        if started.elapsed() >= time {
            break;
        }
    }
    let ns = started.elapsed().as_nanos() as f64 / ops as f64;
    Ok((ns, ops, sink))
}

fn config(profiles: Profiles) -> ClientConfig {
    ClientConfig {
        supported_profiles: profiles,
        ..ClientConfig::default()
    }
}

fn snapshot(
    run_dir: &str,
    profiles: Profiles,
    time: Duration,
) -> Result<(f64, u64, u64), Box<dyn Error>> {
    let mut client = CgroupsSnapshotClient::new(run_dir, "fx-snapshot", &config(profiles));
    client.wait_ready(Duration::from_secs(10))?;
    measure(time, |sink| {
        let view = client.call()?;
        for item in view.iter() {
            let item = item?;
            *sink += u64::from(item.hash) + (item.name.len() + item.path.len()) as u64;
        }
        Ok(())
    })
}

fn lookup(
    run_dir: &str,
    profiles: Profiles,
    time: Duration,
) -> Result<(f64, u64, u64), Box<dyn Error>> {
    let paths: Vec<String> = (0..LOOKUP_KEYS)
        .map(|i| format!("/sys/fs/cgroup/cg-{i}"))
        .collect();
    let mut client = CgroupsLookupClient::new(run_dir, "fx-cgroups-lookup", &config(profiles));
    client.wait_ready(Duration::from_secs(10))?;
    measure(time, |sink| {
        let view = client.call(&paths)?;
        for item in view.iter() {
            *sink += item.status as u64 + item.name.len() as u64;
        }
        Ok(())
    })
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run_dir, scenario, millis] = args.as_slice() else {
        return Err("usage: capi_bench_rust RUN_DIR SCENARIO MILLIS".into());
    };
    let time = Duration::from_millis(millis.parse()?);
    let (ns, ops, sink) = match scenario.as_str() {
        "snapshot-16-socket" => snapshot(run_dir, Profiles::BASELINE, time)?,
        "snapshot-16-shm" => snapshot(run_dir, Profiles::empty(), time)?,
        "lookup-64-socket" => lookup(run_dir, Profiles::BASELINE, time)?,
        "lookup-64-shm" => lookup(run_dir, Profiles::empty(), time)?,
        other => return Err(format!("unknown scenario {other}").into()),
    };
    if sink == 0 {
        return Err("nothing was read".into());
    }
    println!("{scenario} {ns:.1} {ops}");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("capi_bench_rust: {err}");
            ExitCode::FAILURE
        }
    }
}
