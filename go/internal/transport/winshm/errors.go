package winshm

import (
	"errors"

	netipc "github.com/netdata/netipc/go"
)

// The errors of the data path that carry no details are package shm's
// (shm.ErrClosed, shm.ErrAborted, shm.ErrTimeout, shm.ErrDisconnected),
// allocated once, so that the transport treats both shared-memory
// backends alike and a timed-out wait allocates nothing. A message
// longer than the receive buffer is an ErrProtocol error with a
// *shm.TooLargeError cause, as on Linux.

var (
	errBusy = netipc.Errorf(netipc.ErrBusy,
		"a request is already in flight on this shared-memory session: receive its response first (one message in flight per direction)")
	errNoRequest = netipc.Errorf(netipc.ErrInvalidArgument,
		"no request to answer on this shared-memory session: a server publishes exactly one response per request it received")
)

// AttachReason says why attaching a region failed.
type AttachReason uint8

// Why Attach failed.
const (
	// AttachOpen: the mapping or an event could not be opened (the
	// server may not have created it yet). Transient.
	AttachOpen AttachReason = iota + 1
	// AttachNotReady: the view is shorter than the header. Transient.
	AttachNotReady
	// AttachBadMagic: the header magic is wrong. Transient (the server
	// may still be writing it).
	AttachBadMagic
	// AttachBadVersion: the layout version is not 3.
	AttachBadVersion
	// AttachBadHeader: header_len is not 128, or the offsets and
	// capacities are zero, low, misaligned, overlapping or overflowing.
	AttachBadHeader
	// AttachBadProfile: the region was made for another profile.
	AttachBadProfile
	// AttachBadSize: the areas end beyond the view.
	AttachBadSize
	// AttachMap: mapping the view failed.
	AttachMap
)

var attachReasons = [...]string{
	AttachOpen:       "cannot open the region",
	AttachNotReady:   "the region is not ready",
	AttachBadMagic:   "the region has a bad magic number",
	AttachBadVersion: "the region has an unsupported layout version",
	AttachBadHeader:  "the region header is malformed",
	AttachBadProfile: "the region was made for another profile",
	AttachBadSize:    "the region is smaller than its areas",
	AttachMap:        "cannot map the region",
}

// AttachError is the cause (netipc.Error.Err) of the ErrSHM error Attach
// returns. Use errors.As to get it.
type AttachError struct {
	Reason AttachReason
	// Detail adds what was found (a version, a profile...), or "".
	Detail string
	// Err is the OS error, if any.
	Err error
}

// Error describes the reason.
func (e *AttachError) Error() string {
	s := "attach failed"
	if int(e.Reason) < len(attachReasons) && attachReasons[e.Reason] != "" {
		s = attachReasons[e.Reason]
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the OS error.
func (e *AttachError) Unwrap() error { return e.Err }

// Transient reports whether attaching again shortly may succeed (the
// server may still be creating the objects): open failures, not ready,
// bad magic.
func (e *AttachError) Transient() bool {
	return e.Reason == AttachOpen || e.Reason == AttachNotReady || e.Reason == AttachBadMagic
}

// AttachTransient reports whether err is an Attach failure that a retry
// shortly after may cure (see AttachError.Transient).
func AttachTransient(err error) bool {
	var ae *AttachError
	return errors.As(err, &ae) && ae.Transient()
}

// attachError wraps the cause of a failed attach of the mapping name in
// the ErrSHM error Attach returns.
func attachError(name string, ae *AttachError) error {
	return netipc.Wrap(netipc.ErrSHM, ae,
		"shared memory unavailable for this session (mapping %s; reconnect without the shared-memory profiles)", name)
}
