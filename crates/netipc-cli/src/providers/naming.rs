//! What a cgroup is called, derived from its path alone.
//!
//! Netdata's cgroups plugin first gives a cgroup a name made from its
//! path, then renames it with an external script that asks Docker,
//! Kubernetes or libvirt for the real names. This provider does only the
//! first, offline part, from well-known path shapes (relative to the
//! hierarchy root, cgroup v1 and v2, systemd and cgroupfs drivers):
//!
//! | path (last components) | orchestrator | name | labels |
//! |---|---|---|---|
//! | `…kubepods…/pod<uid>…/<runtime>-<id>.scope`, `…/kubepods/<qos>/pod<uid>/<id>` | k8s | short id (12 hex digits) | `container_id`, `pod_uid`, `qos_class`, `runtime` |
//! | `…kubepods…-pod<uid>.slice`, `…/kubepods/<qos>/pod<uid>` | k8s | `pod_<uid>` | `pod_uid`, `qos_class` |
//! | `docker-<id>.scope`, `/docker/<id>` | docker | short id | `container_id` |
//! | `libpod-<id>.scope` (`libpod-conmon-<id>.scope`: `<short id>-conmon`) | podman | short id | `container_id` |
//! | `lxc.payload.<name>`, `/lxc/<name>` | lxc | `<name>` | — |
//! | `machine-qemu\x2d<n>\x2d<name>.scope`, `/machine/qemu-<n>-<name>.libvirt-qemu` | kvm | `<name>` | — |
//! | `systemd-nspawn@<name>.service`, `machine.slice/machine-<name>.scope` | nspawn | `<name>` | — |
//! | `<unit>.service`, `.scope`, `.slice`, … | systemd | unit without the suffix, `\xNN` unescaped | `unit` |
//! | anything else | unknown | the path without its leading `/`, `/` → `_` | — |
//!
//! `enabled` follows a simplified form of the plugin's default "enable by
//! default cgroups matching" pattern: containers, pods' containers, VMs,
//! scopes and the services of `system.slice` are enabled; slices, mounts,
//! sockets, `init.scope`, `run-*.scope`, libvirt's `vcpu*`/`emulator`
//! helpers, Kubernetes' pod and QoS levels and the bare parents (`/docker`,
//! `/lxc`, `/machine`, …) are not. `options` uses the plugin's flag
//! values: `SYSTEM_SLICE_SERVICE` (0x2) for services of `system.slice`,
//! `IS_UNIFIED` (0x4) for cgroups of a v2 hierarchy; the table adds
//! `DISABLED_DUPLICATE` (0x1) for a repeated name.

use netipc::codec::orchestrator;

pub use netipc::netdata::cgroup_options::{
    DISABLED_DUPLICATE as OPTION_DISABLED_DUPLICATE, IS_UNIFIED as OPTION_IS_UNIFIED,
    SYSTEM_SLICE_SERVICE as OPTION_SYSTEM_SLICE_SERVICE,
};

/// What a path says about its cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The name consumers see (never empty).
    pub name: String,
    /// An [`orchestrator`] value.
    pub orchestrator: u16,
    /// Extra metadata for lookup answers.
    pub labels: Vec<(String, String)>,
    /// Whether Netdata would collect it by default.
    pub enabled: bool,
    /// Netdata's cgroup option flags.
    pub options: u32,
}

/// Names the cgroup at `rel_path` (relative to its hierarchy root, with a
/// leading `/`; not the root itself). `unified` tells whether it lives in a
/// cgroup v2 hierarchy.
pub fn derive(rel_path: &str, unified: bool) -> Derived {
    let parts: Vec<&str> = rel_path.split('/').filter(|p| !p.is_empty()).collect();
    let leaf = parts.last().copied().unwrap_or("");
    let parent = parts.len().checked_sub(2).map_or("", |i| parts[i]);
    let mut d = kubernetes(&parts)
        .or_else(|| containers(leaf, parent, parts.len()))
        .or_else(|| machines(leaf, parent))
        .or_else(|| systemd(leaf, parent))
        .unwrap_or_else(|| fallback(rel_path, &parts, leaf));
    if unified {
        d.options |= OPTION_IS_UNIFIED;
    }
    if d.name.is_empty() {
        d.name = fallback(rel_path, &parts, leaf).name;
    }
    d
}

fn item(name: impl Into<String>, orchestrator: u16, enabled: bool) -> Derived {
    Derived {
        name: name.into(),
        orchestrator,
        labels: Vec::new(),
        enabled,
        options: 0,
    }
}

