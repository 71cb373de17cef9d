//! The interop matrix's data set and the two roles of the Rust matrix peer
//! (`netipc-matrix-peer`), as `docs/interop-matrix.md` defines them.
//!
//! The C and Go matrix peers serve and check the same data, so every
//! provider × consumer pairing of the three languages can be run
//! (`cargo xtask test --lane interop`). Everything here uses netipc's
//! public API only: managed servers, typed L2 clients and the L3 snapshot
//! cache, each with the library's default configuration except for the
//! transport profiles.
//!
//! - [`serve`] starts the four providers of a prefix.
//! - [`check`] runs one of the five [`Check`]s against them and reports the
//!   profile the client's session negotiated.
//! - The data set: [`cgroup`], [`cgroup_index`] / [`cgroup_answer`] (what
//!   cgroups-lookup answers for a path), [`lookup_key`], [`app`] (what
//!   apps-lookup answers for a PID), [`apps_pid`].

use netipc::cache::SnapshotCache;
use netipc::codec::{
    AppsEntry, AppsLookupItem, AppsLookupView, CgroupStatus, CgroupsEntry, CgroupsLookupItem,
    CgroupsLookupStatus, PidStatus, SnapshotItem, SnapshotView,
};
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, CgroupsSnapshotClient, ClientConfig, HandlerError,
    ManagedServer, Profiles, RunningServer, ServerConfig, SessionInfo,
};

/// The generation of every answer.
pub const GENERATION: u64 = 7;
/// The `systemd_enabled` value of the snapshots.
pub const SYSTEMD_ENABLED: u32 = 1;
/// Cgroups in the snapshot of `PREFIX-snapshot`.
pub const SNAPSHOT_ITEMS: u32 = 16;
/// Cgroups in `PREFIX-snapshot-big` and known to `PREFIX-cgroups-lookup`
/// (over 64 KiB: a chunked answer on a socket or pipe).
pub const BIG_ITEMS: u32 = 5000;
/// Keys of the consumer's cgroups lookup.
pub const LOOKUP_KEYS: u32 = 32_768;
/// PIDs of the consumer's apps lookup.
pub const APPS_PIDS: u32 = 1000;
/// The name the cache check looks up and must not find (with hash 1).
pub const MISSING_NAME: &str = "cg-missing";

/// Where the data set's cgroup paths live.
const PATH_PREFIX: &str = "/sys/fs/cgroup/netipc-matrix/";

/// Cgroup `i` of the data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    /// `cg-<i>`.
    pub name: String,
    /// `/sys/fs/cgroup/netipc-matrix/cg-<i>.scope`.
    pub path: String,
    /// `(i × 2654435761) mod 2^32`.
    pub hash: u32,
    /// `i % 7`.
    pub options: u32,
    /// 1 when `i % 3 ≠ 0`, else 0.
    pub enabled: u32,
}

impl Cgroup {
    /// The cgroup as a snapshot item.
    #[must_use]
    pub fn item(&self) -> SnapshotItem<'_> {
        SnapshotItem {
            hash: self.hash,
            options: self.options,
            enabled: self.enabled,
            name: self.name.as_bytes(),
            path: self.path.as_bytes(),
        }
    }
}

/// Cgroup `i` of the data set.
#[must_use]
pub fn cgroup(i: u32) -> Cgroup {
    Cgroup {
        name: format!("cg-{i}"),
        path: format!("{PATH_PREFIX}cg-{i}.scope"),
        hash: i.wrapping_mul(2_654_435_761),
        options: i % 7,
        enabled: u32::from(i % 3 != 0),
    }
}

/// The first `n` cgroups.
#[must_use]
pub fn cgroups(n: u32) -> Vec<Cgroup> {
    (0..n).map(cgroup).collect()
}

/// The `i` whose cgroup has exactly this path, for `i <` [`BIG_ITEMS`]
/// (the cgroups that cgroups-lookup knows).
#[must_use]
pub fn cgroup_index(path: &[u8]) -> Option<u32> {
    let digits = path
        .strip_prefix(PATH_PREFIX.as_bytes())?
        .strip_prefix(b"cg-")?
        .strip_suffix(b".scope")?;
    // Decimal without padding: "0" or digits not starting with 0.
    let canonical = !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits.len() == 1 || digits[0] != b'0');
    if !canonical || digits.len() > 4 {
        return None;
    }
    let i = digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    (i < BIG_ITEMS).then_some(i)
}

