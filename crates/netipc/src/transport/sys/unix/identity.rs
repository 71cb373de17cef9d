//! Identities on Linux: the peer's credentials from `SO_PEERCRED`, this
//! process's effective uid, and the mode and group of the provider's files
//! ([`EndpointAccess`]).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use rustix::fs::{AtFlags, Gid, Mode, chmod, chownat, fchmod, fchown};
use rustix::io::Errno;
use rustix::net::sockopt;

use super::Conn;
use crate::error::{Error, Result};
use crate::transport::identity::{EndpointAccess, Identity, PeerIdentity};

/// The OS administrator: root.
pub(crate) fn admin_identities() -> &'static [Identity] {
    &[Identity::Uid(0)]
}

/// This process's effective uid.
pub(crate) fn current_user() -> Result<Identity> {
    Ok(Identity::Uid(rustix::process::geteuid().as_raw()))
}

/// The peer's pid, effective uid and effective gid as the kernel recorded
/// them when the connection was made (for a client's peer: when the
/// provider called `listen`). Supplementary groups are not reported.
pub(crate) fn peer_identity(conn: &Conn) -> PeerIdentity {
    match sockopt::socket_peercred(conn.as_fd()) {
        Ok(cred) => PeerIdentity {
            pid: u32::try_from(cred.pid.as_raw_nonzero().get()).ok(),
            user: Some(Identity::Uid(cred.uid.as_raw())),
            groups: vec![Identity::Gid(cred.gid.as_raw())],
        },
        Err(_) => PeerIdentity::default(),
    }
}

/// The mode and group `access` gives the provider's files.
fn mode_and_group(access: &EndpointAccess) -> Result<(Mode, Option<Gid>)> {
    match access {
        EndpointAccess::OwnerOnly => Ok((Mode::RUSR | Mode::WUSR, None)),
        // -1 means "leave the group unchanged" to chown: not a group.
        EndpointAccess::OwnerAndGroup(Identity::Gid(gid)) if *gid != u32::MAX => Ok((
            Mode::RUSR | Mode::WUSR | Mode::RGRP | Mode::WGRP,
            Some(Gid::from_raw(*gid)),
        )),
        EndpointAccess::OwnerAndGroup(other) => Err(Error::io(
            "applying the endpoint access",
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "EndpointAccess::OwnerAndGroup needs a group id (gid:N, N below 4294967295) on this OS, not {other}"
                ),
            ),
        )),
    }
}

fn group_error(context: &'static str, gid: Option<Gid>, e: Errno) -> Error {
    let gid = gid.map_or(0, Gid::as_raw);
    let source = if e == Errno::PERM {
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "cannot give it to group gid:{gid}: the provider must run as root or be a member of that group"
            ),
        )
    } else {
        e.into()
    };
    Error::io(context, source)
}

/// Gives the socket file open as `pinned` (an `O_PATH` descriptor of the
/// very file, so no link is followed) the mode and group of `access`.
/// Owner-only is what the bind already did; nothing is done for it.
///
/// Call it before `listen` (then nobody can connect before the access is
/// final) or after it (the access only widens from 0600).
///
/// # Errors
/// `Io` naming the cause: a group that is not a gid, a provider that may
/// not use the group.
pub(crate) fn apply_access(pinned: BorrowedFd<'_>, access: &EndpointAccess) -> Result<()> {
    let (mode, group) = mode_and_group(access)?;
    if group.is_none() {
        return Ok(());
    }
    const CONTEXT: &str = "applying the endpoint access to the socket file";
    chownat(pinned, "", None, group, AtFlags::EMPTY_PATH)
        .map_err(|e| group_error(CONTEXT, group, e))?;
    // An O_PATH descriptor has no fchmod; its /proc link reaches the same
    // inode.
    chmod(
        format!("/proc/self/fd/{}", pinned.as_raw_fd()).as_str(),
        mode,
    )
    .map_err(|e| Error::io(CONTEXT, e.into()))
}

/// Gives a provider's file that is open as `fd` (a shared-memory region)
/// the mode and group of `access`.
///
/// # Errors
/// As [`apply_access`].
pub(crate) fn apply_access_fd(fd: impl AsFd, access: &EndpointAccess) -> Result<()> {
    let (mode, group) = mode_and_group(access)?;
    if group.is_none() {
        return Ok(());
    }
    const CONTEXT: &str = "applying the endpoint access to a shared-memory region";
    fchown(&fd, None, group).map_err(|e| group_error(CONTEXT, group, e))?;
    fchmod(&fd, mode).map_err(|e| Error::io(CONTEXT, e.into()))
}

/// The socket path of a service, for messages.
pub(crate) fn endpoint_name(run_dir: &str, service: &str) -> String {
    crate::transport::names::socket_path(run_dir, service)
        .unwrap_or_else(|_| format!("{run_dir}/{service}.sock"))
}
