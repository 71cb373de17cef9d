//! The shared wire vocabulary: outer header, batch directory, chunk
//! continuation header and the handshake payloads.
//!
//! Everything here is pure byte work with no I/O. Integers are native-endian
//! (NetIPC peers always share one host). Decoders never allocate and never
//! panic; they return a [`CodecError`](crate::CodecError) naming the field
//! and byte offset of the first violated rule.

mod batch;
mod chunk;
mod header;
mod hello;
mod profile;

pub use batch::{BatchBuilder, BatchView, batch_payload_len};
pub use chunk::{CHUNK_MAGIC, CHUNK_VERSION, ChunkHeader};
pub use header::{HEADER_LEN, Header, MAGIC, MessageKind, VERSION};
pub use hello::{
    HELLO_ACK_LEN, HELLO_FLAG_EXTENSIONS, HELLO_LAYOUT_VERSION, HELLO_LEN, Hello, HelloAck,
    extension,
};
pub use profile::{ParseProfilesError, Profiles};

/// Header flag: the payload is a batch (item directory plus packed items).
pub const FLAG_BATCH: u16 = 0x0001;

/// Alignment of batch items and of every directory offset.
pub const ALIGNMENT: usize = 8;

/// Size of one batch or lookup directory entry (`offset u32, length u32`).
pub const DIR_ENTRY_LEN: usize = 8;

/// Default request and response payload ceiling for a configuration value
/// of zero.
pub const MAX_PAYLOAD_DEFAULT: u32 = 1024;

/// Ceiling of the automatic payload-size growth when nothing larger was
/// configured (a policy value, not a wire limit).
pub const MAX_PAYLOAD_CAP: u32 = 1 << 20;

/// Method codes carried in the outer header's `code` field of REQUEST and
/// RESPONSE messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Method {
    /// Test and benchmark service: u64 in, u64 out.
    Increment = 1,
    /// Full cgroups snapshot.
    CgroupsSnapshot = 2,
    /// Test service: string in, string out.
    StringReverse = 3,
    /// Ordered cgroup-path metadata lookup.
    CgroupsLookup = 4,
    /// Ordered PID metadata lookup.
    AppsLookup = 5,
}

impl Method {
    /// Every method, in code order.
    pub const ALL: [Method; 5] = [
        Method::Increment,
        Method::CgroupsSnapshot,
        Method::StringReverse,
        Method::CgroupsLookup,
        Method::AppsLookup,
    ];

    /// The wire code.
    #[must_use]
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The method for a wire code, if it is one.
    #[must_use]
    pub const fn from_code(code: u16) -> Option<Self> {
        Some(match code {
            1 => Self::Increment,
            2 => Self::CgroupsSnapshot,
            3 => Self::StringReverse,
            4 => Self::CgroupsLookup,
            5 => Self::AppsLookup,
            _ => return None,
        })
    }

    /// The specification's upper-case name (`CGROUPS_LOOKUP`, ...).
    #[must_use]
    pub const fn spec_name(self) -> &'static str {
        match self {
            Self::Increment => "INCREMENT",
            Self::CgroupsSnapshot => "CGROUPS_SNAPSHOT",
            Self::StringReverse => "STRING_REVERSE",
            Self::CgroupsLookup => "CGROUPS_LOOKUP",
            Self::AppsLookup => "APPS_LOOKUP",
        }
    }
}

/// Control opcodes (`code` when `kind` is CONTROL).
pub mod control {
    /// Client HELLO.
    pub const HELLO: u16 = 1;
    /// Server HELLO_ACK.
    pub const HELLO_ACK: u16 = 2;
}

/// Envelope-level status of a message (`transport_status`). Any u16 may
/// appear on the wire; the named values are the defined ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransportStatus(pub u16);

impl TransportStatus {
    /// Success.
    pub const OK: Self = Self(0);
    /// The server could not decode the request payload.
    pub const BAD_ENVELOPE: Self = Self(1);
    /// Handshake: the auth token did not match.
    pub const AUTH_FAILED: Self = Self(2);
    /// Handshake: incompatible version, layout or packet size.
    pub const INCOMPATIBLE: Self = Self(3);
    /// Handshake: no common profile. Data plane: wrong method code.
    pub const UNSUPPORTED: Self = Self(4);
    /// A negotiated or configured size limit was exceeded.
    pub const LIMIT_EXCEEDED: Self = Self(5);
    /// The server's handler failed.
    pub const INTERNAL_ERROR: Self = Self(6);

    /// The specification's name of a defined status, `None` for others.
    #[must_use]
    pub const fn spec_name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "OK",
            1 => "BAD_ENVELOPE",
            2 => "AUTH_FAILED",
            3 => "INCOMPATIBLE",
            4 => "UNSUPPORTED",
            5 => "LIMIT_EXCEEDED",
            6 => "INTERNAL_ERROR",
            _ => return None,
        })
    }
}

impl std::fmt::Display for TransportStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.spec_name() {
            Some(name) => f.write_str(name),
            None => write!(f, "status {}", self.0),
        }
    }
}
