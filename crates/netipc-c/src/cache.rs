//! The cgroups snapshot cache (L3) for C: `nipc_cgroups_cache_*` (the
//! cache section of netipc_service.h).
//!
//! A `nipc_cgroups_cache_t` holds a [`SnapshotCache`] of the Rust core, and
//! next to it a table of C item views for each snapshot the core
//! publishes: the table is built once per published snapshot (by the
//! refreshing thread, before readers can see it) and published with one
//! atomic pointer swap, like the core publishes its snapshot. Each table
//! keeps its snapshot alive (an owned [`CacheGuard`]), and its views point
//! at the snapshot's strings, which the core stores NUL-terminated.
//!
//! A read guard (`nipc_cgroups_cache_read_guard_t`) holds a counted
//! reference to one table. Lookups find the item's position with the core's
//! index ([`CacheGuard::position_with`], comparing the C string in place
//! with `strcmp` rather than measuring it first) and return the view at
//! that position: no allocation, no lock, no system call. Neither readers nor refreshes
//! ever wait for each other, and a guard does not point into the cache
//! object: what it returns stays valid until it is unlocked, even after
//! later refreshes and after the cache is closed.

#![allow(non_camel_case_types)]

use std::ffi::{CStr, c_char};
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use netipc::cache::{CacheGuard, SnapshotCache};
use netipc::service::ClientConfig;

use crate::config::nipc_client_config_t;
use crate::error::{LastError, nipc_error_t};
use crate::ffi::{Slot, c_str, guard_code, slot_size_fits};

/// Words of `nipc_cgroups_cache_t` (`NIPC_CGROUPS_CACHE_WORDS`).
/// 3200 bytes: about twice the Rust object (1632 bytes on Linux, 1648 on
/// Windows).
pub const NIPC_CGROUPS_CACHE_WORDS: usize = 400;
/// Words of `nipc_cgroups_cache_read_guard_t`
/// (`NIPC_CGROUPS_CACHE_READ_GUARD_WORDS`): the Rust object takes 2.
pub const NIPC_CGROUPS_CACHE_READ_GUARD_WORDS: usize = 4;

unsafe extern "C" {
    /// The C library's `strcmp` (vectorized by every C library).
    fn strcmp(a: *const c_char, b: *const c_char) -> std::ffi::c_int;
}

/// `nipc_cgroups_cache_t`: storage of a cache, allocated by the caller.
#[repr(C)]
pub struct nipc_cgroups_cache_t {
    opaque_: [u64; NIPC_CGROUPS_CACHE_WORDS],
}

/// `nipc_cgroups_cache_read_guard_t`: storage of a read guard, allocated
/// by the caller.
#[repr(C)]
pub struct nipc_cgroups_cache_read_guard_t {
    opaque_: [u64; NIPC_CGROUPS_CACHE_READ_GUARD_WORDS],
}

/// `nipc_cgroups_cache_item_view_t`: one cached cgroup, borrowed from the
/// snapshot a read guard holds.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_cgroups_cache_item_view_t {
    /// The producer's hash of the name.
    pub hash: u32,
    /// Opaque option flags.
    pub options: u32,
    /// Opaque enabled value.
    pub enabled: u32,
    /// The name, NUL-terminated.
    pub name: *const c_char,
    /// The path, NUL-terminated.
    pub path: *const c_char,
    /// Bytes of `name` before its terminating NUL.
    pub name_len: u32,
    /// Bytes of `path` before its terminating NUL.
    pub path_len: u32,
}

/// `nipc_cgroups_cache_item_t`: an owned copy of a cached cgroup, made by
/// `nipc_cgroups_cache_item_dup` and released by
/// `nipc_cgroups_cache_item_free`.
#[repr(C)]
#[derive(Debug)]
pub struct nipc_cgroups_cache_item_t {
    /// The producer's hash of the name.
    pub hash: u32,
    /// Opaque option flags.
    pub options: u32,
    /// Opaque enabled value.
    pub enabled: u32,
    /// The name, NUL-terminated, owned by the item.
    pub name: *mut c_char,
    /// The path, NUL-terminated, owned by the item.
    pub path: *mut c_char,
    /// Bytes of `name` before its terminating NUL.
    pub name_len: u32,
    /// Bytes of `path` before its terminating NUL.
    pub path_len: u32,
}

