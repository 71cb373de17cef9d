//! Region files truncated under live mappings: every side finds out with
//! `ShmRegionLost` instead of dying of SIGBUS (a SIGBUS here would kill the
//! test binary).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::watch::wait_single;
use super::{GroupSignal, RawShm, ShmRegion, ShmWatch, wait_group};
use crate::Error;
use crate::transport::ShmAttachError;
use crate::transport::shm::ShmKey;

/// Header, plus a few bytes: the header page stays, the areas past it go.
const PAST_HEADER: u64 = super::layout::HEADER_LEN as u64 + 8;

struct Dir(std::path::PathBuf);

impl Dir {
    fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "nipc-shm-unit-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(dir: &Dir, session_id: u64) -> ShmKey<'_> {
    ShmKey {
        run_dir: dir.str(),
        service: "svc",
        auth_token: 0,
        session_id,
        owner: None,
        access: Default::default(),
    }
}

/// A (server, client) pair with a 64 KiB response area (many pages).
fn pair(dir: &Dir, session_id: u64) -> (ShmRegion, ShmRegion, String) {
    let key = key(dir, session_id);
    let server = ShmRegion::create(&key, 1024, 64 * 1024).unwrap();
    let client = ShmRegion::attach(&key, crate::wire::Profiles::SHM_HYBRID.bits()).unwrap();
    let path = dir
        .0
        .join(crate::transport::names::shm_region_file_name("svc", session_id).unwrap())
        .to_string_lossy()
        .into_owned();
    (server, client, path)
}

fn set_len(path: &str, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn assert_lost<T: std::fmt::Debug>(result: crate::Result<T>, path: &str) {
    match result {
        Err(Error::ShmRegionLost { region }) => assert_eq!(region, path),
        other => panic!("expected ShmRegionLost for {path}, got {other:?}"),
    }
}

fn deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

#[test]
fn a_region_truncated_to_zero_ends_the_session_on_both_sides() {
    let dir = Dir::new();
    let (mut server, mut client, path) = pair(&dir, 1);
    client.publish(&[b"first"]).unwrap();
    let mut buf = vec![0u8; server.recv_capacity()];
    assert_eq!(
        server.receive(&mut buf, deadline(), None, || true).unwrap(),
        5
    );
    set_len(&path, 0);
    // The server answers into a file that is gone: it faults, reads and
    // writes zeros from then on, and says so.
    assert_lost(server.publish(&[b"answer"]), &path);
    assert_lost(server.try_receive(&mut buf), &path);
    // The client faults on its next look at the region.
    let mut buf = vec![0u8; client.recv_capacity()];
    assert_lost(client.receive(&mut buf, deadline(), None, || true), &path);
    assert_lost(client.publish(&[b"again"]), &path);
}

#[test]
fn a_region_cut_past_its_header_is_lost_where_it_is_touched() {
    let dir = Dir::new();
    let (mut server, mut client, path) = pair(&dir, 2);
    set_len(&path, PAST_HEADER);
    // The request area starts in the header's page, which is still there.
    client.publish(&[b"request"]).unwrap();
    let mut buf = vec![0u8; server.recv_capacity()];
    assert_eq!(
        server.receive(&mut buf, deadline(), None, || true).unwrap(),
        7
    );
    // An 8 KiB answer reaches the pages that were cut off.
    assert_lost(server.publish(&[&[7u8; 8192]]), &path);
    drop(server);
    // The client's own view of the header page still looks fine; the
    // wait probes the end of the file and finds it missing, before it
    // reports the departed server.
    let mut buf = vec![0u8; client.recv_capacity()];
    assert_lost(client.receive(&mut buf, deadline(), None, || false), &path);
}

#[test]
fn a_region_truncated_and_grown_back_is_recognised() {
    let dir = Dir::new();
    let (mut server, mut client, path) = pair(&dir, 3);
    let size = std::fs::metadata(&path).unwrap().len();
    set_len(&path, 0);
    set_len(&path, size);
    // No fault at all: the pages read zeros, the header magic with them.
    assert_lost(client.publish(&[b"request"]), &path);
    let mut buf = vec![0u8; server.recv_capacity()];
    assert_lost(server.try_receive(&mut buf), &path);
    assert_lost(server.receive(&mut buf, deadline(), None, || true), &path);
}

#[test]
fn a_region_truncated_while_it_is_attached_is_refused() {
    for len in [0, PAST_HEADER] {
        let dir = Dir::new();
        let key = key(&dir, 4);
        let _server = ShmRegion::create(&key, 1024, 64 * 1024).unwrap();
        let mut seen = String::new();
        let result = ShmRegion::attach_with(&key, |path| {
            set_len(path, len);
            seen = path.to_owned();
        });
        match result {
            Err(ShmAttachError::Lost(region)) => assert_eq!(region, seen),
            other => panic!("truncated to {len}: expected Lost, got {other:?}"),
        }
    }
}

/// Waits in a group of `watches` until `ready` (the group caller's loop).
fn group_round(signal: &GroupSignal, watches: &[Arc<ShmWatch>]) -> Vec<bool> {
    let seen = signal.value();
    let mut armed = Vec::new();
    let mut ready = vec![false; watches.len()];
    for (i, watch) in watches.iter().enumerate() {
        match watch.arm() {
            None => ready[i] = true,
            Some(value) => armed.push((watch.clone(), value)),
        }
    }
    if ready.iter().any(|r| *r) {
        return ready;
    }
    wait_group(signal, seen, &armed);
    ready
}

#[test]
fn a_wait_group_drops_a_truncated_region_and_keeps_the_others() {
    let dir = Dir::new();
    let (mut lost_server, _lost_client, lost_path) = pair(&dir, 5);
    let (mut server, mut client, _) = pair(&dir, 6);
    let signal = GroupSignal::default();
    let watches = [Arc::new(lost_server.watch()), Arc::new(server.watch())];
    // Armed while whole, then truncated: the sleep itself meets the
    // missing page (EFAULT from the futex call, not a signal) and must
    // return instead of sleeping on.
    let seen = signal.value();
    let armed: Vec<_> = watches
        .iter()
        .map(|w| (w.clone(), w.arm().expect("nothing arrived yet")))
        .collect();
    set_len(&lost_path, 0);
    wait_group(&signal, seen, &armed);
    // The truncated region is reported ready, so its session ends.
    assert_eq!(group_round(&signal, &watches), [true, false]);
    let mut buf = vec![0u8; 4096];
    assert_lost(lost_server.try_receive(&mut buf), &lost_path);
    // The other region is still slept on and served.
    let publisher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        client.publish(&[b"still here"]).unwrap();
        client
    });
    let watches = [watches[1].clone()];
    let give_up = Instant::now() + Duration::from_secs(10);
    while group_round(&signal, &watches) != [true] {
        assert!(Instant::now() < give_up, "the other region was not served");
    }
    assert_eq!(server.try_receive(&mut buf).unwrap(), Some(10));
    drop(publisher.join().unwrap());
}

