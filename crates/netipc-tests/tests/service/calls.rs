//! Typed single and batch calls (level2 sections 4, 5 and 8): round trips
//! on shared memory and on the baseline transport, batches as one message,
//! the call envelope (message ids, response checks) and the at-least-once
//! retry policy.

use netipc::Error;
use netipc::codec::{SnapshotItem, decode_string_reverse, encode_string_reverse};
use netipc::service::{
    CgroupsSnapshotClient, ClientConfig, ClientState, ManagedServer, ServerConfig,
    StringReverseClient,
};
use netipc::transport::response_header;
use netipc::wire::{FLAG_BATCH, Header, MessageKind, Method, Profiles, TransportStatus};

use crate::support::*;

fn batch_config(profiles: Profiles) -> ClientConfig {
    ClientConfig {
        max_request_batch_items: 16,
        ..client_config(profiles)
    }
}

fn reverse_server(dir: &RunDir, profiles: Profiles) -> netipc::service::RunningServer {
    ManagedServer::string_reverse(dir.str(), "rev", &server_config(profiles), |text, out| {
        out.extend(text.iter().rev());
        Ok(())
    })
    .spawn()
    .unwrap()
}

fn snapshot_server(dir: &RunDir, profiles: Profiles) -> netipc::service::RunningServer {
    ManagedServer::cgroups_snapshot(dir.str(), "snap", &server_config(profiles), |b| {
        b.set_systemd_enabled(1);
        b.set_generation(77);
        b.add(&SnapshotItem {
            hash: 11,
            options: 2,
            enabled: 1,
            name: b"init.scope",
            path: b"/sys/fs/cgroup/init.scope",
        })?;
        b.add(&SnapshotItem {
            hash: 22,
            options: 0,
            enabled: 0,
            name: b"user.slice",
            path: b"/sys/fs/cgroup/user.slice",
        })?;
        Ok(())
    })
    .spawn()
    .unwrap()
}

fn round_trips(profiles: Profiles) {
    let dir = RunDir::new();
    let shm = profiles != BASELINE;
    let _inc = increment_server(&dir, "inc", &server_config(profiles));
    let _rev = reverse_server(&dir, profiles);
    let _snap = snapshot_server(&dir, profiles);

    let mut inc = ready_increment_client(&dir, "inc", &batch_config(profiles));
    let info = inc.session_info().unwrap();
    assert_eq!(info.shared_memory, shm, "{info:?}");
    let expected = if shm {
        Profiles::SHM_HYBRID
    } else {
        Profiles::BASELINE
    };
    assert_eq!(info.profile, expected);
    assert_eq!(inc.call(0).unwrap(), 1);
    assert_eq!(inc.call(u64::MAX - 1).unwrap(), u64::MAX);
    let mut out = vec![99];
    inc.call_batch(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], &mut out)
        .unwrap();
    assert_eq!(out, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    inc.call_batch(&[41], &mut out).unwrap();
    assert_eq!(out, [42]);
    inc.call_batch(&[], &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(inc.status().call_count, 4);

    let mut rev = StringReverseClient::new(dir.str(), "rev", &batch_config(profiles));
    let _ = rev.connect();
    assert_eq!(rev.call(b"hello").unwrap(), b"olleh");
    assert_eq!(rev.call(b"").unwrap(), b"");
    let long = vec![b'x'; 900];
    assert_eq!(rev.call(&long).unwrap(), &long[..]);
    {
        let answers = rev.call_batch(&["abc", "", "de"]).unwrap();
        assert_eq!(answers.len(), 3);
        let got: Vec<&[u8]> = answers.iter().collect();
        assert_eq!(got, [&b"cba"[..], b"", b"ed"]);
        assert_eq!(answers.get(2), Some(&b"ed"[..]));
        assert_eq!(answers.get(3), None);
    }
    assert!(rev.call_batch::<&str>(&[]).unwrap().is_empty());
    assert_eq!(rev.status().call_count, 4);

    let mut snap = CgroupsSnapshotClient::new(dir.str(), "snap", &client_config(profiles));
    let _ = snap.connect();
    for _ in 0..3 {
        let view = snap.call().unwrap();
        assert_eq!(
            (view.len(), view.systemd_enabled(), view.generation()),
            (2, 1, 77)
        );
        let first = view.item(0).unwrap();
        assert_eq!((first.hash, first.options, first.enabled), (11, 2, 1));
        assert_eq!(first.name, b"init.scope");
        assert_eq!(view.item(1).unwrap().path, b"/sys/fs/cgroup/user.slice");
    }
    assert_eq!(snap.status().call_count, 3);
    for s in [inc.status(), rev.status(), snap.status()] {
        assert_eq!(
            (s.state, s.reconnect_count, s.error_count),
            (ClientState::Ready, 0, 0)
        );
    }
}

#[test]
fn round_trips_on_shared_memory() {
    watchdog(|| round_trips(Profiles::empty()));
}

#[test]
fn round_trips_on_the_baseline_transport() {
    watchdog(|| round_trips(BASELINE));
}

#[test]
fn round_trip_on_profile_bit_4() {
    watchdog(|| {
        // Linux: SHM_FUTEX (same region as SHM_HYBRID); Windows: SHM_BUSYWAIT.
        let profiles = Profiles::BASELINE | Profiles::SHM_ALT;
        let dir = RunDir::new();
        let config = ServerConfig {
            preferred_profiles: Profiles::SHM_ALT,
            ..server_config(profiles)
        };
        let _server = increment_server(&dir, "svc", &config);
        let config = ClientConfig {
            preferred_profiles: Profiles::SHM_ALT,
            ..client_config(profiles)
        };
        let mut client = ready_increment_client(&dir, "svc", &config);
        let info = client.session_info().unwrap();
        assert_eq!(
            (info.profile, info.shared_memory),
            (Profiles::SHM_ALT, true)
        );
        for v in 0..100 {
            assert_eq!(client.call(v).unwrap(), v + 1);
        }
    });
}

fn batch_calls_are_one_message(profiles: Profiles) {
    let dir = RunDir::new();
    let server = RawServer::start(&dir, "inc", raw_options(profiles), answer_increment);
    let mut client = ready_increment_client(&dir, "inc", &batch_config(profiles));
    let mut out = Vec::new();
    client.call_batch(&[1, 2, 3, 4, 5], &mut out).unwrap();
    assert_eq!(out, [2, 3, 4, 5, 6]);
    // One value travels as a plain call, none not at all.
    client.call_batch(&[7], &mut out).unwrap();
    assert_eq!(out, [8]);
    client.call_batch(&[], &mut out).unwrap();
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].is_shm(), profiles != BASELINE);
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (batch, single) = (&seen[0].header, &seen[1].header);
    assert_eq!(
        (batch.flags, batch.item_count, batch.message_id),
        (FLAG_BATCH, 5, 1)
    );
    assert_eq!(batch.code, Method::Increment.code());
    assert_eq!(
        (single.flags, single.item_count, single.message_id),
        (0, 1, 2)
    );
    assert_eq!(seen[1].payload, 7u64.to_ne_bytes());
}

