//! `netipc serve KIND`: runs one provider until Ctrl-C.
//!
//! The data kinds (`cgroups-snapshot`, `cgroups-lookup`, `apps-lookup`)
//! answer from this machine's cgroups and `/proc`, from synthetic data
//! ([`providers`](crate::providers)) or from a JSON file that is reloaded
//! when it changes (`--data`, see [`data`]); `increment` and `string-reverse` are
//! the protocol's test services. The provider prints where it listens,
//! then serves until Ctrl-C (SIGINT, also SIGTERM/SIGHUP on POSIX and the
//! console close events on Windows) or, with `--stop-on-eof`, until its
//! standard input closes (a shutdown that works the same on every OS, for
//! supervisors and tests). Stopping ends every session and removes the
//! endpoint, its lock file and the shared-memory regions; a run directory
//! the provider created is removed too when nothing else is left in it.
//! Only the last component of the run directory is ever created (mode
//! 0700): a missing parent is an error, so that the provider removes
//! exactly what it created and decides no other directory's owner or mode.
//!
//! `-v` makes the provider observable: the library's `tracing` events
//! (target `netipc::server`; listed in the docs of `netipc::service`) go
//! to standard error through `tracing-subscriber`, a line of statistics
//! follows every [`STATS_EVERY`] when something changed, and the full
//! statistics are printed at the end. Without `-v` the output is the
//! banner and the closing summary only.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

mod data;

use netipc::service::{Profiles, ServerConfig, ServerStats};
use netipc::transport::run_dir::RunDirState;
use netipc::transport::{EndpointAccess, IdentityPolicy, names};
use netipc::wire::TransportStatus;
use tracing_subscriber::filter::LevelFilter;

use crate::common::{CliError, EndpointArgs, Kind, PROFILES_HELP, endpoint, run_dir_error};
use crate::providers::{self, Providers};

