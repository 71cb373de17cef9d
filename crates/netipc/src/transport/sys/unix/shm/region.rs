//! Region lifecycle (create, attach, destroy) and the data path (publish,
//! consume with spin then futex wait).
//!
//! Another process may truncate the region file at any moment (see
//! [`fault_guard`](super::fault_guard)): an access past the new end then
//! reads zeros and marks the mapping lost, and a file truncated and grown
//! back reads zeros where the header magic was. Both are checked at the
//! points where a wrong value could be used or a wait could last: after a
//! message is copied out, after one is published, when a wait leaves its
//! spinning phase and whenever its futex sleep returns, and before a
//! departed peer is reported. The session then ends with
//! [`Error::ShmRegionLost`], naming the file.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use rustix::fs::{
    AtFlags, CWD, FallocateFlags, FileType, Mode, OFlags, fallocate, fstat, openat, statat,
    unlinkat,
};
use rustix::io::Errno;
use rustix::thread::futex;

use super::super::run_dir::{euid, kind_of};
use super::layout::*;
use super::mapping::Mapping;
use super::stale::{self, Verdict};
use super::watch::ShmWatch;
use crate::error::{Error, Result};
use crate::transport::ShmAttachError;
use crate::transport::framing::ProtocolError;
use crate::transport::names::shm_region_file_name;
use crate::transport::shm::ShmKey;
use crate::transport::spin::SpinPolicy;
use crate::transport::sys::Interrupt;

/// Longest single futex sleep: waits are sliced so that interrupts and
/// peer liveness are checked at least this often.
const WAIT_SLICE: Duration = Duration::from_millis(50);

