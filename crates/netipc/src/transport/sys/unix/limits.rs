//! How many sessions the process's descriptor limit allows.

use rustix::process::{Resource, getrlimit, setrlimit};

/// Descriptors kept free for everything else the process does.
const RESERVE: u64 = 64;

/// How many sessions a server may hold when each needs `per_session`
/// descriptors, given the process's open-file limit. The soft limit is
/// first raised towards the hard limit as far as `wanted` sessions need
/// (as the Go runtime does at start-up); the result is at most `wanted`
/// and at least 1.
pub(crate) fn session_capacity(wanted: usize, per_session: usize) -> usize {
    let per = per_session.max(1) as u64;
    let need = (wanted as u64)
        .saturating_mul(per)
        .saturating_add(RESERVE + open_descriptors());
    let mut limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft < need {
        let raised = limit.maximum.map_or(need, |hard| hard.min(need));
        if raised > soft {
            limit.current = Some(raised);
            if setrlimit(Resource::Nofile, limit).is_err() {
                limit.current = Some(soft);
            }
        }
    }
    let soft = limit.current.unwrap_or(u64::MAX);
    let room = soft.saturating_sub(RESERVE + open_descriptors()) / per;
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(1, wanted.max(1))
}

/// Descriptors open right now (0 when `/proc/self/fd` cannot be read).
fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}
