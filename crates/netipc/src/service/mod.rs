//! L2: typed services. Clients with a connection state machine, retries and
//! logical lookups; managed servers with typed handlers. The same code runs
//! on every operating system: configs are service-level and no transport
//! type appears here.
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
    DEFAULT_PROFILES, DEFAULT_SEND_TIMEOUT, MAX_WORKERS, ServerConfig,
};
pub use server::{
    HandlerError, ManagedServer, RunningServer, STOP_GRACE, ServerStats, SnapshotHandler,
    StopHandle,
};
pub use state::{AbortHandle, ClientState, ClientStatus};

pub use crate::wire::{ParseProfilesError, Profiles};
