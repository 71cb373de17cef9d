//! Framing on the baseline transports as pure state machines: directional
//! limits, chunk splitting, chunk reassembly and in-flight message ids.
//!
//! A backend moves packets; everything it must check about them is here,
//! so the rules are tested without sockets and shared by every OS.
//!
//! Public only with the `test-support` feature (not covered by semver);
//! its error types are re-exported from [`transport`](super).

use std::ops::Range;

use crate::error::CodecError;
use crate::wire::{BatchView, CHUNK_MAGIC, ChunkHeader, HEADER_LEN, Header, MessageKind};

/// Payload and item ceilings of one direction of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest `payload_len` (directory and padding included).
    pub max_payload: u32,
    /// Largest `item_count` (applies to single messages too).
    pub max_items: u32,
}

impl Limits {
    /// No limit at all (for tools that inspect arbitrary messages).
    #[cfg(feature = "test-support")]
    pub const UNLIMITED: Self = Self {
        max_payload: u32::MAX,
        max_items: u32::MAX,
    };

    /// Checks a header against these ceilings.
    ///
    /// # Errors
    /// [`LimitExceeded`] naming the field that is too large.
    pub fn check(&self, header: &Header) -> Result<(), LimitExceeded> {
        if header.payload_len > self.max_payload {
            return Err(LimitExceeded::Payload {
                len: header.payload_len,
                limit: self.max_payload,
            });
        }
        if header.item_count > self.max_items {
            return Err(LimitExceeded::Items {
                count: header.item_count,
                limit: self.max_items,
            });
        }
        Ok(())
    }
}

/// A message larger than a negotiated ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// `payload_len` above the payload ceiling.
    #[error("payload of {len} bytes exceeds the negotiated ceiling of {limit} bytes")]
    Payload {
        /// The message's payload length.
        len: u32,
        /// The ceiling.
        limit: u32,
    },
    /// `item_count` above the item ceiling.
    #[error("{count} items exceed the negotiated ceiling of {limit} items")]
    Items {
        /// The message's item count.
        count: u32,
        /// The ceiling.
        limit: u32,
    },
}

/// A rule a received message broke. Every one of them ends the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The outer header does not decode.
    #[error("bad outer header: {0}")]
    Header(CodecError),
    /// The message exceeds a negotiated ceiling.
    #[error("{0}")]
    Limit(LimitExceeded),
    /// A response for a message id that is not in flight.
    #[error("response for message id {0}, which is not in flight")]
    UnknownMessageId(u64),
    /// `32 + payload_len` does not fit a u32.
    #[error("payload_len {0} makes the message larger than 4 GiB")]
    MessageTooLarge(u32),
    /// A packet is longer than the negotiated packet size.
    #[error("packet of {packet} bytes exceeds the negotiated packet size of {packet_size} bytes")]
    PacketTooLarge {
        /// Bytes received.
        packet: usize,
        /// The agreed packet size.
        packet_size: u32,
    },
    /// The first packet carries more bytes than the whole message.
    #[error("packet of {packet} bytes is longer than its {message}-byte message")]
    PacketLongerThanMessage {
        /// Bytes received.
        packet: usize,
        /// `32 + payload_len`.
        message: u32,
    },
    /// A continuation packet is wrong.
    #[error("bad chunk: {0}")]
    Chunk(ChunkError),
    /// A shared-memory message was published with length 0.
    #[error("shared-memory message of length 0")]
    ShmEmptyMessage,
    /// A shared-memory message is longer than the area or the buffer.
    #[error("shared-memory message of {len} bytes exceeds the {capacity}-byte area")]
    ShmMessageTooLarge {
        /// The published length.
        len: usize,
        /// The usable capacity.
        capacity: usize,
    },
    /// The shared-memory lane is inconsistent (negative length, or the
    /// writer changed the message while it was being read).
    #[error("shared-memory lane corrupt: {0}")]
    ShmCorrupt(&'static str),
    /// The header of a shared-memory message disagrees with its published
    /// length.
    #[error("shared-memory message of {published} bytes carries payload_len {payload_len}")]
    ShmLengthMismatch {
        /// Bytes published.
        published: usize,
        /// The header's payload_len.
        payload_len: u32,
    },
    /// The batch directory of a reassembled message is invalid.
    #[error("bad batch directory: {0}")]
    BatchDirectory(CodecError),
}

