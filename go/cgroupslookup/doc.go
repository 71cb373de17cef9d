// Package cgroupslookup is the cgroups-lookup service of netipc: a
// consumer asks a provider for the metadata (name, orchestrator, labels)
// of given cgroup paths.
//
// A Client's Call takes any number of paths and returns one answer per
// path, in order, all from one provider generation. Behind it, one
// logical call may take several exchanges: as many paths as the
// negotiated request size takes travel together, an answer cut short by
// the provider's response size is asked again, and the answers are
// stitched into one response. PAYLOAD_EXCEEDED never appears in a result;
// OVERSIZED_ITEM marks a path whose answer can never be sent. The
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
// cached UNKNOWN_PERMANENT answers when it goes down or resets (the
// provider restarted).
//
// Every error is a *netipc.Error; test its kind with errors.Is.
package cgroupslookup
