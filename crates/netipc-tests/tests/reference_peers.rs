//! netipc against peers that behave like the reference implementation's
//! (spec/level2.md, spec/codec.md 5.8): lookups of 32,768 keys against
//! every kind of lookup provider, and what reference clients send (first
//! requests at their default sizes, pipelined batches of random sizes)
//! against a default netipc provider.
//!
//! The bound on the exchanges of one logical lookup (stated in
//! `service::client::lookup`): every exchange either carries as many keys
//! as the request size takes, or leaves at least half of the response size
//! to answers, or asks alone a key whose answer is larger than that, or is
//! one of the few overflows that make a growable provider grow. So a call
//! takes at most about `2·(Q/R + 2·A/S)` exchanges for `Q` request bytes, a
//! request size `R`, `A` answer bytes and a response size `S`, plus two per
//! answer larger than `S/2` and two per growth step; never two per key.

mod common;

use std::time::Duration;

use common::{RunDir, watchdog};
use netipc::codec::{
    CgroupsLookupStatus, PidStatus, SNAPSHOT_REQUEST_LEN, SnapshotItem, SnapshotRequest,
    SnapshotView, apps_lookup_request_len, cgroups_lookup_request_len, decode_increment,
    encode_increment,
};
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, ClientConfig, ManagedServer, Profiles, ServerConfig,
};
use netipc::transport::{ClientOptions, ClientSession};
use netipc::wire::{Method, TransportStatus};
use netipc_tests::reference::{
    Behaviour, GENERATION, Lookup, Provider, answer_apps, answer_cgroups, cgroup_answer,
    is_huge_path, is_huge_pid, pid_answer,
};

const LIMIT: Duration = Duration::from_secs(240);
const KEYS: usize = 32_768;

/// Paths like a container host's: ~50 bytes, some unknown, some whose
/// answer never fits.
fn paths() -> Vec<Vec<u8>> {
    (0..KEYS)
        .map(|i| {
            let dir = match i % 4099 {
                17 => "huge",
                n if n % 11 == 3 => "gone",
                _ => "kubepods/burstable",
            };
            format!(
                "/{dir}/pod{:08x}/container-{i}",
                i * 2_654_435_761 % (1 << 32)
            )
            .into_bytes()
        })
        .collect()
}

fn pids() -> Vec<u32> {
    (1..=KEYS as u32).map(|i| i * 3 + 100).collect()
}

/// The sizes of one logical call, for the exchanges bound of the module
/// docs.
struct Call {
    what: &'static str,
    round: usize,
    request_bytes: usize,
    answer_bytes: usize,
    huge: usize,
}

/// Asserts that the exchanges the provider saw since `before` stay within
/// the bound of the module docs, and prints them.
fn check_exchanges(provider: &Provider, behaviour: &Behaviour, before: u64, call: &Call) {
    let exchanges = provider.answered() + provider.overflowed() - before;
    let (r, s) = (
        behaviour.request_max as usize,
        provider.response_size() as usize,
    );
    let bound = (2 * (call.request_bytes.div_ceil(r) + (2 * call.answer_bytes).div_ceil(s))
        + 2 * call.huge
        + 2 * 11) as u64;
    eprintln!(
        "{} round {}: {exchanges} exchanges (bound {bound}), response size {s}, {} overflows so far",
        call.what,
        call.round,
        provider.overflowed()
    );
    assert!(exchanges <= bound, "{exchanges} exchanges, bound {bound}");
}

fn cgroups_against(behaviour: Behaviour, client_profiles: Profiles) {
    let dir = RunDir::new();
    let provider = Provider::spawn(dir.str(), "cg", Lookup::Cgroups, behaviour);
    let config = ClientConfig {
        supported_profiles: client_profiles,
        ..ClientConfig::default()
    };
    let mut client = CgroupsLookupClient::new(dir.str(), "cg", &config);
    client.connect().expect("connect");
    let keys = paths();
    for round in 0..2 {
        let before = provider.answered() + provider.overflowed();
        let view = client.call(&keys).expect("a lookup of every key");
        assert_eq!((view.len(), view.generation()), (KEYS, GENERATION));
        let mut huge = 0;
        for (i, key) in keys.iter().enumerate() {
            let item = view.item(i).expect("item");
            assert_eq!(item.path, &key[..]);
            match cgroup_answer(key) {
                _ if is_huge_path(key) => {
                    huge += 1;
                    assert_eq!(item.status, CgroupsLookupStatus::OversizedItem, "{i}");
                }
                None => assert_eq!(item.status, CgroupsLookupStatus::UnknownPermanent, "{i}"),
                Some((name, labels)) => {
                    assert_eq!(
                        (item.status, item.name),
                        (CgroupsLookupStatus::Known, &name[..])
                    );
                    assert_eq!(item.labels.len(), labels.len());
                }
            }
        }
        let call = Call {
            what: "cgroups",
            round,
            request_bytes: cgroups_lookup_request_len(&keys).unwrap(),
            answer_bytes: (0..KEYS)
                .map(|i| view.raw_item(i).unwrap().len() + 8)
                .sum::<usize>()
                + 16,
            huge,
        };
        check_exchanges(&provider, &behaviour, before, &call);
    }
}

