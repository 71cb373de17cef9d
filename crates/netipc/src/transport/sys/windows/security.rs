//! The security descriptor of every pipe and shared-memory object: full
//! access for the creating user's account, SYSTEM and the Administrators
//! group; nobody else.

use windows_sys::Win32::Foundation::{HANDLE, HLOCAL, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{
    GetTokenInformation, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
    TokenUser,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::util::{last_error, os_error, owned, raw, wide};
use crate::error::{Error, Result};

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
    pub(crate) fn new() -> Result<Self> {
        let sid = current_user_sid()?;
        // Protected DACL: generic-all for SYSTEM, Administrators, the user.
        let sddl = wide(&format!("D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;{sid})"));
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
                "building the owner-only security descriptor",
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

/// The current process user's SID as a string (`S-1-5-...`).
fn current_user_sid() -> Result<String> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: the pseudo handle of this process and an out pointer.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(Error::io(
            "opening the process token",
            os_error(last_error()),
        ));
    }
    let token = owned(token, "opening the process token")?;
    let mut buf = [0u64; 64];
    let mut len = 0u32;
    // SAFETY: the buffer is 512 aligned bytes, enough for TOKEN_USER and its SID.
    let ok = unsafe {
        GetTokenInformation(
            raw(&token),
            TokenUser,
            buf.as_mut_ptr().cast(),
            512,
            &mut len,
        )
    };
    if ok == 0 {
        return Err(Error::io(
            "reading the process user",
            os_error(last_error()),
        ));
    }
    // SAFETY: GetTokenInformation filled the buffer with a TOKEN_USER.
    let user = unsafe { &*buf.as_ptr().cast::<TOKEN_USER>() };
    let mut text: windows_sys::core::PWSTR = std::ptr::null_mut();
    // SAFETY: a valid SID from the token and an out pointer.
    if unsafe { ConvertSidToStringSidW(user.User.Sid, &mut text) } == 0 {
        return Err(Error::io(
            "formatting the process user SID",
            os_error(last_error()),
        ));
    }
    // SAFETY: `text` is a NUL-terminated wide string allocated by the call.
    let sid = unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        let s = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text as HLOCAL);
        s
    };
    Ok(sid)
}
