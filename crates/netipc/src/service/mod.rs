//! L2: typed services. Clients with a connection state machine, retries and
//! logical lookups; managed servers with typed handlers. The same code runs
//! on every operating system: configs are service-level and no transport
//! type appears here. The identity and access types the configs take
//! ([`IdentityPolicy`], [`EndpointAccess`], [`Identities`], [`Identity`])
//! are re-exported from [`transport`](crate::transport), so a plugin imports
//! nothing from there.
//!
//! ```no_run
//! use netipc::service::{ClientConfig, CgroupsSnapshotClient};
//!
//! let mut client = CgroupsSnapshotClient::new("/run/netdata", "cgroups-snapshot", &ClientConfig::default());
//! // Once per collection cycle: connect if needed, then call.
//! match client.connect() {
//!     Ok(()) => {
//!         let snapshot = client.call()?;
//!         for item in snapshot.iter() {
//!             let item = item?;
//!             println!("{} {}", String::from_utf8_lossy(item.name), String::from_utf8_lossy(item.path));
//!         }
//!     }
//!     // Why it is not connected: no provider, permission denied, a wrong
//!     // auth token... (also kept in `client.last_error()`).
//!     Err(e) => eprintln!("cgroups-snapshot: {e}"),
//! }
//! # Ok::<(), netipc::Error>(())
//! ```
//!
//! # Handler failures
//!
//! A handler that returns an error (or panics) fails only the request it
//! was answering: the client gets the transport status `INTERNAL_ERROR`,
//! the session goes on, and the provider logs the error's message (the
//! `handler failed` or `handler panicked` event below) and counts it
//! ([`ServerStats::handler_errors`], [`ServerStats::handler_panics`]).
//! A netipc client returns such an answer as
//! [`Error::Rejected`](crate::Error::Rejected) without sending the request
//! again: a response with an error status comes from a live provider that
//! received and processed the request, so a re-send would fail the same
//! way and run the handler twice. The same holds for `BAD_ENVELOPE` and
//! `UNSUPPORTED`; only `LIMIT_EXCEEDED` (the client grows its sizes) and
//! failures of the connection itself (the provider restarted, the session
//! broke) are retried, once, on a new session. Reference clients of other
//! languages re-send after an error status, so their requests may still
//! reach a failing handler twice.
//!
//! # Observing a provider
//!
//! A [`ManagedServer`] reports what it does in two ways:
//!
//! - **Statistics**, [`ServerStats`], readable at any time from
//!   [`ManagedServer::stats`], [`RunningServer::stats`] and
//!   [`StopHandle::stats`]: sessions open and refused (by reason),
//!   requests, responses by status, handler errors and panics, bytes.
//! - **[`tracing`](https://docs.rs/tracing) events**, all with the target
//!   `netipc::server` and a `service` field (the service name). They cost
//!   nothing unless the application installs a subscriber that takes them
//!   (a disabled event is one relaxed load; no field is computed), and
//!   `netipc serve -v` prints them. The message names the event:
//!
//! | message | level | when | fields besides `service` |
//! |---|---|---|---|
//! | `serving` | info | the endpoint was created | `endpoint`, `method`, `workers`, `session_limit` |
//! | `stopping` | info | the server was asked to stop | `sessions` |
//! | `stopped` | info | every session is closed | `sessions_opened`, `requests`, `failed_requests` |
//! | `session opened` | debug | a handshake succeeded | `session`, `profile`, `pid`, `uid`, `max_request_bytes`, `max_response_bytes` |
//! | `session closed` | debug | a session ended | `session`, `reason`, `requests` |
//! | `request` | trace | a request was answered | `session`, `id`, `status`, `request_bytes`, `response_bytes` |
//! | `handler failed` | warn | the handler returned an error | `session`, `id`, `status`, `error` (the handler's message) |
//! | `handler panicked` | error | the handler panicked | `session`, `id`, `status`, `panic` (the panic message) |
//! | `request failed` | warn; debug for `LIMIT_EXCEEDED` | a request was answered `BAD_ENVELOPE`, `UNSUPPORTED` or `LIMIT_EXCEEDED` | `session`, `id`, `status`, `error` |
//! | `protocol error` | warn | a client broke the protocol; its session is closed | `session`, `error` |
//! | `send timeout` | warn | a client did not read a response (or finish a request) within the send timeout; its session is closed | `session`, `timeout_ms` |
//! | `session limit reached` | warn | the first client refused because the server is full (once until sessions close) | `session_limit`, `note` |
//! | `refused at capacity` | debug | a client was refused because the server is full | `pid`, `uid` |
//! | `consumer identity refused` | warn the first time, then debug | a consumer `consumer_identity` does not accept | `pid`, `uid`, `gid`; the first also `consumer_identity`, `note` |
//! | `authentication failed` | warn | a client's auth token differs | `pid`, `uid` |
//! | `handshake failed` | warn; debug when the connection closed before its HELLO | a HELLO was malformed or its proposal refused | `pid`, `uid`, `error` |
//! | `handshake timed out` | warn | no HELLO within the handshake deadline | `pid`, `uid`, `timeout_ms` |
//! | `connection dropped` | debug | closed unanswered: as many connections as the session limit were waiting for their HELLO | `pid`, `uid`, `handshaking` |
//! | `session limit lowered` | warn | the open-file limit allows fewer sessions than configured | `wanted`, `session_limit` |
//! | `accept failed`, `stop grace exceeded` | warn | accepting failed (the server pauses and retries); handlers still ran after [`STOP_GRACE`] | `error`; `handlers` |
//! | `listener re-arm failed`, `event wait failed`, `worker start failed` | error | an OS call the server needs failed (it retries or runs with fewer workers) | `error` |
//! | `session failed`, `connection wait failed` | debug | a connection ended on an I/O error (a session's `session closed` then says `I/O error`) | `error`; `session` for `session failed` |
//!
//! `session` is the session id the handshake assigned (also in the client's
//! session and in the name of a shared-memory region file); `id` the
//! request's message id; `profile` the transport's profile name
//! as [`Profiles`] prints it (`baseline`, `shm-hybrid`, `shm-alt`); `reason` one of `client left`,
//! `protocol error`, `send timeout`, `error response` (after
//! `LIMIT_EXCEEDED` or `BAD_ENVELOPE`), `server stopped`, `I/O error`.
//! `pid` and `uid` are what the OS reports for the peer (absent when it
//! reports nothing; Windows reports no uid).
//!
//! # Defaults: zero, empty, `None`
//!
//! A config field or setter that holds a default uses zero (or an empty
//! [`Profiles`] set) for "the documented default": `call_timeout`,
//! `send_timeout`, the sizes and limits of [`ClientConfig`] and
//! [`ServerConfig`], and [`Client::set_call_timeout`]. A timeout for one
//! call is an `Option<Duration>`: `None` is the client's call timeout, and
//! `Some(Duration::ZERO)` is refused with [`Error::ZeroTimeout`](crate::Error::ZeroTimeout)
//! before anything is sent (it is not a second spelling of the default,
//! and no call can complete in no time).

