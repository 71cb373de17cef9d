//! The hidden entry points the C API (crates/netipc-c) builds on: a client
//! rebound to another method keeps its session and counters, and one item
//! of a decoded response read from its payload alone, with that item's
//! checks.

#[path = "common/mod.rs"]
mod common;

use std::time::Duration;

use common::{RunDir, watchdog};
use netipc::CodecErrorKind as K;
use netipc::codec::*;
use netipc::service::{
    AppsLookupClient, CgroupsLookupClient, CgroupsSnapshotClient, ClientConfig, ClientState,
    ManagedServer, ServerConfig,
};
use netipc::{Error, wire::TransportStatus};

fn snapshot_payload() -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    let mut b = SnapshotBuilder::new(&mut buf, 3).unwrap();
    b.set_generation(4);
    for (i, name) in ["a", "bb", "ccc"].iter().enumerate() {
        let path = format!("/{name}");
        b.add(&SnapshotItem {
            hash: i as u32,
            options: 1,
            enabled: 0,
            name: name.as_bytes(),
            path: path.as_bytes(),
        })
        .unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

#[test]
fn snapshot_items_read_from_the_payload_match_the_view() {
    let payload = snapshot_payload();
    let view = SnapshotView::decode(&payload).unwrap();
    assert_eq!(view.as_bytes(), &payload[..]);
    for i in 0..view.len() {
        assert_eq!(SnapshotView::item_at(&payload, i), view.item(i));
    }
    assert_eq!(
        SnapshotView::item_at(&payload, 3).unwrap_err().kind(),
        K::OutOfBounds
    );
    assert_eq!(
        SnapshotView::item_at(&payload[..20], 0).unwrap_err().kind(),
        K::Truncated
    );
    // A payload cut inside the directory, then inside an item.
    assert_eq!(
        SnapshotView::item_at(&payload[..30], 0).unwrap_err().kind(),
        K::Truncated
    );
    assert_eq!(
        SnapshotView::item_at(&payload[..payload.len() - 1], 2)
            .unwrap_err()
            .kind(),
        K::OutOfBounds
    );
    // An item broken after the decode: only that item fails.
    let mut broken = payload.clone();
    let first = 24 + 3 * 8;
    broken[first + 2] = 1; // its flags
    assert_eq!(
        SnapshotView::item_at(&broken, 0).unwrap_err().kind(),
        K::BadLayout
    );
    assert!(SnapshotView::item_at(&broken, 1).is_ok());
}

fn cgroups_payload() -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let mut b = CgroupsLookupBuilder::new(&mut buf, 2, 9).unwrap();
    b.add(
        b"/p",
        &CgroupsEntry::known(orchestrator::DOCKER, b"n"),
        &[("k", "v")],
    )
    .unwrap();
    b.add_status(b"/q", CgroupsLookupStatus::UnknownPermanent)
        .unwrap();
    let n = b.finish();
    buf.truncate(n);
    buf
}

#[test]
fn lookup_items_read_from_the_payload_match_the_view() {
    let payload = cgroups_payload();
    let view = CgroupsLookupView::decode(&payload).unwrap();
    assert_eq!(view.as_bytes(), &payload[..]);
    for i in 0..view.len() {
        let raw = CgroupsLookupView::raw_item_at(&payload, i).unwrap();
        assert_eq!(Some(raw), view.raw_item(i));
        let item = CgroupsLookupItem::decode(raw).unwrap();
        let expected = view.item(i).unwrap();
        assert_eq!(
            (item.status, item.path, item.name),
            (expected.status, expected.path, expected.name)
        );
        assert_eq!(item.labels.len(), expected.labels.len());
    }
    let label = CgroupsLookupItem::decode(view.raw_item(0).unwrap())
        .unwrap()
        .labels
        .get(0)
        .unwrap();
    assert_eq!((label.key, label.value), (&b"k"[..], &b"v"[..]));
    assert_eq!(
        CgroupsLookupView::raw_item_at(&payload, 2)
            .unwrap_err()
            .kind(),
        K::OutOfBounds
    );
    assert_eq!(
        CgroupsLookupView::raw_item_at(&payload[..20], 0)
            .unwrap_err()
            .kind(),
        K::Truncated
    );
    assert_eq!(
        CgroupsLookupView::raw_item_at(&payload[..payload.len() - 1], 1)
            .unwrap_err()
            .kind(),
        K::OutOfBounds
    );
    // Every rule of the item holds when it is decoded on its own; a read
    // checks the strings' bounds and terminators only.
    let raw = view.raw_item(1).unwrap();
    let mut broken = raw.to_vec();
    broken[2] = 9; // status
    assert_eq!(
        CgroupsLookupItem::decode(&broken).unwrap_err().kind(),
        K::BadLayout
    );
    assert!(CgroupsLookupItem::read(&broken).is_ok());
    let read = CgroupsLookupItem::read(raw).unwrap();
    assert_eq!((read.path, read.name), (&b"/q"[..], &b""[..]));
    broken[28 + 2] = b'x'; // the path's NUL
    assert_eq!(
        CgroupsLookupItem::read(&broken).unwrap_err().kind(),
        K::MissingNul
    );
    assert_eq!(
        CgroupsLookupItem::read(&raw[..27]).unwrap_err().kind(),
        K::Truncated
    );

    let mut buf = vec![0u8; 1024];
    let mut b = AppsLookupBuilder::new(&mut buf, 1, 3).unwrap();
    b.add_status(42, PidStatus::Unknown).unwrap();
    let n = b.finish();
    let view = AppsLookupView::decode(&buf[..n]).unwrap();
    let raw = AppsLookupView::raw_item_at(&buf[..n], 0).unwrap();
    let item = AppsLookupItem::decode(raw).unwrap();
    assert_eq!((item.pid, item.entry.status), (42, PidStatus::Unknown));
    let read = AppsLookupItem::read(raw).unwrap();
    assert_eq!((read.pid, read.entry.comm), (42, &b""[..]));
    assert_eq!(
        AppsLookupItem::read(&raw[..59]).unwrap_err().kind(),
        K::Truncated
    );
    assert_eq!(view.as_bytes(), &buf[..n]);
}

