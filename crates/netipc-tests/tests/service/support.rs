//! Shared machinery of the L2 suite: the watchdog, private run
//! directories, a scriptable raw L1 server that records what it receives,
//! a gate for handlers that must block, and the helper peer process.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::service::{
    ClientConfig, HandlerError, IncrementClient, ManagedServer, RunningServer, ServerConfig,
};
use netipc::transport::handshake::SessionParams;
use netipc::transport::{Interrupt, Listener, ServerOptions};
use netipc::wire::{Header, Profiles, TransportStatus};

/// Every test runs under this watchdog: a hang fails the test instead of
/// blocking the suite. Generous because wine starts processes slowly.
pub const WATCHDOG: Duration = Duration::from_secs(150);

/// How long a test waits for something that must happen (a connection, a
/// handler being entered). Only reached when the test is failing.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// How long a test waits to be sure that something does NOT happen (no
/// connection attempt, no further request).
pub const QUIET: Duration = Duration::from_millis(300);

pub use crate::common::{RunDir, client_config, server_config};

/// Runs `case` under the [`WATCHDOG`].
pub fn watchdog(case: impl FnOnce() + Send + 'static) {
    crate::common::watchdog(WATCHDOG, case);
}

/// Baseline transport only, on both sides.
pub const BASELINE: Profiles = Profiles::BASELINE;

/// An INCREMENT managed server answering `value + 1`.
pub fn increment_server(dir: &RunDir, service: &str, config: &ServerConfig) -> RunningServer {
    ManagedServer::increment(dir.str(), service, config, |v| {
        Ok::<u64, HandlerError>(v + 1)
    })
    .spawn()
    .expect("spawn the increment server")
}

/// A connected INCREMENT client.
pub fn ready_increment_client(
    dir: &RunDir,
    service: &str,
    config: &ClientConfig,
) -> IncrementClient {
    let mut client = IncrementClient::new(dir.str(), service, config);
    client.connect().unwrap();
    assert!(client.ready(), "client connected: {:?}", client.status());
    client
}

