package protocol

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

// Helpers shared by the payload codecs (increment.go, stringreverse.go,
// cgroups.go, lookup.go, cgroupslookup.go, appslookup.go). The snapshot
// and lookup directories have the batch directory's {offset u32,
// length u32} entries of DirEntryLen bytes.

// u16at, u32at and u64at read a field; the caller checked the bounds.
func u16at(b []byte, off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func u32at(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func u64at(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// intAt reads a u32 size or offset as an int. On 32-bit hosts values of
// 2^31 and more become negative, which every bounds check rejects.
func intAt(b []byte, off int) int { return int(int64(u32at(b, off))) }

func setU16(b []byte, off int, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }
func setU32(b []byte, off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
func setU64(b []byte, off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }

// alignUp8 rounds x up to a multiple of 8.
func alignUp8(x int) int { return (x + 7) &^ 7 }

// spanEnd returns a+n when 0 <= a, 0 <= n and a+n <= limit, computed
// without overflow.
func spanEnd(a, n, limit int) (int, bool) {
	if a < 0 || n < 0 || a > limit || n > limit-a {
		return 0, false
	}
	return a + n, true
}

// wireSize converts a size computed in 64 bits to an int, if it fits both
// an int and the u32 the wire carries.
func wireSize(n uint64) (int, bool) {
	if n > math.MaxUint32 || n > math.MaxInt {
		return 0, false
	}
	return int(n), true
}

// fitsU32 reports whether a size or offset fits the u32 the wire carries.
func fitsU32(v int) bool { return v >= 0 && uint64(v) <= math.MaxUint32 }

// shifted moves the offset of a *CodecError found inside a sub-slice
// starting at base so that it is relative to the whole payload.
func shifted(err error, base int) error {
	var ce *CodecError
	if errors.As(err, &ce) {
		ce.Offset += base
	}
	return err
}

// enumName is names[v], or "typ(v)" for a value without a name.
func enumName(v uint16, names []string, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return typ + "(" + strconv.Itoa(int(v)) + ")"
}

// DispatchStage says which step of a server-side dispatch failed.
type DispatchStage uint8

// The dispatch steps that can fail.
const (
	// DispatchBadRequest: the request payload does not decode.
	DispatchBadRequest DispatchStage = iota + 1
	// DispatchBuilder: the response could not be built: it does not fit
	// the response buffer (Overflow), or the handler added invalid items
	// or another number of items than the request has keys.
	DispatchBuilder
	// DispatchHandlerFailed: the handler reported that it cannot answer.
	DispatchHandlerFailed
)

// DispatchError is the failure of DispatchCgroupsSnapshot,
// DispatchCgroupsLookup or DispatchAppsLookup. Status gives the transport
// status a server answers with; errors.Is(err, protocol.Overflow) tells a
// response that did not fit (the server answers LIMIT_EXCEEDED and may
// grow its response buffer).
type DispatchError struct {
	// Stage is the step that failed.
	Stage DispatchStage
	// Err is the codec error of a bad request or a builder failure (a
	// *CodecError); nil for DispatchHandlerFailed.
	Err error
}

// Error describes the failure.
func (e *DispatchError) Error() string {
	switch e.Stage {
	case DispatchBadRequest:
		return "netipc dispatch: the request does not decode: " + e.Err.Error()
	case DispatchBuilder:
		return "netipc dispatch: the response could not be built: " + e.Err.Error()
	default:
		return "netipc dispatch: the handler failed"
	}
}

// Unwrap returns the codec error, if any.
func (e *DispatchError) Unwrap() error { return e.Err }

// Status is the transport status a server answers with: LIMIT_EXCEEDED
// when the response does not fit, INTERNAL_ERROR when the handler failed,
// BAD_ENVELOPE for an undecodable request or invalid handler output.
func (e *DispatchError) Status() Status {
	switch {
	case e.Stage == DispatchHandlerFailed:
		return StatusInternalError
	case e.Stage == DispatchBuilder && errors.Is(e.Err, Overflow):
		return StatusLimitExceeded
	default:
		return StatusBadEnvelope
	}
}

// dispatchCheck is the outcome of a dispatch once the handler returned,
// before the builder finishes: the builder's first error wins over a
// handler failure.
func dispatchCheck(ok bool, sticky error) error {
	if sticky != nil {
		return &DispatchError{Stage: DispatchBuilder, Err: sticky}
	}
	if !ok {
		return &DispatchError{Stage: DispatchHandlerFailed}
	}
	return nil
}
