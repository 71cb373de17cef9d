//! `netipc probe SERVICE`: the handshake with a provider, what it
//! negotiated, which method it answers and how long a round trip takes.
//!
//! Works on the transport (L1) session directly, so it reports exactly
//! what that session negotiated. The method is found by sending the
//! smallest request of each method (a lookup of zero keys, INCREMENT 0,
//! STRING_REVERSE of "", the snapshot request) until one is not answered
//! `UNSUPPORTED` (a provider serves one method and keeps the session after
//! `UNSUPPORTED`); the conventional method of the service's name is tried
//! first and the snapshot last. The round trip is then measured with that
//! same request on the same session: for a snapshot provider the full
//! snapshot (if the first one did not fit the negotiated response size the
//! provider closes the session and grows; the probe reconnects, up to 8
//! times, and says so).

mod json;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use netipc::codec::{
    SnapshotRequest, SnapshotView, encode_apps_lookup_request, encode_cgroups_lookup_request,
    encode_increment, encode_string_reverse,
};
use netipc::transport::{ClientOptions, ClientSession, DataPlane};
use netipc::wire::TransportStatus;

use crate::common::{
    CliError, ConsumerArgs, EndpointArgs, Kind, connect_failed, endpoint, human_duration,
    json_text, profile_meaning, write_stdout,
};

/// Arguments of `netipc probe`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Exit status: 0 probed, 1 the probe failed, 2 bad arguments, 3 no provider is running.

Examples:
  netipc probe cgroups-snapshot
  netipc probe my-service --run-dir /tmp/ipc --kind increment --count 1000
  netipc probe apps-lookup --json")]
pub struct ProbeArgs {
    /// The service name to probe (e.g. cgroups-snapshot).
    #[arg(value_name = "SERVICE")]
    service: String,

    #[command(flatten)]
    endpoint: EndpointArgs,

    /// The kind of the service [default: found out by asking it].
    #[arg(long, value_name = "SERVICE-KIND")]
    kind: Option<Kind>,

    /// Round trips to measure.
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    count: u32,

    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    consumer: ConsumerArgs,
}

/// Runs `netipc probe`.
pub fn run(args: &ProbeArgs) -> ExitCode {
    match probe(args).and_then(|out| write_stdout(&out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report("probe"),
    }
}

/// The smallest request of a kind.
fn minimal_request(kind: Kind) -> Vec<u8> {
    let mut buf = vec![0u8; 64];
    let none: [&[u8]; 0] = [];
    let n = match kind {
        Kind::CgroupsSnapshot => SnapshotRequest::default().encode(&mut buf),
        Kind::CgroupsLookup => encode_cgroups_lookup_request(&none, &mut buf),
        Kind::AppsLookup => encode_apps_lookup_request(&[], &mut buf),
        Kind::Increment => encode_increment(0, &mut buf),
        Kind::StringReverse => encode_string_reverse(b"", &mut buf),
    };
    // The buffer is large enough for every one of them.
    buf.truncate(n.unwrap_or(0));
    buf
}

/// The order in which kinds are tried.
fn candidates(service: &str, kind: Option<Kind>) -> Vec<Kind> {
    if let Some(k) = kind {
        return vec![k];
    }
    let mut order = vec![
        Kind::CgroupsLookup,
        Kind::AppsLookup,
        Kind::Increment,
        Kind::StringReverse,
        Kind::CgroupsSnapshot,
    ];
    if let Some(k) = Kind::by_service_name(service) {
        order.retain(|&x| x != k);
        order.insert(0, k);
    }
    order
}

struct Probe<'a> {
    args: &'a ProbeArgs,
    run_dir: String,
    options: ClientOptions,
    timeout: Duration,
    next_id: u64,
}

