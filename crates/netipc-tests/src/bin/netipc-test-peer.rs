//! A NetIPC peer process for the transport tests: it plays a well-behaved
//! server, or a peer that stalls or dies in the middle of a message, so
//! that tests can observe the other side across a real process boundary.
//!
//! Usage: `netipc-test-peer MODE RUN_DIR SERVICE [PROFILES] [TAG]`
//!
//! | mode | behaviour |
//! |---|---|
//! | `serve` | echo server: every request is answered with its own payload |
//! | `stall-request` | connects, sends the first packet of a chunked request, stalls |
//! | `stall-response` | accepts one client, sends the first packet of a chunked response, stalls |
//! | `crash` | binds the endpoint and aborts without cleaning up |
//! | `stall-after-request` | accepts one client, receives one request and never answers |
//! | `idle-client` | connects and then does nothing |
//! | `l2-increment` | managed INCREMENT server answering `value + TAG` |
//! | `l2-string-reverse` | managed STRING_REVERSE server (the reversed string) |
//! | `l2-snapshot` | managed CGROUPS_SNAPSHOT server: TAG items, generation TAG |
//! | `l2-cgroups-lookup` | managed CGROUPS_LOOKUP server (64 KiB responses): every path KNOWN, named `name:<path>`, generation TAG |
//! | `l2-apps-lookup` | managed APPS_LOOKUP server (64 KiB responses): every pid KNOWN with comm `p<pid % 1000>` and ppid TAG, generation TAG |
//! | `reference-lookup` | a lookup provider behaving like a reference implementation's (`netipc_tests::reference`); TAG is `LOOKUP/BEHAVIOUR`: `cgroups` or `apps`, and `rust-go-default`, `c-default`, `small-fixed` or `lossy-growable` |
//!
//! PROFILES is a profile set as `Profiles` prints it (default `baseline`);
//! for the `l2-*` modes it is the managed server's `supported_profiles`
//! (`none`: the library default) and TAG (default 1) parametrises the answers,
//! so a test can tell a restarted server from the one before.
//!
//! It prints `ready` (or `stalled`) on stdout when it reached that point,
//! and exits when its stdin is closed, so it never outlives the test.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use netipc::transport::framing::Packets;
use netipc::transport::handshake::{
    ClientOffer, ServerOffer, client_handshake, hello_message, server_handshake,
};
use netipc::transport::testing::{RawConn, RawListener};
use netipc::transport::{Listener, ServerOptions};
use netipc::wire::{HEADER_LEN, Header, MessageKind, Profiles};

const SMALL_PACKET: u32 = 64;

fn say(word: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{word}");
    let _ = out.flush();
}

/// Exits the process as soon as stdin reaches EOF (the test is gone).
fn exit_with_parent() {
    std::thread::spawn(|| {
        let mut line = String::new();
        while std::io::stdin()
            .lock()
            .read_line(&mut line)
            .is_ok_and(|n| n > 0)
        {
            line.clear();
        }
        std::process::exit(0);
    });
}

fn serve(run_dir: &str, service: &str, profiles: Profiles) -> netipc::Result<()> {
    let options = ServerOptions {
        supported_profiles: profiles,
        max_request_payload_bytes: 1 << 20,
        max_response_payload_bytes: 1 << 20,
        ..ServerOptions::default()
    };
    let listener = Listener::bind(run_dir, service, &options)?;
    say("ready");
    for session_id in 1.. {
        let Ok(incoming) = listener.accept(None, None) else {
            continue;
        };
        std::thread::spawn(move || -> netipc::Result<()> {
            let mut session = incoming.handshake(session_id)?;
            loop {
                let message = session.recv(None, None)?;
                let (header, payload) = (message.header, message.payload.to_vec());
                session.respond(&header, &payload)?;
            }
        });
    }
    Ok(())
}

fn chunked(kind: MessageKind, len: usize) -> (Header, Vec<u8>) {
    let mut header = Header::new(kind, 3, 1, len as u32);
    header.item_count = 1;
    (header, vec![b'x'; len])
}

