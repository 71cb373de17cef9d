//! The baseline data plane of one session: limits, chunking, reassembly
//! and the session-owned buffers. Shared by client and server sessions.

use std::time::{Duration, Instant};

use super::framing::{
    FirstPacket, InFlight, Limits, Packets, ProtocolError, Reassembly, check_batch,
    continuation_room, first_packet, first_packet_capacity,
};
use super::handshake::SessionParams;
use super::{Interrupt, sys};
use crate::error::{Error, Result};
use crate::wire::{BatchBuilder, BatchView, HEADER_LEN, Header, batch_payload_len};

/// One received message, borrowing the session's receive buffer until the
/// next call on the session.
#[derive(Debug, Clone, Copy)]
#[must_use = "a received message is read through its view"]
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
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Single(p) => usize::from(p.is_some()),
            Self::Batch(b) => b.len(),
        }
    }

    /// Whether there are no items.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `index`.
    #[must_use]
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
        /// spinning: `Profiles::SHM_ALT` on Windows).
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

/// How a receive or send waits for the connection.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait<'a> {
    /// Blocks until the deadline (`None`: forever) or the interrupt.
    Until(Option<Instant>, Option<&'a sys::Interrupt>),
    /// Blocks for at most this long from the moment waiting starts (the
    /// clock is only read when a wait is needed).
    Within(Duration),
    /// Never blocks: what cannot be done now is left for later.
    Now,
    /// A receive waits for its first packet about this long (see
    /// [`sys::Conn::linger_recv_packet`]) and no longer for the rest; a
    /// send does not wait, as with `Now`.
    Linger(Duration),
}

/// A [`Wait`] once started: one deadline covers every packet of a message.
#[derive(Debug, Clone, Copy)]
enum Started<'a> {
    Until(Option<Instant>, Option<&'a sys::Interrupt>),
    Now,
    /// See [`Wait::Linger`].
    Linger(Duration),
}

impl<'a> Wait<'a> {
    /// The wait with a relative timeout turned into a deadline from now
    /// (the clock is read only here: a shared-memory send never waits).
    fn started(self) -> Started<'a> {
        match self {
            Self::Until(deadline, interrupt) => Started::Until(deadline, interrupt),
            Self::Within(timeout) => Started::Until(deadline(Some(timeout)), None),
            Self::Now => Started::Now,
            Self::Linger(linger) => Started::Linger(linger),
        }
    }
}

/// Sends one packet on `conn` as `wait` allows; `false` when it could not
/// go out without waiting and `wait` is [`Wait::Now`] (nothing was sent).
/// A waiting send returns once the packet is written.
pub(crate) fn send_packet(conn: &sys::Conn, parts: &[&[u8]], wait: Wait<'_>) -> Result<bool> {
    match wait.started() {
        Started::Until(deadline, interrupt) => conn.send_packet(parts, deadline, interrupt)?,
        Started::Now | Started::Linger(_) => return conn.try_send_packet(parts),
    }
    Ok(true)
}

/// A message being received in several packets, kept between
/// non-blocking receives.
#[derive(Debug)]
struct Partial {
    header: Header,
    reassembly: Reassembly,
    total: usize,
    /// Most payload bytes one continuation packet may carry here: the
    /// first packet's buffer less its header (a legal continuation is no
    /// longer than the packet size's budget).
    room: usize,
}

/// Makes `buf` at least `len` bytes long, keeping its contents. The
/// capacity grows geometrically (so growing packet by packet copies each
/// byte a bounded number of times) but never beyond `most` bytes, the
/// largest length the message can need.
fn grow(buf: &mut Vec<u8>, len: usize, most: usize) {
    if buf.len() >= len {
        return;
    }
    if buf.capacity() < len {
        let target = buf.capacity().saturating_mul(2).clamp(len, most.max(len));
        buf.reserve_exact(target - buf.len());
    }
    buf.resize(len, 0);
}

