//! A handle that wakes blocked transport waits from another thread.

use std::sync::Arc;

use super::sys;
use crate::error::Result;

/// A cross-thread interrupt for blocking transport calls.
///
/// Pass it to a receive or accept call; raising it from any thread makes
/// that call (and every later one, until [`clear`](Self::clear)) return
/// [`Error::Interrupted`](crate::Error::Interrupted) promptly. Clones share
/// the same state. `Send + Sync`.
///
/// # Platform-specific behavior
///
/// Backed by an eventfd on Linux (`AsFd`, readable while raised) and a
/// manual-reset event on Windows (`AsRawHandle`, signalled while raised).
/// Waits on the baseline transport end at once; shared-memory waits notice
/// within 50 ms.
#[derive(Debug, Clone)]
pub struct Interrupt {
    inner: Arc<sys::Interrupt>,
}

impl Interrupt {
    /// A new, lowered interrupt.
    ///
    /// # Errors
    /// `Io` if the OS wake-up object cannot be created.
    pub fn new() -> Result<Self> {
        Ok(Self {
            inner: Arc::new(sys::Interrupt::new()?),
        })
    }

    /// A lowered interrupt whose raise also shuts down the baseline
    /// connections blocked receiving on it at that moment: their receives
    /// end with [`Error::Interrupted`](crate::Error::Interrupted) and those
    /// sessions are unusable afterwards (a connection that was not blocked
    /// in a receive is left alone). In exchange a baseline receive blocks
    /// in the kernel without polling the interrupt: one system call per
    /// packet instead of two. For owners that drop a session whose wait
    /// was interrupted, such as a server's stop signal.
    ///
    /// # Platform-specific behavior
    ///
    /// On Windows this is [`new`](Self::new): pipe waits already wait for
    /// the interrupt and the I/O in one call, and nothing is shut down.
    ///
    /// # Errors
    /// `Io` if the OS wake-up object cannot be created.
    pub fn new_closing() -> Result<Self> {
        Ok(Self {
            inner: Arc::new(sys::Interrupt::new_closing()?),
        })
    }

    /// Raises the interrupt: blocked waits that use it return at once.
    pub fn raise(&self) {
        self.inner.raise();
    }

    /// Lowers the interrupt again.
    pub fn clear(&self) {
        self.inner.clear();
    }

    /// Whether the interrupt is raised.
    #[must_use]
    pub fn is_raised(&self) -> bool {
        self.inner.is_raised()
    }

    pub(crate) fn sys(&self) -> &sys::Interrupt {
        &self.inner
    }
}
