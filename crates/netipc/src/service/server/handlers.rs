//! Typed handlers and the dispatch of one request payload to them.

use crate::codec::{
    AppsLookupBuilder, AppsLookupRequest, CgroupsLookupBuilder, CgroupsLookupRequest,
    DispatchError, SnapshotBuilder, decode_increment, decode_string_reverse, dispatch_apps_lookup,
    dispatch_cgroups_lookup, dispatch_cgroups_snapshot, encode_increment, encode_string_reverse,
};
use crate::error::{CodecError, CodecErrorKind};
use crate::wire::Method;

/// What a handler returns when it cannot answer at all. Any error type
/// converts into it with `?`; its message goes to the server's log (see
/// [handler failures](crate::service#handler-failures)), not to the
/// client. Per-key outcomes such as "unknown" are item statuses, not
/// errors.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Answers `cgroups-snapshot` requests: a type that holds the provider's
/// data and knows how many items it adds at most. Serve it with
/// [`ManagedServer::from_snapshot_handler`](super::ManagedServer::from_snapshot_handler);
/// a plain closure goes to
/// [`ManagedServer::cgroups_snapshot`](super::ManagedServer::cgroups_snapshot)
/// instead.
///
/// Also implemented by closures
/// `Fn(&mut SnapshotBuilder<'_>) -> Result<(), HandlerError>` (with
/// `max_items` 0). Called from several worker threads at once.
///
/// ```
/// use netipc::codec::{SnapshotBuilder, SnapshotItem};
/// use netipc::service::{HandlerError, ManagedServer, ServerConfig, SnapshotHandler};
///
/// struct Fixed(Vec<(String, String)>);
///
/// impl SnapshotHandler for Fixed {
///     fn snapshot(&self, builder: &mut SnapshotBuilder<'_>) -> Result<(), HandlerError> {
///         for (name, path) in &self.0 {
///             let name = name.as_bytes();
///             builder.add(&SnapshotItem {
///                 hash: netipc::netdata::netdata_hash(name),
///                 name,
///                 path: path.as_bytes(),
///                 ..SnapshotItem::default()
///             })?;
///         }
///         Ok(())
///     }
///
///     fn max_items(&self) -> u32 {
///         u32::try_from(self.0.len()).unwrap_or(u32::MAX)
///     }
/// }
///
/// let data = Fixed(vec![("docker-1".into(), "/sys/fs/cgroup/docker-1".into())]);
/// let server = ManagedServer::from_snapshot_handler("/tmp", "cgroups-snapshot", &ServerConfig::default(), data);
/// # drop(server);
/// ```
pub trait SnapshotHandler: Send + Sync + 'static {
    /// Adds every cgroup to `builder` and sets its header values. An
    /// overflowing `add` makes the server answer `LIMIT_EXCEEDED` (the
    /// client then reconnects with a larger response size).
    ///
    /// # Errors
    /// Any error (and a panic) fails this request only: the client gets
    /// `INTERNAL_ERROR` (a netipc client does not send the request again),
    /// and the server logs the error's message and counts it (see
    /// [handler failures](crate::service#handler-failures)).
    fn snapshot(&self, builder: &mut SnapshotBuilder<'_>) -> Result<(), HandlerError>;

    /// Most items the handler adds; 0 means as many as the response
    /// budget holds. An `add` beyond it overflows.
    fn max_items(&self) -> u32 {
        0
    }
}

impl<F> SnapshotHandler for F
where
    F: Fn(&mut SnapshotBuilder<'_>) -> Result<(), HandlerError> + Send + Sync + 'static,
{
    fn snapshot(&self, builder: &mut SnapshotBuilder<'_>) -> Result<(), HandlerError> {
        self(builder)
    }
}

/// Answers `cgroups-lookup` requests (the closures of
/// [`ManagedServer::cgroups_lookup`](super::ManagedServer::cgroups_lookup)).
pub(crate) trait CgroupsLookupHandler: Send + Sync + 'static {
    /// Answers `request` into `builder` and sets the generation.
    ///
    /// # Errors
    /// Any error (and a panic) fails this request only: the client gets
    /// `INTERNAL_ERROR` (a netipc client does not send the request again),
    /// and the server logs the error's message and counts it (see
    /// [handler failures](crate::service#handler-failures)).
    fn lookup(
        &self,
        request: &CgroupsLookupRequest<'_>,
        builder: &mut CgroupsLookupBuilder<'_, '_>,
    ) -> Result<(), HandlerError>;
}

