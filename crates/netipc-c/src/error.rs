//! `nipc_error_t`: the codes every C function returns, their text, and the
//! mapping from the Rust core's errors.
//!
//! Codes 0-15 are the reference implementation's (spec/codec.md 1.6), with
//! the same values; the codes from 16 on are netipc's and name causes the
//! reference folds into others. The message with the whole cause is kept
//! per object (see [`LastError`]).

#![allow(non_camel_case_types)]

use std::ffi::{CStr, CString, c_char, c_int};
use std::sync::Mutex;

use netipc::transport::HandshakeError;
use netipc::{CodecErrorKind, Error};

/// An error code (the C enum `nipc_error_t`). A newtype rather than a Rust
/// enum: C may pass any `int` back (`nipc_error_str`).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct nipc_error_t(pub c_int);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $text:literal;)*) => {
        impl nipc_error_t {
            $($(#[$doc])* pub const $name: Self = Self($value);)*

            /// The constant's name and a one-line meaning.
            #[must_use]
            pub fn text(self) -> &'static CStr {
                match self.0 {
                    $($value => $text,)*
                    _ => c"NIPC_ERR_UNKNOWN: not a netipc error code",
                }
            }
        }
    };
}

codes! {
    /// Success.
    NIPC_OK = 0, c"NIPC_OK: success";
    /// A buffer is shorter than a structure that must be there.
    NIPC_ERR_TRUNCATED = 1, c"NIPC_ERR_TRUNCATED: a message or item is shorter than its structure";
    /// A magic number is wrong.
    NIPC_ERR_BAD_MAGIC = 2, c"NIPC_ERR_BAD_MAGIC: a header has the wrong magic number";
    /// A header version is not supported.
    NIPC_ERR_BAD_VERSION = 3, c"NIPC_ERR_BAD_VERSION: a header has an unsupported version";
    /// The header length is wrong.
    NIPC_ERR_BAD_HEADER_LEN = 4, c"NIPC_ERR_BAD_HEADER_LEN: the header length is not 32";
    /// The message kind is wrong.
    NIPC_ERR_BAD_KIND = 5, c"NIPC_ERR_BAD_KIND: the message kind is not the expected one";
    /// A layout rule is broken (also: a response that does not match its request).
    NIPC_ERR_BAD_LAYOUT = 6, c"NIPC_ERR_BAD_LAYOUT: a layout rule is broken or a response does not match its request";
    /// An offset points past the data.
    NIPC_ERR_OUT_OF_BOUNDS = 7, c"NIPC_ERR_OUT_OF_BOUNDS: an offset or index is past the end";
    /// A string is not NUL-terminated.
    NIPC_ERR_MISSING_NUL = 8, c"NIPC_ERR_MISSING_NUL: a string is not NUL-terminated";
    /// A directory offset is not 8-aligned.
    NIPC_ERR_BAD_ALIGNMENT = 9, c"NIPC_ERR_BAD_ALIGNMENT: a directory offset is not a multiple of 8";
    /// An item count is wrong.
    NIPC_ERR_BAD_ITEM_COUNT = 10, c"NIPC_ERR_BAD_ITEM_COUNT: an item count overflows or does not match";
    /// Out of space: a builder, a limit of the config, a size the provider cannot grow to.
    NIPC_ERR_OVERFLOW = 11, c"NIPC_ERR_OVERFLOW: does not fit (a buffer, a configured limit or the provider's size)";
    /// A handler returned failure.
    NIPC_ERR_HANDLER_FAILED = 12, c"NIPC_ERR_HANDLER_FAILED: the handler returned failure";
    /// The client is not connected.
    NIPC_ERR_NOT_READY = 13, c"NIPC_ERR_NOT_READY: not connected to the provider (see the last error for why)";
    /// A deadline passed.
    NIPC_ERR_TIMEOUT = 14, c"NIPC_ERR_TIMEOUT: the time limit passed";
    /// The call was aborted.
    NIPC_ERR_ABORTED = 15, c"NIPC_ERR_ABORTED: aborted by nipc_client_abort";
    /// A NULL pointer, text that is not UTF-8, a count that does not fit.
    NIPC_ERR_INVALID_ARGUMENT = 16, c"NIPC_ERR_INVALID_ARGUMENT: a NULL pointer, a string that is not UTF-8 or a count that does not fit";
    /// The object is zeroed, was never initialized, or is closed.
    NIPC_ERR_NOT_INITIALIZED = 17, c"NIPC_ERR_NOT_INITIALIZED: the object was not initialized or is closed";
    /// The provider closed the connection.
    NIPC_ERR_DISCONNECTED = 18, c"NIPC_ERR_DISCONNECTED: the peer closed the connection";
    /// The provider answered with an error status.
    NIPC_ERR_REJECTED = 19, c"NIPC_ERR_REJECTED: the provider answered with an error status";
    /// An operating system call failed.
    NIPC_ERR_IO = 20, c"NIPC_ERR_IO: an operating system call failed";
    /// A bug inside netipc was caught (nothing unwound into C).
    NIPC_ERR_INTERNAL = 21, c"NIPC_ERR_INTERNAL: an internal error of netipc was caught";
    /// The object is in use (a server already running).
    NIPC_ERR_BUSY = 22, c"NIPC_ERR_BUSY: the object is in use";
    /// The OS refused access (the endpoint's owner and mode are in the message).
    NIPC_ERR_PERMISSION = 23, c"NIPC_ERR_PERMISSION: access denied";
    /// No provider, or no run directory.
    NIPC_ERR_NOT_FOUND = 24, c"NIPC_ERR_NOT_FOUND: no provider at that endpoint, or no run directory";
    /// Wrong auth token, or an identity the other side refuses.
    NIPC_ERR_AUTH_FAILED = 25, c"NIPC_ERR_AUTH_FAILED: wrong auth token or refused identity";
    /// No common profile, or limits the other side cannot take.
    NIPC_ERR_INCOMPATIBLE = 26, c"NIPC_ERR_INCOMPATIBLE: no common transport profile or incompatible limits";
    /// Another live provider serves the endpoint.
    NIPC_ERR_ADDR_IN_USE = 27, c"NIPC_ERR_ADDR_IN_USE: another provider serves this endpoint";
}

