//! The Windows backend: named pipes in message mode (overlapped I/O, so
//! every wait honours a deadline and an interrupt), an I/O completion port
//! as the multi-session servers' poller, and shared memory.

mod identity;
mod interrupt;
mod limits;
mod overlapped;
mod pipe;
mod poller;
mod run_dir;
mod security;
mod shm;
#[cfg(test)]
mod tests;
mod util;

pub(crate) use identity::{admin_identities, current_user, endpoint_name, peer_identity};
pub(crate) use interrupt::Interrupt;
pub(crate) use limits::session_capacity;
pub(crate) use pipe::{Conn, Listener, connect};
pub(crate) use poller::{Event, Interest, Poller};
pub(crate) use run_dir::{canonical_run_dir, default_run_dir, endpoint_path, prepare_run_dir};
pub(crate) use shm::{
    GroupSignal, ShmOffer, ShmRegion, ShmWatch, cleanup_stale, group_capacity, shm_profiles,
    wait_group,
};
// Test hooks behind transport::testing.
#[cfg(feature = "test-support")]
pub(crate) use shm::{RawShm, disable_waitv};

use std::os::windows::io::{AsRawHandle, RawHandle};

impl AsRawHandle for crate::transport::ClientSession {
    /// The client's pipe handle (opened for overlapped I/O).
    fn as_raw_handle(&self) -> RawHandle {
        self.chan.conn.raw_handle()
    }
}

impl AsRawHandle for crate::transport::ServerSession {
    /// The server's pipe instance handle (opened for overlapped I/O).
    fn as_raw_handle(&self) -> RawHandle {
        self.chan.conn.raw_handle()
    }
}

impl AsRawHandle for crate::transport::Interrupt {
    /// A manual-reset event that is signalled while the interrupt is raised.
    fn as_raw_handle(&self) -> RawHandle {
        self.sys().event()
    }
}

/// netipc protocol extensions this backend implements (the Windows SHM
/// protocol already wakes only waiting peers).
/// Prepares a thread netipc starts (nothing to do on Windows; on Linux it
/// unblocks the signal that the shared-memory fault guard needs).
pub(crate) fn prepare_thread() {}

pub(crate) fn extensions() -> u32 {
    0
}
