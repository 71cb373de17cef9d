//! Typed clients: one generic [`Client`] with the lifecycle every service
//! shares, and the calls of each service kind.

mod core;
mod lookup;

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use self::core::{ClientCore, Payload, deadline_after};
use crate::codec::{
    INCREMENT_PAYLOAD_LEN, SnapshotRequest, SnapshotView, decode_increment, decode_string_reverse,
    encode_increment, encode_string_reverse, string_reverse_len,
};
use crate::error::{CodecError, Error, Result};
use crate::service::{AbortHandle, ClientConfig, ClientState, ClientStatus};
use crate::wire::{BatchView, Method, Profiles};

pub(crate) use self::lookup::LookupScratch;

/// The end of one connection attempt of a wait for readiness that ends at
/// `deadline`: the call timeout from now, but not past the deadline, and
/// never less than a short floor (an attempt with no time left would only
/// report a timeout instead of the real cause).
pub(crate) fn attempt_end(call_timeout: Duration, deadline: Instant) -> Instant {
    const FLOOR: Duration = Duration::from_millis(20);
    let now = Instant::now();
    deadline_after(call_timeout)
        .at
        .min(deadline)
        .max(now + FLOOR)
}

/// Sleeps before the next attempt of a wait for readiness: `pause`, then
/// twice as long next time (at most 250 ms), never past `deadline`.
/// Returns `false` (without sleeping) when the deadline has passed.
pub(crate) fn pause_before_retry(pause: &mut Duration, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return false;
    }
    std::thread::sleep((*pause).min(left));
    *pause = (*pause * 2).min(Duration::from_millis(250));
    true
}

mod sealed {
    pub trait Sealed {}
}

/// A kind of service (one NetIPC method). Implemented by the marker types
/// of this module only.
pub trait ServiceKind: sealed::Sealed {
    /// The method this kind of service serves.
    const METHOD: Method;
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident => $method:ident, $alias:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl ServiceKind for $name {
            const METHOD: Method = Method::$method;
        }
        #[doc = concat!("A client of the `", stringify!($name), "` service kind.")]
        pub type $alias = Client<$name>;
    )*};
}

kinds! {
    /// The `cgroups-snapshot` service: the full list of cgroups.
    CgroupsSnapshot => CgroupsSnapshot, CgroupsSnapshotClient;
    /// The `cgroups-lookup` service: metadata of given cgroup paths.
    CgroupsLookup => CgroupsLookup, CgroupsLookupClient;
    /// The `apps-lookup` service: process and cgroup metadata of given PIDs.
    AppsLookup => AppsLookup, AppsLookupClient;
    /// The INCREMENT test and benchmark service (u64 in, u64 out).
    Increment => Increment, IncrementClient;
    /// The STRING_REVERSE test service.
    StringReverse => StringReverse, StringReverseClient;
}

/// What a client's current session negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionInfo {
    /// The selected transport profile (a set of one; prints as its name).
    pub profile: Profiles,
    /// Whether messages travel through shared memory.
    pub shared_memory: bool,
    /// Largest request payload the server accepts, in bytes.
    pub max_request_payload_bytes: u32,
    /// Most items in one batch request.
    pub max_request_batch_items: u32,
    /// Largest response payload the client accepts, in bytes.
    pub max_response_payload_bytes: u32,
}

/// A client of one service.
///
/// The lifecycle is the same for every kind: [`new`](Self::new) does no
/// I/O (the provider may not exist yet); [`connect`](Self::connect)
/// connects (and reconnects after a failure), driven by the caller's own
/// loop, with no background threads or timers, and says why it failed;
/// [`wait_ready`](Self::wait_ready) retries it for a while at start-up;
/// [`ready`](Self::ready) is a cheap check; calls fail at once with
/// [`Error::NotReady`] (carrying the cause of the last failed connection)
/// when the client is not connected. A call whose session breaks reconnects once and sends
/// the request again (at-least-once: the server may see it twice). An
/// error status from the provider is its answer, not a broken session: the
/// call fails with [`Error::Rejected`] without a re-send and the client
/// stays ready. A timeout or an abort ends the call without a retry and
/// leaves the client [`Broken`](ClientState::Broken) until the next
/// `connect`.
///
/// Responses are views into the client's buffers; the borrow checker keeps
/// them valid until the next call on the same client.
///
/// A client is used by one thread at a time (`&mut self`); only its
/// [`AbortHandle`] may be used from other threads. Dropping it closes it.
#[derive(Debug)]
#[must_use]
pub struct Client<K: ServiceKind> {
    core: ClientCore,
    /// The encoded request (batch items back to back).
    request: Vec<u8>,
    /// Where each batch item ends in `request`.
    ends: Vec<usize>,
    /// Stitching space of logical lookups.
    lookup: LookupScratch,
    _kind: PhantomData<K>,
}

