//! The go lane's `examples` step: the Go examples (`go/examples/provider`,
//! `snapshot-consumer`, `lookup-consumer`; one source, no build tags)
//! against each other and against the Rust core, as a plugin author
//! would run them. The windows lane's `go-examples` step runs parts 1 to 3
//! with the Windows builds of the same programs under Wine.
//!
//! 1. The Go provider serves its built-in table; both Go consumers run
//!    against it, and so do the Rust consumers (`netipc call KIND --json`
//!    of every kind, `netipc cache --name ...`), whose answers are checked
//!    item by item and saved.
//! 2. The Go provider is stopped with Ctrl-C (SIGINT): it must exit 0 and
//!    leave the run directory empty.
//! 3. The Rust providers (`netipc serve KIND --data FILE`) serve what was
//!    saved, and both Go consumers must print the same answers against
//!    them.
//! 4. The Go provider serves this machine's cgroups and processes for a
//!    `-duration`; `netipc call` of the snapshot and of PID 1 must succeed,
//!    and the provider must stop by itself, exit 0, and leave nothing.
//!
//! Every wait has a watchdog, and a failure shows the program's output.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::examples::{failed, missing_lines, with_run_dir};
use crate::go_lane::GoLane;
use crate::process::Background;
use crate::wine::{self, Wine};

/// Time for a provider to start serving.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// Time for a consumer (or a `netipc call`) to finish.
const PROGRAM_LIMIT: Duration = Duration::from_secs(60);
/// Time for a provider to stop once asked.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// How long the provider serves this machine's data in part 4.
const HOST_DURATION: &str = "20s";
/// Time for it to stop by itself after that.
const HOST_LIMIT: Duration = Duration::from_secs(60);

/// A cgroup of the table: path, name, orchestrator name, labels.
type Cgroup = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The Go provider's built-in table (`go/examples/provider/table.go`).
const CGROUPS: &[Cgroup] = &[
    (
        "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
        "nginx",
        "docker",
        &[("image", "nginx:1.27")],
    ),
    (
        "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
        "checkout-api",
        "k8s",
        &[("namespace", "shop"), ("pod", "checkout-api-7d9f")],
    ),
    (
        "/sys/fs/cgroup/system.slice/netdata.service",
        "netdata",
        "systemd",
        &[],
    ),
];
/// A path the table does not know (answered UNKNOWN_RETRY_LATER).
const UNKNOWN_PATH: &str = "/sys/fs/cgroup/system.slice/not-a-container.scope";
/// Processes of the table as (pid, comm, cgroup path or ""), and a PID it
/// does not know.
const PROCESSES: &[(u32, &str, &str)] = &[
    (1, "systemd", ""),
    (
        4242,
        "nginx",
        "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
    ),
    (
        5151,
        "checkout-api",
        "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
    ),
];
const UNKNOWN_PID: u32 = 99_999;

/// What `snapshot-consumer` prints (one line per group of fragments)
/// against a provider of the table, asked for `nginx` and `no-such-cgroup`.
const SNAPSHOT_CONSUMER: &[&[&str]] = &[
    &["refresh 1:", "generation 1", "3 cgroups"],
    &["refresh 2:", "generation 1", "3 cgroups"],
    &["nginx", "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope"],
    &[
        "checkout-api",
        "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
    ],
    &["netdata", "/sys/fs/cgroup/system.slice/netdata.service"],
    &[
        "Get(nginx)",
        "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
    ],
    &["Get(no-such-cgroup)", "not cached"],
];

/// What `lookup-consumer` prints with its default keys (the table's first
/// two paths and [`UNKNOWN_PATH`]; PIDs 1, 4242 and [`UNKNOWN_PID`]).
const LOOKUP_CONSUMER: &[&[&str]] = &[
    &["cgroups-lookup", "generation 1", "3 paths"],
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
        "pod=checkout-api-7d9f",
    ],
    &["UNKNOWN_RETRY_LATER", UNKNOWN_PATH],
    &["apps-lookup", "generation 1", "3 processes"],
    &["KNOWN", "pid 1 ", "systemd", "HOST_ROOT"],
    &[
        "KNOWN",
        "pid 4242 ",
        "nginx",
        "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
        "-> nginx (docker)",
    ],
    &["UNKNOWN", "pid 99999"],
];

/// What `netipc cache --name nginx --name netdata` prints against the table.
const RUST_CACHE: &[&[&str]] = &[
    &["generation 1", "3 cgroups"],
    &["nginx", "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope"],
    &["netdata", "/sys/fs/cgroup/system.slice/netdata.service"],
];

