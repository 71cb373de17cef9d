//! The apps provider: answers `apps-lookup` from Linux's `/proc` (or from
//! synthetic processes).
//!
//! For each requested PID of a live process (`/proc/<pid>/stat` readable):
//! `KNOWN` with `comm`, `ppid` and `starttime` from `stat`, the real `uid`
//! from `status` (`UID_UNSET` if unreadable), and its cgroup from
//! `/proc/<pid>/cgroup`, resolved against the cgroups provider's table:
//!
//! | the process's cgroup | cgroup status | path, name, orchestrator, labels |
//! |---|---|---|
//! | a cgroup of the table (first line in the table's hierarchy order whose path is not `/`) | `KNOWN` | the table's item |
//! | `/` in every hierarchy, or no cgroup filesystem at all | `HOST_ROOT` | empty |
//! | outside this cgroup namespace (`/..`) | `UNKNOWN_PERMANENT` | the relative path |
//! | not in the table (yet), or `cgroup` unreadable | `UNKNOWN_RETRY_LATER` | the directory, or empty |
//!
//! A PID without a readable `stat` (no such process, it exited, or `/proc`
//! hides it) is `UNKNOWN`. The command line is not published: APPS_LOOKUP
//! has no field for it.
//!
//! The generation is the cgroups table's: the answers about cgroups (and
//! the permanent ones consumers may cache) change with it, and it restarts
//! at 1 with the provider.

use std::path::PathBuf;
use std::sync::Arc;

use netipc::codec::{
    AppsEntry, AppsLookupBuilder, AppsLookupRequest, COMM_MAX_LEN, CgroupStatus, NO_LABELS,
    PidStatus, UID_UNSET,
};
use netipc::service::HandlerError;

use super::cgroupfs::Hierarchy;
use super::cgroups::{CgroupTable, Cgroups};
use super::mountinfo::Version;
use super::procfs::{self, CgroupLine};
use super::synthetic;

/// One process, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// Parent PID.
    pub ppid: u32,
    /// Real uid or `UID_UNSET`.
    pub uid: u32,
    /// Start time in clock ticks after boot.
    pub starttime: u64,
    /// Name, 1 to 15 bytes.
    pub comm: Vec<u8>,
    /// Where its cgroup stands.
    pub cgroup: CgroupOf,
}

/// A process's cgroup as answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupOf {
    /// The cgroup status.
    pub status: CgroupStatus,
    /// The path (empty for `HOST_ROOT`).
    pub path: String,
    /// Index into the table for `KNOWN`.
    pub item: Option<usize>,
}

impl CgroupOf {
    fn status(status: CgroupStatus, path: String) -> Self {
        Self {
            status,
            path,
            item: None,
        }
    }
}

/// Where the processes come from.
#[derive(Debug)]
enum Source {
    /// `<proc>/<pid>/…` files.
    Proc(PathBuf),
    /// PIDs `1..=count` (see [`synthetic`]).
    Synthetic(u32),
}

/// The apps provider.
#[derive(Debug)]
pub struct Apps {
    source: Source,
    cgroups: Arc<Cgroups>,
}

impl Apps {
    /// Processes of the `/proc` directory `proc_dir`.
    pub fn proc(proc_dir: PathBuf, cgroups: Arc<Cgroups>) -> Self {
        Self {
            source: Source::Proc(proc_dir),
            cgroups,
        }
    }

    /// `count` synthetic processes.
    pub fn synthetic(count: u32, cgroups: Arc<Cgroups>) -> Self {
        Self {
            source: Source::Synthetic(count),
            cgroups,
        }
    }

    /// Where the processes come from.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Proc(dir) => format!("this machine's {}", dir.display()),
            Source::Synthetic(n) => format!("{n} synthetic processes (PIDs 1-{n})"),
        }
    }

    /// Whether the processes are this machine's.
    pub fn is_real(&self) -> bool {
        matches!(self.source, Source::Proc(_))
    }

    /// What is known about `pid` (`None`: no such process).
    pub fn process(&self, pid: u32, table: &CgroupTable) -> Option<Process> {
        match &self.source {
            Source::Proc(dir) => read_process(dir, pid, table, self.cgroups.hierarchies()),
            Source::Synthetic(n) => synthetic::process(pid, *n, table),
        }
    }

    /// Answers `apps-lookup`: one item per PID, in order.
    pub fn lookup(
        &self,
        request: &AppsLookupRequest<'_>,
        builder: &mut AppsLookupBuilder<'_>,
    ) -> Result<(), HandlerError> {
        let table = self.cgroups.table();
        builder.set_generation(table.generation);
        for pid in request.pids() {
            let Some(p) = self.process(pid, &table) else {
                builder.add_status(pid, PidStatus::Unknown)?;
                continue;
            };
            let item = p.cgroup.item.map(|i| &table.items[i]);
            let entry = AppsEntry {
                status: PidStatus::Known,
                cgroup_status: p.cgroup.status,
                orchestrator: item.map_or(0, |c| c.orchestrator),
                ppid: p.ppid,
                uid: p.uid,
                starttime: p.starttime,
                comm: &p.comm,
                cgroup_path: p.cgroup.path.as_bytes(),
                cgroup_name: item.map_or(&b""[..], |c| c.name.as_bytes()),
            };
            match item {
                Some(c) => builder.add(pid, &entry, &c.labels)?,
                None => builder.add(pid, &entry, NO_LABELS)?,
            }
        }
        Ok(())
    }
}

/// A process name as published: at most 15 bytes, never empty.
pub fn comm_bytes(comm: &str) -> Vec<u8> {
    let bytes = comm.as_bytes();
    match &bytes[..bytes.len().min(COMM_MAX_LEN)] {
        [] => b"?".to_vec(),
        b => b.to_vec(),
    }
}

