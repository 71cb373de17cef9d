//! Windows shared-memory sessions: a page-file-backed mapping with a
//! 128-byte header, plus two auto-reset events for SHM_HYBRID (none for
//! SHM_BUSYWAIT). Spin first; then sleep on the event (HYBRID) or keep
//! spinning with yields (BUSYWAIT). Publishers signal the event only when
//! the peer announced that it waits.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    ERROR_ALREADY_EXISTS, HANDLE, INVALID_HANDLE_VALUE, WAIT_OBJECT_0,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_ALL_ACCESS, OpenFileMappingW, PAGE_READWRITE,
};
use windows_sys::Win32::System::Threading::SwitchToThread;

use super::event::NamedEvent;
use super::layout::*;
use super::view::View;
use super::watch::ShmWatch;
use crate::error::{Error, Result};
use crate::transport::ShmAttachError;
use crate::transport::framing::{LimitExceeded, ProtocolError};
use crate::transport::names::windows_shm_names;
use crate::transport::shm::ShmKey;
use crate::transport::spin::SpinPolicy;
use crate::transport::sys::windows::Interrupt;
use crate::transport::sys::windows::overlapped::{wait_any, wait_ms};
use crate::transport::sys::windows::security::{Objects, OwnerOnly};
use crate::transport::sys::windows::util::{last_error, os_error, owned, wide};
use crate::wire::Profiles;

/// BUSYWAIT yields the thread once every 1024 polls...
const BUSY_YIELD_MASK: u32 = 1023;
/// ...and checks interrupts, the deadline and the peer every 256.
const BUSY_CHECK_EVERY: u32 = 256;
/// Longest single sleep: interrupts and peer liveness are checked at least
/// this often.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// One mapped session region, from one side's point of view.
#[derive(Debug)]
pub(crate) struct ShmRegion {
    /// Shared with the wait groups watching this region (a multi-session
    /// server), so a region being closed stays mapped until they let go.
    view: Arc<View>,
    profile: u32,
    spin_tries: u32,
    /// How a worker polls before handing the session to a wait group.
    spin: SpinPolicy,
    tx: Lane,
    tx_seq: i64,
    rx: Lane,
    rx_seq: i64,
    /// HYBRID: (event this side signals, event this side waits on). The
    /// second is shared with wait groups.
    events: Option<(NamedEvent, Arc<NamedEvent>)>,
}

