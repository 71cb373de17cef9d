//! Attacks on the endpoint itself: two providers started at the same
//! moment (before, both could end up listening), and links or foreign
//! files planted at the socket, lock or region path (before, a link was
//! followed by the chmod after bind, and a dangling one stopped the
//! provider with a false "already served").

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
#[cfg(unix)]
use std::sync::{Arc, Barrier};

use netipc::transport::testing::RawConn;
use netipc::transport::{Listener, ServerOptions};

use crate::common::{RunDir, watchdog};
use crate::rundir_support::*;

/// `netipc-test-peer MODE RUN_DIR SERVICE`, its stdout read line by line;
/// killed on drop.
struct Peer {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Peer {
    fn start(mode: &str, run_dir: &str, service: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netipc-test-peer"))
            .args([mode, run_dir, service])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start netipc-test-peer");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits until it printed `ready` (`true`) or exited (`false`).
    fn ready(&mut self) -> bool {
        self.lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .is_ok_and(|l| l == "ready")
    }

    /// Waits for its exit; returns the status and its stderr.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("wait");
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        (status, err)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn expect_served_by(err: &netipc::Error, endpoint: &str, pid: u32) {
    match err {
        netipc::Error::AddressInUse {
            endpoint: e,
            pid: Some(p),
        } => {
            assert_eq!((e.as_str(), *p), (endpoint, pid), "{err}");
        }
        other => panic!("expected AddressInUse naming pid {pid}, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("already served by pid {pid}")),
        "{err}"
    );
}

fn endpoint_of(dir: &RunDir) -> String {
    let name = if cfg!(windows) {
        netipc::transport::names::pipe_name(dir.str(), "svc")
    } else {
        netipc::transport::names::socket_path(dir.str(), "svc")
    };
    name.expect("endpoint name")
}

#[test]
fn a_second_provider_is_told_the_winners_pid() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let endpoint = endpoint_of(&dir);
        // Another process serves; this one is refused with its pid.
        let mut peer = Peer::start("serve", dir.str(), "svc");
        assert!(peer.ready(), "the peer serves");
        let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
        expect_served_by(&err, &endpoint, peer.child.id());
        RawConn::connect(dir.str(), "svc").expect("the first provider still serves");
        let (status, _) = peer.finish();
        assert!(status.success());

        // This process serves; another process is refused with ours.
        let listener = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap();
        let mut loser = Peer::start("serve", dir.str(), "svc");
        assert!(!loser.ready(), "the second provider does not start");
        let (status, stderr) = loser.finish();
        assert!(!status.success());
        assert!(
            stderr.contains(&format!("already served by pid {}", std::process::id())),
            "{stderr}"
        );
        RawConn::connect(dir.str(), "svc").expect("still served");
        drop(listener);
        assert!(dir.is_empty(), "left: {:?}", dir.entries());
    });
}

/// 300 rounds of two providers binding the same endpoint at one barrier:
/// exactly one listens, the other is told who serves. (POSIX: wine does
/// not make the first pipe instance exclusive, see the README.)
#[cfg(unix)]
#[test]
fn two_providers_at_the_same_moment_exactly_one_serves() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let endpoint = endpoint_of(&dir);
        let barrier = Arc::new(Barrier::new(2));
        let mut both = 0;
        for round in 0..300 {
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let (barrier, run_dir) = (barrier.clone(), dir.str().to_owned());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Listener::bind(&run_dir, "svc", &ServerOptions::default())
                    })
                })
                .collect();
            let mut results: Vec<_> = racers
                .into_iter()
                .map(|r| r.join().expect("racer"))
                .collect();
            let winners = results.iter().filter(|r| r.is_ok()).count();
            if winners == 2 {
                both += 1;
            }
            assert_eq!(winners, 1, "round {round}: {results:?}");
            results.sort_by_key(|r| r.is_err());
            let err = results.pop().unwrap().unwrap_err();
            expect_served_by(&err, &endpoint, std::process::id());
            RawConn::connect(dir.str(), "svc")
                .unwrap_or_else(|e| panic!("round {round}: the winner is unreachable: {e}"));
            drop(results);
            assert!(dir.is_empty(), "round {round}: left {:?}", dir.entries());
        }
        assert_eq!(both, 0, "rounds with both listening");
    });
}

