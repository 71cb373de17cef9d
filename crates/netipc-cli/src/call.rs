//! `netipc call KIND [ARGS…]`: one typed call to a running provider,
//! printed as a table (or JSON, see [`json`]). With `--save` or
//! `--save-response` the call is one exchange whose messages are written
//! to files for `netipc decode` ([`save`]).

pub mod json;
mod save;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use netipc::codec::{
    AppsLookupItem, AppsLookupView, CgroupsLookupItem, CgroupsLookupView, Labels, SnapshotView,
    UID_UNSET, orchestrator,
};
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, CgroupsSnapshotClient, Client, ClientConfig,
    IncrementClient, ServiceKind, StringReverseClient,
};
use netipc::transport::names;

use crate::common::{
    CliError, ConsumerArgs, EndpointArgs, Kind, call_failed, human_duration, json_text, text,
    write_stdout,
};
use crate::table::Table;

/// Arguments of `netipc call`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Arguments by kind:
  cgroups-snapshot               (none)
  cgroups-lookup PATH...         cgroup paths, e.g. /sys/fs/cgroup/system.slice/ssh.service
  apps-lookup PID...             process ids
  increment N                    a number from 0 to 18446744073709551615
  string-reverse TEXT            one text (quote it when it has spaces; put -- before a
                                 text that starts with -)

Saving the messages (--save FILE, --save-response FILE): the call is then one exchange on a
session of its own, with the whole request in one message (message id 1; a lookup is not
split into sub-calls, so the provider must accept a request of its size). A response that
does not fit the provider's response size (LIMIT_EXCEEDED) is asked for again on a new
session with a larger size, up to 8 times, as the typed client does; the files hold the
last exchange, each message as its 32-byte header and its whole payload (a message that
travelled in chunks is saved reassembled, as it would be unchunked). A response with an
error status is saved as well, and the call fails. `netipc decode FILE` decodes them.

Exit status: 0 answered, 1 the call failed, 2 bad arguments, 3 no provider is running.

Examples:
  netipc call cgroups-snapshot
  netipc call apps-lookup 1 $$ --json
  netipc call cgroups-lookup /sys/fs/cgroup/init.scope --service my-lookup
  netipc call increment 41 --save request.bin --save-response response.bin")]
pub struct CallArgs {
    /// The kind of service to call.
    #[arg(value_name = "SERVICE-KIND")]
    kind: Kind,

    /// The keys or value of the call (see below).
    #[arg(value_name = "ARGS")]
    args: Vec<String>,

    /// Service name [default: the kind's conventional name].
    #[arg(long, value_name = "NAME")]
    service: Option<String>,

    #[command(flatten)]
    endpoint: EndpointArgs,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,

    /// Write the request message, as sent, to FILE (see below).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,

    /// Write the response message, as received, to FILE (see below).
    #[arg(long, value_name = "FILE")]
    save_response: Option<PathBuf>,

    #[command(flatten)]
    consumer: ConsumerArgs,
}

/// The validated arguments of one call.
enum Request {
    Snapshot,
    CgroupsLookup(Vec<String>),
    AppsLookup(Vec<u32>),
    Increment(u64),
    StringReverse(String),
}

