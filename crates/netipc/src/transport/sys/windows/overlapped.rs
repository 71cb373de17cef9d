//! Overlapped (asynchronous) I/O that the calling thread waits for, with a
//! deadline and an interrupt: every blocking pipe operation goes through
//! [`Op`], so a timeout or a raised interrupt cancels it instead of
//! blocking the thread.
//!
//! An [`Op`] never reaches a completion port: its OVERLAPPED carries its
//! event handle with the low bit set, which tells the kernel not to queue
//! a completion packet even when the file handle is associated with a port
//! (a pipe registered with the poller). Its operations therefore belong to
//! the calling thread alone and never show up as poller events.

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::time::Instant;

use windows_sys::Win32::Foundation::{
    ERROR_IO_PENDING, ERROR_MORE_DATA, ERROR_OPERATION_ABORTED, HANDLE, STATUS_PENDING,
    WAIT_OBJECT_0, WAIT_TIMEOUT, WIN32_ERROR,
};
use windows_sys::Win32::System::IO::{CancelIoEx, GetOverlappedResult, OVERLAPPED};
use windows_sys::Win32::System::Threading::{
    INFINITE, WaitForMultipleObjects, WaitForSingleObject,
};

use super::Interrupt;
use super::util::{Event, last_error};
use crate::error::Result;

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completion {
    /// Completed with this many bytes.
    Done(u32),
    /// A message-mode read filled the buffer; more of the message remains.
    MoreData(u32),
    /// Failed with this Win32 error.
    Failed(WIN32_ERROR),
    /// The deadline passed; the operation was cancelled.
    TimedOut,
    /// The interrupt was raised; the operation was cancelled.
    Interrupted,
}

/// `event` with its low bit set: signalled on completion, but no packet
/// is queued to a completion port the file is associated with.
pub(crate) fn portless(event: HANDLE) -> HANDLE {
    (event as usize | 1) as HANDLE
}

/// One reusable OVERLAPPED structure with its (manual-reset) event. The
/// structure lives in a box so that its address stays fixed while an
/// operation is pending; the event is shared so that other threads can
/// wait on it (a listener's watcher) even after the operation is gone.
///
/// Every method that touches the structure takes `&mut self`: one
/// operation at a time, started and collected by whoever holds the `Op`
/// exclusively (a listener slot, or a connection's receive lock). Through
/// `&self` only the event is reachable, which any thread may signal or
/// wait on.
#[derive(Debug)]
pub(crate) struct Op {
    ov: Box<UnsafeCell<OVERLAPPED>>,
    event: Arc<Event>,
}

// SAFETY: the OVERLAPPED is plain data that the kernel and the holder of
// `&mut Op` use (see above); moving the `Op` to another thread moves that
// exclusive access with it, and the box keeps the structure's address. No
// operation outlives the `Op` (drop paths cancel and wait).
unsafe impl Send for Op {}

