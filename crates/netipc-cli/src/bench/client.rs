//! The client side of a scenario: connect, warm up, measure.
//!
//! Every scenario is driven by one engine ([`run_phase`]) over a small
//! [`Transport`] trait: send request `id`, receive one answer (verified)
//! and return its id and the items it answered. The engine keeps `depth`
//! requests in flight and records each request's latency from its send to
//! its answer, so ping-pong (depth 1) and pipelining are the same loop. At
//! a fixed rate (`--rate`) it sends each call at its due time instead (see
//! [`pace`](super::pace)) and counts the latency from there.
//!
//! Answers are checked as [`Check`] says: item for item against netipc's
//! bench data (`netipc bench`, and `bench-client --strict`), or for their
//! structure only, so that any NetIPC server can be measured: an INCREMENT
//! answer is `value + 1` for every item (what the protocol's test service
//! does), a snapshot decodes with every item (of any count, which the row
//! reports), a lookup answer has one item per key echoing the key (any
//! status).
//!
//! Ids run on from the warm-up into the measurement, so the raw SHM
//! counters (which only grow) stay in step with the server.
//!
//! L2 calls are synchronous: an L2 transport makes the whole call in
//! `send` and `recv` only hands back its id. Before its warm-up an L2
//! client is primed: it connects and calls until a call succeeds, so the
//! reconnections that grow a default config's response size to the
//! snapshot's happen before anything is timed. An L2 transport also
//! reports its request/response exchanges: a logical lookup may take
//! several.
//!
//! The in-process rows (an L3 cache, and a `HashMap` as their limit) do
//! a batch of lookups in `send`, with no I/O; the cache is filled from its
//! server before the warm-up.
//!
//! The measured loop counts the allocations the process makes in it (the
//! progress callback excluded); every client reuses its buffers, so the
//! count is expected to be 0.

use std::collections::HashMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use netipc::cache::{CacheItem, SnapshotCache};
use netipc::codec::{
    AppsLookupView, CgroupsLookupView, SNAPSHOT_REQUEST_LEN, SnapshotRequest, SnapshotView,
    apps_lookup_request_len, cgroups_lookup_request_len, decode_increment,
    encode_apps_lookup_request, encode_cgroups_lookup_request, encode_increment,
};
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, CgroupsSnapshotClient, Client, ClientConfig,
    ClientState, IncrementClient, ServiceKind,
};
use netipc::transport::testing::{RawConn, RawShm};
use netipc::transport::{ClientOptions, ClientSession, DataPlane, HandshakeError};
use netipc::wire::{MAX_PAYLOAD_DEFAULT, Method, Profiles, TransportStatus};

use super::alloc::allocations;
use super::batch::BatchSize;
use super::lookup::{CGROUPS, PROCESSES, Table};
use super::pace::{FineTimers, Pacer, Pacing, Schedule, Start};
use super::scenarios::{
    Batch, CACHE_ITEMS, Drive, Lookup, Plane, Scenario, WAIT_SPIN, WAIT_SPIN_SLEEP,
    WAIT_SPIN_SLEEP_ALWAYS_WAKE,
};
use super::server::{PING, PONG, raw_shm_path};
use super::snapshot::{SnapshotCheck, cgroups};
use super::stats::{Measurement, latency_histogram};
use super::{BenchError, Check, Limits, Timing};
use crate::usage;

/// Longest wait for one answer before the server is declared stuck.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the progress callback is called.
const TICK: Duration = Duration::from_millis(50);
/// Most failed calls of an L2 client before its first success (each one
/// may grow the response size by up to 8 doublings).
const PRIME_ATTEMPTS: u32 = 8;

/// Where and how the client runs.
#[derive(Debug, Clone, Copy)]
pub struct ClientParams<'a> {
    pub run_dir: &'a str,
    pub service: &'a str,
    pub timing: Timing,
    /// `--batch` of the batch rows (`None`: each row's default).
    pub batch: Option<BatchSize>,
    /// The server's auth token.
    pub auth_token: u64,
    /// The sizes the client proposes (0: what the scenario needs).
    pub limits: Limits,
    /// How answers are checked.
    pub check: Check,
    /// Calls per second of a fixed-rate run (`--rate`); `None`: as fast
    /// as the pairing goes.
    pub rate: Option<u64>,
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
    /// Receives one answer, checks it, and returns the id it answers and
    /// the items it carries.
    fn recv(&mut self) -> Result<(u64, u32), BenchError>;
    /// Reconnections so far, for a client that reconnects by itself (L2).
    fn reconnects(&self) -> Option<u32> {
        None
    }
    /// Request/response exchanges so far, for a client that may make
    /// several per round trip (L2).
    fn exchanges(&self) -> Option<u32> {
        None
    }
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

    fn recv(&mut self) -> Result<(u64, u32), BenchError> {
        let n = self
            .conn
            .recv(&mut self.buf, Some(RESPONSE_TIMEOUT))
            .map_err(|e| answer_error(&e))?;
        let bytes: [u8; 8] = self.buf[..n.min(self.buf.len())]
            .try_into()
            .map_err(|_| BenchError::new(format!("echo of {n} bytes, expected 8")))?;
        Ok((u64::from_ne_bytes(bytes), 1))
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
        Err(netipc::Error::Timeout { .. }) => Ok(false),
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

    fn recv(&mut self) -> Result<(u64, u32), BenchError> {
        self.shm
            .wait(PONG, self.base.wrapping_add(self.sent), RESPONSE_TIMEOUT)
            .map_err(|e| answer_error(&e))?;
        Ok((self.sent, 1))
    }
}

/// L1 INCREMENT requests (single or batch) on a client session.
struct IncrementL1Client {
    session: ClientSession,
    /// Items of each request.
    batch: BatchSize,
    /// Whether requests of 2 or more items travel as batch messages (a
    /// request of 1 item is always a single message, as the protocol's
    /// senders do).
    batches: bool,
    items: Vec<[u8; 8]>,
}

/// The items of request `id` of `batch` (request 0, which primes the
/// session, carries the largest count), and whether it travels as a batch
/// message.
fn shape(batch: BatchSize, batches: bool, id: u64) -> (u32, bool) {
    let n = if id == 0 { batch.max() } else { batch.of(id) };
    (n, batches && n >= 2)
}

/// The value of item `i` of request `id` of `batch` (distinct for every
/// item of a run).
fn item_value(batch: BatchSize, id: u64, i: u32) -> u64 {
    id.wrapping_mul(u64::from(batch.max()))
        .wrapping_add(u64::from(i))
}

