//! Every blocking step ends by its deadline: connecting to a provider
//! whose backlog is full, sending to a peer that stopped reading (either
//! side), and a whole call with its reconnect.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::service::{
    ClientConfig, HandlerError, ManagedServer, ServerConfig, StringReverseClient,
};
use netipc::transport::handshake::{ServerOffer, server_handshake};
use netipc::transport::testing::{RawConn, RawListener};
use netipc::transport::{ClientOptions, ClientSession};
use netipc::wire::{HEADER_LEN, Method, Profiles};

use crate::support::*;

/// Slack allowed past a deadline (thread scheduling; wine is slow).
const SLACK: Duration = Duration::from_millis(700);
/// Larger than any socket or pipe buffer.
const BIG: usize = 4 << 20;

#[test]
fn connect_ends_at_its_deadline_when_the_backlog_is_full() {
    heavy(|| {
        let dir = RunDir::new();
        // A provider that never accepts: its backlog fills up.
        let _listener = RawListener::bind(dir.str(), "inc").unwrap();
        let options = ClientOptions {
            handshake_timeout: Duration::from_millis(100),
            ..ClientOptions::default()
        };
        for attempt in 0..48 {
            let started = Instant::now();
            let result = ClientSession::connect(dir.str(), "inc", &options);
            let took = started.elapsed();
            assert!(
                matches!(result, Err(Error::Timeout { .. })),
                "attempt {attempt}: {result:?}"
            );
            assert!(
                took < options.handshake_timeout + SLACK,
                "attempt {attempt} took {took:?}"
            );
        }
    });
}

/// A raw provider that completes the handshake (agreeing on `BIG`
/// requests) and then never reads again.
fn stalled_provider(dir: &RunDir) -> std::thread::JoinHandle<RawConn> {
    let listener = RawListener::bind(dir.str(), "rev").unwrap();
    std::thread::spawn(move || {
        let conn = listener.accept(Some(PATIENCE), None).unwrap();
        let mut hello = [0u8; 256];
        let n = conn.recv(&mut hello, Some(PATIENCE)).unwrap();
        let offer = ServerOffer {
            supported_profiles: Profiles::BASELINE,
            preferred_profiles: Profiles::empty(),
            max_request_payload_bytes: BIG as u32,
            max_response_payload_bytes: 1024,
            auth_token: 0,
            packet_size: 0,
            extensions: 0,
        }
        .with_defaults(conn.default_packet_size());
        conn.send(&server_handshake(&hello[..n], &offer, 1).reply.unwrap())
            .unwrap();
        conn
    })
}

#[test]
fn a_client_send_ends_at_the_call_timeout_when_the_provider_stops_reading() {
    heavy(|| {
        let dir = RunDir::new();
        let provider = stalled_provider(&dir);
        let config = ClientConfig {
            supported_profiles: Profiles::BASELINE,
            max_request_payload_bytes: BIG as u32,
            call_timeout: Duration::from_millis(300),
            ..ClientConfig::default()
        };
        let mut client = StringReverseClient::new(dir.str(), "rev", &config);
        let _ = client.connect();
        let _held = provider.join().unwrap();
        let text = vec![b'x'; BIG - 64];
        let started = Instant::now();
        let result = client.call(&text).map(<[u8]>::len);
        let took = started.elapsed();
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        assert!(took < config.call_timeout + SLACK, "the call took {took:?}");
    });
}

#[test]
fn an_l1_send_ends_at_the_send_timeout_when_the_provider_stops_reading() {
    heavy(|| {
        let dir = RunDir::new();
        let provider = stalled_provider(&dir);
        let options = ClientOptions {
            max_request_payload_bytes: BIG as u32,
            send_timeout: Duration::from_millis(200),
            ..ClientOptions::default()
        };
        let mut session = ClientSession::connect(dir.str(), "rev", &options).unwrap();
        let _held = provider.join().unwrap();
        let started = Instant::now();
        let result = session.send_request(Method::StringReverse.code(), 1, &vec![0u8; BIG - 64]);
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
        assert!(started.elapsed() < options.send_timeout + SLACK);
    });
}

/// A STRING_REVERSE server whose answers are as large as the requests.
fn reverse_server(dir: &RunDir, config: &ServerConfig) -> netipc::service::RunningServer {
    ManagedServer::string_reverse(dir.str(), "rev", config, |text, out| {
        out.extend(text.iter().rev());
        Ok::<(), HandlerError>(())
    })
    .spawn()
    .unwrap()
}

/// Sends a `BIG` request on an L1 session and never reads the answer.
fn stop_reading(dir: &RunDir) -> ClientSession {
    let options = ClientOptions {
        supported_profiles: Profiles::BASELINE,
        max_request_payload_bytes: BIG as u32,
        ..ClientOptions::default()
    };
    let mut session = ClientSession::connect(dir.str(), "rev", &options).unwrap();
    let mut request = vec![0u8; BIG];
    let n = netipc::codec::encode_string_reverse(&vec![b'y'; BIG / 2], &mut request).unwrap();
    session
        .send_request(Method::StringReverse.code(), 1, &request[..n])
        .unwrap();
    session
}

