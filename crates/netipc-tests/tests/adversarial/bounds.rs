//! Helpers of the memory-bound and authenticate-first cases: fake providers
//! and fake consumers that lie (written with the crate's raw L1 pieces),
//! lying messages, and running a case alone in a child process.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::transport::handshake::{HANDSHAKE_PACKET_MAX, hello_ack_message, hello_message};
use netipc::transport::testing::{RawConn, RawListener};
use netipc::wire::{
    ChunkHeader, HEADER_LEN, Header, Hello, HelloAck, MessageKind, Profiles, TransportStatus,
    control,
};

use crate::common::RunDir;

/// Every case runs under this watchdog (generous: wine starts processes
/// slowly).
pub const WATCHDOG: Duration = Duration::from_secs(150);

/// Runs `case` under the [`WATCHDOG`].
pub fn watchdog(case: impl FnOnce() + Send + 'static) {
    crate::common::watchdog(WATCHDOG, case);
}

/// Bytes a client or server may hold beyond its configured maximum during
/// one call or one attack: its session, strings, a few small buffers.
pub const SLACK: usize = 64 << 10;

/// 1 MiB, the default response ceiling of a client and the default request
/// ceiling of a managed server.
pub const MIB: u32 = 1 << 20;

/// Waits until `done` holds (polling); fails after a minute.
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A HELLO_ACK accepting the client on the baseline transport with the
/// given ceilings (payload bytes and packet size); item ceilings u32::MAX.
pub fn ack(ceiling: u32, packet_size: u32) -> HelloAck {
    HelloAck {
        server_supported_profiles: Profiles::BASELINE.bits(),
        intersection_profiles: Profiles::BASELINE.bits(),
        selected_profile: Profiles::BASELINE.bits(),
        agreed_max_request_payload_bytes: ceiling,
        agreed_max_request_batch_items: u32::MAX,
        agreed_max_response_payload_bytes: ceiling,
        agreed_max_response_batch_items: u32::MAX,
        agreed_packet_size: packet_size,
        session_id: 1,
        extensions: 0,
    }
}

/// The header of a response to `request` declaring `payload_len` bytes.
pub fn response(request: &Header, payload_len: u32) -> Header {
    Header::new(
        MessageKind::Response,
        request.code,
        request.message_id,
        payload_len,
    )
}

/// `header` followed by `body`, as one packet.
pub fn packet(header: &Header, body: &[u8]) -> Vec<u8> {
    [&header.to_bytes()[..], body].concat()
}

/// A continuation packet: `chunk` followed by `body`.
pub fn chunk_packet(chunk: &ChunkHeader, body: &[u8]) -> Vec<u8> {
    [&chunk.to_bytes()[..], body].concat()
}

/// What a fake provider does with one request: `false` closes the
/// connection.
pub type Answer = Box<dyn FnMut(&RawConn, &Header) -> bool + Send>;

/// A provider that answers the handshake with a fixed HELLO_ACK and every
/// request as its script says, however illegal; one connection at a time.
/// Stops (and removes its endpoint) on drop.
pub struct FakeProvider {
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FakeProvider {
    /// Binds `service` in `dir`; every client gets `ack` (status OK).
    pub fn start(
        dir: &RunDir,
        service: &str,
        ack: HelloAck,
        answer: impl FnMut(&RawConn, &Header) -> bool + Send + 'static,
    ) -> Self {
        let listener = RawListener::bind(dir.str(), service).expect("bind the fake provider");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let mut answer: Answer = Box::new(answer);
        let (s, r) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let Ok(conn) = listener.accept(Some(Duration::from_millis(50)), None) else {
                    continue;
                };
                serve_one(&conn, &ack, &s, &r, &mut answer);
            }
        });
        Self {
            stop,
            requests,
            thread: Some(thread),
        }
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve_one(
    conn: &RawConn,
    ack: &HelloAck,
    stop: &AtomicBool,
    requests: &AtomicUsize,
    answer: &mut Answer,
) {
    let mut buf = vec![0u8; 1 << 16];
    let Ok(n) = conn.recv(&mut buf, Some(Duration::from_secs(10))) else {
        return;
    };
    match Header::decode(&buf[..n]) {
        Ok(h) if h.kind == MessageKind::Control && h.code == control::HELLO => {}
        _ => return,
    }
    if conn
        .send(&hello_ack_message(TransportStatus::OK, ack))
        .is_err()
    {
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        let n = match conn.recv(&mut buf, Some(Duration::from_millis(50))) {
            Ok(n) => n,
            Err(Error::Timeout { .. }) => continue,
            Err(_) => return,
        };
        let Ok(request) = Header::decode(&buf[..n]) else {
            return;
        };
        requests.fetch_add(1, Ordering::SeqCst);
        if !answer(conn, &request) {
            return;
        }
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

/// A HELLO like a netipc client's, for a fake consumer to adjust.
pub fn hello(auth_token: u64) -> Hello {
    Hello {
        flags: netipc::wire::HELLO_FLAG_EXTENSIONS,
        supported_profiles: Profiles::BASELINE.bits(),
        preferred_profiles: 0,
        max_request_payload_bytes: 1024,
        max_request_batch_items: 1,
        max_response_payload_bytes: 1024,
        max_response_batch_items: 1,
        auth_token,
        packet_size: 65536,
    }
}

/// A fake consumer: connects to `service` and sends `hello`; returns the
/// connection, the reply's status and (for OK) the ack.
pub fn raw_handshake(
    dir: &RunDir,
    service: &str,
    hello: &Hello,
) -> (RawConn, TransportStatus, Option<HelloAck>) {
    let conn = RawConn::connect(dir.str(), service).expect("connect the fake consumer");
    conn.send(&hello_message(hello)).expect("send the HELLO");
    let mut reply = [0u8; HANDSHAKE_PACKET_MAX];
    let n = conn
        .recv(&mut reply, Some(Duration::from_secs(30)))
        .expect("the provider answers the HELLO");
    let header = Header::decode(&reply[..n]).expect("a HELLO_ACK header");
    assert_eq!(
        (header.kind, header.code),
        (MessageKind::Control, control::HELLO_ACK)
    );
    let ack = HelloAck::decode(&reply[HEADER_LEN..n]).ok();
    (conn, header.transport_status, ack)
}

/// The environment variable that makes a test binary run one case's body
/// (see [`isolated`]).
const CHILD: &str = "NETIPC_ADVERSARIAL_CHILD";

/// Runs `body` alone in a child process (this test binary, filtered to the
/// test `name`, e.g. `"memory::a_case"`), so that process-wide counters
/// (the heap meter, [`netipc::transport::testing::shm_provisions`]) see
/// nothing but this case. In the child, runs `body` under the watchdog.
pub fn isolated(name: &str, body: impl FnOnce() + Send + 'static) {
    if std::env::var(CHILD).is_ok_and(|v| v == name) {
        watchdog(body);
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the case's child process");
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let give_up = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: the child process of {name} did not finish within {WATCHDOG:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    // The child's own report (shown with --nocapture).
    eprint!("{stderr}");
    assert!(
        status.success() && stdout.contains("1 passed"),
        "{name} failed in its child process ({status}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}
