//! Reading the bytes to decode: a file, a device or stdin, raw or as hex
//! text, never more than the largest legal message.
//!
//! # The bound
//!
//! A NetIPC message is its 32-byte outer header plus `payload_len` bytes,
//! and the whole must fit a u32 (wire-envelope §2): no peer can produce a
//! message larger than [`MAX_MESSAGE_LEN`] bytes. A chunked message is
//! reassembled to that same length, and each of its packets (a chunk
//! continuation header plus its slice) is smaller. A bare payload
//! (`--payload`) is a message without its header: at most
//! [`MAX_PAYLOAD_LEN`] bytes. Input beyond the bound is refused with an
//! error that names it, after reading at most one byte more; for a regular
//! file the size is checked before anything is read.
//!
//! # What is kept
//!
//! The input is read in blocks and only the bytes the decode needs are
//! kept: once the first 32 bytes are in, the outer header (or chunk header)
//! declares how long the message is, and bytes after that are only counted
//! (the decode reports them as trailing bytes). Input whose first 32 bytes
//! are no header is kept only that far, since the decode fails there. A
//! bare payload of a fixed size (INCREMENT, the snapshot request, HELLO,
//! HELLO_ACK) or with a declared length (STRING_REVERSE) is kept that far
//! too. So memory follows the length the input declares, not how much
//! arrives: an endless device costs a block of memory and the time to count
//! to the bound. The payloads with an item directory (snapshot responses,
//! lookups) declare no total length and are kept whole, up to the bound.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use netipc::codec::{INCREMENT_PAYLOAD_LEN, SNAPSHOT_REQUEST_LEN, string_reverse_len};
use netipc::wire::{CHUNK_MAGIC, ChunkHeader, HEADER_LEN, HELLO_ACK_LEN, HELLO_LEN, Header};

use super::error::DecodeError;
use super::model::{Direction, PayloadType};

/// The largest legal NetIPC message in bytes: the 32-byte header plus
/// `payload_len` must fit a u32 (a chunked message reassembles to at most
/// this, too).
pub const MAX_MESSAGE_LEN: u64 = u32::MAX as u64;
/// The largest legal payload in bytes: the largest message without its
/// 32-byte header.
pub const MAX_PAYLOAD_LEN: u64 = MAX_MESSAGE_LEN - HEADER_LEN as u64;
/// Hex text may hold two digits per byte and as much whitespace again.
const HEX_CHARS_PER_BYTE: u64 = 4;
/// Bytes read per system call.
const BLOCK: usize = 64 * 1024;

/// What the input is expected to be, which decides its bound and which
/// bytes the decode needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One message or one chunk continuation packet (a header first).
    Message {
        /// `--header-only`: only the 32-byte header is decoded.
        header_only: bool,
    },
    /// A bare method or handshake payload (`--payload`).
    Payload(PayloadType, Direction),
}

impl Shape {
    /// The largest legal input in (decoded) bytes.
    pub fn limit(self) -> u64 {
        match self {
            Self::Message { .. } => MAX_MESSAGE_LEN,
            Self::Payload(..) => MAX_PAYLOAD_LEN,
        }
    }

    /// Whether this is a bare payload.
    pub fn is_payload(self) -> bool {
        matches!(self, Self::Payload(..))
    }

    /// How many leading bytes the decode needs, given the first 32 bytes
    /// of the input (`None`: all of it).
    fn needed(self, head: &[u8]) -> Option<u64> {
        let header_only = match self {
            Self::Message { header_only } => header_only,
            Self::Payload(ty, direction) => return payload_needed(ty, direction, head),
        };
        let header = HEADER_LEN as u64;
        if head.get(..4) == Some(&CHUNK_MAGIC.to_ne_bytes()[..]) {
            return Some(match ChunkHeader::decode(head) {
                Ok(chunk) => header + u64::from(chunk.chunk_payload_len),
                Err(_) => header,
            });
        }
        Some(match Header::decode(head) {
            Ok(h) if !header_only => header + u64::from(h.payload_len),
            // The decode stops at the header: a bad one, or --header-only.
            _ => header,
        })
    }
}