/// What is wrong with a continuation packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// The chunk header does not decode.
    #[error("chunk header: {0}")]
    Header(CodecError),
    /// A chunk header field differs from what the message requires.
    #[error("{field} is {got}, expected {expected}")]
    Mismatch {
        /// Which field.
        field: &'static str,
        /// The value the receiver computed.
        expected: u64,
        /// The value in the packet.
        got: u64,
    },
    /// The chunk carries more bytes than the message has left.
    #[error("chunk carries {got} bytes but only {left} remain")]
    TooLong {
        /// Bytes in the chunk.
        got: u32,
        /// Bytes left to assemble.
        left: usize,
    },
}

/// Splits one message into the packets of the baseline transports.
///
/// A message of at most `packet_size` bytes is one packet; a larger one is
/// packet 0 (outer header + first slice) followed by continuation packets
/// (chunk header + next slice), each at most `packet_size` bytes.
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    header: Header,
    payload: &'a [u8],
    budget: usize,
    sent: usize,
    index: u32,
    count: u32,
}

impl<'a> Packets<'a> {
    /// The packets of `header` + `payload` at `packet_size` (> 32).
    /// `header.payload_len` must equal `payload.len()`.
    #[must_use]
    pub fn new(header: Header, payload: &'a [u8], packet_size: u32) -> Self {
        let budget = (packet_size as usize).saturating_sub(HEADER_LEN).max(1);
        let count = chunk_count(payload.len(), payload.len().min(budget), budget);
        Self {
            header,
            payload,
            budget,
            sent: 0,
            index: 0,
            count,
        }
    }
}

/// Number of packets for a payload when packet 0 carries `first` payload
/// bytes and every continuation at most `budget`.
fn chunk_count(payload_len: usize, first: usize, budget: usize) -> u32 {
    let rest = payload_len - first;
    u32::try_from(1 + rest.div_ceil(budget)).unwrap_or(u32::MAX)
}

/// One packet: a 32-byte prefix (outer or chunk header) and a payload slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The outer header (packet 0) or a chunk header (packets 1..).
    pub prefix: [u8; HEADER_LEN],
    /// The payload bytes this packet carries.
    pub body: &'a [u8],
}

impl<'a> Iterator for Packets<'a> {
    type Item = Packet<'a>;

    fn next(&mut self) -> Option<Packet<'a>> {
        if self.index >= self.count {
            return None;
        }
        let end = (self.sent + self.budget).min(self.payload.len());
        let body = &self.payload[self.sent..end];
        let prefix = if self.index == 0 {
            self.header.to_bytes()
        } else {
            ChunkHeader {
                message_id: self.header.message_id,
                total_message_len: self.header.payload_len.saturating_add(HEADER_LEN as u32),
                chunk_index: self.index,
                chunk_count: self.count,
                // At most the budget, which is below the packet size (u32).
                chunk_payload_len: body.len() as u32,
            }
            .to_bytes()
        };
        self.sent = end;
        self.index += 1;
        Some(Packet { prefix, body })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.count - self.index) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Packets<'_> {}

/// The message ids a client has sent and not yet seen answered.
///
/// Kept as a small vector: pipelines are short, so a linear scan beats a
/// hash set, and after warm-up no call allocates.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    ids: Vec<u64>,
}

impl InFlight {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a request id; `false` if it is already in flight.
    pub fn insert(&mut self, id: u64) -> bool {
        if self.ids.contains(&id) {
            return false;
        }
        self.ids.push(id);
        true
    }