fn read_process(
    dir: &std::path::Path,
    pid: u32,
    table: &CgroupTable,
    hs: &[Hierarchy],
) -> Option<Process> {
    if pid == 0 {
        return None;
    }
    let pid_dir = dir.join(pid.to_string());
    // Lossy: a process may give itself a name that is not UTF-8.
    let read = |name: &str| super::read_text(&pid_dir.join(name));
    let stat = procfs::parse_stat(&read("stat")?)?;
    let uid = read("status")
        .and_then(|s| procfs::parse_status_uid(&s))
        .unwrap_or(UID_UNSET);
    let cgroup = match read("cgroup") {
        Some(text) => resolve(&procfs::parse_cgroup(&text), table, hs),
        None if hs.is_empty() => CgroupOf::status(CgroupStatus::HostRoot, String::new()),
        None => CgroupOf::status(CgroupStatus::UnknownRetryLater, String::new()),
    };
    Some(Process {
        ppid: stat.ppid,
        uid,
        starttime: stat.starttime,
        comm: comm_bytes(&stat.comm),
        cgroup,
    })
}

/// Whether a `/proc/<pid>/cgroup` line belongs to hierarchy `h`.
fn line_of(line: &CgroupLine, h: &Hierarchy) -> bool {
    match &h.version {
        Version::V2 => line.is_v2(),
        Version::V1 { controllers } => !line.is_v2() && &line.controllers == controllers,
    }
}

/// Resolves the lines of `/proc/<pid>/cgroup` against the table.
pub fn resolve(lines: &[CgroupLine], table: &CgroupTable, hs: &[Hierarchy]) -> CgroupOf {
    // (line, its hierarchy) in the table's preference order.
    let ordered: Vec<(&CgroupLine, &Hierarchy)> = hs
        .iter()
        .filter_map(|h| Some((lines.iter().find(|l| line_of(l, h))?, h)))
        .collect();
    let mut first_unknown = None;
    for (line, h) in &ordered {
        if line.path == "/" {
            continue;
        }
        if line.path.starts_with("/..") {
            first_unknown.get_or_insert(CgroupOf::status(
                CgroupStatus::UnknownPermanent,
                line.path.clone(),
            ));
            continue;
        }
        let dir = format!("{}{}", h.mount_point, line.path);
        match table.find_index(dir.as_bytes()) {
            Some(i) => {
                return CgroupOf {
                    status: CgroupStatus::Known,
                    path: table.items[i].path.clone(),
                    item: Some(i),
                };
            }
            None => {
                first_unknown.get_or_insert(CgroupOf::status(CgroupStatus::UnknownRetryLater, dir));
            }
        }
    }
    first_unknown.unwrap_or_else(|| CgroupOf::status(CgroupStatus::HostRoot, String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::cgroupfs::CgroupFs;
    use crate::providers::fixture_dir;
    use std::time::Duration;

    fn apps(fixture: &str) -> (Apps, Arc<CgroupTable>) {
        let root = fixture_dir(fixture);
        let fs = CgroupFs::detect(&root).expect("fixture cgroups");
        let cgroups = Arc::new(Cgroups::real(fs, Duration::from_secs(3600)));
        let table = cgroups.table();
        (Apps::proc(root.join("proc"), cgroups), table)
    }

    #[test]
    fn process_in_a_docker_container() {
        let (apps, table) = apps("linux-v2");
        let p = apps.process(4242, &table).expect("pid 4242");
        assert_eq!(p.comm, b"my (odd) app");
        assert_eq!((p.ppid, p.uid, p.starttime), (1, 1000, 123_456));
        assert_eq!(p.cgroup.status, CgroupStatus::Known);
        let item = &table.items[p.cgroup.item.expect("item")];
        assert_eq!(item.name, "4f2a9c1e8b7d");
        assert_eq!(p.cgroup.path, item.path);
    }

    #[test]
    fn host_root_vanished_and_unknown_cgroups() {
        let (apps, table) = apps("linux-v2");
        let init = apps.process(1, &table).expect("pid 1");
        assert_eq!(init.cgroup.status, CgroupStatus::Known, "init.scope");
        let kthread = apps.process(2, &table).expect("pid 2");
        assert_eq!(kthread.cgroup.status, CgroupStatus::HostRoot);
        assert!(kthread.cgroup.path.is_empty());
        assert_eq!(kthread.uid, 0);
        let fresh = apps.process(5000, &table).expect("pid 5000");
        assert_eq!(fresh.cgroup.status, CgroupStatus::UnknownRetryLater);
        assert_eq!(fresh.cgroup.path, "/sys/fs/cgroup/system.slice/new.service");
        let foreign = apps.process(5001, &table).expect("pid 5001");
        assert_eq!(foreign.cgroup.status, CgroupStatus::UnknownPermanent);
        assert_eq!(apps.process(999_999, &table), None);
        assert_eq!(apps.process(0, &table), None);
    }

    #[test]
    fn v1_process_resolves_in_the_memory_hierarchy() {
        let (apps, table) = apps("linux-v1");
        let p = apps.process(777, &table).expect("pid 777");
        assert_eq!(p.cgroup.status, CgroupStatus::Known);
        assert_eq!(
            p.cgroup.path,
            "/sys/fs/cgroup/memory/process_api/dd3aeba659cc"
        );
    }

    #[test]
    fn comm_is_bounded() {
        assert_eq!(comm_bytes(""), b"?");
        assert_eq!(comm_bytes("0123456789abcdefgh").len(), COMM_MAX_LEN);
    }
}
