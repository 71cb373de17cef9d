//! Who may be on the other end: the identities a client accepts for its
//! provider, the identities a provider accepts for its consumers, and who
//! may open a provider's endpoint.
//!
//! Every type here is the same on every operating system, and so is its
//! text form (for configuration files): an [`Identity`] is a Unix user id
//! (`uid:1000`), a Unix group id (`gid:999`) or a Windows security
//! identifier (`S-1-5-18`). What the operating system reports about a peer
//! is compared with these values; an identity that cannot occur on the OS
//! at hand (a SID on Linux, a uid on Windows) never matches.
//!
//! # What is checked
//!
//! A peer *has* an identity when it is the peer's user, or one of the
//! peer's groups that the OS reports:
//!
//! - **Linux**: `SO_PEERCRED` of the connection, read by the kernel when
//!   the socket was connected (for the provider: when it called `listen`).
//!   The user is `uid:<effective uid>`, the one group `gid:<effective
//!   gid>`; supplementary groups are not reported and never match.
//! - **Windows**: the peer process of the pipe
//!   (`GetNamedPipeServerProcessId` / `GetNamedPipeClientProcessId`), its
//!   primary token (`OpenProcess` with `PROCESS_QUERY_LIMITED_INFORMATION`,
//!   `OpenProcessToken` with `TOKEN_QUERY`): the user is the token's user
//!   SID, the groups are the token's *enabled* group SIDs (deny-only groups,
//!   for example the Administrators group of a non-elevated process, do not
//!   count). A process whose token this process may not open (a process of
//!   another user, or a protected one, queried by a non-administrator) has
//!   no identity the check can see and matches only [`IdentityPolicy::Any`].
//!   The process is found by its id, which the OS could in theory reuse if
//!   the process that created the pipe instance exited; the token is read
//!   while the connection is open.
//!
//! "The OS administrator" ([`IdentityPolicy::SameUserOrAdmin`]) is `uid:0`
//! on Linux, and LocalSystem (`S-1-5-18`) or an elevated member of the
//! Administrators group (`S-1-5-32-544`, enabled in the token) on Windows:
//! the principals that can take over the endpoint anyway.

use std::fmt;
use std::str::FromStr;

use super::sys;
use crate::error::{Error, Result};

mod list;
mod sid;
#[cfg(test)]
mod tests;

pub use list::{Identities, MAX_IDENTITIES};
pub use sid::Sid;
use sid::parse_number;

/// A user or group as the operating system names it: a Unix user id, a
/// Unix group id or a Windows SID.
///
/// Text form (for configuration files, parsed with [`FromStr`] and
/// written with [`Display`](fmt::Display)): `uid:1000`, `gid:999`,
/// `S-1-5-18`. The type and its text form are the same on every OS; an
/// identity that cannot occur on the running OS (a SID on Linux, a uid or
/// gid on Windows) never matches a peer. On Windows a SID matches the
/// peer's user or one of its enabled groups alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    /// A Unix user id (Linux: matches the peer's effective uid).
    Uid(u32),
    /// A Unix group id (Linux: matches the peer's effective gid).
    Gid(u32),
    /// A Windows SID (matches the peer's user SID or an enabled group SID).
    Sid(Sid),
}

impl Identity {
    /// The user this process runs as: its effective uid on Linux, the user
    /// SID of its process token on Windows.
    ///
    /// # Errors
    /// `Io` when the OS does not tell (Windows: the token cannot be read).
    pub fn current_user() -> Result<Identity> {
        sys::current_user()
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uid(n) => write!(f, "uid:{n}"),
            Self::Gid(n) => write!(f, "gid:{n}"),
            Self::Sid(sid) => sid.fmt(f),
        }
    }
}

impl FromStr for Identity {
    type Err = IdentityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id = |n: &str| parse_number(n, u64::from(u32::MAX)).and_then(|v| u32::try_from(v).ok());
        let bad = || IdentityParseError::syntax(s, "an identity (uid:N, gid:N or S-1-…)");
        if let Some(n) = s.strip_prefix("uid:") {
            return id(n).map(Self::Uid).ok_or_else(bad);
        }
        if let Some(n) = s.strip_prefix("gid:") {
            return id(n).map(Self::Gid).ok_or_else(bad);
        }
        if s.starts_with("S-") || s.starts_with("s-") {
            return s.parse().map(Self::Sid);
        }
        Err(bad())
    }
}

