//! Named pipes in message mode: listen (first-instance ownership, owner-only
//! security, local clients only), accept without busy gaps, connect, and
//! one-packet send/receive with deadlines and interrupts.

use std::cell::UnsafeCell;
use std::os::windows::io::OwnedHandle;
use std::sync::Mutex;
use std::time::Instant;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_BROKEN_PIPE, ERROR_FILE_NOT_FOUND, ERROR_IO_PENDING, ERROR_NO_DATA,
    ERROR_PIPE_BUSY, ERROR_PIPE_CONNECTED, ERROR_PIPE_NOT_CONNECTED, GENERIC_READ, GENERIC_WRITE,
    HANDLE, WAIT_FAILED, WAIT_TIMEOUT, WIN32_ERROR,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
    PIPE_ACCESS_DUPLEX, ReadFile, WriteFile,
};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, DisconnectNamedPipe, GetNamedPipeClientProcessId,
    GetNamedPipeServerProcessId, PIPE_READMODE_MESSAGE, PIPE_REJECT_REMOTE_CLIENTS,
    PIPE_TYPE_MESSAGE, PIPE_UNLIMITED_INSTANCES, PeekNamedPipe, SetNamedPipeHandleState,
    WaitNamedPipeW,
};

use super::Interrupt;
use super::overlapped::{Completion, Op, wait_any, wait_ms};
use super::security::OwnerOnly;
use super::util::{last_error, os_error, owned, raw, wide};
use crate::error::{Error, Result};
use crate::transport::PeerCredentials;
use crate::transport::names::pipe_name;
use crate::wire::HEADER_LEN;

/// Packet size when nothing else is configured.
const DEFAULT_PACKET_SIZE: u32 = 65536;
/// Pipe buffer size: room for several full packets, so a sender can run
/// ahead of its reader the way it can on a socket.
const PIPE_BUFFER_SIZE: u32 = 1 << 20;
/// Most instances waiting at once (one wait covers at most 64 objects,
/// one of which is the interrupt).
const MAX_BACKLOG: u32 = 63;
/// How long a client without a deadline waits for a free pipe instance.
const BUSY_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);
/// Longest single wait for a free instance.
const BUSY_SLICE_MS: u32 = 100;

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

/// A connected pipe end.
#[derive(Debug)]
pub(crate) struct Conn {
    handle: OwnedHandle,
    server_side: bool,
    read: Op,
    write: Op,
    /// One packet assembled for a single WriteFile (message mode needs the
    /// whole packet in one call).
    out: UnsafeCell<Vec<u8>>,
}

// SAFETY: the handle and the OVERLAPPED structures are owned by this value;
// `Conn` is used by one thread at a time (sessions are not `Sync`).
unsafe impl Send for Conn {}

impl Conn {
    fn new(handle: OwnedHandle, server_side: bool) -> Result<Self> {
        Ok(Self {
            handle,
            server_side,
            read: Op::new()?,
            write: Op::new()?,
            out: UnsafeCell::new(Vec::new()),
        })
    }

    fn h(&self) -> HANDLE {
        raw(&self.handle)
    }

    /// Sends one packet made of `parts` with a single WriteFile.
    pub(crate) fn send_packet(&self, parts: &[&[u8]]) -> Result<()> {
        // SAFETY: `out` is only used here, and `send_packet` is not reentrant
        // (one thread uses a Conn at a time).
        let out = unsafe { &mut *self.out.get() };
        out.clear();
        for p in parts {
            out.extend_from_slice(p);
        }
        let len = u32::try_from(out.len())
            .map_err(|_| Error::io("sending a packet", std::io::ErrorKind::InvalidInput.into()))?;
        let ov = self.write.arm();
        // SAFETY: the buffer and the OVERLAPPED stay alive and untouched
        // until `complete` returns.
        let ok = unsafe { WriteFile(self.h(), out.as_ptr(), len, std::ptr::null_mut(), ov) } != 0;
        match self.write.complete(self.h(), ok, None, None) {
            Completion::Done(n) if n == len => Ok(()),
            Completion::Done(_) => Err(Error::io(
                "sending a packet",
                std::io::ErrorKind::WriteZero.into(),
            )),
            Completion::Failed(e) => Err(failure("sending a packet", e)),
            Completion::MoreData(_) | Completion::TimedOut | Completion::Interrupted => Err(
                Error::io("sending a packet", std::io::ErrorKind::Interrupted.into()),
            ),
        }
    }