impl L1Transport for IncrementL1Client {
    const WHAT: &'static str = "INCREMENT";
    fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }
}

impl Transport for IncrementL1Client {
    fn send(&mut self, id: u64) -> Result<(), BenchError> {
        let code = Method::Increment.code();
        let (n, batched) = shape(self.batch, self.batches, id);
        for i in 0..n {
            let v = item_value(self.batch, id, i);
            encode_increment(v, &mut self.items[i as usize]).map_err(codec_error)?;
        }
        let sent = if batched {
            let items = self.items[..n as usize].iter().map(<[u8; 8]>::as_slice);
            self.session.send_batch(code, id, items)
        } else {
            self.session.send_request(code, id, &self.items[0])
        };
        sent.map_err(|e| BenchError::new(format!("sending INCREMENT request {id}: {e}")))
    }

    fn recv(&mut self) -> Result<(u64, u32), BenchError> {
        let msg = self
            .session
            .recv(Some(RESPONSE_TIMEOUT), None)
            .map_err(|e| answer_error(&e))?;
        let h = msg.header;
        let id = h.message_id;
        if h.transport_status != TransportStatus::OK {
            return Err(status_error("INCREMENT", id, h.transport_status));
        }
        let (n, batched) = shape(self.batch, self.batches, id);
        let items = msg.items().map_err(codec_error)?;
        if items.len() != n as usize || h.is_batch() != batched {
            return Err(BenchError::new(format!(
                "the answer to request {id} has {} items (batch {}), expected {n} (batch {batched})",
                items.len(),
                h.is_batch(),
            )));
        }
        for i in 0..n {
            let got =
                decode_increment(items.get(i as usize).unwrap_or_default()).map_err(codec_error)?;
            let want = item_value(self.batch, id, i).wrapping_add(1);
            if got != want {
                return Err(BenchError::new(format!(
                    "wrong answer to request {id} item {i}: got {got}, expected {want} (value + 1)"
                )));
            }
        }
        Ok((id, n))
    }
}

/// L1 CGROUPS_SNAPSHOT requests on a client session; every item of every
/// answer is read and checked.
struct SnapshotL1Client {
    session: ClientSession,
    request: [u8; SNAPSHOT_REQUEST_LEN],
    check: SnapshotCheck,
}

impl L1Transport for SnapshotL1Client {
    const WHAT: &'static str = "snapshot";
    fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }
}

impl Transport for SnapshotL1Client {
    fn send(&mut self, id: u64) -> Result<(), BenchError> {
        self.session
            .send_request(Method::CgroupsSnapshot.code(), id, &self.request)
            .map_err(|e| BenchError::new(format!("sending snapshot request {id}: {e}")))
    }

    fn recv(&mut self) -> Result<(u64, u32), BenchError> {
        let msg = self
            .session
            .recv(Some(RESPONSE_TIMEOUT), None)
            .map_err(|e| answer_error(&e))?;
        let h = msg.header;
        let id = h.message_id;
        if h.transport_status != TransportStatus::OK {
            return Err(status_error("snapshot", id, h.transport_status));
        }
        let view = SnapshotView::decode(msg.payload)
            .map_err(|e| BenchError::new(format!("malformed snapshot answer: {e}")))?;
        let items = self.check.check(&view).map_err(BenchError::new)?;
        Ok((id, items))
    }
}

/// How an L2 call of the bench failed.
enum L2Failure {
    /// The call itself failed (the L2 client's error).
    Call(netipc::Error),
    /// The call succeeded with a wrong answer.
    Answer(BenchError),
}

impl From<L2Failure> for BenchError {
    fn from(f: L2Failure) -> Self {
        match f {
            L2Failure::Call(e) => l2_error(&e),
            L2Failure::Answer(e) => e,
        }
    }
}

/// An L2 client making one logical call per request id; `call` makes the
/// call of an id, checks its answer and returns the items it answered.
/// Calls are synchronous, so the answer of the last sent id is ready at
/// once.
struct L2Calls<K: ServiceKind, F> {
    client: Client<K>,
    call: F,
    /// The id and the items of the last call.
    done: (u64, u32),
}

impl<K, F> Transport for L2Calls<K, F>
where
    K: ServiceKind,
    F: FnMut(&mut Client<K>, u64) -> Result<u32, L2Failure>,
{
    fn send(&mut self, id: u64) -> Result<(), BenchError> {
        let items = (self.call)(&mut self.client, id)?;
        self.done = (id, items);
        Ok(())
    }

    fn recv(&mut self) -> Result<(u64, u32), BenchError> {
        Ok(self.done)
    }

    fn reconnects(&self) -> Option<u32> {
        Some(self.client.status().reconnect_count)
    }

    fn exchanges(&self) -> Option<u32> {
        Some(self.client.status().call_count)
    }
}

/// L2 `IncrementClient::call` with the request id as the value.
fn call_increment(client: &mut IncrementClient, id: u64) -> Result<u32, L2Failure> {
    let got = client.call(id).map_err(L2Failure::Call)?;
    let want = id.wrapping_add(1);
    if got != want {
        return Err(L2Failure::Answer(BenchError::new(format!(
            "wrong answer to {id}: got {got}, expected {want} (value + 1)"
        ))));
    }
    Ok(1)
}

/// L2 `CgroupsSnapshotClient::call` (a full refresh); every item of the
/// answer is read and checked.
fn call_snapshot(
    client: &mut CgroupsSnapshotClient,
    check: &SnapshotCheck,
) -> Result<u32, L2Failure> {
    let view = client.call().map_err(L2Failure::Call)?;
    check
        .check(&view)
        .map_err(|e| L2Failure::Answer(BenchError::new(e)))
}

/// The keys of logical call `id` of `keys` keys of a `kind` lookup.
fn window(kind: Lookup, id: u64, keys: u32) -> Range<usize> {
    let of = match kind {
        Lookup::Cgroups => CGROUPS,
        Lookup::Apps => PROCESSES,
    };
    Table::window(id, keys as usize, of)
}

/// The method of a lookup.
fn lookup_method(kind: Lookup) -> Method {
    match kind {
        Lookup::Cgroups => Method::CgroupsLookup,
        Lookup::Apps => Method::AppsLookup,
    }
}

/// L1 lookup requests on a client session: one request carries every key
/// of a logical call; every answered item is read and checked.
struct LookupL1Client<'t> {
    session: ClientSession,
    kind: Lookup,
    table: &'t Table,
    keys: u32,
    check: Check,
    request: Vec<u8>,
}

