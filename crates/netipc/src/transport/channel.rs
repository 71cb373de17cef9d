//! The baseline data plane of one session: limits, chunking, reassembly
//! and the session-owned buffers. Shared by client and server sessions.

use std::time::{Duration, Instant};

use super::framing::{
    FirstPacket, InFlight, Limits, Packets, ProtocolError, check_batch, first_packet,
};
use super::handshake::SessionParams;
use super::{Interrupt, sys};
use crate::error::{Error, Result};
use crate::wire::{BatchBuilder, BatchView, HEADER_LEN, Header, batch_payload_len};

/// One received message, borrowing the session's receive buffer until the
/// next call on the session.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The outer header.
    pub header: Header,
    /// The payload (`header.payload_len` bytes).
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// The items of the message: the batch items for a batch message, the
    /// whole payload as one item otherwise.
    ///
    /// # Errors
    /// A directory error for a malformed one-item batch (batches of two or
    /// more items were validated on receipt).
    pub fn items(&self) -> Result<Items<'a>, crate::CodecError> {
        if self.header.is_batch() {
            Ok(Items::Batch(BatchView::new(
                self.payload,
                self.header.item_count,
            )?))
        } else {
            Ok(Items::Single(Some(self.payload)))
        }
    }
}

/// Iterator over the items of a [`Message`].
#[derive(Debug, Clone)]
pub enum Items<'a> {
    /// A single message: its payload.
    Single(Option<&'a [u8]>),
    /// A batch message.
    Batch(BatchView<'a>),
}

impl<'a> Items<'a> {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            Self::Single(p) => usize::from(p.is_some()),
            Self::Batch(b) => b.len(),
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `index`.
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        match self {
            Self::Single(p) => p.filter(|_| index == 0),
            Self::Batch(b) => b.item(index),
        }
    }
}

/// How a session moves its messages (for diagnostics and benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataPlane {
    /// The baseline transport: a Unix SEQPACKET socket on POSIX, a named
    /// pipe on Windows. A waiting thread blocks in the kernel.
    Baseline,
    /// The per-session shared-memory region.
    SharedMemory {
        /// Whether a waiting thread sleeps after spinning (false: it keeps
        /// spinning, Windows SHM_BUSYWAIT).
        sleeps: bool,
        /// Whether the publisher makes a wake-up system call only when the
        /// peer sleeps (true between netipc peers on Linux and always on
        /// Windows); false means one wake-up call per message.
        wake_on_demand: bool,
    },
}

/// Computes an absolute deadline for a relative timeout (`None` = wait
/// forever).
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| {
        Instant::now()
            .checked_add(t)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 31))
    })
}

/// Limits, buffers and the connection of one baseline session.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) conn: sys::Conn,
    pub(crate) params: SessionParams,
    inbound: Limits,
    outbound: Limits,
    /// Receive buffer: the header and payload of the last message.
    buf: Vec<u8>,
    /// Scratch space for batch payloads being sent.
    scratch: Vec<u8>,
    /// The shared-memory data plane, when the session negotiated one. The
    /// connection then only serves as the liveness signal.
    shm: Option<sys::ShmRegion>,
    /// Header and end (in `buf`) of the last message received.
    last: Option<(Header, usize)>,
}

impl Channel {
    pub(crate) fn new(
        conn: sys::Conn,
        params: SessionParams,
        inbound: Limits,
        outbound: Limits,
        mut shm: Option<sys::ShmRegion>,
    ) -> Self {
        if let Some(region) = &mut shm {
            region.set_extensions(params.extensions);
        }
        Self {
            conn,
            params,
            inbound,
            outbound,
            buf: Vec::new(),
            scratch: Vec::new(),
            shm,
            last: None,
        }
    }

    /// Whether the data plane is in shared memory (one message in flight
    /// per direction).
    pub(crate) fn is_shm(&self) -> bool {
        self.shm.is_some()
    }

    pub(crate) fn data_plane(&self) -> DataPlane {
        match &self.shm {
            None => DataPlane::Baseline,
            Some(region) => DataPlane::SharedMemory {
                sleeps: region.sleeps(),
                wake_on_demand: region.wakes_on_demand(),
            },
        }
    }

    /// Sends one message; `header.payload_len` is set from `payload`.
    pub(crate) fn send(&mut self, header: &Header, payload: &[u8]) -> Result<()> {
        let mut h = *header;
        h.payload_len = u32::try_from(payload.len())
            .ok()
            .filter(|&n| n.checked_add(HEADER_LEN as u32).is_some())
            .ok_or(Error::LimitExceeded(
                super::framing::LimitExceeded::Payload {
                    len: u32::MAX,
                    limit: self.outbound.max_payload,
                },
            ))?;
        self.outbound.check(&h)?;
        if let Some(region) = &mut self.shm {
            return region.publish(&[&h.to_bytes(), payload]);
        }
        for p in Packets::new(h, payload, self.params.packet_size) {
            self.conn.send_packet(&[&p.prefix, p.body])?;
        }
        Ok(())
    }

