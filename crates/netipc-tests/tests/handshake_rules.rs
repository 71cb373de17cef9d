//! One test per handshake rule (wire-envelope spec, sections 8 and 9).

use netipc::transport::handshake::*;
use netipc::wire::{HEADER_LEN, Hello, HelloAck, Profiles, TransportStatus};

const TOKEN: u64 = 0x1122_3344_5566_7788;

fn hello() -> Hello {
    ClientOffer {
        supported_profiles: Profiles::BASELINE,
        auth_token: TOKEN,
        packet_size: 65536,
        ..ClientOffer::default()
    }
    .with_defaults(65536)
    .hello()
}

fn offer() -> ServerOffer {
    ServerOffer {
        supported_profiles: Profiles::BASELINE,
        preferred_profiles: Profiles::empty(),
        max_request_payload_bytes: 4096,
        max_response_payload_bytes: 65536,
        auth_token: TOKEN,
        packet_size: 65536,
        extensions: 0,
    }
}

fn serve(h: &Hello, o: &ServerOffer) -> ServerOutcome {
    server_handshake(&hello_message(h), o, 42)
}

fn reply_status(out: &ServerOutcome) -> Option<u16> {
    out.reply.map(|r| u16::from_ne_bytes([r[14], r[15]]))
}

#[test]
fn hello_is_76_bytes_and_ack_80_with_id_0_and_one_item() {
    let m = hello_message(&hello());
    assert_eq!(m.len(), 76);
    let h = netipc::wire::Header::decode(&m).unwrap();
    assert_eq!((h.message_id, h.item_count, h.payload_len), (0, 1, 44));
    let out = serve(&hello(), &offer());
    let r = out.reply.unwrap();
    assert_eq!(r.len(), 80);
    let h = netipc::wire::Header::decode(&r).unwrap();
    assert_eq!((h.message_id, h.item_count, h.payload_len), (0, 1, 48));
}

#[test]
fn header_version_mismatch_of_a_plausible_hello_gets_incompatible() {
    let mut m = hello_message(&hello());
    m[4] = 2;
    let out = server_handshake(&m, &offer(), 1);
    assert_eq!(reply_status(&out), Some(TransportStatus::INCOMPATIBLE.0));
    assert!(matches!(out.result, Err(HandshakeError::Incompatible(_))));
}

#[test]
fn other_header_errors_close_silently() {
    for (at, value) in [(0usize, 0x44u8), (8, 1), (12, 2), (6, 24)] {
        let mut m = hello_message(&hello());
        m[at] = value;
        let out = server_handshake(&m, &offer(), 1);
        assert_eq!(out.reply, None, "byte {at} = {value}");
        assert!(out.result.is_err());
    }
    assert_eq!(
        server_handshake(&[0u8; 20], &offer(), 1).reply,
        None,
        "short packet"
    );
}

#[test]
fn hello_layout_version_mismatch_gets_incompatible() {
    let mut m = hello_message(&hello());
    m[HEADER_LEN] = 2;
    assert_eq!(reply_status(&server_handshake(&m, &offer(), 1)), Some(3));
}

#[test]
fn hello_reserved_bytes_or_short_payload_close_silently() {
    let mut m = hello_message(&hello());
    m[HEADER_LEN + 28] = 1;
    assert_eq!(server_handshake(&m, &offer(), 1).reply, None);
    let m = hello_message(&hello());
    assert_eq!(server_handshake(&m[..75], &offer(), 1).reply, None);
}

#[test]
fn hello_flags_are_ignored() {
    let mut h = hello();
    h.flags = 0x8000;
    assert!(serve(&h, &offer()).result.is_ok());
}

#[test]
fn no_common_profile_wins_over_a_wrong_token() {
    let mut h = hello();
    h.supported_profiles = Profiles::SHM_HYBRID.bits();
    h.auth_token = 1;
    let out = serve(&h, &offer());
    assert_eq!(out.result, Err(HandshakeError::NoCommonProfile));
    assert_eq!(reply_status(&out), Some(TransportStatus::UNSUPPORTED.0));
}

