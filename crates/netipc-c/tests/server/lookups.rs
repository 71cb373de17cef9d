//! cgroups-lookup and apps-lookup servers with C handlers: request views,
//! every builder entry, status rules, budget conversions and item counts.

use std::ffi::c_void;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use netipc::Error;
use netipc::codec::{CgroupStatus, CgroupsLookupStatus, PidStatus, UID_UNSET, orchestrator};
use netipc::service::{AppsLookupClient, CgroupsLookupClient, Profiles};
use netipc::wire::TransportStatus;
use netipc_c::builders::{
    nipc_apps_lookup_builder_add, nipc_apps_lookup_builder_add_status,
    nipc_apps_lookup_builder_error, nipc_apps_lookup_builder_set_generation,
    nipc_apps_lookup_builder_t, nipc_apps_lookup_entry_t, nipc_apps_lookup_req_pid,
    nipc_apps_lookup_req_view_t, nipc_cgroups_lookup_builder_add,
    nipc_cgroups_lookup_builder_add_request_item, nipc_cgroups_lookup_builder_add_status,
    nipc_cgroups_lookup_builder_error, nipc_cgroups_lookup_builder_set_generation,
    nipc_cgroups_lookup_builder_t, nipc_cgroups_lookup_req_path, nipc_cgroups_lookup_req_view_t,
    nipc_label_t, nipc_str_view_t,
};
use netipc_c::config::nipc_server_config_t;
use netipc_c::nipc_error_t;
use netipc_c::server::{nipc_apps_lookup_service_handler_t, nipc_cgroups_lookup_service_handler_t};

use crate::support::{CServer, Handler, PROFILES, RunDir, client_config, user, watchdog};

const OK: nipc_error_t = nipc_error_t::NIPC_OK;

fn view(s: &[u8]) -> nipc_str_view_t {
    nipc_str_view_t {
        ptr: s.as_ptr().cast(),
        len: s.len() as u32,
    }
}

fn label(key: &'static [u8], value: &[u8]) -> nipc_label_t {
    nipc_label_t {
        key: view(key),
        value: view(value),
    }
}

/// What the cgroups-lookup handler does besides answering.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    #[default]
    Answer,
    /// Try every refused argument, then answer nothing.
    Refusals,
    /// Answer one item too few.
    OneShort,
}

#[derive(Default)]
struct Lookup {
    mode: Mode,
    calls: AtomicU32,
    /// Every request path was NUL-terminated in the request.
    terminated: AtomicBool,
    codes: Mutex<Vec<nipc_error_t>>,
}

impl Lookup {
    fn note(&self, code: nipc_error_t) {
        self.codes.lock().unwrap().push(code);
    }

    fn codes(&self) -> Vec<nipc_error_t> {
        self.codes.lock().unwrap().clone()
    }

    fn cgroups_handler(&self) -> Handler {
        Handler::CgroupsLookup(nipc_cgroups_lookup_service_handler_t {
            handle: Some(cgroups_handler),
            user: user(self),
        })
    }

    fn apps_handler(&self) -> Handler {
        Handler::AppsLookup(nipc_apps_lookup_service_handler_t {
            handle: Some(apps_handler),
            user: user(self),
        })
    }
}