mod client;
mod config;
mod server;
mod state;

pub use client::{
    AppsLookup, AppsLookupClient, CgroupsLookup, CgroupsLookupClient, CgroupsSnapshot,
    CgroupsSnapshotClient, Client, Increment, IncrementClient, ServiceKind, SessionInfo,
    StringBatch, StringReverse, StringReverseClient,
};
pub(crate) use client::{attempt_end, pause_before_retry};
pub use config::{
    ClientConfig, DEFAULT_CALL_TIMEOUT, DEFAULT_MAX_LOOKUP_ITEMS,
    DEFAULT_MAX_LOOKUP_RESPONSE_BYTES, DEFAULT_MAX_LOOKUP_SUBCALLS, DEFAULT_MAX_SESSIONS,
    DEFAULT_PROFILES, DEFAULT_SEND_TIMEOUT, DEFAULT_SERVER_RESPONSE_START, MAX_WORKERS,
    ServerConfig,
};
pub use server::{
    BoundServer, HandlerError, ManagedServer, ResponseCounts, RunningServer, STOP_GRACE,
    ServerStats, SnapshotHandler, StopHandle,
};
pub use state::{AbortHandle, ClientState, ClientStatus};
// The identity and access types that `ClientConfig` and `ServerConfig`
// name, so that a plugin needs nothing from `transport`.
pub use crate::transport::{
    EndpointAccess, Identities, Identity, IdentityParseError, IdentityPolicy, Sid,
};
pub use crate::wire::{ParseProfilesError, Profiles};
