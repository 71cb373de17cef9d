//! Run directories: where a platform's endpoints live by default, and a
//! safe way to create or accept one.
//!
//! A run directory holds a provider's endpoint files on POSIX (the socket
//! `<service>.sock`, its lock file `<service>.lock` and the shared-memory
//! regions). Whoever can write to the directory can replace them, so a
//! run directory must belong to the user running the provider (or to root)
//! and must not be writable by other users.
//!
//! * [`default_run_dir`] names the platform's default directory (it does
//!   not create it).
//! * [`prepare_run_dir`] creates a missing directory with mode 0700 (only
//!   the last component, never through a symbolic link) or checks an
//!   existing one, and refuses one that other users could control.
//!
//! ```no_run
//! use netipc::transport::run_dir::{RunDirPolicy, RunDirState, default_run_dir, prepare_run_dir};
//!
//! let dir = default_run_dir()?;
//! let state = prepare_run_dir(&dir, &RunDirPolicy { create: true, ..RunDirPolicy::default() })?;
//! // ... serve in `dir` ...
//! if state == RunDirState::Created {
//!     let _ = std::fs::remove_dir(&dir); // only succeeds when it is empty
//! }
//! # Ok::<(), netipc::transport::run_dir::RunDirError>(())
//! ```
//!
//! # The rules, the same on every OS
//!
//! 1. **The run directory must exist** before a provider binds or a
//!    consumer connects: both fail with [`RunDirError::Missing`] (inside
//!    [`Error::RunDir`](crate::Error::RunDir)) naming the directory
//!    otherwise, and with [`RunDirError::Empty`] for an empty string.
//!    Nothing creates it implicitly; [`prepare_run_dir`] does on request.
//! 2. **Equivalent spellings of one directory reach one endpoint.** The
//!    transport derives every endpoint name from the directory's canonical
//!    spelling:
//!    * POSIX ([`canonical_posix_run_dir`](super::names::canonical_posix_run_dir)):
//!      repeated `/` collapse, `.` components and a trailing `/` go:
//!      `/tmp/x/`, `/tmp//x` and `/tmp/./x` are `/tmp/x`.
//!    * Windows ([`canonical_windows_run_dir`](super::names::canonical_windows_run_dir)):
//!      a relative path is made absolute against the current directory;
//!      a drive path gets an upper-case drive letter and `\` separators;
//!      repeated separators, `.` components, `..` with the component before
//!      it and a trailing separator go: `C:\trial\`, `C:/trial` and
//!      `c:\trial` are `C:\trial`. A rooted path without a drive letter
//!      (`/var/run/netdata`, the form of programs built with MSYS2 or
//!      Cygwin) keeps `/` separators and no drive letter. Letter case other than the
//!      drive's is kept: spell the directory with the same case everywhere.
//! 3. **Reference peers** (the C, Rust and Go libraries of
//!    `netdata/plugin-ipc`) use the string they are given verbatim. They
//!    meet a netipc peer when they are given the canonical spelling, which
//!    is how paths are usually written (Netdata passes its run directory
//!    as an absolute path without a trailing separator, for example
//!    `/run/netdata` or `/var/run/netdata`). On POSIX the spelling does not
//!    matter to them (the kernel resolves the socket path); on Windows it
//!    does, because the pipe and shared-memory names hash the bytes.
//!
//! # Platform-specific behavior
//!
//! **POSIX.** The default is `$XDG_RUNTIME_DIR/netipc` when
//! `XDG_RUNTIME_DIR` is set to an absolute path (a per-user directory the
//! login manager creates with mode 0700), else `/run/netipc` when this
//! process may write to `/run` (root), else `<temp dir>/netipc-<uid>` (the
//! numeric effective uid; `<temp dir>` is `$TMPDIR` or `/tmp`). Providers
//! and consumers only meet when they use the identical string, so a
//! consumer running as another user than its provider (for example a
//! non-root consumer of a root provider) must be given the provider's
//! directory explicitly; the recommended layout for that is a root-owned
//! directory such as `/run/netdata`.
//!
//! An existing directory is accepted when it belongs to this process's
//! effective user or to root, is not writable by others, and (unless the
//! policy opts in) is not writable by its group. Readable or searchable by
//! group or others (0750, 0755) is fine: that lets group members reach
//! the endpoints without letting them replace anything. A world-writable
//! directory, sticky like `/tmp` or not, is never accepted.
//!
//! **Windows.** Named pipes and shared-memory mappings do not live in a
//! directory: the canonical spelling is hashed into the pipe and object
//! names (see [`names`](super::names)), and access is controlled by each
//! object's security descriptor. The directory must exist all the same
//! (rule 1), so that a run directory means the same on both OSes; nothing
//! is put in it, and its owner and permissions are not checked. The
//! default is `%LOCALAPPDATA%\netipc` (per user, like `XDG_RUNTIME_DIR`),
//! else `<temp dir>\netipc`. [`prepare_run_dir`] creates a missing one
//! (the last component only) and refuses a path that is a link or not a
//! directory.

