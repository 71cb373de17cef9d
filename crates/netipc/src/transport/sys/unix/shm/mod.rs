//! Linux shared-memory data plane (profiles SHM_HYBRID and its alias
//! SHM_FUTEX): one region file per session in the run directory, spin then
//! futex wait.

mod fault_guard;
mod layout;
mod mapping;
#[cfg(any(test, feature = "test-support"))]
mod raw;
mod region;
mod stale;
#[cfg(test)]
mod tests;
mod watch;

pub(crate) use fault_guard::unblock_in_this_thread as prepare_thread;
#[cfg(any(test, feature = "test-support"))]
pub(crate) use raw::RawShm;
pub(crate) use region::{ShmOffer, ShmRegion, cleanup_stale};
#[cfg(feature = "test-support")]
pub(crate) use watch::disable_waitv;
pub(crate) use watch::{GroupSignal, ShmWatch, group_capacity, wait_group};
