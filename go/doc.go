// Package netipc holds what every netipc Go service package shares: the
// service-level client and server configurations, the client state and
// status, and the errors every call returns.
//
// netipc is the local inter-process communication stack of Netdata
// plugins. It speaks the NetIPC wire protocol of netdata/plugin-ipc byte
// for byte, so Go plugins talk to C, Rust and Go peers alike. The typed
// services live in their own packages:
//
//   - [github.com/netdata/netipc/go/cgroups]: the cgroups snapshot client,
//     provider and the L3 snapshot cache;
//   - [github.com/netdata/netipc/go/cgroupslookup]: cgroups lookups by path;
//   - [github.com/netdata/netipc/go/appslookup]: process lookups by PID;
//   - [github.com/netdata/netipc/go/protocol]: the wire envelope and the
//     payload codecs (views and builders handlers use).
//
// The same plugin source compiles and behaves the same on Linux and
// Windows: no exported identifier names a transport. The transport is
// chosen in the handshake: on Linux a Unix SEQPACKET socket or shared
// memory (woken by futexes); on Windows a named pipe or shared memory
// (woken by events, or busy-waiting with [protocol.ProfileSHMAlt]).
// Shared memory falls back to the socket or pipe when it is unavailable.
//
// The package is pure Go (no cgo) and uses the standard library only.
package netipc
