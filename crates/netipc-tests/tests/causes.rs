//! Every way a typed client can fail to connect keeps its cause: the
//! error `connect()` returns, `last_error()`, the `NotReady` error of a
//! call made anyway, and the snapshot cache's refresh and `last_error()`.
//! One test per cause.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{RunDir, watchdog};
use netipc::Error;
use netipc::cache::SnapshotCache;
use netipc::service::{
    ClientConfig, ClientState, IncrementClient, ManagedServer, RunningServer, ServerConfig,
};
use netipc::transport::handshake::HandshakeError;
use netipc::transport::names::NameError;
use netipc::transport::run_dir::RunDirError;
use netipc::transport::{Listener, ServerOptions};
use netipc::wire::Profiles;

const LIMIT: Duration = Duration::from_secs(30);

fn increment(dir: &str, service: &str, config: &ServerConfig) -> RunningServer {
    ManagedServer::increment(dir, service, config, |v| Ok(v + 1))
        .spawn()
        .expect("start the provider")
}

/// Connects a fresh increment client with `config`, expects the connection
/// to fail, and checks that the cause is the same everywhere: the returned
/// error, `last_error()` and the error of a call made anyway. Returns the
/// client's state and the cause.
fn failed_connect(dir: &str, service: &str, config: &ClientConfig) -> (ClientState, Arc<Error>) {
    let mut client = IncrementClient::new(dir, service, config);
    let err = client.connect().expect_err("the connection must fail");
    let Error::NotReady {
        state,
        cause: Some(cause),
    } = &err
    else {
        panic!("connect: expected NotReady with a cause, got {err:?}");
    };
    assert_eq!(*state, client.status().state);
    let kept = client.last_error().expect("last_error keeps the cause");
    assert_eq!(kept.to_string(), cause.to_string());
    assert!(
        err.to_string().ends_with(&cause.to_string()),
        "the NotReady message carries the cause: {err}"
    );
    match client.call(1) {
        Err(Error::NotReady {
            state: s,
            cause: Some(c),
        }) => {
            assert_eq!(s, *state);
            assert!(Arc::ptr_eq(&c, cause), "a call reports the same cause");
        }
        other => panic!("call on a client that is not ready: {other:?}"),
    }
    (*state, cause.clone())
}

/// [`failed_connect`] against a provider with `server`'s config.
fn refused_by(server: ServerConfig, client: ClientConfig) -> (ClientState, Arc<Error>) {
    let dir = RunDir::new();
    let provider = increment(dir.str(), "svc", &server);
    let refused = failed_connect(dir.str(), "svc", &client);
    provider.stop();
    refused
}

#[test]
fn bad_service_name() {
    let dir = RunDir::new();
    let (state, cause) = failed_connect(dir.str(), "no/slashes", &ClientConfig::default());
    assert_eq!(state, ClientState::Disconnected);
    assert!(
        matches!(&*cause, Error::Name(NameError::InvalidServiceName(n)) if n == "no/slashes"),
        "{cause:?}"
    );
    assert!(
        cause
            .to_string()
            .contains("invalid service name \"no/slashes\"")
    );
}

#[test]
fn run_dir_too_long() {
    let dir = RunDir::new();
    // Longer than a socket path may be (Linux) and than the reference
    // limit of the Windows name hash's input.
    let long = format!("{}{}", dir.str(), format!("/{}", "d".repeat(99)).repeat(6));
    std::fs::create_dir_all(&long).expect("create the long directory");
    let (state, cause) = failed_connect(&long, "svc", &ClientConfig::default());
    assert_eq!(state, ClientState::Disconnected);
    match &*cause {
        Error::Name(NameError::TooLong { len, max, .. }) => assert!(len > max),
        other => panic!("{other:?}"),
    }
    assert!(cause.to_string().contains("use a shorter run directory"));
}

#[test]
fn missing_run_dir() {
    let dir = RunDir::new();
    let missing = format!("{}/not-created", dir.str());
    let (state, cause) = failed_connect(&missing, "svc", &ClientConfig::default());
    assert_eq!(
        state,
        ClientState::NotFound,
        "the provider may create it later"
    );
    assert!(
        matches!(&*cause, Error::RunDir(RunDirError::Missing { path }) if *path == missing),
        "{cause:?}"
    );
    assert!(cause.to_string().contains("does not exist"), "{cause}");
}