impl<K: ServiceKind> Client<K> {
    /// A disconnected client of `service` under `run_dir`. No I/O.
    /// `run_dir` must exist when the client connects, on every OS, and is
    /// spelled like the provider's (see [`crate::transport::run_dir`]).
    pub fn new(run_dir: &str, service: &str, config: &ClientConfig) -> Self {
        Self {
            core: ClientCore::new(run_dir, service, K::METHOD, config.settings()),
            request: Vec::new(),
            ends: Vec::new(),
            lookup: LookupScratch::default(),
            _kind: PhantomData,
        }
    }

    /// Connects when disconnected or the provider was not found, and
    /// reconnects when broken; does nothing when already connected.
    /// Blocks for at most the call timeout. The caller drives it (for
    /// example once per collection cycle): there is no background thread.
    ///
    /// # Errors
    /// [`Error::NotReady`] with the client's new state and the cause: why
    /// the connection failed (no provider, a missing run directory,
    /// permission denied, a wrong auth token, an incompatible provider, a
    /// provider at capacity, a timeout...). The same cause stays available
    /// from [`last_error`](Self::last_error). After `AuthFailed` and
    /// `Incompatible` no further attempt is made until [`close`](Self::close).
    pub fn connect(&mut self) -> Result<()> {
        let deadline = deadline_after(self.core.call_timeout());
        self.core.connect(deadline.at)
    }

