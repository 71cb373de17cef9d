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

/// Most sub-authorities a Windows SID has.
const SID_MAX_SUB_AUTHORITIES: usize = 15;

/// A Windows security identifier (`S-1-5-21-…`), held as plain data on
/// every OS (so that configurations parse everywhere).
///
/// Parsed from and displayed in the standard string form: `S-1-`, the
/// identifier authority (decimal, or `0x` and 12 hex digits when it does
/// not fit 32 bits), then up to 15 sub-authorities (decimal, or `0x`
/// hex). The revision is always 1.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    /// The 48-bit identifier authority, big-endian as on the wire.
    authority: [u8; 6],
    count: u8,
    /// The sub-authorities; entries from `count` on are zero.
    sub: [u32; SID_MAX_SUB_AUTHORITIES],
}

impl Sid {
    /// LocalSystem, `S-1-5-18`.
    pub const LOCAL_SYSTEM: Sid = Sid::nt(&[18]);
    /// The built-in Administrators group, `S-1-5-32-544`.
    pub const ADMINISTRATORS: Sid = Sid::nt(&[32, 544]);

    /// A SID of the NT authority (5) with the given sub-authorities.
    const fn nt(sub_authorities: &[u32]) -> Sid {
        let mut sub = [0u32; SID_MAX_SUB_AUTHORITIES];
        let mut i = 0;
        while i < sub_authorities.len() {
            sub[i] = sub_authorities[i];
            i += 1;
        }
        Sid {
            authority: [0, 0, 0, 0, 0, 5],
            count: sub_authorities.len() as u8,
            sub,
        }
    }

    /// Decodes the binary form Windows uses (revision 1, sub-authority
    /// count, 6-byte big-endian authority, little-endian sub-authorities).
    /// `None` when `bytes` is not a valid SID; bytes after the SID are
    /// ignored.
    pub fn from_bytes(bytes: &[u8]) -> Option<Sid> {
        let (&revision, rest) = bytes.split_first()?;
        let (&count, rest) = rest.split_first()?;
        if revision != 1 || usize::from(count) > SID_MAX_SUB_AUTHORITIES {
            return None;
        }
        let authority: [u8; 6] = rest.get(..6)?.try_into().ok()?;
        let subs = rest.get(6..6 + 4 * usize::from(count))?;
        let mut sub = [0u32; SID_MAX_SUB_AUTHORITIES];
        for (slot, chunk) in sub.iter_mut().zip(subs.chunks_exact(4)) {
            *slot = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Some(Sid {
            authority,
            count,
            sub,
        })
    }

    /// The binary form (see [`from_bytes`](Self::from_bytes)).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 4 * usize::from(self.count));
        out.push(1);
        out.push(self.count);
        out.extend_from_slice(&self.authority);
        for s in self.sub_authorities() {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// The 48-bit identifier authority (5 for `S-1-5-…`).
    pub fn authority(&self) -> u64 {
        self.authority
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    }

    /// The sub-authorities, in order.
    pub fn sub_authorities(&self) -> &[u32] {
        &self.sub[..usize::from(self.count)]
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let authority = self.authority();
        if authority >> 32 == 0 {
            write!(f, "S-1-{authority}")?;
        } else {
            write!(f, "S-1-0x{authority:012X}")?;
        }
        for s in self.sub_authorities() {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A decimal or `0x`-hex number of at most `max`.
fn parse_number(s: &str, max: u64) -> Option<u64> {
    let value = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u64::from_str_radix(hex, 16).ok()?
        }
        Some(_) => return None,
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok()?,
        None => return None,
    };
    (value <= max).then_some(value)
}

impl FromStr for Sid {
    type Err = IdentityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IdentityParseError::syntax(s, "a SID (S-1-5-…)");
        let rest = s
            .strip_prefix("S-")
            .or_else(|| s.strip_prefix("s-"))
            .ok_or_else(bad)?;
        let mut parts = rest.split('-');
        if parts.next() != Some("1") {
            return Err(bad());
        }
        let authority = parts
            .next()
            .and_then(|a| parse_number(a, (1 << 48) - 1))
            .ok_or_else(bad)?;
        let mut sub = [0u32; SID_MAX_SUB_AUTHORITIES];
        let mut count = 0usize;
        for part in parts {
            let slot = sub.get_mut(count).ok_or_else(bad)?;
            *slot = parse_number(part, u64::from(u32::MAX))
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(bad)?;
            count += 1;
        }
        let be = authority.to_be_bytes();
        Ok(Sid {
            authority: [be[2], be[3], be[4], be[5], be[6], be[7]],
            count: count as u8,
            sub,
        })
    }
}

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

/// Most identities an [`Identities`] list holds (so that the configs that
/// carry one stay `Copy`). Name a group to accept more principals.
pub const MAX_IDENTITIES: usize = 8;

/// A short list of identities (at most [`MAX_IDENTITIES`]), held inline.
///
/// Text form: the identities separated by commas (`uid:0,gid:999`);
/// spaces around the commas are allowed.
#[derive(Clone, Copy)]
pub struct Identities {
    len: u8,
    items: [Identity; MAX_IDENTITIES],
}

impl Identities {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            len: 0,
            items: [Identity::Uid(0); MAX_IDENTITIES],
        }
    }

