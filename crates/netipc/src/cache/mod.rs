//! L3: the cgroups snapshot cache.
//!
//! A [`SnapshotCache`] keeps the last good copy of a `cgroups-snapshot`
//! provider's data in memory and answers lookups by `(hash, name)` without
//! any I/O. The caller drives it: [`refresh`](SnapshotCache::refresh) at
//! its own cadence (there are no background threads or timers), and
//! [`read`](SnapshotCache::read) from any number of threads to look items
//! up.
//!
//! Every refresh fetches the full snapshot through an L2
//! [`CgroupsSnapshotClient`] (with
//! its reconnect and retry rules), copies and indexes it privately, and
//! then publishes it with one atomic pointer swap. Readers never wait for a
//! refresh and a refresh never waits for readers: a reader sees one whole
//! generation for as long as it holds its [`CacheGuard`], and the memory of
//! an old generation is freed when its last guard is dropped. A failed
//! refresh leaves the published snapshot untouched.
//!
//! ```no_run
//! use netipc::cache::SnapshotCache;
//! use netipc::service::ClientConfig;
//!
//! let cache = SnapshotCache::new("/run/netdata", "cgroups-snapshot", &ClientConfig::default());
//! if let Err(e) = cache.refresh() {
//!     eprintln!("keeping the previous snapshot: {e}");
//! }
//! let guard = cache.read();
//! if let Some(item) = guard.get(0x1234_5678, b"docker-1a2b") {
//!     println!("{}", String::from_utf8_lossy(item.path));
//! }
//! ```

mod snapshot;

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use self::snapshot::Snapshot;
pub use self::snapshot::{CacheItem, CachedItem};
use crate::error::{Error, Result};
use crate::service::{AbortHandle, CgroupsSnapshotClient, ClientConfig, ClientState, SessionInfo};

/// What a refresh makes of one snapshot response payload: the copy of
/// every item in order, each with the index a lookup by its `(hash, name)`
/// finds (for `transport::testing::cache_intake`).
#[cfg(feature = "test-support")]
pub(crate) fn intake(payload: &[u8]) -> Result<Vec<(CacheItem, usize)>> {
    let view = crate::codec::SnapshotView::decode(payload)?;
    let snapshot = Snapshot::build(&view)?;
    Ok(snapshot
        .iter()
        .map(|item| {
            let found = snapshot.find(item.hash, item.name).unwrap_or(usize::MAX);
            (item.to_owned_item(), found)
        })
        .collect())
}

/// A snapshot cache of one `cgroups-snapshot` provider.
///
/// `Send + Sync`: share it (for example in an `Arc`) between one thread
/// that refreshes and any number of threads that read. `refresh` and
/// `close` are serialized with each other; `read`, `ready`, `status`,
/// `abort_handle` and `set_call_timeout` never wait for them.
#[derive(Debug)]
pub struct SnapshotCache {
    /// The L2 client; the lock serializes refresh and close.
    client: Mutex<CgroupsSnapshotClient>,
    published: ArcSwapOption<Snapshot>,
    abort: AbortHandle,
    /// Per-call timeout in nanoseconds; 0: the client's default.
    call_timeout: AtomicU64,
    successes: AtomicU32,
    failures: AtomicU32,
    /// The client's state after the last refresh or close.
    state: AtomicU8,
    /// What the client's session negotiated, after the last refresh.
    session: Mutex<Option<SessionInfo>>,
    /// Why the client's last connection attempt failed, after the last
    /// refresh.
    last_error: Mutex<Option<Arc<Error>>>,
    /// When the last snapshot was published, in nanoseconds after
    /// `created`; 0: never.
    last_refresh: AtomicU64,
    created: Instant,
}

