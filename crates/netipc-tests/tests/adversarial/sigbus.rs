//! No SIGBUS, ever: another process truncates, shrinks or regrows a
//! session's region file (`truncate -s 0 <run_dir>/<service>-<session>.ipcshm`).
//!
//! The test process is both the provider and its consumers, so a SIGBUS
//! that got through would kill the test binary. Each case asserts that the
//! attacked session ends with `ShmRegionLost` naming its file, that the
//! other consumer keeps being served, that the attacked consumer's next
//! session works (with a new region), and that the region files and the
//! provider's session count return to their baseline.
//!
//! The handler's chaining (a SIGBUS that is not ours still kills, a
//! previous handler is still called) runs in child processes: the test
//! binary started again with [`CHILD`] set.
#![cfg(target_os = "linux")]

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use netipc::Error;
use netipc::codec::{decode_string_reverse, encode_string_reverse, string_reverse_len};
use netipc::service::{
    ClientConfig, ClientState, ManagedServer, RunningServer, ServerConfig, StringReverseClient,
};
use netipc::transport::names::shm_region_file_name;
use netipc::transport::{ClientOptions, ClientSession};
use netipc::wire::{Method, Profiles, TransportStatus};

use crate::common::{RunDir, watchdog};

const WATCHDOG: Duration = Duration::from_secs(120);
/// How long a case waits for something that must happen.
const PATIENCE: Duration = Duration::from_secs(30);
const SERVICE: &str = "rev";
/// Payload sizes of every session: regions of several pages.
const MAX_PAYLOAD: u32 = 16 * 1024;
/// Messages long enough to reach past the first page of their area.
const TEXT_LEN: usize = 6000;
/// A request starting with this waits at the test's gate in the handler.
const GATED: &[u8] = b"gate";

/// How the attacker changes the file.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// `truncate -s 0`.
    Zero,
    /// Down to a few bytes past the 64-byte header: the header page
    /// stays, the areas past it go.
    PastHeader,
    /// Down to zero and back to the old size: no fault, all zeros.
    Regrow,
}

const CUTS: [Cut; 3] = [Cut::Zero, Cut::PastHeader, Cut::Regrow];

fn cut(path: &str, how: Cut) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the region file as the attacker");
    let size = file.metadata().expect("stat the region").len();
    match how {
        Cut::Zero => file.set_len(0),
        Cut::PastHeader => file.set_len(72),
        Cut::Regrow => file.set_len(0).and_then(|()| file.set_len(size)),
    }
    .expect("truncate the region file");
}

/// A gate the handler waits at until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<(bool, usize)>, Condvar)>);

impl Gate {
    fn pass(&self) {
        let (lock, cv) = &*self.0;
        let mut s = lock.lock().unwrap();
        s.1 += 1;
        cv.notify_all();
        let give_up = Instant::now() + PATIENCE;
        while !s.0 && Instant::now() < give_up {
            s = cv.wait_timeout(s, PATIENCE).unwrap().0;
        }
    }

    fn wait_entered(&self, n: usize) {
        let (lock, cv) = &*self.0;
        let mut s = lock.lock().unwrap();
        let give_up = Instant::now() + PATIENCE;
        while s.1 < n {
            assert!(Instant::now() < give_up, "no handler reached the gate");
            s = cv.wait_timeout(s, PATIENCE).unwrap().0;
        }
    }

    fn open(&self) {
        let (lock, cv) = &*self.0;
        lock.lock().unwrap().0 = true;
        cv.notify_all();
    }
}

/// A STRING_REVERSE provider whose handler waits at the gate for gated
/// requests, in a private run directory.
struct Rig {
    dir: RunDir,
    server: Option<RunningServer>,
    gate: Gate,
}

impl Rig {
    fn new() -> Self {
        let dir = RunDir::new();
        let gate = Gate::default();
        let handler_gate = gate.clone();
        let server = ManagedServer::string_reverse(
            dir.str(),
            SERVICE,
            &ServerConfig {
                max_response_payload_bytes: MAX_PAYLOAD,
                ..ServerConfig::default()
            },
            move |text, out| {
                if text.starts_with(GATED) {
                    handler_gate.pass();
                }
                out.extend(text.iter().rev());
                Ok(())
            },
        )
        .spawn()
        .expect("spawn the provider");
        Self {
            dir,
            server: Some(server),
            gate,
        }
    }

    fn sessions(&self) -> usize {
        self.server.as_ref().unwrap().stats().sessions
    }

    fn regions(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .dir
            .entries()
            .into_iter()
            .filter(|e| e.ends_with(".ipcshm"))
            .collect();
        names.sort();
        names
    }

