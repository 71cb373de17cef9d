//! Wait groups on real regions: a request, the client's close and the
//! group's own wake-up end a group wait; SHM_BUSYWAIT regions are polled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{GroupSignal, ShmRegion, ShmWatch, wait_group};
use crate::transport::shm::ShmKey;
use crate::transport::sys::windows::security::OwnerOnly;
use crate::wire::profile;

const PATIENCE: Duration = Duration::from_secs(5);

/// A (server, client) pair of one region of `profile`.
fn pair(profile: u32) -> (ShmRegion, ShmRegion) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let run_dir = format!("/netipc-shm-test-{}", std::process::id());
    let key = ShmKey {
        run_dir: &run_dir,
        service: "svc",
        auth_token: 7,
        session_id: NEXT.fetch_add(1, Ordering::SeqCst),
        access: Default::default(),
    };
    let security = OwnerOnly::new().unwrap();
    let server = ShmRegion::create(&key, profile, 1024, 1024, &security).unwrap();
    let client = ShmRegion::attach(&key, profile).unwrap();
    (server, client)
}

/// Waits in the group until `ready` holds for `watch` (the caller's loop).
fn wait_until_ready(signal: &GroupSignal, watch: &Arc<ShmWatch>) -> Duration {
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < PATIENCE, "the group never woke up");
        let seen = signal.value();
        match watch.arm() {
            None => return started.elapsed(),
            Some(value) => wait_group(signal, seen, &[(watch.clone(), value)]),
        }
    }
}

fn later(what: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        what();
    })
}

#[test]
fn a_request_or_the_clients_close_wakes_a_group() {
    for profile in [profile::SHM_HYBRID, profile::SHM_BUSYWAIT] {
        let (mut server, mut client) = pair(profile);
        let signal = GroupSignal::default();
        let watch = Arc::new(server.watch());
        let publisher = later(move || {
            client.publish(&[b"request"]).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            drop(client);
        });
        wait_until_ready(&signal, &watch);
        let mut buf = [0u8; 64];
        assert_eq!(server.try_receive(&mut buf).unwrap(), Some(7));
        assert_eq!(&buf[..7], b"request");
        assert!(!server.arrived());
        let watch = Arc::new(server.watch());
        wait_until_ready(&signal, &watch);
        publisher.join().unwrap();
        assert!(matches!(
            server.try_receive(&mut buf),
            Err(crate::Error::Disconnected)
        ));
    }
}

#[test]
fn the_groups_own_signal_ends_its_wait() {
    let (server, _client) = pair(profile::SHM_HYBRID);
    let signal = Arc::new(GroupSignal::default());
    let watch = Arc::new(server.watch());
    let seen = signal.value();
    let value = watch.arm().unwrap();
    let waker = {
        let signal = signal.clone();
        later(move || signal.wake())
    };
    let started = Instant::now();
    wait_group(&signal, seen, &[(watch.clone(), value)]);
    assert!(started.elapsed() < PATIENCE);
    assert_ne!(signal.value(), seen);
    waker.join().unwrap();
    // A wake-up before the wait makes it return at once.
    signal.wake();
    let started = Instant::now();
    wait_group(&signal, seen, &[(watch, value)]);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn spinning_sees_a_message_or_gives_up_quickly() {
    let (mut server, mut client) = pair(profile::SHM_HYBRID);
    let started = Instant::now();
    assert!(!server.spin_for_message(|| true));
    assert!(started.elapsed() < Duration::from_secs(1));
    client.publish(&[b"x"]).unwrap();
    assert!(server.arrived());
    assert!(server.spin_for_message(|| true));
    let mut buf = [0u8; 8];
    assert_eq!(server.try_receive(&mut buf).unwrap(), Some(1));
    assert_eq!(server.try_receive(&mut buf).unwrap(), None);
}