/// State and counters of a [`SnapshotCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheStatus {
    /// Whether a snapshot is published (a refresh has succeeded since the
    /// cache was created or closed).
    pub populated: bool,
    /// Items in the published snapshot (0 if none).
    pub item_count: usize,
    /// The published snapshot's `systemd_enabled` value (0 if none).
    pub systemd_enabled: u32,
    /// The published snapshot's generation (0 if none), as the provider
    /// sent it: it may go down when the provider restarts.
    pub generation: u64,
    /// Refreshes that published a snapshot.
    pub refresh_success_count: u32,
    /// Refreshes that failed (the previous snapshot was kept).
    pub refresh_failure_count: u32,
    /// The state of the connection to the provider after the last refresh
    /// or close.
    pub connection_state: ClientState,
    /// When the last snapshot was published, on the monotonic clock
    /// (`std::time::Instant`, not wall time; `elapsed()` gives its age);
    /// `None` if never since the cache was created or closed.
    pub last_refresh: Option<Instant>,
}

const STATES: [ClientState; 7] = [
    ClientState::Disconnected,
    ClientState::Connecting,
    ClientState::Ready,
    ClientState::NotFound,
    ClientState::AuthFailed,
    ClientState::Incompatible,
    ClientState::Broken,
];

fn state_code(state: ClientState) -> u8 {
    STATES.iter().position(|s| *s == state).unwrap_or(0) as u8
}

impl SnapshotCache {
    /// An empty cache of `service` under `run_dir` (which must exist when
    /// it refreshes; see [`crate::transport::run_dir`]). No I/O: the provider
    /// need not exist yet.
    #[must_use]
    pub fn new(run_dir: &str, service: &str, config: &ClientConfig) -> Self {
        let client = CgroupsSnapshotClient::new(run_dir, service, config);
        let abort = client.abort_handle();
        Self {
            client: Mutex::new(client),
            published: ArcSwapOption::empty(),
            abort,
            call_timeout: AtomicU64::new(0),
            successes: AtomicU32::new(0),
            failures: AtomicU32::new(0),
            state: AtomicU8::new(state_code(ClientState::Disconnected)),
            session: Mutex::new(None),
            last_error: Mutex::new(None),
            last_refresh: AtomicU64::new(0),
            created: Instant::now(),
        }
    }

    fn lock_client(&self) -> MutexGuard<'_, CgroupsSnapshotClient> {
        // A panic while refreshing cannot leave the client half-updated in
        // a way that matters: the next refresh reconnects if needed.
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connects if needed, fetches the full snapshot and publishes it.
    /// Blocks for up to the call timeout (twice, if the session breaks and
    /// the request is sent again) and while another thread's refresh runs.
    /// Readers are never blocked, and publication does not wait for them:
    /// a thread may refresh while it holds a [`CacheGuard`] (the guard keeps
    /// the generation it saw).
    ///
    /// # Errors
    /// Why nothing was published: `NotReady` with the cause of the failed
    /// connection (no provider, permission denied, a refused token...; also
    /// kept in [`last_error`](Self::last_error)), `Aborted`, `Timeout`,
    /// `Rejected`, `Codec` (a malformed snapshot or item), and the other
    /// errors of the L2 call. The previous snapshot stays published and the
    /// failure is counted.
    pub fn refresh(&self) -> Result<()> {
        self.refresh_until(None)
    }

