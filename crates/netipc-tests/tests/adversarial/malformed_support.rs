//! Machinery of the malformed-message cases: the attacked provider with its
//! honest consumer and its resource baseline, a raw attacking consumer, a
//! fake provider for the mirror cases, and (Linux) raw access to a
//! session's shared-memory region.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::service::{
    ClientConfig, ClientState, HandlerError, IncrementClient, ManagedServer, RunningServer,
    ServerConfig, ServerStats,
};
use netipc::transport::framing::{FirstPacket, Limits, first_packet};
use netipc::transport::handshake::{
    ClientOffer, HANDSHAKE_PACKET_MAX, ServerOffer, SessionParams, client_handshake,
    hello_ack_message, hello_message, negotiate,
};
use netipc::transport::testing::{RawConn, RawListener};
use netipc::wire::{
    BatchBuilder, FLAG_BATCH, HEADER_LEN, Header, Hello, HelloAck, MessageKind, Method, Profiles,
    TransportStatus, batch_payload_len,
};

pub use crate::common::RunDir;

/// Every case runs under this watchdog.
pub const WATCHDOG: Duration = Duration::from_secs(150);
/// How long a case waits for something that must happen.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// The attacked provider's send timeout: a request that stops half way is
/// given up after it.
pub const SEND_TIMEOUT: Duration = Duration::from_millis(300);
/// The service every case attacks.
pub const SERVICE: &str = "inc";
/// The INCREMENT method code.
pub const INCREMENT: u16 = Method::Increment.code();
/// The value whose INCREMENT makes the attacked provider's handler panic
/// (a bug an attacker can trigger).
pub const PANIC_VALUE: u64 = 0xdead_dead_dead_dead;

/// Runs `case` under the [`WATCHDOG`].
pub fn guarded(case: impl FnOnce() + Send + 'static) {
    crate::common::watchdog(WATCHDOG, case);
}

/// Waits until `done` holds, polling; fails after [`PATIENCE`].
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An INCREMENT request payload.
pub fn increment(value: u64) -> Vec<u8> {
    value.to_ne_bytes().to_vec()
}

/// A single INCREMENT request message (header and payload).
pub fn request(message_id: u64, value: u64) -> Vec<u8> {
    message(
        Header::new(MessageKind::Request, INCREMENT, message_id, 8),
        &increment(value),
    )
}

/// `header` (with `payload_len` as given) followed by `payload`.
pub fn message(header: Header, payload: &[u8]) -> Vec<u8> {
    let mut out = header.to_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// A batch payload of INCREMENT requests for `values`.
pub fn batch(values: &[u64]) -> Vec<u8> {
    let len = batch_payload_len(values.iter().map(|_| 8)).expect("batch size");
    let mut out = vec![0u8; len];
    let mut b = BatchBuilder::new(&mut out, values.len() as u32).expect("batch");
    for v in values {
        b.push(&v.to_ne_bytes()).expect("item");
    }
    let n = b.finish().expect("finish");
    out.truncate(n);
    out
}

/// The header of a batch request of `items` items and `payload_len` bytes.
pub fn batch_header(message_id: u64, items: u32, payload_len: u32) -> Header {
    Header {
        flags: FLAG_BATCH,
        item_count: items,
        ..Header::new(MessageKind::Request, INCREMENT, message_id, payload_len)
    }
}

/// Sets directory entry `i` of a batch payload.
pub fn entry(payload: &mut [u8], i: usize, offset: u32, len: u32) {
    payload[8 * i..8 * i + 4].copy_from_slice(&offset.to_ne_bytes());
    payload[8 * i + 4..8 * i + 8].copy_from_slice(&len.to_ne_bytes());
}

/// Packet size the chunk cases agree on: 32 payload bytes per packet.
pub const SMALL_PACKET: u32 = 64;

// ---------------------------------------------------------------------------
// The attacked provider
// ---------------------------------------------------------------------------

/// What a provider holds for its endpoint, to compare with after an attack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    /// Shared-memory region files in the run directory.
    pub regions: Vec<String>,
    /// Linux: descriptors of this process that belong to the endpoint (the
    /// listening and accepted sockets, which carry the socket path, and
    /// files or directories under the run directory). `None` elsewhere.
    pub descriptors: Option<usize>,
    /// Linux: mappings of files in the run directory. `None` elsewhere.
    pub mappings: Option<usize>,
}

