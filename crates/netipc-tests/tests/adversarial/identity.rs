//! Who is on the other end: a client checks the provider's identity before
//! its HELLO (and the auth token in it) leaves; a provider may refuse
//! consumers by identity; the endpoint's access (mode and group, the DACL
//! on Windows) is configurable.
//!
//! The cases in this module run on every OS (under wine they run the real
//! SID checks of this process's own user); the cross-user cases, which
//! run peers as other uids, are in [`linux`].

use std::sync::mpsc;
use std::time::Duration;

use netipc::Error;
use netipc::service::{ClientConfig, ClientState, IncrementClient, ManagedServer, ServerConfig};
use netipc::transport::handshake::HandshakeError;
use netipc::transport::testing::{RawListener, connect_plain};
use netipc::transport::{
    ClientOptions, ClientSession, EndpointAccess, Identities, Identity, IdentityPolicy, Listener,
    ServerOptions,
};
use netipc::wire::{HEADER_LEN, Hello};

use crate::common::{RunDir, watchdog};

const LIMIT: Duration = Duration::from_secs(60);
const TOKEN: u64 = 0x5ec2_e770_c3aa;

/// Identities that are neither this process's user nor one of its groups,
/// on any OS (tests run as root on Linux, as the one wine user on Windows).
fn strangers() -> Identities {
    "uid:12345,gid:12345,S-1-5-21-1-2-3-12345"
        .parse()
        .expect("identity list")
}

fn me() -> Identity {
    Identity::current_user().expect("this process's user")
}

/// The endpoint name a client reports for `service` under `dir`.
fn endpoint(dir: &RunDir, service: &str) -> String {
    if cfg!(windows) {
        netipc::transport::names::pipe_name(dir.str(), service).expect("pipe name")
    } else {
        netipc::transport::names::socket_path(dir.str(), service).expect("socket path")
    }
}

fn increment_server(
    dir: &RunDir,
    service: &str,
    config: &ServerConfig,
) -> netipc::service::RunningServer {
    ManagedServer::increment(dir.str(), service, config, |v: u64| Ok(v + 1))
        .spawn()
        .expect("start the provider")
}

/// What a fake provider saw on one connection.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// The client closed without sending anything.
    Nothing,
    /// A HELLO carrying this auth token.
    Hello { token: u64 },
    /// Anything else (an error, or no packet within the patience).
    Other(String),
}

/// A fake provider on its own thread: accepts `connections` connections
/// and reports what each sent (it never answers).
fn fake_provider(dir: &RunDir, service: &str, connections: usize) -> mpsc::Receiver<Seen> {
    let listener = RawListener::bind(dir.str(), service).expect("bind the fake provider");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let seen = match listener.accept(Some(Duration::from_secs(20)), None) {
                Ok(conn) => {
                    let mut buf = [0u8; 256];
                    match conn.recv(&mut buf, Some(Duration::from_secs(10))) {
                        Ok(n) => match Hello::decode(&buf[HEADER_LEN..n.min(buf.len())]) {
                            Ok(hello) => Seen::Hello {
                                token: hello.auth_token,
                            },
                            Err(e) => Seen::Other(format!("{n} bytes that are no HELLO: {e}")),
                        },
                        Err(Error::Disconnected) => Seen::Nothing,
                        Err(e) => Seen::Other(e.to_string()),
                    }
                }
                Err(e) => Seen::Other(format!("accept: {e}")),
            };
            if tx.send(seen).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (at most 10 s) until `done` holds.
fn eventually(mut done: impl FnMut() -> bool) {
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < give_up,
            "the condition never held"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn next(seen: &mpsc::Receiver<Seen>) -> Seen {
    seen.recv_timeout(Duration::from_secs(30))
        .expect("the fake provider reports every connection")
}

#[test]
fn the_default_accepts_a_provider_of_this_user() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let server = increment_server(&dir, "inc", &ServerConfig::default());
        // The typed client with the default config: the identity check
        // runs (SO_PEERCRED on Linux, the pipe server's token on Windows)
        // and finds this process's own user.
        let mut client = IncrementClient::new(dir.str(), "inc", &ClientConfig::default());
        let _ = client.connect();
        assert_eq!(client.call(41).expect("call"), 42);
        // This process's user: a uid on Linux, a SID on Windows.
        assert_eq!(matches!(me(), Identity::Sid(_)), cfg!(windows), "{}", me());
        let session = ClientSession::connect(dir.str(), "inc", &ClientOptions::default())
            .expect("L1 connect with the default provider_identity");
        assert_eq!(session.peer().pid, Some(std::process::id()));
        drop(session);
        // Listing this user explicitly works as well.
        let listed = ClientConfig {
            provider_identity: IdentityPolicy::Only(Identities::from_slice(&[me()]).unwrap()),
            ..ClientConfig::default()
        };
        let mut client = IncrementClient::new(dir.str(), "inc", &listed);
        let _ = client.connect();
        assert_eq!(client.call(1).expect("call"), 2);
        server.stop();
    });
}