impl LookupL1Client<'_> {
    /// The largest request of `keys` keys of a `kind` lookup.
    fn request_len(kind: Lookup, table: &Table, keys: u32) -> usize {
        match kind {
            Lookup::Cgroups => (0..(CGROUPS as u64 / u64::from(keys.max(1))))
                .filter_map(|id| cgroups_lookup_request_len(&table.paths[window(kind, id, keys)]))
                .max()
                .unwrap_or(0),
            Lookup::Apps => apps_lookup_request_len(keys as usize),
        }
    }
}

impl L1Transport for LookupL1Client<'_> {
    const WHAT: &'static str = "lookup";
    fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }
}

impl Transport for LookupL1Client<'_> {
    fn send(&mut self, id: u64) -> Result<(), BenchError> {
        let keys = window(self.kind, id, self.keys);
        let encoded = match self.kind {
            Lookup::Cgroups => {
                encode_cgroups_lookup_request(&self.table.paths[keys], &mut self.request)
            }
            Lookup::Apps => encode_apps_lookup_request(&self.table.pids[keys], &mut self.request),
        };
        let n =
            encoded.map_err(|e| BenchError::new(format!("encoding lookup request {id}: {e}")))?;
        self.session
            .send_request(lookup_method(self.kind).code(), id, &self.request[..n])
            .map_err(|e| BenchError::new(format!("sending lookup request {id}: {e}")))
    }

    fn recv(&mut self) -> Result<(u64, u32), BenchError> {
        let msg = self
            .session
            .recv(Some(RESPONSE_TIMEOUT), None)
            .map_err(|e| answer_error(&e))?;
        let h = msg.header;
        let id = h.message_id;
        if h.transport_status != TransportStatus::OK {
            return Err(status_error("lookup", id, h.transport_status));
        }
        let keys = window(self.kind, id, self.keys);
        let (table, check) = (self.table, self.check);
        let checked = match self.kind {
            Lookup::Cgroups => CgroupsLookupView::decode(msg.payload)
                .map_err(|e| format!("malformed lookup answer: {e}"))
                .and_then(|view| table.check_cgroups(&view, keys, check)),
            Lookup::Apps => AppsLookupView::decode(msg.payload)
                .map_err(|e| format!("malformed lookup answer: {e}"))
                .and_then(|view| table.check_apps(&view, keys, check)),
        };
        checked.map_err(BenchError::new)?;
        Ok((id, self.keys))
    }
}

/// One L2 logical lookup of the keys of call `id` (however many
/// sub-calls it takes), every answered item read and checked.
fn call_cgroups(
    client: &mut CgroupsLookupClient,
    table: &Table,
    id: u64,
    keys: u32,
    check: Check,
) -> Result<u32, L2Failure> {
    let window = window(Lookup::Cgroups, id, keys);
    let view = client
        .call(&table.paths[window.clone()])
        .map_err(L2Failure::Call)?;
    table
        .check_cgroups(&view, window, check)
        .map_err(|e| L2Failure::Answer(BenchError::new(e)))?;
    Ok(keys)
}

/// As [`call_cgroups`], for PIDs.
fn call_apps(
    client: &mut AppsLookupClient,
    table: &Table,
    id: u64,
    keys: u32,
    check: Check,
) -> Result<u32, L2Failure> {
    let window = window(Lookup::Apps, id, keys);
    let view = client
        .call(&table.pids[window.clone()])
        .map_err(L2Failure::Call)?;
    table
        .check_apps(&view, window, check)
        .map_err(|e| L2Failure::Answer(BenchError::new(e)))?;
    Ok(keys)
}

/// The keys of the in-process rows: `lookups` cgroups of `list` in a
/// scattered order (a stride coprime to the list's length, so every item
/// is visited once per `list.len()` lookups), each with what a lookup of
/// it must read.
struct LocalKeys<'a> {
    keys: Vec<(u32, &'a [u8])>,
    /// The checksum of one round trip's found items.
    sum: u64,
}

/// The stride of the in-process rows' key order.
const LOCAL_STRIDE: usize = 617;

impl<'a> LocalKeys<'a> {
    fn new(list: &'a [CacheItem], lookups: u32) -> Self {
        let len = list.len().max(1);
        let stride = (LOCAL_STRIDE..).find(|s| gcd(*s, len) == 1).unwrap_or(1);
        let order: Vec<&CacheItem> = (0..lookups as usize)
            .filter_map(|j| list.get(j * stride % len))
            .collect();
        let sum = order
            .iter()
            .fold(0, |sum, c| fold_found(sum, c.options, c.enabled, &c.path));
        Self {
            keys: order.iter().map(|c| (c.hash, c.name.as_slice())).collect(),
            sum,
        }
    }

    fn check(&self, sum: u64) -> Result<(), BenchError> {
        if sum == self.sum {
            Ok(())
        } else {
            Err(BenchError::new(
                "the lookups found other items than the ones looked up",
            ))
        }
    }
}

/// The `n` cgroups of netipc's bench snapshots, as a cache holds them.
fn bench_items(n: u32) -> Vec<CacheItem> {
    cgroups(n)
        .into_iter()
        .map(|c| CacheItem {
            hash: c.hash,
            options: c.options,
            enabled: c.enabled,
            name: c.name.into_bytes(),
            path: c.path.into_bytes(),
        })
        .collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One found item folded into the in-process rows' checksum: its fixed
/// fields, and its path (length and last byte), so the item is read.
fn fold_found(sum: u64, options: u32, enabled: u32, path: &[u8]) -> u64 {
    let fields = u64::from(options)
        ^ (u64::from(enabled) << 32)
        ^ ((path.len() as u64) << 40)
        ^ (u64::from(path.last().copied().unwrap_or(0)) << 48);
    sum.rotate_left(5).wrapping_add(fields)
}

fn not_found(hash: u32, name: &[u8]) -> BenchError {
    BenchError::new(format!(
        "no item ({hash:#x}, {:?}) in the lookup table",
        String::from_utf8_lossy(name)
    ))
}

/// L3 `SnapshotCache` lookups: a batch of `CacheGuard::get` through one
/// guard per round trip.
struct CacheClient<'a> {
    cache: SnapshotCache,
    keys: &'a LocalKeys<'a>,
    done: (u64, u32),
}

