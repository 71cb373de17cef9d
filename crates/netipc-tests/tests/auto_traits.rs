//! The auto traits of every public type, checked by the compiler.
//!
//! The same source is built for Linux and for Windows (both test lanes
//! build every test target), so this file compiling in both lanes is the
//! proof that the two platforms give each public type the same `Send`,
//! `Sync`, `Unpin`, `UnwindSafe` and `RefUnwindSafe`: a type that gains
//! or loses one of them on either OS fails the build. Each entry names all
//! five traits, a missing one as `!Trait`.
//!
//! The runtime tests below keep the table honest: every entry states all
//! five traits exactly once, and every `pub struct` / `pub enum` of the
//! library's sources has an entry.

use std::panic::{RefUnwindSafe, UnwindSafe};
use std::path::Path;
use std::sync::{Arc, RwLock};

/// `auto_traits! { Type: [Send, !Sync, ...]; ... }` checks at compile time
/// that `Type` implements each trait named bare and does not implement
/// each trait named with `!`, and records the entries in `TABLE`.
macro_rules! auto_traits {
    ($($ty:ty: [$($spec:tt)*];)*) => {
        $(auto_traits!(@check $ty; $($spec)*);)*
        /// `(type, its traits)` as written in the table.
        const TABLE: &[(&str, &str)] = &[$((stringify!($ty), stringify!($($spec)*))),*];
    };
    (@check $ty:ty;) => {};
    (@check $ty:ty; ! $trait:ident $(, $($rest:tt)*)?) => {
        // Two impls of `Ambiguous` apply to `$ty` when it implements
        // `$trait` (then `_` cannot be inferred and the build fails), one
        // when it does not.
        const _: fn() = || {
            trait Ambiguous<Which> {
                fn probe() {}
            }
            impl<T: ?Sized> Ambiguous<()> for T {}
            struct IfImplemented;
            impl<T: ?Sized + $trait> Ambiguous<IfImplemented> for T {}
            let _ = <$ty as Ambiguous<_>>::probe;
        };
        auto_traits!(@check $ty; $($($rest)*)?);
    };
    (@check $ty:ty; $trait:ident $(, $($rest:tt)*)?) => {
        const _: fn() = || {
            fn implements<T: ?Sized + $trait>() {}
            implements::<$ty>();
        };
        auto_traits!(@check $ty; $($($rest)*)?);
    };
}

auto_traits! {
    // --- crate root (errors) ---
    netipc::Error: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::CodecError: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::CodecErrorKind: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];

    // --- wire ---
    netipc::wire::Method: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::wire::TransportStatus: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::wire::Profiles: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::wire::ParseProfilesError: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::wire::BatchBuilder<'static>: [Send, Sync, Unpin, !UnwindSafe, RefUnwindSafe];
    netipc::wire::BatchView<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::wire::ChunkHeader: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::wire::Header: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::wire::MessageKind: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::wire::Hello: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::wire::HelloAck: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];

    // --- codec ---
    netipc::codec::DispatchError: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::AppsLookupBuilder<'static>: [Send, Sync, Unpin, !UnwindSafe, RefUnwindSafe];
    netipc::codec::AppsLookupRequest<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::AppsEntry<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::AppsLookupItem<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::AppsLookupView<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::CgroupStatus: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::PidStatus: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::CgroupsLookupBuilder<'static, 'static>: [Send, Sync, Unpin, !UnwindSafe, RefUnwindSafe];
    netipc::codec::CgroupsLookupRequest<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::CgroupsLookupItem<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::CgroupsLookupStatus: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::CgroupsLookupView<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::SnapshotBuilder<'static>: [Send, Sync, Unpin, !UnwindSafe, RefUnwindSafe];
    netipc::codec::SnapshotItem<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::CgroupsEntry<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::SnapshotRequest: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::SnapshotView<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::Label<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::codec::Labels<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];

    // --- service (L2) ---
    netipc::service::AppsLookup: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::CgroupsLookup: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::CgroupsSnapshot: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::Increment: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::StringReverse: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    // `Client<K>` for every kind (`ServiceKind` is sealed). Not unwind safe:
    // it keeps its last `Error`, which holds an `io::Error`.
    netipc::service::AppsLookupClient: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::service::CgroupsLookupClient: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::service::CgroupsSnapshotClient: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::service::IncrementClient: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::service::StringReverseClient: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::service::Client<netipc::service::CgroupsLookup>: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::service::SessionInfo: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::StringBatch<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::ClientConfig: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::ServerConfig: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::ManagedServer: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::service::BoundServer: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::service::RunningServer: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::service::StopHandle: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::ServerStats: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::ResponseCounts: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::AbortHandle: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::ClientState: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::service::ClientStatus: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];

    // --- cache (L3) ---
    netipc::cache::CacheGuard: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::cache::CacheStatus: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::cache::SnapshotCache: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::cache::CacheItem: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::cache::CachedItem<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];

    // --- transport (L1) ---
    netipc::transport::DataPlane: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::Items<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::Message<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::ClientSession: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::Listener: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::Incoming: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::ServerSession: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::Interrupt: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::PeerCredentials: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::ClientOptions: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::ServerOptions: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::ShmAttachError: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::transport::EndpointAccess: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::Identity: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::IdentityParseError: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::IdentityPolicy: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::UntrustedProvider: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::Identities: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::Sid: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::framing::ChunkError: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::framing::FirstPacket: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::framing::InFlight: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::framing::LimitExceeded: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::framing::Limits: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::framing::Packet<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::framing::Packets<'static>: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::framing::ProtocolError: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::framing::Reassembly: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::handshake::ClientOffer: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::handshake::HandshakeError: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::handshake::ServerOffer: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::handshake::ServerOutcome: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::handshake::SessionParams: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::names::NameError: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::names::WindowsShmNames: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::run_dir::RunDirError: [Send, Sync, Unpin, !UnwindSafe, !RefUnwindSafe];
    netipc::transport::run_dir::RunDirPolicy: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
    netipc::transport::run_dir::RunDirState: [Send, Sync, Unpin, UnwindSafe, RefUnwindSafe];
}

