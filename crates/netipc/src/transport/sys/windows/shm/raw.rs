//! The raw shared-memory limit on Windows: two counters in a file-backed
//! mapping, spin then wait on an auto-reset event, no protocol.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{GENERIC_READ, GENERIC_WRITE, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{
    CREATE_ALWAYS, CreateFileW, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_READ, FILE_SHARE_WRITE,
    OPEN_EXISTING,
};
use windows_sys::Win32::System::Memory::{CreateFileMappingW, PAGE_READWRITE};
use windows_sys::Win32::System::Threading::{CreateEventW, SetEvent};

use super::view::View;
use crate::error::{Error, Result};
use crate::transport::names::fnv1a64;
use crate::transport::sys::windows::overlapped::{wait_any, wait_ms};
use crate::transport::sys::windows::util::{owned, raw, wide};

/// Per lane: an i64 counter at `lane * 64`, an i32 "waiting" flag at
/// `lane * 64 + 8`, each lane on its own cache line.
const SIZE: u32 = 128;
const SPIN_TRIES: u32 = 1024;

#[derive(Debug)]
pub(crate) struct RawShm {
    view: View,
    events: [std::os::windows::io::OwnedHandle; 2],
}

impl RawShm {
    fn open_with(path: &str, disposition: u32) -> Result<Self> {
        let wpath = wide(path);
        // SAFETY: a NUL-terminated path; the result is checked.
        let file = unsafe {
            CreateFileW(
                wpath.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                std::ptr::null(),
                disposition,
                FILE_ATTRIBUTE_NORMAL,
                std::ptr::null_mut(),
            )
        };
        let file = owned(file, "opening the raw SHM file")?;
        // SAFETY: a file-backed mapping of SIZE bytes (the file grows to it).
        let mapping = unsafe {
            CreateFileMappingW(
                raw(&file),
                std::ptr::null(),
                PAGE_READWRITE,
                0,
                SIZE,
                std::ptr::null(),
            )
        };
        let mapping = owned(mapping, "mapping the raw SHM file")?;
        let view = View::map(mapping).map_err(|e| Error::io("mapping the raw SHM file", e))?;
        let tag = fnv1a64(path.as_bytes());
        let event = |lane: usize| {
            let name = wide(&format!("Local\\netipc-rawshm-{tag:016x}-{lane}"));
            // SAFETY: auto-reset, non-signalled, named (opened if it exists).
            let h = unsafe { CreateEventW(std::ptr::null(), 0, 0, name.as_ptr()) };
            owned(h, "creating the raw SHM event")
        };
        Ok(Self {
            view,
            events: [event(0)?, event(1)?],
        })
    }

    pub(crate) fn create(path: &str) -> Result<Self> {
        Self::open_with(path, CREATE_ALWAYS)
    }

    pub(crate) fn open(path: &str) -> Result<Self> {
        Self::open_with(path, OPEN_EXISTING)
    }

    fn event(&self, lane: usize) -> HANDLE {
        raw(&self.events[lane])
    }

    pub(crate) fn post(&self, lane: usize, value: u64) {
        self.view
            .i64_at(lane * 64)
            .store(value as i64, Ordering::SeqCst);
        if self.view.i32_at(lane * 64 + 8).load(Ordering::SeqCst) != 0 {
            // SAFETY: a valid event handle.
            unsafe { SetEvent(self.event(lane)) };
        }
    }

    pub(crate) fn wait(&self, lane: usize, value: u64, timeout: Duration) -> Result<()> {
        let counter = self.view.i64_at(lane * 64);
        let waiting = self.view.i32_at(lane * 64 + 8);
        let give_up = Instant::now() + timeout;
        let mut spins = 0;
        while (counter.load(Ordering::Acquire) as u64) < value {
            if spins < SPIN_TRIES {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            waiting.swap(1, Ordering::SeqCst);
            if counter.load(Ordering::SeqCst) as u64 >= value {
                waiting.swap(0, Ordering::SeqCst);
                break;
            }
            if Instant::now() >= give_up {
                waiting.swap(0, Ordering::SeqCst);
                return Err(Error::Timeout { limit: None });
            }
            let until = give_up.min(Instant::now() + Duration::from_millis(50));
            wait_any(&[self.event(lane)], wait_ms(Some(until)));
            waiting.swap(0, Ordering::SeqCst);
        }
        Ok(())
    }
}
