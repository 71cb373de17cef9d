//! The cgroups of the snapshot scenarios: the same deterministic list is
//! generated on both sides, so the client checks every answer it reads
//! against it; or, from another server, only that every item decodes.
//!
//! Names are 20 bytes and paths 81 bytes, the shape of a container cgroup
//! (`docker-<id>` under `/sys/fs/cgroup/system.slice/`).

use std::fmt::Write as _;

use netipc::codec::{SnapshotBuilder, SnapshotItem, SnapshotView};

use super::Check;

/// `systemd_enabled` of every answer.
pub const SYSTEMD_ENABLED: u32 = 1;
/// `generation` of every answer.
pub const GENERATION: u64 = 7;

/// One cgroup of a snapshot.
#[derive(Debug, Clone)]
pub struct Cgroup {
    pub hash: u32,
    pub options: u32,
    pub enabled: u32,
    pub name: String,
    pub path: String,
}

/// splitmix64: a well-spread value for item `i`.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a, the producer's name hash (the protocol never recomputes it).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The `n` cgroups of a snapshot scenario.
pub fn cgroups(n: u32) -> Vec<Cgroup> {
    (0..u64::from(n))
        .map(|i| {
            let (a, b, c) = (mix(3 * i), mix(3 * i + 1), mix(3 * i + 2));
            let mut name = String::with_capacity(20);
            let _ = write!(name, "docker-{:013x}", a >> 12);
            let mut path = String::with_capacity(81);
            let _ = write!(
                path,
                "/sys/fs/cgroup/system.slice/docker-{a:016x}{b:016x}{:08x}.scope",
                c >> 32
            );
            Cgroup {
                hash: fnv1a(name.as_bytes()),
                options: u32::from(i % 3 == 0) | 0x10,
                enabled: u32::from(i % 7 != 0),
                name,
                path,
            }
        })
        .collect()
}

/// Adds `cgroups` to `builder` and sets the header.
///
/// # Errors
/// The first failed `add` (the response buffer is too small).
pub fn build(builder: &mut SnapshotBuilder<'_>, cgroups: &[Cgroup]) -> netipc::Result<()> {
    builder.set_systemd_enabled(SYSTEMD_ENABLED);
    builder.set_generation(GENERATION);
    for c in cgroups {
        builder.add(&SnapshotItem {
            hash: c.hash,
            options: c.options,
            enabled: c.enabled,
            name: c.name.as_bytes(),
            path: c.path.as_bytes(),
        })?;
    }
    Ok(())
}

/// One item folded into an order-dependent checksum.
fn fold(sum: u64, hash: u32, options: u32, enabled: u32, name: &[u8], path: &[u8]) -> u64 {
    let last = |s: &[u8]| u64::from(s.last().copied().unwrap_or(0));
    let fields = u64::from(hash)
        ^ (u64::from(options) << 32)
        ^ (u64::from(enabled) << 40)
        ^ ((name.len() as u64) << 44)
        ^ ((path.len() as u64) << 52)
        ^ (last(name) << 8)
        ^ (last(path) << 16);
    sum.wrapping_mul(0x0000_0100_0000_01b3).wrapping_add(fields)
}

/// What every answer of a snapshot scenario must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub items: usize,
    sum: u64,
}

impl Expected {
    pub fn of(cgroups: &[Cgroup]) -> Self {
        let sum = cgroups.iter().fold(0, |sum, c| {
            fold(
                sum,
                c.hash,
                c.options,
                c.enabled,
                c.name.as_bytes(),
                c.path.as_bytes(),
            )
        });
        Self {
            items: cgroups.len(),
            sum,
        }
    }

    /// Reads (and so validates) every item of `view` and checks the
    /// answer. Allocates nothing unless it fails.
    ///
    /// # Errors
    /// A malformed item, or an answer with other items than expected.
    pub fn check(&self, view: &SnapshotView<'_>) -> Result<(), String> {
        if view.len() != self.items {
            return Err(format!(
                "a snapshot of {} items, expected {}: is the server serving this scenario?",
                view.len(),
                self.items
            ));
        }
        let mut sum = 0;
        for item in view.iter() {
            let i = item.map_err(|e| format!("a malformed snapshot item: {e}"))?;
            sum = fold(sum, i.hash, i.options, i.enabled, i.name, i.path);
        }
        if sum != self.sum
            || view.systemd_enabled() != SYSTEMD_ENABLED
            || view.generation() != GENERATION
        {
            return Err("a snapshot with other items than the bench server's".to_owned());
        }
        Ok(())
    }
}

/// How a client checks the snapshots it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotCheck {
    /// Item for item: netipc's bench snapshot.
    BenchData(Expected),
    /// Any well-formed snapshot: every item decodes.
    Structure,
}

impl SnapshotCheck {
    /// The check of a client that expects netipc's snapshot of `items`
    /// cgroups when `check` is [`Check::BenchData`].
    pub fn new(check: Check, items: u32) -> Self {
        match check {
            Check::BenchData => Self::BenchData(Expected::of(&cgroups(items))),
            Check::Structure => Self::Structure,
        }
    }

    /// Reads every item of `view` and checks it; returns the item count.
    /// Allocates nothing unless it fails.
    ///
    /// # Errors
    /// A malformed item, or (bench data) other items than expected.
    pub fn check(&self, view: &SnapshotView<'_>) -> Result<u32, String> {
        match self {
            Self::BenchData(expected) => expected.check(view)?,
            Self::Structure => {
                for (i, item) in view.iter().enumerate() {
                    item.map_err(|e| format!("snapshot item {i} is malformed: {e}"))?;
                }
            }
        }
        Ok(u32::try_from(view.len()).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_look_real_and_round_trip() {
        let list = cgroups(1000);
        assert_eq!(list.len(), 1000);
        for c in &list {
            assert_eq!(c.name.len(), 20, "{}", c.name);
            assert_eq!(c.path.len(), 81, "{}", c.path);
            assert!(c.path.ends_with(".scope"));
        }
        let mut buf = vec![0u8; 1 << 18];
        let mut b = SnapshotBuilder::new(&mut buf, 1000).unwrap();
        build(&mut b, &list).unwrap();
        let len = b.finish();
        let view = SnapshotView::decode(&buf[..len]).unwrap();
        Expected::of(&list).check(&view).unwrap();
        assert!(Expected::of(&list[..999]).check(&view).is_err());
        let other = cgroups(16);
        let mut b = SnapshotBuilder::new(&mut buf, 16).unwrap();
        build(&mut b, &other).unwrap();
        let len = b.finish();
        let view = SnapshotView::decode(&buf[..len]).unwrap();
        assert!(Expected::of(&list[..16]).check(&view).is_ok());
        assert!(Expected::of(&other[1..]).check(&view).is_err());
        // Only the structure: any count, any items.
        let structure = SnapshotCheck::new(Check::Structure, 1000);
        assert_eq!(structure.check(&view), Ok(16));
        assert!(
            SnapshotCheck::new(Check::BenchData, 1000)
                .check(&view)
                .is_err()
        );
        assert_eq!(
            SnapshotCheck::new(Check::BenchData, 16).check(&view),
            Ok(16)
        );
    }
}