impl<F> CgroupsLookupHandler for F
where
    F: Fn(&CgroupsLookupRequest<'_>, &mut CgroupsLookupBuilder<'_, '_>) -> Result<(), HandlerError>
        + Send
        + Sync
        + 'static,
{
    fn lookup(
        &self,
        request: &CgroupsLookupRequest<'_>,
        builder: &mut CgroupsLookupBuilder<'_, '_>,
    ) -> Result<(), HandlerError> {
        self(request, builder)
    }
}

/// Answers `apps-lookup` requests (the closures of
/// [`ManagedServer::apps_lookup`](super::ManagedServer::apps_lookup)).
pub(crate) trait AppsLookupHandler: Send + Sync + 'static {
    /// Answers `request` into `builder` and sets the generation.
    ///
    /// # Errors
    /// Any error (and a panic) fails this request only: the client gets
    /// `INTERNAL_ERROR` (a netipc client does not send the request again),
    /// and the server logs the error's message and counts it (see
    /// [handler failures](crate::service#handler-failures)).
    fn lookup(
        &self,
        request: &AppsLookupRequest<'_>,
        builder: &mut AppsLookupBuilder<'_>,
    ) -> Result<(), HandlerError>;
}

impl<F> AppsLookupHandler for F
where
    F: Fn(&AppsLookupRequest<'_>, &mut AppsLookupBuilder<'_>) -> Result<(), HandlerError>
        + Send
        + Sync
        + 'static,
{
    fn lookup(
        &self,
        request: &AppsLookupRequest<'_>,
        builder: &mut AppsLookupBuilder<'_>,
    ) -> Result<(), HandlerError> {
        self(request, builder)
    }
}

/// Answers INCREMENT requests (the closures of
/// [`ManagedServer::increment`](super::ManagedServer::increment)).
pub(crate) trait IncrementHandler: Send + Sync + 'static {
    /// The answer for `value` (the reference test servers answer
    /// `value + 1`).
    ///
    /// # Errors
    /// Any error (and a panic) fails this request only: the client gets
    /// `INTERNAL_ERROR` (a netipc client does not send the request again),
    /// and the server logs the error's message and counts it (see
    /// [handler failures](crate::service#handler-failures)).
    fn increment(&self, value: u64) -> Result<u64, HandlerError>;
}

impl<F> IncrementHandler for F
where
    F: Fn(u64) -> Result<u64, HandlerError> + Send + Sync + 'static,
{
    fn increment(&self, value: u64) -> Result<u64, HandlerError> {
        self(value)
    }
}

/// Answers STRING_REVERSE requests (the closures of
/// [`ManagedServer::string_reverse`](super::ManagedServer::string_reverse)).
pub(crate) trait StringReverseHandler: Send + Sync + 'static {
    /// Writes the answer for `text` into `out`.
    ///
    /// # Errors
    /// Any error (and a panic) fails this request only: the client gets
    /// `INTERNAL_ERROR` (a netipc client does not send the request again),
    /// and the server logs the error's message and counts it (see
    /// [handler failures](crate::service#handler-failures)).
    fn reverse(&self, text: &[u8], out: &mut Vec<u8>) -> Result<(), HandlerError>;
}

impl<F> StringReverseHandler for F
where
    F: Fn(&[u8], &mut Vec<u8>) -> Result<(), HandlerError> + Send + Sync + 'static,
{
    fn reverse(&self, text: &[u8], out: &mut Vec<u8>) -> Result<(), HandlerError> {
        self(text, out)
    }
}

/// Per-session scratch space and facts a dispatcher may use.
#[derive(Debug)]
pub(crate) struct Scratch {
    text: Vec<u8>,
    /// The server could offer this session's client a larger response
    /// size: a lookup answer the budget had to cut short then becomes an
    /// overflow (the client reconnects with the larger size) instead of
    /// `OVERSIZED_ITEM` / `PAYLOAD_EXCEEDED` items.
    pub(crate) can_grow: bool,
    /// The error the handler returned for the request being answered,
    /// kept for the server's log.
    pub(crate) handler_error: Option<HandlerError>,
}

