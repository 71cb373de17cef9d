//! The data behind `netipc serve` and `netipc demo`: providers of the three
//! Netdata services fed by this machine, or by synthetic data.
//!
//! - [`cgroups`]: the cgroup filesystem as a table; answers
//!   `cgroups-snapshot` and `cgroups-lookup`. [`mountinfo`] finds the
//!   hierarchies, [`cgroupfs`] scans them, [`naming`] names the cgroups.
//! - [`procs`]: `/proc` as an answer to `apps-lookup`; [`procfs`] parses
//!   its files.
//! - [`synthetic`]: deterministic data of any size.
//!
//! Real data is used when the machine has it, decided at run time
//! ([`Providers::detect`]): the cgroup hierarchies listed in
//! `/proc/self/mountinfo` and the process files of `/proc`. Both are Linux
//! formats, so they are read only when the program runs on Linux: under
//! Windows (also under Wine, where the host's `/proc` can be visible
//! through drive `Z:` but describes Linux processes, not this program's
//! Windows PIDs) the providers use synthetic data.

pub mod cgroupfs;
pub mod cgroups;
pub mod mountinfo;
pub mod naming;
pub mod procfs;
pub mod procs;
pub mod synthetic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use netipc::codec::SnapshotBuilder;
use netipc::service::{HandlerError, ManagedServer, ServerConfig};

use self::cgroupfs::CgroupFs;
use self::cgroups::Cgroups;
use self::procs::Apps;
use crate::common::Kind;

/// Netdata's `simple_hash()` (FNV-1, 32 bits): the hash the cgroups
/// plugin sends as a snapshot item's `hash`.
pub use netipc::netdata::netdata_hash as simple_hash;

/// Largest `/proc` or cgroup file the providers read (`mountinfo` of a busy
/// container host is a few hundred kilobytes; a process file a few).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// The content of a regular file of at most `limit` bytes; `None` when it
/// cannot be read, is not a regular file (a FIFO would block, a device
/// could be endless) or is longer. `/proc` files report size 0 and are
/// read up to the limit.
pub fn read_bounded(path: &std::path::Path, limit: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let mut out = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(limit + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() as u64 <= limit).then_some(out)
}

/// [`read_bounded`] as text, lossily (names may not be UTF-8).
pub fn read_text(path: &std::path::Path) -> Option<String> {
    read_bounded(path, MAX_FILE_BYTES).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Items of each synthetic service when a machine has no real data and
/// no `--synthetic N` was given.
pub const DEFAULT_SYNTHETIC: u32 = 64;

/// Default time between two scans of the cgroup filesystem.
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(1);

/// The response budget of a snapshot provider whose snapshot currently
/// takes `bytes`: at least 1 MiB, and four times the snapshot rounded up
/// to a power of two, fixed for the provider's life. With the growing
/// default a client recovers from a too-small response by doubling the
/// size from 1 KiB at most 8 times per call (level2 spec 5), so a fresh
/// client of a fresh provider could not fetch a snapshot over 128 KiB (a
/// busy Kubernetes node) on its first call.
pub fn snapshot_budget(bytes: usize) -> u32 {
    let want = bytes
        .saturating_mul(4)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX);
    u32::try_from(want.max(1 << 20)).unwrap_or(u32::MAX)
}

/// How to choose the data.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `/proc` and `/sys` are (`/` for this machine).
    pub fs_root: PathBuf,
    /// Synthetic data of this many items instead of the machine's.
    pub synthetic: Option<u32>,
    /// Shortest time between two cgroup scans.
    pub rescan: Duration,
    /// Use synthetic cgroups when the cgroup filesystem has none below its
    /// roots (a container with a private cgroup namespace): right for a
    /// demonstration, wrong for a provider whose cgroups may appear later.
    pub synthetic_if_empty: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            fs_root: PathBuf::from("/"),
            synthetic: None,
            rescan: DEFAULT_RESCAN,
            synthetic_if_empty: false,
        }
    }
}

