//! The named auto-reset events of an SHM_HYBRID session (one per
//! direction).

use std::os::windows::io::OwnedHandle;

use windows_sys::Win32::Foundation::{ERROR_ALREADY_EXISTS, HANDLE};
use windows_sys::Win32::System::Threading::{
    CreateEventW, EVENT_MODIFY_STATE, OpenEventW, SYNCHRONIZATION_SYNCHRONIZE, SetEvent,
};

use crate::error::{Error, Result};
use crate::transport::ShmAttachError;
use crate::transport::sys::windows::security::OwnerOnly;
use crate::transport::sys::windows::util::{last_error, os_error, owned, raw, wide};

/// An event that signals one direction (HYBRID only).
#[derive(Debug)]
pub(super) struct NamedEvent(OwnedHandle);

impl NamedEvent {
    pub(super) fn create(name: &str, security: &OwnerOnly) -> Result<Self> {
        let attributes = security.attributes();
        let w = wide(name);
        // SAFETY: auto-reset, initially non-signalled, named; attributes
        // and name outlive the call.
        let h = unsafe { CreateEventW(&attributes, 0, 0, w.as_ptr()) };
        let exists = last_error() == ERROR_ALREADY_EXISTS;
        let event = owned(h, "creating a shared-memory event")?;
        if exists {
            return Err(Error::AddressInUse {
                endpoint: name.to_owned(),
                pid: None,
            });
        }
        Ok(Self(event))
    }

    pub(super) fn open(name: &str) -> Result<Self, ShmAttachError> {
        let w = wide(name);
        // SAFETY: a NUL-terminated name; the result is checked.
        let h = unsafe {
            OpenEventW(
                EVENT_MODIFY_STATE | SYNCHRONIZATION_SYNCHRONIZE,
                0,
                w.as_ptr(),
            )
        };
        owned(h, "opening a shared-memory event")
            .map(Self)
            .map_err(|_| ShmAttachError::Open(os_error(last_error())))
    }

    pub(super) fn raw(&self) -> HANDLE {
        raw(&self.0)
    }

    pub(super) fn set(&self) {
        // SAFETY: a valid event handle.
        unsafe { SetEvent(self.raw()) };
    }
}
