//! The table of the lookup scenarios: cgroups with the names and labels
//! of real containers, and processes living in them. The same
//! deterministic table is built on both sides: the server answers from it
//! (keyed by path and by PID, as a real provider does), the client picks
//! its keys from it and checks every answered item against it (or, from
//! another server, that every key is answered by an item echoing it: any
//! server can answer these keys, an unknown one with its UNKNOWN status).
//!
//! Three cgroups in four are Docker containers
//! (`/sys/fs/cgroup/system.slice/docker-<64 hex>.scope`, 105 bytes) with
//! `container_id`, `container_name` and `image` labels; the fourth is a
//! Kubernetes container (`/sys/fs/cgroup/kubepods.slice/...`, 189 bytes)
//! with the `k8s_*` labels too. Items are about 300 bytes (cgroups) and
//! 430 bytes (processes) on the wire.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

use netipc::codec::{
    AppsEntry, AppsLookupBuilder, AppsLookupRequest, AppsLookupView, CgroupStatus, CgroupsEntry,
    CgroupsLookupBuilder, CgroupsLookupRequest, CgroupsLookupStatus, CgroupsLookupView, Labels,
    NO_LABELS, PidStatus, orchestrator,
};
use netipc::service::HandlerError;

use super::Check;

/// Cgroups in the table: the keys of the cgroups-lookup rows.
pub const CGROUPS: usize = 1024;
/// Processes in the table: the keys of the apps-lookup rows.
pub const PROCESSES: usize = 1024;
/// `generation` of every answer.
pub const GENERATION: u64 = 11;

/// The images of the containers, in turn.
const IMAGES: [(&str, &str); 8] = [
    ("nginx", "docker.io/library/nginx:1.25.3"),
    ("postgres", "docker.io/library/postgres:16.1"),
    ("redis", "docker.io/library/redis:7.2.4"),
    ("api", "registry.example.com/shop/api:2024.11.3"),
    ("worker", "registry.example.com/shop/worker:2024.11.3"),
    ("grafana", "docker.io/grafana/grafana:10.2.3"),
    ("prometheus", "quay.io/prometheus/prometheus:v2.48.1"),
    ("kafka", "docker.io/bitnami/kafka:3.6.1"),
];

/// One cgroup of the table.
#[derive(Debug, Clone)]
pub struct LookupCgroup {
    pub path: String,
    pub name: String,
    pub orchestrator: u16,
    pub labels: Vec<(String, String)>,
}

/// One process of the table.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub starttime: u64,
    pub comm: String,
    /// Index of its cgroup.
    pub cgroup: usize,
}

/// The cgroups and processes of the lookup scenarios, indexed as a
/// provider indexes them.
#[derive(Debug)]
pub struct Table {
    pub cgroups: Vec<LookupCgroup>,
    /// `cgroups[i].path`, for `CgroupsLookupClient::call`.
    pub paths: Vec<String>,
    pub processes: Vec<Process>,
    /// `processes[i].pid`, for `AppsLookupClient::call`.
    pub pids: Vec<u32>,
    by_path: HashMap<Box<[u8]>, usize>,
    by_pid: HashMap<u32, usize>,
}

/// splitmix64: a well-spread value for `i`.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn label(key: &str, value: &str) -> (String, String) {
    (key.to_owned(), value.to_owned())
}

/// Cgroup `i`.
fn cgroup(i: usize) -> LookupCgroup {
    let mut id = String::with_capacity(64);
    for k in 0..4 {
        let _ = write!(id, "{:016x}", mix(4 * i as u64 + k));
    }
    let (app, image) = IMAGES[i % IMAGES.len()];
    let name = format!("{app}-{i:04}");
    let short = &id[..12];
    if i % 4 == 3 {
        let u = &id[32..];
        let pod = format!(
            "{}-{}-{}-{}-{}",
            &u[..8],
            &u[8..12],
            &u[12..16],
            &u[16..20],
            &u[20..]
        );
        let path = format!(
            "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{id}.scope",
            pod.replace('-', "_")
        );
        let pod_name = format!("{app}-{:05x}", mix(i as u64) & 0xf_ffff);
        LookupCgroup {
            path,
            name: format!("k8s_{app}_{pod_name}_shop"),
            orchestrator: orchestrator::K8S,
            labels: vec![
                label("container_id", short),
                label("k8s_namespace", "shop"),
                label("k8s_pod_name", &pod_name),
                label("k8s_pod_uid", &pod),
                label("k8s_container_name", app),
                label("k8s_qos_class", "burstable"),
                label("image", image),
            ],
        }
    } else {
        LookupCgroup {
            path: format!("/sys/fs/cgroup/system.slice/docker-{id}.scope"),
            name: name.clone(),
            orchestrator: orchestrator::DOCKER,
            labels: vec![
                label("container_id", short),
                label("container_name", &name),
                label("image", image),
            ],
        }
    }
}