/// How much of a bare payload its decoder reads, from its first bytes
/// (`None`: all of it).
fn payload_needed(ty: PayloadType, direction: Direction, head: &[u8]) -> Option<u64> {
    let fixed = |n: usize| Some(n as u64);
    match (ty, direction) {
        (PayloadType::Increment, _) => fixed(INCREMENT_PAYLOAD_LEN),
        (PayloadType::CgroupsSnapshot, Direction::Request) => fixed(SNAPSHOT_REQUEST_LEN),
        (PayloadType::Hello, _) => fixed(HELLO_LEN),
        (PayloadType::HelloAck, _) => fixed(HELLO_ACK_LEN),
        (PayloadType::StringReverse, _) => {
            let word = |at: usize| {
                let b = head.get(at..at + 4)?;
                Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
            };
            // A bad str_offset fails the decode within the first 8 bytes.
            match (word(0), word(4)) {
                (Some(8), Some(len)) => Some(string_reverse_len(len) as u64),
                _ => fixed(8),
            }
        }
        _ => None,
    }
}

/// The input: the bytes the decode needs and the length of all of it.
#[derive(Debug, Default)]
pub struct Input {
    /// The leading bytes the decode needs (all of a short input).
    pub bytes: Vec<u8>,
    /// The length of the whole input (at most the bound).
    pub len: usize,
}

/// Collects decoded bytes: keeps what the decode needs, counts the rest,
/// refuses more than the bound.
struct Collector {
    shape: Shape,
    input: Input,
    /// How many bytes to keep, once the header decided it.
    keep: Option<u64>,
}

/// Why the collector refused a block.
enum Refused {
    /// More input than the bound allows.
    TooLarge,
    /// The bytes to keep do not fit in memory (they are within the bound).
    NoMemory(usize),
}

impl Collector {
    fn new(shape: Shape) -> Self {
        Self {
            shape,
            input: Input::default(),
            keep: None,
        }
    }

    fn push(&mut self, mut data: &[u8]) -> Result<(), Refused> {
        let len = self.input.len as u64 + data.len() as u64;
        if len > self.shape.limit() {
            return Err(Refused::TooLarge);
        }
        self.input.len = len as usize;
        if self.keep.is_none() {
            let take = data
                .len()
                .min(HEADER_LEN - self.input.bytes.len().min(HEADER_LEN));
            self.input.bytes.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.input.bytes.len() < HEADER_LEN {
                return Ok(());
            }
            let keep = self.shape.needed(&self.input.bytes).unwrap_or(u64::MAX);
            // A payload shorter than a header keeps only its own bytes.
            self.input
                .bytes
                .truncate(usize::try_from(keep).unwrap_or(usize::MAX));
            self.keep = Some(keep);
        }
        let keep = self.keep.unwrap_or(u64::MAX);
        let room = keep.saturating_sub(self.input.bytes.len() as u64);
        let take = data.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let kept = &mut self.input.bytes;
        kept.try_reserve(take)
            .map_err(|_| Refused::NoMemory(kept.len()))?;
        kept.extend_from_slice(&data[..take]);
        Ok(())
    }
}

/// Reads `path` (`-` for stdin); with `hex`, the content is hex text and
/// is converted to bytes. At most the bound of `shape` (plus one byte) is
/// read, and only the bytes the decode needs are kept (see the module
/// documentation).
///
/// # Errors
/// [`DecodeError::Io`] when reading fails, [`DecodeError::Hex`] for text
/// that is not hex, [`DecodeError::TooLarge`] for input beyond the bound.
pub fn read_input(path: &Path, hex: bool, shape: Shape) -> Result<Input, DecodeError> {
    let stdin = path.as_os_str() == "-";
    let what = if stdin {
        "stdin".to_owned()
    } else {
        format!("`{}`", path.display())
    };
    let io_error = |source| DecodeError::Io {
        what: what.clone(),
        source,
    };
    let limit = if hex {
        shape.limit() * HEX_CHARS_PER_BYTE
    } else {
        shape.limit()
    };
    let too_large = |size: Option<u64>| DecodeError::TooLarge {
        what: what.clone(),
        size,
        limit: shape.limit(),
        hex,
        payload: shape.is_payload(),
    };
    if stdin {
        return collect(io::stdin().lock(), hex, shape, limit)
            .map_err(|e| e.into_error(io_error, too_large));
    }
    let file = File::open(path).map_err(io_error)?;
    // A regular file says how long it is: refuse before reading.
    if let Ok(meta) = file.metadata() {
        if meta.is_file() && meta.len() > limit {
            return Err(too_large(Some(meta.len())));
        }
    }
    collect(file, hex, shape, limit).map_err(|e| e.into_error(io_error, too_large))
}

/// Why collecting stopped.
enum Stop {
    Io(io::Error),
    Hex(String),
    TooLarge,
}