/// Waits until `done` holds, polling; fails after [`PATIENCE`]. For
/// conditions no event announces (a server thread noticing a closed
/// session).
pub fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Asserts that nobody connects to `listener` (a client that had tried
/// would be queued there).
pub fn assert_no_connection(listener: &Listener) {
    match listener.accept(Some(QUIET), None) {
        Err(Error::Timeout { .. }) => {}
        Ok(_) => panic!("a connection was attempted"),
        Err(e) => panic!("accept failed: {e}"),
    }
}

/// A counter shared between a handler and the test.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicUsize>);

impl Counter {
    pub fn bump(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A gate a handler can wait at, and the test can open; it also counts
/// and announces the handlers that reached it.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<GateState>, Condvar)>);

#[derive(Default)]
struct GateState {
    open: bool,
    entered: usize,
}

impl Gate {
    /// Called by a handler: announces itself, then waits until the gate is
    /// opened (at most [`PATIENCE`], so a failing test cannot wedge a
    /// server thread forever).
    pub fn pass(&self) {
        let (lock, cv) = &*self.0;
        let mut s = lock.lock().unwrap();
        s.entered += 1;
        cv.notify_all();
        let give_up = Instant::now() + PATIENCE;
        while !s.open && Instant::now() < give_up {
            s = cv.wait_timeout(s, PATIENCE).unwrap().0;
        }
    }

    /// Waits until `n` handlers reached the gate.
    pub fn wait_entered(&self, n: usize) {
        let (lock, cv) = &*self.0;
        let mut s = lock.lock().unwrap();
        let give_up = Instant::now() + PATIENCE;
        while s.entered < n {
            assert!(Instant::now() < give_up, "no handler reached the gate");
            s = cv.wait_timeout(s, PATIENCE).unwrap().0;
        }
    }

    pub fn entered(&self) -> usize {
        self.0.0.lock().unwrap().entered
    }

    pub fn open(&self) {
        let (lock, cv) = &*self.0;
        lock.lock().unwrap().open = true;
        cv.notify_all();
    }
}

/// One request a [`RawServer`] received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Index of the connection it came on (0 = first accepted).
    pub conn: usize,
    pub header: Header,
    pub payload: Vec<u8>,
}

/// What a [`RawServer`] does with a request.
pub enum Action {
    /// An OK response with this payload (header from the request).
    Respond(Vec<u8>),
    /// An OK batch response with these items.
    RespondBatch(Vec<Vec<u8>>),
    /// Exactly this header (kind RESPONSE) and payload.
    Send(Header, Vec<u8>),
    /// An empty response with this status.
    Status(TransportStatus),
    /// Close the session without answering.
    Close,
    /// Never answer; wait for the next request or the client leaving.
    Ignore,
}

/// A server written with the L1 API that answers each request as a script
/// says, one session at a time, and records everything it receives.
pub struct RawServer {
    stop: Arc<Interrupt>,
    thread: Option<JoinHandle<()>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    sessions: Arc<Mutex<Vec<SessionParams>>>,
    accepted: Arc<AtomicUsize>,
}

pub type Script = Box<dyn FnMut(&Seen) -> Action + Send>;

impl RawServer {
    /// Binds `service` in `dir` with `options` and serves with `script`.
    pub fn start(
        dir: &RunDir,
        service: &str,
        options: ServerOptions,
        script: impl FnMut(&Seen) -> Action + Send + 'static,
    ) -> Self {
        let listener = Listener::bind(dir.str(), service, &options).expect("bind raw server");
        let stop = Arc::new(Interrupt::new().expect("interrupt"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let log = Log {
            seen: seen.clone(),
            sessions: sessions.clone(),
            accepted: accepted.clone(),
        };
        let s = stop.clone();
        let mut script: Script = Box::new(script);
        let thread = std::thread::spawn(move || serve(&listener, &options, &s, &log, &mut script));
        Self {
            stop,
            thread: Some(thread),
            seen,
            sessions,
            accepted,
        }
    }

    /// Connections accepted so far (including failed handshakes).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The parameters of every session handshaken so far.
    pub fn sessions(&self) -> Vec<SessionParams> {
        self.sessions.lock().unwrap().clone()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.raise();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Options of a raw server like a managed server with `profiles` (0: the
/// library default, baseline plus shared memory) would use at first
/// (1024-byte payloads).
pub fn raw_options(profiles: Profiles) -> ServerOptions {
    let supported = if profiles == Profiles::empty() {
        netipc::service::DEFAULT_PROFILES
    } else {
        profiles
    };
    ServerOptions {
        supported_profiles: supported,
        preferred_profiles: supported & Profiles::SHM_HYBRID,
        ..ServerOptions::default()
    }
}

struct Log {
    seen: Arc<Mutex<Vec<Seen>>>,
    sessions: Arc<Mutex<Vec<SessionParams>>>,
    accepted: Arc<AtomicUsize>,
}

fn serve(
    listener: &Listener,
    options: &ServerOptions,
    stop: &Interrupt,
    log: &Log,
    script: &mut Script,
) {
    for conn in 0.. {
        let incoming = match listener.accept(None, Some(stop)) {
            Ok(i) => i,
            Err(Error::Interrupted) => return,
            Err(_) => continue,
        };
        log.accepted.fetch_add(1, Ordering::SeqCst);
        let Ok(mut session) = incoming.handshake_with(conn as u64 + 1, options, Some(stop)) else {
            continue;
        };
        log.sessions.lock().unwrap().push(*session.params());
        loop {
            let (header, payload) = match session.recv(None, Some(stop)) {
                Ok(m) => (m.header, m.payload.to_vec()),
                Err(Error::Interrupted) => return,
                Err(_) => break,
            };
            let request = Seen {
                conn,
                header,
                payload,
            };
            let action = script(&request);
            log.seen.lock().unwrap().push(request);
            let sent = match action {
                Action::Respond(p) => session.respond(&header, &p),
                Action::RespondBatch(items) => {
                    session.respond_batch(&header, items.iter().map(Vec::as_slice))
                }
                Action::Send(h, p) => session.send(&h, &p),
                Action::Status(s) => session.respond_status(&header, s),
                Action::Close => break,
                Action::Ignore => Ok(()),
            };
            if sent.is_err() {
                break;
            }
        }
    }
}

/// A script answering INCREMENT requests (single and batch) correctly.
pub fn answer_increment(seen: &Seen) -> Action {
    let value = |p: &[u8]| netipc::codec::decode_increment(p).expect("increment request") + 1;
    if seen.header.is_batch() {
        let items = netipc::wire::BatchView::new(&seen.payload, seen.header.item_count)
            .expect("batch request")
            .iter()
            .map(|item| value(item).to_ne_bytes().to_vec())
            .collect();
        Action::RespondBatch(items)
    } else {
        Action::Respond(value(&seen.payload).to_ne_bytes().to_vec())
    }
}

/// The helper peer process (`netipc-test-peer`), killed on drop.
pub struct Peer {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// Starts `netipc-test-peer MODE RUN_DIR SERVICE PROFILES TAG` and waits
    /// until it prints `ready`.
    pub fn start(mode: &str, dir: &RunDir, service: &str, profiles: Profiles, tag: u64) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netipc-test-peer"))
            .args([
                mode,
                dir.str(),
                service,
                &profiles.to_string(),
                &tag.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start netipc-test-peer");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut peer = Self { child, stdout };
        let mut line = String::new();
        peer.stdout.read_line(&mut line).expect("read peer output");
        assert_eq!(line.trim(), "ready", "the peer did not start ({mode})");
        peer
    }

    /// Kills the peer like `kill -9` and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}
