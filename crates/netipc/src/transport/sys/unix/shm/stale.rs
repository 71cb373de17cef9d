//! Stale region detection: a region file is live only while its creator's
//! process exists and its generation tag is non-zero.
//!
//! Every entry is examined without following a link (`lstat`, then an
//! `O_NOFOLLOW` open whose descriptor must be the same file), and only
//! entries of this process's user are ever removed. Region names belong to
//! the provider (they are derived from the session ids it assigns), so
//! anything of this user under such a name that is not a live region is
//! junk: a symbolic link there is removed itself, its target untouched.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, fstat, openat, statat, unlinkat};
use rustix::io::Errno;

use super::super::endpoint::pid_alive;
use super::super::run_dir::{euid, kind_of, perm_bits};
use super::layout::{HEADER_LEN, MAGIC, OFF_MAGIC, OFF_OWNER_GEN, OFF_OWNER_PID};

/// What the stale check decided about a directory entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing there (or it was removed).
    Gone,
    /// A live region (of the given owner process, when known), or
    /// something that could not be judged: keep it.
    InUse(Option<u32>),
    /// An entry of another user: never touched.
    Foreign {
        /// What it is.
        kind: &'static str,
        /// Its owner.
        owner: u32,
        /// Its permission bits.
        mode: u32,
    },
}

fn foreign(st: &Stat) -> Verdict {
    Verdict::Foreign {
        kind: kind_of(st),
        owner: st.st_uid,
        mode: perm_bits(st),
    }
}

/// Removes `name` from `dir` only if it is still the file we examined.
fn remove_if_same(dir: &OwnedFd, name: &str, node: (u64, u64), is_dir: bool) -> Verdict {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if (st.st_dev, st.st_ino) == node => {}
        Ok(_) => return Verdict::InUse(None),
        Err(Errno::NOENT) => return Verdict::Gone,
        Err(_) => return Verdict::InUse(None),
    }
    let flags = if is_dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    match unlinkat(dir, name, flags) {
        Ok(()) | Err(Errno::NOENT) => Verdict::Gone,
        Err(_) => Verdict::InUse(None),
    }
}

/// Applies the stale-region rules to `name` in `dir` (whose path is
/// `run_dir`, for messages): junk and regions of dead owners are removed,
/// live regions, entries of other users and anything that cannot be
/// judged are kept.
pub(crate) fn check(dir: &OwnedFd, run_dir: &str, name: &str) -> Verdict {
    let st = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::NOENT) => return Verdict::Gone,
        Err(_) => return Verdict::InUse(None),
    };
    if st.st_uid != euid() {
        return foreign(&st);
    }
    let node = (st.st_dev, st.st_ino);
    let file_type = FileType::from_raw_mode(st.st_mode);
    if file_type != FileType::RegularFile {
        let verdict = remove_if_same(dir, name, node, file_type == FileType::Directory);
        if verdict == Verdict::Gone {
            tracing::warn!(
                path = %format!("{run_dir}/{name}"),
                kind = kind_of(&st),
                "removed a {} at a shared-memory region path (not followed; a link's target is untouched)",
                kind_of(&st)
            );
        }
        return verdict;
    }
    let fd = match openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Verdict::Gone,
        Err(_) => return Verdict::InUse(None),
    };
    let Ok(st) = fstat(&fd) else {
        return Verdict::InUse(None);
    };
    if (st.st_dev, st.st_ino) != node {
        // Replaced between the look and the open: judge it next time.
        return Verdict::InUse(None);
    }
    if (st.st_size as u64) < HEADER_LEN as u64 {
        return remove_if_same(dir, name, node, false);
    }
    let Some((magic, pid, generation)) = owner(&fd) else {
        return remove_if_same(dir, name, node, false);
    };
    if magic != MAGIC {
        return remove_if_same(dir, name, node, false);
    }
    if pid_alive(pid) && generation != 0 {
        return Verdict::InUse(u32::try_from(pid).ok());
    }
    remove_if_same(dir, name, node, false)
}

/// Magic, owner pid and generation from the first 64 bytes of a region.
fn owner(fd: impl AsFd) -> Option<(u32, i32, u32)> {
    let mut header = [0u8; HEADER_LEN];
    match rustix::io::pread(fd.as_fd(), &mut header, 0) {
        Ok(n) if n == HEADER_LEN => {}
        _ => return None,
    }
    let u32_at = |at: usize| {
        u32::from_ne_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    Some((
        u32_at(OFF_MAGIC),
        u32_at(OFF_OWNER_PID) as i32,
        u32_at(OFF_OWNER_GEN),
    ))
}
