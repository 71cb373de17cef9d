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
    pub const fn new(kind: CodecErrorKind, field: &'static str, offset: usize) -> Self {
        Self {
            kind,
            field,
            offset,
        }
    }

    /// The rule that was violated.
    pub const fn kind(&self) -> CodecErrorKind {
        self.kind
    }

    /// A short description of the field that was being checked, such as
    /// `"cgroups item name_offset"`.
    pub const fn field(&self) -> &'static str {
        self.field
    }

    /// The byte offset of the offending field inside the decoded buffer.
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
