//! Client state, counters and the abort handle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::transport::Interrupt;

/// Where a client's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// Not connected (new, closed, or a connection failed for a transient
    /// reason such as a timeout or a refused permission). `connect()`
    /// connects.
    Disconnected,
    /// A connection attempt is in progress (seen only while it runs).
    Connecting,
    /// Connected: calls may be made.
    Ready,
    /// No provider is running at the endpoint (or its run directory does
    /// not exist yet). `connect()` tries again.
    NotFound,
    /// The provider refused the auth token. Sticky: only `close()` and a new
    /// `connect()` try again.
    AuthFailed,
    /// The provider speaks an incompatible protocol or shares no transport
    /// profile. Sticky like `AuthFailed`.
    Incompatible,
    /// The session broke during a call. `connect()` reconnects.
    Broken,
}

impl ClientState {
    /// A short description for messages ("no provider found", ...).
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::Connecting => "connecting",
            Self::Ready => "ready",
            Self::NotFound => "no provider found",
            Self::AuthFailed => "refused by the provider",
            Self::Incompatible => "incompatible with the provider",
            Self::Broken => "the session broke",
        }
    }
}

impl std::fmt::Display for ClientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// A snapshot of a client's state and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientStatus {
    /// Current state.
    pub state: ClientState,
    /// Successful first connections (from `Disconnected` / `NotFound`).
    pub connect_count: u32,
    /// Successful reconnections (after `Broken`, or inside a call).
    pub reconnect_count: u32,
    /// Successful request/response exchanges (a lookup of k sub-calls
    /// counts k).
    pub call_count: u32,
    /// Calls that failed.
    pub error_count: u32,
}

/// Aborts a client's calls from another thread.
///
/// [`abort`](Self::abort) makes the call in progress (if any) and every
/// later call fail with [`Error::Aborted`](crate::Error::Aborted) until
/// [`clear`](Self::clear) (or the client's `close()`). A call blocked in a
/// transport wait returns promptly. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone, Default)]
#[must_use = "an abort handle does nothing unless it is kept and used"]
pub struct AbortHandle {
    inner: Arc<AbortInner>,
}

#[derive(Debug, Default)]
struct AbortInner {
    aborted: AtomicBool,
    /// Wakes blocked transport waits; created with the first connection
    /// (creating it needs an OS object, which `new` must not).
    interrupt: OnceLock<Option<Interrupt>>,
}

impl AbortHandle {
    /// Aborts the current and every later call until cleared.
    pub fn abort(&self) {
        self.inner.aborted.store(true, Ordering::SeqCst);
        if let Some(Some(i)) = self.inner.interrupt.get() {
            i.raise();
        }
    }

    /// Allows calls again.
    pub fn clear(&self) {
        self.inner.aborted.store(false, Ordering::SeqCst);
        if let Some(Some(i)) = self.inner.interrupt.get() {
            i.clear();
        }
    }

    /// Whether calls are aborted.
    #[must_use]
    pub fn is_aborted(&self) -> bool {
        self.inner.aborted.load(Ordering::SeqCst)
    }

    /// The transport interrupt behind the handle, created on first use
    /// (`None` only if the OS refused to create one; aborts are then seen
    /// between waits only).
    pub(crate) fn interrupt(&self) -> Option<&Interrupt> {
        let interrupt = self
            .inner
            .interrupt
            .get_or_init(|| Interrupt::new_closing().ok())
            .as_ref()?;
        if self.is_aborted() {
            interrupt.raise();
        }
        Some(interrupt)
    }
}
