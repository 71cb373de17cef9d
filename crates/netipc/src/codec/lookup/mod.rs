//! Parts shared by the two lookup methods (CGROUPS_LOOKUP, APPS_LOOKUP):
//! headers, the ordered directory, the item string rule, the label table,
//! the budget-aware response builder and raw response re-encoding.

pub(crate) mod builder;
pub(crate) mod raw;
pub(crate) mod validate;

use validate::{label_at, label_terminated};

use crate::error::{CodecError, codec_err};

/// Size of the lookup request header and of the response header.
pub const LOOKUP_HEADER_LEN: usize = 16;

/// Size of one label table entry.
pub const LABEL_ENTRY_LEN: usize = validate::LABEL_ENTRY_LEN;

/// An empty label list for the `labels` argument of the lookup builders
/// (`builder.add(pid, &entry, NO_LABELS)`).
pub const NO_LABELS: &[(&[u8], &[u8])] = &[];

/// Orchestrator values of lookup items. Decoders accept and expose any
/// value on items where the field may be non-zero.
pub mod orchestrator {
    /// Unknown or none.
    pub const UNKNOWN: u16 = 0;
    /// systemd.
    pub const SYSTEMD: u16 = 1;
    /// Docker.
    pub const DOCKER: u16 = 2;
    /// Kubernetes.
    pub const K8S: u16 = 3;
    /// KVM / libvirt.
    pub const KVM: u16 = 4;
    /// LXC.
    pub const LXC: u16 = 5;
    /// Podman.
    pub const PODMAN: u16 = 6;
    /// systemd-nspawn.
    pub const NSPAWN: u16 = 7;

    /// A readable name for known values.
    #[must_use]
    pub const fn name(value: u16) -> Option<&'static str> {
        Some(match value {
            UNKNOWN => "unknown",
            SYSTEMD => "systemd",
            DOCKER => "docker",
            K8S => "k8s",
            KVM => "kvm",
            LXC => "lxc",
            PODMAN => "podman",
            NSPAWN => "nspawn",
            _ => return None,
        })
    }
}

/// The fields of a validated lookup response header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LookupHeader {
    pub(crate) item_count: usize,
    pub(crate) generation: u64,
}

/// One `key = value` label of a lookup item, borrowed from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label<'a> {
    /// Non-empty key (no NUL).
    pub key: &'a [u8],
    /// Value, possibly empty (no NUL).
    pub value: &'a [u8],
}

/// The labels of a lookup item, in wire order.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    item: &'a [u8],
    table: usize,
    count: usize,
}

impl<'a> Labels<'a> {
    pub(crate) fn new(item: &'a [u8], table: usize, count: usize) -> Self {
        Self { item, table, count }
    }

    /// Number of labels.
    #[must_use]
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are no labels.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Label `index`, or `None` past the end.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<Label<'a>> {
        (index < self.count).then(|| {
            let (key, value) = label_at(self.item, self.table, index);
            Label { key, value }
        })
    }

    /// Label `index` of an item read with `CgroupsLookupItem::read` or
    /// `AppsLookupItem::read` (which do not check the label table),
    /// checking only that its table entry lies inside the item and that
    /// its key and value lie inside it and end with a NUL (what a reader
    /// relies on); the other rules were checked by the response's decode.
    /// For readers that keep only an item's bytes (the C API's item
    /// views): reading one label costs what that label's size costs.
    ///
    /// # Errors
    /// `OutOfBounds` for an index past the end or an entry or string
    /// outside the item; `MissingNul`.
    #[doc(hidden)]
    pub fn read(&self, index: usize) -> Result<Label<'a>, CodecError> {
        if index >= self.count {
            return Err(codec_err::bounds(
                "lookup label index",
                self.table.min(self.item.len()),
            ));
        }
        let (key, value) = label_terminated(self.item, self.table, index)?;
        Ok(Label { key, value })
    }

    /// The labels in order.
    #[must_use]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Label<'a>> + 'a {
        let labels = *self;
        (0..self.count).map(move |i| {
            let (key, value) = label_at(labels.item, labels.table, i);
            Label { key, value }
        })
    }
}
