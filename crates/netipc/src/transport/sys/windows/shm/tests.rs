//! Wait groups on real regions: a request, the client's close and the
//! group's own wake-up end a group wait; SHM_BUSYWAIT regions are polled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{GroupSignal, ShmRegion, ShmWatch, wait_group};
use crate::transport::shm::ShmKey;
use crate::transport::sys::windows::security::OwnerOnly;
use crate::wire::Profiles;

const PATIENCE: Duration = Duration::from_secs(5);

/// A (server, client) pair of one region of `profile`.
fn pair(profile: u32) -> (ShmRegion, ShmRegion) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let run_dir = format!("/netipc-shm-test-{}", std::process::id());
    let key = ShmKey {
        run_dir: &run_dir,
        service: "svc",
        auth_token: 7,
        session_id: NEXT.fetch_add(1, Ordering::SeqCst),
        owner: None,
        access: Default::default(),
    };
    let security = OwnerOnly::new().unwrap();
    let server = ShmRegion::create(&key, profile, 1024, 1024, &security).unwrap();
    let client = ShmRegion::attach(&key, profile).unwrap();
    (server, client)
}

/// Waits in the group until `ready` holds for `watch` (the caller's loop).
fn wait_until_ready(signal: &GroupSignal, watch: &Arc<ShmWatch>) -> Duration {
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < PATIENCE, "the group never woke up");
        let seen = signal.value();
        match watch.arm() {
            None => return started.elapsed(),
            Some(value) => wait_group(signal, seen, &[(watch.clone(), value)]),
        }
    }
}

fn later(what: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        what();
    })
}

#[test]
fn a_request_or_the_clients_close_wakes_a_group() {
    for profile in [Profiles::SHM_HYBRID.bits(), Profiles::SHM_ALT.bits()] {
        let (mut server, mut client) = pair(profile);
        let signal = GroupSignal::default();
        let watch = Arc::new(server.watch());
        let publisher = later(move || {
            client.publish(&[b"request"]).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            drop(client);
        });
        wait_until_ready(&signal, &watch);
        let mut buf = [0u8; 64];
        assert_eq!(server.try_receive(&mut buf).unwrap(), Some(7));
        assert_eq!(&buf[..7], b"request");
        assert!(!server.arrived());
        let watch = Arc::new(server.watch());
        wait_until_ready(&signal, &watch);
        publisher.join().unwrap();
        assert!(matches!(
            server.try_receive(&mut buf),
            Err(crate::Error::Disconnected)
        ));
    }
}