/// Which peers a side accepts, by the identity the OS reports for them
/// (see the [module documentation](self) for what is read on each OS).
///
/// Text form: `default`, `same-user-or-admin`, `any`, or a comma-separated
/// list of identities (`uid:0,uid:1000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(
    clippy::large_enum_variant,
    reason = "the list is inline so that the configs holding a policy stay Copy"
)]
pub enum IdentityPolicy {
    /// The side's documented default: a client accepts
    /// [`SameUserOrAdmin`](Self::SameUserOrAdmin) providers, a provider
    /// accepts [`Any`](Self::Any) consumer.
    #[default]
    Default,
    /// Peers running as this process's own user, or as the OS
    /// administrator (Linux: uid 0; Windows: LocalSystem or an elevated
    /// member of Administrators).
    SameUserOrAdmin,
    /// Every peer; the OS is not asked.
    Any,
    /// Peers whose user, or one of whose groups, is listed. An empty list
    /// accepts nobody.
    Only(Identities),
}

impl IdentityPolicy {
    /// The identities a peer must have one of; `None` accepts every peer.
    /// `default_any` is what [`Default`](Self::Default) means for the side.
    pub(crate) fn accepted(&self, default_any: bool) -> Result<Option<Identities>> {
        match self {
            Self::Any => Ok(None),
            Self::Default if default_any => Ok(None),
            Self::Default | Self::SameUserOrAdmin => {
                let mut set = Identities::new();
                for &admin in sys::admin_identities() {
                    // Two entries at most: the list never fills up.
                    let _ = set.push(admin);
                }
                let _ = set.push(sys::current_user()?);
                Ok(Some(set))
            }
            Self::Only(list) => Ok(Some(*list)),
        }
    }
}

impl fmt::Display for IdentityPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::SameUserOrAdmin => f.write_str("same-user-or-admin"),
            Self::Any => f.write_str("any"),
            Self::Only(list) => list.fmt(f),
        }
    }
}

impl FromStr for IdentityPolicy {
    type Err = IdentityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "default" => Ok(Self::Default),
            "same-user-or-admin" => Ok(Self::SameUserOrAdmin),
            "any" => Ok(Self::Any),
            "" => Err(IdentityParseError::syntax(
                s,
                "a policy (default, same-user-or-admin, any, or identities such as uid:0,gid:999)",
            )),
            list => list.parse().map(Self::Only),
        }
    }
}

/// Who may open a provider's endpoint (and its shared-memory regions).
///
/// Text form: `owner-only`, or `group:` and a group identity
/// (`group:gid:999`, `group:S-1-5-32-545`).
///
/// # Platform-specific behavior
///
/// Linux: the socket file (and every shared-memory region file of the
/// provider) gets mode 0600, or 0660 with the given group (`gid:N`;
/// the provider must be root or a member of that group). Windows: the
/// protected DACL of the pipe (and of the shared-memory mappings and
/// events) grants full access to the provider's user, LocalSystem and
/// Administrators, plus, with a group (a SID), read/write access to the
/// pipe for that group, without the right to create pipe instances, and
/// full access to the shared-memory objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EndpointAccess {
    /// The provider's own user only (and, on Windows, LocalSystem and
    /// Administrators).
    #[default]
    OwnerOnly,
    /// The provider's user and the members of a group: a `gid:N` on Linux,
    /// a SID on Windows. Another identity kind fails the bind with a clear
    /// error.
    OwnerAndGroup(Identity),
}

impl fmt::Display for EndpointAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OwnerOnly => f.write_str("owner-only"),
            Self::OwnerAndGroup(group) => write!(f, "group:{group}"),
        }
    }
}

impl FromStr for EndpointAccess {
    type Err = IdentityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "owner-only" => Ok(Self::OwnerOnly),
            other => match other.strip_prefix("group:") {
                Some(group) => group.parse().map(Self::OwnerAndGroup),
                None => Err(IdentityParseError::syntax(
                    s,
                    "an endpoint access (owner-only, or group: and a group such as group:gid:999)",
                )),
            },
        }
    }
}

