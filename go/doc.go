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
// The same plugin source compiles and behaves the same on every supported
// operating system: no exported identifier names a transport. The
// transport (a Unix SEQPACKET socket or shared memory on Linux) is chosen
// in the handshake, and shared memory falls back to the socket when it is
// unavailable.
//
// The package is pure Go (no cgo) and uses the standard library only.
package netipc
