//! The error types of the library.
//!
//! [`Error`] is what every fallible public operation returns. Its variants
//! group failures by what the caller should do about them; the payload of
//! each variant carries the details (field names, byte offsets, limits).
//!
//! [`CodecError`] is the small, `Copy` error of the pure byte layers
//! ([`wire`](crate::wire) and [`codec`](crate::codec)). It names the
//! structural rule that failed ([`CodecErrorKind`], the spec's error
//! vocabulary), the field it was checking and the byte offset of that field
//! inside the buffer handed to the decoder.

use std::fmt;

/// The structural rule a decoder or builder found violated.
///
/// These are the error classes of the NetIPC codec specification. On the
/// wire every request-decode failure becomes the same transport status
/// (`BAD_ENVELOPE`); the kind is for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecErrorKind {
    /// The buffer is shorter than a structure that must be there.
    Truncated,
    /// A magic number is wrong (outer header, chunk header).
    BadMagic,
    /// A header version is not the supported one.
    BadVersion,
    /// The outer header's `header_len` is not 32.
    BadHeaderLen,
    /// The outer header's `kind` is not REQUEST, RESPONSE or CONTROL.
    BadKind,
    /// A layout version, flags or reserved field, enum value or semantic
    /// rule is violated.
    BadLayout,
    /// An offset plus length points past the available bytes.
    OutOfBounds,
    /// A string terminator byte is not NUL.
    MissingNul,
    /// A directory offset is not a multiple of 8.
    BadAlignment,
    /// An item count overflows or does not match.
    BadItemCount,
    /// A builder or encoder ran out of space (or a size does not fit u32).
    Overflow,
}

impl CodecErrorKind {
    /// The upper-case name used by the specification and the golden vectors
    /// (`TRUNCATED`, `BAD_LAYOUT`, ...).
    #[must_use]
    pub const fn spec_name(self) -> &'static str {
        match self {
            Self::Truncated => "TRUNCATED",
            Self::BadMagic => "BAD_MAGIC",
            Self::BadVersion => "BAD_VERSION",
            Self::BadHeaderLen => "BAD_HEADER_LEN",
            Self::BadKind => "BAD_KIND",
            Self::BadLayout => "BAD_LAYOUT",
            Self::OutOfBounds => "OUT_OF_BOUNDS",
            Self::MissingNul => "MISSING_NUL",
            Self::BadAlignment => "BAD_ALIGNMENT",
            Self::BadItemCount => "BAD_ITEM_COUNT",
            Self::Overflow => "OVERFLOW",
        }
    }

    const fn describe(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::BadMagic => "bad magic",
            Self::BadVersion => "unsupported version",
            Self::BadHeaderLen => "bad header length",
            Self::BadKind => "bad message kind",
            Self::BadLayout => "bad layout",
            Self::OutOfBounds => "out of bounds",
            Self::MissingNul => "missing NUL terminator",
            Self::BadAlignment => "misaligned offset",
            Self::BadItemCount => "bad item count",
            Self::Overflow => "does not fit",
        }
    }
}

impl fmt::Display for CodecErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A decode or encode failure of the byte layers: which rule, which field,
/// at which byte offset.
///
/// The offset is relative to the start of the buffer given to the decoder
/// (for a payload decoder: the first payload byte). For builders it is the
/// position at which the write would have happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodecError {
    kind: CodecErrorKind,
    field: &'static str,
    offset: usize,
}

impl CodecError {
    /// Creates an error of `kind` found while checking `field` at byte
    /// `offset`.
    #[must_use]
    pub const fn new(kind: CodecErrorKind, field: &'static str, offset: usize) -> Self {
        Self {
            kind,
            field,
            offset,
        }
    }

    /// The rule that was violated.
    #[must_use]
    pub const fn kind(&self) -> CodecErrorKind {
        self.kind
    }

