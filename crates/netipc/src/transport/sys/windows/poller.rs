//! The poller of multi-session servers: one I/O completion port that any
//! number of worker threads wait on at once (`GetQueuedCompletionStatus`).
//!
//! # Design
//!
//! - **Connections.** A registered pipe handle is associated with the port.
//!   Arming `Read` or `HangUp` issues one overlapped read into a small
//!   buffer the connection owns; its completion packet is the event, and
//!   the bytes it read belong to the connection's next receive. Arming
//!   `Write` yields an event when the write in flight completes (or at
//!   once when none is). Each connection keeps its armed interest under a
//!   lock and every delivery takes it, so an armed interest yields exactly
//!   one event; completions that arrive while nothing is armed are
//!   recorded and delivered by the next arm. A notification left over
//!   from an earlier arm is dropped when its condition no longer holds.
//!   All other I/O on a registered handle (receives by the owner, writes)
//!   uses event handles with the low bit set and never queues a packet.
//!   See [`super::pipe`].
//! - **Memory.** A packet carries a pointer into the connection's shared
//!   I/O state; every operation that will queue one holds a reference to
//!   that state, released when the packet is taken. A connection that is
//!   closed with a read in flight cancels it, and the late packet only
//!   drops the last reference: it never touches freed memory, and it is
//!   not delivered (the connection is no longer registered). Writes queue
//!   no packets; a close waits until the kernel is done with a cancelled
//!   one. Packets still queued when the poller is dropped are taken then.
//! - **Threads.** Reads armed on a port-associated handle survive the exit
//!   of the thread that issued them on Windows (Vista and later); wine
//!   cancels them, which turns into a hang-up event. The managed server
//!   arms only from its workers and its control thread, which live until
//!   it stops.
//! - **Listener.** Waiting pipe instances complete `ConnectNamedPipe` on
//!   events; a small watcher thread per registered listener waits on them
//!   and posts the listener's token when it is armed (see
//!   [`super::pipe`]'s listener). Instances are associated with the port
//!   only once they become connections, so no operation ever changes from
//!   event to port completion while in flight.
//! - **Posted tokens** are packets without an OVERLAPPED whose completion
//!   key is the token (the byte count tells a post from a listener event).
//!   Tokens are 64-bit, as completion keys are on the 64-bit targets this
//!   backend builds for.

use std::os::windows::io::OwnedHandle;
use std::sync::Arc;
use std::time::Duration;

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE, WAIT_TIMEOUT};
use windows_sys::Win32::System::IO::{
    CreateIoCompletionPort, GetQueuedCompletionStatus, OVERLAPPED, PostQueuedCompletionStatus,
};
use windows_sys::Win32::System::Threading::INFINITE;

use super::pipe::{self, Conn, Listener};
use super::util::{last_error, os_error, owned, raw};
use crate::error::{Error, Result};

const _: () = assert!(usize::BITS == 64, "tokens travel as completion keys");

/// Byte count of a posted token's packet.
const POSTED: u32 = 0;
/// Byte count of a listener event's packet.
const LISTENER_READY: u32 = 1;
/// Completion key of every associated pipe handle (packets of pipe
/// operations are told apart by their OVERLAPPED).
pub(crate) const PIPE_KEY: usize = 0;

/// What a registered connection is watched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    /// A packet can be received, or the peer hung up.
    Read,
    /// A packet can be sent, or the peer hung up.
    Write,
    /// Only the peer hanging up (a shared-memory session's pipe). The
    /// peer sending a packet on it, which the protocol never does, also
    /// ends the wait.
    HangUp,
}

/// One event a worker takes from the poller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// The source registered under `token` is ready for what it was armed
    /// for; `hang_up` when the peer closed or the pipe failed.
    Io {
        /// The registration's token.
        token: u64,
        /// The peer hung up (or the pipe reported an error).
        hang_up: bool,
    },
    /// A token another thread posted.
    Posted(u64),
}

/// An I/O completion port, shared by the poller, its registered
/// connections and its listener watchers (so that a late post never
/// reaches a closed, reused handle value).
#[derive(Debug)]
pub(crate) struct Port(OwnedHandle);

impl Port {
    fn new() -> Result<Self> {
        // SAFETY: creates a new port (no file handle); the result is checked.
        let h = unsafe { CreateIoCompletionPort(INVALID_HANDLE_VALUE, std::ptr::null_mut(), 0, 0) };
        owned(h, "creating the completion port").map(Self)
    }

    pub(crate) fn raw(&self) -> HANDLE {
        raw(&self.0)
    }