#[test]
fn wrong_token_gets_auth_failed() {
    let mut h = hello();
    h.auth_token ^= 1;
    let out = serve(&h, &offer());
    assert_eq!(out.result, Err(HandshakeError::AuthFailed));
    assert_eq!(reply_status(&out), Some(TransportStatus::AUTH_FAILED.0));
}

#[test]
fn request_ceiling_above_the_server_max_gets_limit_exceeded_and_equal_passes() {
    let mut h = hello();
    h.max_request_payload_bytes = 4097;
    let out = serve(&h, &offer());
    assert_eq!(out.result, Err(HandshakeError::LimitExceeded));
    assert_eq!(reply_status(&out), Some(TransportStatus::LIMIT_EXCEEDED.0));
    h.max_request_payload_bytes = 4096;
    assert!(serve(&h, &offer()).result.is_ok());
}

#[test]
fn packet_size_32_is_incompatible_and_33_accepted() {
    let mut h = hello();
    h.packet_size = 32;
    assert_eq!(reply_status(&serve(&h, &offer())), Some(3));
    h.packet_size = 33;
    assert_eq!(serve(&h, &offer()).result.unwrap().packet_size, 33);
    let mut o = offer();
    o.packet_size = 40;
    h.packet_size = 65536;
    assert_eq!(
        serve(&h, &o).result.unwrap().packet_size,
        40,
        "min of both sides"
    );
}

#[test]
fn rejection_ack_carries_only_the_layout_version() {
    let mut h = hello();
    h.auth_token = 0;
    let r = serve(&h, &offer()).reply.unwrap();
    assert_eq!(&r[HEADER_LEN..HEADER_LEN + 2], &1u16.to_ne_bytes());
    assert!(r[HEADER_LEN + 2..].iter().all(|&b| b == 0));
}

#[test]
fn profile_selection_prefers_the_common_preference_then_the_highest_bit() {
    let select = |intersection: u32, client: u32, server: u32| {
        Profiles::from_bits_retain(intersection)
            .select(Profiles::from_bits_retain(client & server))
            .bits()
    };
    assert_eq!(select(0x07, 0x02, 0x02), 0x02);
    assert_eq!(
        select(0x07, 0x03, 0x06),
        0x02,
        "highest of the common preference"
    );
    assert_eq!(
        select(0x07, 0, 0),
        0x04,
        "no preference: highest common bit"
    );
    assert_eq!(
        select(0x03, 0x04, 0x04),
        0x02,
        "preference outside the intersection"
    );
    assert_eq!(select(0, 0xff, 0xff), 0);
    let mut h = hello();
    h.supported_profiles = 0x07;
    h.preferred_profiles = 0x02;
    let mut o = offer();
    o.supported_profiles = Profiles::from_bits_retain(0x07);
    o.preferred_profiles = Profiles::from_bits_retain(0x06);
    assert_eq!(
        serve(&h, &o).result.unwrap().selected_profile,
        Profiles::SHM_HYBRID
    );
}

#[test]
fn request_values_are_echoed_and_response_values_come_from_the_server() {
    let mut h = hello();
    h.max_request_payload_bytes = 2000;
    h.max_request_batch_items = 0;
    h.max_response_payload_bytes = 7;
    h.max_response_batch_items = 99;
    let p = serve(&h, &offer()).result.unwrap();
    assert_eq!(p.max_request_payload_bytes, 2000);
    assert_eq!(p.max_request_batch_items, 0, "even 0 is echoed");
    assert_eq!(p.max_response_payload_bytes, 65536, "the server's maximum");
    assert_eq!(p.max_response_batch_items, 0, "equal to the request items");
    assert_eq!(p.session_id, 42);
}

#[test]
fn ack_fields_report_the_server_mask_and_intersection() {
    let mut h = hello();
    h.supported_profiles = 0x03;
    let mut o = offer();
    o.supported_profiles = Profiles::from_bits_retain(0x05);
    let r = serve(&h, &o).reply.unwrap();
    let ack = HelloAck::decode(&r[HEADER_LEN..]).unwrap();
    assert_eq!(
        (
            ack.server_supported_profiles,
            ack.intersection_profiles,
            ack.selected_profile
        ),
        (5, 1, 1)
    );
}

fn ack_with(status: TransportStatus, ack: &HelloAck) -> [u8; 80] {
    hello_ack_message(status, ack)
}

