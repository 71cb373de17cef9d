//! The POSIX region layout: a 64-byte header, the request area, the
//! response area.

/// Region magic (`NSHM` read big-endian).
pub(crate) const MAGIC: u32 = 0x4e53_484d;
/// Region layout version.
pub(crate) const VERSION: u16 = 3;
/// Header size, also the request area's offset.
pub(crate) const HEADER_LEN: usize = 64;
/// Areas are multiples of this.
pub(crate) const AREA_ALIGN: usize = 64;
pub(crate) const OFF_MAGIC: usize = 0;
pub(crate) const OFF_VERSION: usize = 4;
pub(crate) const OFF_HEADER_LEN: usize = 6;
pub(crate) const OFF_OWNER_PID: usize = 8;
pub(crate) const OFF_OWNER_GEN: usize = 12;
pub(crate) const OFF_REQ_OFFSET: usize = 16;
pub(crate) const OFF_REQ_CAPACITY: usize = 20;
pub(crate) const OFF_RESP_OFFSET: usize = 24;
pub(crate) const OFF_RESP_CAPACITY: usize = 28;
pub(crate) const OFF_REQ_SEQ: usize = 32;
pub(crate) const OFF_RESP_SEQ: usize = 40;
pub(crate) const OFF_REQ_LEN: usize = 48;
pub(crate) const OFF_RESP_LEN: usize = 52;
pub(crate) const OFF_REQ_SIGNAL: usize = 56;
pub(crate) const OFF_RESP_SIGNAL: usize = 60;

/// Rounds up to a multiple of 64, `None` if that overflows a u32.
pub(crate) fn align64(x: u64) -> Option<u32> {
    u32::try_from(x.checked_add(63)? & !63).ok()
}

/// Area capacity for messages with payloads up to `max_payload`:
/// `align64(32 + max_payload)`.
pub(crate) fn capacity_for(max_payload: u32) -> Option<u32> {
    align64(u64::from(max_payload) + crate::wire::HEADER_LEN as u64)
}

/// The fields one direction of traffic uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lane {
    pub(crate) area: usize,
    pub(crate) capacity: usize,
    pub(crate) seq: usize,
    pub(crate) len: usize,
    pub(crate) signal: usize,
}

impl Lane {
    pub(crate) const fn request(offset: usize, capacity: usize) -> Self {
        Self {
            area: offset,
            capacity,
            seq: OFF_REQ_SEQ,
            len: OFF_REQ_LEN,
            signal: OFF_REQ_SIGNAL,
        }
    }

    pub(crate) const fn response(offset: usize, capacity: usize) -> Self {
        Self {
            area: offset,
            capacity,
            seq: OFF_RESP_SEQ,
            len: OFF_RESP_LEN,
            signal: OFF_RESP_SIGNAL,
        }
    }

    /// The offset just past this lane's area.
    pub(crate) const fn end(&self) -> usize {
        self.area + self.capacity
    }
}

/// The creator's generation tag: derived from the monotonic clock like the
/// reference peers, but never 0 (a zero tag would make a live region look
/// stale to every other server).
pub(crate) fn owner_generation() -> u32 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let tag = (ts.tv_sec as u64 ^ ((ts.tv_nsec as u64) >> 10)) as u32;
    if tag == 0 { 1 } else { tag }
}
