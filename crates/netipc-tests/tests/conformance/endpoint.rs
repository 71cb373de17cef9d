//! Endpoints: stale recovery, live endpoints, cleanup, peers, many
//! clients, and peers in other processes that crash or stall.

use std::sync::mpsc;
use std::time::Duration;

use netipc::Error;
use netipc::transport::testing::RawConn;
use netipc::transport::{ClientSession, Listener};

use crate::support::*;

pub fn connect_without_a_server_is_not_found(b: &Backend) {
    let dir = RunDir::new();
    let err = ClientSession::connect(dir.str(), "svc", &client_options(b)).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

pub fn invalid_service_names_are_refused(b: &Backend) {
    let dir = RunDir::new();
    for name in ["", ".", "..", "a/b", "a b", "caf\u{e9}"] {
        assert!(
            matches!(
                Listener::bind(dir.str(), name, &server_options(b)),
                Err(Error::Name(_))
            ),
            "{name:?}"
        );
        assert!(matches!(
            ClientSession::connect(dir.str(), name, &client_options(b)),
            Err(Error::Name(_))
        ));
    }
}

pub fn live_endpoint_is_refused_and_kept(b: &Backend) {
    let dir = RunDir::new();
    let first = Listener::bind(dir.str(), "svc", &server_options(b)).unwrap();
    let err = Listener::bind(dir.str(), "svc", &server_options(b)).unwrap_err();
    assert!(matches!(err, Error::AddressInUse { .. }), "{err}");
    // The live listener still serves after the refused attempt. (On POSIX
    // the attempt's liveness probe shows up as a connection that closes
    // before its HELLO; skip such failed handshakes.)
    let server = std::thread::spawn(move || {
        for id in 1.. {
            let incoming = first.accept(SHORT, None).expect("accept");
            let Ok(mut session) = incoming.handshake(id) else {
                continue;
            };
            while let Ok(m) = session.recv(None, None) {
                let (h, p) = (m.header, m.payload.to_vec());
                session.respond(&h, &p).expect("respond");
            }
            return;
        }
    });
    let mut c = ClientSession::connect(dir.str(), "svc", &client_options(b)).unwrap();
    assert_eq!(
        c.call(1, 1, b"still here", SHORT).unwrap().payload,
        b"still here"
    );
    drop(c);
    server.join().unwrap();
}

pub fn closing_the_listener_removes_the_endpoint(b: &Backend) {
    let dir = RunDir::new();
    let listener = Listener::bind(dir.str(), "svc", &server_options(b)).unwrap();
    drop(listener);
    let err = ClientSession::connect(dir.str(), "svc", &client_options(b)).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    drop(Listener::bind(dir.str(), "svc", &server_options(b)).expect("rebind after close"));
}

pub fn crashed_server_endpoint_is_reclaimed(b: &Backend) {
    let dir = RunDir::new();
    let mut peer = Peer::start("crash", &dir, "svc", b.profiles, "ready");
    // It aborts (or exits without cleanup when its stdin closes first).
    peer.wait_exit();
    let listener =
        Listener::bind(dir.str(), "svc", &server_options(b)).expect("stale endpoint reclaimed");
    let server = echo_server(listener, 1);
    let mut c = ClientSession::connect(dir.str(), "svc", &client_options(b)).unwrap();
    assert_eq!(c.call(1, 1, b"new", SHORT).unwrap().payload, b"new");
    drop(c);
    server.join().unwrap();
}

pub fn peer_credentials_identify_the_process(b: &Backend) {
    let dir = RunDir::new();
    let (_l, c, s) = pair(b, &dir);
    assert_eq!(s.peer().pid, Some(std::process::id()));
    assert_eq!(c.peer().pid, Some(std::process::id()));
    let conn = RawConn::connect(dir.str(), "svc").unwrap();
    let _ = conn.peer();
    // A server in another process: the client learns that process.
    let peer = Peer::start("serve", &dir, "other", b.profiles, "ready");
    let c = ClientSession::connect(dir.str(), "other", &client_options(b)).unwrap();
    assert_eq!(c.peer().pid, Some(peer.pid()));
}

pub fn sixty_four_concurrent_clients_fail_independently(b: &Backend) {
    let dir = RunDir::new();
    let listener = Listener::bind(dir.str(), "svc", &server_options(b)).unwrap();
    let server = echo_server(listener, 65);
    let (tx, rx) = mpsc::channel();
    let mut clients = Vec::new();
    for n in 0..64u64 {
        let (run_dir, options, tx) = (dir.str().to_owned(), client_options(b), tx.clone());
        clients.push(std::thread::spawn(move || {
            let mut c = ClientSession::connect(&run_dir, "svc", &options).unwrap();
            let _ = tx.send(());
            for i in 0..200u64 {
                let payload = (n * 1000 + i).to_ne_bytes();
                let r = c.call(1, i + 1, &payload, SHORT).unwrap();
                assert_eq!(r.payload, payload);
            }
        }));
    }
    // A 65th client breaks the protocol in the middle of all that.
    for _ in 0..64 {
        rx.recv().unwrap();
    }
    let bad = RawConn::connect(dir.str(), "svc").unwrap();
    bad.send(b"this is not a HELLO").unwrap();
    for c in clients {
        c.join().expect("every well-behaved client succeeds");
    }
    drop(bad);
    let errors = server.join().unwrap();
    assert_eq!(errors.len(), 65);
    let broken = errors
        .iter()
        .filter(|e| matches!(e, Error::Handshake(_)))
        .count();
    assert_eq!(
        broken, 1,
        "exactly the misbehaving session failed: {errors:?}"
    );
}

pub fn cross_process_round_trips(b: &Backend) {
    let dir = RunDir::new();
    let _peer = Peer::start("serve", &dir, "svc", b.profiles, "ready");
    let mut c = ClientSession::connect(dir.str(), "svc", &client_options(b)).unwrap();
    for id in 1..=1000u64 {
        let r = c.call(1, id, &id.to_ne_bytes(), SHORT).unwrap();
        assert_eq!(r.payload, id.to_ne_bytes());
    }
    let big = vec![9u8; 60_000];
    assert_eq!(
        c.call(3, 5000, &big, SHORT).unwrap().payload.len(),
        big.len()
    );
    assert!(b.profiles.contains(c.params().selected_profile));
    let shm = b.profiles.intersects(netipc::wire::Profiles::SHM_ANY);
    assert_eq!(c.is_shm(), shm, "shared memory across processes too");
}

pub fn peer_killed_mid_request_never_hangs_the_server(b: &Backend) {
    let dir = RunDir::new();
    let listener = Listener::bind(dir.str(), "svc", &server_options(b)).unwrap();
    let mut peer = Peer::spawn("stall-request", &dir, "svc", b.profiles);
    let mut session = listener.accept(SHORT, None).unwrap().handshake(1).unwrap();
    peer.expect("stalled");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        peer.kill();
    });
    let err = session.recv(None, None).unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err}");
    killer.join().unwrap();
}

pub fn peer_killed_mid_response_never_hangs_the_client(b: &Backend) {
    let dir = RunDir::new();
    let mut peer = Peer::start("stall-response", &dir, "svc", b.profiles, "ready");
    let mut c = ClientSession::connect(dir.str(), "svc", &client_options(b)).unwrap();
    c.send_request(3, 1, b"give me a lot").unwrap();
    peer.expect("stalled");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        peer.kill();
    });
    let err = c.recv(None, None).unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err}");
    killer.join().unwrap();
}
