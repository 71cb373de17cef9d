//! Run directories on Windows: only a name. Named pipes and mappings do
//! not live in a directory; the run directory string is hashed into their
//! names, and each object's security descriptor controls access.

use std::path::PathBuf;

use crate::transport::run_dir::{RunDirError, RunDirPolicy, RunDirState};

pub(crate) fn default_run_dir() -> PathBuf {
    match std::env::var_os("LOCALAPPDATA").filter(|v| !v.is_empty()) {
        Some(local) => PathBuf::from(local).join("netipc"),
        None => std::env::temp_dir().join("netipc"),
    }
}

pub(crate) fn prepare_run_dir(
    _path: &str,
    _policy: &RunDirPolicy,
) -> Result<RunDirState, RunDirError> {
    Ok(RunDirState::NameOnly)
}