#[test]
fn increment_batch_is_one_batch_message() {
    watchdog(|| batch_calls_are_one_message(Profiles::empty()));
}

#[test]
fn increment_batch_is_one_batch_message_baseline() {
    watchdog(|| batch_calls_are_one_message(BASELINE));
}

#[test]
fn string_reverse_batch_is_one_batch_message() {
    watchdog(|| {
        let dir = RunDir::new();
        let reverse = |item: &[u8]| {
            let text: Vec<u8> = decode_string_reverse(item)
                .unwrap()
                .iter()
                .rev()
                .copied()
                .collect();
            let mut out = vec![0u8; text.len() + 9];
            let n = encode_string_reverse(&text, &mut out).unwrap();
            out.truncate(n);
            out
        };
        let server = RawServer::start(&dir, "rev", raw_options(Profiles::empty()), move |seen| {
            if seen.header.is_batch() {
                let items = netipc::wire::BatchView::new(&seen.payload, seen.header.item_count)
                    .unwrap()
                    .iter()
                    .map(reverse)
                    .collect();
                Action::RespondBatch(items)
            } else {
                Action::Respond(reverse(&seen.payload))
            }
        });
        let mut client =
            StringReverseClient::new(dir.str(), "rev", &batch_config(Profiles::empty()));
        let _ = client.connect();
        {
            let answers = client.call_batch(&["one", "two", "three"]).unwrap();
            let got: Vec<&[u8]> = answers.iter().collect();
            assert_eq!(got, [&b"eno"[..], b"owt", b"eerht"]);
        }
        // Even a single text is sent as a batch; none is not sent.
        assert_eq!(client.call_batch(&["xy"]).unwrap().get(0), Some(&b"yx"[..]));
        assert!(client.call_batch::<&str>(&[]).unwrap().is_empty());
        let seen = server.seen();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(
            (seen[0].header.flags, seen[0].header.item_count),
            (FLAG_BATCH, 3)
        );
        assert_eq!(
            (seen[1].header.flags, seen[1].header.item_count),
            (FLAG_BATCH, 1)
        );
        assert_eq!(
            (seen[0].header.message_id, seen[1].header.message_id),
            (1, 2)
        );
    });
}

