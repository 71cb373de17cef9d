//! The scenario table: every benchmark row, the limit row it is compared
//! to, how the client drives it and how the server answers it.
//!
//! Adding a scenario is adding a [`Scenario`] to [`SCENARIOS`]; a new way
//! of talking (snapshot, lookup, cache) adds a [`Drive`] variant (and a
//! client transport for it in `client.rs`) and, when the server has to
//! answer differently, a [`ServerKind`] variant (served in `server.rs`).

use super::batch::BatchSize;

/// How the server process answers a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// No protocol: raw packets over the transport's socket, echoed back.
    RawEcho,
    /// No protocol: two counters in a shared file (`testing::RawShm`); the
    /// server waits for each ping value and posts it back as the pong.
    RawShm,
    /// A NetIPC L1 server (`Listener` and `ServerSession`) answering
    /// INCREMENT (single and batch) requests with `value + 1` and, when the
    /// scenario is a snapshot one, CGROUPS_SNAPSHOT requests with the
    /// scenario's items, encoded on every request. It offers shared memory
    /// when the scenario's data plane is [`Plane::Shm`].
    L1,
    /// An L2 `ManagedServer::increment` answering `value + 1`.
    L2Increment,
    /// An L2 `ManagedServer::cgroups_snapshot` whose handler adds the
    /// scenario's items on every request.
    L2Snapshot,
    /// An L2 `ManagedServer::cgroups_lookup` answering from the lookup
    /// table (`lookup.rs`).
    L2CgroupsLookup,
    /// An L2 `ManagedServer::apps_lookup` answering from the lookup table.
    L2AppsLookup,
    /// No server: the row runs in the client alone.
    None,
}

impl ServerKind {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::RawEcho => "raw echo",
            Self::RawShm => "raw SHM flip",
            Self::L1 => "L1 INCREMENT",
            Self::L2Increment => "L2 INCREMENT",
            Self::L2Snapshot => "L2 CGROUPS_SNAPSHOT",
            Self::L2CgroupsLookup => "L2 CGROUPS_LOOKUP",
            Self::L2AppsLookup => "L2 APPS_LOOKUP",
            Self::None => "none (in the client)",
        }
    }
}

/// Where the bytes of a scenario travel, which decides how its two sides
/// wait for each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// Packets on the transport socket; a waiting side blocks in `poll`.
    Socket,
    /// A shared-memory region (the socket only carries the handshake and
    /// tells a dead peer); a waiting side spins briefly, then sleeps on a
    /// futex.
    Shm,
    /// The client's own memory: in-process lookups, no I/O and nothing to
    /// wait for (a server, if any, only fills the client's cache before
    /// the row starts).
    Memory,
}

impl Plane {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Shm => "shm",
            Self::Memory => "memory",
        }
    }

    /// How a side waits for the other, as shown in the `wait` column.
    pub fn wait(self) -> &'static str {
        match self {
            Self::Socket => WAIT_POLL,
            Self::Shm => WAIT_SPIN_SLEEP,
            Self::Memory => WAIT_NONE,
        }
    }
}

/// `wait` of socket rows: the thread blocks in `poll`, no spinning.
pub const WAIT_POLL: &str = "poll";
/// `wait` of SHM rows: a short spin, then a sleep (futex on Linux, event on
/// Windows); the publisher wakes the peer only when it sleeps.
pub const WAIT_SPIN_SLEEP: &str = "spin+sleep";
/// `wait` of an SHM session whose publisher wakes on every message (a
/// server of another implementation on Linux).
pub const WAIT_SPIN_SLEEP_ALWAYS_WAKE: &str = "spin+sleep (always wakes)";
/// `wait` of an SHM session that never sleeps (Windows SHM_BUSYWAIT).
pub const WAIT_SPIN: &str = "spin";
/// `wait` of in-process rows: no I/O, no peer.
pub const WAIT_NONE: &str = "none";

/// The method of a lookup scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// CGROUPS_LOOKUP: cgroup paths to names and labels.
    Cgroups,
    /// APPS_LOOKUP: PIDs to process and cgroup metadata.
    Apps,
}

impl Lookup {
    /// The method's name in reports.
    pub fn method(self) -> &'static str {
        match self {
            Self::Cgroups => "CGROUPS_LOOKUP",
            Self::Apps => "APPS_LOOKUP",
        }
    }
}

