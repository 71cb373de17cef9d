// Package shm is the Linux shared-memory data plane of netipc (profiles
// SHM_HYBRID 0x02 and its Linux alias SHM_FUTEX 0x04): one region file
// per session in the run directory, a 64-byte header and two areas, one
// message in flight per direction, a consumer that spins briefly and
// then sleeps on a futex. It is byte- and behaviour-compatible with the
// Rust core and the reference peers (transport-posix.md §B). The package
// itself is OS-neutral; the system calls are in package sys, and on
// other systems every call fails.
//
// # Regions
//
// The server creates a session's region (Create) before it reads the
// client's HELLO, sized from its current payload maxima, and destroys it
// (Close) when the handshake selects another profile or the session
// ends. The client attaches it (Attach) after a HELLO_ACK that selected
// an SHM profile; an *AttachError cause says why attaching failed and
// whether a retry may help (AttachTransient). Both sides then call
// SetExtensions with the agreed HELLO_ACK extension bits: with
// ExtWakeOnDemand (netipc peers only) the publisher calls FUTEX_WAKE only
// when the consumer announced that it sleeps; otherwise every
// publication increments the signal word and wakes, as the reference
// peers expect. CleanupStale removes the regions of dead providers once
// per server start.
//
// # Unbreakable
//
// Another process may truncate or replace a region file at any moment.
// Every access to a mapping runs with runtime/debug.SetPanicOnFault
// enabled for the accessing goroutine (restored afterwards), so the
// SIGBUS of an access past the new end becomes an ErrSHM error naming the
// region instead of a crash; a file truncated and grown back is
// recognised by its zeroed magic. A peer that publishes an empty message,
// a length beyond the area or the receive buffer, or a sequence number
// that skips messages gets ErrProtocol; nothing is read out of bounds.
//
// # Idle server sessions: Watcher
//
// A Receive that found no message while spinning sleeps on the futex in
// its own thread (FUTEX_WAIT blocks the thread in the kernel). That is
// right for a client waiting for its response, but a server with
// hundreds of idle sessions would hold hundreds of blocked threads. A
// server's regions therefore wait through a Watcher:
//
//	w := shm.NewWatcher()          // one for many regions
//	region.SetWatcher(w, gone)     // per region, before it is used
//	n, err := region.Receive(buf, deadline, alive)
//
// Receive then parks its goroutine (no thread) on a channel once its
// spinning is over, and one goroutine per 127 waiting regions, locked to
// its thread, sleeps in futex_waitv (Linux 5.16+) on their request signal
// words and wakes the session whose request arrived. Group goroutines
// start when sessions begin to wait and leave when none waits (their
// memory is reused: a session that goes idle between requests allocates
// nothing). gone is a channel closed when the session's connection hangs
// up (nil: alive is asked every 100 ms instead). The deadline, Interrupt
// and Close end a watched wait as promptly as a futex one. Where
// futex_waitv is missing (ENOSYS, or refused by a seccomp filter)
// Receive falls back to its own futex wait in 50 ms slices. Watched or
// not, the messages, errors and allocations (none) of Receive are the
// same. Close is optional (it stops the goroutines of waiting regions,
// which then wait on their own futex).
//
// The transport (package transport, shm_plane.go) does this for every
// server session with one process-wide watcher, and gives each server
// session a goroutine parked in the network poller that closes gone when
// the client hangs up: an idle SHM server session costs two parked
// goroutines and no thread, and the service layer needs no API for it.
package shm
