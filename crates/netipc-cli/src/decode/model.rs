//! What `decode` found, independent of how it is printed.
//!
//! The analysis ([`super::message`], [`super::payload`]) fills these types
//! and the renderers ([`super::text`], [`super::json`]) only format them, so
//! the readable and the JSON output always carry the same facts. Payload
//! values borrow the input bytes and reuse the library's view types.

use netipc::codec::{AppsLookupItem, CgroupsLookupItem, SnapshotItem};
use netipc::wire::{ChunkHeader, Header, Hello, HelloAck};

/// The layout a payload is decoded with: a method or a handshake payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadType {
    /// INCREMENT (method 1).
    Increment,
    /// CGROUPS_SNAPSHOT (method 2).
    CgroupsSnapshot,
    /// STRING_REVERSE (method 3).
    StringReverse,
    /// CGROUPS_LOOKUP (method 4).
    CgroupsLookup,
    /// APPS_LOOKUP (method 5).
    AppsLookup,
    /// The client's HELLO (control opcode 1).
    Hello,
    /// The server's HELLO_ACK (control opcode 2).
    HelloAck,
}

impl PayloadType {
    /// Every payload type with its command-line name.
    pub const ALL: [(Self, &'static str); 7] = [
        (Self::Increment, "increment"),
        (Self::StringReverse, "string-reverse"),
        (Self::CgroupsSnapshot, "cgroups-snapshot"),
        (Self::CgroupsLookup, "cgroups-lookup"),
        (Self::AppsLookup, "apps-lookup"),
        (Self::Hello, "hello"),
        (Self::HelloAck, "hello-ack"),
    ];

    /// The specification's name (`CGROUPS_LOOKUP`, `HELLO_ACK`, ...).
    pub const fn spec_name(self) -> &'static str {
        match self {
            Self::Increment => "INCREMENT",
            Self::CgroupsSnapshot => "CGROUPS_SNAPSHOT",
            Self::StringReverse => "STRING_REVERSE",
            Self::CgroupsLookup => "CGROUPS_LOOKUP",
            Self::AppsLookup => "APPS_LOOKUP",
            Self::Hello => "HELLO",
            Self::HelloAck => "HELLO_ACK",
        }
    }

    /// Whether requests and responses have different layouts, so a bare
    /// payload of this type needs a direction to be decoded.
    pub const fn has_directions(self) -> bool {
        matches!(
            self,
            Self::CgroupsSnapshot | Self::CgroupsLookup | Self::AppsLookup
        )
    }
}

/// Which side of a method a payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Request,
    /// Server to client.
    Response,
}

impl Direction {
    /// Lower-case name, as on the command line and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
        }
    }
}

/// A decoded payload value.
#[derive(Debug)]
pub enum Payload<'a> {
    /// INCREMENT, either direction.
    Increment {
        /// The u64 carried.
        value: u64,
    },
    /// STRING_REVERSE, either direction.
    StringReverse {
        /// The string without its NUL.
        text: &'a [u8],
    },
    /// CGROUPS_SNAPSHOT request (no parameters).
    SnapshotRequest,
    /// CGROUPS_SNAPSHOT response.
    Snapshot {
        /// Opaque producer value.
        systemd_enabled: u32,
        /// Producer generation.
        generation: u64,
        /// Every item, validated.
        items: Vec<SnapshotItem<'a>>,
    },
    /// CGROUPS_LOOKUP request.
    CgroupsLookupRequest {
        /// The requested paths, in order.
        paths: Vec<&'a [u8]>,
    },
    /// CGROUPS_LOOKUP response.
    CgroupsLookup {
        /// Provider generation.
        generation: u64,
        /// One item per requested path.
        items: Vec<CgroupsLookupItem<'a>>,
    },
    /// APPS_LOOKUP request.
    AppsLookupRequest {
        /// The requested PIDs, in order.
        pids: Vec<u32>,
    },
    /// APPS_LOOKUP response.
    AppsLookup {
        /// Provider generation.
        generation: u64,
        /// One item per requested PID.
        items: Vec<AppsLookupItem<'a>>,
    },
    /// HELLO.
    Hello(Hello),
    /// HELLO_ACK, plus its unchecked reserved field.
    HelloAck {
        /// The decoded fields.
        ack: HelloAck,
        /// Bytes 36..40, written as 0 and not checked by clients.
        reserved: u32,
    },
}

/// A decoded payload and where it sits in the input.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// Layout used.
    pub ty: PayloadType,
    /// Direction used.
    pub direction: Direction,
    /// Payload length in bytes.
    pub len: usize,
    /// Offset of the first payload byte in the input.
    pub start: usize,
    /// The value.
    pub value: Payload<'a>,
    /// Bytes after the last byte the decoder reads, for the fixed-size
    /// layouts whose decoders ignore them (`None` where not applicable).
    pub ignored_tail: Option<usize>,
}

/// Bytes that are shown but not decoded.
#[derive(Debug)]
pub struct Opaque<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// Offset of the first byte in the input.
    pub start: usize,
    /// Why they are not decoded.
    pub reason: String,
}

/// One item of a batch message.
#[derive(Debug)]
pub struct BatchItem<'a> {
    /// Position in the directory.
    pub index: usize,
    /// Directory offset (relative to the packed item area).
    pub offset: u32,
    /// Directory length.
    pub length: u32,
    /// The item decoded by the header's method code, or shown raw.
    pub content: Body<'a>,
}

/// The payload of a message, as far as it is understood.
#[derive(Debug)]
pub enum Body<'a> {
    /// Decoded by a known layout.
    Decoded(Decoded<'a>),
    /// Not decoded; shown raw.
    Opaque(Opaque<'a>),
}

/// What follows the outer header.
#[derive(Debug)]
pub enum Content<'a> {
    /// `--header-only`: the payload was not looked at.
    HeaderOnly,
    /// A non-OK response: the payload carries no method data.
    NotDecoded(Opaque<'a>),
    /// A single (non-batch) payload.
    Single(Body<'a>),
    /// A batch: directory plus items.
    Batch {
        /// Offset of the packed item area in the input.
        packed_start: usize,
        /// The items, in directory order.
        items: Vec<BatchItem<'a>>,
    },
}

/// What the input turned out to be.
#[derive(Debug)]
pub enum Subject<'a> {
    /// One NetIPC message: outer header plus payload.
    Message {
        /// The outer header.
        header: Header,
        /// Its payload.
        content: Content<'a>,
    },
    /// A chunk continuation packet (or just its header).
    Chunk {
        /// The chunk header.
        header: ChunkHeader,
        /// The continuation bytes after the header (possibly none).
        data: &'a [u8],
    },
    /// A bare method or handshake payload (`--payload`).
    Payload(Decoded<'a>),
}

/// The complete result of `decode`.
#[derive(Debug)]
pub struct Report<'a> {
    /// Input size in bytes (after hex decoding).
    pub input_len: usize,
    /// What was decoded.
    pub subject: Subject<'a>,
    /// Observations that are legal but unusual (reserved bits, ignored
    /// trailing bytes, unknown codes, ...).
    pub notes: Vec<String>,
}