#[test]
fn the_groups_own_signal_ends_its_wait() {
    let (server, _client) = pair(Profiles::SHM_HYBRID.bits());
    let signal = Arc::new(GroupSignal::default());
    let watch = Arc::new(server.watch());
    let seen = signal.value();
    let value = watch.arm().unwrap();
    let waker = {
        let signal = signal.clone();
        later(move || signal.wake())
    };
    let started = Instant::now();
    wait_group(&signal, seen, &[(watch.clone(), value)]);
    assert!(started.elapsed() < PATIENCE);
    assert_ne!(signal.value(), seen);
    waker.join().unwrap();
    // A wake-up before the wait makes it return at once.
    signal.wake();
    let started = Instant::now();
    wait_group(&signal, seen, &[(watch, value)]);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn spinning_sees_a_message_or_gives_up_quickly() {
    let (mut server, mut client) = pair(Profiles::SHM_HYBRID.bits());
    let started = Instant::now();
    assert!(!server.spin_for_message(|| true));
    assert!(started.elapsed() < Duration::from_secs(1));
    client.publish(&[b"x"]).unwrap();
    assert!(server.arrived());
    assert!(server.spin_for_message(|| true));
    let mut buf = [0u8; 8];
    assert_eq!(server.try_receive(&mut buf).unwrap(), Some(1));
    assert_eq!(server.try_receive(&mut buf).unwrap(), None);
}

/// The Windows analogues of `truncate -s 0` on a Linux region file, done
/// through separate handles by name, as another process of the same user
/// would: a session mapping is page-file backed (no file to shrink) and a
/// section's size is fixed at creation, so every attempt fails or leaves
/// the mapping as it was, and the session keeps working.
mod shrinking {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use windows_sys::Win32::Foundation::{
        ERROR_ALREADY_EXISTS, ERROR_USER_MAPPED_FILE, GENERIC_READ, GENERIC_WRITE,
        INVALID_HANDLE_VALUE,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, DeleteFileW, FILE_ATTRIBUTE_NORMAL, FILE_BEGIN, FILE_END_OF_FILE_INFO,
        FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, FileEndOfFileInfo, OPEN_EXISTING,
        SetEndOfFile, SetFileInformationByHandle, SetFilePointerEx,
    };
    use windows_sys::Win32::System::Memory::{
        CreateFileMappingW, FILE_MAP_ALL_ACCESS, OpenFileMappingW, PAGE_READWRITE,
    };

    use super::super::view::View;
    use super::super::{RawShm, ShmRegion};
    use crate::transport::names::windows_shm_names;
    use crate::transport::shm::ShmKey;
    use crate::transport::sys::windows::security::OwnerOnly;
    use crate::transport::sys::windows::util::{last_error, owned, raw, wide};
    use crate::wire::Profiles;

    /// Response area of the test sessions: many pages.
    const RESPONSE: u32 = 64 * 1024;

    /// A (server, client) pair with a large response area, and the name
    /// of its mapping.
    fn pair(profile: u32) -> (ShmRegion, ShmRegion, String) {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let run_dir = format!("/netipc-shrink-test-{}", std::process::id());
        let key = ShmKey {
            run_dir: &run_dir,
            service: "svc",
            auth_token: 9,
            session_id: NEXT.fetch_add(1, Ordering::SeqCst),
            owner: None,
            access: Default::default(),
        };
        let security = OwnerOnly::new().unwrap();
        let server = ShmRegion::create(&key, profile, 1024, RESPONSE, &security).unwrap();
        let client = ShmRegion::attach(&key, profile).unwrap();
        let name = windows_shm_names(&run_dir, "svc", 9, profile, key.session_id)
            .unwrap()
            .mapping;
        (server, client, name)
    }

    /// One request and one full-size response through the pair.
    fn exchange(server: &mut ShmRegion, client: &mut ShmRegion, round: u8) {
        let deadline = Some(Instant::now() + Duration::from_secs(10));
        client.publish(&[&[round; 100]]).unwrap();
        let mut buf = vec![0u8; server.recv_capacity()];
        assert_eq!(
            server.receive(&mut buf, deadline, None, || true).unwrap(),
            100
        );
        assert!(buf[..100].iter().all(|&b| b == round));
        let answer = vec![round ^ 0xff; RESPONSE as usize];
        server.publish(&[&answer]).unwrap();
        let mut buf = vec![0u8; client.recv_capacity()];
        let n = client.receive(&mut buf, deadline, None, || true).unwrap();
        assert_eq!(&buf[..n], &answer[..]);
    }

    #[test]
    fn a_session_mapping_cannot_be_shrunk_through_another_handle() {
        for profile in [Profiles::SHM_HYBRID.bits(), Profiles::SHM_ALT.bits()] {
            let (mut server, mut client, name) = pair(profile);
            let wname = wide(&name);
            exchange(&mut server, &mut client, 1);
            // SAFETY: a NUL-terminated name; the result is checked.
            let opened = unsafe { OpenFileMappingW(FILE_MAP_ALL_ACCESS, 0, wname.as_ptr()) };
            let opened = owned(opened, "opening the mapping by name")
                .expect("the owner can open its own mapping by name");
            let size = View::map(opened).unwrap().len();
            assert!(size >= RESPONSE as usize, "the view covers the region");

            // "Create" the same name with a smaller size: the system hands
            // out the existing section, whose size does not change.
            for smaller in [4096u32, 1] {
                // SAFETY: a page-file-backed mapping request by name.
                let h = unsafe {
                    CreateFileMappingW(
                        INVALID_HANDLE_VALUE,
                        std::ptr::null(),
                        PAGE_READWRITE,
                        0,
                        smaller,
                        wname.as_ptr(),
                    )
                };
                let exists = last_error() == ERROR_ALREADY_EXISTS;
                let h = owned(h, "re-creating the mapping").expect("the existing section");
                assert!(exists, "{smaller}: the name is taken");
                let view = View::map(h).unwrap();
                assert_eq!(view.len(), size, "{smaller}: the section kept its size");
            }

            // A section is not a file: end-of-file calls on its handle fail.
            // SAFETY: as above.
            let section = unsafe { OpenFileMappingW(FILE_MAP_ALL_ACCESS, 0, wname.as_ptr()) };
            let section = owned(section, "opening the mapping by name").unwrap();
            // SAFETY: a valid handle (of the wrong kind, which is the point).
            assert_eq!(unsafe { SetEndOfFile(raw(&section)) }, 0);
            let eof = FILE_END_OF_FILE_INFO { EndOfFile: 0 };
            // SAFETY: a valid handle and an input structure of its size.
            let shrunk = unsafe {
                SetFileInformationByHandle(
                    raw(&section),
                    FileEndOfFileInfo,
                    (&eof as *const FILE_END_OF_FILE_INFO).cast(),
                    std::mem::size_of::<FILE_END_OF_FILE_INFO>() as u32,
                )
            };
            assert_eq!(shrunk, 0, "a section has no end of file to set");
            drop(section);

            // The whole region is still there on both sides.
            exchange(&mut server, &mut client, 2);
        }
    }

    /// Opens `path` for writing as an attacker would (sharing everything).
    fn open_for_writing(path: &str) -> std::os::windows::io::OwnedHandle {
        let wpath = wide(path);
        // SAFETY: a NUL-terminated path; the result is checked.
        let h = unsafe {
            CreateFileW(
                wpath.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_ATTRIBUTE_NORMAL,
                std::ptr::null_mut(),
            )
        };
        owned(h, "opening the raw file").expect("the file opens for writing")
    }

    #[test]
    fn the_raw_limit_file_cannot_be_shrunk_while_it_is_mapped() {
        let dir = std::env::temp_dir().join(format!("netipc-raw-shrink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("raw").to_string_lossy().into_owned();
        let a = RawShm::create(&path).unwrap();
        let b = RawShm::open(&path).unwrap();
        a.post(0, 1);
        b.wait(0, 1, Duration::from_secs(5)).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();

        let file = open_for_writing(&path);
        // SAFETY: a valid file handle; moves its pointer to 0.
        let moved = unsafe { SetFilePointerEx(raw(&file), 0, std::ptr::null_mut(), FILE_BEGIN) };
        assert_ne!(moved, 0);
        // SAFETY: a valid file handle.
        let cut = unsafe { SetEndOfFile(raw(&file)) };
        let cut_error = last_error();
        assert_eq!(cut, 0, "SetEndOfFile on a mapped file must fail");
        assert_eq!(cut_error, ERROR_USER_MAPPED_FILE);
        let eof = FILE_END_OF_FILE_INFO { EndOfFile: 0 };
        // SAFETY: a valid handle and an input structure of its size.
        let cut = unsafe {
            SetFileInformationByHandle(
                raw(&file),
                FileEndOfFileInfo,
                (&eof as *const FILE_END_OF_FILE_INFO).cast(),
                std::mem::size_of::<FILE_END_OF_FILE_INFO>() as u32,
            )
        };
        let cut_error = last_error();
        assert_eq!(cut, 0, "FileEndOfFileInfo on a mapped file must fail");
        assert_eq!(cut_error, ERROR_USER_MAPPED_FILE);
        drop(file);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        // Deleting the name (refused by Windows while the file is mapped,
        // allowed by wine) does not take the mapped pages away either.
        let wpath = wide(&path);
        // SAFETY: a NUL-terminated path.
        let _ = unsafe { DeleteFileW(wpath.as_ptr()) };

        // Both sides still work.
        b.post(1, 1);
        a.wait(1, 1, Duration::from_secs(5)).unwrap();
        a.post(0, 2);
        b.wait(0, 2, Duration::from_secs(5)).unwrap();
        drop((a, b));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
