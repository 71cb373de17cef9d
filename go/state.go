package netipc

import "github.com/netdata/netipc/go/protocol"

// ClientState is where a client's connection stands.
type ClientState uint8

// The client states. Their values are those of the C API.
const (
	// StateDisconnected: not connected (new, closed, or a connection
	// failed for a transient reason). The next Refresh or call connects.
	StateDisconnected ClientState = iota
	// StateConnecting: a connection attempt is in progress.
	StateConnecting
	// StateReady: connected; calls may be made.
	StateReady
	// StateNotFound: no provider is running at the endpoint.
	StateNotFound
	// StateAuthFailed: the provider refused the auth token. Sticky: only
	// Close and a new Refresh try again.
	StateAuthFailed
	// StateIncompatible: the provider speaks an incompatible protocol or
	// shares no transport profile. Sticky like StateAuthFailed.
	StateIncompatible
	// StateBroken: the session broke during a call; the next Refresh or
	// call reconnects.
	StateBroken
)

var stateNames = [...]string{
	StateDisconnected: "disconnected",
	StateConnecting:   "connecting",
	StateReady:        "ready",
	StateNotFound:     "no provider found",
	StateAuthFailed:   "refused by the provider",
	StateIncompatible: "incompatible with the provider",
	StateBroken:       "the session broke",
}

// String describes the state ("ready", "no provider found", ...).
func (s ClientState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown state"
}

// ClientStatus is a snapshot of a client's state and counters.
type ClientStatus struct {
	// State is the current state.
	State ClientState
	// ConnectCount counts successful first connections.
	ConnectCount uint32
	// ReconnectCount counts successful reconnections (after a broken
	// session, or inside a call).
	ReconnectCount uint32
	// CallCount counts successful request/response exchanges (a lookup
	// of k exchanges counts k).
	CallCount uint32
	// ErrorCount counts calls that failed.
	ErrorCount uint32
}

// SessionInfo is what a client's current session negotiated with its
// provider, for diagnostics: the transport profile and the agreed sizes.
// It is plain data; clients return it by value.
type SessionInfo struct {
	// Profile is the selected transport profile (a set of one bit; it
	// prints as its name, e.g. "baseline" or "shm-hybrid").
	Profile protocol.Profile
	// SharedMemory reports whether messages travel through shared memory.
	SharedMemory bool
	// MaxRequestPayloadBytes is the largest request payload the provider
	// accepts in this session, in bytes.
	MaxRequestPayloadBytes uint32
	// MaxRequestBatchItems is the most items in one batch request.
	MaxRequestBatchItems uint32
	// MaxResponsePayloadBytes is the largest response payload the client
	// accepts in this session, in bytes.
	MaxResponsePayloadBytes uint32
}
