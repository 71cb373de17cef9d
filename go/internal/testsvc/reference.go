// Package testsvc holds lookup providers that behave like the reference
// implementation's servers (level2 spec sections 2.2, 5.1, 11; codec spec
// 5.8), so that netipc's clients can be tested against every provider
// behaviour they meet in the field. It is the Go twin of the Rust test
// crate's reference providers (crates/netipc-tests/src/reference.rs):
//
//   - a response size shared by all sessions that grows only when the
//     builder overflows (the placeholders of the request's keys do not
//     fit): LIMIT_EXCEEDED, the session is closed, and the next sessions
//     get next_pow2(2 × budget), up to the ceiling;
//   - an answer cut short by the budget is never an overflow: its first
//     item becomes OVERSIZED_ITEM when it does not fit beside the
//     placeholders of the rest (even alone), later ones PAYLOAD_EXCEEDED;
//   - a request size fixed at its configured value: a larger proposal is
//     refused at the handshake.
//
// Every key is answered from a rule (no table), so that tests can check
// every item of a 32,768-key answer.
package testsvc

import (
	"bytes"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/netdata/netipc/go/protocol"
)

// Lookup is which lookup a provider answers.
type Lookup uint8

// The lookups.
const (
	// Cgroups answers CGROUPS_LOOKUP by CgroupAnswer.
	Cgroups Lookup = iota + 1
	// Apps answers APPS_LOOKUP by PIDAnswer.
	Apps
)

// Method returns the method code answered.
func (l Lookup) Method() uint16 {
	if l == Apps {
		return protocol.MethodAppsLookup
	}
	return protocol.MethodCgroupsLookup
}

// Behaviour is how a provider sizes and grows, and how it reports an
// overflow.
type Behaviour struct {
	// RequestMax is the largest request payload; fixed (reference
	// servers never take a proposal above their current size).
	RequestMax uint32
	// ResponseStart is the response payload size of the first sessions.
	ResponseStart uint32
	// ResponseCeiling is the largest response size it grows to (equal to
	// the start: fixed).
	ResponseCeiling uint32
	// LosesLimitExceeded: the provider closes the session on an overflow
	// without sending its LIMIT_EXCEEDED (the client reads a disconnect;
	// the size is still learned), as a named-pipe server that disconnects
	// before the client read the reply.
	LosesLimitExceeded bool
	// Profiles offered (shared memory is preferred when offered); zero:
	// the baseline.
	Profiles protocol.Profile
}

// The behaviours of the field.
var (
	// RustGoDefault is a reference Rust or Go server left at its
	// defaults: requests of 1 KiB, responses from 1 KiB growing to 1 MiB.
	RustGoDefault = Behaviour{RequestMax: 1024, ResponseStart: 1024, ResponseCeiling: 1 << 20}
	// CDefault is a reference C server left at its defaults: requests of
	// 1 KiB and responses of 64 KiB, both fixed.
	CDefault = Behaviour{RequestMax: 1024, ResponseStart: 64 << 10, ResponseCeiling: 64 << 10}
	// SmallFixed is a provider fixed at small sizes: answers larger than
	// half of it are asked alone, the huge ones come back OVERSIZED_ITEM.
	SmallFixed = Behaviour{RequestMax: 1024, ResponseStart: 4096, ResponseCeiling: 4096}
	// LossyGrowable is a growable provider that closes the session
	// instead of sending its LIMIT_EXCEEDED.
	LossyGrowable = Behaviour{RequestMax: 1024, ResponseStart: 1024, ResponseCeiling: 1 << 20, LosesLimitExceeded: true}
)

// Generation is the generation every answer carries.
const Generation = 7

// IsHugePath reports whether path's answer is larger than any response
// (its name is 2 MiB): always answered OVERSIZED_ITEM.
func IsHugePath(path []byte) bool { return bytes.HasPrefix(path, []byte("/huge/")) }

// IsHugePID reports whether pid's answer is larger than any response (its
// cgroup path is 2 MiB): always answered OVERSIZED_ITEM.
func IsHugePID(pid uint32) bool { return pid%4099 == 4098 }

var huge = strings.Repeat("h", 2<<20)

// CgroupAnswer returns the name and labels a provider answers for path:
// unknown (ok false) for paths under /gone/, otherwise a name derived
// from the path and two labels.
func CgroupAnswer(path []byte) (name string, labels []protocol.LookupLabel, ok bool) {
	if bytes.HasPrefix(path, []byte("/gone/")) {
		return "", nil, false
	}
	if IsHugePath(path) {
		name = huge
	} else {
		name = "name:" + string(path[bytes.LastIndexByte(path, '/')+1:])
	}
	return name, []protocol.LookupLabel{
		{Key: "image", Value: "img-" + string(path[max(0, len(path)-6):])},
		{Key: "namespace", Value: "default"},
	}, true
}

