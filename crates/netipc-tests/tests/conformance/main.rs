//! The transport conformance suite, written once and instantiated for
//! every backend. Each case runs under a watchdog, so a hang fails the test.
//!
//! Cases that every backend must pass are listed in `common_cases!`; the
//! ones that only make sense on a packet transport (chunking, pipelining of
//! several requests) in `packet_cases!`.

#[path = "../common/mod.rs"]
mod common;
mod endpoint;
mod handshake;
#[cfg(target_os = "linux")]
mod linux_shm;
mod messages;
#[cfg(unix)]
mod posix;
mod support;

macro_rules! instantiate {
    ($backend:ident, $module:ident :: $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                crate::support::run(crate::support::$backend, crate::$module::$case);
            }
        )*
    };
}

macro_rules! common_cases {
    ($backend:ident) => {
        instantiate!(
            $backend,
            handshake::negotiates_limits_and_session_id,
            wrong_token_is_auth_failed,
            request_ceiling_above_server_max_is_limit_exceeded,
            no_common_profile_is_unsupported,
            packet_size_32_is_incompatible,
            header_version_mismatch_gets_incompatible,
            malformed_hello_is_closed_without_reply,
            eof_right_after_handshake_is_a_disconnect,
            handshake_timeout_bounds_a_silent_client,
        );
        instantiate!(
            $backend,
            messages::single_messages_round_trip,
            duplicate_message_id_is_refused_locally,
            batches_round_trip,
            over_limit_sends_are_refused_locally,
            interrupt_wakes_a_blocked_receive,
            interrupt_wakes_a_blocked_accept,
            closing_either_side_is_a_disconnect,
            wrong_kinds_are_refused,
            error_responses_are_empty_single_messages,
        );
        instantiate!(
            $backend,
            endpoint::connect_without_a_server_is_not_found,
            invalid_service_names_are_refused,
            live_endpoint_is_refused_and_kept,
            closing_the_listener_removes_the_endpoint,
            crashed_server_endpoint_is_reclaimed,
            peer_credentials_identify_the_process,
            sixty_four_concurrent_clients_fail_independently,
            cross_process_round_trips,
            peer_killed_mid_request_never_hangs_the_server,
            peer_killed_mid_response_never_hangs_the_client,
        );
    };
}

macro_rules! packet_cases {
    ($backend:ident) => {
        instantiate!(
            $backend,
            handshake::packet_size_33_is_accepted_and_used,
            packet_size_defaults_and_agreed_min,
        );
        instantiate!(
            $backend,
            messages::chunking_boundaries_over_the_wire,
            chunked_messages_round_trip,
            large_message_64_mib,
            pipelined_responses_match_out_of_order,
            unknown_response_id_breaks_the_session,
            peer_over_limit_message_is_rejected,
            malformed_header_is_rejected,
            packet_longer_than_message_is_rejected,
            corrupt_chunk_sequences_are_rejected,
            timeout_spans_every_chunk,
        );
    };
}

/// The baseline transport (Unix SEQPACKET socket / named pipe).
mod baseline {
    common_cases!(BASELINE);
    packet_cases!(BASELINE);
}

/// Shared memory, SHM_HYBRID profile (spin, then futex on Linux, events on
/// Windows).
mod shm_hybrid {
    common_cases!(SHM_HYBRID);
}

/// Shared memory, profile bit 0x04: SHM_FUTEX on Linux (an alias of
/// SHM_HYBRID), SHM_BUSYWAIT (spin only) on Windows.
mod shm_profile_4 {
    common_cases!(SHM_PROFILE_4);
}
