//! Named pipes in message mode: listen (first-instance ownership, owner-only
//! security, local clients only), accept without busy gaps, connect, and
//! one-packet send/receive, blocking with deadlines and interrupts or not
//! at all, plus what the poller needs of them.

mod conn;
mod io;
mod listener;
mod scatter;
mod watcher;
mod write;

pub(crate) use conn::{Conn, connect};
pub(crate) use io::complete;
pub(crate) use listener::Listener;

use windows_sys::Win32::Foundation::{
    ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED, WIN32_ERROR,
};

use super::overlapped::Completion;
use super::util::os_error;
use crate::error::Error;

fn is_disconnect(code: WIN32_ERROR) -> bool {
    matches!(
        code,
        ERROR_BROKEN_PIPE | ERROR_NO_DATA | ERROR_PIPE_NOT_CONNECTED
    )
}

fn failure(context: &'static str, code: WIN32_ERROR) -> Error {
    if is_disconnect(code) {
        Error::Disconnected
    } else {
        Error::io(context, os_error(code))
    }
}

/// The error of a wait that ended without its operation.
fn stopped(why: Completion) -> Error {
    match why {
        Completion::TimedOut => Error::Timeout { limit: None },
        Completion::Interrupted => Error::Interrupted,
        Completion::Failed(e) => failure("waiting for the pipe", e),
        Completion::Done(_) | Completion::MoreData(_) => Error::io(
            "waiting for the pipe",
            std::io::Error::other("the wait ended without its operation"),
        ),
    }
}
