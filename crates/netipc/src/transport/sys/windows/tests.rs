//! The poller contract on real pipes: one event per arm, receives that
//! take over what the poller's read brought in, writes in flight, hang-ups,
//! removal with operations in flight, the listener and posted tokens.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{Conn, Event, Interest, Listener, Poller, connect};

const PATIENCE: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(150);

fn run_dir() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "/netipc-poller-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// A connected (server, client) pair.
fn pair() -> (Listener, Conn, Conn) {
    let dir = run_dir();
    let listener = Listener::bind(&dir, "svc", 4).unwrap();
    let client = connect(&dir, "svc", Some(Instant::now() + PATIENCE), None).unwrap();
    let server = listener
        .accept(Some(Instant::now() + PATIENCE), None)
        .unwrap();
    (listener, server, client)
}

fn packet(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// The next event (failing after `PATIENCE`), skipping non-events.
fn next_event(poller: &Poller) -> Event {
    let give_up = Instant::now() + PATIENCE;
    loop {
        let left = give_up.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no event");
        if let Some(event) = poller.wait(Some(left)).unwrap() {
            return event;
        }
    }
}

/// Asserts that no event comes within `QUIET`.
fn no_event(poller: &Poller) {
    let until = Instant::now() + QUIET;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if let Some(event) = poller.wait(Some(left)).unwrap() {
            panic!("unexpected {event:?}");
        }
    }
}

fn io(token: u64, hang_up: bool) -> Event {
    Event::Io { token, hang_up }
}

fn send(conn: &Conn, bytes: &[u8]) {
    conn.send_packet(&[bytes], Some(Instant::now() + PATIENCE), None)
        .unwrap();
}

#[test]
fn a_waiting_packet_longer_than_the_prefix_makes_one_event_and_arrives_whole() {
    let (_l, server, client) = pair();
    let poller = Poller::new().unwrap();
    let sent = packet(5000, 1);
    send(&client, &sent);
    // Armed while the packet waits: the read completes at once.
    poller.add(&server, 7, Interest::Read).unwrap();
    assert_eq!(next_event(&poller), io(7, false));
    no_event(&poller);
    let mut buf = vec![0u8; 8192];
    assert_eq!(server.try_recv_packet(&mut buf).unwrap(), Some(5000));
    assert_eq!(&buf[..5000], &sent[..]);
    assert_eq!(server.try_recv_packet(&mut buf).unwrap(), None);
}

#[test]
fn a_packet_arriving_later_makes_one_event_split_or_whole() {
    let (_l, server, client) = pair();
    let poller = Poller::new().unwrap();
    poller.add(&server, 9, Interest::Read).unwrap();
    no_event(&poller);
    let small = packet(100, 2);
    let large = packet(70_000, 3);
    send(&client, &small);
    send(&client, &large);
    assert_eq!(next_event(&poller), io(9, false));
    // The second packet is not an event: nothing is armed.
    no_event(&poller);
    let mut buf = vec![0u8; 200];
    assert_eq!(server.try_recv_packet(&mut buf).unwrap(), Some(100));
    assert_eq!(&buf[..100], &small[..]);
    let mut head = [0u8; 32];
    let mut body = vec![0u8; 80_000];
    let n = server
        .try_recv_packet_split(&mut head, &mut body)
        .unwrap()
        .unwrap();
    assert_eq!(n, 70_000);
    assert_eq!(&head[..], &large[..32]);
    assert_eq!(&body[..n - 32], &large[32..]);
    // Re-armed with nothing waiting: quiet until the next packet.
    poller.rearm(&server, 9, Interest::Read).unwrap();
    no_event(&poller);
    send(&client, &small);
    assert_eq!(next_event(&poller), io(9, false));
    assert_eq!(server.try_recv_packet(&mut buf).unwrap(), Some(100));
}