/// `nipc_cgroups_cache_status_t`: state and counters of a cache.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct nipc_cgroups_cache_status_t {
    /// A snapshot is published (a refresh succeeded since init).
    pub populated: bool,
    /// Items in the published snapshot (0 if none).
    pub item_count: u32,
    /// The published snapshot's `systemd_enabled` (0 if none).
    pub systemd_enabled: u32,
    /// The published snapshot's generation (0 if none).
    pub generation: u64,
    /// Refreshes that published a snapshot.
    pub refresh_success_count: u32,
    /// Refreshes that failed (the previous snapshot was kept).
    pub refresh_failure_count: u32,
    /// The connection's `nipc_client_state_t` after the last refresh.
    pub connection_state: u32,
    /// The negotiated transport profile (`NIPC_PROFILE_*`), 0 when not
    /// connected.
    pub transport_profile: u32,
    /// When the last snapshot was published, in ms since init (at least
    /// 1); 0 if never.
    pub last_refresh_ts: u64,
    /// Milliseconds since the last snapshot was published; 0 if never.
    pub last_refresh_age_ms: u64,
}

const _: () = assert!(size_of::<nipc_cgroups_cache_item_view_t>() == 40);
const _: () = assert!(size_of::<nipc_cgroups_cache_item_t>() == 40);
const _: () = assert!(size_of::<nipc_cgroups_cache_status_t>() == 56);
const _: () = assert!(slot_size_fits::<Cache>(NIPC_CGROUPS_CACHE_WORDS));
const _: () = assert!(slot_size_fits::<Held>(NIPC_CGROUPS_CACHE_READ_GUARD_WORDS));

/// The Rust object in a `nipc_cgroups_cache_t`.
struct Cache {
    core: SnapshotCache,
    /// Why `init`'s arguments were refused: every refresh fails with it.
    bad_init: Option<String>,
    /// Refreshes refused for `bad_init` (counted as failures).
    refused: AtomicU32,
    /// The C table of the core's published snapshot.
    published: ArcSwapOption<Table>,
    /// Serializes the refreshes and the publication of their tables; holds
    /// the core's success count the published table was built at.
    built: Mutex<u32>,
    last_error: LastError,
    created: Instant,
}

/// The C views of one published snapshot.
struct Table {
    views: Views,
    /// No name has a NUL inside: lookups compare names as C strings.
    c_names: bool,
    /// Keeps the snapshot the views point into alive.
    snapshot: CacheGuard,
}

/// Views in item order; their strings point into the snapshot of the
/// [`Table`] that owns them.
struct Views(Box<[nipc_cgroups_cache_item_view_t]>);

// SAFETY: the views' pointers only point into the snapshot their table
// owns, which is immutable and lives as long as the table; nothing writes
// through them, so sharing and sending them is as safe as sharing the
// snapshot (which is `Send + Sync`).
unsafe impl Send for Views {}
// SAFETY: as for `Send`.
unsafe impl Sync for Views {}

/// The Rust object in a locked `nipc_cgroups_cache_read_guard_t`: the
/// table it pinned (`None` when nothing was published, or the cache was
/// not usable).
struct Held {
    table: Option<Arc<Table>>,
}

/// An item copy and the bytes its string pointers point into.
#[repr(C)]
struct OwnedItem {
    /// First, so a pointer to it is a pointer to the whole.
    item: nipc_cgroups_cache_item_t,
    /// name, NUL, path, NUL.
    strings: Vec<u8>,
}

fn len_u32(bytes: &[u8]) -> u32 {
    // Snapshot strings are shorter than a response payload (a u32 size).
    u32::try_from(bytes.len()).unwrap_or(u32::MAX)
}

/// The bytes before the NUL at the end of `with_nul`.
fn strip_nul(with_nul: &[u8]) -> &[u8] {
    with_nul.split_last().map_or(with_nul, |(_, rest)| rest)
}

