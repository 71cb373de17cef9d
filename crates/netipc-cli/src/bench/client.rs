//! The client side of a scenario: connect, warm up, measure.
//!
//! Every scenario is driven by one engine ([`run_phase`]) over a small
//! [`Transport`] trait: send request `id`, receive one answer (verified)
//! and return its id. The engine keeps `depth` requests in flight and
//! records each request's latency from its send to its answer, so
//! ping-pong (depth 1) and pipelining are the same loop.
//!
//! Ids run on from the warm-up into the measurement, so the raw SHM
//! counters (which only grow) stay in step with the server.

use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use hdrhistogram::Histogram;
use netipc::codec::{decode_increment, encode_increment};
use netipc::transport::testing::{RawConn, RawShm};
use netipc::transport::{ClientOptions, ClientSession, DataPlane};

use netipc::wire::{MAX_PAYLOAD_DEFAULT, Method, TransportStatus, batch_payload_len, profile};

use super::scenarios::{
    Drive, Plane, Scenario, WAIT_SPIN, WAIT_SPIN_SLEEP, WAIT_SPIN_SLEEP_ALWAYS_WAKE,
};
use super::server::{PING, PONG, raw_shm_path};
use super::stats::{Measurement, latency_histogram};
use super::{BenchError, Timing};

/// Longest wait for one answer before the server is declared stuck.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the progress callback is called.
const TICK: Duration = Duration::from_millis(50);

/// Where and how the client runs.
#[derive(Debug, Clone, Copy)]
pub struct ClientParams<'a> {
    pub run_dir: &'a str,
    pub service: &'a str,
    pub timing: Timing,
    /// Items of a `--batch` scenario.
    pub batch: u32,
}

/// The server's cumulative CPU time at one moment, as it reports it.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    /// CPU seconds used by the server process so far.
    pub cpu_s: f64,
    /// Seconds since the server started.
    pub wall_s: f64,
}

/// Asks the server for its CPU usage (the bench orchestrator can; a
/// standalone client cannot).
pub trait ServerProbe {
    /// The server's CPU sample now, or `None` if it cannot be asked.
    ///
    /// # Errors
    /// The server did not answer.
    fn sample(&mut self) -> Result<Option<CpuSample>, BenchError>;
}

/// A probe for servers that cannot be asked.
pub struct NoProbe;

impl ServerProbe for NoProbe {
    fn sample(&mut self) -> Result<Option<CpuSample>, BenchError> {
        Ok(None)
    }
}

/// The phase a progress tick belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Warmup,
    Measure,
}

/// One way of sending a request and receiving its verified answer.
trait Transport {
    /// Sends request `id`.
    fn send(&mut self, id: u64) -> Result<(), BenchError>;
    /// Receives one answer, checks it, and returns the id it answers.
    fn recv(&mut self) -> Result<u64, BenchError>;
}

/// The limit: an 8-byte raw packet carrying the id, echoed back.
struct RawClient {
    conn: RawConn,
    buf: [u8; 64],
}

impl Transport for RawClient {
    fn send(&mut self, id: u64) -> Result<(), BenchError> {
        self.conn
            .send(&id.to_ne_bytes())
            .map_err(|e| BenchError::new(format!("sending a raw packet: {e}")))
    }

    fn recv(&mut self) -> Result<u64, BenchError> {
        let n = self
            .conn
            .recv(&mut self.buf, Some(RESPONSE_TIMEOUT))
            .map_err(|e| answer_error(&e))?;
        let bytes: [u8; 8] = self.buf[..n.min(self.buf.len())]
            .try_into()
            .map_err(|_| BenchError::new(format!("echo of {n} bytes, expected 8")))?;
        Ok(u64::from_ne_bytes(bytes))
    }
}

/// The SHM limit: post the ping counter, wait for the same value on the
/// pong lane.
///
/// The counters of a server's file only grow and outlive a client, so a
/// client goes on from the last pong (`base`): request `id` is the value
/// `base + id`.
struct RawShmClient {
    shm: RawShm,
    base: u64,
    /// The id of the ping in flight.
    sent: u64,
}