impl From<Refused> for Stop {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::TooLarge => Self::TooLarge,
            Refused::NoMemory(kept) => Self::Io(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("out of memory after keeping {kept} bytes of it"),
            )),
        }
    }
}

impl Stop {
    fn into_error(
        self,
        io_error: impl FnOnce(io::Error) -> DecodeError,
        too_large: impl FnOnce(Option<u64>) -> DecodeError,
    ) -> DecodeError {
        match self {
            Self::Io(e) => io_error(e),
            Self::Hex(msg) => DecodeError::Hex(msg),
            Self::TooLarge => too_large(None),
        }
    }
}

/// Reads `source` to its end (at most `limit` bytes of it, plus one to
/// tell that there is more) through a [`Collector`].
fn collect(mut source: impl Read, hex: bool, shape: Shape, limit: u64) -> Result<Input, Stop> {
    let mut collector = Collector::new(shape);
    let mut parser = HexParser::default();
    let mut block = vec![0u8; BLOCK];
    let mut decoded = Vec::new();
    let mut read = 0u64;
    loop {
        let n = match source.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Stop::Io(e)),
        };
        read += n as u64;
        if read > limit {
            return Err(Stop::TooLarge);
        }
        let data = if hex {
            decoded.clear();
            parser.feed(&block[..n], &mut decoded).map_err(Stop::Hex)?;
            &decoded[..]
        } else {
            &block[..n]
        };
        collector.push(data)?;
    }
    if hex {
        parser.finish().map_err(Stop::Hex)?;
    }
    Ok(collector.input)
}

/// Converts hex text to bytes. Whitespace (including newlines) is ignored
/// anywhere, also between the two digits of a byte; upper and lower case
/// are accepted.
///
/// # Errors
/// [`DecodeError::Hex`] naming the line and column of the first character
/// that is neither a hex digit nor whitespace, or reporting an odd number
/// of digits.
#[cfg(test)]
pub fn parse_hex(text: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut parser = HexParser::default();
    let mut out = Vec::with_capacity(text.len() / 2);
    parser.feed(text, &mut out).map_err(DecodeError::Hex)?;
    parser.finish().map_err(DecodeError::Hex)?;
    Ok(out)
}

/// A hex text parser fed block by block.
#[derive(Debug)]
struct HexParser {
    high: Option<u8>,
    line: usize,
    column: usize,
    bytes: u64,
}

impl Default for HexParser {
    fn default() -> Self {
        Self {
            high: None,
            line: 1,
            column: 0,
            bytes: 0,
        }
    }
}

impl HexParser {
    /// Appends the bytes of `text` to `out`.
    fn feed(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        for &c in text {
            self.column += 1;
            if c == b'\n' {
                self.line += 1;
                self.column = 0;
                continue;
            }
            if c.is_ascii_whitespace() {
                continue;
            }
            let Some(nibble) = hex_value(c) else {
                return Err(format!(
                    "unexpected {} at line {}, column {} (only hex digits and whitespace are allowed)",
                    describe_byte(c),
                    self.line,
                    self.column
                ));
            };
            match self.high.take() {
                Some(h) => {
                    out.push(h << 4 | nibble);
                    self.bytes += 1;
                }
                None => self.high = Some(nibble),
            }
        }
        Ok(())
    }