#[test]
fn no_provider() {
    let dir = RunDir::new();
    let (state, cause) = failed_connect(dir.str(), "svc", &ClientConfig::default());
    assert_eq!(state, ClientState::NotFound);
    match &*cause {
        Error::NotFound { endpoint } => assert!(endpoint.contains("svc"), "{endpoint}"),
        other => panic!("{other:?}"),
    }
    assert!(cause.to_string().contains("start the provider"));
}

/// A consumer running as another user than the provider, which grants
/// access to its own user only. Root may open any socket, so the client
/// runs on a thread whose credentials (Linux keeps them per thread) are
/// those of `nobody`; a non-root run takes the permission away instead.
#[cfg(target_os = "linux")]
#[test]
fn permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let server = increment(dir.str(), "svc", &ServerConfig::default());
        let socket = format!("{}/svc.sock", dir.str());
        let root = rustix::process::geteuid().is_root();
        if !root {
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o000)).unwrap();
        }
        let path = dir.str().to_owned();
        let (state, cause) = std::thread::spawn(move || {
            if root {
                rustix::thread::set_thread_res_uid(
                    rustix::process::Uid::from_raw(65534),
                    rustix::process::Uid::from_raw(65534),
                    rustix::process::Uid::from_raw(65534),
                )
                .expect("drop this thread's uid");
            }
            failed_connect(&path, "svc", &ClientConfig::default())
        })
        .join()
        .unwrap();
        assert_eq!(state, ClientState::Disconnected);
        match &*cause {
            Error::PermissionDenied {
                endpoint,
                owner,
                mode,
                ..
            } => {
                assert_eq!(*endpoint, socket);
                assert_eq!(*owner, Some(rustix::process::geteuid().as_raw()));
                assert_eq!(*mode, Some(if root { 0o600 } else { 0 }));
            }
            other => panic!("{other:?}"),
        }
        assert!(cause.to_string().contains("endpoint_access"), "{cause}");
        server.stop();
    });
}

#[test]
fn wrong_token() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let server = increment(
            dir.str(),
            "svc",
            &ServerConfig {
                auth_token: 7,
                ..ServerConfig::default()
            },
        );
        let config = ClientConfig {
            auth_token: 8,
            ..ClientConfig::default()
        };
        let (state, cause) = failed_connect(dir.str(), "svc", &config);
        assert_eq!(state, ClientState::AuthFailed);
        assert!(
            matches!(&*cause, Error::Handshake(HandshakeError::AuthFailed)),
            "{cause:?}"
        );
        // Sticky: no new attempt, the same cause, until close().
        let mut client = IncrementClient::new(dir.str(), "svc", &config);
        let _ = client.connect();
        let again = client.connect().expect_err("sticky");
        assert!(again.to_string().contains("auth tokens"), "{again}");
        client.close();
        assert!(client.last_error().is_none(), "close forgets the cause");
        server.stop();
    });
}

#[test]
fn incompatible_profiles() {
    watchdog(LIMIT, || {
        let (state, cause) = refused_by(
            ServerConfig {
                supported_profiles: Profiles::BASELINE,
                ..ServerConfig::default()
            },
            ClientConfig {
                supported_profiles: Profiles::SHM_HYBRID,
                ..ClientConfig::default()
            },
        );
        assert_eq!(state, ClientState::Incompatible);
        assert!(
            matches!(&*cause, Error::Handshake(HandshakeError::NoCommonProfile)),
            "{cause:?}"
        );
    });
}

#[test]
fn incompatible_limits() {
    watchdog(LIMIT, || {
        // A fixed request size above the provider's maximum.
        let (state, cause) = refused_by(
            ServerConfig {
                max_request_payload_bytes: 4096,
                ..ServerConfig::default()
            },
            ClientConfig {
                max_request_payload_bytes: 65536,
                ..ClientConfig::default()
            },
        );
        assert_eq!(state, ClientState::Incompatible);
        assert!(
            matches!(&*cause, Error::Handshake(HandshakeError::LimitExceeded)),
            "{cause:?}"
        );
        assert!(
            cause.to_string().contains("max_request_payload_bytes"),
            "{cause}"
        );
    });
}

