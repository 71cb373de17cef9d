//! The `examples` step: runs netipc's examples together, as a plugin author
//! would, and checks what they print.
//!
//! The provider starts first; once it prints `ready`, each consumer runs to
//! completion and must exit 0 and print the expected items. Then the
//! provider's stdin is closed, it must exit 0, and its run directory must
//! be empty. Every wait has a watchdog, and a failure shows the captured
//! output of the program concerned.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::cross::TARGET;
use crate::process::Background;
use crate::wine::Wine;

/// The provider's service name prefix in the runs (not the default, so a
/// provider running on the machine is not disturbed).
const PREFIX: &str = "xtask-examples";
/// Time for the provider to start serving (Wine can be slow to start).
const READY_LIMIT: Duration = Duration::from_secs(120);
/// Time for a consumer to do its work and exit.
const CONSUMER_LIMIT: Duration = Duration::from_secs(120);
/// Time for the provider to stop once its stdin is closed.
const STOP_LIMIT: Duration = Duration::from_secs(60);

/// What each consumer must print: for every group, one line containing all
/// of its fragments. Mirrors the table in `examples/cgroups_provider.rs`
/// and the default paths of `examples/lookup_consumer.rs`.
pub const CONSUMERS: &[(&str, &[&[&str]])] = &[
    (
        "snapshot_consumer",
        &[
            &["generation 1", "3 cgroups"],
            &["nginx", "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope"],
            &[
                "checkout-api",
                "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
            ],
            &["netdata", "/sys/fs/cgroup/system.slice/netdata.service"],
        ],
    ),
    (
        "lookup_consumer",
        &[
            &["generation 1", "3 paths"],
            &[
                "KNOWN",
                "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
                "-> nginx (docker)",
                "image=nginx:1.27",
            ],
            &[
                "KNOWN",
                "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
                "-> checkout-api (k8s)",
                "namespace=shop",
            ],
            &[
                "UNKNOWN_RETRY_LATER",
                "/sys/fs/cgroup/system.slice/not-a-container.scope",
            ],
        ],
    ),
];

