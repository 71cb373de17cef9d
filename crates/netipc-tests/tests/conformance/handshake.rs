//! Handshake over a real transport: negotiated values and every rejection.

use std::sync::mpsc;
use std::time::Duration;

use netipc::Error;
use netipc::transport::handshake::{ClientOffer, HandshakeError, client_handshake, hello_message};
use netipc::transport::testing::RawConn;
use netipc::transport::{ClientOptions, ClientSession, Listener, ServerOptions};
use netipc::wire::{HEADER_LEN, Profiles, TransportStatus};

use crate::support::*;

/// Runs one server handshake on `listener` in a thread.
fn server_side(
    listener: Listener,
    session_id: u64,
) -> mpsc::Receiver<netipc::Result<netipc::transport::ServerSession>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = listener
            .accept(SHORT, None)
            .and_then(|i| i.handshake(session_id));
        let _ = tx.send(result);
        drop(listener);
    });
    rx
}

pub fn negotiates_limits_and_session_id(b: &Backend) {
    let dir = RunDir::new();
    let server = ServerOptions {
        max_request_payload_bytes: 4096,
        max_response_payload_bytes: 8192,
        ..server_options(b)
    };
    let client = ClientOptions {
        max_request_payload_bytes: 2048,
        max_request_batch_items: 8,
        max_response_payload_bytes: 77,
        ..client_options(b)
    };
    let listener = Listener::bind(dir.str(), "svc", &server).unwrap();
    let rx = server_side(listener, 4242);
    let c = ClientSession::connect(dir.str(), "svc", &client).unwrap();
    let s = rx.recv().unwrap().unwrap();
    assert_eq!(c.params(), s.params(), "both sides adopt the same values");
    let p = c.params();
    assert_eq!(p.max_request_payload_bytes, 2048, "client proposal echoed");
    assert_eq!(p.max_request_batch_items, 8);
    assert_eq!(
        p.max_response_payload_bytes, 8192,
        "server maximum, client hint ignored"
    );
    assert_eq!(p.max_response_batch_items, 8, "equal to the request items");
    assert_eq!(p.session_id, 4242);
    assert_eq!(s.session_id(), 4242);
    assert!(b.profiles.contains(p.selected_profile));
    let shm = b.profiles & Profiles::SHM_ANY;
    assert_eq!(
        c.is_shm(),
        !shm.is_empty(),
        "a backend with an SHM profile must get shared memory"
    );
    if !shm.is_empty() {
        assert_eq!(p.selected_profile, shm);
    }
}

fn expect_rejection(
    b: &Backend,
    server: ServerOptions,
    client: ClientOptions,
    want: HandshakeError,
) {
    let dir = RunDir::new();
    let listener = Listener::bind(dir.str(), "svc", &server).unwrap();
    let rx = server_side(listener, 1);
    let err = ClientSession::connect(dir.str(), "svc", &client).unwrap_err();
    assert!(
        matches!(&err, Error::Handshake(e) if *e == want),
        "client got {err}"
    );
    let server_err = rx.recv().unwrap().unwrap_err();
    assert!(
        matches!(&server_err, Error::Handshake(e) if *e == want),
        "server got {server_err}"
    );
    let _ = b;
}

pub fn wrong_token_is_auth_failed(b: &Backend) {
    let server = ServerOptions {
        auth_token: 7,
        ..server_options(b)
    };
    let client = ClientOptions {
        auth_token: 8,
        ..client_options(b)
    };
    expect_rejection(b, server, client, HandshakeError::AuthFailed);
}

pub fn request_ceiling_above_server_max_is_limit_exceeded(b: &Backend) {
    let server = ServerOptions {
        max_request_payload_bytes: 1000,
        ..server_options(b)
    };
    let client = ClientOptions {
        max_request_payload_bytes: 1001,
        ..client_options(b)
    };
    expect_rejection(b, server, client, HandshakeError::LimitExceeded);
    let equal = ClientOptions {
        max_request_payload_bytes: 1000,
        ..client_options(b)
    };
    let dir = RunDir::new();
    let (_l, c, _s) = pair_with(&dir, &server, &equal);
    assert_eq!(
        c.params().max_request_payload_bytes,
        1000,
        "equal is accepted"
    );
}

