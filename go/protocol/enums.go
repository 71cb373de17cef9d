package protocol

import "fmt"

// Profile is a set of transport profile bits, as offered and selected in
// the handshake.
type Profile uint32

// The transport profiles. Bit 0x04 is an alias of shared memory with
// sleeping waiters on Linux and spin-only shared memory on Windows.
const (
	// ProfileBaseline is the connection itself: a Unix SEQPACKET socket
	// on POSIX, a named pipe on Windows.
	ProfileBaseline Profile = 0x01
	// ProfileSHMHybrid is shared memory: the waiter spins, then sleeps
	// (futex on Linux, events on Windows).
	ProfileSHMHybrid Profile = 0x02
	// ProfileSHMAlt is bit 0x04: SHM_FUTEX (an alias of SHM_HYBRID) on
	// Linux, SHM_BUSYWAIT (spin only) on Windows.
	ProfileSHMAlt Profile = 0x04
	// ProfileSHMWaitAddr is defined by the protocol but implemented by no
	// peer; when it is selected the data stays on the baseline transport.
	ProfileSHMWaitAddr Profile = 0x08
	// ProfileSHMAny is every profile that moves data to shared memory.
	ProfileSHMAny = ProfileSHMHybrid | ProfileSHMAlt
)

// Status is the transport status of a message: an envelope outcome,
// never a business result.
type Status uint16

// The transport statuses.
const (
	StatusOK            Status = 0
	StatusBadEnvelope   Status = 1
	StatusAuthFailed    Status = 2
	StatusIncompatible  Status = 3
	StatusUnsupported   Status = 4
	StatusLimitExceeded Status = 5
	StatusInternalError Status = 6
)

var statusNames = [...]string{"OK", "BAD_ENVELOPE", "AUTH_FAILED", "INCOMPATIBLE", "UNSUPPORTED", "LIMIT_EXCEEDED", "INTERNAL_ERROR"}

// String returns the status's name ("OK", "LIMIT_EXCEEDED", ...).
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("STATUS_%d", uint16(s))
}

// Kind is a message kind.
type Kind uint16

// The message kinds.
const (
	KindRequest  Kind = 1
	KindResponse Kind = 2
	KindControl  Kind = 3
)

// Method codes (the header's code for requests and responses).
const (
	MethodIncrement       uint16 = 1
	MethodCgroupsSnapshot uint16 = 2
	MethodStringReverse   uint16 = 3
	MethodCgroupsLookup   uint16 = 4
	MethodAppsLookup      uint16 = 5
)

// Control opcodes (the header's code for control messages).
const (
	ControlHello    uint16 = 1
	ControlHelloAck uint16 = 2
)

// FlagBatch marks a batch payload (item directory + packed items).
const FlagBatch uint16 = 0x0001
