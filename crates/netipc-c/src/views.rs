//! The consumer side of netipc_protocol.h: views of the three typed
//! responses (`nipc_cgroups_resp_view_t`, `nipc_cgroups_lookup_resp_view_t`,
//! `nipc_apps_lookup_resp_view_t`), their items and labels, and decoding
//! them from raw payload bytes.
//!
//! A view is plain data: the payload it borrows (pointer and length) and
//! the header fields. The caller owns the struct and may have changed it,
//! so item accessors trust nothing in it but the payload's extent: they
//! check the directory entry of the item they read, then the snapshot item
//! in full (snapshots are checked lazily, as in Rust) or, for lookup items
//! (checked whole by the decode), that the strings they return lie inside
//! the item and end with a NUL; label accessors check the same of the one
//! label they read and its table entry. Reading every item and label
//! costs what the payload's size costs.

#![allow(non_camel_case_types)]

use std::ffi::c_void;

use netipc::CodecError;
use netipc::codec::{
    AppsLookupItem, AppsLookupView, CgroupsLookupItem, CgroupsLookupView, Labels, SnapshotItem,
    SnapshotView,
};

use crate::builders::{nipc_label_t, nipc_str_view_t};
use crate::error::nipc_error_t;
use crate::ffi::{c_slice, guard_code};

/// The view of the string `bytes` of a decoded payload (NUL-terminated
/// there).
fn str_of(bytes: &[u8]) -> nipc_str_view_t {
    nipc_str_view_t {
        ptr: bytes.as_ptr().cast(),
        len: len32(bytes.len()),
    }
}

/// A zeroed string view (NULL, 0).
const STR_EMPTY: nipc_str_view_t = nipc_str_view_t {
    ptr: std::ptr::null(),
    len: 0,
};

/// A length inside a payload (payloads are shorter than 4 GiB: their
/// message length is a u32).
fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// `nipc_cgroups_resp_view_t`: a CGROUPS_SNAPSHOT response.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_cgroups_resp_view_t {
    /// The payload.
    pub payload: *const u8,
    /// Its length.
    pub payload_len: u32,
    /// Items in the snapshot.
    pub item_count: u32,
    /// The producer's `systemd_enabled`.
    pub systemd_enabled: u32,
    /// Always 0.
    pub reserved_: u32,
    /// The producer's generation.
    pub generation: u64,
}

/// `nipc_cgroups_item_view_t`: one snapshot item.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_cgroups_item_view_t {
    /// Netdata hash of `name`, as sent.
    pub hash: u32,
    /// Cgroup option flags, as sent.
    pub options: u32,
    /// Enabled flag, as sent.
    pub enabled: u32,
    /// Always 0.
    pub reserved_: u32,
    /// The cgroup's name.
    pub name: nipc_str_view_t,
    /// The cgroup's path.
    pub path: nipc_str_view_t,
}

/// `nipc_cgroups_lookup_resp_view_t`: a CGROUPS_LOOKUP response.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_cgroups_lookup_resp_view_t {
    /// The payload.
    pub payload: *const u8,
    /// Its length.
    pub payload_len: u32,
    /// Items (one per path asked for, in order).
    pub item_count: u32,
    /// The provider's generation.
    pub generation: u64,
}

/// `nipc_cgroups_lookup_item_view_t`: one CGROUPS_LOOKUP item.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_cgroups_lookup_item_view_t {
    /// The path (the key, echoed).
    pub path: nipc_str_view_t,
    /// The cgroup's name (empty unless KNOWN).
    pub name: nipc_str_view_t,
    /// A `nipc_cgroups_lookup_status_t`.
    pub status: u16,
    /// A `NIPC_ORCHESTRATOR_*` value (any value is passed through).
    pub orchestrator: u16,
    /// Labels, read with `nipc_cgroups_lookup_item_label`.
    pub label_count: u16,
    /// Always 0.
    pub reserved_: u16,
    /// The item's bytes (for the label accessor).
    pub item_: *const u8,
    /// Their length.
    pub item_len_: u32,
    /// Always 0.
    pub reserved2_: u32,
}

/// `nipc_apps_lookup_resp_view_t`: an APPS_LOOKUP response.
pub type nipc_apps_lookup_resp_view_t = nipc_cgroups_lookup_resp_view_t;

