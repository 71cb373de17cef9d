//! Run directories on POSIX: the default location, creation with mode
//! 0700 without following links, and the ownership and mode checks, all
//! made on an open descriptor (never on a path that could change between
//! check and use).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{
    Access, AtFlags, CWD, FileType, Mode, OFlags, Stat, accessat, fchmod, fstat, mkdirat, openat,
    readlinkat, statat,
};
use rustix::io::Errno;

use crate::transport::names::{NameError, canonical_posix_run_dir, socket_path};
use crate::transport::run_dir::{RunDirError, RunDirPolicy, RunDirState};

/// Mode of every run directory the library creates.
const CREATE_MODE: u32 = 0o700;
const S_IWGRP: u32 = 0o020;
const S_IWOTH: u32 = 0o002;

/// This process's effective uid.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// A short name for the type of a file, for messages.
pub(crate) fn kind_of(st: &Stat) -> &'static str {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

/// Permission bits (with set-id and sticky bits) of a stat result.
pub(crate) fn perm_bits(st: &Stat) -> u32 {
    st.st_mode & 0o7777
}

pub(crate) fn default_run_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| Path::new(v).is_absolute()) {
        return PathBuf::from(xdg).join("netipc");
    }
    let run_writable = accessat(
        CWD,
        "/run",
        Access::WRITE_OK | Access::EXEC_OK,
        AtFlags::EACCESS,
    )
    .is_ok();
    if run_writable {
        return PathBuf::from("/run/netipc");
    }
    std::env::temp_dir().join(format!("netipc-{}", euid()))
}

/// The spelling of `run_dir` that names its endpoints:
/// [`canonical_posix_run_dir`] (relative paths stay relative: the kernel
/// resolves them against the current directory).
pub(crate) fn canonical_run_dir(run_dir: &str) -> Result<String, RunDirError> {
    Ok(canonical_posix_run_dir(run_dir))
}

/// The endpoint of `service` in the canonical `run_dir`: its socket path.
pub(crate) fn endpoint_path(run_dir: &str, service: &str) -> Result<String, NameError> {
    socket_path(run_dir, service)
}

fn io_err(context: &'static str, path: &str, e: Errno) -> RunDirError {
    RunDirError::Io {
        context,
        path: path.to_owned(),
        source: e.into(),
    }
}

/// Checks an open run directory: owned by this user or root, not writable
/// by others, not writable by its group unless allowed.
pub(crate) fn check_dir(path: &str, st: &Stat, allow_group_write: bool) -> Result<(), RunDirError> {
    let (owner, mode) = (st.st_uid, perm_bits(st));
    let uid = euid();
    if owner != uid && owner != 0 {
        return Err(RunDirError::ForeignOwner {
            path: path.to_owned(),
            owner,
            mode,
            uid,
        });
    }
    if mode & S_IWOTH != 0 {
        return Err(RunDirError::WorldWritable {
            path: path.to_owned(),
            owner,
            mode,
        });
    }
    if mode & S_IWGRP != 0 && !allow_group_write {
        return Err(RunDirError::GroupWritable {
            path: path.to_owned(),
            owner,
            gid: st.st_gid,
            mode,
        });
    }
    Ok(())
}

/// Opens the run directory of an endpoint (following links, as its
/// clients do) and applies the checks no layout can do without: owned by
/// this user or root, not writable by every user. Group write is left to
/// [`prepare_run_dir`]'s policy.
pub(crate) fn open_endpoint_dir(run_dir: &str) -> Result<OwnedFd, RunDirError> {
    if run_dir.is_empty() {
        return Err(RunDirError::Empty);
    }
    let dir = match openat(
        CWD,
        run_dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(dir) => dir,
        Err(Errno::NOENT) => {
            return Err(RunDirError::Missing {
                path: run_dir.to_owned(),
            });
        }
        Err(Errno::NOTDIR) => {
            let kind = statat(CWD, run_dir, AtFlags::empty())
                .map(|st| kind_of(&st))
                .unwrap_or("file that is not a directory");
            return Err(RunDirError::NotADirectory {
                path: run_dir.to_owned(),
                kind,
            });
        }
        Err(e) => return Err(io_err("cannot open the run directory", run_dir, e)),
    };
    let st = fstat(&dir).map_err(|e| io_err("cannot inspect the run directory", run_dir, e))?;
    check_dir(run_dir, &st, true)?;
    Ok(dir)
}

/// Explains why `name` in `parent` could not be opened as a directory
/// without following links.
fn not_a_directory(parent: &OwnedFd, name: &Path, path: &str) -> RunDirError {
    match statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
            let target = readlinkat(parent, name, Vec::new())
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "an unreadable target".to_owned());
            RunDirError::Symlink {
                path: path.to_owned(),
                target,
            }
        }
        Ok(st) => RunDirError::NotADirectory {
            path: path.to_owned(),
            kind: kind_of(&st),
        },
        Err(Errno::NOENT) => RunDirError::Missing {
            path: path.to_owned(),
        },
        Err(e) => io_err("cannot inspect", path, e),
    }
}

pub(crate) fn prepare_run_dir(
    path: &str,
    policy: &RunDirPolicy,
) -> Result<RunDirState, RunDirError> {
    let p = Path::new(path);
    let Some(name) = p.file_name() else {
        // "/", "..", "a/..": nothing to create; check what is there.
        let dir = match openat(
            CWD,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(dir) => dir,
            Err(Errno::NOENT) => {
                return Err(RunDirError::Missing {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(io_err("cannot open the run directory", path, e)),
        };
        let st = fstat(&dir).map_err(|e| io_err("cannot inspect the run directory", path, e))?;
        check_dir(path, &st, policy.allow_group_write)?;
        return Ok(RunDirState::Existing);
    };
    let parent_path = match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let parent = match openat(
        CWD,
        parent_path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(parent) => parent,
        Err(Errno::NOENT | Errno::NOTDIR) if policy.create => {
            return Err(RunDirError::MissingParent {
                path: path.to_owned(),
                parent: parent_path.display().to_string(),
            });
        }
        Err(Errno::NOENT | Errno::NOTDIR) => {
            return Err(RunDirError::Missing {
                path: path.to_owned(),
            });
        }
        Err(e) => {
            return Err(io_err(
                "cannot open the parent of the run directory",
                path,
                e,
            ));
        }
    };
    let mut created = false;
    if policy.create {
        // Created with its final mode (the umask can only take bits away,
        // and the descriptor below puts back what it took): there is no
        // moment in which it is more open than 0700.
        match mkdirat(&parent, name, Mode::from_raw_mode(CREATE_MODE)) {
            Ok(()) => created = true,
            Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err("cannot create the run directory", path, e)),
        }
    }
    let dir = match openat(
        &parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(dir) => dir,
        Err(Errno::LOOP | Errno::NOTDIR | Errno::NOENT) => {
            return Err(not_a_directory(&parent, Path::new(name), path));
        }
        Err(e) => return Err(io_err("cannot open the run directory", path, e)),
    };
    let st = fstat(&dir).map_err(|e| io_err("cannot inspect the run directory", path, e))?;
    if created && st.st_uid == euid() {
        if perm_bits(&st) != CREATE_MODE {
            fchmod(&dir, Mode::from_raw_mode(CREATE_MODE))
                .map_err(|e| io_err("cannot set mode 0700 on the run directory", path, e))?;
        }
        return Ok(RunDirState::Created);
    }
    // Either it existed, or what we created was replaced before we opened
    // it (then it is not ours to remove): judge what is there.
    check_dir(path, &st, policy.allow_group_write)?;
    Ok(RunDirState::Existing)
}
