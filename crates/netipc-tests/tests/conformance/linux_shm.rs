//! Linux shared-memory specifics (transport-posix part B): the region file
//! byte for byte, capacity edges, a corrupt peer, crashes, stale regions,
//! a full filesystem and attach failures.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::transport::framing::ProtocolError;
use netipc::transport::handshake::{ServerOffer, server_handshake};
use netipc::transport::testing::{RawListener, connect_plain, handshake_plain};
use netipc::transport::{ClientOptions, ClientSession, Listener, ServerOptions, ShmAttachError};
use netipc::wire::Profiles;

use crate::support::*;

fn region_path(dir: &RunDir, session: u64) -> PathBuf {
    dir.path.join(format!("svc-{session:016x}.ipcshm"))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().unwrap())
}

fn shm_server(max_request: u32, max_response: u32) -> ServerOptions {
    ServerOptions {
        max_request_payload_bytes: max_request,
        max_response_payload_bytes: max_response,
        ..server_options(&SHM_HYBRID)
    }
}

fn shm_client(max_request: u32) -> ClientOptions {
    ClientOptions {
        max_request_payload_bytes: max_request,
        ..client_options(&SHM_HYBRID)
    }
}

/// A listener and a session between a client and a server that each use
/// or omit the netipc extensions.
fn mixed_pair(
    dir: &RunDir,
    server: &ServerOptions,
    client: &ClientOptions,
    plain_client: bool,
    plain_server: bool,
) -> (Listener, ClientSession, netipc::transport::ServerSession) {
    let listener = Listener::bind(dir.str(), "svc", server).unwrap();
    let (run_dir, client) = (dir.str().to_owned(), *client);
    let connect = std::thread::spawn(move || {
        if plain_client {
            connect_plain(&run_dir, "svc", &client)
        } else {
            ClientSession::connect(&run_dir, "svc", &client)
        }
    });
    let incoming = listener.accept(SHORT, None).unwrap();
    let session = if plain_server {
        handshake_plain(incoming, 1, server).unwrap()
    } else {
        incoming.handshake(1).unwrap()
    };
    (listener, connect.join().unwrap().unwrap(), session)
}

#[test]
fn region_header_and_file_are_exactly_as_specified() {
    let dir = RunDir::new();
    // A client without netipc extensions: the region runs the reference
    // protocol, whose signal words count publications.
    let (_l, mut c, mut s) = mixed_pair(
        &dir,
        &shm_server(1000, 5000),
        &shm_client(1000),
        true,
        false,
    );
    assert!(c.is_shm());
    assert_eq!(c.params().selected_profile, Profiles::SHM_HYBRID);
    assert_eq!(c.params().extensions, 0);
    c.send_request(1, 1, &[7; 100]).unwrap();
    let h = s.recv(SHORT, None).unwrap().header;
    s.respond(&h, &[8; 300]).unwrap();
    let _ = c.recv(SHORT, None).unwrap();
    let bytes = std::fs::read(region_path(&dir, 1)).unwrap();
    let (rq, rs) = (1088usize, 5056usize); // align64(32 + max)
    assert_eq!(bytes.len(), 64 + rq + rs, "file size");
    assert_eq!(&bytes[0..4], &0x4e53_484du32.to_ne_bytes(), "magic");
    assert_eq!(
        (u16_at(&bytes, 4), u16_at(&bytes, 6)),
        (3, 64),
        "version, header_len"
    );
    assert_eq!(u32_at(&bytes, 8), std::process::id(), "owner pid");
    assert_ne!(u32_at(&bytes, 12), 0, "owner generation");
    assert_eq!(
        (u32_at(&bytes, 16), u32_at(&bytes, 20)),
        (64, rq as u32),
        "request area"
    );
    assert_eq!(
        (u32_at(&bytes, 24), u32_at(&bytes, 28)),
        ((64 + rq) as u32, rs as u32),
        "response area"
    );
    assert_eq!(
        (u64_at(&bytes, 32), u64_at(&bytes, 40)),
        (1, 1),
        "sequences"
    );
    assert_eq!(
        (u32_at(&bytes, 48), u32_at(&bytes, 52)),
        (132, 332),
        "lengths"
    );
    assert_eq!(
        (u32_at(&bytes, 56), u32_at(&bytes, 60)),
        (1, 1),
        "signals count publications"
    );
    assert_eq!(
        &bytes[64 + 32..64 + 132],
        &[7u8; 100][..],
        "request bytes in the request area"
    );
    let meta = std::fs::metadata(region_path(&dir, 1)).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert!(
        meta.blocks() * 512 >= meta.len(),
        "the whole file is reserved, not sparse"
    );
}