impl Resources {
    pub fn of(dir: &RunDir) -> Self {
        let mut regions: Vec<String> = dir
            .entries()
            .into_iter()
            .filter(|e| e.ends_with(".ipcshm"))
            .collect();
        regions.sort();
        Self {
            regions,
            descriptors: descriptors_under(dir),
            mappings: mappings_under(dir),
        }
    }
}

/// Linux: descriptors of this process that belong to `dir`'s endpoints.
/// Counted per run directory, so the cases running in parallel on other
/// threads of this process do not disturb each other.
#[cfg(target_os = "linux")]
fn descriptors_under(dir: &RunDir) -> Option<usize> {
    let root = dir.str();
    // Sockets bound (or accepted) on a path under the run directory.
    let unix = std::fs::read_to_string("/proc/net/unix").ok()?;
    let inodes: std::collections::HashSet<String> = unix
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let path = fields.get(7)?;
            path.starts_with(root).then(|| fields[6].to_owned())
        })
        .collect();
    let count = std::fs::read_dir("/proc/self/fd")
        .ok()?
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| {
            let t = target.to_string_lossy();
            match t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                Some(inode) => inodes.contains(inode),
                None => t.starts_with(root),
            }
        })
        .count();
    Some(count)
}

#[cfg(not(target_os = "linux"))]
fn descriptors_under(_dir: &RunDir) -> Option<usize> {
    None
}

/// Linux: mappings of this process of files under `dir`.
#[cfg(target_os = "linux")]
fn mappings_under(dir: &RunDir) -> Option<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    Some(maps.lines().filter(|l| l.contains(dir.str())).count())
}

#[cfg(not(target_os = "linux"))]
fn mappings_under(_dir: &RunDir) -> Option<usize> {
    None
}

/// A managed INCREMENT provider under attack, with an honest consumer that
/// connected before the attack, and what both held at that point.
///
/// The provider runs a single worker: a worker that panicked (outside a
/// handler, where nothing contains it) would leave nobody to serve the
/// honest consumer, so "still served" also proves "no worker died".
pub struct Provider {
    pub dir: RunDir,
    server: Option<RunningServer>,
    honest: IncrementClient,
    /// Server counters and resources with the honest consumer connected.
    pub baseline: ServerStats,
    pub resources: Resources,
    calls: u64,
}

impl Provider {
    /// Starts the provider (default profiles: shared memory and the
    /// baseline transport) and connects the honest consumer (default
    /// profiles too, so it uses shared memory).
    pub fn start() -> Self {
        let dir = RunDir::new();
        let config = ServerConfig {
            workers: 1,
            send_timeout: SEND_TIMEOUT,
            ..ServerConfig::default()
        };
        let server = ManagedServer::increment(dir.str(), SERVICE, &config, |v| {
            assert_ne!(
                v, PANIC_VALUE,
                "a handler bug the attacker triggers (expected)"
            );
            Ok::<u64, HandlerError>(v.wrapping_add(1))
        })
        .spawn()
        .expect("spawn the attacked provider");
        let mut honest = IncrementClient::new(dir.str(), SERVICE, &ClientConfig::default());
        let _ = honest.connect();
        assert_eq!(honest.status().state, ClientState::Ready, "honest consumer");
        let mut provider = Self {
            baseline: server.stats(),
            server: Some(server),
            honest,
            resources: Resources::of(&dir),
            dir,
            calls: 0,
        };
        provider.served("before the attack");
        provider.baseline = provider.stats();
        provider.resources = Resources::of(&provider.dir);
        provider
    }

    pub fn stats(&self) -> ServerStats {
        self.server.as_ref().expect("running").stats()
    }

    /// Asserts that the honest consumer gets a correct answer.
    pub fn served(&mut self, when: &str) {
        self.calls += 1;
        let value = 1000 + self.calls;
        match self.honest.call(value) {
            Ok(v) => assert_eq!(v, value + 1, "honest consumer {when}"),
            Err(e) => panic!("the honest consumer was not served {when}: {e}"),
        }
    }

