//! Exactly one provider per endpoint, and no step that follows a link
//! planted at an endpoint path.
//!
//! # How a provider takes `<run_dir>/<service>.sock`
//!
//! 1. **The lock.** It opens `<service>.lock` (created 0600, never through
//!    a symbolic link, and only used when it is a regular file of this user
//!    with one link) and takes `flock(LOCK_EX | LOCK_NB)` on it, held for
//!    the listener's whole life; it writes its pid into the file. A second
//!    netipc provider fails here with "already served by pid N": a held lock
//!    proves a live provider without any connection attempt. The holder
//!    removes the file when it stops; a taker that locked a file removed
//!    in the meantime starts over, so two providers never hold locks on
//!    two different files of the same name.
//! 2. **The socket path, under the lock.** Nothing there: free. A socket
//!    that accepts a connection: a live provider that takes no lock (the
//!    reference implementations), reported with its pid (peer
//!    credentials). A socket of this user that refuses connections twice,
//!    20 ms apart: stale, removed. A symbolic link is never followed nor
//!    removed (whether it is stale cannot be told without following it),
//!    and an entry of another user is never touched: both are reported by
//!    path, owner and mode. Other entries of this user (a regular file, an
//!    empty directory) are junk and removed, as the reference rules say.
//!    Every removal first checks that the entry is still the one examined.
//!    Connection probes go through `/proc/self/fd` of an `O_PATH |
//!    O_NOFOLLOW` descriptor, so they reach exactly the socket examined.
//! 3. **Bind elsewhere, then appear complete.** The socket is bound under
//!    the temporary name `<service>.bind` (same length as the final name),
//!    its permissions are set through a descriptor of that very file
//!    ([`apply_socket_mode`] for the owner-only mode, then
//!    [`super::identity::apply_access`] for a configured group), it starts
//!    listening, and only then is it hard-linked to `<service>.sock`
//!    (`linkat`, which never replaces an existing entry and does not follow
//!    links; where a file system has no hard links, `renameat2` with
//!    `RENAME_NOREPLACE`). The endpoint therefore never exists in a state
//!    that refuses connections or has the wrong mode, which is what made a
//!    concurrent starter's stale check delete it before.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use rustix::fs::{
    AtFlags, CWD, FileType, FlockOperation, Mode, OFlags, RenameFlags, Stat, chmod, fchmod, flock,
    fstat, ftruncate, linkat, openat, renameat_with, statat, unlinkat,
};
use rustix::io::{Errno, pread, pwrite};
use rustix::net::{SocketAddrUnix, bind, connect, listen, sockopt};

use super::run_dir::{euid, kind_of, perm_bits};
use crate::error::{Error, Result};

/// Permissions of the socket file: owner only.
pub(crate) const SOCKET_MODE: u32 = 0o600;

/// Pause between the two probes that find a socket stale (a reference
/// provider between its bind and its listen refuses connections for a
/// moment).
const STALE_RECHECK: Duration = Duration::from_millis(20);
/// How long a provider that lost the lock waits for the winner's pid to
/// appear in the lock file.
const PID_WAIT: Duration = Duration::from_millis(200);
/// Attempts before giving up on entries that keep changing under us.
const ATTEMPTS: usize = 8;

/// Whether process `pid` exists (a permission error still means it does).
pub(crate) fn pid_alive(pid: i32) -> bool {
    use rustix::process::{Pid, test_kill_process};
    match Pid::from_raw(pid) {
        Some(p) if pid > 0 => matches!(test_kill_process(p), Ok(()) | Err(Errno::PERM)),
        _ => false,
    }
}