/// What cgroups-lookup answers for one path (besides the path itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupAnswer {
    /// `Known` for the cgroups below [`BIG_ITEMS`], else `UnknownPermanent`.
    pub status: CgroupsLookupStatus,
    /// `i % 3` when known, else 0.
    pub orchestrator: u16,
    /// `cg-<i>` when known, else empty.
    pub name: String,
    /// `index` = `<i>` when known and `i` is even, else none.
    pub labels: Vec<(String, String)>,
}

impl CgroupAnswer {
    /// Status, orchestrator and name, as a builder takes them.
    #[must_use]
    pub fn entry(&self) -> CgroupsEntry<'_> {
        CgroupsEntry {
            status: self.status,
            orchestrator: self.orchestrator,
            name: self.name.as_bytes(),
        }
    }
}

/// What cgroups-lookup answers for `path`.
#[must_use]
pub fn cgroup_answer(path: &[u8]) -> CgroupAnswer {
    match cgroup_index(path) {
        Some(i) => CgroupAnswer {
            status: CgroupsLookupStatus::Known,
            orchestrator: orchestrator_of(i),
            name: format!("cg-{i}"),
            labels: even_label("index", i),
        },
        None => CgroupAnswer {
            status: CgroupsLookupStatus::UnknownPermanent,
            orchestrator: 0,
            name: String::new(),
            labels: Vec::new(),
        },
    }
}

/// `i % 3`: 0 unknown, 1 systemd, 2 docker.
fn orchestrator_of(i: u32) -> u16 {
    (i % 3) as u16
}

/// One label `key` = `<i>` when `i` is even, none when odd.
fn even_label(key: &str, i: u32) -> Vec<(String, String)> {
    if i % 2 == 0 {
        vec![(key.to_owned(), i.to_string())]
    } else {
        Vec::new()
    }
}

/// Key `j` of the consumer's cgroups lookup: a missing path when
/// `j % 4 = 3`, else the path of cgroup `(j × 7919) % 5000`.
#[must_use]
pub fn lookup_key(j: u32) -> String {
    if j % 4 == 3 {
        format!("{PATH_PREFIX}missing-{j}")
    } else {
        cgroup(j.wrapping_mul(7919) % BIG_ITEMS).path
    }
}

/// PID `j` of the consumer's apps lookup: `1 + 3j`.
#[must_use]
pub fn apps_pid(j: u32) -> u32 {
    1 + 3 * j
}

/// What apps-lookup answers for a KNOWN PID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// `p / 2`.
    pub ppid: u32,
    /// `1000 + p % 3`.
    pub uid: u32,
    /// `p × 100`.
    pub starttime: u64,
    /// `proc-<p % 1000>`.
    pub comm: String,
    /// `p % 3` (the cgroup status is `KNOWN`).
    pub orchestrator: u16,
    /// Cgroup `p % 5000`, whose path and name are the process's.
    pub cgroup: Cgroup,
    /// `pid` = `<p>` when `p` is even, else none.
    pub labels: Vec<(String, String)>,
}

impl App {
    /// Everything but the labels, as a builder takes it.
    #[must_use]
    pub fn entry(&self) -> AppsEntry<'_> {
        AppsEntry {
            status: PidStatus::Known,
            cgroup_status: CgroupStatus::Known,
            orchestrator: self.orchestrator,
            ppid: self.ppid,
            uid: self.uid,
            starttime: self.starttime,
            comm: self.comm.as_bytes(),
            cgroup_path: self.cgroup.path.as_bytes(),
            cgroup_name: self.cgroup.name.as_bytes(),
        }
    }
}