impl RawShmClient {
    /// Opens the server's file and finds where its counters stand.
    fn open(path: &str) -> Result<Self, BenchError> {
        let shm = RawShm::open(path)
            .map_err(|e| BenchError::new(format!("opening the raw SHM file {path}: {e}")))?;
        let base = last_value(&shm, PONG)?;
        Ok(Self { shm, base, sent: 0 })
    }
}

/// The value of `lane` now. `RawShm` has no read, so this probes `wait`
/// with no time to wait (a reached value answers at once, an unreached one
/// after the short spin): doubling, then bisecting, about 2 x 64 probes at
/// most. Only used while the lane is still (no client is running).
fn last_value(shm: &RawShm, lane: usize) -> Result<u64, BenchError> {
    let reached = |value: u64| match shm.wait(lane, value, Duration::ZERO) {
        Ok(()) => Ok(true),
        Err(netipc::Error::Timeout) => Ok(false),
        Err(e) => Err(BenchError::new(format!(
            "reading the raw SHM counters: {e}"
        ))),
    };
    // Invariant: `lo` is reached, `hi` is not (every lane reaches 0).
    let mut lo = 0u64;
    let mut hi = 1u64;
    while reached(hi)? {
        if hi == u64::MAX {
            return Ok(hi);
        }
        lo = hi;
        hi = hi.saturating_mul(2);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reached(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

impl Transport for RawShmClient {
    fn send(&mut self, id: u64) -> Result<(), BenchError> {
        self.sent = id;
        self.shm.post(PING, self.base.wrapping_add(id));
        Ok(())
    }

    fn recv(&mut self) -> Result<u64, BenchError> {
        self.shm
            .wait(PONG, self.base.wrapping_add(self.sent), RESPONSE_TIMEOUT)
            .map_err(|e| answer_error(&e))?;
        Ok(self.sent)
    }
}

/// L1 INCREMENT requests (single or batch) on a client session.
struct IncrementClient {
    session: ClientSession,
    /// Items per request; 1 sends single (non-batch) requests.
    batch: u32,
    batch_mode: bool,
    items: Vec<[u8; 8]>,
}

/// The value of item `i` of request `id` in requests of `batch` items
/// (distinct for every item of a run).
fn item_value(id: u64, batch: u32, i: u32) -> u64 {
    id.wrapping_mul(u64::from(batch)).wrapping_add(u64::from(i))
}

impl Transport for IncrementClient {
    fn send(&mut self, id: u64) -> Result<(), BenchError> {
        let code = Method::Increment.code();
        for i in 0..self.batch {
            let v = item_value(id, self.batch, i);
            encode_increment(v, &mut self.items[i as usize]).map_err(codec_error)?;
        }
        let sent = if self.batch_mode {
            let items = self.items.iter().map(<[u8; 8]>::as_slice);
            self.session.send_batch(code, id, items)
        } else {
            self.session.send_request(code, id, &self.items[0])
        };
        sent.map_err(|e| BenchError::new(format!("sending INCREMENT request {id}: {e}")))
    }

    fn recv(&mut self) -> Result<u64, BenchError> {
        let msg = self
            .session
            .recv(Some(RESPONSE_TIMEOUT), None)
            .map_err(|e| answer_error(&e))?;
        let h = msg.header;
        let id = h.message_id;
        if h.transport_status != TransportStatus::OK {
            return Err(BenchError::new(format!(
                "the server answered request {id} with {}",
                h.transport_status
            )));
        }
        let items = msg.items().map_err(codec_error)?;
        if items.len() != self.batch as usize || h.is_batch() != self.batch_mode {
            return Err(BenchError::new(format!(
                "the answer to request {id} has {} items (batch {}), expected {} (batch {})",
                items.len(),
                h.is_batch(),
                self.batch,
                self.batch_mode
            )));
        }
        for i in 0..self.batch {
            let got =
                decode_increment(items.get(i as usize).unwrap_or_default()).map_err(codec_error)?;
            let want = item_value(id, self.batch, i).wrapping_add(1);
            if got != want {
                return Err(BenchError::new(format!(
                    "wrong answer to request {id} item {i}: got {got}, expected {want} (value + 1)"
                )));
            }
        }
        Ok(id)
    }
}

fn codec_error(e: netipc::CodecError) -> BenchError {
    BenchError::new(format!("malformed INCREMENT answer: {e}"))
}

fn answer_error(e: &netipc::Error) -> BenchError {
    match e {
        netipc::Error::Timeout => BenchError::new(format!(
            "no answer within {} s: the server is stuck or does not answer this request",
            RESPONSE_TIMEOUT.as_secs()
        )),
        netipc::Error::Disconnected => BenchError::new(
            "the server closed the connection: does it serve this scenario \
             (raw-packet-pingpong needs a raw echo server, raw-shm-pingpong a raw SHM server, \
             the others an INCREMENT server)?",
        ),
        e => BenchError::new(format!("receiving an answer: {e}")),
    }
}

fn connect_error(scenario: &Scenario, p: &ClientParams<'_>, e: &netipc::Error) -> BenchError {
    let hint = match e {
        netipc::Error::NotFound { .. } => not_running(scenario, p),
        _ => format!("cannot connect to service {:?}", p.service),
    };
    BenchError::new(format!("{hint}\n  ({e})"))
}

fn not_running(scenario: &Scenario, p: &ClientParams<'_>) -> String {
    format!(
        "the provider is not running. Start one with:\n  netipc bench-server --scenario {} --run-dir {} --service {}",
        scenario.name, p.run_dir, p.service
    )
}

/// The error for a session that was meant to run over shared memory but
/// did not.
fn not_shm(scenario: &Scenario, p: &ClientParams<'_>, session: &ClientSession) -> BenchError {
    BenchError::new(format!(
        "scenario {} needs a shared-memory session, but the handshake selected profile {:#x} \
         (baseline socket): the server did not offer SHM_HYBRID, or this OS has no SHM \
         transport. Serve it with:\n  netipc bench-server --scenario {} --run-dir {} --service {}",
        scenario.name,
        session.params().selected_profile,
        scenario.name,
        p.run_dir,
        p.service
    ))
}

/// Runs `scenario` against the server at `p` and measures it.
///
/// # Errors
/// Connecting, sending or receiving failed, an answer was wrong, or the
/// probe failed.
pub fn run(
    scenario: &Scenario,
    p: &ClientParams<'_>,
    probe: &mut dyn ServerProbe,
    tick: &mut dyn FnMut(Stage, Duration),
) -> Result<Measurement, BenchError> {
    let items = scenario.items(p.batch);
    let wait = scenario.plane.wait();
    match scenario.drive {
        Drive::RawPacket => {
            let conn = RawConn::connect(p.run_dir, p.service)
                .map_err(|e| connect_error(scenario, p, &e))?;
            let mut t = RawClient { conn, buf: [0; 64] };
            measure(&mut t, scenario, items, wait, p, probe, tick)
        }
        Drive::RawShm => {
            let path =
                raw_shm_path(p.run_dir, p.service).map_err(|e| connect_error(scenario, p, &e))?;
            if !std::path::Path::new(&path).exists() {
                return Err(BenchError::new(format!(
                    "{}\n  (no raw SHM file {path})",
                    not_running(scenario, p)
                )));
            }
            let mut t = RawShmClient::open(&path)?;
            measure(&mut t, scenario, items, wait, p, probe, tick)
        }
        Drive::Increment(_) => {
            let payload = batch_payload_len((0..items).map(|_| 8)).unwrap_or(usize::MAX);
            let payload = u32::try_from(payload)
                .unwrap_or(u32::MAX)
                .max(MAX_PAYLOAD_DEFAULT);
            let (supported_profiles, preferred_profiles) = match scenario.plane {
                Plane::Socket => (profile::BASELINE, 0),
                Plane::Shm => (profile::BASELINE | profile::SHM_HYBRID, profile::SHM_HYBRID),
            };
            let options = ClientOptions {
                supported_profiles,
                preferred_profiles,
                max_request_payload_bytes: payload,
                max_response_payload_bytes: payload,
                max_request_batch_items: items,
                ..ClientOptions::default()
            };
            let session = ClientSession::connect(p.run_dir, p.service, &options)
                .map_err(|e| connect_error(scenario, p, &e))?;
            let wait = match scenario.plane {
                Plane::Socket => wait,
                Plane::Shm if !session.is_shm() => return Err(not_shm(scenario, p, &session)),
                Plane::Shm => match session.data_plane() {
                    DataPlane::SharedMemory { sleeps: false, .. } => WAIT_SPIN,
                    // A server of another implementation may not wake on
                    // demand: then every answer costs a wake-up call.
                    DataPlane::SharedMemory {
                        wake_on_demand: false,
                        ..
                    } => WAIT_SPIN_SLEEP_ALWAYS_WAKE,
                    _ => WAIT_SPIN_SLEEP,
                },
            };
            let mut t = IncrementClient {
                session,
                batch: items,
                batch_mode: scenario.is_batch(),
                items: vec![[0; 8]; items as usize],
            };
            measure(&mut t, scenario, items, wait, p, probe, tick)
        }
    }
}

fn measure<T: Transport>(
    t: &mut T,
    scenario: &Scenario,
    items: u32,
    wait: &'static str,
    p: &ClientParams<'_>,
    probe: &mut dyn ServerProbe,
    tick: &mut dyn FnMut(Stage, Duration),
) -> Result<Measurement, BenchError> {
    let depth = scenario.depth as usize;
    let mut ids = 1u64;
    let mut warm = latency_histogram();
    run_phase(t, depth, p.timing.warmup, &mut ids, &mut warm, &mut |d| {
        tick(Stage::Warmup, d);
    })?;

    let mut latency = latency_histogram();
    let server_before = probe.sample()?;
    let cpu_before = ThreadTime::try_now().ok();
    let (round_trips, wall) = run_phase(
        t,
        depth,
        p.timing.duration,
        &mut ids,
        &mut latency,
        &mut |d| {
            tick(Stage::Measure, d);
        },
    )?;
    let client_cpu = cpu_before
        .and_then(|c| c.try_elapsed().ok())
        .unwrap_or(Duration::ZERO);
    let server_after = probe.sample()?;
    let server_cores = match (server_before, server_after) {
        (Some(a), Some(b)) if b.wall_s > a.wall_s => {
            Some((b.cpu_s - a.cpu_s) / (b.wall_s - a.wall_s))
        }
        _ => None,
    };
    Ok(Measurement {
        round_trips,
        items_per_round_trip: items,
        wall,
        latency,
        client_cpu,
        server_cores,
        wait,
    })
}

/// Runs requests for `duration` with `depth` in flight, then waits for
/// the last answers. Returns the answered count and the wall time.
fn run_phase<T: Transport>(
    t: &mut T,
    depth: usize,
    duration: Duration,
    ids: &mut u64,
    latency: &mut Histogram<u64>,
    tick: &mut dyn FnMut(Duration),
) -> Result<(u64, Duration), BenchError> {
    let mut pending: Vec<(u64, Instant)> = Vec::with_capacity(depth);
    let start = Instant::now();
    let end = start + duration;
    let mut next_tick = start + TICK;
    let mut send = |t: &mut T, pending: &mut Vec<(u64, Instant)>| {
        let id = *ids;
        *ids += 1;
        let sent = Instant::now();
        t.send(id)?;
        pending.push((id, sent));
        Ok::<(), BenchError>(())
    };
    for _ in 0..depth {
        send(t, &mut pending)?;
    }
    let mut answered = 0u64;
    let mut now = start;
    while !pending.is_empty() {
        let id = t.recv()?;
        now = Instant::now();
        let at = pending.iter().position(|&(p, _)| p == id).ok_or_else(|| {
            BenchError::new(format!(
                "an answer for request {id}, which is not in flight"
            ))
        })?;
        let (_, sent) = pending.swap_remove(at);
        let ns = u64::try_from(now.duration_since(sent).as_nanos()).unwrap_or(u64::MAX);
        latency.saturating_record(ns.max(1));
        answered += 1;
        if now < end {
            send(t, &mut pending)?;
        }
        if now >= next_tick {
            tick(now.duration_since(start));
            next_tick = now + TICK;
        }
    }
    tick(duration);
    Ok((answered, now.duration_since(start)))
}
