//! `netipc demo`: providers and consumers of the Netdata services on this
//! machine, end to end, with no configuration.
//!
//! In a private temporary run directory it starts three in-process
//! providers on their own threads (`cgroups-snapshot` and `cgroups-lookup`
//! fed by this machine's cgroups, `apps-lookup` fed by `/proc`; synthetic
//! data where the machine has none), then plays the consumers:
//!
//! 1. an L3 [`SnapshotCache`] refreshes over the negotiated transport and
//!    the summary shows counts, sample names and paths;
//! 2. one logical `cgroups-lookup` of every path gives the orchestrators;
//! 3. cache lookups by `(hash, name)` (no I/O), timed;
//! 4. `apps-lookup` of this process, its parent, PID 1 and a process that
//!    has just exited;
//! 5. the negotiated transport and the median round trip of N calls, with
//!    the baseline socket/pipe for comparison;
//!
//! then stops everything, checks that nothing was left behind and removes
//! the run directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use netipc::cache::SnapshotCache;
use netipc::codec::{CgroupsLookupStatus, PidStatus, UID_UNSET, orchestrator};
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, CgroupsSnapshotClient, ClientConfig, RunningServer,
    ServerConfig, SessionInfo,
};
use netipc::wire::Profiles;

use crate::common::{CliError, Kind, human_duration, profile_meaning, text};
use crate::providers::{self, Providers};
use crate::table::Table;

/// Arguments of `netipc demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Needs no configuration and no privileges. Exit status: 0 the demo ran and cleaned up, \
1 something failed (the message says what).")]
pub struct DemoArgs {
    /// Use N synthetic cgroups and processes instead of this machine's (at
    /// most what fits the largest legal snapshot).
    #[arg(long, value_name = "N", value_parser = crate::providers::synthetic::parse_count)]
    synthetic: Option<u32>,

    /// Read /proc and /sys/fs/cgroup under DIR instead of /.
    #[arg(long, value_name = "DIR", default_value = "/")]
    fs_root: PathBuf,

    /// Calls per round-trip measurement.
    #[arg(long, value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    rounds: u32,
}

/// `println!` that stops quietly when the reader went away (`demo | head`).
macro_rules! say {
    () => {
        say!("")
    };
    ($($arg:tt)*) => {{
        let _ = crate::common::write_stdout(&format!("{}\n", format_args!($($arg)*)));
    }};
}

/// Runs `netipc demo`.
pub fn run(args: &DemoArgs) -> ExitCode {
    match demo(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report("demo"),
    }
}

const SERVICES: [Kind; 3] = [Kind::CgroupsSnapshot, Kind::CgroupsLookup, Kind::AppsLookup];
const SAMPLES: usize = 5;

fn failed(what: &str) -> impl Fn(netipc::Error) -> CliError + '_ {
    move |e| CliError::failed(format!("{what}: {e}"))
}

/// Median of `n` timed runs of `f`.
fn median(
    n: u32,
    mut f: impl FnMut() -> Result<(), netipc::Error>,
) -> Result<Duration, netipc::Error> {
    let mut samples = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed());
    }
    samples.sort();
    Ok(samples[samples.len() / 2])
}

