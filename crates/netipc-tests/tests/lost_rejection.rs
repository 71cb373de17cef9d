//! A lookup client's speculative renegotiation (proposing a request size
//! that takes every key) must not fail the call when the provider's
//! rejection is lost: reference named-pipe servers may close the
//! connection before their `LIMIT_EXCEEDED` HELLO_ACK is read. A proxy in
//! front of a real provider plays that server: it closes every connection
//! whose HELLO proposes more than the provider takes, without answering,
//! and forwards everything else.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{RunDir, watchdog};
use netipc::codec::{CgroupsEntry, NO_LABELS};
use netipc::service::{CgroupsLookupClient, ClientConfig, ManagedServer, Profiles, ServerConfig};
use netipc::transport::testing::{RawConn, RawListener};
use netipc::wire::{HEADER_LEN, Hello};

const LIMIT: Duration = Duration::from_secs(60);
/// The provider's fixed request size.
const PROVIDER_MAX: u32 = 4096;

/// Forwards packets from `from` to `to` until either side closes.
fn forward(from: Arc<RawConn>, to: Arc<RawConn>, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 1 << 20];
    while !stop.load(Ordering::Relaxed) {
        match from.recv(&mut buf, Some(Duration::from_millis(50))) {
            Ok(n) => {
                if to.send(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(netipc::Error::Timeout { .. }) => {}
            Err(_) => break,
        }
    }
    stop.store(true, Ordering::Relaxed);
}

/// Serves `front` by forwarding to `real`, closing (unanswered) every
/// connection whose HELLO proposes more than [`PROVIDER_MAX`]. Returns how
/// many it closed that way.
fn proxy(dir: String, front: &'static str, real: &'static str, done: Arc<AtomicBool>) -> usize {
    let listener = RawListener::bind(&dir, front).expect("bind the proxy");
    let mut closed = 0;
    let mut pumps = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let client = match listener.accept(Some(Duration::from_millis(50)), None) {
            Ok(c) => Arc::new(c),
            Err(netipc::Error::Timeout { .. }) => continue,
            Err(e) => panic!("proxy accept: {e}"),
        };
        let mut hello = vec![0u8; 4096];
        let n = client
            .recv(&mut hello, Some(Duration::from_secs(5)))
            .expect("the client's HELLO");
        let proposal = Hello::decode(&hello[HEADER_LEN..n]).expect("a HELLO");
        if proposal.max_request_payload_bytes > PROVIDER_MAX {
            closed += 1;
            drop(client);
            continue;
        }
        let upstream = Arc::new(RawConn::connect(&dir, real).expect("reach the provider"));
        upstream.send(&hello[..n]).expect("forward the HELLO");
        let stop = Arc::new(AtomicBool::new(false));
        for (from, to) in [
            (client.clone(), upstream.clone()),
            (upstream.clone(), client.clone()),
        ] {
            let stop = stop.clone();
            pumps.push(thread::spawn(move || forward(from, to, stop)));
        }
    }
    for p in pumps {
        let _ = p.join();
    }
    closed
}

#[test]
fn a_lost_rejection_falls_back_like_limit_exceeded() {
    watchdog(LIMIT, || {
        let dir = RunDir::new();
        let handled = Arc::new(AtomicUsize::new(0));
        let counted = handled.clone();
        let provider = ManagedServer::cgroups_lookup(
            dir.str(),
            "real",
            &ServerConfig {
                supported_profiles: Profiles::BASELINE,
                max_request_payload_bytes: PROVIDER_MAX,
                ..ServerConfig::default()
            },
            move |request, builder| {
                counted.fetch_add(1, Ordering::Relaxed);
                builder.set_generation(7);
                for i in 0..request.len() {
                    builder.add_request_item(i, &CgroupsEntry::known(0, b"n"), NO_LABELS)?;
                }
                Ok(())
            },
        )
        .spawn()
        .expect("start the provider");
        let done = Arc::new(AtomicBool::new(false));
        let proxy = {
            let (dir, done) = (dir.str().to_owned(), done.clone());
            thread::spawn(move || proxy(dir, "front", "real", done))
        };
        let config = ClientConfig {
            supported_profiles: Profiles::BASELINE,
            ..ClientConfig::default()
        };
        let mut client = CgroupsLookupClient::new(dir.str(), "front", &config);
        client
            .wait_ready(Duration::from_secs(10))
            .expect("connect through the proxy");
        let paths: Vec<Vec<u8>> = (0..2000)
            .map(|i| format!("/sys/fs/cgroup/system.slice/unit-{i:05}.scope").into_bytes())
            .collect();
        for round in 0..3 {
            let view = client
                .call(&paths)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert_eq!(view.len(), paths.len());
            for (i, item) in view.iter().enumerate() {
                assert_eq!(item.path, &paths[i][..]);
            }
        }
        done.store(true, Ordering::Relaxed);
        drop(client);
        let closed = proxy.join().expect("proxy");
        assert_eq!(
            closed, 1,
            "one speculative proposal per client, not one per call"
        );
        assert!(handled.load(Ordering::Relaxed) > 0);
        provider.stop();
    });
}