fn stall_request(run_dir: &str, service: &str) -> netipc::Result<()> {
    let conn = RawConn::connect(run_dir, service)?;
    let offer = ClientOffer {
        max_request_payload_bytes: 1024,
        packet_size: SMALL_PACKET,
        ..ClientOffer::default()
    }
    .with_defaults(SMALL_PACKET);
    conn.send(&hello_message(&offer.hello()))?;
    let mut ack = [0u8; 128];
    let n = conn.recv(&mut ack, Some(Duration::from_secs(10)))?;
    let params = client_handshake(&ack[..n.min(128)])?;
    let (header, payload) = chunked(MessageKind::Request, 1000);
    let first = Packets::new(header, &payload, params.packet_size)
        .next()
        .expect("one packet");
    conn.send(&[&first.prefix[..], first.body].concat())?;
    say("stalled");
    std::thread::sleep(Duration::MAX);
    Ok(())
}

fn stall_response(run_dir: &str, service: &str) -> netipc::Result<()> {
    let listener = RawListener::bind(run_dir, service)?;
    say("ready");
    let conn = listener.accept(None, None)?;
    let mut buf = vec![0u8; 1 << 16];
    let n = conn.recv(&mut buf, None)?;
    let offer = ServerOffer {
        supported_profiles: Profiles::BASELINE,
        preferred_profiles: Profiles::empty(),
        max_request_payload_bytes: 1 << 20,
        max_response_payload_bytes: 1 << 20,
        auth_token: 0,
        packet_size: SMALL_PACKET,
        extensions: 0,
    };
    let outcome = server_handshake(&buf[..n.min(128)], &offer, 1);
    conn.send(&outcome.reply.expect("a reply"))?;
    let n = conn.recv(&mut buf, None)?;
    let request = Header::decode(&buf[..n.min(HEADER_LEN)])?;
    let (mut header, payload) = chunked(MessageKind::Response, 5000);
    header.message_id = request.message_id;
    header.code = request.code;
    let first = Packets::new(header, &payload, SMALL_PACKET)
        .next()
        .expect("one packet");
    conn.send(&[&first.prefix[..], first.body].concat())?;
    say("stalled");
    std::thread::sleep(Duration::MAX);
    Ok(())
}

fn stall_after_request(run_dir: &str, service: &str, profiles: Profiles) -> netipc::Result<()> {
    let options = ServerOptions {
        supported_profiles: profiles,
        preferred_profiles: profiles,
        ..ServerOptions::default()
    };
    let listener = Listener::bind(run_dir, service, &options)?;
    say("ready");
    let mut session = listener.accept(None, None)?.handshake(1)?;
    let _ = session.recv(None, None)?;
    say("stalled");
    std::thread::sleep(Duration::MAX);
    Ok(())
}

fn idle_client(run_dir: &str, service: &str, profiles: Profiles) -> netipc::Result<()> {
    let options = netipc::transport::ClientOptions {
        supported_profiles: profiles,
        preferred_profiles: profiles,
        ..Default::default()
    };
    let _session = netipc::transport::ClientSession::connect(run_dir, service, &options)?;
    say("connected");
    std::thread::sleep(Duration::MAX);
    Ok(())
}

/// Runs a reference-like lookup provider (`netipc_tests::reference`) until
/// the test closes stdin or kills the process. `what` is
/// `LOOKUP/BEHAVIOUR`.
fn reference_lookup(run_dir: &str, service: &str, profiles: Profiles, what: &str) {
    use netipc_tests::reference::{Behaviour, Lookup, Provider};
    let (lookup, behaviour) = what.split_once('/').unwrap_or((what, ""));
    let lookup = match lookup {
        "apps" => Lookup::Apps,
        _ => Lookup::Cgroups,
    };
    let behaviour = match behaviour {
        "c-default" => Behaviour::C_DEFAULT,
        "small-fixed" => Behaviour {
            request_max: 1024,
            response_start: 4096,
            response_ceiling: 4096,
            ..Behaviour::C_DEFAULT
        },
        "lossy-growable" => Behaviour {
            loses_limit_exceeded: true,
            ..Behaviour::RUST_GO_DEFAULT
        },
        _ => Behaviour::RUST_GO_DEFAULT,
    };
    let _provider = Provider::spawn(
        run_dir,
        service,
        lookup,
        Behaviour {
            profiles,
            ..behaviour
        },
    );
    say("ready");
    std::thread::sleep(Duration::MAX);
}