#[test]
fn a_packet_larger_than_the_buffer_reports_its_real_length() {
    let (_l, server, client) = pair();
    let poller = Poller::new().unwrap();
    poller.add(&server, 3, Interest::Read).unwrap();
    let sent = packet(3000, 4);
    send(&client, &sent);
    send(&client, b"next");
    assert_eq!(next_event(&poller), io(3, false));
    let mut buf = [0u8; 1000];
    assert_eq!(server.try_recv_packet(&mut buf).unwrap(), Some(3000));
    assert_eq!(&buf[..], &sent[..1000]);
    // The rest was dropped: the next packet starts at its boundary.
    assert_eq!(server.try_recv_packet(&mut buf).unwrap(), Some(4));
    assert_eq!(&buf[..4], b"next");
}

#[test]
fn blocking_receives_take_over_the_pollers_read() {
    let (_l, server, client) = pair();
    let poller = Poller::new().unwrap();
    poller.add(&server, 5, Interest::Read).unwrap();
    let sent = packet(2000, 5);
    send(&client, &sent);
    assert_eq!(next_event(&poller), io(5, false));
    let mut buf = vec![0u8; 4096];
    let deadline = Some(Instant::now() + PATIENCE);
    assert_eq!(server.recv_packet(&mut buf, deadline, None).unwrap(), 2000);
    assert_eq!(&buf[..2000], &sent[..]);
}

#[test]
fn a_hang_up_ends_a_read_or_hang_up_wait() {
    for interest in [Interest::Read, Interest::HangUp] {
        let (_l, server, client) = pair();
        let poller = Poller::new().unwrap();
        poller.add(&server, 11, interest).unwrap();
        no_event(&poller);
        drop(client);
        assert_eq!(next_event(&poller), io(11, true));
        let mut buf = [0u8; 64];
        assert!(matches!(
            server.try_recv_packet(&mut buf),
            Err(crate::Error::Disconnected)
        ));
        assert!(server.peer_closed());
    }
}

#[test]
fn write_interest_fires_at_once_without_a_write_in_flight() {
    let (_l, server, _client) = pair();
    let poller = Poller::new().unwrap();
    poller.add(&server, 13, Interest::Write).unwrap();
    assert_eq!(next_event(&poller), io(13, false));
    no_event(&poller);
}

#[test]
fn a_write_in_flight_holds_the_next_one_until_the_client_reads() {
    let (_l, server, client) = pair();
    let poller = Poller::new().unwrap();
    poller.add(&server, 15, Interest::Read).unwrap();
    let chunk = packet(64 * 1024, 6);
    // Fill the pipe until a write stays in flight and the next is refused.
    let mut handed = 0;
    while server.try_send_packet(&[&chunk]).unwrap() {
        handed += 1;
        assert!(handed < 1000, "the pipe never filled up");
    }
    poller.rearm(&server, 15, Interest::Write).unwrap();
    no_event(&poller);
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Some(Instant::now() + PATIENCE);
    for _ in 0..handed {
        assert_eq!(
            client.recv_packet(&mut buf, deadline, None).unwrap(),
            chunk.len()
        );
        assert_eq!(buf, chunk);
    }
    assert_eq!(next_event(&poller), io(15, false));
    assert!(server.try_send_packet(&[b"after"]).unwrap());
    assert_eq!(client.recv_packet(&mut buf, deadline, None).unwrap(), 5);
}

#[test]
fn a_closed_connection_leaves_no_event_behind() {
    let (_l, server, client) = pair();
    let poller = Poller::new().unwrap();
    poller.add(&server, 17, Interest::Read).unwrap();
    poller.remove(&server);
    drop(server);
    send_ignoring_errors(&client);
    no_event(&poller);
    // Closed without being removed first, with a write in flight too.
    let (_l2, server, client) = pair();
    poller.add(&server, 19, Interest::HangUp).unwrap();
    let chunk = packet(64 * 1024, 7);
    while server.try_send_packet(&[&chunk]).unwrap() {}
    drop(server);
    drop(client);
    no_event(&poller);
}

fn send_ignoring_errors(conn: &Conn) {
    let _ = conn.send_packet(&[b"late"], Some(Instant::now() + QUIET), None);
}

