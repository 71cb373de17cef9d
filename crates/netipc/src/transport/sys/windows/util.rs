//! Small Win32 helpers: wide strings, errors, events.

use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{GetLastError, HANDLE, WAIT_OBJECT_0, WIN32_ERROR};
use windows_sys::Win32::System::Threading::{
    CreateEventW, ResetEvent, SetEvent, WaitForSingleObject,
};

use crate::error::Error;

/// `s` as a NUL-terminated UTF-16 string.
pub(crate) fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The calling thread's last Win32 error.
pub(crate) fn last_error() -> WIN32_ERROR {
    // SAFETY: no preconditions.
    unsafe { GetLastError() }
}

/// A Win32 error code as an `io::Error`.
pub(crate) fn os_error(code: WIN32_ERROR) -> std::io::Error {
    std::io::Error::from_raw_os_error(code as i32)
}

/// Wraps a handle a Win32 call just returned (NULL or
/// INVALID_HANDLE_VALUE mean failure).
pub(crate) fn owned(handle: HANDLE, context: &'static str) -> Result<OwnedHandle, Error> {
    if handle.is_null() || handle == windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE {
        return Err(Error::io(context, os_error(last_error())));
    }
    // SAFETY: the handle was just returned by a successful Win32 call and
    // is owned by nobody else.
    Ok(unsafe { OwnedHandle::from_raw_handle(handle) })
}

/// The raw value of an owned handle for Win32 calls.
pub(crate) fn raw(handle: &OwnedHandle) -> HANDLE {
    handle.as_raw_handle()
}

/// An unnamed event object.
#[derive(Debug)]
pub(crate) struct Event(OwnedHandle);

impl Event {
    /// A new, non-signalled event; `manual` selects manual reset.
    pub(crate) fn new(manual: bool) -> Result<Self, Error> {
        // SAFETY: no security attributes, no name; the result is checked.
        let h = unsafe { CreateEventW(std::ptr::null(), manual.into(), 0, std::ptr::null()) };
        owned(h, "creating an event").map(Self)
    }

    pub(crate) fn raw(&self) -> HANDLE {
        raw(&self.0)
    }

    pub(crate) fn set(&self) {
        // SAFETY: a valid event handle owned by `self`.
        unsafe { SetEvent(self.raw()) };
    }

    pub(crate) fn reset(&self) {
        // SAFETY: a valid event handle owned by `self`.
        unsafe { ResetEvent(self.raw()) };
    }

    /// Whether the event is signalled (for an auto-reset event this
    /// consumes the signal).
    pub(crate) fn is_set(&self) -> bool {
        // SAFETY: a valid event handle owned by `self`; no waiting.
        unsafe { WaitForSingleObject(self.raw(), 0) == WAIT_OBJECT_0 }
    }
}
