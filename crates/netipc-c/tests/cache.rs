//! The C API's snapshot cache (`nipc_cgroups_cache_*`) against Rust
//! providers.
//!
//! - The extern "C" functions called directly, as C calls them: both
//!   transport profiles, lookups and copies, a provider that stops and comes
//!   back, reader threads that must only ever see whole snapshots while
//!   another thread refreshes, guards that outlive the cache. These run on
//!   every OS of the test lanes (Windows under wine).
//! - On Linux (gcc must be installed), the C programs themselves
//!   (`tests/c/test_cache*.c`, `examples/cache_consumer.c`) built against
//!   the static library and run against a provider in this process.
//!
//! Every test runs under a watchdog.

#[path = "../../netipc-tests/tests/common/mod.rs"]
mod common;

use std::ffi::{CStr, CString, c_char};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::RunDir;
use netipc::codec::{SnapshotBuilder, SnapshotItem};
use netipc::netdata::{cgroup_options, netdata_hash};
use netipc::service::{HandlerError, ManagedServer, RunningServer, ServerConfig};
use netipc_c::cache::*;
use netipc_c::config::nipc_client_config_t;
use netipc_c::nipc_error_t;

const WATCHDOG: Duration = Duration::from_secs(300);

/// `nipc_client_state_t` values.
const STATE_READY: u32 = 2;

fn watchdog(case: impl FnOnce() + Send + 'static) {
    common::watchdog(WATCHDOG, case);
}

/// One cgroup a test provider serves.
#[derive(Debug, Clone)]
struct Cgroup {
    hash: u32,
    name: String,
    path: String,
}

impl Cgroup {
    fn named(name: &str, path: &str) -> Self {
        Self {
            hash: netdata_hash(name.as_bytes()),
            name: name.to_owned(),
            path: path.to_owned(),
        }
    }
}

/// The table of the example provider (examples/cgroups_provider.rs), which
/// the C tests expect, plus `redis` when the provider comes back.
fn example_table(with_redis: bool) -> Vec<Cgroup> {
    let mut table = vec![
        Cgroup::named("nginx", "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope"),
        Cgroup::named(
            "checkout-api",
            "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
        ),
        Cgroup::named("netdata", "/sys/fs/cgroup/system.slice/netdata.service"),
    ];
    if with_redis {
        table.push(Cgroup::named(
            "redis",
            "/sys/fs/cgroup/system.slice/docker-77aa.scope",
        ));
    }
    table
}

/// What a provider serves; tests change it between refreshes.
#[derive(Debug, Default)]
struct Served {
    generation: AtomicU64,
    items: Mutex<Vec<Cgroup>>,
    /// Every answer is a new generation whose names carry it ("g7-3").
    churn: AtomicBool,
}

fn provider(dir: &RunDir, service: &str, served: &Arc<Served>) -> RunningServer {
    let served = served.clone();
    let handler = move |b: &mut SnapshotBuilder<'_>| -> Result<(), HandlerError> {
        let (generation, items) = if served.churn.load(Ordering::SeqCst) {
            let g = served.generation.fetch_add(1, Ordering::SeqCst) + 1;
            let items = (0..64u32).map(|i| Cgroup {
                hash: i,
                name: format!("g{g}-{i}"),
                path: format!("/sys/fs/cgroup/g{g}-{i}"),
            });
            (g, items.collect())
        } else {
            let items = served.items.lock().unwrap().clone();
            (served.generation.load(Ordering::SeqCst), items)
        };
        b.set_systemd_enabled(1);
        b.set_generation(generation);
        for c in &items {
            b.add(&SnapshotItem {
                hash: c.hash,
                options: cgroup_options::IS_UNIFIED,
                enabled: 1,
                name: c.name.as_bytes(),
                path: c.path.as_bytes(),
            })?;
        }
        Ok(())
    };
    ManagedServer::cgroups_snapshot(dir.str(), service, &ServerConfig::default(), handler)
        .spawn()
        .expect("start the provider")
}