/// `nipc_apps_lookup_item_view_t`: one APPS_LOOKUP item.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct nipc_apps_lookup_item_view_t {
    /// The PID asked for (echoed).
    pub pid: u32,
    /// Parent PID (0 unless KNOWN).
    pub ppid: u32,
    /// User id (`NIPC_UID_UNSET` unless KNOWN).
    pub uid: u32,
    /// A `nipc_apps_lookup_status_t`.
    pub status: u16,
    /// A `nipc_apps_cgroup_status_t`.
    pub cgroup_status: u16,
    /// Start time in clock ticks since boot (Linux), 0 when unknown.
    pub starttime: u64,
    /// A `NIPC_ORCHESTRATOR_*` value.
    pub orchestrator: u16,
    /// Labels, read with `nipc_apps_lookup_item_label`.
    pub label_count: u16,
    /// Always 0.
    pub reserved_: u32,
    /// Process name (at most 15 bytes).
    pub comm: nipc_str_view_t,
    /// The process's cgroup path.
    pub cgroup_path: nipc_str_view_t,
    /// The cgroup's name.
    pub cgroup_name: nipc_str_view_t,
    /// The item's bytes (for the label accessor).
    pub item_: *const u8,
    /// Their length.
    pub item_len_: u32,
    /// Always 0.
    pub reserved2_: u32,
}

const _: () = assert!(size_of::<nipc_cgroups_resp_view_t>() == 32);
const _: () = assert!(size_of::<nipc_cgroups_item_view_t>() == 48);
const _: () = assert!(size_of::<nipc_cgroups_lookup_resp_view_t>() == 24);
const _: () = assert!(size_of::<nipc_cgroups_lookup_item_view_t>() == 56);
const _: () = assert!(size_of::<nipc_apps_lookup_item_view_t>() == 96);

impl nipc_cgroups_resp_view_t {
    /// A zeroed view: no payload, no items.
    pub const EMPTY: Self = Self {
        payload: std::ptr::null(),
        payload_len: 0,
        item_count: 0,
        systemd_enabled: 0,
        reserved_: 0,
        generation: 0,
    };

    /// The C view of a decoded snapshot.
    #[must_use]
    pub fn of(view: &SnapshotView<'_>) -> Self {
        let payload = view.as_bytes();
        Self {
            payload: payload.as_ptr(),
            payload_len: len32(payload.len()),
            item_count: len32(view.len()),
            systemd_enabled: view.systemd_enabled(),
            reserved_: 0,
            generation: view.generation(),
        }
    }
}

impl nipc_cgroups_lookup_resp_view_t {
    /// A zeroed view: no payload, no items.
    pub const EMPTY: Self = Self {
        payload: std::ptr::null(),
        payload_len: 0,
        item_count: 0,
        generation: 0,
    };

    fn of_parts(payload: &[u8], item_count: usize, generation: u64) -> Self {
        Self {
            payload: payload.as_ptr(),
            payload_len: len32(payload.len()),
            item_count: len32(item_count),
            generation,
        }
    }

    /// The C view of a decoded CGROUPS_LOOKUP response.
    #[must_use]
    pub fn of_cgroups(view: &CgroupsLookupView<'_>) -> Self {
        Self::of_parts(view.as_bytes(), view.len(), view.generation())
    }

    /// The C view of a decoded APPS_LOOKUP response.
    #[must_use]
    pub fn of_apps(view: &AppsLookupView<'_>) -> Self {
        Self::of_parts(view.as_bytes(), view.len(), view.generation())
    }
}

fn codec(e: CodecError) -> nipc_error_t {
    nipc_error_t::from_codec(e.kind())
}

/// `ptr`/`len` of a caller's buffer, with `len` fitting a payload.
///
/// # Safety
/// As [`c_slice`].
unsafe fn payload<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], nipc_error_t> {
    if u32::try_from(len).is_err() {
        return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
    }
    // SAFETY: the caller's contract.
    unsafe { c_slice(ptr, len) }
}

/// An output argument: [`set`](Self::set) writes the result; an error
/// return (or a panic) that leaves it unset writes the zero value, so that
/// `*out` is zeroed on every failure.
pub(crate) struct Out<T: Copy> {
    ptr: *mut T,
    zero: T,
    set: bool,
}