impl ShmRegion {
    /// Creates the object set of one profile (server side).
    pub(crate) fn create(
        key: &ShmKey<'_>,
        profile: u32,
        max_request_payload: u32,
        max_response_payload: u32,
        security: &OwnerOnly,
    ) -> Result<Self> {
        let names = windows_shm_names(
            key.run_dir,
            key.service,
            key.auth_token,
            profile,
            key.session_id,
        )?;
        let too_big = || {
            Error::io(
                "sizing the shared memory region",
                std::io::ErrorKind::InvalidInput.into(),
            )
        };
        let header = crate::wire::HEADER_LEN as u64;
        let rq = align64(header + u64::from(max_request_payload)).ok_or_else(too_big)? as usize;
        let rs = align64(header + u64::from(max_response_payload)).ok_or_else(too_big)? as usize;
        let size = HEADER_LEN + rq + rs;
        u32::try_from(size).map_err(|_| too_big())?;
        let attributes = security.attributes();
        let wname = wide(&names.mapping);
        // SAFETY: a page-file-backed, committed mapping of `size` bytes;
        // attributes and name outlive the call; the result is checked.
        let h = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                &attributes,
                PAGE_READWRITE,
                0,
                size as u32,
                wname.as_ptr(),
            )
        };
        let exists = last_error() == ERROR_ALREADY_EXISTS;
        let mapping = owned(h, "creating the shared memory mapping")?;
        if exists {
            return Err(Error::AddressInUse {
                endpoint: names.mapping,
                pid: None,
            });
        }
        let view = Arc::new(
            View::map(mapping).map_err(|e| Error::io("mapping the shared memory region", e))?,
        );
        let fields: [(usize, u32); 9] = [
            (OFF_MAGIC, MAGIC),
            (OFF_VERSION, VERSION),
            (OFF_HEADER_LEN, HEADER_LEN as u32),
            (OFF_PROFILE, profile),
            (OFF_REQ_OFFSET, HEADER_LEN as u32),
            (OFF_REQ_CAPACITY, rq as u32),
            (OFF_RESP_OFFSET, (HEADER_LEN + rq) as u32),
            (OFF_RESP_CAPACITY, rs as u32),
            (OFF_SPIN_TRIES, SERVER_SPIN_TRIES),
        ];
        for (at, v) in fields {
            view.write(at, &v.to_ne_bytes());
        }
        std::sync::atomic::fence(Ordering::SeqCst);
        let events = match (names.req_event, names.resp_event) {
            (Some(req), Some(resp)) => {
                let req = NamedEvent::create(&req, security)?;
                let resp = NamedEvent::create(&resp, security)?;
                // The server signals responses and waits on requests.
                Some((resp, Arc::new(req)))
            }
            _ => None,
        };
        Ok(Self {
            view,
            profile,
            spin_tries: SERVER_SPIN_TRIES,
            spin: SpinPolicy::for_requests(),
            tx: response_lane(HEADER_LEN + rq, rs),
            tx_seq: 0,
            rx: request_lane(HEADER_LEN, rq),
            rx_seq: 0,
            events,
        })
    }

    /// Opens and validates the object set of `profile` (client side).
    pub(crate) fn attach(key: &ShmKey<'_>, profile: u32) -> Result<Self, ShmAttachError> {
        let names = windows_shm_names(
            key.run_dir,
            key.service,
            key.auth_token,
            profile,
            key.session_id,
        )
        .map_err(|e| ShmAttachError::Open(std::io::Error::other(e)))?;
        let wname = wide(&names.mapping);
        // SAFETY: a NUL-terminated name; the result is checked.
        let h = unsafe { OpenFileMappingW(FILE_MAP_ALL_ACCESS, 0, wname.as_ptr()) };
        let mapping = owned(h, "opening the shared memory mapping")
            .map_err(|_| ShmAttachError::Open(os_error(last_error())))?;
        let view = Arc::new(View::map(mapping).map_err(ShmAttachError::Map)?);
        std::sync::atomic::fence(Ordering::SeqCst);
        let (request, response) = validate(&view, profile)?;
        let spin_tries = u32_field(&view, OFF_SPIN_TRIES);
        let events = match (names.req_event, names.resp_event) {
            (Some(req), Some(resp)) => {
                Some((NamedEvent::open(&req)?, Arc::new(NamedEvent::open(&resp)?)))
            }
            _ => None,
        };
        Ok(Self {
            tx_seq: view.i64_at(request.seq).load(Ordering::SeqCst),
            rx_seq: view.i64_at(response.seq).load(Ordering::SeqCst),
            view,
            profile,
            spin_tries,
            spin: SpinPolicy::for_answers(),
            tx: request,
            rx: response,
            events,
        })
    }

    pub(crate) fn recv_capacity(&self) -> usize {
        self.rx.capacity
    }

    /// HYBRID sleeps on an event after spinning; BUSYWAIT never sleeps.
    pub(crate) fn sleeps(&self) -> bool {
        self.events.is_some()
    }

    /// The Windows protocol signals the event only for a waiting peer.
    pub(crate) fn wakes_on_demand(&self) -> bool {
        true
    }

    /// The Windows protocol already wakes only a waiting peer; no netipc
    /// extension applies.
    pub(crate) fn set_extensions(&mut self, _extensions: u32) {}

    /// Publishes one message: copy, length, sequence (the publication
    /// point), then the event if the peer waits on it.
    pub(crate) fn publish(&mut self, parts: &[&[u8]]) -> Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total == 0 || total > self.tx.capacity || total > i32::MAX as usize {
            return Err(Error::LimitExceeded(LimitExceeded::Payload {
                len: u32::try_from(total).unwrap_or(u32::MAX),
                limit: u32::try_from(self.tx.capacity).unwrap_or(u32::MAX),
            }));
        }
        let mut at = self.tx.area;
        for part in parts {
            self.view.write(at, part);
            at += part.len();
        }
        self.view
            .i32_at(self.tx.len)
            .swap(total as i32, Ordering::SeqCst);
        self.view.i64_at(self.tx.seq).fetch_add(1, Ordering::SeqCst);
        if let Some((signal, _)) = &self.events {
            if self
                .view
                .i32_at(self.tx.reader_waiting)
                .load(Ordering::SeqCst)
                != 0
            {
                signal.set();
            }
        }
        self.tx_seq += 1;
        Ok(())
    }

    /// One observation: the message's length if it was published and
    /// copied consistently.
    fn observe(&self, expected: i64, buf: &mut [u8]) -> Result<Option<usize>> {
        let seq = self.view.i64_at(self.rx.seq);
        if seq.load(Ordering::Acquire) < expected {
            return Ok(None);
        }
        let len_field = self.view.i32_at(self.rx.len);
        let len = len_field.load(Ordering::Acquire);
        if len < 0 {
            return Err(ProtocolError::ShmCorrupt("negative published length").into());
        }
        let len = len as usize;
        let max = buf.len().min(self.rx.capacity);
        if len > 0 && len <= max {
            self.view.read(self.rx.area, &mut buf[..len]);
            if len_field.load(Ordering::Acquire) as usize != len
                || seq.load(Ordering::Acquire) != expected
            {
                return Err(ProtocolError::ShmCorrupt(
                    "the writer changed the message during the copy",
                )
                .into());
            }
        }
        Ok(Some(len))
    }

    /// Waits for the next message and copies it into `buf`: spins, then
    /// sleeps on the event (HYBRID) or keeps polling with an occasional
    /// yield (BUSYWAIT). Interrupts, the deadline, the peer's close flag and
    /// `peer_alive` are checked at every check point.
    pub(crate) fn receive(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
        mut peer_alive: impl FnMut() -> bool,
    ) -> Result<usize> {
        let expected = self.rx_seq + 1;
        let mut polls = 0u32;
        let len = loop {
            if let Some(len) = self.observe(expected, buf)? {
                break len;
            }
            polls = polls.wrapping_add(1);
            let busy_wait = self.events.is_none();
            if polls <= self.spin_tries || (busy_wait && polls % BUSY_CHECK_EVERY != 0) {
                std::hint::spin_loop();
                continue;
            }
            if interrupt.is_some_and(Interrupt::is_raised) {
                return Err(Error::Interrupted);
            }
            let slice = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(WAIT_SLICE),
                    _ => return Err(Error::Timeout { limit: None }),
                },
                None => WAIT_SLICE,
            };
            match &self.events {
                Some((_, wait_on)) => {
                    if let Some(len) = self.sleep(expected, buf, wait_on.raw(), slice, interrupt)? {
                        break len;
                    }
                }
                None if polls & BUSY_YIELD_MASK == 0 => {
                    // SAFETY: no preconditions.
                    unsafe { SwitchToThread() };
                }
                None => {}
            }
            if self.peer_closed() || !peer_alive() {
                if let Some(len) = self.observe(expected, buf)? {
                    break len;
                }
                self.rx_seq = expected;
                return Err(Error::Disconnected);
            }
        };
        self.consume(expected, len, buf.len())
    }

    /// Consumes message `expected` of `len` bytes (observed into a buffer
    /// of `room` bytes) and checks its length.
    fn consume(&mut self, expected: i64, len: usize, room: usize) -> Result<usize> {
        self.rx_seq = expected;
        let max = room.min(self.rx.capacity);
        if len == 0 {
            return Err(ProtocolError::ShmEmptyMessage.into());
        }
        if len > max {
            return Err(ProtocolError::ShmMessageTooLarge { len, capacity: max }.into());
        }
        Ok(len)
    }

    /// Whether the next message has been published.
    pub(crate) fn arrived(&self) -> bool {
        self.view.i64_at(self.rx.seq).load(Ordering::Acquire) > self.rx_seq
    }

    /// Whether the peer marked its side closed.
    fn peer_closed(&self) -> bool {
        self.view
            .i32_at(self.rx.writer_closed)
            .load(Ordering::SeqCst)
            != 0
    }

    /// Copies the next message into `buf` if it has arrived (`None`
    /// otherwise), without waiting. `Disconnected` once the peer closed
    /// its side and no message is left.
    pub(crate) fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        let expected = self.rx_seq + 1;
        let len = match self.observe(expected, buf)? {
            Some(len) => len,
            None if self.peer_closed() => match self.observe(expected, buf)? {
                Some(len) => len,
                None => {
                    self.rx_seq = expected;
                    return Err(Error::Disconnected);
                }
            },
            None => return Ok(None),
        };
        self.consume(expected, len, buf.len()).map(Some)
    }

    /// Polls for the next message as a multi-session server's worker does
    /// before it hands the session to a wait group (see
    /// [`spin`](crate::transport::spin): only briefly while this side's
    /// messages come late), without sleeping; stops early when `keep_going`
    /// turns false. Returns whether the message arrived (or the peer
    /// closed its side, which the next receive reports).
    pub(crate) fn spin_for_message(&mut self, mut keep_going: impl FnMut() -> bool) -> bool {
        let seq = self.view.i64_at(self.rx.seq);
        let expected = self.rx_seq + 1;
        let writer_closed = self.view.i32_at(self.rx.writer_closed);
        let ready =
            || seq.load(Ordering::Acquire) >= expected || writer_closed.load(Ordering::SeqCst) != 0;
        let mut spin = self.spin.spin();
        while !ready() {
            if !keep_going() {
                return ready();
            }
            if !spin.again() {
                let caught = ready();
                self.spin.record(&spin, caught);
                return caught;
            }
        }
        self.spin.record(&spin, true);
        true
    }

    /// A handle that lets a wait group sleep until the next message of
    /// this region arrives (or the peer closes its side). Valid until this
    /// side receives again.
    pub(crate) fn watch(&self) -> ShmWatch {
        ShmWatch::new(
            self.view.clone(),
            self.rx,
            self.rx_seq + 1,
            self.events.as_ref().map(|(_, wait_on)| wait_on.clone()),
        )
    }

    /// HYBRID: announces the wait, re-checks, sleeps on the event for at
    /// most `slice`, and clears the announcement.
    fn sleep(
        &self,
        expected: i64,
        buf: &mut [u8],
        event: HANDLE,
        slice: Duration,
        interrupt: Option<&Interrupt>,
    ) -> Result<Option<usize>> {
        let waiting = self.view.i32_at(self.rx.reader_waiting);
        waiting.swap(1, Ordering::SeqCst);
        let result = match self.observe(expected, buf) {
            Ok(None) => {
                let mut handles = [event, std::ptr::null_mut()];
                let n = match interrupt {
                    Some(i) => {
                        handles[1] = i.event();
                        2
                    }
                    None => 1,
                };
                let r = wait_any(&handles[..n], wait_ms(Some(Instant::now() + slice)));
                if r == WAIT_OBJECT_0 {
                    self.observe(expected, buf)
                } else {
                    Ok(None)
                }
            }
            other => other,
        };
        waiting.swap(0, Ordering::SeqCst);
        result
    }

    /// Marks this side closed and wakes the peer so it notices at once.
    fn close(&self) {
        // The server closes the response direction, the client the request
        // direction: each marks the lane it writes.
        self.view
            .i32_at(self.tx.writer_closed)
            .swap(1, Ordering::SeqCst);
        if let Some((signal, _)) = &self.events {
            signal.set();
        }
    }

    /// The profile this object set was made for.
    pub(crate) fn profile(&self) -> u32 {
        self.profile
    }
}

