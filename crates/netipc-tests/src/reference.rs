//! Lookup providers that behave like the reference implementation's
//! servers (spec/level2.md sections 2.2, 5.1, 11; spec/codec.md 5.8), built
//! on netipc's L1 sessions and codec builders, so that netipc clients can
//! be tested against every provider behaviour they meet in the field:
//!
//! - a thread per session and a response size shared by all sessions that
//!   grows only when the builder overflows (the placeholders of the
//!   request's keys do not fit): `LIMIT_EXCEEDED`, the session is closed,
//!   and the next sessions get `next_pow2(2 × budget)`, up to the ceiling;
//! - an answer cut short by the budget is never an overflow: its first item
//!   becomes `OVERSIZED_ITEM` when it does not fit beside the placeholders
//!   of the rest (even alone), later ones `PAYLOAD_EXCEEDED`;
//! - a request size fixed at its configured value: a larger proposal is
//!   refused at the handshake.
//!
//! Every key is answered from a rule (no table), so that tests can check
//! every item of a 32,768-key answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use netipc::CodecError;
use netipc::codec::{
    AppsEntry, AppsLookupBuilder, AppsLookupRequest, CgroupStatus, CgroupsEntry,
    CgroupsLookupBuilder, CgroupsLookupRequest, CgroupsLookupStatus, PidStatus,
    dispatch_apps_lookup, dispatch_cgroups_lookup,
};
use netipc::transport::{Listener, ServerOptions, ServerSession};
use netipc::wire::{MessageKind, Method, Profiles, TransportStatus};

/// Which lookup a provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// `CGROUPS_LOOKUP`, answered by [`cgroup_answer`].
    Cgroups,
    /// `APPS_LOOKUP`, answered by [`pid_answer`].
    Apps,
}

/// How a provider sizes and grows, and how it reports an overflow.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    /// Largest request payload; fixed (reference servers never take a
    /// proposal above their current size).
    pub request_max: u32,
    /// Response payload size of the first sessions.
    pub response_start: u32,
    /// Largest response size it grows to (equal to the start: fixed).
    pub response_ceiling: u32,
    /// Closes the session on an overflow without sending its
    /// `LIMIT_EXCEEDED` (the client reads a disconnect; the size is still
    /// learned), as a named-pipe server that disconnects before the client
    /// read the reply.
    pub loses_limit_exceeded: bool,
    /// Profiles offered (shared memory is preferred when offered).
    pub profiles: Profiles,
}

impl Behaviour {
    /// A reference Rust or Go server left at its defaults: requests of
    /// 1 KiB, responses from 1 KiB growing to 1 MiB.
    pub const RUST_GO_DEFAULT: Self = Self {
        request_max: 1024,
        response_start: 1024,
        response_ceiling: 1 << 20,
        loses_limit_exceeded: false,
        profiles: Profiles::BASELINE,
    };
    /// A reference C server left at its defaults: requests of 1 KiB and
    /// responses of 64 KiB, both fixed.
    pub const C_DEFAULT: Self = Self {
        request_max: 1024,
        response_start: 64 << 10,
        response_ceiling: 64 << 10,
        loses_limit_exceeded: false,
        profiles: Profiles::BASELINE,
    };
}

/// What a provider has done so far.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests answered with `OK`.
    pub answered: AtomicU64,
    /// Requests whose answer overflowed (`LIMIT_EXCEEDED`, sent or lost).
    pub overflowed: AtomicU64,
    /// Sessions that completed the handshake.
    pub sessions: AtomicU64,
    /// The current (learned) response size.
    pub response_size: AtomicU32,
}

/// A running provider; stopped (and joined) on drop.
#[derive(Debug)]
pub struct Provider {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl Provider {
    /// Binds `service` in `run_dir` and serves until dropped.
    ///
    /// # Panics
    /// When the endpoint cannot be bound.
    #[must_use]
    pub fn spawn(run_dir: &str, service: &str, lookup: Lookup, behaviour: Behaviour) -> Self {
        let options = ServerOptions {
            supported_profiles: behaviour.profiles,
            preferred_profiles: behaviour.profiles,
            max_request_payload_bytes: behaviour.request_max,
            max_response_payload_bytes: behaviour.response_start,
            ..ServerOptions::default()
        };
        let listener = Listener::bind(run_dir, service, &options).expect("bind the provider");
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        counters
            .response_size
            .store(behaviour.response_start, Ordering::Relaxed);
        let thread = {
            let (stop, counters) = (stop.clone(), counters.clone());
            thread::spawn(move || {
                accept_loop(&listener, &options, lookup, behaviour, &stop, &counters)
            })
        };
        Self {
            stop,
            thread: Some(thread),
            counters,
        }
    }

