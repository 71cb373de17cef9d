// Package appslookup is the apps-lookup service of netipc: a consumer
// asks a provider for process and cgroup metadata (comm, parent, user,
// start time, cgroup path and name, orchestrator, labels) of given PIDs.
//
// A Client's Call takes any number of PIDs and returns one answer per
// PID, in order, all from one provider generation. Behind it, one
// logical call may take several exchanges: as many PIDs as the negotiated
// request size takes travel together, an answer cut short by the
// provider's response size is asked again, and the answers are stitched
// into one response. PAYLOAD_EXCEEDED never appears in a result. The
// ClientConfig lookup limits (MaxLookupItems, MaxLookupSubcalls,
// MaxLookupResponseBytes) bound a call (ErrLookupLimit names the field).
//
// Clients connect on demand, retry once on a new session, grow their
// sizes when an answer does not fit, and end every call by the call
// timeout or the context's deadline; Abort or cancelling the context ends
// a call promptly. The view a call returns borrows the client's buffers:
// it is valid until the next call on the same client or Close.
//
// Consumers that cache answers should track the generation and drop
// cached UNKNOWN_PERMANENT and HOST_ROOT answers when it goes down or
// resets (the provider restarted).
//
// Every error is a *netipc.Error; test its kind with errors.Is.
package appslookup
