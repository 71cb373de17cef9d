//! The run-directory rules, the same on Linux and Windows (this source is
//! built and run in both test lanes): the directory must exist, for
//! providers and consumers alike; equivalent spellings of one directory
//! reach one endpoint; the canonical spelling is the one reference peers
//! are given, so their derived names match ours.

mod common;

use std::time::Duration;

use common::{RunDir, watchdog};
use netipc::Error;
use netipc::transport::names::{
    NameError, canonical_posix_run_dir, canonical_windows_run_dir, pipe_name, socket_path,
};
use netipc::transport::run_dir::{RunDirError, RunDirPolicy, RunDirState, prepare_run_dir};
use netipc::transport::{ClientOptions, ClientSession, Listener, ServerOptions};
use netipc::wire::Method;

const LIMIT: Duration = Duration::from_secs(60);
const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// The spellings of `dir` (a canonical absolute path) that must all reach
/// the endpoints of `dir`: trailing separator, doubled separator, `.`
/// component, and on Windows `/` separators and a lower-case drive letter.
fn spellings(dir: &str) -> Vec<String> {
    let sep = std::path::MAIN_SEPARATOR;
    let (parent, name) = dir.rsplit_once(sep).expect("an absolute path");
    let mut all = vec![
        dir.to_owned(),
        format!("{dir}{sep}"),
        format!("{parent}{sep}{sep}{name}"),
        format!("{parent}{sep}.{sep}{name}{sep}"),
    ];
    if cfg!(windows) {
        all.push(dir.replace('\\', "/"));
        all.push(format!("{}/", dir.replace('\\', "/")));
        let mut lower = dir.to_owned();
        lower[..1].make_ascii_lowercase();
        all.push(lower);
    }
    all
}

/// The run directory's canonical spelling on this OS.
fn canonical(dir: &str) -> String {
    if cfg!(windows) {
        canonical_windows_run_dir(dir)
    } else {
        canonical_posix_run_dir(dir)
    }
}

/// One INCREMENT round trip with a fresh session on `listener`.
fn round_trip(listener: &Listener, client_dir: &str, n: u64) {
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            let incoming = listener.accept(WAIT, None).expect("accept");
            let mut session = incoming.handshake(n).expect("server handshake");
            let request = session.recv(WAIT, None).expect("the request");
            let (header, payload) = (request.header, request.payload.to_vec());
            let value = u64::from_ne_bytes(payload.try_into().expect("8 bytes"));
            session
                .respond(&header, &(value + 1).to_ne_bytes())
                .expect("respond");
        });
        let mut client = ClientSession::connect(client_dir, "spell", &ClientOptions::default())
            .unwrap_or_else(|e| panic!("connect with {client_dir:?}: {e}"));
        let reply = client
            .call(Method::Increment.code(), 1, &n.to_ne_bytes(), WAIT)
            .expect("the call");
        assert_eq!(reply.payload, (n + 1).to_ne_bytes(), "via {client_dir:?}");
        server.join().expect("the server thread");
    });
}

#[test]
fn equivalent_spellings_of_the_run_dir_reach_one_endpoint() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let base = canonical(dir.str());
        let spellings = spellings(&base);
        for (i, server_dir) in spellings.iter().enumerate() {
            let listener = Listener::bind(server_dir, "spell", &ServerOptions::default())
                .unwrap_or_else(|e| panic!("bind with {server_dir:?}: {e}"));
            // The endpoint is the one a reference peer derives from the
            // canonical spelling.
            let expected = if cfg!(windows) {
                pipe_name(&base, "spell")
            } else {
                socket_path(&base, "spell")
            };
            assert_eq!(listener.endpoint(), expected.expect("a name"));
            for (j, client_dir) in spellings.iter().enumerate() {
                round_trip(&listener, client_dir, (i * 100 + j) as u64);
            }
            // A second provider under any spelling finds the endpoint
            // taken: it is one endpoint, not several. (Last: on Windows the
            // refused bind probes the pipe with a connection of its own.)
            for other in &spellings {
                let err = Listener::bind(other, "spell", &ServerOptions::default())
                    .expect_err("the endpoint is served");
                assert!(
                    matches!(err, Error::AddressInUse { .. }),
                    "{other:?}: {err}"
                );
            }
        }
    });
}

