//! The APPS_LOOKUP response builder and the server dispatch glue.

use super::request::AppsLookupRequest;
use super::response::{
    APPS_LOOKUP_ITEM_HEADER_LEN, AppsEntry, PidStatus, RawFields, check_semantics,
};
use crate::bytes::{put_u16, put_u32, put_u64};
use crate::codec::lookup::builder::{Core, ItemLayout, check_strings};
use crate::codec::{DispatchError, NO_LABELS};
use crate::error::{CodecError, codec_err};

/// Size of an APPS_LOOKUP placeholder item: the header and three empty
/// strings.
pub const APPS_LOOKUP_PLACEHOLDER_LEN: usize = APPS_LOOKUP_ITEM_HEADER_LEN + 3;

/// Builds an APPS_LOOKUP response in a fixed-capacity buffer and applies
/// the payload-budget rules (see
/// [`CgroupsLookupBuilder`](crate::codec::CgroupsLookupBuilder) for the
/// rules; they are the same with 63-byte placeholders).
#[derive(Debug)]
#[must_use = "a builder writes a complete payload only in finish()"]
pub struct AppsLookupBuilder<'b> {
    core: Core<'b>,
}

impl<'b> AppsLookupBuilder<'b> {
    /// A builder for up to `max_items` items with no placeholder
    /// reservation.
    ///
    /// # Errors
    /// `Overflow` if `buf` cannot hold the header and the directory.
    pub fn new(buf: &'b mut [u8], max_items: u32, generation: u64) -> Result<Self, CodecError> {
        Ok(Self {
            core: Core::new(buf, max_items, generation)?,
        })
    }

    /// A builder answering a request of `count` PIDs, with placeholder
    /// space reserved for every one of them.
    ///
    /// # Errors
    /// `Overflow` if `buf` cannot hold the header and the directory.
    pub fn for_request_count(
        buf: &'b mut [u8],
        count: u32,
        generation: u64,
    ) -> Result<Self, CodecError> {
        let mut core = Core::new(buf, count, generation)?;
        core.reserve(count as usize, |_| APPS_LOOKUP_PLACEHOLDER_LEN);
        Ok(Self { core })
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

    /// Adds an item with every field unset (for [`PidStatus::Unknown`] and
    /// the like).
    ///
    /// # Errors
    /// See [`add`](Self::add).
    pub fn add_status(&mut self, pid: u32, status: PidStatus) -> Result<(), CodecError> {
        self.add(pid, &AppsEntry::unset(status), NO_LABELS)
    }

    /// Adds one item for `pid`.
    ///
    /// # Errors
    /// `BadLayout` when the fields break the status rules (see
    /// [`AppsEntry`]), a string contains NUL or a label key is empty;
    /// `Overflow` when all items were added already or even the placeholder
    /// does not fit. Every error is sticky.
    pub fn add<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        pid: u32,
        entry: &AppsEntry<'_>,
        labels: &[(K, V)],
    ) -> Result<(), CodecError> {
        if self.core.suffix_mode() {
            return self.placeholder(pid, PidStatus::PayloadExceeded);
        }
        self.core.check_room()?;
        let fixed = [entry.comm, entry.cgroup_path, entry.cgroup_name];
        let fields = RawFields {
            status: entry.status as u16,
            cgroup_status: entry.cgroup_status as u16,
            orchestrator: entry.orchestrator,
            ppid: entry.ppid,
            uid: entry.uid,
            starttime: entry.starttime,
            comm_len: entry.comm.len(),
            path_len: entry.cgroup_path.len(),
            name_len: entry.cgroup_name.len(),
            label_count: labels.len(),
        };
        let checked = check_semantics(&fields).and_then(|_| {
            if labels.len() > usize::from(u16::MAX) {
                return Err(codec_err::layout("apps lookup label_count", 56));
            }
            check_strings(&fixed, labels)
        });
        if let Err(e) = checked {
            return Err(self.core.fail(e));
        }
        let layout = ItemLayout::compute(APPS_LOOKUP_ITEM_HEADER_LEN, fixed, labels);
        let size = layout.as_ref().map(|l| l.size);
        match layout.filter(|_| self.core.fits(size, APPS_LOOKUP_PLACEHOLDER_LEN)) {
            Some(layout) => {
                let (start, item) = self.core.slot(layout.size)?;
                write_header(item, pid, entry, &layout, labels.len());
                layout.write_body(item, fixed, labels);
                self.core
                    .commit(start, layout.size, APPS_LOOKUP_PLACEHOLDER_LEN);
                Ok(())
            }
            None if self.core.count() == 0 => {
                self.core.note_oversized();
                self.placeholder(pid, PidStatus::OversizedItem)
            }
            None => {
                self.core.enter_suffix_mode();
                self.placeholder(pid, PidStatus::PayloadExceeded)
            }
        }
    }

    fn placeholder(&mut self, pid: u32, status: PidStatus) -> Result<(), CodecError> {
        self.core.check_room()?;
        let entry = AppsEntry::unset(status);
        let fixed = [entry.comm, entry.cgroup_path, entry.cgroup_name];
        let Some(layout) = ItemLayout::compute(APPS_LOOKUP_ITEM_HEADER_LEN, fixed, NO_LABELS)
        else {
            return Err(self.core.fail(codec_err::overflow("apps lookup item", 0)));
        };
        let (start, item) = self.core.slot(layout.size)?;
        write_header(item, pid, &entry, &layout, 0);
        layout.write_body(item, fixed, NO_LABELS);
        self.core
            .commit(start, layout.size, APPS_LOOKUP_PLACEHOLDER_LEN);
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
    pid: u32,
    e: &AppsEntry<'_>,
    layout: &ItemLayout<3>,
    label_count: usize,
) {
    // Offsets and lengths are below the item size, which fits a u32;
    // label_count was checked against u16.
    put_u16(item, 0, 1);
    put_u16(item, 2, e.status as u16);
    put_u16(item, 4, e.orchestrator);
    put_u16(item, 6, e.cgroup_status as u16);
    put_u32(item, 8, pid);
    put_u32(item, 12, e.ppid);
    put_u32(item, 16, e.uid);
    put_u32(item, 20, 0);
    put_u64(item, 24, e.starttime);
    for (i, s) in [e.comm, e.cgroup_path, e.cgroup_name].iter().enumerate() {
        put_u32(item, 32 + 8 * i, layout.offsets[i] as u32);
        put_u32(item, 36 + 8 * i, s.len() as u32);
    }
    put_u16(item, 56, label_count as u16);
    put_u16(item, 58, 0);
}

/// Server-side dispatch of one APPS_LOOKUP request: decodes `request`, lets
/// `handler` add one item per PID into a builder over `response`, and
/// returns the response length.
///
/// # Errors
/// As for [`dispatch_cgroups_lookup`](crate::codec::dispatch_cgroups_lookup).
pub fn dispatch_apps_lookup<F>(
    request: &[u8],
    response: &mut [u8],
    handler: F,
) -> Result<usize, DispatchError>
where
    F: FnOnce(&AppsLookupRequest<'_>, &mut AppsLookupBuilder<'_>) -> bool,
{
    let request = AppsLookupRequest::decode(request).map_err(DispatchError::BadRequest)?;
    // The request decoded, so its count fits a u32.
    let count = request.len() as u32;
    let mut builder =
        AppsLookupBuilder::for_request_count(response, count, 0).map_err(DispatchError::Builder)?;
    let ok = handler(&request, &mut builder);
    DispatchError::check(ok, builder.error(), builder.len(), request.len())?;
    Ok(builder.finish())
}