#[test]
fn netipc_peers_wake_only_a_sleeping_consumer() {
    let dir = RunDir::new();
    let (_l, mut c, mut s) = pair_with(&dir, &shm_server(1024, 1024), &shm_client(1024));
    assert_eq!(
        c.params().extensions,
        netipc::wire::extension::SHM_WAKE_ON_DEMAND
    );
    c.send_request(1, 1, b"x").unwrap();
    let h = s.recv(SHORT, None).unwrap().header;
    s.respond(&h, b"y").unwrap();
    let _ = c.recv(SHORT, None).unwrap();
    let bytes = std::fs::read(region_path(&dir, 1)).unwrap();
    assert_eq!(
        (u32_at(&bytes, 56), u32_at(&bytes, 60)),
        (0, 0),
        "nobody slept, nobody was woken"
    );
}

#[test]
fn every_pairing_of_plain_and_netipc_peers_interoperates() {
    for (plain_client, plain_server) in [(false, false), (true, false), (false, true), (true, true)]
    {
        let dir = RunDir::new();
        let (_l, mut c, mut s) = mixed_pair(
            &dir,
            &shm_server(1024, 1024),
            &shm_client(1024),
            plain_client,
            plain_server,
        );
        let both = !plain_client && !plain_server;
        assert_eq!(c.params().extensions != 0, both);
        let server = std::thread::spawn(move || {
            for i in 0..300u64 {
                let m = s.recv(SHORT, None).unwrap();
                let (h, v) = (m.header, u64::from_ne_bytes(m.payload.try_into().unwrap()));
                if i % 50 == 0 {
                    // Long enough for the client to stop spinning and sleep.
                    std::thread::sleep(Duration::from_millis(20));
                }
                s.respond(&h, &(v + 1).to_ne_bytes()).unwrap();
            }
        });
        for i in 0..300u64 {
            if i % 70 == 0 {
                std::thread::sleep(Duration::from_millis(20)); // the server sleeps
            }
            let r = c.call(1, i + 1, &i.to_ne_bytes(), SHORT).unwrap();
            assert_eq!(r.payload, (i + 1).to_ne_bytes());
        }
        server.join().unwrap();
    }
}

#[test]
fn a_message_of_exactly_the_capacity_fits_and_one_byte_more_is_refused() {
    let dir = RunDir::new();
    // 32 + 992 = 1024 = align64(1024): the request area holds exactly one
    // maximal message.
    let (_l, mut c, mut s) = pair_with(&dir, &shm_server(992, 992), &shm_client(992));
    let payload = vec![3u8; 992];
    c.send_request(3, 1, &payload).unwrap();
    let m = s.recv(SHORT, None).unwrap();
    assert_eq!(m.payload, &payload[..]);
    let h = m.header;
    s.respond(&h, &payload).unwrap();
    assert_eq!(c.recv(SHORT, None).unwrap().payload, &payload[..]);
    assert!(matches!(
        c.send_request(3, 2, &[0; 993]),
        Err(Error::LimitExceeded(_))
    ));
}

