//! `netipc serve KIND --data FILE`: a provider that answers from a JSON
//! file, reloaded when the file changes.
//!
//! # The files
//!
//! The shapes are those `netipc call KIND --json` prints (and, for
//! snapshot items, `netipc cache --json`), so `netipc call cgroups-snapshot
//! --json > f; netipc serve cgroups-snapshot --data f` serves what another
//! provider served. Fields a call prints that a provider does not choose
//! (`service`; `orchestrator_name` when `orchestrator` is given) are
//! accepted; other unknown fields are errors. Optional fields and their
//! defaults:
//!
//! - every kind: `{"generation": 1, "items": [...]}`;
//! - `cgroups-snapshot`: `"systemd_enabled": 0`; items
//!   `{"hash", "options": 0, "enabled": 1, "name", "path"}` with `hash`
//!   defaulting to Netdata's hash of `name` (items may repeat names: a real
//!   snapshot disables duplicates with an option bit);
//! - `cgroups-lookup`: `"unknown_status": "UNKNOWN_RETRY_LATER"` answers the
//!   paths that are not listed (or `UNKNOWN_PERMANENT`); items
//!   `{"path", "status": "KNOWN", "orchestrator": 0 (or
//!   "orchestrator_name": "docker"), "name": "", "labels": {}}`, each path
//!   once;
//! - `apps-lookup`: PIDs that are not listed are `UNKNOWN`; items
//!   `{"pid", "status": "KNOWN", "ppid": 0, "uid": null, "starttime": 0,
//!   "comm", "cgroup_status", "orchestrator": 0, "cgroup_path": "",
//!   "cgroup_name": "", "labels": {}}`, each PID once; `cgroup_status`
//!   defaults to `HOST_ROOT` without a `cgroup_path`, else `KNOWN` (and is
//!   `KNOWN`, the unset value, for a PID that is not `KNOWN`).
//!
//! Statuses are the specification's names. The protocol's rules are
//! checked when the file is read (a status other than `KNOWN` carries no
//! name, orchestrator or labels; a `KNOWN` process has a `comm` of 1 to 15
//! bytes; no string holds a NUL; `PAYLOAD_EXCEEDED` is never data, a
//! response's size decides it), and every error names the file, the line
//! and column, and what was expected.
//!
//! # Reloading
//!
//! A thread looks at the file's size and modification time every
//! [`POLL`] and reads it again when either changed; a content that is the
//! same as the one served is ignored. Polling works the same on Linux and
//! Windows, over any filesystem, and whether an editor rewrites the file
//! in place or replaces it (a new inode under the same name), at the cost
//! of one `stat` per poll; a notification crate would add a dependency
//! and per-platform behaviour for no gain at this rate. A file that fails
//! to parse (also one caught half-written) is reported on standard error
//! with its line and column and the previous data stays served; the next
//! change is read again. A successful reload serves the generation
//! `max(file's generation, served generation + 1)`, so consumers always
//! see a new generation with new data (the file's own number wins when
//! it is higher). Writing the new content to a temporary file and
//! renaming it over the old one avoids half-written reads.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, SystemTime};

use netipc::codec::{
    AppsEntry, AppsLookupBuilder, AppsLookupView, COMM_MAX_LEN, CgroupStatus, CgroupsEntry,
    CgroupsLookupBuilder, CgroupsLookupStatus, CgroupsLookupView, NO_LABELS, PidStatus,
    SnapshotItem, UID_UNSET, orchestrator,
};
use netipc::netdata::netdata_hash;
use netipc::service::{ManagedServer, ServerConfig};
use serde::Deserialize;
use serde::de::{self, IgnoredAny, SeqAccess, Visitor};

use crate::common::{CliError, Kind};
use crate::providers::snapshot_budget;

/// How often the file is looked at.
pub const POLL: Duration = Duration::from_millis(250);

/// Largest data file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// One label, owned.
type Label = (String, String);

/// A snapshot item, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SnapshotRow {
    hash: u32,
    options: u32,
    enabled: u32,
    name: String,
    path: String,
}

/// A cgroups-lookup answer, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CgroupRow {
    path: String,
    status: CgroupsLookupStatus,
    orchestrator: u16,
    name: String,
    labels: Vec<Label>,
}

/// An apps-lookup answer, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AppRow {
    pid: u32,
    status: PidStatus,
    cgroup_status: CgroupStatus,
    orchestrator: u16,
    ppid: u32,
    uid: u32,
    starttime: u64,
    comm: String,
    cgroup_path: String,
    cgroup_name: String,
    labels: Vec<Label>,
}