#[test]
fn posted_tokens_reach_one_waiter_each() {
    let poller = Poller::new().unwrap();
    poller.post(21);
    poller.post(22);
    assert_eq!(next_event(&poller), Event::Posted(21));
    assert_eq!(next_event(&poller), Event::Posted(22));
    no_event(&poller);
}

#[test]
fn the_listener_fires_once_per_arm() {
    let dir = run_dir();
    let listener = Listener::bind(&dir, "svc", 4).unwrap();
    let poller = Poller::new().unwrap();
    poller.add_listener(&listener, 1).unwrap();
    assert!(listener.try_accept().unwrap().is_none());
    no_event(&poller);
    let connect_one = || connect(&dir, "svc", Some(Instant::now() + PATIENCE), None).unwrap();
    let c1 = connect_one();
    let c2 = connect_one();
    assert_eq!(next_event(&poller), io(1, false));
    no_event(&poller);
    let mut accepted = Vec::new();
    while let Some(conn) = listener.try_accept().unwrap() {
        accepted.push(conn);
    }
    assert_eq!(accepted.len(), 2);
    poller.rearm_listener(&listener, 1).unwrap();
    no_event(&poller);
    let c3 = connect_one();
    assert_eq!(next_event(&poller), io(1, false));
    assert!(listener.try_accept().unwrap().is_some());
    // Accepted connections register with the same poller.
    poller.add(&accepted[0], 30, Interest::Read).unwrap();
    send(&c1, b"hello");
    assert_eq!(next_event(&poller), io(30, false));
    poller.remove_listener(&listener);
    drop((c2, c3));
}

#[test]
fn many_workers_share_one_poller() {
    const SESSIONS: u64 = 16;
    const ROUNDS: usize = 50;
    let dir = run_dir();
    let listener = Listener::bind(&dir, "svc", 32).unwrap();
    let poller = std::sync::Arc::new(Poller::new().unwrap());
    let mut clients = Vec::new();
    let mut servers = std::collections::HashMap::new();
    for token in 0..SESSIONS {
        clients.push(connect(&dir, "svc", Some(Instant::now() + PATIENCE), None).unwrap());
        let server = listener
            .accept(Some(Instant::now() + PATIENCE), None)
            .unwrap();
        poller.add(&server, 100 + token, Interest::Read).unwrap();
        let busy = std::sync::atomic::AtomicBool::new(false);
        servers.insert(100 + token, (busy, std::sync::Mutex::new(server)));
    }
    let servers = std::sync::Arc::new(servers);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (poller, servers, stop) = (poller.clone(), servers.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Some(event) = poller.wait(Some(Duration::from_millis(20))).unwrap() else {
                        continue;
                    };
                    let Event::Io { token, hang_up } = event else {
                        continue;
                    };
                    if stop.load(Ordering::SeqCst) {
                        // Wine cancels the reads a worker that already left
                        // had issued (real Windows keeps port I/O alive).
                        break;
                    }
                    assert!(!hang_up);
                    let (busy, server) = &servers[&token];
                    // One event per arm: nobody else handles this session now.
                    assert!(!busy.swap(true, Ordering::SeqCst), "one event per arm");
                    let server = server.lock().unwrap();
                    let mut buf = [0u8; 64];
                    while let Some(n) = server.try_recv_packet(&mut buf).unwrap() {
                        assert!(server.try_send_packet(&[&buf[..n]]).unwrap());
                    }
                    busy.store(false, Ordering::SeqCst);
                    poller.rearm(&server, token, Interest::Read).unwrap();
                }
            })
        })
        .collect();
    let deadline = Some(Instant::now() + PATIENCE);
    for round in 0..ROUNDS {
        for (i, client) in clients.iter().enumerate() {
            let msg = format!("{round}-{i}");
            send(client, msg.as_bytes());
        }
        for (i, client) in clients.iter().enumerate() {
            let mut buf = [0u8; 64];
            let n = client.recv_packet(&mut buf, deadline, None).unwrap();
            assert_eq!(&buf[..n], format!("{round}-{i}").as_bytes());
        }
    }
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().unwrap();
    }
}