impl Table {
    fn new(snapshot: CacheGuard) -> Self {
        let c_names = snapshot.iter().all(|item| !item.name.contains(&0));
        let views = snapshot
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let (name, path) = snapshot.c_strings(i).unwrap_or((b"\0", b"\0"));
                nipc_cgroups_cache_item_view_t {
                    hash: item.hash,
                    options: item.options,
                    enabled: item.enabled,
                    name: name.as_ptr().cast(),
                    path: path.as_ptr().cast(),
                    name_len: len_u32(item.name),
                    path_len: len_u32(item.path),
                }
            })
            .collect();
        Self {
            views: Views(views),
            c_names,
            snapshot,
        }
    }

    /// The position of the first item whose hash is `hash` and whose name
    /// is the C string `name`.
    ///
    /// # Safety
    /// `name` must be NUL-terminated.
    #[inline]
    unsafe fn position(&self, hash: u32, name: *const c_char) -> Option<usize> {
        // SAFETY: NUL-terminated by the caller's contract.
        let bytes = || unsafe { CStr::from_ptr(name) }.to_bytes();
        if !self.c_names {
            return self.snapshot.position(hash, bytes());
        }
        // Comparing in place spares a scan of `name` for its length (the
        // index needs it only for producers whose hashes collide).
        self.snapshot.position_with(hash, bytes, |stored| {
            // SAFETY: both are NUL-terminated: `stored` ends with the NUL
            // the snapshot stores, and has none before it (`c_names`).
            unsafe { strcmp(stored.as_ptr().cast(), name) == 0 }
        })
    }

    /// The position of `view` when it is one of this table's views.
    fn position_of(&self, view: *const nipc_cgroups_cache_item_view_t) -> Option<usize> {
        let size = size_of::<nipc_cgroups_cache_item_view_t>();
        let offset = (view as usize).checked_sub(self.views.0.as_ptr() as usize)?;
        (offset % size == 0 && offset / size < self.views.0.len()).then_some(offset / size)
    }
}

impl Cache {
    fn new(run_dir: &str, service: &str, config: &ClientConfig, bad_init: Option<String>) -> Self {
        let last_error = LastError::default();
        if let Some(why) = &bad_init {
            last_error.set(why);
        }
        Self {
            core: SnapshotCache::new(run_dir, service, config),
            bad_init,
            refused: AtomicU32::new(0),
            published: ArcSwapOption::empty(),
            built: Mutex::new(0),
            last_error,
            created: Instant::now(),
        }
    }

    /// Runs `refresh` on the core (serialized with the other refreshes)
    /// and publishes the table of what it published.
    fn refresh_with(
        &self,
        refresh: impl FnOnce(&SnapshotCache) -> netipc::Result<()>,
    ) -> Result<(), nipc_error_t> {
        let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(why) = &self.bad_init {
            self.refused.fetch_add(1, Ordering::Relaxed);
            self.last_error.set(why);
            return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
        }
        match refresh(&self.core) {
            Ok(()) => {
                let successes = self.core.status().refresh_success_count;
                if *built != successes || self.published.load().is_none() {
                    let table = Table::new(self.core.read_owned());
                    self.published.store(Some(Arc::new(table)));
                    *built = successes;
                }
                self.last_error.clear();
                Ok(())
            }
            Err(e) => Err(self.last_error.record(&e)),
        }
    }

    fn status(&self) -> nipc_cgroups_cache_status_t {
        let core = self.core.status();
        let table = self.published.load();
        let snapshot = table.as_deref().map(|t| &t.snapshot);
        let (last_refresh_ts, last_refresh_age_ms) = core.last_refresh.map_or((0, 0), |at| {
            let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            (
                ms(at.saturating_duration_since(self.created)).max(1),
                ms(at.elapsed()),
            )
        });
        nipc_cgroups_cache_status_t {
            populated: snapshot.is_some(),
            item_count: snapshot.map_or(0, |s| u32::try_from(s.len()).unwrap_or(u32::MAX)),
            systemd_enabled: snapshot.map_or(0, CacheGuard::systemd_enabled),
            generation: snapshot.map_or(0, CacheGuard::generation),
            refresh_success_count: core.refresh_success_count,
            refresh_failure_count: core
                .refresh_failure_count
                .saturating_add(self.refused.load(Ordering::Relaxed)),
            connection_state: crate::client::state_code(core.connection_state),
            transport_profile: self.core.session_info().map_or(0, |s| s.profile.bits()),
            last_refresh_ts,
            last_refresh_age_ms,
        }
    }
}