use std::io::ErrorKind;
use std::path::PathBuf;

use super::sys;

/// What [`prepare_run_dir`] accepts and does.
///
/// `Default` is the strictest policy: create nothing, refuse a
/// group-writable directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RunDirPolicy {
    /// Create the directory (mode 0700) when it does not exist. Only the
    /// last component is created: its parent must exist, so that nothing
    /// is left behind that the caller does not know about. `false`: a
    /// missing directory is [`RunDirError::Missing`].
    pub create: bool,
    /// Accept an existing directory that its group may write, for layouts
    /// where providers of several users share one directory (give it the
    /// sticky bit, mode 1770, so that members cannot remove each other's
    /// endpoints). Writable by others is never accepted. POSIX only.
    pub allow_group_write: bool,
}

/// What [`prepare_run_dir`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunDirState {
    /// The directory did not exist and was created (mode 0700). The caller
    /// created it, so it is the caller's to remove when done.
    Created,
    /// The directory existed and passed the checks.
    Existing,
}

/// Why a run directory cannot be used. Every message names the directory
/// and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunDirError {
    /// The run directory is an empty string.
    #[error(
        "the run directory is an empty string: give the path of a directory (or leave it unset to use the default)"
    )]
    Empty,
    /// The default run directory is not valid UTF-8 (endpoint names are
    /// strings).
    #[error(
        "the default run directory {} is not UTF-8: give a run directory explicitly",
        path.display()
    )]
    NotUtf8 {
        /// The directory.
        path: PathBuf,
    },
    /// The directory does not exist (and the policy does not create it).
    #[error(
        "the run directory {path} does not exist: create it (mode 0700 on POSIX) before providers bind and consumers connect, or give the directory the provider uses"
    )]
    Missing {
        /// The directory.
        path: String,
    },
    /// The parent of a directory to create does not exist. Only the last
    /// component of a run directory is ever created.
    #[error(
        "cannot create the run directory {path}: its parent {parent} does not exist; only the last component is created, so create the parent first or choose another run directory"
    )]
    MissingParent {
        /// The directory.
        path: String,
        /// Its parent.
        parent: String,
    },
    /// The path is a symbolic link; run directories are never reached
    /// through one.
    #[error(
        "the run directory {path} is a symbolic link (to {target}): netipc does not follow it; give the real directory's path if you trust it, or remove the link"
    )]
    Symlink {
        /// The directory path given.
        path: String,
        /// What the link points to.
        target: String,
    },
    /// The path exists but is not a directory.
    #[error(
        "the run directory {path} is a {kind}, not a directory: remove it or choose another run directory"
    )]
    NotADirectory {
        /// The path.
        path: String,
        /// What it is ("regular file", "socket", ...).
        kind: &'static str,
    },
    /// The directory belongs to a user other than this process's
    /// effective user and root, who could replace the endpoints in it.
    #[error(
        "the run directory {path} belongs to uid {owner} (mode {mode:04o}), not to this user (uid {uid}) or root: its owner could replace the endpoints in it; remove it (or have its owner remove it), or choose another run directory"
    )]
    ForeignOwner {
        /// The directory.
        path: String,
        /// Its owner.
        owner: u32,
        /// Its permission bits.
        mode: u32,
        /// This process's effective uid.
        uid: u32,
    },
    /// Every user may write to the directory (with or without the sticky
    /// bit): never acceptable.
    #[error(
        "the run directory {path} (owner uid {owner}, mode {mode:04o}) is writable by every user: never usable as a run directory, sticky bit or not; use a private directory inside it (mode 0700) instead"
    )]
    WorldWritable {
        /// The directory.
        path: String,
        /// Its owner.
        owner: u32,
        /// Its permission bits.
        mode: u32,
    },
    /// The directory's group may write to it and the policy does not allow
    /// that.
    #[error(
        "the run directory {path} (owner uid {owner}, group {gid}, mode {mode:04o}) is writable by its group: group members could plant or replace endpoints; remove group write access (chmod g-w) or opt in to a group-writable run directory (then give it the sticky bit, mode 1770)"
    )]
    GroupWritable {
        /// The directory.
        path: String,
        /// Its owner.
        owner: u32,
        /// Its group.
        gid: u32,
        /// Its permission bits.
        mode: u32,
    },
    /// An operating-system call on the directory failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The directory.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The platform's default run directory (see the [module