#[test]
fn a_provider_outside_the_list_never_receives_the_token() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let seen = fake_provider(&dir, "svc", 3);
        let refusing = ClientOptions {
            auth_token: TOKEN,
            provider_identity: IdentityPolicy::Only(strangers()),
            ..ClientOptions::default()
        };
        let err = ClientSession::connect(dir.str(), "svc", &refusing).expect_err("refused");
        let Error::UntrustedProvider(refusal) = &err else {
            panic!("expected UntrustedProvider, got {err:?}");
        };
        assert_eq!(refusal.endpoint, endpoint(&dir, "svc"));
        assert_eq!(refusal.user, Some(me()));
        assert_eq!(refusal.pid, Some(std::process::id()));
        assert_eq!(refusal.accepted, strangers());
        let text = err.to_string();
        for part in [
            refusal.endpoint.as_str(),
            &me().to_string(),
            "uid:12345",
            "provider_identity",
            "refusing to send the auth token",
        ] {
            assert!(text.contains(part), "{part:?} missing in: {text}");
        }
        assert_eq!(next(&seen), Seen::Nothing, "the HELLO must not be sent");

        // The typed client does not send it either (and is not ready).
        let config = ClientConfig {
            auth_token: TOKEN,
            provider_identity: IdentityPolicy::Only(strangers()),
            ..ClientConfig::default()
        };
        let mut client = IncrementClient::new(dir.str(), "svc", &config);
        let _ = client.connect();
        assert_eq!(client.status().state, ClientState::Disconnected);
        assert_eq!(
            next(&seen),
            Seen::Nothing,
            "the typed client sent its HELLO"
        );
        drop(client);

        // The control: a client that accepts any provider hands this one
        // its token.
        let trusting = ClientOptions {
            provider_identity: IdentityPolicy::Any,
            handshake_timeout: Duration::from_millis(500),
            ..refusing
        };
        let _ = ClientSession::connect(dir.str(), "svc", &trusting);
        assert_eq!(next(&seen), Seen::Hello { token: TOKEN });
    });
}