    /// A list of `items`.
    ///
    /// # Errors
    /// [`IdentityParseError::TooMany`] for more than [`MAX_IDENTITIES`].
    pub fn from_slice(items: &[Identity]) -> Result<Self, IdentityParseError> {
        let mut list = Self::new();
        for &item in items {
            list.push(item)?;
        }
        Ok(list)
    }

    /// Appends `identity` (nothing happens when it is listed already).
    ///
    /// # Errors
    /// [`IdentityParseError::TooMany`] when the list is full.
    pub fn push(&mut self, identity: Identity) -> Result<(), IdentityParseError> {
        if self.contains(&identity) {
            return Ok(());
        }
        let slot = self
            .items
            .get_mut(usize::from(self.len))
            .ok_or(IdentityParseError::TooMany)?;
        *slot = identity;
        self.len += 1;
        Ok(())
    }

    /// The identities, in order.
    pub fn as_slice(&self) -> &[Identity] {
        &self.items[..usize::from(self.len)]
    }

    /// Whether `identity` is listed.
    pub fn contains(&self, identity: &Identity) -> bool {
        self.as_slice().contains(identity)
    }

    /// Number of identities.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Identities {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Identities {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Identities {}

impl std::hash::Hash for Identities {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl fmt::Display for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            id.fmt(f)?;
        }
        Ok(())
    }
}

impl FromStr for Identities {
    type Err = IdentityParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut list = Self::new();
        for part in s.split(',') {
            list.push(part.trim().parse()?)?;
        }
        Ok(list)
    }
}

