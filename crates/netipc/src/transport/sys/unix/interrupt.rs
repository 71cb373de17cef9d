//! A cross-thread interrupt backed by an eventfd, so that `poll` wakes up
//! at once when it is raised.
//!
//! A *closing* interrupt ([`Interrupt::new_closing`]) also ends socket
//! receives that block in the kernel without a `poll`: such a receive
//! registers its socket for the length of the wait, and raising the
//! interrupt shuts the registered sockets down (their receives return at
//! once; the connections are unusable afterwards). It suits owners that
//! drop a session whose wait was interrupted (a server's stop signal), and
//! saves the `poll` before every receive.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use rustix::event::{EventfdFlags, eventfd};

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct Interrupt {
    raised: AtomicBool,
    fd: OwnedFd,
    /// `Some` for a closing interrupt: the sockets blocked in a receive
    /// right now, shut down by [`raise`](Self::raise).
    blocked: Option<Mutex<Vec<RawFd>>>,
}

impl Interrupt {
    pub(crate) fn new() -> Result<Self> {
        Self::with(None)
    }

    /// An interrupt that shuts down the sockets whose receives block on it
    /// when it is raised (see the module documentation).
    pub(crate) fn new_closing() -> Result<Self> {
        Self::with(Some(Mutex::new(Vec::with_capacity(1))))
    }

    fn with(blocked: Option<Mutex<Vec<RawFd>>>) -> Result<Self> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| Error::io("creating the interrupt eventfd", e.into()))?;
        Ok(Self {
            raised: AtomicBool::new(false),
            fd,
            blocked,
        })
    }

    pub(crate) fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        // A full counter (EAGAIN) is still readable, so the error is moot.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
        if let Some(blocked) = &self.blocked {
            let blocked = blocked.lock().unwrap_or_else(PoisonError::into_inner);
            for &fd in blocked.iter() {
                // SAFETY: a socket stays registered only while its owner is
                // inside a receive that borrows it (see `Blocked`), so the
                // descriptor is open and still that socket.
                let sock = unsafe { BorrowedFd::borrow_raw(fd) };
                let _ = rustix::net::shutdown(sock, rustix::net::Shutdown::Both);
            }
        }
    }

    pub(crate) fn clear(&self) {
        self.raised.store(false, Ordering::SeqCst);
        let mut drain = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut drain);
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// For a closing interrupt: registers `sock` as blocked in a receive
    /// until the returned guard is dropped, so that a raise shuts it down.
    /// `None` for an ordinary interrupt (its waits must `poll`).
    ///
    /// A raise that comes before the registration is seen by the caller's
    /// [`is_raised`](Self::is_raised) check after it; one that comes after
    /// finds the socket registered.
    pub(crate) fn block<'a>(&'a self, sock: BorrowedFd<'a>) -> Option<Blocked<'a>> {
        let blocked = self.blocked.as_ref()?;
        let fd = sock.as_raw_fd();
        blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(fd);
        Some(Blocked {
            list: blocked,
            fd,
            _sock: sock,
        })
    }
}

/// A socket registered with a closing interrupt for the length of one
/// blocking receive.
#[derive(Debug)]
pub(crate) struct Blocked<'a> {
    list: &'a Mutex<Vec<RawFd>>,
    fd: RawFd,
    /// Keeps the socket borrowed (open) while it is registered.
    _sock: BorrowedFd<'a>,
}

impl Drop for Blocked<'_> {
    fn drop(&mut self) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = list.iter().position(|&fd| fd == self.fd) {
            list.swap_remove(i);
        }
    }
}

impl AsFd for Interrupt {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