impl Op {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            // SAFETY: OVERLAPPED is plain data; all-zero is its initial state.
            ov: Box::new(UnsafeCell::new(unsafe { std::mem::zeroed() })),
            event: Arc::new(Event::new(true)?),
        })
    }

    /// Prepares the structure for a new operation and returns it.
    pub(crate) fn arm(&mut self) -> *mut OVERLAPPED {
        self.event.reset();
        let ov = self.ov.get();
        // SAFETY: no operation is pending on this structure (every started
        // operation is completed or cancelled before the next `arm`).
        unsafe {
            *ov = std::mem::zeroed();
            (*ov).hEvent = portless(self.event.raw());
        }
        ov
    }

    /// Completes an operation started with [`arm`](Self::arm) whose Win32
    /// call returned `ok`: waits (bounded by `deadline`, ended early by
    /// `interrupt`) and collects the result. Returns only once the kernel
    /// no longer uses the buffer or the structure.
    pub(crate) fn complete(
        &mut self,
        handle: HANDLE,
        ok: bool,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
    ) -> Completion {
        if !ok {
            match last_error() {
                ERROR_IO_PENDING => {}
                ERROR_MORE_DATA => return self.result(handle),
                e => return Completion::Failed(e),
            }
            if let Some(stop) = self.wait(deadline, interrupt) {
                // SAFETY: a valid handle and the structure of the pending
                // operation.
                unsafe { CancelIoEx(handle, self.ov.get()) };
                return match self.result(handle) {
                    Completion::Failed(ERROR_OPERATION_ABORTED) => stop,
                    finished => finished,
                };
            }
        }
        self.result(handle)
    }

    /// The event, shared (it stays valid while the holder keeps it).
    pub(crate) fn shared_event(&self) -> Arc<Event> {
        self.event.clone()
    }

    /// Signals the event by hand (an operation that completed at once
    /// without signalling it, such as an already connected pipe).
    pub(crate) fn signal(&self) {
        self.event.set();
    }

    /// The result of a pending operation if it has completed, without
    /// waiting.
    pub(crate) fn poll(&mut self, handle: HANDLE) -> Option<Completion> {
        self.event.is_set().then(|| self.result(handle))
    }

    /// Cancels a pending operation and waits until the kernel is done with
    /// it.
    pub(crate) fn cancel(&mut self, handle: HANDLE) {
        // SAFETY: a valid handle and the structure of its pending operation.
        unsafe { CancelIoEx(handle, self.ov.get()) };
        let _ = self.result(handle);
    }

    /// Waits for the operation's event; `Some` when it must be cancelled.
    fn wait(&self, deadline: Option<Instant>, interrupt: Option<&Interrupt>) -> Option<Completion> {
        wait_event(self.event.raw(), deadline, interrupt).err()
    }

    /// Collects the result of a completed (or cancelled) operation,
    /// waiting for the kernel to finish with it.
    fn result(&mut self, handle: HANDLE) -> Completion {
        // The tagged event in the structure is not waited on directly: wait
        // on the plain handle while the operation is pending (as
        // HasOverlappedIoCompleted tells), then collect without waiting.
        let ov = self.ov.get();
        // SAFETY: the kernel writes `Internal` when the operation completes;
        // a volatile read of the aligned word observes either value.
        while unsafe { std::ptr::read_volatile(&raw const (*ov).Internal) }
            == STATUS_PENDING as usize
        {
            // SAFETY: a valid event handle.
            unsafe { WaitForSingleObject(self.event.raw(), INFINITE) };
        }
        overlapped_result(handle, ov)
    }
}

/// The result of the completed operation `ov` on `handle` (no waiting).
pub(crate) fn overlapped_result(handle: HANDLE, ov: *mut OVERLAPPED) -> Completion {
    let mut n = 0u32;
    // SAFETY: the structure of a completed operation on `handle`.
    let ok = unsafe { GetOverlappedResult(handle, ov, &mut n, 0) };
    if ok != 0 {
        return Completion::Done(n);
    }
    match last_error() {
        ERROR_MORE_DATA => Completion::MoreData(n),
        e => Completion::Failed(e),
    }
}

/// Waits until `event` is signalled: `Err(TimedOut)` once `deadline`
/// passes, `Err(Interrupted)` when `interrupt` is raised (checked first).
pub(crate) fn wait_event(
    event: HANDLE,
    deadline: Option<Instant>,
    interrupt: Option<&Interrupt>,
) -> std::result::Result<(), Completion> {
    let mut handles = [event, std::ptr::null_mut()];
    let count = match interrupt {
        Some(i) => {
            handles[1] = i.event();
            2
        }
        None => 1,
    };
    loop {
        if interrupt.is_some_and(Interrupt::is_raised) {
            return Err(Completion::Interrupted);
        }
        match wait_any(&handles[..count], wait_ms(deadline)) {
            WAIT_OBJECT_0 => return Ok(()),
            x if x == WAIT_OBJECT_0 + 1 => return Err(Completion::Interrupted),
            WAIT_TIMEOUT if deadline.is_some_and(|d| Instant::now() >= d) => {
                return Err(Completion::TimedOut);
            }
            WAIT_TIMEOUT => {}
            _ => return Err(Completion::Failed(last_error())),
        }
    }
}

/// Waits until one of `handles` is signalled or `ms` milliseconds pass;
/// returns the `WaitForMultipleObjects` result.
pub(crate) fn wait_any(handles: &[HANDLE], ms: u32) -> u32 {
    // SAFETY: valid handles; at most MAXIMUM_WAIT_OBJECTS by construction.
    unsafe { WaitForMultipleObjects(handles.len() as u32, handles.as_ptr(), 0, ms) }
}

/// Milliseconds until `deadline` for a Win32 wait, rounded up (INFINITE
/// without a deadline).
pub(crate) fn wait_ms(deadline: Option<Instant>) -> u32 {
    match deadline {
        None => INFINITE,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            u32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(INFINITE - 1)
        }
    }
}
