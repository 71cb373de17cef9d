//! A connected pipe end: connect, and one-packet send/receive, blocking
//! (with deadlines and interrupts) or not at all.

use std::os::windows::io::OwnedHandle;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_PIPE_BUSY, GENERIC_READ, HANDLE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_OVERLAPPED, FILE_WRITE_ATTRIBUTES, FILE_WRITE_DATA, OPEN_EXISTING,
    ReadFile, SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT,
};
use windows_sys::Win32::System::Pipes::{
    GetNamedPipeClientProcessId, GetNamedPipeServerProcessId, PIPE_READMODE_MESSAGE, PeekNamedPipe,
    SetNamedPipeHandleState, WaitNamedPipeW,
};

use super::super::Interrupt;
use super::super::overlapped::{Completion, Op, wait_ms};
use super::super::poller::{Interest, Port};
use super::super::util::{last_error, os_error, owned, raw, wide};
use super::failure;
use super::io::{PipeIo, Taken};
use super::scatter::Scatter;
use crate::error::{Error, Result};
use crate::transport::PeerCredentials;
use crate::transport::names::pipe_name;
use crate::wire::HEADER_LEN;

/// Packet size when nothing else is configured.
const DEFAULT_PACKET_SIZE: u32 = 65536;
/// How long a client without a deadline waits for a free pipe instance.
const BUSY_BUDGET: Duration = Duration::from_secs(10);
/// Longest single wait for a free instance (the interrupt is checked
/// between waits).
const BUSY_SLICE_MS: u32 = 50;
/// How long the rest of a packet whose start has been read may take (it
/// is already in the pipe: message-mode writes are whole).
const REST_WAIT: Duration = Duration::from_secs(1);

/// How often a receive waiting for another thread's receive on the same
/// connection checks its deadline and interrupt.
const TURN_POLL: Duration = Duration::from_millis(1);

fn rest_deadline() -> Option<Instant> {
    Some(Instant::now() + REST_WAIT)
}

/// A connected pipe end.
///
/// Shared by reference between threads like a socket (`Sync`): sends go
/// through the [`PipeIo`]'s write lock, receives through `reader`. A
/// message-mode pipe hands out a packet larger than the buffer in several
/// reads, so one receive holds `reader` from its first read to its last:
/// receivers on one connection take turns, each packet whole.
#[derive(Debug)]
pub(crate) struct Conn {
    /// `Some` until dropped (the close may hand it to a linger thread).
    handle: Option<OwnedHandle>,
    server_side: bool,
    /// What the poller and the kernel share with this connection.
    io: Arc<PipeIo>,
    /// The owner's own reads (tagged event: never a poller event). The
    /// lock is what makes the OVERLAPPED exclusive to one receive
    /// ([`Op`] touches it only through `&mut`).
    reader: Mutex<Op>,
}

impl Conn {
    pub(super) fn new(handle: OwnedHandle, server_side: bool) -> Result<Self> {
        Ok(Self {
            handle: Some(handle),
            server_side,
            io: PipeIo::new()?,
            reader: Mutex::new(Op::new()?),
        })
    }

    fn h(&self) -> HANDLE {
        self.handle.as_ref().map_or(std::ptr::null_mut(), raw)
    }

