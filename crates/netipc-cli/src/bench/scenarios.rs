//! The scenario table: every benchmark row, the limit row it is compared
//! to, how the client drives it and how the server answers it.
//!
//! Adding a scenario is adding a [`Scenario`] to [`SCENARIOS`]; a new way
//! of talking (snapshot, lookup, cache) adds a [`Drive`] variant (and a
//! client transport for it in `client.rs`) and, when the server has to
//! answer differently, a [`ServerKind`] variant (served in `server.rs`).

/// How the server process answers a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// No protocol: raw packets over the transport's socket, echoed back.
    RawEcho,
    /// No protocol: two counters in a shared file (`testing::RawShm`); the
    /// server waits for each ping value and posts it back as the pong.
    RawShm,
    /// A NetIPC L1 server answering INCREMENT (single and batch) requests
    /// with `value + 1`. It offers shared memory when the scenario's data
    /// plane is [`Plane::Shm`].
    Increment,
}

impl ServerKind {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::RawEcho => "raw echo",
            Self::RawShm => "raw SHM flip",
            Self::Increment => "INCREMENT",
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
}

impl Plane {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Shm => "shm",
        }
    }

    /// How a side waits for the other, as shown in the `wait` column.
    pub fn wait(self) -> &'static str {
        match self {
            Self::Socket => WAIT_POLL,
            Self::Shm => WAIT_SPIN_SLEEP,
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

/// Items per request of an INCREMENT scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batch {
    /// A single (non-batch) request.
    Single,
    /// A batch request of exactly this many items.
    Fixed(u32),
    /// A batch request of `--batch` items.
    FromOption,
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
    /// How the server answers.
    pub server: ServerKind,
    /// Where the bytes travel (and so how both sides wait).
    pub plane: Plane,
    /// How the client drives it.
    pub drive: Drive,
    /// Requests kept in flight (1 = ping-pong).
    pub depth: u32,
}

/// The default `--batch`: items of `uds-batch-pingpong` and
/// `shm-batch-pingpong`.
pub const DEFAULT_BATCH: u32 = 64;

/// The limit row of every L1 row on the socket.
const RAW_LIMIT: &str = "raw-packet-pingpong";
/// The limit row of every L1 row over shared memory.
const RAW_SHM_LIMIT: &str = "raw-shm-pingpong";

/// Every scenario, in report order: one group per data plane, its limit
/// row first.
///
/// SHM sessions carry one request at a time, so there are no SHM pipeline
/// rows.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: RAW_LIMIT,
        summary: "LIMIT: raw 8-byte packet echo over the transport socket, no protocol",
        limit: None,
        server: ServerKind::RawEcho,
        plane: Plane::Socket,
        drive: Drive::RawPacket,
        depth: 1,
    },
    Scenario {
        name: "uds-pingpong",
        summary: "L1 session, one INCREMENT request in flight",
        limit: Some(RAW_LIMIT),
        server: ServerKind::Increment,
        plane: Plane::Socket,
        drive: Drive::Increment(Batch::Single),
        depth: 1,
    },
    Scenario {
        name: "uds-batch-pingpong",
        summary: "L1 session, one batch of --batch INCREMENT items in flight",
        limit: Some(RAW_LIMIT),
        server: ServerKind::Increment,
        plane: Plane::Socket,
        drive: Drive::Increment(Batch::FromOption),
        depth: 1,
    },
    Scenario {
        name: "uds-pipeline",
        summary: "L1 session, 16 single INCREMENT requests in flight",
        limit: Some(RAW_LIMIT),
        server: ServerKind::Increment,
        plane: Plane::Socket,
        drive: Drive::Increment(Batch::Single),
        depth: 16,
    },
    Scenario {
        name: "uds-pipeline-batch",
        summary: "L1 session, 16 batches of 16 INCREMENT items in flight",
        limit: Some(RAW_LIMIT),
        server: ServerKind::Increment,
        plane: Plane::Socket,
        drive: Drive::Increment(Batch::Fixed(16)),
        depth: 16,
    },
    Scenario {
        name: RAW_SHM_LIMIT,
        summary: "LIMIT: two counters in a shared file flipped by the two processes \
                  (spin, then futex), no protocol",
        limit: None,
        server: ServerKind::RawShm,
        plane: Plane::Shm,
        drive: Drive::RawShm,
        depth: 1,
    },
    Scenario {
        name: "shm-pingpong",
        summary: "L1 session over shared memory (SHM_HYBRID), one INCREMENT request in flight",
        limit: Some(RAW_SHM_LIMIT),
        server: ServerKind::Increment,
        plane: Plane::Shm,
        drive: Drive::Increment(Batch::Single),
        depth: 1,
    },
    Scenario {
        name: "shm-batch-pingpong",
        summary: "L1 session over shared memory (SHM_HYBRID), one batch of --batch \
                  INCREMENT items in flight",
        limit: Some(RAW_SHM_LIMIT),
        server: ServerKind::Increment,
        plane: Plane::Shm,
        drive: Drive::Increment(Batch::FromOption),
        depth: 1,
    },
];

impl Scenario {
    /// Items carried by one round trip, given the `--batch` option.
    pub fn items(&self, batch_option: u32) -> u32 {
        match self.drive {
            Drive::RawPacket | Drive::RawShm | Drive::Increment(Batch::Single) => 1,
            Drive::Increment(Batch::Fixed(n)) => n,
            Drive::Increment(Batch::FromOption) => batch_option,
        }
    }

    /// Whether the client sends batch requests.
    pub fn is_batch(&self) -> bool {
        matches!(
            self.drive,
            Drive::Increment(Batch::Fixed(_) | Batch::FromOption)
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
/// selection, otherwise the selected ones plus the limit rows they are
/// compared to, each once, in table order.
pub fn plan(selected: &[&'static Scenario]) -> Vec<&'static Scenario> {
    if selected.is_empty() {
        return SCENARIOS.iter().collect();
    }
    SCENARIOS
        .iter()
        .filter(|s| {
            selected
                .iter()
                .any(|sel| sel.name == s.name || sel.limit == Some(s.name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_names_a_limit_row() {
        for s in SCENARIOS {
            if let Some(limit) = s.limit {
                let row = find(limit).expect("limit row exists");
                assert!(row.limit.is_none(), "{} is not a limit row", row.name);
                assert_eq!(row.plane, s.plane, "{} is compared across planes", s.name);
                let at = |name| SCENARIOS.iter().position(|x| x.name == name);
                assert!(at(limit) < at(s.name), "{} comes before its limit", s.name);
            }
            assert!(s.depth >= 1);
        }
    }

    #[test]
    fn shm_rows_keep_one_request_in_flight() {
        let shm: Vec<_> = SCENARIOS.iter().filter(|s| s.plane == Plane::Shm).collect();
        assert_eq!(shm.len(), 3);
        for s in shm {
            assert_eq!(s.depth, 1, "{}", s.name);
            assert_eq!(s.plane.wait(), WAIT_SPIN_SLEEP);
            if s.limit.is_some() {
                assert_eq!(s.limit, Some(RAW_SHM_LIMIT), "{}", s.name);
                assert_eq!(s.server, ServerKind::Increment);
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
}