    /// Removes an answered id; `false` if it was not in flight.
    pub fn remove(&mut self, id: u64) -> bool {
        match self.ids.iter().position(|&x| x == id) {
            Some(i) => {
                self.ids.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Forgets every id (the session broke).
    pub fn clear(&mut self) {
        self.ids.clear();
    }

    /// Number of ids in flight.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is in flight.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether `id` is in flight.
    #[must_use]
    pub fn contains(&self, id: u64) -> bool {
        self.ids.contains(&id)
    }
}

/// What the first packet of a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstPacket {
    /// The whole message: its payload is `packet[32..]`.
    Complete(Header),
    /// The first of several packets; continue with the reassembly.
    Chunked(Reassembly),
}

/// Validates the first packet of an incoming message (spec steps 1 to 3):
/// header, directional `limits`, the in-flight id of a RESPONSE when
/// `in_flight` is given (the client side), and the packet length.
///
/// The id is removed from `in_flight` as soon as the header passes.
///
/// # Errors
/// The first violated rule.
pub fn first_packet(
    packet: &[u8],
    limits: &Limits,
    in_flight: Option<&mut InFlight>,
    packet_size: u32,
) -> Result<FirstPacket, ProtocolError> {
    let header = Header::decode(packet).map_err(ProtocolError::Header)?;
    limits.check(&header).map_err(ProtocolError::Limit)?;
    if let Some(ids) = in_flight {
        if header.kind == MessageKind::Response && !ids.remove(header.message_id) {
            return Err(ProtocolError::UnknownMessageId(header.message_id));
        }
    }
    let total = header
        .message_len()
        .ok_or(ProtocolError::MessageTooLarge(header.payload_len))?;
    match packet.len().cmp(&(total as usize)) {
        std::cmp::Ordering::Greater => Err(ProtocolError::PacketLongerThanMessage {
            packet: packet.len(),
            message: total,
        }),
        std::cmp::Ordering::Equal => Ok(FirstPacket::Complete(header)),
        std::cmp::Ordering::Less => Ok(FirstPacket::Chunked(Reassembly::new(
            header,
            packet.len() - HEADER_LEN,
            packet_size,
        ))),
    }
}

/// The state of a chunked message being reassembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembly {
    header: Header,
    received: usize,
    next_index: u32,
    chunk_count: u32,
}

impl Reassembly {
    /// Starts after packet 0 carried `first` payload bytes. The expected
    /// chunk count follows from what packet 0 actually carried.
    #[must_use]
    pub fn new(header: Header, first: usize, packet_size: u32) -> Self {
        let budget = (packet_size as usize).saturating_sub(HEADER_LEN).max(1);
        let first = first.min(header.payload_len as usize);
        Self {
            header,
            received: first,
            next_index: 1,
            chunk_count: chunk_count(header.payload_len as usize, first, budget),
        }
    }

    /// The header of packet 0.
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Payload bytes assembled so far (packet 0's included).
    #[cfg(feature = "test-support")]
    #[must_use]
    pub fn received(&self) -> usize {
        self.received
    }

    /// Whether every payload byte has arrived.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.received == self.header.payload_len as usize
    }

    /// Validates continuation `packet` (32-byte chunk header + body) and
    /// returns where its body goes in the payload.
    ///
    /// # Errors
    /// See [`accept_split`](Self::accept_split).
    #[cfg(feature = "test-support")]
    pub fn accept(&mut self, packet: &[u8]) -> Result<Range<usize>, ProtocolError> {
        let head = &packet[..packet.len().min(HEADER_LEN)];
        self.accept_split(head, packet.len().saturating_sub(HEADER_LEN))
    }

    /// Validates a continuation packet given its first (up to) 32 bytes and
    /// the number of bytes after them, and returns where those bytes go in
    /// the payload. Backends that receive the body straight into place use
    /// this form.
    ///
    /// # Errors
    /// [`ProtocolError::Chunk`] for a bad chunk header, any field that
    /// differs from the expected value (message id, index, count, total
    /// length), a body length different from `chunk_payload_len`, or more
    /// bytes than the message has left. A rejected packet leaves the state
    /// unchanged.
    #[cfg(feature = "test-support")]
    pub fn accept_split(
        &mut self,
        head: &[u8],
        body_len: usize,
    ) -> Result<Range<usize>, ProtocolError> {
        let range = self.check_split(head, body_len)?;
        self.commit(&range);
        Ok(range)
    }

    /// Where the body of the next continuation packet goes in the payload
    /// when the receiver has room for at most `room` payload bytes per
    /// packet ([`continuation_room`]): a receiver that grows its buffer to
    /// the end of this range before each packet holds no more than what
    /// arrived plus one packet, whatever the header declared.
    #[must_use]
    pub fn next_body(&self, room: usize) -> Range<usize> {
        let left = self.header.payload_len as usize - self.received;
        self.received..self.received + left.min(room)
    }