fn demo(args: &DemoArgs) -> Result<(), CliError> {
    let (dir, run_dir) = crate::common::temp_run_dir("netipc-demo-").map_err(CliError::failed)?;
    let providers = Providers::detect(&providers::Options {
        fs_root: args.fs_root.clone(),
        synthetic: args.synthetic,
        rescan: providers::DEFAULT_RESCAN,
        synthetic_if_empty: true,
    });
    say!(
        "netipc demo: Netdata's cgroups and apps services on this machine ({})\n",
        std::env::consts::OS
    );
    say!("run dir     {run_dir} (private, removed at the end)");
    say!(
        "data        cgroups from {}; processes from {}",
        providers.cgroups.describe(),
        providers.apps.describe()
    );
    for note in &providers.fallbacks {
        say!("note        {note}");
    }

    let mut servers: Vec<RunningServer> = Vec::new();
    for kind in SERVICES {
        let server = providers
            .server(kind, &run_dir, kind.name(), &ServerConfig::default())
            .spawn()
            .map_err(failed("cannot start a provider"))?;
        servers.push(server);
    }
    say!(
        "providers   {} listening (in-process threads)\n",
        SERVICES.map(Kind::name).join(", ")
    );

    let result = consume(&run_dir, &providers, args.rounds);
    for s in servers {
        s.stop();
    }
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    result?;
    dir.close()
        .map_err(|e| CliError::failed(format!("cannot remove the run directory {run_dir}: {e}")))?;
    if !leftovers.is_empty() {
        return Err(CliError::failed(format!(
            "the providers left files behind in {run_dir}: {}",
            leftovers.join(", ")
        )));
    }
    say!("cleanup     3 providers stopped; they left no files; run dir removed");
    Ok(())
}