/// What apps-lookup answers for `pid`: `None` (status `UNKNOWN`, nothing
/// else set) when `pid % 5 = 0`.
#[must_use]
pub fn app(pid: u32) -> Option<App> {
    (pid % 5 != 0).then(|| App {
        ppid: pid / 2,
        uid: 1000 + pid % 3,
        starttime: u64::from(pid) * 100,
        comm: format!("proc-{}", pid % 1000),
        orchestrator: orchestrator_of(pid),
        cgroup: cgroup(pid % BIG_ITEMS),
        labels: even_label("pid", pid),
    })
}

/// Parses a `PROFILE` argument: `baseline`, `shm-hybrid` or `shm-alt`.
#[must_use]
pub fn parse_profile(name: &str) -> Option<Profiles> {
    match name {
        "baseline" => Some(Profiles::BASELINE),
        "shm-hybrid" => Some(Profiles::SHM_HYBRID),
        "shm-alt" => Some(Profiles::SHM_ALT),
        _ => None,
    }
}

/// The service of `prefix` with `suffix` (`snapshot`, `snapshot-big`,
/// `cgroups-lookup`, `apps-lookup`).
fn service(prefix: &str, suffix: &str) -> String {
    format!("{prefix}-{suffix}")
}

/// The providers of one prefix, serving until [`stop`](Self::stop)ped
/// (or dropped).
#[derive(Debug)]
pub struct Providers {
    servers: Vec<RunningServer>,
}

impl Providers {
    /// Stops the four servers; their endpoints disappear.
    pub fn stop(self) {
        for server in self.servers {
            server.stop();
        }
    }
}

/// Starts the four providers of `prefix` in `run_dir`, all supporting
/// `baseline|profile` and preferring `profile`; they accept clients when
/// this returns.
///
/// # Errors
/// A server that cannot start (the ones started before it are stopped).
pub fn serve(run_dir: &str, prefix: &str, profile: Profiles) -> netipc::Result<Providers> {
    let config = ServerConfig {
        supported_profiles: Profiles::BASELINE | profile,
        preferred_profiles: profile,
        ..ServerConfig::default()
    };
    let small = std::sync::Arc::new(cgroups(SNAPSHOT_ITEMS));
    let big = std::sync::Arc::new(cgroups(BIG_ITEMS));
    let snapshot = |table: std::sync::Arc<Vec<Cgroup>>| {
        move |builder: &mut netipc::codec::SnapshotBuilder<'_>| -> Result<(), HandlerError> {
            builder.set_generation(GENERATION);
            builder.set_systemd_enabled(SYSTEMD_ENABLED);
            for c in table.iter() {
                builder.add(&c.item())?;
            }
            Ok(())
        }
    };
    let servers = [
        ManagedServer::cgroups_snapshot(
            run_dir,
            &service(prefix, "snapshot"),
            &config,
            snapshot(small),
        ),
        ManagedServer::cgroups_snapshot(
            run_dir,
            &service(prefix, "snapshot-big"),
            &config,
            snapshot(big),
        ),
        ManagedServer::cgroups_lookup(
            run_dir,
            &service(prefix, "cgroups-lookup"),
            &config,
            |request, builder| {
                builder.set_generation(GENERATION);
                for path in request.paths() {
                    let answer = cgroup_answer(path);
                    builder.add(path, &answer.entry(), &answer.labels)?;
                }
                Ok(())
            },
        ),
        ManagedServer::apps_lookup(
            run_dir,
            &service(prefix, "apps-lookup"),
            &config,
            |request, builder| {
                builder.set_generation(GENERATION);
                for pid in request.pids() {
                    match app(pid) {
                        Some(app) => builder.add(pid, &app.entry(), &app.labels)?,
                        None => builder.add_status(pid, PidStatus::Unknown)?,
                    }
                }
                Ok(())
            },
        ),
    ];
    let mut running = Providers {
        servers: Vec::new(),
    };
    for server in servers {
        match server.spawn() {
            Ok(server) => running.servers.push(server),
            Err(err) => {
                running.stop();
                return Err(err);
            }
        }
    }
    Ok(running)
}

