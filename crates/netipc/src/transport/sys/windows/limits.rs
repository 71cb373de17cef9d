//! How many sessions a server may hold.

/// Windows has no per-process descriptor limit that sessions would run
/// into (handles are limited only by memory), so every wanted session is
/// allowed.
pub(crate) fn session_capacity(wanted: usize, _per_session: usize) -> usize {
    wanted
}