/// Runs a managed server until the test closes stdin or kills the process.
fn managed(
    mode: &str,
    run_dir: &str,
    service: &str,
    profiles: Profiles,
    tag: u64,
) -> netipc::Result<()> {
    use netipc::codec::{
        AppsEntry, CgroupStatus, CgroupsEntry, NO_LABELS, PidStatus, SnapshotItem,
    };
    use netipc::service::{HandlerError, ManagedServer, ServerConfig};

    let config = ServerConfig {
        supported_profiles: profiles,
        ..ServerConfig::default()
    };
    // Lookup answers get a fixed 64 KiB budget: a growable one starting at
    // 1024 bytes reports the first key of a large sub-request as
    // OVERSIZED_ITEM (codec spec 5.8, step 6) instead of growing.
    let lookup_config = ServerConfig {
        max_response_payload_bytes: 1 << 16,
        ..config
    };
    let server = match mode {
        "l2-increment" => ManagedServer::increment(run_dir, service, &config, move |v| {
            Ok::<u64, HandlerError>(v.wrapping_add(tag))
        }),
        "l2-string-reverse" => {
            ManagedServer::string_reverse(run_dir, service, &config, |text, out| {
                out.extend(text.iter().rev());
                Ok(())
            })
        }
        "l2-snapshot" => ManagedServer::cgroups_snapshot(run_dir, service, &config, move |b| {
            b.set_systemd_enabled(1);
            b.set_generation(tag);
            for i in 0..tag {
                let name = format!("cg{i}");
                let path = format!("/sys/fs/cgroup/{name}");
                b.add(&SnapshotItem {
                    hash: i as u32,
                    options: 0,
                    enabled: 1,
                    name: name.as_bytes(),
                    path: path.as_bytes(),
                })?;
            }
            Ok(())
        }),
        "l2-cgroups-lookup" => {
            ManagedServer::cgroups_lookup(run_dir, service, &lookup_config, move |request, b| {
                b.set_generation(tag);
                for (i, path) in request.paths().enumerate() {
                    let name = [b"name:", path].concat();
                    b.add_request_item(i, &CgroupsEntry::known(0, &name), &[(b"k", b"v")])?;
                }
                Ok(())
            })
        }
        "l2-apps-lookup" => {
            ManagedServer::apps_lookup(run_dir, service, &lookup_config, move |request, b| {
                b.set_generation(tag);
                for pid in request.pids() {
                    let comm = format!("p{}", pid % 1000);
                    let entry = AppsEntry {
                        status: PidStatus::Known,
                        cgroup_status: CgroupStatus::HostRoot,
                        ppid: tag as u32,
                        uid: 0,
                        comm: comm.as_bytes(),
                        ..AppsEntry::unset(PidStatus::Known)
                    };
                    b.add(pid, &entry, NO_LABELS)?;
                }
                Ok(())
            })
        }
        other => unreachable!("not a managed mode: {other}"),
    };
    let _running = server.spawn()?;
    say("ready");
    std::thread::sleep(Duration::MAX);
    Ok(())
}

fn crash(run_dir: &str, service: &str) -> netipc::Result<()> {
    let _listener = Listener::bind(run_dir, service, &ServerOptions::default())?;
    say("ready");
    std::process::abort();
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!(
            "usage: netipc-test-peer serve|stall-request|stall-response|crash|stall-after-request|idle-client|l2-increment|l2-string-reverse|l2-snapshot|l2-cgroups-lookup|l2-apps-lookup|reference-lookup RUN_DIR SERVICE [PROFILES] [TAG]"
        );
        return ExitCode::from(2);
    }
    exit_with_parent();
    let (run_dir, service) = (args[2].as_str(), args[3].as_str());
    let profiles = args
        .get(4)
        .map_or(Ok(Profiles::BASELINE), |p| p.parse())
        .expect("PROFILES: names such as baseline|shm-hybrid, or none");
    if args[1] == "reference-lookup" {
        reference_lookup(
            run_dir,
            service,
            profiles,
            args.get(5).map_or("", String::as_str),
        );
        return ExitCode::SUCCESS;
    }
    let tag = args.get(5).and_then(|t| t.parse().ok()).unwrap_or(1);
    let result = match args[1].as_str() {
        "serve" => serve(run_dir, service, profiles),
        "stall-request" => stall_request(run_dir, service),
        "stall-response" => stall_response(run_dir, service),
        "crash" => crash(run_dir, service),
        "stall-after-request" => stall_after_request(run_dir, service, profiles),
        "idle-client" => idle_client(run_dir, service, profiles),
        mode @ ("l2-increment" | "l2-string-reverse" | "l2-snapshot" | "l2-cgroups-lookup"
        | "l2-apps-lookup") => managed(mode, run_dir, service, profiles, tag),
        other => {
            eprintln!("unknown mode {other}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netipc-test-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