/// `/known/N` is KNOWN (name `cg-N`, Docker, labels `k=v` and `n=N`),
/// `/retry/...` UNKNOWN_RETRY_LATER, anything else UNKNOWN_PERMANENT;
/// generation 11. Known paths use add_request_item, the others
/// add_status and add.
unsafe extern "C" fn cgroups_handler(
    user: *mut c_void,
    req: *const nipc_cgroups_lookup_req_view_t,
    b: *mut nipc_cgroups_lookup_builder_t,
) -> bool {
    // SAFETY: `user` is the test's `Lookup`.
    let l = unsafe { &*user.cast::<Lookup>() };
    l.calls.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the view and builder of this call.
    let count = unsafe { (*req).item_count };
    // SAFETY: as above.
    unsafe {
        l.note(nipc_cgroups_lookup_builder_set_generation(b, 11));
        if l.mode == Mode::Refusals {
            refusals(l, req, b);
            return true;
        }
        let answered = if l.mode == Mode::OneShort {
            count.saturating_sub(1)
        } else {
            count
        };
        let mut terminated = true;
        for i in 0..answered {
            let mut path = nipc_str_view_t {
                ptr: std::ptr::null(),
                len: 0,
            };
            l.note(nipc_cgroups_lookup_req_path(req, i, &raw mut path));
            let bytes = std::slice::from_raw_parts(path.ptr.cast::<u8>(), path.len as usize + 1);
            terminated &= bytes[path.len as usize] == 0;
            let path = &bytes[..path.len as usize];
            let code = if let Some(n) = path.strip_prefix(b"/known/") {
                let name = [b"cg-".as_slice(), n].concat();
                let labels = [label(b"k", b"v"), label(b"n", n)];
                nipc_cgroups_lookup_builder_add_request_item(
                    b,
                    req,
                    i,
                    CgroupsLookupStatus::Known as u32,
                    orchestrator::DOCKER,
                    name.as_ptr().cast(),
                    name.len() as u32,
                    labels.as_ptr(),
                    labels.len() as u32,
                )
            } else if path.starts_with(b"/retry/") {
                nipc_cgroups_lookup_builder_add_status(
                    b,
                    path.as_ptr().cast(),
                    path.len() as u32,
                    CgroupsLookupStatus::UnknownRetryLater as u32,
                )
            } else {
                nipc_cgroups_lookup_builder_add(
                    b,
                    path.as_ptr().cast(),
                    path.len() as u32,
                    CgroupsLookupStatus::UnknownPermanent as u32,
                    0,
                    std::ptr::null(),
                    0,
                    std::ptr::null(),
                    0,
                )
            };
            l.note(code);
        }
        l.terminated.store(terminated, Ordering::SeqCst);
        l.note(nipc_cgroups_lookup_builder_error(b));
    }
    true
}

/// Every argument a cgroups-lookup handler can get wrong.
///
/// # Safety
/// `req` and `b` of the running call.
unsafe fn refusals(
    l: &Lookup,
    req: *const nipc_cgroups_lookup_req_view_t,
    b: *mut nipc_cgroups_lookup_builder_t,
) {
    // SAFETY: the view of this call.
    let count = unsafe { (*req).item_count };
    let mut path = nipc_str_view_t {
        ptr: std::ptr::null(),
        len: 0,
    };
    // SAFETY: the pointers are this call's, or deliberately NULL/foreign.
    unsafe {
        l.note(nipc_cgroups_lookup_req_path(req, count, &raw mut path));
        l.note(nipc_cgroups_lookup_req_path(req, 0, std::ptr::null_mut()));
        l.note(nipc_cgroups_lookup_req_path(
            std::ptr::null(),
            0,
            &raw mut path,
        ));
        // A status outside the enum; a NULL name with a length; NULL labels
        // with a count: refused before the builder sees them.
        l.note(nipc_cgroups_lookup_builder_add_status(
            b,
            c"/p".as_ptr(),
            2,
            99,
        ));
        l.note(nipc_cgroups_lookup_builder_add(
            b,
            c"/p".as_ptr(),
            2,
            0,
            0,
            std::ptr::null(),
            3,
            std::ptr::null(),
            0,
        ));
        l.note(nipc_cgroups_lookup_builder_add(
            b,
            c"/p".as_ptr(),
            2,
            0,
            0,
            std::ptr::null(),
            0,
            std::ptr::null(),
            1,
        ));
        // Another call's view (a zeroed one).
        let foreign: nipc_cgroups_lookup_req_view_t = std::mem::zeroed();
        l.note(nipc_cgroups_lookup_builder_add_request_item(
            b,
            &raw const foreign,
            0,
            0,
            0,
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
        ));
        // The builder's own rules: a name on an UNKNOWN item (sticky).
        l.note(nipc_cgroups_lookup_builder_add(
            b,
            c"/p".as_ptr(),
            2,
            CgroupsLookupStatus::UnknownPermanent as u32,
            0,
            c"n".as_ptr(),
            1,
            std::ptr::null(),
            0,
        ));
        l.note(nipc_cgroups_lookup_builder_add_request_item(
            b,
            req,
            count,
            0,
            0,
            std::ptr::null(),
            0,
            std::ptr::null(),
            0,
        ));
        l.note(nipc_cgroups_lookup_builder_error(b));
    }
}

