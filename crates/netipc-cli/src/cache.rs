//! `netipc cache`: the L3 snapshot cache against any `cgroups-snapshot`
//! provider: refresh it (waiting for the provider if asked), then print
//! its status and either every cached item or the items of the given
//! names, looked up by `(netdata_hash(name), name)` as Netdata's
//! consumers do.

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use netipc::cache::{CacheGuard, CachedItem, SnapshotCache};
use netipc::netdata::{CGROUPS_SNAPSHOT_SERVICE, netdata_hash};
use netipc::transport::names;
use serde::Serialize;

use crate::call::json::SnapshotEntry;
use crate::common::{
    CliError, ConsumerArgs, EndpointArgs, Kind, call_failed, human_duration, json_text,
    write_stdout,
};
use crate::table::Table;

/// Arguments of `netipc cache`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 refreshed (and every NAME found), 1 a refresh failed or a NAME is not cached,
2 bad arguments, 3 no provider is running.

Examples:
  netipc cache
  netipc cache docker-1a2b system.slice_ssh.service
  netipc cache --wait-ms 10000 --count 5 --interval-ms 1000")]
pub struct CacheArgs {
    /// Cgroup names to look up [default: print every cached item].
    #[arg(value_name = "NAME")]
    names: Vec<String>,

    /// Service name of the snapshot provider.
    #[arg(long, value_name = "NAME", default_value = CGROUPS_SNAPSHOT_SERVICE)]
    service: String,

    #[command(flatten)]
    endpoint: EndpointArgs,

    /// How long to wait for the provider to come up before the first
    /// refresh fails, in ms (0: one attempt).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    wait_ms: u64,

    /// Refreshes to run; each prints one status line.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,

    /// Pause between refreshes, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    interval_ms: u64,

    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    consumer: ConsumerArgs,
}

/// Runs `netipc cache`.
pub fn run(args: &CacheArgs) -> ExitCode {
    match cache(args) {
        Ok((out, code)) => match write_stdout(&out) {
            Ok(()) => code,
            Err(e) => e.report("cache"),
        },
        Err(e) => e.report("cache"),
    }
}

fn cache(args: &CacheArgs) -> Result<(String, ExitCode), CliError> {
    let run_dir = args
        .endpoint
        .consumer_run_dir(&args.consumer.provider_identity)?;
    names::validate_service_name(&args.service).map_err(|e| CliError::usage(e.to_string()))?;
    let config = args.consumer.client_config(args.endpoint.auth_token);
    let failed = |e: &netipc::Error| call_failed(Kind::CgroupsSnapshot, &run_dir, &args.service, e);
    let cache = SnapshotCache::new(&run_dir, &args.service, &config);
    let mut refreshes = Vec::new();
    for n in 0..args.count {
        if n > 0 {
            thread::sleep(Duration::from_millis(args.interval_ms));
        }
        let start = Instant::now();
        let result = if n == 0 && args.wait_ms > 0 {
            cache.wait_ready(Duration::from_millis(args.wait_ms))
        } else {
            cache.refresh()
        };
        let took_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
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
                error: failed(&e).message,
            },
            Err(e) => return Err(failed(&e)),
        });
    }
    let guard = cache.read();
    let (items, missing) = select(&guard, &args.names);
    let out = if args.json {
        json_text(&CacheJson {
            service: &args.service,
            run_dir: &run_dir,
            refreshes: &refreshes,
            items: items.iter().map(Into::into).collect(),
            missing: &missing,
        })
    } else {
        let mut out: String = refreshes.iter().map(Refresh::line).collect();
        let mut table = Table::new(&["HASH", "OPTIONS", "ENABLED", "NAME", "PATH"]).right(&[1, 2]);
        for it in &items {
            table.row(SnapshotEntry::from(it).cells());
        }
        out.push_str(&table.render());
        if !missing.is_empty() {
            out.push_str(&format!("not cached: {}\n", missing.join(", ")));
        }
        out
    };
    let code = if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    Ok((out, code))
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
                if *shared_memory {
                    "shared memory"
                } else {
                    "the socket/pipe"
                }
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

/// What `netipc cache --json` prints.
#[derive(Serialize)]
struct CacheJson<'a> {
    service: &'a str,
    run_dir: &'a str,
    refreshes: &'a [Refresh],
    items: Vec<SnapshotEntry>,
    missing: &'a [String],
}

/// The cached items (all, or those of `names` in order) and the names
/// that are not cached.
fn select<'g>(guard: &'g CacheGuard, names: &[String]) -> (Vec<CachedItem<'g>>, Vec<String>) {
    if names.is_empty() {
        return (guard.iter().collect(), Vec::new());
    }
    let mut items = Vec::new();
    let mut missing = Vec::new();
    for name in names {
        match guard.get(netdata_hash(name.as_bytes()), name.as_bytes()) {
            Some(item) => items.push(item),
            None => missing.push(name.clone()),
        }
    }
    (items, missing)
}
