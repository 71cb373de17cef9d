package winshm

import (
	"encoding/binary"
	"fmt"
	"github.com/netdata/netipc/go/internal/transport/shm"
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/netdata/netipc/go/protocol"
)

// The region layout (transport-windows.md §B.3, §B.4): a 128-byte header,
// the request area, the response area.
const (
	// Magic is the region header's first word.
	Magic uint32 = 0x4e535748
	// Version is the region layout version.
	Version uint32 = 3
	// HeaderLen is the size of the region header, and the offset of the
	// request area.
	HeaderLen = 128
	// AreaAlign is what offsets and capacities are multiples of.
	AreaAlign = 64
	// ServerSpinTries is the spin count a server writes into the header;
	// the client spins as many times as the header says.
	ServerSpinTries uint32 = 1024
	// maxSpinTries bounds the spin count a client takes from the header
	// (a header asking for billions of polls would make every receive
	// spin for seconds without looking at its deadline).
	maxSpinTries = 1 << 16
)

// Header field offsets. The i64 fields are 8-byte aligned, the others
// 4-byte aligned; the header starts the view, which is page aligned.
const (
	offMagic          = 0
	offVersion        = 4
	offHeaderLen      = 8
	offProfile        = 12
	offReqOffset      = 16
	offReqCapacity    = 20
	offRespOffset     = 24
	offRespCapacity   = 28
	offSpinTries      = 32
	offReqLen         = 36
	offRespLen        = 40
	offReqClientClose = 44
	offReqServerWait  = 48
	offRespServerDone = 52
	offRespClientWait = 56
	offReqSeq         = 64
	offRespSeq        = 72
)

// Layout is where a region's areas are and how its consumers wait: what
// Format writes and Validate reads.
type Layout struct {
	// Profile is protocol.ProfileSHMHybrid or protocol.ProfileSHMAlt.
	Profile protocol.Profile
	// ReqOffset, ReqCapacity, RespOffset and RespCapacity place the
	// areas (bytes from the start of the view; capacities include the
	// 32-byte message header).
	ReqOffset, ReqCapacity, RespOffset, RespCapacity uint32
	// SpinTries is how often a consumer polls before it waits.
	SpinTries uint32
}

// Size is the number of bytes the layout spans (the section size).
func (l Layout) Size() uint64 {
	return max(uint64(l.ReqOffset)+uint64(l.ReqCapacity), uint64(l.RespOffset)+uint64(l.RespCapacity))
}

// align64 rounds x up to a multiple of 64; false if that does not fit a
// u32.
func align64(x uint64) (uint32, bool) {
	r := (x + AreaAlign - 1) &^ (AreaAlign - 1)
	return uint32(r), r <= math.MaxUint32
}

// LayoutFor is the layout of a new region of profile for request
// payloads up to maxRequest and response payloads up to maxResponse
// bytes: capacities align64(32 + max), the request area after the
// header, the response area after it. False if the section would not fit
// 4 GiB.
func LayoutFor(profile protocol.Profile, maxRequest, maxResponse uint32) (Layout, bool) {
	rq, okq := align64(uint64(maxRequest) + protocol.HeaderLen)
	rs, oks := align64(uint64(maxResponse) + protocol.HeaderLen)
	l := Layout{Profile: profile, ReqOffset: HeaderLen, ReqCapacity: rq, RespOffset: HeaderLen + rq, RespCapacity: rs, SpinTries: ServerSpinTries}
	return l, okq && oks && uint64(HeaderLen)+uint64(rq)+uint64(rs) <= math.MaxUint32
}

// Format writes the header of a new region with layout l into mem, a
// zeroed view of at least l.Size() bytes (server side), and ends with a
// full barrier. The lengths, flags and sequences stay 0.
func Format(mem []byte, l Layout) {
	put := func(off int, v uint32) { binary.NativeEndian.PutUint32(mem[off:], v) }
	put(offMagic, Magic)
	put(offVersion, Version)
	put(offHeaderLen, HeaderLen)
	put(offProfile, uint32(l.Profile))
	put(offReqOffset, l.ReqOffset)
	put(offReqCapacity, l.ReqCapacity)
	put(offRespOffset, l.RespOffset)
	put(offRespCapacity, l.RespCapacity)
	put(offSpinTries, l.SpinTries)
	// A sequentially consistent read-modify-write: the full barrier after
	// the header (the Rust core's fence).
	i32At(mem, offReqLen).Add(0)
}