/// documentation](self) for the rules). Nothing is created or checked:
/// pass the result to [`prepare_run_dir`].
///
/// Blocking: one `access` call on POSIX. Thread-safe; reads the
/// environment.
///
/// # Errors
/// [`RunDirError::NotUtf8`] when the directory is not valid UTF-8.
pub fn default_run_dir() -> Result<String, RunDirError> {
    let dir = sys::default_run_dir();
    dir.into_os_string()
        .into_string()
        .map_err(|dir| RunDirError::NotUtf8 { path: dir.into() })
}

/// The spelling of `run_dir` that names the endpoints of `service` (see
/// the [module documentation](self)), after checking that the endpoint's
/// name can be derived from it and that it is an existing directory
/// (following links). Errors name the directory as the caller spelled it. Every connect and bind goes through here, so a
/// missing run directory is [`RunDirError::Missing`] on every OS, for
/// providers and consumers alike; an invalid or too long name is reported
/// first (it is the string's fault, whatever is on disk).
///
/// Blocking: one `stat`. Thread-safe.
pub(crate) fn endpoint_dir(run_dir: &str, service: &str) -> crate::Result<String> {
    if run_dir.is_empty() {
        return Err(RunDirError::Empty.into());
    }
    let dir = sys::canonical_run_dir(run_dir)?;
    sys::endpoint_path(&dir, service)?;
    let path = run_dir.to_owned();
    let missing = match std::fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => return Ok(dir),
        Ok(meta) => RunDirError::NotADirectory {
            path,
            kind: kind_of(&meta),
        },
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            RunDirError::Missing { path }
        }
        Err(source) => RunDirError::Io {
            context: "cannot inspect the run directory",
            path,
            source,
        },
    };
    Err(missing.into())
}

/// What a non-directory is, for [`RunDirError::NotADirectory`].
pub(crate) fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_file() {
        "regular file"
    } else {
        "file that is not a directory"
    }
}

/// Creates or checks the run directory `path` as `policy` says, and
/// reports whether it was created.
///
/// On POSIX a missing directory is created with mode 0700 (created with
/// that mode, then opened without following links and fixed through the
/// open descriptor if the umask changed it), when `policy.create` is set
/// and its parent exists. An existing one is opened without following a
/// symbolic link at `path` and checked through the open descriptor: it
/// must be a directory owned by this process's effective user or by root,
/// not writable by others and, unless `policy.allow_group_write`, not
/// writable by its group. On Windows a missing directory is created the
/// same way (last component only) and an existing one must be a directory,
/// not a link; owner and permissions are not checked there (see the
/// [module documentation](self)).
///
/// Blocking: a few file-system calls. Thread-safe. Nothing is kept open.
///
/// # Errors
/// [`RunDirError::Empty`], [`Missing`](RunDirError::Missing),
/// [`MissingParent`](RunDirError::MissingParent),
/// [`Symlink`](RunDirError::Symlink),
/// [`NotADirectory`](RunDirError::NotADirectory),
/// [`ForeignOwner`](RunDirError::ForeignOwner),
/// [`WorldWritable`](RunDirError::WorldWritable),
/// [`GroupWritable`](RunDirError::GroupWritable),
/// [`Io`](RunDirError::Io) (for example no permission to create it).
pub fn prepare_run_dir(path: &str, policy: &RunDirPolicy) -> Result<RunDirState, RunDirError> {
    if path.is_empty() {
        return Err(RunDirError::Empty);
    }
    sys::prepare_run_dir(path, policy)
}
