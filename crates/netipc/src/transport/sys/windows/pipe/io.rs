//! The part of a pipe connection that the kernel, the poller's worker
//! threads and the connection's owner share: the poller's read, the write
//! in flight and the armed interest.
//!
//! - **The poller's read** (`Read` / `HangUp` armed) is one overlapped
//!   read into a small prefix buffer, issued through the completion port:
//!   its packet is the event. What it read (the first [`PREFIX_LEN`] bytes
//!   of the next packet, or the failure) stays here until the owner's next
//!   receive takes it; the rest of a longer packet stays in the pipe.
//! - **Writes** ([`Outbox`]) never queue packets. `Write` armed with a
//!   write in flight registers a one-shot thread-pool wait on its event
//!   that posts the event packet; with none in flight the event is posted
//!   at once.
//! - **Delivery**: every event packet (the read's, or a notification
//!   posted when the condition already holds) takes the armed interest
//!   under the state lock, so one arm yields at most one event. A packet
//!   whose condition no longer holds (a stale notification) is dropped.
//!
//! Every packet that refers to this state holds a strong reference
//! (leaked into the packet, reclaimed by [`complete`]), so a connection
//! closed with its read in flight leaves the state alive until the
//! cancelled read's packet is taken.

use std::cell::UnsafeCell;
use std::mem::offset_of;
use std::os::windows::io::OwnedHandle;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use windows_sys::Win32::Foundation::{
    ERROR_BROKEN_PIPE, ERROR_IO_PENDING, ERROR_MORE_DATA, HANDLE, WIN32_ERROR,
};
use windows_sys::Win32::Storage::FileSystem::ReadFile;
use windows_sys::Win32::System::IO::{CancelIoEx, OVERLAPPED};
use windows_sys::Win32::System::Threading::WaitForSingleObject;

use super::super::poller::{Event, Interest, PIPE_KEY, Port};
use super::super::util::{Event as Signal, last_error, os_error, raw};
use super::scatter::Scatter;
use super::write::Outbox;
use crate::error::{Error, Result};

/// Bytes the poller's read takes of the next packet (most requests fit).
pub(super) const PREFIX_LEN: usize = 512;
/// Longest wait for a cancelled read to finish when a connection closes
/// (cancellation is immediate on a pipe; the bound is a safety net).
const CANCEL_WAIT_MS: u32 = 1000;
/// How long a closed, never registered connection keeps its pipe open for
/// a write still in flight (the default send timeout).
const LINGER_MS: u32 = 5000;
/// The linger thread only waits.
const LINGER_STACK: usize = 64 * 1024;

/// A closed connection's pipe handle while its last write settles:
/// dropping it cancels what is still in flight, waits for the kernel, then
/// closes the handle and releases the state.
struct Lingering {
    handle: OwnedHandle,
    io: Arc<PipeIo>,
}

impl Drop for Lingering {
    fn drop(&mut self) {
        self.io.write.cancel(raw(&self.handle));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum OpKind {
    Read,
    Notify,
}

/// An OVERLAPPED whose packets come through the completion port, tagged
/// with what it is (the packet's pointer leads back to the tag and to the
/// [`PipeIo`] around it).
#[repr(C)]
struct PortOp {
    ov: UnsafeCell<OVERLAPPED>,
    kind: OpKind,
}

impl PortOp {
    fn new(kind: OpKind) -> Self {
        Self {
            // SAFETY: OVERLAPPED is plain data; all-zero is its initial state.
            ov: UnsafeCell::new(unsafe { std::mem::zeroed() }),
            kind,
        }
    }
}

/// The poller's read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// None in flight, nothing kept.
    Idle,
    /// In flight; its packet has not been taken yet.
    Pending,
    /// `len` bytes of the next packet are in the prefix buffer; `more`
    /// when the packet continues in the pipe.
    Ready { len: usize, more: bool },
    /// The read failed (or found the end of the pipe).
    Failed(WIN32_ERROR),
}

/// What the owner's receive found in the poller's read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Taken {
    /// Nothing: read from the pipe.
    Nothing,
    /// The poller's read is in flight.
    Pending,
    /// The prefix was copied; `more` when the rest is still in the pipe.
    Prefix { more: bool },
    /// The poller's read failed with this error.
    Failed(WIN32_ERROR),
}