    /// Waits until the provider is back to its baseline (only the honest
    /// session open, no connection waiting for its HELLO and, where
    /// countable, the same region files, descriptors and mappings as before
    /// the attack) and its counters moved from `before` as `counted` says;
    /// fails naming what differs after [`PATIENCE`].
    pub fn settled(&self, case: &str, before: &ServerStats, counted: Counted) {
        let give_up = Instant::now() + PATIENCE;
        loop {
            let (stats, res) = (self.stats(), Resources::of(&self.dir));
            let back = stats.sessions == self.baseline.sessions
                && stats.handshaking == 0
                && res == self.resources;
            let moved = counted.deltas(before, &stats);
            if back && moved == counted.expected() {
                return;
            }
            assert!(
                Instant::now() < give_up,
                "{case}: the provider did not return to its baseline with {counted:?} counted\n\
                 (handshake_failures, protocol_errors, failed_requests, send_timeouts, handler_panics) moved by {moved:?}\n\
                 now:    {stats:?}\n        {res:?}\nbefore: {:?}\n        {:?}",
                self.baseline,
                self.resources
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.honest.close();
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

/// Which counter of the provider an attack must move, and by how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A failed handshake (`handshake_failures`).
    Handshake,
    /// A session closed for a protocol violation (`protocol_errors`).
    Protocol,
    /// A request answered with an error status (`failed_requests`), the
    /// session kept.
    FailedRequest,
    /// A request answered with an error status and the session closed.
    FailedRequestClosed,
    /// A message stalled half way (`send_timeouts`).
    Stalled,
    /// The handler panicked (`handler_panics`, and the request failed).
    HandlerPanic,
    /// Nothing: the input is legal (or ignored by the rules).
    Nothing,
}

impl Counted {
    /// How (handshake_failures, protocol_errors, failed_requests,
    /// send_timeouts, handler_panics) must move.
    pub fn expected(self) -> [u64; 5] {
        match self {
            Self::Handshake => [1, 0, 0, 0, 0],
            Self::Protocol => [0, 1, 0, 0, 0],
            Self::FailedRequest | Self::FailedRequestClosed => [0, 0, 1, 0, 0],
            Self::Stalled => [0, 0, 0, 1, 0],
            Self::HandlerPanic => [0, 0, 1, 0, 1],
            Self::Nothing => [0; 5],
        }
    }

    /// How they moved between `before` and `after`.
    pub fn deltas(self, before: &ServerStats, after: &ServerStats) -> [u64; 5] {
        let d = |f: fn(&ServerStats) -> u64| f(after).wrapping_sub(f(before));
        [
            d(|s| s.handshake_failures),
            d(|s| s.protocol_errors),
            d(|s| s.failed_requests),
            d(|s| s.send_timeouts),
            d(|s| s.handler_panics),
        ]
    }
}

// ---------------------------------------------------------------------------
// The raw attacking consumer
// ---------------------------------------------------------------------------

/// A client offer as a netipc client makes it, before the case changes it.
pub fn offer(conn: &RawConn) -> ClientOffer {
    ClientOffer {
        supported_profiles: Profiles::BASELINE,
        max_request_batch_items: 16,
        ..ClientOffer::default()
    }
    .with_defaults(conn.default_packet_size())
}

/// A connected raw consumer after an honest handshake with `offer` as
/// `tweak` changes it.
pub struct Attacker {
    pub conn: RawConn,
    pub params: SessionParams,
}

impl Attacker {
    /// Connects to the provider in `dir` and runs the handshake by hand.
    pub fn session(dir: &RunDir, tweak: impl FnOnce(&mut ClientOffer)) -> Self {
        let conn = RawConn::connect(dir.str(), SERVICE).expect("raw connect");
        let mut offer = offer(&conn);
        tweak(&mut offer);
        conn.send(&hello_message(&offer.hello()))
            .expect("send HELLO");
        let mut ack = [0u8; HANDSHAKE_PACKET_MAX];
        let n = conn.recv(&mut ack, Some(PATIENCE)).expect("HELLO_ACK");
        let params = client_handshake(&ack[..n.min(ack.len())]).expect("accepted");
        Self { conn, params }
    }
}

/// Receives one message on `conn` with the session's limits (inbound:
/// responses when `client`, requests otherwise).
pub fn receive_message(
    conn: &RawConn,
    params: &SessionParams,
    client: bool,
) -> Result<(Header, Vec<u8>), Error> {
    let limits = if client {
        Limits {
            max_payload: params.max_response_payload_bytes,
            max_items: params.max_response_batch_items,
        }
    } else {
        Limits {
            max_payload: params.max_request_payload_bytes,
            max_items: params.max_request_batch_items,
        }
    };
    let mut packet = vec![0u8; params.packet_size as usize];
    let n = conn.recv(&mut packet, Some(PATIENCE))?;
    let first = first_packet(
        &packet[..n.min(packet.len())],
        &limits,
        None,
        params.packet_size,
    )?;
    match first {
        FirstPacket::Complete(h) => Ok((h, packet[HEADER_LEN..n].to_vec())),
        FirstPacket::Chunked(mut reassembly) => {
            let header = *reassembly.header();
            let mut payload = packet[HEADER_LEN..n].to_vec();
            while !reassembly.is_complete() {
                let n = conn.recv(&mut packet, Some(PATIENCE))?;
                let range = reassembly.accept(&packet[..n.min(packet.len())])?;
                payload.resize(range.end, 0);
                payload[range].copy_from_slice(&packet[HEADER_LEN..n]);
            }
            Ok((header, payload))
        }
    }
}

/// What the raw peer sees after its attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The connection is closed without any reply.
    Closed,
    /// The connection is closed without any reply once the provider's send
    /// timeout has passed (a message that stopped half way).
    Stalled,
    /// A HELLO_ACK with this (rejection) status, then the connection closes.
    Rejected(TransportStatus),
    /// A response with this error status, then the connection closes.
    RefusedThenClosed(TransportStatus),
    /// A response with this error status; the session stays usable.
    Refused(TransportStatus),
    /// An OK answer; the session stays usable.
    Answered,
    /// An OK answer (to the complete message), then the connection closes
    /// (because of what followed it).
    AnsweredThenClosed,
    /// Nothing pending; the session is usable.
    Usable,
}

/// Asserts that nothing but the end of the connection arrives on `conn`.
pub fn expect_closed(case: &str, conn: &RawConn) {
    let mut buf = vec![0u8; 1 << 16];
    match conn.recv(&mut buf, Some(PATIENCE)) {
        Err(Error::Disconnected) => {}
        Ok(n) => panic!("{case}: expected the connection to close, got a {n}-byte packet"),
        Err(e) => panic!("{case}: expected the connection to close, got {e}"),
    }
}

// ---------------------------------------------------------------------------
// The fake provider of the mirror cases
// ---------------------------------------------------------------------------

/// A provider played by hand: it accepts connections and runs `script` on
/// each (on its own thread) with the connection and its index.
pub struct FakeProvider {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

pub type FakeScript = Arc<dyn Fn(&RawConn, usize) + Send + Sync>;

impl FakeProvider {
    pub fn start(dir: &RunDir, script: FakeScript) -> Self {
        let listener = RawListener::bind(dir.str(), SERVICE).expect("bind the fake provider");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (s, a) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let mut sessions = Vec::new();
            while !s.load(Ordering::SeqCst) {
                let Ok(conn) = listener.accept(Some(Duration::from_millis(20)), None) else {
                    continue;
                };
                let index = a.fetch_add(1, Ordering::SeqCst);
                let script = script.clone();
                sessions.push(std::thread::spawn(move || script(&conn, index)));
            }
            drop(listener);
            // Sessions whose client is still connected end when it leaves
            // (or their script's patience ends); they are not waited for.
            for session in sessions {
                if session.is_finished() {
                    let _ = session.join();
                }
            }
        });
        Self {
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The HELLO a client sent, if the first packet is one.
pub fn read_hello(conn: &RawConn) -> Option<Hello> {
    let mut buf = [0u8; 512];
    let n = conn.recv(&mut buf, Some(PATIENCE)).ok()?;
    let packet = &buf[..n.min(buf.len())];
    Hello::decode(packet.get(HEADER_LEN..)?).ok()
}

/// The HELLO_ACK an honest provider would send for `hello` (baseline
/// only, 1024-byte payloads).
pub fn honest_ack(conn: &RawConn, hello: &Hello) -> HelloAck {
    let offer = ServerOffer {
        supported_profiles: Profiles::BASELINE,
        preferred_profiles: Profiles::empty(),
        max_request_payload_bytes: 1024,
        max_response_payload_bytes: 1024,
        auth_token: 0,
        packet_size: 0,
        extensions: 0,
    }
    .with_defaults(conn.default_packet_size());
    negotiate(hello, &offer, 1).expect("an honest client's HELLO")
}

/// Sends an OK HELLO_ACK carrying `ack`.
pub fn send_ack(conn: &RawConn, ack: &HelloAck) {
    let _ = conn.send(&hello_ack_message(TransportStatus::OK, ack));
}

/// Receives the client's next request on a session with `params`.
pub fn read_request(conn: &RawConn, params: &SessionParams) -> Option<(Header, Vec<u8>)> {
    receive_message(conn, params, false).ok()
}

/// The session parameters a fake provider agreed in `ack`.
pub fn params_of(ack: &HelloAck) -> SessionParams {
    client_handshake(&hello_ack_message(TransportStatus::OK, ack)).expect("a valid ack")
}

/// Waits until the client on `conn` goes away (or the patience ends).
pub fn linger(conn: &RawConn) {
    let mut buf = [0u8; 256];
    while conn.recv(&mut buf, Some(PATIENCE)).is_ok() {}
}

/// An honest INCREMENT provider at the fake provider's endpoint, for the
/// recovery half of a mirror case. Binding is retried while the endpoint
/// is still taken (on Windows a pipe name lives until the fake provider's
/// last session has let go of its instance).
pub fn honest_provider(dir: &RunDir, profiles: Profiles) -> RunningServer {
    let config = ServerConfig {
        supported_profiles: profiles,
        ..ServerConfig::default()
    };
    let give_up = Instant::now() + PATIENCE;
    loop {
        let server = ManagedServer::increment(dir.str(), SERVICE, &config, |v| {
            Ok::<u64, HandlerError>(v + 1)
        });
        match server.spawn() {
            Ok(running) => return running,
            Err(Error::AddressInUse { .. }) if Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("spawn the honest provider: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Raw shared memory (Linux)
// ---------------------------------------------------------------------------

/// A session region mapped by the test itself, to corrupt it as a peer
/// could (the layout of transport-posix.md B.4).
#[cfg(target_os = "linux")]
pub mod region {
    use std::os::fd::AsFd;
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};
    use rustix::thread::futex;

    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const REQ_OFFSET: usize = 16;
    pub const REQ_CAPACITY: usize = 20;
    pub const RESP_OFFSET: usize = 24;
    pub const RESP_CAPACITY: usize = 28;
    pub const REQ_SEQ: usize = 32;
    pub const RESP_SEQ: usize = 40;
    pub const REQ_LEN: usize = 48;
    pub const RESP_LEN: usize = 52;
    pub const REQ_SIGNAL: usize = 56;
    pub const RESP_SIGNAL: usize = 60;
    /// The region header's size (and the request area's offset).
    pub const HEADER: usize = 64;

    /// One direction of a region, as its writer sees it.
    #[derive(Debug, Clone, Copy)]
    pub struct Lane {
        pub area: usize,
        pub capacity: usize,
        pub seq: usize,
        pub len: usize,
        pub signal: usize,
    }

    /// A read-write shared mapping of a region file.
    pub struct Region {
        ptr: NonNull<u8>,
        len: usize,
        /// The lanes as the header said when the region was mapped.
        pub request: Lane,
        pub response: Lane,
    }

    // SAFETY: plain shared memory, accessed through atomics and byte
    // copies only; the pointer is valid until drop.
    unsafe impl Send for Region {}

    impl Region {
        /// Maps the region file at `path` (created by its provider).
        pub fn open(path: &str) -> Self {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap_or_else(|e| panic!("open the region {path}: {e}"));
            let len = file.metadata().expect("region size").len() as usize;
            Self::map(&file, len)
        }

        /// Creates a region file at `path` as a provider would (header and
        /// zeroed areas for 1024-byte payloads) and maps it.
        pub fn create(path: &str) -> Self {
            let capacity = 1088; // align64(32 + 1024)
            let len = HEADER + 2 * capacity;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
                .unwrap_or_else(|e| panic!("create the region {path}: {e}"));
            file.set_len(len as u64).expect("size the region");
            let region = Self::map(&file, len);
            region.u32(MAGIC).store(0x4e53_484d, Ordering::Relaxed);
            region.write(VERSION, &3u16.to_ne_bytes());
            region.write(VERSION + 2, &(HEADER as u16).to_ne_bytes());
            region.u32(8).store(std::process::id(), Ordering::Relaxed);
            region.u32(12).store(1, Ordering::Relaxed);
            region
                .u32(REQ_OFFSET)
                .store(HEADER as u32, Ordering::Relaxed);
            region
                .u32(REQ_CAPACITY)
                .store(capacity as u32, Ordering::Relaxed);
            region
                .u32(RESP_OFFSET)
                .store((HEADER + capacity) as u32, Ordering::Relaxed);
            region
                .u32(RESP_CAPACITY)
                .store(capacity as u32, Ordering::Relaxed);
            Self::map(&file, len)
        }

        fn map(file: &std::fs::File, len: usize) -> Self {
            // SAFETY: a fresh shared mapping of `len` bytes of the file at an
            // address the kernel chooses; nothing else refers to it.
            let ptr = unsafe {
                mmap(
                    std::ptr::null_mut(),
                    len,
                    ProtFlags::READ | ProtFlags::WRITE,
                    MapFlags::SHARED,
                    file.as_fd(),
                    0,
                )
                .expect("map the region")
            };
            let ptr = NonNull::new(ptr.cast::<u8>()).expect("mapped");
            let mut region = Self {
                ptr,
                len,
                request: Lane {
                    area: 0,
                    capacity: 0,
                    seq: REQ_SEQ,
                    len: REQ_LEN,
                    signal: REQ_SIGNAL,
                },
                response: Lane {
                    area: 0,
                    capacity: 0,
                    seq: RESP_SEQ,
                    len: RESP_LEN,
                    signal: RESP_SIGNAL,
                },
            };
            let field = |r: &Self, at| r.u32(at).load(Ordering::Relaxed) as usize;
            region.request.area = field(&region, REQ_OFFSET);
            region.request.capacity = field(&region, REQ_CAPACITY);
            region.response.area = field(&region, RESP_OFFSET);
            region.response.capacity = field(&region, RESP_CAPACITY);
            region
        }

        /// The u32 field at `at`.
        pub fn u32(&self, at: usize) -> &AtomicU32 {
            assert!(at % 4 == 0 && at + 4 <= self.len);
            // SAFETY: in bounds and aligned (the mapping is page aligned);
            // lives as long as `self`; accessed atomically only.
            unsafe { &*self.ptr.as_ptr().add(at).cast::<AtomicU32>() }
        }

        /// The u64 field at `at`.
        pub fn u64(&self, at: usize) -> &AtomicU64 {
            assert!(at % 8 == 0 && at + 8 <= self.len);
            // SAFETY: as in `u32`.
            unsafe { &*self.ptr.as_ptr().add(at).cast::<AtomicU64>() }
        }

        /// Copies `bytes` to `at`.
        pub fn write(&self, at: usize, bytes: &[u8]) {
            assert!(at + bytes.len() <= self.len);
            // SAFETY: in bounds; a byte copy into shared memory the peer
            // may read at the same time (as the transports do).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    self.ptr.as_ptr().add(at),
                    bytes.len(),
                );
            }
        }

        /// Copies `len` bytes from `at`.
        pub fn read(&self, at: usize, len: usize) -> Vec<u8> {
            assert!(at + len <= self.len);
            let mut out = vec![0u8; len];
            // SAFETY: in bounds; see `write`.
            unsafe {
                std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(at), out.as_mut_ptr(), len);
            }
            out
        }

        /// Publishes `bytes` in `lane` with the given length and sequence
        /// step, then signals the reader as a reference peer does.
        pub fn publish_raw(&self, lane: Lane, bytes: &[u8], len: u32, seq_step: u64) {
            self.write(lane.area, bytes);
            self.u32(lane.len).store(len, Ordering::Release);
            self.u64(lane.seq).fetch_add(seq_step, Ordering::Release);
            self.signal(lane);
        }

        /// Publishes `bytes` correctly.
        pub fn publish(&self, lane: Lane, bytes: &[u8]) {
            self.publish_raw(lane, bytes, bytes.len() as u32, 1);
        }

        /// Bumps the lane's signal word and wakes every waiter.
        pub fn signal(&self, lane: Lane) {
            let signal = self.u32(lane.signal);
            signal.fetch_add(1, Ordering::Release);
            let _ = futex::wake(signal, futex::Flags::empty(), i32::MAX as u32);
        }

        /// Waits until `lane`'s sequence passes `seen` and returns the new
        /// sequence and the message (`None` after `timeout`).
        pub fn wait(&self, lane: Lane, seen: u64, timeout: Duration) -> Option<(u64, Vec<u8>)> {
            let give_up = Instant::now() + timeout;
            loop {
                let seq = self.u64(lane.seq).load(Ordering::Acquire);
                if seq > seen {
                    let len =
                        (self.u32(lane.len).load(Ordering::Acquire) as usize).min(lane.capacity);
                    return Some((seq, self.read(lane.area, len)));
                }
                if Instant::now() > give_up {
                    return None;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    impl Drop for Region {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `map`, unmapped once.
            let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}