/// Arguments of `netipc serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Data files (--data FILE): JSON in the shape `netipc call KIND --json` prints, so that
`netipc call KIND --json > FILE` serves again what a provider served:
  {\"generation\": 1, \"items\": [...]}    generation: optional, 1 by default
  cgroups-snapshot  also \"systemd_enabled\": 0; items {\"name\", \"path\", \"hash\" (default: Netdata's
                    hash of the name), \"options\": 0, \"enabled\": 1}
  cgroups-lookup    also \"unknown_status\" for paths not listed (UNKNOWN_RETRY_LATER or
                    UNKNOWN_PERMANENT); items {\"path\", \"status\": \"KNOWN\", \"orchestrator\": 0
                    (or \"orchestrator_name\": \"docker\"), \"name\": \"\", \"labels\": {}}, each path once
  apps-lookup       PIDs not listed are UNKNOWN; items {\"pid\", \"status\": \"KNOWN\", \"comm\",
                    \"ppid\": 0, \"uid\": null, \"starttime\": 0, \"cgroup_status\" (HOST_ROOT without a
                    cgroup_path, else KNOWN), \"cgroup_path\", \"cgroup_name\", \"orchestrator\",
                    \"labels\"}, each PID once
The file is looked at every 250 ms and read again when it changed: a file that parses is
served with a new generation (the file's, when it is higher), one that does not is reported
with its line and column and the previous data stays served. Replace the file by renaming
a complete new one over it.

Exit status: 0 stopped cleanly, 1 the provider could not start (the message says why), \
2 bad arguments.

Examples:
  netipc serve cgroups-snapshot
  netipc serve apps-lookup --run-dir /tmp/ipc --auth-token 0x1234
  netipc serve cgroups-lookup --synthetic 1000
  netipc call cgroups-snapshot --json > cgroups.json
  netipc serve cgroups-snapshot --service copy --data cgroups.json
  netipc serve increment --service bench-inc -vv")]
pub struct ServeArgs {
    /// The kind of service to provide.
    #[arg(value_name = "SERVICE-KIND")]
    kind: Kind,

    /// Service name [default: the kind's conventional name, e.g. cgroups-snapshot].
    #[arg(long, value_name = "NAME")]
    service: Option<String>,

    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Serve N generated, deterministic items instead of this machine's
    /// cgroups and processes. N is at most what fits the largest legal
    /// snapshot (a message of 4294967295 bytes); memory grows with N.
    #[arg(long, value_name = "N", value_parser = providers::synthetic::parse_count)]
    synthetic: Option<u32>,

    /// Read /proc and /sys/fs/cgroup under DIR instead of / (for tests and
    /// containers that mount the host's at another place).
    #[arg(long, value_name = "DIR", default_value = "/")]
    fs_root: PathBuf,

    /// Shortest time between two scans of the cgroup filesystem, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    rescan_ms: u64,

    /// Serve the snapshot, lookup table or apps table in this JSON file,
    /// in the shape `netipc call KIND --json` prints, and read it again
    /// whenever it changes (a file that does not parse keeps the previous
    /// data served; see below).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["synthetic", "fs_root", "rescan_ms"])]
    data: Option<PathBuf>,

    /// Handlers running at the same time (worker threads, at most 1024)
    /// [default: one per CPU, 2 to 16].
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true,
          value_parser = parse_workers)]
    workers: usize,

    /// Most client sessions open at once; clients beyond it are refused
    /// with "provider at capacity".
    #[arg(long, value_name = "N", default_value_t = netipc::service::DEFAULT_MAX_SESSIONS)]
    max_sessions: usize,

    #[arg(long, value_name = "LIST", help = PROFILES_HELP)]
    profiles: Option<Profiles>,

    /// Also stop when standard input reaches end-of-file (Ctrl-D, or the
    /// parent closing the pipe).
    #[arg(long)]
    stop_on_eof: bool,

    /// Consumers to serve: any (the default: every process that can open
    /// the endpoint), same-user-or-admin, or a comma-separated list of
    /// uid:N, gid:N and Windows SIDs; others are refused in the handshake.
    #[arg(
        long,
        value_name = "POLICY",
        default_value = "default",
        hide_default_value = true
    )]
    consumer_identity: IdentityPolicy,

    /// Who may open the endpoint: owner-only (the default; POSIX mode
    /// 0600), or group:gid:N (mode 0660 and that group; Windows:
    /// group:S-1-… in the pipe's DACL).
    #[arg(long, value_name = "ACCESS", default_value = "owner-only")]
    endpoint_access: EndpointAccess,

    /// Log the provider's events to standard error and print its
    /// statistics (a line every 10 s when they changed, all of them at
    /// the end): -v the start and stop, refusals, handler errors and
    /// panics; -vv also every session and every refusal at capacity;
    /// -vvv also every request.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// How often `-v` prints a line of statistics (when they changed).
const STATS_EVERY: Duration = Duration::from_secs(10);

/// Most worker threads `--workers` accepts (the library's own limit).
pub use netipc::service::MAX_WORKERS;

fn parse_workers(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX_WORKERS => Ok(n),
        _ => Err(format!(
            "`{s}` is not a number of worker threads from 1 to {MAX_WORKERS} (0: one per CPU)"
        )),
    }
}

/// Runs `netipc serve`.
pub fn run(args: &ServeArgs) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report("serve"),
    }
}

/// Why the provider stops.
enum Stop {
    Signal,
    Eof,
}