#[derive(Debug)]
enum Registration {
    Never,
    Active { port: Arc<Port>, token: u64 },
    Removed,
}

#[derive(Debug)]
struct Shared {
    registration: Registration,
    armed: Option<Interest>,
    read: ReadState,
}

/// See the module docs. Shared through an `Arc` by the connection, the
/// packets in flight and a write wait.
pub(super) struct PipeIo {
    read: PortOp,
    notify: PortOp,
    /// Manual reset; signalled when the poller's read completes.
    read_event: Signal,
    prefix: UnsafeCell<[u8; PREFIX_LEN]>,
    shared: Mutex<Shared>,
    /// The write side.
    pub(super) write: Outbox,
}

impl std::fmt::Debug for PipeIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeIo")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

// SAFETY: the cells are used as documented: the prefix buffer and the read
// OVERLAPPED by the kernel while the read is pending and by the owner (under
// `shared`) once it is not; the notify OVERLAPPED is never written.
unsafe impl Send for PipeIo {}
// SAFETY: as above.
unsafe impl Sync for PipeIo {}
// The cells are no reason to distrust the state after a panic: each holds
// what the kernel last wrote, and what of it is valid is decided by plain
// values under the mutexes (`Shared::read`, the outbox's `pending`), each
// set in one assignment after the kernel is done. This is what the
// poison-ignoring locks already assume, and what the POSIX backend's
// connection (a descriptor) gives: the same unwind safety on both OSes.
impl std::panic::RefUnwindSafe for PipeIo {}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn not_registered() -> Error {
    Error::io(
        "arming a pipe",
        std::io::Error::other("the pipe is not registered with a poller"),
    )
}

/// Queues a notification packet for `io` (carrying a reference).
fn post_notify(io: &Arc<PipeIo>, port: &Port) -> bool {
    let reference = Arc::into_raw(io.clone());
    if port.post(0, PIPE_KEY, io.notify.ov.get()) {
        return true;
    }
    // SAFETY: the reference leaked just above; no packet carries it.
    drop(unsafe { Arc::from_raw(reference) });
    false
}

/// Handles a packet of a pipe operation taken from the port.
///
/// # Safety
/// `ov` must be the OVERLAPPED of a [`PortOp`] inside a [`PipeIo`] for
/// whose packet a strong reference was leaked (every packet of a
/// [`PIPE_KEY`] handle or of [`post_notify`] is).
pub(crate) unsafe fn complete(
    ov: *mut OVERLAPPED,
    bytes: u32,
    error: WIN32_ERROR,
) -> Option<Event> {
    // SAFETY: the PortOp starts with its OVERLAPPED (repr(C)) and is alive
    // (the packet holds a reference to the PipeIo around it).
    let kind = unsafe { (*ov.cast::<PortOp>()).kind };
    let offset = match kind {
        OpKind::Read => offset_of!(PipeIo, read),
        OpKind::Notify => offset_of!(PipeIo, notify),
    };
    // SAFETY: the PipeIo is `offset` bytes before its field; the reference
    // was leaked with Arc::into_raw for this packet.
    let io = unsafe { Arc::from_raw(ov.cast::<u8>().sub(offset).cast::<PipeIo>()) };
    match kind {
        OpKind::Read => io.read_done(bytes, error),
        OpKind::Notify => io.notified(),
    }
}

