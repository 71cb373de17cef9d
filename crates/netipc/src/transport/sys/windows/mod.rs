//! The Windows backend: named pipes in message mode (overlapped I/O, so
//! every wait honours a deadline and an interrupt) and shared memory.

mod interrupt;
mod overlapped;
mod pipe;
mod security;
mod shm;
mod util;

pub(crate) use interrupt::Interrupt;
pub(crate) use pipe::{Conn, Listener, connect};
pub(crate) use shm::{RawShm, ShmOffer, ShmRegion, cleanup_stale, shm_profiles};

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
pub(crate) fn extensions() -> u32 {
    0
}
