//! The CGROUPS_LOOKUP response builder and the server dispatch glue.

use super::request::CgroupsLookupRequest;
use super::response::{
    CGROUPS_LOOKUP_ITEM_HEADER_LEN, CgroupsEntry, CgroupsLookupStatus, check_semantics,
};
use crate::bytes::{has_nul, put_u16, put_u32};
use crate::codec::lookup::builder::{Core, ItemLayout, check_strings};
use crate::codec::{DispatchError, NO_LABELS};
use crate::error::{CodecError, codec_err};

/// Size of the placeholder item for a path of `path_len` bytes:
/// `28 + path_len + 1 + 1` (path, then an empty name).
#[must_use]
pub const fn cgroups_lookup_placeholder_len(path_len: usize) -> usize {
    CGROUPS_LOOKUP_ITEM_HEADER_LEN + path_len + 2
}

/// Builds a CGROUPS_LOOKUP response in a fixed-capacity buffer and applies
/// the payload-budget rules.
///
/// Items must be added in request order, one per key. When the buffer
/// cannot hold an item together with the placeholders reserved for every
/// later key, the builder converts it: the first item of the response
/// becomes [`OversizedItem`](CgroupsLookupStatus::OversizedItem), any
/// later one starts a [`PayloadExceeded`](CgroupsLookupStatus::PayloadExceeded)
/// suffix that the client retries. The first error is sticky
/// ([`error`](Self::error)).
#[derive(Debug)]
#[must_use = "a builder writes a complete payload only in finish()"]
pub struct CgroupsLookupBuilder<'b, 'r> {
    core: Core<'b>,
    request: Option<CgroupsLookupRequest<'r>>,
}

impl<'b, 'r> CgroupsLookupBuilder<'b, 'r> {
    /// A builder for up to `max_items` items with no placeholder
    /// reservation.
    ///
    /// # Errors
    /// `Overflow` if `buf` cannot hold the header and the directory.
    pub fn new(buf: &'b mut [u8], max_items: u32, generation: u64) -> Result<Self, CodecError> {
        Ok(Self {
            core: Core::new(buf, max_items, generation)?,
            request: None,
        })
    }

    /// A builder answering `request`: one item per key, with placeholder
    /// space reserved for every key so a budget shortfall turns into a
    /// `PAYLOAD_EXCEEDED` suffix instead of a failure.
    ///
    /// # Errors
    /// `Overflow` if `buf` cannot hold the header and the directory.
    pub fn for_request(
        buf: &'b mut [u8],
        request: &CgroupsLookupRequest<'r>,
        generation: u64,
    ) -> Result<Self, CodecError> {
        let count = u32::try_from(request.len())
            .map_err(|_| codec_err::overflow("lookup item_count", 4))?;
        let mut core = Core::new(buf, count, generation)?;
        core.reserve(request.len(), |i| {
            cgroups_lookup_placeholder_len(request.path(i).map_or(0, <[u8]>::len))
        });
        Ok(Self {
            core,
            request: Some(*request),
        })
    }

    /// Sets the generation written by [`finish`](Self::finish).
    pub fn set_generation(&mut self, generation: u64) {
        self.core.set_generation(generation);
    }

