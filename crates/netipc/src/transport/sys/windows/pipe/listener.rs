//! The listening side: a backlog of pipe instances waiting for clients,
//! accepted one at a time (blocking, or without waiting for a poller).

use std::os::windows::io::OwnedHandle;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_IO_PENDING, ERROR_NO_DATA, ERROR_PIPE_BUSY,
    ERROR_PIPE_CONNECTED, HANDLE, WAIT_FAILED, WAIT_TIMEOUT,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, PIPE_ACCESS_DUPLEX,
};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, DisconnectNamedPipe, PIPE_READMODE_MESSAGE,
    PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_MESSAGE, PIPE_UNLIMITED_INSTANCES, WaitNamedPipeW,
};

use super::super::Interrupt;
use super::super::overlapped::{Completion, Op, wait_any, wait_ms};
use super::super::poller::Port;
use super::super::security::{Objects, OwnerOnly};
use super::super::util::{last_error, os_error, owned, raw, wide};
use super::conn::Conn;
use super::watcher::Watcher;
use crate::error::{Error, Result};
use crate::transport::identity::EndpointAccess;
use crate::transport::names::pipe_name;

/// Pipe buffer size: room for several full packets, so a sender can run
/// ahead of its reader the way it can on a socket.
const PIPE_BUFFER_SIZE: u32 = 1 << 20;
/// Most instances waiting at once (one wait covers at most 64 objects,
/// one of which is the interrupt or the watcher's wake-up event).
const MAX_BACKLOG: u32 = 63;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One pipe instance and the ConnectNamedPipe operation waiting on it.
#[derive(Debug)]
struct Slot {
    /// Always `Some` until the slot is handed over.
    instance: Option<OwnedHandle>,
    op: Op,
    /// A client is attached (its connect completed and was collected).
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

