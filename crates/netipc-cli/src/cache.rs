//! `netipc cache [SERVICE]`: the L3 snapshot cache against any
//! `cgroups-snapshot` provider. It refreshes the cache (waiting for the
//! provider if asked), then prints its status and either every cached item
//! or the items asked for by `--name` (looked up by
//! `(netdata_hash(name), name)` as Netdata's consumers do) and `--hash`.
//! `--watch` keeps refreshing and prints what changed ([`watch`]).

mod watch;

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use netipc::cache::{CacheGuard, CacheStatus, CachedItem, SnapshotCache};
use netipc::netdata::{CGROUPS_SNAPSHOT_SERVICE, netdata_hash};
use netipc::service::SessionInfo;
use netipc::transport::names;
use serde::Serialize;

use crate::call::json::SnapshotEntry;
use crate::common::{
    CliError, ConsumerArgs, EXIT_NO_PROVIDER, EndpointArgs, Kind, call_failed, human_duration,
    json_text, write_stdout,
};
use crate::table::Table;

/// Arguments of `netipc cache`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
--watch refreshes every --interval-ms until Ctrl-C (or --count refreshes) and prints one
line per refresh: its status, and what changed since the last good snapshot (generation,
items added, removed and changed; with --name/--hash only those items), or why it failed
and, once it works again, the recovery. A failed refresh keeps the last good snapshot.
With --json each refresh is one JSON object on its own line.

Exit status: 0 refreshed (and every --name/--hash found; with --watch: stopped by Ctrl-C,
or the last of --count refreshes worked), 1 a refresh failed or a --name/--hash is not
cached, 2 bad arguments, 3 no provider is running.

Examples:
  netipc cache
  netipc cache --name docker-1a2b --name system.slice_ssh.service
  netipc cache my-snapshots --hash 0x67691e71 --json
  netipc cache --wait-ms 10000 --count 5 --interval-ms 1000
  netipc cache --watch --interval-ms 500")]
pub struct CacheArgs {
    /// Service name of the snapshot provider [default: cgroups-snapshot].
    #[arg(value_name = "SERVICE")]
    service: Option<String>,

    /// The same as SERVICE (the older spelling).
    #[arg(
        long = "service",
        value_name = "NAME",
        hide = true,
        conflicts_with = "service"
    )]
    service_option: Option<String>,

    /// Look a cgroup name up as Netdata's consumers do, by
    /// (netdata_hash(NAME), NAME); repeat for more [default: print every
    /// cached item].
    #[arg(short, long = "name", value_name = "NAME")]
    names: Vec<String>,

    /// Print the cached items with this hash (decimal, or hex with 0x:
    /// the HASH column's 67691e71 is 0x67691e71); repeat for more.
    #[arg(long = "hash", value_name = "HASH", value_parser = parse_hash)]
    hashes: Vec<u32>,

    #[command(flatten)]
    endpoint: EndpointArgs,

    /// How long to wait for the provider to come up before the first
    /// refresh fails, in ms (0: one attempt).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    wait_ms: u64,

    /// Refreshes to run; each prints one status line [default: 1, with
    /// --watch until Ctrl-C].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Pause between refreshes, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    interval_ms: u64,

    /// Keep refreshing and print what changed (see below).
    #[arg(short, long)]
    watch: bool,

    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    consumer: ConsumerArgs,
}

/// Parses a snapshot item hash: decimal or `0x` hex, 32 bits.
fn parse_hash(s: &str) -> Result<u32, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| format!("`{s}` is not a 32-bit hash (decimal, or hex with 0x)"))
}