/// The live cache at `cache`.
///
/// # Safety
/// As [`Slot::get`].
unsafe fn cache<'a>(cache: *const nipc_cgroups_cache_t) -> Result<&'a Cache, nipc_error_t> {
    // SAFETY: the caller's contract.
    unsafe { Slot::get(cache.cast::<Slot<Cache>>()) }
}

/// The table a locked guard holds; `None` for NULL, an unlocked guard or
/// a guard on nothing.
///
/// # Safety
/// As [`Slot::get`].
unsafe fn held<'a>(guard: *const nipc_cgroups_cache_read_guard_t) -> Option<&'a Table> {
    // SAFETY: the caller's contract.
    let held = unsafe { Slot::<Held>::get(guard.cast()) }.ok()?;
    held.table.as_deref()
}

/// `void nipc_cgroups_cache_init(nipc_cgroups_cache_t *cache, const char
/// *run_dir, const char *service_name, const nipc_client_config_t
/// *config)`: an empty cache of `service_name` under `run_dir`. No I/O.
/// Bad arguments (NULL or non-UTF-8 strings) still initialize the cache,
/// whose refreshes then fail with the reason; NULL `config` means all
/// defaults.
///
/// # Safety
/// `cache` must be NULL or point to a `nipc_cgroups_cache_t` not in use;
/// the strings NULL or NUL-terminated; `config` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_init(
    cache: *mut nipc_cgroups_cache_t,
    run_dir: *const c_char,
    service_name: *const c_char,
    config: *const nipc_client_config_t,
) {
    crate::ffi::guard((), || {
        if cache.is_null() {
            return;
        }
        // SAFETY: NULL or valid, by the caller's contract.
        let config = unsafe { config.as_ref() }.copied().unwrap_or_default();
        let mut refused = Vec::new();
        // SAFETY: NULL or NUL-terminated, by the caller's contract.
        let run_dir = unsafe { c_str(run_dir) }.unwrap_or_else(|_| {
            refused.push("run_dir");
            ""
        });
        // SAFETY: as above.
        let service = unsafe { c_str(service_name) }.unwrap_or_else(|_| {
            refused.push("service_name");
            ""
        });
        let bad_init = (!refused.is_empty()).then(|| {
            format!(
                "nipc_cgroups_cache_init got a {} that is NULL or not UTF-8: close the cache \
                 and initialize it again with valid arguments",
                refused.join(" and a ")
            )
        });
        let value = Cache::new(run_dir, service, &config.to_rust(), bad_init);
        // SAFETY: `cache` points to storage of NIPC_CGROUPS_CACHE_WORDS
        // words (checked to fit a `Slot<Cache>`) that no one else uses.
        unsafe { Slot::init(cache.cast::<Slot<Cache>>(), value) };
    });
}

/// `bool nipc_cgroups_cache_refresh(nipc_cgroups_cache_t *cache)`:
/// connects if needed, fetches the full snapshot and publishes it. Blocks
/// for up to the call timeout (twice when the session breaks and the
/// request is sent again), and while another refresh runs. False: nothing
/// was published (the previous snapshot stays; the reason is in
/// `nipc_cgroups_cache_last_error`), or the cache is NULL or not
/// initialized.
///
/// # Safety
/// `cache` NULL or a cache not closed during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_refresh(cache: *mut nipc_cgroups_cache_t) -> bool {
    crate::ffi::guard(false, || {
        // SAFETY: the caller's contract.
        unsafe { self::cache(cache) }.is_ok_and(|c| c.refresh_with(SnapshotCache::refresh).is_ok())
    })
}

