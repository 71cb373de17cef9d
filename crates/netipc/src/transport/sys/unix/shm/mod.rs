//! Linux shared-memory data plane (profiles SHM_HYBRID and its alias
//! SHM_FUTEX): one region file per session in the run directory, spin then
//! futex wait.

mod fault_guard;
mod layout;
mod mapping;
mod raw;
mod region;
mod stale;
#[cfg(test)]
mod tests;
mod watch;

pub(crate) use fault_guard::unblock_in_this_thread as prepare_thread;
pub(crate) use raw::RawShm;
pub(crate) use region::{ShmOffer, ShmRegion, cleanup_stale};
pub(crate) use watch::{GroupSignal, ShmWatch, disable_waitv, group_capacity, wait_group};