#[test]
fn a_consumer_outside_the_list_is_refused_by_the_provider() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let config = ServerConfig {
            consumer_identity: IdentityPolicy::Only(strangers()),
            ..ServerConfig::default()
        };
        let server = increment_server(&dir, "inc", &config);
        // A netipc client learns why.
        let err = ClientSession::connect(dir.str(), "inc", &ClientOptions::default())
            .expect_err("refused");
        assert!(
            matches!(err, Error::Handshake(HandshakeError::IdentityRefused)),
            "{err:?}"
        );
        assert!(err.to_string().contains("identity"), "{err}");
        // A reference client sees a plain authentication failure.
        let err = connect_plain(dir.str(), "inc", &ClientOptions::default()).expect_err("refused");
        assert!(
            matches!(err, Error::Handshake(HandshakeError::AuthFailed)),
            "{err:?}"
        );
        // The typed client stops (like a wrong token).
        let mut client = IncrementClient::new(dir.str(), "inc", &ClientConfig::default());
        let _ = client.connect();
        assert_eq!(client.status().state, ClientState::AuthFailed);
        // The client may see the refusal before the provider has counted it.
        eventually(|| server.stats().refused_identity == 3 && server.stats().sessions == 0);
        let stats = server.stats();
        assert_eq!(stats.refused_identity, 3, "{stats:?}");
        assert_eq!(stats.sessions_opened, 0, "{stats:?}");
        assert_eq!(stats.sessions, 0, "{stats:?}");
        assert_eq!(stats.handshake_failures, 0, "{stats:?}");
        // Nothing was set up for the refused consumers (their HELLOs
        // offered shared memory): only the endpoint (socket and lock) is in
        // the run dir.
        let expected: Vec<String> = if cfg!(windows) {
            Vec::new()
        } else {
            vec!["inc.lock".to_owned(), "inc.sock".to_owned()]
        };
        let mut entries = dir.entries();
        entries.sort();
        assert_eq!(entries, expected);
        server.stop();

        // A list that names this user serves it.
        let mut allowed = strangers();
        allowed.push(me()).unwrap();
        let config = ServerConfig {
            consumer_identity: IdentityPolicy::Only(allowed),
            ..ServerConfig::default()
        };
        let server = increment_server(&dir, "inc2", &config);
        let mut client = IncrementClient::new(dir.str(), "inc2", &ClientConfig::default());
        let _ = client.connect();
        assert_eq!(client.call(41).expect("call"), 42);
        assert_eq!(server.stats().refused_identity, 0);
        server.stop();
    });
}

#[test]
fn an_l1_listener_refuses_by_identity_too() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let options = ServerOptions {
            consumer_identity: IdentityPolicy::Only(strangers()),
            ..ServerOptions::default()
        };
        let listener = Listener::bind(dir.str(), "l1", &options).expect("bind");
        let client = std::thread::spawn({
            let dir = dir.str().to_owned();
            move || ClientSession::connect(&dir, "l1", &ClientOptions::default()).map(|_| ())
        });
        let incoming = listener
            .accept(Some(Duration::from_secs(20)), None)
            .expect("accept");
        let err = incoming.handshake(1).expect_err("refused");
        assert!(
            matches!(err, Error::Handshake(HandshakeError::IdentityRefused)),
            "{err:?}"
        );
        let err = client.join().expect("client thread").expect_err("refused");
        assert!(
            matches!(err, Error::Handshake(HandshakeError::IdentityRefused)),
            "{err:?}"
        );
    });
}

/// A group identity for this OS: a gid nobody uses on Linux, the Users
/// group on Windows.
fn a_group() -> Identity {
    let text = if cfg!(windows) {
        "S-1-5-32-545"
    } else {
        "gid:12350"
    };
    text.parse().expect("group")
}

#[test]
fn a_group_endpoint_access_is_applied() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let config = ServerConfig {
            endpoint_access: EndpointAccess::OwnerAndGroup(a_group()),
            ..ServerConfig::default()
        };
        let server = increment_server(&dir, "grp", &config);
        let mut client = IncrementClient::new(dir.str(), "grp", &ClientConfig::default());
        let _ = client.connect();
        assert_eq!(client.call(41).expect("call"), 42);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            let socket = std::fs::symlink_metadata(dir.path.join("grp.sock")).expect("stat");
            assert!(socket.file_type().is_socket());
            assert_eq!(socket.mode() & 0o777, 0o660);
            assert_eq!(socket.gid(), 12350);
            // The session's shared-memory region gets the same access.
            let regions: Vec<_> = dir
                .entries()
                .into_iter()
                .filter(|e| e.ends_with(".ipcshm"))
                .collect();
            assert_eq!(regions.len(), 1, "{:?}", dir.entries());
            let region = std::fs::metadata(dir.path.join(&regions[0])).expect("stat");
            assert_eq!(region.mode() & 0o777, 0o660);
            assert_eq!(region.gid(), 12350);
        }
        drop(client);
        server.stop();

        // The default stays owner-only.
        let server = increment_server(&dir, "own", &ServerConfig::default());
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let socket = std::fs::symlink_metadata(dir.path.join("own.sock")).expect("stat");
            assert_eq!(socket.mode() & 0o777, 0o600);
            assert_eq!(socket.gid(), rustix::process::getegid().as_raw());
        }
        server.stop();
    });
}