fn cgroups_client(dir: &RunDir, service: &str, profiles: Profiles) -> CgroupsLookupClient {
    let mut client = CgroupsLookupClient::new(dir.str(), service, &client_config(profiles));
    client.wait_ready(Duration::from_secs(10)).expect("connect");
    client
}

fn check_cgroups_answer(client: &mut CgroupsLookupClient, paths: &[Vec<u8>]) {
    let answer = client.call(paths).expect("lookup");
    assert_eq!(answer.generation(), 11);
    assert_eq!(answer.len(), paths.len());
    for (item, path) in answer.iter().zip(paths) {
        assert_eq!(item.path, path.as_slice());
        if let Some(n) = path.strip_prefix(b"/known/") {
            assert_eq!(item.status, CgroupsLookupStatus::Known);
            assert_eq!(item.orchestrator, orchestrator::DOCKER);
            assert_eq!(item.name, [b"cg-".as_slice(), n].concat());
            let labels: Vec<_> = item.labels.iter().map(|l| (l.key, l.value)).collect();
            assert_eq!(labels, [(b"k".as_slice(), b"v".as_slice()), (b"n", n)]);
        } else if path.starts_with(b"/retry/") {
            assert_eq!(item.status, CgroupsLookupStatus::UnknownRetryLater);
        } else {
            assert_eq!(item.status, CgroupsLookupStatus::UnknownPermanent);
            assert!(item.name.is_empty() && item.labels.is_empty());
        }
    }
}

#[test]
fn a_c_cgroups_lookup_provider_answers_every_kind_of_item() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Lookup::default());
        let server = CServer::start(dir.str(), "cgl", &data.cgroups_handler());
        let paths: Vec<Vec<u8>> = vec![
            b"/known/1".to_vec(),
            b"/retry/x".to_vec(),
            b"/gone".to_vec(),
            b"/known/22".to_vec(),
        ];
        for profiles in PROFILES {
            let mut client = cgroups_client(&dir, "cgl", profiles);
            check_cgroups_answer(&mut client, &paths);
            // A generation probe: no keys.
            assert_eq!(client.call::<&[u8]>(&[]).expect("probe").generation(), 11);
        }
        assert!(data.terminated.load(Ordering::SeqCst));
        assert!(data.codes().iter().all(|c| *c == OK), "{:?}", data.codes());
        assert_eq!(server.stats().responses_ok, 4);
    });
}

#[test]
fn a_small_fixed_response_splits_a_big_lookup_that_the_client_stitches() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Lookup::default());
        let config = nipc_server_config_t {
            max_response_payload_bytes: 4096,
            ..nipc_server_config_t::default()
        };
        let _server = CServer::start_with(dir.str(), "small", &config, 1, &data.cgroups_handler());
        let paths: Vec<Vec<u8>> = (0..500)
            .map(|i| format!("/known/{i:0>30}").into_bytes())
            .collect();
        check_cgroups_answer(
            &mut cgroups_client(&dir, "small", Profiles::empty()),
            &paths,
        );
        assert!(data.calls.load(Ordering::SeqCst) > 1);
        // A sub-request whose placeholders do not fit is refused with
        // OVERFLOW (answered LIMIT_EXCEEDED: the client sends fewer keys).
        let codes = data.codes();
        assert!(
            codes
                .iter()
                .all(|c| [OK, nipc_error_t::NIPC_ERR_OVERFLOW].contains(c)),
            "{codes:?}"
        );
    });
}

#[test]
fn refused_arguments_return_their_codes_and_fail_the_request() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Lookup {
            mode: Mode::Refusals,
            ..Lookup::default()
        });
        let server = CServer::start(dir.str(), "refusals", &data.cgroups_handler());
        match cgroups_client(&dir, "refusals", Profiles::empty()).call(&[b"/a"]) {
            Err(Error::Rejected(status)) => assert_eq!(status, TransportStatus::BAD_ENVELOPE),
            other => panic!("expected a rejection, got {other:?}"),
        }
        use nipc_error_t as E;
        assert_eq!(
            data.codes(),
            [
                OK,
                E::NIPC_ERR_OUT_OF_BOUNDS,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_BAD_LAYOUT,
                E::NIPC_ERR_BAD_LAYOUT,
                E::NIPC_ERR_BAD_LAYOUT,
            ]
        );
        assert_eq!(server.stats().responses_bad_envelope, 1);
    });
}