/// Runs `netipc cache`.
pub fn run(args: &CacheArgs) -> ExitCode {
    let result = Setup::new(args).and_then(|setup| {
        if args.watch {
            watch::run(args, &setup)
        } else {
            once(args, &setup)
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => e.report("cache"),
    }
}

/// What both modes start from: the cache of the service and how to
/// describe its errors.
pub struct Setup {
    run_dir: String,
    service: String,
    cache: SnapshotCache,
}

impl Setup {
    fn new(args: &CacheArgs) -> Result<Self, CliError> {
        let run_dir = args
            .endpoint
            .consumer_run_dir(&args.consumer.provider_identity)?;
        let service = args
            .service
            .clone()
            .or_else(|| args.service_option.clone())
            .unwrap_or_else(|| CGROUPS_SNAPSHOT_SERVICE.to_owned());
        names::validate_service_name(&service).map_err(|e| CliError::usage(e.to_string()))?;
        let config = args.consumer.client_config(args.endpoint.auth_token);
        let cache = SnapshotCache::new(&run_dir, &service, &config);
        Ok(Self {
            run_dir,
            service,
            cache,
        })
    }

    /// A failed refresh as an error that says what to do. A SERVICE that
    /// is not running may be a cgroup name given the way older versions
    /// took them: the message says how names are looked up now.
    fn failed(&self, e: &netipc::Error) -> CliError {
        let mut err = call_failed(Kind::CgroupsSnapshot, &self.run_dir, &self.service, e);
        if err.code == EXIT_NO_PROVIDER && self.service != CGROUPS_SNAPSHOT_SERVICE {
            err.message
                .push_str(" (to look a cgroup up by name, pass --name NAME)");
        }
        err
    }

    /// The first refresh waits up to `wait_ms` for the provider.
    fn refresh(&self, first: bool, wait_ms: u64) -> netipc::Result<()> {
        if first && wait_ms > 0 {
            self.cache.wait_ready(Duration::from_millis(wait_ms))
        } else {
            self.cache.refresh()
        }
    }
}

/// Microseconds since `start`, for the JSON output.
fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// `--count` refreshes, then the status and the items.
fn once(args: &CacheArgs, setup: &Setup) -> Result<ExitCode, CliError> {
    let cache = &setup.cache;
    let mut refreshes = Vec::new();
    for n in 0..args.count.unwrap_or(1) {
        if n > 0 {
            thread::sleep(Duration::from_millis(args.interval_ms));
        }
        let start = Instant::now();
        let result = setup.refresh(n == 0, args.wait_ms);
        let took_us = micros_since(start);
        let status = cache.status();
        refreshes.push(match result {
            Ok(()) => Refresh::Done {
                ok: true,
                took_us,
                generation: status.generation,
                items: status.item_count,
                systemd_enabled: status.systemd_enabled,
                shared_memory: cache.session_info().is_some_and(|s| s.shared_memory),
            },
            // A later failure keeps the last good copy: report it and go on.
            Err(e) if status.populated => Refresh::Failed {
                ok: false,
                took_us,
                kept_generation: status.generation,
                error: setup.failed(&e).message,
            },
            Err(e) => return Err(setup.failed(&e)),
        });
    }
    let guard = cache.read();
    let found = select(&guard, &args.names, &args.hashes);
    let status = StatusJson::new(&cache.status(), cache.session_info());
    let out = if args.json {
        json_text(&CacheJson {
            service: &setup.service,
            run_dir: &setup.run_dir,
            refreshes: &refreshes,
            status,
            items: found.items.iter().map(Into::into).collect(),
            missing: &found.missing_names,
            missing_hashes: &found.missing_hashes,
        })
    } else {
        let mut out: String = refreshes.iter().map(Refresh::line).collect();
        out.push_str(&format!(
            "cache of \"{}\" in {}: {}\n",
            setup.service,
            setup.run_dir,
            status.line()
        ));
        out.push_str(&items_table(&found.items).render());
        if !found.missing_names.is_empty() {
            out.push_str(&format!("not cached: {}\n", found.missing_names.join(", ")));
        }
        if !found.missing_hashes.is_empty() {
            let hashes: Vec<String> = found
                .missing_hashes
                .iter()
                .map(|h| format!("{h:#010x}"))
                .collect();
            out.push_str(&format!("no item has hash {}\n", hashes.join(", ")));
        }
        out
    };
    write_stdout(&out)?;
    Ok(if found.all_found() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Cached items as a table.
fn items_table(items: &[CachedItem<'_>]) -> Table {
    let mut table = Table::new(&["HASH", "OPTIONS", "ENABLED", "NAME", "PATH"]).right(&[1, 2]);
    for it in items {
        table.row(SnapshotEntry::from(it).cells());
    }
    table
}

/// How one refresh went (`ok` tells which in JSON).
#[derive(Serialize)]
#[serde(untagged)]
enum Refresh {
    Done {
        ok: bool,
        took_us: u64,
        generation: u64,
        items: usize,
        systemd_enabled: u32,
        shared_memory: bool,
    },
    /// Failed after an earlier success: the cache kept `kept_generation`.
    Failed {
        ok: bool,
        took_us: u64,
        kept_generation: u64,
        error: String,
    },
}

/// "shared memory" or "the socket/pipe".
fn transport(shared_memory: bool) -> &'static str {
    if shared_memory {
        "shared memory"
    } else {
        "the socket/pipe"
    }
}

impl Refresh {
    fn line(&self) -> String {
        match self {
            Self::Done {
                took_us,
                generation,
                items,
                systemd_enabled,
                shared_memory,
                ..
            } => format!(
                "refreshed in {}: generation {generation}, {items} cgroups, systemd_enabled {systemd_enabled} (over {})\n",
                human_duration(Duration::from_micros(*took_us)),
                transport(*shared_memory)
            ),
            Self::Failed {
                took_us,
                kept_generation,
                error,
                ..
            } => format!(
                "refresh failed after {}, keeping generation {kept_generation}: {error}\n",
                human_duration(Duration::from_micros(*took_us))
            ),
        }
    }
}

/// The cache's state and counters, and the session's transport.
#[derive(Serialize)]
struct StatusJson {
    populated: bool,
    generation: u64,
    items: usize,
    systemd_enabled: u32,
    refreshes_ok: u32,
    refreshes_failed: u32,
    /// The connection's state (`ready`, `no provider found`, ...).
    connection: &'static str,
    /// The transport profile of the session (`None` when not connected).
    profile: Option<String>,
    shared_memory: bool,
    max_response_payload_bytes: Option<u32>,
    /// Age of the published snapshot in ms.
    age_ms: Option<u64>,
}

impl StatusJson {
    fn new(status: &CacheStatus, session: Option<SessionInfo>) -> Self {
        Self {
            populated: status.populated,
            generation: status.generation,
            items: status.item_count,
            systemd_enabled: status.systemd_enabled,
            refreshes_ok: status.refresh_success_count,
            refreshes_failed: status.refresh_failure_count,
            connection: status.connection_state.describe(),
            profile: session.map(|s| s.profile.to_string()),
            shared_memory: session.is_some_and(|s| s.shared_memory),
            max_response_payload_bytes: session.map(|s| s.max_response_payload_bytes),
            age_ms: status
                .last_refresh
                .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)),
        }
    }

    fn line(&self) -> String {
        let session = match (&self.profile, self.max_response_payload_bytes) {
            (Some(profile), Some(size)) => format!(
                " over {} ({profile}, responses up to {size} bytes)",
                transport(self.shared_memory)
            ),
            _ => String::new(),
        };
        format!(
            "generation {}, {} cgroups, systemd_enabled {}; {} refreshes ok, {} failed; connection {}{session}",
            self.generation,
            self.items,
            self.systemd_enabled,
            self.refreshes_ok,
            self.refreshes_failed,
            self.connection
        )
    }
}

/// What `netipc cache --json` prints.
#[derive(Serialize)]
struct CacheJson<'a> {
    service: &'a str,
    run_dir: &'a str,
    refreshes: &'a [Refresh],
    status: StatusJson,
    items: Vec<SnapshotEntry>,
    /// `--name`s that are not cached.
    missing: &'a [String],
    /// `--hash`es no cached item has.
    missing_hashes: &'a [u32],
}

/// The items asked for and what was not found.
struct Found<'g> {
    items: Vec<CachedItem<'g>>,
    missing_names: Vec<String>,
    missing_hashes: Vec<u32>,
}