/// The consumers' part; every client is closed when it returns.
fn consume(run_dir: &str, providers: &Providers, rounds: u32) -> Result<(), CliError> {
    let config = ClientConfig::default();

    // 1. L3 snapshot cache.
    let cache = SnapshotCache::new(run_dir, Kind::CgroupsSnapshot.name(), &config);
    let t = Instant::now();
    cache
        .refresh()
        .map_err(failed("the snapshot cache could not refresh"))?;
    let took = t.elapsed();
    let status = cache.status();
    let guard = cache.read();
    let enabled = guard.iter().filter(|i| i.enabled != 0).count();
    say!(
        "snapshot cache (L3) refreshed in {}: {} cgroups ({enabled} enabled), generation {}, systemd_enabled {}",
        human_duration(took),
        status.item_count,
        status.generation,
        status.systemd_enabled
    );

    // 2. One logical cgroups-lookup of every path: the orchestrators.
    let paths: Vec<Vec<u8>> = guard.iter().map(|i| i.path.to_vec()).collect();
    let mut lookup = CgroupsLookupClient::new(run_dir, Kind::CgroupsLookup.name(), &config);
    lookup
        .connect()
        .map_err(failed("cgroups-lookup: cannot connect"))?;
    let mut orch_of: BTreeMap<Vec<u8>, u16> = BTreeMap::new();
    let mut by_orch: BTreeMap<&'static str, usize> = BTreeMap::new();
    let generation;
    {
        let view = lookup
            .call(&paths)
            .map_err(failed("cgroups-lookup failed"))?;
        generation = view.generation();
        for it in view.iter() {
            let o = if it.status == CgroupsLookupStatus::Known {
                it.orchestrator
            } else {
                0
            };
            orch_of.insert(it.path.to_vec(), o);
            *by_orch
                .entry(orchestrator::name(o).unwrap_or("other"))
                .or_default() += 1;
        }
    }
    let mut by_orch: Vec<(&str, usize)> = by_orch.into_iter().collect();
    by_orch.sort_by_key(|&(name, n)| (std::cmp::Reverse(n), name));
    let counts: Vec<String> = by_orch.iter().map(|(k, v)| format!("{k} {v}")).collect();
    say!(
        "cgroups-lookup (L2) of all {} paths in one logical call (generation {generation}): {}",
        paths.len(),
        if counts.is_empty() {
            "none".to_owned()
        } else {
            counts.join(", ")
        }
    );

    // Samples: containers and VMs first, then enabled ones.
    let mut items: Vec<_> = guard.iter().collect();
    items.sort_by_key(|i| {
        let o = orch_of.get(i.path).copied().unwrap_or(0);
        (
            o == orchestrator::UNKNOWN || o == orchestrator::SYSTEMD,
            i.enabled == 0,
            o,
            i.path,
        )
    });
    // One of each orchestrator first, then the rest in order.
    let mut seen = std::collections::BTreeSet::new();
    let (mut picked, rest): (Vec<_>, Vec<_>) = items
        .into_iter()
        .partition(|i| seen.insert(orch_of.get(i.path).copied().unwrap_or(0)));
    picked.extend(rest);
    let mut items = picked;
    items.truncate(SAMPLES);
    let mut table = Table::new(&["NAME", "HASH", "ORCH", "PATH"])
        .indent(2)
        .max_width(0, 24)
        .max_width(3, 72);
    for i in &items {
        let o = orch_of.get(i.path).copied().unwrap_or(0);
        table.row(vec![
            text(i.name),
            format!("{:08x}", i.hash),
            orchestrator::name(o).unwrap_or("other").to_owned(),
            text(i.path),
        ]);
    }
    if table.len() > 0 {
        let _ = crate::common::write_stdout(&table.render());
    }

    // 3. Cache lookups by (hash, name): no I/O.
    let keys: Vec<(u32, Vec<u8>)> = items.iter().map(|i| (i.hash, i.name.to_vec())).collect();
    let found = keys
        .iter()
        .filter(|(h, n)| guard.get(*h, n).is_some())
        .count();
    let miss = "no-such-cgroup";
    let miss_found = guard
        .get(providers::simple_hash(miss.as_bytes()), miss.as_bytes())
        .is_some();
    let iterations = 20_000usize;
    let t = Instant::now();
    let mut hits = 0usize;
    for k in 0..iterations {
        if let Some((h, n)) = keys.get(k % keys.len().max(1)) {
            hits += usize::from(std::hint::black_box(guard.get(*h, n)).is_some());
        }
    }
    let per = if keys.is_empty() {
        Duration::ZERO
    } else {
        t.elapsed() / iterations as u32
    };
    drop(guard);
    say!(
        "cache lookups by (hash, name), no I/O: {found} of {} samples found, \"{miss}\" {}; {} per lookup ({hits} timed)\n",
        keys.len(),
        if miss_found { "found (!)" } else { "not found" },
        human_duration(per)
    );

    // 4. apps-lookup.
    apps(run_dir, providers, &config)?;

    // 5. Transport and round trips.
    let snapshots = rounds;
    let (info, item_count, snap_rtt) = snapshot_rtt(run_dir, &config, snapshots)?;
    let own = [std::process::id()];
    let mut apps_client = AppsLookupClient::new(run_dir, Kind::AppsLookup.name(), &config);
    apps_client
        .connect()
        .map_err(failed("apps-lookup: cannot connect"))?;
    let apps_rtt = median(rounds, || apps_client.call(&own).map(|_| ()))
        .map_err(failed("apps-lookup failed"))?;
    // What the provider itself spends per answer (reading /proc), to tell
    // it apart from the transport.
    let table = providers.cgroups.table();
    let work = median(rounds, || {
        std::hint::black_box(providers.apps.process(own[0], &table));
        Ok(())
    })
    .unwrap_or_default();
    let fast = if info.shared_memory {
        "the fast path"
    } else {
        "no shared memory: the baseline transport"
    };
    say!(
        "transport   {} ({:#04x}): {} — {fast}",
        info.profile,
        info.profile.bits(),
        profile_meaning(info.profile)
    );
    say!(
        "            negotiated limits: request {} B, response {} B",
        info.max_request_payload_bytes,
        info.max_response_payload_bytes
    );
    say!(
        "round trip  full snapshot ({item_count} items), median of {snapshots}: {}",
        human_duration(snap_rtt)
    );
    if info.shared_memory {
        let baseline = ClientConfig {
            supported_profiles: Profiles::BASELINE,
            ..config
        };
        let (_, _, slow) = snapshot_rtt(run_dir, &baseline, snapshots)?;
        say!(
            "            the same over the {} alone: {}",
            profile_meaning(Profiles::BASELINE),
            human_duration(slow)
        );
    }
    say!(
        "            apps-lookup of 1 PID, median of {rounds}: {} (of which the provider reads {}: {})",
        human_duration(apps_rtt),
        if providers.apps.is_real() {
            "/proc"
        } else {
            "its table"
        },
        human_duration(work)
    );
    cache.close();
    Ok(())
}