    /// Waits until the provider holds `sessions` sessions and the run
    /// directory `sessions` region files.
    fn settles_at(&self, sessions: usize) {
        let give_up = Instant::now() + PATIENCE;
        while self.sessions() != sessions || self.regions().len() != sessions {
            assert!(
                Instant::now() < give_up,
                "expected {sessions} sessions and regions, have {} sessions and regions {:?}",
                self.sessions(),
                self.regions()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn consumer(&self) -> Consumer {
        Consumer::connect(&self.dir)
    }

    fn l2_client(&self) -> StringReverseClient {
        let mut client = StringReverseClient::new(
            self.dir.str(),
            SERVICE,
            &ClientConfig {
                max_request_payload_bytes: MAX_PAYLOAD,
                max_response_payload_bytes: MAX_PAYLOAD,
                ..ClientConfig::default()
            },
        );
        let _ = client.connect();
        assert_eq!(client.status().state, ClientState::Ready, "L2 connect");
        assert!(client.session_info().unwrap().shared_memory);
        client
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.gate.open();
        if let Some(server) = self.server.take() {
            server.stop();
        }
        if !std::thread::panicking() {
            assert!(self.dir.is_empty(), "left behind: {:?}", self.dir.entries());
        }
    }
}

/// A consumer on its own L1 session, so that the error that ends the
/// session is seen as it is (an L2 client would reconnect at once).
struct Consumer {
    session: ClientSession,
    region: String,
    next_id: u64,
}

fn text(tag: &[u8]) -> Vec<u8> {
    let mut t = tag.to_vec();
    t.extend((0..TEXT_LEN).map(|i| b'a' + (i % 26) as u8));
    t
}

fn reversed(t: &[u8]) -> Vec<u8> {
    t.iter().rev().copied().collect()
}

impl Consumer {
    fn connect(dir: &RunDir) -> Self {
        let options = ClientOptions {
            supported_profiles: Profiles::BASELINE | Profiles::SHM_HYBRID,
            preferred_profiles: Profiles::SHM_HYBRID,
            max_request_payload_bytes: MAX_PAYLOAD,
            max_response_payload_bytes: MAX_PAYLOAD,
            ..ClientOptions::default()
        };
        let session = ClientSession::connect(dir.str(), SERVICE, &options).expect("connect");
        assert!(session.is_shm(), "a shared-memory session");
        let name = shm_region_file_name(SERVICE, session.params().session_id).unwrap();
        let region = dir.path.join(name).to_string_lossy().into_owned();
        assert!(std::fs::metadata(&region).is_ok(), "{region} exists");
        Self {
            session,
            region,
            next_id: 0,
        }
    }

    fn send(&mut self, text: &[u8]) -> netipc::Result<()> {
        let mut payload = vec![0u8; string_reverse_len(text.len())];
        encode_string_reverse(text, &mut payload).unwrap();
        self.next_id += 1;
        self.session
            .send_request(Method::StringReverse.code(), self.next_id, &payload)
    }

    fn recv(&mut self) -> netipc::Result<Vec<u8>> {
        let message = self.session.recv(Some(PATIENCE), None)?;
        assert_eq!(message.header.transport_status, TransportStatus::OK);
        Ok(decode_string_reverse(message.payload)?.to_vec())
    }

    fn call(&mut self, text: &[u8]) -> netipc::Result<Vec<u8>> {
        self.send(text)?;
        self.recv()
    }

    /// A call that must work.
    fn served(&mut self, tag: &[u8]) {
        let t = text(tag);
        assert_eq!(self.call(&t).expect("a served call"), reversed(&t));
    }
}

/// Asserts that `result` is the loss of `region`, with a message that
/// names the file and the cause.
fn assert_lost<T: std::fmt::Debug>(result: netipc::Result<T>, region: &str) {
    match result {
        Err(e @ Error::ShmRegionLost { .. }) => {
            let Error::ShmRegionLost { region: named } = &e else {
                unreachable!()
            };
            assert_eq!(named, region);
            let message = e.to_string();
            assert!(
                message.contains(region) && message.contains("truncated or replaced"),
                "message: {message}"
            );
            assert!(e.breaks_session());
        }
        other => panic!("expected ShmRegionLost for {region}, got {other:?}"),
    }
}

/// When the attacker strikes.
#[derive(Debug, Clone, Copy)]
enum When {
    /// (a) The provider waits for the attacked consumer's next request
    /// (in its wait group); a new session then makes the group re-arm.
    ProviderWaits,
    /// (b) The consumer waits for its response; the handler is blocked.
    ConsumerWaits,
    /// (c) Right after a call returned.
    BetweenCalls,
}

fn attack(when: When, how: Cut) {
    let rig = Rig::new();
    let mut attacked = rig.consumer();
    let mut other = rig.consumer();
    attacked.served(b"warm-up");
    other.served(b"warm-up");
    rig.settles_at(2);
    let baseline = rig.regions();
    let region = attacked.region.clone();
    let mut extra = None;
    let lost = match when {
        When::ProviderWaits => {
            // Long enough for the provider to stop polling and sleep.
            std::thread::sleep(Duration::from_millis(100));
            cut(&region, how);
            extra = Some(rig.consumer());
            std::thread::sleep(Duration::from_millis(50));
            other.served(b"during");
            attacked.call(&text(b"after"))
        }
        When::ConsumerWaits => {
            attacked.send(&text(GATED)).expect("send the gated request");
            rig.gate.wait_entered(1);
            cut(&region, how);
            rig.gate.open();
            attacked.recv()
        }
        When::BetweenCalls => {
            cut(&region, how);
            other.served(b"during");
            attacked.call(&text(b"after"))
        }
    };
    assert_lost(lost, &region);
    // The session is over for good.
    assert!(attacked.call(b"again").is_err());
    drop(attacked);
    drop(extra);
    other.served(b"after the attack");
    // The provider let go of the attacked session and removed its file.
    rig.settles_at(1);
    assert!(
        !rig.regions().iter().any(|r| region.ends_with(r.as_str())),
        "{region} was removed"
    );
    // A new session of the attacked consumer works, on a new region.
    let mut again = rig.consumer();
    assert_ne!(again.region, region);
    again.served(b"recovered");
    other.served(b"still");
    rig.settles_at(2);
    assert_eq!(rig.regions().len(), baseline.len());
}

#[test]
fn truncated_while_the_provider_waits() {
    for how in CUTS {
        watchdog(WATCHDOG, move || attack(When::ProviderWaits, how));
    }
}

#[test]
fn truncated_while_the_consumer_waits() {
    for how in CUTS {
        watchdog(WATCHDOG, move || attack(When::ConsumerWaits, how));
    }
}

#[test]
fn truncated_between_calls() {
    for how in CUTS {
        watchdog(WATCHDOG, move || attack(When::BetweenCalls, how));
    }
}

/// The typed client takes a lost region like any failed session: it
/// reconnects, gets a new region and sends the call again.
#[test]
fn an_l2_client_recovers_on_a_new_region() {
    watchdog(WATCHDOG, || {
        for how in CUTS {
            let rig = Rig::new();
            let mut attacked = rig.l2_client();
            let mut other = rig.l2_client();
            let t = text(b"warm-up");
            assert_eq!(attacked.call(&t).unwrap(), reversed(&t));
            assert_eq!(other.call(&t).unwrap(), reversed(&t));
            rig.settles_at(2);
            let before = rig.regions();
            cut(&rig.dir.path.join(&before[0]).to_string_lossy(), how);
            // Whichever consumer was attacked: both calls are answered,
            // one of them after a reconnect.
            let t = text(b"after");
            assert_eq!(attacked.call(&t).unwrap(), reversed(&t), "{how:?}");
            assert_eq!(other.call(&t).unwrap(), reversed(&t), "{how:?}");
            let reconnects = attacked.status().reconnect_count + other.status().reconnect_count;
            assert_eq!(reconnects, 1, "{how:?}: one reconnect");
            assert!(attacked.session_info().unwrap().shared_memory);
            assert!(other.session_info().unwrap().shared_memory);
            rig.settles_at(2);
            let after = rig.regions();
            assert_eq!(
                after.iter().filter(|r| !before.contains(r)).count(),
                1,
                "{how:?}: one new region: {before:?} -> {after:?}"
            );
        }
    });
}

/// A daemon that blocks every signal before it starts its threads (and
/// takes them with `sigwait`): the provider's threads inherit that mask,
/// and a fault on a thread that blocks `SIGBUS` kills the process whatever
/// the handler. netipc's threads unblock it, so the provider survives.
#[test]
fn a_provider_started_with_every_signal_blocked_survives() {
    watchdog(WATCHDOG, || {
        let rig = std::thread::spawn(|| {
            // SAFETY: a full sigset, applied to this thread only.
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
            }
            Rig::new()
        })
        .join()
        .expect("start the provider with every signal blocked");
        let mut attacked = rig.l2_client();
        let mut other = rig.l2_client();
        let t = text(b"warm-up");
        assert_eq!(attacked.call(&t).unwrap(), reversed(&t));
        assert_eq!(other.call(&t).unwrap(), reversed(&t));
        rig.settles_at(2);
        let regions = rig.regions();
        // The provider touches the cut region first: it waits for the
        // next request of both sessions.
        cut(&rig.dir.path.join(&regions[0]).to_string_lossy(), Cut::Zero);
        let t = text(b"after");
        assert_eq!(attacked.call(&t).unwrap(), reversed(&t));
        assert_eq!(other.call(&t).unwrap(), reversed(&t));
        rig.settles_at(2);
    });
}

/// A typed call whose consumer waits while the region is cut: the call
/// still returns the answer (sent again on a new session).
#[test]
fn an_l2_call_in_flight_is_sent_again() {
    watchdog(WATCHDOG, || {
        let rig = Rig::new();
        let mut client = rig.l2_client();
        let t = text(b"warm-up");
        assert_eq!(client.call(&t).unwrap(), reversed(&t));
        rig.settles_at(1);
        let region = rig.dir.path.join(&rig.regions()[0]);
        let attacker = {
            let gate = rig.gate.clone();
            std::thread::spawn(move || {
                gate.wait_entered(1);
                cut(&region.to_string_lossy(), Cut::Zero);
                gate.open();
            })
        };
        let t = text(GATED);
        assert_eq!(client.call(&t).unwrap(), reversed(&t));
        attacker.join().unwrap();
        assert_eq!(client.status().reconnect_count, 1);
        rig.settles_at(1);
    });
}

/// The environment variable that makes [`child`] run a scenario.
const CHILD: &str = "NETIPC_SIGBUS_CHILD";

/// Runs the test binary again as a child that plays `scenario`. A child
/// that does not end within [`PATIENCE`] (a fault that is neither handled
/// nor fatal repeats for ever) is killed and fails the test.
fn run_child(scenario: &str) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sigbus::child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, scenario)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the child");
    let give_up = Instant::now() + PATIENCE;
    while child.try_wait().expect("wait for the child").is_none() {
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{scenario}: the child did not end");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("the child's output");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status, text)
}

/// A SIGBUS that is not ours still kills, as it would without netipc:
/// after Rust's own handler (the default for a test binary), after a
/// default disposition, and for a SIGBUS sent rather than caused; a
/// handler the program had installed before is still called. In each
/// child a truncated netipc region is survived first.
#[test]
fn a_sigbus_that_is_not_ours_is_passed_on() {
    watchdog(WATCHDOG, || {
        for scenario in ["std", "default", "raised"] {
            let (status, output) = run_child(scenario);
            assert!(
                output.contains("survived our own SIGBUS"),
                "{scenario}: {output}"
            );
            assert_eq!(
                status.signal(),
                Some(libc::SIGBUS),
                "{scenario}: killed by SIGBUS ({status:?}): {output}"
            );
        }
        let (status, output) = run_child("previous");
        assert!(output.contains("survived our own SIGBUS"), "{output}");
        assert!(output.contains("the previous handler ran"), "{output}");
        assert_eq!(status.code(), Some(42), "{status:?}: {output}");
    });
}

/// The previous handler of the "previous" scenario: says so and exits.
extern "C" fn previous_handler(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let message = b"the previous handler ran\n";
    // SAFETY: write and _exit are async-signal-safe.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(42);
    }
}