#[test]
fn labels_read_from_an_item_check_the_label_they_read() {
    let mut buf = vec![0u8; 1024];
    let mut b = CgroupsLookupBuilder::new(&mut buf, 1, 1).unwrap();
    let labels = [("k", "v"), ("key", "")];
    b.add(b"/p", &CgroupsEntry::known(1, b"n"), &labels)
        .unwrap();
    let n = b.finish();
    let raw = CgroupsLookupView::raw_item_at(&buf[..n], 0).unwrap();
    let read = CgroupsLookupItem::read(raw).unwrap().labels;
    let decoded = CgroupsLookupItem::decode(raw).unwrap().labels;
    assert_eq!(read.len(), 2);
    for i in 0..read.len() {
        assert_eq!(read.read(i).unwrap(), decoded.get(i).unwrap());
    }
    assert_eq!(read.read(2).unwrap_err().kind(), K::OutOfBounds);

    // "/p\0n\0" after the 28-byte header, the table at 40, the strings at 72.
    let (table, strings) = (40, 72);
    assert_eq!(&raw[strings..strings + 4], b"k\0v\0");
    let broken = |at: usize, byte: u8, index: usize| {
        let mut item = raw.to_vec();
        item[at] = byte;
        let label = CgroupsLookupItem::read(&item).unwrap().labels.read(index);
        label.map(|l| (l.key.to_vec(), l.value.to_vec()))
    };
    let owned = |i: usize| {
        let l = decoded.get(i).unwrap();
        (l.key.to_vec(), l.value.to_vec())
    };
    // Only the label read is checked: a broken padding byte or another
    // label's string does not matter to it; the full decode refuses both.
    let mut padded = raw.to_vec();
    padded[33] = 1;
    assert_eq!(
        CgroupsLookupItem::decode(&padded).unwrap_err().kind(),
        K::BadLayout
    );
    assert_eq!(broken(33, 1, 0).unwrap(), owned(0));
    assert_eq!(broken(strings + 1, b'x', 1).unwrap(), owned(1));
    assert_eq!(
        broken(strings + 1, b'x', 0).unwrap_err().kind(),
        K::MissingNul
    );
    assert_eq!(
        broken(strings + 3, b'x', 0).unwrap_err().kind(),
        K::MissingNul
    );
    // A key offset past the item, a value length past it, an offset
    // before the table.
    assert_eq!(broken(table + 1, 9, 0).unwrap_err().kind(), K::OutOfBounds);
    assert_eq!(
        broken(table + 12, 200, 0).unwrap_err().kind(),
        K::OutOfBounds
    );
    assert_eq!(broken(table, 8, 0).unwrap_err().kind(), K::OutOfBounds);
    // A label count past the table's end in the item.
    assert_eq!(broken(24, 9, 8).unwrap_err().kind(), K::OutOfBounds);

    let mut buf = vec![0u8; 1024];
    let mut b = AppsLookupBuilder::new(&mut buf, 1, 1).unwrap();
    let entry = AppsEntry {
        status: PidStatus::Known,
        cgroup_status: CgroupStatus::Known,
        orchestrator: 1,
        ppid: 1,
        uid: 0,
        starttime: 5,
        comm: b"sh",
        cgroup_path: b"/p",
        cgroup_name: b"n",
    };
    b.add(7, &entry, &labels).unwrap();
    let n = b.finish();
    let raw = AppsLookupView::raw_item_at(&buf[..n], 0).unwrap();
    let read = AppsLookupItem::read(raw).unwrap().labels;
    let decoded = AppsLookupItem::decode(raw).unwrap().labels;
    assert_eq!(read.len(), 2);
    for i in 0..read.len() {
        assert_eq!(read.read(i).unwrap(), decoded.get(i).unwrap());
    }
    assert_eq!(read.read(2).unwrap_err().kind(), K::OutOfBounds);
}

#[test]
fn a_rebound_client_keeps_its_session_and_counters() {
    watchdog(Duration::from_secs(60), || {
        let dir = RunDir::new();
        let server =
            ManagedServer::cgroups_snapshot(dir.str(), "hooks", &ServerConfig::default(), |b| {
                b.set_generation(5);
                Ok(())
            })
            .spawn()
            .unwrap();
        let mut client = CgroupsSnapshotClient::new(dir.str(), "hooks", &ClientConfig::default());
        client.connect().unwrap();
        assert_eq!(client.call().unwrap().generation(), 5);

        // Another method on the same session: the provider refuses it.
        let mut lookup: CgroupsLookupClient = client.rebind();
        assert!(matches!(
            lookup.call(&["/x"]),
            Err(Error::Rejected(TransportStatus::UNSUPPORTED))
        ));
        let mut apps: AppsLookupClient = lookup.rebind();
        assert!(apps.call(&[1]).is_err());
        let mut client: CgroupsSnapshotClient = apps.rebind();
        assert_eq!(client.call().unwrap().generation(), 5);
        let status = client.status();
        assert_eq!(status.state, ClientState::Ready);
        assert_eq!((status.connect_count, status.reconnect_count), (1, 0));
        assert_eq!((status.call_count, status.error_count), (2, 2));
        drop(client);
        server.stop();
    });
}