impl AppRow {
    fn entry(&self) -> AppsEntry<'_> {
        AppsEntry {
            status: self.status,
            cgroup_status: self.cgroup_status,
            orchestrator: self.orchestrator,
            ppid: self.ppid,
            uid: self.uid,
            starttime: self.starttime,
            comm: self.comm.as_bytes(),
            cgroup_path: self.cgroup_path.as_bytes(),
            cgroup_name: self.cgroup_name.as_bytes(),
        }
    }
}

/// What a data file holds, checked.
#[derive(Debug)]
enum Table {
    Snapshot {
        systemd_enabled: u32,
        items: Vec<SnapshotRow>,
    },
    Cgroups {
        unknown: CgroupsLookupStatus,
        items: Vec<CgroupRow>,
        index: HashMap<String, usize>,
    },
    Apps {
        items: Vec<AppRow>,
        index: HashMap<u32, usize>,
    },
}

impl Table {
    fn len(&self) -> usize {
        match self {
            Self::Snapshot { items, .. } => items.len(),
            Self::Cgroups { items, .. } => items.len(),
            Self::Apps { items, .. } => items.len(),
        }
    }

    /// "3 cgroups", "2 paths", "5 processes".
    fn describe(&self) -> String {
        let what = match self {
            Self::Snapshot { .. } => "cgroups",
            Self::Cgroups { .. } => "paths",
            Self::Apps { .. } => "processes",
        };
        format!("{} {what}", self.len())
    }

    /// More than the snapshot response's payload can take (an upper bound:
    /// headers, directory, strings and the most padding).
    fn snapshot_bytes(&self) -> usize {
        match self {
            Self::Snapshot { items, .. } => items
                .iter()
                .map(|i| 48 + i.name.len() + i.path.len())
                .sum::<usize>()
                .saturating_add(24),
            _ => 0,
        }
    }
}

/// A parsed file: the table and the generation it asks for.
struct Parsed {
    generation: Option<u64>,
    table: Table,
}

/// What is served now.
#[derive(Debug)]
struct Served {
    generation: u64,
    table: Table,
    /// A hash of the file's bytes, to skip reloads of the same content.
    content: u64,
}

/// A data file and the table served from it (`Send + Sync`, shared by the
/// handlers and the reload thread).
#[derive(Debug)]
pub struct DataSource {
    path: PathBuf,
    kind: Kind,
    served: Mutex<Arc<Served>>,
    /// The response size of a snapshot provider, fixed at start (0 for
    /// lookups): see [`snapshot_budget`].
    budget: u32,
}

impl DataSource {
    /// Reads `path` as data of `kind`.
    ///
    /// # Errors
    /// A kind without data (the test services), a file that cannot be
    /// read, is too large or does not parse: the message names the file,
    /// the line and column and what was expected.
    pub fn load(kind: Kind, path: &Path) -> Result<Arc<Self>, CliError> {
        if !matches!(
            kind,
            Kind::CgroupsSnapshot | Kind::CgroupsLookup | Kind::AppsLookup
        ) {
            return Err(CliError::usage(format!(
                "--data serves cgroups-snapshot, cgroups-lookup and apps-lookup, not {kind}"
            )));
        }
        let bytes = read(path).map_err(CliError::failed)?;
        let parsed = parse(kind, &bytes)
            .map_err(|e| CliError::failed(format!("cannot serve {}: {e}", path.display())))?;
        let budget = match kind {
            Kind::CgroupsSnapshot => snapshot_budget(parsed.table.snapshot_bytes()),
            _ => 0,
        };
        Ok(Arc::new(Self {
            path: path.to_owned(),
            kind,
            budget,
            served: Mutex::new(Arc::new(Served {
                generation: parsed.generation.unwrap_or(1),
                table: parsed.table,
                content: content_hash(&bytes),
            })),
        }))
    }