fn good_ack() -> HelloAck {
    HelloAck {
        server_supported_profiles: 1,
        intersection_profiles: 1,
        selected_profile: 1,
        agreed_max_request_payload_bytes: 100,
        agreed_max_request_batch_items: 3,
        agreed_max_response_payload_bytes: 200,
        agreed_max_response_batch_items: 3,
        agreed_packet_size: 4096,
        session_id: 9,
        extensions: 0,
    }
}

#[test]
fn client_maps_every_rejection_status_before_the_payload() {
    let garbage = HelloAck::default();
    let cases = [
        (2, HandshakeError::AuthFailed),
        (4, HandshakeError::NoCommonProfile),
        (5, HandshakeError::LimitExceeded),
        (9, HandshakeError::Rejected(TransportStatus(9))),
    ];
    for (status, want) in cases {
        assert_eq!(
            client_handshake(&ack_with(TransportStatus(status), &garbage)),
            Err(want)
        );
    }
    assert!(matches!(
        client_handshake(&ack_with(TransportStatus::INCOMPATIBLE, &garbage)),
        Err(HandshakeError::Incompatible(_))
    ));
    // A rejection is reported even when the payload is cut short.
    let short = ack_with(TransportStatus::AUTH_FAILED, &garbage);
    assert_eq!(
        client_handshake(&short[..40]),
        Err(HandshakeError::AuthFailed)
    );
}

#[test]
fn client_rejects_ack_flags_layout_and_tiny_packet_size() {
    let mut m = ack_with(TransportStatus::OK, &good_ack());
    m[HEADER_LEN + 2] = 1;
    assert!(matches!(
        client_handshake(&m),
        Err(HandshakeError::Undecodable(_))
    ));
    let mut m = ack_with(TransportStatus::OK, &good_ack());
    m[HEADER_LEN] = 2;
    assert!(matches!(
        client_handshake(&m),
        Err(HandshakeError::Incompatible(_))
    ));
    let mut a = good_ack();
    a.agreed_packet_size = 32;
    assert!(matches!(
        client_handshake(&ack_with(TransportStatus::OK, &a)),
        Err(HandshakeError::Malformed(_))
    ));
    let m = ack_with(TransportStatus::OK, &good_ack());
    assert!(matches!(
        client_handshake(&m[..79]),
        Err(HandshakeError::Undecodable(_))
    ));
}

#[test]
fn client_rejects_a_reply_that_is_not_a_hello_ack() {
    assert!(matches!(
        client_handshake(&hello_message(&hello())),
        Err(HandshakeError::Malformed(_))
    ));
    let mut m = ack_with(TransportStatus::OK, &good_ack());
    m[4] = 2;
    assert!(matches!(
        client_handshake(&m),
        Err(HandshakeError::Incompatible(_))
    ));
}

#[test]
fn client_adopts_the_agreed_values() {
    let p = client_handshake(&ack_with(TransportStatus::OK, &good_ack())).unwrap();
    assert_eq!(
        p,
        SessionParams {
            selected_profile: Profiles::BASELINE,
            max_request_payload_bytes: 100,
            max_request_batch_items: 3,
            max_response_payload_bytes: 200,
            max_response_batch_items: 3,
            packet_size: 4096,
            session_id: 9,
            extensions: 0,
        }
    );
    assert!(!p.is_shm());
}

#[test]
fn defaults_replace_zero_configuration_values() {
    let c = ClientOffer::default().with_defaults(212_992);
    assert_eq!(
        (
            c.supported_profiles,
            c.max_request_payload_bytes,
            c.max_request_batch_items,
            c.packet_size
        ),
        (Profiles::BASELINE, 1024, 1, 212_992)
    );
    let s = ServerOffer {
        supported_profiles: Profiles::empty(),
        preferred_profiles: Profiles::empty(),
        max_request_payload_bytes: 0,
        max_response_payload_bytes: 0,
        auth_token: 0,
        packet_size: 0,
        extensions: 0,
    }
    .with_defaults(65536);
    assert_eq!(
        (
            s.supported_profiles,
            s.max_request_payload_bytes,
            s.max_response_payload_bytes,
            s.packet_size
        ),
        (Profiles::BASELINE, 1024, 1024, 65536)
    );
}
