//! Authenticate before work: a HELLO whose auth token or limits the
//! provider refuses gets no shared-memory file, mapping or buffer sized by
//! what it proposed, and the provider's statistics show the refusals.
//!
//! Each case runs alone in a child process, so that the process-wide count
//! of shared-memory provisions
//! ([`shm_provisions`](netipc::transport::testing::shm_provisions)) sees
//! nothing but this case. On Linux the run directory is also watched with
//! inotify, which reports every file created in it, however briefly.

use netipc::service::{
    ClientConfig, HandlerError, IncrementClient, ManagedServer, RunningServer, ServerConfig,
};
use netipc::transport::testing::shm_provisions;
use netipc::wire::{Hello, Profiles, TransportStatus};

use crate::bounds::{MIB, eventually, hello, isolated, raw_handshake};
use crate::common::RunDir;

const TOKEN: u64 = 0x5EC2_E7A1_0000_0001;
const WRONG: u64 = 0xBAD0_0000_0000_0002;

/// A managed INCREMENT provider with the default profiles (baseline and
/// shared memory, preferred) and auth token [`TOKEN`].
fn provider(dir: &RunDir) -> RunningServer {
    let config = ServerConfig {
        auth_token: TOKEN,
        ..ServerConfig::default()
    };
    ManagedServer::increment(dir.str(), "inc", &config, |v| {
        Ok::<u64, HandlerError>(v + 1)
    })
    .spawn()
    .expect("spawn the provider")
}

/// A HELLO asking for shared memory with a 1 MiB request area.
fn shm_hello(auth_token: u64) -> Hello {
    Hello {
        supported_profiles: (Profiles::BASELINE | Profiles::SHM_HYBRID | Profiles::SHM_ALT).bits(),
        preferred_profiles: Profiles::SHM_HYBRID.bits(),
        max_request_payload_bytes: MIB,
        ..hello(auth_token)
    }
}

/// An honest consumer after the attack: it gets a shared-memory session
/// (one provision, one region) and is served.
fn honest_consumer_is_served(dir: &RunDir, watch: &RegionWatch, provisions_before: u64) {
    let config = ClientConfig {
        auth_token: TOKEN,
        ..ClientConfig::default()
    };
    let mut client = IncrementClient::new(dir.str(), "inc", &config);
    let _ = client.connect();
    assert!(client.ready(), "{:?}", client.status());
    assert!(client.session_info().expect("connected").shared_memory);
    assert_eq!(client.call(1).expect("served"), 2);
    assert_eq!(shm_provisions(), provisions_before + 1);
    watch.expect_regions(1, "the honest consumer's session");
}

#[test]
fn wrong_token_hellos_create_no_shared_memory() {
    isolated(
        "auth_first::wrong_token_hellos_create_no_shared_memory",
        || {
            let dir = RunDir::new();
            let server = provider(&dir);
            let watch = RegionWatch::new(&dir);
            let before = shm_provisions();
            let attempts = 64;
            for _ in 0..attempts {
                let (_conn, status, _) = raw_handshake(&dir, "inc", &shm_hello(WRONG));
                assert_eq!(status, TransportStatus::AUTH_FAILED);
            }
            assert_eq!(shm_provisions(), before, "no region was provisioned");
            watch.expect_regions(0, "HELLOs with a wrong auth token");
            eventually("the refusals are counted", || {
                server.stats().handshake_failures == attempts
            });
            let stats = server.stats();
            assert_eq!(stats.auth_failures, attempts, "{stats:?}");
            assert_eq!(stats.sessions_opened, 0, "{stats:?}");
            honest_consumer_is_served(&dir, &watch, before);
            server.stop();
        },
    );
}

#[test]
fn an_over_limit_proposal_is_refused_before_any_region_appears() {
    isolated(
        "auth_first::an_over_limit_proposal_is_refused_before_any_region_appears",
        || {
            let dir = RunDir::new();
            let server = provider(&dir);
            let watch = RegionWatch::new(&dir);
            let before = shm_provisions();
            // The right token and a 4 GiB request area (the provider takes
            // at most 1 MiB): LIMIT_EXCEEDED.
            let absurd = Hello {
                max_request_payload_bytes: u32::MAX,
                max_request_batch_items: u32::MAX,
                packet_size: u32::MAX,
                ..shm_hello(TOKEN)
            };
            let (_conn, status, _) = raw_handshake(&dir, "inc", &absurd);
            assert_eq!(status, TransportStatus::LIMIT_EXCEEDED);
            // The same with a wrong token: the token is checked first.
            let (_conn, status, _) = raw_handshake(
                &dir,
                "inc",
                &Hello {
                    auth_token: WRONG,
                    ..absurd
                },
            );
            assert_eq!(status, TransportStatus::AUTH_FAILED);
            assert_eq!(shm_provisions(), before, "no region was provisioned");
            watch.expect_regions(0, "over-limit proposals");
            eventually("the refusals are counted", || {
                server.stats().handshake_failures == 2
            });
            assert_eq!(server.stats().auth_failures, 1);
            honest_consumer_is_served(&dir, &watch, before);
            server.stop();
        },
    );
}

/// Watches a run directory for region files (`*.ipcshm`) being created.
/// Linux only (inotify); elsewhere the provision count is the evidence.
struct RegionWatch {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::OwnedFd,
}

impl RegionWatch {
    #[cfg(target_os = "linux")]
    fn new(dir: &RunDir) -> Self {
        use rustix::fs::inotify::{CreateFlags, WatchFlags, add_watch, init};
        let fd = init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).expect("inotify");
        add_watch(&fd, dir.str(), WatchFlags::CREATE | WatchFlags::MOVED_TO)
            .expect("watch the run directory");
        Self { fd }
    }

    #[cfg(not(target_os = "linux"))]
    fn new(_: &RunDir) -> Self {
        Self {}
    }

    /// Asserts that exactly `n` region files were created since the last
    /// call (on Linux).
    #[cfg(target_os = "linux")]
    fn expect_regions(&self, n: usize, during: &str) {
        use rustix::fs::inotify::Reader;
        let mut buf = [std::mem::MaybeUninit::uninit(); 4096];
        let mut reader = Reader::new(&self.fd, &mut buf);
        let mut regions = Vec::new();
        loop {
            match reader.next() {
                Ok(event) => {
                    let name = event
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if name.ends_with(".ipcshm") {
                        regions.push(name);
                    }
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => panic!("reading inotify events: {e}"),
            }
        }
        assert_eq!(
            regions.len(),
            n,
            "region files created during {during}: {regions:?}"
        );
    }

    #[cfg(not(target_os = "linux"))]
    fn expect_regions(&self, _: usize, _: &str) {}
}
