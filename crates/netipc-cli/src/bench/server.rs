//! `netipc bench-server`: the server side of a scenario, in its own
//! process.
//!
//! It prints `ready` on stdout once it listens, then serves every
//! connection on its own thread. Stdin is its control channel, one line
//! in, one JSON line out:
//!
//! - `cpu`: the process's CPU time so far and its resident memory
//!   (`rss_bytes`);
//! - `stats`: the managed server's counters (`"event":"stats"` and every
//!   field of the library's `ServerStats` by its name: `sessions`,
//!   `sessions_opened`, `refused_at_capacity`, ...); the scenarios that do
//!   not run a managed server answer with an `error` field instead;
//! - `stop`, or end of input (the parent closed the pipe or died): it
//!   stops, prints a last JSON line (`"event":"stopped"`) with its CPU
//!   time and exits.
//!
//! With `--forever` stdin is ignored and it serves until it is killed.
//!
//! The raw SHM server has no connections: it creates the shared file
//! `<run dir>/<service>.rawshm` and answers every ping on it, one client at
//! a time, waiting in slices so that it notices the stop.
//!
//! The L1 server answers INCREMENT, CGROUPS_LOOKUP and APPS_LOOKUP and, for
//! a snapshot scenario, CGROUPS_SNAPSHOT. The L2 servers are
//! `ManagedServer`s with the handlers of their service kind. Both snapshot
//! servers encode their items on every request (into a buffer of the
//! session), as a real provider does, and both lookup servers answer with
//! the same handler code (the lookup table's, through the codec's
//! dispatch), so an L2 row differs from its L1 row by the L2 layer only.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use netipc::codec::{
    DispatchError, SnapshotBuilder, SnapshotRequest, decode_increment, dispatch_apps_lookup,
    dispatch_cgroups_lookup, encode_increment,
};
use netipc::service::{
    HandlerError, ManagedServer, RunningServer, ServerConfig, ServerStats, SnapshotHandler,
};
use netipc::transport::names::validate_service_name;
use netipc::transport::testing::{RawConn, RawListener, RawShm};
use netipc::transport::{Incoming, Interrupt, Listener, ServerOptions, ServerSession};
use netipc::wire::{Header, MAX_PAYLOAD_CAP, Method, Profiles, TransportStatus};

use super::ServerArgs;
use super::lookup::Table;
use super::scenarios::{Plane, Scenario, ServerKind};
use super::snapshot::{self, Cgroup, cgroups};
use crate::usage;
use serde::{Deserialize, Serialize};

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

impl Worker {
    /// The managed server's counters; `None` for the other servers.
    fn stats(&self) -> Option<ServerStats> {
        match self {
            Self::Managed(server) => Some(server.stats()),
            Self::Thread(_) => None,
        }
    }
}

