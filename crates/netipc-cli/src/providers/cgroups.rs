//! The cgroups provider: the cgroup filesystem of this machine (or a
//! synthetic one) as a table, answering `cgroups-snapshot` and
//! `cgroups-lookup`.
//!
//! # The table
//!
//! Every cgroup directory below the roots of the mounted hierarchies
//! (found in mountinfo, see [`mountinfo`](super::mountinfo)) is one item;
//! the roots themselves (the host) are not. With cgroup v1 the same cgroup
//! exists once per hierarchy (`cpu,cpuacct/docker/<id>`,
//! `memory/docker/<id>`, …): it is one item, like in Netdata, whose
//! published path is its directory in the first hierarchy of this order: v2
//! with controllers, v1 `cpuacct`, `cpu`, `memory`, `pids`, `blkio`, other
//! v1 controllers, `name=systemd`, v2 without controllers (systemd's
//! "unified" mirror). Directories deeper than
//! [`MAX_DEPTH`](super::cgroupfs::MAX_DEPTH) levels and items past
//! [`MAX_ITEMS`](super::cgroupfs::MAX_ITEMS) are left out, and so are
//! directory names that are not UTF-8 ([`cgroupfs`](super::cgroupfs)).
//!
//! Each item: `name`, `options`, `enabled` from [`naming`](super::naming);
//! `hash` = [`simple_hash`](super::simple_hash)`(name)`; `path` = the
//! directory (mount point + relative path, e.g.
//! `/sys/fs/cgroup/system.slice/docker-<id>.scope`). The header's
//! `systemd_enabled` is 1 when `/run/systemd/system` exists (systemd's own
//! "booted with systemd" test).
//!
//! # Generation and rescans
//!
//! The filesystem is scanned again when a request comes and the last scan
//! is older than the rescan interval (1 s by default), so a burst of
//! requests costs one scan. The generation starts at 1 and grows by one
//! whenever a scan finds a different set of cgroups; a restarted provider
//! starts at 1 again, which tells consumers (level3 spec 8.2) to drop the
//! permanent negative answers they cached.
//!
//! # Lookups
//!
//! `cgroups-lookup` keys are matched as opaque strings (never opened): a
//! cgroup is found by its published path, by its directory in any other
//! hierarchy, or by its path relative to the hierarchy root (the form of
//! `/proc/<pid>/cgroup`). Found → `KNOWN` with name, orchestrator and
//! labels; a hierarchy root or a key that is not an absolute path →
//! `UNKNOWN_PERMANENT` (never enriched); any other absolute path →
//! `UNKNOWN_RETRY_LATER` (the cgroup may appear with the next scan).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use netipc::codec::{
    CgroupsEntry, CgroupsLookupBuilder, CgroupsLookupRequest, CgroupsLookupStatus, NO_LABELS,
    SnapshotBuilder, SnapshotItem,
};
use netipc::service::HandlerError;

use super::cgroupfs::{CgroupFs, Hierarchy, Scan};
use super::naming::{self, OPTION_DISABLED_DUPLICATE};
use super::simple_hash;

/// One published cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    /// `simple_hash(name)`.
    pub hash: u32,
    /// Netdata's option flags.
    pub options: u32,
    /// 1 when collected by default.
    pub enabled: u32,
    /// See [`naming`].
    pub name: String,
    /// The directory in the preferred hierarchy.
    pub path: String,
    /// The path relative to the hierarchy root.
    pub rel_path: String,
    /// An orchestrator value for lookups.
    pub orchestrator: u16,
    /// Labels for lookups.
    pub labels: Vec<(String, String)>,
}

/// One generation of cgroups, immutable once built.
#[derive(Debug, Default)]
pub struct CgroupTable {
    /// The generation number.
    pub generation: u64,
    /// The snapshot header's `systemd_enabled`.
    pub systemd_enabled: u32,
    /// Items in path order.
    pub items: Vec<Cgroup>,
    /// Every accepted lookup key → item index.
    index: HashMap<String, usize>,
    /// Hierarchy roots (answered `UNKNOWN_PERMANENT`).
    roots: Vec<String>,
}

