//! The open-file limit: a thousand sessions need several thousand
//! descriptors (each client's socket and wake-up object, each shared
//! memory region), so the soft limit is raised to the hard limit at the
//! start. The provider child inherits the raised limit.
//!
//! Windows has no such per-process limit on handles, so there it does
//! nothing.

use serde::Serialize;

/// The open-file limit before and after raising it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenFiles {
    /// Soft limit before (`None`: unlimited).
    pub before: Option<u64>,
    /// Soft limit now (`None`: unlimited).
    pub now: Option<u64>,
    /// Why it could not be raised, if it could not.
    pub error: Option<String>,
}

impl OpenFiles {
    pub fn describe(&self) -> String {
        let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
        match (&self.error, self.before == self.now) {
            (Some(e), _) => format!("{} (could not raise it: {e})", show(self.now)),
            (None, true) => format!("{} (already the hard limit)", show(self.now)),
            (None, false) => format!("{} (raised from {})", show(self.now), show(self.before)),
        }
    }
}

/// Raises the soft open-file limit to the hard limit; `None` where the
/// system has no such limit.
#[cfg(unix)]
pub fn raise_open_files() -> Option<OpenFiles> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return Some(OpenFiles {
            before: limit.current,
            now: limit.current,
            error: None,
        });
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    let error = setrlimit(Resource::Nofile, raised)
        .err()
        .map(|e| e.to_string());
    Some(OpenFiles {
        before: limit.current,
        now: getrlimit(Resource::Nofile).current,
        error,
    })
}

/// Raises the soft open-file limit to the hard limit; `None` where the
/// system has no such limit.
#[cfg(not(unix))]
pub fn raise_open_files() -> Option<OpenFiles> {
    None
}