    /// Sends one packet made of `parts` with a single WriteFile (one
    /// message), waiting until it is written, the deadline passes or
    /// `interrupt` is raised.
    pub(crate) fn send_packet(
        &self,
        parts: &[&[u8]],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<()> {
        self.io.write.send(self.h(), parts, deadline, interrupt)
    }

    /// Sends one packet without waiting. `true`: the packet was handed to
    /// the pipe (written, or in flight with its bytes kept by this
    /// connection); `false`: nothing was sent because the previous write is
    /// still in flight (the client is not reading).
    pub(crate) fn try_send_packet(&self, parts: &[&[u8]]) -> Result<bool> {
        self.io.write.try_send(self.h(), parts)
    }

    /// Receives one packet into `buf`; returns its real length, which is
    /// larger than `buf` when the packet did not fit (the excess is
    /// discarded so the next read starts at a message boundary).
    pub(crate) fn recv_packet(
        &self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<usize> {
        self.recv(Scatter::new(buf, &mut []), deadline, interrupt)
    }

    /// Receives one packet whose first 32 bytes go to `head` and the rest
    /// to `body`; returns its real length.
    pub(crate) fn recv_packet_split(
        &self,
        head: &mut [u8; HEADER_LEN],
        body: &mut [u8],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<usize> {
        self.recv(Scatter::new(head, body), deadline, interrupt)
    }

    /// Receives one packet into `buf` if one is waiting (`None`
    /// otherwise), as [`recv_packet`](Self::recv_packet).
    pub(crate) fn try_recv_packet(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.try_recv(Scatter::new(buf, &mut []))
    }

    /// Whether [`linger_recv_packet`](Self::linger_recv_packet) waits: not
    /// on Windows, where a wait would need an overlapped read cancelled at
    /// its end; a managed server re-arms the pipe at once instead.
    pub(crate) const LINGERS: bool = false;

    /// [`try_recv_packet`](Self::try_recv_packet) (see
    /// [`LINGERS`](Self::LINGERS)).
    pub(crate) fn linger_recv_packet(
        &self,
        buf: &mut [u8],
        _linger: std::time::Duration,
    ) -> Result<Option<usize>> {
        self.try_recv_packet(buf)
    }

    /// Like [`try_recv_packet`](Self::try_recv_packet), split as
    /// [`recv_packet_split`](Self::recv_packet_split).
    pub(crate) fn try_recv_packet_split(
        &self,
        head: &mut [u8; HEADER_LEN],
        body: &mut [u8],
    ) -> Result<Option<usize>> {
        self.try_recv(Scatter::new(head, body))
    }

    /// This connection's receive turn: at once when no other thread is
    /// receiving on it, else once that receive is done (the wait ends at
    /// `deadline` or when `interrupt` is raised).
    fn turn(
        &self,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<MutexGuard<'_, Op>> {
        loop {
            match self.reader.try_lock() {
                Ok(op) => return Ok(op),
                // Nothing is left half done by a panic: an operation is
                // always collected before the receive that started it
                // returns or unwinds.
                Err(TryLockError::Poisoned(op)) => return Ok(op.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
            if interrupt.is_some_and(Interrupt::is_raised) {
                return Err(Error::Interrupted);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout { limit: None });
            }
            std::thread::sleep(TURN_POLL);
        }
    }

    fn recv(
        &self,
        mut sc: Scatter<'_>,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<usize> {
        let mut op = self.turn(deadline, interrupt)?;
        match self.io.take_read(&mut sc) {
            Taken::Nothing => {}
            Taken::Prefix { more } => {
                if more {
                    self.read_rest(&mut op, &mut sc, deadline)?;
                }
                return Ok(sc.total());
            }
            Taken::Failed(e) => return Err(failure("receiving a packet", e)),
            Taken::Pending => {
                return Err(Error::io(
                    "receiving a packet",
                    std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        "the poller's read is in flight: wait for its event",
                    ),
                ));
            }
        }
        if self.read_part(&mut op, &mut sc, deadline, interrupt)? {
            self.read_rest(&mut op, &mut sc, deadline)?;
        }
        Ok(sc.total())
    }

    fn try_recv(&self, mut sc: Scatter<'_>) -> Result<Option<usize>> {
        // Another thread's receive is in progress: nothing for this one now.
        let mut op = match self.reader.try_lock() {
            Ok(op) => op,
            Err(TryLockError::Poisoned(op)) => op.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(None),
        };
        match self.io.take_read(&mut sc) {
            Taken::Nothing => {}
            Taken::Prefix { more } => {
                if more {
                    self.read_rest(&mut op, &mut sc, rest_deadline())?;
                }
                return Ok(Some(sc.total()));
            }
            Taken::Failed(e) => return Err(failure("receiving a packet", e)),
            Taken::Pending => return Ok(None),
        }
        if self.available()? == 0 {
            return Ok(None);
        }
        // A packet is there: the read completes at once. Should it not, it
        // is cancelled before it took anything.
        match self.read_part(&mut op, &mut sc, Some(Instant::now()), None) {
            Ok(more) => {
                if more {
                    self.read_rest(&mut op, &mut sc, rest_deadline())?;
                }
                Ok(Some(sc.total()))
            }
            Err(Error::Timeout { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the rest of a packet whose start has been read.
    fn read_rest(
        &self,
        op: &mut Op,
        sc: &mut Scatter<'_>,
        deadline: Option<Instant>,
    ) -> Result<()> {
        while self.read_part(op, sc, deadline, None)? {}
        Ok(())
    }

    /// One ReadFile into the next free space of `sc` (or into a sink once
    /// it is full); returns whether the message has more.
    fn read_part(
        &self,
        op: &mut Op,
        sc: &mut Scatter<'_>,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<bool> {
        let mut sink = [0u8; 4096];
        let room = sc.room();
        let (buf, keep) = if room.is_empty() {
            (&mut sink[..], false)
        } else {
            (room, true)
        };
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let ov = op.arm();
        // SAFETY: the buffer and the OVERLAPPED stay alive and untouched
        // until `complete` returns.
        let ok =
            unsafe { ReadFile(self.h(), buf.as_mut_ptr(), len, std::ptr::null_mut(), ov) } != 0;
        let (n, more) = match op.complete(self.h(), ok, deadline, interrupt) {
            Completion::Done(0) => return Err(Error::Disconnected),
            Completion::Done(n) => (n as usize, false),
            Completion::MoreData(n) => (n as usize, true),
            Completion::Failed(e) => return Err(failure("receiving a packet", e)),
            Completion::TimedOut => return Err(Error::Timeout { limit: None }),
            Completion::Interrupted => return Err(Error::Interrupted),
        };
        sc.advance(if keep { n } else { 0 }, n);
        Ok(more)
    }

    /// Bytes waiting in the pipe (an error when the peer is gone).
    fn available(&self) -> Result<u32> {
        let mut avail = 0u32;
        // SAFETY: a valid pipe handle; only the byte count is requested.
        let ok = unsafe {
            PeekNamedPipe(
                self.h(),
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                &mut avail,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(failure("checking the pipe", last_error()));
        }
        Ok(avail)
    }

    /// Whether the peer has closed its end (checked without blocking).
    pub(crate) fn peer_closed(&self) -> bool {
        matches!(self.available(), Err(Error::Disconnected))
    }

    /// Both sides use 65536 unless configured otherwise.
    pub(crate) fn default_packet_size(&self) -> u32 {
        DEFAULT_PACKET_SIZE
    }

    /// The peer's process id (Windows reports no uid or gid).
    pub(crate) fn peer(&self) -> PeerCredentials {
        let mut pid = 0u32;
        // SAFETY: a valid pipe handle and an out pointer.
        let ok = unsafe {
            if self.server_side {
                GetNamedPipeClientProcessId(self.h(), &mut pid)
            } else {
                GetNamedPipeServerProcessId(self.h(), &mut pid)
            }
        };
        PeerCredentials {
            pid: (ok != 0).then_some(pid),
            uid: None,
            gid: None,
        }
    }

    pub(crate) fn raw_handle(&self) -> HANDLE {
        self.h()
    }

    /// Registers with a poller's port under `token`, armed for `interest`.
    pub(crate) fn register(&self, port: &Arc<Port>, token: u64, interest: Interest) -> Result<()> {
        self.io.register(self.h(), port, token, interest)
    }

    /// Arms the next poller event.
    pub(crate) fn arm(&self, token: u64, interest: Interest) -> Result<()> {
        self.io.arm(self.h(), token, interest)
    }

    /// Leaves the poller (operations in flight for it are cancelled).
    pub(crate) fn deregister(&self) {
        self.io.deregister(self.h());
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.io.close(handle);
        }
    }
}

/// Connects to the service's pipe. While every instance is busy, waits
/// for a free one until `deadline` (ten seconds without one) or until
/// `interrupt` is raised.
pub(crate) fn connect(
    run_dir: &str,
    service: &str,
    deadline: Option<Instant>,
    interrupt: Option<&Interrupt>,
) -> Result<Conn> {
    let name = pipe_name(run_dir, service)?;
    let wname = wide(&name);
    let deadline = deadline.unwrap_or_else(|| Instant::now() + BUSY_BUDGET);
    loop {
        if interrupt.is_some_and(Interrupt::is_raised) {
            return Err(Error::Interrupted);
        }
        // SAFETY: a NUL-terminated name; the result is checked.
        let h = unsafe {
            CreateFileW(
                wname.as_ptr(),
                // Exactly the rights a group of `EndpointAccess` gets:
                // GENERIC_WRITE would also ask for FILE_APPEND_DATA (on a
                // pipe: creating instances), which only the owner has.
                GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                // The server may identify this client but never act as it:
                // without these flags a process squatting the pipe name
                // could impersonate the client's token before the
                // provider's identity is checked.
                FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                std::ptr::null_mut(),
            )
        };
        match owned(h, "connecting to the provider") {
            Ok(handle) => {
                let mode = PIPE_READMODE_MESSAGE;
                // SAFETY: a valid pipe handle and a mode value.
                if unsafe {
                    SetNamedPipeHandleState(raw(&handle), &mode, std::ptr::null(), std::ptr::null())
                } == 0
                {
                    return Err(Error::io(
                        "switching the pipe to message mode",
                        os_error(last_error()),
                    ));
                }
                return Conn::new(handle, false);
            }
            Err(_) => match last_error() {
                ERROR_FILE_NOT_FOUND => return Err(Error::NotFound { endpoint: name }),
                // The pipe's DACL does not grant this user access.
                ERROR_ACCESS_DENIED => {
                    return Err(Error::PermissionDenied {
                        endpoint: name,
                        owner: None,
                        group: None,
                        mode: None,
                    });
                }
                // Every instance is taken for a moment: wait for the server
                // to put up another one.
                ERROR_PIPE_BUSY if Instant::now() < deadline => {
                    let ms = wait_ms(Some(deadline)).clamp(1, BUSY_SLICE_MS);
                    // SAFETY: a NUL-terminated name.
                    unsafe { WaitNamedPipeW(wname.as_ptr(), ms) };
                }
                ERROR_PIPE_BUSY => return Err(Error::Timeout { limit: None }),
                e => return Err(Error::io("connecting to the provider", os_error(e))),
            },
        }
    }
}
