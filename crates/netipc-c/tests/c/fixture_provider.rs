//! The Rust provider the C tests call (`cargo build -p netipc-c --example
//! c_fixture_provider`): every service `fixture.h` names, with the data it
//! describes, in one process.
//!
//! ```text
//! c_fixture_provider RUN_DIR
//! ```
//!
//! Prints `ready` once every service accepts clients and serves until its
//! standard input ends (the lane closes it), then stops every server (which
//! removes their endpoints) and exits 0. Keep the data in step with
//! `fixture.h`.

use std::error::Error;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netipc::codec::{
    AppsEntry, AppsLookupBuilder, AppsLookupRequest, CgroupStatus, CgroupsEntry,
    CgroupsLookupBuilder, CgroupsLookupRequest, CgroupsLookupStatus, PidStatus, SnapshotBuilder,
    SnapshotItem, orchestrator,
};
use netipc::netdata::netdata_hash;
use netipc::service::{HandlerError, ManagedServer, Profiles, RunningServer, ServerConfig};

/// Items of every snapshot (`FX_SNAPSHOT_ITEMS`).
const SNAPSHOT_ITEMS: u32 = 16;
/// Generation of every answer (`FX_GENERATION`).
const GENERATION: u64 = 7;
/// `systemd_enabled` of the snapshots (`FX_SYSTEMD_ENABLED`).
const SYSTEMD_ENABLED: u32 = 1;
/// Cgroups `cg-0` .. and PIDs 1 .. known to the lookups (`FX_KNOWN`).
const KNOWN: u32 = 40_000;
/// The auth token of `fx-auth` (`FX_AUTH_TOKEN`).
const AUTH_TOKEN: u64 = 0x5eed;
/// How long `fx-slow` takes to answer (`FX_SLOW_MS`).
const SLOW: Duration = Duration::from_secs(10);

/// Set when the provider stops: the slow handler stops waiting.
static STOPPING: AtomicBool = AtomicBool::new(false);

fn snapshot(b: &mut SnapshotBuilder<'_>) -> Result<(), HandlerError> {
    b.set_generation(GENERATION);
    b.set_systemd_enabled(SYSTEMD_ENABLED);
    for i in 0..SNAPSHOT_ITEMS {
        let name = format!("cg-{i}");
        let path = format!("/sys/fs/cgroup/cg-{i}");
        b.add(&SnapshotItem {
            hash: netdata_hash(name.as_bytes()),
            options: i,
            enabled: i % 2,
            name: name.as_bytes(),
            path: path.as_bytes(),
        })?;
    }
    Ok(())
}

/// The index of a known cgroup path `/sys/fs/cgroup/cg-N`.
fn known_cgroup(path: &[u8]) -> Option<u32> {
    let n: u32 = std::str::from_utf8(path.strip_prefix(b"/sys/fs/cgroup/cg-")?)
        .ok()?
        .parse()
        .ok()?;
    (n < KNOWN).then_some(n)
}

fn cgroups_lookup(
    request: &CgroupsLookupRequest<'_>,
    b: &mut CgroupsLookupBuilder<'_, '_>,
) -> Result<(), HandlerError> {
    b.set_generation(GENERATION);
    for path in request.paths() {
        match known_cgroup(path) {
            Some(n) => {
                let name = format!("cg-{n}");
                let index = n.to_string();
                let entry = CgroupsEntry::known(orchestrator::DOCKER, name.as_bytes());
                b.add(path, &entry, &[("index", index.as_str())])?;
            }
            None if path.starts_with(b"/retry/") => {
                b.add_status(path, CgroupsLookupStatus::UnknownRetryLater)?;
            }
            None => b.add_status(path, CgroupsLookupStatus::UnknownPermanent)?,
        }
    }
    Ok(())
}

fn apps_lookup(
    request: &AppsLookupRequest<'_>,
    b: &mut AppsLookupBuilder<'_>,
) -> Result<(), HandlerError> {
    b.set_generation(GENERATION);
    for pid in request.pids() {
        if pid == 0 || pid > KNOWN {
            b.add_status(pid, PidStatus::Unknown)?;
            continue;
        }
        let comm = format!("proc-{pid}");
        let cgroup = pid % SNAPSHOT_ITEMS;
        let path = format!("/sys/fs/cgroup/cg-{cgroup}");
        let name = format!("cg-{cgroup}");
        let label = pid.to_string();
        let entry = AppsEntry {
            status: PidStatus::Known,
            cgroup_status: CgroupStatus::Known,
            orchestrator: orchestrator::DOCKER,
            ppid: pid / 2,
            uid: 1000 + pid % 3,
            starttime: 100 * u64::from(pid),
            comm: comm.as_bytes(),
            cgroup_path: path.as_bytes(),
            cgroup_name: name.as_bytes(),
        };
        b.add(pid, &entry, &[("pid", label.as_str())])?;
    }
    Ok(())
}

/// The snapshot after [`SLOW`] (sooner when the provider stops).
fn slow_snapshot(b: &mut SnapshotBuilder<'_>) -> Result<(), HandlerError> {
    let until = Instant::now() + SLOW;
    while Instant::now() < until && !STOPPING.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    snapshot(b)
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(run_dir), None) = (args.next(), args.next()) else {
        return Err("usage: c_fixture_provider RUN_DIR".into());
    };
    let both = ServerConfig {
        workers: 8,
        ..ServerConfig::default()
    };
    let baseline = ServerConfig {
        supported_profiles: Profiles::BASELINE,
        ..both
    };
    let auth = ServerConfig {
        auth_token: AUTH_TOKEN,
        ..both
    };
    let dir = run_dir.as_str();
    let servers = vec![
        ManagedServer::cgroups_snapshot(dir, "fx-snapshot", &both, snapshot),
        ManagedServer::cgroups_snapshot(dir, "fx-snapshot-baseline", &baseline, snapshot),
        ManagedServer::cgroups_lookup(dir, "fx-cgroups-lookup", &both, cgroups_lookup),
        ManagedServer::cgroups_lookup(dir, "fx-cgroups-lookup-baseline", &baseline, cgroups_lookup),
        ManagedServer::apps_lookup(dir, "fx-apps-lookup", &both, apps_lookup),
        ManagedServer::apps_lookup(dir, "fx-apps-lookup-baseline", &baseline, apps_lookup),
        ManagedServer::cgroups_snapshot(dir, "fx-auth", &auth, snapshot),
        ManagedServer::cgroups_snapshot(dir, "fx-slow", &both, slow_snapshot),
        ManagedServer::cgroups_snapshot(dir, "fx-failing", &both, |_| {
            Err("the fixture's failing handler".into())
        }),
    ];
    let running = servers
        .into_iter()
        .map(ManagedServer::spawn)
        .collect::<Result<Vec<RunningServer>, _>>()?;
    let mut stdout = io::stdout();
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    let read = io::copy(&mut io::stdin().lock(), &mut io::sink());
    STOPPING.store(true, Ordering::SeqCst);
    for server in running {
        server.stop();
    }
    read?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("c_fixture_provider: {err}");
            ExitCode::FAILURE
        }
    }
}