    /// A short description of the field that was being checked, such as
    /// `"cgroups item name_offset"`.
    #[must_use]
    pub const fn field(&self) -> &'static str {
        self.field
    }

    /// The byte offset of the offending field inside the decoded buffer.
    #[must_use]
    pub const fn offset(&self) -> usize {
        self.offset
    }

    /// The same error with its offset moved by `base` bytes, for errors of a
    /// nested structure that starts at `base` in the enclosing buffer.
    pub(crate) const fn shifted(self, base: usize) -> Self {
        Self {
            offset: self.offset.saturating_add(base),
            ..self
        }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} at byte {}", self.kind, self.field, self.offset)
    }
}

impl std::error::Error for CodecError {}

/// Shorthand constructors used throughout the byte layers.
pub(crate) mod codec_err {
    use super::{CodecError, CodecErrorKind as K};

    pub(crate) const fn truncated(field: &'static str, offset: usize) -> CodecError {
        CodecError::new(K::Truncated, field, offset)
    }
    pub(crate) const fn layout(field: &'static str, offset: usize) -> CodecError {
        CodecError::new(K::BadLayout, field, offset)
    }
    pub(crate) const fn bounds(field: &'static str, offset: usize) -> CodecError {
        CodecError::new(K::OutOfBounds, field, offset)
    }
    pub(crate) const fn nul(field: &'static str, offset: usize) -> CodecError {
        CodecError::new(K::MissingNul, field, offset)
    }
    pub(crate) const fn align(field: &'static str, offset: usize) -> CodecError {
        CodecError::new(K::BadAlignment, field, offset)
    }
    pub(crate) const fn count(field: &'static str, offset: usize) -> CodecError {
        CodecError::new(K::BadItemCount, field, offset)
    }
    pub(crate) const fn overflow(field: &'static str, offset: usize) -> CodecError {
        CodecError::new(K::Overflow, field, offset)
    }
}