    /// [`refresh`](Self::refresh), ending by `until` when given.
    fn refresh_until(&self, until: Option<Instant>) -> Result<()> {
        let mut client = self.lock_client();
        let mut timeout = match self.call_timeout.load(Ordering::Relaxed) {
            0 => client.call_timeout(),
            ns => Duration::from_nanos(ns),
        };
        let connected = match until {
            Some(until) => {
                let end = crate::service::attempt_end(timeout, until);
                timeout = end.saturating_duration_since(Instant::now());
                client.connect_until(end)
            }
            None => client.connect(),
        };
        let built = connected.and_then(|()| {
            client
                .call_with_timeout(Some(timeout))
                .and_then(|view| Snapshot::build(&view).map_err(Error::from))
        });
        self.remember(&client);
        match built {
            Ok(snapshot) => {
                self.published.store(Some(Arc::new(snapshot)));
                let at = self.created.elapsed().as_nanos().max(1);
                self.last_refresh
                    .store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Relaxed);
                self.successes.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn remember(&self, client: &CgroupsSnapshotClient) {
        self.state
            .store(state_code(client.status().state), Ordering::Relaxed);
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = client.session_info();
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = client.shared_last_error();
    }

    /// Refreshes until a snapshot is published or `timeout` has passed,
    /// sleeping a little longer after each failure (10 ms doubling up to
    /// 250 ms, never past `timeout`). For start-up, when the provider may
    /// not be running yet. Returns at once when a snapshot is already
    /// published.
    ///
    /// Blocks for at most `timeout` plus one refresh (each refresh is
    /// bounded by the call timeout).
    ///
    /// # Errors
    /// The last refresh's error when `timeout` passes; at once when the
    /// provider refuses the client (`AuthFailed`) or is incompatible;
    /// [`Error::Aborted`].
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        if self.ready() {
            return Ok(());
        }
        let now = Instant::now();
        let until = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(1 << 31));
        let mut pause = Duration::from_millis(10);
        loop {
            let Err(e) = self.refresh_until(Some(until)) else {
                return Ok(());
            };
            let sticky = matches!(
                self.status().connection_state,
                ClientState::AuthFailed | ClientState::Incompatible
            );
            if sticky
                || matches!(e, Error::Aborted)
                || !crate::service::pause_before_retry(&mut pause, until)
            {
                return Err(e);
            }
        }
    }

    /// Why the cache's last connection attempt failed, as of the last
    /// refresh (`None` when it succeeded, and after `close`). Never blocks
    /// on a refresh; readers can use it to say why the data is stale.
    #[must_use]
    pub fn last_error(&self) -> Option<Arc<Error>> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What the connection to the provider negotiated (transport profile,
    /// sizes) as of the last refresh; `None` when not connected. Never
    /// blocks on a refresh.
    #[must_use]
    pub fn session_info(&self) -> Option<SessionInfo> {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A read guard on the published snapshot (possibly none yet). Cheap
    /// (no lock, no system call); hold it for a batch of lookups. The
    /// snapshot it sees stays alive and unchanged until it is dropped,
    /// whatever refreshes happen meanwhile.
    pub fn read(&self) -> CacheGuard {
        CacheGuard {
            snapshot: self.published.load(),
        }
    }

    /// A read guard like [`read`](Self::read) that holds a counted
    /// reference to the snapshot instead of borrowing one of the thread's
    /// few fast slots: for a guard kept for long, stored in another
    /// object, or dropped on another thread. Taking one is an atomic
    /// increment of a count shared by every reader of the snapshot.
    pub fn read_owned(&self) -> CacheGuard {
        CacheGuard {
            snapshot: arc_swap::Guard::from_inner(self.published.load_full()),
        }
    }

    /// Whether a snapshot is published. It does not mean the provider is
    /// connected right now. No I/O.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.published.load().is_some()
    }

    /// State and counters. Never blocks.
    #[must_use]
    pub fn status(&self) -> CacheStatus {
        let published = self.published.load();
        let snapshot = published.as_deref();
        let code = self.state.load(Ordering::Relaxed) as usize;
        CacheStatus {
            populated: snapshot.is_some(),
            item_count: snapshot.map_or(0, Snapshot::len),
            systemd_enabled: snapshot.map_or(0, |s| s.systemd_enabled),
            generation: snapshot.map_or(0, |s| s.generation),
            refresh_success_count: self.successes.load(Ordering::Relaxed),
            refresh_failure_count: self.failures.load(Ordering::Relaxed),
            connection_state: STATES
                .get(code)
                .copied()
                .unwrap_or(ClientState::Disconnected),
            last_refresh: match self.last_refresh.load(Ordering::Relaxed) {
                0 => None,
                ns => Some(self.created + Duration::from_nanos(ns)),
            },
        }
    }

    /// A handle that aborts the refresh in progress (and later ones, until
    /// cleared) from any thread. An aborted refresh keeps the previous
    /// snapshot.
    pub fn abort_handle(&self) -> AbortHandle {
        self.abort.clone()
    }

    /// Sets the time a refresh's call may take; zero restores the
    /// configured default, as in [`ClientConfig::call_timeout`]. Applies
    /// from the next refresh.
    pub fn set_call_timeout(&self, timeout: Duration) {
        let ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        self.call_timeout.store(ns, Ordering::Relaxed);
    }

    /// Unpublishes the snapshot (`ready()` becomes false; guards already
    /// held keep theirs), closes the connection and clears the abort flag.
    /// Counters are kept. Waits for a refresh in progress. Closing twice is
    /// harmless; a later `refresh` starts over.
    pub fn close(&self) {
        let mut client = self.lock_client();
        self.published.store(None);
        self.last_refresh.store(0, Ordering::Relaxed);
        client.close();
        self.remember(&client);
    }
}

/// A reader's view of one published snapshot (or of none).
///
/// Obtained from [`SnapshotCache::read`]. Lookups through it are pure
/// memory operations. It keeps its snapshot alive until dropped, so hold it
/// for a batch of lookups, not forever. Taking one writes nothing that
/// other reader threads share, so readers on many cores do not slow each
/// other down. Copy items out with [`CachedItem::to_owned_item`] to keep
/// them beyond the guard.
#[derive(Debug)]
#[must_use]
pub struct CacheGuard {
    snapshot: arc_swap::Guard<Option<Arc<Snapshot>>>,
}

impl CacheGuard {
    fn snapshot(&self) -> &Snapshot {
        self.snapshot.as_deref().unwrap_or(Snapshot::EMPTY)
    }