    /// What it has done so far.
    #[must_use]
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Requests answered with `OK` so far.
    #[must_use]
    pub fn answered(&self) -> u64 {
        self.counters.answered.load(Ordering::Relaxed)
    }

    /// Overflowed requests so far.
    #[must_use]
    pub fn overflowed(&self) -> u64 {
        self.counters.overflowed.load(Ordering::Relaxed)
    }

    /// The response size new sessions get.
    #[must_use]
    pub fn response_size(&self) -> u32 {
        self.counters.response_size.load(Ordering::Relaxed)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const SLICE: Duration = Duration::from_millis(50);

fn accept_loop(
    listener: &Listener,
    options: &ServerOptions,
    lookup: Lookup,
    behaviour: Behaviour,
    stop: &Arc<AtomicBool>,
    counters: &Arc<Counters>,
) {
    let mut sessions = Vec::new();
    let mut id = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok(incoming) = listener.accept(Some(SLICE), None) else {
            continue;
        };
        let options = ServerOptions {
            max_response_payload_bytes: counters.response_size.load(Ordering::Relaxed),
            ..*options
        };
        id += 1;
        let Ok(session) = incoming.handshake_with(id, &options, None) else {
            continue;
        };
        counters.sessions.fetch_add(1, Ordering::Relaxed);
        let (stop, counters) = (stop.clone(), counters.clone());
        sessions.push(thread::spawn(move || {
            serve(session, lookup, behaviour, &stop, &counters);
        }));
        sessions.retain(|t| !t.is_finished());
    }
    for t in sessions {
        let _ = t.join();
    }
}

fn serve(
    mut session: ServerSession,
    lookup: Lookup,
    behaviour: Behaviour,
    stop: &AtomicBool,
    counters: &Counters,
) {
    let budget = session.params().max_response_payload_bytes as usize;
    let mut response = vec![0u8; budget];
    while !stop.load(Ordering::Relaxed) {
        let (header, result) = match session.recv(Some(SLICE), None) {
            Ok(m) if m.header.kind == MessageKind::Request => {
                let result = if m.header.code == lookup.method().code() {
                    Some(lookup.dispatch(m.payload, &mut response))
                } else {
                    None
                };
                (m.header, result)
            }
            Ok(_) => return,
            Err(netipc::Error::Timeout { .. }) => continue,
            Err(_) => return,
        };
        let sent = match result {
            None => session.respond_status(&header, TransportStatus::UNSUPPORTED),
            Some(Ok(n)) => {
                counters.answered.fetch_add(1, Ordering::Relaxed);
                session.respond(&header, &response[..n])
            }
            Some(Err(status)) if status == TransportStatus::LIMIT_EXCEEDED => {
                counters.overflowed.fetch_add(1, Ordering::Relaxed);
                let grown = (2 * budget as u64)
                    .next_power_of_two()
                    .min(u64::from(behaviour.response_ceiling)) as u32;
                counters.response_size.fetch_max(grown, Ordering::Relaxed);
                if !behaviour.loses_limit_exceeded {
                    let _ = session.respond_status(&header, status);
                }
                return;
            }
            Some(Err(status)) => session.respond_status(&header, status),
        };
        if sent.is_err() {
            return;
        }
    }
}

impl Lookup {
    /// The method answered.
    #[must_use]
    pub fn method(self) -> Method {
        match self {
            Self::Cgroups => Method::CgroupsLookup,
            Self::Apps => Method::AppsLookup,
        }
    }