impl<T: Copy> Out<T> {
    /// Writes the result.
    pub(crate) fn set(mut self, value: T) {
        // SAFETY: `out_ref` checked the pointer; the caller of the exported
        // function made it writable. `write` does not read what was there.
        unsafe { self.ptr.write(value) };
        self.set = true;
    }
}

impl<T: Copy> Drop for Out<T> {
    fn drop(&mut self) {
        if !self.set {
            // SAFETY: as in `set`.
            unsafe { self.ptr.write(self.zero) };
        }
    }
}

/// `out` as an output argument that is zeroed unless set.
///
/// # Errors
/// `NIPC_ERR_INVALID_ARGUMENT` for NULL.
///
/// # Safety
/// `out`, when not NULL, must be valid for writes of a `T` until the
/// result is dropped.
pub(crate) unsafe fn out_ref<T: Copy>(out: *mut T, zero: T) -> Result<Out<T>, nipc_error_t> {
    if out.is_null() {
        return Err(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT);
    }
    Ok(Out {
        ptr: out,
        zero,
        set: false,
    })
}

/// `view` as a reference.
///
/// # Safety
/// `view`, when not NULL, must point to a readable `T`.
unsafe fn in_ref<'a, T>(view: *const T) -> Result<&'a T, nipc_error_t> {
    // SAFETY: the caller's contract.
    unsafe { view.as_ref() }.ok_or(nipc_error_t::NIPC_ERR_INVALID_ARGUMENT)
}

/// `nipc_error_t nipc_cgroups_resp_decode(const void *payload, size_t len,
/// nipc_cgroups_resp_view_t *out)`: validates a CGROUPS_SNAPSHOT response
/// payload's header and directory; the view borrows `payload`.
///
/// # Safety
/// `payload` must point to `len` readable bytes (NULL only with 0); `out`
/// must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_resp_decode(
    payload: *const c_void,
    len: usize,
    out: *mut nipc_cgroups_resp_view_t,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_ref(out, nipc_cgroups_resp_view_t::EMPTY) }?;
        // SAFETY: the caller's contract.
        let bytes = unsafe { self::payload(payload.cast(), len) }?;
        out.set(nipc_cgroups_resp_view_t::of(
            &SnapshotView::decode(bytes).map_err(codec)?,
        ));
        Ok(())
    })
}

/// `nipc_error_t nipc_cgroups_resp_item(const nipc_cgroups_resp_view_t
/// *view, uint32_t index, nipc_cgroups_item_view_t *out)`.
///
/// # Safety
/// `view` must point to a view whose payload is still valid; `out` must be
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_resp_item(
    view: *const nipc_cgroups_resp_view_t,
    index: u32,
    out: *mut nipc_cgroups_item_view_t,
) -> nipc_error_t {
    guard_code(|| {
        let empty = nipc_cgroups_item_view_t {
            hash: 0,
            options: 0,
            enabled: 0,
            reserved_: 0,
            name: STR_EMPTY,
            path: STR_EMPTY,
        };
        // SAFETY: the caller's contract.
        let out = unsafe { out_ref(out, empty) }?;
        // SAFETY: the caller's contract.
        let view = unsafe { in_ref(view) }?;
        // SAFETY: the view's payload is valid by the caller's contract.
        let bytes = unsafe { payload(view.payload, view.payload_len as usize) }?;
        let item: SnapshotItem<'_> = SnapshotView::item_at(bytes, index as usize).map_err(codec)?;
        out.set(nipc_cgroups_item_view_t {
            hash: item.hash,
            options: item.options,
            enabled: item.enabled,
            reserved_: 0,
            name: str_of(item.name),
            path: str_of(item.path),
        });
        Ok(())
    })
}

/// Decodes a lookup response payload (all of it, every item) into its C
/// view.
///
/// # Safety
/// As the exported decode functions: `payload` readable for `len` bytes
/// (NULL only with 0), `out` writable.
unsafe fn lookup_decode<'a, V>(
    payload: *const c_void,
    len: usize,
    out: *mut nipc_cgroups_lookup_resp_view_t,
    decode: fn(&'a [u8]) -> Result<V, CodecError>,
    of: fn(&V) -> nipc_cgroups_lookup_resp_view_t,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_ref(out, nipc_cgroups_lookup_resp_view_t::EMPTY) }?;
        // SAFETY: as above.
        let bytes = unsafe { self::payload(payload.cast(), len) }?;
        out.set(of(&decode(bytes).map_err(codec)?));
        Ok(())
    })
}