impl Transport for CacheClient<'_> {
    fn send(&mut self, id: u64) -> Result<(), BenchError> {
        let guard = self.cache.read();
        let mut sum = 0;
        for &(hash, name) in &self.keys.keys {
            let item = guard.get(hash, name).ok_or_else(|| not_found(hash, name))?;
            sum = fold_found(sum, item.options, item.enabled, item.path);
        }
        self.keys.check(sum)?;
        self.done = (id, lookups(self.keys));
        Ok(())
    }

    fn recv(&mut self) -> Result<(u64, u32), BenchError> {
        Ok(self.done)
    }
}

/// The lookups of one round trip of an in-process row.
fn lookups(keys: &LocalKeys<'_>) -> u32 {
    u32::try_from(keys.keys.len()).unwrap_or(u32::MAX)
}

/// The in-process limit: the same lookups in a `std::collections::HashMap`
/// (default hasher) keyed by `(hash, name)`.
struct MapClient<'a> {
    map: HashMap<(u32, &'a [u8]), usize>,
    list: &'a [CacheItem],
    keys: &'a LocalKeys<'a>,
    done: (u64, u32),
}

impl Transport for MapClient<'_> {
    fn send(&mut self, id: u64) -> Result<(), BenchError> {
        let mut sum = 0;
        for &(hash, name) in &self.keys.keys {
            let &i = self
                .map
                .get(&(hash, name))
                .ok_or_else(|| not_found(hash, name))?;
            let c = &self.list[i];
            sum = fold_found(sum, c.options, c.enabled, &c.path);
        }
        self.keys.check(sum)?;
        self.done = (id, lookups(self.keys));
        Ok(())
    }

    fn recv(&mut self) -> Result<(u64, u32), BenchError> {
        Ok(self.done)
    }
}

/// A cache of the scenario's server, filled (refreshed until a refresh
/// succeeds: the first one may need reconnections that grow the response
/// size), and the items its lookups look for: netipc's bench cgroups,
/// which the cache must hold exactly ([`Check::BenchData`]), or the
/// cache's own items, one for each key (by the item the cache finds for
/// it, so a snapshot with two items of one key is measured too).
fn filled_cache(
    scenario: &Scenario,
    p: &ClientParams<'_>,
) -> Result<(SnapshotCache, Vec<CacheItem>), BenchError> {
    let cache = SnapshotCache::new(p.run_dir, p.service, &l2_config(scenario, p));
    let mut failures = 0;
    while let Err(e) = cache.refresh() {
        if cache.status().connection_state == ClientState::NotFound {
            return Err(BenchError::new(not_running(scenario, p)));
        }
        failures += 1;
        if failures >= PRIME_ATTEMPTS || matches!(e, netipc::Error::Rejected(_)) {
            return Err(BenchError::new(format!(
                "the cache's first {failures} refreshes failed; the last one: {}",
                l2_error(&e)
            )));
        }
    }
    let guard = cache.read();
    let held = guard.len();
    let items = match p.check {
        Check::BenchData if held != CACHE_ITEMS as usize => {
            return Err(BenchError::new(format!(
                "the cache holds a snapshot of {held} items, expected {CACHE_ITEMS}: is the \
                 server serving this scenario?"
            )));
        }
        Check::BenchData => bench_items(CACHE_ITEMS),
        Check::Structure if held == 0 => {
            return Err(BenchError::new(
                "the server's snapshot has no items: the cache has nothing to look up",
            ));
        }
        Check::Structure => guard
            .iter()
            .filter_map(|i| guard.get(i.hash, i.name))
            .map(|i| i.to_owned_item())
            .collect(),
    };
    drop(guard);
    Ok((cache, items))
}

/// The L2 client config of `scenario`: the documented defaults (so the
/// sizes grow on demand) unless the limits fix them, the transport of the
/// scenario's plane, the server's auth token and the bench's answer
/// timeout.
fn l2_config(scenario: &Scenario, p: &ClientParams<'_>) -> ClientConfig {
    ClientConfig {
        auth_token: p.auth_token,
        supported_profiles: match scenario.plane {
            Plane::Socket | Plane::Memory => Profiles::BASELINE,
            Plane::Shm => Profiles::SHM_HYBRID,
        },
        max_request_payload_bytes: p.limits.request_bytes,
        max_response_payload_bytes: p.limits.response_bytes,
        max_request_batch_items: p.limits.batch_items,
        call_timeout: RESPONSE_TIMEOUT,
        ..ClientConfig::default()
    }
}

/// Why `client` is not connected: its last error, or its state.
fn cause<K: ServiceKind>(client: &Client<K>, scenario: &Scenario, p: &ClientParams<'_>) -> String {
    match client.last_error() {
        Some(e @ netipc::Error::Handshake(HandshakeError::LimitExceeded)) => {
            let proposed = Some(p.limits.request_bytes).filter(|&n| n > 0);
            refused_request_size(scenario, p, proposed, e)
        }
        Some(e) => e.to_string(),
        None => format!("the client is {:?}", client.status().state),
    }
}

/// Connects an L2 client and calls until a call succeeds, then checks its
/// session runs on the scenario's plane. Returns the `wait` of the session.
///
/// A failed call is tried again (with a reconnection: with the default
/// config a large response fails the first call after growing the response
/// size as far as one call may), up to [`PRIME_ATTEMPTS`] failures; a
/// wrong answer or a rejected request fails at once.
fn prime<K: ServiceKind>(
    client: &mut Client<K>,
    scenario: &Scenario,
    p: &ClientParams<'_>,
    call: &mut dyn FnMut(&mut Client<K>) -> Result<u32, L2Failure>,
) -> Result<&'static str, BenchError> {
    let mut failures = 0;
    loop {
        if !client.ready() {
            let _ = client.connect();
        }
        let result = match client.status().state {
            ClientState::Ready => match call(client) {
                Ok(_) => Ok(()),
                Err(f @ (L2Failure::Answer(_) | L2Failure::Call(netipc::Error::Rejected(_)))) => {
                    return Err(f.into());
                }
                Err(f) => Err(BenchError::from(f)),
            },
            ClientState::NotFound => return Err(BenchError::new(not_running(scenario, p))),
            ClientState::Incompatible if scenario.plane == Plane::Shm => {
                return Err(BenchError::new(format!(
                    "scenario {} needs a shared-memory session (the client offers only \
                     SHM_HYBRID), but the server offers no common profile. Serve it with:\n  \
                     netipc bench-server --scenario {} --run-dir {} --service {}",
                    scenario.name, scenario.name, p.run_dir, p.service
                )));
            }
            ClientState::Incompatible | ClientState::AuthFailed => {
                return Err(BenchError::new(format!(
                    "cannot connect to service {:?}: {}",
                    p.service,
                    cause(client, scenario, p)
                )));
            }
            _ => Err(BenchError::new(format!(
                "cannot connect to service {:?}: {}",
                p.service,
                cause(client, scenario, p)
            ))),
        };
        match result {
            Ok(()) => break,
            Err(e) => {
                failures += 1;
                if failures >= PRIME_ATTEMPTS {
                    return Err(BenchError::new(format!(
                        "the first {failures} calls failed; the last one: {e}"
                    )));
                }
            }
        }
    }
    match (scenario.plane, client.session_info()) {
        (plane @ (Plane::Socket | Plane::Memory), Some(_)) => Ok(plane.wait()),
        (Plane::Shm, Some(info)) if info.shared_memory => Ok(WAIT_SPIN_SLEEP),
        (Plane::Shm, Some(info)) => Err(BenchError::new(format!(
            "scenario {} needs a shared-memory session, but the handshake selected profile \
             {:#x}",
            scenario.name, info.profile
        ))),
        (_, None) => Err(BenchError::new(
            "the client disconnected after its first call",
        )),
    }
}