    fn current(&self) -> Arc<Served> {
        self.served
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What is served, for the banner and the log.
    pub fn describe(&self) -> String {
        let served = self.current();
        format!(
            "{} from {} (generation {}), reloaded when it changes",
            served.table.describe(),
            self.path.display(),
            served.generation
        )
    }

    /// A managed server answering from the data. A snapshot provider gets
    /// a fixed response size fitting four times the snapshot at start (see
    /// [`snapshot_budget`]); `config`'s response size is not used.
    pub fn server(
        self: &Arc<Self>,
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
    ) -> ManagedServer {
        let source = self.clone();
        match self.kind {
            Kind::CgroupsSnapshot => {
                let config = ServerConfig {
                    max_response_payload_bytes: self.budget,
                    ..*config
                };
                ManagedServer::cgroups_snapshot(run_dir, service, &config, move |b| {
                    let served = source.current();
                    let Table::Snapshot {
                        systemd_enabled,
                        items,
                    } = &served.table
                    else {
                        return Err("the data is not a snapshot".into());
                    };
                    b.set_generation(served.generation);
                    b.set_systemd_enabled(*systemd_enabled);
                    for i in items {
                        b.add(&SnapshotItem {
                            hash: i.hash,
                            options: i.options,
                            enabled: i.enabled,
                            name: i.name.as_bytes(),
                            path: i.path.as_bytes(),
                        })?;
                    }
                    Ok(())
                })
            }
            Kind::CgroupsLookup => {
                ManagedServer::cgroups_lookup(run_dir, service, config, move |r, b| {
                    let served = source.current();
                    let Table::Cgroups {
                        unknown,
                        items,
                        index,
                    } = &served.table
                    else {
                        return Err("the data is not a cgroups lookup table".into());
                    };
                    b.set_generation(served.generation);
                    for (i, key) in r.paths().enumerate() {
                        let row = std::str::from_utf8(key)
                            .ok()
                            .and_then(|k| index.get(k))
                            .map(|&n| &items[n]);
                        match row {
                            Some(c) => b.add_request_item(
                                i,
                                &CgroupsEntry {
                                    status: c.status,
                                    orchestrator: c.orchestrator,
                                    name: c.name.as_bytes(),
                                },
                                &c.labels,
                            )?,
                            None => {
                                b.add_request_item(i, &CgroupsEntry::unset(*unknown), NO_LABELS)?
                            }
                        }
                    }
                    Ok(())
                })
            }
            _ => ManagedServer::apps_lookup(run_dir, service, config, move |r, b| {
                let served = source.current();
                let Table::Apps { items, index } = &served.table else {
                    return Err("the data is not an apps table".into());
                };
                b.set_generation(served.generation);
                for pid in r.pids() {
                    match index.get(&pid).map(|&n| &items[n]) {
                        Some(p) => b.add(pid, &p.entry(), &p.labels)?,
                        None => b.add_status(pid, PidStatus::Unknown)?,
                    }
                }
                Ok(())
            }),
        }
    }

    /// Starts the thread that reloads the file when it changes; it stops
    /// when the returned guard is dropped.
    pub fn watch(self: &Arc<Self>) -> Watching {
        let (stop, stopped) = mpsc::channel::<()>();
        let source = self.clone();
        thread::spawn(move || {
            let mut seen = stamp(&source.path);
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(POLL) {
                let now = stamp(&source.path);
                if now != seen {
                    seen = now;
                    source.reload();
                }
            }
        });
        Watching { _stop: stop }
    }

    /// Reads the file again and serves it when it parses and differs;
    /// says what happened (successes on standard output, failures on
    /// standard error).
    fn reload(&self) {
        let served = self.current();
        let keeping = || {
            format!(
                "still serving generation {} ({})",
                served.generation,
                served.table.describe()
            )
        };
        let bytes = match read(&self.path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("netipc serve: error: {e}; {}", keeping());
                return;
            }
        };
        let content = content_hash(&bytes);
        if content == served.content {
            return;
        }
        let parsed = match parse(self.kind, &bytes) {
            Ok(p) => p,
            Err(e) => {
                eprintln!(
                    "netipc serve: error: cannot reload {}: {e}; {}",
                    self.path.display(),
                    keeping()
                );
                return;
            }
        };
        let generation = parsed
            .generation
            .unwrap_or(0)
            .max(served.generation.saturating_add(1));
        let budget = self.budget;
        let needs = parsed.table.snapshot_bytes();
        let description = parsed.table.describe();
        *self.served.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(Served {
            generation,
            table: parsed.table,
            content,
        });
        println!(
            "netipc serve: reloaded {}: {description}, generation {generation}",
            self.path.display()
        );
        if budget > 0 && needs > budget as usize {
            eprintln!(
                "netipc serve: warning: the snapshot may need up to {needs} bytes, more than the {budget} bytes of response fixed at start: consumers may fail to fetch it; restart netipc serve to size it anew"
            );
        }
    }
}

/// Stops the reload thread when dropped.
pub struct Watching {
    _stop: mpsc::Sender<()>,
}

/// What tells a changed file: its size and modification time (`None`
/// when it cannot be seen).
fn stamp(path: &Path) -> Option<(u64, Option<SystemTime>)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()))
}

fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The bytes of a data file of at most [`MAX_FILE_BYTES`].
fn read(path: &Path) -> Result<Vec<u8>, String> {
    let what = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {what}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{what} is not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{what} has {} bytes; data files of at most {MAX_FILE_BYTES} bytes are read",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read {what}: {e}"))
}

