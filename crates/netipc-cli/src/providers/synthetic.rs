//! Synthetic, deterministic data for machines without cgroups or `/proc`
//! (and for `--synthetic N`).
//!
//! Cgroup `i` (0-based) has a 64-hex-digit id made from `i` alone and a
//! path of one of five shapes, in turn: a Docker container, a systemd
//! service, a Kubernetes container, a Podman container and an LXC
//! container, all under `/sys/fs/cgroup` (cgroup v2). Names, hashes and
//! labels come from the same [`naming`](super::naming) rules as real
//! cgroups. The generation is always 1.
//!
//! Process `pid` exists for `1 <= pid <= N`: `comm` `synthetic-<pid>`
//! (cut to 15 bytes), `ppid` `pid / 2` (0 for PID 1, at least 1 otherwise),
//! `uid` 0, 1000 or 1001 (by `pid % 3`), `starttime` `100 * pid`; PID 1
//! lives in the host root cgroup, PID `p >= 2` in cgroup `(p - 2) % count`.

use std::sync::OnceLock;

use netipc::codec::{CgroupStatus, SNAPSHOT_HEADER_LEN, SNAPSHOT_ITEM_HEADER_LEN, UID_UNSET};
use netipc::wire::{DIR_ENTRY_LEN, HEADER_LEN};

use super::cgroups::{CgroupTable, Cgroups};
use super::naming;
use super::procs::{CgroupOf, Process, comm_bytes};

/// The mount point of synthetic cgroups.
pub const MOUNT: &str = "/sys/fs/cgroup";

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The 64-hex-digit id of cgroup `i`.
pub fn container_id(i: u64) -> String {
    (0..4)
        .map(|k| format!("{:016x}", splitmix64(i * 4 + k)))
        .collect()
}

/// The relative path of cgroup `i`.
pub fn rel_path(i: u64) -> String {
    let id = container_id(i);
    match i % 5 {
        0 => format!("/system.slice/docker-{id}.scope"),
        1 => format!("/system.slice/synthetic-{i}.service"),
        2 => {
            let u = &id[32..];
            let uid = format!(
                "{}_{}_{}_{}_{}",
                &u[..8],
                &u[8..12],
                &u[12..16],
                &u[16..20],
                &u[20..]
            );
            format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid}.slice/cri-containerd-{id}.scope"
            )
        }
        3 => format!("/machine.slice/libpod-{id}.scope"),
        _ => format!("/lxc.payload.synthetic-{i}"),
    }
}

/// A table of `count` synthetic cgroups.
pub fn table(count: u32) -> CgroupTable {
    let paths: Vec<String> = (0..u64::from(count)).map(rel_path).collect();
    let entries = paths.iter().map(|p| (p.as_str(), vec![(MOUNT, true)]));
    CgroupTable::build(entries, vec![MOUNT.to_owned()], 1, 1)
}

/// A provider of `count` synthetic cgroups.
pub fn cgroups(count: u32) -> Cgroups {
    Cgroups::fixed(table(count), format!("{count} synthetic cgroups"))
}

/// Synthetic process `pid` of `count`.
pub fn process(pid: u32, count: u32, table: &CgroupTable) -> Option<Process> {
    if pid == 0 || pid > count {
        return None;
    }
    let cgroup = match pid {
        1 => None,
        p => (!table.items.is_empty()).then(|| (p as usize - 2) % table.items.len()),
    };
    let cgroup = match cgroup {
        Some(i) => CgroupOf {
            status: CgroupStatus::Known,
            path: table.items[i].path.clone(),
            item: Some(i),
        },
        None => CgroupOf {
            status: CgroupStatus::HostRoot,
            path: String::new(),
            item: None,
        },
    };
    let uid = [0, 1000, 1001][(pid % 3) as usize];
    debug_assert_ne!(uid, UID_UNSET);
    Some(Process {
        ppid: if pid == 1 { 0 } else { (pid / 2).max(1) },
        uid,
        starttime: 100 * u64::from(pid),
        comm: comm_bytes(&format!("synthetic-{pid}")),
        cgroup,
    })
}

/// The largest legal snapshot payload in bytes: a message is its 32-byte
/// header plus the payload, and it must fit a u32 (wire-envelope §2).
pub const MAX_SNAPSHOT_BYTES: u64 = u32::MAX as u64 - HEADER_LEN as u64;

/// Snapshot bytes of synthetic cgroup `i` (the codec's fixed part, name,
/// path and their NULs), before the padding to the next item.
fn item_bytes(i: u64) -> u64 {
    let rel = rel_path(i);
    let name = naming::derive(&rel, true).name;
    (SNAPSHOT_ITEM_HEADER_LEN + name.len() + MOUNT.len() + rel.len() + 2) as u64
}

/// The size of an item depends only on its shape (`i % 5`) and on how many
/// decimal digits `i` has (the hex ids have a fixed length): the size of
/// every class, `[digits][shape]`, from its first member.
fn class_sizes() -> &'static [[u64; 5]; 11] {
    static SIZES: OnceLock<[[u64; 5]; 11]> = OnceLock::new();
    SIZES.get_or_init(|| {
        let mut sizes = [[0; 5]; 11];
        for (digits, row) in sizes.iter_mut().enumerate().skip(1) {
            let first = if digits == 1 {
                0
            } else {
                10u64.pow(digits as u32 - 1)
            };
            for (shape, size) in row.iter_mut().enumerate() {
                let i = (first..first + 5)
                    .find(|i| i % 5 == shape as u64)
                    .unwrap_or(first);
                *size = item_bytes(i);
            }
        }
        sizes
    })
}

