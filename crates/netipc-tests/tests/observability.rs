//! Observable providers: a failing or panicking handler runs once per call
//! (no re-send), its message reaches the provider's log as a `tracing`
//! event, the client gets a typed error that says what happened and the
//! session goes on; the server's statistics are exact; sessions, refusals
//! and stops are events with the documented names and fields.
//!
//! Events are captured by a small subscriber installed for the whole test
//! process; every test uses its own service name and reads only the
//! events of that service (tests run in parallel). Each test runs under a
//! watchdog.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::service::{
    ClientConfig, ClientState, IncrementClient, ManagedServer, Profiles, RunningServer,
    ServerConfig, ServerStats, StringReverseClient,
};
use netipc::transport::{ClientOptions, ClientSession};
use netipc::wire::{HEADER_LEN, Method, TransportStatus};
use tracing::Level;

mod common;

use common::{RunDir, client_config, server_config};

const WATCHDOG: Duration = Duration::from_secs(120);
/// How long a condition the server reaches a moment after the client
/// (a session released, an event logged) may take.
const PATIENCE: Duration = Duration::from_secs(10);
/// The value that makes the test handlers panic, and the one that makes
/// them fail.
const PANIC: u64 = 666;
const FAIL: u64 = 13;
const HANDLER_MESSAGE: &str = "database is down";
const PANIC_MESSAGE: &str = "the handler panics on purpose";

fn watchdog(case: impl FnOnce() + Send + 'static) {
    common::watchdog(WATCHDOG, case);
}

/// One event as the test subscriber saw it.
#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    target: String,
    message: String,
    fields: BTreeMap<String, String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Keeps every event of the process.
struct Capture(Mutex<Vec<Seen>>);

struct Fields<'a>(&'a mut Seen);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.put(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn put(&mut self, field: &tracing::field::Field, value: String) {
        if field.name() == "message" {
            self.0.message = value;
        } else {
            self.0.fields.insert(field.name().to_owned(), value);
        }
    }
}

impl tracing::Subscriber for &'static Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let metadata = event.metadata();
        let mut seen = Seen {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut Fields(&mut seen));
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(seen);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The process's capturing subscriber (installed on first use).
fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        tracing::subscriber::set_global_default(capture).expect("the only subscriber");
        capture
    })
}

/// The events of `service` so far.
fn events(service: &str) -> Vec<Seen> {
    let all = capture().0.lock().unwrap_or_else(PoisonError::into_inner);
    all.iter()
        .filter(|e| e.field("service") == Some(service))
        .cloned()
        .collect()
}

/// The events of `service` with `message`.
fn named(service: &str, message: &str) -> Vec<Seen> {
    events(service)
        .into_iter()
        .filter(|e| e.message == message)
        .collect()
}

/// Waits until `done` holds; fails after [`PATIENCE`].
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < give_up, "{what}: not within {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits for exactly `count` events `message` of `service` and returns
/// them.
fn wait_for(service: &str, message: &str, count: usize) -> Vec<Seen> {
    eventually(&format!("{count} \"{message}\" events"), || {
        named(service, message).len() >= count
    });
    let seen = named(service, message);
    assert_eq!(seen.len(), count, "{seen:#?}");
    seen
}

/// An INCREMENT provider whose handler panics on [`PANIC`], fails with
/// [`HANDLER_MESSAGE`] on [`FAIL`] and counts its invocations.
fn provider(
    dir: &RunDir,
    service: &str,
    config: &ServerConfig,
) -> (RunningServer, Arc<AtomicUsize>) {
    capture();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let server = ManagedServer::increment(dir.str(), service, config, move |v| {
        counted.fetch_add(1, Ordering::SeqCst);
        match v {
            PANIC => panic!("{PANIC_MESSAGE}"),
            FAIL => Err(HANDLER_MESSAGE.into()),
            _ => Ok(v + 1),
        }
    })
    .spawn()
    .expect("start the provider");
    (server, calls)
}

fn connect(dir: &RunDir, service: &str, config: &ClientConfig) -> IncrementClient {
    let mut client = IncrementClient::new(dir.str(), service, config);
    client.connect().expect("the provider is there");
    client
}