impl Probe<'_> {
    fn connect(&self, kind: Option<Kind>) -> Result<ClientSession, CliError> {
        ClientSession::connect(&self.run_dir, &self.args.service, &self.options)
            .map_err(|e| connect_failed(kind, &self.run_dir, &self.args.service, &e))
    }

    /// One request; the response's status and payload length.
    fn call(
        &mut self,
        session: &mut ClientSession,
        kind: Kind,
        request: &[u8],
    ) -> Result<(TransportStatus, usize, usize), CliError> {
        self.next_id += 1;
        let m = session
            .call(
                kind.method().code(),
                self.next_id,
                request,
                Some(self.timeout),
            )
            .map_err(|e| {
                CliError::failed(format!(
                    "the session with \"{}\" failed during a {} request: {e}",
                    self.args.service,
                    kind.method().spec_name()
                ))
            })?;
        let items = match kind {
            Kind::CgroupsSnapshot => SnapshotView::decode(m.payload).map_or(0, |v| v.len()),
            _ => 0,
        };
        Ok((m.header.transport_status, m.payload.len(), items))
    }
}

fn data_plane_text(plane: DataPlane) -> String {
    match plane {
        DataPlane::Baseline => "socket/pipe (the kernel carries each message)".to_owned(),
        DataPlane::SharedMemory {
            sleeps,
            wake_on_demand,
        } => format!(
            "shared memory ({}, {})",
            if sleeps {
                "waiters sleep after spinning"
            } else {
                "waiters spin"
            },
            if wake_on_demand {
                "wake-up calls only for sleeping peers"
            } else {
                "one wake-up call per message"
            }
        ),
        other => format!("{other:?}"),
    }
}