/// Items per request of an INCREMENT scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// A single (non-batch) request.
    Single,
    /// Batch requests of `--batch` items, this many when it is not given.
    Option(BatchSize),
}

/// How the client drives a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// An 8-byte raw packet, echoed back (no protocol).
    RawPacket,
    /// A ping counter posted in shared memory, waited for on the pong lane
    /// (no protocol).
    RawShm,
    /// L1 `ClientSession` INCREMENT requests.
    Increment(Batch),
    /// L1 `ClientSession` CGROUPS_SNAPSHOT requests answered with this many
    /// items; every item of every answer is read.
    Snapshot(u32),
    /// L2 `IncrementClient::call`.
    L2Increment,
    /// L2 `CgroupsSnapshotClient::call` answered with this many items;
    /// every item of every answer is read.
    L2Snapshot(u32),
    /// L1 `ClientSession` lookup requests of this many keys (one request
    /// per logical call); every answered item is read.
    Lookup(Lookup, u32),
    /// L2 `CgroupsLookupClient::call` / `AppsLookupClient::call` of this
    /// many keys; every answered item is read.
    L2Lookup(Lookup, u32),
    /// L3 `SnapshotCache` lookups by `(hash, name)`, this many per round
    /// trip, in a cache filled once from an L2 snapshot server of
    /// [`CACHE_ITEMS`] items. No I/O while measured.
    CacheLookup(u32),
    /// The same lookups in a `std::collections::HashMap` built in the
    /// client (no server at all).
    MapLookup(u32),
}

/// One benchmark row.
#[derive(Debug)]
pub struct Scenario {
    /// Name on the command line and in reports.
    pub name: &'static str,
    /// One line saying what is measured.
    pub summary: &'static str,
    /// The limit row this row is compared to; `None` for a limit row.
    pub limit: Option<&'static str>,
    /// The L1 row an L2 row is also compared to (the same exchange without
    /// the L2 layer); `None` for the other rows.
    pub l1: Option<&'static str>,
    /// How the server answers.
    pub server: ServerKind,
    /// Where the bytes travel (and so how both sides wait).
    pub plane: Plane,
    /// How the client drives it.
    pub drive: Drive,
    /// Requests kept in flight (1 = ping-pong).
    pub depth: u32,
}

/// The default `--batch` of `uds-batch-pingpong` and `shm-batch-pingpong`.
pub const PINGPONG_BATCH: BatchSize = BatchSize::Fixed(64);
/// The default `--batch` of `uds-pipeline-batch`: the reference bench
/// matrix's pipeline+batch row draws 2 to 1000 items per batch.
pub const PIPELINE_BATCH: BatchSize = BatchSize::Random { min: 2, max: 1000 };

/// The limit row of every row on the socket.
const RAW_LIMIT: &str = "raw-packet-pingpong";
/// The limit row of every row over shared memory.
const RAW_SHM_LIMIT: &str = "raw-shm-pingpong";

/// Items of the one-cgroup snapshot rows: the ping-pong every API has (the
/// C API has no INCREMENT): a 4-byte request, a 167-byte answer.
const ONE_SNAPSHOT: u32 = 1;
/// Items of the small snapshot rows.
const SMALL_SNAPSHOT: u32 = 16;
/// Items of the large snapshot rows.
const LARGE_SNAPSHOT: u32 = 1000;

/// The limit row of the in-process lookup rows.
const MAP_LIMIT: &str = "raw-hashmap-lookup";
/// Keys of the small lookup rows: one key per logical call (latency).
const SMALL_LOOKUP: u32 = 1;
/// Keys of the large lookup rows: a batch per logical call (throughput).
const LARGE_LOOKUP: u32 = 64;
/// Items of the snapshot a cache row's cache holds.
pub const CACHE_ITEMS: u32 = LARGE_SNAPSHOT;
/// Lookups per round trip of the in-process rows (one round trip is a
/// batch, so the latency columns stay above the clock's resolution).
const CACHE_LOOKUPS: u32 = 1000;

/// A row of the socket group (compared to [`RAW_LIMIT`]) with depth 1.
const fn socket(
    name: &'static str,
    summary: &'static str,
    l1: Option<&'static str>,
    server: ServerKind,
    drive: Drive,
) -> Scenario {
    Scenario {
        name,
        summary,
        limit: Some(RAW_LIMIT),
        l1,
        server,
        plane: Plane::Socket,
        drive,
        depth: 1,
    }
}