/// The services of the examples (the conventional names).
const KINDS: [&str; 3] = ["cgroups-snapshot", "cgroups-lookup", "apps-lookup"];

/// The packages of the examples.
pub const EXAMPLES: [&str; 3] = [
    "./examples/provider",
    "./examples/snapshot-consumer",
    "./examples/lookup-consumer",
];

/// Runs the step (see the module docs); returns what it ran.
pub fn run(lane: &GoLane, target: &Path) -> Result<String, String> {
    let bin = lane.build(&EXAMPLES)?.to_path_buf();
    check(Programs {
        bin,
        netipc: lane.netipc().to_path_buf(),
        data: target.join("go/examples-data"),
        wine: None,
    })
}

/// The programs of the step: where they are and how they start.
pub struct Programs<'a> {
    /// The directory of the Go examples.
    pub bin: PathBuf,
    /// The `netipc` CLI.
    pub netipc: PathBuf,
    /// Where the answers of part 1 are saved.
    pub data: PathBuf,
    /// Wine, when they are Windows programs. Then part 4 is left out: its
    /// provider serves Linux's cgroup tree and `/proc`.
    pub wine: Option<&'a Wine>,
}

/// Runs parts 1 to 3 (see the module docs) with `programs`, and part 4
/// unless they run under Wine; returns what it ran.
pub fn check(programs: Programs) -> Result<String, String> {
    fs::create_dir_all(&programs.data)
        .map_err(|err| format!("cannot create {}: {err}", programs.data.display()))?;
    let name = match programs.wine {
        Some(_) => "netipc-go-examples-wine",
        None => "netipc-go-examples",
    };
    let run = Run { programs, runs: 0 };
    let mut run = with_run_dir(name, "the providers", |dir| {
        let mut run = run;
        run.go_provider(dir)?;
        run.rust_providers(dir)?;
        Ok(run)
    })?;
    if run.programs.wine.is_none() {
        with_run_dir("netipc-go-examples-host", "the provider", |dir| {
            run.host(dir)
        })?;
    }
    Ok(format!("{} programs run", run.runs))
}

struct Run<'a> {
    programs: Programs<'a>,
    /// Programs run to completion so far.
    runs: usize,
}