#[test]
fn one_request_in_flight_on_shared_memory() {
    let dir = RunDir::new();
    let (_l, mut c, _s) = pair_with(&dir, &shm_server(1024, 1024), &shm_client(1024));
    c.send_request(1, 1, b"a").unwrap();
    assert!(matches!(c.send_request(1, 2, b"b"), Err(Error::Busy)));
    assert_eq!(c.in_flight(), 1);
}

/// Plays a corrupt server: writes the response lane of the region file
/// directly, then checks what the client reports.
fn corrupt_response(len: u32, header_payload_len: u32) -> Error {
    let dir = RunDir::new();
    let (_l, mut c, _s) = pair_with(&dir, &shm_server(1024, 1024), &shm_client(1024));
    c.send_request(1, 1, b"x").unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(region_path(&dir, 1))
        .unwrap();
    let mut head = [0u8; 64];
    file.read_exact_at(&mut head, 0).unwrap();
    let area = u64::from(u32_at(&head, 24));
    let mut message = netipc::wire::Header::new(
        netipc::wire::MessageKind::Response,
        1,
        1,
        header_payload_len,
    )
    .to_bytes()
    .to_vec();
    message.resize(64, 0);
    file.write_all_at(&message, area).unwrap();
    file.write_all_at(&len.to_ne_bytes(), 52).unwrap();
    file.write_all_at(&1u64.to_ne_bytes(), 40).unwrap();
    c.recv(SHORT, None).unwrap_err()
}

#[test]
fn corrupt_published_lengths_are_rejected() {
    assert!(matches!(
        corrupt_response(0, 0),
        Error::Protocol(ProtocolError::ShmEmptyMessage)
    ));
    assert!(matches!(
        corrupt_response(1_000_000, 0),
        Error::Protocol(ProtocolError::ShmMessageTooLarge { .. })
    ));
    assert!(matches!(
        corrupt_response(40, 100),
        Error::Protocol(ProtocolError::ShmLengthMismatch { .. })
    ));
    assert!(matches!(
        corrupt_response(40, 4),
        Error::Protocol(ProtocolError::PacketLongerThanMessage { .. })
    ));
}

#[test]
fn region_lifecycle_create_detach_destroy() {
    let dir = RunDir::new();
    let (l, c, s) = pair_with(&dir, &shm_server(1024, 1024), &shm_client(1024));
    assert!(region_path(&dir, 1).exists());
    drop(c);
    assert!(
        region_path(&dir, 1).exists(),
        "client detach does not remove the region"
    );
    drop(s);
    assert!(
        !region_path(&dir, 1).exists(),
        "server destroy removes the region"
    );
    drop(l);
    // A session that negotiates the baseline destroys its region at once.
    let dir = RunDir::new();
    let baseline_client = ClientOptions {
        max_request_payload_bytes: 1024,
        ..client_options(&BASELINE)
    };
    let (_l, c, _s) = pair_with(&dir, &shm_server(1024, 1024), &baseline_client);
    assert!(!c.is_shm());
    assert!(
        !region_path(&dir, 1).exists(),
        "unused region removed after the handshake"
    );
}

#[test]
fn peer_crash_while_the_client_waits_is_a_disconnect() {
    let dir = RunDir::new();
    let mut peer = Peer::start(
        "stall-after-request",
        &dir,
        "svc",
        SHM_HYBRID.profiles,
        "ready",
    );
    let mut c = ClientSession::connect(dir.str(), "svc", &shm_client(1024)).unwrap();
    assert!(c.is_shm());
    c.send_request(1, 1, b"never answered").unwrap();
    peer.expect("stalled");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        peer.kill();
    });
    let started = Instant::now();
    let err = c.recv(None, None).unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    killer.join().unwrap();
}

#[test]
fn peer_crash_while_the_server_waits_is_a_disconnect() {
    let dir = RunDir::new();
    let listener = Listener::bind(dir.str(), "svc", &shm_server(1024, 1024)).unwrap();
    let mut peer = Peer::spawn("idle-client", &dir, "svc", SHM_HYBRID.profiles);
    let mut s = listener.accept(SHORT, None).unwrap().handshake(1).unwrap();
    peer.expect("connected");
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        peer.kill();
    });
    let err = s.recv(None, None).unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err}");
    killer.join().unwrap();
}