#[test]
fn a_lookup_handler_answering_too_few_items_answers_bad_envelope() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Lookup {
            mode: Mode::OneShort,
            ..Lookup::default()
        });
        let _server = CServer::start(dir.str(), "short", &data.cgroups_handler());
        match cgroups_client(&dir, "short", Profiles::empty()).call(&[b"/a", b"/b"]) {
            Err(Error::Rejected(status)) => assert_eq!(status, TransportStatus::BAD_ENVELOPE),
            other => panic!("expected a rejection, got {other:?}"),
        }
    });
}

/// PID 1 is KNOWN in the host's root cgroup; other even PIDs are KNOWN
/// (comm `p-PID`, ppid PID/2, uid 1000, starttime PID*100, cgroup
/// `/sys/fs/cgroup/c-PID` named `c-PID`, Podman, label `pid=PID`); odd PIDs
/// are UNKNOWN; generation 5. With `Refusals`, every refused argument is
/// tried first.
unsafe extern "C" fn apps_handler(
    user: *mut c_void,
    req: *const nipc_apps_lookup_req_view_t,
    b: *mut nipc_apps_lookup_builder_t,
) -> bool {
    // SAFETY: `user` is the test's `Lookup`.
    let l = unsafe { &*user.cast::<Lookup>() };
    l.calls.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the view and builder of this call.
    unsafe {
        l.note(nipc_apps_lookup_builder_set_generation(b, 5));
        if l.mode == Mode::Refusals {
            apps_refusals(l, req, b);
        }
        for i in 0..(*req).item_count {
            let mut pid = 0;
            l.note(nipc_apps_lookup_req_pid(req, i, &raw mut pid));
            l.note(answer_pid(b, pid));
        }
        l.note(nipc_apps_lookup_builder_error(b));
    }
    true
}

/// Every argument an apps-lookup handler can get wrong.
///
/// # Safety
/// `req` and `b` of the running call.
unsafe fn apps_refusals(
    l: &Lookup,
    req: *const nipc_apps_lookup_req_view_t,
    b: *mut nipc_apps_lookup_builder_t,
) {
    let mut pid = 0;
    // SAFETY: the pointers are this call's, or deliberately NULL.
    unsafe {
        let count = (*req).item_count;
        l.note(nipc_apps_lookup_req_pid(req, count, &raw mut pid));
        l.note(nipc_apps_lookup_req_pid(req, 0, std::ptr::null_mut()));
        l.note(nipc_apps_lookup_builder_add(
            b,
            7,
            std::ptr::null(),
            std::ptr::null(),
            0,
        ));
        l.note(nipc_apps_lookup_builder_add_status(b, 7, 9));
        let mut entry = known_entry(b"comm", b"/c", b"c");
        entry.cgroup_status = 7;
        l.note(nipc_apps_lookup_builder_add(
            b,
            7,
            &raw const entry,
            std::ptr::null(),
            0,
        ));
        // A comm longer than 15 bytes breaks the builder's rules (sticky).
        let entry = known_entry(b"0123456789abcdef", b"/c", b"c");
        l.note(nipc_apps_lookup_builder_add(
            b,
            7,
            &raw const entry,
            std::ptr::null(),
            0,
        ));
    }
}

fn known_entry(comm: &[u8], path: &[u8], name: &[u8]) -> nipc_apps_lookup_entry_t {
    nipc_apps_lookup_entry_t {
        status: PidStatus::Known as u16,
        cgroup_status: CgroupStatus::Known as u16,
        orchestrator: orchestrator::PODMAN,
        reserved_: 0,
        ppid: 0,
        uid: 1000,
        starttime: 0,
        comm: view(comm),
        cgroup_path: view(path),
        cgroup_name: view(name),
    }
}

