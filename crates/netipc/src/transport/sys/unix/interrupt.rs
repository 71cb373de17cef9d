//! A cross-thread interrupt backed by an eventfd, so that `poll` wakes up
//! at once when it is raised.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::event::{EventfdFlags, eventfd};

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct Interrupt {
    raised: AtomicBool,
    fd: OwnedFd,
}

impl Interrupt {
    pub(crate) fn new() -> Result<Self> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| Error::io("creating the interrupt eventfd", e.into()))?;
        Ok(Self {
            raised: AtomicBool::new(false),
            fd,
        })
    }

    pub(crate) fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        // A full counter (EAGAIN) is still readable, so the error is moot.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    pub(crate) fn clear(&self) {
        self.raised.store(false, Ordering::SeqCst);
        let mut drain = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut drain);
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }
}

impl AsFd for Interrupt {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