/// The unsent packets of a message whose sending could not finish without
/// waiting.
#[derive(Debug)]
struct Pending {
    header: Header,
    payload: Vec<u8>,
    /// Packets already sent.
    sent: usize,
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
    /// A chunked message whose packets are still arriving.
    partial: Option<Partial>,
    /// Packets of the last message that are still to be sent.
    pending: Option<Pending>,
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
            partial: None,
            pending: None,
        }
    }

    /// Whether the data plane is in shared memory (one message in flight
    /// per direction).
    pub(crate) fn is_shm(&self) -> bool {
        self.shm.is_some()
    }

    /// The shared-memory region, when the session uses one.
    pub(crate) fn shm(&self) -> Option<&sys::ShmRegion> {
        self.shm.as_ref()
    }

    /// The shared-memory region, to poll it (its polling adapts).
    pub(crate) fn shm_mut(&mut self) -> Option<&mut sys::ShmRegion> {
        self.shm.as_mut()
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

    /// Checks `header` + `payload` against the outbound limits and returns
    /// the header with `payload_len` set.
    fn outgoing(&self, header: &Header, payload: &[u8]) -> Result<Header> {
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
        Ok(h)
    }

    /// Sends one message; `header.payload_len` is set from `payload`.
    /// Waits for room in the connection as `wait` allows: with
    /// [`Wait::Now`] the packets that do not fit now are kept and `false`
    /// is returned (send them with [`flush`](Self::flush) once the
    /// connection is writable).
    pub(crate) fn send(&mut self, header: &Header, payload: &[u8], wait: Wait<'_>) -> Result<bool> {
        if self.pending.is_some() {
            return Err(Error::Busy);
        }
        let h = self.outgoing(header, payload)?;
        if let Some(region) = &mut self.shm {
            region.publish(&[&h.to_bytes(), payload])?;
            return Ok(true);
        }
        // One deadline for all the packets of the message.
        let wait = match wait.started() {
            Started::Until(deadline, interrupt) => Wait::Until(deadline, interrupt),
            Started::Now | Started::Linger(_) => Wait::Now,
        };
        for (sent, p) in Packets::new(h, payload, self.params.packet_size).enumerate() {
            if !send_packet(&self.conn, &[&p.prefix, p.body], wait)? {
                self.pending = Some(Pending {
                    header: h,
                    payload: payload.to_vec(),
                    sent,
                });
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Sends what [`send`](Self::send) left, without waiting; `true` once
    /// everything is sent.
    pub(crate) fn flush(&mut self) -> Result<bool> {
        let Some(pending) = &mut self.pending else {
            return Ok(true);
        };
        let packets = Packets::new(pending.header, &pending.payload, self.params.packet_size);
        for p in packets.skip(pending.sent) {
            if !self.conn.try_send_packet(&[&p.prefix, p.body])? {
                return Ok(false);
            }
            pending.sent += 1;
        }
        self.pending = None;
        Ok(true)
    }

    /// Whether part of a message has arrived and the rest has not.
    pub(crate) fn has_partial(&self) -> bool {
        self.partial.is_some()
    }

    /// Whether packets of a message are still waiting to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Sends a batch of `items` under `header` (BATCH flag and item count
    /// are set here). The payload is assembled in a session-owned buffer.
    pub(crate) fn send_batch<'i, I>(
        &mut self,
        header: &Header,
        items: I,
        wait: Wait<'_>,
    ) -> Result<bool>
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
                self.send(&h, &scratch[..n], wait)
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
        let wait = Wait::Until(deadline, interrupt.map(Interrupt::sys));
        match self.recv_with(wait, in_flight)? {
            Some((header, end)) => Ok(self.keep(header, end)),
            // A blocking receive ends with a message or an error.
            None => Err(Error::Timeout { limit: None }),
        }
    }

    /// Receives the next message if all of it is there, without waiting.
    /// `None` means "not yet": the packets received so far are kept for
    /// the next call.
    pub(crate) fn try_recv(&mut self) -> Result<Option<Message<'_>>> {
        Ok(self
            .recv_with(Wait::Now, None)?
            .map(|(header, end)| self.keep(header, end)))
    }

    /// Receives the next message as [`try_recv`](Self::try_recv) does,
    /// except that on a socket with no message begun the first packet is
    /// waited for about `linger` (see [`sys::Conn::linger_recv_packet`];
    /// Windows pipes and shared memory do not wait).
    pub(crate) fn linger_recv(&mut self, linger: Duration) -> Result<Option<Message<'_>>> {
        Ok(self
            .recv_with(Wait::Linger(linger), None)?
            .map(|(header, end)| self.keep(header, end)))
    }

    /// One receive; errors drop a partly received message (the session is
    /// unusable after them anyway).
    fn recv_with(
        &mut self,
        wait: Wait<'_>,
        in_flight: Option<&mut InFlight>,
    ) -> Result<Option<(Header, usize)>> {
        self.last = None;
        let wait = wait.started();
        let result = if self.shm.is_some() {
            self.recv_shm(wait, in_flight)
        } else {
            self.recv_packets(wait, in_flight)
        };
        if result.is_err() {
            self.partial = None;
        }
        result
    }

    fn recv_packets(
        &mut self,
        wait: Started<'_>,
        in_flight: Option<&mut InFlight>,
    ) -> Result<Option<(Header, usize)>> {
        if self.partial.is_none() {
            let packet_size = self.params.packet_size as usize;
            let first_cap = first_packet_capacity(self.params.packet_size, &self.inbound);
            grow(&mut self.buf, first_cap, first_cap);
            let buf = &mut self.buf[..first_cap];
            let n = match wait {
                Started::Until(deadline, interrupt) => {
                    self.conn.recv_packet(buf, deadline, interrupt)?
                }
                Started::Now => match self.conn.try_recv_packet(buf)? {
                    Some(n) => n,
                    None => return Ok(None),
                },
                Started::Linger(linger) => match self.conn.linger_recv_packet(buf, linger)? {
                    Some(n) => n,
                    None => return Ok(None),
                },
            };
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
            match first {
                FirstPacket::Complete(header) => {
                    check_batch(&header, &self.buf[HEADER_LEN..n])?;
                    return Ok(Some((header, n)));
                }
                FirstPacket::Chunked(reassembly) => {
                    // The buffer grows with the packets that arrive, never
                    // to the declared length up front.
                    let header = *reassembly.header();
                    self.partial = Some(Partial {
                        header,
                        reassembly,
                        total: HEADER_LEN + header.payload_len as usize,
                        room: continuation_room(self.params.packet_size, &self.inbound),
                    });
                }
            }
        }
        let packet_size = self.params.packet_size;
        let Self {
            conn, buf, partial, ..
        } = self;
        let Some(Partial {
            header,
            reassembly,
            total,
            room,
        }) = partial
        else {
            return Ok(None);
        };
        let mut head = [0u8; HEADER_LEN];
        while !reassembly.is_complete() {
            let next = reassembly.next_body(*room);
            grow(buf, HEADER_LEN + next.end, *total);
            let body = &mut buf[HEADER_LEN + next.start..HEADER_LEN + next.end];
            let got = match wait {
                Started::Until(deadline, interrupt) => {
                    conn.recv_packet_split(&mut head, body, deadline, interrupt)?
                }
                Started::Now | Started::Linger(_) => {
                    match conn.try_recv_packet_split(&mut head, body)? {
                        Some(n) => n,
                        None => return Ok(None),
                    }
                }
            };
            reassembly.accept_within(
                &head[..got.min(HEADER_LEN)],
                got.saturating_sub(HEADER_LEN),
                *room,
                packet_size,
            )?;
        }
        let (header, total) = (*header, *total);
        self.partial = None;
        check_batch(&header, &self.buf[HEADER_LEN..total])?;
        Ok(Some((header, total)))
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

    /// Gives back receive space above `keep` bytes (after an unusually
    /// large message), so an idle session holds little memory.
    pub(crate) fn shrink_buffers(&mut self, keep: usize) {
        if self.partial.is_none() && self.buf.len() > keep {
            self.last = None;
            self.buf = Vec::new();
        }
        if self.scratch.len() > keep {
            self.scratch = Vec::new();
        }
    }

    /// Receives one message from the shared-memory region, with the same
    /// validation as on the baseline transport (stricter than the reference
    /// peers, which check only the published length).
    fn recv_shm(
        &mut self,
        wait: Started<'_>,
        in_flight: Option<&mut InFlight>,
    ) -> Result<Option<(Header, usize)>> {
        let Some(region) = &mut self.shm else {
            return Err(Error::Disconnected);
        };
        // Never more than the largest message this side accepts, however
        // large the peer made the area.
        let capacity = region
            .recv_capacity()
            .min(HEADER_LEN + self.inbound.max_payload as usize);
        grow(&mut self.buf, capacity, capacity);
        let buf = &mut self.buf[..capacity];
        let n = match wait {
            Started::Until(deadline, interrupt) => {
                let conn = &self.conn;
                region.receive(buf, deadline, interrupt, || !conn.peer_closed())?
            }
            Started::Now | Started::Linger(_) => match region.try_receive(buf)? {
                Some(n) => n,
                None => return Ok(None),
            },
        };
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
        Ok(Some((header, n)))
    }
}