/// Every error a transport operation can return.
///
/// Each variant says what happened and, in its message, what to do about
/// it. Match on the variant to react programmatically (for example
/// [`Error::NotFound`] means "the provider is not running: retry later").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// This process may not open the provider's endpoint: the provider
    /// grants access to its own user only, or to a group this process is
    /// not in.
    #[error(
        "this process may not open {endpoint}{}: the provider decides who may (ServerConfig::endpoint_access, `netipc serve --endpoint-access group:NAME`); run as the provider's user or as a member of the group it grants",
        owner_suffix(*owner, *group, *mode)
    )]
    PermissionDenied {
        /// The endpoint (socket path or pipe name).
        endpoint: String,
        /// The endpoint's owner, when the OS reports one (POSIX: its uid).
        owner: Option<u32>,
        /// The endpoint's group, when the OS reports one (POSIX: its gid).
        group: Option<u32>,
        /// The endpoint's permission bits, when the OS has them (POSIX).
        mode: Option<u32>,
    },
    /// Nothing listens at the endpoint.
    #[error(
        "no provider at {endpoint}: start the provider, or check the run directory and service name"
    )]
    NotFound {
        /// The endpoint that was tried (socket path or pipe name).
        endpoint: String,
    },
    /// Another live server already owns the endpoint.
    #[error(
        "{endpoint} is already served by {}: stop that provider or use another service name",
        served_by(*pid)
    )]
    AddressInUse {
        /// The endpoint that is taken.
        endpoint: String,
        /// The process id of the provider that serves it, when known (from
        /// its lock file or the endpoint's peer credentials).
        pid: Option<u32>,
    },
    /// The run directory cannot be used (see [`RunDirError`](crate::transport::run_dir::RunDirError)).
    #[error(transparent)]
    RunDir(#[from] crate::transport::run_dir::RunDirError),
    /// Something netipc did not create sits where it must place an
    /// endpoint file (a symbolic link, another kind of file, or a file of
    /// another user). It was neither followed nor used nor removed.
    #[error(
        "{path} is a {kind} owned by uid {owner} (mode {mode:04o}), where netipc must place its own file: it is not followed, used or removed; remove it if nothing needs it, or use another run directory"
    )]
    ForeignEntry {
        /// The path of the entry.
        path: String,
        /// What it is ("symbolic link", "regular file", ...).
        kind: &'static str,
        /// Its owner's uid.
        owner: u32,
        /// Its permission bits.
        mode: u32,
    },
    /// An endpoint or object name could not be derived.
    #[error(transparent)]
    Name(#[from] crate::transport::names::NameError),
    /// The client refused the provider for the identity the OS reports for
    /// it (its `provider_identity`); the HELLO, and with it the auth
    /// token, was not sent.
    #[error("{0}")]
    UntrustedProvider(Box<crate::transport::UntrustedProvider>),
    /// The handshake did not produce a session.
    #[error("handshake failed: {0}")]
    Handshake(#[from] crate::transport::handshake::HandshakeError),
    /// The peer broke the protocol; the session is unusable.
    #[error("protocol violation by the peer: {0}")]
    Protocol(#[from] crate::transport::framing::ProtocolError),
    /// A message to send exceeds the negotiated limits; nothing was sent.
    #[error("message not sent: {0}; reconnect with larger limits")]
    LimitExceeded(#[from] crate::transport::framing::LimitExceeded),
    /// A request id is already in flight on this session; nothing was sent.
    #[error("message id {0} is already in flight on this session")]
    DuplicateMessageId(u64),
    /// A message must have this kind to be sent from this side.
    #[error("a {side} cannot send {kind} messages")]
    WrongKind {
        /// `"client"` or `"server"`.
        side: &'static str,
        /// The refused kind.
        kind: &'static str,
    },
    /// The handshake selected shared memory but the client could not attach
    /// the region; the session was closed. Connect again without the
    /// shared-memory profiles.
    #[error("shared memory unavailable ({0}): reconnect without the shared-memory profiles")]
    ShmAttach(#[from] crate::transport::ShmAttachError),
    /// Another process truncated, shrank or replaced the session's
    /// shared-memory region file while it was mapped. The access that
    /// found it out read zeros instead of crashing the process; the
    /// session is over (drop it and connect again: a new session gets a
    /// new region). Linux only; Windows mappings cannot be shrunk.
    #[error(
        "the shared memory region {region} was truncated or replaced by another process; the session ends: connect again for a new region, and look for the process that modifies files in the run directory"
    )]
    ShmRegionLost {
        /// Path of the region file.
        region: String,
    },
    /// A shared-memory session carries one request at a time.
    #[error("a request is already in flight on this shared-memory session")]
    Busy,
    /// A typed call was made while the client is not connected; no I/O was
    /// done. `cause` is why the last connection attempt failed, when one
    /// did (the same error [`last_error`](crate::service::Client::last_error)
    /// returns).
    #[error("the client is not connected ({state}){}", cause_suffix(cause.as_deref()))]
    NotReady {
        /// The client's state when the call was refused.
        state: crate::service::ClientState,
        /// Why the last connection attempt failed, if it did.
        cause: Option<std::sync::Arc<Error>>,
    },
    /// The call was aborted through the client's abort handle (sticky until
    /// cleared).
    #[error("aborted: clear the abort handle to make calls again")]
    Aborted,
    /// The provider received the request and answered it with an error
    /// status instead of a result: `INTERNAL_ERROR` (its handler returned
    /// an error or panicked), `BAD_ENVELOPE` (the request did not decode,
    /// or the handler's answer was invalid), `UNSUPPORTED` (the provider
    /// serves another method) or a status this library does not define.
    /// The request was not sent again (the provider would fail it again,
    /// and run its handler twice); the session stays usable. The
    /// provider's log has the cause (a netipc provider logs it as a
    /// `tracing` event, see [handler failures](crate::service#handler-failures)).
    #[error("{}", rejected_message(*.0))]
    Rejected(crate::wire::TransportStatus),
    /// A response does not answer the request it should (method, message
    /// id, item count, echoed keys, generation).
    #[error("unexpected response: {0}")]
    BadResponse(&'static str),
    /// A message still does not fit after the client grew its sizes as far
    /// as it may.
    #[error(
        "the message does not fit the largest sizes the server will agree to; configure larger payload limits on both sides"
    )]
    CapacityExhausted,
    /// The provider sent a response larger than this client accepts (its
    /// own configured maximum, whatever the provider announced in the
    /// handshake). Nothing was set aside for it and the session was closed;
    /// raise the named setting if such responses are expected.
    #[error(
        "the provider sent a {len}-byte response; this client accepts at most {limit} bytes ({setting})"
    )]
    ResponseTooLarge {
        /// The payload length the provider declared (or published).
        len: u32,
        /// The client's maximum.
        limit: u32,
        /// The setting that holds the maximum, such as
        /// `ClientConfig::max_response_payload_bytes`.
        setting: &'static str,
    },
    /// A logical lookup exceeds one of the client's lookup limits (the
    /// named config field); nothing more was sent.
    #[error("the lookup exceeds the client's {0}: raise it in the client config")]
    LookupLimit(&'static str),
    /// The deadline passed before the operation completed. Typed calls,
    /// connections and waits for readiness report the time limit that
    /// passed; a transport wait given only a deadline reports `None`.
    #[error("timed out{}: the peer did not answer in time (it may be overloaded or stuck); raise the timeout or try again", limit_suffix(*limit))]
    Timeout {
        /// The time limit that passed, when the operation had one.
        limit: Option<std::time::Duration>,
    },
    /// A per-call timeout of zero (`Some(Duration::ZERO)`) was passed;
    /// the call was refused before anything was sent. `None` is how a
    /// call asks for the client's default timeout.
    #[error(
        "{call} was given a timeout of zero: pass None for the client's call timeout, or a positive duration"
    )]
    ZeroTimeout {
        /// The call that was refused, such as `"CgroupsSnapshotClient::call_with_timeout"`.
        call: &'static str,
    },
    /// The wait was interrupted (aborted) from another thread.
    #[error("interrupted by request")]
    Interrupted,
    /// The peer closed the connection.
    #[error("the peer closed the connection")]
    Disconnected,
    /// Bytes that cannot be encoded or decoded.
    #[error("{0}")]
    Codec(#[from] CodecError),
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// " (owned by uid U, group G, mode M)" or nothing.
fn owner_suffix(owner: Option<u32>, group: Option<u32>, mode: Option<u32>) -> String {
    let parts: Vec<String> = [
        owner.map(|o| format!("owned by uid {o}")),
        group.map(|g| format!("group {g}")),
        mode.map(|m| format!("mode {m:04o}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// ": <cause>" or nothing.
fn cause_suffix(cause: Option<&Error>) -> String {
    cause.map_or_else(String::new, |c| format!(": {c}"))
}

/// " after <limit>" or nothing.
fn limit_suffix(limit: Option<std::time::Duration>) -> String {
    limit.map_or_else(String::new, |l| format!(" after {l:?}"))
}

/// "pid N" or, when the pid is not known, "a live process".
fn served_by(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "a live process".to_owned(),
    }
}

impl Error {
    /// Wraps an OS error with what was being done.
    pub(crate) fn io(context: &'static str, source: std::io::Error) -> Self {
        Self::Io { context, source }
    }

    /// Whether the session this error came from can no longer be used.
    /// `false` only for errors raised before anything was sent or received
    /// (limits, duplicate ids, wrong kind) and for a timed-out or
    /// interrupted wait that consumed no bytes of a message.
    #[must_use]
    pub fn breaks_session(&self) -> bool {
        !matches!(
            self,
            Self::LimitExceeded(_)
                | Self::DuplicateMessageId(_)
                | Self::WrongKind { .. }
                | Self::Busy
                | Self::NotReady { .. }
                | Self::ZeroTimeout { .. }
        )
    }
}

/// Shorthand for results of transport operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The text of [`Error::Rejected`]: what the status means and where to
/// look.
fn rejected_message(status: crate::wire::TransportStatus) -> String {
    use crate::wire::TransportStatus as S;
    let what = match status {
        S::INTERNAL_ERROR => "its handler returned an error or panicked",
        S::BAD_ENVELOPE => {
            "it could not decode the request, or its handler built an invalid answer"
        }
        S::UNSUPPORTED => {
            "it serves another method: check that the service name belongs to a provider of this kind"
        }
        _ => "a status this client does not know",
    };
    format!(
        "the provider failed to answer the request ({status}: {what}); \
         the request was not sent again: see the provider's log for the cause"
    )
}
