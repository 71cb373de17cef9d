//! Waiting for a descriptor with a deadline and an interrupt.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;

use super::Interrupt;
use crate::error::{Error, Result};

/// Blocks until `fd` is readable (or hung up), the deadline passes
/// (`Timeout`) or `interrupt` is raised (`Interrupted`, checked first).
pub(crate) fn wait_readable(
    fd: BorrowedFd<'_>,
    deadline: Option<Instant>,
    interrupt: Option<&Interrupt>,
) -> Result<()> {
    wait_for(fd, PollFlags::IN, deadline, interrupt)
}

/// Blocks until `fd` can take more data (or hung up), the deadline passes
/// or `interrupt` is raised.
pub(crate) fn wait_writable(
    fd: BorrowedFd<'_>,
    deadline: Option<Instant>,
    interrupt: Option<&Interrupt>,
) -> Result<()> {
    wait_for(fd, PollFlags::OUT, deadline, interrupt)
}

fn wait_for(
    fd: BorrowedFd<'_>,
    want: PollFlags,
    deadline: Option<Instant>,
    interrupt: Option<&Interrupt>,
) -> Result<()> {
    loop {
        if interrupt.is_some_and(Interrupt::is_raised) {
            return Err(Error::Interrupted);
        }
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                Some(Timespec {
                    tv_sec: left.as_secs().try_into().unwrap_or(i64::MAX),
                    tv_nsec: left.subsec_nanos().into(),
                })
            }
        };
        let ready = want | PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL;
        let mut fds = [
            PollFd::from_borrowed_fd(fd, want),
            PollFd::from_borrowed_fd(fd, want),
        ];
        let n = match interrupt {
            Some(i) => {
                fds[1] = PollFd::from_borrowed_fd(i.as_fd(), PollFlags::IN);
                2
            }
            None => 1,
        };
        match poll(&mut fds[..n], timeout.as_ref()) {
            Ok(_) => {
                if interrupt.is_some_and(Interrupt::is_raised) {
                    return Err(Error::Interrupted);
                }
                if fds[0].revents().intersects(ready) {
                    return Ok(());
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(Error::Timeout { limit: None });
                }
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(Error::io("waiting for the socket", e.into())),
        }
    }
}