    /// Sends a batch of `items` under `header` (BATCH flag and item count
    /// are set here). The payload is assembled in a session-owned buffer.
    pub(crate) fn send_batch<'i, I>(&mut self, header: &Header, items: I) -> Result<()>
    where
        I: IntoIterator<Item = &'i [u8]>,
        I::IntoIter: ExactSizeIterator + Clone,
    {
        let items = items.into_iter();
        let count = u32::try_from(items.len()).map_err(|_| {
            Error::LimitExceeded(super::framing::LimitExceeded::Items {
                count: u32::MAX,
                limit: self.outbound.max_items,
            })
        })?;
        let len = batch_payload_len(items.clone().map(<[u8]>::len)).ok_or(Error::LimitExceeded(
            super::framing::LimitExceeded::Payload {
                len: u32::MAX,
                limit: self.outbound.max_payload,
            },
        ))?;
        let mut scratch = std::mem::take(&mut self.scratch);
        if scratch.len() < len {
            scratch.resize(len, 0);
        }
        let built = (|| {
            let mut b = BatchBuilder::new(&mut scratch[..len], count)?;
            for item in items {
                b.push(item)?;
            }
            b.finish()
        })();
        let result = match built {
            Ok(n) => {
                let mut h = *header;
                h.flags |= crate::wire::FLAG_BATCH;
                h.item_count = count;
                self.send(&h, &scratch[..n])
            }
            Err(e) => Err(e.into()),
        };
        self.scratch = scratch;
        result
    }

    /// Receives one message (all of its packets), validating it against
    /// the inbound limits and, on the client side, the in-flight ids.
    pub(crate) fn recv(
        &mut self,
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
        in_flight: Option<&mut InFlight>,
    ) -> Result<Message<'_>> {
        let interrupt = interrupt.map(Interrupt::sys);
        self.last = None;
        if self.shm.is_some() {
            return self.recv_shm(deadline, interrupt, in_flight);
        }
        let packet_size = self.params.packet_size as usize;
        let first_cap = packet_size.min(HEADER_LEN + self.inbound.max_payload as usize);
        if self.buf.len() < first_cap {
            self.buf.resize(first_cap, 0);
        }
        let n = self
            .conn
            .recv_packet(&mut self.buf[..first_cap], deadline, interrupt)?;
        let first = first_packet(
            &self.buf[..n.min(first_cap)],
            &self.inbound,
            in_flight,
            self.params.packet_size,
        )?;
        if n > first_cap {
            // The header and limits passed, but the packet has more bytes
            // than the packet size or the message allows.
            let header = match &first {
                FirstPacket::Complete(h) => *h,
                FirstPacket::Chunked(r) => *r.header(),
            };
            return Err(if n > packet_size {
                ProtocolError::PacketTooLarge {
                    packet: n,
                    packet_size: self.params.packet_size,
                }
            } else {
                ProtocolError::PacketLongerThanMessage {
                    packet: n,
                    message: header.message_len().unwrap_or(u32::MAX),
                }
            }
            .into());
        }
        let (header, total) = match first {
            FirstPacket::Complete(h) => (h, n),
            FirstPacket::Chunked(mut r) => {
                let header = *r.header();
                let total = HEADER_LEN + header.payload_len as usize;
                if self.buf.len() < total {
                    self.buf.resize(total, 0);
                }
                let mut head = [0u8; HEADER_LEN];
                while !r.is_complete() {
                    let at = HEADER_LEN + r.received();
                    let got = self.conn.recv_packet_split(
                        &mut head,
                        &mut self.buf[at..total],
                        deadline,
                        interrupt,
                    )?;
                    let body = got.saturating_sub(HEADER_LEN);
                    r.accept_split(&head[..got.min(HEADER_LEN)], body)?;
                }
                (header, total)
            }
        };
        check_batch(&header, &self.buf[HEADER_LEN..total])?;
        Ok(self.keep(header, total))
    }

    /// Remembers a validated message (its bytes stay in `buf` until the
    /// next receive) and returns it.
    fn keep(&mut self, header: Header, end: usize) -> Message<'_> {
        self.last = Some((header, end));
        Message {
            header,
            payload: &self.buf[HEADER_LEN..end],
        }
    }

    /// The last message received, until the next receive.
    pub(crate) fn last(&self) -> Option<Message<'_>> {
        self.last.map(|(header, end)| Message {
            header,
            payload: &self.buf[HEADER_LEN..end],
        })
    }

    /// Receives one message from the shared-memory region, with the same
    /// validation as on the baseline transport (stricter than the reference
    /// peers, which check only the published length).
    fn recv_shm(
        &mut self,
        deadline: Option<Instant>,
        interrupt: Option<&sys::Interrupt>,
        in_flight: Option<&mut InFlight>,
    ) -> Result<Message<'_>> {
        let Some(region) = &mut self.shm else {
            return Err(Error::Disconnected);
        };
        let capacity = region.recv_capacity();
        if self.buf.len() < capacity {
            self.buf.resize(capacity, 0);
        }
        let conn = &self.conn;
        let n = region.receive(&mut self.buf[..capacity], deadline, interrupt, || {
            !conn.peer_closed()
        })?;
        let message = &self.buf[..n];
        let header = match first_packet(message, &self.inbound, in_flight, u32::MAX)? {
            FirstPacket::Complete(h) => h,
            FirstPacket::Chunked(r) => {
                return Err(ProtocolError::ShmLengthMismatch {
                    published: n,
                    payload_len: r.header().payload_len,
                }
                .into());
            }
        };
        check_batch(&header, &message[HEADER_LEN..])?;
        Ok(self.keep(header, n))
    }
}
