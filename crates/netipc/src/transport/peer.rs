//! Who is on the other end of a session.

/// The identity of a connected peer process, as reported by the operating
/// system (not by the peer).
///
/// # Platform-specific behavior
///
/// On Linux all three fields come from `SO_PEERCRED` and are always set.
/// On Windows only `pid` is available (from the pipe's client or server
/// process id); `uid` and `gid` are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PeerCredentials {
    /// Process id of the peer.
    pub pid: Option<u32>,
    /// User id of the peer.
    pub uid: Option<u32>,
    /// Group id of the peer.
    pub gid: Option<u32>,
}
