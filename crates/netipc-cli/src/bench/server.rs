//! `netipc bench-server`: the server side of a scenario, in its own
//! process.
//!
//! It prints `ready` on stdout once it listens, then serves every
//! connection on its own thread. Stdin is its control channel: a `cpu`
//! line is answered with a JSON line of the process's CPU time so far, and
//! end of input (the parent closed the pipe or died) or a `stop` line stops
//! it; it then prints a last JSON line (`"event":"stopped"`) with its CPU
//! time and exits. With `--forever` stdin is ignored and it serves until
//! it is killed.
//!
//! The raw SHM server has no connections: it creates the shared file
//! `<run dir>/<service>.rawshm` and answers every ping on it, one client at
//! a time, waiting in slices so that it notices the stop.
//!
//! The L1 server answers INCREMENT and, for a snapshot scenario,
//! CGROUPS_SNAPSHOT. The L2 servers are `ManagedServer`s with the handlers
//! of their service kind. Both snapshot servers encode their items on every
//! request (into a buffer of the session), as a real provider does, so an
//! L2 row differs from its L1 row by the L2 layer only.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cpu_time::ProcessTime;
use netipc::codec::{SnapshotBuilder, SnapshotRequest, decode_increment, encode_increment};
use netipc::service::{HandlerError, ManagedServer, RunningServer, ServerConfig, SnapshotHandler};
use netipc::transport::names::validate_service_name;
use netipc::transport::testing::{RawConn, RawListener, RawShm};
use netipc::transport::{Incoming, Interrupt, Listener, ServerOptions, ServerSession};
use netipc::wire::{MAX_PAYLOAD_CAP, Method, TransportStatus, profile};

use super::ServerArgs;
use super::scenarios::{Plane, Scenario, ServerKind};
use super::snapshot::{self, Cgroup, cgroups};

/// The line printed once the server listens.
pub const READY: &str = "ready";

/// The raw SHM lane the client posts its pings on.
pub const PING: usize = 0;
/// The raw SHM lane the server posts its pongs on.
pub const PONG: usize = 1;

/// Longest wait of the raw SHM server before it looks at the stop signal.
const RAW_SHM_SLICE: Duration = Duration::from_millis(100);

/// The raw SHM file of `service`: `<run_dir>/<service>.rawshm`.
///
/// # Errors
/// An invalid service name.
pub fn raw_shm_path(run_dir: &str, service: &str) -> netipc::Result<String> {
    validate_service_name(service)?;
    Ok(format!("{run_dir}/{service}.rawshm"))
}

/// Session ids handed out by this process.
static SESSION_IDS: AtomicU64 = AtomicU64::new(1);

/// What serves the scenario.
enum Worker {
    /// A thread that returns once the interrupt is raised.
    Thread(JoinHandle<()>),
    /// An L2 managed server.
    Managed(RunningServer),
}

/// The transport profiles a server of `plane` offers, and prefers. An SHM
/// server still accepts baseline sessions, so it serves the socket
/// scenarios too.
fn profiles(plane: Plane) -> (u32, u32) {
    match plane {
        Plane::Socket => (profile::BASELINE, 0),
        Plane::Shm => (profile::BASELINE | profile::SHM_HYBRID, profile::SHM_HYBRID),
    }
}

/// The L2 snapshot handler: adds every cgroup on every request.
struct SnapshotServer {
    cgroups: Vec<Cgroup>,
}

impl SnapshotHandler for SnapshotServer {
    fn snapshot(&self, builder: &mut SnapshotBuilder<'_>) -> Result<(), HandlerError> {
        snapshot::build(builder, &self.cgroups)?;
        Ok(())
    }

    /// The handler knows its item count, so the directory reservation is
    /// exact.
    fn max_items(&self) -> u32 {
        u32::try_from(self.cgroups.len()).unwrap_or(u32::MAX)
    }
}

/// The L2 managed server of `scenario`, not started.
fn managed(args: &ServerArgs, scenario: &Scenario) -> ManagedServer {
    let (supported_profiles, preferred_profiles) = profiles(scenario.plane);
    // Payload sizes are left at their defaults: they grow on demand.
    let config = ServerConfig {
        supported_profiles,
        preferred_profiles,
        ..ServerConfig::default()
    };
    match scenario.snapshot_items() {
        Some(n) => ManagedServer::cgroups_snapshot(
            &args.run_dir,
            &args.service,
            &config,
            SnapshotServer {
                cgroups: cgroups(n),
            },
        ),
        None => ManagedServer::increment(
            &args.run_dir,
            &args.service,
            &config,
            |value: u64| -> Result<u64, HandlerError> { Ok(value.wrapping_add(1)) },
        ),
    }
}