/// Text that is not an identity, identity list, policy or access.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityParseError {
    /// The text does not have the expected form.
    #[error("`{input}` is not {expected}")]
    Syntax {
        /// The text that was given.
        input: String,
        /// What was expected, with examples.
        expected: &'static str,
    },
    /// A list names more than [`MAX_IDENTITIES`] identities.
    #[error(
        "more than {MAX_IDENTITIES} identities in one list: name a group that holds them instead"
    )]
    TooMany,
}

impl IdentityParseError {
    fn syntax(input: &str, expected: &'static str) -> Self {
        Self::Syntax {
            input: input.to_owned(),
            expected,
        }
    }
}

/// A client refused to talk to a provider because of the identity the OS
/// reports for it (see [`Error::UntrustedProvider`]). Nothing was sent:
/// the auth token did not leave the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntrustedProvider {
    /// The endpoint (socket path or pipe name).
    pub endpoint: String,
    /// The provider's process id, when the OS reports it.
    pub pid: Option<u32>,
    /// The provider's user, when the OS reports it (Windows: `None` when
    /// its process token cannot be opened by this process).
    pub user: Option<Identity>,
    /// The identities the client accepted (from its `provider_identity`).
    pub accepted: Identities,
}

impl fmt::Display for UntrustedProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the provider at {} ", self.endpoint)?;
        match (&self.user, self.pid) {
            (Some(user), Some(pid)) => write!(f, "runs as {user} (pid {pid})")?,
            (Some(user), None) => write!(f, "runs as {user}")?,
            (None, Some(pid)) => write!(
                f,
                "is process {pid}, whose user the operating system does not tell this process"
            )?,
            (None, None) => f.write_str("does not tell who it runs as")?,
        }
        f.write_str(" (expected ")?;
        match self.accepted.as_slice() {
            [] => f.write_str("nobody")?,
            ids => {
                for (i, id) in ids.iter().enumerate() {
                    match i {
                        0 => {}
                        _ if i + 1 == ids.len() => f.write_str(" or ")?,
                        _ => f.write_str(", ")?,
                    }
                    id.fmt(f)?;
                }
            }
        }
        f.write_str(
            ": the client's provider_identity); refusing to send the auth token: \
             stop the process that holds the endpoint, or accept its identity in provider_identity",
        )
    }
}

/// What the OS reports about a peer, in the terms of [`Identity`].
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerIdentity {
    pub(crate) pid: Option<u32>,
    /// The peer's user; `None` when the OS does not tell.
    pub(crate) user: Option<Identity>,
    /// The peer's groups that count (Linux: the effective gid; Windows:
    /// the enabled group SIDs of its token).
    pub(crate) groups: Vec<Identity>,
}

impl PeerIdentity {
    /// Whether the peer's user or one of its groups is in `accepted`.
    pub(crate) fn is_in(&self, accepted: &Identities) -> bool {
        self.user
            .iter()
            .chain(&self.groups)
            .any(|id| accepted.contains(id))
    }
}

/// The client's check before it sends its HELLO (and with it the auth
/// token): the provider on `conn` must have an identity `policy` accepts.
///
/// # Errors
/// [`Error::UntrustedProvider`] (naming `endpoint()`), or `Io` when this
/// process's own user cannot be read.
pub(crate) fn check_provider(
    conn: &sys::Conn,
    policy: &IdentityPolicy,
    endpoint: impl FnOnce() -> String,
) -> Result<()> {
    let Some(accepted) = policy.accepted(false)? else {
        return Ok(());
    };
    let peer = sys::peer_identity(conn);
    if peer.is_in(&accepted) {
        return Ok(());
    }
    Err(Error::UntrustedProvider(Box::new(UntrustedProvider {
        endpoint: endpoint(),
        pid: peer.pid,
        user: peer.user,
        accepted,
    })))
}

/// The provider's check of a consumer: `None` when `policy` accepts the
/// peer on `conn`, otherwise what the OS reported about it (a policy that
/// cannot be resolved refuses everyone).
pub(crate) fn refused_consumer(conn: &sys::Conn, policy: &IdentityPolicy) -> Option<PeerIdentity> {
    match policy.accepted(true) {
        Ok(None) => None,
        Ok(Some(accepted)) => {
            let peer = sys::peer_identity(conn);
            (!peer.is_in(&accepted)).then_some(peer)
        }
        Err(_) => Some(sys::peer_identity(conn)),
    }
}