/// One check of a consumer, in the order [`Check::ALL`] runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// One refresh of `PREFIX-snapshot`: cgroups 0..16 in order.
    Snapshot,
    /// One refresh of `PREFIX-snapshot-big`: cgroups 0..5000 in order.
    SnapshotBig,
    /// One logical lookup of the 32,768 keys on `PREFIX-cgroups-lookup`.
    CgroupsLookup,
    /// One logical lookup of the 1,000 PIDs on `PREFIX-apps-lookup`.
    AppsLookup,
    /// An L3 cache of `PREFIX-snapshot-big`: one refresh, every cgroup
    /// found by hash and name, `cg-missing` not.
    Cache,
}

impl Check {
    /// Every check, in the order a consumer runs them.
    pub const ALL: [Self; 5] = [
        Self::Snapshot,
        Self::SnapshotBig,
        Self::CgroupsLookup,
        Self::AppsLookup,
        Self::Cache,
    ];

    /// The name in the output lines (`snapshot`, `snapshot-big`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshot",
            Self::SnapshotBig => "snapshot-big",
            Self::CgroupsLookup => "cgroups-lookup",
            Self::AppsLookup => "apps-lookup",
            Self::Cache => "cache",
        }
    }

    /// The DETAIL of its `ok` line.
    #[must_use]
    pub fn detail(self) -> &'static str {
        match self {
            Self::Snapshot => "16 items",
            Self::SnapshotBig | Self::Cache => "5000 items",
            Self::CgroupsLookup => "32768 keys",
            Self::AppsLookup => "1000 pids",
        }
    }
}

/// Runs `check` against the providers of `prefix` with a client supporting
/// `baseline|profile` and preferring `profile`, and returns its output
/// line: `ok CHECK PROFILE_USED DETAIL` or `FAIL CHECK REASON`.
#[must_use]
pub fn check(check: Check, run_dir: &str, prefix: &str, profile: Profiles) -> String {
    let config = ClientConfig {
        supported_profiles: Profiles::BASELINE | profile,
        preferred_profiles: profile,
        ..ClientConfig::default()
    };
    let result = match check {
        Check::Snapshot => check_snapshot(run_dir, prefix, "snapshot", SNAPSHOT_ITEMS, &config),
        Check::SnapshotBig => check_snapshot(run_dir, prefix, "snapshot-big", BIG_ITEMS, &config),
        Check::CgroupsLookup => check_cgroups_lookup(run_dir, prefix, &config),
        Check::AppsLookup => check_apps_lookup(run_dir, prefix, &config),
        Check::Cache => check_cache(run_dir, prefix, &config),
    }
    .and_then(|used| match used {
        Some(info) if info.profile == profile => Ok(info.profile),
        Some(info) => Err(format!("negotiated {}, expected {profile}", info.profile)),
        None => Err("no session after the call".to_owned()),
    });
    match result {
        Ok(used) => format!("ok {} {used} {}", check.name(), check.detail()),
        // One line, whatever the error says.
        Err(reason) => format!(
            "FAIL {} {}",
            check.name(),
            reason.replace(['\r', '\n'], " ")
        ),
    }
}

/// What a check saw: the session it used, or why it failed.
type Outcome = Result<Option<SessionInfo>, String>;

/// Whether `got` is `want`; if not, says so about `what`.
fn equal<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got:?}, expected {want:?}"))
    }
}

/// Bytes as text, for comparisons whose failure message shows them.
fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

fn check_snapshot(
    run_dir: &str,
    prefix: &str,
    suffix: &str,
    count: u32,
    config: &ClientConfig,
) -> Outcome {
    let mut client = CgroupsSnapshotClient::new(run_dir, &service(prefix, suffix), config);
    client.connect().map_err(|e| format!("connect: {e}"))?;
    let view = client.call().map_err(|e| format!("call: {e}"))?;
    snapshot_matches(&view, count)?;
    Ok(client.session_info())
}

/// Whether `view` is the snapshot of the first `count` cgroups.
fn snapshot_matches(view: &SnapshotView<'_>, count: u32) -> Result<(), String> {
    equal("generation", view.generation(), GENERATION)?;
    equal("systemd_enabled", view.systemd_enabled(), SYSTEMD_ENABLED)?;
    equal("items", view.len(), count as usize)?;
    for (i, item) in (0..count).zip(view.iter()) {
        let item = item.map_err(|e| format!("item {i}: {e}"))?;
        let want = cgroup(i);
        if item != want.item() {
            return Err(format!(
                "item {i} (hash, options, enabled, name, path): {}, expected {}",
                printable(&item),
                printable(&want.item())
            ));
        }
    }
    Ok(())
}