impl nipc_error_t {
    /// The code for an error of the Rust core.
    #[must_use]
    pub fn from_error(e: &Error) -> Self {
        match e {
            Error::Codec(c) => Self::from_codec(c.kind()),
            Error::PermissionDenied { .. } => Self::NIPC_ERR_PERMISSION,
            Error::NotFound { .. } => Self::NIPC_ERR_NOT_FOUND,
            Error::RunDir(netipc::transport::run_dir::RunDirError::Missing { .. }) => {
                Self::NIPC_ERR_NOT_FOUND
            }
            Error::AddressInUse { .. } => Self::NIPC_ERR_ADDR_IN_USE,
            Error::Handshake(HandshakeError::AuthFailed | HandshakeError::IdentityRefused) => {
                Self::NIPC_ERR_AUTH_FAILED
            }
            Error::Handshake(
                HandshakeError::NoCommonProfile
                | HandshakeError::Incompatible(_)
                | HandshakeError::LimitExceeded,
            ) => Self::NIPC_ERR_INCOMPATIBLE,
            Error::UntrustedProvider(_) => Self::NIPC_ERR_AUTH_FAILED,
            Error::NotReady { .. } => Self::NIPC_ERR_NOT_READY,
            Error::Aborted | Error::Interrupted => Self::NIPC_ERR_ABORTED,
            Error::Timeout { .. } => Self::NIPC_ERR_TIMEOUT,
            Error::Rejected(_) => Self::NIPC_ERR_REJECTED,
            Error::BadResponse(_) | Error::WrongKind { .. } | Error::DuplicateMessageId(_) => {
                Self::NIPC_ERR_BAD_LAYOUT
            }
            Error::CapacityExhausted
            | Error::ResponseTooLarge { .. }
            | Error::LookupLimit(_)
            | Error::LimitExceeded(_) => Self::NIPC_ERR_OVERFLOW,
            Error::ZeroTimeout { .. } | Error::Name(_) => Self::NIPC_ERR_INVALID_ARGUMENT,
            Error::Disconnected | Error::ShmRegionLost { .. } => Self::NIPC_ERR_DISCONNECTED,
            Error::Busy => Self::NIPC_ERR_BUSY,
            Error::Protocol(_) => Self::NIPC_ERR_BAD_LAYOUT,
            _ => Self::NIPC_ERR_IO,
        }
    }

