//! Service-level configuration of clients and managed servers.
//!
//! Every field means the same thing on every operating system, including
//! what zero (or an empty profile set) means: the documented default. There are no transport knobs here (packet sizes,
//! backlogs): the transport picks those itself.

use std::time::Duration;

use crate::transport::{EndpointAccess, IdentityPolicy};
use crate::wire::{MAX_PAYLOAD_CAP, MAX_PAYLOAD_DEFAULT, Profiles};

/// Default time a call may take.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default maximum number of keys in one logical lookup.
pub const DEFAULT_MAX_LOOKUP_ITEMS: u32 = 65536;
/// Default maximum number of request/response exchanges of one lookup.
pub const DEFAULT_MAX_LOOKUP_SUBCALLS: u32 = 4096;
/// Default maximum size of a stitched lookup response (64 MiB).
pub const DEFAULT_MAX_LOOKUP_RESPONSE_BYTES: u32 = 64 << 20;
/// Default most client sessions a managed server keeps open at once.
pub const DEFAULT_MAX_SESSIONS: usize = 1024;
/// Default time a managed server waits for a client to read a response
/// before it closes the session.
pub const DEFAULT_SEND_TIMEOUT: Duration = crate::transport::DEFAULT_SEND_TIMEOUT;
/// Fewest and most worker threads a managed server starts when its config
/// leaves `workers` at zero (one per CPU in between).
const AUTO_WORKERS: (usize, usize) = (2, 16);
/// Most worker threads a managed server starts, whatever its config says
/// (more handlers at once than this only cost memory and switches).
pub const MAX_WORKERS: usize = 1024;

/// The transport profiles used when a config leaves them empty: the
/// baseline transport plus shared memory with sleeping waiters, preferring
/// shared memory. Both are available on Linux and on Windows.
pub const DEFAULT_PROFILES: Profiles = Profiles::BASELINE.union(Profiles::SHM_HYBRID);

/// How a client connects and calls. `Default` gives the documented
/// defaults; change fields with struct update syntax:
///
/// ```
/// use netipc::service::ClientConfig;
/// let config = ClientConfig { auth_token: 0x1234, ..ClientConfig::default() };
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientConfig {
    /// Transport profiles to offer. Empty: baseline plus shared memory
    /// ([`DEFAULT_PROFILES`]).
    pub supported_profiles: Profiles,
    /// Profiles to prefer among the common ones (those not offered are
    /// ignored). Empty: shared memory with sleeping waiters
    /// ([`Profiles::SHM_HYBRID`]) when both sides offer it.
    pub preferred_profiles: Profiles,
    /// Largest request payload in bytes the client starts by proposing.
    /// 0: 1024, growing on demand up to 1 MiB. A non-zero value is both the
    /// start and the ceiling of the growth.
    pub max_request_payload_bytes: u32,
    /// Largest number of items in one batch request, proposed in the
    /// handshake (responses carry the same number). 0: 1. Only the batch
    /// calls of the test services use more than one item.
    pub max_request_batch_items: u32,
    /// Response payload size in bytes the client starts from when it has to
    /// grow after an oversized response. 0: 1024, growing up to 1 MiB. The
    /// ceiling of that growth (1 MiB, or the configured value) is also the
    /// largest response the client accepts: a provider announcing more is
    /// held to it, and a larger response fails the call with
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge) before
    /// anything is allocated for it.
    pub max_response_payload_bytes: u32,
    /// Shared secret; must equal the server's.
    pub auth_token: u64,
    /// Longest a call may take. Zero: 30 seconds ([`DEFAULT_CALL_TIMEOUT`]).
    pub call_timeout: Duration,
    /// Most keys in one logical lookup. 0: 65536.
    pub max_lookup_items: u32,
    /// Most request/response exchanges of one logical lookup. 0: 4096.
    pub max_lookup_subcalls: u32,
    /// Largest stitched lookup response in bytes. 0: 64 MiB.
    pub max_lookup_response_bytes: u32,
    /// Which providers the client talks to, checked on every connection
    /// before the auth token is sent. `Default`: a provider running as
    /// this process's user or as the OS administrator (Linux: uid 0;
    /// Windows: LocalSystem or an elevated administrator). See
    /// [`crate::transport::identity`] for what each OS reports.
    pub provider_identity: IdentityPolicy,
}

/// A [`ClientConfig`] with every zero replaced by its default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientSettings {
    pub(crate) supported_profiles: Profiles,
    pub(crate) preferred_profiles: Profiles,
    pub(crate) request_start: u32,
    pub(crate) request_ceiling: u32,
    pub(crate) response_start: u32,
    pub(crate) response_ceiling: u32,
    pub(crate) batch_items: u32,
    pub(crate) auth_token: u64,
    pub(crate) call_timeout: Duration,
    pub(crate) max_lookup_items: u32,
    pub(crate) max_lookup_subcalls: u32,
    pub(crate) max_lookup_response_bytes: u32,
    pub(crate) provider_identity: IdentityPolicy,
}

fn or(v: u32, default: u32) -> u32 {
    if v == 0 { default } else { v }
}

/// Response payload size a managed server starts from when its config
/// leaves `max_response_payload_bytes` at zero (it grows up to 1 MiB from
/// there). It is the fixed response size of the reference C servers, which
/// Netdata's C plugins meet every day: a first request from any reference
/// client (at most 1024 bytes of keys, or a snapshot of some hundred
/// cgroups) is answered without `LIMIT_EXCEEDED`, so their retry path (which
/// re-sends a corrupted request over shared memory) is rarely taken. The
/// memory is mapped per session but only touched as far as responses
/// reach.
pub const DEFAULT_SERVER_RESPONSE_START: u32 = 64 << 10;

