//! Parsing the per-process files of Linux's `/proc`: `stat`, `status` and
//! `cgroup`. Pure text functions; the apps provider reads the files.

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

/// Parses `/proc/<pid>/stat`. The name is taken between the first `(` and
/// the last `)`, so names with spaces or parentheses parse; the numeric
/// fields are counted after it.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    // After ")": field 3 (state) is the first.
    let rest: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    Some(Stat {
        comm,
        ppid: field(4)?.parse().ok()?,
        starttime: field(22)?.parse().ok()?,
    })
}

/// The real uid from `/proc/<pid>/status` (the first number of `Uid:`).
pub fn parse_status_uid(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
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

/// Parses `/proc/<pid>/cgroup`; malformed lines are skipped.
pub fn parse_cgroup(text: &str) -> Vec<CgroupLine> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let hierarchy_id = parts.next()?.parse().ok()?;
            let mut controllers: Vec<String> = parts
                .next()?
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            controllers.sort();
            let path = parts.next()?.to_owned();
            path.starts_with('/').then_some(CgroupLine {
                hierarchy_id,
                controllers,
                path,
            })
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
    fn truncated_stat_is_rejected() {
        assert_eq!(parse_stat("42 (x) S 1 2 3"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn uid_is_the_real_one() {
        assert_eq!(
            parse_status_uid(&fixture("linux-v2/proc/4242/status")),
            Some(1000)
        );
        assert_eq!(parse_status_uid("Name:\tx\n"), None);
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
    }
}