/// Process `i`: the main process of one of the containers.
fn process(i: usize) -> Process {
    let cgroup = (i * 5) % CGROUPS;
    let (app, _) = IMAGES[cgroup % IMAGES.len()];
    let comm = match app {
        "api" | "worker" => "python3",
        "kafka" => "java",
        app => app,
    };
    Process {
        pid: 1000 + 7 * i as u32,
        ppid: 900 + 7 * i as u32,
        uid: [0, 33, 999, 1000][i % 4],
        starttime: 120_000 + 97 * i as u64,
        comm: comm.to_owned(),
        cgroup,
    }
}

impl Table {
    /// The table of every lookup scenario.
    pub fn new() -> Self {
        let cgroups: Vec<LookupCgroup> = (0..CGROUPS).map(cgroup).collect();
        let processes: Vec<Process> = (0..PROCESSES).map(process).collect();
        let by_path = cgroups
            .iter()
            .enumerate()
            .map(|(i, c)| (Box::from(c.path.as_bytes()), i))
            .collect();
        let by_pid = processes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.pid, i))
            .collect();
        Self {
            paths: cgroups.iter().map(|c| c.path.clone()).collect(),
            pids: processes.iter().map(|p| p.pid).collect(),
            cgroups,
            processes,
            by_path,
            by_pid,
        }
    }

    /// The keys (indexes into `paths` or `pids`) of logical call `id` of
    /// `keys` keys: the tables are cut into windows of `keys` keys, taken
    /// in turn.
    pub fn window(id: u64, keys: usize, of: usize) -> Range<usize> {
        let keys = keys.clamp(1, of);
        let windows = (of / keys) as u64;
        let start = (id % windows) as usize * keys;
        start..start + keys
    }

    /// Answers a cgroups-lookup request from the path index: one item per
    /// key, unknown paths as `UNKNOWN_RETRY_LATER`.
    ///
    /// # Errors
    /// The builder's first error.
    pub fn answer_cgroups(
        &self,
        request: &CgroupsLookupRequest<'_>,
        builder: &mut CgroupsLookupBuilder<'_, '_>,
    ) -> Result<(), HandlerError> {
        builder.set_generation(GENERATION);
        for (i, path) in request.paths().enumerate() {
            match self.by_path.get(path) {
                Some(&c) => {
                    let c = &self.cgroups[c];
                    builder.add_request_item(
                        i,
                        &CgroupsEntry::known(c.orchestrator, c.name.as_bytes()),
                        &c.labels,
                    )?;
                }
                None => builder.add_request_item(
                    i,
                    &CgroupsEntry::unset(CgroupsLookupStatus::UnknownRetryLater),
                    NO_LABELS,
                )?,
            }
        }
        Ok(())
    }

    /// Answers an apps-lookup request from the PID index: one item per
    /// key, unknown PIDs as `UNKNOWN`.
    ///
    /// # Errors
    /// The builder's first error.
    pub fn answer_apps(
        &self,
        request: &AppsLookupRequest<'_>,
        builder: &mut AppsLookupBuilder<'_>,
    ) -> Result<(), HandlerError> {
        builder.set_generation(GENERATION);
        for pid in request.pids() {
            let Some(&p) = self.by_pid.get(&pid) else {
                builder.add_status(pid, PidStatus::Unknown)?;
                continue;
            };
            let p = &self.processes[p];
            let c = &self.cgroups[p.cgroup];
            builder.add(pid, &self.entry(p), &c.labels)?;
        }
        Ok(())
    }

    /// The apps-lookup answer for process `p`.
    fn entry<'a>(&'a self, p: &'a Process) -> AppsEntry<'a> {
        let c = &self.cgroups[p.cgroup];
        AppsEntry {
            status: PidStatus::Known,
            cgroup_status: CgroupStatus::Known,
            orchestrator: c.orchestrator,
            ppid: p.ppid,
            uid: p.uid,
            starttime: p.starttime,
            comm: p.comm.as_bytes(),
            cgroup_path: c.path.as_bytes(),
            cgroup_name: c.name.as_bytes(),
        }
    }

    /// Checks that `view` answers `cgroups[keys]`: item for item, reading
    /// every field and label ([`Check::BenchData`]), or one item per key
    /// echoing its path, with any status ([`Check::Structure`]).
    /// Allocates nothing unless it fails.
    ///
    /// # Errors
    /// An answer with other items than the table's, or (structure) an
    /// answer of another item count or whose items echo other keys.
    pub fn check_cgroups(
        &self,
        view: &CgroupsLookupView<'_>,
        keys: Range<usize>,
        check: Check,
    ) -> Result<(), String> {
        if check == Check::Structure {
            let keys = self.cgroups[keys].iter().map(|c| c.path.as_bytes());
            let show = |path: &&[u8]| format!("path {:?}", String::from_utf8_lossy(path));
            return check_echoes(view.len(), view.iter().map(|i| i.path), keys, show);
        }
        check_count(view.len(), view.generation(), keys.len())?;
        for (item, c) in view.iter().zip(&self.cgroups[keys]) {
            let same = item.status == CgroupsLookupStatus::Known
                && item.path == c.path.as_bytes()
                && item.name == c.name.as_bytes()
                && item.orchestrator == c.orchestrator
                && same_labels(item.labels, &c.labels);
            if !same {
                return Err(format!(
                    "a cgroups-lookup answer for {} other than the bench server's ({}, name {:?})",
                    c.path,
                    item.status.spec_name(),
                    String::from_utf8_lossy(item.name)
                ));
            }
        }
        Ok(())
    }

    /// As [`check_cgroups`](Self::check_cgroups), for `processes[keys]`
    /// (a structure check compares the echoed PIDs).
    ///
    /// # Errors
    /// As [`check_cgroups`](Self::check_cgroups).
    pub fn check_apps(
        &self,
        view: &AppsLookupView<'_>,
        keys: Range<usize>,
        check: Check,
    ) -> Result<(), String> {
        if check == Check::Structure {
            let keys = self.processes[keys].iter().map(|p| p.pid);
            let show = |pid: &u32| format!("PID {pid}");
            return check_echoes(view.len(), view.iter().map(|i| i.pid), keys, show);
        }
        check_count(view.len(), view.generation(), keys.len())?;
        for (item, p) in view.iter().zip(&self.processes[keys]) {
            let same = item.pid == p.pid
                && item.entry == self.entry(p)
                && same_labels(item.labels, &self.cgroups[p.cgroup].labels);
            if !same {
                return Err(format!(
                    "an apps-lookup answer for PID {} other than the bench server's ({})",
                    p.pid,
                    item.entry.status.spec_name()
                ));
            }
        }
        Ok(())
    }
}