    /// Associates a handle opened for overlapped I/O with the port.
    pub(crate) fn associate(&self, handle: HANDLE) -> Result<()> {
        // SAFETY: valid handles; the result is checked.
        let port = unsafe { CreateIoCompletionPort(handle, self.raw(), PIPE_KEY, 0) };
        if port.is_null() {
            return Err(Error::io(
                "registering a pipe with the completion port",
                os_error(last_error()),
            ));
        }
        Ok(())
    }

    /// Queues one packet; false when the system refused it.
    pub(crate) fn post(&self, bytes: u32, key: usize, ov: *const OVERLAPPED) -> bool {
        // SAFETY: a valid port; the OVERLAPPED pointer is only carried.
        unsafe { PostQueuedCompletionStatus(self.raw(), bytes, key, ov) != 0 }
    }

    /// Queues a listener event for `token`.
    pub(crate) fn post_listener(&self, token: u64) -> bool {
        self.post(LISTENER_READY, token as usize, std::ptr::null())
    }
}

/// A completion port shared by the workers of one server. `Send + Sync`.
#[derive(Debug)]
pub(crate) struct Poller {
    port: Arc<Port>,
}

impl Poller {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            port: Arc::new(Port::new()?),
        })
    }

    /// Watches the listener for connected clients (one-shot, re-armed
    /// with [`rearm_listener`](Self::rearm_listener)).
    pub(crate) fn add_listener(&self, listener: &Listener, token: u64) -> Result<()> {
        listener.watch(self.port.clone(), token)
    }

    /// Arms the listener for its next event.
    pub(crate) fn rearm_listener(&self, listener: &Listener, token: u64) -> Result<()> {
        listener.rearm_watch(token)
    }

    /// Stops watching the listener (its watcher thread is joined).
    pub(crate) fn remove_listener(&self, listener: &Listener) {
        listener.unwatch();
    }

    /// Registers a connection under `token`, armed for `interest`.
    pub(crate) fn add(&self, conn: &Conn, token: u64, interest: Interest) -> Result<()> {
        conn.register(&self.port, token, interest)
    }

    /// Arms a registered connection for its next event.
    pub(crate) fn rearm(&self, conn: &Conn, token: u64, interest: Interest) -> Result<()> {
        conn.arm(token, interest)
    }

    /// Stops watching a connection (before it is closed); its operations
    /// in flight are cancelled and their packets ignored.
    pub(crate) fn remove(&self, conn: &Conn) {
        conn.deregister();
    }

    /// Delivers `token` to one waiting worker as [`Event::Posted`].
    pub(crate) fn post(&self, token: u64) {
        self.port.post(POSTED, token as usize, std::ptr::null());
    }

    /// Waits for one event: `None` when `timeout` passed or the packet
    /// taken was not an event (a completion for a removed connection, or
    /// one recorded for the next arm).
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<Option<Event>> {
        let ms = timeout.map_or(INFINITE, |t| {
            u32::try_from(t.as_micros().div_ceil(1000))
                .map_or(INFINITE - 1, |ms| ms.min(INFINITE - 1))
        });
        Ok(self.dequeue(ms)?.flatten())
    }

    /// Takes one packet (`None`: none came within `ms`) and turns it into
    /// an event if it is one.
    fn dequeue(&self, ms: u32) -> Result<Option<Option<Event>>> {
        let mut bytes = 0u32;
        let mut key = 0usize;
        let mut ov: *mut OVERLAPPED = std::ptr::null_mut();
        // SAFETY: a valid port and out pointers.
        let ok = unsafe {
            GetQueuedCompletionStatus(self.port.raw(), &mut bytes, &mut key, &mut ov, ms)
        } != 0;
        if ov.is_null() {
            if !ok {
                return match last_error() {
                    WAIT_TIMEOUT => Ok(None),
                    e => Err(Error::io("waiting for completions", os_error(e))),
                };
            }
            return Ok(Some(Some(match bytes {
                LISTENER_READY => Event::Io {
                    token: key as u64,
                    hang_up: false,
                },
                _ => Event::Posted(key as u64),
            })));
        }
        let error = if ok { 0 } else { last_error() };
        // SAFETY: only pipe operations queue packets with an OVERLAPPED on
        // this port, and each holds the reference that `complete` takes.
        Ok(Some(unsafe { pipe::complete(ov, bytes, error) }))
    }
}

impl Drop for Poller {
    /// Takes the packets still queued, so that the connection state they
    /// keep alive is released.
    fn drop(&mut self) {
        while let Ok(Some(_)) = self.dequeue(0) {}
    }
}
