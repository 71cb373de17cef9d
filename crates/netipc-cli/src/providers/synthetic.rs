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

use netipc::codec::{CgroupStatus, UID_UNSET};

use super::cgroups::{CgroupTable, Cgroups};
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

#[cfg(test)]
mod tests {
    use super::*;
    use netipc::codec::orchestrator;

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