#[test]
fn the_raw_limit_file_reports_a_truncate() {
    let dir = Dir::new();
    let path = dir.0.join("raw").to_string_lossy().into_owned();
    let a = RawShm::create(&path).unwrap();
    let b = RawShm::open(&path).unwrap();
    a.post(0, 1);
    b.wait(0, 1, Duration::from_secs(5)).unwrap();
    set_len(&path, 0);
    // Waiting for a value that is not there: the wait faults and ends.
    assert_lost(b.wait(1, 1, Duration::from_secs(5)), &path);
    a.post(1, 1);
    assert_lost(a.wait(1, 1, Duration::from_secs(5)), &path);
}

#[test]
fn a_single_region_wait_returns_when_its_region_is_truncated() {
    // The path of kernels without `futex_waitv`.
    let dir = Dir::new();
    let (mut server, _client, path) = pair(&dir, 7);
    let signal = GroupSignal::default();
    let watch = Arc::new(server.watch());
    let seen = signal.value();
    let value = watch.arm().expect("nothing arrived yet");
    set_len(&path, 0);
    // The futex call meets the missing page (EFAULT) and returns.
    wait_single(&signal, seen, &[(watch.clone(), value)]);
    assert_eq!(watch.arm(), None, "reported ready");
    let mut buf = vec![0u8; 4096];
    assert_lost(server.try_receive(&mut buf), &path);
}

/// The startup scan judges only this service's region names: a service
/// whose name starts with this one's (`svc` and `svc-snapshot`) keeps its
/// regions, even ones that look like junk to `svc`.
#[test]
fn the_stale_scan_touches_only_its_own_service() {
    let dir = Dir::new();
    let ours = "svc-0000000000000001.ipcshm";
    let neighbour = "svc-snapshot-0000000000000001.ipcshm";
    let odd = "svc-1.ipcshm";
    for name in [ours, neighbour, odd] {
        // Junk of this user: empty files, as a region being created is.
        std::fs::write(format!("{}/{name}", dir.str()), b"").unwrap();
    }
    super::cleanup_stale(dir.str(), "svc");
    let left = |name: &str| std::path::Path::new(&format!("{}/{name}", dir.str())).exists();
    assert!(!left(ours), "this service's junk is removed");
    assert!(left(neighbour), "another service's region is left alone");
    assert!(left(odd), "a name that is not a region name is left alone");
}