    /// The first item (in the provider's order) whose hash and name both
    /// equal the arguments; `None` if there is none or nothing is
    /// published.
    #[must_use]
    pub fn get(&self, hash: u32, name: &[u8]) -> Option<CachedItem<'_>> {
        let s = self.snapshot();
        s.find(hash, name).map(|i| s.item(i))
    }

    /// The position (in the order of [`iter`](Self::iter)) of the item
    /// [`get`](Self::get) finds; `None` when it finds none. For callers
    /// that keep their own per-item data next to the snapshot's.
    #[must_use]
    pub fn position(&self, hash: u32, name: &[u8]) -> Option<usize> {
        self.snapshot().find(hash, name)
    }

    /// [`position`](Self::position) for a name whose bytes are costly to
    /// get (such as a C string, which must be scanned for its length):
    /// `name` gives them only when the index needs them (when the
    /// producer's hashes collide too often to be used alone), and
    /// `is_name` says whether a stored name (of an item with the right
    /// hash, followed by the NUL the snapshot stores after it, as in
    /// [`c_strings`](Self::c_strings)) is the one looked for. For the C API
    /// (`netipc-c`); not covered by semver.
    #[doc(hidden)]
    pub fn position_with<'n>(
        &self,
        hash: u32,
        name: impl FnOnce() -> &'n [u8],
        is_name: impl Fn(&[u8]) -> bool,
    ) -> Option<usize> {
        self.snapshot().find_with(hash, name, is_name)
    }

    /// Every item in the provider's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = CachedItem<'_>> + '_ {
        self.snapshot().iter()
    }

    /// The name and path of the item at `position` (in the order of
    /// [`iter`](Self::iter)), each followed by the NUL byte the snapshot
    /// stores after it, so that C code can read them in place as C strings
    /// for as long as the guard lives; `None` past the last item. For the
    /// C API (`netipc-c`); not covered by semver.
    #[doc(hidden)]
    #[must_use]
    pub fn c_strings(&self, position: usize) -> Option<(&[u8], &[u8])> {
        let s = self.snapshot();
        (position < s.len()).then(|| s.nul_terminated(position))
    }

    /// Whether a snapshot was published when the guard was taken.
    #[must_use]
    pub fn is_populated(&self) -> bool {
        self.snapshot.is_some()
    }

    /// Number of items (0 if nothing is published).
    #[must_use]
    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    /// Whether there are no items.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The snapshot's generation (0 if nothing is published).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.snapshot().generation
    }

    /// The snapshot's `systemd_enabled` value (0 if nothing is published).
    #[must_use]
    pub fn systemd_enabled(&self) -> u32 {
        self.snapshot().systemd_enabled
    }
}