    fn dispatch(self, request: &[u8], response: &mut [u8]) -> Result<usize, TransportStatus> {
        let result = match self {
            Self::Cgroups => {
                dispatch_cgroups_lookup(request, response, |r, b| answer_cgroups(r, b).is_ok())
            }
            Self::Apps => dispatch_apps_lookup(request, response, |r, b| answer_apps(r, b).is_ok()),
        };
        result.map_err(|e| e.transport_status())
    }
}

/// The generation every answer carries.
pub const GENERATION: u64 = 7;

/// A path whose answer is larger than any response (its name is 2 MiB):
/// always answered `OVERSIZED_ITEM`.
#[must_use]
pub fn is_huge_path(path: &[u8]) -> bool {
    path.starts_with(b"/huge/")
}

/// A PID whose answer is larger than any response (its cgroup path is
/// 2 MiB): always answered `OVERSIZED_ITEM`.
#[must_use]
pub fn is_huge_pid(pid: u32) -> bool {
    pid % 4099 == 4098
}

fn huge() -> &'static [u8] {
    static HUGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    HUGE.get_or_init(|| vec![b'h'; 2 << 20])
}

/// The labels of a known cgroup.
pub type Labels = [(Vec<u8>, Vec<u8>); 2];

/// The name and labels a provider answers for `path`: unknown for paths
/// under `/gone/`, otherwise a name derived from the path and two labels.
#[must_use]
pub fn cgroup_answer(path: &[u8]) -> Option<(Vec<u8>, Labels)> {
    if path.starts_with(b"/gone/") {
        return None;
    }
    let name = if is_huge_path(path) {
        huge().to_vec()
    } else {
        [
            b"name:".as_slice(),
            path.rsplit(|&b| b == b'/').next().unwrap_or(path),
        ]
        .concat()
    };
    Some((
        name,
        [
            (
                b"image".to_vec(),
                [b"img-".as_slice(), &path[path.len().saturating_sub(6)..]].concat(),
            ),
            (b"namespace".to_vec(), b"default".to_vec()),
        ],
    ))
}

/// Answers every path of `request` by [`cgroup_answer`] (a handler for
/// managed servers too).
///
/// # Errors
/// The builder's error (its overflow included).
pub fn answer_cgroups(
    request: &CgroupsLookupRequest<'_>,
    builder: &mut CgroupsLookupBuilder<'_, '_>,
) -> Result<(), CodecError> {
    builder.set_generation(GENERATION);
    for path in request.paths() {
        let added = match cgroup_answer(path) {
            None => builder.add_status(path, CgroupsLookupStatus::UnknownPermanent),
            Some((name, labels)) => builder.add(path, &CgroupsEntry::known(1, &name), &labels),
        };
        added?;
    }
    Ok(())
}

/// The comm, cgroup path and ppid a provider answers for `pid`: unknown
/// for multiples of 7 (except huge ones).
#[must_use]
pub fn pid_answer(pid: u32) -> Option<(Vec<u8>, Vec<u8>, u32)> {
    if pid % 7 == 0 && !is_huge_pid(pid) {
        return None;
    }
    let path = if is_huge_pid(pid) {
        huge().to_vec()
    } else {
        format!("/system.slice/app-{pid}.service").into_bytes()
    };
    Some((format!("proc{}", pid % 100_000).into_bytes(), path, pid / 2))
}

/// Answers every PID of `request` by [`pid_answer`] (a handler for
/// managed servers too).
///
/// # Errors
/// The builder's error (its overflow included).
pub fn answer_apps(
    request: &AppsLookupRequest<'_>,
    builder: &mut AppsLookupBuilder<'_>,
) -> Result<(), CodecError> {
    builder.set_generation(GENERATION);
    for pid in request.pids() {
        let added = match pid_answer(pid) {
            None => builder.add_status(pid, PidStatus::Unknown),
            Some((comm, path, ppid)) => builder.add(
                pid,
                &AppsEntry {
                    status: PidStatus::Known,
                    cgroup_status: CgroupStatus::Known,
                    orchestrator: 1,
                    ppid,
                    uid: 1000,
                    starttime: u64::from(pid) * 3,
                    comm: &comm,
                    cgroup_path: &path,
                    cgroup_name: b"app",
                },
                &[("unit", "app.service")],
            ),
        };
        added?;
    }
    Ok(())
}