    /// One ReadFile into `buf`: bytes read and whether the message has more.
    fn read_into(
        &self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<(usize, bool)> {
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let ov = self.read.arm();
        // SAFETY: the buffer and the OVERLAPPED stay alive and untouched
        // until `complete` returns.
        let ok =
            unsafe { ReadFile(self.h(), buf.as_mut_ptr(), len, std::ptr::null_mut(), ov) } != 0;
        match self.read.complete(self.h(), ok, deadline, interrupt) {
            Completion::Done(0) => Err(Error::Disconnected),
            Completion::Done(n) => Ok((n as usize, false)),
            Completion::MoreData(n) => Ok((n as usize, true)),
            Completion::Failed(e) => Err(failure("receiving a packet", e)),
            Completion::TimedOut => Err(Error::Timeout),
            Completion::Interrupted => Err(Error::Interrupted),
        }
    }

    /// Reads and discards the rest of a message; returns how many bytes
    /// that was.
    fn drain(&self, deadline: Option<Instant>) -> Result<usize> {
        let mut sink = [0u8; 4096];
        let mut total = 0;
        loop {
            let (n, more) = self.read_into(&mut sink, deadline, None)?;
            total += n;
            if !more {
                return Ok(total);
            }
        }
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
        let (n, more) = self.read_into(buf, deadline, interrupt)?;
        if more {
            Ok(n + self.drain(deadline)?)
        } else {
            Ok(n)
        }
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
        let (n, more) = self.read_into(head, deadline, interrupt)?;
        if !more {
            return Ok(n);
        }
        let (m, more) = self.read_into(body, deadline, None)?;
        if more {
            Ok(n + m + self.drain(deadline)?)
        } else {
            Ok(n + m)
        }
    }

    /// Whether the peer has closed its end (checked without blocking).
    pub(crate) fn peer_closed(&self) -> bool {
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
        ok == 0 && is_disconnect(last_error())
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
}

/// Connects to the service's pipe. While every instance is busy, waits
/// for a free one until `deadline` (ten seconds without one).
pub(crate) fn connect(run_dir: &str, service: &str, deadline: Option<Instant>) -> Result<Conn> {
    let name = pipe_name(run_dir, service)?;
    let wname = wide(&name);
    let deadline = deadline.unwrap_or_else(|| Instant::now() + BUSY_BUDGET);
    loop {
        // SAFETY: a NUL-terminated name; the result is checked.
        let h = unsafe {
            CreateFileW(
                wname.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_FLAG_OVERLAPPED,
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
                // Every instance is taken for a moment: wait for the server
                // to put up another one.
                ERROR_PIPE_BUSY if Instant::now() < deadline => {
                    let ms = wait_ms(Some(deadline)).clamp(1, BUSY_SLICE_MS);
                    // SAFETY: a NUL-terminated name.
                    unsafe { WaitNamedPipeW(wname.as_ptr(), ms) };
                }
                ERROR_PIPE_BUSY => return Err(Error::Timeout),
                e => return Err(Error::io("connecting to the provider", os_error(e))),
            },
        }
    }
}

/// One pipe instance and the ConnectNamedPipe operation waiting on it.
#[derive(Debug)]
struct Slot {
    /// Always `Some` until the slot is handed over.
    instance: Option<OwnedHandle>,
    op: Op,
    /// A client is attached (the connect completed synchronously).
    connected: bool,
}

impl Slot {
    /// Creates an instance and starts waiting for a client on it.
    fn listen(wname: &[u16], security: &OwnerOnly, first: bool) -> Result<Self> {
        let mut slot = Slot {
            instance: Some(create_instance(wname, security, first)?),
            op: Op::new()?,
            connected: false,
        };
        slot.start()?;
        Ok(slot)
    }

    fn h(&self) -> HANDLE {
        self.instance.as_ref().map_or(std::ptr::null_mut(), raw)
    }

    /// Gives up the connected instance.
    fn into_instance(mut self) -> Option<OwnedHandle> {
        self.connected = true; // nothing is pending any more
        self.instance.take()
    }

    /// Issues ConnectNamedPipe on the instance.
    fn start(&mut self) -> Result<()> {
        let h = self.h();
        loop {
            let ov = self.op.arm();
            // SAFETY: a valid instance and an OVERLAPPED that lives in a box
            // owned by this slot until the operation is finished or cancelled.
            if unsafe { ConnectNamedPipe(h, ov) } != 0 {
                self.connected = true;
                return Ok(());
            }
            match last_error() {
                ERROR_IO_PENDING => return Ok(()),
                ERROR_PIPE_CONNECTED => {
                    self.connected = true;
                    return Ok(());
                }
                // A client came and went before we looked: reuse the instance.
                // SAFETY: a valid instance handle.
                ERROR_NO_DATA => unsafe {
                    DisconnectNamedPipe(h);
                },
                e => return Err(Error::io("listening on a pipe instance", os_error(e))),
            }
        }
    }

    /// Whether a client is attached now (without waiting).
    fn ready(&mut self) -> Result<bool> {
        if self.connected {
            return Ok(true);
        }
        match self.op.poll(self.h()) {
            None => Ok(false),
            Some(Completion::Done(_) | Completion::MoreData(_)) => {
                self.connected = true;
                Ok(true)
            }
            Some(Completion::Failed(ERROR_NO_DATA | ERROR_PIPE_CONNECTED)) => {
                // SAFETY: a valid instance handle.
                unsafe { DisconnectNamedPipe(self.h()) };
                self.start()?;
                Ok(self.connected)
            }
            Some(Completion::Failed(e)) => Err(Error::io("accepting a connection", os_error(e))),
            Some(Completion::TimedOut | Completion::Interrupted) => Ok(false),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.connected && self.instance.is_some() {
            self.op.cancel(self.h());
        }
    }
}

fn create_instance(wname: &[u16], security: &OwnerOnly, first: bool) -> Result<OwnedHandle> {
    let mut open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    if first {
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    }
    let attributes = security.attributes();
    // SAFETY: a NUL-terminated name and attributes that outlive the call.
    let h = unsafe {
        CreateNamedPipeW(
            wname.as_ptr(),
            open_mode,
            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES,
            PIPE_BUFFER_SIZE,
            PIPE_BUFFER_SIZE,
            0,
            &attributes,
        )
    };
    owned(h, "creating a pipe instance")
}

/// Whether any pipe with this name exists (without connecting to it).
fn name_exists(wname: &[u16]) -> bool {
    // SAFETY: a NUL-terminated name.
    let available = unsafe { WaitNamedPipeW(wname.as_ptr(), 1) } != 0;
    available || last_error() != ERROR_FILE_NOT_FOUND
}

/// A listening pipe name with `backlog` instances waiting for clients, so
/// that clients arriving together never find the pipe busy.
#[derive(Debug)]
pub(crate) struct Listener {
    name: String,
    wname: Vec<u16>,
    security: OwnerOnly,
    slots: Mutex<Vec<Slot>>,
}

impl Listener {
    /// Creates the instances; another live server owning the name makes
    /// this fail with `AddressInUse`.
    pub(crate) fn bind(run_dir: &str, service: &str, backlog: u32) -> Result<Self> {
        let name = pipe_name(run_dir, service)?;
        let wname = wide(&name);
        let security = OwnerOnly::new()?;
        // FILE_FLAG_FIRST_PIPE_INSTANCE is the authority on Windows; the
        // explicit check also covers implementations that do not enforce it.
        if name_exists(&wname) {
            return Err(Error::AddressInUse { endpoint: name });
        }
        let first = Slot::listen(&wname, &security, true).map_err(|e| match last_error() {
            ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY => Error::AddressInUse {
                endpoint: name.clone(),
            },
            _ => e,
        })?;
        let mut slots = vec![first];
        let count = backlog.clamp(1, MAX_BACKLOG);
        for _ in 1..count {
            slots.push(Slot::listen(&wname, &security, false)?);
        }
        Ok(Self {
            name,
            wname,
            security,
            slots: Mutex::new(slots),
        })
    }

    /// Waits for a client on any instance, hands that instance over and
    /// puts a fresh listening one in its place.
    pub(crate) fn accept(
        &self,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<Conn> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if interrupt.is_some_and(Interrupt::is_raised) {
                return Err(Error::Interrupted);
            }
            for i in 0..slots.len() {
                if slots[i].ready()? {
                    let fresh = Slot::listen(&self.wname, &self.security, false)?;
                    let taken = std::mem::replace(&mut slots[i], fresh);
                    if let Some(instance) = taken.into_instance() {
                        return Conn::new(instance, true);
                    }
                }
            }
            let mut events: Vec<HANDLE> = slots.iter().map(|s| s.op.event()).collect();
            if let Some(i) = interrupt {
                events.push(i.event());
            }
            match wait_any(&events, wait_ms(deadline)) {
                WAIT_TIMEOUT if deadline.is_some_and(|d| Instant::now() >= d) => {
                    return Err(Error::Timeout);
                }
                WAIT_FAILED => {
                    return Err(Error::io(
                        "waiting for a connection",
                        os_error(last_error()),
                    ));
                }
                _ => {}
            }
        }
    }

    /// The pipe name.
    pub(crate) fn endpoint(&self) -> &str {
        &self.name
    }
}
