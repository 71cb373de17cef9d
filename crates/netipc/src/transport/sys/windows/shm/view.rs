//! A mapped view of a file-mapping object, with typed access to its fields.

use std::os::windows::io::OwnedHandle;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicI64};

use windows_sys::Win32::System::Memory::{
    FILE_MAP_ALL_ACCESS, MEMORY_BASIC_INFORMATION, MEMORY_MAPPED_VIEW_ADDRESS, MapViewOfFile,
    UnmapViewOfFile, VirtualQuery,
};

use crate::transport::sys::windows::util::{last_error, os_error, raw};

/// A read-write view of a whole mapping object. Unmapped on drop.
#[derive(Debug)]
pub(crate) struct View {
    ptr: NonNull<u8>,
    len: usize,
    _mapping: OwnedHandle,
}

// SAFETY: plain shared memory; every access goes through atomics or whole
// range copies, and the view stays mapped until drop.
unsafe impl Send for View {}
// SAFETY: as above.
unsafe impl Sync for View {}

impl View {
    /// Maps `mapping` whole; the length is what the system reports.
    pub(crate) fn map(mapping: OwnedHandle) -> std::io::Result<Self> {
        // SAFETY: a valid mapping handle; the result is checked.
        let addr = unsafe { MapViewOfFile(raw(&mapping), FILE_MAP_ALL_ACCESS, 0, 0, 0) };
        let ptr = NonNull::new(addr.Value.cast::<u8>()).ok_or_else(|| os_error(last_error()))?;
        // SAFETY: MEMORY_BASIC_INFORMATION is plain data; zero is valid.
        let mut info: MEMORY_BASIC_INFORMATION = unsafe { std::mem::zeroed() };
        // SAFETY: a mapped address and an out structure of the right size.
        let got = unsafe {
            VirtualQuery(
                ptr.as_ptr().cast(),
                &mut info,
                std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        let view = Self {
            ptr,
            len: info.RegionSize,
            _mapping: mapping,
        };
        if got == 0 {
            return Err(os_error(last_error()));
        }
        Ok(view)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn i32_at(&self, offset: usize) -> &AtomicI32 {
        assert!(
            offset % 4 == 0 && offset + 4 <= self.len,
            "field offset {offset}"
        );
        // SAFETY: in bounds and aligned (views are page aligned); only
        // accessed atomically; lives as long as `self`.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicI32>() }
    }

    pub(crate) fn i64_at(&self, offset: usize) -> &AtomicI64 {
        assert!(
            offset % 8 == 0 && offset + 8 <= self.len,
            "field offset {offset}"
        );
        // SAFETY: as in `i32_at`.
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicI64>() }
    }

    pub(crate) fn write(&self, offset: usize, src: &[u8]) {
        assert!(offset + src.len() <= self.len, "write past the view");
        // SAFETY: inside the view; `src` is private memory, so no overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(offset), src.len())
        }
    }

    pub(crate) fn read(&self, offset: usize, dst: &mut [u8]) {
        assert!(offset + dst.len() <= self.len, "read past the view");
        // SAFETY: inside the view; `dst` is private memory. The bytes are
        // validated after the copy.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        }
    }
}

impl Drop for View {
    fn drop(&mut self) {
        // SAFETY: the address returned by MapViewOfFile; no reference into
        // the view outlives `self`.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.ptr.as_ptr().cast(),
            })
        };
    }
}
