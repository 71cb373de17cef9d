//! Finding the cgroup hierarchies in `/proc/self/mountinfo`.
//!
//! Every line of mountinfo describes one mount:
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)      (6)       (7)  (8) (9)    (10)       (11)
//! ```
//!
//! procfs-core parses the lines. Only mounts of type `cgroup` (v1) and
//! `cgroup2` (v2) matter. A v1 hierarchy is known by its controllers (the
//! super options, field 11, without the generic ones: `cpu,cpuacct`,
//! `memory`, `name=systemd`). The same hierarchy mounted twice (same
//! device number, field 3) is kept once.

use procfs_core::process::MountInfo;

/// The cgroup version of a hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// cgroup v1: one hierarchy per controller set.
    V1 {
        /// Controllers, sorted (`["cpu", "cpuacct"]`, `["name=systemd"]`).
        controllers: Vec<String>,
    },
    /// cgroup v2, the unified hierarchy.
    V2,
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted (`/sys/fs/cgroup`, `/sys/fs/cgroup/memory`).
    pub mount_point: String,
    /// v1 controllers or v2.
    pub version: Version,
}

/// Super options of a v1 cgroup mount that are not controllers.
const NOT_CONTROLLERS: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "nsdelegate",
    "favordynmods",
];

/// The cgroup mounts listed in a mountinfo text, in file order, without
/// duplicates of the same hierarchy. Lines that do not parse are skipped.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<Mount> {
    let mut devices: Vec<String> = Vec::new();
    let mut mounts = Vec::new();
    for line in mountinfo.lines() {
        let Some((device, mount)) = MountInfo::from_line(line).ok().and_then(cgroup_mount) else {
            continue;
        };
        if devices.contains(&device) {
            continue;
        }
        devices.push(device);
        mounts.push(mount);
    }
    mounts
}

/// The device number and the mount of a cgroup hierarchy (`None` for
/// any other mount).
fn cgroup_mount(m: MountInfo) -> Option<(String, Mount)> {
    let version = match m.fs_type.as_str() {
        "cgroup2" => Version::V2,
        "cgroup" => {
            let mut controllers: Vec<String> = m
                .super_options
                .into_iter()
                .filter_map(|(option, value)| match value {
                    None if !NOT_CONTROLLERS.contains(&option.as_str()) => Some(option),
                    Some(name) if option == "name" => Some(format!("name={name}")),
                    _ => None,
                })
                .collect();
            controllers.sort();
            if controllers.is_empty() {
                return None;
            }
            Version::V1 { controllers }
        }
        _ => return None,
    };
    let mount_point = unescape(&m.mount_point.to_string_lossy());
    Some((
        m.majmin,
        Mount {
            mount_point,
            version,
        },
    ))
}

/// Undoes the octal escapes of mountinfo paths (`\040` is a space):
/// procfs-core 0.18 undoes them in `/proc/mounts` but not in mountinfo.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::fixture;

    #[test]
    fn v2_host() {
        let mounts = cgroup_mounts(&fixture("linux-v2/proc/self/mountinfo"));
        assert_eq!(
            mounts,
            [Mount {
                mount_point: "/sys/fs/cgroup".into(),
                version: Version::V2
            }]
        );
    }

    #[test]
    fn hybrid_host_lists_every_hierarchy_once() {
        let mounts = cgroup_mounts(&fixture("linux-v1/proc/self/mountinfo"));
        let points: Vec<&str> = mounts.iter().map(|m| m.mount_point.as_str()).collect();
        assert_eq!(
            points,
            [
                "/sys/fs/cgroup/cpu,cpuacct",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/systemd",
                "/sys/fs/cgroup/unified"
            ]
        );
        assert_eq!(
            mounts[0].version,
            Version::V1 {
                controllers: vec!["cpu".into(), "cpuacct".into()]
            }
        );
        assert_eq!(
            mounts[2].version,
            Version::V1 {
                controllers: vec!["name=systemd".into()]
            }
        );
        assert_eq!(mounts[3].version, Version::V2);
    }

    #[test]
    fn escapes_and_garbage() {
        let text = "1 2 0:9 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\nnot a line\n\
                    3 2 0:10 / /x rw - cgroup cgroup rw,xattr\n";
        let mounts = cgroup_mounts(text);
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].mount_point, "/sys/fs/my cgroup");
    }

    #[test]
    fn cut_lines_never_panic() {
        let text = fixture("linux-v1/proc/self/mountinfo");
        for cut in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let _ = (cgroup_mounts(&text[..cut]), cgroup_mounts(&text[cut..]));
        }
    }
}