#[test]
fn a_group_of_the_wrong_kind_fails_the_bind_clearly() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        // A SID on Linux, a gid on Windows: not a group of this OS.
        let wrong: Identity = if cfg!(windows) {
            "gid:1"
        } else {
            "S-1-5-32-545"
        }
        .parse()
        .unwrap();
        let options = ServerOptions {
            endpoint_access: EndpointAccess::OwnerAndGroup(wrong),
            ..ServerOptions::default()
        };
        let err = Listener::bind(dir.str(), "bad", &options).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("OwnerAndGroup"), "{text}");
        assert!(text.contains(&wrong.to_string()), "{text}");
        assert!(dir.is_empty(), "left behind: {:?}", dir.entries());
        // gid -1 is chown's "unchanged", not a group.
        if cfg!(unix) {
            let options = ServerOptions {
                endpoint_access: EndpointAccess::OwnerAndGroup(Identity::Gid(u32::MAX)),
                ..ServerOptions::default()
            };
            let err = Listener::bind(dir.str(), "bad", &options).expect_err("refused");
            assert!(err.to_string().contains("gid:4294967295"), "{err}");
            assert!(dir.is_empty(), "left behind: {:?}", dir.entries());
        }
    });
}

/// Cases with peers running as other users (the test process is root and
/// starts copies of itself under other uids and gids).
#[cfg(target_os = "linux")]
mod linux {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::mpsc;
    use std::time::Duration;

    use netipc::Error;
    use netipc::service::{
        ClientConfig, ClientState, IncrementClient, ManagedServer, ServerConfig,
    };
    use netipc::transport::testing::RawListener;
    use netipc::transport::{
        ClientOptions, ClientSession, EndpointAccess, Identities, Identity, IdentityPolicy,
    };
    use netipc::wire::{HEADER_LEN, Hello};

    use super::{LIMIT, TOKEN};
    use crate::common::{RunDir, watchdog};

    /// The role a re-executed copy of this test binary plays.
    const ROLE: &str = "NETIPC_IDENTITY_ROLE";
    const RUN_DIR: &str = "NETIPC_IDENTITY_RUN_DIR";
    /// The uid the hostile provider runs as.
    const MALLORY: u32 = 12345;
    /// An allowed and a refused consumer, both in the socket's group.
    const ALICE: u32 = 12346;
    const BOB: u32 = 12347;
    const NETDATA_GID: u32 = 12350;
    /// A consumer outside the socket's group.
    const EVE: u32 = 12348;

    fn assert_root() {
        assert_eq!(
            rustix::process::geteuid().as_raw(),
            0,
            "running peers as other users needs root (the CI runs the tests as root)"
        );
    }

    /// A copy of this test binary playing `role` as `uid`/`gid`; it exits
    /// when its stdin closes (when the guard drops), and is killed then.
    struct Peer {
        child: Child,
        stdin: Option<ChildStdin>,
        lines: mpsc::Receiver<String>,
    }

