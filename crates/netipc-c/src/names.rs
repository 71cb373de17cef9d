//! Netdata's hash and the well-known service names, for C.

use std::ffi::{CStr, c_char};

/// `uint32_t nipc_netdata_hash(const char *text)`: Netdata's string hash
/// (`simple_hash`) of a NUL-terminated string, as providers put in
/// `nipc_cgroups_cache_item_view_t.hash`. NULL hashes as the empty string.
///
/// # Safety
/// `text`, when not NULL, must point to a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_netdata_hash(text: *const c_char) -> u32 {
    crate::ffi::guard(0, || {
        if text.is_null() {
            return netipc::netdata::netdata_hash(b"");
        }
        // SAFETY: not NULL and NUL-terminated by the caller's contract.
        let bytes = unsafe { CStr::from_ptr(text) }.to_bytes();
        netipc::netdata::netdata_hash(bytes)
    })
}

/// `uint32_t nipc_netdata_hash_n(const char *bytes, size_t len)`: the same
/// hash of `len` bytes (which need no NUL). NULL with `len` 0 is allowed.
///
/// # Safety
/// `bytes`, when not NULL, must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nipc_netdata_hash_n(bytes: *const c_char, len: usize) -> u32 {
    crate::ffi::guard(0, || {
        // SAFETY: `len` readable bytes by the caller's contract.
        match unsafe { crate::ffi::c_slice(bytes.cast::<u8>(), len) } {
            Ok(b) => netipc::netdata::netdata_hash(b),
            Err(_) => 0,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_the_core() {
        // SAFETY: static NUL-terminated strings.
        unsafe {
            assert_eq!(
                nipc_netdata_hash(c"system.slice".as_ptr()),
                netipc::netdata::netdata_hash(b"system.slice")
            );
            assert_eq!(
                nipc_netdata_hash_n(c"abc".as_ptr(), 2),
                netipc::netdata::netdata_hash(b"ab")
            );
        }
    }
}
