//! A consumer plugin: asks `cgroups-lookup` for the names of a few cgroup
//! paths and prints each answer.
//!
//! ```text
//! cargo run --example lookup_consumer -- [RUN_DIR] [PREFIX] [PATH...]
//! ```
//!
//! `RUN_DIR` and `PREFIX` as for `cgroups_provider` (the service is
//! `<PREFIX>-lookup`, default `cgroups-lookup`). Without paths it asks for
//! two that the example provider knows and one that it does not. It exits 0
//! once every path has an answer (an "unknown" answer is an answer), and
//! non-zero with a message on standard error otherwise.
//!
//! The same source builds and behaves the same on Linux and Windows.

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use netipc::codec::{CgroupsLookupStatus, orchestrator};
use netipc::service::{CgroupsLookupClient, ClientConfig};

/// How long to wait for the provider to appear.
const PROVIDER_WAIT: Duration = Duration::from_secs(10);

/// Asked when no paths are given: two the example provider knows, one not.
const DEFAULT_PATHS: [&str; 3] = [
    "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
    "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
    "/sys/fs/cgroup/system.slice/not-a-container.scope",
];

const USAGE: &str = "usage: lookup_consumer [RUN_DIR] [PREFIX] [PATH...]";

/// `[RUN_DIR] [PREFIX] [PATH...]`, with the defaults.
fn parse_args() -> Result<(String, String, Vec<String>), String> {
    let mut args = std::env::args().skip(1);
    let run_dir = match args.next() {
        // `-h`, `--help` and any other option: show how to call us.
        Some(option) if option.starts_with('-') => return Err(USAGE.to_owned()),
        Some(dir) => dir,
        None => std::env::temp_dir()
            .to_str()
            .ok_or("the temporary directory is not UTF-8: pass RUN_DIR")?
            .to_owned(),
    };
    let prefix = args.next().unwrap_or_else(|| "cgroups".to_owned());
    let mut paths: Vec<String> = args.collect();
    if paths.is_empty() {
        paths = DEFAULT_PATHS.map(String::from).to_vec();
    }
    Ok((run_dir, prefix, paths))
}

fn run() -> Result<(), Box<dyn Error>> {
    let (run_dir, prefix, paths) = parse_args()?;
    let service = format!("{prefix}-lookup");

    let mut client = CgroupsLookupClient::new(&run_dir, &service, &ClientConfig::default());
    // A plugin's collection loop calls `client.connect()` once per cycle
    // and skips the cycle when it fails (the error says why). At start-up
    // the provider may not be running yet: retry for a while.
    client.wait_ready(PROVIDER_WAIT).map_err(|e| {
        format!("{e} (is cgroups_provider running with the same RUN_DIR and PREFIX?)")
    })?;

    // One logical call, however many paths: the client splits it into as
    // many requests as the negotiated sizes need and stitches the answers
    // back together, one item per path, in order, from one generation.
    let answer = client.call(&paths)?;
    println!(
        "lookup on `{service}`: generation {}, {} paths",
        answer.generation(),
        answer.len()
    );
    for item in answer.iter() {
        let path = String::from_utf8_lossy(item.path);
        match item.status {
            CgroupsLookupStatus::Known => {
                let managed_by = orchestrator::name(item.orchestrator).unwrap_or("other");
                let labels: Vec<String> = item
                    .labels
                    .iter()
                    .map(|label| {
                        format!(
                            "{}={}",
                            String::from_utf8_lossy(label.key),
                            String::from_utf8_lossy(label.value)
                        )
                    })
                    .collect();
                println!(
                    "  {:<20} {path} -> {} ({managed_by}) [{}]",
                    item.status.spec_name(),
                    String::from_utf8_lossy(item.name),
                    labels.join(", ")
                );
            }
            // UNKNOWN_RETRY_LATER, UNKNOWN_PERMANENT, OVERSIZED_ITEM: no
            // name. A plugin would fall back to the path, and ask again
            // later for RETRY_LATER ones.
            _ => println!("  {:<20} {path}", item.status.spec_name()),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lookup_consumer: {err}");
            ExitCode::FAILURE
        }
    }
}
