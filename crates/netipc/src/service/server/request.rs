//! Answering one request: dispatch (per item for batches) with panics
//! contained, the error statuses, and the payload sizes the server learns
//! from its traffic.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};

use super::handlers::{Dispatch, HandlerError, Scratch};
use crate::codec::DispatchError;
use crate::error::CodecErrorKind;
use crate::wire::{BatchBuilder, BatchView, Header, MessageKind, TransportStatus};

/// A payload size shared by all sessions that only grows (by powers of
/// two) up to its ceiling.
#[derive(Debug)]
pub(crate) struct Learned {
    value: AtomicU32,
    ceiling: u32,
}

impl Learned {
    pub(crate) fn new((start, ceiling): (u32, u32)) -> Self {
        Self {
            value: AtomicU32::new(start),
            ceiling,
        }
    }

    pub(crate) fn get(&self) -> u32 {
        self.value.load(Ordering::Relaxed)
    }

    pub(crate) fn ceiling(&self) -> u32 {
        self.ceiling
    }

    /// Whether `size` is still below the ceiling.
    pub(crate) fn can_exceed(&self, size: u32) -> bool {
        size < self.ceiling
    }

    /// Grows to hold `size` bytes (rounded up to a power of two, capped).
    pub(crate) fn learn(&self, size: u64) {
        let want = size.max(16).checked_next_power_of_two().unwrap_or(u64::MAX);
        let want = u32::try_from(want).unwrap_or(u32::MAX).min(self.ceiling);
        self.value.fetch_max(want, Ordering::Relaxed);
    }
}

/// How a request is answered.
pub(crate) enum Reply {
    /// An OK response: the first `len` bytes of the response buffer.
    Payload(usize),
    /// An empty response with this status; `close` ends the session after
    /// it: after `LIMIT_EXCEEDED` (the client reconnects with larger
    /// sizes) and `BAD_ENVELOPE`. A failed or panicking handler and a
    /// wrong method keep the session: the client gets the status as the
    /// final answer to that request and goes on.
    Status {
        status: TransportStatus,
        close: bool,
        cause: Cause,
    },
    /// Not a request: the session ends without an answer.
    Drop,
}

/// Why a request failed, for the server's log and counters.
pub(crate) enum Cause {
    /// A request for another method than the server's.
    WrongMethod,
    /// An undecodable request, or an answer that does not fit or is
    /// invalid.
    Dispatch(DispatchError),
    /// The handler returned this error.
    Handler(HandlerError),
    /// The handler panicked with this payload.
    Panic(Box<dyn Any + Send>),
}

/// The message of a panic payload (`panic!` with a message makes a
/// `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    match payload.downcast_ref::<&str>() {
        Some(text) => text,
        None => payload
            .downcast_ref::<String>()
            .map_or("a panic without a message", String::as_str),
    }
}

/// A worker's buffers, reused for every request it answers (the response
/// buffer keeps the largest response budget the worker has served, at most
/// the server's response ceiling), and its index (its slot in per-worker
/// counters).
#[derive(Debug)]
pub(crate) struct Buffers {
    pub(crate) worker: usize,
    pub(crate) response: Vec<u8>,
    scratch: Scratch,
}

impl Buffers {
    pub(crate) fn new(worker: usize) -> Self {
        Self {
            worker,
            response: Vec::new(),
            scratch: Scratch::new(false),
        }
    }
}

/// Answers one received message of a session whose responses may carry
/// `budget` payload bytes. Panics of the handler are contained here.
pub(crate) fn answer_message(
    dispatcher: &dyn Dispatch,
    response_size: &Learned,
    header: &Header,
    payload: &[u8],
    budget: u32,
    buffers: &mut Buffers,
) -> Reply {
    if header.kind != MessageKind::Request {
        return Reply::Drop;
    }
    if header.code != dispatcher.method().code() {
        return Reply::Status {
            status: TransportStatus::UNSUPPORTED,
            close: false,
            cause: Cause::WrongMethod,
        };
    }
    let budget = budget as usize;
    if buffers.response.len() < budget {
        buffers.response.resize(budget, 0);
    }
    buffers.scratch.can_grow = response_size.can_exceed(budget as u32);
    buffers.scratch.handler_error = None;
    let Buffers {
        response, scratch, ..
    } = buffers;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        answer(
            dispatcher,
            header,
            payload,
            &mut response[..budget],
            scratch,
        )
    }));
    match outcome {
        Ok(Ok(len)) => Reply::Payload(len),
        Ok(Err(e)) => {
            let status = e.transport_status();
            if status == TransportStatus::LIMIT_EXCEEDED {
                let needed = needed_size(dispatcher, header, payload, budget, response_size);
                response_size.learn(needed);
            }
            let cause = match (e, scratch.handler_error.take()) {
                (DispatchError::HandlerFailed, Some(error)) => Cause::Handler(error),
                (e, _) => Cause::Dispatch(e),
            };
            Reply::Status {
                status,
                close: status != TransportStatus::INTERNAL_ERROR,
                cause,
            }
        }
        // A panicking handler fails only this request.
        Err(payload) => Reply::Status {
            status: TransportStatus::INTERNAL_ERROR,
            close: false,
            cause: Cause::Panic(payload),
        },
    }
}

/// How large a response the request needs: it is answered again into a
/// buffer of the ceiling size (only after an overflow, so allocating is
/// fine), so the next session gets a size that fits at once instead of one
/// doubling per client attempt. A lookup answer the budget would cut short
/// counts as not fitting. Falls back to twice the budget.
fn needed_size(
    dispatcher: &dyn Dispatch,
    header: &Header,
    payload: &[u8],
    budget: usize,
    response_size: &Learned,
) -> u64 {
    let fallback = 2 * budget as u64;
    let ceiling = response_size.ceiling() as usize;
    if budget >= ceiling {
        return fallback;
    }
    let mut trial = vec![0u8; ceiling];
    let mut scratch = Scratch::new(true);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        answer(dispatcher, header, payload, &mut trial, &mut scratch)
    }));
    match outcome {
        Ok(Ok(len)) => len as u64,
        Ok(Err(e)) if e.transport_status() == TransportStatus::LIMIT_EXCEEDED => ceiling as u64,
        _ => fallback,
    }
}

/// Dispatches a single request, or every item of a batch into one batch
/// response (in order; any failing item fails the whole request).
fn answer(
    dispatcher: &dyn Dispatch,
    header: &Header,
    payload: &[u8],
    response: &mut [u8],
    scratch: &mut Scratch,
) -> Result<usize, DispatchError> {
    if !(header.is_batch() && header.item_count >= 1) {
        return dispatcher.dispatch(payload, response, scratch);
    }
    let items = BatchView::new(payload, header.item_count).map_err(DispatchError::BadRequest)?;
    let mut batch =
        BatchBuilder::new(response, header.item_count).map_err(DispatchError::Builder)?;
    for item in items.iter() {
        let space = batch.item_space().map_err(DispatchError::Builder)?;
        let len = dispatcher.dispatch(item, space, scratch)?;
        batch.commit(len).map_err(DispatchError::Builder)?;
    }
    batch.finish().map_err(|e| {
        debug_assert_eq!(e.kind(), CodecErrorKind::Overflow);
        DispatchError::Builder(e)
    })
}
