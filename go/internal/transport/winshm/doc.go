// Package winshm is the Windows shared-memory data plane of netipc
// (transport-windows.md §B): profiles SHM_HYBRID (0x02: spin, then sleep
// on a named auto-reset event) and SHM_BUSYWAIT (0x04, "shm-alt": spin
// only, no kernel object besides the mapping). It is byte- and
// behaviour-compatible with the Rust core and the reference peers.
//
// # Objects and layout
//
// A session's region is a named, page-file-backed file mapping
// (Local\netipc-<H>-<service>-p<profile>-s<session>-mapping) whose view
// holds a 128-byte header (magic 0x4e535748, version 3, the area
// offsets and capacities, the spin count, then the per-direction length,
// sequence, close and waiting words), the request area and the response
// area; SHM_HYBRID adds the events ...-req_event and ...-resp_event. The
// server creates them (Create) once the handshake accepted the client
// with an SHM profile, before it answers; the client opens them (Attach)
// after the HELLO_ACK, retrying transient failures (shm.AttachTransient).
// The objects are owner-only; the kernel destroys them with their last
// handle, so there is nothing stale to clean up.
//
// # Messages
//
// One message in flight per direction. Publish copies the message into
// its area, stores the length, increments the sequence (the publication
// point) and, SHM_HYBRID, sets the event only if the peer's waiting flag
// is up. Receive polls the header's spin count of times, then waits:
// SHM_HYBRID raises its waiting flag, looks once more and sleeps on its
// event in 50 ms slices; SHM_BUSYWAIT keeps polling and yields its
// thread every 1024 polls. Every look re-reads length and sequence after
// the copy, so a writer that overran the reader is found out
// (ErrProtocol). Close sets the close flag of the lane this side writes
// and signals the peer's event: a waiting peer gets ErrDisconnected at
// once.
//
// # OS-neutral
//
// The package is written against a mapped view ([]byte) and the Event
// interface; only Create and Attach call the operating system (package
// sys: Win32 file mappings and events on Windows, "unsupported"
// elsewhere). New, Format and Validate work on any byte slice, so the
// protocol (layout bytes, publication order, overruns, bad lengths, the
// close protocol, busy-waiting) is tested on every OS.
//
// # Idle server sessions: Watcher
//
// A Receive that found no message while spinning sleeps on its event in
// its own thread (WaitForSingleObject blocks the thread in the kernel).
// That is right for a client waiting for its response, but a server with
// hundreds of idle sessions would hold hundreds of blocked threads. A
// server's regions therefore wait through a Watcher (SetWatcher): Receive
// parks its goroutine on a channel once its spin is over, and one
// goroutine per 63 waiting regions sleeps in WaitForMultipleObjects on
// their request events (SHM_BUSYWAIT regions, which have none, are
// polled: with yields for 20 ms after the session went idle, then every
// millisecond, i.e. every tick of the system timer) and hands each region
// whose request arrived, or whose client closed its side, back. Group
// goroutines start when sessions begin to wait and leave when none
// waits. Watched or not, the messages, errors and allocations (none) of
// Receive are the same.
package winshm