fn serve(args: &ServeArgs) -> Result<(), CliError> {
    log_events(args.verbose);
    let service = args
        .service
        .clone()
        .unwrap_or_else(|| args.kind.name().to_owned());
    names::validate_service_name(&service).map_err(|e| CliError::usage(e.to_string()))?;
    let data = match &args.data {
        Some(path) => Some(data::DataSource::load(args.kind, path)?),
        None => None,
    };
    // Only the last component is created (mode 0700): what serve creates
    // is exactly what it removes at the end.
    let (run_dir, state) = args.endpoint.provider_run_dir()?;
    let created_dir = state == RunDirState::Created;

    let data_kind = matches!(
        args.kind,
        Kind::CgroupsSnapshot | Kind::CgroupsLookup | Kind::AppsLookup
    );
    let providers = Providers::detect(&providers::Options {
        fs_root: args.fs_root.clone(),
        // Test services and --data need no data: skip scanning.
        synthetic: if data_kind && data.is_none() {
            args.synthetic
        } else {
            Some(0)
        },
        rescan: Duration::from_millis(args.rescan_ms),
        synthetic_if_empty: false,
    });
    let config = ServerConfig {
        auth_token: args.endpoint.auth_token,
        workers: args.workers,
        max_sessions: args.max_sessions,
        consumer_identity: args.consumer_identity,
        endpoint_access: args.endpoint_access,
        supported_profiles: args.profiles.unwrap_or_default(),
        ..ServerConfig::default()
    };
    let server = match &data {
        Some(data) => data.server(&run_dir, &service, &config),
        None => providers.server(args.kind, &run_dir, &service, &config),
    }
    .spawn()
        .map_err(|e| {
            if created_dir {
                let _ = std::fs::remove_dir(&run_dir);
            }
            match e {
                netipc::Error::AddressInUse { pid, .. } => CliError::failed(format!(
                    "another provider already serves \"{service}\" in {run_dir}{}: stop it, or choose another --service or --run-dir",
                    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
                )),
                netipc::Error::RunDir(e) => run_dir_error(&e),
                other => CliError::failed(format!("cannot start the provider: {other}")),
            }
        })?;
    let _reloading = data.as_ref().map(data::DataSource::watch);

    let (tx, rx) = mpsc::channel();
    let signal_tx = tx.clone();
    let handler = ctrlc::set_handler(move || {
        let _ = signal_tx.send(Stop::Signal);
    });
    if args.stop_on_eof {
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 256];
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.send(Stop::Eof);
        });
    }

    println!(
        "netipc serve: {} provider \"{service}\" listening on {}",
        args.kind,
        endpoint(&run_dir, &service)
    );
    println!(
        "capacity: up to {} sessions at once",
        server.stats().session_limit
    );
    if let Some(data) = &data {
        println!("data: {}", data.describe());
    } else if data_kind {
        let what = match args.kind {
            Kind::AppsLookup => format!(
                "processes from {}; cgroups from {}",
                providers.apps.describe(),
                providers.cgroups.describe()
            ),
            _ => format!(
                "{} cgroups from {}",
                providers.cgroups.table().items.len(),
                providers.cgroups.describe()
            ),
        };
        println!("data: {what}");
        for note in &providers.fallbacks {
            println!("note: {note}");
        }
    }
    match (&handler, args.stop_on_eof) {
        (Ok(()), false) => println!("Press Ctrl-C to stop."),
        (Ok(()), true) => println!("Press Ctrl-C, or close standard input, to stop."),
        (Err(_), true) => println!("Close standard input to stop."),
        (Err(e), false) => eprintln!(
            "netipc serve: warning: cannot catch Ctrl-C ({e}); stop with --stop-on-eof next time"
        ),
    }

    let why = wait_for_stop(&rx, args.verbose > 0, &|| server.stats());
    let stats = server.stats();
    server.stop();
    if created_dir {
        // Only succeeds when nothing else lives there: what others put in
        // it is theirs.
        if let Err(e) = std::fs::remove_dir(&run_dir) {
            println!("note: the run directory {run_dir} this provider created is kept: {e}");
        }
    }
    let why = match why {
        Ok(Stop::Signal) => "interrupted",
        Ok(Stop::Eof) => "standard input closed",
        Err(_) => "no way to be stopped",
    };
    println!("netipc serve: {why}: stopped \"{service}\" and removed its endpoint");
    println!(
        "served {} requests in {} sessions (at most {} at once); refused {} clients at capacity",
        stats.requests, stats.sessions_opened, stats.peak_sessions, stats.refused_at_capacity
    );
    if stats.refused_identity > 0 {
        println!(
            "refused {} clients for their identity (--consumer-identity)",
            stats.refused_identity
        );
    }
    if args.verbose > 0 {
        print!("{}", stats_report(&stats));
    }
    Ok(())
}

