//! cgroups-snapshot servers with C handlers: answers over both profiles,
//! handler failures, overflow and growth, invalid arguments, user
//! pointers and concurrency.

use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use netipc::Error;
use netipc::netdata::netdata_hash;
use netipc::service::{CgroupsSnapshotClient, Profiles};
use netipc::wire::TransportStatus;
use netipc_c::builders::{
    nipc_cgroups_builder_add, nipc_cgroups_builder_error, nipc_cgroups_builder_set_header,
    nipc_cgroups_builder_t, nipc_cgroups_req_t,
};
use netipc_c::config::nipc_server_config_t;
use netipc_c::nipc_error_t;
use netipc_c::server::nipc_cgroups_service_handler_t;

use crate::support::{CServer, Handler, PROFILES, RunDir, client_config, user, watchdog};

/// What a test snapshot handler serves and records.
#[derive(Default)]
pub struct Snapshot {
    /// (name, path) of every item.
    pub items: Vec<(String, String)>,
    pub generation: u64,
    pub systemd_enabled: u32,
    /// Return false.
    pub fail: bool,
    /// Return false at the first refused add.
    pub stop_on_error: bool,
    /// Pass a NULL name with a length first.
    pub misuse: bool,
    /// Sleep this long in every call.
    pub delay: Duration,
    pub calls: AtomicU32,
    /// Calls that found `user` and the request as expected.
    pub sane_calls: AtomicU32,
    /// Calls running now, and the most at once.
    pub running: AtomicUsize,
    pub most_running: AtomicUsize,
    /// Set when a call starts and when it ends.
    pub entered: AtomicBool,
    pub returned: AtomicBool,
    /// Every code the builder functions returned.
    pub codes: Mutex<Vec<nipc_error_t>>,
}

impl Snapshot {
    pub fn with_items(n: usize, path_len: usize) -> Self {
        let items = (0..n)
            .map(|i| {
                let name = format!("cg-{i}");
                let mut path = format!("/sys/fs/cgroup/{name}/");
                while path.len() < path_len {
                    path.push('x');
                }
                (name, path)
            })
            .collect();
        Self {
            items,
            generation: 42,
            systemd_enabled: 1,
            ..Self::default()
        }
    }

    pub fn handler(&self, max_items: u32) -> Handler {
        Handler::Snapshot(nipc_cgroups_service_handler_t {
            handle: Some(snapshot_handler),
            snapshot_max_items: max_items,
            user: user(self),
        })
    }

    pub fn codes(&self) -> Vec<nipc_error_t> {
        self.codes.lock().unwrap().clone()
    }

    fn note(&self, code: nipc_error_t) -> nipc_error_t {
        self.codes.lock().unwrap().push(code);
        code
    }

    /// Checks a snapshot a client received.
    pub fn check(&self, client: &mut CgroupsSnapshotClient) {
        let view = client.call().expect("snapshot");
        assert_eq!(view.generation(), self.generation);
        assert_eq!(view.systemd_enabled(), self.systemd_enabled);
        assert_eq!(view.len(), self.items.len());
        for (i, (name, path)) in self.items.iter().enumerate() {
            let item = view.item(i).expect("item");
            assert_eq!(item.name, name.as_bytes());
            assert_eq!(item.path, path.as_bytes());
            assert_eq!(item.hash, netdata_hash(name.as_bytes()));
            assert_eq!(item.options, i as u32);
            assert_eq!(item.enabled, (i % 2) as u32);
        }
    }
}

/// The handler: adds `items` (no Rust panic may cross this function).
unsafe extern "C" fn snapshot_handler(
    user: *mut c_void,
    req: *const nipc_cgroups_req_t,
    b: *mut nipc_cgroups_builder_t,
) -> bool {
    // SAFETY: `user` is the test's `Snapshot`, alive while the server is.
    let s = unsafe { &*user.cast::<Snapshot>() };
    s.calls.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the request of this call.
    let req = unsafe { *req };
    if req.layout_version == 1 && req.flags == 0 {
        s.sane_calls.fetch_add(1, Ordering::SeqCst);
    }
    let now = s.running.fetch_add(1, Ordering::SeqCst) + 1;
    s.most_running.fetch_max(now, Ordering::SeqCst);
    s.entered.store(true, Ordering::SeqCst);
    std::thread::sleep(s.delay);
    let ok = fill(s, b);
    s.running.fetch_sub(1, Ordering::SeqCst);
    s.returned.store(true, Ordering::SeqCst);
    ok && !s.fail
}

