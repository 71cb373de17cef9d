//! The POSIX backend: Unix SEQPACKET sockets.

mod endpoint;
mod identity;
mod interrupt;
mod limits;
mod poller;
mod run_dir;
mod shm;
mod socket;
mod wait;

pub(crate) use identity::{admin_identities, current_user, endpoint_name, peer_identity};
pub(crate) use interrupt::Interrupt;
pub(crate) use limits::session_capacity;
pub(crate) use poller::{Event, Interest, Poller};
pub(crate) use run_dir::{canonical_run_dir, default_run_dir, endpoint_path, prepare_run_dir};
pub(crate) use shm::{
    GroupSignal, ShmOffer, ShmRegion, ShmWatch, cleanup_stale, group_capacity, prepare_thread,
    wait_group,
};
// Test hooks behind transport::testing.
#[cfg(feature = "test-support")]
pub(crate) use shm::{RawShm, disable_waitv};
pub(crate) use socket::{Conn, Listener, connect};

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

impl AsFd for crate::transport::Listener {
    /// The listening socket (readable when a connection is pending).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for crate::transport::Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_fd().as_raw_fd()
    }
}

impl AsFd for crate::transport::ClientSession {
    /// The connected socket (readable when a response packet is pending on
    /// the baseline transport).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.chan.conn.as_fd()
    }
}

impl AsRawFd for crate::transport::ClientSession {
    fn as_raw_fd(&self) -> RawFd {
        self.chan.conn.as_fd().as_raw_fd()
    }
}

impl AsFd for crate::transport::ServerSession {
    /// The connected socket (readable when a request packet is pending on
    /// the baseline transport).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.chan.conn.as_fd()
    }
}

impl AsRawFd for crate::transport::ServerSession {
    fn as_raw_fd(&self) -> RawFd {
        self.chan.conn.as_fd().as_raw_fd()
    }
}

impl AsFd for crate::transport::Interrupt {
    /// An eventfd that becomes readable when the interrupt is raised.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sys().as_fd()
    }
}

/// Shared-memory profiles this backend can serve: SHM_HYBRID and its Linux
/// alias SHM_ALT (the same region and algorithm).
pub(crate) fn shm_profiles() -> crate::wire::Profiles {
    crate::wire::Profiles::SHM_ANY
}

/// netipc protocol extensions this backend implements (offered only to
/// netipc clients, see [`crate::wire::extension`]).
pub(crate) fn extensions() -> u32 {
    crate::wire::extension::SHM_WAKE_ON_DEMAND
}