fn node(st: &Stat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

/// The error for an entry netipc may not use or remove.
pub(crate) fn foreign(path: &str, st: &Stat) -> Error {
    Error::ForeignEntry {
        path: path.to_owned(),
        kind: kind_of(st),
        owner: st.st_uid,
        mode: perm_bits(st),
    }
}

fn io(context: &'static str, e: Errno) -> Error {
    Error::io(context, e.into())
}

/// The `flock` that makes a provider the only one of its endpoint.
#[derive(Debug)]
pub(crate) struct EndpointLock {
    /// Open (and locked) until the listener drops.
    #[allow(dead_code, reason = "holding the descriptor is holding the lock")]
    fd: OwnedFd,
    name: String,
    node: (u64, u64),
}

impl EndpointLock {
    /// Takes the lock of `service` in `dir` (whose path is `run_dir`) or
    /// fails with `AddressInUse` naming the holder's pid.
    pub(crate) fn acquire(
        dir: &OwnedFd,
        run_dir: &str,
        service: &str,
        endpoint: &str,
    ) -> Result<Self> {
        let name = format!("{service}.lock");
        let path = format!("{run_dir}/{name}");
        for _ in 0..ATTEMPTS {
            let fd = match openat(
                dir,
                name.as_str(),
                OFlags::RDWR
                    | OFlags::CREATE
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC,
                Mode::RUSR | Mode::WUSR,
            ) {
                Ok(fd) => fd,
                Err(e) => {
                    // A link, or a file this user may not open: say what it
                    // is. Otherwise (say, no write permission) name the path.
                    let named =
                        std::io::Error::new(std::io::Error::from(e).kind(), format!("{path}: {e}"));
                    return Err(
                        match statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                            Ok(st) => foreign(&path, &st),
                            Err(_) => Error::io("creating the endpoint's lock file", named),
                        },
                    );
                }
            };
            let st = fstat(&fd).map_err(|e| io("inspecting the endpoint's lock file", e))?;
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_uid != euid() {
                return Err(foreign(&path, &st));
            }
            if st.st_nlink != 1 {
                // Another name for this file exists (a planted hard link):
                // writing to it would change that other file.
                return Err(Error::ForeignEntry {
                    path,
                    kind: "regular file with more than one link",
                    owner: st.st_uid,
                    mode: perm_bits(&st),
                });
            }
            match flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => {
                    return Err(Error::AddressInUse {
                        endpoint: endpoint.to_owned(),
                        pid: holder_pid(&fd),
                    });
                }
                Err(Errno::INTR) => continue,
                Err(e) => return Err(io("locking the endpoint's lock file", e)),
            }
            // The previous holder may have removed the file between our
            // open and our lock: a lock on a removed file proves nothing.
            match statat(dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(now) if node(&now) == node(&st) => {}
                _ => continue,
            }
            let text = format!("{}\n", std::process::id());
            pwrite(&fd, text.as_bytes(), 0)
                .and_then(|_| ftruncate(&fd, text.len() as u64))
                .map_err(|e| io("writing the pid into the endpoint's lock file", e))?;
            return Ok(Self {
                fd,
                name,
                node: node(&st),
            });
        }
        Err(Error::io(
            "taking the endpoint's lock file",
            std::io::Error::other(format!("{path} keeps being replaced")),
        ))
    }

    /// Removes the lock file if it is still ours (the lock itself is
    /// released when the descriptor closes, after this).
    pub(crate) fn release(&self, dir: &OwnedFd) {
        remove_if_same(dir, &self.name, self.node, false);
    }
}