/// The error for a failed L2 call.
fn l2_error(e: &netipc::Error) -> BenchError {
    match e {
        netipc::Error::Rejected(TransportStatus::UNSUPPORTED) => BenchError::new(format!(
            "{e}: the server does not serve this method (is it the server of this scenario?)"
        )),
        netipc::Error::NotReady { .. } => BenchError::new(format!("L2 call failed: {e}")),
        e => answer_error(e),
    }
}

fn codec_error(e: netipc::CodecError) -> BenchError {
    BenchError::new(format!("malformed INCREMENT answer: {e}"))
}

fn answer_error(e: &netipc::Error) -> BenchError {
    match e {
        netipc::Error::Timeout { .. } => BenchError::new(format!(
            "no answer within {} s: the server is stuck or does not answer this request",
            RESPONSE_TIMEOUT.as_secs()
        )),
        netipc::Error::Disconnected => BenchError::new(
            "the server closed the connection: does it serve this scenario \
             (raw-packet-pingpong needs a raw echo server, raw-shm-pingpong a raw SHM server, \
             the others a NetIPC server of the scenario's method: see `netipc bench-client \
             --help`), and does it take requests of this size?",
        ),
        e => BenchError::new(format!("receiving an answer: {e}")),
    }
}

/// The error for an answer of `what` request `id` that carries a failure
/// status instead of a payload.
fn status_error(what: &str, id: u64, status: TransportStatus) -> BenchError {
    let hint = match status {
        TransportStatus::UNSUPPORTED => {
            ": the server does not serve this method (a netipc bench-server answers \
             snapshots only in a snapshot scenario)"
        }
        TransportStatus::LIMIT_EXCEEDED => {
            ": the answer does not fit the server's response payload size (raise the \
             server's, e.g. netipc bench-server --max-response-bytes, or use a smaller \
             --batch or an L2 row)"
        }
        _ => "",
    };
    BenchError::new(format!(
        "the server answered {what} request {id} with {status}{hint}"
    ))
}

/// A handshake refused with LIMIT_EXCEEDED: the request payload size the
/// client proposed (`None`: its default) is above the server's maximum.
fn refused_request_size(
    scenario: &Scenario,
    p: &ClientParams<'_>,
    proposed: Option<u32>,
    e: &netipc::Error,
) -> String {
    let size = proposed.map_or_else(|| "its default".to_owned(), |n| format!("{n} bytes"));
    let batch = if scenario.batch(p.batch).is_some() {
        ", a smaller --batch"
    } else {
        ""
    };
    format!(
        "the server refused the client's request payload size (max_request_payload_bytes, \
         {size}): it is above the server's maximum. Give the server a larger one (netipc \
         bench-server --max-request-bytes), or make the client propose what the server takes \
         (--max-request-bytes{batch})\n  ({e})"
    )
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
            measure(&mut t, scenario, wait, p, probe, tick)
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
            measure(&mut t, scenario, wait, p, probe, tick)
        }
        Drive::Increment(batch) => {
            // A batch answer is as large as its request.
            let need = Need {
                request: items.max_payload(),
                response: Some(items.max_payload()),
                items: items.max(),
            };
            let (mut t, wait) = primed_l1(scenario, p, &need, |session| IncrementL1Client {
                session,
                batch: items,
                batches: matches!(batch, Batch::Option(_)),
                items: vec![[0; 8]; items.max() as usize],
            })?;
            measure(&mut t, scenario, wait, p, probe, tick)
        }
        Drive::Snapshot(n) => {
            // The server answers with its own response size.
            let need = Need {
                request: SNAPSHOT_REQUEST_LEN as u32,
                response: None,
                items: 1,
            };
            let mut request = [0; SNAPSHOT_REQUEST_LEN];
            SnapshotRequest::default()
                .encode(&mut request)
                .map_err(|e| BenchError::new(format!("encoding the snapshot request: {e}")))?;
            let check = SnapshotCheck::new(p.check, n);
            let (mut t, wait) = primed_l1(scenario, p, &need, |session| SnapshotL1Client {
                session,
                request,
                check,
            })?;
            measure(&mut t, scenario, wait, p, probe, tick)
        }
        Drive::L2Increment => {
            let client = IncrementClient::new(p.run_dir, p.service, &l2_config(scenario, p));
            drive_l2(client, call_increment, scenario, p, probe, tick)
        }
        Drive::L2Snapshot(n) => {
            let check = SnapshotCheck::new(p.check, n);
            let client = CgroupsSnapshotClient::new(p.run_dir, p.service, &l2_config(scenario, p));
            let call = |c: &mut CgroupsSnapshotClient, _| call_snapshot(c, &check);
            drive_l2(client, call, scenario, p, probe, tick)
        }
        Drive::Lookup(kind, n) => {
            let table = Table::new();
            let len = LookupL1Client::request_len(kind, &table, n);
            // The server answers with its own response size.
            let need = Need {
                request: u32::try_from(len).unwrap_or(u32::MAX),
                response: None,
                items: 1,
            };
            let (mut t, wait) = primed_l1(scenario, p, &need, |session| LookupL1Client {
                session,
                kind,
                table: &table,
                keys: n,
                check: p.check,
                request: vec![0; len],
            })?;
            measure(&mut t, scenario, wait, p, probe, tick)
        }
        Drive::L2Lookup(Lookup::Cgroups, n) => {
            let table = Table::new();
            let client = CgroupsLookupClient::new(p.run_dir, p.service, &l2_config(scenario, p));
            let call = |c: &mut CgroupsLookupClient, id| call_cgroups(c, &table, id, n, p.check);
            drive_l2(client, call, scenario, p, probe, tick)
        }
        Drive::L2Lookup(Lookup::Apps, n) => {
            let table = Table::new();
            let client = AppsLookupClient::new(p.run_dir, p.service, &l2_config(scenario, p));
            let call = |c: &mut AppsLookupClient, id| call_apps(c, &table, id, n, p.check);
            drive_l2(client, call, scenario, p, probe, tick)
        }
        Drive::CacheLookup(n) => {
            let (cache, list) = filled_cache(scenario, p)?;
            let keys = LocalKeys::new(&list, n);
            let mut t = CacheClient {
                cache,
                keys: &keys,
                done: (0, 0),
            };
            measure(&mut t, scenario, wait, p, probe, tick)
        }
        Drive::MapLookup(n) => {
            let list = bench_items(CACHE_ITEMS);
            let keys = LocalKeys::new(&list, n);
            let map = list
                .iter()
                .enumerate()
                .map(|(i, c)| ((c.hash, c.name.as_slice()), i))
                .collect();
            let mut t = MapClient {
                map,
                list: &list,
                keys: &keys,
                done: (0, 0),
            };
            measure(&mut t, scenario, wait, p, probe, tick)
        }
    }
}