fn apps_against(behaviour: Behaviour, client_profiles: Profiles) {
    let dir = RunDir::new();
    let provider = Provider::spawn(dir.str(), "apps", Lookup::Apps, behaviour);
    let config = ClientConfig {
        supported_profiles: client_profiles,
        ..ClientConfig::default()
    };
    let mut client = AppsLookupClient::new(dir.str(), "apps", &config);
    client.connect().expect("connect");
    let keys = pids();
    for round in 0..2 {
        let before = provider.answered() + provider.overflowed();
        let view = client.call(&keys).expect("a lookup of every key");
        assert_eq!((view.len(), view.generation()), (KEYS, GENERATION));
        let mut huge = 0;
        for (i, &pid) in keys.iter().enumerate() {
            let item = view.item(i).expect("item");
            assert_eq!(item.pid, pid);
            match pid_answer(pid) {
                _ if is_huge_pid(pid) => {
                    huge += 1;
                    assert_eq!(item.entry.status, PidStatus::OversizedItem, "{i}");
                }
                None => assert_eq!(item.entry.status, PidStatus::Unknown, "{i}"),
                Some((comm, path, ppid)) => {
                    assert_eq!(item.entry.status, PidStatus::Known, "{i}");
                    assert_eq!(
                        (item.entry.comm, item.entry.cgroup_path, item.entry.ppid),
                        (&comm[..], &path[..], ppid)
                    );
                }
            }
        }
        let call = Call {
            what: "apps",
            round,
            request_bytes: apps_lookup_request_len(KEYS),
            answer_bytes: (0..KEYS)
                .map(|i| view.raw_item(i).unwrap().len() + 8)
                .sum::<usize>()
                + 16,
            huge,
        };
        check_exchanges(&provider, &behaviour, before, &call);
    }
}

/// A provider fixed at small sizes: answers larger than half of it are
/// asked alone, the huge ones come back `OVERSIZED_ITEM`.
const SMALL_FIXED: Behaviour = Behaviour {
    request_max: 1024,
    response_start: 4096,
    response_ceiling: 4096,
    ..Behaviour::C_DEFAULT
};

/// A growable provider that closes the session instead of sending its
/// `LIMIT_EXCEEDED`.
const LOSSY_GROWABLE: Behaviour = Behaviour {
    loses_limit_exceeded: true,
    ..Behaviour::RUST_GO_DEFAULT
};

#[test]
fn cgroups_lookups_against_a_growable_provider() {
    watchdog(LIMIT, || {
        cgroups_against(Behaviour::RUST_GO_DEFAULT, Profiles::BASELINE);
    });
}

#[test]
fn cgroups_lookups_against_a_growable_provider_over_shared_memory() {
    watchdog(LIMIT, || {
        let behaviour = Behaviour {
            profiles: Profiles::BASELINE | Profiles::SHM_HYBRID,
            ..Behaviour::RUST_GO_DEFAULT
        };
        cgroups_against(behaviour, Profiles::empty());
    });
}

#[test]
fn cgroups_lookups_against_a_fixed_provider() {
    watchdog(LIMIT, || {
        cgroups_against(Behaviour::C_DEFAULT, Profiles::BASELINE);
    });
}

#[test]
fn cgroups_lookups_against_a_small_fixed_provider() {
    watchdog(LIMIT, || {
        cgroups_against(SMALL_FIXED, Profiles::BASELINE);
    });
}

#[test]
fn cgroups_lookups_against_a_provider_that_loses_its_overflow_replies() {
    watchdog(LIMIT, || {
        cgroups_against(LOSSY_GROWABLE, Profiles::BASELINE);
    });
}

#[test]
fn apps_lookups_against_a_growable_provider() {
    watchdog(LIMIT, || {
        apps_against(Behaviour::RUST_GO_DEFAULT, Profiles::BASELINE);
    });
}