fn open_dir(run_dir: &str) -> std::io::Result<OwnedFd> {
    Ok(openat(
        CWD,
        run_dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// One mapped session region, from the point of view of one side.
#[derive(Debug)]
pub(crate) struct ShmRegion {
    /// Path of the region file, for errors.
    path: Box<str>,
    /// Shared with the wait groups watching this region (a multi-session
    /// server), so a region being closed stays mapped until they let go.
    map: Arc<Mapping>,
    /// Lane this side publishes into, and the local count of publications.
    tx: Lane,
    tx_seq: u64,
    /// Lane this side consumes from, and the count consumed so far.
    rx: Lane,
    rx_seq: u64,
    /// Set on the creating (server) side: the file to remove on drop.
    owned: Option<Owned>,
    /// How this side polls before it sleeps, adapted to its peer.
    spin: SpinPolicy,
    /// Both peers are netipc and agreed on
    /// [`SHM_WAKE_ON_DEMAND`](crate::wire::extension::SHM_WAKE_ON_DEMAND):
    /// the signal word is a "consumer sleeps" flag instead of a counter.
    wake_on_demand: bool,
}

#[derive(Debug)]
struct Owned {
    dir: OwnedFd,
    name: String,
    node: (u64, u64),
}

impl ShmRegion {
    /// Creates the region of session `session_id` (server side), sized for
    /// the given payload maxima. The whole file is reserved up front, so a
    /// full filesystem fails here and never later with SIGBUS. A file
    /// truncated by another process while it is being set up is
    /// `ShmRegionLost` (and removed).
    pub(crate) fn create(
        key: &ShmKey<'_>,
        max_request_payload: u32,
        max_response_payload: u32,
    ) -> Result<Self> {
        let name = shm_region_file_name(key.service, key.session_id)?;
        let path = region_path(key.run_dir, &name);
        let too_big = || {
            Error::io(
                "sizing the shared memory region",
                std::io::ErrorKind::InvalidInput.into(),
            )
        };
        let rq = capacity_for(max_request_payload).ok_or_else(too_big)? as usize;
        let rs = capacity_for(max_response_payload).ok_or_else(too_big)? as usize;
        let size = HEADER_LEN + rq + rs;
        u32::try_from(HEADER_LEN + rq).map_err(|_| too_big())?;
        let dir = open_dir(key.run_dir).map_err(|e| Error::io("opening the run directory", e))?;
        let fd = create_exclusive(&dir, key.run_dir, &name)?;
        let owned = Owned {
            node: fstat(&fd)
                .map(|st| (st.st_dev, st.st_ino))
                .map_err(|e| Error::io("inspecting the region file", e.into()))?,
            dir,
            name,
        };
        // From here on, dropping `owned` (via the region or on error) removes
        // the file.
        let guard = OwnedGuard(Some(owned));
        crate::transport::sys::unix::identity::apply_access_fd(&fd, &key.access)?;
        loop {
            match fallocate(&fd, FallocateFlags::empty(), 0, size as u64) {
                Ok(()) => break,
                Err(Errno::INTR) => {}
                Err(e) => {
                    return Err(Error::io(
                        "reserving space for the shared memory region",
                        e.into(),
                    ));
                }
            }
        }
        let map = Arc::new(
            Mapping::map(&fd, size)
                .map_err(|e| Error::io("mapping the shared memory region", e))?,
        );
        // The mapping keeps the file alive; the descriptor is not needed.
        drop(fd);
        map.u32_at(OFF_MAGIC).store(MAGIC, Ordering::Relaxed);
        map.write(OFF_VERSION, &VERSION.to_ne_bytes());
        map.write(OFF_HEADER_LEN, &(HEADER_LEN as u16).to_ne_bytes());
        map.u32_at(OFF_OWNER_PID)
            .store(std::process::id(), Ordering::Relaxed);
        map.u32_at(OFF_OWNER_GEN)
            .store(owner_generation(), Ordering::Relaxed);
        map.u32_at(OFF_REQ_OFFSET)
            .store(HEADER_LEN as u32, Ordering::Relaxed);
        map.u32_at(OFF_REQ_CAPACITY)
            .store(rq as u32, Ordering::Relaxed);
        map.u32_at(OFF_RESP_OFFSET)
            .store((HEADER_LEN + rq) as u32, Ordering::Relaxed);
        map.u32_at(OFF_RESP_CAPACITY)
            .store(rs as u32, Ordering::Relaxed);
        fence(Ordering::Release);
        map.probe();
        if map.is_lost() {
            // Truncated by another process before the session began.
            return Err(Error::ShmRegionLost {
                region: path.into(),
            });
        }
        Ok(Self {
            path,
            map,
            tx: Lane::response(HEADER_LEN + rq, rs),
            tx_seq: 0,
            rx: Lane::request(HEADER_LEN, rq),
            rx_seq: 0,
            owned: guard.take_owned(),
            wake_on_demand: false,
            spin: SpinPolicy::for_requests(),
        })
    }

    /// Attaches the region of the session (client side) and validates its
    /// header. Both SHM profile bits use the same region on Linux.
    pub(crate) fn attach(key: &ShmKey<'_>, _profile: u32) -> Result<Self, ShmAttachError> {
        Self::attach_with(key, |_| {})
    }

    /// [`attach`](Self::attach), calling `mapped` with the file's path
    /// between mapping it and validating it (a test hook).
    pub(super) fn attach_with(
        key: &ShmKey<'_>,
        mapped: impl FnOnce(&str),
    ) -> Result<Self, ShmAttachError> {
        let name = shm_region_file_name(key.service, key.session_id)
            .map_err(|e| ShmAttachError::Open(std::io::Error::other(e)))?;
        let path = region_path(key.run_dir, &name);
        let dir = open_dir(key.run_dir).map_err(ShmAttachError::Open)?;
        let fd = open_region(&dir, key, &name)?;
        let size = fstat(&fd)
            .map_err(|e| ShmAttachError::Map(e.into()))?
            .st_size as u64;
        if size < HEADER_LEN as u64 {
            return Err(ShmAttachError::NotReady);
        }
        // Map only what the header says the lanes span, never the whole
        // file: a file inflated by another process must not make this side
        // map (and, were it truncated, replace) more than the session uses.
        let extent = {
            let head = Mapping::map(&fd, HEADER_LEN).map_err(ShmAttachError::Map)?;
            let lanes = validate(&head, size);
            if head.is_lost() {
                return Err(ShmAttachError::Lost(path.into()));
            }
            let (tx, rx) = lanes?;
            tx.end().max(rx.end())
        };
        let map = Arc::new(Mapping::map(&fd, extent).map_err(ShmAttachError::Map)?);
        drop(fd);
        mapped(&path);
        fence(Ordering::Acquire);
        // Validated again on the mapping itself: the header may have
        // changed since, and the lanes must fit what was mapped.
        let validated = validate(&map, map.len() as u64);
        let seqs = validated.as_ref().ok().map(|(tx, rx)| {
            (
                map.u64_at(tx.seq).load(Ordering::Acquire),
                map.u64_at(rx.seq).load(Ordering::Acquire),
            )
        });
        // The whole file must still be there: a truncate since the size
        // was read faults here at the latest, and wins over what the
        // validation made of the zeros it read.
        map.probe();
        if map.is_lost() {
            return Err(ShmAttachError::Lost(path.into()));
        }
        let (tx, rx) = validated?;
        let (tx_seq, rx_seq) = seqs.unwrap_or_default();
        Ok(Self {
            path,
            map,
            tx,
            tx_seq,
            rx,
            rx_seq,
            owned: None,
            wake_on_demand: false,
            spin: SpinPolicy::for_answers(),
        })
    }

    /// Whether the region is still the one the session began with: the
    /// mapping was not lost to a truncate, and the header magic was not
    /// zeroed by a truncate and regrow. Two relaxed loads (the flag, and
    /// the header's cache line, which every message touches anyway).
    #[inline]
    fn intact(&self) -> bool {
        intact(&self.map)
    }

    /// The error that ends a session whose region is not
    /// [intact](Self::intact).
    #[cold]
    fn lost(&self) -> Error {
        if self.owned.is_some() {
            tracing::warn!(
                region = &*self.path,
                "a shared memory region was truncated or replaced by another process; its session ends"
            );
        }
        Error::ShmRegionLost {
            region: self.path.to_string(),
        }
    }

    /// A waiting side always sleeps on the futex after spinning.
    pub(crate) fn sleeps(&self) -> bool {
        true
    }

    /// Whether the publisher wakes only a sleeping consumer.
    pub(crate) fn wakes_on_demand(&self) -> bool {
        self.wake_on_demand
    }

    /// Applies the netipc extensions both peers agreed on. Must be called
    /// before the first message.
    pub(crate) fn set_extensions(&mut self, extensions: u32) {
        self.wake_on_demand = extensions & crate::wire::extension::SHM_WAKE_ON_DEMAND != 0;
    }

    /// Capacity of the area this side consumes from.
    pub(crate) fn recv_capacity(&self) -> usize {
        self.rx.capacity
    }

    /// Publishes one message made of `parts` (header and payload): copy,
    /// length, sequence (the publication point), signal, futex wake.
    pub(crate) fn publish(&mut self, parts: &[&[u8]]) -> Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total == 0 || total > self.tx.capacity {
            return Err(Error::LimitExceeded(
                crate::transport::framing::LimitExceeded::Payload {
                    len: u32::try_from(total).unwrap_or(u32::MAX),
                    limit: u32::try_from(self.tx.capacity).unwrap_or(u32::MAX),
                },
            ));
        }
        let mut at = self.tx.area;
        for part in parts {
            self.map.write(at, part);
            at += part.len();
        }
        // `total` is at most the capacity, which fits a u32.
        self.map
            .u32_at(self.tx.len)
            .store(total as u32, Ordering::Release);
        let signal = self.map.u32_at(self.tx.signal);
        if self.wake_on_demand {
            // Publish, then look for a sleeping consumer; the consumer does
            // the mirror image (announce, then look for a message). Both
            // sequentially consistent: at least one of them sees the other.
            self.map.u64_at(self.tx.seq).fetch_add(1, Ordering::SeqCst);
            if signal.load(Ordering::SeqCst) != 0 && signal.swap(0, Ordering::SeqCst) != 0 {
                let _ = futex::wake(signal, futex::Flags::empty(), 1);
            }
        } else {
            self.map.u64_at(self.tx.seq).fetch_add(1, Ordering::Release);
            signal.fetch_add(1, Ordering::Release);
            let _ = futex::wake(signal, futex::Flags::empty(), 1);
        }
        self.tx_seq += 1;
        if !self.intact() {
            // The message went into memory the peer does not see.
            return Err(self.lost());
        }
        Ok(())
    }

    /// Whether the next message has been published.
    pub(crate) fn arrived(&self) -> bool {
        self.map.u64_at(self.rx.seq).load(Ordering::Acquire) > self.rx_seq
    }

    /// Copies the next message, which has arrived, into `buf` and consumes
    /// it; returns its length.
    fn take(&mut self, buf: &mut [u8]) -> Result<usize> {
        let seq = self.map.u64_at(self.rx.seq);
        let len = self.map.u32_at(self.rx.len).load(Ordering::Acquire) as usize;
        self.rx_seq += 1;
        let max = buf.len().min(self.rx.capacity);
        let taken = if seq.load(Ordering::Acquire) != self.rx_seq {
            // One message in flight per direction: the sequence grows by
            // exactly one per message. A peer that skips ahead would make
            // this side answer the same bytes again and again.
            Err(ProtocolError::ShmCorrupt("the peer's sequence number skipped messages").into())
        } else if len == 0 {
            Err(ProtocolError::ShmEmptyMessage.into())
        } else if len > max {
            Err(ProtocolError::ShmMessageTooLarge { len, capacity: max }.into())
        } else {
            self.map.read(self.rx.area, &mut buf[..len]);
            Ok(len)
        };
        // After the copy: bytes read from a lost mapping are zeros, not the
        // message, and a bad length may be one of them.
        if !self.intact() {
            return Err(self.lost());
        }
        taken
    }

    /// Copies the next message into `buf` if it has arrived (`None`
    /// otherwise), without waiting.
    pub(crate) fn try_receive(&mut self, buf: &mut [u8]) -> Result<Option<usize>> {
        if !self.arrived() {
            if !self.intact() {
                return Err(self.lost());
            }
            return Ok(None);
        }
        self.take(buf).map(Some)
    }

    /// Polls for the next message as a waiter of this side does before it
    /// sleeps (see [`spin`](crate::transport::spin): only briefly while
    /// this side's messages come late), without sleeping; stops early when
    /// `keep_going` turns false. Returns whether the message arrived.
    pub(crate) fn spin_for_message(&mut self, mut keep_going: impl FnMut() -> bool) -> bool {
        let mut spin = self.spin.spin();
        // No loss check in the loop: the spin is short, and the receive
        // that follows reports a lost region.
        while !self.arrived() {
            if !keep_going() {
                return self.arrived();
            }
            if !spin.again() {
                let caught = self.arrived();
                self.spin.record(&spin, caught);
                return caught;
            }
        }
        self.spin.record(&spin, true);
        true
    }

    /// A handle that lets a wait group sleep until the next message of
    /// this region arrives. Valid until this side receives again.
    pub(crate) fn watch(&self) -> ShmWatch {
        ShmWatch::new(
            self.map.clone(),
            self.rx.seq,
            self.rx.signal,
            self.rx_seq + 1,
            self.wake_on_demand,
        )
    }

    /// Waits for the next message and copies it into `buf` (which must hold
    /// the receive capacity); returns its length. Spins briefly, then sleeps
    /// on the futex in slices, checking `interrupt`, the deadline and
    /// `peer_alive` between slices.
    pub(crate) fn receive(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        interrupt: Option<&Interrupt>,
        mut peer_alive: impl FnMut() -> bool,
    ) -> Result<usize> {
        let expected = self.rx_seq + 1;
        let seq = self.map.u64_at(self.rx.seq);
        let signal = self.map.u32_at(self.rx.signal);
        let arrived = || seq.load(Ordering::Acquire) >= expected;
        let mut spin = self.spin.spin();
        let mut caught = true;
        while !arrived() {
            if spin.again() {
                continue;
            }
            caught = false;
            // Sample (or set) the signal before re-checking the sequence: a
            // publication in between changes the signal, so the futex wait
            // returns at once and no wake-up is lost.
            let v = if self.wake_on_demand {
                signal.swap(1, Ordering::SeqCst);
                1
            } else {
                signal.load(Ordering::Acquire)
            };
            if seq.load(Ordering::SeqCst) >= expected {
                if self.wake_on_demand {
                    signal.store(0, Ordering::Relaxed);
                }
                break;
            }
            if !self.intact() {
                return Err(self.lost());
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
            let ts = futex::Timespec {
                tv_sec: slice.as_secs() as i64,
                tv_nsec: i64::from(slice.subsec_nanos()),
            };
            match futex::wait(signal, futex::Flags::empty(), v, Some(&ts)) {
                Err(Errno::TIMEDOUT) if !arrived() => {
                    // A slice without news: is the file still whole (the
                    // peer may have lost its side of it and left), and is
                    // the peer still there?
                    self.map.probe();
                    if !self.intact() {
                        return Err(self.lost());
                    }
                    if !peer_alive() {
                        return Err(Error::Disconnected);
                    }
                }
                // Woken, or EFAULT: the word's page is gone from the file,
                // and the next access to it faults and marks the mapping
                // lost (checked above).
                _ => {}
            }
        }
        self.spin.record(&spin, caught);
        self.take(buf)
    }
}

/// Whether `map` still holds the region the session began with (see
/// [`ShmRegion::intact`]).
#[inline]
pub(super) fn intact(map: &Mapping) -> bool {
    !map.is_lost() && map.u32_at(OFF_MAGIC).load(Ordering::Relaxed) == MAGIC
}

/// `run_dir/name`, for messages.
fn region_path(run_dir: &str, name: &str) -> Box<str> {
    std::path::Path::new(run_dir)
        .join(name)
        .to_string_lossy()
        .into()
}

/// Validates an attached header against a region of `len` bytes and
/// returns (request lane, response lane).
fn validate(map: &Mapping, len: u64) -> Result<(Lane, Lane), ShmAttachError> {
    let u32_at = |at| map.u32_at(at).load(Ordering::Relaxed);
    if u32_at(OFF_MAGIC) != MAGIC {
        return Err(ShmAttachError::BadMagic);
    }
    let u16_at = |at| {
        let mut b = [0u8; 2];
        map.read(at, &mut b);
        u16::from_ne_bytes(b)
    };
    let version = u16_at(OFF_VERSION);
    if version != VERSION {
        return Err(ShmAttachError::BadVersion(version.into()));
    }
    if usize::from(u16_at(OFF_HEADER_LEN)) != HEADER_LEN {
        return Err(ShmAttachError::BadHeader("header_len is not 64"));
    }
    let (rq_off, rq_cap) = (
        u32_at(OFF_REQ_OFFSET) as u64,
        u32_at(OFF_REQ_CAPACITY) as u64,
    );
    let (rs_off, rs_cap) = (
        u32_at(OFF_RESP_OFFSET) as u64,
        u32_at(OFF_RESP_CAPACITY) as u64,
    );
    if rq_off < HEADER_LEN as u64 || rq_cap == 0 || rs_off < HEADER_LEN as u64 || rs_cap == 0 {
        return Err(ShmAttachError::NotReady);
    }
    let aligned = |v: u64| v % AREA_ALIGN as u64 == 0;
    let rq_end = rq_off + rq_cap;
    if rq_end > u64::from(u32::MAX)
        || ![rq_off, rq_cap, rs_off, rs_cap].into_iter().all(aligned)
        || rs_off < rq_end
    {
        return Err(ShmAttachError::BadSize);
    }
    if len < rq_end.max(rs_off + rs_cap) {
        return Err(ShmAttachError::BadSize);
    }
    Ok((
        Lane::request(rq_off as usize, rq_cap as usize),
        Lane::response(rs_off as usize, rs_cap as usize),
    ))
}

/// Opens the region file of the session (client side) without following
/// a link, and accepts it only as a regular file of the provider's user
/// (the connection's peer; this user or root when that is unknown).
fn open_region(dir: &OwnedFd, key: &ShmKey<'_>, name: &str) -> Result<OwnedFd, ShmAttachError> {
    let path = || format!("{}/{name}", key.run_dir);
    let unexpected = |st: &rustix::fs::Stat, expected: u32| ShmAttachError::Foreign {
        path: path(),
        kind: kind_of(st),
        owner: st.st_uid,
        expected,
    };
    let me = euid();
    let expected = key.owner.unwrap_or(me);
    let fd = match openat(
        dir,
        name,
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e @ (Errno::LOOP | Errno::NXIO | Errno::ISDIR)) => {
            return Err(match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => unexpected(&st, expected),
                Err(_) => ShmAttachError::Open(e.into()),
            });
        }
        Err(e) => return Err(ShmAttachError::Open(e.into())),
    };
    let st = fstat(&fd).map_err(|e| ShmAttachError::Map(e.into()))?;
    let owner_ok = match key.owner {
        Some(uid) => st.st_uid == uid,
        None => st.st_uid == me || st.st_uid == 0,
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || !owner_ok {
        return Err(unexpected(&st, expected));
    }
    Ok(fd)
}

/// Opens `name` exclusively (never through a link: `O_EXCL` refuses any
/// existing entry); on EEXIST removes a stale region once and retries,
/// refusing a live one and an entry of another user.
fn create_exclusive(dir: &OwnedFd, run_dir: &str, name: &str) -> Result<OwnedFd> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let mode = Mode::RUSR | Mode::WUSR;
    match openat(dir, name, flags, mode) {
        Ok(fd) => return Ok(fd),
        Err(Errno::EXIST) => {}
        Err(e) => return Err(Error::io("creating the shared memory region", e.into())),
    }
    let endpoint = || format!("{run_dir}/{name}");
    match stale::check(dir, run_dir, name) {
        Verdict::Gone => {}
        Verdict::InUse(pid) => {
            return Err(Error::AddressInUse {
                endpoint: endpoint(),
                pid,
            });
        }
        Verdict::Foreign { kind, owner, mode } => {
            return Err(Error::ForeignEntry {
                path: endpoint(),
                kind,
                owner,
                mode,
            });
        }
    }
    match openat(dir, name, flags, mode) {
        Ok(fd) => Ok(fd),
        Err(Errno::EXIST) => Err(Error::AddressInUse {
            endpoint: endpoint(),
            pid: None,
        }),
        Err(e) => Err(Error::io("creating the shared memory region", e.into())),
    }
}

/// Removes the region file on drop unless disarmed.
struct OwnedGuard(Option<Owned>);

impl OwnedGuard {
    fn take_owned(mut self) -> Option<Owned> {
        self.0.take()
    }
}

impl Drop for OwnedGuard {
    fn drop(&mut self) {
        if let Some(owned) = self.0.take() {
            owned.remove();
        }
    }
}

impl Owned {
    fn remove(&self) {
        if statat(&self.dir, self.name.as_str(), AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|st| (st.st_dev, st.st_ino) == self.node)
        {
            let _ = unlinkat(&self.dir, self.name.as_str(), AtFlags::empty());
        }
    }
}

impl Drop for ShmRegion {
    fn drop(&mut self) {
        if let Some(owned) = self.owned.take() {
            owned.remove();
        }
    }
}

/// Removes stale regions of `service` in `run_dir` (entries named
/// `<service>-<16 hex digits>.ipcshm` whose owner is gone). Live regions
/// are kept and errors are ignored.
pub(crate) fn cleanup_stale(run_dir: &str, service: &str) {
    let Ok(dir) = open_dir(run_dir) else { return };
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return;
    };
    let prefix = format!("{service}-");
    // Exactly `<service>-<16 hex digits>.ipcshm`: the regions of a service
    // whose name merely starts with this one's (`cgroups` and
    // `cgroups-snapshot`) are not this provider's to judge.
    let is_ours = |name: &str| {
        name.strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_suffix(".ipcshm"))
            .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_ours(name) {
            if let Verdict::Foreign { kind, owner, mode } = stale::check(&dir, run_dir, name) {
                tracing::warn!(
                    path = %format!("{run_dir}/{name}"),
                    "a {kind} of uid {owner} (mode {mode:04o}) has a region name of this service; left alone"
                );
            }
        }
    }
}

