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
    AppsLookupHandler, CgroupsLookupHandler, HandlerError, IncrementHandler, ManagedServer,
    RunningServer, STOP_GRACE, ServerStats, SnapshotHandler, StopHandle, StringReverseHandler,
};
pub use state::{AbortHandle, ClientState, ClientStatus};
// The identity and access types that `ClientConfig` and `ServerConfig`
// name, so that a plugin needs nothing from `transport`.
pub use crate::transport::{
    EndpointAccess, Identities, Identity, IdentityParseError, IdentityPolicy, Sid,
};