/// Parses `bytes` as data of `kind`. The error names the line and column
/// and what was expected, and says so when the file is valid data of
/// another kind.
fn parse(kind: Kind, bytes: &[u8]) -> Result<Parsed, String> {
    let result = parse_as(kind, bytes);
    result.map_err(|e| {
        let mut message = describe_error(&e);
        let other = [Kind::CgroupsSnapshot, Kind::CgroupsLookup, Kind::AppsLookup]
            .into_iter()
            .find(|&k| k != kind && parse_as(k, bytes).is_ok());
        if let Some(other) = other {
            message.push_str(&format!(
                " (the file is {other} data: serve it with `netipc serve {other} --data FILE`)"
            ));
        }
        message
    })
}

fn parse_as(kind: Kind, bytes: &[u8]) -> Result<Parsed, serde_json::Error> {
    Ok(match kind {
        Kind::CgroupsSnapshot => {
            let f: SnapshotFile = serde_json::from_slice(bytes)?;
            Parsed {
                generation: f.generation,
                table: Table::Snapshot {
                    systemd_enabled: f.systemd_enabled,
                    items: f.items.0,
                },
            }
        }
        Kind::CgroupsLookup => {
            let f: CgroupsFile = serde_json::from_slice(bytes)?;
            let index = f
                .items
                .0
                .iter()
                .enumerate()
                .map(|(n, c)| (c.path.clone(), n))
                .collect();
            Parsed {
                generation: f.generation,
                table: Table::Cgroups {
                    unknown: f.unknown_status.0,
                    items: f.items.0,
                    index,
                },
            }
        }
        _ => {
            let f: AppsFile = serde_json::from_slice(bytes)?;
            let index = f
                .items
                .0
                .iter()
                .enumerate()
                .map(|(n, p)| (p.pid, n))
                .collect();
            Parsed {
                generation: f.generation,
                table: Table::Apps {
                    items: f.items.0,
                    index,
                },
            }
        }
    })
}

/// "line 3, column 14: missing field `path`".
fn describe_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    if e.is_eof() {
        return format!(
            "line {}, column {}: the file ends early ({message})",
            e.line(),
            e.column()
        );
    }
    format!("line {}, column {}: {message}", e.line(), e.column())
}

// ---- The file formats ----

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a cgroups-snapshot data file: an object with \"items\" (and optionally \"generation\", \"systemd_enabled\")"
)]
struct SnapshotFile {
    #[serde(default, rename = "service")]
    _service: Option<IgnoredAny>,
    generation: Option<u64>,
    #[serde(default)]
    systemd_enabled: u32,
    items: Rows<SnapshotRow>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a cgroups-lookup data file: an object with \"items\" (and optionally \"generation\", \"unknown_status\")"
)]
struct CgroupsFile {
    #[serde(default, rename = "service")]
    _service: Option<IgnoredAny>,
    generation: Option<u64>,
    #[serde(default)]
    unknown_status: UnknownStatus,
    items: Rows<CgroupRow>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an apps-lookup data file: an object with \"items\" (and optionally \"generation\")"
)]
struct AppsFile {
    #[serde(default, rename = "service")]
    _service: Option<IgnoredAny>,
    generation: Option<u64>,
    items: Rows<AppRow>,
}

/// An item of a data file: read as its file form ([`Row::File`]), then
/// checked. The check runs while the item is read, so that its errors
/// carry the line and column where the item ends.
trait Row: Sized {
    /// The item as written in the file.
    type File: for<'de> Deserialize<'de>;
    /// What an item is, for errors about its type.
    const EXPECTING: &'static str;
    /// The item checked against the protocol's rules.
    fn check(file: Self::File) -> Result<Self, String>;
    /// What may appear only once, as a phrase (`path "/x"`).
    fn key(&self) -> Option<String>;
}

/// The items of a data file, checked, each key once.
struct Rows<R>(Vec<R>);

impl<'de, R: Row> Deserialize<'de> for Rows<R> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(RowsVisitor(PhantomData))
    }
}

struct RowsVisitor<R>(PhantomData<R>);

impl<'de, R: Row> Visitor<'de> for RowsVisitor<R> {
    type Value = Rows<R>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of items, each {}", R::EXPECTING)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Rows<R>, A::Error> {
        let mut items = Vec::new();
        let mut seen = HashMap::new();
        while let Some(item) = seq.next_element_seed(RowSeed {
            index: items.len(),
            seen: &mut seen,
            row: PhantomData::<R>,
        })? {
            items.push(item);
        }
        Ok(Rows(items))
    }
}