/// A row of the shared-memory group (compared to [`RAW_SHM_LIMIT`]).
const fn shm(
    name: &'static str,
    summary: &'static str,
    l1: Option<&'static str>,
    server: ServerKind,
    drive: Drive,
) -> Scenario {
    Scenario {
        name,
        summary,
        limit: Some(RAW_SHM_LIMIT),
        l1,
        server,
        plane: Plane::Shm,
        drive,
        depth: 1,
    }
}

/// The L1 row of a lookup over the socket or shared memory.
const fn lookup_l1(
    name: &'static str,
    summary: &'static str,
    plane: Plane,
    kind: Lookup,
    keys: u32,
) -> Scenario {
    let row = match plane {
        Plane::Shm => shm(
            name,
            summary,
            None,
            ServerKind::L1,
            Drive::Lookup(kind, keys),
        ),
        _ => socket(
            name,
            summary,
            None,
            ServerKind::L1,
            Drive::Lookup(kind, keys),
        ),
    };
    Scenario { plane, ..row }
}

/// The L2 row of a lookup, compared to its L1 row `l1`.
const fn lookup_l2(
    name: &'static str,
    summary: &'static str,
    l1: &'static str,
    plane: Plane,
    kind: Lookup,
    keys: u32,
) -> Scenario {
    let server = match kind {
        Lookup::Cgroups => ServerKind::L2CgroupsLookup,
        Lookup::Apps => ServerKind::L2AppsLookup,
    };
    let drive = Drive::L2Lookup(kind, keys);
    let row = match plane {
        Plane::Shm => shm(name, summary, Some(l1), server, drive),
        _ => socket(name, summary, Some(l1), server, drive),
    };
    Scenario { plane, ..row }
}