/// `nipc_error_t nipc_cgroups_cache_wait_ready(nipc_cgroups_cache_t *cache,
/// uint32_t timeout_ms)`: refreshes until a snapshot is published or
/// `timeout_ms` has passed (pausing 10 ms, doubling up to 250 ms, between
/// failures); NIPC_OK at once when one is already published.
///
/// # Safety
/// As [`nipc_cgroups_cache_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_wait_ready(
    cache: *mut nipc_cgroups_cache_t,
    timeout_ms: u32,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let c = unsafe { self::cache(cache) }?;
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        c.refresh_with(|core| core.wait_ready(timeout))
    })
}

/// `bool nipc_cgroups_cache_ready(const nipc_cgroups_cache_t *cache)`:
/// whether a snapshot is published (not whether the provider is connected
/// now). No I/O, never blocks.
///
/// # Safety
/// As [`nipc_cgroups_cache_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_ready(cache: *const nipc_cgroups_cache_t) -> bool {
    crate::ffi::guard(false, || {
        // SAFETY: the caller's contract.
        unsafe { self::cache(cache) }.is_ok_and(|c| c.published.load().is_some())
    })
}

/// `bool nipc_cgroups_cache_read_lock(nipc_cgroups_cache_t *cache,
/// nipc_cgroups_cache_read_guard_t *guard)`: pins the published snapshot
/// (if any) in `guard`, whose previous content is not read (lock it again
/// only after unlocking it). Never waits for a refresh. False (the guard
/// then holds nothing) for a NULL or uninitialized cache or a NULL guard.
///
/// # Safety
/// `cache` as in [`nipc_cgroups_cache_refresh`]; `guard` NULL or storage of
/// a guard that no other thread uses during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_read_lock(
    cache: *const nipc_cgroups_cache_t,
    guard: *mut nipc_cgroups_cache_read_guard_t,
) -> bool {
    crate::ffi::guard(false, || {
        if guard.is_null() {
            return false;
        }
        // SAFETY: the caller's contract.
        let cache = unsafe { self::cache(cache) };
        let table = cache.as_ref().ok().and_then(|c| c.published.load_full());
        // SAFETY: storage of NIPC_CGROUPS_CACHE_READ_GUARD_WORDS words
        // (checked to fit a `Slot<Held>`), used by no one else.
        unsafe { Slot::init(guard.cast::<Slot<Held>>(), Held { table }) };
        cache.is_ok()
    })
}

/// `void nipc_cgroups_cache_read_unlock(nipc_cgroups_cache_read_guard_t
/// *guard)`: releases the snapshot the guard pinned; the views it returned
/// become invalid. NULL and unlocked guards are ignored.
///
/// # Safety
/// `guard` NULL or guard storage that no other thread uses during or after
/// the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_read_unlock(
    guard: *mut nipc_cgroups_cache_read_guard_t,
) {
    crate::ffi::guard((), || {
        // SAFETY: the caller's contract.
        unsafe { Slot::<Held>::close(guard.cast()) };
    });
}

/// `const nipc_cgroups_cache_item_view_t *nipc_cgroups_cache_get(const
/// nipc_cgroups_cache_read_guard_t *guard, uint32_t hash, const char
/// *name)`: the first item whose hash and name both match, or NULL (also
/// for a NULL name and a guard that is not locked). No allocation, no
/// lock.
///
/// # Safety
/// `guard` NULL or guard storage; `name` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_get(
    guard: *const nipc_cgroups_cache_read_guard_t,
    hash: u32,
    name: *const c_char,
) -> *const nipc_cgroups_cache_item_view_t {
    crate::ffi::guard(ptr::null(), || {
        // SAFETY: the caller's contract.
        let Some(table) = (unsafe { held(guard) }) else {
            return ptr::null();
        };
        if name.is_null() {
            return ptr::null();
        }
        // SAFETY: not NULL and NUL-terminated by the caller's contract.
        unsafe { table.position(hash, name) }
            .and_then(|i| table.views.0.get(i))
            .map_or(ptr::null(), ptr::from_ref)
    })
}

