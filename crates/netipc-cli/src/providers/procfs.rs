//! The per-process files of Linux's `/proc` (`stat`, `status`, `cgroup`),
//! parsed by procfs-core from the text the apps provider read (bounded,
//! see [`read_bounded`](super::read_bounded)). procfs-core only parses, so
//! the same code reads the fixtures of the tests on every OS and a
//! `--fs-root` directory as well as `/`.

use procfs_core::FromRead;
use procfs_core::ProcessCGroups;
use procfs_core::process::Status;

/// The fields of `/proc/<pid>/stat` the apps provider publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Field 2, the process name without its parentheses (at most 15
    /// bytes on Linux; it may contain spaces and parentheses).
    pub comm: String,
    /// Field 4, the parent PID.
    pub ppid: u32,
    /// Field 22, the start time in clock ticks after boot.
    pub starttime: u64,
}

/// Parses `/proc/<pid>/stat` (the name is taken between the first `(`
/// and the last `)`, so names with spaces or parentheses parse).
pub fn parse_stat(text: &str) -> Option<Stat> {
    if !stat_shaped(text) {
        return None;
    }
    let stat = procfs_core::process::Stat::from_read(text.as_bytes()).ok()?;
    Some(Stat {
        comm: stat.comm,
        ppid: u32::try_from(stat.ppid).ok()?,
        starttime: stat.starttime,
    })
}

/// Whether `text` has the `pid (name) state ...` shape around the name:
/// procfs-core 0.18 slices the line at the byte before the first `(` and
/// two bytes after the last `)` unchecked, and panics on a text such as
/// `(x)` or `1 (x)`. `/proc` never writes one, but `--fs-root` may point
/// at any file.
fn stat_shaped(text: &str) -> bool {
    let text = text.trim();
    let bytes = text.as_bytes();
    match (text.find('('), text.rfind(')')) {
        (Some(open), Some(close)) => {
            open >= 2
                && bytes[open - 1] == b' '
                && open < close
                && bytes.get(close + 1) == Some(&b' ')
        }
        _ => false,
    }
}

/// The real uid from `/proc/<pid>/status` (the first number of `Uid:`).
pub fn parse_status_uid(text: &str) -> Option<u32> {
    Status::from_read(text.as_bytes()).ok().map(|s| s.ruid)
}

/// One line of `/proc/<pid>/cgroup`: `hierarchy-id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLine {
    /// 0 for the v2 hierarchy.
    pub hierarchy_id: u32,
    /// Controllers, sorted; empty for v2.
    pub controllers: Vec<String>,
    /// The path relative to the hierarchy's root (`/` for the root).
    pub path: String,
}

impl CgroupLine {
    /// Whether this is the cgroup v2 line (`0::/path`).
    pub fn is_v2(&self) -> bool {
        self.hierarchy_id == 0 && self.controllers.is_empty()
    }
}

/// Parses `/proc/<pid>/cgroup`: its lines whose path is absolute (none
/// when the file does not parse).
pub fn parse_cgroup(text: &str) -> Vec<CgroupLine> {
    let Ok(lines) = ProcessCGroups::from_read(text.as_bytes()) else {
        return Vec::new();
    };
    lines
        .into_iter()
        .filter(|l| l.pathname.starts_with('/'))
        .map(|l| {
            let mut controllers = l.controllers;
            controllers.sort();
            CgroupLine {
                hierarchy_id: l.hierarchy,
                controllers,
                path: l.pathname,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::fixture;

    #[test]
    fn stat_of_a_name_with_spaces_and_parentheses() {
        let stat = parse_stat(&fixture("linux-v2/proc/4242/stat")).expect("stat");
        assert_eq!(
            stat,
            Stat {
                comm: "my (odd) app".into(),
                ppid: 1,
                starttime: 123_456
            }
        );
    }

    #[test]
    fn stat_of_a_kernel_thread() {
        let stat = parse_stat(&fixture("linux-v2/proc/2/stat")).expect("stat");
        assert_eq!(stat.comm, "kthreadd");
        assert_eq!(stat.ppid, 0);
        assert_eq!(stat.starttime, 0);
    }

    #[test]
    fn truncated_or_misshapen_stat_is_rejected() {
        for text in [
            "42 (x) S 1 2 3",
            "garbage",
            "(x)",
            "1 (x)",
            "1 (x)\n",
            ")(",
            "1 )( S",
            "é(x) S",
            "1 (x)é S",
            "",
        ] {
            assert_eq!(parse_stat(text), None, "{text:?}");
        }
    }

    #[test]
    fn uid_is_the_real_one() {
        assert_eq!(
            parse_status_uid(&fixture("linux-v2/proc/4242/status")),
            Some(1000)
        );
        assert_eq!(parse_status_uid("Name:\tx\n"), None);
        assert_eq!(parse_status_uid(""), None);
    }

    #[test]
    fn cgroup_v2_and_v1_lines() {
        let v2 = parse_cgroup(&fixture("linux-v2/proc/4242/cgroup"));
        assert_eq!(v2.len(), 1);
        assert!(v2[0].is_v2());
        assert!(v2[0].path.starts_with("/system.slice/docker-"));

        let v1 = parse_cgroup(&fixture("linux-v1/proc/777/cgroup"));
        assert_eq!(v1.len(), 4);
        assert_eq!(v1[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(v1[2].controllers, ["name=systemd"]);
        assert!(v1[3].is_v2());

        assert_eq!(parse_cgroup("not a cgroup file"), []);
        assert_eq!(parse_cgroup("0::relative\n"), []);
    }

    /// Every prefix and suffix of real files (as a file cut short or a
    /// crafted `--fs-root` could hold) parses or is refused, never panics.
    #[test]
    fn cut_files_never_panic() {
        for name in [
            "linux-v2/proc/4242/stat",
            "linux-v2/proc/4242/status",
            "linux-v2/proc/4242/cgroup",
            "linux-v1/proc/777/cgroup",
        ] {
            let text = fixture(name);
            for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                for part in [&text[..cut], &text[cut..]] {
                    let _ = (parse_stat(part), parse_status_uid(part), parse_cgroup(part));
                }
            }
        }
    }
}
