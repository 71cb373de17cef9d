//! What `netipc call --json` prints: one answer per kind, serialized by
//! serde (`netipc cache --json` shows its items as snapshot items too).
//! Bytes the provider sent as names, paths and labels appear as text
//! (lossily where they are not UTF-8). `netipc serve --data` reads the
//! same shapes back (see `serve::data`).

use std::collections::BTreeMap;

use netipc::cache::{CacheItem, CachedItem};
use netipc::codec::{
    AppsLookupItem, CgroupsLookupItem, Labels, SnapshotItem, UID_UNSET, orchestrator,
};
use serde::Serialize;

use crate::common::text;

/// The answer to `increment N`.
#[derive(Serialize)]
pub struct Increment {
    pub value: u64,
    pub result: u64,
}

/// The answer to `string-reverse TEXT`.
#[derive(Serialize)]
pub struct StringReverse<'a> {
    pub text: &'a str,
    pub result: &'a str,
}

/// The answer to `cgroups-snapshot`.
#[derive(Serialize)]
pub struct Snapshot<'a> {
    pub service: &'a str,
    pub generation: u64,
    pub systemd_enabled: u32,
    pub items: Vec<SnapshotEntry>,
}

/// One snapshot item.
#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct SnapshotEntry {
    hash: u32,
    options: u32,
    enabled: u32,
    name: String,
    path: String,
}

impl SnapshotEntry {
    fn new(hash: u32, options: u32, enabled: u32, name: &[u8], path: &[u8]) -> Self {
        Self {
            hash,
            options,
            enabled,
            name: text(name),
            path: text(path),
        }
    }

    /// The cells of a table row: HASH, OPTIONS, ENABLED, NAME, PATH.
    pub fn cells(self) -> Vec<String> {
        vec![
            format!("{:08x}", self.hash),
            format!("{:#x}", self.options),
            self.enabled.to_string(),
            self.name,
            self.path,
        ]
    }

    /// The item in one line: `name  path  [hash 67691e71, options 0x6, enabled 1]`.
    pub fn describe(&self) -> String {
        format!(
            "{}  {}  [hash {:08x}, options {:#x}, enabled {}]",
            self.name, self.path, self.hash, self.options, self.enabled
        )
    }

    /// What differs between two versions of an item, in one line:
    /// `name: enabled 1 -> 0, path /a -> /b`.
    pub fn difference(before: &Self, after: &Self) -> String {
        let mut parts = Vec::new();
        if before.hash != after.hash {
            parts.push(format!("hash {:08x} -> {:08x}", before.hash, after.hash));
        }
        if before.options != after.options {
            parts.push(format!(
                "options {:#x} -> {:#x}",
                before.options, after.options
            ));
        }
        if before.enabled != after.enabled {
            parts.push(format!("enabled {} -> {}", before.enabled, after.enabled));
        }
        if before.path != after.path {
            parts.push(format!("path {} -> {}", before.path, after.path));
        }
        format!("{}: {}", after.name, parts.join(", "))
    }
}

impl From<&SnapshotItem<'_>> for SnapshotEntry {
    fn from(it: &SnapshotItem<'_>) -> Self {
        Self::new(it.hash, it.options, it.enabled, it.name, it.path)
    }
}

impl From<&CachedItem<'_>> for SnapshotEntry {
    fn from(it: &CachedItem<'_>) -> Self {
        Self::new(it.hash, it.options, it.enabled, it.name, it.path)
    }
}

impl From<&CacheItem> for SnapshotEntry {
    fn from(it: &CacheItem) -> Self {
        Self::new(it.hash, it.options, it.enabled, &it.name, &it.path)
    }
}

/// The answer to `cgroups-lookup` or `apps-lookup`: the items, in the
/// order asked.
#[derive(Serialize)]
pub struct Lookup<'a, T> {
    pub service: &'a str,
    pub generation: u64,
    pub items: Vec<T>,
}

/// One CGROUPS_LOOKUP item.
#[derive(Serialize)]
pub struct Cgroup {
    path: String,
    status: &'static str,
    orchestrator: u16,
    orchestrator_name: Option<&'static str>,
    name: String,
    labels: BTreeMap<String, String>,
}

impl From<&CgroupsLookupItem<'_>> for Cgroup {
    fn from(it: &CgroupsLookupItem<'_>) -> Self {
        Self {
            path: text(it.path),
            status: it.status.spec_name(),
            orchestrator: it.orchestrator,
            orchestrator_name: orchestrator::name(it.orchestrator),
            name: text(it.name),
            labels: labels(&it.labels),
        }
    }
}

/// One APPS_LOOKUP item (`uid` is null when the provider does not know
/// it).
#[derive(Serialize)]
pub struct App {
    pid: u32,
    status: &'static str,
    ppid: u32,
    uid: Option<u32>,
    starttime: u64,
    comm: String,
    cgroup_status: &'static str,
    orchestrator: u16,
    orchestrator_name: Option<&'static str>,
    cgroup_path: String,
    cgroup_name: String,
    labels: BTreeMap<String, String>,
}

impl From<&AppsLookupItem<'_>> for App {
    fn from(it: &AppsLookupItem<'_>) -> Self {
        let e = &it.entry;
        Self {
            pid: it.pid,
            status: e.status.spec_name(),
            ppid: e.ppid,
            uid: (e.uid != UID_UNSET).then_some(e.uid),
            starttime: e.starttime,
            comm: text(e.comm),
            cgroup_status: e.cgroup_status.spec_name(),
            orchestrator: e.orchestrator,
            orchestrator_name: orchestrator::name(e.orchestrator),
            cgroup_path: text(e.cgroup_path),
            cgroup_name: text(e.cgroup_name),
            labels: labels(&it.labels),
        }
    }
}

/// Labels as a JSON object, key to value (a repeated key keeps its last
/// value).
fn labels(labels: &Labels<'_>) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|l| (text(l.key), text(l.value)))
        .collect()
}
