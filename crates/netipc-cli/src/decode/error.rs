//! Why `decode` failed, and the exit code for it.
//!
//! Two classes: the input could not be read (exit 1) or the bytes are not a
//! valid NetIPC message (exit 2). A malformed-input error always names the
//! field that broke a rule and its byte offset counted from the start of
//! the input (for a payload inside a message: from the outer header).

use std::fmt;
use std::io;

use netipc::CodecError;

/// Exit code for I/O errors (missing file, unreadable stdin).
pub const EXIT_IO: u8 = 1;
/// Exit code for malformed input.
pub const EXIT_MALFORMED: u8 = 2;

/// A failed decode.
#[derive(Debug)]
pub enum DecodeError {
    /// The input could not be read.
    Io {
        /// What was being read (`file "x"`, `stdin`).
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The input is not valid hex text (`--hex`).
    Hex(String),
    /// The input is larger than the largest legal message (or payload);
    /// reading stopped there.
    TooLarge {
        /// What was being read.
        what: String,
        /// Its size when known up front (a regular file); `None` for a
        /// stream that went on past the bound.
        size: Option<u64>,
        /// The bound in bytes.
        limit: u64,
        /// The input is hex text (the bound counts decoded bytes; the text
        /// may have four characters per byte).
        hex: bool,
        /// The bound is the one of a bare payload (`--payload`).
        payload: bool,
    },
    /// The bytes break a protocol rule.
    Malformed(Malformed),
}

impl DecodeError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Io { .. } => EXIT_IO,
            Self::Hex(_) | Self::TooLarge { .. } | Self::Malformed(_) => EXIT_MALFORMED,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { what, source } => write!(f, "cannot read {what}: {source}"),
            Self::Hex(msg) => write!(f, "invalid hex input: {msg}"),
            Self::TooLarge {
                what,
                size,
                limit,
                hex,
                payload,
            } => {
                let (unit, chars) = if *hex {
                    ("characters of hex text", limit * 4)
                } else {
                    ("bytes", *limit)
                };
                match size {
                    Some(size) => write!(f, "{what} has {size} {unit}")?,
                    None => write!(f, "{what} has more than {chars} {unit}")?,
                }
                write!(
                    f,
                    ", more than the largest legal NetIPC {} ({limit} bytes{}): reading stopped; pass one captured message",
                    if *payload { "payload" } else { "message" },
                    match (*payload, *hex) {
                        (false, false) =>
                            ": the 32-byte header plus payload_len must fit a u32, and a chunked message reassembles to the same size",
                        (true, false) =>
                            ": the largest message, 4294967295 bytes, without its 32-byte header",
                        (_, true) => ", at most four hex characters per byte with whitespace",
                    }
                )
            }
            Self::Malformed(m) => m.fmt(f),
        }
    }
}

impl From<Malformed> for DecodeError {
    fn from(m: Malformed) -> Self {
        Self::Malformed(m)
    }
}

/// A protocol rule broken by the input.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// The structure being decoded (`outer header`, `batch item 2`, ...).
    pub context: String,
    /// What is wrong (`bad layout (BAD_LAYOUT)`, `trailing bytes`).
    pub problem: String,
    /// The field being checked.
    pub field: String,
    /// Byte offset from the start of the input.
    pub offset: usize,
    /// Further explanation, such as the offset inside the payload.
    pub detail: Option<String>,
}

impl Malformed {
    /// A library decode error of a structure that starts at input byte
    /// `base`. `region` names that structure for the explanation (`payload`,
    /// `batch item 1`); it is not mentioned when `base` is 0.
    pub fn codec(context: impl Into<String>, err: CodecError, base: usize, region: &str) -> Self {
        let detail = (base != 0).then(|| {
            format!(
                "byte {} of the {region}, which starts at byte {base}",
                err.offset()
            )
        });
        Self {
            context: context.into(),
            problem: format!("{} ({})", err.kind(), err.kind().spec_name()),
            field: err.field().to_owned(),
            offset: base.saturating_add(err.offset()),
            detail,
        }
    }

    /// A rule checked by the inspector itself (lengths of the input).
    pub fn rule(
        context: impl Into<String>,
        problem: impl Into<String>,
        field: impl Into<String>,
        offset: usize,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            context: context.into(),
            problem: problem.into(),
            field: field.into(),
            offset,
            detail: Some(detail.into()),
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed {}: {} at byte {} (field `{}`",
            self.context, self.problem, self.offset, self.field
        )?;
        if let Some(detail) = &self.detail {
            write!(f, "; {detail}")?;
        }
        f.write_str(")")
    }
}