    /// Checks that no digit is left over.
    fn finish(&self) -> Result<(), String> {
        match self.high {
            Some(_) => Err(format!(
                "odd number of hex digits ({} bytes and one digit left over)",
                self.bytes
            )),
            None => Ok(()),
        }
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn describe_byte(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("character '{}'", char::from(c))
    } else {
        format!("byte 0x{c:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_with_whitespace() {
        assert_eq!(
            parse_hex(b"43 50\n49 4E\t0 1").unwrap(),
            [0x43, 0x50, 0x49, 0x4e, 0x01]
        );
    }

    #[test]
    fn hex_errors() {
        let err = parse_hex(b"00\n0g").unwrap_err().to_string();
        assert!(err.contains("'g' at line 2, column 2"), "{err}");
        let err = parse_hex(b"abc").unwrap_err().to_string();
        assert!(err.contains("odd number"), "{err}");
    }

    #[test]
    fn hex_split_across_blocks() {
        let mut parser = HexParser::default();
        let mut out = Vec::new();
        parser.feed(b"4", &mut out).unwrap();
        parser.feed(b"3\n5", &mut out).unwrap();
        parser.feed(b"0", &mut out).unwrap();
        parser.finish().unwrap();
        assert_eq!(out, [0x43, 0x50]);
        let err = parser.feed(b"\nx", &mut out).unwrap_err();
        assert!(err.contains("line 3, column 1"), "{err}");
    }

    fn header(payload_len: u32) -> Vec<u8> {
        use netipc::wire::MessageKind;
        Header::new(MessageKind::Request, 1, 7, payload_len)
            .to_bytes()
            .to_vec()
    }

    fn collect_all(shape: Shape, parts: &[&[u8]]) -> Input {
        let mut c = Collector::new(shape);
        for p in parts {
            assert!(c.push(p).is_ok());
        }
        c.input
    }

    #[test]
    fn keeps_the_declared_message_and_counts_the_rest() {
        let message = Shape::Message { header_only: false };
        let mut bytes = header(8);
        bytes.extend_from_slice(&[1; 8]);
        let input = collect_all(message, &[&bytes[..10], &bytes[10..], &[0; 100]]);
        assert_eq!(input.bytes, bytes);
        assert_eq!(input.len, bytes.len() + 100);

        // No header: the decode stops at byte 0, so 32 bytes are enough.
        let input = collect_all(message, &[&[0; 1000]]);
        assert_eq!((input.bytes.len(), input.len), (HEADER_LEN, 1000));

        // --header-only needs the header only.
        let only = Shape::Message { header_only: true };
        let input = collect_all(only, &[&bytes, &[0; 5]]);
        assert_eq!(
            (input.bytes.len(), input.len),
            (HEADER_LEN, bytes.len() + 5)
        );

        // A short input is kept whole.
        let input = collect_all(message, &[&bytes[..20]]);
        assert_eq!(input.bytes, &bytes[..20]);

        // A snapshot response declares no total length: all of it.
        let snapshot = Shape::Payload(PayloadType::CgroupsSnapshot, Direction::Response);
        let input = collect_all(snapshot, &[&[9; 70], &[8; 30]]);
        assert_eq!((input.bytes.len(), input.len), (100, 100));

        // Fixed sizes and declared lengths are kept that far.
        let increment = Shape::Payload(PayloadType::Increment, Direction::Request);
        let input = collect_all(increment, &[&[1; 40], &[1; 10]]);
        assert_eq!((input.bytes.len(), input.len), (8, 50));
        let reverse = Shape::Payload(PayloadType::StringReverse, Direction::Request);
        let mut text = Vec::new();
        text.extend_from_slice(&8u32.to_ne_bytes());
        text.extend_from_slice(&40u32.to_ne_bytes());
        text.extend_from_slice(&[b'a'; 40]);
        text.push(0);
        let input = collect_all(reverse, &[&text, &[7; 1000]]);
        assert_eq!((input.bytes.len(), input.len), (49, 1049));
    }

    #[test]
    fn chunk_packets_declare_their_length() {
        let chunk = ChunkHeader {
            message_id: 7,
            total_message_len: 100,
            chunk_index: 1,
            chunk_count: 2,
            chunk_payload_len: 4,
        }
        .to_bytes();
        let input = collect_all(Shape::Message { header_only: false }, &[&chunk, &[5; 50]]);
        assert_eq!(
            (input.bytes.len(), input.len),
            (HEADER_LEN + 4, HEADER_LEN + 50)
        );
    }

    #[test]
    fn the_bound_is_the_largest_message() {
        assert_eq!(MAX_MESSAGE_LEN, 4_294_967_295);
        assert_eq!(MAX_PAYLOAD_LEN, 4_294_967_263);
        let mut c = Collector::new(Shape::Payload(PayloadType::AppsLookup, Direction::Request));
        c.input.len = MAX_PAYLOAD_LEN as usize - 1;
        assert!(c.push(&[0]).is_ok());
        assert!(c.push(&[0]).is_err());
        let mut c = Collector::new(Shape::Message { header_only: false });
        c.input.len = MAX_MESSAGE_LEN as usize;
        assert!(c.push(&[0]).is_err());
    }

    #[test]
    fn a_stream_past_the_bound_is_refused() {
        // `limit` is the raw byte count of the source; an endless reader.
        let endless = io::repeat(0);
        let shape = Shape::Payload(PayloadType::Increment, Direction::Request);
        let stopped = collect(endless, false, shape, 1 << 20);
        assert!(matches!(stopped, Err(Stop::TooLarge)));
    }
}
