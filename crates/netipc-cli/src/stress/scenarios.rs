//! The rows of `netipc stress`: what each one does, with how many
//! consumers, over which transport, and how a row name is read.
//!
//! A name is `load-<N>-<transport>`, `idle-<N>-<transport>`,
//! `depart-<N>-<transport>` or `churn-<transport>`, the transport being
//! `socket` (the baseline transport only) or `shm` (shared memory
//! preferred). Any consumer count
//! from 1 to [`MAX_CONSUMERS`] is accepted; [`DEFAULTS`] are the rows run
//! when none is selected.

use std::fmt;
use std::time::Duration;

use netipc::service::{ClientConfig, IncrementClient};
use netipc::wire::Profiles;

use crate::table::Table;

/// Longest a consumer's call (and its connection attempt) may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Most consumers of one row (threads of this process).
pub const MAX_CONSUMERS: usize = 10_000;

/// The transport a row's consumers ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The baseline transport only (a Unix SEQPACKET socket; a named pipe
    /// on Windows).
    Socket,
    /// Shared memory (`SHM_HYBRID`) preferred, the baseline transport
    /// offered too.
    Shm,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Shm => "shm",
        }
    }

    /// The client configuration of a consumer of this transport.
    pub fn config(self) -> ClientConfig {
        let (supported_profiles, preferred_profiles) = match self {
            Self::Socket => (Profiles::BASELINE, Profiles::BASELINE),
            Self::Shm => (
                Profiles::BASELINE | Profiles::SHM_HYBRID,
                Profiles::SHM_HYBRID,
            ),
        };
        ClientConfig {
            supported_profiles,
            preferred_profiles,
            call_timeout: CALL_TIMEOUT,
            ..ClientConfig::default()
        }
    }

    /// A new consumer's client of `service` in `run_dir` over this
    /// transport, with the call timeout set.
    pub fn client(self, run_dir: &str, service: &str) -> IncrementClient {
        let mut client = IncrementClient::new(run_dir, service, &self.config());
        client.set_call_timeout(CALL_TIMEOUT);
        client
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "socket" => Some(Self::Socket),
            "shm" => Some(Self::Shm),
            _ => None,
        }
    }
}

/// What a row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// This many consumers call in a loop.
    Load(usize),
    /// This many consumers open a session, make one call and go idle.
    Idle(usize),
    /// This many consumers hold idle sessions while other consumers come,
    /// call once, go idle and leave, one at a time.
    Depart(usize),
    /// One consumer after another: new client, connect, one call, close.
    Churn,
}

/// One row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub kind: Kind,
    pub transport: Transport,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.transport.name();
        match self.kind {
            Kind::Load(n) => write!(f, "load-{n}-{t}"),
            Kind::Idle(n) => write!(f, "idle-{n}-{t}"),
            Kind::Depart(n) => write!(f, "depart-{n}-{t}"),
            Kind::Churn => write!(f, "churn-{t}"),
        }
    }
}

const fn row(kind: Kind, transport: Transport) -> Scenario {
    Scenario { kind, transport }
}

/// The rows run when none is selected, in order.
pub const DEFAULTS: [Scenario; 12] = [
    row(Kind::Load(64), Transport::Socket),
    row(Kind::Load(64), Transport::Shm),
    row(Kind::Load(256), Transport::Socket),
    row(Kind::Load(256), Transport::Shm),
    row(Kind::Load(1000), Transport::Socket),
    row(Kind::Load(1000), Transport::Shm),
    row(Kind::Idle(1000), Transport::Socket),
    row(Kind::Idle(1000), Transport::Shm),
    row(Kind::Depart(1000), Transport::Socket),
    row(Kind::Depart(1000), Transport::Shm),
    row(Kind::Churn, Transport::Socket),
    row(Kind::Churn, Transport::Shm),
];

/// Command-line parser for a row name.
///
/// # Errors
/// A name that is not one of the four forms, with the forms.
pub fn parse(name: &str) -> Result<Scenario, String> {
    let bad = || {
        format!(
            "unknown scenario {name:?}: use load-<N>-<socket|shm>, idle-<N>-<socket|shm>, \
             depart-<N>-<socket|shm> (N from 1 to {MAX_CONSUMERS}) or churn-<socket|shm> \
             (see `netipc stress --list`)"
        )
    };
    let (head, transport) = name.rsplit_once('-').ok_or_else(bad)?;
    let transport = Transport::parse(transport).ok_or_else(bad)?;
    if head == "churn" {
        return Ok(row(Kind::Churn, transport));
    }
    let (kind, count) = head.split_once('-').ok_or_else(bad)?;
    let n = count
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_CONSUMERS).contains(n))
        .ok_or_else(bad)?;
    match kind {
        "load" => Ok(row(Kind::Load(n), transport)),
        "idle" => Ok(row(Kind::Idle(n), transport)),
        "depart" => Ok(row(Kind::Depart(n), transport)),
        _ => Err(bad()),
    }
}

/// The table printed by `--list`.
pub fn list() -> String {
    let mut table = Table::markdown(&["scenario", "consumers", "transport", "what"]).right(&[1]);
    for sc in DEFAULTS {
        let (consumers, what) = match sc.kind {
            Kind::Load(n) => (
                n.to_string(),
                "connect, then every consumer calls INCREMENT in a loop for the measured \
                 duration",
            ),
            Kind::Idle(n) => (
                n.to_string(),
                "open the sessions (one call each), hold them idle for the measured duration, \
                 close them",
            ),
            Kind::Depart(n) => (
                format!("{n} idle + 1 leaving"),
                "open the sessions and hold them idle; then --departures times, one at a time: \
                 another consumer connects, calls once, goes idle for a few ms and closes; time \
                 until the provider's session count drops back",
            ),
            Kind::Churn => (
                "1 at a time".to_owned(),
                "--cycles times: new client, connect, one call, close",
            ),
        };
        table.row(vec![
            sc.to_string(),
            consumers,
            sc.transport.name().to_owned(),
            what.to_owned(),
        ]);
    }
    let mut s = table.render();
    s.push_str(
        "\nload-<N>-<transport>, idle-<N>-<transport> and depart-<N>-<transport> take any N \
         from 1 to 10000. \
         socket = the baseline transport only (a Unix SEQPACKET socket; a named pipe on \
         Windows); shm = shared memory (SHM_HYBRID) preferred.\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for sc in DEFAULTS {
            assert_eq!(parse(&sc.to_string()), Ok(sc));
        }
        assert_eq!(parse("load-3-shm"), Ok(row(Kind::Load(3), Transport::Shm)));
        assert_eq!(
            parse("depart-7-socket"),
            Ok(row(Kind::Depart(7), Transport::Socket))
        );
        for bad in [
            "load-0-shm",
            "load-x-shm",
            "idle-10001-socket",
            "churn-pipe",
            "churn",
            "load-64",
            "spin-64-shm",
            "depart-socket",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn configs_select_the_transport() {
        let socket = Transport::Socket.config();
        assert_eq!(socket.supported_profiles, Profiles::BASELINE);
        let shm = Transport::Shm.config();
        assert_eq!(
            shm.supported_profiles,
            Profiles::BASELINE | Profiles::SHM_HYBRID
        );
        assert_eq!(shm.preferred_profiles, Profiles::SHM_HYBRID);
        assert_eq!(shm.call_timeout, CALL_TIMEOUT);
    }
}