/// How to start the example binaries of one build.
pub struct Examples {
    /// Directory of the built examples.
    dir: PathBuf,
    /// `.exe` for Windows builds.
    suffix: &'static str,
    /// A loader to run them with (Wine) and its environment.
    loader: Option<(PathBuf, Vec<(&'static str, OsString)>)>,
}

impl Examples {
    /// Host builds in `target_dir`.
    pub fn native(target_dir: &Path) -> Self {
        Self {
            dir: target_dir.join("debug/examples"),
            suffix: "",
            loader: None,
        }
    }

    /// Windows builds in `target_dir`, run under `wine`.
    pub fn wine(target_dir: &Path, wine: &Wine) -> Self {
        Self {
            dir: target_dir.join(TARGET).join("debug/examples"),
            suffix: ".exe",
            loader: Some((wine.wine64().to_path_buf(), wine.env())),
        }
    }

    fn command(&self, example: &str) -> Command {
        let binary = self.dir.join(format!("{example}{}", self.suffix));
        match &self.loader {
            None => Command::new(binary),
            Some((loader, envs)) => {
                let mut cmd = Command::new(loader);
                cmd.arg(binary)
                    .envs(envs.iter().map(|(key, value)| (key, value)));
                cmd
            }
        }
    }

    /// Runs provider and consumers in a fresh run directory named after
    /// `lane`, and removes that directory afterwards.
    pub fn run(&self, lane: &str) -> Result<(), String> {
        with_run_dir(&format!("netipc-examples-{lane}"), "the provider", |dir| {
            self.exercise(dir)
        })
    }

    fn exercise(&self, run_dir: &str) -> Result<(), String> {
        let mut provider = self.command("cgroups_provider");
        provider.args([run_dir, PREFIX]);
        let mut provider = Background::spawn(&mut provider, true)
            .map_err(|err| format!("cgroups_provider: {err}"))?;
        provider
            .wait_for_line("ready", READY_LIMIT)
            .map_err(|err| failed("cgroups_provider", &err, &provider))?;

        for &(consumer, expected) in CONSUMERS {
            let mut cmd = self.command(consumer);
            cmd.args([run_dir, PREFIX]);
            let mut child =
                Background::spawn(&mut cmd, false).map_err(|err| format!("{consumer}: {err}"))?;
            child
                .wait(CONSUMER_LIMIT)
                .map_err(|err| failed(consumer, &err.to_string(), &child))?;
            let stdout = child.stdout();
            missing_lines(&stdout, expected)
                .map_err(|missing| failed(consumer, &missing, &child))?;
            eprintln!("xtask: examples: {consumer} exited 0 and printed:");
            for line in stdout.lines() {
                eprintln!("  | {line}");
            }
        }

        provider.close_stdin();
        provider
            .wait(STOP_LIMIT)
            .map_err(|err| failed("cgroups_provider", &err.to_string(), &provider))?;
        eprintln!("xtask: examples: cgroups_provider exited 0 after its stdin closed:");
        eprint!("{}", provider.transcript());
        Ok(())
    }
}

/// Runs `body` with a fresh run directory `<tmp>/<name>-<pid>`, removes
/// the directory afterwards, and fails when `body` failed or when
/// `providers` (who ran in it) left anything in it.
pub fn with_run_dir<T>(
    name: &str,
    providers: &str,
    body: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, String> {
    // Short and absolute: Unix socket paths are limited to 107 bytes.
    let run_dir = env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&run_dir);
    fs::create_dir_all(&run_dir)
        .map_err(|err| format!("cannot create {}: {err}", run_dir.display()))?;
    let result = run_dir
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", run_dir.display()))
        .and_then(body);
    let leftovers = entries(&run_dir);
    let _ = fs::remove_dir_all(&run_dir);
    let value = result?;
    if leftovers.is_empty() {
        eprintln!("xtask: the run directory is empty after {providers} stopped");
        Ok(value)
    } else {
        Err(format!(
            "{providers} left {} in the run directory",
            leftovers.join(", ")
        ))
    }
}

/// Prints `program`'s captured output and returns the one-line error.
pub fn failed(program: &str, what: &str, child: &Background) -> String {
    eprintln!("xtask: {program} failed: {what}; its output:");
    eprint!("{}", child.transcript());
    format!("{program}: {what}")
}

/// Checks that for each group of `expected` fragments one line of `output`
/// contains them all.
pub fn missing_lines(output: &str, expected: &[&[&str]]) -> Result<(), String> {
    let missing: Vec<String> = expected
        .iter()
        .filter(|fragments| {
            !output
                .lines()
                .any(|line| fragments.iter().all(|fragment| line.contains(fragment)))
        })
        .map(|fragments| format!("[{}]", fragments.join(" ... ")))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("no output line with {}", missing.join(", ")))
    }
}