impl CgroupTable {
    /// Builds a table from `(relative path, [(mount point, unified)])`
    /// entries; the first mount of each entry is the published one.
    pub fn build<'a, I>(
        entries: I,
        roots: Vec<String>,
        systemd_enabled: u32,
        generation: u64,
    ) -> Self
    where
        I: IntoIterator<Item = (&'a str, Vec<(&'a str, bool)>)>,
    {
        let mut table = Self {
            generation,
            systemd_enabled,
            roots,
            ..Self::default()
        };
        let mut names: HashMap<String, ()> = HashMap::new();
        for (rel, mounts) in entries {
            let Some(&(mount, unified)) = mounts.first() else {
                continue;
            };
            let d = naming::derive(rel, unified);
            let mut options = d.options;
            let mut enabled = d.enabled;
            if names.insert(d.name.clone(), ()).is_some() {
                options |= OPTION_DISABLED_DUPLICATE;
                enabled = false;
            }
            let index = table.items.len();
            table.index.insert(rel.to_owned(), index);
            for (m, _) in &mounts {
                table.index.insert(format!("{m}{rel}"), index);
            }
            table.items.push(Cgroup {
                hash: simple_hash(d.name.as_bytes()),
                options,
                enabled: u32::from(enabled),
                path: format!("{mount}{rel}"),
                rel_path: rel.to_owned(),
                name: d.name,
                orchestrator: d.orchestrator,
                labels: d.labels,
            });
        }
        table
    }

    /// The item a lookup key names.
    pub fn find(&self, key: &[u8]) -> Option<&Cgroup> {
        self.find_index(key).map(|i| &self.items[i])
    }

    /// The index of the item a lookup key names.
    pub fn find_index(&self, key: &[u8]) -> Option<usize> {
        let key = std::str::from_utf8(key).ok()?;
        self.index.get(key).copied()
    }

    /// The status for a key that [`find`](Self::find) does not know.
    pub fn unknown_status(&self, key: &[u8]) -> CgroupsLookupStatus {
        let root =
            std::str::from_utf8(key).is_ok_and(|k| k == "/" || self.roots.iter().any(|r| r == k));
        if root || !key.starts_with(b"/") {
            CgroupsLookupStatus::UnknownPermanent
        } else {
            CgroupsLookupStatus::UnknownRetryLater
        }
    }

    /// The exact size of the snapshot response payload in bytes.
    pub fn snapshot_bytes(&self) -> usize {
        // Each item starts 8-aligned; the last one is not padded.
        self.items.iter().fold(24 + 8 * self.items.len(), |end, c| {
            end.next_multiple_of(8) + 32 + c.name.len() + c.path.len() + 2
        })
    }

    /// Answers `cgroups-snapshot`.
    pub fn snapshot(&self, builder: &mut SnapshotBuilder<'_>) -> Result<(), HandlerError> {
        builder.set_systemd_enabled(self.systemd_enabled);
        builder.set_generation(self.generation);
        for c in &self.items {
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

    /// Answers `cgroups-lookup`: one item per key, in order.
    pub fn lookup(
        &self,
        request: &CgroupsLookupRequest<'_>,
        builder: &mut CgroupsLookupBuilder<'_, '_>,
    ) -> Result<(), HandlerError> {
        builder.set_generation(self.generation);
        for (i, key) in request.paths().enumerate() {
            match self.find(key) {
                Some(c) => builder.add_request_item(
                    i,
                    &CgroupsEntry::known(c.orchestrator, c.name.as_bytes()),
                    &c.labels,
                )?,
                None => builder.add_request_item(
                    i,
                    &CgroupsEntry::unset(self.unknown_status(key)),
                    NO_LABELS,
                )?,
            }
        }
        Ok(())
    }
}

/// Where a provider's cgroups come from.
#[derive(Debug)]
enum Source {
    /// This machine's cgroup filesystem, rescanned.
    Real {
        fs: CgroupFs,
        rescan: Duration,
        state: Mutex<RealState>,
    },
    /// A fixed table.
    Fixed,
}

#[derive(Debug)]
struct RealState {
    last: Scan,
    scanned: Instant,
}

/// The cgroups of a provider: a table that is rebuilt when the cgroups
/// change. Shared by the handlers of several servers (`Send + Sync`).
#[derive(Debug)]
pub struct Cgroups {
    source: Source,
    table: Mutex<Arc<CgroupTable>>,
    description: String,
}

impl Cgroups {
    /// This machine's cgroups, scanned now and again when a request comes
    /// after `rescan`.
    pub fn real(fs: CgroupFs, rescan: Duration) -> Self {
        let scan = fs.scan();
        let table = table_of(&fs, &scan, 1);
        Self {
            description: format!("this machine's {}", fs.describe()),
            source: Source::Real {
                fs,
                rescan,
                state: Mutex::new(RealState {
                    last: scan,
                    scanned: Instant::now(),
                }),
            },
            table: Mutex::new(Arc::new(table)),
        }
    }

    /// A fixed table.
    pub fn fixed(table: CgroupTable, description: String) -> Self {
        Self {
            source: Source::Fixed,
            table: Mutex::new(Arc::new(table)),
            description,
        }
    }

    /// Where the cgroups come from.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The hierarchies (none for synthetic data).
    pub fn hierarchies(&self) -> &[Hierarchy] {
        match &self.source {
            Source::Real { fs, .. } => &fs.hierarchies,
            Source::Fixed => &[],
        }
    }

    /// Whether the cgroups are this machine's.
    #[cfg(test)]
    pub fn is_real(&self) -> bool {
        matches!(self.source, Source::Real { .. })
    }

    /// The current table, rescanning first when the last scan is older
    /// than the rescan interval.
    pub fn table(&self) -> Arc<CgroupTable> {
        if let Source::Real { fs, rescan, state } = &self.source {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.scanned.elapsed() >= *rescan {
                let scan = fs.scan();
                state.scanned = Instant::now();
                if scan != state.last {
                    let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
                    *table = Arc::new(table_of(fs, &scan, table.generation + 1));
                    state.last = scan;
                }
            }
        }
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn table_of(fs: &CgroupFs, scan: &Scan, generation: u64) -> CgroupTable {
    let entries = scan.paths.iter().map(|(rel, hs)| {
        let mounts = hs
            .iter()
            .map(|&i| {
                (
                    fs.hierarchies[i].mount_point.as_str(),
                    fs.hierarchies[i].unified(),
                )
            })
            .collect();
        (rel.as_str(), mounts)
    });
    let roots = fs
        .hierarchies
        .iter()
        .map(|h| h.mount_point.clone())
        .collect();
    CgroupTable::build(entries, roots, fs.systemd_enabled, generation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::fixture_dir;

    fn v2() -> CgroupFs {
        let root = fixture_dir("linux-v2");
        CgroupFs::detect(&root).expect("fixture cgroups")
    }

    #[test]
    fn v2_tree_is_scanned_and_named() {
        let fs = v2();
        assert_eq!(fs.systemd_enabled, 1);
        assert_eq!(fs.describe(), "cgroup v2 at /sys/fs/cgroup");
        let table = table_of(&fs, &fs.scan(), 1);
        let names: Vec<&str> = table.items.iter().map(|c| c.name.as_str()).collect();
        assert!(names.contains(&"4f2a9c1e8b7d"), "{names:?}");
        assert!(names.contains(&"ssh"), "{names:?}");
        assert!(names.contains(&"web01"), "{names:?}");
        let docker = table
            .items
            .iter()
            .find(|c| c.name == "4f2a9c1e8b7d")
            .expect("docker");
        assert!(
            docker
                .path
                .starts_with("/sys/fs/cgroup/system.slice/docker-4f2a9c1e8b7d")
        );
        assert_eq!(docker.hash, simple_hash(b"4f2a9c1e8b7d"));
        assert_eq!(docker.enabled, 1);
        assert_eq!(docker.options, naming::OPTION_IS_UNIFIED);
        // Found by its path, its relative path; roots and relative junk are permanent.
        assert!(table.find(docker.path.as_bytes()).is_some());
        assert!(table.find(docker.rel_path.as_bytes()).is_some());
        assert_eq!(
            table.unknown_status(b"/sys/fs/cgroup"),
            CgroupsLookupStatus::UnknownPermanent
        );
        assert_eq!(
            table.unknown_status(b"nope"),
            CgroupsLookupStatus::UnknownPermanent
        );
        assert_eq!(
            table.unknown_status(b"/sys/fs/cgroup/new.scope"),
            CgroupsLookupStatus::UnknownRetryLater
        );
    }

    #[test]
    fn v1_hierarchies_are_merged() {
        let fs = CgroupFs::detect(&fixture_dir("linux-v1")).expect("fixture cgroups");
        let order: Vec<String> = fs.hierarchies.iter().map(Hierarchy::describe).collect();
        assert_eq!(
            order,
            ["v1 cpu,cpuacct", "v1 memory", "v1 name=systemd", "v2"]
        );
        let table = table_of(&fs, &fs.scan(), 1);
        // docker/<id> exists in cpu,cpuacct and memory: one item, published in cpu,cpuacct.
        let docker: Vec<&Cgroup> = table
            .items
            .iter()
            .filter(|c| c.name == "0123456789ab")
            .collect();
        assert_eq!(docker.len(), 1);
        assert_eq!(
            docker[0].path,
            "/sys/fs/cgroup/cpu,cpuacct/docker/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        );
        let in_memory = docker[0].path.replace("cpu,cpuacct", "memory");
        assert!(table.find(in_memory.as_bytes()).is_some());
        // Only in memory: published there.
        let api = table
            .items
            .iter()
            .find(|c| c.rel_path == "/process_api/dd3aeba659cc")
            .expect("api");
        assert_eq!(api.path, "/sys/fs/cgroup/memory/process_api/dd3aeba659cc");
        assert_eq!(fs.systemd_enabled, 0);
    }

    #[test]
    fn duplicate_names_are_disabled() {
        let entries = vec![
            ("/a.slice/x.service", vec![("/cg", true)]),
            ("/b.slice/x.service", vec![("/cg", true)]),
        ];
        let table = CgroupTable::build(entries, vec![], 0, 7);
        assert_eq!(table.items[0].options & OPTION_DISABLED_DUPLICATE, 0);
        assert_eq!(
            table.items[1].options & OPTION_DISABLED_DUPLICATE,
            OPTION_DISABLED_DUPLICATE
        );
        assert_eq!(table.items[1].enabled, 0);
    }

    #[test]
    fn generation_grows_when_the_set_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cg = dir.path().join("sys/fs/cgroup");
        std::fs::create_dir_all(cg.join("a.slice")).expect("mkdir");
        let fs_ = CgroupFs::from_mountinfo(
            "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            dir.path(),
        );
        let cgroups = Cgroups::real(fs_, Duration::ZERO);
        assert_eq!(cgroups.table().generation, 1);
        assert_eq!(
            cgroups.table().generation,
            1,
            "unchanged set, same generation"
        );
        std::fs::create_dir_all(cg.join("b.slice")).expect("mkdir");
        let table = cgroups.table();
        assert_eq!(table.generation, 2);
        assert_eq!(table.items.len(), 2);
    }

    #[test]
    fn snapshot_bytes_is_the_encoded_size() {
        let table = table_of(&v2(), &v2().scan(), 1);
        let mut buf = vec![0u8; 1 << 16];
        let mut builder =
            SnapshotBuilder::new(&mut buf, table.items.len() as u32).expect("builder");
        table.snapshot(&mut builder).expect("fits");
        assert_eq!(builder.finish(), table.snapshot_bytes());
    }
}
