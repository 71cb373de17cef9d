package netipc

import (
	"fmt"

	"github.com/netdata/netipc/go/protocol"
)

// Kind classifies an error. Every error netipc returns matches exactly
// one Kind with errors.Is, for example
//
//	if errors.Is(err, netipc.ErrNotFound) { /* the provider is not running: retry later */ }
//
// The Kind constants are themselves errors, so they can be compared
// without allocating. Use errors.As with *Error for the details.
type Kind uint8

// The kinds of error. Their values are stable.
const (
	// ErrNotFound: nothing listens at the endpoint (the provider is not
	// running, or the run directory does not exist yet). Retry later.
	ErrNotFound Kind = iota + 1
	// ErrPermission: this process may not open the endpoint or a file
	// the transport needs.
	ErrPermission
	// ErrAddressInUse: another live provider already serves the endpoint.
	ErrAddressInUse
	// ErrRunDir: the run directory, or something in it, cannot be used
	// safely (wrong owner, world-writable, a symbolic link...).
	ErrRunDir
	// ErrAuthFailed: the provider refused the auth token (or this
	// consumer's identity).
	ErrAuthFailed
	// ErrIncompatible: the peer speaks an incompatible protocol version,
	// shares no transport profile, or its limits cannot be met.
	ErrIncompatible
	// ErrBusy: the provider is at capacity (its session limit); retry
	// later.
	ErrBusy
	// ErrProtocol: the peer broke the protocol; the session is over.
	ErrProtocol
	// ErrCodec: a payload could not be encoded or decoded (see
	// protocol.CodecError in the chain).
	ErrCodec
	// ErrLimitExceeded: a message does not fit the negotiated limits, or
	// still does not fit after the client grew its sizes as far as it
	// may.
	ErrLimitExceeded
	// ErrResponseTooLarge: the provider sent a response larger than this
	// client accepts (ClientConfig.MaxResponsePayloadBytes).
	ErrResponseTooLarge
	// ErrLookupLimit: a logical lookup exceeds one of the client's lookup
	// limits (the error names the ClientConfig field).
	ErrLookupLimit
	// ErrRejected: the provider answered with an error status instead of
	// a result (see *Error.Status). The request was not sent again.
	ErrRejected
	// ErrBadResponse: a response does not answer the request it should.
	ErrBadResponse
	// ErrNotReady: a call was made while the client is not connected and
	// a connection attempt failed (the cause is in the chain).
	ErrNotReady
	// ErrTimeout: the call's deadline passed.
	ErrTimeout
	// ErrAborted: the call was aborted with Abort (sticky until
	// ClearAbort).
	ErrAborted
	// ErrDisconnected: the peer closed the connection.
	ErrDisconnected
	// ErrClosed: the client, cache or server was closed (or stopped).
	ErrClosed
	// ErrSHM: the shared-memory transport failed (a region could not be
	// created or attached, or another process truncated it).
	ErrSHM
	// ErrInvalidArgument: an argument cannot be used (an invalid service
	// name, a zero per-call timeout, too many keys...).
	ErrInvalidArgument
	// ErrIO: an operating-system call failed (the cause is in the chain).
	ErrIO
	// ErrInternal: a handler failed or panicked, or netipc caught an
	// internal failure.
	ErrInternal
)

var kindNames = [...]string{
	ErrNotFound:         "no provider",
	ErrPermission:       "permission denied",
	ErrAddressInUse:     "endpoint in use",
	ErrRunDir:           "unsafe run directory",
	ErrAuthFailed:       "authentication failed",
	ErrIncompatible:     "incompatible peer",
	ErrBusy:             "provider at capacity",
	ErrProtocol:         "protocol violation",
	ErrCodec:            "malformed payload",
	ErrLimitExceeded:    "limit exceeded",
	ErrResponseTooLarge: "response too large",
	ErrLookupLimit:      "lookup limit",
	ErrRejected:         "rejected by the provider",
	ErrBadResponse:      "unexpected response",
	ErrNotReady:         "not connected",
	ErrTimeout:          "timed out",
	ErrAborted:          "aborted",
	ErrDisconnected:     "disconnected",
	ErrClosed:           "closed",
	ErrSHM:              "shared memory unavailable",
	ErrInvalidArgument:  "invalid argument",
	ErrIO:               "I/O error",
	ErrInternal:         "internal error",
}

// Error returns a short name of the kind.
func (k Kind) Error() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return "netipc: " + kindNames[k]
	}
	return fmt.Sprintf("netipc: error kind %d", uint8(k))
}

// Error is the error netipc returns. Msg says what happened and what to
// do about it; Err is the cause, if any (an OS error, a codec error, the
// connection failure behind ErrNotReady...).
type Error struct {
	// Kind classifies the error (errors.Is(err, Kind) is true).
	Kind Kind
	// Msg says what happened and what to do about it.
	Msg string
	// Status is the transport status of an ErrRejected answer (zero
	// otherwise).
	Status protocol.Status
	// Err is the cause, or nil.
	Err error
}

// Error returns the message, followed by the cause when there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the error's Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// Errorf returns an *Error of the kind with a formatted message and no
// cause. It is used by netipc's own packages.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of the kind with a formatted message and a
// cause (printed after the message). It is used by netipc's own packages.
func Wrap(kind Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Err: cause}
}
