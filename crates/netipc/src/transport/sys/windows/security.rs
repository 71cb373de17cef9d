//! The security descriptor of every pipe and shared-memory object: full
//! access for the creating user's account, SYSTEM and the Administrators
//! group; with [`EndpointAccess::OwnerAndGroup`] also a group (pipes:
//! read and write but no new pipe instances; shared-memory objects: full
//! access); nobody else.

use windows_sys::Win32::Foundation::{HLOCAL, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES};

use super::util::{last_error, os_error, wide};
use crate::error::{Error, Result};
use crate::transport::identity::{EndpointAccess, Identity};

/// What a group of [`EndpointAccess::OwnerAndGroup`] may do with a pipe:
/// `FILE_GENERIC_READ | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES`, what a
/// client opens it with. Not `FILE_APPEND_DATA`, which on a pipe is
/// `FILE_CREATE_PIPE_INSTANCE`: group members cannot serve the name.
const PIPE_CLIENT_RIGHTS: u32 = 0x0012_018B;

/// The kind of object a descriptor protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Objects {
    /// Named pipe instances.
    Pipe,
    /// Shared-memory mappings and their events.
    Shm,
}

/// An owner-only security descriptor and the attributes pointing at it.
#[derive(Debug)]
pub(crate) struct OwnerOnly {
    descriptor: PSECURITY_DESCRIPTOR,
}

// SAFETY: the descriptor is immutable after creation and freed only on drop.
unsafe impl Send for OwnerOnly {}
// SAFETY: as above; it is only read.
unsafe impl Sync for OwnerOnly {}

impl OwnerOnly {
    /// The owner-only descriptor of shared-memory objects.
    #[cfg(test)]
    pub(crate) fn new() -> Result<Self> {
        Self::for_access(&EndpointAccess::OwnerOnly, Objects::Shm)
    }

    /// The descriptor for `objects` of a provider whose endpoint access is
    /// `access` (its group must be a SID).
    pub(crate) fn for_access(access: &EndpointAccess, objects: Objects) -> Result<Self> {
        let Identity::Sid(user) = super::identity::current_user()? else {
            return Err(Error::io(
                "building the security descriptor",
                std::io::Error::other("this process's user is not a SID"),
            ));
        };
        let group = match access {
            EndpointAccess::OwnerOnly => String::new(),
            EndpointAccess::OwnerAndGroup(Identity::Sid(group)) => match objects {
                Objects::Pipe => format!("(A;;{PIPE_CLIENT_RIGHTS:#x};;;{group})"),
                Objects::Shm => format!("(A;;GA;;;{group})"),
            },
            EndpointAccess::OwnerAndGroup(other) => {
                return Err(Error::io(
                    "applying the endpoint access",
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "EndpointAccess::OwnerAndGroup needs a group SID (S-1-…) on this OS, not {other}"
                        ),
                    ),
                ));
            }
        };
        // Protected DACL: generic-all for SYSTEM, Administrators, the user;
        // the group's rights as above.
        let sddl = wide(&format!(
            "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;{user}){group}"
        ));
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: a valid NUL-terminated string and an out pointer.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                sddl.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(Error::io(
                "building the security descriptor",
                os_error(last_error()),
            ));
        }
        Ok(Self { descriptor })
    }

    /// Attributes for a Create* call; valid while `self` lives.
    pub(crate) fn attributes(&self) -> SECURITY_ATTRIBUTES {
        SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
            lpSecurityDescriptor: self.descriptor,
            bInheritHandle: 0,
        }
    }
}

impl Drop for OwnerOnly {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW.
        unsafe { LocalFree(self.descriptor as HLOCAL) };
    }
}