/// What an L1 session of a scenario needs from its handshake.
struct Need {
    /// Payload bytes of the largest request.
    request: u32,
    /// Payload bytes of the largest answer, when known in advance.
    response: Option<u32>,
    /// Items of the largest request.
    items: u32,
}

/// The error for a `flag` (limit option) of `value` below what the
/// scenario needs.
fn too_small(
    scenario: &Scenario,
    p: &ClientParams<'_>,
    flag: &str,
    need: String,
    value: u32,
) -> BenchError {
    let batch = scenario
        .batch(p.batch)
        .map(|b| format!(" with --batch {b}"))
        .unwrap_or_default();
    BenchError::new(format!(
        "scenario {}{batch} needs {need}, but {flag} is {value}: raise {flag} (0: what the \
         scenario needs){}",
        scenario.name,
        if batch.is_empty() {
            ""
        } else {
            " or lower --batch"
        }
    ))
}

/// Connects an L1 session for `scenario`'s plane, proposing what it needs
/// (or the limit options, which must hold it), and checks that the server
/// agreed to it.
fn l1_connect(
    scenario: &Scenario,
    p: &ClientParams<'_>,
    need: &Need,
) -> Result<ClientSession, BenchError> {
    let limits = p.limits;
    let mut request = need.request.max(MAX_PAYLOAD_DEFAULT);
    let mut response = need.response.unwrap_or(0).max(MAX_PAYLOAD_DEFAULT);
    let mut items = need.items;
    for (option, need, proposal, flag, what) in [
        (
            limits.request_bytes,
            need.request,
            &mut request,
            "--max-request-bytes",
            "requests of up to {} bytes",
        ),
        (
            limits.response_bytes,
            need.response.unwrap_or(0),
            &mut response,
            "--max-response-bytes",
            "answers of up to {} bytes",
        ),
        (
            limits.batch_items,
            need.items,
            &mut items,
            "--max-batch-items",
            "up to {} items per request",
        ),
    ] {
        match option {
            0 => {}
            n if n < need => {
                return Err(too_small(
                    scenario,
                    p,
                    flag,
                    what.replace("{}", &need.to_string()),
                    n,
                ));
            }
            n => *proposal = n,
        }
    }
    let (supported_profiles, preferred_profiles) = match scenario.plane {
        Plane::Socket | Plane::Memory => (Profiles::BASELINE, Profiles::empty()),
        Plane::Shm => (
            Profiles::BASELINE | Profiles::SHM_HYBRID,
            Profiles::SHM_HYBRID,
        ),
    };
    let options = ClientOptions {
        supported_profiles,
        preferred_profiles,
        max_request_payload_bytes: request,
        max_response_payload_bytes: response,
        response_payload_limit: limits.response_bytes,
        max_request_batch_items: items,
        auth_token: p.auth_token,
        ..ClientOptions::default()
    };
    let session = ClientSession::connect(p.run_dir, p.service, &options).map_err(|e| match e {
        netipc::Error::Handshake(HandshakeError::LimitExceeded) => {
            BenchError::new(refused_request_size(scenario, p, Some(request), &e))
        }
        e => connect_error(scenario, p, &e),
    })?;
    let agreed = session.params();
    if agreed.max_request_batch_items < need.items {
        return Err(BenchError::new(format!(
            "the server agreed to {} items per request (max_request_batch_items), but scenario \
             {} sends up to {}",
            agreed.max_request_batch_items, scenario.name, need.items
        )));
    }
    Ok(session)
}

/// An L1 transport: its session, and what its requests are called in
/// messages.
trait L1Transport: Transport {
    const WHAT: &'static str;
    fn session(&mut self) -> &mut ClientSession;
}

/// Connects an L1 session for `scenario`, makes its transport with
/// `make` and primes it: request 0 (for a batch row, of the largest
/// count) is sent and answered before the warm-up, its answer unchecked.
///
/// A server whose response size grows (at their defaults netipc's managed
/// servers start at 64 KiB, the reference Rust and Go ones at 1024 bytes)
/// answers a larger answer with LIMIT_EXCEEDED and grows, so the client connects again
/// while the negotiated response size grows, up to [`PRIME_ATTEMPTS`]
/// sessions. Returns the transport and the `wait` of its session.
fn primed_l1<T: L1Transport>(
    scenario: &Scenario,
    p: &ClientParams<'_>,
    need: &Need,
    mut make: impl FnMut(ClientSession) -> T,
) -> Result<(T, &'static str), BenchError> {
    let (mut before, mut attempt) = (0, 0);
    loop {
        attempt += 1;
        let session = l1_connect(scenario, p, need)?;
        let wait = l1_wait(scenario, p, &session)?;
        let size = session.params().max_response_payload_bytes;
        let mut t = make(session);
        t.send(0)?;
        let msg = t
            .session()
            .recv(Some(RESPONSE_TIMEOUT), None)
            .map_err(|e| answer_error(&e))?;
        match msg.header.transport_status {
            TransportStatus::OK => return Ok((t, wait)),
            TransportStatus::LIMIT_EXCEEDED if size > before && attempt < PRIME_ATTEMPTS => {
                before = size;
            }
            TransportStatus::LIMIT_EXCEEDED => {
                let answer = need
                    .response
                    .map(|n| format!(" (up to {n} bytes)"))
                    .unwrap_or_default();
                let batch = scenario.batch(p.batch);
                return Err(BenchError::new(format!(
                    "the server answered {} request 0 with LIMIT_EXCEEDED: its response payload \
                     size (max_response_payload_bytes) is {size} bytes and does not grow, too \
                     small for the answers of scenario {}{}{answer}: give the server a larger \
                     one (netipc bench-server --max-response-bytes){}",
                    T::WHAT,
                    scenario.name,
                    batch
                        .map(|b| format!(" with --batch {b}"))
                        .unwrap_or_default(),
                    if batch.is_some() {
                        ", or lower --batch"
                    } else {
                        ""
                    }
                )));
            }
            status => return Err(status_error(T::WHAT, 0, status)),
        }
    }
}