// Validate checks the header of an attached view against the selected
// profile (client side, after a full barrier) and returns its layout.
// Errors are *shm.AttachError values: bad magic, version, header length or
// profile, malformed offsets or capacities (zero, below 128, not a
// multiple of 64, overflowing u32, overlapping), or areas beyond the view
// (stricter than the reference peers, as the Rust core).
func Validate(mem []byte, profile protocol.Profile) (Layout, error) {
	l, ae := validate(mem, profile)
	if ae != nil {
		return Layout{}, ae
	}
	return l, nil
}

func validate(mem []byte, profile protocol.Profile) (Layout, *shm.AttachError) {
	if len(mem) < HeaderLen {
		return Layout{}, &shm.AttachError{Reason: shm.AttachNotReady, Detail: fmt.Sprintf("the view has %d bytes", len(mem))}
	}
	i32At(mem, offReqLen).Add(0) // the full barrier before the header is read
	get := func(off int) uint32 { return binary.NativeEndian.Uint32(mem[off:]) }
	switch {
	case get(offMagic) != Magic:
		return Layout{}, &shm.AttachError{Reason: shm.AttachBadMagic, Detail: fmt.Sprintf("%#x", get(offMagic))}
	case get(offVersion) != Version:
		return Layout{}, &shm.AttachError{Reason: shm.AttachBadVersion, Detail: fmt.Sprintf("version %d, this side speaks %d", get(offVersion), Version)}
	case get(offHeaderLen) != HeaderLen:
		return Layout{}, &shm.AttachError{Reason: shm.AttachBadHeader, Detail: fmt.Sprintf("header_len %d is not %d", get(offHeaderLen), HeaderLen)}
	case get(offProfile) != uint32(profile):
		return Layout{}, &shm.AttachError{Reason: shm.AttachBadProfile, Detail: fmt.Sprintf("made for profile %#x, %#x was selected", get(offProfile), uint32(profile))}
	}
	l := Layout{
		Profile:   profile,
		ReqOffset: get(offReqOffset), ReqCapacity: get(offReqCapacity),
		RespOffset: get(offRespOffset), RespCapacity: get(offRespCapacity),
		SpinTries: min(get(offSpinTries), maxSpinTries),
	}
	rqOff, rqCap, rsOff, rsCap := uint64(l.ReqOffset), uint64(l.ReqCapacity), uint64(l.RespOffset), uint64(l.RespCapacity)
	areas := fmt.Sprintf("request area %d+%d, response area %d+%d", rqOff, rqCap, rsOff, rsCap)
	switch {
	case rqOff == 0 || rqCap == 0 || rsOff == 0 || rsCap == 0 || rqOff < HeaderLen || rsOff < HeaderLen:
		return Layout{}, &shm.AttachError{Reason: shm.AttachBadHeader, Detail: "zero or low offset or capacity: " + areas}
	case (rqOff|rqCap|rsOff|rsCap)%AreaAlign != 0:
		return Layout{}, &shm.AttachError{Reason: shm.AttachBadHeader, Detail: "offset or capacity not a multiple of 64: " + areas}
	case rqOff+rqCap > math.MaxUint32 || rsOff+rsCap > math.MaxUint32 || rsOff < rqOff+rqCap:
		return Layout{}, &shm.AttachError{Reason: shm.AttachBadHeader, Detail: "overlapping or overflowing areas: " + areas}
	case l.Size() > uint64(len(mem)):
		return Layout{}, &shm.AttachError{Reason: shm.AttachBadSize, Detail: fmt.Sprintf("the areas end at byte %d, the view has %d bytes", l.Size(), len(mem))}
	}
	return l, nil
}

// lane is the fields one direction of traffic uses.
type lane struct {
	area, capacity int
	len, seq       int
	// writerClosed is set by the writer when it closes; readerWaiting by
	// the reader while it sleeps on the direction's event.
	writerClosed, readerWaiting int
}

func requestLane(l Layout) lane {
	return lane{area: int(l.ReqOffset), capacity: int(l.ReqCapacity), len: offReqLen, seq: offReqSeq,
		writerClosed: offReqClientClose, readerWaiting: offReqServerWait}
}

func responseLane(l Layout) lane {
	return lane{area: int(l.RespOffset), capacity: int(l.RespCapacity), len: offRespLen, seq: offRespSeq,
		writerClosed: offRespServerDone, readerWaiting: offRespClientWait}
}

// i32At is the 32-bit word at off of mem (4-byte aligned: see the
// offsets).
func i32At(mem []byte, off int) *atomic.Int32 {
	return (*atomic.Int32)(unsafe.Pointer(&mem[off]))
}

// i64At is the 64-bit word at off of mem (8-byte aligned).
func i64At(mem []byte, off int) *atomic.Int64 {
	return (*atomic.Int64)(unsafe.Pointer(&mem[off]))
}