    /// Items added so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.core.count()
    }

    /// Whether no item was added yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.core.count() == 0
    }

    /// The first error of any add, if one failed.
    #[must_use]
    pub fn error(&self) -> Option<CodecError> {
        self.core.error()
    }

    /// Whether the budget ran out and every further item becomes
    /// `PAYLOAD_EXCEEDED`.
    #[must_use]
    pub fn in_suffix_mode(&self) -> bool {
        self.core.suffix_mode()
    }

    /// Whether the budget (not the handler) turned an item into
    /// `OVERSIZED_ITEM` or `PAYLOAD_EXCEEDED`. A server that can offer a
    /// larger response size may prefer to answer `LIMIT_EXCEEDED` instead,
    /// so the client reconnects with the larger size.
    #[must_use]
    pub fn budget_converted(&self) -> bool {
        self.core.budget_converted()
    }

    /// Adds a not-enriched item (`UnknownRetryLater`, `UnknownPermanent`,
    /// ...) for `path`.
    ///
    /// # Errors
    /// See [`add`](Self::add).
    pub fn add_status(
        &mut self,
        path: &[u8],
        status: CgroupsLookupStatus,
    ) -> Result<(), CodecError> {
        self.add(path, &CgroupsEntry::unset(status), NO_LABELS)
    }

    /// Adds the item answering key `index` of the request this builder was
    /// made for ([`for_request`](Self::for_request)); the path is taken from
    /// the request.
    ///
    /// # Errors
    /// `BadLayout` if the builder has no request or `index` is out of range;
    /// otherwise see [`add`](Self::add).
    pub fn add_request_item<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        index: usize,
        entry: &CgroupsEntry<'_>,
        labels: &[(K, V)],
    ) -> Result<(), CodecError> {
        let Some(path) = self.request.and_then(|r| r.path(index)) else {
            return Err(self
                .core
                .fail(codec_err::layout("cgroups lookup request index", 0)));
        };
        self.add(path, entry, labels)
    }

    /// Adds one item for `path`.
    ///
    /// # Errors
    /// `BadLayout` when the fields break the status rules (a non-KNOWN item
    /// with a name, labels or an orchestrator), the path is empty, a string
    /// contains NUL or a label key is empty; `Overflow` when all items were
    /// added already or even the placeholder does not fit. Every error is
    /// sticky.
    pub fn add<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        path: &[u8],
        entry: &CgroupsEntry<'_>,
        labels: &[(K, V)],
    ) -> Result<(), CodecError> {
        let CgroupsEntry {
            status,
            orchestrator,
            name,
        } = *entry;
        if self.core.suffix_mode() {
            return self.placeholder(path, CgroupsLookupStatus::PayloadExceeded);
        }
        self.core.check_room()?;
        let checked = check_semantics(
            status as u16,
            orchestrator,
            path.len(),
            name.len(),
            labels.len(),
        )
        .and_then(|_| {
            if labels.len() > usize::from(u16::MAX) {
                return Err(codec_err::layout("cgroups lookup label_count", 24));
            }
            check_strings(&[path, name], labels)
        });
        if let Err(e) = checked {
            return Err(self.core.fail(e));
        }
        let fixed = [path, name];
        let layout = ItemLayout::compute(CGROUPS_LOOKUP_ITEM_HEADER_LEN, fixed, labels);
        let placeholder_len = cgroups_lookup_placeholder_len(path.len());
        let size = layout.as_ref().map(|l| l.size);
        match layout.filter(|_| self.core.fits(size, placeholder_len)) {
            Some(layout) => {
                let (start, item) = self.core.slot(layout.size)?;
                write_header(
                    item,
                    status,
                    orchestrator,
                    &layout,
                    path.len(),
                    name.len(),
                    labels.len(),
                );
                layout.write_body(item, fixed, labels);
                self.core.commit(start, layout.size, placeholder_len);
                Ok(())
            }
            None if self.core.count() == 0 => {
                self.core.note_oversized();
                self.placeholder(path, CgroupsLookupStatus::OversizedItem)
            }
            None => {
                self.core.enter_suffix_mode();
                self.placeholder(path, CgroupsLookupStatus::PayloadExceeded)
            }
        }
    }

    fn placeholder(&mut self, path: &[u8], status: CgroupsLookupStatus) -> Result<(), CodecError> {
        self.core.check_room()?;
        if path.is_empty() || has_nul(path) {
            return Err(self
                .core
                .fail(codec_err::layout("cgroups lookup item path", 8)));
        }
        let layout = ItemLayout::compute(CGROUPS_LOOKUP_ITEM_HEADER_LEN, [path, b""], NO_LABELS)
            .ok_or(codec_err::overflow("cgroups lookup item", 0))
            .map_err(|e| self.core.fail(e))?;
        let (start, item) = self.core.slot(layout.size)?;
        write_header(item, status, 0, &layout, path.len(), 0, 0);
        layout.write_body(item, [path, b""], NO_LABELS);
        self.core.commit(start, layout.size, layout.size);
        Ok(())
    }

    /// Writes the header and returns the payload length.
    #[must_use = "the payload is the first `len` bytes of the buffer"]
    pub fn finish(self) -> usize {
        self.core.finish()
    }
}

fn write_header(
    item: &mut [u8],
    status: CgroupsLookupStatus,
    orchestrator: u16,
    layout: &ItemLayout<2>,
    path_len: usize,
    name_len: usize,
    label_count: usize,
) {
    // All values are below the item size, which fits a u32; label_count was
    // checked against u16.
    put_u16(item, 0, 1);
    put_u16(item, 2, status as u16);
    put_u16(item, 4, orchestrator);
    put_u16(item, 6, 0);
    put_u32(item, 8, layout.offsets[0] as u32);
    put_u32(item, 12, path_len as u32);
    put_u32(item, 16, layout.offsets[1] as u32);
    put_u32(item, 20, name_len as u32);
    put_u16(item, 24, label_count as u16);
    put_u16(item, 26, 0);
}

/// Server-side dispatch of one CGROUPS_LOOKUP request: decodes `request`,
/// lets `handler` add one item per key into a builder over `response`, and
/// returns the response length.
///
/// The handler returns `false` when it cannot answer at all.
///
/// # Errors
/// [`DispatchError::BadRequest`] when the request does not decode,
/// [`DispatchError::Builder`] with the builder's sticky error (an overflow
/// means the response budget is too small even for placeholders),
/// [`DispatchError::HandlerFailed`] when the handler returned `false`
/// without a builder error, and a `BadItemCount` builder error when the
/// handler added a different number of items than requested.
pub fn dispatch_cgroups_lookup<F>(
    request: &[u8],
    response: &mut [u8],
    handler: F,
) -> Result<usize, DispatchError>
where
    F: FnOnce(&CgroupsLookupRequest<'_>, &mut CgroupsLookupBuilder<'_, '_>) -> bool,
{
    let request = CgroupsLookupRequest::decode(request).map_err(DispatchError::BadRequest)?;
    let mut builder =
        CgroupsLookupBuilder::for_request(response, &request, 0).map_err(DispatchError::Builder)?;
    let ok = handler(&request, &mut builder);
    DispatchError::check(ok, builder.error(), builder.len(), request.len())?;
    Ok(builder.finish())
}