/// `size_t nipc_cgroups_cache_count(const nipc_cgroups_cache_read_guard_t
/// *guard)`: items in the guard's snapshot (0 for none or an unlocked
/// guard).
///
/// # Safety
/// `guard` NULL or guard storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_count(
    guard: *const nipc_cgroups_cache_read_guard_t,
) -> usize {
    crate::ffi::guard(0, || {
        // SAFETY: the caller's contract.
        unsafe { held(guard) }.map_or(0, |t| t.views.0.len())
    })
}

/// `const nipc_cgroups_cache_item_view_t *nipc_cgroups_cache_item_at(const
/// nipc_cgroups_cache_read_guard_t *guard, size_t index)`: the item at
/// `index` in the provider's order; NULL past the last one or for a guard
/// that is not locked.
///
/// # Safety
/// `guard` NULL or guard storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_item_at(
    guard: *const nipc_cgroups_cache_read_guard_t,
    index: usize,
) -> *const nipc_cgroups_cache_item_view_t {
    crate::ffi::guard(ptr::null(), || {
        // SAFETY: the caller's contract.
        unsafe { held(guard) }
            .and_then(|t| t.views.0.get(index))
            .map_or(ptr::null(), ptr::from_ref)
    })
}

/// `nipc_cgroups_cache_item_t *nipc_cgroups_cache_item_dup(const
/// nipc_cgroups_cache_read_guard_t *guard, const
/// nipc_cgroups_cache_item_view_t *view)`: an owned copy of `view` (exact
/// bytes for the guard's own views, up to the NUL for other views), to be
/// released with `nipc_cgroups_cache_item_free`. NULL for a guard that is
/// not locked, a NULL view or strings.
///
/// # Safety
/// `guard` NULL or guard storage; `view` NULL or a valid view whose
/// strings are NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_item_dup(
    guard: *const nipc_cgroups_cache_read_guard_t,
    view: *const nipc_cgroups_cache_item_view_t,
) -> *mut nipc_cgroups_cache_item_t {
    crate::ffi::guard(ptr::null_mut(), || {
        // SAFETY: the caller's contract.
        let Some(table) = (unsafe { held(guard) }) else {
            return ptr::null_mut();
        };
        // SAFETY: NULL or a valid view, by the caller's contract.
        let Some(v) = (unsafe { view.as_ref() }) else {
            return ptr::null_mut();
        };
        let (name, path) = match table.position_of(view) {
            Some(i) => match table.snapshot.c_strings(i) {
                Some((name, path)) => (strip_nul(name), strip_nul(path)),
                None => return ptr::null_mut(),
            },
            None if v.name.is_null() || v.path.is_null() => return ptr::null_mut(),
            // SAFETY: not NULL, NUL-terminated by the caller's contract.
            None => unsafe {
                (
                    CStr::from_ptr(v.name).to_bytes(),
                    CStr::from_ptr(v.path).to_bytes(),
                )
            },
        };
        let mut strings = Vec::with_capacity(name.len() + path.len() + 2);
        strings.extend_from_slice(name);
        strings.push(0);
        strings.extend_from_slice(path);
        strings.push(0);
        let mut owned = Box::new(OwnedItem {
            item: nipc_cgroups_cache_item_t {
                hash: v.hash,
                options: v.options,
                enabled: v.enabled,
                name: ptr::null_mut(),
                path: ptr::null_mut(),
                name_len: len_u32(name),
                path_len: len_u32(path),
            },
            strings,
        });
        let base = owned.strings.as_mut_ptr();
        owned.item.name = base.cast();
        // SAFETY: `name.len() + 1` is within `strings` (name, NUL, path, NUL).
        owned.item.path = unsafe { base.add(name.len() + 1) }.cast();
        Box::into_raw(owned).cast::<nipc_cgroups_cache_item_t>()
    })
}

