//! Operating-system backends. Everything OS-specific in the library lives
//! below this module; the public transport types wrap the items of the
//! backend selected here.
//!
//! # Items every backend provides
//!
//! | item | what it is |
//! |---|---|
//! | `Conn` | a connected baseline channel (SEQPACKET socket, message-mode pipe): `send_packet(parts, deadline, interrupt)` sends one packet, waiting for room until the deadline; `try_send_packet(parts) -> bool` never waits (`false`: nothing was sent because the channel has no room now; on Windows `true` may mean the write is still in flight, its bytes kept by the connection, and the next one waits for it); `recv_packet(buf, deadline, interrupt)` / `try_recv_packet(buf) -> Option` receive one packet and return its real length (which may exceed the buffer); `recv_packet_split` / `try_recv_packet_split(&mut [u8; 32], body)` put its first 32 bytes apart; `peer_closed()`; `default_packet_size()`; `peer()` |
//! | `Listener` | `bind(run_dir, service, backlog)` (one provider per endpoint, stale-endpoint recovery, owner-only; `AddressInUse` names the serving pid when it can), `bind_with(run_dir, service, backlog, access)` (the same with an [`EndpointAccess`](crate::transport::EndpointAccess): POSIX mode and group, Windows DACL), `accept(deadline, interrupt) -> Conn`, `try_accept() -> Option<Conn>`, `endpoint()` |
//! | `default_run_dir()`, `prepare_run_dir(path, policy)`, `canonical_run_dir(path)`, `endpoint_path(run_dir, service)` | the platform's default run directory, its safe creation / checks, the spelling that names its endpoints, and the endpoint's socket path or pipe name (see [`crate::transport::run_dir`]) |
//! | `peer_identity(conn)`, `current_user()`, `admin_identities()`, `endpoint_name(run_dir, service)` | who the peer of a connection is ([`PeerIdentity`](crate::transport::identity): Linux `SO_PEERCRED`, Windows the peer process's token), this process's user, the OS administrator identities, the endpoint for messages |
//! | `connect(run_dir, service, deadline, interrupt) -> Conn` | open a client connection; waiting for a free slot ends at the deadline |
//! | `Interrupt` | a cross-thread wake-up for blocked waits: `new`, `new_closing` (a raise also ends the receives blocked on it by shutting their connections down; Windows: as `new`), `raise`, `clear`, `is_raised` |
//! | `ShmRegion` | one session's shared memory: `create`/`attach`, `publish`, blocking `receive(buf, deadline, interrupt, peer_alive)`, `try_receive(buf) -> Option`, `arrived()`, `spin_for_message(keep_going) -> bool` (polls for the next message without sleeping), `watch() -> ShmWatch` |
//! | `Poller`, `Interest`, `Event` | the multi-session servers' poller, shared by all worker threads: `add_listener` / `rearm_listener` / `remove_listener`, `add(conn, token, interest)` / `rearm` / `remove`, `post(token)`, `wait(timeout) -> Option<Event>`. Every registration is one-shot: an armed interest (`Read`: a packet or a hang-up; `Write`: room to send what is pending, or a hang-up; `HangUp`: only the peer leaving; on Windows a packet on the pipe ends it too) yields exactly one `Event::Io { token, hang_up }`, and nothing more for that token until it is armed again. `post` yields one `Event::Posted(token)` to one waiting thread |
//! | `ShmWatch`, `GroupSignal`, `wait_group`, `group_capacity` | sleeping on many idle regions in one thread: `ShmWatch::arm() -> Option<u32>` announces a sleep (`None`: the message is already there), `nudge()`; `wait_group(signal, seen, armed)` returns when `signal` was woken after `seen = signal.value()` or an armed region is signalled (spurious returns allowed); `group_capacity()` regions per group |
//! | `session_capacity(wanted, per_session)` | how many sessions the process's descriptor limit allows |
//! | `prepare_thread()` | called first by every thread netipc starts (Linux: unblocks `SIGBUS` for the shared-memory fault guard; Windows: nothing) |
//! | `extensions()`, `shm_profiles()`, `cleanup_stale()`, `disable_waitv()` | protocol extensions offered, SHM profiles served, stale region cleanup, a test hook |
//!
//! Errors are reported as [`crate::Error`]: `Disconnected` for a closed
//! peer, `Timeout` when the deadline passes, `Interrupted` when the
//! interrupt is raised, `NotFound` / `AddressInUse` for endpoints, `Io` for
//! anything else.

// The POSIX backend needs Linux (futex, futex_waitv, eventfd, fallocate,
// SO_PEERCRED, SEQPACKET sockets): other Unix systems have no backend.
#[cfg(target_os = "linux")]
mod unix;
#[cfg(target_os = "linux")]
pub(crate) use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

// Without a backend nothing can be built, and this is the only error such
// a build reports (checked with `cargo check --target
// x86_64-unknown-freebsd` and `x86_64-apple-darwin`): rustc reports no
// further errors for paths into this then empty module. A `use` of one of
// its items elsewhere would add one (name them through `sys::` paths or
// aliases, as `multiplex::Event` does).
#[cfg(not(any(target_os = "linux", windows)))]
compile_error!(
    "netipc supports Linux and Windows only: this target has neither (the transport needs \
     Linux's futex, eventfd and SEQPACKET sockets, or Windows' named pipes); build for a \
     Linux or Windows target"
);