/// A handler that fails (`value` [`FAIL`]) or panics ([`PANIC`]) runs once
/// per call; the client gets `Rejected(INTERNAL_ERROR)` saying what to do,
/// keeps its session, and the provider logs and counts the failure and
/// keeps serving everyone.
fn failing_handler_runs_once(profiles: Profiles, value: u64) {
    let dir = RunDir::new();
    let service = format!("fail-{value}-{:x}", profiles.bits());
    let (server, calls) = provider(&dir, &service, &server_config(profiles));
    let mut victim = connect(&dir, &service, &client_config(profiles));
    let mut bystander = connect(&dir, &service, &client_config(profiles));
    assert_eq!(bystander.call(1).unwrap(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let err = victim.call(value).expect_err("the handler fails");
    assert!(
        matches!(err, Error::Rejected(TransportStatus::INTERNAL_ERROR)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("the provider failed to answer")
            && text.contains("INTERNAL_ERROR")
            && text.contains("provider's log"),
        "{text}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the request was not sent again"
    );
    let s = victim.status();
    assert_eq!(
        (s.state, s.reconnect_count, s.call_count, s.error_count),
        (ClientState::Ready, 0, 0, 1)
    );

    // The same session is answered next; so is everyone else.
    assert_eq!(victim.call(5).unwrap(), 6);
    for v in 20..25 {
        assert_eq!(bystander.call(v).unwrap(), v + 1);
    }
    assert_eq!(victim.status().reconnect_count, 0);
    assert_eq!(calls.load(Ordering::SeqCst), 8);

    let stats = server.stats();
    let panicked = value == PANIC;
    assert_eq!(
        (stats.handler_errors, stats.handler_panics),
        (u64::from(!panicked), u64::from(panicked)),
        "{stats:?}"
    );
    assert_eq!(stats.responses.internal_error, 1, "{stats:?}");
    assert_eq!(stats.responses.ok, 7, "{stats:?}");
    assert_eq!(stats.failed_requests, 1, "{stats:?}");
    assert_eq!(stats.sessions_opened, 2, "{stats:?}");

    // The provider's log names the failure, the session and the request.
    let (message, level, field, expected) = if panicked {
        ("handler panicked", Level::ERROR, "panic", PANIC_MESSAGE)
    } else {
        ("handler failed", Level::WARN, "error", HANDLER_MESSAGE)
    };
    let seen = wait_for(&service, message, 1);
    let event = &seen[0];
    assert_eq!(event.level, level);
    assert_eq!(event.target, "netipc::server");
    assert_eq!(event.field(field), Some(expected), "{event:?}");
    assert_eq!(event.field("status"), Some("INTERNAL_ERROR"), "{event:?}");
    assert_eq!(event.field("id"), Some("1"), "{event:?}");
    let session = event.field("session").expect("a session id").to_owned();
    let opened = wait_for(&service, "session opened", 2);
    assert!(
        opened.iter().any(|e| e.field("session") == Some(&session)),
        "{opened:#?}"
    );
    // No other failure was logged.
    let failures: Vec<_> = events(&service)
        .into_iter()
        .filter(|e| e.level <= Level::WARN)
        .collect();
    assert_eq!(failures.len(), 1, "{failures:#?}");
}

#[test]
fn a_panicking_handler_runs_once_and_its_message_is_logged() {
    watchdog(|| failing_handler_runs_once(Profiles::empty(), PANIC));
}

#[test]
fn a_panicking_handler_runs_once_and_its_message_is_logged_baseline() {
    watchdog(|| failing_handler_runs_once(Profiles::BASELINE, PANIC));
}

#[test]
fn a_failing_handler_runs_once_and_its_error_is_logged() {
    watchdog(|| failing_handler_runs_once(Profiles::empty(), FAIL));
}

#[test]
fn a_failing_handler_runs_once_and_its_error_is_logged_baseline() {
    watchdog(|| failing_handler_runs_once(Profiles::BASELINE, FAIL));
}

/// A failing item fails its whole batch, once.
#[test]
fn a_batch_with_a_failing_item_is_not_sent_again() {
    watchdog(|| {
        let dir = RunDir::new();
        let service = "fail-batch";
        let (server, calls) = provider(&dir, service, &ServerConfig::default());
        let config = ClientConfig {
            max_request_batch_items: 8,
            ..ClientConfig::default()
        };
        let mut client = connect(&dir, service, &config);
        let mut out = Vec::new();
        let err = client
            .call_batch(&[1, FAIL, 3], &mut out)
            .expect_err("one item fails");
        assert!(
            matches!(err, Error::Rejected(TransportStatus::INTERNAL_ERROR)),
            "{err:?}"
        );
        // Items up to the failing one ran, once.
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        client.call_batch(&[1, 2, 3], &mut out).unwrap();
        assert_eq!(out, [2, 3, 4]);
        assert_eq!(client.status().reconnect_count, 0);
        assert_eq!(server.stats().handler_errors, 1);
        let seen = wait_for(service, "handler failed", 1);
        assert_eq!(seen[0].field("error"), Some(HANDLER_MESSAGE));
    });
}

/// Every counter of a known sequence of requests, to the byte.
fn exact_statistics(profiles: Profiles) {
    let dir = RunDir::new();
    let service = format!("stats-{:x}", profiles.bits());
    let (server, _calls) = provider(&dir, &service, &server_config(profiles));
    assert_eq!(server.stats().requests, 0);
    let mut client = connect(&dir, &service, &client_config(profiles));
    const OK_CALLS: u64 = 25;
    for v in 100..100 + OK_CALLS {
        assert_eq!(client.call(v).unwrap(), v + 1);
    }
    client.call(FAIL).expect_err("fails");
    client.call(PANIC).expect_err("panics");

    // Another method: UNSUPPORTED, the session kept.
    let mut reverse = StringReverseClient::new(dir.str(), &service, &client_config(profiles));
    reverse.connect().expect("the provider is there");
    let err = reverse
        .call(b"abc")
        .map(<[u8]>::to_vec)
        .expect_err("wrong method");
    assert!(
        matches!(err, Error::Rejected(TransportStatus::UNSUPPORTED)),
        "{err:?}"
    );
    assert!(err.to_string().contains("serves another method"), "{err}");
    assert_eq!(reverse.status().state, ClientState::Ready);
    let mut request = [0u8; 64];
    let reverse_len = netipc::codec::encode_string_reverse(b"abc", &mut request).unwrap();

    // An undecodable request (3 bytes): BAD_ENVELOPE, then closed.
    let options = ClientOptions {
        supported_profiles: if profiles.is_empty() {
            netipc::service::DEFAULT_PROFILES
        } else {
            profiles
        },
        ..ClientOptions::default()
    };
    let mut raw = ClientSession::connect(dir.str(), &service, &options).expect("L1 connect");
    let inc = Method::Increment.code();
    let m = raw.call(inc, 1, &[1, 2, 3], Some(PATIENCE)).unwrap();
    assert_eq!(m.header.transport_status, TransportStatus::BAD_ENVELOPE);

    let stats = server.stats();
    let h = HEADER_LEN as u64;
    let requests = OK_CALLS + 2 + 1 + 1;
    let received = (OK_CALLS + 2) * (h + 8) + (h + reverse_len as u64) + (h + 3);
    let sent = OK_CALLS * (h + 8) + 4 * h;
    assert_eq!(stats.requests, requests, "{stats:?}");
    assert_eq!(
        (
            stats.responses.ok,
            stats.responses.internal_error,
            stats.responses.unsupported,
            stats.responses.bad_envelope,
            stats.responses.limit_exceeded
        ),
        (OK_CALLS, 2, 1, 1, 0),
        "{stats:?}"
    );
    assert_eq!(stats.responses.total(), requests);
    assert_eq!(
        stats.responses.get(TransportStatus::INTERNAL_ERROR),
        stats.responses.internal_error
    );
    assert_eq!(stats.failed_requests, 4);
    assert_eq!((stats.handler_errors, stats.handler_panics), (1, 1));
    assert_eq!((stats.bytes_received, stats.bytes_sent), (received, sent));
    assert_eq!(stats.protocol_errors, 0);
    assert_eq!(stats.refused_at_capacity, 0);
    assert_eq!(stats.handshake_failures, 0);
    eventually("three sessions opened", || {
        server.stats().sessions_opened == 3
    });

    // Per request at trace level: one event each, with its sizes.
    let answered = wait_for(&service, "request", requests as usize);
    let bytes = |field: &str| -> u64 {
        answered
            .iter()
            .map(|e| e.field(field).unwrap().parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(
        (bytes("request_bytes"), bytes("response_bytes")),
        (received, sent)
    );
    assert!(answered.iter().all(|e| e.level == Level::TRACE));
    let unsupported = wait_for(&service, "request failed", 2);
    assert!(
        unsupported
            .iter()
            .any(|e| e.field("status") == Some("UNSUPPORTED") && e.level == Level::WARN),
        "{unsupported:#?}"
    );
    assert!(
        unsupported
            .iter()
            .any(|e| e.field("status") == Some("BAD_ENVELOPE")
                && e.field("error").unwrap().contains("does not decode")),
        "{unsupported:#?}"
    );

    // The raw session was closed after BAD_ENVELOPE; the others end when
    // their clients leave.
    drop((raw, reverse, client));
    let closed = wait_for(&service, "session closed", 3);
    let reasons: Vec<_> = closed.iter().map(|e| e.field("reason").unwrap()).collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "client left").count(),
        2,
        "{closed:#?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| **r == "error response").count(),
        1,
        "{closed:#?}"
    );
    let served: u64 = closed
        .iter()
        .map(|e| e.field("requests").unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(served, requests);
    eventually("every session released", || server.stats().sessions == 0);
    // Quiet now: the request counters did not move.
    assert_eq!(request_counters(&server.stats()), request_counters(&stats));
}

/// The counters of answered requests.
fn request_counters(s: &ServerStats) -> [u64; 7] {
    [
        s.requests,
        s.responses.total(),
        s.failed_requests,
        s.handler_errors,
        s.handler_panics,
        s.bytes_received,
        s.bytes_sent,
    ]
}

#[test]
fn statistics_count_requests_statuses_and_bytes_exactly() {
    watchdog(|| exact_statistics(Profiles::empty()));
}

#[test]
fn statistics_count_requests_statuses_and_bytes_exactly_baseline() {
    watchdog(|| exact_statistics(Profiles::BASELINE));
}

/// A session's life and the server's: `serving`, `session opened` (with
/// the profile the client got), `session closed` with the reason,
/// `stopping`, `stopped`; statistics stay readable after the stop.
#[test]
fn sessions_and_stops_are_events() {
    watchdog(|| {
        let dir = RunDir::new();
        let service = "lifecycle";
        let server =
            ManagedServer::increment(dir.str(), service, &ServerConfig::default(), |v| Ok(v + 1));
        capture();
        // Readable before it runs: all zero.
        assert_eq!(server.stats(), ServerStats::default());
        let stop = server.stop_handle();
        let server = server.spawn().expect("start");
        let serving = wait_for(service, "serving", 1);
        assert_eq!(serving[0].level, Level::INFO);
        assert_eq!(serving[0].field("method"), Some("Increment"));
        assert!(serving[0].field("endpoint").unwrap().contains(service));

        let mut client = connect(&dir, service, &ClientConfig::default());
        assert_eq!(client.call(1).unwrap(), 2);
        let info = client.session_info().expect("connected");
        let opened = wait_for(service, "session opened", 1);
        assert_eq!(opened[0].level, Level::DEBUG);
        assert_eq!(
            opened[0].field("profile"),
            Some(info.profile.to_string().as_str())
        );
        assert_eq!(
            opened[0].field("max_response_bytes"),
            Some(info.max_response_payload_bytes.to_string().as_str())
        );
        if cfg!(unix) {
            assert_eq!(
                opened[0].field("pid"),
                Some(std::process::id().to_string().as_str())
            );
        }
        let session = opened[0].field("session").unwrap().to_owned();

        // A second session, open when the server stops.
        let mut open = connect(&dir, service, &ClientConfig::default());
        assert_eq!(open.call(2).unwrap(), 3);
        drop(client);
        let closed = wait_for(service, "session closed", 1);
        assert_eq!(closed[0].field("session"), Some(session.as_str()));
        assert_eq!(closed[0].field("reason"), Some("client left"));
        assert_eq!(closed[0].field("requests"), Some("1"));

        server.stop();
        assert_eq!(
            wait_for(service, "stopping", 1)[0].field("sessions"),
            Some("1")
        );
        let closed = wait_for(service, "session closed", 2);
        assert_eq!(closed[1].field("reason"), Some("server stopped"));
        let stopped = wait_for(service, "stopped", 1);
        assert_eq!(stopped[0].field("requests"), Some("2"));
        assert_eq!(stopped[0].field("sessions_opened"), Some("2"));
        let stats = stop.stats();
        assert_eq!((stats.requests, stats.sessions), (2, 0), "{stats:?}");
        assert!(open.call(3).is_err());
    });
}

/// Refusals are events at the documented levels, with the peer and the
/// cause, and are counted by reason.
#[test]
fn refusals_are_events_with_their_cause() {
    watchdog(|| {
        let dir = RunDir::new();
        let service = "refusals";
        let config = ServerConfig {
            max_sessions: 1,
            auth_token: 7,
            supported_profiles: Profiles::BASELINE,
            ..ServerConfig::default()
        };
        let (server, _calls) = provider(&dir, service, &config);

        // A wrong auth token.
        let mut stranger = IncrementClient::new(
            dir.str(),
            service,
            &ClientConfig {
                auth_token: 8,
                ..ClientConfig::default()
            },
        );
        stranger.connect().expect_err("a wrong token");
        assert_eq!(stranger.status().state, ClientState::AuthFailed);
        let seen = wait_for(service, "authentication failed", 1);
        assert_eq!(seen[0].level, Level::WARN);
        if cfg!(unix) {
            assert_eq!(
                seen[0].field("pid"),
                Some(std::process::id().to_string().as_str())
            );
        }

        // No common profile.
        let mut shm_only = IncrementClient::new(
            dir.str(),
            service,
            &ClientConfig {
                auth_token: 7,
                supported_profiles: Profiles::SHM_HYBRID,
                ..ClientConfig::default()
            },
        );
        shm_only.connect().expect_err("no common profile");
        assert_eq!(shm_only.status().state, ClientState::Incompatible);
        let seen = wait_for(service, "handshake failed", 1);
        assert_eq!(seen[0].level, Level::WARN);
        assert!(
            seen[0]
                .field("error")
                .unwrap()
                .contains("no common transport profile"),
            "{seen:?}"
        );

        // The session limit: one client in, the next refused.
        let served = ClientConfig {
            auth_token: 7,
            ..ClientConfig::default()
        };
        let mut first = connect(&dir, service, &served);
        assert_eq!(first.call(1).unwrap(), 2);
        for _ in 0..2 {
            let mut late = IncrementClient::new(dir.str(), service, &served);
            let err = late.connect().expect_err("at capacity");
            assert!(err.to_string().contains("at capacity"), "{err}");
        }
        let full = wait_for(service, "session limit reached", 1);
        assert_eq!(full[0].level, Level::WARN);
        assert_eq!(full[0].field("session_limit"), Some("1"));
        let refused = wait_for(service, "refused at capacity", 2);
        assert!(refused.iter().all(|e| e.level == Level::DEBUG));

        let stats = server.stats();
        assert_eq!(
            (
                stats.auth_failures,
                stats.handshake_failures,
                stats.refused_at_capacity,
                stats.sessions_opened
            ),
            (1, 2, 2, 1),
            "{stats:?}"
        );
        // Only the first two were warnings.
        let warnings = events(service)
            .into_iter()
            .filter(|e| e.level <= Level::WARN)
            .count();
        assert_eq!(warnings, 3, "{:#?}", events(service));
    });
}

/// A connection that closes before its HELLO (how a starting provider
/// checks whether an endpoint is alive) is no warning.
#[cfg(target_os = "linux")]
#[test]
fn a_connection_that_leaves_before_its_hello_is_not_a_warning() {
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketType, connect, socket};
    watchdog(|| {
        let dir = RunDir::new();
        let service = "probed";
        let (server, _calls) = provider(&dir, service, &ServerConfig::default());
        let path = dir.path.join(format!("{service}.sock"));
        let probe = socket(AddressFamily::UNIX, SocketType::SEQPACKET, None).expect("socket");
        connect(&probe, &SocketAddrUnix::new(&path).expect("address")).expect("connect");
        drop(probe);
        let seen = wait_for(service, "handshake failed", 1);
        assert_eq!(seen[0].level, Level::DEBUG);
        assert_eq!(
            seen[0].field("error"),
            Some("the connection closed before its HELLO")
        );
        assert_eq!(server.stats().handshake_failures, 1);
        let warnings: Vec<_> = events(service)
            .into_iter()
            .filter(|e| e.level <= Level::WARN)
            .collect();
        assert!(warnings.is_empty(), "{warnings:#?}");
    });
}