/// A snapshot item's fields with its strings as text, for messages.
fn printable(item: &SnapshotItem<'_>) -> String {
    format!(
        "({}, {}, {}, {:?}, {:?})",
        item.hash,
        item.options,
        item.enabled,
        text(item.name),
        text(item.path)
    )
}

/// The labels of an answer as text pairs.
fn labels_of(labels: netipc::codec::Labels<'_>) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|l| (text(l.key).into_owned(), text(l.value).into_owned()))
        .collect()
}

fn check_cgroups_lookup(run_dir: &str, prefix: &str, config: &ClientConfig) -> Outcome {
    let keys: Vec<String> = (0..LOOKUP_KEYS).map(lookup_key).collect();
    let mut client = CgroupsLookupClient::new(run_dir, &service(prefix, "cgroups-lookup"), config);
    client.connect().map_err(|e| format!("connect: {e}"))?;
    let view = client.call(&keys).map_err(|e| format!("call: {e}"))?;
    equal("generation", view.generation(), GENERATION)?;
    equal("answers", view.len(), keys.len())?;
    for (j, (key, item)) in keys.iter().zip(view.iter()).enumerate() {
        cgroup_item_matches(key, &item).map_err(|e| format!("key {j} ({key}): {e}"))?;
    }
    Ok(client.session_info())
}

/// Whether `item` is the answer for `key`.
fn cgroup_item_matches(key: &str, item: &CgroupsLookupItem<'_>) -> Result<(), String> {
    let want = cgroup_answer(key.as_bytes());
    equal("path", text(item.path), key.into())?;
    equal("status", item.status, want.status)?;
    equal("orchestrator", item.orchestrator, want.orchestrator)?;
    equal("name", text(item.name), want.name.as_str().into())?;
    equal("labels", labels_of(item.labels), want.labels)
}

fn check_apps_lookup(run_dir: &str, prefix: &str, config: &ClientConfig) -> Outcome {
    let pids: Vec<u32> = (0..APPS_PIDS).map(apps_pid).collect();
    let mut client = AppsLookupClient::new(run_dir, &service(prefix, "apps-lookup"), config);
    client.connect().map_err(|e| format!("connect: {e}"))?;
    let view: AppsLookupView<'_> = client.call(&pids).map_err(|e| format!("call: {e}"))?;
    equal("generation", view.generation(), GENERATION)?;
    equal("answers", view.len(), pids.len())?;
    for (pid, item) in pids.iter().zip(view.iter()) {
        app_item_matches(*pid, &item).map_err(|e| format!("pid {pid}: {e}"))?;
    }
    Ok(client.session_info())
}

/// Whether `item` is the answer for `pid`.
fn app_item_matches(pid: u32, item: &AppsLookupItem<'_>) -> Result<(), String> {
    equal("pid", item.pid, pid)?;
    let known = app(pid);
    let want = known
        .as_ref()
        .map_or(AppsEntry::unset(PidStatus::Unknown), App::entry);
    if item.entry != want {
        return Err(format!("{}, expected {}", show(&item.entry), show(&want)));
    }
    let labels = known.map(|app| app.labels).unwrap_or_default();
    equal("labels", labels_of(item.labels), labels)
}

/// An apps-lookup entry with its strings as text, for messages.
fn show(e: &AppsEntry<'_>) -> String {
    format!(
        "{:?} cgroup {:?} orchestrator {} ppid {} uid {} starttime {} comm {:?} path {:?} name {:?}",
        e.status,
        e.cgroup_status,
        e.orchestrator,
        e.ppid,
        e.uid,
        e.starttime,
        text(e.comm),
        text(e.cgroup_path),
        text(e.cgroup_name)
    )
}

