//! Method payloads: encoders, zero-copy views, fixed-capacity builders and
//! the server-side dispatch glue for every NetIPC method.
//!
//! Pure byte work: no I/O, no allocation while decoding, no panics on any
//! input. A view borrows the payload it was decoded from; it stays valid
//! while that buffer is alive and unchanged (the borrow checker enforces
//! it). Builders write into a caller-owned buffer of fixed capacity and
//! return the payload length from `finish`.
//!
//! | method | request | response |
//! |---|---|---|
//! | INCREMENT | [`encode_increment`] / [`decode_increment`] | same |
//! | STRING_REVERSE | [`encode_string_reverse`] / [`decode_string_reverse`] | same |
//! | CGROUPS_SNAPSHOT | [`SnapshotRequest`] | [`SnapshotView`], [`SnapshotBuilder`] |
//! | CGROUPS_LOOKUP | [`encode_cgroups_lookup_request`], [`CgroupsLookupRequest`] | [`CgroupsLookupView`], [`CgroupsLookupBuilder`] |
//! | APPS_LOOKUP | [`encode_apps_lookup_request`], [`AppsLookupRequest`] | [`AppsLookupView`], [`AppsLookupBuilder`] |

mod apps_lookup;
mod cgroups_lookup;
mod cgroups_snapshot;
mod increment;
pub(crate) mod lookup;
mod string_reverse;

pub use apps_lookup::*;
pub use cgroups_lookup::*;
pub use cgroups_snapshot::{
    SNAPSHOT_HEADER_LEN, SNAPSHOT_ITEM_HEADER_LEN, SNAPSHOT_REQUEST_LEN, SnapshotBuilder,
    SnapshotItem, SnapshotRequest, SnapshotView, estimate_max_items,
};
pub use increment::{INCREMENT_PAYLOAD_LEN, decode_increment, encode_increment};
pub use lookup::{LABEL_ENTRY_LEN, LOOKUP_HEADER_LEN, Label, Labels, NO_LABELS, orchestrator};
pub use string_reverse::{
    STRING_REVERSE_HEADER_LEN, decode_string_reverse, encode_string_reverse, string_reverse_len,
};

use crate::error::{CodecError, CodecErrorKind, codec_err};
use crate::wire::TransportStatus;

/// Why a server-side dispatch produced no response payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The request payload does not decode.
    #[error("the request does not decode: {0}")]
    BadRequest(CodecError),
    /// The response could not be built: it does not fit the budget
    /// (`Overflow`), the handler added invalid items or the wrong number of
    /// them.
    #[error("the response could not be built: {0}")]
    Builder(CodecError),
    /// The handler reported that it cannot answer.
    #[error("the handler failed")]
    HandlerFailed,
}

impl DispatchError {
    /// The transport status a server answers with: `BAD_ENVELOPE` for an
    /// undecodable request or invalid handler output, `LIMIT_EXCEEDED` when
    /// the response does not fit, `INTERNAL_ERROR` for a failed handler.
    #[must_use]
    pub fn transport_status(&self) -> TransportStatus {
        match self {
            Self::Builder(e) if e.kind() == CodecErrorKind::Overflow => {
                TransportStatus::LIMIT_EXCEEDED
            }
            Self::BadRequest(_) | Self::Builder(_) => TransportStatus::BAD_ENVELOPE,
            Self::HandlerFailed => TransportStatus::INTERNAL_ERROR,
        }
    }

    /// The dispatch outcome once the handler returned: a failed handler
    /// reports the builder's sticky error if any; a successful one still
    /// fails on a sticky error or a wrong item count.
    pub(crate) fn check(
        handler_ok: bool,
        sticky: Option<CodecError>,
        added: usize,
        expected: usize,
    ) -> Result<(), Self> {
        match (handler_ok, sticky) {
            (_, Some(e)) => Err(Self::Builder(e)),
            (false, None) => Err(Self::HandlerFailed),
            (true, None) if added != expected => {
                Err(Self::Builder(codec_err::count("handler item count", 4)))
            }
            (true, None) => Ok(()),
        }
    }
}

/// Server-side dispatch of one CGROUPS_SNAPSHOT request: decodes `request`,
/// lets `handler` fill a builder over `response` that takes at most
/// `max_items` items (0: as many as fit, at most [`estimate_max_items`]),
/// and returns the response length.
///
/// # Errors
/// [`DispatchError::BadRequest`] for an undecodable request,
/// [`DispatchError::Builder`] when a reservation or an add failed (even if
/// the handler then returned `true`: a truncated snapshot is never sent),
/// [`DispatchError::HandlerFailed`] when the handler returned `false`.
pub fn dispatch_cgroups_snapshot<F>(
    request: &[u8],
    response: &mut [u8],
    max_items: u32,
    handler: F,
) -> Result<usize, DispatchError>
where
    F: FnOnce(&SnapshotRequest, &mut SnapshotBuilder<'_>) -> bool,
{
    let request = SnapshotRequest::decode(request).map_err(DispatchError::BadRequest)?;
    let max_items = match max_items {
        0 => u32::try_from(estimate_max_items(response.len())).unwrap_or(u32::MAX),
        n => n,
    };
    let mut builder = SnapshotBuilder::new(response, max_items).map_err(DispatchError::Builder)?;
    let ok = handler(&request, &mut builder);
    let added = builder.len();
    DispatchError::check(ok, builder.error(), added, added)?;
    Ok(builder.finish())
}