/// An answer of `items` items for `keys` keys: one item per key.
fn check_keys(items: usize, keys: usize) -> Result<(), String> {
    if items == keys {
        Ok(())
    } else {
        Err(format!("a lookup answer of {items} items for {keys} keys"))
    }
}

/// The structure of a lookup answer of `items` items: one item per key,
/// item `i` echoing key `i` (`show` names a key in the error).
fn check_echoes<K: PartialEq>(
    items: usize,
    echoed: impl Iterator<Item = K>,
    keys: impl ExactSizeIterator<Item = K>,
    show: impl Fn(&K) -> String,
) -> Result<(), String> {
    check_keys(items, keys.len())?;
    for (i, (got, key)) in echoed.zip(keys).enumerate() {
        if got != key {
            return Err(format!(
                "item {i} of a lookup answer is for {}, but key {i} is {}",
                show(&got),
                show(&key)
            ));
        }
    }
    Ok(())
}

fn check_count(items: usize, generation: u64, keys: usize) -> Result<(), String> {
    check_keys(items, keys)?;
    if generation != GENERATION {
        return Err(format!(
            "a lookup answer of generation {generation}, expected {GENERATION}: is the server \
             serving this scenario?"
        ));
    }
    Ok(())
}

fn same_labels(labels: Labels<'_>, want: &[(String, String)]) -> bool {
    labels.len() == want.len()
        && labels
            .iter()
            .zip(want)
            .all(|(l, (k, v))| l.key == k.as_bytes() && l.value == v.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netipc::codec::{
        dispatch_apps_lookup, dispatch_cgroups_lookup, encode_apps_lookup_request,
        encode_cgroups_lookup_request,
    };

    #[test]
    fn answers_round_trip_and_check() {
        let t = Table::new();
        assert_eq!(t.cgroups.len(), CGROUPS);
        assert!(t.cgroups[0].path.len() == 105, "{}", t.cgroups[0].path);
        assert!(
            t.cgroups[3]
                .path
                .starts_with("/sys/fs/cgroup/kubepods.slice/")
        );
        let keys = Table::window(5, 64, CGROUPS);
        assert_eq!(keys, 320..384);
        assert_eq!(Table::window(16, 64, CGROUPS), 0..64);
        assert_eq!(Table::window(1500, 1, CGROUPS), 476..477);

        let mut request = vec![0u8; 1 << 16];
        let mut response = vec![0u8; 1 << 20];
        let n = encode_cgroups_lookup_request(&t.paths[keys.clone()], &mut request).unwrap();
        let len = dispatch_cgroups_lookup(&request[..n], &mut response, |r, b| {
            t.answer_cgroups(r, b).is_ok()
        })
        .unwrap();
        let view = CgroupsLookupView::decode(&response[..len]).unwrap();
        t.check_cgroups(&view, keys.clone(), Check::BenchData)
            .unwrap();
        t.check_cgroups(&view, keys.clone(), Check::Structure)
            .unwrap();
        for check in [Check::BenchData, Check::Structure] {
            assert!(t.check_cgroups(&view, 0..64, check).is_err());
            assert!(t.check_cgroups(&view, 320..383, check).is_err());
        }
        assert!(
            len / 64 > 250 && len / 64 < 400,
            "{} bytes an item",
            len / 64
        );

        let n = encode_apps_lookup_request(&t.pids[keys.clone()], &mut request).unwrap();
        let len = dispatch_apps_lookup(&request[..n], &mut response, |r, b| {
            t.answer_apps(r, b).is_ok()
        })
        .unwrap();
        let view = AppsLookupView::decode(&response[..len]).unwrap();
        t.check_apps(&view, keys.clone(), Check::BenchData).unwrap();
        t.check_apps(&view, keys.clone(), Check::Structure).unwrap();
        for check in [Check::BenchData, Check::Structure] {
            assert!(t.check_apps(&view, 64..128, check).is_err());
        }
        assert!(
            len / 64 > 350 && len / 64 < 550,
            "{} bytes an item",
            len / 64
        );
    }

    /// Another server's answers: the bench's keys unknown to it, another
    /// generation. Their structure is right, their data is not the bench's.
    #[test]
    fn answers_of_another_server_pass_the_structure_check_only() {
        let t = Table::new();
        let keys = Table::window(3, 64, CGROUPS);
        let mut request = vec![0u8; 1 << 16];
        let mut response = vec![0u8; 1 << 16];
        let n = encode_cgroups_lookup_request(&t.paths[keys.clone()], &mut request).unwrap();
        let len = dispatch_cgroups_lookup(&request[..n], &mut response, |r, b| {
            b.set_generation(1);
            r.paths().enumerate().all(|(i, _)| {
                let unknown = CgroupsEntry::unset(CgroupsLookupStatus::UnknownPermanent);
                b.add_request_item(i, &unknown, NO_LABELS).is_ok()
            })
        })
        .unwrap();
        let view = CgroupsLookupView::decode(&response[..len]).unwrap();
        t.check_cgroups(&view, keys.clone(), Check::Structure)
            .unwrap();
        assert!(
            t.check_cgroups(&view, keys.clone(), Check::BenchData)
                .is_err()
        );

        let n = encode_apps_lookup_request(&t.pids[keys.clone()], &mut request).unwrap();
        let len = dispatch_apps_lookup(&request[..n], &mut response, |r, b| {
            r.pids()
                .all(|pid| b.add_status(pid, PidStatus::Unknown).is_ok())
        })
        .unwrap();
        let view = AppsLookupView::decode(&response[..len]).unwrap();
        t.check_apps(&view, keys.clone(), Check::Structure).unwrap();
        assert!(t.check_apps(&view, keys, Check::BenchData).is_err());
    }
}