/// The providers of one process, sharing one cgroups table.
#[derive(Debug, Clone)]
pub struct Providers {
    /// Answers `cgroups-snapshot` and `cgroups-lookup`.
    pub cgroups: Arc<Cgroups>,
    /// Answers `apps-lookup`.
    pub apps: Arc<Apps>,
    /// Why synthetic data is used, when it is (one sentence each).
    pub fallbacks: Vec<String>,
}

impl Providers {
    /// Real data where the machine has it, synthetic data otherwise (or
    /// when `options.synthetic` asks for it).
    pub fn detect(options: &Options) -> Self {
        let mut fallbacks = Vec::new();
        let os = std::env::consts::OS;
        let linux = os == "linux";
        let synthetic_count = options.synthetic.unwrap_or(DEFAULT_SYNTHETIC);
        let cgroup_fs = match options.synthetic {
            Some(_) => None,
            None if !linux => {
                fallbacks.push(format!(
                    "this is {os}, not Linux: there are no cgroups to read, so the cgroups provider serves {synthetic_count} synthetic cgroups"
                ));
                None
            }
            None => {
                let fs = CgroupFs::detect(&options.fs_root);
                if fs.is_none() {
                    fallbacks.push(format!(
                        "no cgroup filesystem found ({} lists no readable cgroup mount): the cgroups provider serves {synthetic_count} synthetic cgroups",
                        options.fs_root.join("proc/self/mountinfo").display()
                    ));
                }
                fs
            }
        };
        let mut cgroups = cgroup_fs.map(|fs| Cgroups::real(fs, options.rescan));
        if options.synthetic_if_empty
            && cgroups.as_ref().is_some_and(|c| c.table().items.is_empty())
        {
            fallbacks.push(format!(
                "{} has no cgroups below its root (a container?): the cgroups provider serves {synthetic_count} synthetic cgroups",
                cgroups.as_ref().map_or("", |c| c.describe()).trim_start_matches("this machine's ")
            ));
            cgroups = None;
        }
        let cgroups = Arc::new(cgroups.unwrap_or_else(|| synthetic::cgroups(synthetic_count)));
        let proc_dir = options.fs_root.join("proc");
        let has_proc = linux && proc_dir.join("self/stat").is_file();
        let apps = match options.synthetic {
            None if has_proc => Apps::proc(proc_dir, cgroups.clone()),
            None => {
                fallbacks.push(if linux {
                    format!(
                        "no process information ({} is missing): the apps provider serves {synthetic_count} synthetic processes",
                        proc_dir.join("self/stat").display()
                    )
                } else {
                    format!(
                        "there is no /proc on {os}: the apps provider serves {synthetic_count} synthetic processes (PIDs 1-{synthetic_count})"
                    )
                });
                Apps::synthetic(synthetic_count, cgroups.clone())
            }
            Some(n) => Apps::synthetic(n, cgroups.clone()),
        };
        Self {
            cgroups,
            apps: Arc::new(apps),
            fallbacks,
        }
    }

    /// A managed server of `kind` answering from these providers.
    /// `increment` answers `n + 1`, `string-reverse` the text reversed (by
    /// characters when it is UTF-8, by bytes otherwise).
    ///
    /// Unless `config` sets a response budget, a snapshot provider gets a
    /// fixed one of [`snapshot_budget`] (see there for why); the others
    /// use `config` as it is.
    pub fn server(
        &self,
        kind: Kind,
        run_dir: &str,
        service: &str,
        config: &ServerConfig,
    ) -> ManagedServer {
        let snapshot_config = ServerConfig {
            max_response_payload_bytes: match config.max_response_payload_bytes {
                0 => snapshot_budget(self.cgroups.table().snapshot_bytes()),
                n => n,
            },
            ..*config
        };
        match kind {
            Kind::CgroupsSnapshot => {
                let cgroups = self.cgroups.clone();
                ManagedServer::cgroups_snapshot(
                    run_dir,
                    service,
                    &snapshot_config,
                    move |b: &mut SnapshotBuilder<'_>| cgroups.table().snapshot(b),
                )
            }
            Kind::CgroupsLookup => {
                let cgroups = self.cgroups.clone();
                ManagedServer::cgroups_lookup(run_dir, service, config, move |r, b| {
                    cgroups.table().lookup(r, b)
                })
            }
            Kind::AppsLookup => {
                let apps = self.apps.clone();
                ManagedServer::apps_lookup(run_dir, service, config, move |r, b| apps.lookup(r, b))
            }
            Kind::Increment => ManagedServer::increment(run_dir, service, config, |n| {
                Ok::<_, HandlerError>(n.wrapping_add(1))
            }),
            Kind::StringReverse => {
                ManagedServer::string_reverse(run_dir, service, config, |text, out| {
                    reverse(text, out);
                    Ok::<_, HandlerError>(())
                })
            }
        }
    }
}