#[test]
fn apps_lookups_against_a_growable_provider_over_shared_memory() {
    watchdog(LIMIT, || {
        let behaviour = Behaviour {
            profiles: Profiles::BASELINE | Profiles::SHM_HYBRID,
            ..Behaviour::RUST_GO_DEFAULT
        };
        apps_against(behaviour, Profiles::empty());
    });
}

#[test]
fn apps_lookups_against_a_fixed_provider() {
    watchdog(LIMIT, || {
        apps_against(Behaviour::C_DEFAULT, Profiles::BASELINE);
    });
}

#[test]
fn apps_lookups_against_a_small_fixed_provider() {
    watchdog(LIMIT, || {
        apps_against(SMALL_FIXED, Profiles::BASELINE);
    });
}

#[test]
fn apps_lookups_against_a_provider_that_loses_its_overflow_replies() {
    watchdog(LIMIT, || {
        apps_against(LOSSY_GROWABLE, Profiles::BASELINE);
    });
}

/// A reference client's first session: the C client proposes 1 KiB
/// requests (and stores 64 KiB as its response size); Rust and Go clients
/// propose 1 KiB both ways.
fn reference_client(dir: &RunDir, service: &str, profiles: Profiles) -> ClientSession {
    let options = ClientOptions {
        supported_profiles: profiles,
        preferred_profiles: profiles,
        max_request_payload_bytes: 1024,
        max_response_payload_bytes: 64 << 10,
        ..ClientOptions::default()
    };
    ClientSession::connect(dir.str(), service, &options).expect("connect")
}

/// A default netipc provider answers a reference client's first,
/// request-full lookup without `LIMIT_EXCEEDED`: the answer fits its
/// starting response size, so the reference C client's retry (which
/// re-sends a corrupted request over shared memory) is not taken.
#[test]
fn a_default_provider_answers_a_request_full_of_keys_at_once() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let config = ServerConfig::default();
        let cgroups = ManagedServer::cgroups_lookup(dir.str(), "cg", &config, |r, b| {
            Ok(answer_cgroups(r, b)?)
        })
        .spawn()
        .unwrap();
        let apps =
            ManagedServer::apps_lookup(dir.str(), "apps", &config, |r, b| Ok(answer_apps(r, b)?))
                .spawn()
                .unwrap();
        for profiles in [
            Profiles::BASELINE,
            Profiles::BASELINE | Profiles::SHM_HYBRID,
        ] {
            // As many ~50-byte paths as a 1 KiB request takes (17).
            let keys: Vec<Vec<u8>> = paths()
                .into_iter()
                .filter(|p| !is_huge_path(p))
                .take(64)
                .collect();
            let n = (1..=keys.len())
                .take_while(|&n| cgroups_lookup_request_len(&keys[..n]).unwrap() <= 1024)
                .last()
                .unwrap();
            let mut request = vec![0u8; 1024];
            let len =
                netipc::codec::encode_cgroups_lookup_request(&keys[..n], &mut request).unwrap();
            let mut session = reference_client(&dir, "cg", profiles);
            let m = session
                .call(
                    Method::CgroupsLookup.code(),
                    1,
                    &request[..len],
                    Some(LIMIT),
                )
                .unwrap();
            assert_eq!(m.header.transport_status, TransportStatus::OK, "{profiles}");
            let view = netipc::codec::CgroupsLookupView::decode(m.payload).unwrap();
            assert_eq!(view.len(), n);
            assert!(
                (0..n)
                    .all(|i| view.item(i).unwrap().status != CgroupsLookupStatus::PayloadExceeded),
                "every key of the request is answered"
            );

            // 63 PIDs fill a 1 KiB APPS_LOOKUP request.
            let pids: Vec<u32> = pids()
                .into_iter()
                .filter(|&p| !is_huge_pid(p))
                .take(63)
                .collect();
            let mut request = vec![0u8; 1024];
            let len = netipc::codec::encode_apps_lookup_request(&pids, &mut request).unwrap();
            let mut session = reference_client(&dir, "apps", profiles);
            let m = session
                .call(Method::AppsLookup.code(), 1, &request[..len], Some(LIMIT))
                .unwrap();
            assert_eq!(m.header.transport_status, TransportStatus::OK, "{profiles}");
            let view = netipc::codec::AppsLookupView::decode(m.payload).unwrap();
            assert_eq!(view.len(), 63);
            assert!(
                (0..63).all(|i| view.item(i).unwrap().entry.status != PidStatus::PayloadExceeded)
            );
        }
        for server in [&cgroups, &apps] {
            let stats = server.stats();
            assert_eq!(stats.responses.limit_exceeded, 0, "{stats:?}");
        }
    });
}

