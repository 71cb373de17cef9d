//! The Windows region layout (128-byte header, request area, response
//! area) and the header check of an attaching client.

use super::view::View;
use crate::transport::ShmAttachError;

pub(super) const MAGIC: u32 = 0x4e53_5748;
pub(super) const VERSION: u32 = 3;
pub(super) const HEADER_LEN: usize = 128;
pub(super) const AREA_ALIGN: u64 = 64;
/// The spin count a server writes into the header.
pub(super) const SERVER_SPIN_TRIES: u32 = 1024;

pub(super) const OFF_MAGIC: usize = 0;
pub(super) const OFF_VERSION: usize = 4;
pub(super) const OFF_HEADER_LEN: usize = 8;
pub(super) const OFF_PROFILE: usize = 12;
pub(super) const OFF_REQ_OFFSET: usize = 16;
pub(super) const OFF_REQ_CAPACITY: usize = 20;
pub(super) const OFF_RESP_OFFSET: usize = 24;
pub(super) const OFF_RESP_CAPACITY: usize = 28;
pub(super) const OFF_SPIN_TRIES: usize = 32;

/// One direction of traffic: where its bytes live and which flags it uses.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lane {
    pub(super) area: usize,
    pub(super) capacity: usize,
    pub(super) len: usize,
    pub(super) seq: usize,
    /// Set by the writer when it closes.
    pub(super) writer_closed: usize,
    /// Set by the reader while it sleeps on the event.
    pub(super) reader_waiting: usize,
}

pub(super) const fn request_lane(area: usize, capacity: usize) -> Lane {
    Lane {
        area,
        capacity,
        len: 36,
        seq: 64,
        writer_closed: 44,
        reader_waiting: 48,
    }
}

pub(super) const fn response_lane(area: usize, capacity: usize) -> Lane {
    Lane {
        area,
        capacity,
        len: 40,
        seq: 72,
        writer_closed: 52,
        reader_waiting: 56,
    }
}

pub(super) fn align64(x: u64) -> Option<u32> {
    u32::try_from(x.checked_add(AREA_ALIGN - 1)? & !(AREA_ALIGN - 1)).ok()
}

pub(super) fn u32_field(view: &View, at: usize) -> u32 {
    let mut b = [0u8; 4];
    view.read(at, &mut b);
    u32::from_ne_bytes(b)
}

/// Validates an attached header; returns (request lane, response lane).
pub(super) fn validate(view: &View, profile: u32) -> Result<(Lane, Lane), ShmAttachError> {
    if view.len() < HEADER_LEN {
        return Err(ShmAttachError::NotReady);
    }
    let f = |at| u32_field(view, at);
    if f(OFF_MAGIC) != MAGIC {
        return Err(ShmAttachError::BadMagic);
    }
    if f(OFF_VERSION) != VERSION {
        return Err(ShmAttachError::BadVersion(f(OFF_VERSION)));
    }
    if f(OFF_HEADER_LEN) as usize != HEADER_LEN {
        return Err(ShmAttachError::BadHeader("header_len is not 128"));
    }
    if f(OFF_PROFILE) != profile {
        return Err(ShmAttachError::BadProfile(f(OFF_PROFILE)));
    }
    let (rq_off, rq_cap, rs_off, rs_cap) = (
        u64::from(f(OFF_REQ_OFFSET)),
        u64::from(f(OFF_REQ_CAPACITY)),
        u64::from(f(OFF_RESP_OFFSET)),
        u64::from(f(OFF_RESP_CAPACITY)),
    );
    let values = [rq_off, rq_cap, rs_off, rs_cap];
    if values.contains(&0) || rq_off < HEADER_LEN as u64 || rs_off < HEADER_LEN as u64 {
        return Err(ShmAttachError::BadHeader("zero or low offset or capacity"));
    }
    if values.iter().any(|v| v % AREA_ALIGN != 0) {
        return Err(ShmAttachError::BadHeader(
            "offset or capacity not a multiple of 64",
        ));
    }
    let (rq_end, rs_end) = (rq_off + rq_cap, rs_off + rs_cap);
    if rq_end > u64::from(u32::MAX) || rs_end > u64::from(u32::MAX) || rs_off < rq_end {
        return Err(ShmAttachError::BadHeader(
            "overlapping or overflowing areas",
        ));
    }
    // Stricter than the reference peers: the areas must lie inside the view.
    if rs_end.max(rq_end) > view.len() as u64 {
        return Err(ShmAttachError::BadSize);
    }
    Ok((
        request_lane(rq_off as usize, rq_cap as usize),
        response_lane(rs_off as usize, rs_cap as usize),
    ))
}