/// What an L1 session answers snapshot requests with: the cgroups, and
/// a buffer of the session to encode them in.
struct L1Snapshot {
    cgroups: Arc<[Cgroup]>,
    buf: Vec<u8>,
}

impl L1Snapshot {
    fn new(cgroups: Arc<[Cgroup]>) -> Self {
        Self {
            cgroups,
            buf: vec![0; MAX_PAYLOAD_CAP as usize],
        }
    }

    /// Encodes the snapshot; returns the payload.
    fn encode(&mut self) -> netipc::Result<&[u8]> {
        let items = u32::try_from(self.cgroups.len()).unwrap_or(u32::MAX);
        let mut builder = SnapshotBuilder::new(&mut self.buf, items, 0, 0)?;
        snapshot::build(&mut builder, &self.cgroups)?;
        let len = builder.finish();
        Ok(&self.buf[..len])
    }
}

/// Runs the server role until stdin ends (or forever).
pub fn run(args: &ServerArgs) -> ExitCode {
    let started = Instant::now();
    let scenario = args.scenario;
    let interrupt = match Interrupt::new() {
        Ok(i) => i,
        Err(e) => return fail(&format!("cannot create the stop signal: {e}")),
    };
    // The file the raw SHM server created, removed at the stop.
    let mut raw_shm_file = None;
    let intr = interrupt.clone();
    let listening = match scenario.server {
        ServerKind::RawEcho => RawListener::bind(&args.run_dir, &args.service)
            .map(|l| Worker::Thread(thread::spawn(move || accept_raw(&l, &intr)))),
        ServerKind::RawShm => raw_shm_path(&args.run_dir, &args.service).and_then(|path| {
            let shm = RawShm::create(&path)?;
            raw_shm_file = Some(path);
            Ok(Worker::Thread(thread::spawn(move || {
                flip_raw_shm(&shm, &intr);
            })))
        }),
        ServerKind::L1 => {
            let snapshot = scenario.snapshot_items().map(|n| Arc::from(cgroups(n)));
            let (supported_profiles, preferred_profiles) = profiles(scenario.plane);
            let options = ServerOptions {
                supported_profiles,
                preferred_profiles,
                max_request_payload_bytes: MAX_PAYLOAD_CAP,
                max_response_payload_bytes: MAX_PAYLOAD_CAP,
                ..ServerOptions::default()
            };
            Listener::bind(&args.run_dir, &args.service, &options).map(|l| {
                Worker::Thread(thread::spawn(move || {
                    accept_l1(&l, &intr, snapshot.as_ref());
                }))
            })
        }
        ServerKind::L2Increment | ServerKind::L2Snapshot => {
            managed(args, scenario).spawn().map(Worker::Managed)
        }
    };
    let worker = match listening {
        Ok(w) => w,
        Err(e) => {
            return fail(&format!(
                "cannot listen as service {:?} in {} for scenario {}: {e}",
                args.service, args.run_dir, scenario.name
            ));
        }
    };
    if say(READY).is_err() {
        return ExitCode::FAILURE;
    }
    if args.forever {
        match worker {
            Worker::Thread(thread) => {
                let _ = thread.join();
            }
            // It serves until the process is killed.
            Worker::Managed(_running) => loop {
                thread::park();
            },
        }
        return ExitCode::SUCCESS;
    }
    control(started);
    interrupt.raise();
    match worker {
        Worker::Thread(thread) => {
            let _ = thread.join();
        }
        Worker::Managed(running) => running.stop(),
    }
    if let Some(path) = raw_shm_file {
        if let Err(e) = std::fs::remove_file(&path) {
            eprintln!("netipc bench-server: cannot remove {path}: {e}");
        }
    }
    let _ = say(&cpu_line("stopped", started));
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("netipc bench-server: {message}");
    ExitCode::FAILURE
}

/// Prints one line on stdout and flushes it.
fn say(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// The JSON line reporting this process's CPU time.
fn cpu_line(event: &str, started: Instant) -> String {
    let cpu = ProcessTime::try_now().map_or(f64::NAN, |t| t.as_duration().as_secs_f64());
    serde_json::json!({
        "event": event,
        "cpu_seconds": cpu,
        "wall_seconds": started.elapsed().as_secs_f64(),
    })
    .to_string()
}

/// Answers control lines on stdin until `stop` or end of input.
fn control(started: Instant) {
    let stdin = io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "cpu" => {
                if say(&cpu_line("cpu", started)).is_err() {
                    break;
                }
            }
            "stop" => break,
            "" => {}
            other => {
                eprintln!("netipc bench-server: unknown control line {other:?} (use cpu or stop)")
            }
        }
    }
}

fn accept_raw(listener: &RawListener, interrupt: &Interrupt) {
    loop {
        match listener.accept(None, Some(interrupt)) {
            Ok(conn) => {
                thread::spawn(move || echo_raw(&conn));
            }
            Err(netipc::Error::Interrupted) => return,
            Err(e) => {
                eprintln!("netipc bench-server: accept failed: {e}");
                return;
            }
        }
    }
}