/// Reads item `index`; `seen` maps the keys read so far to their items.
struct RowSeed<'s, R> {
    index: usize,
    seen: &'s mut HashMap<String, usize>,
    row: PhantomData<R>,
}

impl<'de, R: Row> de::DeserializeSeed<'de> for RowSeed<'_, R> {
    type Value = R;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<R, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: Row> Visitor<'de> for RowSeed<'_, R> {
    type Value = R;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(R::EXPECTING)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<R, A::Error> {
        let file = R::File::deserialize(de::value::MapAccessDeserializer::new(map))?;
        let row = R::check(file).map_err(de::Error::custom)?;
        if let Some(key) = row.key() {
            if let Some(first) = self.seen.insert(key.clone(), self.index) {
                return Err(de::Error::custom(format!(
                    "item {} repeats the {key} of item {first}: each is answered once",
                    self.index
                )));
            }
        }
        Ok(row)
    }
}

/// The status of the paths a cgroups-lookup file does not list.
struct UnknownStatus(CgroupsLookupStatus);

impl Default for UnknownStatus {
    fn default() -> Self {
        Self(CgroupsLookupStatus::UnknownRetryLater)
    }
}

impl<'de> Deserialize<'de> for UnknownStatus {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "UNKNOWN_RETRY_LATER" => Ok(Self(CgroupsLookupStatus::UnknownRetryLater)),
            "UNKNOWN_PERMANENT" => Ok(Self(CgroupsLookupStatus::UnknownPermanent)),
            _ => Err(de::Error::custom(format!(
                "unknown_status is `{name}`, expected `UNKNOWN_RETRY_LATER` or `UNKNOWN_PERMANENT`"
            ))),
        }
    }
}

/// The value of one of the specification's status names (`None` when the
/// file gives none): `names` lists (name, value) of the statuses a file
/// may give.
fn status_named<T: Copy>(
    field: &str,
    name: Option<&str>,
    names: &[(&str, T)],
) -> Result<Option<T>, String> {
    let Some(name) = name else {
        return Ok(None);
    };
    if let Some(&(_, value)) = names.iter().find(|(n, _)| *n == name) {
        return Ok(Some(value));
    }
    let expected: Vec<String> = names.iter().map(|(n, _)| format!("`{n}`")).collect();
    let why = if name == "PAYLOAD_EXCEEDED" {
        " (PAYLOAD_EXCEEDED is never data: the response size decides it)"
    } else {
        ""
    };
    Err(format!(
        "{field} is `{name}`, expected one of {}{why}",
        expected.join(", ")
    ))
}

/// The orchestrator of an item: the number, or the name `call --json`
/// prints beside it (both must agree).
fn orchestrator_of(number: Option<u16>, name: Option<&str>) -> Result<u16, String> {
    let by_name = |name: &str| {
        (0..=u16::MAX)
            .take_while(|&v| orchestrator::name(v).is_some())
            .find(|&v| orchestrator::name(v) == Some(name))
    };
    match (number, name) {
        (Some(n), Some(name)) if orchestrator::name(n).is_some_and(|known| known != name) => {
            Err(format!(
                "orchestrator {n} is `{}`, not `{name}`",
                orchestrator::name(n).unwrap_or_default()
            ))
        }
        (Some(n), _) => Ok(n),
        (None, Some(name)) => by_name(name).ok_or_else(|| {
            let known: Vec<&str> = (0..=u16::MAX)
                .map_while(orchestrator::name)
                .collect();
            format!(
                "orchestrator_name `{name}` is unknown: one of {} (or give the number as orchestrator)",
                known.join(", ")
            )
        }),
        (None, None) => Ok(0),
    }
}