/// Sends the library's events to standard error: `verbose` 1 is info and
/// above, 2 debug, 3 or more trace; 0 installs nothing.
fn log_events(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let stderr = std::io::stderr();
    let installed = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(stderr.is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
    if let Err(e) = installed {
        eprintln!("netipc serve: warning: cannot log the provider's events: {e}");
    }
}

/// Waits for the reason to stop; with `report`, prints a line of
/// statistics to standard error every [`STATS_EVERY`] when they changed.
fn wait_for_stop(
    rx: &mpsc::Receiver<Stop>,
    report: bool,
    stats: &dyn Fn() -> ServerStats,
) -> Result<Stop, mpsc::RecvError> {
    if !report {
        return rx.recv();
    }
    let mut last = stats();
    loop {
        match rx.recv_timeout(STATS_EVERY) {
            Ok(stop) => return Ok(stop),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(mpsc::RecvError),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = stats();
                if now != last {
                    eprintln!("netipc serve: {}", stats_line(&now));
                    last = now;
                }
            }
        }
    }
}

/// Clients turned away for any reason.
fn refused(s: &ServerStats) -> u64 {
    s.refused_at_capacity + s.refused_identity + s.handshake_failures + s.dropped_connections
}

/// The statistics in one line.
fn stats_line(s: &ServerStats) -> String {
    format!(
        "{} sessions open ({} opened, {} clients refused); {} requests ({} failed: \
         {} handler errors, {} handler panics); {} received, {} sent",
        s.sessions,
        s.sessions_opened,
        refused(s),
        s.requests,
        s.failed_requests,
        s.handler_errors,
        s.handler_panics,
        bytes(s.bytes_received),
        bytes(s.bytes_sent),
    )
}

/// Every statistic, a few lines (printed at the end with `-v`).
fn stats_report(s: &ServerStats) -> String {
    let responses = [
        TransportStatus::OK,
        TransportStatus::BAD_ENVELOPE,
        TransportStatus::UNSUPPORTED,
        TransportStatus::LIMIT_EXCEEDED,
        TransportStatus::INTERNAL_ERROR,
    ]
    .map(|status| format!("{status} {}", s.responses.get(status)))
    .join(", ");
    format!(
        "statistics:\n\
         \x20 sessions  {} opened, at most {} at once (limit {}), {} open\n\
         \x20 refused   {} at capacity, {} for their identity, {} failed handshakes \
         ({} wrong auth token, {} timed out), {} connections dropped\n\
         \x20 requests  {}: {responses}\n\
         \x20 handlers  {} errors, {} panics (their messages are in the log above)\n\
         \x20 closed    {} sessions for protocol errors, {} for send timeouts\n\
         \x20 bytes     {} received, {} sent\n",
        s.sessions_opened,
        s.peak_sessions,
        s.session_limit,
        s.sessions,
        s.refused_at_capacity,
        s.refused_identity,
        s.handshake_failures,
        s.auth_failures,
        s.handshake_timeouts,
        s.dropped_connections,
        s.requests,
        s.handler_errors,
        s.handler_panics,
        s.protocol_errors,
        s.send_timeouts,
        bytes(s.bytes_received),
        bytes(s.bytes_sent),
    )
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.0 MiB`, `1.2 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(bytes(5 << 40), "5.0 TiB");
    }

    #[test]
    fn the_report_names_every_status() {
        let report = stats_report(&ServerStats::default());
        for status in [
            "OK 0",
            "BAD_ENVELOPE 0",
            "UNSUPPORTED 0",
            "LIMIT_EXCEEDED 0",
            "INTERNAL_ERROR 0",
        ] {
            assert!(report.contains(status), "{report}");
        }
        assert!(stats_line(&ServerStats::default()).starts_with("0 sessions open"));
    }
}