/// The names in `dir`, sorted (none if it cannot be read).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn expected_lines_need_all_fragments_on_one_line() {
        let output = "header: generation 1, 3 cgroups\n  KNOWN /a -> x\n  UNKNOWN /b\n";
        assert_eq!(
            missing_lines(output, &[&["generation 1", "3 cgroups"], &["KNOWN", "/a"]]),
            Ok(())
        );
        assert_eq!(
            missing_lines(output, &[&["KNOWN", "/c"], &["/a"], &["nothing"]]),
            Err("no output line with [KNOWN ... /c], [nothing]".into())
        );
    }

    #[test]
    fn commands_point_at_the_build() {
        let native = Examples::native(Path::new("/w/target"));
        let cmd = native.command("lookup_consumer");
        assert_eq!(
            cmd.get_program(),
            "/w/target/debug/examples/lookup_consumer"
        );
        assert_eq!(cmd.get_args().count(), 0);

        let windows = Examples {
            dir: PathBuf::from("/w/target/x86_64-pc-windows-gnu/debug/examples"),
            suffix: ".exe",
            loader: Some((
                "/usr/lib/wine/wine64".into(),
                vec![("WINEDEBUG", "-all".into())],
            )),
        };
        let cmd = windows.command("cgroups_provider");
        assert_eq!(cmd.get_program(), "/usr/lib/wine/wine64");
        assert_eq!(
            cmd.get_args().collect::<Vec<_>>(),
            ["/w/target/x86_64-pc-windows-gnu/debug/examples/cgroups_provider.exe"]
        );
        assert_eq!(cmd.get_envs().count(), 1);
    }

    /// Stand-ins for the example binaries: shell scripts in a fake target
    /// dir. `provider` and `lookup` are the bodies of the provider and of the
    /// lookup consumer; the snapshot consumer prints what is expected.
    struct FakeBuild(PathBuf);

    impl FakeBuild {
        fn new(name: &str, provider: &str, lookup: &str) -> Self {
            let target =
                env::temp_dir().join(format!("xtask-examples-{name}-{}", std::process::id()));
            let dir = target.join("debug/examples");
            fs::create_dir_all(&dir).unwrap();
            let expected = |consumer: &str| {
                let (_, groups) = CONSUMERS
                    .iter()
                    .find(|(name, _)| *name == consumer)
                    .unwrap();
                let lines: Vec<String> = groups.iter().map(|group| group.join(" ")).collect();
                format!("printf '%s\\n' '{}'", lines.join("' '"))
            };
            let lookup = lookup.replace("EXPECTED", &expected("lookup_consumer"));
            for (name, body) in [
                ("cgroups_provider", provider),
                ("snapshot_consumer", &expected("snapshot_consumer")),
                ("lookup_consumer", &lookup),
            ] {
                let path = dir.join(name);
                fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
                fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            }
            Self(target)
        }

        fn run(&self, lane: &str) -> Result<(), String> {
            Examples::native(&self.0).run(lane)
        }
    }

    impl Drop for FakeBuild {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const PROVIDER: &str = "echo ready; cat > /dev/null; echo stopped >&2";

    #[test]
    fn a_well_behaved_set_passes() {
        let build = FakeBuild::new("ok", PROVIDER, "EXPECTED");
        assert_eq!(build.run("xtask-test-ok"), Ok(()));
    }

    #[test]
    fn leftovers_output_and_exit_codes_are_checked() {
        let leftover = FakeBuild::new(
            "leftover",
            "echo ready; cat > /dev/null; touch \"$1/svc.sock\"",
            "EXPECTED",
        );
        assert_eq!(
            leftover.run("xtask-test-leftover"),
            Err("the provider left svc.sock in the run directory".into())
        );

        let wrong = FakeBuild::new("wrong", PROVIDER, "echo 'lookup: generation 1, 3 paths'");
        let err = wrong.run("xtask-test-wrong").unwrap_err();
        assert!(
            err.starts_with("lookup_consumer: no output line with [KNOWN ... "),
            "{err}"
        );

        let failing = FakeBuild::new("failing", PROVIDER, "EXPECTED; exit 3");
        assert_eq!(
            failing.run("xtask-test-failing"),
            Err("lookup_consumer: exit code 3".into())
        );

        let silent = FakeBuild::new("silent", "echo starting; exit 1", "EXPECTED");
        let err = silent.run("xtask-test-silent").unwrap_err();
        assert!(
            err.contains("closed its stdout without printing `ready`"),
            "{err}"
        );

        let stubborn = FakeBuild::new(
            "stubborn",
            "echo ready; cat > /dev/null; exit 2",
            "EXPECTED",
        );
        assert_eq!(
            stubborn.run("xtask-test-stubborn"),
            Err("cgroups_provider: exit code 2".into())
        );
    }

    #[test]
    fn expectations_match_the_example_sources() {
        // The cgroup paths must be those of the examples, or the step could only fail.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/netipc/examples");
        let sources: String = ["cgroups_provider.rs", "lookup_consumer.rs"]
            .iter()
            .map(|name| fs::read_to_string(root.join(name)).unwrap())
            .collect();
        let paths = CONSUMERS
            .iter()
            .flat_map(|(_, groups)| groups.iter().copied().flatten())
            .filter(|fragment| fragment.starts_with('/'));
        for path in paths {
            assert!(sources.contains(path), "{path} is in no example");
        }
    }
}
