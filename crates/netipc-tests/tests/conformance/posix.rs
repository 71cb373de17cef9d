//! POSIX-only endpoint rules (transport-posix part A).

use std::os::unix::fs::PermissionsExt;

use netipc::transport::{ClientSession, Listener};

use crate::support::*;

fn socket_file(dir: &RunDir) -> std::path::PathBuf {
    dir.path.join("svc.sock")
}

#[test]
fn socket_file_is_owner_only() {
    let dir = RunDir::new();
    let listener = Listener::bind(dir.str(), "svc", &server_options(&BASELINE)).unwrap();
    assert_eq!(listener.endpoint(), socket_file(&dir).to_str().unwrap());
    let mode = std::fs::metadata(socket_file(&dir))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn regular_file_or_empty_directory_at_the_path_is_reclaimed() {
    let dir = RunDir::new();
    std::fs::write(socket_file(&dir), b"junk").unwrap();
    drop(Listener::bind(dir.str(), "svc", &server_options(&BASELINE)).expect("file reclaimed"));
    std::fs::create_dir(socket_file(&dir)).unwrap();
    drop(
        Listener::bind(dir.str(), "svc", &server_options(&BASELINE)).expect("empty dir reclaimed"),
    );
    std::fs::create_dir(socket_file(&dir)).unwrap();
    std::fs::write(socket_file(&dir).join("x"), b"").unwrap();
    let err = Listener::bind(dir.str(), "svc", &server_options(&BASELINE)).unwrap_err();
    assert!(
        matches!(
            err,
            netipc::Error::ForeignEntry {
                kind: "non-empty directory",
                ..
            }
        ),
        "a non-empty directory is kept and reported: {err}"
    );
    assert!(err.to_string().contains("svc.sock"), "{err}");
}

#[test]
fn stale_socket_without_listener_is_reclaimed() {
    let dir = RunDir::new();
    let stale = std::os::unix::net::UnixListener::bind(socket_file(&dir)).unwrap();
    drop(stale); // leaves the socket file behind
    assert!(socket_file(&dir).exists());
    drop(
        Listener::bind(dir.str(), "svc", &server_options(&BASELINE))
            .expect("stale socket reclaimed"),
    );
    assert!(
        !socket_file(&dir).exists(),
        "closing removes the socket file"
    );
}

#[test]
fn listener_does_not_remove_a_file_it_does_not_own() {
    let dir = RunDir::new();
    let listener = Listener::bind(dir.str(), "svc", &server_options(&BASELINE)).unwrap();
    std::fs::remove_file(socket_file(&dir)).unwrap();
    std::fs::write(socket_file(&dir), b"someone else's").unwrap();
    drop(listener);
    assert!(socket_file(&dir).exists());
}

#[test]
fn peer_credentials_carry_uid_and_gid() {
    let dir = RunDir::new();
    let (_l, _c, s) = pair(&BASELINE, &dir);
    let peer = s.peer();
    let meta = std::fs::metadata("/proc/self").unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(peer.uid, Some(meta.uid()));
    assert_eq!(peer.gid, Some(meta.gid()));
    let _ = ClientSession::connect;
}
