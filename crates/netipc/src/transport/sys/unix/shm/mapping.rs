//! A shared `mmap` of a region file, with typed access to its fields: the
//! single place where region files are mapped. Every mapping is registered
//! with the [`fault_guard`](super::fault_guard) for as long as it exists,
//! so a peer that truncates the file cannot crash this process: the access
//! reads zeros instead and [`Mapping::is_lost`] turns true.

use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

use super::fault_guard::Guard;

/// A read-write shared mapping of a whole file. Unmapped on drop.
#[derive(Debug)]
pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// The registration with the SIGBUS guard, from before the first
    /// access until just before `munmap`.
    guard: Option<Guard>,
}

// SAFETY: the mapping is plain shared memory; every access goes through
// atomics or whole-range byte copies, and the pointer stays valid until drop.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only hands out atomics and copies.
unsafe impl Sync for Mapping {}

impl Mapping {
    pub(super) fn map(fd: impl AsFd, len: usize) -> std::io::Result<Self> {
        // SAFETY: a fresh shared mapping of `len` bytes of `fd` at an address
        // the kernel chooses; nothing else refers to that address range.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(std::io::ErrorKind::InvalidData)?;
        let mut map = Self {
            ptr,
            len,
            guard: None,
        };
        // Registered before anything touches the memory; on failure `map`
        // is unmapped on drop.
        map.guard = Some(Guard::register(ptr.as_ptr(), len)?);
        Ok(map)
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether another process truncated the file under the mapping: an
    /// access faulted and the mapping now holds anonymous zero memory,
    /// private to this process. One relaxed load of a flag; a lost
    /// mapping stays lost.
    #[inline]
    pub(super) fn is_lost(&self) -> bool {
        self.guard.as_ref().is_some_and(Guard::is_lost)
    }

    /// Touches the last byte of the mapping, so that a file truncated
    /// anywhere below it is found out now (the access faults and the
    /// mapping becomes [lost](Self::is_lost)) even if this side has not
    /// touched the missing pages yet. A truncate always removes the end.
    pub(super) fn probe(&self) {
        if self.len > 0 {
            // SAFETY: inside the mapping; a volatile read of one byte that
            // may be changed by the peer (the value is not used).
            unsafe { std::ptr::read_volatile(self.ptr.as_ptr().add(self.len - 1)) };
        }
    }

    /// The u32 field at `offset` (4-byte aligned, inside the mapping).
    pub(super) fn u32_at(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset % 4 == 0 && offset + 4 <= self.len,
            "field offset {offset}"
        );
        // SAFETY: in bounds and aligned (the mapping is page aligned); the
        // memory lives as long as `self`, and is only accessed atomically.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    /// The u64 field at `offset` (8-byte aligned, inside the mapping).
    pub(super) fn u64_at(&self, offset: usize) -> &AtomicU64 {
        assert!(
            offset % 8 == 0 && offset + 8 <= self.len,
            "field offset {offset}"
        );
        // SAFETY: as in `u32_at`.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU64>() }
    }

    /// Copies `src` into the mapping at `offset`.
    pub(super) fn write(&self, offset: usize, src: &[u8]) {
        assert!(offset + src.len() <= self.len, "write past the mapping");
        // SAFETY: the destination range is inside the mapping and cannot
        // overlap `src`, which is private memory. The peer does not touch
        // this area while it is being written (one message in flight per
        // direction, published only after the copy).
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(offset), src.len())
        }
    }

    /// Copies `dst.len()` bytes from the mapping at `offset` into `dst`.
    pub(super) fn read(&self, offset: usize, dst: &mut [u8]) {
        assert!(offset + dst.len() <= self.len, "read past the mapping");
        // SAFETY: the source range is inside the mapping and cannot overlap
        // `dst`, which is private memory. A misbehaving peer may change the
        // bytes meanwhile; they are validated after the copy.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Deregistered first: nothing touches the range from here on.
        drop(self.guard.take());
        // SAFETY: the range was mapped by `map` and no reference into it
        // outlives `self`.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
