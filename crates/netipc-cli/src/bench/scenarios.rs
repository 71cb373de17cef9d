//! The scenario table: every benchmark row, the limit row it is compared
//! to, how the client drives it and how the server answers it.
//!
//! Adding a scenario is adding a [`Scenario`] to [`SCENARIOS`]; a new way
//! of talking (SHM, snapshot, lookup, cache) adds a [`Drive`] variant (and
//! a client transport for it in `client.rs`) and, when the server has to
//! answer differently, a [`ServerKind`] variant (served in `server.rs`).

/// How the server process answers a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    /// No protocol: raw packets over the transport's socket, echoed back.
    RawEcho,
    /// A NetIPC L1 server answering INCREMENT (single and batch) requests
    /// with `value + 1`.
    Increment,
}

impl ServerKind {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::RawEcho => "raw echo",
            Self::Increment => "INCREMENT",
        }
    }
}

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
    /// How the client drives it.
    pub drive: Drive,
    /// Requests kept in flight (1 = ping-pong).
    pub depth: u32,
}

/// The default `--batch`: items of `uds-batch-pingpong`.
pub const DEFAULT_BATCH: u32 = 64;

/// The limit row of every L1 transport row.
const RAW_LIMIT: &str = "raw-packet-pingpong";

/// Every scenario, in report order (limit rows first).
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: RAW_LIMIT,
        summary: "LIMIT: raw 8-byte packet echo over the transport socket, no protocol",
        limit: None,
        server: ServerKind::RawEcho,
        drive: Drive::RawPacket,
        depth: 1,
    },
    Scenario {
        name: "uds-pingpong",
        summary: "L1 session, one INCREMENT request in flight",
        limit: Some(RAW_LIMIT),
        server: ServerKind::Increment,
        drive: Drive::Increment(Batch::Single),
        depth: 1,
    },
    Scenario {
        name: "uds-batch-pingpong",
        summary: "L1 session, one batch of --batch INCREMENT items in flight",
        limit: Some(RAW_LIMIT),
        server: ServerKind::Increment,
        drive: Drive::Increment(Batch::FromOption),
        depth: 1,
    },
    Scenario {
        name: "uds-pipeline",
        summary: "L1 session, 16 single INCREMENT requests in flight",
        limit: Some(RAW_LIMIT),
        server: ServerKind::Increment,
        drive: Drive::Increment(Batch::Single),
        depth: 16,
    },
    Scenario {
        name: "uds-pipeline-batch",
        summary: "L1 session, 16 batches of 16 INCREMENT items in flight",
        limit: Some(RAW_LIMIT),
        server: ServerKind::Increment,
        drive: Drive::Increment(Batch::Fixed(16)),
        depth: 16,
    },
];

impl Scenario {
    /// Items carried by one round trip, given the `--batch` option.
    pub fn items(&self, batch_option: u32) -> u32 {
        match self.drive {
            Drive::RawPacket | Drive::Increment(Batch::Single) => 1,
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
            }
            assert!(s.depth >= 1);
        }
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