#[test]
fn a_missing_run_dir_is_refused_by_providers_and_consumers() {
    watchdog(LIMIT, || {
        let parent = RunDir::new();
        let missing = parent.path.join("missing");
        let missing = missing.to_str().expect("UTF-8");
        let check = |err: Error, who: &str, given: &str| {
            let Error::RunDir(RunDirError::Missing { path }) = &err else {
                panic!("{who}: expected a missing run directory, got {err}");
            };
            assert_eq!(path, given, "{who}: named as given");
            let text = err.to_string();
            assert!(text.contains(given), "{who}: {text}");
            assert!(text.contains("does not exist: create it"), "{who}: {text}");
        };
        let err = Listener::bind(missing, "svc", &ServerOptions::default()).expect_err("missing");
        check(err, "bind", missing);
        let err =
            ClientSession::connect(missing, "svc", &ClientOptions::default()).expect_err("missing");
        check(err, "connect", missing);
        // Under a spelling with a trailing separator too.
        let trailing = format!("{missing}{}", std::path::MAIN_SEPARATOR);
        let err = Listener::bind(&trailing, "svc", &ServerOptions::default()).expect_err("missing");
        check(err, "bind with a trailing separator", &trailing);
        assert!(!parent.path.join("missing").exists(), "nothing was created");

        // A file where the directory should be.
        std::fs::write(parent.path.join("file"), b"x").expect("a file");
        let file = parent.path.join("file");
        let file = file.to_str().expect("UTF-8");
        for err in [
            Listener::bind(file, "svc", &ServerOptions::default()).expect_err("a file"),
            ClientSession::connect(file, "svc", &ClientOptions::default()).expect_err("a file"),
        ] {
            assert!(
                matches!(
                    err,
                    Error::RunDir(RunDirError::NotADirectory {
                        kind: "regular file",
                        ..
                    })
                ),
                "{err}"
            );
        }

        // A name that cannot be derived is the string's fault, reported
        // before anything is looked up on disk.
        for err in [
            Listener::bind(missing, "bad/name", &ServerOptions::default()).expect_err("bad"),
            ClientSession::connect(missing, "bad/name", &ClientOptions::default())
                .expect_err("bad"),
        ] {
            assert!(
                matches!(err, Error::Name(NameError::InvalidServiceName(_))),
                "{err}"
            );
        }

        // Empty is refused before anything else.
        let err = ClientSession::connect("", "svc", &ClientOptions::default()).expect_err("empty");
        assert!(matches!(err, Error::RunDir(RunDirError::Empty)), "{err}");
    });
}

#[test]
fn prepare_run_dir_creates_and_checks_the_same_way_everywhere() {
    watchdog(LIMIT, || {
        let parent = RunDir::new();
        let create = RunDirPolicy {
            create: true,
            ..RunDirPolicy::default()
        };
        let fresh = parent.path.join("fresh");
        let path = fresh.to_str().expect("UTF-8");
        assert_eq!(
            prepare_run_dir(path, &create).unwrap(),
            RunDirState::Created
        );
        assert!(fresh.is_dir());
        assert_eq!(
            prepare_run_dir(path, &create).unwrap(),
            RunDirState::Existing
        );
        assert_eq!(
            prepare_run_dir(path, &RunDirPolicy::default()).unwrap(),
            RunDirState::Existing
        );
        // A provider can serve there now.
        drop(Listener::bind(path, "svc", &ServerOptions::default()).expect("bind"));

        // Only the last component is created.
        let deep = parent.path.join("a").join("b");
        let err = prepare_run_dir(deep.to_str().unwrap(), &create).unwrap_err();
        assert!(matches!(err, RunDirError::MissingParent { .. }), "{err}");
        assert!(!parent.path.join("a").exists());

        // Without `create`, a missing directory is an error.
        let missing = parent.path.join("missing");
        let err = prepare_run_dir(missing.to_str().unwrap(), &RunDirPolicy::default()).unwrap_err();
        assert!(matches!(err, RunDirError::Missing { .. }), "{err}");
        assert!(!missing.exists());

        // A file is not a directory, created or not.
        std::fs::write(parent.path.join("file"), b"x").expect("a file");
        let file = parent.path.join("file");
        for policy in [create, RunDirPolicy::default()] {
            let err = prepare_run_dir(file.to_str().unwrap(), &policy).unwrap_err();
            assert!(matches!(err, RunDirError::NotADirectory { .. }), "{err}");
        }
    });
}

