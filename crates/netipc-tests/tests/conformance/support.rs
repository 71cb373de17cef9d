//! Shared machinery of the conformance suite: backends, private run
//! directories, a watchdog, peer processes and small helpers.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use netipc::transport::{ClientOptions, ClientSession, Listener, ServerOptions, ServerSession};
use netipc::wire::Profiles;

/// One transport configuration the suite runs against.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    pub profiles: Profiles,
}

pub const BASELINE: Backend = Backend {
    profiles: Profiles::BASELINE,
};

/// Shared memory (Linux: SHM_HYBRID, spin then futex), with the baseline
/// transport carrying the handshake.
pub const SHM_HYBRID: Backend = Backend {
    profiles: Profiles::BASELINE.union(Profiles::SHM_HYBRID),
};

/// The other shared-memory bit (Linux: SHM_FUTEX, an alias of
/// SHM_HYBRID; Windows: SHM_BUSYWAIT).
pub const SHM_PROFILE_4: Backend = Backend {
    profiles: Profiles::BASELINE.union(Profiles::SHM_ALT),
};

/// Every case runs under this watchdog: a hang fails the test instead of
/// blocking the suite.
pub const WATCHDOG: Duration = Duration::from_secs(60);

pub fn run(backend: Backend, case: fn(&Backend)) {
    crate::common::watchdog(WATCHDOG, move || case(&backend));
}

pub use crate::common::RunDir;

pub fn server_options(b: &Backend) -> ServerOptions {
    ServerOptions {
        supported_profiles: b.profiles,
        preferred_profiles: b.profiles,
        max_request_payload_bytes: 1 << 16,
        max_response_payload_bytes: 1 << 16,
        ..ServerOptions::default()
    }
}

pub fn client_options(b: &Backend) -> ClientOptions {
    ClientOptions {
        supported_profiles: b.profiles,
        preferred_profiles: b.profiles,
        max_request_payload_bytes: 1 << 16,
        max_request_batch_items: 64,
        max_response_payload_bytes: 1 << 16,
        ..ClientOptions::default()
    }
}

pub const SHORT: Option<Duration> = Some(Duration::from_secs(10));

/// A listener plus a connected client and the server's half of that
/// session, with the given options.
pub fn pair_with(
    dir: &RunDir,
    server: &ServerOptions,
    client: &ClientOptions,
) -> (Listener, ClientSession, ServerSession) {
    let listener = Listener::bind(dir.str(), "svc", server).expect("bind");
    let (tx, rx) = mpsc::channel();
    let (run_dir, client) = (dir.str().to_owned(), *client);
    std::thread::spawn(move || {
        let _ = tx.send(ClientSession::connect(&run_dir, "svc", &client));
    });
    let session = listener
        .accept(SHORT, None)
        .expect("accept")
        .handshake(1)
        .expect("server handshake");
    let client = rx.recv().expect("client thread").expect("client connect");
    (listener, client, session)
}

pub fn pair(b: &Backend, dir: &RunDir) -> (Listener, ClientSession, ServerSession) {
    pair_with(dir, &server_options(b), &client_options(b))
}

/// Runs a server that echoes every request until the client leaves;
/// returns the listener (keep it alive) and the server thread.
pub fn echo_server(
    listener: Listener,
    sessions: usize,
) -> std::thread::JoinHandle<Vec<netipc::Error>> {
    std::thread::spawn(move || {
        let mut threads: Vec<std::thread::JoinHandle<netipc::Result<()>>> = Vec::new();
        for id in 1..=sessions as u64 {
            let incoming = listener.accept(SHORT, None).expect("accept");
            threads.push(std::thread::spawn(move || {
                let mut session = incoming.handshake(id)?;
                loop {
                    let m = session.recv(None, None)?;
                    let (h, p) = (m.header, m.payload.to_vec());
                    if h.is_batch() {
                        let items: Vec<Vec<u8>> = m_items(&h, &p);
                        session.respond_batch(&h, items.iter().map(Vec::as_slice))?;
                    } else {
                        session.respond(&h, &p)?;
                    }
                }
            }));
        }
        threads
            .into_iter()
            .map(|t| t.join().expect("session thread").unwrap_err())
            .collect()
    })
}

fn m_items(h: &netipc::wire::Header, payload: &[u8]) -> Vec<Vec<u8>> {
    netipc::wire::BatchView::new(payload, h.item_count)
        .expect("valid batch")
        .iter()
        .map(<[u8]>::to_vec)
        .collect()
}

/// A peer process (the `netipc-test-peer` helper binary), killed on drop.
pub struct Peer {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// Starts the helper and waits until it prints `expect`.
    pub fn start(
        mode: &str,
        dir: &RunDir,
        service: &str,
        profiles: Profiles,
        expect: &str,
    ) -> Self {
        let mut peer = Self::spawn(mode, dir, service, profiles);
        peer.expect(expect);
        peer
    }

    /// Starts the helper without waiting for it.
    pub fn spawn(mode: &str, dir: &RunDir, service: &str, profiles: Profiles) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netipc-test-peer"))
            .args([mode, dir.str(), service, &profiles.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start netipc-test-peer");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self { child, stdout }
    }

    /// Waits for the next line the peer prints.
    /// The helper's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn expect(&mut self, word: &str) {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read peer output");
        assert_eq!(line.trim(), word, "the peer did not reach {word}");
    }

    /// Kills the peer like `kill -9` and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the peer to exit on its own and returns whether it failed.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait for peer")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}