/// Sends a raw HELLO and returns the server's reply (or the error).
fn raw_hello(
    b: &Backend,
    offer: ClientOffer,
    mutate: impl FnOnce(&mut [u8]),
) -> (netipc::Result<Vec<u8>>, Error) {
    let dir = RunDir::new();
    let listener = Listener::bind(dir.str(), "svc", &server_options(b)).unwrap();
    let rx = server_side(listener, 1);
    let conn = RawConn::connect(dir.str(), "svc").unwrap();
    let mut hello = hello_message(&offer.with_defaults(65536).hello());
    mutate(&mut hello);
    conn.send(&hello).unwrap();
    let mut reply = [0u8; 256];
    let got = conn.recv(&mut reply, SHORT).map(|n| reply[..n].to_vec());
    let server = rx.recv().unwrap().unwrap_err();
    (got, server)
}

pub fn no_common_profile_is_unsupported(b: &Backend) {
    let offer = ClientOffer {
        supported_profiles: Profiles::SHM_WAITADDR,
        ..ClientOffer::default()
    };
    let (reply, server) = raw_hello(b, offer, |_| {});
    let reply = reply.unwrap();
    assert_eq!(
        client_handshake(&reply),
        Err(HandshakeError::NoCommonProfile)
    );
    assert!(matches!(
        server,
        Error::Handshake(HandshakeError::NoCommonProfile)
    ));
}

pub fn packet_size_32_is_incompatible(b: &Backend) {
    let offer = ClientOffer {
        packet_size: 32,
        ..ClientOffer::default()
    };
    let (reply, _) = raw_hello(b, offer, |_| {});
    let status = u16::from_ne_bytes(reply.unwrap()[14..16].try_into().unwrap());
    assert_eq!(status, TransportStatus::INCOMPATIBLE.0);
}

pub fn packet_size_33_is_accepted_and_used(b: &Backend) {
    let dir = RunDir::new();
    let client = ClientOptions {
        packet_size: 33,
        ..client_options(b)
    };
    let (_l, mut c, mut s) = pair_with(&dir, &server_options(b), &client);
    assert_eq!(c.params().packet_size, 33);
    let payload: Vec<u8> = (0..200u8).collect();
    c.send_request(3, 1, &payload).unwrap();
    let m = s.recv(SHORT, None).unwrap();
    assert_eq!(m.payload, &payload[..]);
}

pub fn header_version_mismatch_gets_incompatible(b: &Backend) {
    let (reply, server) = raw_hello(b, ClientOffer::default(), |h| h[4] = 2);
    assert!(matches!(
        client_handshake(&reply.unwrap()),
        Err(HandshakeError::Incompatible(_))
    ));
    assert!(matches!(
        server,
        Error::Handshake(HandshakeError::Incompatible(_))
    ));
}

pub fn malformed_hello_is_closed_without_reply(b: &Backend) {
    for mutate in [
        (|h: &mut [u8]| h[0] ^= 0xff) as fn(&mut [u8]),
        |h| h[8] = 1,
        |h| h[HEADER_LEN + 28] = 1,
    ] {
        let (reply, server) = raw_hello(b, ClientOffer::default(), mutate);
        assert!(
            matches!(reply, Err(Error::Disconnected)),
            "no reply, connection closed: {reply:?}"
        );
        assert!(matches!(server, Error::Handshake(_)));
    }
}

pub fn packet_size_defaults_and_agreed_min(b: &Backend) {
    let dir = RunDir::new();
    let server = ServerOptions {
        packet_size: 4096,
        ..server_options(b)
    };
    let (_l, c, _s) = pair_with(&dir, &server, &client_options(b));
    assert_eq!(c.params().packet_size, 4096, "min(client default, 4096)");
    let dir = RunDir::new();
    let (_l, c, _s) = pair(b, &dir);
    let conn = RawConn::connect(dir.str(), "svc");
    let default = conn.map(|r| r.default_packet_size()).unwrap();
    assert!(default > 32);
    assert_eq!(
        c.params().packet_size,
        default,
        "both sides use the transport default"
    );
}

pub fn eof_right_after_handshake_is_a_disconnect(b: &Backend) {
    let dir = RunDir::new();
    let (_l, mut c, s) = pair(b, &dir);
    drop(s); // a server at capacity closes right after the handshake
    let err = c.call(1, 1, b"x", SHORT).err().unwrap();
    assert!(matches!(err, Error::Disconnected), "{err}");
}

pub fn handshake_timeout_bounds_a_silent_client(b: &Backend) {
    let dir = RunDir::new();
    let server = ServerOptions {
        handshake_timeout: Duration::from_millis(200),
        ..server_options(b)
    };
    let listener = Listener::bind(dir.str(), "svc", &server).unwrap();
    let _silent = RawConn::connect(dir.str(), "svc").unwrap();
    let started = std::time::Instant::now();
    let err = listener
        .accept(SHORT, None)
        .unwrap()
        .handshake(1)
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