impl Scratch {
    pub(crate) fn new(can_grow: bool) -> Self {
        Self {
            text: Vec::new(),
            can_grow,
            handler_error: None,
        }
    }

    /// Whether the handler succeeded; keeps its error.
    fn succeeded(&mut self, result: Result<(), HandlerError>) -> bool {
        result.map_err(|e| self.failed(e)).is_ok()
    }

    /// Keeps the handler's error and reports the failure.
    fn failed(&mut self, error: HandlerError) -> DispatchError {
        self.handler_error = Some(error);
        DispatchError::HandlerFailed
    }
}

/// One handler behind the method it serves.
pub(crate) trait Dispatch: Send + Sync {
    fn method(&self) -> Method;

    /// Answers one request payload into `response`; returns the length.
    fn dispatch(
        &self,
        request: &[u8],
        response: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<usize, DispatchError>;
}

fn overflow(e: CodecError) -> DispatchError {
    DispatchError::Builder(e)
}

/// A lookup answer cut short by a budget that could grow.
fn cut_short(len: usize, converted: bool, can_grow: bool) -> Result<usize, DispatchError> {
    if converted && can_grow {
        return Err(overflow(CodecError::new(
            CodecErrorKind::Overflow,
            "lookup response budget",
            0,
        )));
    }
    Ok(len)
}

pub(crate) struct Snapshot<H>(pub(crate) H);
pub(crate) struct CgroupsLookup<H>(pub(crate) H);
pub(crate) struct AppsLookup<H>(pub(crate) H);
pub(crate) struct Increment<H>(pub(crate) H);
pub(crate) struct StringReverse<H>(pub(crate) H);

impl<H: SnapshotHandler> Dispatch for Snapshot<H> {
    fn method(&self) -> Method {
        Method::CgroupsSnapshot
    }

    fn dispatch(
        &self,
        request: &[u8],
        response: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<usize, DispatchError> {
        dispatch_cgroups_snapshot(request, response, self.0.max_items(), |_, b| {
            scratch.succeeded(self.0.snapshot(b))
        })
    }
}

impl<H: CgroupsLookupHandler> Dispatch for CgroupsLookup<H> {
    fn method(&self) -> Method {
        Method::CgroupsLookup
    }

    fn dispatch(
        &self,
        request: &[u8],
        response: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<usize, DispatchError> {
        let mut converted = false;
        let len = dispatch_cgroups_lookup(request, response, |r, b| {
            let ok = scratch.succeeded(self.0.lookup(r, b));
            converted = b.budget_converted();
            ok
        })?;
        cut_short(len, converted, scratch.can_grow)
    }
}

impl<H: AppsLookupHandler> Dispatch for AppsLookup<H> {
    fn method(&self) -> Method {
        Method::AppsLookup
    }

    fn dispatch(
        &self,
        request: &[u8],
        response: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<usize, DispatchError> {
        let mut converted = false;
        let len = dispatch_apps_lookup(request, response, |r, b| {
            let ok = scratch.succeeded(self.0.lookup(r, b));
            converted = b.budget_converted();
            ok
        })?;
        cut_short(len, converted, scratch.can_grow)
    }
}

impl<H: IncrementHandler> Dispatch for Increment<H> {
    fn method(&self) -> Method {
        Method::Increment
    }

    fn dispatch(
        &self,
        request: &[u8],
        response: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<usize, DispatchError> {
        let value = decode_increment(request).map_err(DispatchError::BadRequest)?;
        let answer = self.0.increment(value).map_err(|e| scratch.failed(e))?;
        encode_increment(answer, response).map_err(overflow)
    }
}

impl<H: StringReverseHandler> Dispatch for StringReverse<H> {
    fn method(&self) -> Method {
        Method::StringReverse
    }

    fn dispatch(
        &self,
        request: &[u8],
        response: &mut [u8],
        scratch: &mut Scratch,
    ) -> Result<usize, DispatchError> {
        let text = decode_string_reverse(request).map_err(DispatchError::BadRequest)?;
        scratch.text.clear();
        let result = self.0.reverse(text, &mut scratch.text);
        result.map_err(|e| scratch.failed(e))?;
        encode_string_reverse(&scratch.text, response).map_err(overflow)
    }
}