impl Run<'_> {
    /// A command that starts the program `path` (under Wine if need be).
    fn program(&self, path: &Path) -> Command {
        match self.programs.wine {
            Some(wine) => wine.program(path),
            None => Command::new(path),
        }
    }

    /// `path` as an argument of the programs.
    fn path_arg(&self, path: &Path) -> Result<String, String> {
        match self.programs.wine {
            Some(_) => Ok(wine::windows_path(path)),
            None => path
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{} is not UTF-8", path.display())),
        }
    }

    fn go(&self, name: &str, run_dir: &str) -> Command {
        let exe = match self.programs.wine {
            Some(_) => format!("{name}.exe"),
            None => name.to_owned(),
        };
        let mut cmd = self.program(&self.programs.bin.join(exe));
        cmd.args(["-run-dir", run_dir]);
        cmd
    }

    fn netipc(&self, args: &[&str], run_dir: &str) -> Command {
        let mut cmd = self.program(&self.programs.netipc);
        cmd.args(args).args(["--run-dir", run_dir]);
        cmd
    }

    /// Runs `cmd` to completion and returns its standard output.
    fn complete(&mut self, name: &str, mut cmd: Command) -> Result<String, String> {
        let mut child =
            Background::spawn(&mut cmd, false).map_err(|err| format!("{name}: {err}"))?;
        child
            .wait(PROGRAM_LIMIT)
            .map_err(|err| failed(name, &err.to_string(), &child))?;
        self.runs += 1;
        eprintln!("xtask: go examples: {name} exited 0:");
        eprint!("{}", child.transcript());
        Ok(child.stdout())
    }

    /// Runs a consumer and checks that it prints `expected`.
    fn consumer(&mut self, name: &str, cmd: Command, expected: &[&[&str]]) -> Result<(), String> {
        let stdout = self.complete(name, cmd)?;
        missing_lines(&stdout, expected).map_err(|missing| format!("{name}: {missing}"))
    }

    fn go_consumers(&mut self, run_dir: &str, against: &str) -> Result<(), String> {
        let mut snapshot = self.go("snapshot-consumer", run_dir);
        snapshot.args(["-refreshes", "2", "nginx", "no-such-cgroup"]);
        self.consumer(
            &format!("snapshot-consumer ({against})"),
            snapshot,
            SNAPSHOT_CONSUMER,
        )?;
        let lookup = self.go("lookup-consumer", run_dir);
        self.consumer(
            &format!("lookup-consumer ({against})"),
            lookup,
            LOOKUP_CONSUMER,
        )
    }

    /// Part 1 and 2.
    fn go_provider(&mut self, run_dir: &str) -> Result<(), String> {
        let mut provider = start(self.go("provider", run_dir), "provider", "ready")?;
        self.go_consumers(run_dir, "Go provider")?;

        let pids: Vec<String> = PROCESSES
            .iter()
            .map(|p| p.0)
            .chain([UNKNOWN_PID])
            .map(|pid| pid.to_string())
            .collect();
        let mut paths: Vec<&str> = CGROUPS.iter().map(|c| c.0).collect();
        paths.push(UNKNOWN_PATH);
        for kind in KINDS {
            let mut args = vec!["call", kind, "--json"];
            match kind {
                "cgroups-lookup" => args.extend(&paths),
                "apps-lookup" => args.extend(pids.iter().map(String::as_str)),
                _ => {}
            }
            let json =
                self.complete(&format!("netipc call {kind}"), self.netipc(&args, run_dir))?;
            check_answer(kind, &json).map_err(|err| format!("netipc call {kind} --json: {err}"))?;
            let file = self.programs.data.join(format!("{kind}.json"));
            fs::write(&file, &json)
                .map_err(|err| format!("cannot write {}: {err}", file.display()))?;
        }
        let cache = self.netipc(&["cache", "--name", "nginx", "--name", "netdata"], run_dir);
        self.consumer("netipc cache", cache, RUST_CACHE)?;

        provider.interrupt();
        provider
            .wait(STOP_LIMIT)
            .map_err(|err| failed("provider", &format!("after Ctrl-C: {err}"), &provider))
    }

    /// Part 3.
    fn rust_providers(&mut self, run_dir: &str) -> Result<(), String> {
        let mut providers = Vec::new();
        for kind in KINDS {
            let file = self.path_arg(&self.programs.data.join(format!("{kind}.json")))?;
            let serve = self.netipc(&["serve", kind, "--data", &file, "--stop-on-eof"], run_dir);
            providers.push((
                kind,
                start(serve, &format!("netipc serve {kind}"), "Press Ctrl-C")?,
            ));
        }
        self.go_consumers(run_dir, "Rust providers")?;
        for (kind, provider) in &mut providers {
            provider.close_stdin();
            provider.wait(STOP_LIMIT).map_err(|err| {
                failed(&format!("netipc serve {kind}"), &err.to_string(), provider)
            })?;
        }
        Ok(())
    }

    /// Part 4.
    fn host(&mut self, run_dir: &str) -> Result<(), String> {
        let mut cmd = self.go("provider", run_dir);
        cmd.args(["-source", "host", "-duration", HOST_DURATION]);
        let mut provider = start(cmd, "provider -source host", "ready")?;
        let snapshot = self.netipc(&["call", "cgroups-snapshot"], run_dir);
        self.consumer(
            "netipc call cgroups-snapshot (host)",
            snapshot,
            &[&["cgroups-snapshot", "items"]],
        )?;
        let apps = self.netipc(&["call", "apps-lookup", "1", "--json"], run_dir);
        let json = self.complete("netipc call apps-lookup 1 (host)", apps)?;
        let items = parse(&json)?;
        let status = items.first().and_then(|item| item["status"].as_str());
        if status != Some("KNOWN") {
            return Err(format!(
                "provider -source host: PID 1 is {status:?}, not KNOWN:\n{json}"
            ));
        }
        provider.wait(HOST_LIMIT).map_err(|err| {
            failed(
                "provider -source host",
                &format!("after -duration: {err}"),
                &provider,
            )
        })
    }
}

/// Starts a provider and waits until it prints a line starting with `ready`.
fn start(mut cmd: Command, name: &str, ready: &str) -> Result<Background, String> {
    let mut child = Background::spawn(&mut cmd, true).map_err(|err| format!("{name}: {err}"))?;
    child
        .wait_for(ready, |line| line.starts_with(ready), READY_LIMIT)
        .map_err(|err| failed(name, &err, &child))?;
    Ok(child)
}

/// The items of a `netipc call --json` answer.
fn parse(json: &str) -> Result<Vec<Value>, String> {
    let value: Value =
        serde_json::from_str(json).map_err(|err| format!("not JSON ({err}):\n{json}"))?;
    match value.get("items").and_then(Value::as_array) {
        Some(items) => Ok(items.clone()),
        None => Err(format!("no items:\n{json}")),
    }
}

