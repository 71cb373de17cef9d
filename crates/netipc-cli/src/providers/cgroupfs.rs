//! Reading the cgroup filesystem: the mounted hierarchies (from
//! mountinfo), their preference order, and a scan of every cgroup
//! directory. See [`cgroups`](super::cgroups) for what the scan becomes.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::mountinfo::{self, Mount, Version};

/// Deepest directory level scanned below a hierarchy root.
pub const MAX_DEPTH: usize = 32;
/// Most cgroups in one table.
pub const MAX_ITEMS: usize = 100_000;

/// One hierarchy to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Mount point as published (`/sys/fs/cgroup/memory`).
    pub mount_point: String,
    /// Where to read it (the mount point under the filesystem root).
    pub dir: PathBuf,
    /// v1 controllers or v2.
    pub version: Version,
    /// Preference order (lower first).
    rank: u8,
}

impl Hierarchy {
    /// Whether the hierarchy is cgroup v2.
    pub fn unified(&self) -> bool {
        self.version == Version::V2
    }

    /// A readable description (`v2`, `v1 cpu,cpuacct`).
    pub fn describe(&self) -> String {
        match &self.version {
            Version::V2 => "v2".to_owned(),
            Version::V1 { controllers } => format!("v1 {}", controllers.join(",")),
        }
    }
}

/// The cgroup hierarchies of a machine.
#[derive(Debug, Clone)]
pub struct CgroupFs {
    /// In preference order.
    pub hierarchies: Vec<Hierarchy>,
    /// The header's `systemd_enabled`.
    pub systemd_enabled: u32,
}

fn rank(mount: &Mount, dir: &Path) -> u8 {
    match &mount.version {
        Version::V2 => {
            let controllers = super::read_text(&dir.join("cgroup.controllers")).unwrap_or_default();
            if controllers.trim().is_empty() { 8 } else { 0 }
        }
        Version::V1 { controllers } => {
            let has = |c: &str| controllers.iter().any(|x| x == c);
            match () {
                () if has("cpuacct") => 1,
                () if has("cpu") => 2,
                () if has("memory") => 3,
                () if has("pids") => 4,
                () if has("blkio") => 5,
                () if controllers.iter().all(|c| c.starts_with("name=")) => 7,
                () => 6,
            }
        }
    }
}

impl CgroupFs {
    /// The hierarchies mounted under `fs_root` (`/` for this machine),
    /// from `<fs_root>/proc/self/mountinfo`; `None` when there is no
    /// mountinfo or it lists no readable cgroup hierarchy.
    pub fn detect(fs_root: &Path) -> Option<Self> {
        let text = super::read_text(&fs_root.join("proc/self/mountinfo"))?;
        let fs = Self::from_mountinfo(&text, fs_root);
        (!fs.hierarchies.is_empty()).then_some(fs)
    }

    /// The hierarchies of a mountinfo text, read under `fs_root`.
    pub fn from_mountinfo(text: &str, fs_root: &Path) -> Self {
        let mut hierarchies: Vec<Hierarchy> = mountinfo::cgroup_mounts(text)
            .into_iter()
            .filter_map(|m| {
                let dir = fs_root.join(m.mount_point.trim_start_matches('/'));
                dir.is_dir().then(|| Hierarchy {
                    rank: rank(&m, &dir),
                    mount_point: m.mount_point,
                    dir,
                    version: m.version,
                })
            })
            .collect();
        hierarchies.sort_by_key(|h| h.rank);
        Self {
            hierarchies,
            systemd_enabled: u32::from(fs_root.join("run/systemd/system").is_dir()),
        }
    }

    /// A short description: `cgroup v2 at /sys/fs/cgroup`, or the number
    /// of v1 hierarchies.
    pub fn describe(&self) -> String {
        match self.hierarchies.as_slice() {
            [h] => format!("cgroup {} at {}", h.describe(), h.mount_point),
            hs => format!(
                "{} cgroup hierarchies under {}",
                hs.len(),
                common_parent(hs.iter().map(|h| h.mount_point.as_str()))
            ),
        }
    }

    /// Scans every hierarchy: relative path → hierarchies it exists in
    /// (indices into `hierarchies`, preferred first).
    pub fn scan(&self) -> Scan {
        let mut paths: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, h) in self.hierarchies.iter().enumerate() {
            walk(&h.dir, String::new(), 0, &mut |rel| {
                if let Some(hs) = paths.get_mut(&rel) {
                    hs.push(i);
                    true
                } else if paths.len() < MAX_ITEMS {
                    paths.insert(rel, vec![i]);
                    true
                } else {
                    false
                }
            });
        }
        Scan { paths }
    }
}

fn common_parent<'a>(mut points: impl Iterator<Item = &'a str>) -> String {
    let first = points.next().unwrap_or("/");
    let mut prefix = first.rsplit_once('/').map_or("/", |(p, _)| p).to_owned();
    for p in points {
        while !p.starts_with(&format!("{prefix}/")) && !prefix.is_empty() {
            prefix = prefix.rsplit_once('/').map_or("", |(p, _)| p).to_owned();
        }
    }
    if prefix.is_empty() {
        "/".to_owned()
    } else {
        prefix
    }
}

/// Visits every subdirectory of `dir` (not following symlinks) as a
/// relative path with a leading `/`; `visit` returns false to stop.
fn walk(dir: &Path, rel: String, depth: usize, visit: &mut dyn FnMut(String) -> bool) -> bool {
    if depth >= MAX_DEPTH {
        return true;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        // Vanished or unreadable: skip it.
        return true;
    };
    let mut subdirs: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    subdirs.sort();
    for (name, path) in subdirs {
        let child = format!("{rel}/{name}");
        if !visit(child.clone()) || !walk(&path, child, depth + 1, visit) {
            return false;
        }
    }
    true
}

/// The result of one scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scan {
    /// Relative path → hierarchies it exists in, preferred first.
    pub paths: BTreeMap<String, Vec<usize>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_parent_of_mounts() {
        let ps = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory"];
        assert_eq!(common_parent(ps.into_iter()), "/sys/fs/cgroup");
    }
}