    /// Issues ConnectNamedPipe on the instance. Its event is signalled
    /// once a client is attached, also when that is known at once (so
    /// that waiting on the event is enough).
    fn start(&mut self) -> Result<()> {
        let h = self.h();
        loop {
            let ov = self.op.arm();
            // SAFETY: a valid instance and an OVERLAPPED that lives in a box
            // owned by this slot until the operation is finished or cancelled.
            if unsafe { ConnectNamedPipe(h, ov) } != 0 {
                self.connected = true;
                self.op.signal();
                return Ok(());
            }
            match last_error() {
                ERROR_IO_PENDING => return Ok(()),
                ERROR_PIPE_CONNECTED => {
                    self.connected = true;
                    self.op.signal();
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

/// How long a provider that lost the pipe name tries to reach the winner
/// to learn its process id.
const WINNER_PROBE: std::time::Duration = std::time::Duration::from_millis(200);

/// The process id of the server that owns the pipe name, learnt by
/// connecting to it as a client (`GetNamedPipeServerProcessId`) and
/// closing at once; `None` when it cannot be reached (every instance busy,
/// or access denied).
fn server_pid(run_dir: &str, service: &str) -> Option<u32> {
    let until = Instant::now() + WINNER_PROBE;
    super::conn::connect(run_dir, service, Some(until), None)
        .ok()
        .and_then(|conn| conn.peer().pid)
}

/// A listening pipe name with `backlog` instances waiting for clients, so
/// that clients arriving together never find the pipe busy.
#[derive(Debug)]
pub(crate) struct Listener {
    name: String,
    wname: Vec<u16>,
    security: OwnerOnly,
    /// Shared with the watcher, which waits on the slots' events.
    slots: Arc<Mutex<Vec<Slot>>>,
    /// Present while the listener is registered with a poller.
    watcher: Mutex<Option<Watcher>>,
}

impl Listener {
    /// Creates the instances (owner-only); another live server owning the
    /// name makes this fail with `AddressInUse`.
    pub(crate) fn bind(run_dir: &str, service: &str, backlog: u32) -> Result<Self> {
        Self::bind_with(run_dir, service, backlog, &EndpointAccess::OwnerOnly)
    }

    /// [`bind`](Self::bind) with the pipe's DACL made for `access`.
    pub(crate) fn bind_with(
        run_dir: &str,
        service: &str,
        backlog: u32,
        access: &EndpointAccess,
    ) -> Result<Self> {
        if run_dir.is_empty() {
            return Err(crate::transport::run_dir::RunDirError::Empty.into());
        }
        let name = pipe_name(run_dir, service)?;
        let wname = wide(&name);
        let security = OwnerOnly::for_access(access, Objects::Pipe)?;
        // FILE_FLAG_FIRST_PIPE_INSTANCE is the authority on Windows; the
        // explicit check also covers implementations that do not enforce it.
        if name_exists(&wname) {
            return Err(Error::AddressInUse {
                pid: server_pid(run_dir, service),
                endpoint: name,
            });
        }
        let first = match Slot::listen(&wname, &security, true) {
            Ok(first) => first,
            Err(e) => match last_error() {
                ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY => {
                    return Err(Error::AddressInUse {
                        pid: server_pid(run_dir, service),
                        endpoint: name,
                    });
                }
                _ => return Err(e),
            },
        };
        let mut slots = vec![first];
        let count = backlog.clamp(1, MAX_BACKLOG);
        for _ in 1..count {
            slots.push(Slot::listen(&wname, &security, false)?);
        }
        Ok(Self {
            name,
            wname,
            security,
            slots: Arc::new(Mutex::new(slots)),
            watcher: Mutex::new(None),
        })
    }

    /// Waits for a client on any instance, hands that instance over and
    /// puts a fresh listening one in its place.
    pub(crate) fn accept(
        &self,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<Conn> {
        loop {
            if interrupt.is_some_and(Interrupt::is_raised) {
                return Err(Error::Interrupted);
            }
            if let Some(conn) = self.try_accept()? {
                return Ok(conn);
            }
            // Shared events stay valid while waited on, whatever happens
            // to their slots meanwhile.
            let events: Vec<_> = lock(&self.slots)
                .iter()
                .map(|s| s.op.shared_event())
                .collect();
            let mut handles: Vec<HANDLE> = events.iter().map(|e| e.raw()).collect();
            if let Some(i) = interrupt {
                handles.push(i.event());
            }
            match wait_any(&handles, wait_ms(deadline)) {
                WAIT_TIMEOUT if deadline.is_some_and(|d| Instant::now() >= d) => {
                    return Err(Error::Timeout { limit: None });
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

    /// Accepts one connected client without waiting (`None` when no
    /// instance has one). An instance that failed is replaced.
    pub(crate) fn try_accept(&self) -> Result<Option<Conn>> {
        let mut slots = lock(&self.slots);
        for i in 0..slots.len() {
            match slots[i].ready() {
                Ok(false) => {}
                Ok(true) => {
                    let fresh = Slot::listen(&self.wname, &self.security, false)?;
                    let taken = std::mem::replace(&mut slots[i], fresh);
                    if let Some(instance) = taken.into_instance() {
                        return Conn::new(instance, true).map(Some);
                    }
                }
                Err(_) => slots[i] = Slot::listen(&self.wname, &self.security, false)?,
            }
        }
        Ok(None)
    }

    /// The pipe name.
    pub(crate) fn endpoint(&self) -> &str {
        &self.name
    }

    /// Starts posting `token` to `port` when a client is waiting (see
    /// [`super::watcher`]).
    pub(crate) fn watch(&self, port: Arc<Port>, token: u64) -> Result<()> {
        let mut watcher = lock(&self.watcher);
        if watcher.is_some() {
            return Err(Error::io(
                "registering the listener",
                std::io::Error::other("the listener is registered already"),
            ));
        }
        let slots = self.slots.clone();
        let sources = Box::new(move || lock(&slots).iter().map(|s| s.op.shared_event()).collect());
        *watcher = Some(Watcher::start(port, token, sources)?);
        Ok(())
    }

    /// Arms the watcher for its next event.
    pub(crate) fn rearm_watch(&self, token: u64) -> Result<()> {
        match lock(&self.watcher).as_ref() {
            Some(watcher) => {
                watcher.arm(token);
                Ok(())
            }
            None => Err(Error::io(
                "re-arming the listener",
                std::io::Error::other("the listener is not registered"),
            )),
        }
    }

    /// Stops the watcher (joining its thread).
    pub(crate) fn unwatch(&self) {
        let watcher = lock(&self.watcher).take();
        drop(watcher);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.unwatch();
    }
}
