//! Shared-memory attach failure (level2 section 7): the client falls back
//! to the baseline transport at once and withdraws the shared-memory
//! profiles until it is closed.

use std::sync::mpsc;
use std::time::Duration;

use netipc::Error;
use netipc::service::{ClientConfig, ClientState, IncrementClient};
use netipc::transport::handshake::{ServerOffer, server_handshake};
use netipc::transport::response_header;
use netipc::transport::testing::{RawConn, RawListener};
use netipc::wire::{HEADER_LEN, Header, Hello, Profiles, TransportStatus};

use crate::support::*;

/// Answers one HELLO on `conn` with `offer`; returns the HELLO.
fn raw_handshake(conn: &RawConn, offer: &ServerOffer, session_id: u64) -> Hello {
    let mut buf = [0u8; 256];
    let n = conn.recv(&mut buf, Some(PATIENCE)).expect("HELLO");
    let hello = Hello::decode(&buf[HEADER_LEN..n]).expect("HELLO payload");
    let outcome = server_handshake(&buf[..n], offer, session_id);
    outcome.result.expect("handshake");
    conn.send(&outcome.reply.unwrap()).unwrap();
    hello
}

#[test]
fn shm_attach_failure_falls_back_to_baseline_until_close() {
    watchdog(|| {
        let dir = RunDir::new();
        let listener = RawListener::bind(dir.str(), "inc").unwrap();
        let run_dir = dir.str().to_owned();
        let (tx, rx) = mpsc::channel();
        // The attach budget is the smaller of 5 s and the call timeout.
        let config = ClientConfig {
            call_timeout: Duration::from_secs(4),
            ..ClientConfig::default()
        };
        let client = std::thread::spawn(move || {
            let mut client = IncrementClient::new(&run_dir, "inc", &config);
            client.connect().unwrap();
            tx.send((client.status(), client.session_info())).unwrap();
            let answer = client.call(41);
            client.close();
            let _ = client.connect();
            let info = client.session_info();
            (answer.unwrap(), info, client.status())
        });

        // First connection: shared memory is selected, but the server
        // never created the region, so the client cannot attach it.
        let offer = ServerOffer {
            supported_profiles: Profiles::BASELINE | Profiles::SHM_HYBRID,
            preferred_profiles: Profiles::SHM_HYBRID,
            max_request_payload_bytes: 1024,
            max_response_payload_bytes: 1024,
            auth_token: 0,
            packet_size: 0,
            extensions: 0,
        };
        let first = listener.accept(Some(PATIENCE), None).unwrap();
        let offer = offer.with_defaults(first.default_packet_size());
        let hello = raw_handshake(&first, &offer, 1);
        assert_eq!(
            hello.supported_profiles,
            (Profiles::BASELINE | Profiles::SHM_HYBRID).bits()
        );

        // The client gives up on that session and at once connects again,
        // without the shared-memory profiles, though the server offers them.
        let second = listener.accept(Some(PATIENCE), None).unwrap();
        let hello = raw_handshake(&second, &offer, 2);
        assert_eq!(hello.supported_profiles, Profiles::BASELINE.bits());
        assert_eq!(hello.preferred_profiles & Profiles::SHM_ANY.bits(), 0);
        let mut buf = [0u8; 256];
        assert!(matches!(
            first.recv(&mut buf, Some(PATIENCE)),
            Err(Error::Disconnected)
        ));
        // One refresh, one first connect: the fallback is part of it.
        let (status, info) = rx.recv_timeout(PATIENCE).unwrap();
        assert_eq!(
            (status.state, status.connect_count, status.reconnect_count),
            (ClientState::Ready, 1, 0)
        );
        let info = info.unwrap();
        assert_eq!(
            (info.profile, info.shared_memory),
            (Profiles::BASELINE, false)
        );
        // Serve one request on the baseline session by hand.
        let n = second.recv(&mut buf, Some(PATIENCE)).unwrap();
        let request = Header::decode(&buf[..n]).unwrap();
        let value = netipc::codec::decode_increment(&buf[HEADER_LEN..n]).unwrap();
        let mut reply = response_header(&request, TransportStatus::OK);
        reply.payload_len = 8;
        second
            .send(&[&reply.to_bytes()[..], &(value + 1).to_ne_bytes()].concat())
            .unwrap();

        // close() restores the configuration: the next HELLO offers shared
        // memory again (this server then picks the baseline transport).
        let third = listener.accept(Some(PATIENCE), None).unwrap();
        let baseline_only = ServerOffer {
            supported_profiles: Profiles::BASELINE,
            preferred_profiles: Profiles::empty(),
            ..offer
        };
        let hello = raw_handshake(&third, &baseline_only, 3);
        assert_eq!(
            hello.supported_profiles,
            (Profiles::BASELINE | Profiles::SHM_HYBRID).bits()
        );
        let (answer, info, status) = client.join().unwrap();
        assert_eq!(answer, 42);
        let info = info.unwrap();
        assert_eq!(
            (info.profile, info.shared_memory),
            (Profiles::BASELINE, false)
        );
        assert_eq!(
            (status.state, status.connect_count, status.reconnect_count),
            (ClientState::Ready, 2, 0)
        );
    });
}