fn label(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// A container id: at least 12 lowercase hex digits.
fn is_hex_id(s: &str) -> bool {
    s.len() >= 12
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn short(id: &str) -> &str {
    &id[..12]
}

/// `<prefix><id><suffix>` → `id` when it is a container id.
fn id_between<'a>(s: &'a str, prefix: &str, suffix: &str) -> Option<&'a str> {
    let id = s.strip_prefix(prefix)?;
    let id = id.strip_suffix(suffix).unwrap_or(id);
    is_hex_id(id).then_some(id)
}

/// Undoes systemd's unit-name escapes (`\x2d` is `-`).
pub fn systemd_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i..i + 4)
            .filter(|e| e[0] == b'\\' && e[1] == b'x')
            .and_then(|e| std::str::from_utf8(&e[2..]).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
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

const RUNTIMES: &[(&str, &str)] = &[
    ("cri-containerd-", "containerd"),
    ("crio-", "cri-o"),
    ("docker-", "docker"),
    ("libpod-", "podman"),
];

fn kubernetes(parts: &[&str]) -> Option<Derived> {
    let first = parts.iter().position(|p| p.starts_with("kubepods"))?;
    let below = &parts[first..];
    let mut qos = "guaranteed";
    let mut pod = None;
    for (i, p) in below.iter().enumerate() {
        for q in ["burstable", "besteffort"] {
            if p.contains(q) {
                qos = q;
            }
        }
        let uid = p
            .strip_suffix(".slice")
            .and_then(|s| s.rsplit_once("-pod"))
            .map(|(_, uid)| uid.replace('_', "-"))
            .or_else(|| p.strip_prefix("pod").map(str::to_owned));
        if let Some(uid) = uid.filter(|u| !u.is_empty()) {
            pod = Some((i, uid));
        }
    }
    let leaf = below.last().copied().unwrap_or("");
    let Some((pod_at, uid)) = pod else {
        let name = leaf.strip_suffix(".slice").unwrap_or(leaf);
        return Some(item(name, orchestrator::K8S, false));
    };
    let mut labels = vec![label("pod_uid", &uid), label("qos_class", qos)];
    if pod_at + 1 == below.len() {
        let mut d = item(format!("pod_{uid}"), orchestrator::K8S, false);
        d.labels = labels;
        return Some(d);
    }
    let container = RUNTIMES
        .iter()
        .find_map(|(prefix, runtime)| Some((id_between(leaf, prefix, ".scope")?, *runtime)))
        .or_else(|| is_hex_id(leaf).then_some((leaf, "")));
    match container {
        Some((id, runtime)) => {
            labels.insert(0, label("container_id", id));
            if !runtime.is_empty() {
                labels.push(label("runtime", runtime));
            }
            let mut d = item(short(id), orchestrator::K8S, true);
            d.labels = labels;
            Some(d)
        }
        None => {
            // A helper inside a pod (crio-conmon-…, pause sandboxes, …).
            let mut d = item(
                leaf.strip_suffix(".scope").unwrap_or(leaf),
                orchestrator::K8S,
                false,
            );
            d.labels = labels;
            Some(d)
        }
    }
}

fn containers(leaf: &str, parent: &str, depth: usize) -> Option<Derived> {
    let container = |id: &str, orch: u16, name: String, enabled: bool| {
        let mut d = item(name, orch, enabled);
        d.labels = vec![label("container_id", id)];
        d
    };
    if let Some(id) = id_between(leaf, "docker-", ".scope")
        .or_else(|| (parent == "docker" && is_hex_id(leaf)).then_some(leaf))
    {
        return Some(container(id, orchestrator::DOCKER, short(id).into(), true));
    }
    if let Some(id) = id_between(leaf, "libpod-conmon-", ".scope") {
        let name = format!("{}-conmon", short(id));
        return Some(container(id, orchestrator::PODMAN, name, false));
    }
    if let Some(id) = id_between(leaf, "libpod-", ".scope") {
        return Some(container(id, orchestrator::PODMAN, short(id).into(), true));
    }
    if let Some(name) = leaf.strip_prefix("lxc.payload.") {
        return Some(item(name, orchestrator::LXC, true));
    }
    if let Some(name) = leaf.strip_prefix("lxc.monitor.") {
        return Some(item(format!("{name}-monitor"), orchestrator::LXC, false));
    }
    if parent == "lxc" && depth == 2 {
        return Some(item(leaf, orchestrator::LXC, true));
    }
    None
}

/// `qemu-<n>-<name>` → `name`.
fn qemu_name(s: &str) -> Option<&str> {
    let rest = s.strip_prefix("qemu-")?;
    let (n, name) = rest.split_once('-')?;
    (n.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()).then_some(name)
}

fn machines(leaf: &str, parent: &str) -> Option<Derived> {
    let unescaped = systemd_unescape(leaf);
    if let Some(machine) = unescaped
        .strip_prefix("machine-")
        .and_then(|m| m.strip_suffix(".scope"))
    {
        if let Some(name) = qemu_name(machine) {
            return Some(item(name, orchestrator::KVM, true));
        }
        if let Some(name) = machine
            .strip_prefix("lxc-")
            .and_then(|r| r.split_once('-'))
            .map(|(_, name)| name)
        {
            return Some(item(name, orchestrator::LXC, true));
        }
        if parent == "machine.slice" {
            return Some(item(machine, orchestrator::NSPAWN, true));
        }
    }
    if let Some(name) = leaf.strip_suffix(".libvirt-qemu").and_then(qemu_name) {
        return Some(item(name, orchestrator::KVM, true));
    }
    if let Some(name) = unescaped
        .strip_prefix("systemd-nspawn@")
        .and_then(|m| m.strip_suffix(".service"))
    {
        return Some(item(name, orchestrator::NSPAWN, true));
    }
    None
}

const UNIT_SUFFIXES: &[&str] = &[".service", ".scope", ".slice", ".mount", ".socket", ".swap"];

fn systemd(leaf: &str, parent: &str) -> Option<Derived> {
    let suffix = UNIT_SUFFIXES.iter().find(|s| leaf.ends_with(**s))?;
    let unescaped = systemd_unescape(leaf);
    let name = unescaped.strip_suffix(suffix).unwrap_or(&unescaped);
    let system_service = *suffix == ".service" && parent == "system.slice";
    let enabled = match *suffix {
        ".service" => system_service || parent == "machine.slice",
        ".scope" => {
            !(leaf == "init.scope" || (parent == "system.slice" && leaf.starts_with("run-")))
        }
        _ => false,
    };
    let mut d = item(name, orchestrator::SYSTEMD, enabled);
    d.labels = vec![label("unit", &unescaped)];
    if system_service {
        d.options |= OPTION_SYSTEM_SLICE_SERVICE;
    }
    Some(d)
}

/// Top-level cgroups that only group others.
const BARE_PARENTS: &[&str] = &[
    "docker",
    "lxc",
    "lxc.pivot",
    "machine",
    "qemu",
    "system",
    "systemd",
    "user",
];

fn fallback(rel_path: &str, parts: &[&str], leaf: &str) -> Derived {
    let name = rel_path.trim_start_matches('/').replace('/', "_");
    let helper = leaf.starts_with("vcpu") || leaf == "emulator" || leaf == "libvirt";
    let bare = parts.len() == 1 && BARE_PARENTS.contains(&leaf);
    let name = if name.is_empty() {
        "root".to_owned()
    } else {
        name
    };
    item(name, orchestrator::UNKNOWN, !(helper || bare))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::fixture;

    /// Every line of `cgroup-names.tsv`: path, orchestrator, name, enabled.
    #[test]
    fn names_of_the_fixture_table() {
        let table = fixture("cgroup-names.tsv");
        let mut checked = 0;
        for line in table
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 4, "malformed fixture line {line:?}");
            let d = derive(cols[0], true);
            let orch = orchestrator::name(d.orchestrator).unwrap_or("?");
            assert_eq!(
                (orch, d.name.as_str(), d.enabled),
                (cols[1], cols[2], cols[3] == "1"),
                "for {}",
                cols[0]
            );
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} fixture lines");
    }

    #[test]
    fn kubernetes_labels() {
        let d = derive(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12ab_34cd.slice/\
             cri-containerd-0123456789abcdef0123.scope",
            true,
        );
        assert_eq!(
            d.labels,
            [
                label("container_id", "0123456789abcdef0123"),
                label("pod_uid", "12ab-34cd"),
                label("qos_class", "burstable"),
                label("runtime", "containerd"),
            ]
        );
    }

    #[test]
    fn options() {
        assert_eq!(
            derive("/system.slice/ssh.service", true).options,
            OPTION_SYSTEM_SLICE_SERVICE | OPTION_IS_UNIFIED
        );
        assert_eq!(derive("/user.slice/x.service", false).options, 0);
        assert_eq!(
            derive("/docker/0123456789ab", false).labels,
            [label("container_id", "0123456789ab")]
        );
    }

    #[test]
    fn unescape() {
        assert_eq!(systemd_unescape("a\\x2db\\x2"), "a-b\\x2");
        assert_eq!(systemd_unescape("\\x20x"), " x");
    }
}