#[test]
fn batch_above_the_negotiated_item_count_is_refused() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = RawServer::start(
            &dir,
            "inc",
            raw_options(Profiles::empty()),
            answer_increment,
        );
        // max_request_batch_items 0 means 1.
        let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
        assert_eq!(client.session_info().unwrap().max_request_batch_items, 1);
        let result = client.call_batch(&[1, 2], &mut Vec::new());
        assert!(matches!(result, Err(Error::LimitExceeded(_))), "{result:?}");
        // Nothing was ever sent; as an ordinary send failure it cost one
        // reconnect and left the client broken (spec section 4).
        assert!(server.seen().is_empty());
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.error_count),
            (ClientState::Broken, 1, 1)
        );
        client.connect().unwrap();
        assert_eq!(client.call(1).unwrap(), 2);
    });
}

#[test]
fn message_ids_start_at_one_advance_on_success_and_retries_reuse_them() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = RawServer::start(&dir, "inc", raw_options(Profiles::empty()), |seen| {
            let value = netipc::codec::decode_increment(&seen.payload).unwrap();
            if value == 100 || (seen.conn == 0 && seen.header.message_id == 4) {
                Action::Close
            } else {
                answer_increment(seen)
            }
        });
        let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
        for v in 1..=5 {
            assert_eq!(client.call(v).unwrap(), v + 1);
        }
        // A call whose both attempts fail does not advance the id.
        assert!(matches!(client.call(100), Err(Error::Disconnected)));
        assert_eq!(client.status().state, ClientState::Broken);
        client.connect().unwrap();
        assert_eq!(client.call(7).unwrap(), 8);
        let got: Vec<(usize, u64, u64)> = server
            .seen()
            .iter()
            .map(|s| {
                let v = netipc::codec::decode_increment(&s.payload).unwrap();
                (s.conn, s.header.message_id, v)
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, 1, 1),
                (0, 2, 2),
                (0, 3, 3),
                (0, 4, 4),
                (1, 4, 4),
                (1, 5, 5),
                (1, 6, 100),
                (2, 6, 100),
                (3, 6, 7),
            ]
        );
        for s in server.seen() {
            let h = s.header;
            assert_eq!(
                (h.kind, h.flags, h.item_count),
                (MessageKind::Request, 0, 1)
            );
            assert_eq!(h.transport_status, TransportStatus::OK);
        }
        let s = client.status();
        assert_eq!(
            (
                s.connect_count,
                s.reconnect_count,
                s.call_count,
                s.error_count
            ),
            (1, 3, 6, 1)
        );
    });
}

/// A script answering INCREMENT, but with `corrupt` applied to the
/// response header on the connections `bad` selects.
fn corrupting(
    bad: impl Fn(usize) -> bool + Send + 'static,
    corrupt: impl Fn(&mut Header) + Send + 'static,
) -> impl FnMut(&Seen) -> Action + Send + 'static {
    move |seen| {
        if !bad(seen.conn) {
            return answer_increment(seen);
        }
        let value = netipc::codec::decode_increment(&seen.payload).unwrap() + 1;
        let mut h = response_header(&seen.header, TransportStatus::OK);
        corrupt(&mut h);
        Action::Send(h, value.to_ne_bytes().to_vec())
    }
}

fn mismatch_is_retried_once(corrupt: fn(&mut Header)) {
    let dir = RunDir::new();
    let server = RawServer::start(
        &dir,
        "inc",
        raw_options(Profiles::empty()),
        corrupting(|c| c == 0, corrupt),
    );
    let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
    assert_eq!(client.call(1).unwrap(), 2);
    let s = client.status();
    assert_eq!(
        (s.state, s.reconnect_count, s.call_count, s.error_count),
        (ClientState::Ready, 1, 1, 0)
    );
    let ids: Vec<(usize, u64)> = server
        .seen()
        .iter()
        .map(|s| (s.conn, s.header.message_id))
        .collect();
    assert_eq!(ids, [(0, 1), (1, 1)]);
}

#[test]
fn response_with_another_message_id_triggers_one_resend() {
    watchdog(|| mismatch_is_retried_once(|h| h.message_id += 1));
}

#[test]
fn response_for_another_method_triggers_one_resend() {
    watchdog(|| mismatch_is_retried_once(|h| h.code = Method::StringReverse.code()));
}

#[test]
fn mismatched_responses_on_both_attempts_fail_the_call() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = RawServer::start(
            &dir,
            "inc",
            raw_options(Profiles::empty()),
            corrupting(|_| true, |h| h.code = Method::CgroupsSnapshot.code()),
        );
        let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
        let result = client.call(1);
        assert!(matches!(result, Err(Error::BadResponse(_))), "{result:?}");
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.call_count, s.error_count),
            (ClientState::Broken, 1, 0, 1)
        );
        assert_eq!(server.seen().len(), 2);
    });
}

