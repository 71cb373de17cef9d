//! One served session: receive, dispatch (per item for batches), answer;
//! and the payload sizes the server learns from its traffic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};

use super::handlers::{Dispatch, Scratch};
use crate::codec::DispatchError;
use crate::error::CodecErrorKind;
use crate::transport::{Interrupt, ServerSession};
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

/// What the session does after answering.
enum Next {
    Continue,
    Close,
}

/// Serves `session` until the client leaves, a terminal error, or `stop`.
pub(crate) fn serve(
    mut session: ServerSession,
    dispatcher: &dyn Dispatch,
    response_size: &Learned,
    stop: &Interrupt,
) {
    let budget = session.params().max_response_payload_bytes as usize;

    let mut response = vec![0u8; budget];
    let mut scratch =
        Scratch::new(response_size.can_exceed(session.params().max_response_payload_bytes));
    let method = dispatcher.method().code();
    loop {
        let Ok(message) = session.recv(None, Some(stop)) else {
            return;
        };
        let header = message.header;
        if header.kind != MessageKind::Request {
            return;
        }
        if header.code != method {
            if session
                .respond_status(&header, TransportStatus::UNSUPPORTED)
                .is_err()
            {
                return;
            }
            continue;
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            answer(
                dispatcher,
                &header,
                message.payload,
                &mut response,
                &mut scratch,
            )
        }));
        let next = match outcome {
            Ok(Ok(len)) => send(&mut session, &header, &response[..len]),
            Ok(Err(e)) => {
                let status = e.transport_status();
                if status == TransportStatus::LIMIT_EXCEEDED {
                    let needed =
                        needed_size(dispatcher, &header, message.payload, budget, response_size);
                    response_size.learn(needed);
                }
                // The documented behaviour: every failed request ends its
                // session after the answer; the client reconnects.
                let _ = session.respond_status(&header, status);
                Next::Close
            }
            // A panicking handler fails only this request and its session.
            Err(_) => {
                let _ = session.respond_status(&header, TransportStatus::INTERNAL_ERROR);
                Next::Close
            }
        };
        if matches!(next, Next::Close) {
            return;
        }
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

fn send(session: &mut ServerSession, request: &Header, payload: &[u8]) -> Next {
    match session.respond(request, payload) {
        Ok(()) => Next::Continue,
        Err(_) => Next::Close,
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