#[test]
fn posix_spellings_are_canonical_without_trailing_separators() {
    for (given, canonical) in [
        ("/tmp/x", "/tmp/x"),
        ("/tmp/x/", "/tmp/x"),
        ("/tmp//x", "/tmp/x"),
        ("/tmp/./x", "/tmp/x"),
        ("//tmp///x//.//", "/tmp/x"),
        ("/", "/"),
        ("//", "/"),
        ("/run/netdata", "/run/netdata"),
        // `..` is the kernel's to resolve (through a link it is not the
        // parent of the path before it).
        ("/tmp/link/../x", "/tmp/link/../x"),
        ("run", "run"),
        ("./run/", "run"),
        (".", "."),
        ("./", "."),
    ] {
        assert_eq!(canonical_posix_run_dir(given), canonical, "{given:?}");
    }
}

#[test]
fn windows_spellings_are_canonical_and_reference_spellings_unchanged() {
    for (given, canonical) in [
        // The three spellings of the issue.
        (r"C:\trial\", r"C:\trial"),
        ("C:/trial", r"C:\trial"),
        (r"c:\trial", r"C:\trial"),
        (r"C:\trial", r"C:\trial"),
        (r"C:\\trial\.\sub\..\", r"C:\trial"),
        (r"C:\", r"C:\"),
        ("c:/", r"C:\"),
        (r"C:\..", r"C:\"),
        // Case other than the drive letter is kept (the hash is of bytes).
        (r"C:\ProgramData\Netdata", r"C:\ProgramData\Netdata"),
        // UNC: server and share stay.
        ("//server/share/x/", r"\\server\share\x"),
        (r"\\server\share\..\..", r"\\server\share"),
        // Rooted without a drive: Netdata's form, kept with `/`.
        ("/var/run/netdata", "/var/run/netdata"),
        (r"\var\run\netdata\", "/var/run/netdata"),
        ("/var/run//netdata/", "/var/run/netdata"),
        ("/", "/"),
        // Verbatim paths are never rewritten.
        (r"\\?\C:\trial\", r"\\?\C:\trial\"),
        (r"\\.\pipe\x", r"\\.\pipe\x"),
        // Relative (the transport makes them absolute first).
        (r"run\.\x\", r"run\x"),
        (r"..\x", r"..\x"),
        ("C:run", "C:run"),
    ] {
        assert_eq!(canonical_windows_run_dir(given), canonical, "{given:?}");
    }
}

#[test]
fn canonical_spellings_derive_the_reference_names() {
    // The spec's example pipe name: a canonical spelling is passed through
    // unchanged, so a reference peer given `/var/run/netdata` and a netipc
    // peer given any spelling of it derive the same name.
    let name = |dir: &str| pipe_name(&canonical_windows_run_dir(dir), "cgroups-snapshot").unwrap();
    for dir in ["/var/run/netdata", "/var/run/netdata/", r"\var\run\netdata"] {
        assert_eq!(
            name(dir),
            r"\\.\pipe\netipc-ed7057727a788d75-cgroups-snapshot",
            "{dir:?}"
        );
    }
    assert_eq!(name("c:/trial/"), name(r"C:\trial"));
    assert_eq!(
        pipe_name(r"C:\trial", "x").unwrap(),
        name(r"C:\trial").replace("cgroups-snapshot", "x")
    );
    assert_eq!(
        socket_path(
            &canonical_posix_run_dir("/run/netdata/"),
            "cgroups-snapshot"
        )
        .unwrap(),
        "/run/netdata/cgroups-snapshot.sock"
    );
}
