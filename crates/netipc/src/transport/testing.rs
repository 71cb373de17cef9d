//! Raw packet access for conformance tests, test peers and benchmarks.
//!
//! Compiled only with the `test-support` feature and not covered by
//! semver: these types bypass every protocol check so that tests can play
//! a misbehaving peer (malformed headers, bad chunk sequences, stalled or
//! killed senders) and benchmarks can measure the raw limits.

use std::time::Duration;

use super::channel::deadline;
use super::{
    ClientOptions, ClientSession, Incoming, Interrupt, PeerCredentials, ServerOptions,
    ServerSession, sys,
};
use crate::error::Result;

/// A raw connected baseline channel: whole packets in, whole packets out.
#[derive(Debug)]
pub struct RawConn {
    conn: sys::Conn,
}

impl RawConn {
    /// Connects to a service without any handshake.
    ///
    /// # Errors
    /// As [`ClientSession::connect`](super::ClientSession::connect).
    pub fn connect(run_dir: &str, service: &str) -> Result<Self> {
        Ok(Self {
            conn: sys::connect(run_dir, service, None, None)?,
        })
    }

    /// Sends one packet exactly as given.
    ///
    /// # Errors
    /// `Disconnected`, `Io`.
    pub fn send(&self, packet: &[u8]) -> Result<()> {
        self.conn.send_packet(&[packet], None, None)
    }

    /// Receives one packet into `buf` and returns its real length.
    ///
    /// # Errors
    /// `Timeout`, `Disconnected`, `Io`.
    pub fn recv(&self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        self.conn.recv_packet(buf, deadline(timeout), None)
    }

    /// The transport's default packet size for this connection.
    pub fn default_packet_size(&self) -> u32 {
        self.conn.default_packet_size()
    }

    /// The peer process.
    pub fn peer(&self) -> PeerCredentials {
        self.conn.peer()
    }
}

/// A raw listener: accepts connections without any handshake.
#[derive(Debug)]
pub struct RawListener {
    inner: sys::Listener,
}

impl RawListener {
    /// Binds the service's endpoint (with the normal stale-endpoint rules).
    ///
    /// # Errors
    /// As [`Listener::bind`](super::Listener::bind).
    pub fn bind(run_dir: &str, service: &str) -> Result<Self> {
        Ok(Self {
            inner: sys::Listener::bind(run_dir, service, super::DEFAULT_BACKLOG)?,
        })
    }

    /// Accepts one connection.
    ///
    /// # Errors
    /// `Timeout`, `Interrupted`, `Io`.
    pub fn accept(
        &self,
        timeout: Option<Duration>,
        interrupt: Option<&Interrupt>,
    ) -> Result<RawConn> {
        Ok(RawConn {
            conn: self
                .inner
                .accept(deadline(timeout), interrupt.map(Interrupt::sys))?,
        })
    }
}

/// How many times this process set out to create a session's
/// shared-memory objects (a region file on Linux, a mapping and its events
/// on Windows), which a server does only after accepting the client's
/// HELLO (auth token and limits included). A process-wide count: compare
/// it across an operation in a process where nothing else runs
/// handshakes.
pub fn shm_provisions() -> u64 {
    super::shm::provisions()
}

/// What the snapshot cache makes of one snapshot response payload on a
/// refresh: its copy of every item, in order, each with the index the
/// cache's lookup by `(hash, name)` returns for it (the first item with that
/// pair). Lets the cache's intake of provider data be fuzzed without a
/// provider.
///
/// # Errors
/// As a refresh: `Codec` for a payload or an item that does not decode,
/// and for a payload whose items overlap (more items than it holds apart,
/// or more string bytes than it carries), which the cache refuses rather
/// than copy more than it received.
pub fn cache_intake(payload: &[u8]) -> Result<Vec<(crate::cache::CacheItem, usize)>> {
    crate::cache::intake(payload)
}

/// Makes managed servers started from now on (in this process) wait on
/// each idle shared-memory session with a thread of its own, as they do
/// on Linux kernels without `futex_waitv`; no effect on other systems.
pub fn disable_multi_waits() {
    sys::disable_waitv();
}

/// Connects like a reference client would: no netipc protocol extensions
/// are requested, so the session runs the plain reference protocol.
///
/// # Errors
/// As [`ClientSession::connect`].
pub fn connect_plain(
    run_dir: &str,
    service: &str,
    options: &ClientOptions,
) -> Result<ClientSession> {
    ClientSession::connect_until(
        run_dir,
        service,
        options,
        0,
        deadline(Some(options.handshake_timeout())),
        None,
    )
}

/// Runs the server handshake like a reference server would: no netipc
/// protocol extensions are offered.
///
/// # Errors
/// As [`Incoming::handshake_with`].
pub fn handshake_plain(
    incoming: Incoming,
    session_id: u64,
    options: &ServerOptions,
) -> Result<ServerSession> {
    incoming.handshake_offering(session_id, options, 0, None)
}

/// The raw shared-memory limit for benchmarks: two counters in a shared
/// file that two processes flip, spinning then sleeping, with no protocol.
/// Lane 0 carries pings, lane 1 pongs.
#[derive(Debug)]
pub struct RawShm {
    inner: sys::RawShm,
}

impl RawShm {
    /// Creates the shared file at `path` (in a run directory).
    ///
    /// # Errors
    /// `Io`.
    pub fn create(path: &str) -> Result<Self> {
        Ok(Self {
            inner: sys::RawShm::create(path)?,
        })
    }

    /// Opens a file made by [`create`](Self::create).
    ///
    /// # Errors
    /// `Io`.
    pub fn open(path: &str) -> Result<Self> {
        Ok(Self {
            inner: sys::RawShm::open(path)?,
        })
    }

    /// Sets `lane` to `value`, waking its reader if it sleeps.
    pub fn post(&self, lane: usize, value: u64) {
        self.inner.post(lane, value);
    }

    /// Waits until `lane` reaches `value`.
    ///
    /// # Errors
    /// `Timeout`, `Io`; `ShmRegionLost` when another process truncated the
    /// file (Linux).
    pub fn wait(&self, lane: usize, value: u64, timeout: Duration) -> Result<()> {
        self.inner.wait(lane, value, timeout)
    }
}