const ALL: [&str; 5] = ["Send", "Sync", "Unpin", "UnwindSafe", "RefUnwindSafe"];

/// The last path segment of a type as written (`a::b::C<'x>` -> `C`).
fn simple_name(ty: &str) -> &str {
    let path = ty.split('<').next().unwrap_or(ty).trim();
    path.rsplit("::").next().unwrap_or(path).trim()
}

#[test]
fn every_entry_states_all_five_traits_once() {
    for (ty, spec) in TABLE {
        let mut named: Vec<&str> = spec
            .split(',')
            .map(|s| s.trim().trim_start_matches('!').trim())
            .collect();
        named.sort_unstable();
        let mut want = ALL.to_vec();
        want.sort_unstable();
        assert_eq!(
            named, want,
            "{ty}: name each of {ALL:?} once (bare or with `!`), found `{spec}`"
        );
    }
}

/// The names of the `pub struct` / `pub enum` / `pub union` items in the
/// `.rs` files under `dir` (a line-based scan: these are declared one per
/// line, and `pub(crate)` items do not match), with their files.
fn public_type_names(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).expect("list the library sources") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            public_type_names(&path, out);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("read a library source");
        for line in source.lines() {
            let line = line.trim_start();
            let rest = ["pub struct ", "pub enum ", "pub union "]
                .iter()
                .find_map(|kw| line.strip_prefix(kw));
            if let Some(rest) = rest {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // `pub struct $name` in a macro: its expansions are listed
                // by hand above.
                if !name.is_empty() {
                    out.push((name, path.display().to_string()));
                }
            }
        }
    }
}

#[test]
fn every_public_type_has_an_entry() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../netipc/src");
    let mut found = Vec::new();
    public_type_names(&src, &mut found);
    // Private backends are scanned too (their items are `pub(crate)`: none
    // may be public). Skipped: the test scaffolding of the `test-support`
    // feature, which is not part of the API.
    let skipped = |file: &str| file.replace('\\', "/").ends_with("/transport/testing.rs");
    let listed: Vec<&str> = TABLE.iter().map(|(ty, _)| simple_name(ty)).collect();
    let missing: Vec<String> = found
        .iter()
        .filter(|(name, file)| !skipped(file) && !listed.contains(&name.as_str()))
        .map(|(name, file)| format!("{name} ({file})"))
        .collect();
    assert!(
        found.len() > 50,
        "the scan of {} found only {} public types: is the path right?",
        src.display(),
        found.len()
    );
    assert!(
        missing.is_empty(),
        "public types without an entry in tests/auto_traits.rs (add each with its five auto traits): {missing:?}"
    );
}

/// The case the issue names: a typed client shared behind `Arc<RwLock<_>>`
/// by several threads, written once for both OSes. Creating a client does
/// no I/O, so nothing needs to listen.
#[test]
fn a_client_is_shared_across_threads_behind_a_lock() {
    let client = netipc::service::CgroupsLookupClient::new(
        "netipc-auto-traits-no-such-dir",
        "cgroups-lookup",
        &netipc::service::ClientConfig::default(),
    );
    let shared = Arc::new(RwLock::new(client));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || shared.read().expect("not poisoned").status().state)
        })
        .collect();
    for reader in readers {
        let state = reader.join().expect("the reader thread");
        assert_eq!(state, netipc::service::ClientState::Disconnected);
    }
    // And written by one of them.
    let writer = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || shared.write().expect("not poisoned").status().call_count)
    };
    assert_eq!(writer.join().expect("the writer thread"), 0);
}