/// A reference client's first snapshot request is answered at once up to
/// the default starting response size (64 KiB): here 400 cgroups with
/// ~90-byte paths, about 57 KB.
#[test]
fn a_default_provider_answers_a_reference_snapshot_request_at_once() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let server =
            ManagedServer::cgroups_snapshot(dir.str(), "snap", &ServerConfig::default(), |b| {
                b.set_generation(3);
                for i in 0..400u32 {
                    let name = format!("docker-{i:06}");
                    let path = format!(
                        "/sys/fs/cgroup/system.slice/docker-{:016x}{:016x}.scope",
                        u64::from(i) * 0x9e37_79b9,
                        u64::from(i)
                    );
                    b.add(&SnapshotItem {
                        hash: i,
                        options: 0,
                        enabled: 1,
                        name: name.as_bytes(),
                        path: path.as_bytes(),
                    })?;
                }
                Ok(())
            })
            .spawn()
            .unwrap();
        for profiles in [
            Profiles::BASELINE,
            Profiles::BASELINE | Profiles::SHM_HYBRID,
        ] {
            let mut session = reference_client(&dir, "snap", profiles);
            let mut request = [0u8; SNAPSHOT_REQUEST_LEN];
            SnapshotRequest::default().encode(&mut request).unwrap();
            let m = session
                .call(Method::CgroupsSnapshot.code(), 1, &request, Some(LIMIT))
                .unwrap();
            assert_eq!(m.header.transport_status, TransportStatus::OK, "{profiles}");
            assert!(m.payload.len() > 48 << 10, "{} bytes", m.payload.len());
            let view = SnapshotView::decode(m.payload).unwrap();
            assert_eq!((view.len(), view.generation()), (400, 3));
        }
        assert_eq!(server.stats().responses.limit_exceeded, 0);
    });
}

/// The reference bench matrix's pipeline + batch: 16 batches of 2..1000
/// INCREMENT items in flight on one socket session (one at a time over
/// shared memory), against a default provider.
#[test]
fn a_default_provider_serves_pipelined_batches_of_random_sizes() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let server = ManagedServer::increment(dir.str(), "inc", &ServerConfig::default(), |v| {
            Ok(v.wrapping_add(1))
        })
        .spawn()
        .unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for profiles in [
            Profiles::BASELINE,
            Profiles::BASELINE | Profiles::SHM_HYBRID,
        ] {
            let options = ClientOptions {
                supported_profiles: profiles,
                preferred_profiles: profiles,
                max_request_payload_bytes: 16 << 10,
                max_request_batch_items: 1000,
                max_response_payload_bytes: 16 << 10,
                ..ClientOptions::default()
            };
            let mut session = ClientSession::connect(dir.str(), "inc", &options).expect("connect");
            let code = Method::Increment.code();
            let batches: Vec<Vec<u64>> = (0..200)
                .map(|_| {
                    let n = 2 + (next() % 999) as usize;
                    (0..n).map(|_| next() >> 1).collect()
                })
                .collect();
            let encoded: Vec<Vec<[u8; 8]>> = batches
                .iter()
                .map(|b| {
                    b.iter()
                        .map(|&v| {
                            let mut item = [0u8; 8];
                            encode_increment(v, &mut item).unwrap();
                            item
                        })
                        .collect()
                })
                .collect();
            let send = |session: &mut ClientSession, i: usize| {
                let items = encoded[i].iter().map(|item| &item[..]);
                session
                    .send_batch(code, i as u64 + 1, items)
                    .expect("send a batch");
            };
            // Shared memory carries one request at a time (as in the
            // reference): batches of random sizes one after the other.
            let depth = if session.is_shm() { 1 } else { 16 };
            for i in 0..depth {
                send(&mut session, i);
            }
            for (i, batch) in batches.iter().enumerate() {
                {
                    let m = session.recv(Some(LIMIT), None).expect("a response");
                    assert_eq!(m.header.transport_status, TransportStatus::OK);
                    assert_eq!(m.header.message_id, i as u64 + 1, "responses in order");
                    let items = m.items().expect("a batch response");
                    assert_eq!(items.len(), batch.len());
                    for (j, &v) in batch.iter().enumerate() {
                        let got = decode_increment(items.get(j).unwrap()).unwrap();
                        assert_eq!(got, v.wrapping_add(1));
                    }
                }
                if i + depth < batches.len() {
                    send(&mut session, i + depth);
                }
            }
        }
        let stats = server.stats();
        assert_eq!(stats.responses.failed(), 0, "{stats:?}");
    });
}