fn fill(s: &Snapshot, b: *mut nipc_cgroups_builder_t) -> bool {
    // SAFETY: `b` is the builder of this call; strings are valid slices.
    unsafe {
        s.note(nipc_cgroups_builder_set_header(
            b,
            s.systemd_enabled,
            s.generation,
        ));
        if s.misuse {
            s.note(nipc_cgroups_builder_add(
                b,
                1,
                0,
                0,
                std::ptr::null(),
                5,
                c"/p".as_ptr(),
                2,
            ));
        }
        for (i, (name, path)) in s.items.iter().enumerate() {
            let code = s.note(nipc_cgroups_builder_add(
                b,
                netdata_hash(name.as_bytes()),
                i as u32,
                (i % 2) as u32,
                name.as_ptr().cast(),
                name.len() as u32,
                path.as_ptr().cast(),
                path.len() as u32,
            ));
            if code != nipc_error_t::NIPC_OK && s.stop_on_error {
                return false;
            }
        }
        s.note(nipc_cgroups_builder_error(b));
    }
    true
}

fn client(dir: &RunDir, service: &str, profiles: Profiles) -> CgroupsSnapshotClient {
    let mut client = CgroupsSnapshotClient::new(dir.str(), service, &client_config(profiles));
    client.wait_ready(Duration::from_secs(10)).expect("connect");
    client
}

#[test]
fn a_c_snapshot_provider_answers_rust_clients_over_both_profiles() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Snapshot::with_items(16, 40));
        let mut server = CServer::start(dir.str(), "snap", &data.handler(0));
        for profiles in PROFILES {
            let mut client = client(&dir, "snap", profiles);
            let info = client.session_info().expect("connected");
            assert_eq!(info.shared_memory, profiles == Profiles::SHM_HYBRID);
            data.check(&mut client);
            data.check(&mut client);
        }
        assert_eq!(data.calls.load(Ordering::SeqCst), 4);
        assert_eq!(data.sane_calls.load(Ordering::SeqCst), 4);
        assert!(data.codes().iter().all(|c| *c == nipc_error_t::NIPC_OK));
        let stats = server.stats();
        assert_eq!(stats.requests, 4);
        assert_eq!(stats.responses_ok, 4);
        assert_eq!(stats.sessions_opened, 2);
        assert_eq!(stats.handler_errors, 0);
        assert!(stats.bytes_sent > 16 * 40 * 4);
        assert_eq!(server.stop(), nipc_error_t::NIPC_OK);
        drop(server);
        assert!(dir.is_empty(), "the provider left files behind");
    });
}

#[test]
fn a_handler_returning_false_answers_internal_error_and_the_session_goes_on() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Snapshot {
            fail: true,
            ..Snapshot::with_items(2, 20)
        });
        let server = CServer::start(dir.str(), "failing", &data.handler(0));
        let mut client = client(&dir, "failing", Profiles::empty());
        for round in 1..=2 {
            match client.call() {
                Err(Error::Rejected(status)) => assert_eq!(status, TransportStatus::INTERNAL_ERROR),
                other => panic!("expected a rejection, got {other:?}"),
            }
            // Not sent again.
            assert_eq!(data.calls.load(Ordering::SeqCst), round);
        }
        let stats = server.stats();
        assert_eq!(stats.sessions_opened, 1);
        assert_eq!(stats.handler_errors, 2);
        assert_eq!(stats.responses_internal_error, 2);
        assert_eq!(stats.failed_requests, 2);
    });
}

#[test]
fn an_add_that_overflows_answers_limit_exceeded_and_the_client_grows() {
    // 200 items of 1 KiB: more than the 64 KiB a server starts with.
    for stop_on_error in [false, true] {
        watchdog(move || {
            let dir = RunDir::new();
            let data = Box::new(Snapshot {
                stop_on_error,
                ..Snapshot::with_items(200, 1024)
            });
            let server = CServer::start(dir.str(), "big", &data.handler(0));
            for profiles in PROFILES {
                let mut client = client(&dir, "big", profiles);
                data.check(&mut client);
            }
            assert!(data.codes().contains(&nipc_error_t::NIPC_ERR_OVERFLOW));
            let stats = server.stats();
            assert!(stats.responses_limit_exceeded >= 1);
            assert_eq!(stats.responses_ok, 2);
            assert_eq!(stats.handler_errors, 0);
        });
    }
}

