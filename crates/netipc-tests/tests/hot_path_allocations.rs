//! The data path allocates nothing per message once a session is warm:
//! a counting global allocator watches steady-state round trips on the
//! baseline transport and on shared memory.
//!
//! This file holds a single test so that no other test allocates while it
//! measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use netipc::transport::{ClientOptions, ClientSession, Listener, ServerOptions};
use netipc::wire::Profiles;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `rounds` echo round trips (single and batch) after a
/// warm-up, with the server in another thread.
fn steady_state_allocations(profiles: Profiles) -> usize {
    let dir = std::env::temp_dir().join(format!(
        "nipc-alloc-{}-{}",
        std::process::id(),
        profiles.bits()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let run_dir = dir.to_str().unwrap().to_owned();
    let server = ServerOptions {
        supported_profiles: profiles,
        preferred_profiles: profiles,
        max_request_payload_bytes: 8192,
        max_response_payload_bytes: 8192,
        ..ServerOptions::default()
    };
    let listener = Listener::bind(&run_dir, "alloc", &server).unwrap();
    let echo = std::thread::spawn(move || {
        let mut s = listener.accept(None, None).unwrap().handshake(1).unwrap();
        let mut scratch = [0u8; 8192];
        while let Ok(m) = s.recv(None, None) {
            let (h, n) = (m.header, m.payload.len());
            scratch[..n].copy_from_slice(m.payload);
            let result = if h.is_batch() {
                let items: [&[u8]; 4] = [
                    &scratch[..8],
                    &scratch[8..16],
                    &scratch[16..24],
                    &scratch[24..32],
                ];
                s.respond_batch(&h, items)
            } else {
                s.respond(&h, &scratch[..n])
            };
            if result.is_err() {
                break;
            }
        }
    });
    let client = ClientOptions {
        supported_profiles: profiles,
        preferred_profiles: profiles,
        max_request_payload_bytes: 8192,
        max_request_batch_items: 4,
        ..ClientOptions::default()
    };
    let mut c = ClientSession::connect(&run_dir, "alloc", &client).unwrap();
    assert_eq!(
        c.is_shm(),
        profiles & Profiles::SHM_ANY != Profiles::empty()
    );
    let payload = [7u8; 4000];
    let items: [&[u8]; 4] = [&[1; 8], &[2; 8], &[3; 8], &[4; 8]];
    let mut id = 0u64;
    let mut round = |c: &mut ClientSession| {
        id += 1;
        c.send_request(3, id, &payload).unwrap();
        assert_eq!(c.recv(None, None).unwrap().payload.len(), payload.len());
        id += 1;
        c.send_batch(1, id, items).unwrap();
        assert_eq!(c.recv(None, None).unwrap().header.item_count, 4);
    };
    for _ in 0..100 {
        round(&mut c);
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..2000 {
        round(&mut c);
    }
    let allocated = ALLOCATIONS.load(Ordering::SeqCst) - before;
    drop(c);
    echo.join().unwrap();
    let _ = std::fs::remove_dir_all(dir);
    allocated
}

#[test]
fn warm_sessions_do_not_allocate_per_message() {
    assert_eq!(
        steady_state_allocations(Profiles::BASELINE),
        0,
        "baseline transport"
    );
    assert_eq!(
        steady_state_allocations(Profiles::BASELINE | Profiles::SHM_HYBRID),
        0,
        "shared memory"
    );
}
