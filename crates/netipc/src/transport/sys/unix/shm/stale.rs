//! Stale region detection: a region file is live only while its creator's
//! process exists and its generation tag is non-zero.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, fstat, openat, statat, unlinkat};
use rustix::io::Errno;
use rustix::process::{Pid, test_kill_process};

use super::layout::{HEADER_LEN, MAGIC, OFF_MAGIC, OFF_OWNER_GEN, OFF_OWNER_PID};

/// What the stale check decided about a directory entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Nothing there (or it was removed).
    Gone,
    /// A live region, or something that could not be judged: keep it.
    InUse,
}

/// Whether process `pid` exists (a permission error still means it does).
pub(super) fn pid_alive(pid: i32) -> bool {
    match Pid::from_raw(pid) {
        Some(p) if pid > 0 => matches!(test_kill_process(p), Ok(()) | Err(Errno::PERM)),
        _ => false,
    }
}

/// Removes `name` from `dir` only if it is still the file we examined.
fn remove_if_same(dir: &OwnedFd, name: &str, node: Option<(u64, u64)>, is_dir: bool) -> Verdict {
    if let Some(node) = node {
        match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if (st.st_dev, st.st_ino) == node => {}
            Ok(_) => return Verdict::InUse,
            Err(Errno::NOENT) => return Verdict::Gone,
            Err(_) => return Verdict::InUse,
        }
    }
    let flags = if is_dir {
        AtFlags::REMOVEDIR
    } else {
        AtFlags::empty()
    };
    match unlinkat(dir, name, flags) {
        Ok(()) | Err(Errno::NOENT) => Verdict::Gone,
        Err(_) => Verdict::InUse,
    }
}

/// Applies the stale-region rules to `name` in `dir`: junk and regions of
/// dead owners are removed, live regions and anything that cannot be
/// judged are kept.
pub(crate) fn check(dir: &OwnedFd, name: &str) -> Verdict {
    let fd = match openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Verdict::Gone,
        Err(Errno::MFILE | Errno::NFILE) => return Verdict::InUse,
        Err(_) => {
            let is_dir = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
            return remove_if_same(dir, name, None, is_dir);
        }
    };
    let Ok(st) = fstat(&fd) else {
        return Verdict::InUse;
    };
    let node = Some((st.st_dev, st.st_ino));
    let file_type = FileType::from_raw_mode(st.st_mode);
    if file_type == FileType::Directory {
        return remove_if_same(dir, name, node, true);
    }
    if file_type != FileType::RegularFile || (st.st_size as u64) < HEADER_LEN as u64 {
        return remove_if_same(dir, name, node, false);
    }
    let Some((magic, pid, generation)) = owner(&fd) else {
        return remove_if_same(dir, name, node, false);
    };
    if magic != MAGIC {
        return remove_if_same(dir, name, node, false);
    }
    if pid_alive(pid) && generation != 0 {
        return Verdict::InUse;
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