#[test]
fn regions_of_a_killed_server_are_cleaned_on_the_next_start() {
    let dir = RunDir::new();
    let mut peer = Peer::start("serve", &dir, "svc", SHM_HYBRID.profiles, "ready");
    let c = ClientSession::connect(dir.str(), "svc", &shm_client(1024)).unwrap();
    assert!(c.is_shm());
    peer.kill(); // kill -9: nothing is cleaned up
    drop(c);
    assert!(
        region_path(&dir, 1).exists(),
        "the dead server's region is left behind"
    );
    let listener =
        Listener::bind(dir.str(), "svc", &shm_server(1024, 1024)).expect("stale socket reclaimed");
    assert!(
        !region_path(&dir, 1).exists(),
        "startup scan removed the stale region"
    );
    drop(listener);
}

/// Writes a region-like file claiming to belong to `pid`.
fn fake_region(path: &PathBuf, pid: u32, generation: u32) {
    let mut b = vec![0u8; 256];
    b[0..4].copy_from_slice(&0x4e53_484du32.to_ne_bytes());
    b[4..6].copy_from_slice(&3u16.to_ne_bytes());
    b[6..8].copy_from_slice(&64u16.to_ne_bytes());
    b[8..12].copy_from_slice(&pid.to_ne_bytes());
    b[12..16].copy_from_slice(&generation.to_ne_bytes());
    std::fs::write(path, b).unwrap();
}

fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn stale_rules_keep_live_regions_and_remove_dead_or_junk_ones() {
    let dir = RunDir::new();
    let live = region_path(&dir, 1);
    fake_region(&live, std::process::id(), 77);
    let dead = region_path(&dir, 2);
    fake_region(&dead, dead_pid(), 77);
    let zero_gen = region_path(&dir, 3);
    fake_region(&zero_gen, std::process::id(), 0);
    let junk = region_path(&dir, 4);
    std::fs::write(&junk, b"short").unwrap();
    let other_service = dir.path.join("other-0000000000000001.ipcshm");
    fake_region(&other_service, dead_pid(), 1);
    let listener = Listener::bind(dir.str(), "svc", &shm_server(1024, 1024)).unwrap();
    assert!(live.exists(), "a live region is never removed");
    assert!(
        !dead.exists() && !zero_gen.exists() && !junk.exists(),
        "stale and junk regions removed"
    );
    assert!(
        other_service.exists(),
        "the scan only touches this service's regions"
    );
    // Session 1 collides with the live region: SHM is withdrawn for it.
    let server = std::thread::spawn(move || {
        listener
            .accept(SHORT, None)
            .unwrap()
            .handshake(1)
            .map(|s| s.params().selected_profile)
    });
    let c = ClientSession::connect(dir.str(), "svc", &shm_client(1024)).unwrap();
    assert_eq!(
        c.params().selected_profile,
        Profiles::BASELINE,
        "falls back to the baseline"
    );
    assert_eq!(server.join().unwrap().unwrap(), Profiles::BASELINE);
    assert!(live.exists());
}