fn parse(kind: Kind, args: &[String]) -> Result<Request, CliError> {
    let exactly_one = |what: &str| match args {
        [one] => Ok(one.clone()),
        _ => Err(CliError::usage(format!(
            "{kind} takes exactly one {what}, got {}{}",
            args.len(),
            if kind == Kind::StringReverse {
                " (quote a text with spaces)"
            } else {
                ""
            }
        ))),
    };
    Ok(match kind {
        Kind::CgroupsSnapshot if args.is_empty() => Request::Snapshot,
        Kind::CgroupsSnapshot => {
            return Err(CliError::usage(
                "cgroups-snapshot takes no arguments: it always returns every cgroup",
            ));
        }
        Kind::CgroupsLookup => {
            if args.is_empty() {
                return Err(CliError::usage(
                    "cgroups-lookup needs one or more cgroup PATHs, e.g. /sys/fs/cgroup/init.scope",
                ));
            }
            if let Some(p) = args.iter().find(|p| p.is_empty()) {
                return Err(CliError::usage(format!(
                    "empty path {p:?}: a PATH has at least one byte"
                )));
            }
            Request::CgroupsLookup(args.to_vec())
        }
        Kind::AppsLookup => {
            if args.is_empty() {
                return Err(CliError::usage(
                    "apps-lookup needs one or more PIDs, e.g. 1",
                ));
            }
            let pids = args
                .iter()
                .map(|a| {
                    a.parse::<u32>().map_err(|_| {
                        CliError::usage(format!(
                            "`{a}` is not a PID (a number from 0 to 4294967295)"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
            Request::AppsLookup(pids)
        }
        Kind::Increment => {
            let n = exactly_one("number N")?;
            Request::Increment(n.parse().map_err(|_| {
                CliError::usage(format!(
                    "`{n}` is not a number from 0 to 18446744073709551615"
                ))
            })?)
        }
        Kind::StringReverse => Request::StringReverse(exactly_one("TEXT")?),
    })
}

/// Runs `netipc call`.
pub fn run(args: &CallArgs) -> ExitCode {
    match call(args) {
        Ok(out) => match write_stdout(&out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => e.report("call"),
        },
        Err(e) => e.report("call"),
    }
}

/// Where and how to call.
struct Target {
    kind: Kind,
    run_dir: String,
    service: String,
    config: ClientConfig,
    json: bool,
}

/// How an answer arrived: the time the call took and whether it came
/// through shared memory.
#[derive(Debug, Clone, Copy)]
struct Took {
    time: Duration,
    shm: bool,
}

impl Target {
    /// A connected client, or an error saying what to do (the cause the
    /// typed client reports).
    fn connect<K: ServiceKind>(&self) -> Result<Client<K>, CliError> {
        let mut client = Client::<K>::new(&self.run_dir, &self.service, &self.config);
        match client.connect() {
            Ok(()) => Ok(client),
            Err(e) => Err(self.failed(&e)),
        }
    }

    fn failed(&self, e: &netipc::Error) -> CliError {
        call_failed(self.kind, &self.run_dir, &self.service, e)
    }

    /// The first line of a table output.
    fn title(&self, what: &str, generation: u64, took: Took) -> String {
        format!(
            "{} \"{}\" in {}: {what}, generation {generation} ({} over {})\n",
            self.kind,
            self.service,
            self.run_dir,
            human_duration(took.time),
            if took.shm {
                "shared memory"
            } else {
                "the socket/pipe"
            }
        )
    }

    /// A snapshot as a table or JSON.
    fn show_snapshot(&self, view: &SnapshotView<'_>, took: Took) -> Result<String, CliError> {
        let mut items = Vec::with_capacity(view.len());
        for (i, item) in view.iter().enumerate() {
            items.push(item.map_err(|e| {
                CliError::failed(format!("the provider sent a malformed item {i}: {e}"))
            })?);
        }
        if self.json {
            return Ok(json_text(&json::Snapshot {
                service: &self.service,
                generation: view.generation(),
                systemd_enabled: view.systemd_enabled(),
                items: items.iter().map(Into::into).collect(),
            }));
        }
        let what = format!(
            "{} items, systemd_enabled {}",
            items.len(),
            view.systemd_enabled()
        );
        let mut out = self.title(&what, view.generation(), took);
        let mut table =
            Table::new(&["#", "HASH", "OPTIONS", "ENABLED", "NAME", "PATH"]).right(&[0, 2, 3]);
        for (i, it) in items.iter().enumerate() {
            let mut row = vec![i.to_string()];
            row.extend(json::SnapshotEntry::from(it).cells());
            table.row(row);
        }
        out.push_str(&table.render());
        Ok(out)
    }

    /// A CGROUPS_LOOKUP answer as a table or JSON.
    fn show_cgroups(&self, view: &CgroupsLookupView<'_>, took: Took) -> String {
        let items: Vec<CgroupsLookupItem<'_>> = view.iter().collect();
        if self.json {
            return json_text(&json::Lookup::<json::Cgroup> {
                service: &self.service,
                generation: view.generation(),
                items: items.iter().map(Into::into).collect(),
            });
        }
        let mut out = self.title(&format!("{} paths", items.len()), view.generation(), took);
        let mut table = Table::new(&["PATH", "STATUS", "ORCH", "NAME", "LABELS"]);
        for it in &items {
            let known = it.status == netipc::codec::CgroupsLookupStatus::Known;
            table.row(vec![
                text(it.path),
                it.status.spec_name().to_owned(),
                if known {
                    orch_name(it.orchestrator)
                } else {
                    "-".into()
                },
                or_dash(text(it.name)),
                or_dash(labels_text(&it.labels)),
            ]);
        }
        out.push_str(&table.render());
        out
    }

    /// An APPS_LOOKUP answer as a table or JSON.
    fn show_apps(&self, view: &AppsLookupView<'_>, took: Took) -> String {
        let items: Vec<AppsLookupItem<'_>> = view.iter().collect();
        if self.json {
            return json_text(&json::Lookup::<json::App> {
                service: &self.service,
                generation: view.generation(),
                items: items.iter().map(Into::into).collect(),
            });
        }
        let mut out = self.title(&format!("{} PIDs", items.len()), view.generation(), took);
        out.push_str(&apps_table(&items, 0).render());
        out
    }

    /// The answer of INCREMENT: the number alone, or JSON.
    fn show_increment(&self, value: u64, result: u64) -> String {
        if self.json {
            json_text(&json::Increment { value, result })
        } else {
            format!("{result}\n")
        }
    }

    /// The answer of STRING_REVERSE: the text alone, or JSON.
    fn show_reversed(&self, text: &str, result: &[u8]) -> String {
        let result = crate::common::text(result);
        if self.json {
            json_text(&json::StringReverse {
                text,
                result: &result,
            })
        } else {
            format!("{result}\n")
        }
    }
}

fn call(args: &CallArgs) -> Result<String, CliError> {
    let request = parse(args.kind, &args.args)?;
    let run_dir = args
        .endpoint
        .consumer_run_dir(&args.consumer.provider_identity)?;
    let service = args
        .service
        .clone()
        .unwrap_or_else(|| args.kind.name().to_owned());
    names::validate_service_name(&service).map_err(|e| CliError::usage(e.to_string()))?;
    let target = Target {
        kind: args.kind,
        run_dir,
        service,
        config: args.consumer.client_config(args.endpoint.auth_token),
        json: args.json,
    };
    if args.save.is_some() || args.save_response.is_some() {
        let files = save::Files {
            request: args.save.as_deref(),
            response: args.save_response.as_deref(),
        };
        let options = args.consumer.client_options(args.endpoint.auth_token);
        return save::call(&target, &request, &options, args.consumer.timeout(), &files);
    }
    match request {
        Request::Snapshot => snapshot(&target),
        Request::CgroupsLookup(paths) => cgroups_lookup(&target, &paths),
        Request::AppsLookup(pids) => apps_lookup(&target, &pids),
        Request::Increment(n) => {
            let mut client = target.connect::<netipc::service::Increment>()?;
            let client: &mut IncrementClient = &mut client;
            let answer = client.call(n).map_err(|e| target.failed(&e))?;
            Ok(target.show_increment(n, answer))
        }
        Request::StringReverse(t) => {
            let mut client = target.connect::<netipc::service::StringReverse>()?;
            let client: &mut StringReverseClient = &mut client;
            let answer = client.call(t.as_bytes()).map_err(|e| target.failed(&e))?;
            Ok(target.show_reversed(&t, answer))
        }
    }
}

fn shared_memory<K: ServiceKind>(client: &Client<K>) -> bool {
    client.session_info().is_some_and(|s| s.shared_memory)
}

fn snapshot(target: &Target) -> Result<String, CliError> {
    let mut client: CgroupsSnapshotClient = target.connect()?;
    let shm = shared_memory(&client);
    let start = Instant::now();
    let view = client.call().map_err(|e| target.failed(&e))?;
    let took = Took {
        time: start.elapsed(),
        shm,
    };
    target.show_snapshot(&view, took)
}

/// Retries a lookup once when the provider's generation changed between
/// two sub-responses of one logical call (the provider rescanned meanwhile).
fn generation_changed(e: &netipc::Error) -> bool {
    matches!(e, netipc::Error::BadResponse(m) if m.contains("generation"))
}

/// Runs `once`, and once more when the generation changed during it.
fn lookup<C>(
    target: &Target,
    client: &mut C,
    once: impl Fn(&mut C) -> Result<String, netipc::Error>,
) -> Result<String, CliError> {
    match once(client) {
        Err(e) if generation_changed(&e) => once(client),
        other => other,
    }
    .map_err(|e| target.failed(&e))
}

fn labels_text(labels: &Labels<'_>) -> String {
    labels
        .iter()
        .map(|l| format!("{}={}", text(l.key), text(l.value)))
        .collect::<Vec<_>>()
        .join(",")
}

fn orch_name(v: u16) -> String {
    orchestrator::name(v).map_or_else(|| v.to_string(), str::to_owned)
}

fn or_dash(s: String) -> String {
    if s.is_empty() { "-".to_owned() } else { s }
}

fn cgroups_lookup(target: &Target, paths: &[String]) -> Result<String, CliError> {
    let mut client: CgroupsLookupClient = target.connect()?;
    let shm = shared_memory(&client);
    lookup(target, &mut client, |client| {
        let start = Instant::now();
        let view = client.call(paths)?;
        let took = Took {
            time: start.elapsed(),
            shm,
        };
        Ok(target.show_cgroups(&view, took))
    })
}

fn apps_lookup(target: &Target, pids: &[u32]) -> Result<String, CliError> {
    let mut client: AppsLookupClient = target.connect()?;
    let shm = shared_memory(&client);
    lookup(target, &mut client, |client| {
        let start = Instant::now();
        let view = client.call(pids)?;
        let took = Took {
            time: start.elapsed(),
            shm,
        };
        Ok(target.show_apps(&view, took))
    })
}

/// APPS_LOOKUP items as a table (paths shortened to `max_path` characters
/// when it is not 0).
pub fn apps_table(items: &[AppsLookupItem<'_>], max_path: usize) -> Table {
    let mut table = Table::new(&[
        "PID",
        "STATUS",
        "COMM",
        "PPID",
        "UID",
        "STARTTIME",
        "CGROUP",
        "ORCH",
        "NAME",
        "PATH",
    ])
    .right(&[0, 3, 4, 5]);
    if max_path > 0 {
        table = table.max_width(9, max_path).max_width(8, 24);
    }
    for it in items {
        let e = &it.entry;
        let known = e.status == netipc::codec::PidStatus::Known;
        let num = |v: String| if known { v } else { "-".to_owned() };
        let cgroup_known = known && e.cgroup_status == netipc::codec::CgroupStatus::Known;
        table.row(vec![
            it.pid.to_string(),
            e.status.spec_name().to_owned(),
            or_dash(text(e.comm)),
            num(e.ppid.to_string()),
            num(if e.uid == UID_UNSET {
                "-".into()
            } else {
                e.uid.to_string()
            }),
            num(e.starttime.to_string()),
            if known {
                e.cgroup_status.spec_name().to_owned()
            } else {
                "-".into()
            },
            if cgroup_known {
                orch_name(e.orchestrator)
            } else {
                "-".into()
            },
            or_dash(text(e.cgroup_name)),
            or_dash(text(e.cgroup_path)),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments_are_checked_per_kind() {
        assert!(parse(Kind::CgroupsSnapshot, &[]).is_ok());
        assert_eq!(
            parse(Kind::CgroupsSnapshot, &strings(&["x"]))
                .err()
                .map(|e| e.code),
            Some(2)
        );
        assert!(parse(Kind::AppsLookup, &strings(&["1", "abc"])).is_err());
        assert!(parse(Kind::AppsLookup, &[]).is_err());
        assert!(
            matches!(parse(Kind::AppsLookup, &strings(&["1", "2"])), Ok(Request::AppsLookup(p)) if p == [1, 2])
        );
        assert!(parse(Kind::Increment, &strings(&["1", "2"])).is_err());
        assert!(parse(Kind::Increment, &strings(&["-1"])).is_err());
        assert!(parse(Kind::StringReverse, &strings(&["a b"])).is_ok());
        assert!(parse(Kind::CgroupsLookup, &[]).is_err());
    }
}