    /// Calls [`connect`](Self::connect) until the client is ready or
    /// `timeout` has passed, sleeping a little longer after each failed
    /// attempt (10 ms doubling up to 250 ms, never past `timeout`). For
    /// start-up, when the provider may not be running yet. A zero
    /// `timeout` makes one attempt.
    ///
    /// Blocks for at most `timeout` (plus one connection attempt's
    /// system calls). An abort through the [`AbortHandle`] ends it.
    ///
    /// # Errors
    /// [`Error::NotReady`] with the cause of the last attempt when
    /// `timeout` passes; at once when the provider refuses the client
    /// (`AuthFailed`) or is incompatible; [`Error::Aborted`].
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = deadline_after(timeout);
        let mut pause = Duration::from_millis(10);
        loop {
            let result = self.connect_until(attempt_end(self.core.call_timeout(), deadline.at));
            let sticky = matches!(
                self.core.state(),
                ClientState::AuthFailed | ClientState::Incompatible
            );
            if result.is_ok() || sticky {
                return result;
            }
            if self.core.abort_handle().is_aborted() {
                return Err(Error::Aborted);
            }
            if !pause_before_retry(&mut pause, deadline.at) {
                return result;
            }
        }
    }

    /// The same client (session, state, counters, abort handle, buffers)
    /// as a client of another service kind, for callers whose client is
    /// not bound to one method (the C API's contexts). No I/O: the next
    /// call sends the new kind's method on the same session, and a
    /// provider of another method answers it `UNSUPPORTED`
    /// ([`Error::Rejected`]).
    #[doc(hidden)]
    pub fn rebind<K2: ServiceKind>(mut self) -> Client<K2> {
        let placeholder = ClientCore::new("", "", K2::METHOD, *self.core.settings());
        let mut core = std::mem::replace(&mut self.core, placeholder);
        core.set_method(K2::METHOD);
        Client {
            core,
            request: std::mem::take(&mut self.request),
            ends: std::mem::take(&mut self.ends),
            lookup: std::mem::take(&mut self.lookup),
            _kind: PhantomData,
        }
    }

    /// [`connect`](Self::connect) that ends by `until`.
    pub(crate) fn connect_until(&mut self, until: Instant) -> Result<()> {
        self.core.connect(until)
    }

    /// Why the most recent connection attempt failed; `None` once one
    /// succeeds (and after [`close`](Self::close)). For callers that drive
    /// [`connect`](Self::connect) in a loop and report the cause later.
    #[must_use]
    pub fn last_error(&self) -> Option<&Error> {
        self.core.last_error().map(|e| &**e)
    }

    /// [`last_error`](Self::last_error), shared (for the cache).
    pub(crate) fn shared_last_error(&self) -> Option<std::sync::Arc<Error>> {
        self.core.last_error().cloned()
    }

    /// Whether the client is connected. No system call.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.core.state() == ClientState::Ready
    }

    /// State and counters.
    #[must_use]
    pub fn status(&self) -> ClientStatus {
        self.core.status()
    }

    /// A handle that aborts calls from other threads.
    pub fn abort_handle(&self) -> AbortHandle {
        self.core.abort_handle().clone()
    }

    /// The default time a call may take (the config's `call_timeout`).
    #[must_use]
    pub fn call_timeout(&self) -> Duration {
        self.core.call_timeout()
    }

    /// Changes the default time a call may take (what `None` means for
    /// the `*_with_timeout` calls); zero restores the configured default,
    /// as in [`ClientConfig::call_timeout`].
    pub fn set_call_timeout(&mut self, timeout: Duration) {
        self.core.set_call_timeout(timeout);
    }

    /// Closes the connection: the state becomes `Disconnected`, the abort
    /// flag is cleared, the counters are kept, and transports withdrawn
    /// after a shared-memory failure are offered again by the next
    /// `connect`.
    pub fn close(&mut self) {
        self.core.close();
    }

    /// What the current session negotiated, for diagnostics; `None` when
    /// not connected.
    #[must_use]
    pub fn session_info(&self) -> Option<SessionInfo> {
        self.core.session().map(|s| {
            let p = s.params();
            SessionInfo {
                profile: p.selected_profile,
                shared_memory: s.is_shm(),
                max_request_payload_bytes: p.max_request_payload_bytes,
                max_request_batch_items: p.max_request_batch_items,
                max_response_payload_bytes: p.max_response_payload_bytes,
            }
        })
    }

    /// Sends the items encoded in `request` (ending at `ends`) as one
    /// batch message; every answer must pass `check_item` (a failing one counts
    /// as a failed attempt). Returns the answers.
    fn send_batch(
        &mut self,
        check_item: fn(&[u8]) -> Result<(), CodecError>,
    ) -> Result<BatchView<'_>> {
        let timeout = self.core.call_timeout();
        let check = |m: &crate::transport::Message<'_>| {
            let batch = BatchView::new(m.payload, m.header.item_count)?;
            batch.iter().try_for_each(check_item)?;
            Ok(())
        };
        let payload = Payload::Batch {
            bytes: &self.request,
            ends: &self.ends,
        };
        self.core.call(payload, deadline_after(timeout), &check)?;
        let response = self.core.response().ok_or(Error::Disconnected)?;
        // `check` validated this directory.
        Ok(BatchView::from_checked(
            response.payload,
            response.header.item_count,
        ))
    }

    /// The timeout of one call: `None` is the client's call timeout; zero
    /// is refused (it would be a second spelling of the default).
    fn timeout(&self, timeout: Option<Duration>, call: &'static str) -> Result<Duration> {
        match timeout {
            None => Ok(self.core.call_timeout()),
            Some(t) if t.is_zero() => Err(Error::ZeroTimeout { call }),
            Some(t) => Ok(t),
        }
    }
}

impl Client<CgroupsSnapshot> {
    /// Fetches the full snapshot with the default timeout.
    ///
    /// # Errors
    /// See [`call_with_timeout`](Self::call_with_timeout).
    pub fn call(&mut self) -> Result<SnapshotView<'_>> {
        self.call_with_timeout(None)
    }

    /// Fetches the full snapshot within `timeout` (`None`: the client's
    /// [`call_timeout`](Client::call_timeout)). The header and directory
    /// are validated (a malformed one counts as a failed attempt:
    /// reconnect and one re-send); items are validated as they are read.
    ///
    /// # Errors
    /// `ZeroTimeout` for `Some(Duration::ZERO)` (nothing is sent),
    /// `NotReady`, `Aborted`, `Timeout`, `Rejected`, `CapacityExhausted`,
    /// `BadResponse`, `Codec`, transport errors of the re-send.
    pub fn call_with_timeout(&mut self, timeout: Option<Duration>) -> Result<SnapshotView<'_>> {
        let timeout = self.timeout(timeout, "CgroupsSnapshotClient::call_with_timeout")?;
        let mut request = [0u8; 4];
        SnapshotRequest::default().encode(&mut request)?;
        let check = |m: &crate::transport::Message<'_>| {
            SnapshotView::decode(m.payload)
                .map(|_| ())
                .map_err(Error::from)
        };
        self.core
            .call(Payload::Single(&request), deadline_after(timeout), &check)?;
        let response = self.core.response().ok_or(Error::Disconnected)?;
        // `check` validated these very bytes.
        Ok(SnapshotView::from_checked(response.payload))
    }
}

