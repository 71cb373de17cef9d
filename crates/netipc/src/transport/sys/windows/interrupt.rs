//! A cross-thread interrupt backed by a manual-reset event, so that waits
//! on several objects wake up at once when it is raised.

use std::sync::atomic::{AtomicBool, Ordering};

use windows_sys::Win32::Foundation::HANDLE;

use super::util::Event;
use crate::error::Result;

#[derive(Debug)]
pub(crate) struct Interrupt {
    raised: AtomicBool,
    event: Event,
}

impl Interrupt {
    pub(crate) fn new() -> Result<Self> {
        Ok(Self {
            raised: AtomicBool::new(false),
            event: Event::new(true)?,
        })
    }

    /// The same as [`new`](Self::new): every pipe wait already waits on
    /// the interrupt's event together with its I/O, in one call.
    pub(crate) fn new_closing() -> Result<Self> {
        Self::new()
    }

    pub(crate) fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        self.event.set();
    }

    pub(crate) fn clear(&self) {
        self.raised.store(false, Ordering::SeqCst);
        self.event.reset();
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    pub(crate) fn event(&self) -> HANDLE {
        self.event.raw()
    }
}