/// `void nipc_cgroups_cache_item_free(nipc_cgroups_cache_item_t *item)`:
/// releases a copy made by `nipc_cgroups_cache_item_dup`; NULL is ignored.
///
/// # Safety
/// `item` NULL or returned by `nipc_cgroups_cache_item_dup` and not freed
/// yet.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_item_free(item: *mut nipc_cgroups_cache_item_t) {
    crate::ffi::guard((), || {
        if !item.is_null() {
            // SAFETY: made by `Box::into_raw` of an `OwnedItem` (whose
            // first field `item` is), by the caller's contract.
            drop(unsafe { Box::from_raw(item.cast::<OwnedItem>()) });
        }
    });
}

/// `nipc_error_t nipc_cgroups_cache_status(const nipc_cgroups_cache_t
/// *cache, nipc_cgroups_cache_status_t *out)`: state and counters. Never
/// blocks. On error `*out` (when not NULL) is zeroed.
///
/// # Safety
/// `cache` as in [`nipc_cgroups_cache_refresh`]; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_status(
    cache: *const nipc_cgroups_cache_t,
    out: *mut nipc_cgroups_cache_status_t,
) -> nipc_error_t {
    guard_code(|| {
        if out.is_null() {
            return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
        }
        // SAFETY: the caller's contract.
        let status = unsafe { self::cache(cache) }.map(Cache::status);
        // SAFETY: not NULL, writable by the caller's contract.
        unsafe { out.write(status.unwrap_or_default()) };
        status.map(|_| ())
    })
}

/// `nipc_error_t nipc_cgroups_cache_set_call_timeout(nipc_cgroups_cache_t
/// *cache, uint32_t timeout_ms)`: the time a refresh's call may take from
/// the next refresh on; 0 restores the configured one. Any thread.
///
/// # Safety
/// As [`nipc_cgroups_cache_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_set_call_timeout(
    cache: *mut nipc_cgroups_cache_t,
    timeout_ms: u32,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let c = unsafe { self::cache(cache) }?;
        c.core
            .set_call_timeout(Duration::from_millis(u64::from(timeout_ms)));
        Ok(())
    })
}

/// `nipc_error_t nipc_cgroups_cache_abort(nipc_cgroups_cache_t *cache)`:
/// makes the refresh in progress, and later ones until
/// `nipc_cgroups_cache_clear_abort`, fail with NIPC_ERR_ABORTED. Any
/// thread.
///
/// # Safety
/// As [`nipc_cgroups_cache_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_abort(
    cache: *mut nipc_cgroups_cache_t,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        unsafe { self::cache(cache) }?.core.abort_handle().abort();
        Ok(())
    })
}

/// `nipc_error_t nipc_cgroups_cache_clear_abort(nipc_cgroups_cache_t
/// *cache)`: allows refreshes again after `nipc_cgroups_cache_abort`.
///
/// # Safety
/// As [`nipc_cgroups_cache_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_clear_abort(
    cache: *mut nipc_cgroups_cache_t,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        unsafe { self::cache(cache) }?.core.abort_handle().clear();
        Ok(())
    })
}

/// `const char *nipc_cgroups_cache_last_error(const nipc_cgroups_cache_t
/// *cache)`: why the last refresh (or init) failed, "" after a success;
/// for a NULL or uninitialized cache, the text of that error. Valid until
/// the next refresh, wait_ready or close of the cache.
///
/// # Safety
/// As [`nipc_cgroups_cache_refresh`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_last_error(
    cache: *const nipc_cgroups_cache_t,
) -> *const c_char {
    crate::ffi::guard(nipc_error_t::NIPC_ERR_INTERNAL.text().as_ptr(), || {
        // SAFETY: the caller's contract.
        match unsafe { self::cache(cache) } {
            Ok(c) => c.last_error.as_ptr(),
            Err(code) => code.text().as_ptr(),
        }
    })
}

/// `void nipc_cgroups_cache_close(nipc_cgroups_cache_t *cache)`: closes
/// the connection and frees the cache; guards still locked keep their
/// snapshot until unlocked. NULL, zeroed and closed caches are ignored.
///
/// # Safety
/// `cache` NULL or cache storage no other thread uses during or after the
/// call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_cache_close(cache: *mut nipc_cgroups_cache_t) {
    crate::ffi::guard((), || {
        // SAFETY: the caller's contract.
        unsafe { Slot::<Cache>::close(cache.cast()) };
    });
}
