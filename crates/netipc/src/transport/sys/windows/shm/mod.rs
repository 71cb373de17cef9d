//! Windows shared memory: profiles SHM_HYBRID (spin, then named
//! auto-reset events) and SHM_BUSYWAIT (spin only).

mod event;
mod layout;
#[cfg(any(test, feature = "test-support"))]
mod raw;
mod region;
#[cfg(test)]
mod tests;
mod view;
mod watch;

#[cfg(any(test, feature = "test-support"))]
pub(crate) use raw::RawShm;
pub(crate) use region::{ShmOffer, ShmRegion};
#[cfg(feature = "test-support")]
pub(crate) use watch::disable_waitv;
pub(crate) use watch::{GroupSignal, ShmWatch, group_capacity, wait_group};

/// Shared-memory profiles this backend serves.
pub(crate) fn shm_profiles() -> crate::wire::Profiles {
    crate::wire::Profiles::SHM_ANY
}

/// Kernel objects vanish with their last handle: nothing is ever stale.
pub(crate) fn cleanup_stale(_run_dir: &str, _service: &str) {}
