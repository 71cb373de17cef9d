//! Endpoint and shared-memory object names, derived exactly like every
//! other NetIPC implementation so that peers find each other.
//!
//! All derivations are pure functions of their inputs, available on every
//! OS (so they can be inspected and tested anywhere):
//!
//! | what | form |
//! |---|---|
//! | POSIX socket | `<run_dir>/<service>.sock` |
//! | POSIX SHM region | `<run_dir>/<service>-<session_id as %016x>.ipcshm` |
//! | Windows pipe | `\\.\pipe\netipc-<fnv1a64(run_dir) as %016x>-<service>` |
//! | Windows SHM objects | `Local\netipc-<H>-<service>-p<profile>-s<%016x session>-{mapping,req_event,resp_event}` |
//!
//! These functions use `run_dir` verbatim, as the protocol defines. The
//! transport gives them the directory's canonical spelling
//! ([`canonical_posix_run_dir`], [`canonical_windows_run_dir`]; see
//! [`run_dir`](super::run_dir) for the rules), so that equivalent
//! spellings of one directory reach one endpoint on every OS.

use std::fmt::Write as _;

/// Why a name could not be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The service name is empty, `.`, `..` or has a byte outside
    /// `[A-Za-z0-9._-]`.
    #[error("invalid service name {0:?}: use 1 or more of A-Z a-z 0-9 . _ - (not \".\" or \"..\")")]
    InvalidServiceName(String),
    /// A derived path or name is longer than the platform allows.
    #[error(
        "{what} is {len} bytes, longer than the limit of {max}; use a shorter run directory or service name"
    )]
    TooLong {
        /// Which name.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The largest accepted length.
        max: usize,
    },
    /// A Windows SHM object set was asked for a profile other than 2 or 4.
    #[error("profile {0:#x} has no shared-memory objects (only 0x2 and 0x4 do)")]
    InvalidProfile(u32),
}

/// Longest socket path: Linux `sun_path` holds 108 bytes including the NUL.
pub const SOCKET_PATH_MAX: usize = 107;
/// Longest SHM region file name and full path.
pub const SHM_PATH_MAX: usize = 255;
/// Longest Windows pipe or kernel object name.
pub const WINDOWS_NAME_MAX: usize = 255;
/// Longest input of the Windows SHM name hash (a limit of the reference C
/// library that peers must respect to find each other).
pub const WINDOWS_HASH_INPUT_MAX: usize = 511;

/// Checks a service name: non-empty, not `.` or `..`, only
/// `[A-Za-z0-9._-]`. Names are never rewritten.
///
/// # Errors
/// [`NameError::InvalidServiceName`].
pub fn validate_service_name(service: &str) -> Result<(), NameError> {
    let ok = !service.is_empty()
        && service != "."
        && service != ".."
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(NameError::InvalidServiceName(service.to_owned()))
    }
}

fn check_len(what: &'static str, s: &str, max: usize) -> Result<(), NameError> {
    if s.len() > max {
        return Err(NameError::TooLong {
            what,
            len: s.len(),
            max,
        });
    }
    Ok(())
}

/// The canonical POSIX spelling of a run directory: repeated `/` collapse
/// into one, `.` components and trailing `/` go (`/tmp//x/./` ->
/// `/tmp/x`; `/` stays `/`, an empty result of a relative path is `.`).
/// `..` is kept: through a symbolic link it does not undo the previous
/// component. Spellings that differ only in these ways name the same
/// directory to the kernel, so this changes no endpoint; it makes names
/// and messages identical (and a socket path no longer than needed).
pub fn canonical_posix_run_dir(run_dir: &str) -> String {
    let rooted = run_dir.starts_with('/');
    let parts: Vec<&str> = run_dir
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    match (rooted, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_owned(),
        (false, false) => parts.join("/"),
    }
}