/// The `wait` of an L1 session, or an error for an SHM scenario whose
/// session is not over shared memory.
fn l1_wait(
    scenario: &Scenario,
    p: &ClientParams<'_>,
    session: &ClientSession,
) -> Result<&'static str, BenchError> {
    Ok(match scenario.plane {
        Plane::Socket | Plane::Memory => scenario.plane.wait(),
        Plane::Shm if !session.is_shm() => return Err(not_shm(scenario, p, session)),
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
    })
}

/// Primes an L2 client with the call of id 0, then measures its calls.
fn drive_l2<K, F>(
    mut client: Client<K>,
    mut call: F,
    scenario: &Scenario,
    p: &ClientParams<'_>,
    probe: &mut dyn ServerProbe,
    tick: &mut dyn FnMut(Stage, Duration),
) -> Result<Measurement, BenchError>
where
    K: ServiceKind,
    F: FnMut(&mut Client<K>, u64) -> Result<u32, L2Failure>,
{
    let wait = prime(&mut client, scenario, p, &mut |c| call(c, 0))?;
    let mut t = L2Calls {
        client,
        call,
        done: (0, 0),
    };
    measure(&mut t, scenario, wait, p, probe, tick)
}

fn measure<T: Transport>(
    t: &mut T,
    scenario: &Scenario,
    wait: &'static str,
    p: &ClientParams<'_>,
    probe: &mut dyn ServerProbe,
    tick: &mut dyn FnMut(Stage, Duration),
) -> Result<Measurement, BenchError> {
    let depth = scenario.depth as usize;
    let mut ids = 1u64;
    let mut warm = Latencies::new();
    let _fine = p.rate.map(|_| FineTimers::set());
    run_phase(
        t,
        depth,
        p.timing.warmup,
        p.rate,
        &mut ids,
        &mut warm,
        &mut |d| {
            tick(Stage::Warmup, d);
        },
    )?;

    let mut latency = Latencies::new();
    let server_before = probe.sample()?;
    let reconnects_before = t.reconnects();
    let exchanges_before = t.exchanges();
    let cpu_before = usage::thread_cpu();
    let phase = run_phase(
        t,
        depth,
        p.timing.duration,
        p.rate,
        &mut ids,
        &mut latency,
        &mut |d| {
            tick(Stage::Measure, d);
        },
    )?;
    let client_cpu = usage::since(cpu_before, usage::thread_cpu()).unwrap_or(Duration::ZERO);
    let reconnects = t
        .reconnects()
        .zip(reconnects_before)
        .map(|(after, before)| after.wrapping_sub(before));
    let exchanges = t
        .exchanges()
        .zip(exchanges_before)
        .map(|(after, before)| after.wrapping_sub(before));
    let server_after = probe.sample()?;
    let server_cores = match (server_before, server_after) {
        (Some(a), Some(b)) if b.wall_s > a.wall_s => {
            Some((b.cpu_s - a.cpu_s) / (b.wall_s - a.wall_s))
        }
        _ => None,
    };
    Ok(Measurement {
        round_trips: phase.answered,
        items: phase.items,
        items_range: phase.items_range,
        batch: scenario.batch(p.batch),
        wall: phase.wall,
        latency_from_due: phase.pacing.map(|_| latency.from_due),
        latency: latency.from_start,
        client_cpu,
        server_cores,
        wait,
        allocations: phase.allocations,
        reconnects,
        exchanges,
        pacing: phase.pacing,
    })
}

/// The latencies of a phase, in nanoseconds: from where each call's
/// latency starts, and from its due time (the same but for a call of a
/// phase at a fixed rate whose client woke late from its sleep: see
/// [`pace`](super::pace)).
struct Latencies {
    from_start: Histogram<u64>,
    from_due: Histogram<u64>,
}

impl Latencies {
    fn new() -> Self {
        Self {
            from_start: latency_histogram(),
            from_due: latency_histogram(),
        }
    }
}

/// What one phase did.
struct Phase {
    /// Requests answered.
    answered: u64,
    /// Items in the answers.
    items: u64,
    /// The fewest and the most items of one answer.
    items_range: (u32, u32),
    wall: Duration,
    /// Allocations of the process meanwhile (outside the progress ticks).
    allocations: u64,
    /// What the pacing did, in a phase at a fixed rate.
    pacing: Option<Pacing>,
}