#[test]
fn attach_failures_close_the_session_with_a_distinct_error() {
    for broken in [false, true] {
        let dir = RunDir::new();
        let listener = RawListener::bind(dir.str(), "svc").unwrap();
        if broken {
            let mut b = vec![0u8; 4096];
            fake_region(&region_path(&dir, 1), std::process::id(), 1);
            b[..256].copy_from_slice(&std::fs::read(region_path(&dir, 1)).unwrap());
            b[4..6].copy_from_slice(&2u16.to_ne_bytes());
            std::fs::write(region_path(&dir, 1), b).unwrap();
        }
        let server = std::thread::spawn(move || {
            let conn = listener.accept(SHORT, None).unwrap();
            let mut hello = [0u8; 128];
            let n = conn.recv(&mut hello, SHORT).unwrap();
            let offer = ServerOffer {
                supported_profiles: Profiles::BASELINE | Profiles::SHM_HYBRID,
                preferred_profiles: Profiles::SHM_HYBRID,
                max_request_payload_bytes: 1024,
                max_response_payload_bytes: 1024,
                auth_token: 0,
                packet_size: 65536,
                extensions: 0,
            };
            // Selects SHM without creating the region (or with a broken one).
            conn.send(&server_handshake(&hello[..n], &offer, 1).reply.unwrap())
                .unwrap();
            let mut end = [0u8; 16];
            conn.recv(&mut end, SHORT)
        });
        let options = ClientOptions {
            handshake_timeout: Duration::from_millis(300),
            ..shm_client(1024)
        };
        let err = ClientSession::connect(dir.str(), "svc", &options).unwrap_err();
        match (broken, &err) {
            (false, Error::ShmAttach(ShmAttachError::Open(_))) => {}
            (true, Error::ShmAttach(ShmAttachError::BadVersion(2))) => {}
            _ => panic!("unexpected error {err}"),
        }
        assert!(
            matches!(server.join().unwrap(), Err(Error::Disconnected)),
            "the client closed the session"
        );
    }
}

/// Mounts a 256 KiB tmpfs for the test, unmounted on drop.
struct SmallTmpfs {
    dir: RunDir,
}

impl SmallTmpfs {
    fn mount() -> Self {
        let dir = RunDir::new();
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=256k,mode=0700",
                "netipc-test",
                dir.str(),
            ])
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (the CI runs the tests as root)"
        );
        Self { dir }
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.str())
            .status();
    }
}

#[test]
fn a_full_filesystem_fails_region_creation_cleanly() {
    let fs = SmallTmpfs::mount();
    // Two 1 MiB areas cannot be reserved on a 256 KiB filesystem: the
    // server withdraws SHM and the session runs on the baseline.
    let (_l, mut c, mut s) =
        pair_with(&fs.dir, &shm_server(1 << 20, 1 << 20), &shm_client(1 << 20));
    assert_eq!(c.params().selected_profile, Profiles::BASELINE);
    assert!(
        !region_path(&fs.dir, 1).exists(),
        "the failed region was removed"
    );
    c.send_request(1, 1, &[1; 100_000]).unwrap();
    assert_eq!(s.recv(SHORT, None).unwrap().payload.len(), 100_000);
    drop((c, s));
    // A region that fits works on the same filesystem.
    let dir = &fs.dir;
    let listener = Listener::bind(dir.str(), "small", &shm_server(4096, 4096)).unwrap();
    let server = echo_server(listener, 1);
    let mut c = ClientSession::connect(dir.str(), "small", &shm_client(4096)).unwrap();
    assert!(c.is_shm());
    assert_eq!(c.call(1, 1, &[5; 4000], SHORT).unwrap().payload.len(), 4000);
    drop(c);
    server.join().unwrap();
}

#[test]
fn raw_shm_limit_ping_pongs_between_threads() {
    use netipc::transport::testing::RawShm;
    let dir = RunDir::new();
    let path = dir.path.join("raw.shm");
    let a = RawShm::create(path.to_str().unwrap()).unwrap();
    let b = RawShm::open(path.to_str().unwrap()).unwrap();
    let t = std::thread::spawn(move || {
        for i in 1..=2000u64 {
            b.wait(0, i, Duration::from_secs(10)).unwrap();
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(5)); // make the other side sleep
            }
            b.post(1, i);
        }
    });
    for i in 1..=2000u64 {
        a.post(0, i);
        a.wait(1, i, Duration::from_secs(10)).unwrap();
    }
    t.join().unwrap();
    assert!(matches!(
        a.wait(1, 2001, Duration::from_millis(20)),
        Err(Error::Timeout { .. })
    ));
}