impl Client<Increment> {
    /// Sends `value`; the test server answers `value + 1`.
    ///
    /// # Errors
    /// As for any call.
    pub fn call(&mut self, value: u64) -> Result<u64> {
        let timeout = self.core.call_timeout();
        let mut request = [0u8; INCREMENT_PAYLOAD_LEN];
        encode_increment(value, &mut request)?;
        let check = |m: &crate::transport::Message<'_>| {
            decode_increment(m.payload).map(|_| ()).map_err(Error::from)
        };
        self.core
            .call(Payload::Single(&request), deadline_after(timeout), &check)?;
        let response = self.core.response().ok_or(Error::Disconnected)?;
        Ok(decode_increment(response.payload)?)
    }

    /// Sends all `values` as one batch message and returns the answers in
    /// order in `out` (cleared first). No I/O for an empty batch; a single
    /// value travels as a plain call. The batch needs the config's
    /// `max_request_batch_items` to be at least `values.len()`.
    ///
    /// # Errors
    /// As for any call; `LimitExceeded` when the batch has more items than
    /// negotiated.
    pub fn call_batch(&mut self, values: &[u64], out: &mut Vec<u64>) -> Result<()> {
        out.clear();
        match values {
            [] => return Ok(()),
            [v] => {
                let answer = self.call(*v)?;
                out.push(answer);
                return Ok(());
            }
            _ => {}
        }
        self.request.clear();
        self.ends.clear();
        for v in values {
            self.request.extend_from_slice(&v.to_ne_bytes());
            self.ends.push(self.request.len());
        }
        let batch = self.send_batch(|item| decode_increment(item).map(|_| ()))?;
        for item in batch.iter() {
            out.push(decode_increment(item)?);
        }
        Ok(())
    }
}

/// The answers of a string-reverse batch call, borrowed from the client.
#[derive(Debug, Clone, Copy)]
#[must_use]
pub struct StringBatch<'a> {
    batch: BatchView<'a>,
}

impl<'a> StringBatch<'a> {
    /// Number of answers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.batch.len()
    }

    /// Whether there are no answers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Answer `index` (validated when the response arrived).
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&'a [u8]> {
        self.batch
            .item(index)
            .and_then(|item| decode_string_reverse(item).ok())
    }

    /// The answers in request order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let batch = self.batch;
        (0..batch.len()).filter_map(move |i| {
            batch
                .item(i)
                .and_then(|item| decode_string_reverse(item).ok())
        })
    }
}

impl Client<StringReverse> {
    /// Sends `text`; the test server answers it reversed.
    ///
    /// # Errors
    /// As for any call.
    pub fn call(&mut self, text: &[u8]) -> Result<&[u8]> {
        let timeout = self.core.call_timeout();
        self.request.resize(string_reverse_len(text.len()), 0);
        let n = encode_string_reverse(text, &mut self.request)?;
        let check = |m: &crate::transport::Message<'_>| {
            decode_string_reverse(m.payload)
                .map(|_| ())
                .map_err(Error::from)
        };
        self.core.call(
            Payload::Single(&self.request[..n]),
            deadline_after(timeout),
            &check,
        )?;
        let response = self.core.response().ok_or(Error::Disconnected)?;
        Ok(decode_string_reverse(response.payload)?)
    }

    /// Sends all `texts` as one batch message (even a single one; no I/O for
    /// none); the answers come back in order. The batch needs the config's
    /// `max_request_batch_items` to be at least `texts.len()`.
    ///
    /// # Errors
    /// As for any call; `LimitExceeded` when the batch has more items than
    /// negotiated.
    pub fn call_batch<T: AsRef<[u8]>>(&mut self, texts: &[T]) -> Result<StringBatch<'_>> {
        if texts.is_empty() {
            return Ok(StringBatch {
                batch: BatchView::new(&[], 0)?,
            });
        }
        self.request.clear();
        self.ends.clear();
        for text in texts {
            let text = text.as_ref();
            let start = self.request.len();
            self.request
                .resize(start + string_reverse_len(text.len()), 0);
            encode_string_reverse(text, &mut self.request[start..])?;
            self.ends.push(self.request.len());
        }
        Ok(StringBatch {
            batch: self.send_batch(|item| decode_string_reverse(item).map(|_| ()))?,
        })
    }
}

impl<K: ServiceKind> Drop for Client<K> {
    fn drop(&mut self) {
        self.core.close();
    }
}