impl PipeIo {
    pub(super) fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            read: PortOp::new(OpKind::Read),
            notify: PortOp::new(OpKind::Notify),
            read_event: Signal::new(true)?,
            prefix: UnsafeCell::new([0; PREFIX_LEN]),
            shared: Mutex::new(Shared {
                registration: Registration::Never,
                armed: None,
                read: ReadState::Idle,
            }),
            write: Outbox::new()?,
        }))
    }

    // --- registration with a poller ---

    /// Associates `handle` with the port and arms `interest`. A
    /// connection is registered once (a removed one cannot come back:
    /// packets of its cancelled operations may still be queued).
    pub(super) fn register(
        self: &Arc<Self>,
        handle: HANDLE,
        port: &Arc<Port>,
        token: u64,
        interest: Interest,
    ) -> Result<()> {
        {
            let mut shared = lock(&self.shared);
            if !matches!(shared.registration, Registration::Never) {
                return Err(Error::io(
                    "registering a pipe",
                    std::io::Error::other("the pipe was registered before"),
                ));
            }
            // Writes and the owner's reads use tagged events, so nothing in
            // flight changes behaviour with the association.
            port.associate(handle)?;
            shared.registration = Registration::Active {
                port: port.clone(),
                token,
            };
        }
        self.arm(handle, token, interest)
    }

    /// Arms the next event of a registered connection.
    pub(super) fn arm(
        self: &Arc<Self>,
        handle: HANDLE,
        token: u64,
        interest: Interest,
    ) -> Result<()> {
        if interest == Interest::Write {
            return self.arm_write(token);
        }
        let mut shared = lock(&self.shared);
        let port = activate(&mut shared, token)?;
        shared.armed = Some(interest);
        match shared.read {
            ReadState::Idle => self.start_read(handle, &mut shared, &port),
            ReadState::Pending => Ok(()),
            ReadState::Ready { .. } | ReadState::Failed(_) => self.notify(&port),
        }
    }

    /// Issues the poller's read (the caller holds `shared`).
    fn start_read(
        self: &Arc<Self>,
        handle: HANDLE,
        shared: &mut Shared,
        port: &Port,
    ) -> Result<()> {
        // The packet's reference, taken before the packet can exist.
        let reference = Arc::into_raw(self.clone());
        self.read_event.reset();
        let ov = self.read.ov.get();
        // SAFETY: no read is pending on this structure (the state is Idle).
        unsafe {
            *ov = std::mem::zeroed();
            (*ov).hEvent = self.read_event.raw();
        }
        shared.read = ReadState::Pending;
        // SAFETY: the buffer and the OVERLAPPED live in this state, which the
        // leaked reference keeps alive until the packet is taken.
        let ok = unsafe {
            ReadFile(
                handle,
                self.prefix.get().cast(),
                PREFIX_LEN as u32,
                std::ptr::null_mut(),
                ov,
            )
        } != 0;
        if ok {
            return Ok(());
        }
        match last_error() {
            // Pending, or done with more of the message left: either way the
            // port gets the packet (only errors at once queue none).
            ERROR_IO_PENDING | ERROR_MORE_DATA => Ok(()),
            e => {
                // SAFETY: the reference leaked above; no packet will carry it.
                drop(unsafe { Arc::from_raw(reference) });
                shared.read = ReadState::Failed(e);
                self.notify(port)
            }
        }
    }

    fn notify(self: &Arc<Self>, port: &Port) -> Result<()> {
        if post_notify(self, port) {
            Ok(())
        } else {
            Err(Error::io(
                "posting a completion packet",
                os_error(last_error()),
            ))
        }
    }

    /// Arms `Write`: an event once the write in flight is done (at once
    /// when none is).
    fn arm_write(self: &Arc<Self>, token: u64) -> Result<()> {
        self.write.forget_wait();
        let port = {
            let mut shared = lock(&self.shared);
            let port = activate(&mut shared, token)?;
            shared.armed = Some(Interest::Write);
            port
        };
        let (io, to) = (self.clone(), port.clone());
        let on_done = Box::new(move || {
            post_notify(&io, &to);
        });
        if self.write.when_done(on_done)? {
            Ok(())
        } else {
            self.notify(&port)
        }
    }

    /// Stops delivering events: cancels the poller's read (its packet
    /// only drops a reference) and the write wait. Idempotent.
    pub(super) fn deregister(&self, handle: HANDLE) {
        self.write.forget_wait();
        let pending = {
            let mut shared = lock(&self.shared);
            shared.registration = Registration::Removed;
            shared.armed = None;
            shared.read == ReadState::Pending
        };
        if pending {
            // SAFETY: a valid handle and the read's structure; cancelling a
            // read that completed meanwhile does nothing.
            unsafe {
                CancelIoEx(handle, self.read.ov.get());
                WaitForSingleObject(self.read_event.raw(), CANCEL_WAIT_MS);
            }
        }
    }

    /// Closes the connection's side: deregisters, then settles a write
    /// still in flight. A connection that was never registered with a
    /// poller (a plain L1 session) gives such a write up to [`LINGER_MS`] in
    /// the background to be read, as a socket delivers what it took before
    /// a close; the pipe stays open that long (its name too). A registered
    /// one (a multi-session server closes it on purpose: its client left,
    /// did not read within the send timeout, or the server stops) cancels
    /// it at once. Either way the kernel is done with the write before the
    /// state can be freed.
    pub(super) fn close(self: &Arc<Self>, handle: OwnedHandle) {
        let registered = !matches!(lock(&self.shared).registration, Registration::Never);
        self.deregister(raw(&handle));
        let in_flight = self.write.in_flight();
        let lingering = Lingering {
            handle,
            io: self.clone(),
        };
        if in_flight && !registered {
            // Should the thread not start, the closure is dropped and with
            // it `lingering`, which cancels and closes at once.
            let _ = std::thread::Builder::new()
                .name("netipc-pipe-linger".into())
                .stack_size(LINGER_STACK)
                .spawn(move || {
                    lingering.io.write.settle(LINGER_MS);
                    drop(lingering);
                });
        }
    }

    // --- packets taken from the port ---

    fn read_done(&self, bytes: u32, error: WIN32_ERROR) -> Option<Event> {
        let mut shared = lock(&self.shared);
        let len = (bytes as usize).min(PREFIX_LEN);
        shared.read = match error {
            0 if len == 0 => ReadState::Failed(ERROR_BROKEN_PIPE),
            0 => ReadState::Ready { len, more: false },
            ERROR_MORE_DATA => ReadState::Ready { len, more: true },
            e => ReadState::Failed(e),
        };
        let Registration::Active { token, .. } = shared.registration else {
            return None;
        };
        let hang_up = matches!(shared.read, ReadState::Failed(_));
        match shared.armed {
            Some(Interest::Read | Interest::HangUp) => {}
            Some(Interest::Write) if hang_up => {}
            _ => return None,
        }
        shared.armed = None;
        Some(Event::Io { token, hang_up })
    }

    fn notified(&self) -> Option<Event> {
        let mut shared = lock(&self.shared);
        let Registration::Active { token, .. } = shared.registration else {
            return None;
        };
        let hang_up = match (shared.armed?, shared.read) {
            (Interest::Write, _) => false,
            (_, ReadState::Ready { .. }) => false,
            (_, ReadState::Failed(_)) => true,
            // A notification from an earlier arm: the read decides.
            (_, ReadState::Idle | ReadState::Pending) => return None,
        };
        shared.armed = None;
        Some(Event::Io { token, hang_up })
    }

    // --- the owner's receive ---

    /// Takes what the poller's read brought in, copying it into `sc`.
    pub(super) fn take_read(&self, sc: &mut Scatter<'_>) -> Taken {
        let mut shared = lock(&self.shared);
        match shared.read {
            ReadState::Idle => Taken::Nothing,
            ReadState::Pending => Taken::Pending,
            ReadState::Failed(e) => Taken::Failed(e),
            ReadState::Ready { len, more } => {
                // SAFETY: the read has completed and its packet was taken:
                // neither the kernel nor the poller touches the buffer now.
                let prefix = unsafe { &*self.prefix.get() };
                sc.put(&prefix[..len]);
                shared.read = ReadState::Idle;
                Taken::Prefix { more }
            }
        }
    }
}

/// The port of an active registration, with its token updated.
fn activate(shared: &mut Shared, token: u64) -> Result<Arc<Port>> {
    match &mut shared.registration {
        Registration::Active { port, token: t } => {
            *t = token;
            Ok(port.clone())
        }
        _ => Err(not_registered()),
    }
}
