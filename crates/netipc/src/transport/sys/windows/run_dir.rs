//! Run directories on Windows. Named pipes and mappings do not live in a
//! directory: the canonical spelling of the run directory is hashed into
//! their names, and each object's security descriptor controls access. The
//! directory must exist all the same, as on POSIX (see
//! [`crate::transport::run_dir`]); its permissions are not checked.

use std::path::{Path, PathBuf};

use crate::transport::names::{
    NameError, WINDOWS_HASH_INPUT_MAX, canonical_windows_run_dir, pipe_name,
};
use crate::transport::run_dir::{RunDirError, RunDirPolicy, RunDirState, kind_of};

pub(crate) fn default_run_dir() -> PathBuf {
    match std::env::var_os("LOCALAPPDATA").filter(|v| !v.is_empty()) {
        Some(local) => PathBuf::from(local).join("netipc"),
        None => std::env::temp_dir().join("netipc"),
    }
}

/// Whether `path` depends on the current directory: neither rooted (`\x`,
/// `/x`, `\\server\share`) nor a rooted drive path (`C:\x`). `C:x` is
/// relative to the current directory of drive C.
fn is_relative(path: &str) -> bool {
    let b = path.as_bytes();
    let sep = |c: u8| c == b'/' || c == b'\\';
    let rooted = b.first().copied().is_some_and(sep);
    let drive_rooted = b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && sep(b[2]);
    !rooted && !drive_rooted
}

/// The spelling of `run_dir` that names its endpoints: relative paths made
/// absolute against the current directory (as POSIX resolves them), then
/// [`canonical_windows_run_dir`].
pub(crate) fn canonical_run_dir(run_dir: &str) -> Result<String, RunDirError> {
    if !is_relative(run_dir) {
        return Ok(canonical_windows_run_dir(run_dir));
    }
    let absolute = std::path::absolute(run_dir).map_err(|source| RunDirError::Io {
        context: "cannot make the run directory absolute",
        path: run_dir.to_owned(),
        source,
    })?;
    let absolute = absolute
        .into_os_string()
        .into_string()
        .map_err(|dir| RunDirError::NotUtf8 { path: dir.into() })?;
    Ok(canonical_windows_run_dir(&absolute))
}

/// The endpoint of `service` in the canonical `run_dir`: its pipe name.
/// The shared-memory object names hash `run_dir`, `service` and the auth
/// token, an input that reference peers limit to
/// [`WINDOWS_HASH_INPUT_MAX`] bytes; it is checked here with the longest
/// token (20 digits), so that a run directory is too long (as on POSIX,
/// where the socket path has a limit) whatever the token.
pub(crate) fn endpoint_path(run_dir: &str, service: &str) -> Result<String, NameError> {
    let name = pipe_name(run_dir, service)?;
    let len = run_dir.len() + service.len() + 2 + u64::MAX.to_string().len();
    if len > WINDOWS_HASH_INPUT_MAX {
        return Err(NameError::TooLong {
            what: "the shared-memory name input (run directory, service and auth token)",
            len,
            max: WINDOWS_HASH_INPUT_MAX,
        });
    }
    Ok(name)
}

fn io_err(context: &'static str, path: &str, source: std::io::Error) -> RunDirError {
    RunDirError::Io {
        context,
        path: path.to_owned(),
        source,
    }
}

/// Creates the directory when asked to (only the last component), then
/// checks that it is a directory and not a link. Ownership and access are
/// a matter of each endpoint's security descriptor here.
pub(crate) fn prepare_run_dir(
    path: &str,
    policy: &RunDirPolicy,
) -> Result<RunDirState, RunDirError> {
    let dir = canonical_run_dir(path)?;
    let mut created = false;
    if policy.create {
        if let Some(parent) = Path::new(&dir).parent().filter(|p| !p.is_dir()) {
            return Err(RunDirError::MissingParent {
                path: dir.clone(),
                parent: parent.display().to_string(),
            });
        }
        match std::fs::create_dir(&dir) {
            Ok(()) => created = true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("cannot create the run directory", &dir, e)),
        }
    }
    let meta = match std::fs::symlink_metadata(&dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RunDirError::Missing { path: dir });
        }
        Err(e) => return Err(io_err("cannot inspect the run directory", &dir, e)),
    };
    if meta.is_symlink() {
        let target = std::fs::read_link(&dir)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "an unreadable target".to_owned());
        return Err(RunDirError::Symlink { path: dir, target });
    }
    if !meta.is_dir() {
        return Err(RunDirError::NotADirectory {
            path: dir,
            kind: kind_of(&meta),
        });
    }
    Ok(if created {
        RunDirState::Created
    } else {
        RunDirState::Existing
    })
}
