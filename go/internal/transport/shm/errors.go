package shm

import (
	"errors"
	"fmt"
	"strconv"

	netipc "github.com/netdata/netipc/go"
)

// Errors of the data path that carry no details, allocated once so that a
// timed-out or interrupted wait allocates nothing. Do not modify them.
var (
	// ErrClosed: the region was closed (Close).
	ErrClosed = netipc.Errorf(netipc.ErrClosed,
		"the shared-memory session is closed")
	// ErrAborted: the wait was interrupted (Interrupt).
	ErrAborted = netipc.Errorf(netipc.ErrAborted,
		"the wait for a message in shared memory was interrupted: clear the interrupt to wait again")
	// ErrTimeout: the deadline of a Receive passed.
	ErrTimeout = netipc.Errorf(netipc.ErrTimeout,
		"timed out waiting for the peer's message in shared memory: the peer did not answer in time (it may be overloaded or stuck); raise the timeout or try again")
	// ErrDisconnected: the peer's connection is gone (alive, or the
	// hang-up channel of SetWatcher).
	ErrDisconnected = netipc.Errorf(netipc.ErrDisconnected,
		"the peer closed the connection of this shared-memory session")
)

var (
	errBusy = netipc.Errorf(netipc.ErrBusy,
		"a request is already in flight on this shared-memory session: receive its response first (one message in flight per direction)")
	errNoRequest = netipc.Errorf(netipc.ErrInvalidArgument,
		"no request to answer on this shared-memory session: a server publishes exactly one response per request it received")
)

// lostError is the error that ends a session whose region file another
// process truncated or replaced.
func lostError(path string) error {
	return netipc.Errorf(netipc.ErrSHM,
		"the shared memory region %s was truncated or replaced by another process; the session ends: connect again for a new region, and look for the process that modifies files in the run directory",
		path)
}

// AttachReason says why attaching a region failed.
type AttachReason uint8

// Why Attach failed.
const (
	// AttachOpen: the region file could not be opened (it may not exist
	// yet). Transient.
	AttachOpen AttachReason = iota + 1
	// AttachNotReady: the file is shorter than its header, or the header
	// has zero offsets or capacities. Transient.
	AttachNotReady
	// AttachBadMagic: the header magic is wrong. Transient (the server
	// may still be writing it).
	AttachBadMagic
	// AttachBadVersion: the layout version is not 3.
	AttachBadVersion
	// AttachBadHeader: header_len is not 64.
	AttachBadHeader
	// AttachBadSize: misaligned, overlapping or overflowing areas, or a
	// file shorter than its areas.
	AttachBadSize
	// AttachForeign: the name leads to something other than a regular
	// file of the provider's user; it was not followed or used.
	AttachForeign
	// AttachLost: another process truncated or replaced the file while
	// it was being attached.
	AttachLost
	// AttachMap: mapping or another OS call failed.
	AttachMap
	// AttachBadProfile: the region was made for another profile (Windows
	// regions record their profile).
	AttachBadProfile
)

var attachReasons = [...]string{
	AttachOpen:       "cannot open the region",
	AttachNotReady:   "the region is not ready",
	AttachBadMagic:   "the region has a bad magic number",
	AttachBadVersion: "the region has an unsupported layout version",
	AttachBadHeader:  "the region header is malformed",
	AttachBadSize:    "the region is smaller than its areas, or its areas are misaligned or overlap",
	AttachForeign:    "the region path is not a region file of the provider",
	AttachLost:       "the region was truncated or replaced by another process while it was attached",
	AttachMap:        "cannot map the region",
	AttachBadProfile: "the region was made for another profile",
}

// AttachError is the cause (netipc.Error.Err) of the ErrSHM error Attach
// returns. Use errors.As to get it.
type AttachError struct {
	Reason AttachReason
	// Detail adds what was found (a version, an owner...), or "".
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
// server may still be creating the region): open failures, not ready,
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

// attachError builds the ErrSHM error of a failed attach of path.
func attachError(path string, reason AttachReason, cause error, detail string, args ...any) error {
	if len(args) > 0 {
		detail = fmt.Sprintf(detail, args...)
	}
	ae := &AttachError{Reason: reason, Detail: detail, Err: cause}
	if reason == AttachLost {
		return netipc.Wrap(netipc.ErrSHM, ae,
			"the shared memory region %s was truncated or replaced by another process while it was attached; connect again for a new region, and look for the process that modifies files in the run directory",
			path)
	}
	return netipc.Wrap(netipc.ErrSHM, ae,
		"shared memory unavailable for this session (region %s; reconnect without the shared-memory profiles)", path)
}

// TooLargeError is the cause (netipc.Error.Err) of the ErrProtocol error
// of a published message longer than the receive buffer or the area.
type TooLargeError struct {
	// Len is the published length (header included), Room what fitted.
	Len, Room int
}

// Error describes the lengths.
func (e *TooLargeError) Error() string {
	return "published " + strconv.Itoa(e.Len) + " bytes, room for " + strconv.Itoa(e.Room)
}