/// Not a test of its own: the body of [`run_child`]'s children.
#[test]
fn child() {
    let Some(scenario) = std::env::var_os(CHILD) else {
        return;
    };
    let scenario = scenario.to_string_lossy().into_owned();
    // No core files from the deaths below.
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit for this process.
    unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
    match scenario.as_str() {
        "default" | "raised" => {
            // SAFETY: a valid disposition (SIG_DFL) replaces Rust's handler.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            }
        }
        "previous" => {
            // SAFETY: an SA_SIGINFO handler of the right shape.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = previous_handler as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_SIGINFO;
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            }
        }
        _ => {}
    }
    // A netipc mapping (this installs the guard), truncated: survived.
    let dir = RunDir::new();
    let path = dir.path.join("raw").to_string_lossy().into_owned();
    let raw = netipc::transport::testing::RawShm::create(&path).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    let survived = raw.wait(0, 1, Duration::from_secs(5));
    assert!(matches!(survived, Err(Error::ShmRegionLost { .. })));
    println!("survived our own SIGBUS: {}", survived.unwrap_err());
    if scenario == "raised" {
        // A SIGBUS sent, not caused by a fault.
        // SAFETY: raising a signal at this process.
        unsafe { libc::raise(libc::SIGBUS) };
        println!("still alive after a raised SIGBUS");
        return;
    }
    // A mapping of our own (not netipc's), truncated, then read.
    let foreign = dir.path.join("foreign");
    let file = std::fs::File::create_new(&foreign).unwrap();
    file.set_len(4096).unwrap();
    // SAFETY: a fresh shared mapping of a 4096-byte file.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(&file),
            0,
        )
    };
    assert_ne!(ptr, libc::MAP_FAILED);
    file.set_len(0).unwrap();
    // SAFETY: inside the mapping; the read faults (the file is gone).
    let byte = unsafe { std::ptr::read_volatile(ptr.cast::<u8>()) };
    println!("still alive after a foreign SIGBUS: read {byte}");
}