#[test]
fn the_provider_drops_a_consumer_that_stops_reading_and_serves_the_others() {
    heavy(|| {
        let dir = RunDir::new();
        let config = ServerConfig {
            max_request_payload_bytes: BIG as u32,
            max_response_payload_bytes: BIG as u32,
            send_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        };
        let server = reverse_server(&dir, &config);
        let stuck = stop_reading(&dir);
        // Everyone else is served meanwhile.
        let mut other = StringReverseClient::new(dir.str(), "rev", &ClientConfig::default());
        let _ = other.connect();
        for _ in 0..20 {
            assert_eq!(other.call(b"abc").unwrap(), b"cba");
        }
        // The timeout is counted as the session is closed; the session
        // count drops a moment later.
        eventually("the stalled session to be dropped", || {
            let stats = server.stats();
            stats.send_timeouts == 1 && stats.sessions == 1
        });
        assert_eq!(server.stats().failed_requests, 0);
        assert_eq!(other.call(b"xyz").unwrap(), b"zyx");
        drop(stuck);
    });
}

#[test]
fn a_call_with_a_reconnect_ends_by_its_timeout() {
    heavy(|| {
        let dir = RunDir::new();
        let listener = RawListener::bind(dir.str(), "rev").unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let provider = {
            let done = done.clone();
            std::thread::spawn(move || {
                // The first session dies with the request in it...
                let conn = listener.accept(Some(PATIENCE), None).unwrap();
                let mut buf = vec![0u8; 4096];
                let n = conn.recv(&mut buf, Some(PATIENCE)).unwrap();
                let offer = ServerOffer {
                    supported_profiles: Profiles::BASELINE,
                    preferred_profiles: Profiles::empty(),
                    max_request_payload_bytes: 1024,
                    max_response_payload_bytes: 1024,
                    auth_token: 0,
                    packet_size: 0,
                    extensions: 0,
                }
                .with_defaults(conn.default_packet_size());
                conn.send(&server_handshake(&buf[..n], &offer, 1).reply.unwrap())
                    .unwrap();
                let n = conn.recv(&mut buf, Some(PATIENCE)).unwrap();
                assert!(n > HEADER_LEN);
                drop(conn);
                // ...and the reconnect is never answered.
                let silent = listener.accept(Some(PATIENCE), None).unwrap();
                while !done.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                drop(silent);
            })
        };
        let config = ClientConfig {
            supported_profiles: Profiles::BASELINE,
            call_timeout: Duration::from_secs(1),
            ..ClientConfig::default()
        };
        let mut client = StringReverseClient::new(dir.str(), "rev", &config);
        let _ = client.connect();
        let started = Instant::now();
        let result = client.call(b"abc").map(<[u8]>::len);
        let took = started.elapsed();
        done.store(true, Ordering::SeqCst);
        provider.join().unwrap();
        assert!(result.is_err(), "{result:?}");
        assert!(
            took < config.call_timeout + SLACK,
            "the call, its reconnect included, took {took:?}"
        );
    });
}

#[test]
fn the_provider_drops_a_consumer_that_stops_sending_half_way() {
    heavy(|| {
        use netipc::transport::handshake::{ClientOffer, client_handshake, hello_message};
        use netipc::wire::{Header, MessageKind};

        let dir = RunDir::new();
        let config = ServerConfig {
            supported_profiles: Profiles::BASELINE,
            send_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        };
        let server = reverse_server(&dir, &config);
        let conn = RawConn::connect(dir.str(), "rev").unwrap();
        let offer = ClientOffer {
            supported_profiles: Profiles::BASELINE,
            max_request_payload_bytes: 1 << 20,
            ..ClientOffer::default()
        }
        .with_defaults(conn.default_packet_size());
        conn.send(&hello_message(&offer.hello())).unwrap();
        let mut buf = vec![0u8; 256];
        let n = conn.recv(&mut buf, Some(PATIENCE)).unwrap();
        let params = client_handshake(&buf[..n]).unwrap();
        // The first packet of a request of 1 MiB, and nothing more.
        let mut header = Header::new(MessageKind::Request, Method::StringReverse.code(), 1, 0);
        header.payload_len = 1 << 20;
        let mut packet = header.to_bytes().to_vec();
        packet.resize(params.packet_size as usize, 0);
        conn.send(&packet).unwrap();
        eventually("the stalled session to be dropped", || {
            server.stats().send_timeouts == 1
        });
        assert!(matches!(
            conn.recv(&mut buf, Some(PATIENCE)),
            Err(Error::Disconnected)
        ));
        eventually("the session count to drop", || server.stats().sessions == 0);
    });
}