/// `nipc_error_t nipc_cgroups_lookup_resp_decode(const void *payload,
/// size_t len, nipc_cgroups_lookup_resp_view_t *out)`: validates a
/// CGROUPS_LOOKUP response payload, every item included.
///
/// # Safety
/// As [`nipc_cgroups_resp_decode`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_lookup_resp_decode(
    payload: *const c_void,
    len: usize,
    out: *mut nipc_cgroups_lookup_resp_view_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        lookup_decode(
            payload,
            len,
            out,
            CgroupsLookupView::decode,
            nipc_cgroups_lookup_resp_view_t::of_cgroups,
        )
    }
}

/// `nipc_error_t nipc_apps_lookup_resp_decode(const void *payload, size_t
/// len, nipc_apps_lookup_resp_view_t *out)`: validates an APPS_LOOKUP
/// response payload, every item included.
///
/// # Safety
/// As [`nipc_cgroups_resp_decode`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_apps_lookup_resp_decode(
    payload: *const c_void,
    len: usize,
    out: *mut nipc_apps_lookup_resp_view_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        lookup_decode(
            payload,
            len,
            out,
            AppsLookupView::decode,
            nipc_cgroups_lookup_resp_view_t::of_apps,
        )
    }
}

/// A lookup view's payload.
///
/// # Safety
/// `view`, when not NULL, must point to a view whose payload is valid.
unsafe fn lookup_payload<'a>(
    view: *const nipc_cgroups_lookup_resp_view_t,
) -> Result<&'a [u8], nipc_error_t> {
    // SAFETY: the caller's contract.
    let view = unsafe { in_ref(view) }?;
    // SAFETY: as above.
    unsafe { payload(view.payload, view.payload_len as usize) }
}

const CGROUPS_ITEM_EMPTY: nipc_cgroups_lookup_item_view_t = nipc_cgroups_lookup_item_view_t {
    path: STR_EMPTY,
    name: STR_EMPTY,
    status: 0,
    orchestrator: 0,
    label_count: 0,
    reserved_: 0,
    item_: std::ptr::null(),
    item_len_: 0,
    reserved2_: 0,
};

const APPS_ITEM_EMPTY: nipc_apps_lookup_item_view_t = nipc_apps_lookup_item_view_t {
    pid: 0,
    ppid: 0,
    uid: 0,
    status: 0,
    cgroup_status: 0,
    starttime: 0,
    orchestrator: 0,
    label_count: 0,
    reserved_: 0,
    comm: STR_EMPTY,
    cgroup_path: STR_EMPTY,
    cgroup_name: STR_EMPTY,
    item_: std::ptr::null(),
    item_len_: 0,
    reserved2_: 0,
};

/// `nipc_error_t nipc_cgroups_lookup_resp_item(const
/// nipc_cgroups_lookup_resp_view_t *view, uint32_t index,
/// nipc_cgroups_lookup_item_view_t *out)`.
///
/// # Safety
/// As [`nipc_cgroups_resp_item`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_lookup_resp_item(
    view: *const nipc_cgroups_lookup_resp_view_t,
    index: u32,
    out: *mut nipc_cgroups_lookup_item_view_t,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_ref(out, CGROUPS_ITEM_EMPTY) }?;
        // SAFETY: the caller's contract.
        let bytes = unsafe { lookup_payload(view) }?;
        let raw = CgroupsLookupView::raw_item_at(bytes, index as usize).map_err(codec)?;
        let item = CgroupsLookupItem::read(raw).map_err(codec)?;
        out.set(nipc_cgroups_lookup_item_view_t {
            path: str_of(item.path),
            name: str_of(item.name),
            status: item.status as u16,
            orchestrator: item.orchestrator,
            label_count: label_count(&item.labels),
            reserved_: 0,
            item_: raw.as_ptr(),
            item_len_: len32(raw.len()),
            reserved2_: 0,
        });
        Ok(())
    })
}