// AnswerCgroups answers every path of req by CgroupAnswer (a handler of
// managed servers too).
func AnswerCgroups(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
	b.SetGeneration(Generation)
	for i, path := range req.Paths() {
		e := protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownPermanent}
		if name, labels, ok := CgroupAnswer(path); ok {
			e = protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupKnown, Orchestrator: 1, Name: name, Labels: labels}
		}
		if err := b.AddRequestItem(i, &e); err != nil {
			return err
		}
	}
	return nil
}

// PIDAnswer returns the comm, cgroup path and ppid a provider answers for
// pid: unknown (ok false) for multiples of 7 (except huge ones).
func PIDAnswer(pid uint32) (comm, path string, ppid uint32, ok bool) {
	if pid%7 == 0 && !IsHugePID(pid) {
		return "", "", 0, false
	}
	path = "/system.slice/app-" + strconv.FormatUint(uint64(pid), 10) + ".service"
	if IsHugePID(pid) {
		path = huge
	}
	return "proc" + strconv.FormatUint(uint64(pid%100_000), 10), path, pid / 2, true
}

// AnswerApps answers every PID of req by PIDAnswer (a handler of managed
// servers too).
func AnswerApps(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
	b.SetGeneration(Generation)
	for _, pid := range req.PIDs() {
		var err error
		if comm, path, ppid, ok := PIDAnswer(pid); ok {
			err = b.Add(pid, &protocol.AppsLookupEntry{
				Status:       protocol.PIDKnown,
				CgroupStatus: protocol.CgroupKnown,
				Orchestrator: 1,
				PPID:         ppid,
				UID:          1000,
				StartTime:    uint64(pid) * 3,
				Comm:         comm,
				CgroupPath:   path,
				CgroupName:   "app",
				Labels:       []protocol.LookupLabel{{Key: "unit", Value: "app.service"}},
			})
		} else {
			err = b.AddStatus(pid, protocol.PIDUnknown)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Reference is the logic of one reference-like provider, shared by all
// its sessions. It is safe for concurrent use.
type Reference struct {
	// Lookup is the lookup answered.
	Lookup Lookup
	// Behaviour is how the provider sizes and grows.
	Behaviour Behaviour

	size       atomic.Uint32
	answered   atomic.Uint64
	overflowed atomic.Uint64
}

// NewReference returns a provider of lookup behaving as b.
func NewReference(lookup Lookup, b Behaviour) *Reference {
	r := &Reference{Lookup: lookup, Behaviour: b}
	r.size.Store(b.ResponseStart)
	return r
}

// ResponseSize returns the response size new sessions get.
func (r *Reference) ResponseSize() uint32 { return r.size.Load() }

// Answered returns the requests answered with OK so far.
func (r *Reference) Answered() uint64 { return r.answered.Load() }

// Overflowed returns the requests whose answer overflowed so far
// (LIMIT_EXCEEDED, sent or lost).
func (r *Reference) Overflowed() uint64 { return r.overflowed.Load() }

// Reply is what a provider does with one request.
type Reply struct {
	// Status is the transport status of the response.
	Status protocol.Status
	// Len is the length of the OK payload, written at the start of the
	// response buffer.
	Len int
	// Send is false when nothing is sent (the session is closed instead).
	Send bool
	// End: the session is closed after the response.
	End bool
}

// Answer answers one request of method code on a session whose response
// size is len(response).
func (r *Reference) Answer(code uint16, request, response []byte) Reply {
	if code != r.Lookup.Method() {
		return Reply{Status: protocol.StatusUnsupported, Send: true}
	}
	var (
		n   int
		err error
	)
	if r.Lookup == Apps {
		n, err = protocol.DispatchAppsLookup(new(protocol.AppsLookupBuilder), request, response,
			func(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) bool {
				return AnswerApps(req, b) == nil
			})
	} else {
		n, err = protocol.DispatchCgroupsLookup(new(protocol.CgroupsLookupBuilder), request, response,
			func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) bool {
				return AnswerCgroups(req, b) == nil
			})
	}
	if err == nil {
		r.answered.Add(1)
		return Reply{Status: protocol.StatusOK, Len: n, Send: true}
	}
	de, _ := err.(*protocol.DispatchError)
	if de == nil || de.Status() != protocol.StatusLimitExceeded {
		status := protocol.StatusBadEnvelope
		if de != nil {
			status = de.Status()
		}
		return Reply{Status: status, Send: true}
	}
	r.overflowed.Add(1)
	grown := uint64(1)
	for grown < 2*uint64(len(response)) {
		grown <<= 1
	}
	grown = min(grown, uint64(r.Behaviour.ResponseCeiling))
	for {
		cur := r.size.Load()
		if uint64(cur) >= grown || r.size.CompareAndSwap(cur, uint32(grown)) {
			break
		}
	}
	return Reply{Status: protocol.StatusLimitExceeded, Send: !r.Behaviour.LosesLimitExceeded, End: true}
}