/// Checks a `netipc call KIND --json` answer of the Go provider against
/// the table, item by item.
fn check_answer(kind: &str, json: &str) -> Result<(), String> {
    let items = parse(json)?;
    let text = |item: &Value, field: &str| item[field].as_str().unwrap_or("?").to_owned();
    let got: Vec<String> = match kind {
        "cgroups-snapshot" => items
            .iter()
            .map(|i| {
                format!(
                    "{} {} enabled={}",
                    text(i, "name"),
                    text(i, "path"),
                    i["enabled"]
                )
            })
            .collect(),
        "cgroups-lookup" => items
            .iter()
            .map(|i| {
                let labels = i["labels"].as_object().map(|labels| {
                    labels
                        .iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("?")))
                        .collect::<Vec<_>>()
                        .join(",")
                });
                format!(
                    "{} {} {} {} [{}]",
                    text(i, "status"),
                    text(i, "path"),
                    text(i, "name"),
                    text(i, "orchestrator_name"),
                    labels.unwrap_or_default()
                )
            })
            .collect(),
        _ => items
            .iter()
            .map(|i| {
                format!(
                    "{} {} {} {}",
                    text(i, "status"),
                    i["pid"],
                    text(i, "comm"),
                    text(i, "cgroup_path")
                )
            })
            .collect(),
    };
    let expected: Vec<String> = match kind {
        "cgroups-snapshot" => CGROUPS
            .iter()
            .map(|(path, name, _, _)| format!("{name} {path} enabled=1"))
            .collect(),
        "cgroups-lookup" => CGROUPS
            .iter()
            .map(|(path, name, orchestrator, labels)| {
                let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("KNOWN {path} {name} {orchestrator} [{}]", labels.join(","))
            })
            .chain([format!("UNKNOWN_RETRY_LATER {UNKNOWN_PATH}  unknown []")])
            .collect(),
        _ => PROCESSES
            .iter()
            .map(|(pid, comm, path)| format!("KNOWN {pid} {comm} {path}"))
            .chain([format!("UNKNOWN {UNKNOWN_PID}  ")])
            .collect(),
    };
    if got == expected {
        Ok(())
    } else {
        Err(format!("expected {expected:?}, got {got:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked_item_by_item() {
        let snapshot = r#"{"generation":1,"items":[
            {"name":"nginx","path":"/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope","enabled":1},
            {"name":"checkout-api","path":"/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice","enabled":1},
            {"name":"netdata","path":"/sys/fs/cgroup/system.slice/netdata.service","enabled":1}]}"#;
        assert_eq!(check_answer("cgroups-snapshot", snapshot), Ok(()));
        let wrong = snapshot.replace(
            "netdata.service\",\"enabled\":1",
            "netdata.service\",\"enabled\":0",
        );
        assert!(check_answer("cgroups-snapshot", &wrong).is_err());
        assert!(check_answer("cgroups-snapshot", "{}").is_err());

        let apps = r#"{"items":[
            {"pid":1,"status":"KNOWN","comm":"systemd","cgroup_path":""},
            {"pid":4242,"status":"KNOWN","comm":"nginx","cgroup_path":"/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope"},
            {"pid":5151,"status":"KNOWN","comm":"checkout-api","cgroup_path":"/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice"},
            {"pid":99999,"status":"UNKNOWN","comm":"","cgroup_path":""}]}"#;
        assert_eq!(check_answer("apps-lookup", apps), Ok(()));

        let lookup = r#"{"items":[
            {"path":"/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope","status":"KNOWN","orchestrator_name":"docker","name":"nginx","labels":{"image":"nginx:1.27"}},
            {"path":"/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice","status":"KNOWN","orchestrator_name":"k8s","name":"checkout-api","labels":{"namespace":"shop","pod":"checkout-api-7d9f"}},
            {"path":"/sys/fs/cgroup/system.slice/netdata.service","status":"KNOWN","orchestrator_name":"systemd","name":"netdata","labels":{}},
            {"path":"/sys/fs/cgroup/system.slice/not-a-container.scope","status":"UNKNOWN_RETRY_LATER","orchestrator_name":"unknown","name":"","labels":{}}]}"#;
        assert_eq!(check_answer("cgroups-lookup", lookup), Ok(()));
        assert!(check_answer("cgroups-lookup", &lookup.replace("shop", "mall")).is_err());
    }
}