/// # Safety
/// `b` of the running call.
unsafe fn answer_pid(b: *mut nipc_apps_lookup_builder_t, pid: u32) -> nipc_error_t {
    // SAFETY: the builder of this call; the entry's strings outlive it.
    unsafe {
        if pid == 1 {
            let entry = nipc_apps_lookup_entry_t {
                cgroup_status: CgroupStatus::HostRoot as u16,
                orchestrator: 0,
                cgroup_path: view(b""),
                cgroup_name: view(b""),
                ..known_entry(b"init", b"", b"")
            };
            return nipc_apps_lookup_builder_add(b, pid, &raw const entry, std::ptr::null(), 0);
        }
        if pid % 2 == 1 {
            return nipc_apps_lookup_builder_add_status(b, pid, PidStatus::Unknown as u32);
        }
        let comm = format!("p-{pid}");
        let path = format!("/sys/fs/cgroup/c-{pid}");
        let name = format!("c-{pid}");
        let value = pid.to_string();
        let labels = [label(b"pid", value.as_bytes())];
        let entry = nipc_apps_lookup_entry_t {
            ppid: pid / 2,
            starttime: u64::from(pid) * 100,
            ..known_entry(comm.as_bytes(), path.as_bytes(), name.as_bytes())
        };
        nipc_apps_lookup_builder_add(b, pid, &raw const entry, labels.as_ptr(), 1)
    }
}

fn apps_client(dir: &RunDir, service: &str, profiles: Profiles) -> AppsLookupClient {
    let mut client = AppsLookupClient::new(dir.str(), service, &client_config(profiles));
    client.wait_ready(Duration::from_secs(10)).expect("connect");
    client
}

#[test]
fn a_c_apps_lookup_provider_answers_every_kind_of_item() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Lookup::default());
        let _server = CServer::start(dir.str(), "apps", &data.apps_handler());
        let pids = [1, 2, 3, 40, 41, 1000];
        for profiles in PROFILES {
            let mut client = apps_client(&dir, "apps", profiles);
            let answer = client.call(&pids).expect("lookup");
            assert_eq!(answer.generation(), 5);
            assert_eq!(answer.len(), pids.len());
            for (item, pid) in answer.iter().zip(pids) {
                assert_eq!(item.pid, pid);
                let e = item.entry;
                match pid {
                    1 => {
                        assert_eq!(e.status, PidStatus::Known);
                        assert_eq!(e.cgroup_status, CgroupStatus::HostRoot);
                        assert_eq!(e.comm, b"init");
                        assert!(e.cgroup_path.is_empty());
                    }
                    p if p % 2 == 1 => {
                        assert_eq!(e.status, PidStatus::Unknown);
                        assert_eq!(e.uid, UID_UNSET);
                    }
                    p => {
                        assert_eq!(e.status, PidStatus::Known);
                        assert_eq!(e.cgroup_status, CgroupStatus::Known);
                        assert_eq!(e.orchestrator, orchestrator::PODMAN);
                        assert_eq!(e.comm, format!("p-{p}").as_bytes());
                        assert_eq!(e.ppid, p / 2);
                        assert_eq!(e.uid, 1000);
                        assert_eq!(e.starttime, u64::from(p) * 100);
                        assert_eq!(e.cgroup_path, format!("/sys/fs/cgroup/c-{p}").as_bytes());
                        assert_eq!(e.cgroup_name, format!("c-{p}").as_bytes());
                        let labels: Vec<_> = item.labels.iter().map(|l| (l.key, l.value)).collect();
                        assert_eq!(labels, [(b"pid".as_slice(), p.to_string().as_bytes())]);
                    }
                }
            }
        }
        assert!(data.codes().iter().all(|c| *c == OK), "{:?}", data.codes());
    });
}

#[test]
fn apps_lookup_refusals_return_their_codes_and_fail_the_request() {
    watchdog(|| {
        let dir = RunDir::new();
        let data = Box::new(Lookup {
            mode: Mode::Refusals,
            ..Lookup::default()
        });
        let _server = CServer::start(dir.str(), "apps-refusals", &data.apps_handler());
        match apps_client(&dir, "apps-refusals", Profiles::empty()).call(&[2]) {
            Err(Error::Rejected(status)) => assert_eq!(status, TransportStatus::BAD_ENVELOPE),
            other => panic!("expected a rejection, got {other:?}"),
        }
        use nipc_error_t as E;
        assert_eq!(
            data.codes(),
            [
                OK,
                E::NIPC_ERR_OUT_OF_BOUNDS,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_INVALID_ARGUMENT,
                E::NIPC_ERR_BAD_LAYOUT,
                OK,
                OK,
                E::NIPC_ERR_BAD_LAYOUT,
            ]
        );
    });
}