/// Echoes every packet back, as is.
fn echo_raw(conn: &RawConn) {
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match conn.recv(&mut buf, None) {
            Ok(n) => n.min(buf.len()),
            Err(netipc::Error::Disconnected) => return,
            Err(e) => {
                eprintln!("netipc bench-server: raw receive failed: {e}");
                return;
            }
        };
        if let Err(e) = conn.send(&buf[..n]) {
            if !matches!(e, netipc::Error::Disconnected) {
                eprintln!("netipc bench-server: raw send failed: {e}");
            }
            return;
        }
    }
}

/// Answers every ping with the same value on the pong lane until
/// `interrupt` is raised. Waits are sliced so the stop is seen within
/// [`RAW_SHM_SLICE`] even when no client runs.
///
/// The counters only grow: a client goes on from the last pong, so
/// clients may come one after another.
fn flip_raw_shm(shm: &RawShm, interrupt: &Interrupt) {
    let mut next = 1u64;
    while !interrupt.is_raised() {
        match shm.wait(PING, next, RAW_SHM_SLICE) {
            Ok(()) => {
                shm.post(PONG, next);
                next = next.wrapping_add(1);
            }
            Err(netipc::Error::Timeout) => {}
            Err(e) => {
                eprintln!("netipc bench-server: raw SHM wait failed: {e}");
                return;
            }
        }
    }
}

fn accept_l1(listener: &Listener, interrupt: &Interrupt, snapshot: Option<&Arc<[Cgroup]>>) {
    loop {
        match listener.accept(None, Some(interrupt)) {
            Ok(incoming) => {
                let intr = interrupt.clone();
                let snapshot = snapshot.cloned().map(L1Snapshot::new);
                thread::spawn(move || serve_l1(incoming, &intr, snapshot));
            }
            Err(netipc::Error::Interrupted) => return,
            Err(e) => {
                eprintln!("netipc bench-server: accept failed: {e}");
                return;
            }
        }
    }
}

fn serve_l1(incoming: Incoming, interrupt: &Interrupt, mut snapshot: Option<L1Snapshot>) {
    let id = SESSION_IDS.fetch_add(1, Ordering::Relaxed);
    let mut session = match incoming.handshake(id) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netipc bench-server: session {id}: {e}");
            return;
        }
    };
    let mut out: Vec<[u8; 8]> = Vec::new();
    loop {
        match answer(&mut session, interrupt, snapshot.as_mut(), &mut out) {
            Ok(()) => {}
            Err(netipc::Error::Disconnected | netipc::Error::Interrupted) => return,
            Err(e) => {
                eprintln!("netipc bench-server: session {id}: {e}");
                return;
            }
        }
    }
}

/// Receives one request and answers it: `value + 1` for every INCREMENT
/// item, the encoded `snapshot` for a snapshot request (when there is
/// one), `UNSUPPORTED` for another method, `BAD_ENVELOPE` for an item that
/// is not a u64 or a malformed snapshot request.
fn answer(
    session: &mut ServerSession,
    interrupt: &Interrupt,
    snapshot: Option<&mut L1Snapshot>,
    out: &mut Vec<[u8; 8]>,
) -> netipc::Result<()> {
    let msg = session.recv(None, Some(interrupt))?;
    let header = msg.header;
    if let (Some(snapshot), true) = (snapshot, header.code == Method::CgroupsSnapshot.code()) {
        if header.is_batch() || SnapshotRequest::decode(msg.payload).is_err() {
            return session.respond_status(&header, TransportStatus::BAD_ENVELOPE);
        }
        return match snapshot.encode() {
            Ok(payload) => session.respond(&header, payload),
            Err(_) => session.respond_status(&header, TransportStatus::INTERNAL_ERROR),
        };
    }
    if header.code != Method::Increment.code() {
        return session.respond_status(&header, TransportStatus::UNSUPPORTED);
    }
    let Ok(items) = msg.items() else {
        return session.respond_status(&header, TransportStatus::BAD_ENVELOPE);
    };
    out.clear();
    for i in 0..items.len() {
        let value = items.get(i).map(decode_increment);
        let Some(Ok(value)) = value else {
            return session.respond_status(&header, TransportStatus::BAD_ENVELOPE);
        };
        let mut item = [0u8; 8];
        encode_increment(value.wrapping_add(1), &mut item)?;
        out.push(item);
    }
    if header.is_batch() {
        session.respond_batch(&header, out.iter().map(<[u8; 8]>::as_slice))
    } else {
        session.respond(&header, out.first().map_or(&[][..], |b| &b[..]))
    }
}