/// The shared-memory objects a server creates for one handshake once it
/// accepted the client with an SHM profile. On Linux both SHM profile bits
/// select the same region, so there is at most one.
#[derive(Debug)]
pub(crate) struct ShmOffer {
    region: Option<ShmRegion>,
    profiles: u32,
}

impl ShmOffer {
    /// Creates the region if `profiles` has an SHM bit; failures leave the
    /// offer empty (the caller withdraws those profiles).
    pub(crate) fn provision(
        key: &ShmKey<'_>,
        profiles: u32,
        max_request: u32,
        max_response: u32,
    ) -> Self {
        let wanted = profiles & crate::wire::Profiles::SHM_ANY.bits();
        if wanted == 0 {
            return Self {
                region: None,
                profiles: 0,
            };
        }
        crate::transport::shm::count_provision();
        match ShmRegion::create(key, max_request, max_response) {
            Ok(region) => Self {
                region: Some(region),
                profiles: wanted,
            },
            Err(e) => {
                tracing::warn!(error = %e, "no shared memory for this session");
                Self {
                    region: None,
                    profiles: 0,
                }
            }
        }
    }

    /// Keeps the region for `selected` (if it is an SHM profile) and
    /// destroys everything else.
    pub(crate) fn take(self, selected: u32) -> Option<ShmRegion> {
        self.region.filter(|_| selected & self.profiles != 0)
    }
}