/// Session, item count and median round trip of `n` full snapshots.
fn snapshot_rtt(
    run_dir: &str,
    config: &ClientConfig,
    n: u32,
) -> Result<(SessionInfo, usize, Duration), CliError> {
    let mut client = CgroupsSnapshotClient::new(run_dir, Kind::CgroupsSnapshot.name(), config);
    client
        .connect()
        .map_err(failed("cgroups-snapshot: cannot connect"))?;
    // The first calls may grow the response size (reconnecting) and warm
    // up both sides: not timed.
    let items = client.call().map_err(failed("snapshot call failed"))?.len();
    for _ in 0..n.min(20) {
        let _ = client.call().map_err(failed("snapshot call failed"))?;
    }
    let rtt = median(n, || client.call().map(|_| ())).map_err(failed("snapshot call failed"))?;
    let info = client
        .session_info()
        .ok_or_else(|| CliError::failed("the snapshot client lost its session"))?;
    Ok((info, items, rtt))
}

/// `apps-lookup` of this process, its parent, PID 1 (or synthetic PIDs)
/// and a process that has just exited.
fn apps(run_dir: &str, providers: &Providers, config: &ClientConfig) -> Result<(), CliError> {
    let me = std::process::id();
    let table = providers.cgroups.table();
    let parent = providers.apps.process(me, &table).map(|p| p.ppid);
    let exited = std::env::current_exe().ok().and_then(|exe| {
        let mut child = Command::new(exe)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let pid = child.id();
        child.wait().ok()?;
        Some(pid)
    });
    let mut asks: Vec<(&str, u32)> = vec![("this process", me)];
    if let Some(ppid) = parent.filter(|&p| p != 0) {
        asks.push(("its parent", ppid));
    }
    if providers.apps.is_real() {
        asks.push(("init", 1));
    } else {
        asks.extend([("synthetic", 1), ("synthetic", 2), ("synthetic", 3)]);
    }
    if let Some(pid) = exited {
        // Synthetic data (no /proc) may list a PID the OS just gave the
        // child: ask the first PID the provider does not know instead.
        match (pid..).find(|&p| providers.apps.process(p, &table).is_none()) {
            Some(p) if p == pid => asks.push(("exited child", pid)),
            Some(p) => asks.push(("unknown pid", p)),
            None => {}
        }
    }
    let pids: Vec<u32> = asks.iter().map(|(_, p)| *p).collect();
    let mut client = AppsLookupClient::new(run_dir, Kind::AppsLookup.name(), config);
    client
        .connect()
        .map_err(failed("apps-lookup: cannot connect"))?;
    let view = client.call(&pids).map_err(failed("apps-lookup failed"))?;
    say!(
        "apps-lookup (L2) of {} PIDs, generation {}:",
        pids.len(),
        view.generation()
    );
    let mut t = Table::new(&[
        "WHO", "PID", "STATUS", "COMM", "PPID", "UID", "CGROUP", "NAME", "PATH",
    ])
    .right(&[1, 4, 5])
    .indent(2)
    .max_width(7, 20)
    .max_width(8, 48);
    for ((who, _), it) in asks.iter().zip(view.iter()) {
        let e = &it.entry;
        let known = e.status == PidStatus::Known;
        let dash = |v: String| {
            if known && !v.is_empty() {
                v
            } else {
                "-".to_owned()
            }
        };
        t.row(vec![
            (*who).to_owned(),
            it.pid.to_string(),
            e.status.spec_name().to_owned(),
            dash(text(e.comm)),
            dash(e.ppid.to_string()),
            dash(if e.uid == UID_UNSET {
                String::new()
            } else {
                e.uid.to_string()
            }),
            if known {
                e.cgroup_status.spec_name().to_owned()
            } else {
                "-".to_owned()
            },
            dash(text(e.cgroup_name)),
            dash(text(e.cgroup_path)),
        ]);
    }
    let _ = crate::common::write_stdout(&t.render());
    say!();
    Ok(())
}
