// Package cgroups is the cgroups-snapshot service of netipc: a provider
// (Server) publishes the full list of cgroups it knows, a consumer
// (Client) fetches it in one call, and a Cache keeps the last good copy
// in memory for lookups by (hash, name) without any I/O.
//
// # Clients
//
// NewClient does no I/O: the provider may start later, restart or
// vanish. Each call connects first when the client is not connected;
// there are no background goroutines or timers. A call whose session
// breaks reconnects once and sends the request again (at-least-once); an
// error status from the provider (ErrRejected) is not sent again; a
// response that does not fit makes the client grow its sizes and
// reconnect. Every call ends by the call timeout (ClientConfig.CallTimeout,
// 30 s by default) or its context's deadline, whichever comes first, and
// Abort (from any goroutine) or cancelling the context ends it promptly.
//
// The view a call returns borrows the client's buffers: it is valid until
// the next call on the same client or Close. Items are validated as they
// are read.
//
// # Cache
//
// A Cache refreshes at the caller's cadence (Refresh) and publishes each
// snapshot atomically: any number of goroutines read it (Get, Snapshot)
// without locks, without allocating and without ever waiting for a
// refresh, and a failed refresh keeps the previous snapshot.
//
// # Errors
//
// Every error is a *netipc.Error; test its kind with errors.Is, for
// example errors.Is(err, netipc.ErrNotFound) when no provider is running.
//
// The same code compiles and behaves the same on every supported
// operating system: nothing here names a transport.
package cgroups