fn probe(args: &ProbeArgs) -> Result<String, CliError> {
    netipc::transport::names::validate_service_name(&args.service)
        .map_err(|e| CliError::usage(e.to_string()))?;
    let timeout = args.consumer.timeout();
    let mut p = Probe {
        args,
        run_dir: args
            .endpoint
            .consumer_run_dir(&args.consumer.provider_identity)?,
        options: args.consumer.client_options(args.endpoint.auth_token),
        timeout,
        next_id: 0,
    };
    let hint = args.kind.or_else(|| Kind::by_service_name(&args.service));
    let start = Instant::now();
    let mut session = p.connect(hint)?;
    let handshake = start.elapsed();
    let params = *session.params();
    let plane = session.data_plane();

    // Which method does it answer?
    let mut served = None;
    for kind in candidates(&args.service, args.kind) {
        let (status, _, _) = p.call(&mut session, kind, &minimal_request(kind))?;
        if status != TransportStatus::UNSUPPORTED {
            served = Some((kind, status));
            break;
        }
    }
    let Some((kind, status)) = served else {
        return Err(CliError::failed(match args.kind {
            Some(k) => format!(
                "service \"{}\" does not answer {k} requests (UNSUPPORTED): it serves another kind; probe it without --kind to find out",
                args.service
            ),
            None => format!(
                "service \"{}\" answers none of the NetIPC methods (every request got UNSUPPORTED)",
                args.service
            ),
        }));
    };

    // A snapshot larger than the negotiated response: the provider closed
    // the session and grew; reconnect until it fits.
    let request = minimal_request(kind);
    let mut notes = Vec::new();
    let mut status = status;
    let mut reconnects = 0;
    while status == TransportStatus::LIMIT_EXCEEDED && reconnects < 8 {
        reconnects += 1;
        session = p.connect(Some(kind))?;
        status = p.call(&mut session, kind, &request)?.0;
    }
    if reconnects > 0 {
        notes.push(format!(
            "the first {} response did not fit {} bytes; reconnected {reconnects} time(s), the provider now allows {} bytes",
            kind.method().spec_name(),
            params.max_response_payload_bytes,
            session.params().max_response_payload_bytes
        ));
    }
    if status != TransportStatus::OK {
        return Err(CliError::failed(format!(
            "service \"{}\" answers {} requests with {status}: see the provider's log",
            args.service,
            kind.method().spec_name()
        )));
    }

    // Round trips.
    let (_, response_len, items) = p.call(&mut session, kind, &request)?;
    let mut samples = Vec::with_capacity(args.count as usize);
    for _ in 0..args.count {
        let t = Instant::now();
        let (s, _, _) = p.call(&mut session, kind, &request)?;
        samples.push(t.elapsed());
        if s != TransportStatus::OK {
            return Err(CliError::failed(format!(
                "a measured request was answered {s}"
            )));
        }
    }
    samples.sort();
    let median = samples[samples.len() / 2];
    let measured = match kind {
        Kind::CgroupsSnapshot => format!(
            "full CGROUPS_SNAPSHOT calls ({}-byte request, {response_len}-byte response, {items} items)",
            request.len()
        ),
        Kind::CgroupsLookup | Kind::AppsLookup => format!(
            "{} calls with zero keys ({}-byte request, {response_len}-byte response)",
            kind.method().spec_name(),
            request.len()
        ),
        Kind::Increment => "INCREMENT calls (8 bytes each way)".to_owned(),
        Kind::StringReverse => {
            "STRING_REVERSE calls of an empty text (9 bytes each way)".to_owned()
        }
    };
    let final_params = *session.params();
    let peer_pid = session.peer().pid;
    drop(session);

    let endpoint = endpoint(&p.run_dir, &args.service);
    if args.json {
        return Ok(json_text(&json::Probe {
            service: &args.service,
            run_dir: &p.run_dir,
            endpoint: &endpoint,
            kind: kind.name(),
            method: kind.method().spec_name(),
            handshake_ns: handshake.as_nanos() as u64,
            session: json::Session::new(&final_params, data_plane_text(plane)),
            peer_pid,
            round_trip: json::RoundTrip {
                calls: args.count,
                measured,
                median_ns: median.as_nanos() as u64,
                min_ns: samples[0].as_nanos() as u64,
                max_ns: samples[samples.len() - 1].as_nanos() as u64,
            },
            notes,
        }));
    }
    let fp = final_params;
    let mut out = format!("probe \"{}\" in {} ({endpoint})\n", args.service, p.run_dir);
    let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<15} {v}\n"));
    line("handshake", format!("ok in {}", human_duration(handshake)));
    line(
        "service",
        format!("answers {} ({kind})", kind.method().spec_name()),
    );
    line(
        "profile",
        format!(
            "{} ({:#04x}): {}",
            fp.selected_profile,
            fp.selected_profile.bits(),
            profile_meaning(fp.selected_profile)
        ),
    );
    line("data plane", data_plane_text(plane));
    line("session id", fp.session_id.to_string());
    line(
        "request limit",
        format!(
            "{} bytes, {} item(s) per batch",
            fp.max_request_payload_bytes, fp.max_request_batch_items
        ),
    );
    line(
        "response limit",
        format!(
            "{} bytes, {} item(s) per batch",
            fp.max_response_payload_bytes, fp.max_response_batch_items
        ),
    );
    line("packet size", format!("{} bytes", fp.packet_size));
    line("extensions", format!("{:#x}", fp.extensions));
    line(
        "peer pid",
        peer_pid.map_or_else(
            || "not reported by the system".to_owned(),
            |p| p.to_string(),
        ),
    );
    line(
        "round trip",
        format!(
            "median {} (min {}, max {}) over {} {measured}",
            human_duration(median),
            human_duration(samples[0]),
            human_duration(samples[samples.len() - 1]),
            args.count
        ),
    );
    for n in notes {
        line("note", n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventional_kind_first_snapshot_last() {
        assert_eq!(candidates("apps-lookup", None)[0], Kind::AppsLookup);
        assert_eq!(candidates("x", None).last(), Some(&Kind::CgroupsSnapshot));
        assert_eq!(
            candidates("cgroups-snapshot", None)[0],
            Kind::CgroupsSnapshot
        );
        assert_eq!(candidates("x", Some(Kind::Increment)), [Kind::Increment]);
    }

    #[test]
    fn minimal_requests() {
        assert_eq!(minimal_request(Kind::CgroupsSnapshot).len(), 4);
        assert_eq!(minimal_request(Kind::CgroupsLookup).len(), 16);
        assert_eq!(minimal_request(Kind::AppsLookup).len(), 16);
        assert_eq!(minimal_request(Kind::Increment).len(), 8);
        assert_eq!(minimal_request(Kind::StringReverse).len(), 9);
    }
}
