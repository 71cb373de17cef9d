//! Identities on Windows: the user and enabled group SIDs of the pipe
//! peer's process token, and this process's user SID.

use std::os::windows::io::{FromRawHandle, OwnedHandle};

use windows_sys::Win32::Foundation::{ERROR_INSUFFICIENT_BUFFER, HANDLE};
use windows_sys::Win32::Security::{
    GetLengthSid, GetTokenInformation, IsValidSid, PSID, SID_AND_ATTRIBUTES, TOKEN_GROUPS,
    TOKEN_INFORMATION_CLASS, TOKEN_QUERY, TOKEN_USER, TokenGroups, TokenUser,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::Conn;
use super::util::{last_error, os_error, raw};
use crate::error::{Error, Result};
use crate::transport::identity::{Identity, PeerIdentity, Sid};

/// `SE_GROUP_ENABLED`: the group counts for access checks.
const SE_GROUP_ENABLED: u32 = 0x4;
/// `SE_GROUP_USE_FOR_DENY_ONLY`: the group only denies (for example
/// Administrators in a non-elevated token).
const SE_GROUP_USE_FOR_DENY_ONLY: u32 = 0x10;

/// The OS administrator: LocalSystem, and the Administrators group (which
/// counts only where it is enabled, that is in an elevated token).
pub(crate) fn admin_identities() -> &'static [Identity] {
    const ADMINS: [Identity; 2] = [
        Identity::Sid(Sid::LOCAL_SYSTEM),
        Identity::Sid(Sid::ADMINISTRATORS),
    ];
    &ADMINS
}

/// The user SID of this process's token.
pub(crate) fn current_user() -> Result<Identity> {
    // SAFETY: the pseudo handle of this process; no preconditions.
    let process = unsafe { GetCurrentProcess() };
    let token = process_token(process).map_err(|e| Error::io("opening this process's token", e))?;
    token_user(raw(&token)).map_err(|e| Error::io("reading this process's user", e))
}

/// The peer process's user SID and enabled group SIDs. The user is `None`
/// when the process or its token cannot be opened by this process (for
/// example a protected process, or a process of another user when this
/// one is not an administrator).
pub(crate) fn peer_identity(conn: &Conn) -> PeerIdentity {
    let pid = conn.peer().pid;
    let mut peer = PeerIdentity {
        pid,
        ..PeerIdentity::default()
    };
    let Some(pid) = pid else {
        return peer;
    };
    // SAFETY: plain call; the result is checked.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return peer;
    }
    // SAFETY: a process handle just returned by OpenProcess, owned here.
    let process = unsafe { OwnedHandle::from_raw_handle(process) };
    let Ok(token) = process_token(raw(&process)) else {
        return peer;
    };
    peer.user = token_user(raw(&token)).ok();
    peer.groups = token_groups(raw(&token)).unwrap_or_default();
    peer
}

/// The pipe name of a service, for messages.
pub(crate) fn endpoint_name(run_dir: &str, service: &str) -> String {
    crate::transport::names::pipe_name(run_dir, service)
        .unwrap_or_else(|_| format!("the pipe of {service} in {run_dir}"))
}

/// The primary token of `process`, opened for queries.
fn process_token(process: HANDLE) -> std::io::Result<OwnedHandle> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: a valid process handle and an out pointer.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 || token.is_null() {
        return Err(os_error(last_error()));
    }
    // SAFETY: a token handle just returned by OpenProcessToken, owned here.
    Ok(unsafe { OwnedHandle::from_raw_handle(token) })
}

/// One class of token information, in an 8-byte aligned buffer.
fn token_information(token: HANDLE, class: TOKEN_INFORMATION_CLASS) -> std::io::Result<Vec<u64>> {
    let mut len = 0u32;
    // SAFETY: a size query: no buffer, an out pointer for the size.
    let ok = unsafe { GetTokenInformation(token, class, std::ptr::null_mut(), 0, &mut len) };
    if ok == 0 && last_error() != ERROR_INSUFFICIENT_BUFFER {
        return Err(os_error(last_error()));
    }
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    let size = u32::try_from(buf.len() * 8).unwrap_or(u32::MAX);
    // SAFETY: the buffer is `size` writable, 8-byte aligned bytes.
    let ok = unsafe { GetTokenInformation(token, class, buf.as_mut_ptr().cast(), size, &mut len) };
    if ok == 0 {
        return Err(os_error(last_error()));
    }
    Ok(buf)
}

/// The SID at `sid` as an [`Identity`].
///
/// # Safety
/// `sid` must point at a SID that stays valid during the call.
unsafe fn sid_identity(sid: PSID) -> Option<Identity> {
    // SAFETY: the caller guarantees a readable SID; IsValidSid checks its
    // structure before its length is used.
    unsafe {
        if IsValidSid(sid) == 0 {
            return None;
        }
        let len = GetLengthSid(sid) as usize;
        Sid::from_bytes(std::slice::from_raw_parts(sid.cast::<u8>(), len)).map(Identity::Sid)
    }
}

fn token_user(token: HANDLE) -> std::io::Result<Identity> {
    let buf = token_information(token, TokenUser)?;
    // SAFETY: GetTokenInformation(TokenUser) filled the aligned buffer with
    // a TOKEN_USER whose SID points into the same buffer.
    unsafe {
        let user = &*buf.as_ptr().cast::<TOKEN_USER>();
        sid_identity(user.User.Sid)
    }
    .ok_or_else(|| std::io::Error::other("the token's user SID is invalid"))
}

fn token_groups(token: HANDLE) -> std::io::Result<Vec<Identity>> {
    let buf = token_information(token, TokenGroups)?;
    let groups = buf.as_ptr().cast::<TOKEN_GROUPS>();
    // SAFETY: GetTokenInformation(TokenGroups) filled the aligned buffer
    // with a TOKEN_GROUPS of `GroupCount` entries whose SIDs point into the
    // same buffer, which lives until the end of this function.
    unsafe {
        let count = (*groups).GroupCount as usize;
        let first = std::ptr::addr_of!((*groups).Groups).cast::<SID_AND_ATTRIBUTES>();
        Ok((0..count)
            .map(|i| &*first.add(i))
            .filter(|g| {
                g.Attributes & SE_GROUP_ENABLED != 0
                    && g.Attributes & SE_GROUP_USE_FOR_DENY_ONLY == 0
            })
            .filter_map(|g| sid_identity(g.Sid))
            .collect())
    }
}