/// The canonical Windows spelling of a run directory, the string whose
/// hash names its pipe and shared-memory objects (Windows has no
/// directory entries for them, so two spellings of one directory would
/// otherwise be two endpoints):
///
/// - a drive path (`c:/trial/`, `C:\trial\`) gets an upper-case drive
///   letter and `\` separators: `C:\trial`;
/// - a UNC path (`//server/share/x`) gets `\` separators:
///   `\\server\share\x`;
/// - a rooted path without a drive (`/var/run/netdata`: the spec's
///   example, and the form programs built with MSYS2 or Cygwin use) gets
///   `/` separators and stays without a drive;
/// - repeated separators collapse, `.` components go, `..` removes the
///   component before it (as Windows resolves every path), a trailing
///   separator goes (not the root's: `C:\`, `/`).
///
/// Verbatim paths (`\\?\...`, `\\.\...`) are returned unchanged. The rest
/// of the spelling, case included, is kept: Windows file names are
/// case-insensitive but the hash is not. A path that already has this
/// form (the usual way to write one) is returned unchanged, so a reference
/// peer given it derives the same names. Relative paths (`trial`,
/// `C:trial`) depend on the current directory: the transport makes them
/// absolute before it gets here; given one, this only tidies it.
pub fn canonical_windows_run_dir(run_dir: &str) -> String {
    if run_dir.starts_with(r"\\?\") || run_dir.starts_with(r"\\.\") {
        return run_dir.to_owned();
    }
    let is_sep = |c: char| c == '/' || c == '\\';
    let b = run_dir.as_bytes();
    // (what the result starts with, the separator, how many leading
    // components `..` cannot remove, the rest to split)
    let (prefix, sep, fixed, rest) = if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        let drive = format!("{}:", char::from(b[0].to_ascii_uppercase()));
        let rest = &run_dir[2..];
        let root = if rest.starts_with(is_sep) { "\\" } else { "" };
        (drive + root, '\\', 0, rest)
    } else if b.len() >= 2 && is_sep(char::from(b[0])) && is_sep(char::from(b[1])) {
        // Server and share.
        (r"\\".to_owned(), '\\', 2, &run_dir[2..])
    } else if run_dir.starts_with(is_sep) {
        ("/".to_owned(), '/', 0, run_dir)
    } else {
        (String::new(), '\\', 0, run_dir)
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in rest.split(is_sep).filter(|c| !c.is_empty() && *c != ".") {
        if part == ".." && parts.len() > fixed && parts.last() != Some(&"..") {
            parts.pop();
        } else if part != ".." || prefix.is_empty() {
            // `..` above a root stays at the root; above a relative
            // path's start it is kept.
            parts.push(part);
        }
    }
    let mut out = prefix;
    let mut separator = String::new();
    separator.push(sep);
    out.push_str(&parts.join(&separator));
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// The POSIX socket path `<run_dir>/<service>.sock`.
///
/// # Errors
/// An invalid service name, or a path longer than [`SOCKET_PATH_MAX`].
pub fn socket_path(run_dir: &str, service: &str) -> Result<String, NameError> {
    validate_service_name(service)?;
    let path = format!("{run_dir}/{service}.sock");
    check_len("socket path", &path, SOCKET_PATH_MAX)?;
    Ok(path)
}

/// The file name of a POSIX SHM region: `<service>-<%016x session>.ipcshm`.
///
/// # Errors
/// An invalid service name, or a name longer than [`SHM_PATH_MAX`].
pub fn shm_region_file_name(service: &str, session_id: u64) -> Result<String, NameError> {
    validate_service_name(service)?;
    let name = format!("{service}-{session_id:016x}.ipcshm");
    check_len("SHM region file name", &name, SHM_PATH_MAX)?;
    Ok(name)
}

/// The full path of a POSIX SHM region: `<run_dir>/<file name>`.
///
/// # Errors
/// As [`shm_region_file_name`], or a path longer than [`SHM_PATH_MAX`].
pub fn shm_region_path(run_dir: &str, service: &str, session_id: u64) -> Result<String, NameError> {
    let name = shm_region_file_name(service, session_id)?;
    let path = format!("{run_dir}/{name}");
    check_len("SHM region path", &path, SHM_PATH_MAX)?;
    Ok(path)
}

/// FNV-1a, 64 bit.
#[must_use]
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// The Windows pipe name `\\.\pipe\netipc-<fnv1a64(run_dir)>-<service>`.
///
/// # Errors
/// An invalid service name, or a name longer than [`WINDOWS_NAME_MAX`].
pub fn pipe_name(run_dir: &str, service: &str) -> Result<String, NameError> {
    validate_service_name(service)?;
    let name = format!(
        r"\\.\pipe\netipc-{:016x}-{service}",
        fnv1a64(run_dir.as_bytes())
    );
    check_len("pipe name", &name, WINDOWS_NAME_MAX)?;
    Ok(name)
}

/// The kernel object names of one Windows SHM session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsShmNames {
    /// The file mapping.
    pub mapping: String,
    /// The request-direction event (HYBRID profile only).
    pub req_event: Option<String>,
    /// The response-direction event (HYBRID profile only).
    pub resp_event: Option<String>,
}

/// The Windows SHM object names for a session. The hash covers
/// `run_dir`, the service name and the auth token, so peers with different
/// tokens never meet. Profile 2 (HYBRID) has two events; profile 4
/// (BUSYWAIT) uses none.
///
/// # Errors
/// An invalid service name, a profile other than 2 or 4, a hash input over
/// [`WINDOWS_HASH_INPUT_MAX`] bytes, or a name over [`WINDOWS_NAME_MAX`].
pub fn windows_shm_names(
    run_dir: &str,
    service: &str,
    auth_token: u64,
    profile: u32,
    session_id: u64,
) -> Result<WindowsShmNames, NameError> {
    validate_service_name(service)?;
    if profile != 2 && profile != 4 {
        return Err(NameError::InvalidProfile(profile));
    }
    let input = format!("{run_dir}\n{service}\n{auth_token}");
    check_len("SHM name hash input", &input, WINDOWS_HASH_INPUT_MAX)?;
    let mut prefix = String::with_capacity(128);
    // Writing to a String cannot fail.
    let _ = write!(
        prefix,
        r"Local\netipc-{:016x}-{service}-p{profile}-s{session_id:016x}",
        fnv1a64(input.as_bytes())
    );
    let mapping = format!("{prefix}-mapping");
    check_len("SHM mapping name", &mapping, WINDOWS_NAME_MAX)?;
    let (mut req_event, mut resp_event) = (None, None);
    if profile == 2 {
        let req = format!("{prefix}-req_event");
        let resp = format!("{prefix}-resp_event");
        check_len("SHM event name", &req, WINDOWS_NAME_MAX)?;
        check_len("SHM event name", &resp, WINDOWS_NAME_MAX)?;
        (req_event, resp_event) = (Some(req), Some(resp));
    }
    Ok(WindowsShmNames {
        mapping,
        req_event,
        resp_event,
    })
}