    impl Peer {
        fn start(role: &str, dir: &RunDir, uid: u32, gid: u32) -> Self {
            let mut child = Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--exact",
                    "identity::linux::peer_process",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(ROLE, role)
                .env(RUN_DIR, dir.str())
                .uid(uid)
                .gid(gid)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start a peer process");
            let stdout = child.stdout.take().expect("stdout");
            let (tx, lines) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    // The harness may print its "test … ..." prefix first.
                    if let Some((_, report)) = line.split_once('@') {
                        if tx.send(report.to_owned()).is_err() {
                            break;
                        }
                    }
                }
            });
            Self {
                stdin: child.stdin.take(),
                child,
                lines,
            }
        }

        /// The next report line.
        fn next(&self) -> String {
            self.lines
                .recv_timeout(Duration::from_secs(30))
                .expect("the peer reports in time")
        }

        fn say(&mut self, line: &str) {
            let stdin = self.stdin.as_mut().expect("stdin");
            writeln!(stdin, "{line}").expect("write to the peer");
            stdin.flush().expect("flush");
        }
    }

    impl Drop for Peer {
        fn drop(&mut self) {
            drop(self.stdin.take());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn report(line: impl std::fmt::Display) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "@{line}");
        let _ = out.flush();
    }

    /// Exits this process when its stdin closes (the test is gone); lines
    /// go to the returned channel.
    fn commands() -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
            std::process::exit(0);
        });
        rx
    }

    /// The body of every peer process; a no-op in a normal test run.
    #[test]
    fn peer_process() {
        let Ok(role) = std::env::var(ROLE) else {
            return;
        };
        let dir = std::env::var(RUN_DIR).expect("run dir");
        let commands = commands();
        match role.as_str() {
            "fake-provider" => fake_provider(&dir),
            "increment-provider" => {
                let server =
                    ManagedServer::increment(&dir, "inc", &ServerConfig::default(), |v| Ok(v + 1))
                        .spawn()
                        .expect("start the provider");
                report("ready");
                while commands.recv().is_ok() {}
                server.stop();
            }
            "restricted-provider" => restricted_provider(&dir, &commands),
            "consumer" => consumer(&dir),
            other => panic!("unknown role {other}"),
        }
        std::process::exit(0);
    }

    /// Accepts connections and reports what each sends (never answers).
    fn fake_provider(dir: &str) {
        let listener = RawListener::bind(dir, "svc").expect("bind");
        report("ready");
        loop {
            let Ok(conn) = listener.accept(None, None) else {
                continue;
            };
            let mut buf = [0u8; 256];
            match conn.recv(&mut buf, Some(Duration::from_secs(10))) {
                Ok(n) => match Hello::decode(&buf[HEADER_LEN..n.min(buf.len())]) {
                    Ok(hello) => report(format_args!("hello {:#x}", hello.auth_token)),
                    Err(_) => report(format_args!("data {n}")),
                },
                Err(Error::Disconnected) => report("nothing"),
                Err(e) => report(format_args!("error {e}")),
            }
        }
    }

    /// A root provider that serves only ALICE, with a socket group for
    /// the consumers; it reports its stats and the warnings it logged.
    fn restricted_provider(dir: &str, commands: &mpsc::Receiver<String>) {
        let warnings = Warnings::install();
        let config = ServerConfig {
            consumer_identity: IdentityPolicy::Only(
                Identities::from_slice(&[Identity::Uid(ALICE)]).unwrap(),
            ),
            endpoint_access: EndpointAccess::OwnerAndGroup(Identity::Gid(NETDATA_GID)),
            ..ServerConfig::default()
        };
        let server = ManagedServer::increment(dir, "inc", &config, |v: u64| Ok(v + 1))
            .spawn()
            .expect("start the provider");
        report("ready");
        while let Ok(command) = commands.recv() {
            if command == "stats" {
                let s = server.stats();
                report(format_args!(
                    "stats refused_identity={} sessions_opened={} handshake_failures={} warnings={}",
                    s.refused_identity,
                    s.sessions_opened,
                    s.handshake_failures,
                    warnings.matching("consumer identity refused")
                ));
            }
        }
    }

    /// One L1 connect and one typed call as this process's user.
    fn consumer(dir: &str) {
        let options = ClientOptions {
            supported_profiles: netipc::service::DEFAULT_PROFILES,
            preferred_profiles: netipc::wire::Profiles::SHM_HYBRID,
            ..ClientOptions::default()
        };
        match ClientSession::connect(dir, "inc", &options) {
            Ok(session) => report(format_args!(
                "l1 ok {}",
                if session.is_shm() { "shm" } else { "baseline" }
            )),
            Err(e) => report(format_args!("l1 error {e}")),
        }
        let mut client = IncrementClient::new(dir, "inc", &ClientConfig::default());
        let _ = client.connect();
        match client.call(41) {
            Ok(v) => report(format_args!("l2 ok {v}")),
            Err(_) => report(format_args!("l2 state {:?}", client.status().state)),
        }
    }

    /// Counts warning events (this process's global subscriber).
    struct Warnings(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl Warnings {
        fn install() -> Self {
            let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            tracing::subscriber::set_global_default(WarnSubscriber(seen.clone()))
                .expect("a fresh process has no subscriber");
            Self(seen)
        }

        fn matching(&self, text: &str) -> usize {
            let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
            seen.iter().filter(|m| m.contains(text)).count()
        }
    }

    struct WarnSubscriber(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    struct Message(String);

    impl tracing::field::Visit for Message {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl tracing::Subscriber for WarnSubscriber {
        fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
            *metadata.level() == tracing::Level::WARN
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(message.0);
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    /// A run directory the hostile user owns (as in the demonstrated
    /// attack, where it pre-created the directory).
    fn dir_owned_by(uid: u32) -> RunDir {
        let dir = RunDir::new();
        std::os::unix::fs::chown(&dir.path, Some(uid), Some(uid)).expect("chown");
        dir
    }

    #[test]
    fn a_provider_of_another_user_is_refused_before_the_hello() {
        assert_root();
        watchdog(LIMIT, || {
            let dir = dir_owned_by(MALLORY);
            let fake = Peer::start("fake-provider", &dir, MALLORY, MALLORY);
            assert_eq!(fake.next(), "ready");
            let path = format!("{}/svc.sock", dir.str());

            let options = ClientOptions {
                auth_token: TOKEN,
                ..ClientOptions::default()
            };
            let err = ClientSession::connect(dir.str(), "svc", &options).expect_err("refused");
            let Error::UntrustedProvider(refusal) = &err else {
                panic!("expected UntrustedProvider, got {err:?}");
            };
            assert_eq!(refusal.endpoint, path);
            assert_eq!(refusal.user, Some(Identity::Uid(MALLORY)));
            assert_eq!(refusal.pid, Some(fake.child.id()));
            // Root is both this user and the administrator.
            assert_eq!(refusal.accepted.as_slice(), &[Identity::Uid(0)]);
            let text = err.to_string();
            assert!(
                text.starts_with(&format!(
                    "the provider at {path} runs as uid:{MALLORY} (pid {})",
                    fake.child.id()
                )),
                "{text}"
            );
            assert!(text.contains("expected uid:0"), "{text}");
            assert!(text.contains("refusing to send the auth token"), "{text}");
            assert_eq!(fake.next(), "nothing", "the HELLO must not be sent");

            // The typed client with the default config does not send it.
            let config = ClientConfig {
                auth_token: TOKEN,
                ..ClientConfig::default()
            };
            let mut client = IncrementClient::new(dir.str(), "svc", &config);
            let _ = client.connect();
            assert_eq!(client.status().state, ClientState::Disconnected);
            assert_eq!(fake.next(), "nothing", "the typed client sent its HELLO");
            drop(client);

            // A client that names this provider's user trusts it, and hands
            // it the token (which is why the default does not).
            let listed = ClientOptions {
                provider_identity: IdentityPolicy::Only(
                    Identities::from_slice(&[Identity::Uid(MALLORY)]).unwrap(),
                ),
                handshake_timeout: Duration::from_millis(300),
                ..options
            };
            let _ = ClientSession::connect(dir.str(), "svc", &listed);
            assert_eq!(fake.next(), format!("hello {TOKEN:#x}"));
        });
    }

    #[test]
    fn a_provider_of_another_user_is_served_when_listed_or_any() {
        assert_root();
        watchdog(LIMIT, || {
            let dir = dir_owned_by(MALLORY);
            let provider = Peer::start("increment-provider", &dir, MALLORY, MALLORY);
            assert_eq!(provider.next(), "ready");
            let call = |policy: IdentityPolicy| {
                let config = ClientConfig {
                    provider_identity: policy,
                    ..ClientConfig::default()
                };
                let mut client = IncrementClient::new(dir.str(), "inc", &config);
                let _ = client.connect();
                client.call(41)
            };
            assert!(call(IdentityPolicy::Default).is_err());
            let err = ClientSession::connect(dir.str(), "inc", &ClientOptions::default())
                .expect_err("refused");
            assert!(matches!(err, Error::UntrustedProvider(_)), "{err:?}");
            let listed = Identities::from_slice(&[Identity::Uid(MALLORY)]).unwrap();
            assert_eq!(call(IdentityPolicy::Only(listed)).expect("listed"), 42);
            assert_eq!(call(IdentityPolicy::Any).expect("any"), 42);
            // Listed by group works as well.
            let by_group = Identities::from_slice(&[Identity::Gid(MALLORY)]).unwrap();
            assert_eq!(call(IdentityPolicy::Only(by_group)).expect("group"), 42);
            drop(provider);
        });
    }

    #[test]
    fn a_restricted_provider_refuses_other_consumers_and_serves_the_allowed_one() {
        assert_root();
        watchdog(LIMIT, || {
            let dir = RunDir::new();
            std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            let mut provider = Peer::start("restricted-provider", &dir, 0, 0);
            assert_eq!(provider.next(), "ready");
            let socket = std::fs::symlink_metadata(dir.path.join("inc.sock")).expect("stat");
            assert_eq!(socket.mode() & 0o777, 0o660);
            assert_eq!(socket.gid(), NETDATA_GID);
            assert_eq!(socket.uid(), 0);

            // BOB is in the socket's group but not allowed.
            let bob = Peer::start("consumer", &dir, BOB, NETDATA_GID);
            let l1 = bob.next();
            assert!(
                l1.starts_with("l1 error handshake failed: the provider refused this consumer for its user or group identity"),
                "{l1}"
            );
            assert_eq!(bob.next(), "l2 state AuthFailed");
            drop(bob);

            // ALICE is served, over shared memory (the region has the
            // socket's group).
            let alice = Peer::start("consumer", &dir, ALICE, NETDATA_GID);
            assert_eq!(alice.next(), "l1 ok shm", "alice's L1 session");
            assert_eq!(alice.next(), "l2 ok 42");
            drop(alice);

            // EVE is not in the group: the kernel keeps her out.
            let eve = Peer::start("consumer", &dir, EVE, EVE);
            let l1 = eve.next();
            assert!(
                l1.contains("may not open") && l1.contains("group 12350"),
                "{l1}"
            );
            drop(eve);

            // BOB again, after ALICE: still refused; ALICE still served.
            let bob = Peer::start("consumer", &dir, BOB, NETDATA_GID);
            assert!(bob.next().starts_with("l1 error"), "bob, second time");
            assert_eq!(bob.next(), "l2 state AuthFailed");
            drop(bob);
            let alice = Peer::start("consumer", &dir, ALICE, NETDATA_GID);
            assert!(alice.next().starts_with("l1 ok"));
            assert_eq!(alice.next(), "l2 ok 42");
            drop(alice);

            // BOB: L1 + L2, twice; the typed client does not retry a
            // refusal. ALICE: L1 + L2, twice. One warning.
            let expected =
                "stats refused_identity=4 sessions_opened=4 handshake_failures=0 warnings=1";
            let mut last = String::new();
            super::eventually(|| {
                provider.say("stats");
                last = provider.next();
                last == expected
            });
            assert_eq!(last, expected);
            // Only the endpoint is left once ALICE's last session is
            // released: no region of a refused consumer.
            super::eventually(|| {
                let mut entries = dir.entries();
                entries.sort();
                entries == ["inc.lock", "inc.sock"]
            });
        });
    }
}
