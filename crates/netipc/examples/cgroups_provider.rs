//! A provider plugin: publishes container names over `cgroups-snapshot` and
//! `cgroups-lookup`, both answered from one in-memory table.
//!
//! ```text
//! cargo run --example cgroups_provider -- [RUN_DIR] [PREFIX]
//! ```
//!
//! - `RUN_DIR`: where the endpoints live (default: the system's temporary
//!   directory). Providers and consumers must pass the identical string.
//! - `PREFIX`: the services are `<PREFIX>-snapshot` and `<PREFIX>-lookup`
//!   (default `cgroups`, giving the standard names `cgroups-snapshot` and
//!   `cgroups-lookup`).
//!
//! It prints `ready` on standard output once both services accept clients,
//! and runs until its standard input reaches end-of-file (Ctrl-D on Linux,
//! Ctrl-Z then Enter on Windows, or the parent closing the pipe). That is a
//! shutdown signal that works the same on every operating system, without
//! signal handlers. It then stops both servers, which removes everything
//! they created (sockets, shared-memory files), and exits 0.
//!
//! The same source builds and behaves the same on Linux and Windows: the
//! library picks the transport (Unix sockets or named pipes, plus shared
//! memory) for the OS it is built for.

use std::error::Error;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;

use netipc::codec::{
    CgroupsEntry, CgroupsLookupBuilder, CgroupsLookupRequest, CgroupsLookupStatus, SnapshotBuilder,
    SnapshotItem, orchestrator,
};
use netipc::netdata::{cgroup_options, netdata_hash};
use netipc::service::{HandlerError, ManagedServer, ServerConfig};

/// One container (cgroup) the plugin knows about.
struct Container {
    /// The cgroup path: the key consumers look up.
    path: &'static str,
    /// The name to publish: what consumers want to know.
    name: &'static str,
    /// Who manages it (an [`orchestrator`] value).
    orchestrator: u16,
    /// Extra `key = value` metadata, sent with lookup answers.
    labels: &'static [(&'static str, &'static str)],
}

/// Everything the plugin publishes. Both servers answer from it.
///
/// The table is fixed here. A plugin whose table changes would keep it
/// behind a `RwLock` (or an `ArcSwap`) and bump `generation` on every
/// change: consumers compare generations to know that their copy is stale.
/// Handlers run on the servers' session threads, several at once, so
/// whatever they read must be shareable (`Send + Sync`).
struct ContainerTable {
    generation: u64,
    /// Passed through to snapshot consumers untouched.
    systemd_enabled: u32,
    containers: Vec<Container>,
}

impl ContainerTable {
    fn example() -> Self {
        Self {
            generation: 1,
            systemd_enabled: 1,
            containers: vec![
                Container {
                    path: "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
                    name: "nginx",
                    orchestrator: orchestrator::DOCKER,
                    labels: &[("image", "nginx:1.27")],
                },
                Container {
                    path: "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
                    name: "checkout-api",
                    orchestrator: orchestrator::K8S,
                    labels: &[("namespace", "shop"), ("pod", "checkout-api-7d9f")],
                },
                Container {
                    path: "/sys/fs/cgroup/system.slice/netdata.service",
                    name: "netdata",
                    orchestrator: orchestrator::SYSTEMD,
                    labels: &[],
                },
            ],
        }
    }

    fn find(&self, path: &[u8]) -> Option<&Container> {
        // A real table would index paths in a HashMap; three entries do not
        // need one.
        self.containers.iter().find(|c| c.path.as_bytes() == path)
    }

    /// Answers `cgroups-snapshot`: the whole table, every time.
    fn snapshot(&self, builder: &mut SnapshotBuilder<'_>) -> Result<(), HandlerError> {
        builder.set_generation(self.generation);
        builder.set_systemd_enabled(self.systemd_enabled);
        for c in &self.containers {
            // An error here means the response buffer is full: the library
            // then answers LIMIT_EXCEEDED and the client retries with a
            // larger buffer, so there is nothing to handle by hand.
            builder.add(&SnapshotItem {
                // The item's identity hash: the library carries it
                // untouched, and Netdata's consumers look items up by
                // Netdata's own hash, so a provider uses that one.
                hash: netdata_hash(c.name.as_bytes()),
                // options and enabled are opaque to the library; Netdata's
                // cgroups plugin sends its own flags there (`cgroup_options`).
                options: cgroup_options::IS_UNIFIED,
                enabled: 1,
                name: c.name.as_bytes(),
                path: c.path.as_bytes(),
            })?;
        }
        Ok(())
    }