/// Refuses strings with a NUL and empty label keys.
fn check_strings(fields: &[(&str, &str)], labels: &[Label]) -> Result<(), String> {
    if let Some((field, _)) = fields.iter().find(|(_, s)| s.contains('\0')) {
        return Err(format!(
            "{field} contains a NUL character, which the protocol cannot carry"
        ));
    }
    if labels.iter().any(|(k, _)| k.is_empty()) {
        return Err("a label key is empty".to_owned());
    }
    if labels
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err("a label contains a NUL character, which the protocol cannot carry".to_owned());
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotItemFile {
    hash: Option<u32>,
    #[serde(default)]
    options: u32,
    #[serde(default = "one")]
    enabled: u32,
    name: String,
    path: String,
}

impl Row for SnapshotRow {
    type File = SnapshotItemFile;
    const EXPECTING: &'static str = "a snapshot item: an object with \"name\" and \"path\"";

    fn check(f: SnapshotItemFile) -> Result<Self, String> {
        check_strings(&[("name", &f.name), ("path", &f.path)], &[])?;
        Ok(Self {
            hash: f.hash.unwrap_or_else(|| netdata_hash(f.name.as_bytes())),
            options: f.options,
            enabled: f.enabled,
            name: f.name,
            path: f.path,
        })
    }

    fn key(&self) -> Option<String> {
        None
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CgroupItemFile {
    path: String,
    status: Option<String>,
    orchestrator: Option<u16>,
    orchestrator_name: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

impl Row for CgroupRow {
    type File = CgroupItemFile;
    const EXPECTING: &'static str = "a cgroups-lookup item: an object with \"path\"";

    fn key(&self) -> Option<String> {
        Some(format!("path {:?}", self.path))
    }

    fn check(f: CgroupItemFile) -> Result<Self, String> {
        use CgroupsLookupStatus as S;
        let status = status_named(
            "status",
            f.status.as_deref(),
            &[
                ("KNOWN", S::Known),
                ("UNKNOWN_RETRY_LATER", S::UnknownRetryLater),
                ("UNKNOWN_PERMANENT", S::UnknownPermanent),
                ("OVERSIZED_ITEM", S::OversizedItem),
            ],
        )?
        .unwrap_or(S::Known);
        let labels: Vec<Label> = f.labels.into_iter().collect();
        let row = Self {
            orchestrator: orchestrator_of(f.orchestrator, f.orchestrator_name.as_deref())?,
            path: f.path,
            status,
            name: f.name,
            labels,
        };
        if row.path.is_empty() {
            return Err("path is empty: a lookup key has at least one byte".to_owned());
        }
        if status != S::Known
            && (row.orchestrator != 0 || !row.name.is_empty() || !row.labels.is_empty())
        {
            return Err(format!(
                "status {} carries no orchestrator, name or labels: only a KNOWN item has them",
                status.spec_name()
            ));
        }
        check_strings(&[("path", &row.path), ("name", &row.name)], &row.labels)?;
        // The protocol's own rules, as a provider's builder applies them.
        let mut buf = vec![0u8; 1024 + 2 * row.bytes()];
        let mut b = CgroupsLookupBuilder::new(&mut buf, 1, 1).map_err(|e| e.to_string())?;
        let entry = CgroupsEntry {
            status: row.status,
            orchestrator: row.orchestrator,
            name: row.name.as_bytes(),
        };
        b.add(row.path.as_bytes(), &entry, &row.labels)
            .map_err(|e| format!("the item breaks a rule of the protocol: {e}"))?;
        let len = b.finish();
        CgroupsLookupView::decode(&buf[..len])
            .map(|_| ())
            .map_err(|e| format!("the item breaks a rule of the protocol: {e}"))?;
        Ok(row)
    }
}

impl CgroupRow {
    fn bytes(&self) -> usize {
        self.path.len() + self.name.len() + labels_bytes(&self.labels)
    }
}

fn labels_bytes(labels: &[Label]) -> usize {
    labels.iter().map(|(k, v)| 32 + k.len() + v.len()).sum()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppItemFile {
    pid: u32,
    status: Option<String>,
    #[serde(default)]
    ppid: u32,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    starttime: u64,
    #[serde(default)]
    comm: String,
    cgroup_status: Option<String>,
    orchestrator: Option<u16>,
    orchestrator_name: Option<String>,
    #[serde(default)]
    cgroup_path: String,
    #[serde(default)]
    cgroup_name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

impl Row for AppRow {
    type File = AppItemFile;
    const EXPECTING: &'static str = "an apps-lookup item: an object with \"pid\"";

    fn key(&self) -> Option<String> {
        Some(format!("pid {}", self.pid))
    }

    fn check(f: AppItemFile) -> Result<Self, String> {
        use CgroupStatus as C;
        let status = status_named(
            "status",
            f.status.as_deref(),
            &[
                ("KNOWN", PidStatus::Known),
                ("UNKNOWN", PidStatus::Unknown),
                ("OVERSIZED_ITEM", PidStatus::OversizedItem),
            ],
        )?
        .unwrap_or(PidStatus::Known);
        let cgroup_status = status_named(
            "cgroup_status",
            f.cgroup_status.as_deref(),
            &[
                ("KNOWN", C::Known),
                ("UNKNOWN_RETRY_LATER", C::UnknownRetryLater),
                ("UNKNOWN_PERMANENT", C::UnknownPermanent),
                ("HOST_ROOT", C::HostRoot),
            ],
        )?
        .unwrap_or(if status == PidStatus::Known && f.cgroup_path.is_empty() {
            C::HostRoot
        } else {
            C::Known
        });
        let row = Self {
            pid: f.pid,
            status,
            cgroup_status,
            orchestrator: orchestrator_of(f.orchestrator, f.orchestrator_name.as_deref())?,
            ppid: f.ppid,
            uid: f.uid.unwrap_or(UID_UNSET),
            starttime: f.starttime,
            comm: f.comm,
            cgroup_path: f.cgroup_path,
            cgroup_name: f.cgroup_name,
            labels: f.labels.into_iter().collect(),
        };
        row.check_rules()?;
        Ok(row)
    }
}

impl AppRow {
    /// The protocol's rules for an item, as messages about the file's
    /// fields; then the provider's builder as the last word.
    fn check_rules(&self) -> Result<(), String> {
        use CgroupStatus as C;
        let status = self.status.spec_name();
        if self.status != PidStatus::Known {
            let set = [
                ("ppid", self.ppid != 0),
                ("uid", self.uid != UID_UNSET),
                ("starttime", self.starttime != 0),
                ("comm", !self.comm.is_empty()),
                ("cgroup_status", self.cgroup_status != C::Known),
                ("orchestrator", self.orchestrator != 0),
                ("cgroup_path", !self.cgroup_path.is_empty()),
                ("cgroup_name", !self.cgroup_name.is_empty()),
                ("labels", !self.labels.is_empty()),
            ];
            if let Some((field, _)) = set.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "pid {} has status {status} and {field}: a process that is not KNOWN carries only its pid",
                    self.pid
                ));
            }
        } else {
            if self.comm.is_empty() || self.comm.len() > COMM_MAX_LEN {
                return Err(format!(
                    "pid {}: comm {:?} has {} bytes; a KNOWN process has a comm of 1 to {COMM_MAX_LEN} bytes",
                    self.pid,
                    self.comm,
                    self.comm.len()
                ));
            }
            let cgroup = self.cgroup_status.spec_name();
            let has_path = !self.cgroup_path.is_empty();
            match self.cgroup_status {
                C::Known | C::UnknownPermanent if !has_path => {
                    return Err(format!(
                        "pid {}: cgroup_status {cgroup} needs a cgroup_path",
                        self.pid
                    ));
                }
                C::HostRoot if has_path => {
                    return Err(format!(
                        "pid {}: cgroup_status HOST_ROOT has no cgroup_path",
                        self.pid
                    ));
                }
                C::Known => {}
                _ if self.orchestrator != 0
                    || !self.cgroup_name.is_empty()
                    || !self.labels.is_empty() =>
                {
                    return Err(format!(
                        "pid {}: cgroup_status {cgroup} carries no orchestrator, cgroup_name or labels: only a KNOWN cgroup has them",
                        self.pid
                    ));
                }
                _ => {}
            }
        }
        check_strings(
            &[
                ("comm", &self.comm),
                ("cgroup_path", &self.cgroup_path),
                ("cgroup_name", &self.cgroup_name),
            ],
            &self.labels,
        )?;
        let bytes = self.comm.len()
            + self.cgroup_path.len()
            + self.cgroup_name.len()
            + labels_bytes(&self.labels);
        let mut buf = vec![0u8; 1024 + 2 * bytes];
        let mut b = AppsLookupBuilder::new(&mut buf, 1, 1).map_err(|e| e.to_string())?;
        b.add(self.pid, &self.entry(), &self.labels)
            .map_err(|e| format!("the item breaks a rule of the protocol: {e}"))?;
        let len = b.finish();
        AppsLookupView::decode(&buf[..len])
            .map(|_| ())
            .map_err(|e| format!("the item breaks a rule of the protocol: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(kind: Kind, text: &str) -> Parsed {
        parse(kind, text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn parse_err(kind: Kind, text: &str) -> String {
        match parse(kind, text.as_bytes()) {
            Ok(_) => panic!("parsed: {text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn snapshot_defaults() {
        let p = parse_ok(
            Kind::CgroupsSnapshot,
            r#"{"service": "x", "items": [{"name": "ssh", "path": "/a"}]}"#,
        );
        assert_eq!(p.generation, None);
        let Table::Snapshot {
            systemd_enabled,
            items,
        } = p.table
        else {
            panic!("not a snapshot");
        };
        assert_eq!(systemd_enabled, 0);
        assert_eq!(items[0].hash, netdata_hash(b"ssh"));
        assert_eq!((items[0].options, items[0].enabled), (0, 1));
    }

    #[test]
    fn errors_name_line_column_and_expectation() {
        let e = parse_err(
            Kind::CgroupsSnapshot,
            "{\n  \"items\": [\n    {\"name\": \"a\", \"pth\": \"/a\"}\n  ]\n}",
        );
        assert!(e.starts_with("line 3, column "), "{e}");
        assert!(e.contains("unknown field `pth`, expected one of"), "{e}");
        let e = parse_err(Kind::CgroupsSnapshot, "{\"items\": [");
        assert!(e.contains("the file ends early"), "{e}");
        let e = parse_err(Kind::CgroupsSnapshot, "[]");
        assert!(e.contains("expected a cgroups-snapshot data file"), "{e}");
    }

    #[test]
    fn another_kind_is_named() {
        let apps = r#"{"items": [{"pid": 1, "comm": "init"}]}"#;
        let e = parse_err(Kind::CgroupsLookup, apps);
        assert!(e.contains("the file is apps-lookup data"), "{e}");
    }

    #[test]
    fn lookup_rules() {
        let e = parse_err(
            Kind::CgroupsLookup,
            r#"{"items": [{"path": "/a", "status": "UNKNOWN_PERMANENT", "name": "x"}]}"#,
        );
        assert!(e.contains("only a KNOWN item has them"), "{e}");
        let e = parse_err(
            Kind::CgroupsLookup,
            r#"{"items": [{"path": "/a"}, {"path": "/a"}]}"#,
        );
        assert!(
            e.contains("item 1 repeats the path \"/a\" of item 0"),
            "{e}"
        );
        let e = parse_err(
            Kind::CgroupsLookup,
            r#"{"items": [{"path": "/a", "status": "PAYLOAD_EXCEEDED"}]}"#,
        );
        assert!(e.contains("the response size decides it"), "{e}");
        let p = parse_ok(
            Kind::CgroupsLookup,
            r#"{"unknown_status": "UNKNOWN_PERMANENT", "items": [{"path": "/a", "orchestrator_name": "docker", "labels": {"k": "v"}}]}"#,
        );
        let Table::Cgroups { unknown, items, .. } = p.table else {
            panic!("not a lookup table");
        };
        assert_eq!(unknown, CgroupsLookupStatus::UnknownPermanent);
        assert_eq!(items[0].orchestrator, orchestrator::DOCKER);
        let e = parse_err(
            Kind::CgroupsLookup,
            r#"{"items": [{"path": "/a", "orchestrator": 2, "orchestrator_name": "lxc"}]}"#,
        );
        assert!(e.contains("orchestrator 2 is `docker`, not `lxc`"), "{e}");
    }

    #[test]
    fn apps_rules() {
        let p = parse_ok(
            Kind::AppsLookup,
            r#"{"items": [{"pid": 1, "comm": "init"}, {"pid": 2, "comm": "x", "cgroup_path": "/c"},
                {"pid": 3, "status": "UNKNOWN", "cgroup_status": "KNOWN", "uid": null}]}"#,
        );
        let Table::Apps { items, .. } = p.table else {
            panic!("not an apps table");
        };
        assert_eq!(items[0].cgroup_status, CgroupStatus::HostRoot);
        assert_eq!(items[1].cgroup_status, CgroupStatus::Known);
        assert_eq!(items[0].uid, UID_UNSET);
        let e = parse_err(
            Kind::AppsLookup,
            "{\"items\": [\n{\"pid\": 1, \"comm\": \"a\"},\n{\"pid\": 2}\n]}",
        );
        assert!(
            e.starts_with("line 3, column 10: pid 2: comm"),
            "the item's line: {e}"
        );
        assert!(
            e.contains("a KNOWN process has a comm of 1 to 15 bytes"),
            "{e}"
        );
        let e = parse_err(
            Kind::AppsLookup,
            r#"{"items": [{"pid": 1, "comm": "0123456789abcdef"}]}"#,
        );
        assert!(e.contains("has 16 bytes"), "{e}");
        let e = parse_err(
            Kind::AppsLookup,
            r#"{"items": [{"pid": 4, "status": "UNKNOWN", "ppid": 1}]}"#,
        );
        assert!(e.contains("status UNKNOWN and ppid"), "{e}");
        let e = parse_err(
            Kind::AppsLookup,
            r#"{"items": [{"pid": 1, "comm": "a\u0000b"}]}"#,
        );
        assert!(e.contains("comm contains a NUL"), "{e}");
    }

    #[test]
    fn orchestrator_names() {
        assert_eq!(orchestrator_of(None, Some("k8s")), Ok(orchestrator::K8S));
        assert_eq!(orchestrator_of(Some(99), Some("whatever")), Ok(99));
        assert!(orchestrator_of(None, Some("nomad")).is_err());
    }
}