#[test]
fn a_fixed_response_size_too_small_for_the_snapshot_fails_the_call() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Snapshot::with_items(200, 1024));
        let config = nipc_server_config_t {
            max_response_payload_bytes: 16 * 1024,
            ..nipc_server_config_t::default()
        };
        let server = CServer::start_with(dir.str(), "fixed", &config, 1, &data.handler(0));
        let mut client = client(&dir, "fixed", Profiles::empty());
        let err = client.call().expect_err("cannot fit");
        assert_eq!(
            nipc_error_t::from_error(&err),
            nipc_error_t::NIPC_ERR_OVERFLOW,
            "{err}"
        );
        assert!(server.stats().responses_limit_exceeded >= 1);
    });
}

#[test]
fn snapshot_max_items_bounds_the_adds() {
    watchdog(|| {
        let dir = RunDir::new();
        let two = Box::new(Snapshot::with_items(2, 20));
        let three = Box::new(Snapshot::with_items(3, 20));
        let _a = CServer::start(dir.str(), "two", &two.handler(2));
        let _b = CServer::start(dir.str(), "three", &three.handler(2));
        two.check(&mut client(&dir, "two", Profiles::empty()));
        let err = client(&dir, "three", Profiles::empty())
            .call()
            .expect_err("a third item never fits");
        assert_eq!(
            nipc_error_t::from_error(&err),
            nipc_error_t::NIPC_ERR_OVERFLOW,
            "{err}"
        );
        // set_header, add, add, add (refused), error.
        assert_eq!(
            three.codes()[..5],
            [
                nipc_error_t::NIPC_OK,
                nipc_error_t::NIPC_OK,
                nipc_error_t::NIPC_OK,
                nipc_error_t::NIPC_ERR_OVERFLOW,
                nipc_error_t::NIPC_ERR_OVERFLOW,
            ]
        );
    });
}

#[test]
fn an_invalid_argument_fails_the_request_even_if_the_handler_succeeds() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Snapshot {
            misuse: true,
            ..Snapshot::with_items(2, 20)
        });
        let server = CServer::start(dir.str(), "misuse", &data.handler(0));
        match client(&dir, "misuse", Profiles::empty()).call() {
            Err(Error::Rejected(status)) => assert_eq!(status, TransportStatus::INTERNAL_ERROR),
            other => panic!("expected a rejection, got {other:?}"),
        }
        // set_header, the NULL name, two good adds, then the first error.
        assert_eq!(
            data.codes(),
            [
                nipc_error_t::NIPC_OK,
                nipc_error_t::NIPC_ERR_INVALID_ARGUMENT,
                nipc_error_t::NIPC_OK,
                nipc_error_t::NIPC_OK,
                nipc_error_t::NIPC_ERR_INVALID_ARGUMENT,
            ]
        );
        assert_eq!(server.stats().handler_errors, 1);
    });
}

#[test]
fn handlers_get_their_own_user_pointer_and_run_at_most_worker_count_at_once() {
    watchdog(|| {
        let dir = RunDir::new();
        let a = Box::new(Snapshot {
            delay: Duration::from_millis(2),
            ..Snapshot::with_items(3, 20)
        });
        let b = Box::new(Snapshot::with_items(5, 30));
        let config = nipc_server_config_t::default();
        let server = CServer::start_with(dir.str(), "many", &config, 3, &a.handler(0));
        let _other = CServer::start(dir.str(), "other", &b.handler(0));
        std::thread::scope(|scope| {
            for t in 0..6 {
                let dir = &dir;
                let a = &a;
                scope.spawn(move || {
                    let mut client = client(dir, "many", PROFILES[t % 2]);
                    for _ in 0..20 {
                        a.check(&mut client);
                    }
                });
            }
            b.check(&mut client(&dir, "other", Profiles::empty()));
        });
        assert_eq!(a.calls.load(Ordering::SeqCst), 120);
        assert_eq!(a.sane_calls.load(Ordering::SeqCst), 120);
        assert_eq!(b.calls.load(Ordering::SeqCst), 1);
        let most = a.most_running.load(Ordering::SeqCst);
        assert!((1..=3).contains(&most), "{most} handlers ran at once");
        assert_eq!(server.stats().responses_ok, 120);
    });
}
