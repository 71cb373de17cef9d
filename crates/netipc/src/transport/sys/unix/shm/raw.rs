//! The raw shared-memory limit: two processes flipping a counter in a
//! mapped file, spin then futex, with no protocol at all. Benchmarks
//! compare the SHM transport against it.
//!
//! The file is mapped through [`Mapping`], so a process that truncates it
//! cannot crash either side (see [`fault_guard`](super::fault_guard)):
//! [`RawShm::wait`] then fails with [`Error::ShmRegionLost`].

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustix::fs::{CWD, FallocateFlags, Mode, OFlags, fallocate, openat};
use rustix::io::Errno;
use rustix::thread::futex;

use super::mapping::Mapping;
use crate::error::{Error, Result};
use crate::transport::spin::Spin;

/// Per lane: a u64 counter at `lane * 64` and a u32 "sleeping" flag at
/// `lane * 64 + 8`, each lane on its own cache line.
const SIZE: usize = 128;

/// Two counters in a shared file. Lane 0 carries pings, lane 1 pongs.
#[derive(Debug)]
pub(crate) struct RawShm {
    path: Box<str>,
    map: Mapping,
    _fd: OwnedFd,
}

impl RawShm {
    /// Creates (or truncates to zero) the file at `path`.
    pub(crate) fn create(path: &str) -> Result<Self> {
        let fd = openat(
            CWD,
            path,
            OFlags::RDWR | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| Error::io("creating the raw SHM file", e.into()))?;
        fallocate(&fd, FallocateFlags::empty(), 0, SIZE as u64)
            .map_err(|e| Error::io("reserving the raw SHM file", e.into()))?;
        Self::map(path, fd)
    }

    /// Opens an existing file created by [`create`](Self::create).
    pub(crate) fn open(path: &str) -> Result<Self> {
        let fd = openat(CWD, path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::io("opening the raw SHM file", e.into()))?;
        Self::map(path, fd)
    }

    fn map(path: &str, fd: OwnedFd) -> Result<Self> {
        let map = Mapping::map(&fd, SIZE).map_err(|e| Error::io("mapping the raw SHM file", e))?;
        Ok(Self {
            path: path.into(),
            map,
            _fd: fd,
        })
    }

    /// The error of a wait on a lost mapping.
    #[cold]
    fn lost(&self) -> Error {
        Error::ShmRegionLost {
            region: self.path.to_string(),
        }
    }

    /// Sets lane `lane` to `value` and wakes its reader if it sleeps.
    pub(crate) fn post(&self, lane: usize, value: u64) {
        self.map.u64_at(lane * 64).store(value, Ordering::SeqCst);
        let sleeping = self.map.u32_at(lane * 64 + 8);
        if sleeping.load(Ordering::SeqCst) != 0 && sleeping.swap(0, Ordering::SeqCst) != 0 {
            let _ = futex::wake(sleeping, futex::Flags::empty(), 1);
        }
    }

    /// Waits until lane `lane` reaches `value`: spins, then sleeps on the
    /// futex. Returns `Timeout` after `timeout`, `ShmRegionLost` once
    /// another process truncated the file (a truncated and regrown file
    /// reads zeros: the wait then ends with `Timeout`).
    pub(crate) fn wait(&self, lane: usize, value: u64, timeout: Duration) -> Result<()> {
        let counter = self.map.u64_at(lane * 64);
        let sleeping = self.map.u32_at(lane * 64 + 8);
        let give_up = Instant::now() + timeout;
        let mut spin = Spin::default();
        while counter.load(Ordering::Acquire) < value {
            if spin.again() {
                continue;
            }
            sleeping.swap(1, Ordering::SeqCst);
            if counter.load(Ordering::SeqCst) >= value {
                sleeping.store(0, Ordering::Relaxed);
                break;
            }
            if self.map.is_lost() {
                return Err(self.lost());
            }
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout { limit: None });
            }
            let slice = left.min(Duration::from_millis(50));
            let ts = futex::Timespec {
                tv_sec: slice.as_secs() as i64,
                tv_nsec: i64::from(slice.subsec_nanos()),
            };
            match futex::wait(sleeping, futex::Flags::empty(), 1, Some(&ts)) {
                Ok(()) | Err(Errno::TIMEDOUT | Errno::AGAIN | Errno::INTR) => {}
                // The page is gone from the file: the next access faults
                // and marks the mapping lost.
                Err(Errno::FAULT) => self.map.probe(),
                Err(e) => return Err(Error::io("waiting on the raw SHM futex", e.into())),
            }
        }
        if self.map.is_lost() {
            return Err(self.lost());
        }
        Ok(())
    }
}
