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
use std::thread;
use std::time::{Duration, Instant};

use netipc::service::{CgroupsSnapshotClient, ClientConfig, ClientState};

/// How long to wait for the provider to appear.
const PROVIDER_WAIT: Duration = Duration::from_secs(10);
/// Pause between connection attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

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

/// Drives `refresh` until the client is connected or `wait` has passed.
///
/// A client does nothing in the background: the plugin's own loop calls
/// `refresh`, which connects (or reconnects after a failure) and returns
/// quickly when there is nothing to do. A long-running plugin calls it once
/// per collection cycle and skips the cycle while `ready()` is false.
fn connect(client: &mut CgroupsSnapshotClient, wait: Duration) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    loop {
        client.refresh();
        let state = client.status().state;
        match state {
            ClientState::Ready => return Ok(()),
            // These two need a change of configuration, not patience.
            ClientState::AuthFailed => return Err("the provider refused our auth token".into()),
            ClientState::Incompatible => {
                return Err("the provider is incompatible (protocol or transport profiles)".into());
            }
            // NotFound (no provider yet), Broken, Disconnected: try again.
            _ if Instant::now() >= deadline => {
                return Err(format!(
                    "no provider after {}s (last state: {state:?}); is cgroups_provider running \
                     with the same RUN_DIR and PREFIX?",
                    wait.as_secs()
                ));
            }
            _ => thread::sleep(RETRY_PAUSE),
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let (run_dir, prefix) = parse_args()?;
    let service = format!("{prefix}-snapshot");

    // `new` does no I/O: creating a client before the provider exists is fine.
    let mut client = CgroupsSnapshotClient::new(&run_dir, &service, &ClientConfig::default());
    connect(&mut client, PROVIDER_WAIT)?;

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
