//! Operating-system backends. Everything OS-specific in the library lives
//! below this module; the public transport types wrap the items of the
//! backend selected here.
//!
//! # Items every backend provides
//!
//! | item | what it is |
//! |---|---|
//! | `Conn` | a connected baseline channel (SEQPACKET socket, message-mode pipe): `send_packet(&[&[u8]])` sends one packet; `recv_packet(&mut [u8])` and `recv_packet_split(&mut [u8; 32], &mut [u8])` receive one packet and return its real length (which may exceed the buffer); `wait_readable(deadline, interrupt)`; `default_packet_size()`; `peer()` |
//! | `Listener` | `bind(run_dir, service, backlog)` (with stale-endpoint recovery), `accept(deadline, interrupt) -> Conn`, `endpoint()` |
//! | `connect(run_dir, service) -> Conn` | open a client connection |
//! | `Interrupt` | a cross-thread wake-up for blocked waits: `new`, `raise`, `clear`, `is_raised` |
//!
//! Errors are reported as [`crate::Error`]: `Disconnected` for a closed
//! peer, `Timeout` when the deadline passes, `Interrupted` when the
//! interrupt is raised, `NotFound` / `AddressInUse` for endpoints, `Io` for
//! anything else.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;
