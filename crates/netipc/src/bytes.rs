//! Native-endian field access for the byte layers.
//!
//! Every NetIPC integer is stored in the host's native byte order (peers are
//! always on the same machine). Callers check bounds before calling these
//! helpers; an out-of-range offset is a bug in the caller, not bad input.

#[inline(always)]
pub(crate) fn get_u16(b: &[u8], off: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[off..off + 2]);
    u16::from_ne_bytes(a)
}

#[inline(always)]
pub(crate) fn get_u32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_ne_bytes(a)
}

#[inline(always)]
pub(crate) fn get_u64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(a)
}

#[inline(always)]
pub(crate) fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_ne_bytes());
}

#[inline(always)]
pub(crate) fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

#[inline(always)]
pub(crate) fn put_u64(b: &mut [u8], off: usize, v: u64) {
    b[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Rounds `x` up to the next multiple of 8 (saturating near `usize::MAX`).
#[inline(always)]
pub(crate) const fn align8(x: usize) -> usize {
    match x.checked_add(7) {
        Some(v) => v & !7,
        None => usize::MAX & !7,
    }
}

/// `a + b` as long as it does not exceed `limit`.
#[inline(always)]
pub(crate) fn end_within(a: usize, b: usize, limit: usize) -> Option<usize> {
    a.checked_add(b).filter(|&e| e <= limit)
}

/// Converts a size or offset to the u32 the wire carries.
#[inline(always)]
pub(crate) fn to_u32(v: usize) -> Option<u32> {
    u32::try_from(v).ok()
}