/// Every scenario, in report (and run) order: one group per data plane,
/// its limit row first, every L2 row right after its L1 row (so the two run
/// one after the other, and a noisy machine has less time to change its
/// mind between them).
///
/// SHM sessions carry one request at a time, so there are no SHM pipeline
/// rows. L2 calls are synchronous, so every L2 row is a ping-pong.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: RAW_LIMIT,
        summary: "LIMIT: raw 8-byte packet echo over the transport socket, no protocol",
        limit: None,
        l1: None,
        server: ServerKind::RawEcho,
        plane: Plane::Socket,
        drive: Drive::RawPacket,
        depth: 1,
    },
    socket(
        "uds-pingpong",
        "L1 session, one INCREMENT request in flight",
        None,
        ServerKind::L1,
        Drive::Increment(Batch::Single),
    ),
    socket(
        "l2-increment",
        "L2 IncrementClient::call against a ManagedServer::increment, baseline transport",
        Some("uds-pingpong"),
        ServerKind::L2Increment,
        Drive::L2Increment,
    ),
    socket(
        "uds-batch-pingpong",
        "L1 session, one batch of --batch INCREMENT items in flight (default 64)",
        None,
        ServerKind::L1,
        Drive::Increment(Batch::Option(PINGPONG_BATCH)),
    ),
    Scenario {
        depth: 16,
        ..socket(
            "uds-pipeline",
            "L1 session, 16 single INCREMENT requests in flight",
            None,
            ServerKind::L1,
            Drive::Increment(Batch::Single),
        )
    },
    Scenario {
        depth: 16,
        ..socket(
            "uds-pipeline-batch",
            "L1 session, 16 batches of --batch INCREMENT items in flight (default 2..1000: \
             each batch's count drawn at random, as in the reference matrix)",
            None,
            ServerKind::L1,
            Drive::Increment(Batch::Option(PIPELINE_BATCH)),
        )
    },
    socket(
        "uds-snapshot-1",
        "L1 session, CGROUPS_SNAPSHOT refreshes of a snapshot of 1 item (a 4-byte request, a \
         167-byte answer): the ping-pong of the snapshot method",
        None,
        ServerKind::L1,
        Drive::Snapshot(ONE_SNAPSHOT),
    ),
    socket(
        "l2-snapshot-1",
        "L2 CgroupsSnapshotClient::call of a snapshot of 1 item (the ping-pong every API \
         has) against a ManagedServer::cgroups_snapshot, baseline transport",
        Some("uds-snapshot-1"),
        ServerKind::L2Snapshot,
        Drive::L2Snapshot(ONE_SNAPSHOT),
    ),
    socket(
        "uds-snapshot-16",
        "L1 session, CGROUPS_SNAPSHOT refreshes of 16 items (encoded by the server on \
         every request), every item decoded; a round trip is one refresh",
        None,
        ServerKind::L1,
        Drive::Snapshot(SMALL_SNAPSHOT),
    ),
    socket(
        "l2-snapshot-16",
        "L2 CgroupsSnapshotClient::call against a ManagedServer::cgroups_snapshot whose \
         handler adds 16 items per refresh, every item decoded, baseline transport",
        Some("uds-snapshot-16"),
        ServerKind::L2Snapshot,
        Drive::L2Snapshot(SMALL_SNAPSHOT),
    ),
    socket(
        "uds-snapshot-1000",
        "L1 session, CGROUPS_SNAPSHOT refreshes of 1000 items (encoded by the server on \
         every request), every item decoded; a round trip is one refresh",
        None,
        ServerKind::L1,
        Drive::Snapshot(LARGE_SNAPSHOT),
    ),
    socket(
        "l2-snapshot-1000",
        "L2 CgroupsSnapshotClient::call against a ManagedServer::cgroups_snapshot whose \
         handler adds 1000 items per refresh, every item decoded, baseline transport",
        Some("uds-snapshot-1000"),
        ServerKind::L2Snapshot,
        Drive::L2Snapshot(LARGE_SNAPSHOT),
    ),
    lookup_l1(
        "uds-cgroups-lookup-1",
        "L1 session, CGROUPS_LOOKUP requests of 1 cgroup path answered by the server from \
         its path table (names, container labels), every item read; a round trip is one \
         logical call, items/s counts keys answered",
        Plane::Socket,
        Lookup::Cgroups,
        SMALL_LOOKUP,
    ),
    lookup_l2(
        "l2-cgroups-lookup-1",
        "L2 CgroupsLookupClient::call of 1 path against a ManagedServer::cgroups_lookup \
         answering from its path table, every item read, baseline transport",
        "uds-cgroups-lookup-1",
        Plane::Socket,
        Lookup::Cgroups,
        SMALL_LOOKUP,
    ),
    lookup_l1(
        "uds-cgroups-lookup-64",
        "L1 session, CGROUPS_LOOKUP requests of 64 cgroup paths (one request per logical \
         call) answered by the server from its path table, every item read",
        Plane::Socket,
        Lookup::Cgroups,
        LARGE_LOOKUP,
    ),
    lookup_l2(
        "l2-cgroups-lookup-64",
        "L2 CgroupsLookupClient::call of 64 paths (default config: as many sub-calls as the \
         negotiated request size needs) against a ManagedServer::cgroups_lookup, every item \
         read, baseline transport",
        "uds-cgroups-lookup-64",
        Plane::Socket,
        Lookup::Cgroups,
        LARGE_LOOKUP,
    ),
    lookup_l1(
        "uds-apps-lookup-1",
        "L1 session, APPS_LOOKUP requests of 1 PID answered by the server from its process \
         table (comm, ppid, uid, cgroup path, name and labels), every item read",
        Plane::Socket,
        Lookup::Apps,
        SMALL_LOOKUP,
    ),
    lookup_l2(
        "l2-apps-lookup-1",
        "L2 AppsLookupClient::call of 1 PID against a ManagedServer::apps_lookup answering \
         from its process table, every item read, baseline transport",
        "uds-apps-lookup-1",
        Plane::Socket,
        Lookup::Apps,
        SMALL_LOOKUP,
    ),
    lookup_l1(
        "uds-apps-lookup-64",
        "L1 session, APPS_LOOKUP requests of 64 PIDs (one request per logical call) \
         answered by the server from its process table, every item read",
        Plane::Socket,
        Lookup::Apps,
        LARGE_LOOKUP,
    ),
    lookup_l2(
        "l2-apps-lookup-64",
        "L2 AppsLookupClient::call of 64 PIDs (default config: as many sub-calls as the \
         negotiated request size needs) against a ManagedServer::apps_lookup, every item \
         read, baseline transport",
        "uds-apps-lookup-64",
        Plane::Socket,
        Lookup::Apps,
        LARGE_LOOKUP,
    ),
    Scenario {
        name: RAW_SHM_LIMIT,
        summary: "LIMIT: two counters in a shared file flipped by the two processes \
                  (spin, then futex), no protocol",
        limit: None,
        l1: None,
        server: ServerKind::RawShm,
        plane: Plane::Shm,
        drive: Drive::RawShm,
        depth: 1,
    },
    shm(
        "shm-pingpong",
        "L1 session over shared memory (SHM_HYBRID), one INCREMENT request in flight",
        None,
        ServerKind::L1,
        Drive::Increment(Batch::Single),
    ),
    shm(
        "l2-shm-increment",
        "L2 IncrementClient::call against a ManagedServer::increment, over shared memory \
         (SHM_HYBRID)",
        Some("shm-pingpong"),
        ServerKind::L2Increment,
        Drive::L2Increment,
    ),
    shm(
        "shm-batch-pingpong",
        "L1 session over shared memory (SHM_HYBRID), one batch of --batch \
         INCREMENT items in flight (default 64)",
        None,
        ServerKind::L1,
        Drive::Increment(Batch::Option(PINGPONG_BATCH)),
    ),
    shm(
        "shm-snapshot-1",
        "L1 session over shared memory (SHM_HYBRID), CGROUPS_SNAPSHOT refreshes of a \
         snapshot of 1 item: the ping-pong of the snapshot method",
        None,
        ServerKind::L1,
        Drive::Snapshot(ONE_SNAPSHOT),
    ),
    shm(
        "l2-shm-snapshot-1",
        "L2 CgroupsSnapshotClient::call of a snapshot of 1 item (the ping-pong every API \
         has) against a ManagedServer::cgroups_snapshot, over shared memory",
        Some("shm-snapshot-1"),
        ServerKind::L2Snapshot,
        Drive::L2Snapshot(ONE_SNAPSHOT),
    ),
    shm(
        "shm-snapshot-16",
        "L1 session over shared memory (SHM_HYBRID), CGROUPS_SNAPSHOT refreshes of 16 \
         items (encoded by the server on every request), every item decoded",
        None,
        ServerKind::L1,
        Drive::Snapshot(SMALL_SNAPSHOT),
    ),
    shm(
        "l2-shm-snapshot-16",
        "L2 CgroupsSnapshotClient::call against a ManagedServer::cgroups_snapshot whose \
         handler adds 16 items per refresh, every item decoded, over shared memory",
        Some("shm-snapshot-16"),
        ServerKind::L2Snapshot,
        Drive::L2Snapshot(SMALL_SNAPSHOT),
    ),
    shm(
        "shm-snapshot-1000",
        "L1 session over shared memory (SHM_HYBRID), CGROUPS_SNAPSHOT refreshes of 1000 \
         items (encoded by the server on every request), every item decoded",
        None,
        ServerKind::L1,
        Drive::Snapshot(LARGE_SNAPSHOT),
    ),
    shm(
        "l2-shm-snapshot-1000",
        "L2 CgroupsSnapshotClient::call against a ManagedServer::cgroups_snapshot whose \
         handler adds 1000 items per refresh, every item decoded, over shared memory",
        Some("shm-snapshot-1000"),
        ServerKind::L2Snapshot,
        Drive::L2Snapshot(LARGE_SNAPSHOT),
    ),
    lookup_l1(
        "shm-cgroups-lookup-1",
        "L1 session over shared memory (SHM_HYBRID), CGROUPS_LOOKUP requests of 1 cgroup path answered by the server from \
         its path table (names, container labels), every item read; a round trip is one \
         logical call, items/s counts keys answered",
        Plane::Shm,
        Lookup::Cgroups,
        SMALL_LOOKUP,
    ),
    lookup_l2(
        "l2-shm-cgroups-lookup-1",
        "L2 CgroupsLookupClient::call of 1 path against a ManagedServer::cgroups_lookup \
         answering from its path table, every item read, over shared memory",
        "shm-cgroups-lookup-1",
        Plane::Shm,
        Lookup::Cgroups,
        SMALL_LOOKUP,
    ),
    lookup_l1(
        "shm-cgroups-lookup-64",
        "L1 session over shared memory (SHM_HYBRID), CGROUPS_LOOKUP requests of 64 cgroup paths (one request per logical \
         call) answered by the server from its path table, every item read",
        Plane::Shm,
        Lookup::Cgroups,
        LARGE_LOOKUP,
    ),
    lookup_l2(
        "l2-shm-cgroups-lookup-64",
        "L2 CgroupsLookupClient::call of 64 paths (default config: as many sub-calls as the \
         negotiated request size needs) against a ManagedServer::cgroups_lookup, every item \
         read, over shared memory",
        "shm-cgroups-lookup-64",
        Plane::Shm,
        Lookup::Cgroups,
        LARGE_LOOKUP,
    ),
    lookup_l1(
        "shm-apps-lookup-1",
        "L1 session over shared memory (SHM_HYBRID), APPS_LOOKUP requests of 1 PID answered by the server from its process \
         table (comm, ppid, uid, cgroup path, name and labels), every item read",
        Plane::Shm,
        Lookup::Apps,
        SMALL_LOOKUP,
    ),
    lookup_l2(
        "l2-shm-apps-lookup-1",
        "L2 AppsLookupClient::call of 1 PID against a ManagedServer::apps_lookup answering \
         from its process table, every item read, over shared memory",
        "shm-apps-lookup-1",
        Plane::Shm,
        Lookup::Apps,
        SMALL_LOOKUP,
    ),
    lookup_l1(
        "shm-apps-lookup-64",
        "L1 session over shared memory (SHM_HYBRID), APPS_LOOKUP requests of 64 PIDs (one request per logical call) \
         answered by the server from its process table, every item read",
        Plane::Shm,
        Lookup::Apps,
        LARGE_LOOKUP,
    ),
    lookup_l2(
        "l2-shm-apps-lookup-64",
        "L2 AppsLookupClient::call of 64 PIDs (default config: as many sub-calls as the \
         negotiated request size needs) against a ManagedServer::apps_lookup, every item \
         read, over shared memory",
        "shm-apps-lookup-64",
        Plane::Shm,
        Lookup::Apps,
        LARGE_LOOKUP,
    ),
    Scenario {
        name: MAP_LIMIT,
        summary: "LIMIT: in-process lookups, no I/O: 1000 (hash, name) lookups per round trip \
                  in a std HashMap of the same 1000 cgroups built in the client (SipHash), \
                  every found path read",
        limit: None,
        l1: None,
        server: ServerKind::None,
        plane: Plane::Memory,
        drive: Drive::MapLookup(CACHE_LOOKUPS),
        depth: 1,
    },
    Scenario {
        name: "l3-cache-lookup",
        summary: "in-process lookups, no I/O: 1000 CacheGuard::get (hash, name) lookups per \
                  round trip through one CacheGuard held for the round trip, in an L3 SnapshotCache filled once (before the \
                  warm-up) from an L2 snapshot server of 1000 cgroups, every found path read",
        limit: Some(MAP_LIMIT),
        l1: None,
        server: ServerKind::L2Snapshot,
        plane: Plane::Memory,
        drive: Drive::CacheLookup(CACHE_LOOKUPS),
        depth: 1,
    },
];

