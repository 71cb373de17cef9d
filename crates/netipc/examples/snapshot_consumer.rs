//! A consumer plugin: fetches the full `cgroups-snapshot` once and prints
//! every cgroup in it.
//!
//! ```text
//! cargo run --example snapshot_consumer -- [RUN_DIR] [PREFIX]
//! ```
//!
//! Arguments as for `cgroups_provider` (the service is `<PREFIX>-snapshot`,
//! default `cgroups-snapshot`). The provider may start a little later: the
//! consumer keeps trying to connect for a while. It exits 0 after printing
//! the snapshot, non-zero with a message on standard error otherwise.
//!
//! The same source builds and behaves the same on Linux and Windows.

use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use netipc::service::{CgroupsSnapshotClient, ClientConfig};

/// How long to wait for the provider to appear.
const PROVIDER_WAIT: Duration = Duration::from_secs(10);

const USAGE: &str = "usage: snapshot_consumer [RUN_DIR] [PREFIX]";

/// `[RUN_DIR] [PREFIX]`, with the provider's defaults.
fn parse_args() -> Result<(String, String), String> {
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
    if args.next().is_some() {
        return Err(USAGE.to_owned());
    }
    Ok((run_dir, prefix))
}

fn run() -> Result<(), Box<dyn Error>> {
    let (run_dir, prefix) = parse_args()?;
    let service = format!("{prefix}-snapshot");

    // `new` does no I/O: creating a client before the provider exists is fine.
    let mut client = CgroupsSnapshotClient::new(&run_dir, &service, &ClientConfig::default());
    // A plugin's collection loop calls `client.connect()` once per cycle
    // and skips the cycle when it fails (the error says why). At start-up
    // the provider may not be running yet: retry for a while.
    client.wait_ready(PROVIDER_WAIT).map_err(|e| {
        format!("{e} (is cgroups_provider running with the same RUN_DIR and PREFIX?)")
    })?;

    // The response borrows the client's buffer: read it before the next call.
    let snapshot = client.call()?;
    println!(
        "snapshot of `{service}`: generation {}, systemd_enabled {}, {} cgroups",
        snapshot.generation(),
        snapshot.systemd_enabled(),
        snapshot.len()
    );
    for item in snapshot.iter() {
        // Items are validated as they are read; a malformed one fails the
        // whole refresh rather than leaving a partial table behind.
        let item = item?;
        // Names and paths are bytes on the wire; they are UTF-8 in practice.
        println!(
            "  {:08x} {:<14} {}",
            item.hash,
            String::from_utf8_lossy(item.name),
            String::from_utf8_lossy(item.path)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("snapshot_consumer: {err}");
            ExitCode::FAILURE
        }
    }
}