/// The pid in a lock file held by someone else. The holder writes it right
/// after locking, so a reader that comes in between waits a moment; a pid
/// that is not alive is left over from a provider that crashed.
fn holder_pid(fd: &OwnedFd) -> Option<u32> {
    let give_up = std::time::Instant::now() + PID_WAIT;
    loop {
        let mut buf = [0u8; 24];
        if let Ok(n) = pread(fd, &mut buf, 0) {
            let text = std::str::from_utf8(&buf[..n]).unwrap_or("");
            if let Some((digits, _)) = text.split_once('\n') {
                if let Ok(pid) = digits.parse::<u32>() {
                    if i32::try_from(pid).is_ok_and(pid_alive) {
                        return Some(pid);
                    }
                }
            }
        }
        if std::time::Instant::now() >= give_up {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Removes `name` from `dir` if it is still the entry `node`. `false` when
/// something else is there now (or the removal failed).
fn remove_if_same(dir: &OwnedFd, name: &str, node_was: (u64, u64), is_dir: bool) -> bool {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if node(&st) == node_was => {}
        Err(Errno::NOENT) => return true,
        _ => return false,
    }
    let flags = if is_dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    matches!(unlinkat(dir, name, flags), Ok(()) | Err(Errno::NOENT))
}

/// What a connection attempt to a socket found.
enum Probe {
    Live(Option<u32>),
    Dead,
}

/// Tries to connect to the socket `name` in `dir`, which must still be
/// the entry `node_was`. The connection goes to exactly that file: through
/// `/proc/self/fd` of a descriptor opened without following links (the
/// path itself when `/proc` is not mounted).
fn probe(dir: &OwnedFd, name: &str, path: &str, node_was: (u64, u64)) -> Probe {
    let Ok(pinned) = openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return Probe::Dead;
    };
    match fstat(&pinned) {
        Ok(st)
            if node(&st) == node_was && FileType::from_raw_mode(st.st_mode) == FileType::Socket => {
        }
        _ => return Probe::Dead,
    }
    let via_proc = format!("/proc/self/fd/{}", pinned.as_raw_fd());
    let target = if statat(CWD, "/proc/self/fd", AtFlags::empty()).is_ok() {
        via_proc.as_str()
    } else {
        path
    };
    let Ok(addr) = SocketAddrUnix::new(target) else {
        return Probe::Dead;
    };
    // Non-blocking, so a live provider with a full backlog answers EAGAIN
    // instead of blocking the probe. If no socket can be made, nothing can
    // be judged: count it as live (never remove what cannot be checked).
    let Ok(sock) = super::socket::new_socket(true) else {
        return Probe::Live(None);
    };
    match connect(&sock, &addr) {
        Ok(()) => Probe::Live(
            sockopt::socket_peercred(&sock)
                .ok()
                .and_then(|c| u32::try_from(c.pid.as_raw_nonzero().get()).ok()),
        ),
        Err(Errno::AGAIN | Errno::INPROGRESS) => Probe::Live(None),
        Err(_) => Probe::Dead,
    }
}

/// Makes the socket path free, holding the endpoint lock: see the module
/// documentation for what is removed and what is refused.
pub(crate) fn clear_socket_path(dir: &OwnedFd, name: &str, path: &str) -> Result<()> {
    for _ in 0..ATTEMPTS {
        let st = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io("inspecting the socket path", e)),
        };
        let file_type = FileType::from_raw_mode(st.st_mode);
        match file_type {
            FileType::Symlink => return Err(foreign(path, &st)),
            FileType::Socket => {
                if let Probe::Live(pid) = probe(dir, name, path, node(&st)) {
                    return Err(Error::AddressInUse {
                        endpoint: path.to_owned(),
                        pid,
                    });
                }
                if st.st_uid != euid() {
                    return Err(foreign(path, &st));
                }
                std::thread::sleep(STALE_RECHECK);
                if let Probe::Live(pid) = probe(dir, name, path, node(&st)) {
                    return Err(Error::AddressInUse {
                        endpoint: path.to_owned(),
                        pid,
                    });
                }
            }
            _ if st.st_uid != euid() => return Err(foreign(path, &st)),
            _ => {}
        }
        let is_dir = file_type == FileType::Directory;
        if !remove_if_same(dir, name, node(&st), is_dir) {
            match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                // A non-empty directory (or an entry we may not remove).
                Ok(now) if node(&now) == node(&st) => {
                    return Err(match foreign(path, &now) {
                        Error::ForeignEntry {
                            path, owner, mode, ..
                        } if is_dir => Error::ForeignEntry {
                            path,
                            kind: "non-empty directory",
                            owner,
                            mode,
                        },
                        other => other,
                    });
                }
                // Changed meanwhile: look again.
                _ => {}
            }
        }
    }
    Err(Error::io(
        "clearing the socket path",
        std::io::Error::other(format!("{path} keeps changing")),
    ))
}

/// Sets the permissions of the socket file `name` (just bound by this
/// process, not yet reachable under its public name) to `mode`, through a
/// descriptor of that very file opened without following links: it is the
/// one place where an endpoint's permissions are applied. Returns the
/// file's device and inode, and the descriptor (for a wider access).
fn apply_socket_mode(
    dir: &OwnedFd,
    name: &str,
    path: &str,
    mode: u32,
) -> Result<((u64, u64), OwnedFd)> {
    let pinned = openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io("opening the new socket file", e))?;
    let st = fstat(&pinned).map_err(|e| io("inspecting the new socket file", e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Socket || st.st_uid != euid() {
        return Err(foreign(path, &st));
    }
    if perm_bits(&st) != mode {
        // Only when the umask took away bits the mode needs. An O_PATH
        // descriptor has no fchmod; its /proc link reaches the same file.
        chmod(
            format!("/proc/self/fd/{}", pinned.as_raw_fd()).as_str(),
            Mode::from_raw_mode(mode),
        )
        .map_err(|e| io("setting the socket file's mode (through /proc/self/fd)", e))?;
    }
    Ok((node(&st), pinned))
}

/// Removes the temporary socket name on drop (when it is still ours).
struct TempName<'a> {
    dir: &'a OwnedFd,
    name: &'a str,
    node: Option<(u64, u64)>,
}