fn served(generation: u64, items: Vec<Cgroup>) -> Arc<Served> {
    let s = Arc::new(Served::default());
    s.generation.store(generation, Ordering::SeqCst);
    *s.items.lock().unwrap() = items;
    s
}

/// A cache in heap storage that does not move, reached only through a raw
/// pointer (as C holds it); closed and freed on drop.
struct Cache(*mut nipc_cgroups_cache_t);

// SAFETY: the C functions may be called from any thread (the header's
// threading rules); the tests follow them.
unsafe impl Send for Cache {}
// SAFETY: as above.
unsafe impl Sync for Cache {}

impl Cache {
    fn new(dir: &RunDir, service: &str, profiles: u32) -> Self {
        // SAFETY: all-zero words are a valid (zeroed, not live) cache.
        let storage = Box::into_raw(Box::new(unsafe {
            std::mem::zeroed::<nipc_cgroups_cache_t>()
        }));
        let run_dir = CString::new(dir.str()).unwrap();
        let service = CString::new(service).unwrap();
        let config = nipc_client_config_t {
            supported_profiles: profiles,
            ..nipc_client_config_t::default()
        };
        // SAFETY: storage of a cache, NUL-terminated strings, a valid config.
        unsafe { nipc_cgroups_cache_init(storage, run_dir.as_ptr(), service.as_ptr(), &config) };
        Self(storage)
    }

    fn refresh(&self) -> bool {
        // SAFETY: a live cache.
        unsafe { nipc_cgroups_cache_refresh(self.0) }
    }

    fn wait_ready(&self) -> nipc_error_t {
        // SAFETY: a live cache.
        unsafe { nipc_cgroups_cache_wait_ready(self.0, 30_000) }
    }

    fn ready(&self) -> bool {
        // SAFETY: a live cache.
        unsafe { nipc_cgroups_cache_ready(self.0) }
    }

    fn status(&self) -> nipc_cgroups_cache_status_t {
        let mut out = nipc_cgroups_cache_status_t::default();
        // SAFETY: a live cache and a writable status.
        let code = unsafe { nipc_cgroups_cache_status(self.0, &mut out) };
        assert_eq!(code, nipc_error_t::NIPC_OK);
        out
    }

    fn last_error(&self) -> String {
        // SAFETY: a live cache; the text is read before the next refresh.
        unsafe { CStr::from_ptr(nipc_cgroups_cache_last_error(self.0)) }
            .to_string_lossy()
            .into_owned()
    }

    fn lock(&self) -> Guard {
        let guard = Guard::new();
        // SAFETY: a live cache and guard storage of this thread.
        assert!(unsafe { nipc_cgroups_cache_read_lock(self.0, guard.0) });
        guard
    }