    /// Answers `cgroups-lookup`: exactly one item per requested path, in
    /// request order.
    fn lookup(
        &self,
        request: &CgroupsLookupRequest<'_>,
        builder: &mut CgroupsLookupBuilder<'_, '_>,
    ) -> Result<(), HandlerError> {
        builder.set_generation(self.generation);
        for path in request.paths() {
            match self.find(path) {
                Some(c) => {
                    let entry = CgroupsEntry::known(c.orchestrator, c.name.as_bytes());
                    builder.add(path, &entry, c.labels)?;
                }
                // Not known (yet): a cgroup may show up after the consumer
                // saw it, so ask it to retry later. Use `UnknownPermanent`
                // for keys that can never be resolved.
                None => builder.add_status(path, CgroupsLookupStatus::UnknownRetryLater)?,
            }
            // When the answer outgrows the response buffer, the builder
            // turns the remaining items into PAYLOAD_EXCEEDED placeholders
            // by itself and the client asks for them again: no special case.
        }
        Ok(())
    }
}

const USAGE: &str = "usage: cgroups_provider [RUN_DIR] [PREFIX]";

/// `[RUN_DIR] [PREFIX]`, with their defaults.
fn parse_args() -> Result<(String, String), String> {
    let mut args = std::env::args().skip(1);
    let run_dir = match args.next() {
        // `-h`, `--help` and any other option: show how to call us.
        Some(option) if option.starts_with('-') => return Err(USAGE.to_owned()),
        Some(dir) => dir,
        // `run_dir` is a string because it is part of the endpoint name on
        // every OS; a temporary directory that is not UTF-8 must be passed
        // explicitly.
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
    let (snapshot_service, lookup_service) =
        (format!("{prefix}-snapshot"), format!("{prefix}-lookup"));

    let table = Arc::new(ContainerTable::example());
    // Defaults: baseline transport plus shared memory, 8 concurrent
    // sessions per service, payload sizes that grow as needed. Set
    // `auth_token` to the secret your consumers use.
    let config = ServerConfig::default();

    // A handler is a closure; its argument types come from the
    // constructor. Each gets its own handle on the table.
    let snapshot = ManagedServer::cgroups_snapshot(&run_dir, &snapshot_service, &config, {
        let table = Arc::clone(&table);
        move |builder| table.snapshot(builder)
    });
    let lookup = ManagedServer::cgroups_lookup(&run_dir, &lookup_service, &config, {
        let table = Arc::clone(&table);
        move |request, builder| table.lookup(request, builder)
    });

    // `spawn` creates the endpoint before it returns (so "address in use"
    // and similar errors surface here) and serves on a thread of its own.
    let snapshot = snapshot.spawn()?;
    let lookup = lookup.spawn()?;

    eprintln!(
        "cgroups_provider: serving `{snapshot_service}` and `{lookup_service}` in {run_dir}; \
         close standard input to stop"
    );
    // Tell whoever started us (a terminal user or a supervising process)
    // that clients can connect now.
    let mut stdout = io::stdout();
    writeln!(stdout, "ready")?;
    stdout.flush()?;

    // Serve until standard input ends; its contents are ignored.
    let read = io::copy(&mut io::stdin().lock(), &mut io::sink());

    // `stop` ends every session, removes the endpoints and waits for the
    // server threads. Dropping a `RunningServer` does the same.
    lookup.stop();
    snapshot.stop();
    eprintln!("cgroups_provider: stopped");
    read?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cgroups_provider: {err}");
            ExitCode::FAILURE
        }
    }
}