impl Found<'_> {
    fn all_found(&self) -> bool {
        self.missing_names.is_empty() && self.missing_hashes.is_empty()
    }
}

/// The cached items: all of them when no names or hashes are given, else
/// those of `names` (one lookup each, in order) followed by every item of
/// each of `hashes`.
fn select<'g>(guard: &'g CacheGuard, names: &[String], hashes: &[u32]) -> Found<'g> {
    let mut found = Found {
        items: Vec::new(),
        missing_names: Vec::new(),
        missing_hashes: Vec::new(),
    };
    if names.is_empty() && hashes.is_empty() {
        found.items = guard.iter().collect();
        return found;
    }
    for name in names {
        match guard.get(netdata_hash(name.as_bytes()), name.as_bytes()) {
            Some(item) => found.items.push(item),
            None => found.missing_names.push(name.clone()),
        }
    }
    for &hash in hashes {
        let before = found.items.len();
        found
            .items
            .extend(guard.iter().filter(|it| it.hash == hash));
        if found.items.len() == before {
            found.missing_hashes.push(hash);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_parse_as_decimal_or_hex() {
        assert_eq!(parse_hash("0x67691e71"), Ok(0x6769_1e71));
        assert_eq!(parse_hash("42"), Ok(42));
        assert!(parse_hash("67691e71").is_err());
        assert!(parse_hash("0x1_0000_0000").is_err());
    }
}
