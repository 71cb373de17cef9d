package shm

import (
	"time"

	"github.com/netdata/netipc/go/protocol"
)

// The region layout (transport-posix.md §B.3, §B.4): a 64-byte header,
// the request area, the response area.
const (
	// Magic is the region header's first word ("NSHM" read big-endian).
	Magic uint32 = 0x4e53484d
	// Version is the region layout version.
	Version uint16 = 3
	// HeaderLen is the size of the region header, and the offset of the
	// request area.
	HeaderLen = 64
	// AreaAlign is what offsets and capacities are multiples of.
	AreaAlign = 64
)

// Header field offsets. The u64 fields are 8-byte aligned and the u32
// fields 4-byte aligned within the header; the header starts the
// mapping, which is page aligned, so every atomic field is naturally
// aligned in memory (as sync/atomic requires, also for 64-bit words on
// 32-bit platforms).
const (
	offMagic       = 0
	offVersion     = 4
	offHeaderLen   = 6
	offOwnerPID    = 8
	offOwnerGen    = 12
	offReqOffset   = 16
	offReqCapacity = 20
	offRespOffset  = 24
	offRespCap     = 28
	offReqSeq      = 32
	offRespSeq     = 40
	offReqLen      = 48
	offRespLen     = 52
	offReqSignal   = 56
	offRespSignal  = 60
)

// ExtWakeOnDemand is the netipc HELLO_ACK extension bit SHM_WAKE_ON_DEMAND:
// between two netipc peers the consumer announces in the direction's
// signal word that it is about to sleep, and the publisher calls
// FUTEX_WAKE only then (no system call per message while the peer
// spins). Without it the signal word is a counter and every publication
// wakes, as the reference peers do.
const ExtWakeOnDemand uint32 = 0x0000_0001

// align64 rounds x up to a multiple of 64; false if that does not fit a
// u32.
func align64(x uint64) (uint32, bool) {
	r := (x + AreaAlign - 1) &^ (AreaAlign - 1)
	return uint32(r), r <= 0xffff_ffff
}

// CapacityFor is the area capacity for messages with payloads up to
// maxPayload: align64(32 + maxPayload); false if it does not fit a u32.
func CapacityFor(maxPayload uint32) (uint32, bool) {
	return align64(uint64(maxPayload) + protocol.HeaderLen)
}

// lane is the fields one direction of traffic uses.
type lane struct {
	area, capacity   int
	seq, len, signal int
}

func requestLane(offset, capacity int) lane {
	return lane{area: offset, capacity: capacity, seq: offReqSeq, len: offReqLen, signal: offReqSignal}
}

func responseLane(offset, capacity int) lane {
	return lane{area: offset, capacity: capacity, seq: offRespSeq, len: offRespLen, signal: offRespSignal}
}

// end is the offset just past the lane's area.
func (l lane) end() int { return l.area + l.capacity }

// ownerGeneration is the creator's generation tag: the Go reference
// formula on the wall clock (seconds XOR nanoseconds>>10), never 0 (a
// zero tag would make a live region look stale to every other server).
func ownerGeneration() uint32 {
	now := time.Now()
	tag := uint32(uint64(now.Unix()) ^ (uint64(now.Nanosecond()) >> 10))
	if tag == 0 {
		return 1
	}
	return tag
}

// Wait policy (a local choice, not part of the layout; the Rust core's
// values and rules, see policy).
const (
	// spinPolls are the pure polls before a waiter starts yielding: a
	// message from a peer that is running arrives within them, with no
	// system call.
	spinPolls = 128
	// spinTime is how long a waiter for answers keeps polling, yielding
	// the CPU between polls, before it sleeps on the futex: longer than a
	// futex wake-up takes on a loaded machine, so two peers trading
	// messages do not settle into a sleep and a wake-up per message.
	spinTime = 50 * time.Microsecond
	// requestSpinTime is how long a waiter for requests (a server) keeps
	// polling: about what a sleep and a wake-up cost in CPU.
	requestSpinTime = 20 * time.Microsecond
	// slowWait: a wait for an answer whose message came this long after
	// the pure polls counts as slow (polling longer would not have caught
	// it).
	slowWait = 200 * time.Microsecond
	// slowWaits in a row (slow answers, or requests that came after the
	// polling) make a waiter poll only briefly before it sleeps, for
	// briefWaits waits.
	slowWaits  = 3
	briefWaits = 64
	// probeEveryMax is the most brief waits between two probes of a
	// waiter for requests.
	probeEveryMax = 1024
	// waitSlice is the longest single futex sleep: interrupts, the
	// region and the peer's liveness are checked at least this often.
	waitSlice = 50 * time.Millisecond
)