    fn close(&self) {
        // SAFETY: no other thread uses the cache now.
        unsafe { nipc_cgroups_cache_close(self.0) };
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.close();
        // SAFETY: made by `Box::into_raw` in `new`.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// A read guard in heap storage; unlocked and freed on drop.
struct Guard(*mut nipc_cgroups_cache_read_guard_t);

impl Guard {
    fn new() -> Self {
        // SAFETY: all-zero words are a valid guard that holds nothing.
        Self(Box::into_raw(Box::new(unsafe {
            std::mem::zeroed::<nipc_cgroups_cache_read_guard_t>()
        })))
    }

    fn get(&self, hash: u32, name: &str) -> Option<View> {
        let name = CString::new(name).unwrap();
        // SAFETY: guard storage and a NUL-terminated name.
        View::from(unsafe { nipc_cgroups_cache_get(self.0, hash, name.as_ptr()) })
    }

    fn find(&self, name: &str) -> Option<View> {
        self.get(netdata_hash(name.as_bytes()), name)
    }

    fn count(&self) -> usize {
        // SAFETY: guard storage.
        unsafe { nipc_cgroups_cache_count(self.0) }
    }

    fn at(&self, index: usize) -> Option<View> {
        // SAFETY: guard storage.
        View::from(unsafe { nipc_cgroups_cache_item_at(self.0, index) })
    }

    fn dup(&self, view: *const nipc_cgroups_cache_item_view_t) -> *mut nipc_cgroups_cache_item_t {
        // SAFETY: guard storage; the view is NULL or one the guard returned.
        unsafe { nipc_cgroups_cache_item_dup(self.0, view) }
    }

    fn unlock(&self) {
        // SAFETY: guard storage used by this thread.
        unsafe { nipc_cgroups_cache_read_unlock(self.0) };
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.unlock();
        // SAFETY: made by `Box::into_raw` in `new`.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

/// A view a guard returned, read through its pointer each time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct View(*const nipc_cgroups_cache_item_view_t);

/// C string `ptr` of `len` bytes as text, checking the NUL after them.
///
/// # Safety
/// `ptr` must point to `len` bytes and a NUL.
unsafe fn text(ptr: *const c_char, len: u32) -> String {
    // SAFETY: the caller's contract.
    let s = unsafe { CStr::from_ptr(ptr) };
    assert_eq!(s.to_bytes().len(), len as usize, "length field");
    s.to_str().unwrap().to_owned()
}

impl View {
    fn from(ptr: *const nipc_cgroups_cache_item_view_t) -> Option<Self> {
        (!ptr.is_null()).then_some(Self(ptr))
    }

    /// (hash, options, enabled, name, path), read while the guard is held.
    fn fields(self) -> (u32, u32, u32, String, String) {
        // SAFETY: a view of a guard that is still locked (the tests' use).
        unsafe {
            let v = &*self.0;
            (
                v.hash,
                v.options,
                v.enabled,
                text(v.name, v.name_len),
                text(v.path, v.path_len),
            )
        }
    }

    fn name(self) -> String {
        self.fields().3
    }
}

/// Checks that `guard` holds exactly `table`, in order.
fn assert_holds(guard: &Guard, table: &[Cgroup]) {
    assert_eq!(guard.count(), table.len());
    for (i, c) in table.iter().enumerate() {
        let view = guard.find(&c.name).expect("found by (hash, name)");
        assert_eq!(
            guard.at(i),
            Some(view),
            "item_at and get return the same view"
        );
        assert_eq!(
            view.fields(),
            (
                c.hash,
                cgroup_options::IS_UNIFIED,
                1,
                c.name.clone(),
                c.path.clone()
            )
        );
    }
    assert_eq!(guard.at(table.len()), None);
}

#[test]
fn both_profiles_publish_the_provider_table_through_the_c_functions() {
    watchdog(|| {
        let dir = RunDir::new();
        let table = example_table(false);
        let _server = provider(&dir, "cg", &served(1, table.clone()));
        for (profiles, expected) in [(1, 1), (0, 2)] {
            let cache = Cache::new(&dir, "cg", profiles);
            assert!(!cache.ready());
            let guard = cache.lock();
            assert_eq!((guard.count(), guard.find("nginx")), (0, None));
            assert_eq!(cache.wait_ready(), nipc_error_t::NIPC_OK);
            assert!(cache.ready());
            assert_eq!(cache.last_error(), "");
            let s = cache.status();
            assert!(s.populated);
            assert_eq!((s.item_count, s.generation, s.systemd_enabled), (3, 1, 1));
            assert_eq!((s.refresh_success_count, s.refresh_failure_count), (1, 0));
            assert_eq!(s.connection_state, STATE_READY);
            assert_eq!(s.transport_profile, expected, "profiles {profiles:#x}");
            assert!(s.last_refresh_ts >= 1);
            // The guard taken before the refresh still holds nothing.
            assert_eq!(guard.count(), 0);
            let guard = cache.lock();
            assert_holds(&guard, &table);
            assert_eq!(guard.get(table[0].hash ^ 1, "nginx"), None, "other hash");
            assert_eq!(guard.find("ngin"), None, "prefix");
            assert_eq!(guard.get(table[0].hash, "netdata"), None, "other name");
            // SAFETY: guard storage; a NULL name.
            let null_name = unsafe { nipc_cgroups_cache_get(guard.0, table[0].hash, ptr::null()) };
            assert!(null_name.is_null());
        }
    });
}

#[test]
fn copies_and_views_outlive_refreshes_and_the_cache() {
    watchdog(|| {
        let dir = RunDir::new();
        let s = served(1, example_table(false));
        let _server = provider(&dir, "cg", &s);
        let cache = Cache::new(&dir, "cg", 0);
        assert_eq!(cache.wait_ready(), nipc_error_t::NIPC_OK);
        let old = cache.lock();
        let view = old.find("checkout-api").expect("found");
        let copy = old.dup(view.0);
        assert!(!copy.is_null());
        // SAFETY: a copy made above and not freed yet.
        unsafe {
            let c = &*copy;
            assert_eq!(text(c.name, c.name_len), "checkout-api");
            assert_ne!(c.name.cast_const(), (*view.0).name, "owned, not borrowed");
        }

        *s.items.lock().unwrap() = vec![Cgroup::named("other", "/other")];
        s.generation.store(2, Ordering::SeqCst);
        assert!(cache.refresh());
        let fresh = cache.lock();
        assert_eq!(fresh.find("checkout-api"), None);
        assert_eq!(
            fresh.find("other").map(View::name).as_deref(),
            Some("other")
        );
        assert_eq!(cache.status().generation, 2);
        // The old guard keeps its snapshot, even after close.
        cache.close();
        assert!(!cache.ready());
        assert_holds(&old, &example_table(false));
        assert_eq!(view.name(), "checkout-api");
        let late = old.dup(view.0);
        old.unlock();
        assert_eq!(old.find("nginx"), None, "unlocked");
        assert!(old.dup(view.0).is_null(), "unlocked");
        for c in [copy, late] {
            // SAFETY: copies made above, freed once.
            unsafe {
                assert_eq!(text((*c).path, (*c).path_len), example_table(false)[1].path);
                nipc_cgroups_cache_item_free(c);
            }
        }
    });
}

#[test]
fn names_match_exactly_with_poor_hashes_and_nuls_inside_names() {
    watchdog(|| {
        let dir = RunDir::new();
        // 100 names of one hash: the index mixes the names into its keys.
        let mut items: Vec<Cgroup> = (0..100)
            .map(|i| Cgroup {
                hash: 7,
                name: format!("n{i}"),
                path: format!("/p/{i}"),
            })
            .collect();
        let s = served(1, items.clone());
        let _server = provider(&dir, "cg", &s);
        let cache = Cache::new(&dir, "cg", 0);
        for round in 0..2 {
            if round == 1 {
                // A name with a NUL inside, and the C string before it.
                for name in ["a\0b", "a"] {
                    items.push(Cgroup {
                        hash: 1,
                        name: name.into(),
                        path: format!("/{}", name.len()),
                    });
                }
                *s.items.lock().unwrap() = items.clone();
            }
            assert!(cache.refresh(), "{}", cache.last_error());
            let guard = cache.lock();
            assert_eq!(guard.count(), items.len());
            for i in 0..100 {
                let view = guard.get(7, &format!("n{i}")).expect("found");
                assert_eq!(guard.at(i), Some(view));
                assert_eq!(guard.get(7, &format!("n{i}x")), None);
                assert_eq!(guard.get(8, &format!("n{i}")), None);
            }
            assert_eq!(guard.get(7, "n100"), None);
            if round == 1 {
                let a = guard.get(1, "a").expect("the plain name");
                assert_eq!(Some(a), guard.at(101), "not the name with a NUL inside");
                assert_eq!(a.fields().4, "/1");
                // SAFETY: a view of the locked guard.
                let with_nul = unsafe { *guard.at(100).expect("an item").0 };
                assert_eq!((with_nul.name_len, with_nul.path_len), (3, 2));
            }
        }
    });
}

#[test]
fn a_provider_that_stops_keeps_the_last_good_copy_and_comes_back() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = provider(&dir, "cg", &served(1, example_table(false)));
        let cache = Cache::new(&dir, "cg", 0);
        assert_eq!(cache.wait_ready(), nipc_error_t::NIPC_OK);
        server.stop();
        assert!(!cache.refresh());
        assert!(!cache.refresh());
        assert!(!cache.last_error().is_empty());
        assert!(cache.ready());
        let s = cache.status();
        assert_eq!((s.item_count, s.generation), (3, 1));
        assert_eq!((s.refresh_success_count, s.refresh_failure_count), (1, 2));
        assert_ne!(s.connection_state, STATE_READY);
        assert_eq!(s.transport_profile, 0);
        assert_holds(&cache.lock(), &example_table(false));

        let _server = provider(&dir, "cg", &served(2, example_table(true)));
        assert!(cache.refresh(), "{}", cache.last_error());
        assert_eq!(cache.last_error(), "");
        let s = cache.status();
        assert_eq!(
            (s.item_count, s.generation, s.connection_state),
            (4, 2, STATE_READY)
        );
        assert_holds(&cache.lock(), &example_table(true));
    });
}

#[test]
fn readers_see_whole_snapshots_while_another_thread_refreshes() {
    watchdog(|| {
        let dir = RunDir::new();
        let s = served(0, Vec::new());
        s.churn.store(true, Ordering::SeqCst);
        let _server = provider(&dir, "cg", &s);
        let cache = Cache::new(&dir, "cg", 0);
        assert_eq!(cache.wait_ready(), nipc_error_t::NIPC_OK);
        let held = cache.lock();
        let first = held.at(0).expect("an item").name();
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let mut rounds = 0u32;
                        while !done.load(Ordering::SeqCst) || rounds < 50 {
                            let guard = cache.lock();
                            assert_eq!(guard.count(), 64);
                            let first = guard.at(0).expect("an item").name();
                            let generation = first.split('-').next().expect("g<N>").to_owned();
                            for i in 0..64u32 {
                                let name = format!("{generation}-{i}");
                                let view = guard.get(i, &name).expect("same generation");
                                assert_eq!(guard.at(i as usize), Some(view));
                            }
                            assert!(cache.status().populated);
                            rounds += 1;
                        }
                    })
                })
                .collect();
            for _ in 0..200 {
                assert!(cache.refresh(), "{}", cache.last_error());
            }
            done.store(true, Ordering::SeqCst);
            for r in readers {
                r.join().expect("reader");
            }
        });
        let status = cache.status();
        assert_eq!(status.refresh_success_count, 201);
        assert_eq!(status.generation, 201);
        assert_eq!(held.at(0).expect("an item").name(), first);
        assert_eq!(first, "g1-0");
    });
}

