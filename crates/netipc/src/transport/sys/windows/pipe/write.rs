//! The write side of a pipe connection: one packet per WriteFile, at most
//! one write in flight.
//!
//! Writes never queue completion packets (their event handle is tagged,
//! see [`portless`]), so they never show up as poller events. A write that
//! completes at once is done; one that pends (the pipe's buffer is full)
//! keeps its bytes here, and [`Outbox::try_send`] refuses the next packet
//! until it is done. A poller that wants to know when that is registers a
//! one-shot thread-pool wait on the write's event ([`Outbox::when_done`]).

use std::cell::UnsafeCell;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use windows_sys::Win32::Foundation::{
    ERROR_IO_PENDING, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::Storage::FileSystem::WriteFile;
use windows_sys::Win32::System::IO::{CancelIoEx, OVERLAPPED};
use windows_sys::Win32::System::Threading::{
    INFINITE, RegisterWaitForSingleObject, UnregisterWaitEx, WT_EXECUTEONLYONCE,
    WaitForSingleObject,
};

use super::super::Interrupt;
use super::super::overlapped::{Completion, overlapped_result, portless, wait_event};
use super::super::util::{Event as Signal, last_error, os_error};
use super::{failure, stopped};
use crate::error::{Error, Result};

/// What a [`WriteWait`] runs on a thread-pool thread once the write is done.
type OnDone = Box<dyn Fn() + Send + Sync>;

/// A one-shot thread-pool wait on the write's event.
#[derive(Debug)]
struct WriteWait {
    handle: HANDLE,
    context: *mut OnDone,
}

impl WriteWait {
    /// Unregisters the wait, waiting for a running callback, and frees its
    /// context.
    fn cancel(self) {
        // SAFETY: a wait handle from RegisterWaitForSingleObject, unregistered
        // once; INVALID_HANDLE_VALUE waits for a running callback to return.
        unsafe { UnregisterWaitEx(self.handle, INVALID_HANDLE_VALUE) };
        // SAFETY: boxed by `when_done`; no callback can use it any more.
        drop(unsafe { Box::from_raw(self.context) });
    }
}

/// The thread-pool callback of a [`WriteWait`].
unsafe extern "system" fn on_write_done(context: *mut core::ffi::c_void, _timed_out: bool) {
    // SAFETY: the context boxed by `when_done`, freed only after
    // UnregisterWaitEx has waited for this callback.
    let on_done = unsafe { &*context.cast::<OnDone>() };
    on_done();
}

#[derive(Debug)]
struct WriteState {
    /// A write was issued and has not been collected.
    pending: bool,
    /// Its length.
    len: u32,
    wait: Option<WriteWait>,
}

/// The write side; see the module docs.
pub(super) struct Outbox {
    /// The OVERLAPPED and bytes of the write, guarded by `state` (and
    /// used by the kernel while a write is pending).
    ov: UnsafeCell<OVERLAPPED>,
    out: UnsafeCell<Vec<u8>>,
    /// Manual reset; signalled when the write completes.
    event: Signal,
    state: Mutex<WriteState>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

// SAFETY: the cells are touched only under `state` while no write is
// pending, and by the kernel while one is; the raw pointers in
// `WriteState` are owned by it.
unsafe impl Send for Outbox {}
// SAFETY: as above.
unsafe impl Sync for Outbox {}

impl Outbox {
    pub(super) fn new() -> Result<Self> {
        Ok(Self {
            // SAFETY: OVERLAPPED is plain data; all-zero is its initial state.
            ov: UnsafeCell::new(unsafe { std::mem::zeroed() }),
            out: UnsafeCell::new(Vec::new()),
            event: Signal::new(true)?,
            state: Mutex::new(WriteState {
                pending: false,
                len: 0,
                wait: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, WriteState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the write in flight has completed (or none is in flight).
    fn settled(&self, state: &WriteState) -> bool {
        !state.pending || self.event.is_set()
    }

    /// Whether a write is still in flight.
    pub(super) fn in_flight(&self) -> bool {
        !self.settled(&self.lock())
    }

    /// Sends one packet without waiting: `false` (nothing sent) while the
    /// previous write is still in flight. `true` means the packet was
    /// handed to the pipe: written, or in flight with its bytes kept here.
    pub(super) fn try_send(&self, handle: HANDLE, parts: &[&[u8]]) -> Result<bool> {
        let mut state = self.lock();
        if let Some(wait) = state.wait.take() {
            wait.cancel();
        }
        if state.pending {
            if !self.event.is_set() {
                return Ok(false);
            }
            self.finish(handle, &mut state)?;
        }
        self.start(handle, &mut state, parts)?;
        Ok(true)
    }

    /// Sends one packet and waits (until `deadline`, or until `interrupt`
    /// is raised) for it to be written. A write that cannot finish in time
    /// is cancelled; the session is unusable after that error.
    pub(super) fn send(
        &self,
        handle: HANDLE,
        parts: &[&[u8]],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Result<()> {
        let mut state = self.lock();
        if let Some(wait) = state.wait.take() {
            wait.cancel();
        }
        if state.pending {
            wait_event(self.event.raw(), deadline, interrupt).map_err(stopped)?;
            self.finish(handle, &mut state)?;
        }
        self.start(handle, &mut state, parts)?;
        if !state.pending {
            return Ok(());
        }
        match wait_event(self.event.raw(), deadline, interrupt) {
            Ok(()) => self.finish(handle, &mut state),
            Err(stop) => {
                // SAFETY: a valid handle and the pending write's structure;
                // the wait makes sure the kernel is done with it.
                unsafe {
                    CancelIoEx(handle, self.ov.get());
                    WaitForSingleObject(self.event.raw(), INFINITE);
                }
                // It may have completed before the cancel.
                self.finish(handle, &mut state).map_err(|_| stopped(stop))
            }
        }
    }

    fn start(&self, handle: HANDLE, state: &mut WriteState, parts: &[&[u8]]) -> Result<()> {
        // SAFETY: no write is pending and `state` is held.
        let out = unsafe { &mut *self.out.get() };
        out.clear();
        for part in parts {
            out.extend_from_slice(part);
        }
        let len = u32::try_from(out.len())
            .map_err(|_| Error::io("sending a packet", std::io::ErrorKind::InvalidInput.into()))?;
        self.event.reset();
        let ov = self.ov.get();
        // SAFETY: no write is pending on this structure.
        unsafe {
            *ov = std::mem::zeroed();
            (*ov).hEvent = portless(self.event.raw());
        }
        state.len = len;
        state.pending = true;
        // SAFETY: the bytes and the OVERLAPPED stay untouched until the
        // write is collected (`pending`), or cancelled.
        let ok = unsafe { WriteFile(handle, out.as_ptr(), len, std::ptr::null_mut(), ov) } != 0;
        if ok {
            return self.finish(handle, state);
        }
        match last_error() {
            ERROR_IO_PENDING => Ok(()),
            e => {
                state.pending = false;
                Err(failure("sending a packet", e))
            }
        }
    }

    /// Collects the completed write.
    fn finish(&self, handle: HANDLE, state: &mut WriteState) -> Result<()> {
        state.pending = false;
        match overlapped_result(handle, self.ov.get()) {
            Completion::Done(n) if n == state.len => Ok(()),
            Completion::Failed(e) => Err(failure("sending a packet", e)),
            _ => Err(Error::io(
                "sending a packet",
                std::io::ErrorKind::WriteZero.into(),
            )),
        }
    }

    /// Runs `on_done` on a thread-pool thread once the write in flight is
    /// done; `false` (and `on_done` is dropped) when none is in flight.
    /// The wait is dropped by the next send, [`forget_wait`] or
    /// [`cancel`].
    ///
    /// [`forget_wait`]: Self::forget_wait
    /// [`cancel`]: Self::cancel
    pub(super) fn when_done(&self, on_done: OnDone) -> Result<bool> {
        let mut state = self.lock();
        if let Some(wait) = state.wait.take() {
            wait.cancel();
        }
        if self.settled(&state) {
            return Ok(false);
        }
        let context = Box::into_raw(Box::new(on_done));
        let mut handle: HANDLE = std::ptr::null_mut();
        // SAFETY: a valid event that outlives the wait (the wait is
        // cancelled before this outbox goes); the callback only reads the
        // context, which lives until the wait is cancelled.
        let ok = unsafe {
            RegisterWaitForSingleObject(
                &mut handle,
                self.event.raw(),
                Some(on_write_done),
                context.cast(),
                INFINITE,
                WT_EXECUTEONLYONCE,
            )
        } != 0;
        if !ok {
            let e = last_error();
            // SAFETY: boxed above; the registration failed, nothing uses it.
            drop(unsafe { Box::from_raw(context) });
            return Err(Error::io("waiting for a pipe write", os_error(e)));
        }
        state.wait = Some(WriteWait { handle, context });
        Ok(true)
    }

    /// Drops a [`when_done`](Self::when_done) wait (waiting for a running
    /// callback).
    pub(super) fn forget_wait(&self) {
        if let Some(wait) = self.lock().wait.take() {
            wait.cancel();
        }
    }

    /// Waits up to `ms` milliseconds for the write in flight to complete.
    pub(super) fn settle(&self, ms: u32) -> bool {
        // SAFETY: a valid event handle owned by `self`.
        unsafe { WaitForSingleObject(self.event.raw(), ms) == WAIT_OBJECT_0 }
    }

    /// Cancels a write in flight, waits until the kernel is done with it
    /// and frees the bytes (and a wait).
    pub(super) fn cancel(&self, handle: HANDLE) {
        let mut state = self.lock();
        if let Some(wait) = state.wait.take() {
            wait.cancel();
        }
        self.cancel_locked(handle, &mut state);
        // SAFETY: no write is pending and `state` is held.
        unsafe { *self.out.get() = Vec::new() };
    }

    fn cancel_locked(&self, handle: HANDLE, state: &mut WriteState) {
        if state.pending {
            // SAFETY: a valid handle and the pending write's structure; the
            // wait makes sure the kernel no longer uses it.
            unsafe {
                CancelIoEx(handle, self.ov.get());
                WaitForSingleObject(self.event.raw(), INFINITE);
            }
            state.pending = false;
        }
    }
}