/// Runs requests for `duration` with up to `depth` in flight, then waits
/// for the last answers.
///
/// Without a `rate` a request is sent as soon as one is answered (the
/// first `depth` at once, even in a phase of 0 s) until `duration` has
/// passed, and its latency counts from its send. At a `rate`, call `k` is
/// due at `start + k / rate` (see [`pace`](super::pace)): the calls due
/// before the end are sent, each at its due time or at once when it is
/// late (the first one even in a phase of 0 s), while fewer than `depth`
/// are in flight, and a latency counts from the due time (or from the end
/// of the client's sleep, when that ended after it). A pipelined row
/// (`depth` > 1) sends a due call only between answers: the client waits
/// for the oldest answer while calls are in flight.
fn run_phase<T: Transport>(
    t: &mut T,
    depth: usize,
    duration: Duration,
    rate: Option<u64>,
    ids: &mut u64,
    latency: &mut Latencies,
    tick: &mut dyn FnMut(Duration),
) -> Result<Phase, BenchError> {
    let mut pending: Vec<(u64, Start)> = Vec::with_capacity(depth);
    let mut tick_allocations = 0;
    let mut tick = |d: Duration| {
        let before = allocations();
        tick(d);
        tick_allocations += allocations() - before;
    };
    let allocations_before = allocations();
    let start = Instant::now();
    let end = start + duration;
    let mut pacer = rate.map(|r| Pacer::new(Schedule::new(start, r)));
    let mut next_tick = start + TICK;
    let mut sent = 0u64;
    let mut answered = 0u64;
    let mut items = 0u64;
    let mut items_range = (u32::MAX, 0);
    let mut now = start;
    loop {
        if pending.len() < depth {
            // The start of the next call's latency, if it is to be sent now.
            let from = match pacer.as_mut() {
                None if now < end || sent < depth as u64 => {
                    let now = Instant::now();
                    Some(Start {
                        due: now,
                        from: now,
                    })
                }
                None => None,
                Some(pacer) => {
                    let (due, current) = (pacer.due(), Instant::now());
                    let open = sent == 0 || (due < end && current < end);
                    (open && (pending.is_empty() || due <= current)).then(|| pacer.wait())
                }
            };
            if let Some(from) = from {
                let id = *ids;
                *ids += 1;
                sent += 1;
                t.send(id)?;
                pending.push((id, from));
                continue;
            }
        }
        if pending.is_empty() {
            break;
        }
        let (id, n) = t.recv()?;
        now = Instant::now();
        let at = pending.iter().position(|&(p, _)| p == id).ok_or_else(|| {
            BenchError::new(format!(
                "an answer for request {id}, which is not in flight"
            ))
        })?;
        let (_, call) = pending.swap_remove(at);
        let ns = |since: Instant| {
            let ns = now.saturating_duration_since(since).as_nanos();
            u64::try_from(ns).unwrap_or(u64::MAX).max(1)
        };
        latency.from_start.saturating_record(ns(call.from));
        latency.from_due.saturating_record(ns(call.due));
        answered += 1;
        items += u64::from(n);
        items_range = (items_range.0.min(n), items_range.1.max(n));
        if now >= next_tick {
            tick(now.duration_since(start));
            next_tick = now + TICK;
        }
    }
    let allocated = allocations() - allocations_before;
    tick(duration);
    Ok(Phase {
        answered,
        items,
        items_range: (items_range.0.min(items_range.1), items_range.1),
        wall: now.duration_since(start),
        allocations: allocated.saturating_sub(tick_allocations),
        pacing: pacer.map(|p| p.pacing()),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// Answers every request at once, in order; sending request `stall`
    /// takes `pause` (a stall of the pairing).
    struct Echo {
        queue: VecDeque<u64>,
        stall: u64,
        pause: Duration,
    }

    impl Echo {
        fn new(stall: u64, pause: Duration) -> Self {
            Self {
                queue: VecDeque::new(),
                stall,
                pause,
            }
        }
    }

    impl Transport for Echo {
        fn send(&mut self, id: u64) -> Result<(), BenchError> {
            if id == self.stall {
                std::thread::sleep(self.pause);
            }
            self.queue.push_back(id);
            Ok(())
        }

        fn recv(&mut self) -> Result<(u64, u32), BenchError> {
            let id = self.queue.pop_front().expect("an answer in flight");
            Ok((id, 1))
        }
    }

    fn phase(
        t: &mut Echo,
        depth: usize,
        duration: Duration,
        rate: Option<u64>,
    ) -> (Phase, Latencies, u64) {
        let mut ids = 1;
        let mut latency = Latencies::new();
        let p = run_phase(
            t,
            depth,
            duration,
            rate,
            &mut ids,
            &mut latency,
            &mut |_| {},
        )
        .expect("phase");
        (p, latency, ids)
    }

    #[test]
    fn a_phase_of_no_time_sends_one_round() {
        let (p, latency, ids) = phase(&mut Echo::new(0, Duration::ZERO), 4, Duration::ZERO, None);
        assert_eq!((p.answered, ids, latency.from_start.len()), (4, 5, 4));
        assert!(p.pacing.is_none());
        let (p, _, ids) = phase(
            &mut Echo::new(0, Duration::ZERO),
            4,
            Duration::ZERO,
            Some(1000),
        );
        // At a rate the one round is call 0, due at the start.
        assert_eq!((p.answered, ids), (1, 2));
        let pacing = p.pacing.expect("paced");
        assert_eq!((pacing.rate, pacing.behind, pacing.waits), (1000, 0, 0));
    }

    /// At 100 calls/s for 50 ms, calls 0 to 4 are due (at 0, 10, ... 40
    /// ms) and no other: a slow machine may send fewer (a call still due
    /// when the phase is over is dropped), never more. Sending call 2 (id
    /// 3) stalls for 25 ms, so calls 3 and 4 are behind and their latency
    /// counts from their due time: at least 15 and 5 ms, although each was
    /// answered at once.
    #[test]
    fn calls_keep_to_the_schedule_and_a_stall_shows_in_the_calls_it_delays() {
        let mut t = Echo::new(3, Duration::from_millis(25));
        let (p, latency, _) = phase(&mut t, 1, Duration::from_millis(50), Some(100));
        assert!((3..=5).contains(&p.answered), "{}", p.answered);
        let pacing = p.pacing.expect("paced");
        assert_eq!(pacing.behind + pacing.waits, p.answered - 1, "{pacing:?}");
        if p.answered == 5 {
            assert!(pacing.behind >= 2, "{pacing:?}");
            // The stalled call and the two behind it, in both histograms
            // (a late wake-up only makes a latency from the due time longer).
            for h in [&latency.from_start, &latency.from_due] {
                assert!(h.count_between(5_000_000, u64::MAX) >= 3);
                assert!(h.max() >= 25_000_000);
                assert!(h.count_between(15_000_000, u64::MAX) >= 2);
            }
        }
        let (start, due) = (&latency.from_start, &latency.from_due);
        assert_eq!(start.len(), due.len());
        assert!(start.value_at_quantile(0.5) <= due.value_at_quantile(0.5));
        assert!(pacing.cpu <= p.wall, "{pacing:?} in {:?}", p.wall);
    }

    #[test]
    fn pipelined_calls_at_a_rate_are_all_answered() {
        let mut t = Echo::new(0, Duration::ZERO);
        let (p, latency, ids) = phase(&mut t, 16, Duration::from_millis(20), Some(1000));
        assert!((1..=20).contains(&p.answered), "{}", p.answered);
        assert_eq!(ids, p.answered + 1);
        assert_eq!(latency.from_start.len(), p.answered);
        assert!(t.queue.is_empty());
        assert_eq!(p.items, p.answered);
    }
}