/// An error status is the provider's final answer to a request it
/// received: not sent again, and the session is kept.
#[test]
fn non_ok_statuses_are_final_answers_without_a_resend() {
    watchdog(|| {
        for status in [
            TransportStatus::BAD_ENVELOPE,
            TransportStatus::UNSUPPORTED,
            TransportStatus::INTERNAL_ERROR,
            TransportStatus(77),
        ] {
            let dir = RunDir::new();
            let server = RawServer::start(&dir, "inc", raw_options(Profiles::empty()), move |_| {
                Action::Status(status)
            });
            let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
            match client.call(1) {
                Err(Error::Rejected(s)) => assert_eq!(s, status),
                other => panic!("{status:?}: {other:?}"),
            }
            let s = client.status();
            assert_eq!(
                (s.state, s.reconnect_count, s.error_count),
                (ClientState::Ready, 0, 1)
            );
            assert_eq!(server.seen().len(), 1, "{status:?}");
        }
    });
}

#[test]
fn batch_response_with_another_item_count_triggers_one_resend() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = RawServer::start(&dir, "inc", raw_options(Profiles::empty()), |seen| {
            match answer_increment(seen) {
                Action::RespondBatch(mut items) if seen.conn == 0 => {
                    items.pop();
                    Action::RespondBatch(items)
                }
                other => other,
            }
        });
        let mut client = ready_increment_client(&dir, "inc", &batch_config(Profiles::empty()));
        let mut out = Vec::new();
        client.call_batch(&[1, 2, 3], &mut out).unwrap();
        assert_eq!(out, [2, 3, 4]);
        assert_eq!(client.status().reconnect_count, 1);
        assert_eq!(server.seen().len(), 2);
    });
}

#[test]
fn malformed_snapshot_counts_as_a_failed_attempt() {
    watchdog(|| {
        let dir = RunDir::new();
        let server = RawServer::start(&dir, "snap", raw_options(Profiles::empty()), |_| {
            Action::Respond(vec![9u8; 30])
        });
        let mut client = CgroupsSnapshotClient::new(dir.str(), "snap", &ClientConfig::default());
        let _ = client.connect();
        let result = client.call().map(|v| v.len());
        assert!(matches!(result, Err(Error::Codec(_))), "{result:?}");
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.error_count),
            (ClientState::Broken, 1, 1)
        );
        assert_eq!(server.seen().len(), 2);
    });
}

fn counting_increment_server(
    dir: &RunDir,
    fail: impl Fn(usize, u64) -> bool + Send + Sync + 'static,
) -> (netipc::service::RunningServer, Counter) {
    let calls = Counter::default();
    let c = calls.clone();
    let server = ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), move |v| {
        let n = c.bump();
        if fail(n, v) {
            return Err("refused".into());
        }
        Ok(v + 1)
    })
    .spawn()
    .unwrap();
    (server, calls)
}

#[test]
fn a_handler_failure_is_returned_without_a_resend() {
    watchdog(|| {
        let dir = RunDir::new();
        let (_server, calls) = counting_increment_server(&dir, |n, _| n == 1);
        let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
        let result = client.call(5);
        assert!(
            matches!(
                result,
                Err(Error::Rejected(TransportStatus::INTERNAL_ERROR))
            ),
            "{result:?}"
        );
        assert_eq!(calls.get(), 1);
        // The session goes on: the next call is answered on it.
        assert_eq!(client.call(5).unwrap(), 6);
        assert_eq!(calls.get(), 2);
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.call_count, s.error_count),
            (ClientState::Ready, 0, 1, 1)
        );
    });
}

#[test]
fn handler_that_always_fails_is_invoked_once_per_call() {
    watchdog(|| {
        let dir = RunDir::new();
        let (_server, calls) = counting_increment_server(&dir, |_, v| v == 13);
        let mut client = ready_increment_client(&dir, "inc", &ClientConfig::default());
        assert_eq!(client.call(1).unwrap(), 2);
        for round in 1..=3 {
            let result = client.call(13);
            assert!(
                matches!(
                    result,
                    Err(Error::Rejected(TransportStatus::INTERNAL_ERROR))
                ),
                "{result:?}"
            );
            assert_eq!(calls.get(), 1 + round);
        }
        let s = client.status();
        assert_eq!(
            (s.state, s.reconnect_count, s.call_count, s.error_count),
            (ClientState::Ready, 0, 1, 3)
        );
        assert_eq!(client.call(1).unwrap(), 2);
        assert_eq!(calls.get(), 5);
    });
}