fn digits(i: u64) -> usize {
    i.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The exact payload size of the snapshot of `count` synthetic cgroups,
/// computed without building them (the builder pads every item but the
/// last to a multiple of 8).
pub fn snapshot_bytes(count: u32) -> u64 {
    let n = u64::from(count);
    let align8 = |v: u64| v.next_multiple_of(8);
    let mut total = SNAPSHOT_HEADER_LEN as u64 + DIR_ENTRY_LEN as u64 * n;
    let sizes = class_sizes();
    // Members of [0, x) with i % 5 == shape.
    let below = |x: u64, shape: u64| {
        if x > shape {
            (x - shape).div_ceil(5)
        } else {
            0
        }
    };
    for (d, row) in sizes.iter().enumerate().skip(1) {
        let lo = if d == 1 { 0 } else { 10u64.pow(d as u32 - 1) };
        let hi = 10u64.pow(d as u32).min(n);
        if lo >= hi {
            break;
        }
        for (shape, &size) in row.iter().enumerate() {
            let members = below(hi, shape as u64) - below(lo, shape as u64);
            total += members * align8(size);
        }
    }
    if n > 0 {
        let last = sizes[digits(n - 1)][((n - 1) % 5) as usize];
        total -= align8(last) - last;
    }
    total
}

/// The most synthetic cgroups whose snapshot fits the largest legal
/// message ([`MAX_SNAPSHOT_BYTES`]).
pub fn max_count() -> u32 {
    static MAX: OnceLock<u32> = OnceLock::new();
    *MAX.get_or_init(|| {
        let (mut lo, mut hi) = (0u32, u32::MAX);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if snapshot_bytes(mid) <= MAX_SNAPSHOT_BYTES {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    })
}

/// A clap parser for `--synthetic N`: a count whose snapshot fits the
/// largest legal message, refused (with the limit) before anything is
/// allocated.
pub fn parse_count(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a count from 0 to {}", max_count()))?;
    if n > max_count() {
        return Err(format!(
            "{n} synthetic cgroups make a snapshot of {} bytes, more than the largest legal snapshot ({MAX_SNAPSHOT_BYTES} bytes: the response message, with its 32-byte header, must fit a u32); at most {} cgroups fit",
            snapshot_bytes(n),
            max_count()
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netipc::codec::orchestrator;

    #[test]
    fn snapshot_size_is_exact_without_building() {
        let counts = (0..=130)
            .chain([999, 1000, 1001, 1004, 1005, 1006])
            .chain(9_990..=10_012);
        for n in counts {
            assert_eq!(
                snapshot_bytes(n),
                table(n).snapshot_bytes() as u64,
                "{n} synthetic cgroups"
            );
        }
    }

    #[test]
    fn the_cap_is_the_largest_legal_snapshot() {
        let max = max_count();
        assert!(snapshot_bytes(max) <= MAX_SNAPSHOT_BYTES);
        assert!(snapshot_bytes(max + 1) > MAX_SNAPSHOT_BYTES);
        assert!(max > 1_000_000, "{max}");
        assert_eq!(parse_count(&max.to_string()), Ok(max));
        let err = parse_count("4294967295").unwrap_err();
        assert!(err.contains(&format!("at most {max} cgroups fit")), "{err}");
        assert!(err.contains("4294967263 bytes"), "{err}");
        assert!(parse_count("-1").is_err());
        assert_eq!(parse_count("0"), Ok(0));
    }

    #[test]
    fn deterministic_and_varied() {
        let a = table(10);
        let b = table(10);
        assert_eq!(a.items, b.items);
        assert_eq!(a.items.len(), 10);
        let orchs: Vec<u16> = a.items.iter().take(5).map(|c| c.orchestrator).collect();
        assert_eq!(
            orchs,
            [
                orchestrator::DOCKER,
                orchestrator::SYSTEMD,
                orchestrator::K8S,
                orchestrator::PODMAN,
                orchestrator::LXC
            ]
        );
        assert!(
            a.items
                .iter()
                .all(|c| c.enabled == 1 && c.path.starts_with(MOUNT))
        );
        assert_eq!(a.items[1].name, "synthetic-1");
    }

    #[test]
    fn processes() {
        let t = table(4);
        assert_eq!(process(0, 3, &t), None);
        assert_eq!(process(4, 3, &t), None);
        let init = process(1, 3, &t).expect("pid 1");
        assert_eq!(init.cgroup.status, CgroupStatus::HostRoot);
        assert_eq!(init.ppid, 0);
        let p3 = process(3, 3, &t).expect("pid 3");
        assert_eq!(p3.cgroup.item, Some(1));
        assert_eq!((p3.ppid, p3.uid, p3.starttime), (1, 0, 300));
        assert_eq!(p3.comm, b"synthetic-3");
        let lonely = process(2, 3, &table(0)).expect("pid 2");
        assert_eq!(lonely.cgroup.status, CgroupStatus::HostRoot);
    }
}