#[test]
fn packets_written_before_a_close_are_still_delivered() {
    for server_closes in [true, false] {
        let (_l, server, client) = pair();
        let (writer, reader) = if server_closes {
            (server, client)
        } else {
            (client, server)
        };
        assert!(writer.try_send_packet(&[b"one"]).unwrap());
        assert!(writer.try_send_packet(&[b"two"]).unwrap());
        drop(writer);
        let mut buf = [0u8; 16];
        let deadline = Some(Instant::now() + PATIENCE);
        assert_eq!(reader.recv_packet(&mut buf, deadline, None).unwrap(), 3);
        assert_eq!(&buf[..3], b"one");
        assert_eq!(reader.recv_packet(&mut buf, deadline, None).unwrap(), 3);
        assert!(matches!(
            reader.recv_packet(&mut buf, deadline, None),
            Err(crate::Error::Disconnected)
        ));
    }
}

#[test]
fn a_write_in_flight_at_close_is_still_delivered() {
    let (_l, server, client) = pair();
    let chunk = packet(64 * 1024, 8);
    let mut handed = 0;
    while server.try_send_packet(&[&chunk]).unwrap() {
        handed += 1;
    }
    drop(server);
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Some(Instant::now() + PATIENCE);
    for _ in 0..handed {
        assert_eq!(
            client.recv_packet(&mut buf, deadline, None).unwrap(),
            chunk.len()
        );
    }
    assert!(matches!(
        client.recv_packet(&mut buf, deadline, None),
        Err(crate::Error::Disconnected)
    ));
}

#[test]
fn receivers_on_one_connection_take_turns_and_get_whole_packets() {
    // Each packet arrives in two reads (the 32-byte head, then the body):
    // without the receive turn, two receivers would split packets between
    // them (and share one OVERLAPPED).
    let (_l, server, client) = pair();
    const COUNT: u32 = 200;
    let received = AtomicU32::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            for seed in 0..COUNT {
                send(&client, &packet(3000, seed as u8));
            }
        });
        for _ in 0..2 {
            s.spawn(|| {
                while received.load(Ordering::SeqCst) < COUNT {
                    let mut head = [0u8; crate::wire::HEADER_LEN];
                    let mut body = vec![0u8; 4096];
                    let deadline = Some(Instant::now() + QUIET);
                    let n = match server.recv_packet_split(&mut head, &mut body, deadline, None) {
                        Ok(n) => n,
                        Err(crate::Error::Timeout { .. }) => continue,
                        Err(e) => panic!("receive: {e}"),
                    };
                    assert_eq!(n, 3000);
                    let mut whole = head.to_vec();
                    whole.extend_from_slice(&body[..n - head.len()]);
                    assert_eq!(whole, packet(3000, head[0]), "a packet arrived whole");
                    received.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(received.load(Ordering::SeqCst), COUNT);
}

#[test]
fn a_receive_waiting_for_its_turn_keeps_its_deadline_and_interrupt() {
    const HOLD: Duration = Duration::from_secs(3);
    let (_l, server, _client) = pair();
    let interrupt = super::Interrupt::new().unwrap();
    std::thread::scope(|s| {
        // Holds the receive turn, waiting for a packet that never comes.
        let holder = s.spawn(|| {
            let mut buf = [0u8; 16];
            let deadline = Some(Instant::now() + HOLD);
            server.recv_packet(&mut buf, deadline, None)
        });
        std::thread::sleep(QUIET);
        let mut buf = [0u8; 16];
        let started = Instant::now();
        let deadline = Some(started + QUIET);
        assert!(matches!(
            server.recv_packet(&mut buf, deadline, None),
            Err(crate::Error::Timeout { .. })
        ));
        assert!(
            started.elapsed() < HOLD / 2,
            "the deadline ended the wait, not the other receive"
        );
        assert_eq!(server.try_recv_packet(&mut buf).unwrap(), None);
        interrupt.raise();
        assert!(matches!(
            server.recv_packet(&mut buf, None, Some(&interrupt)),
            Err(crate::Error::Interrupted)
        ));
        assert!(matches!(
            holder.join().unwrap(),
            Err(crate::Error::Timeout { .. })
        ));
    });
}