/// The C programs, built with gcc (on Windows the lanes build and run
/// them with mingw under wine).
#[cfg(not(windows))]
mod c_programs {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    use netipc::cache::SnapshotCache;
    use netipc::service::ClientConfig;

    // --- The C programs, built with gcc -------------------------------------

    /// `gcc`, which must run here (the Windows builds of the C programs are
    /// made and run by the lanes, not by this test).
    fn gcc() -> &'static str {
        let runs = Command::new("gcc")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            runs,
            "gcc does not run here: install it (apt-get install gcc)"
        );
        "gcc"
    }

    /// This build's libnetipc_c.a: next to the test binary (cargo test builds
    /// the library's static form there), else in target/<profile> (cargo build).
    fn static_library() -> PathBuf {
        let exe = std::env::current_exe().expect("test binary path");
        let deps = exe.parent().expect("target/<profile>/deps");
        let candidates = [deps, deps.parent().unwrap_or(deps)].map(|d| d.join("libnetipc_c.a"));
        candidates
            .iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("no libnetipc_c.a at {candidates:?}"))
            .clone()
    }

    /// Builds `source` (relative to this crate) into `out_dir`, with `flags`.
    fn build_c(gcc: &str, source: &str, out_dir: &Path, flags: &[&str]) -> PathBuf {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let name = Path::new(source).file_stem().unwrap().to_str().unwrap();
        let exe = out_dir.join(name);
        let output = Command::new(gcc)
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .args(flags)
            .arg("-I")
            .arg(root.join("include"))
            .arg(root.join(source))
            .arg(static_library())
            .args(["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-o"])
            .arg(&exe)
            .output()
            .expect("run gcc");
        assert!(
            output.status.success(),
            "gcc {source}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        exe
    }

    /// Runs `cmd` to completion (killed after 120 s); its stdout.
    fn run(mut cmd: Command) -> String {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start");
        let output = wait(child);
        assert!(
            output.status.success(),
            "{cmd:?}: {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// Waits for `child`; kills it after 120 s.
    fn wait(child: std::process::Child) -> std::process::Output {
        let id = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let out = child.wait_with_output();
            let _ = tx.send(());
            out
        });
        if rx.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!("process {id} did not finish within 120 s");
        }
        waiter.join().expect("waiter").expect("wait")
    }

    #[test]
    fn the_c_tests_and_example_against_a_rust_provider() {
        let gcc = gcc();
        watchdog(move || {
            let dir = RunDir::new();
            let bin = RunDir::new();
            let test_cache = build_c(gcc, "tests/c/test_cache.c", &bin.path, &[]);
            let test_provider = build_c(gcc, "tests/c/test_cache_provider.c", &bin.path, &[]);
            let consumer = build_c(gcc, "examples/cache_consumer.c", &bin.path, &[]);

            let mut cmd = Command::new(&test_cache);
            cmd.arg(dir.str());
            assert!(run(cmd).contains("test_cache: ok"));

            let mut server = Some(provider(
                &dir,
                "c-snapshot",
                &served(1, example_table(false)),
            ));
            let mut cmd = Command::new(&consumer);
            cmd.args([dir.str(), "c", "3", "10"]);
            let out = run(cmd);
            for line in [
                "refresh 3: generation 1, 3 cgroups (refreshes: 3 ok, 0 failed)",
                "  nginx          b03ff17b enabled=1 /sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
                "  no-such-cgroup not cached",
                "first cgroup, copied before the refreshes: nginx /sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
            ] {
                assert!(
                    out.lines().any(|l| l == line),
                    "no line {line:?} in:\n{out}"
                );
            }

            // test_cache_provider asks for the provider to stop and come back.
            let mut child = Command::new(&test_provider)
                .args([dir.str(), "c", "--provider-stops"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start test_cache_provider");
            let mut stdin = child.stdin.take().expect("stdin");
            let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
            let mut transcript = String::new();
            for line in lines.by_ref() {
                let line = line.expect("read stdout");
                transcript.push_str(&line);
                transcript.push('\n');
                match line.as_str() {
                    "stop the provider" => server.take().expect("running").stop(),
                    "start the provider" => {
                        server = Some(provider(
                            &dir,
                            "c-snapshot",
                            &served(2, example_table(true)),
                        ));
                    }
                    _ => continue,
                }
                stdin.write_all(b"go\n").expect("answer");
            }
            drop(stdin);
            let output = wait(child);
            assert!(
                output.status.success() && transcript.contains("test_cache_provider: ok"),
                "test_cache_provider: {}\n{transcript}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(transcript.contains("start the provider"), "{transcript}");
        });
    }

    /// The median of three measurements.
    fn median(mut runs: [f64; 3]) -> f64 {
        runs.sort_by(f64::total_cmp);
        runs[1]
    }

    /// Nanoseconds per lookup of `lookups` calls of `get(index)`, cycling over
    /// `items` indexes (`get` returns the found path's length): the fastest of
    /// 20 passes, as benches/cache_lookup.c measures.
    fn time_lookups(
        items: usize,
        lookups: usize,
        mut get: impl FnMut(usize) -> Option<usize>,
    ) -> f64 {
        let mut best = f64::MAX;
        for _ in 0..20 {
            let (mut sum, mut i) = (0usize, 0);
            let start = Instant::now();
            for _ in 0..lookups {
                sum += get(i).expect("found");
                i += 1;
                if i == items {
                    i = 0;
                }
            }
            best = best.min(start.elapsed().as_secs_f64() * 1e9 / lookups as f64);
            std::hint::black_box(sum);
        }
        best
    }

    /// Issue item 9: a C cache lookup costs about what the Rust one does. One
    /// provider of 1000 cgroups (as netipc bench's l3-cache-lookup), one guard
    /// held for 1,000,000 lookups cycling over every name (the fastest of 20
    /// passes), three rounds of:
    /// the C program benches/cache_lookup.c (gcc -O2), the Rust
    /// `CacheGuard::get`, and `nipc_cgroups_cache_get` called from Rust.
    /// Prints the medians; asserts nothing about time.
    #[test]
    #[ignore = "a measurement: cargo test --release -p netipc-c --test cache -- --ignored --nocapture"]
    fn lookup_cost_of_c_and_rust() {
        const ITEMS: usize = 1000;
        // NIPC_BENCH_LOOKUPS: fewer for a run under callgrind.
        let lookups: usize = std::env::var("NIPC_BENCH_LOOKUPS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1_000_000);
        let gcc = gcc();
        let dir = RunDir::new();
        let bin = RunDir::new();
        let table: Vec<Cgroup> = (0..ITEMS)
            .map(|i| Cgroup {
                hash: (i as u32).wrapping_mul(2_654_435_761),
                name: format!("docker-{i:012x}.scope"),
                path: format!("/sys/fs/cgroup/system.slice/docker-{i:012x}.scope"),
            })
            .collect();
        let _server = provider(&dir, "bench", &served(1, table.clone()));
        let exe = build_c(gcc, "benches/cache_lookup.c", &bin.path, &["-O2"]);

        let rust = SnapshotCache::new(dir.str(), "bench", &ClientConfig::default());
        rust.refresh().expect("refresh");
        let c = Cache::new(&dir, "bench", 0);
        assert_eq!(c.wait_ready(), nipc_error_t::NIPC_OK);
        let names: Vec<CString> = table
            .iter()
            .map(|t| CString::new(t.name.clone()).unwrap())
            .collect();

        let (mut c_program, mut rust_get, mut ffi) = ([0.0; 3], [0.0; 3], [0.0; 3]);
        for round in 0..3 {
            let mut cmd = Command::new(&exe);
            cmd.args([dir.str(), "bench", &ITEMS.to_string(), &lookups.to_string()]);
            let out = run(cmd);
            c_program[round] = out
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("cache_lookup printed {out:?}"));

            let guard = rust.read();
            rust_get[round] = time_lookups(ITEMS, lookups, |i| {
                let t = &table[i];
                guard
                    .get(t.hash, t.name.as_bytes())
                    .map(|item| item.path.len())
            });

            let guard = c.lock();
            ffi[round] = time_lookups(ITEMS, lookups, |i| {
                // SAFETY: a locked guard and a NUL-terminated name; the view is
                // read while the guard is held.
                let view =
                    unsafe { nipc_cgroups_cache_get(guard.0, table[i].hash, names[i].as_ptr()) };
                // SAFETY: as above.
                unsafe { view.as_ref() }.map(|v| v.path_len as usize)
            });
        }
        let (c_ns, rust_ns, ffi_ns) = (median(c_program), median(rust_get), median(ffi));
        println!(
            "cache lookups, {ITEMS} cgroups, {lookups} lookups per round, medians of 3 (ns per lookup):\n  \
             C program (gcc -O2) nipc_cgroups_cache_get  {c_ns:6.2}  (rounds {c_program:.2?})\n  \
             Rust CacheGuard::get                        {rust_ns:6.2}  (rounds {rust_get:.2?})\n  \
             nipc_cgroups_cache_get called from Rust     {ffi_ns:6.2}  (rounds {ffi:.2?})\n  \
             C / Rust: {:+.1} %",
            (c_ns / rust_ns - 1.0) * 100.0
        );
    }
}