fn check_cache(run_dir: &str, prefix: &str, config: &ClientConfig) -> Outcome {
    let cache = SnapshotCache::new(run_dir, &service(prefix, "snapshot-big"), config);
    cache.refresh().map_err(|e| format!("refresh: {e}"))?;
    let guard = cache.read();
    equal("generation", guard.generation(), GENERATION)?;
    equal("items", guard.len(), BIG_ITEMS as usize)?;
    for i in 0..BIG_ITEMS {
        let want = cgroup(i);
        let Some(item) = guard.get(want.hash, want.name.as_bytes()) else {
            return Err(format!("{} (hash {}) not found", want.name, want.hash));
        };
        let got = SnapshotItem {
            hash: item.hash,
            options: item.options,
            enabled: item.enabled,
            name: item.name,
            path: item.path,
        };
        if got != want.item() {
            return Err(format!(
                "{} (hash, options, enabled, name, path): {}, expected {}",
                want.name,
                printable(&got),
                printable(&want.item())
            ));
        }
    }
    if let Some(item) = guard.get(1, MISSING_NAME.as_bytes()) {
        return Err(format!(
            "{MISSING_NAME} (hash 1) found: {:?}",
            text(item.path)
        ));
    }
    Ok(cache.session_info())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_follow_the_contract() {
        let c = cgroup(0);
        assert_eq!(
            c,
            Cgroup {
                name: "cg-0".into(),
                path: "/sys/fs/cgroup/netipc-matrix/cg-0.scope".into(),
                hash: 0,
                options: 0,
                enabled: 0,
            }
        );
        let c = cgroup(4999);
        assert_eq!(c.name, "cg-4999");
        assert_eq!(c.path, "/sys/fs/cgroup/netipc-matrix/cg-4999.scope");
        assert_eq!(c.hash, (4999u64 * 2_654_435_761 % (1 << 32)) as u32);
        assert_eq!((c.options, c.enabled), (4999 % 7, 1));
        assert_eq!(cgroup(1).hash, 2_654_435_761);
        assert_eq!(cgroup(2).hash, 1_013_904_226);
        assert_eq!(cgroups(16).len(), 16);
        assert_eq!(cgroups(3)[2], cgroup(2));
    }

    #[test]
    fn paths_are_known_below_5000_only() {
        for i in [0, 1, 9, 10, 4999] {
            assert_eq!(cgroup_index(cgroup(i).path.as_bytes()), Some(i), "{i}");
        }
        for path in [
            cgroup(5000).path.as_str(),
            "/sys/fs/cgroup/netipc-matrix/cg-01.scope",
            "/sys/fs/cgroup/netipc-matrix/cg-.scope",
            "/sys/fs/cgroup/netipc-matrix/cg-1x.scope",
            "/sys/fs/cgroup/netipc-matrix/cg-1.scope/",
            "/sys/fs/cgroup/netipc-matrix/cg-99999999999.scope",
            "/sys/fs/cgroup/netipc-matrix/missing-3",
            "/sys/fs/cgroup/other/cg-1.scope",
            "",
        ] {
            assert_eq!(cgroup_index(path.as_bytes()), None, "{path}");
        }
    }

    #[test]
    fn lookup_answers_follow_the_contract() {
        assert_eq!(
            cgroup_answer(cgroup(4).path.as_bytes()),
            CgroupAnswer {
                status: CgroupsLookupStatus::Known,
                orchestrator: 1,
                name: "cg-4".into(),
                labels: vec![("index".into(), "4".into())],
            }
        );
        let odd = cgroup_answer(cgroup(5).path.as_bytes());
        assert_eq!((odd.orchestrator, odd.labels.len()), (2, 0));
        assert_eq!(
            cgroup_answer(b"/sys/fs/cgroup/netipc-matrix/missing-3"),
            CgroupAnswer {
                status: CgroupsLookupStatus::UnknownPermanent,
                orchestrator: 0,
                name: String::new(),
                labels: Vec::new(),
            }
        );
    }

    #[test]
    fn lookup_keys_follow_the_contract() {
        assert_eq!(lookup_key(0), cgroup(0).path);
        assert_eq!(lookup_key(1), cgroup(2919).path);
        assert_eq!(lookup_key(3), "/sys/fs/cgroup/netipc-matrix/missing-3");
        assert_eq!(
            lookup_key(32_767),
            "/sys/fs/cgroup/netipc-matrix/missing-32767"
        );
        assert_eq!(lookup_key(32_766), cgroup(32_766 * 7919 % 5000).path);
        let missing = (0..LOOKUP_KEYS)
            .filter(|&j| cgroup_index(lookup_key(j).as_bytes()).is_none())
            .count();
        assert_eq!(missing, 8192);
    }

    #[test]
    fn apps_follow_the_contract() {
        assert_eq!(app(0), None);
        assert_eq!(app(25), None);
        assert_eq!(
            app(7),
            Some(App {
                ppid: 3,
                uid: 1001,
                starttime: 700,
                comm: "proc-7".into(),
                orchestrator: 1,
                cgroup: cgroup(7),
                labels: Vec::new(),
            })
        );
        let even = app(5002).expect("known");
        assert_eq!(
            (even.comm.as_str(), even.cgroup.name.as_str(), even.uid),
            ("proc-2", "cg-2", 1000 + 5002 % 3)
        );
        assert_eq!(even.labels, [("pid".to_owned(), "5002".to_owned())]);
        assert_eq!(
            (apps_pid(0), apps_pid(999)),
            (1, 2998),
            "the consumer's PIDs"
        );
    }

    #[test]
    fn profiles_and_checks_are_named_as_in_the_contract() {
        assert_eq!(parse_profile("baseline"), Some(Profiles::BASELINE));
        assert_eq!(parse_profile("shm-hybrid"), Some(Profiles::SHM_HYBRID));
        assert_eq!(parse_profile("shm-alt"), Some(Profiles::SHM_ALT));
        assert_eq!(parse_profile("shm_hybrid"), None);
        for name in ["baseline", "shm-hybrid", "shm-alt"] {
            assert_eq!(
                parse_profile(name).map(|p| p.to_string()),
                Some(name.into())
            );
        }
        let names: Vec<_> = Check::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(
            names,
            [
                "snapshot",
                "snapshot-big",
                "cgroups-lookup",
                "apps-lookup",
                "cache"
            ]
        );
    }

    /// A fresh run directory (mode 0700 on Unix), removed on drop.
    struct RunDir(std::path::PathBuf);

    impl RunDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("nm-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("run dir");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                    .expect("chmod");
            }
            Self(dir)
        }

        fn path(&self) -> &str {
            self.0.to_str().expect("UTF-8 temp dir")
        }
    }

    impl Drop for RunDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn serve_and_check(profile: Profiles, consumer: Profiles) -> Vec<String> {
        let dir = RunDir::new(&format!("{}", profile.bits() * 16 + consumer.bits()));
        let providers = serve(dir.path(), "m-rust", profile).expect("serve");
        let lines = Check::ALL
            .iter()
            .map(|&c| check(c, dir.path(), "m-rust", consumer))
            .collect();
        providers.stop();
        let left: Vec<_> = std::fs::read_dir(&dir.0).expect("list").flatten().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        lines
    }

    #[test]
    fn every_check_passes_against_the_providers() {
        for profile in [Profiles::BASELINE, Profiles::SHM_HYBRID, Profiles::SHM_ALT] {
            let lines = serve_and_check(profile, profile);
            let want: Vec<String> = Check::ALL
                .iter()
                .map(|c| format!("ok {} {profile} {}", c.name(), c.detail()))
                .collect();
            assert_eq!(lines, want);
        }
    }

    #[test]
    fn a_session_on_another_profile_fails_the_check() {
        // The provider offers baseline only: a consumer wanting shared
        // memory gets the baseline, which is a FAIL.
        let lines = serve_and_check(Profiles::BASELINE, Profiles::SHM_HYBRID);
        assert_eq!(lines.len(), 5);
        for (line, c) in lines.iter().zip(Check::ALL) {
            assert_eq!(
                line,
                &format!("FAIL {} negotiated baseline, expected shm-hybrid", c.name())
            );
        }
    }

    #[test]
    fn a_missing_provider_fails_every_check_with_its_cause() {
        let dir = RunDir::new("none");
        for c in Check::ALL {
            let line = check(c, dir.path(), "m-nobody", Profiles::BASELINE);
            assert!(line.starts_with(&format!("FAIL {} ", c.name())), "{line}");
            assert!(line.contains("no provider"), "{line}");
        }
    }

    #[test]
    fn wrong_answers_are_named() {
        let item = cgroup(3);
        let mut buf = vec![0u8; 4096];
        let mut builder = netipc::codec::SnapshotBuilder::new(&mut buf, 2).expect("builder");
        builder.set_generation(GENERATION);
        builder.set_systemd_enabled(SYSTEMD_ENABLED);
        for c in [cgroup(0), item] {
            builder.add(&c.item()).expect("add");
        }
        let len = builder.finish();
        let view = SnapshotView::decode(&buf[..len]).expect("decode");
        let err = snapshot_matches(&view, 2).unwrap_err();
        assert!(
            err.starts_with("item 1 (hash, options, enabled, name, path): "),
            "{err}"
        );
        assert!(err.contains("\"cg-3\""), "{err}");
        assert_eq!(
            snapshot_matches(&view, 3).unwrap_err(),
            "items: 2, expected 3"
        );
    }

    #[test]
    fn wrong_lookup_answers_are_named() {
        use netipc::codec::{
            AppsLookupBuilder, CgroupsLookupBuilder, CgroupsLookupView, NO_LABELS,
        };
        let key = lookup_key(0);
        let mut buf = vec![0u8; 4096];
        let mut builder = CgroupsLookupBuilder::new(&mut buf, 3, GENERATION).expect("builder");
        let right = cgroup_answer(key.as_bytes());
        builder
            .add(key.as_bytes(), &right.entry(), &right.labels)
            .expect("add");
        builder
            .add(
                key.as_bytes(),
                &CgroupsEntry::known(1, b"cg-0"),
                &right.labels,
            )
            .expect("add");
        builder
            .add(key.as_bytes(), &right.entry(), NO_LABELS)
            .expect("add");
        let len = builder.finish();
        let view = CgroupsLookupView::decode(&buf[..len]).expect("decode");
        let results: Vec<_> = view
            .iter()
            .map(|item| cgroup_item_matches(&key, &item))
            .collect();
        assert_eq!(
            results,
            [
                Ok(()),
                Err("orchestrator: 1, expected 0".to_owned()),
                Err("labels: [], expected [(\"index\", \"0\")]".to_owned()),
            ]
        );
        assert_eq!(
            cgroup_item_matches(&lookup_key(3), &view.item(0).expect("item")),
            Err(format!("path: {key:?}, expected {:?}", lookup_key(3)))
        );

        let mut buf = vec![0u8; 4096];
        let mut builder = AppsLookupBuilder::new(&mut buf, 3, GENERATION).expect("builder");
        let app7 = app(7).expect("known");
        builder.add(7, &app7.entry(), &app7.labels).expect("add");
        builder.add_status(5, PidStatus::Unknown).expect("add");
        let wrong = AppsEntry {
            ppid: 4,
            ..app7.entry()
        };
        builder.add(7, &wrong, &app7.labels).expect("add");
        let len = builder.finish();
        let view = AppsLookupView::decode(&buf[..len]).expect("decode");
        let items: Vec<_> = view.iter().collect();
        assert_eq!(app_item_matches(7, &items[0]), Ok(()));
        assert_eq!(app_item_matches(5, &items[1]), Ok(()));
        assert_eq!(
            app_item_matches(10, &items[1]),
            Err("pid: 5, expected 10".to_owned())
        );
        let err = app_item_matches(7, &items[2]).unwrap_err();
        assert!(
            err.starts_with("Known cgroup Known orchestrator 1 ppid 4 "),
            "{err}"
        );
        assert!(
            err.contains(", expected Known cgroup Known orchestrator 1 ppid 3 "),
            "{err}"
        );
        let err = app_item_matches(8, &items[0]).unwrap_err();
        assert!(err.starts_with("pid: 7, expected 8"), "{err}");
    }
}