impl Drop for ShmRegion {
    fn drop(&mut self) {
        self.close();
    }
}

/// The object sets a server creates for one handshake once it accepted the
/// client: one per SHM profile asked for (the server asks for the selected
/// one only; the `-p2-` / `-p4-` name part keeps them apart).
#[derive(Debug)]
pub(crate) struct ShmOffer {
    sets: Vec<ShmRegion>,
}

impl ShmOffer {
    pub(crate) fn provision(
        key: &ShmKey<'_>,
        profiles: u32,
        max_request: u32,
        max_response: u32,
    ) -> Self {
        let Ok(security) = OwnerOnly::for_access(&key.access, Objects::Shm) else {
            return Self { sets: Vec::new() };
        };
        let sets = [Profiles::SHM_HYBRID.bits(), Profiles::SHM_ALT.bits()]
            .into_iter()
            .filter(|p| profiles & p != 0)
            .filter_map(|p| {
                crate::transport::shm::count_provision();
                ShmRegion::create(key, p, max_request, max_response, &security).ok()
            })
            .collect();
        Self { sets }
    }

    /// Keeps the set of the selected profile; the others are destroyed.
    pub(crate) fn take(self, selected: u32) -> Option<ShmRegion> {
        self.sets.into_iter().find(|s| s.profile() == selected)
    }
}
