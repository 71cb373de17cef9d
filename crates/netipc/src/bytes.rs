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

/// The position of the first NUL byte of `s`, if any. A long string (a
/// cgroup path) is searched with the `memchr` crate's vectorised search
/// (the standard library's reads a word at a time: about twice the
/// instructions for a 60-100 byte path); a short one (a name, a label)
/// with the standard library's, which has less to set up.
#[inline]
pub(crate) fn nul_at(s: &[u8]) -> Option<usize> {
    if s.len() >= 32 {
        memchr::memchr(0, s)
    } else {
        s.iter().position(|&b| b == 0)
    }
}

/// Whether `s` has a NUL byte (see [`nul_at`]).
#[inline]
pub(crate) fn has_nul(s: &[u8]) -> bool {
    nul_at(s).is_some()
}

/// How many NUL bytes `s` has.
#[inline]
pub(crate) fn count_nul(s: &[u8]) -> usize {
    if s.len() >= 32 {
        memchr::memchr_iter(0, s).count()
    } else {
        s.iter().filter(|&&b| b == 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_searches_agree_with_a_byte_loop_on_both_sides_of_the_long_string_cut() {
        for len in [0usize, 1, 7, 31, 32, 33, 64, 100, 257] {
            let clean = vec![b'a'; len];
            assert_eq!(nul_at(&clean), None, "len {len}");
            assert!(!has_nul(&clean));
            assert_eq!(count_nul(&clean), 0);
            for at in [0, len / 2, len.saturating_sub(1)]
                .into_iter()
                .filter(|&a| a < len)
            {
                let mut s = clean.clone();
                s[at] = 0;
                assert_eq!(nul_at(&s), Some(at), "len {len}, NUL at {at}");
                assert!(has_nul(&s));
                assert_eq!(count_nul(&s), 1);
            }
            let zeros = vec![0u8; len];
            assert_eq!(count_nul(&zeros), len);
            assert_eq!(nul_at(&zeros), (len > 0).then_some(0));
        }
    }
}