impl<'a> IntoIterator for &'a Identities {
    type Item = &'a Identity;
    type IntoIter = std::slice::Iter<'a, Identity>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_round_trip_as_text() {
        for text in [
            "uid:0",
            "gid:999",
            "S-1-5-18",
            "S-1-5-32-544",
            "S-1-5-21-1004336348-1177238915-682003330-1000",
            "S-1-0x123456789ABC-1",
            "S-1-16",
        ] {
            let id: Identity = text.parse().unwrap();
            assert_eq!(id.to_string(), text);
        }
        assert_eq!(
            "S-1-5-18".parse::<Identity>().unwrap(),
            Identity::Sid(Sid::LOCAL_SYSTEM)
        );
        assert_eq!(
            "s-1-5-0x20-0x220".parse::<Identity>().unwrap(),
            Identity::Sid(Sid::ADMINISTRATORS)
        );
        for bad in [
            "",
            "1000",
            "uid:",
            "uid:-1",
            "uid:4294967296",
            "gid:x",
            "S-2-5-18",
            "S-1",
            "S-1-5-",
            "S-1-5-18-",
            "S-1-281474976710656",
            "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
            "root",
        ] {
            assert!(bad.parse::<Identity>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn sids_round_trip_as_bytes() {
        let sid: Sid = "S-1-5-21-1004336348-1177238915-682003330-1000"
            .parse()
            .unwrap();
        let bytes = sid.to_bytes();
        assert_eq!(bytes.len(), 8 + 4 * 5);
        assert_eq!(&bytes[..8], &[1, 5, 0, 0, 0, 0, 0, 5]);
        assert_eq!(Sid::from_bytes(&bytes), Some(sid));
        assert_eq!(Sid::from_bytes(&bytes[..bytes.len() - 1]), None);
        let mut wrong = bytes.clone();
        wrong[0] = 2;
        assert_eq!(Sid::from_bytes(&wrong), None);
        assert_eq!(sid.authority(), 5);
        assert_eq!(sid.sub_authorities().len(), 5);
    }

    #[test]
    fn lists_policies_and_access_round_trip() {
        let list: Identities = "uid:0, gid:999,S-1-5-18".parse().unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list.to_string(), "uid:0,gid:999,S-1-5-18");
        assert!(list.contains(&Identity::Gid(999)));
        assert!(!list.contains(&Identity::Uid(999)));
        let dup: Identities = "uid:1,uid:1".parse().unwrap();
        assert_eq!(dup.len(), 1);
        let nine = (0..9)
            .map(|i| format!("uid:{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(nine.parse::<Identities>(), Err(IdentityParseError::TooMany));
        for text in ["default", "same-user-or-admin", "any", "uid:0,uid:1000"] {
            let policy: IdentityPolicy = text.parse().unwrap();
            assert_eq!(policy.to_string(), text);
        }
        assert!("".parse::<IdentityPolicy>().is_err());
        assert!("everyone".parse::<IdentityPolicy>().is_err());
        for text in ["owner-only", "group:gid:999", "group:S-1-5-32-545"] {
            let access: EndpointAccess = text.parse().unwrap();
            assert_eq!(access.to_string(), text);
        }
        assert!("group:".parse::<EndpointAccess>().is_err());
        assert!("0660".parse::<EndpointAccess>().is_err());
        assert_eq!(IdentityPolicy::default(), IdentityPolicy::Default);
        assert_eq!(EndpointAccess::default(), EndpointAccess::OwnerOnly);
    }

    #[test]
    fn a_peer_matches_by_user_or_group() {
        let accepted: Identities = "uid:0,gid:999".parse().unwrap();
        let peer = |user, groups: &[Identity]| PeerIdentity {
            pid: Some(1),
            user,
            groups: groups.to_vec(),
        };
        assert!(peer(Some(Identity::Uid(0)), &[]).is_in(&accepted));
        assert!(peer(Some(Identity::Uid(5)), &[Identity::Gid(999)]).is_in(&accepted));
        assert!(!peer(Some(Identity::Uid(999)), &[Identity::Gid(5)]).is_in(&accepted));
        assert!(!peer(None, &[]).is_in(&accepted));
        assert!(!peer(Some(Identity::Uid(0)), &[]).is_in(&Identities::new()));
    }

    #[test]
    fn the_default_means_what_the_side_says() {
        assert_eq!(IdentityPolicy::Default.accepted(true).unwrap(), None);
        assert_eq!(IdentityPolicy::Any.accepted(false).unwrap(), None);
        let me = Identity::current_user().unwrap();
        for policy in [IdentityPolicy::Default, IdentityPolicy::SameUserOrAdmin] {
            let set = policy.accepted(false).unwrap().unwrap();
            assert!(set.contains(&me));
            for admin in sys::admin_identities() {
                assert!(set.contains(admin));
            }
        }
    }

    #[test]
    fn the_refusal_names_endpoint_user_and_accepted() {
        let e = UntrustedProvider {
            endpoint: "/run/netdata/cgroups-snapshot.sock".into(),
            pid: Some(4242),
            user: Some(Identity::Uid(1001)),
            accepted: "uid:0,uid:1000".parse().unwrap(),
        };
        assert_eq!(
            e.to_string(),
            "the provider at /run/netdata/cgroups-snapshot.sock runs as uid:1001 (pid 4242) \
             (expected uid:0 or uid:1000: the client's provider_identity); refusing to send the \
             auth token: stop the process that holds the endpoint, or accept its identity in \
             provider_identity"
        );
    }
}