/// (start, ceiling) of a payload size: zero starts at 1024 and may grow to
/// 1 MiB; a configured value is fixed.
pub(crate) fn growth(configured: u32) -> (u32, u32) {
    match configured {
        0 => (MAX_PAYLOAD_DEFAULT, MAX_PAYLOAD_CAP),
        n => (n, n),
    }
}

impl ClientConfig {
    pub(crate) fn settings(&self) -> ClientSettings {
        let (request_start, request_ceiling) = growth(self.max_request_payload_bytes);
        let (response_start, response_ceiling) = growth(self.max_response_payload_bytes);
        let supported = self.supported_profiles.or(DEFAULT_PROFILES);
        ClientSettings {
            supported_profiles: supported,
            preferred_profiles: self.preferred_profiles.or(Profiles::SHM_HYBRID) & supported,
            request_start,
            request_ceiling,
            response_start,
            response_ceiling,
            batch_items: or(self.max_request_batch_items, 1),
            auth_token: self.auth_token,
            call_timeout: if self.call_timeout.is_zero() {
                DEFAULT_CALL_TIMEOUT
            } else {
                self.call_timeout
            },
            max_lookup_items: or(self.max_lookup_items, DEFAULT_MAX_LOOKUP_ITEMS),
            max_lookup_subcalls: or(self.max_lookup_subcalls, DEFAULT_MAX_LOOKUP_SUBCALLS),
            max_lookup_response_bytes: or(
                self.max_lookup_response_bytes,
                DEFAULT_MAX_LOOKUP_RESPONSE_BYTES,
            ),
            provider_identity: self.provider_identity,
        }
    }
}

/// How a managed server listens and answers. `Default` gives the
/// documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerConfig {
    /// Transport profiles to offer. Empty: baseline plus shared memory
    /// ([`DEFAULT_PROFILES`]).
    pub supported_profiles: Profiles,
    /// Profiles to prefer (those not offered are ignored). Empty:
    /// [`Profiles::SHM_HYBRID`].
    pub preferred_profiles: Profiles,
    /// Largest request payload in bytes accepted. 0: 1 MiB. Each session
    /// uses the (smaller) size its client proposes, so memory follows what
    /// clients actually send.
    pub max_request_payload_bytes: u32,
    /// Response payload size in bytes announced to clients. 0: starts at
    /// 64 KiB ([`DEFAULT_SERVER_RESPONSE_START`]) and grows up to 1 MiB when
    /// responses do not fit. A non-zero value is fixed.
    pub max_response_payload_bytes: u32,
    /// Shared secret clients must present.
    pub auth_token: u64,
    /// Most handlers running at the same time: the number of worker
    /// threads. It bounds parallelism, not the number of connected
    /// clients (see `max_sessions`). 0: one per CPU, at least 2 and at
    /// most 16. Larger values are held to [`MAX_WORKERS`].
    pub workers: usize,
    /// Most client sessions open at once. A client beyond it is refused at
    /// once with "provider at capacity" (and retries later). 0: 1024. The
    /// server holds fewer when the process's descriptor limit does not
    /// allow that many (POSIX: it first raises the soft limit of open
    /// files as far as the hard limit allows).
    pub max_sessions: usize,
    /// Longest a response waits for its client to make room (a client that
    /// stopped reading); the session is closed after it, and everyone else
    /// is served meanwhile. The same limit applies to a request whose
    /// client stops sending half way through. Zero: 5 seconds
    /// ([`DEFAULT_SEND_TIMEOUT`]).
    pub send_timeout: Duration,
    /// Which consumers are served, by the identity the OS reports for
    /// them. `Default`: any process that can open the endpoint. A refused
    /// consumer gets an authentication failure (a netipc client learns it
    /// was for its identity), nothing is set up for it, and it is counted
    /// in [`ServerStats::refused_identity`](crate::service::ServerStats::refused_identity).
    pub consumer_identity: IdentityPolicy,
    /// Who may open the endpoint and the shared-memory regions. Default:
    /// the provider's user only (Linux: mode 0600); see [`EndpointAccess`]
    /// for a group (Linux: mode 0660 and the group; Windows: the pipe's
    /// DACL).
    pub endpoint_access: EndpointAccess,
}

impl ServerConfig {
    pub(crate) fn workers(&self) -> usize {
        if self.workers > 0 {
            return self.workers.min(MAX_WORKERS);
        }
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        cpus.clamp(AUTO_WORKERS.0, AUTO_WORKERS.1)
    }

    pub(crate) fn max_sessions(&self) -> usize {
        if self.max_sessions == 0 {
            DEFAULT_MAX_SESSIONS
        } else {
            self.max_sessions
        }
    }

    pub(crate) fn send_timeout(&self) -> Duration {
        if self.send_timeout.is_zero() {
            DEFAULT_SEND_TIMEOUT
        } else {
            self.send_timeout
        }
    }

    /// (start, ceiling) of the response size.
    pub(crate) fn response_growth(&self) -> (u32, u32) {
        match self.max_response_payload_bytes {
            0 => (DEFAULT_SERVER_RESPONSE_START, MAX_PAYLOAD_CAP),
            n => (n, n),
        }
    }

    pub(crate) fn supported(&self) -> Profiles {
        self.supported_profiles.or(DEFAULT_PROFILES)
    }

    pub(crate) fn preferred(&self) -> Profiles {
        self.preferred_profiles.or(Profiles::SHM_HYBRID) & self.supported()
    }
}