/// `text` reversed by characters (UTF-8) or bytes (anything else).
pub fn reverse(text: &[u8], out: &mut Vec<u8>) {
    match std::str::from_utf8(text) {
        Ok(s) => out.extend(s.chars().rev().collect::<String>().bytes()),
        Err(_) => out.extend(text.iter().rev()),
    }
}

/// The fixture directory of the tests (`tests/data`).
#[cfg(test)]
pub fn fixture_dir(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The text of a fixture file.
#[cfg(test)]
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_dir(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"12345").expect("write");
        assert_eq!(read_bounded(&file, 5).as_deref(), Some(&b"12345"[..]));
        assert_eq!(read_bounded(&file, 4), None);
        assert_eq!(read_bounded(dir.path(), 100), None);
        assert_eq!(read_bounded(&dir.path().join("missing"), 100), None);
        #[cfg(unix)]
        assert_eq!(read_bounded(std::path::Path::new("/dev/zero"), 100), None);
    }

    #[test]
    fn snapshot_budgets() {
        assert_eq!(snapshot_budget(0), 1 << 20);
        assert_eq!(snapshot_budget(300_000), 2 << 20);
        assert_eq!(snapshot_budget(usize::MAX), u32::MAX);
    }

    #[test]
    fn reverse_by_characters() {
        let mut out = Vec::new();
        reverse("añb".as_bytes(), &mut out);
        assert_eq!(out, "bña".as_bytes());
        out.clear();
        reverse(&[0xff, 1], &mut out);
        assert_eq!(out, [1, 0xff]);
    }

    #[test]
    fn fixture_root_is_real_data_on_linux_only() {
        let p = Providers::detect(&Options {
            fs_root: fixture_dir("linux-v2"),
            ..Options::default()
        });
        if cfg!(target_os = "linux") {
            assert!(p.fallbacks.is_empty(), "{:?}", p.fallbacks);
            assert!(p.cgroups.is_real() && p.apps.is_real());
        } else {
            assert_eq!(p.fallbacks.len(), 2, "{:?}", p.fallbacks);
            assert!(!p.cgroups.is_real() && !p.apps.is_real());
        }
    }

    #[test]
    fn empty_cgroup_tree_falls_back_when_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("proc/self")).expect("mkdir");
        std::fs::create_dir_all(root.join("sys/fs/cgroup")).expect("mkdir");
        std::fs::write(
            root.join("proc/self/mountinfo"),
            "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        )
        .expect("write");
        let options = Options {
            fs_root: root.to_path_buf(),
            ..Options::default()
        };
        let kept = Providers::detect(&options);
        let fell_back = Providers::detect(&Options {
            synthetic_if_empty: true,
            ..options
        });
        if cfg!(target_os = "linux") {
            assert!(kept.cgroups.is_real() && kept.cgroups.table().items.is_empty());
            assert!(!fell_back.cgroups.is_real());
            assert!(fell_back.fallbacks[0].contains("has no cgroups below its root"));
        }
    }

    #[test]
    fn empty_root_falls_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Providers::detect(&Options {
            fs_root: dir.path().to_path_buf(),
            ..Options::default()
        });
        assert_eq!(p.fallbacks.len(), 2, "{:?}", p.fallbacks);
        assert_eq!(p.cgroups.table().items.len(), DEFAULT_SYNTHETIC as usize);
        assert!(!p.apps.is_real());
    }
}