impl Scenario {
    /// Items carried by one round trip: the `--batch` option (or the
    /// row's default) for a batch row, a fixed count for the others (for a
    /// snapshot row, the count of netipc's bench server).
    pub fn items(&self, batch_option: Option<BatchSize>) -> BatchSize {
        match self.drive {
            Drive::RawPacket
            | Drive::RawShm
            | Drive::Increment(Batch::Single)
            | Drive::L2Increment => BatchSize::Fixed(1),
            Drive::Snapshot(n)
            | Drive::L2Snapshot(n)
            | Drive::Lookup(_, n)
            | Drive::L2Lookup(_, n)
            | Drive::CacheLookup(n)
            | Drive::MapLookup(n) => BatchSize::Fixed(n),
            Drive::Increment(Batch::Option(default)) => batch_option.unwrap_or(default),
        }
    }

    /// The batch setting of a batch row (its `--batch`, or its default);
    /// `None` for the other rows.
    pub fn batch(&self, batch_option: Option<BatchSize>) -> Option<BatchSize> {
        match self.drive {
            Drive::Increment(Batch::Option(default)) => Some(batch_option.unwrap_or(default)),
            _ => None,
        }
    }

    /// Items of the snapshots this scenario's server answers with, for a
    /// snapshot scenario (and a cache row, whose cache is filled from a
    /// snapshot).
    pub fn snapshot_items(&self) -> Option<u32> {
        match self.drive {
            Drive::Snapshot(n) | Drive::L2Snapshot(n) => Some(n),
            Drive::CacheLookup(_) => Some(CACHE_ITEMS),
            _ => None,
        }
    }