/// The same with two processes started together (fewer rounds: each
/// round starts two processes).
#[cfg(unix)]
#[test]
fn two_provider_processes_started_together_exactly_one_serves() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        for round in 0..20 {
            let mut a = Peer::start("serve", dir.str(), "svc");
            let mut b = Peer::start("serve", dir.str(), "svc");
            let (ready_a, ready_b) = (a.ready(), b.ready());
            assert!(ready_a != ready_b, "round {round}: exactly one serves");
            let (winner, loser) = if ready_a { (a, b) } else { (b, a) };
            let winner_pid = winner.child.id();
            let (status, stderr) = loser.finish();
            assert!(!status.success(), "round {round}");
            assert!(
                stderr.contains(&format!("already served by pid {winner_pid}")),
                "round {round}: {stderr}"
            );
            // The peer exits without cleaning up (`process::exit`): from
            // the second round on, both race over a stale endpoint.
            let (status, _) = winner.finish();
            assert!(status.success(), "round {round}");
        }
    });
}

#[cfg(unix)]
mod posix {
    use std::os::unix::fs::symlink;
    use std::path::{Path, PathBuf};

    use netipc::transport::ShmAttachError;
    use netipc::transport::handshake::hello_ack_message;
    use netipc::transport::testing::RawListener;
    use netipc::transport::{ClientOptions, ClientSession};
    use netipc::wire::{HelloAck, Profiles, TransportStatus};

    use super::*;

    /// What a planted link points to, and how to see it was not touched.
    enum Target {
        Nowhere(PathBuf),
        Dir(PathBuf),
        File(PathBuf),
    }

    impl Target {
        /// The three kinds of link target, inside `base`.
        fn all(base: &Path) -> Vec<Target> {
            let dir = base.join("a-directory");
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("inside"), b"kept").unwrap();
            set_mode(&dir, 0o755);
            let file = base.join("a-file");
            std::fs::write(&file, b"precious").unwrap();
            set_mode(&file, 0o644);
            vec![
                Target::Nowhere(base.join("nowhere")),
                Target::Dir(dir),
                Target::File(file),
            ]
        }

        fn path(&self) -> &Path {
            match self {
                Target::Nowhere(p) | Target::Dir(p) | Target::File(p) => p,
            }
        }