/// `nipc_error_t nipc_apps_lookup_resp_item(const
/// nipc_apps_lookup_resp_view_t *view, uint32_t index,
/// nipc_apps_lookup_item_view_t *out)`.
///
/// # Safety
/// As [`nipc_cgroups_resp_item`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_apps_lookup_resp_item(
    view: *const nipc_apps_lookup_resp_view_t,
    index: u32,
    out: *mut nipc_apps_lookup_item_view_t,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_ref(out, APPS_ITEM_EMPTY) }?;
        // SAFETY: the caller's contract.
        let bytes = unsafe { lookup_payload(view) }?;
        let raw = AppsLookupView::raw_item_at(bytes, index as usize).map_err(codec)?;
        let item = AppsLookupItem::read(raw).map_err(codec)?;
        let e = &item.entry;
        out.set(nipc_apps_lookup_item_view_t {
            pid: item.pid,
            ppid: e.ppid,
            uid: e.uid,
            status: e.status as u16,
            cgroup_status: e.cgroup_status as u16,
            starttime: e.starttime,
            orchestrator: e.orchestrator,
            label_count: label_count(&item.labels),
            reserved_: 0,
            comm: str_of(e.comm),
            cgroup_path: str_of(e.cgroup_path),
            cgroup_name: str_of(e.cgroup_name),
            item_: raw.as_ptr(),
            item_len_: len32(raw.len()),
            reserved2_: 0,
        });
        Ok(())
    })
}

fn label_count(labels: &Labels<'_>) -> u16 {
    u16::try_from(labels.len()).unwrap_or(u16::MAX)
}

const LABEL_EMPTY: nipc_label_t = nipc_label_t {
    key: STR_EMPTY,
    value: STR_EMPTY,
};

/// A lookup item view: where its bytes are.
trait ItemBytes {
    fn bytes(&self) -> (*const u8, u32);
}

impl ItemBytes for nipc_cgroups_lookup_item_view_t {
    fn bytes(&self) -> (*const u8, u32) {
        (self.item_, self.item_len_)
    }
}

impl ItemBytes for nipc_apps_lookup_item_view_t {
    fn bytes(&self) -> (*const u8, u32) {
        (self.item_, self.item_len_)
    }
}

/// Label `index` of `item` into `out`: `labels` reads the item's fixed
/// part as the item accessors do, then [`Labels::read`] checks that one
/// label's table entry and strings.
///
/// # Safety
/// `item`, when not NULL, must point to an item view whose response is
/// still valid; `out` must be writable.
unsafe fn item_label<I: ItemBytes>(
    item: *const I,
    index: u32,
    out: *mut nipc_label_t,
    labels: fn(&[u8]) -> Result<Labels<'_>, CodecError>,
) -> nipc_error_t {
    guard_code(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_ref(out, LABEL_EMPTY) }?;
        // SAFETY: the caller's contract.
        let (ptr, len) = unsafe { in_ref(item) }?.bytes();
        // SAFETY: the item's bytes are valid by the caller's contract.
        let bytes = unsafe { payload(ptr, len as usize) }?;
        let label = labels(bytes)
            .and_then(|l| l.read(index as usize))
            .map_err(codec)?;
        out.set(nipc_label_t {
            key: str_of(label.key),
            value: str_of(label.value),
        });
        Ok(())
    })
}

/// `nipc_error_t nipc_cgroups_lookup_item_label(const
/// nipc_cgroups_lookup_item_view_t *item, uint32_t index,
/// nipc_label_t *out)`.
///
/// # Safety
/// `item` must point to an item view whose response is still valid; `out`
/// must be writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_cgroups_lookup_item_label(
    item: *const nipc_cgroups_lookup_item_view_t,
    index: u32,
    out: *mut nipc_label_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        item_label(item, index, out, |b| {
            CgroupsLookupItem::read(b).map(|i| i.labels)
        })
    }
}

/// `nipc_error_t nipc_apps_lookup_item_label(const
/// nipc_apps_lookup_item_view_t *item, uint32_t index,
/// nipc_label_t *out)`.
///
/// # Safety
/// As [`nipc_cgroups_lookup_item_label`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_apps_lookup_item_label(
    item: *const nipc_apps_lookup_item_view_t,
    index: u32,
    out: *mut nipc_label_t,
) -> nipc_error_t {
    // SAFETY: the caller's contract.
    unsafe {
        item_label(item, index, out, |b| {
            AppsLookupItem::read(b).map(|i| i.labels)
        })
    }
}