    /// The lookup method of a lookup scenario (L1 or L2).
    pub fn lookup(&self) -> Option<Lookup> {
        match self.drive {
            Drive::Lookup(kind, _) | Drive::L2Lookup(kind, _) => Some(kind),
            _ => None,
        }
    }

    /// Whether the row measures the L2 (typed service) API.
    #[cfg(test)]
    pub fn is_l2(&self) -> bool {
        matches!(
            self.drive,
            Drive::L2Increment | Drive::L2Snapshot(_) | Drive::L2Lookup(..)
        )
    }
}

/// The scenario called `name`.
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Command-line parser for a scenario name.
///
/// # Errors
/// An unknown name, with the list of known ones.
pub fn parse(name: &str) -> Result<&'static Scenario, String> {
    find(name).ok_or_else(|| {
        let known: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
        format!(
            "unknown scenario {name:?}; known: {} (see `netipc bench --list`)",
            known.join(", ")
        )
    })
}

/// The scenarios to run for a selection: every scenario for an empty
/// selection, otherwise the selected ones plus the limit and L1 rows they
/// are compared to, each once, in table order.
pub fn plan(selected: &[&'static Scenario]) -> Vec<&'static Scenario> {
    if selected.is_empty() {
        return SCENARIOS.iter().collect();
    }
    SCENARIOS
        .iter()
        .filter(|s| {
            selected
                .iter()
                .any(|sel| [Some(sel.name), sel.limit, sel.l1].contains(&Some(s.name)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use BatchSize::Fixed;

    /// A `--batch 7` option.
    const SEVEN: Option<BatchSize> = Some(Fixed(7));

    #[test]
    fn batch_rows_take_the_option_or_their_default() {
        let batch = |name: &str, option| find(name).unwrap().batch(option);
        assert_eq!(batch("uds-batch-pingpong", None), Some(Fixed(64)));
        assert_eq!(batch("shm-batch-pingpong", None), Some(Fixed(64)));
        let random = BatchSize::Random { min: 2, max: 1000 };
        assert_eq!(batch("uds-pipeline-batch", None), Some(random));
        for name in [
            "uds-batch-pingpong",
            "shm-batch-pingpong",
            "uds-pipeline-batch",
        ] {
            assert_eq!(batch(name, SEVEN), SEVEN, "{name}");
            assert_eq!(find(name).unwrap().items(SEVEN), Fixed(7), "{name}");
        }
        let batch_rows = SCENARIOS.iter().filter(|s| s.batch(None).is_some());
        assert_eq!(batch_rows.count(), 3);
        assert_eq!(batch("uds-pipeline", SEVEN), None);
        assert_eq!(find("uds-pipeline").unwrap().items(SEVEN), Fixed(1));
    }

    fn at(name: &str) -> Option<usize> {
        SCENARIOS.iter().position(|x| x.name == name)
    }

    #[test]
    fn every_limit_names_a_limit_row() {
        for s in SCENARIOS {
            if let Some(limit) = s.limit {
                let row = find(limit).expect("limit row exists");
                assert!(row.limit.is_none(), "{} is not a limit row", row.name);
                assert_eq!(row.plane, s.plane, "{} is compared across planes", s.name);
                assert!(at(limit) < at(s.name), "{} comes before its limit", s.name);
            }
            assert!(s.depth >= 1);
            let names = SCENARIOS.iter().filter(|x| x.name == s.name).count();
            assert_eq!(names, 1, "{} is not unique", s.name);
        }
    }

    #[test]
    fn every_l2_row_is_compared_to_the_same_exchange_in_l1() {
        for s in SCENARIOS {
            assert_eq!(s.is_l2(), s.l1.is_some(), "{}", s.name);
            let Some(l1) = s.l1 else { continue };
            let row = find(l1).expect("L1 row exists");
            assert!(!row.is_l2() && row.limit.is_some(), "{l1} is not an L1 row");
            assert_eq!(row.server, ServerKind::L1, "{l1}");
            assert_eq!(row.plane, s.plane, "{} is compared across planes", s.name);
            assert_eq!(row.limit, s.limit, "{}", s.name);
            assert_eq!(row.items(None), s.items(None), "{}", s.name);
            assert_eq!(row.snapshot_items(), s.snapshot_items(), "{}", s.name);
            assert_eq!((row.depth, s.depth), (1, 1), "{}", s.name);
            assert_eq!(
                at(l1).map(|i| i + 1),
                at(s.name),
                "{} follows its L1 row",
                s.name
            );
            assert_eq!(row.lookup(), s.lookup(), "{}", s.name);
            let server = match s.drive {
                Drive::L2Increment => ServerKind::L2Increment,
                Drive::L2Lookup(Lookup::Cgroups, _) => ServerKind::L2CgroupsLookup,
                Drive::L2Lookup(Lookup::Apps, _) => ServerKind::L2AppsLookup,
                _ => ServerKind::L2Snapshot,
            };
            assert_eq!(s.server, server, "{}", s.name);
        }
        let l2 = SCENARIOS.iter().filter(|s| s.is_l2()).count();
        assert_eq!(l2, 16);
    }

    #[test]
    fn shm_rows_keep_one_request_in_flight() {
        let shm: Vec<_> = SCENARIOS.iter().filter(|s| s.plane == Plane::Shm).collect();
        assert_eq!(shm.len(), 18);
        for s in shm {
            assert_eq!(s.depth, 1, "{}", s.name);
            assert_eq!(s.plane.wait(), WAIT_SPIN_SLEEP);
            if s.limit.is_some() {
                assert_eq!(s.limit, Some(RAW_SHM_LIMIT), "{}", s.name);
                assert_ne!(s.server, ServerKind::RawShm, "{}", s.name);
            }
        }
        let plan: Vec<_> = plan(&[parse("shm-batch-pingpong").unwrap()])
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(plan, [RAW_SHM_LIMIT, "shm-batch-pingpong"]);
    }

    #[test]
    fn plan_adds_the_limit_row_once() {
        let sel = [
            parse("uds-pipeline").unwrap(),
            parse("uds-pingpong").unwrap(),
        ];
        let names: Vec<_> = plan(&sel).iter().map(|s| s.name).collect();
        assert_eq!(names, [RAW_LIMIT, "uds-pingpong", "uds-pipeline"]);
        assert_eq!(plan(&[]).len(), SCENARIOS.len());
        assert!(parse("nope").unwrap_err().contains("uds-pingpong"));
    }

    #[test]
    fn plan_adds_the_l1_row_of_an_l2_row() {
        let sel = [
            parse("l2-shm-snapshot-1000").unwrap(),
            parse("l2-increment").unwrap(),
        ];
        let names: Vec<_> = plan(&sel).iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                RAW_LIMIT,
                "uds-pingpong",
                "l2-increment",
                RAW_SHM_LIMIT,
                "shm-snapshot-1000",
                "l2-shm-snapshot-1000"
            ]
        );
        let s = find("l2-snapshot-16").unwrap();
        assert_eq!((s.items(SEVEN), s.snapshot_items()), (Fixed(16), Some(16)));
        assert_eq!(find("l2-increment").unwrap().items(SEVEN), Fixed(1));
        assert_eq!(find("uds-snapshot-1000").unwrap().items(SEVEN), Fixed(1000));
    }

    #[test]
    fn lookup_rows_come_in_both_sizes_on_both_planes() {
        for kind in ["cgroups", "apps"] {
            for keys in [SMALL_LOOKUP, LARGE_LOOKUP] {
                for (l1, l2) in [("uds", "l2"), ("shm", "l2-shm")] {
                    let name = format!("{l2}-{kind}-lookup-{keys}");
                    let s = find(&name).unwrap_or_else(|| panic!("{name}"));
                    assert_eq!(s.items(SEVEN), Fixed(keys), "{name}");
                    let l1 = format!("{l1}-{kind}-lookup-{keys}");
                    assert_eq!(s.l1, Some(l1.as_str()), "{name}");
                }
            }
        }
        let sel = [parse("l2-shm-apps-lookup-64").unwrap()];
        let names: Vec<_> = plan(&sel).iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [RAW_SHM_LIMIT, "shm-apps-lookup-64", "l2-shm-apps-lookup-64"]
        );
    }

    #[test]
    fn in_process_rows_are_compared_to_a_hashmap() {
        let names: Vec<_> = plan(&[parse("l3-cache-lookup").unwrap()])
            .iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, [MAP_LIMIT, "l3-cache-lookup"]);
        let cache = find("l3-cache-lookup").unwrap();
        assert_eq!(cache.plane.wait(), WAIT_NONE);
        assert_eq!(cache.snapshot_items(), Some(CACHE_ITEMS));
        assert_eq!(cache.server, ServerKind::L2Snapshot);
        assert_eq!(find(MAP_LIMIT).unwrap().server, ServerKind::None);
        assert_eq!(cache.items(SEVEN), Fixed(CACHE_LOOKUPS));
        // No other row runs without a server.
        let alone = SCENARIOS.iter().filter(|s| s.server == ServerKind::None);
        assert_eq!(alone.count(), 1);
    }
}