    /// [`accept_split`](Self::accept_split) for a body received into
    /// [`next_body(room)`](Self::next_body): a packet that carried more
    /// than that room (and was therefore cut short) is refused as well. A
    /// legal continuation always fits the room, since its body is at most
    /// the packet size's budget.
    ///
    /// # Errors
    /// As [`accept_split`](Self::accept_split); then
    /// [`ProtocolError::PacketTooLarge`] (naming `packet_size`) for a body
    /// longer than the room. A rejected packet leaves the state unchanged.
    pub fn accept_within(
        &mut self,
        head: &[u8],
        body_len: usize,
        room: usize,
        packet_size: u32,
    ) -> Result<Range<usize>, ProtocolError> {
        let range = self.check_split(head, body_len)?;
        if range.end > self.next_body(room).end {
            return Err(ProtocolError::PacketTooLarge {
                packet: HEADER_LEN + body_len,
                packet_size,
            });
        }
        self.commit(&range);
        Ok(range)
    }

    /// The checks of [`accept_split`](Self::accept_split), without
    /// changing the state.
    fn check_split(&self, head: &[u8], body_len: usize) -> Result<Range<usize>, ProtocolError> {
        let chunk =
            ChunkHeader::decode(head).map_err(|e| ProtocolError::Chunk(ChunkError::Header(e)))?;
        let total = u64::from(self.header.payload_len) + HEADER_LEN as u64;
        let checks = [
            ("message_id", self.header.message_id, chunk.message_id),
            (
                "chunk_index",
                self.next_index.into(),
                chunk.chunk_index.into(),
            ),
            (
                "chunk_count",
                self.chunk_count.into(),
                chunk.chunk_count.into(),
            ),
            ("total_message_len", total, chunk.total_message_len.into()),
            (
                "chunk_payload_len",
                body_len as u64,
                chunk.chunk_payload_len.into(),
            ),
        ];
        for (field, expected, got) in checks {
            if expected != got {
                return Err(ProtocolError::Chunk(ChunkError::Mismatch {
                    field,
                    expected,
                    got,
                }));
            }
        }
        let left = self.header.payload_len as usize - self.received;
        let len = chunk.chunk_payload_len as usize;
        if len > left {
            return Err(ProtocolError::Chunk(ChunkError::TooLong {
                got: chunk.chunk_payload_len,
                left,
            }));
        }
        Ok(self.received..self.received + len)
    }

    fn commit(&mut self, range: &Range<usize>) {
        self.received = range.end;
        self.next_index += 1;
    }
}

/// How many bytes a receiver's buffer for the first packet of a message
/// must hold: `min(packet_size, 32 + max_payload)` (a longer datagram
/// would be cut short; a longer message would break the limits anyway).
#[must_use]
pub fn first_packet_capacity(packet_size: u32, limits: &Limits) -> usize {
    (packet_size as usize).min(HEADER_LEN + limits.max_payload as usize)
}

/// The most payload bytes a continuation packet may carry for a receiver
/// with these parameters: the first packet's capacity less its header,
/// which is at least the packet size's budget for every message the
/// limits allow.
#[must_use]
pub fn continuation_room(packet_size: u32, limits: &Limits) -> usize {
    first_packet_capacity(packet_size, limits).saturating_sub(HEADER_LEN)
}

/// Step 6 of the receive rules: a batch with more than one item must have a
/// valid directory.
///
/// # Errors
/// [`ProtocolError::BatchDirectory`].
pub fn check_batch(header: &Header, payload: &[u8]) -> Result<(), ProtocolError> {
    if header.is_batch() && header.item_count > 1 {
        // Decoding validates the directory; the view itself is not needed.
        let _ =
            BatchView::new(payload, header.item_count).map_err(ProtocolError::BatchDirectory)?;
    }
    Ok(())
}

/// Whether `packet` starts with the magic of a chunk continuation header
/// ([`CHUNK_MAGIC`]): a cheap check for
/// diagnostics and inspectors; receivers validate the whole chunk header.
#[must_use]
pub fn is_chunk_packet(packet: &[u8]) -> bool {
    packet.len() >= 4 && crate::bytes::get_u32(packet, 0) == CHUNK_MAGIC
}
