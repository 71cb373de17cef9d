//! Netdata's vocabulary: the hash its producers put in every cgroups item,
//! the option flags of those items, and the names its plugins use for the
//! standard services.
//!
//! The protocol never recomputes an item's `hash`: the producer chooses
//! it and consumers look items up by `(hash, name)`. A consumer of a
//! Netdata producer must therefore hash names exactly as Netdata does,
//! with [`netdata_hash`]. (The orchestrator values of lookup answers are
//! in [`codec::orchestrator`](crate::codec::orchestrator).)

/// Netdata's `simple_hash()` of libnetdata: 32-bit FNV-1 over the bytes
/// (offset basis `0x811c9dc5`; for each byte, multiply by the FNV prime
/// `16777619`, then XOR the byte). Its source comment calls it FNV-1a, but
/// the code multiplies first, and that is what every Netdata producer
/// sends as a cgroups snapshot item's `hash`.
///
/// ```
/// use netipc::netdata::netdata_hash;
/// assert_eq!(netdata_hash(b""), 0x811c_9dc5);
/// assert_eq!(netdata_hash(b"foobar"), 0x31f0_b262);
/// ```
#[must_use]
pub const fn netdata_hash(bytes: &[u8]) -> u32 {
    let mut hash = 0x811c_9dc5_u32;
    let mut i = 0;
    while i < bytes.len() {
        hash = hash.wrapping_mul(16_777_619) ^ bytes[i] as u32;
        i += 1;
    }
    hash
}

/// The service name of the cgroups snapshot (method `CGROUPS_SNAPSHOT`).
pub const CGROUPS_SNAPSHOT_SERVICE: &str = "cgroups-snapshot";
/// The service name of cgroup path lookups (method `CGROUPS_LOOKUP`).
pub const CGROUPS_LOOKUP_SERVICE: &str = "cgroups-lookup";
/// The service name of process lookups (method `APPS_LOOKUP`).
pub const APPS_LOOKUP_SERVICE: &str = "apps-lookup";

/// Flags of a cgroups snapshot item's `options` field, as Netdata's
/// cgroups plugin sets them. The protocol carries the field untouched
/// (the codec calls it opaque); a provider that stands in for the plugin
/// uses these values so that Netdata's consumers read them the same way.
pub mod cgroup_options {
    /// A later cgroup with the name of an earlier one; it is published
    /// disabled (`enabled` 0).
    pub const DISABLED_DUPLICATE: u32 = 0x1;
    /// A service directly under systemd's `system.slice`.
    pub const SYSTEM_SLICE_SERVICE: u32 = 0x2;
    /// The cgroup lives in a cgroup v2 (unified) hierarchy.
    pub const IS_UNIFIED: u32 = 0x4;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1 reference values (multiply, then XOR), which differ from
    /// FNV-1a's for every non-empty input.
    #[test]
    fn netdata_hash_is_fnv1() {
        assert_eq!(netdata_hash(b""), 0x811c_9dc5);
        assert_eq!(netdata_hash(b"a"), 0x050c_5d7e);
        assert_eq!(netdata_hash(b"foobar"), 0x31f0_b262);
        let fnv1a = |bytes: &[u8]| {
            bytes.iter().fold(0x811c_9dc5_u32, |h, &b| {
                (h ^ u32::from(b)).wrapping_mul(16_777_619)
            })
        };
        assert_ne!(netdata_hash(b"a"), fnv1a(b"a"));
    }
}
