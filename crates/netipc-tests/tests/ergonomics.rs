//! The ergonomics of the public API, end to end: the managed-server
//! constructors take closures whose parameter and return types come from
//! the constructor (no annotations), the builders take named items (one
//! provider per service kind, written the way the crate documentation
//! writes them, answers a real client), and a per-call timeout has one
//! spelling for the default (`None`; zero is refused).

mod common;

use std::time::Duration;

use common::{RunDir, watchdog};
use netipc::Error;
use netipc::codec::{
    AppsEntry, CgroupStatus, CgroupsEntry, CgroupsLookupStatus, NO_LABELS, PidStatus, SnapshotItem,
    orchestrator,
};
use netipc::netdata::netdata_hash;
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, CgroupsSnapshotClient, Client, ClientConfig,
    IncrementClient, ManagedServer, RunningServer, ServerConfig, ServiceKind, StringReverseClient,
};

const LIMIT: Duration = Duration::from_secs(60);

fn spawn(server: ManagedServer) -> RunningServer {
    server.spawn().expect("the provider starts")
}

/// A client of `service`, connected.
fn connected<K: ServiceKind>(dir: &RunDir, service: &str) -> Client<K> {
    let mut client = Client::<K>::new(dir.str(), service, &ClientConfig::default());
    client
        .wait_ready(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{service}: {e}"));
    client
}

#[test]
fn snapshot_closure_and_named_items() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let config = ServerConfig::default();
        let _server = spawn(ManagedServer::cgroups_snapshot(
            dir.str(),
            "snap",
            &config,
            |builder| {
                builder.set_generation(42);
                builder.set_systemd_enabled(1);
                let name = b"docker-1a2b";
                builder.add(&SnapshotItem {
                    hash: netdata_hash(name),
                    options: 0x30,
                    enabled: 1,
                    name,
                    path: b"/sys/fs/cgroup/docker-1a2b",
                })?;
                Ok(())
            },
        ));
        let mut client: CgroupsSnapshotClient = connected(&dir, "snap");
        let view = client.call().expect("snapshot");
        assert_eq!((view.generation(), view.systemd_enabled()), (42, 1));
        let item = view.item(0).expect("one item");
        assert_eq!(
            item,
            SnapshotItem {
                hash: netdata_hash(b"docker-1a2b"),
                options: 0x30,
                enabled: 1,
                name: b"docker-1a2b",
                path: b"/sys/fs/cgroup/docker-1a2b",
            }
        );
    });
}

#[test]
fn cgroups_lookup_closure_and_named_entries() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let _server = spawn(ManagedServer::cgroups_lookup(
            dir.str(),
            "cgl",
            &ServerConfig::default(),
            |request, builder| {
                builder.set_generation(7);
                for (i, path) in request.paths().enumerate() {
                    if path == b"/known" {
                        let entry = CgroupsEntry::known(orchestrator::DOCKER, b"web");
                        builder.add_request_item(i, &entry, &[("image", "nginx")])?;
                    } else {
                        let entry = CgroupsEntry::unset(CgroupsLookupStatus::UnknownPermanent);
                        builder.add_request_item(i, &entry, NO_LABELS)?;
                    }
                }
                Ok(())
            },
        ));
        let mut client: CgroupsLookupClient = connected(&dir, "cgl");
        let zero = client.call_with_timeout(&["/known"], Some(Duration::ZERO));
        assert!(
            matches!(
                zero,
                Err(Error::ZeroTimeout {
                    call: "CgroupsLookupClient::call_with_timeout"
                })
            ),
            "{:?}",
            zero.map(|v| v.len())
        );
        let view = client.call(&["/known", "/other"]).expect("lookup");
        let items: Vec<_> = view.iter().collect();
        assert_eq!(items[0].path, b"/known");
        assert_eq!(
            items[0].entry(),
            CgroupsEntry {
                status: CgroupsLookupStatus::Known,
                orchestrator: orchestrator::DOCKER,
                name: b"web",
            }
        );
        let label = items[0].labels.get(0).expect("one label");
        assert_eq!((label.key, label.value), (&b"image"[..], &b"nginx"[..]));
        assert_eq!(
            items[1].entry(),
            CgroupsEntry::unset(CgroupsLookupStatus::UnknownPermanent)
        );
        assert!(items[1].labels.is_empty());
    });
}

#[test]
fn apps_lookup_closure() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let _server = spawn(ManagedServer::apps_lookup(
            dir.str(),
            "apps",
            &ServerConfig::default(),
            |request, builder| {
                for pid in request.pids() {
                    if pid == 1 {
                        let entry = AppsEntry {
                            status: PidStatus::Known,
                            cgroup_status: CgroupStatus::HostRoot,
                            ppid: 0,
                            uid: 0,
                            comm: b"init",
                            ..AppsEntry::unset(PidStatus::Known)
                        };
                        builder.add(pid, &entry, NO_LABELS)?;
                    } else {
                        builder.add_status(pid, PidStatus::Unknown)?;
                    }
                }
                Ok(())
            },
        ));
        let mut client: AppsLookupClient = connected(&dir, "apps");
        let zero = client.call_with_timeout(&[1], Some(Duration::ZERO));
        assert!(
            matches!(
                zero,
                Err(Error::ZeroTimeout {
                    call: "AppsLookupClient::call_with_timeout"
                })
            ),
            "{:?}",
            zero.map(|v| v.len())
        );
        let view = client.call_with_timeout(&[1, 99], None).expect("lookup");
        let items: Vec<_> = view.iter().collect();
        assert_eq!((items[0].pid, items[0].entry.comm), (1, &b"init"[..]));
        assert_eq!(items[1].entry, AppsEntry::unset(PidStatus::Unknown));
    });
}

#[test]
fn increment_and_string_reverse_closures() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let config = ServerConfig::default();
        let _inc = spawn(ManagedServer::increment(dir.str(), "inc", &config, |v| {
            Ok(v + 1)
        }));
        let _rev = spawn(ManagedServer::string_reverse(
            dir.str(),
            "rev",
            &config,
            |text, out| {
                out.extend(text.iter().rev());
                Ok(())
            },
        ));
        let mut inc: IncrementClient = connected(&dir, "inc");
        assert_eq!(inc.call(41).expect("increment"), 42);
        let mut rev: StringReverseClient = connected(&dir, "rev");
        assert_eq!(rev.call(b"abc").expect("reverse"), b"cba");
    });
}