/// The transport profiles a server of `plane` offers, and prefers. An SHM
/// server still accepts baseline sessions, so it serves the socket
/// scenarios too.
fn profiles(plane: Plane) -> (Profiles, Profiles) {
    match plane {
        Plane::Socket | Plane::Memory => (Profiles::BASELINE, Profiles::empty()),
        Plane::Shm => (
            Profiles::BASELINE | Profiles::SHM_HYBRID,
            Profiles::SHM_HYBRID,
        ),
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
    // Payload sizes left at 0 are the defaults: they grow on demand.
    let config = ServerConfig {
        supported_profiles,
        preferred_profiles,
        auth_token: args.auth_token,
        max_request_payload_bytes: args.max_request_bytes,
        max_response_payload_bytes: args.max_response_bytes,
        ..ServerConfig::default()
    };
    let (run_dir, service) = (&args.run_dir, &args.service);
    match (scenario.server, scenario.snapshot_items()) {
        (ServerKind::L2Snapshot, Some(n)) => ManagedServer::from_snapshot_handler(
            run_dir,
            service,
            &config,
            SnapshotServer {
                cgroups: cgroups(n),
            },
        ),
        (ServerKind::L2CgroupsLookup, _) => {
            let table = Table::new();
            ManagedServer::cgroups_lookup(run_dir, service, &config, move |request, builder| {
                table.answer_cgroups(request, builder)
            })
        }
        (ServerKind::L2AppsLookup, _) => {
            let table = Table::new();
            ManagedServer::apps_lookup(run_dir, service, &config, move |request, builder| {
                table.answer_apps(request, builder)
            })
        }
        _ => ManagedServer::increment(run_dir, service, &config, |value| Ok(value.wrapping_add(1))),
    }
}

/// What an L1 session answers with: the snapshot cgroups (of a snapshot
/// scenario), the lookup table, and buffers of the session to encode the
/// answers in (of the server's response size: no answer is larger).
struct L1Answers {
    snapshot: Option<Arc<[Cgroup]>>,
    lookups: Arc<Table>,
    buf: Vec<u8>,
    increments: Vec<[u8; 8]>,
}

impl L1Answers {
    fn new(snapshot: Option<Arc<[Cgroup]>>, lookups: Arc<Table>, response_size: u32) -> Self {
        Self {
            snapshot,
            lookups,
            buf: vec![0; response_size as usize],
            increments: Vec::new(),
        }
    }

    /// Encodes the snapshot, if this server answers snapshots; returns the
    /// payload.
    fn snapshot(&mut self) -> Option<netipc::Result<&[u8]>> {
        let cgroups = self.snapshot.as_ref()?;
        let encoded = encode_snapshot(&mut self.buf, cgroups);
        Some(encoded.map(|len| &self.buf[..len]))
    }

    /// Answers a lookup request of `method` within `budget` bytes, with the
    /// handler of the L2 lookup servers; returns the payload.
    fn lookup(
        &mut self,
        method: Method,
        request: &[u8],
        budget: usize,
    ) -> Result<&[u8], DispatchError> {
        let table = &self.lookups;
        let budget = budget.min(self.buf.len());
        let out = &mut self.buf[..budget];
        let len = match method {
            Method::CgroupsLookup => {
                dispatch_cgroups_lookup(request, out, |r, b| table.answer_cgroups(r, b).is_ok())
            }
            _ => dispatch_apps_lookup(request, out, |r, b| table.answer_apps(r, b).is_ok()),
        }?;
        Ok(&self.buf[..len])
    }
}

/// Encodes a snapshot of `cgroups` into `buf`; returns its length.
fn encode_snapshot(buf: &mut [u8], cgroups: &[Cgroup]) -> netipc::Result<usize> {
    let items = u32::try_from(cgroups.len()).unwrap_or(u32::MAX);
    let mut builder = SnapshotBuilder::new(buf, items)?;
    snapshot::build(&mut builder, cgroups)?;
    Ok(builder.finish())
}

/// Runs the server role until stdin ends (or forever).
pub fn run(args: &ServerArgs) -> ExitCode {
    let started = Instant::now();
    let scenario = args.scenario;
    let policy = netipc::transport::run_dir::RunDirPolicy::default();
    if let Err(e) = netipc::transport::run_dir::prepare_run_dir(&args.run_dir, &policy) {
        return fail(&crate::common::run_dir_error(&e).message);
    }
    // Closing: a session blocked in a receive is shut down at the stop, so
    // its receives need no poll of the interrupt.
    let interrupt = match Interrupt::new_closing() {
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
            let lookups = Arc::new(Table::new());
            let (supported_profiles, preferred_profiles) = profiles(scenario.plane);
            let or_cap = |n: u32| if n == 0 { MAX_PAYLOAD_CAP } else { n };
            let options = ServerOptions {
                supported_profiles,
                preferred_profiles,
                max_request_payload_bytes: or_cap(args.max_request_bytes),
                max_response_payload_bytes: or_cap(args.max_response_bytes),
                auth_token: args.auth_token,
                ..ServerOptions::default()
            };
            let response_size = options.max_response_payload_bytes;
            Listener::bind(&args.run_dir, &args.service, &options).map(|l| {
                Worker::Thread(thread::spawn(move || {
                    accept_l1(&l, &intr, snapshot.as_ref(), &lookups, response_size);
                }))
            })
        }
        ServerKind::L2Increment
        | ServerKind::L2Snapshot
        | ServerKind::L2CgroupsLookup
        | ServerKind::L2AppsLookup => managed(args, scenario).spawn().map(Worker::Managed),
        ServerKind::None => {
            return fail(&format!(
                "scenario {} runs in the client alone: it has no server (run it with \
                 `netipc bench-client --scenario {}` or `netipc bench`)",
                scenario.name, scenario.name
            ));
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
    control(started, || stats_line(worker.stats(), scenario.name));
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

/// The JSON line answering `cpu` (and the last line, `stopped`): this
/// process's CPU time and its resident memory in bytes (`null` where they
/// cannot be read). Reading the memory takes CPU time (a `/proc` read on
/// Linux, a system call on Windows), so the CPU and wall times are
/// reported both before it (`cpu_seconds`, `wall_seconds`) and after it
/// (`..._after_rss`): a window that starts after one sample and ends
/// before the next does not include the reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuLine {
    pub event: String,
    pub cpu_seconds: Option<f64>,
    pub wall_seconds: Option<f64>,
    #[serde(default)]
    pub rss_bytes: Option<u64>,
    #[serde(default)]
    pub cpu_seconds_after_rss: Option<f64>,
    #[serde(default)]
    pub wall_seconds_after_rss: Option<f64>,
}

fn cpu_line(event: &str, started: Instant) -> String {
    let cpu = || usage::process_cpu().map(|t| t.as_secs_f64());
    let (cpu_before, wall_before) = (cpu(), started.elapsed().as_secs_f64());
    let rss = usage::resident_bytes();
    let (cpu_after, wall_after) = (cpu(), started.elapsed().as_secs_f64());
    line(&CpuLine {
        event: event.to_owned(),
        cpu_seconds: cpu_before,
        wall_seconds: Some(wall_before),
        rss_bytes: rss,
        cpu_seconds_after_rss: cpu_after,
        wall_seconds_after_rss: Some(wall_after),
    })
}

/// The JSON line answering `stats`: every counter of the managed server,
/// or an `error` when this scenario's server is not a managed one.
#[derive(Serialize)]
struct StatsLine {
    event: &'static str,
    #[serde(flatten)]
    answer: StatsAnswer,
}

#[derive(Serialize)]
#[serde(untagged)]
enum StatsAnswer {
    Counters {
        sessions: usize,
        peak_sessions: usize,
        session_limit: usize,
        handshaking: usize,
        sessions_opened: u64,
        refused_at_capacity: u64,
        handshake_failures: u64,
        handshake_timeouts: u64,
        dropped_connections: u64,
        send_timeouts: u64,
        requests: u64,
        failed_requests: u64,
        handler_errors: u64,
        handler_panics: u64,
        auth_failures: u64,
        refused_identity: u64,
        protocol_errors: u64,
        bytes_received: u64,
        bytes_sent: u64,
    },
    Error {
        error: String,
    },
}

fn stats_line(stats: Option<ServerStats>, scenario: &str) -> String {
    let answer = match stats {
        Some(s) => StatsAnswer::Counters {
            sessions: s.sessions,
            peak_sessions: s.peak_sessions,
            session_limit: s.session_limit,
            handshaking: s.handshaking,
            sessions_opened: s.sessions_opened,
            refused_at_capacity: s.refused_at_capacity,
            handshake_failures: s.handshake_failures,
            handshake_timeouts: s.handshake_timeouts,
            dropped_connections: s.dropped_connections,
            send_timeouts: s.send_timeouts,
            requests: s.requests,
            failed_requests: s.failed_requests,
            handler_errors: s.handler_errors,
            handler_panics: s.handler_panics,
            auth_failures: s.auth_failures,
            refused_identity: s.refused_identity,
            protocol_errors: s.protocol_errors,
            bytes_received: s.bytes_received,
            bytes_sent: s.bytes_sent,
        },
        None => StatsAnswer::Error {
            error: format!(
                "scenario {scenario} does not run a managed server: there are no server statistics"
            ),
        },
    };
    line(&StatsLine {
        event: "stats",
        answer,
    })
}

/// `value` as one line of JSON.
fn line(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Answers control lines on stdin until `stop` or end of input; `stats`
/// makes the answer to a `stats` line.
fn control(started: Instant, stats: impl Fn() -> String) {
    let stdin = io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let answer = match line.trim() {
            "cpu" => cpu_line("cpu", started),
            "stats" => stats(),
            "stop" => break,
            "" => continue,
            other => {
                eprintln!(
                    "netipc bench-server: unknown control line {other:?} (use cpu, stats or stop)"
                );
                continue;
            }
        };
        if say(&answer).is_err() {
            break;
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
            Err(netipc::Error::Timeout { .. }) => {}
            Err(e) => {
                eprintln!("netipc bench-server: raw SHM wait failed: {e}");
                return;
            }
        }
    }
}

fn accept_l1(
    listener: &Listener,
    interrupt: &Interrupt,
    snapshot: Option<&Arc<[Cgroup]>>,
    lookups: &Arc<Table>,
    response_size: u32,
) {
    loop {
        match listener.accept(None, Some(interrupt)) {
            Ok(incoming) => {
                let intr = interrupt.clone();
                let answers = L1Answers::new(snapshot.cloned(), lookups.clone(), response_size);
                thread::spawn(move || serve_l1(incoming, &intr, answers));
            }
            Err(netipc::Error::Interrupted) => return,
            Err(e) => {
                eprintln!("netipc bench-server: accept failed: {e}");
                return;
            }
        }
    }
}

fn serve_l1(incoming: Incoming, interrupt: &Interrupt, mut answers: L1Answers) {
    let id = SESSION_IDS.fetch_add(1, Ordering::Relaxed);
    let mut session = match incoming.handshake(id) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netipc bench-server: session {id}: {e}");
            return;
        }
    };
    loop {
        match answer(&mut session, interrupt, &mut answers) {
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
/// item, the encoded snapshot for a snapshot request (when the server has
/// one), the lookup table's answer for a lookup (the status of the codec's
/// dispatch error for a malformed one), `UNSUPPORTED` for another method,
/// `BAD_ENVELOPE` for an item that is not a u64 or a malformed snapshot
/// request, `LIMIT_EXCEEDED` for an answer larger than the session's
/// response size.
fn answer(
    session: &mut ServerSession,
    interrupt: &Interrupt,
    answers: &mut L1Answers,
) -> netipc::Result<()> {
    let budget = session.params().max_response_payload_bytes as usize;
    let msg = session.recv(None, Some(interrupt))?;
    let header = msg.header;
    let lookup = [Method::CgroupsLookup, Method::AppsLookup]
        .into_iter()
        .find(|m| m.code() == header.code);
    if let Some(method) = lookup {
        if header.is_batch() {
            return session.respond_status(&header, TransportStatus::BAD_ENVELOPE);
        }
        return match answers.lookup(method, msg.payload, budget) {
            Ok(payload) => session.respond(&header, payload),
            Err(e) => session.respond_status(&header, e.transport_status()),
        };
    }
    if header.code == Method::CgroupsSnapshot.code() && answers.snapshot.is_some() {
        if header.is_batch() || SnapshotRequest::decode(msg.payload).is_err() {
            return session.respond_status(&header, TransportStatus::BAD_ENVELOPE);
        }
        // Encoding fails only when the snapshot does not fit.
        let sent = match answers.snapshot() {
            Some(Ok(payload)) => session.respond(&header, payload),
            _ => session.respond_status(&header, TransportStatus::LIMIT_EXCEEDED),
        };
        return or_limit_exceeded(session, &header, sent);
    }
    if header.code != Method::Increment.code() {
        return session.respond_status(&header, TransportStatus::UNSUPPORTED);
    }
    let Ok(items) = msg.items() else {
        return session.respond_status(&header, TransportStatus::BAD_ENVELOPE);
    };
    let out = &mut answers.increments;
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
    let sent = if header.is_batch() {
        session.respond_batch(&header, out.iter().map(<[u8; 8]>::as_slice))
    } else {
        session.respond(&header, out.first().map_or(&[][..], |b| &b[..]))
    };
    or_limit_exceeded(session, &header, sent)
}

/// `sent`, the result of answering `request`; an answer larger than the
/// session's response size (not sent) is answered `LIMIT_EXCEEDED`
/// instead, as the managed servers do.
fn or_limit_exceeded(
    session: &mut ServerSession,
    request: &Header,
    sent: netipc::Result<()>,
) -> netipc::Result<()> {
    match sent {
        Err(netipc::Error::LimitExceeded(_)) => {
            session.respond_status(request, TransportStatus::LIMIT_EXCEEDED)
        }
        sent => sent,
    }
}