    /// The code for a codec error.
    #[must_use]
    pub fn from_codec(kind: CodecErrorKind) -> Self {
        match kind {
            CodecErrorKind::Truncated => Self::NIPC_ERR_TRUNCATED,
            CodecErrorKind::BadMagic => Self::NIPC_ERR_BAD_MAGIC,
            CodecErrorKind::BadVersion => Self::NIPC_ERR_BAD_VERSION,
            CodecErrorKind::BadHeaderLen => Self::NIPC_ERR_BAD_HEADER_LEN,
            CodecErrorKind::BadKind => Self::NIPC_ERR_BAD_KIND,
            CodecErrorKind::BadLayout => Self::NIPC_ERR_BAD_LAYOUT,
            CodecErrorKind::OutOfBounds => Self::NIPC_ERR_OUT_OF_BOUNDS,
            CodecErrorKind::MissingNul => Self::NIPC_ERR_MISSING_NUL,
            CodecErrorKind::BadAlignment => Self::NIPC_ERR_BAD_ALIGNMENT,
            CodecErrorKind::BadItemCount => Self::NIPC_ERR_BAD_ITEM_COUNT,
            CodecErrorKind::Overflow => Self::NIPC_ERR_OVERFLOW,
            _ => Self::NIPC_ERR_BAD_LAYOUT,
        }
    }
}

/// The message of an object's most recent failure, as a C string that stays
/// valid until the next failure is recorded on the same object (or the
/// object is closed).
#[derive(Debug, Default)]
pub struct LastError {
    text: Mutex<Option<CString>>,
}

impl LastError {
    /// Records `e` and returns its code.
    pub fn record(&self, e: &Error) -> nipc_error_t {
        self.set(&e.to_string());
        nipc_error_t::from_error(e)
    }

    /// Records `message`.
    pub fn set(&self, message: &str) {
        let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
        *self
            .text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(text);
    }

    /// Forgets the last failure.
    pub fn clear(&self) {
        *self
            .text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The message, or "" when nothing failed yet. The pointer stays valid
    /// until the next `record`/`set`/`clear` on the same object.
    pub fn as_ptr(&self) -> *const c_char {
        let text = self
            .text
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        text.as_ref().map_or(c"".as_ptr(), |t| t.as_ptr())
    }
}

/// `const char *nipc_error_str(nipc_error_t err)`: the code's name and
/// meaning, a static string (never NULL; unknown codes get a text too).
#[unsafe(no_mangle)]
pub extern "C" fn nipc_error_str(err: nipc_error_t) -> *const c_char {
    err.text().as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_text() {
        let texts: Vec<_> = (0..=27).map(|c| nipc_error_t(c).text()).collect();
        for (i, t) in texts.iter().enumerate() {
            assert!(!t.to_bytes().starts_with(b"NIPC_ERR_UNKNOWN"), "{i}");
            assert_eq!(texts.iter().filter(|u| *u == t).count(), 1, "{i}");
        }
        assert!(
            nipc_error_t(99)
                .text()
                .to_bytes()
                .starts_with(b"NIPC_ERR_UNKNOWN")
        );
    }

    #[test]
    fn causes_map_to_their_codes() {
        assert_eq!(
            nipc_error_t::from_error(&Error::Timeout { limit: None }),
            nipc_error_t::NIPC_ERR_TIMEOUT
        );
        assert_eq!(
            nipc_error_t::from_error(&Error::Disconnected),
            nipc_error_t::NIPC_ERR_DISCONNECTED
        );
        assert_eq!(
            nipc_error_t::from_error(&Error::CapacityExhausted),
            nipc_error_t::NIPC_ERR_OVERFLOW
        );
    }
}