#[test]
fn at_capacity() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let server = increment(
            dir.str(),
            "svc",
            &ServerConfig {
                max_sessions: 1,
                ..ServerConfig::default()
            },
        );
        let mut first = IncrementClient::new(dir.str(), "svc", &ClientConfig::default());
        first.connect().expect("the first consumer is admitted");
        let (state, cause) = failed_connect(dir.str(), "svc", &ClientConfig::default());
        assert_eq!(state, ClientState::Disconnected, "worth retrying later");
        assert!(
            matches!(
                &*cause,
                Error::Handshake(HandshakeError::AtCapacity { sessions: 1 })
            ),
            "{cause:?}"
        );
        server.stop();
    });
}

#[test]
fn timed_out() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        // Listens, but nobody ever answers the handshake.
        let _silent = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap();
        let timeout = Duration::from_millis(300);
        let config = ClientConfig {
            call_timeout: timeout,
            ..ClientConfig::default()
        };
        let started = Instant::now();
        let (state, cause) = failed_connect(dir.str(), "svc", &config);
        assert!(started.elapsed() < LIMIT);
        assert_eq!(state, ClientState::Disconnected);
        match &*cause {
            Error::Timeout { limit: Some(limit) } => {
                assert!(*limit <= timeout && *limit >= timeout / 2, "{limit:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(cause.to_string().contains("timed out after"), "{cause}");
    });
}

#[test]
fn a_call_that_times_out_names_its_limit() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let server = ManagedServer::increment(dir.str(), "svc", &ServerConfig::default(), |v| {
            std::thread::sleep(Duration::from_millis(600));
            Ok(v)
        })
        .spawn()
        .unwrap();
        let mut client = IncrementClient::new(dir.str(), "svc", &ClientConfig::default());
        client.connect().unwrap();
        client.set_call_timeout(Duration::from_millis(100));
        let err = client
            .call(1)
            .expect_err("the handler is slower than the call timeout");
        assert!(
            matches!(err, Error::Timeout { limit: Some(l) } if l == Duration::from_millis(100)),
            "{err:?}"
        );
        assert!(err.to_string().contains("after 100ms"), "{err}");
        server.stop();
    });
}

#[test]
fn aborted() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let mut client = IncrementClient::new(dir.str(), "svc", &ClientConfig::default());
        client.abort_handle().abort();
        let started = Instant::now();
        let err = client
            .wait_ready(Duration::from_secs(20))
            .expect_err("aborted");
        assert!(matches!(err, Error::Aborted), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "ends at once");
        assert!(err.to_string().contains("clear the abort handle"));
    });
}

#[test]
fn a_success_forgets_the_cause() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let mut client = IncrementClient::new(dir.str(), "svc", &ClientConfig::default());
        assert!(client.connect().is_err());
        assert!(matches!(client.last_error(), Some(Error::NotFound { .. })));
        let server = increment(dir.str(), "svc", &ServerConfig::default());
        client.connect().unwrap();
        assert!(client.last_error().is_none());
        assert_eq!(client.call(1).unwrap(), 2);
        server.stop();
    });
}

#[test]
fn wait_ready_waits_for_a_provider_that_starts_late() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let path = dir.str().to_owned();
        let starter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            increment(&path, "svc", &ServerConfig::default())
        });
        let mut client = IncrementClient::new(dir.str(), "svc", &ClientConfig::default());
        client.wait_ready(Duration::from_secs(20)).unwrap();
        assert_eq!(client.call(41).unwrap(), 42);
        starter.join().unwrap().stop();
    });
}

#[test]
fn wait_ready_gives_up_with_the_cause() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let mut client = IncrementClient::new(dir.str(), "svc", &ClientConfig::default());
        let started = Instant::now();
        let err = client.wait_ready(Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(
            matches!(&err, Error::NotReady { state: ClientState::NotFound, cause: Some(c) } if matches!(**c, Error::NotFound { .. })),
            "{err:?}"
        );
    });
}

#[test]
fn the_cache_keeps_the_cause() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let missing = format!("{}/not-created", dir.str());
        let cache = SnapshotCache::new(&missing, "cgroups", &ClientConfig::default());
        let err = cache.refresh().unwrap_err();
        match &err {
            Error::NotReady {
                cause: Some(cause), ..
            } => assert!(matches!(
                **cause,
                Error::RunDir(RunDirError::Missing { .. })
            )),
            other => panic!("{other:?}"),
        }
        let kept = cache.last_error().expect("the cache keeps the cause");
        assert!(matches!(*kept, Error::RunDir(RunDirError::Missing { .. })));
        assert_eq!(cache.status().connection_state, ClientState::NotFound);
        let err = cache.wait_ready(Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    });
}