impl Drop for TempName<'_> {
    fn drop(&mut self) {
        if let Some(node) = self.node {
            remove_if_same(self.dir, self.name, node, false);
        }
    }
}

/// A listening socket published at its final path.
pub(crate) struct Published {
    pub(crate) fd: OwnedFd,
    pub(crate) node: (u64, u64),
}

/// Binds, secures and starts a listening socket, then publishes it at
/// `<service>.sock` without replacing anything. `None`: something appeared
/// at the final path meanwhile (the caller examines it and tries again).
/// Must be called with the endpoint lock held.
pub(crate) fn bind_and_publish(
    dir: &OwnedFd,
    run_dir: &str,
    service: &str,
    backlog: u32,
    access: &crate::transport::identity::EndpointAccess,
) -> Result<Option<Published>> {
    let final_name = format!("{service}.sock");
    let temp = format!("{service}.bind");
    let temp_path = format!("{run_dir}/{temp}");
    // A leftover of a provider that died between bind and publish: under
    // the lock no provider can be using it.
    clear_leftover(dir, &temp, &temp_path)?;
    let fd = super::socket::new_socket(true)
        .map_err(|e| Error::io("creating the listening socket", e))?;
    // A socket file is created with the socket's own mode minus the umask:
    // set it first, so that the file is never more open than `SOCKET_MODE`.
    fchmod(&fd, Mode::from_raw_mode(SOCKET_MODE))
        .map_err(|e| io("setting the mode of the listening socket", e))?;
    let addr = SocketAddrUnix::new(temp_path.as_str())
        .map_err(|e| io("building the socket address", e))?;
    match bind(&fd, &addr) {
        Ok(()) => {}
        Err(Errno::ADDRINUSE) => {
            // Something appeared at the temporary name under the lock.
            let st = statat(dir, temp.as_str(), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| io("inspecting the temporary socket path", e))?;
            return Err(foreign(&temp_path, &st));
        }
        Err(e) => return Err(io("binding the socket", e)),
    }
    let mut guard = TempName {
        dir,
        name: &temp,
        node: None,
    };
    let (node, pinned) = apply_socket_mode(dir, &temp, &temp_path, SOCKET_MODE)?;
    guard.node = Some(node);
    // A wider access (a group) is given while the socket is still private
    // under its temporary name and not yet listening.
    super::identity::apply_access(pinned.as_fd(), access)?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    listen(&fd, backlog).map_err(|e| io("listening on the socket", e))?;
    match linkat(
        dir,
        temp.as_str(),
        dir,
        final_name.as_str(),
        AtFlags::empty(),
    ) {
        Ok(()) => {}
        Err(Errno::EXIST) => return Ok(None),
        Err(Errno::PERM | Errno::OPNOTSUPP | Errno::MLINK) => {
            // No hard links here: move the name instead, never replacing.
            match renameat_with(
                dir,
                temp.as_str(),
                dir,
                final_name.as_str(),
                RenameFlags::NOREPLACE,
            ) {
                Ok(()) => guard.node = None,
                Err(Errno::EXIST) => return Ok(None),
                Err(e) => return Err(io("publishing the socket under its name", e)),
            }
        }
        Err(e) => return Err(io("publishing the socket under its name", e)),
    }
    drop(guard);
    Ok(Some(Published { fd, node }))
}

/// Removes a leftover temporary socket of this user; refuses anything else.
fn clear_leftover(dir: &OwnedFd, name: &str, path: &str) -> Result<()> {
    for _ in 0..ATTEMPTS {
        let st = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(io("inspecting the temporary socket path", e)),
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::Socket || st.st_uid != euid() {
            return Err(foreign(path, &st));
        }
        remove_if_same(dir, name, node(&st), false);
    }
    Err(Error::io(
        "clearing the temporary socket path",
        std::io::Error::other(format!("{path} keeps changing")),
    ))
}

/// Removes the published socket if it is still ours.
pub(crate) fn unpublish(dir: &OwnedFd, name: &str, node: (u64, u64)) {
    remove_if_same(dir, name, node, false);
}