        fn assert_untouched(&self) {
            match self {
                Target::Nowhere(p) => assert!(!p.exists(), "nothing created at {}", p.display()),
                Target::Dir(p) => {
                    assert_eq!(mode_of(p), 0o755);
                    assert_eq!(std::fs::read(p.join("inside")).unwrap(), b"kept");
                    assert_eq!(std::fs::read_dir(p).unwrap().count(), 1);
                }
                Target::File(p) => {
                    assert_eq!(mode_of(p), 0o644, "mode of {}", p.display());
                    assert_eq!(std::fs::read(p).unwrap(), b"precious");
                }
            }
        }
    }

    fn expect_foreign(err: &netipc::Error, path: &Path, kind: &str, owner: u32) {
        match err {
            netipc::Error::ForeignEntry {
                path: p,
                kind: k,
                owner: o,
                ..
            } => assert_eq!((Path::new(p), *k, *o), (path, kind, owner), "{err}"),
            other => panic!(
                "expected ForeignEntry for {}, got {other:?}",
                path.display()
            ),
        }
        let msg = err.to_string();
        assert!(msg.contains(path.to_str().unwrap()), "{msg}");
        assert!(msg.contains(&format!("uid {owner}")), "{msg}");
    }

    #[test]
    fn a_link_at_the_socket_path_is_reported_and_never_followed() {
        watchdog(LIMIT, || {
            let base = RunDir::new();
            for target in Target::all(&base.path) {
                let dir = RunDir::new();
                let sock = dir.path.join("svc.sock");
                symlink(target.path(), &sock).unwrap();
                let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
                expect_foreign(&err, &sock, "symbolic link", my_uid());
                assert!(err.to_string().contains("not followed"), "{err}");
                assert!(is_link(&sock), "the link stays");
                target.assert_untouched();
                assert_eq!(dir.entries(), ["svc.sock"], "no lock or temporary left");
                // The same link owned by another user.
                give_away(&sock);
                let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
                expect_foreign(&err, &sock, "symbolic link", OTHER_UID);
                target.assert_untouched();
                // Removed by its owner, the endpoint can be served.
                std::fs::remove_file(&sock).unwrap();
                drop(Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap());
                target.assert_untouched();
            }
        });
    }

    #[test]
    fn files_of_another_user_at_the_socket_path_are_left_alone() {
        watchdog(LIMIT, || {
            let dir = RunDir::new();
            let sock = dir.path.join("svc.sock");
            std::fs::write(&sock, b"someone's").unwrap();
            give_away(&sock);
            let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
            expect_foreign(&err, &sock, "regular file", OTHER_UID);
            assert_eq!(std::fs::read(&sock).unwrap(), b"someone's");
            std::fs::remove_file(&sock).unwrap();

            // A dead socket of another user: not ours to remove.
            drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
            give_away(&sock);
            let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
            expect_foreign(&err, &sock, "socket", OTHER_UID);
            assert!(sock.exists());
            std::fs::remove_file(&sock).unwrap();

            // A junk file of this user is removed (the reference rule).
            std::fs::write(&sock, b"junk").unwrap();
            drop(Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap());
            assert!(dir.is_empty(), "left: {:?}", dir.entries());
        });
    }

    #[test]
    fn links_and_foreign_files_at_the_lock_path_are_refused() {
        watchdog(LIMIT, || {
            let base = RunDir::new();
            for target in Target::all(&base.path) {
                let dir = RunDir::new();
                let lock = dir.path.join("svc.lock");
                symlink(target.path(), &lock).unwrap();
                let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
                expect_foreign(&err, &lock, "symbolic link", my_uid());
                target.assert_untouched();
                assert!(is_link(&lock));
            }
            // A hard link to a file of ours: writing the pid would change it.
            let dir = RunDir::new();
            let precious = base.path.join("linked");
            std::fs::write(&precious, b"precious").unwrap();
            let lock = dir.path.join("svc.lock");
            std::fs::hard_link(&precious, &lock).unwrap();
            let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
            expect_foreign(
                &err,
                &lock,
                "regular file with more than one link",
                my_uid(),
            );
            assert_eq!(std::fs::read(&precious).unwrap(), b"precious");
            std::fs::remove_file(&lock).unwrap();
            // A lock file of another user.
            std::fs::write(&lock, b"1\n").unwrap();
            give_away(&lock);
            let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
            expect_foreign(&err, &lock, "regular file", OTHER_UID);
            assert_eq!(std::fs::read(&lock).unwrap(), b"1\n");
        });
    }

    #[test]
    fn a_live_provider_without_a_lock_is_named_and_kept() {
        watchdog(LIMIT, || {
            use rustix::net::{AddressFamily, SocketAddrUnix, SocketType, bind, listen, socket};
            // What a reference provider leaves: a listening SEQPACKET
            // socket, no lock file.
            let dir = RunDir::new();
            let sock = dir.path.join("svc.sock");
            let fd = socket(AddressFamily::UNIX, SocketType::SEQPACKET, None).unwrap();
            bind(&fd, &SocketAddrUnix::new(&sock).unwrap()).unwrap();
            listen(&fd, 4).unwrap();
            let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
            expect_served_by(&err, sock.to_str().unwrap(), std::process::id());
            assert_eq!(dir.entries(), ["svc.sock"], "kept, and no lock left");
            drop(fd);
            // Now dead: a stale socket of ours is recovered.
            drop(Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap());
            assert!(dir.is_empty());
        });
    }

    #[test]
    fn a_crashed_provider_leaves_nothing_that_blocks_the_next() {
        watchdog(LIMIT, || {
            let dir = RunDir::new();
            let mut crashed = Peer::start("crash", dir.str(), "svc");
            assert!(crashed.ready());
            // It aborts on its own. Its stdin stays open (`Child::wait`
            // would close it, which tells the peer to exit cleanly).
            let _stdin = crashed.child.stdin.take();
            let status = loop {
                if let Some(status) = crashed.child.try_wait().expect("wait") {
                    break status;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            };
            assert!(!status.success(), "it aborted: {status:?}");
            let mut left = dir.entries();
            left.sort();
            assert_eq!(left, ["svc.lock", "svc.sock"]);
            let listener = Listener::bind(dir.str(), "svc", &ServerOptions::default())
                .expect("the stale endpoint is recovered");
            RawConn::connect(dir.str(), "svc").expect("served");
            drop(listener);
            assert!(dir.is_empty(), "left: {:?}", dir.entries());
        });
    }

    fn shm_options() -> ServerOptions {
        ServerOptions {
            supported_profiles: Profiles::BASELINE | Profiles::SHM_HYBRID,
            preferred_profiles: Profiles::SHM_HYBRID,
            ..ServerOptions::default()
        }
    }

    fn shm_client() -> ClientOptions {
        ClientOptions {
            supported_profiles: Profiles::BASELINE | Profiles::SHM_HYBRID,
            preferred_profiles: Profiles::SHM_HYBRID,
            ..ClientOptions::default()
        }
    }

    /// One handshake with session id 42 (run on this thread, so that the
    /// library's warnings are captured); whether it selected shared memory.
    fn session_42(listener: &Listener, dir: &RunDir) -> (bool, Vec<String>) {
        let run_dir = dir.str().to_owned();
        let client = std::thread::spawn(move || {
            ClientSession::connect(&run_dir, "svc", &shm_client()).map(|c| c.is_shm())
        });
        let (server, events) = capture_events(|| {
            listener
                .accept(Some(std::time::Duration::from_secs(10)), None)
                .expect("accept")
                .handshake(42)
        });
        let server = server.expect("server handshake");
        let client_shm = client.join().unwrap().expect("client connect");
        assert_eq!(server.params().is_shm(), client_shm);
        (client_shm, events)
    }

    #[test]
    fn a_link_at_a_region_path_is_removed_without_touching_its_target() {
        watchdog(LIMIT, || {
            let base = RunDir::new();
            for target in Target::all(&base.path) {
                let dir = RunDir::new();
                let listener = Listener::bind(dir.str(), "svc", &shm_options()).unwrap();
                let region = dir.path.join("svc-000000000000002a.ipcshm");
                symlink(target.path(), &region).unwrap();
                let (shm, events) = session_42(&listener, &dir);
                assert!(shm, "the session got its shared memory");
                assert!(!is_link(&region), "the planted link was replaced");
                target.assert_untouched();
                let region_text = region.to_str().unwrap();
                assert!(
                    events
                        .iter()
                        .any(|e| e.contains(region_text) && e.contains("symbolic link")),
                    "the removal is reported by path: {events:?}"
                );
            }
        });
    }

    #[test]
    fn a_link_of_another_user_at_a_region_path_is_left_and_reported() {
        watchdog(LIMIT, || {
            let base = RunDir::new();
            for target in Target::all(&base.path) {
                let dir = RunDir::new();
                let listener = Listener::bind(dir.str(), "svc", &shm_options()).unwrap();
                let region = dir.path.join("svc-000000000000002a.ipcshm");
                symlink(target.path(), &region).unwrap();
                give_away(&region);
                let (shm, events) = session_42(&listener, &dir);
                assert!(
                    !shm,
                    "no shared memory for that session, the baseline serves"
                );
                assert!(is_link(&region), "not ours to remove");
                target.assert_untouched();
                let region_text = region.to_str().unwrap();
                assert!(
                    events
                        .iter()
                        .any(|e| e.contains(region_text) && e.contains("uid 12345")),
                    "reported by path and owner: {events:?}"
                );
                std::fs::remove_file(&region).unwrap();
                drop(listener);
                assert!(dir.is_empty(), "left: {:?}", dir.entries());
            }
        });
    }

    #[test]
    fn links_planted_before_the_provider_starts_are_cleaned_at_bind() {
        watchdog(LIMIT, || {
            let base = RunDir::new();
            let dir = RunDir::new();
            let targets = Target::all(&base.path);
            for (i, target) in targets.iter().enumerate() {
                symlink(target.path(), dir.path.join(format!("svc-{i:016x}.ipcshm"))).unwrap();
            }
            let (listener, events) =
                capture_events(|| Listener::bind(dir.str(), "svc", &shm_options()));
            let listener = listener.unwrap();
            let mut left = dir.entries();
            left.retain(|e| e.ends_with(".ipcshm"));
            assert!(left.is_empty(), "left: {left:?}");
            for target in &targets {
                target.assert_untouched();
            }
            assert_eq!(
                events
                    .iter()
                    .filter(|e| e.contains("symbolic link"))
                    .count(),
                3,
                "{events:?}"
            );
            drop(listener);
        });
    }

    /// A fake provider that selects shared memory for session `session`
    /// (the client then attaches `svc-<session>.ipcshm`, whatever the test
    /// put there).
    fn fake_shm_provider(dir: &RunDir, session: u64) -> std::thread::JoinHandle<()> {
        let listener = RawListener::bind(dir.str(), "svc").unwrap();
        std::thread::spawn(move || {
            let conn = listener
                .accept(Some(std::time::Duration::from_secs(10)), None)
                .expect("accept");
            let mut hello = [0u8; 128];
            conn.recv(&mut hello, Some(std::time::Duration::from_secs(10)))
                .expect("HELLO");
            let ack = HelloAck {
                server_supported_profiles: (Profiles::BASELINE | Profiles::SHM_HYBRID).bits(),
                intersection_profiles: (Profiles::BASELINE | Profiles::SHM_HYBRID).bits(),
                selected_profile: Profiles::SHM_HYBRID.bits(),
                agreed_max_request_payload_bytes: 1024,
                agreed_max_request_batch_items: 1,
                agreed_max_response_payload_bytes: 1024,
                agreed_max_response_batch_items: 1,
                agreed_packet_size: 65536,
                session_id: session,
                extensions: 0,
            };
            conn.send(&hello_ack_message(TransportStatus::OK, &ack))
                .expect("HELLO_ACK");
            // Keep the connection until the client gives up.
            let mut buf = [0u8; 64];
            let _ = conn.recv(&mut buf, Some(std::time::Duration::from_secs(10)));
        })
    }

    #[test]
    fn a_client_never_attaches_a_link_or_a_foreign_region_file() {
        watchdog(LIMIT, || {
            let base = RunDir::new();
            let real = base.path.join("a-region");
            std::fs::write(&real, vec![0u8; 8192]).unwrap();
            set_mode(&real, 0o600);
            for (session, foreign_owner) in [(7u64, false), (8, true)] {
                let dir = RunDir::new();
                let region = dir.path.join(format!("svc-{session:016x}.ipcshm"));
                if foreign_owner {
                    std::fs::copy(&real, &region).unwrap();
                    give_away(&region);
                } else {
                    symlink(&real, &region).unwrap();
                }
                let provider = fake_shm_provider(&dir, session);
                let err = ClientSession::connect(dir.str(), "svc", &shm_client()).unwrap_err();
                match &err {
                    netipc::Error::ShmAttach(ShmAttachError::Foreign {
                        path,
                        kind,
                        owner,
                        expected,
                    }) => {
                        assert_eq!(Path::new(path), region.as_path());
                        assert_eq!(*expected, my_uid(), "the provider's uid");
                        if foreign_owner {
                            assert_eq!((*kind, *owner), ("regular file", OTHER_UID));
                        } else {
                            assert_eq!(*kind, "symbolic link");
                        }
                    }
                    other => panic!("expected ShmAttach(Foreign), got {other:?}"),
                }
                assert!(err.to_string().contains(region.to_str().unwrap()), "{err}");
                provider.join().unwrap();
                assert_eq!(std::fs::read(&real).unwrap(), vec![0u8; 8192]);
            }
        });
    }
}

#[cfg(windows)]
#[test]
fn windows_the_second_provider_of_a_pipe_is_told_the_winners_pid() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let first = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap();
        let err = Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap_err();
        expect_served_by(&err, first.endpoint(), std::process::id());
        RawConn::connect(dir.str(), "svc").expect("the first still serves");
        drop(first);
        drop(Listener::bind(dir.str(), "svc", &ServerOptions::default()).unwrap());
    });
}
