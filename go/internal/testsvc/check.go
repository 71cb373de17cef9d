package testsvc

import (
	"bytes"
	"fmt"

	"github.com/netdata/netipc/go/protocol"
)

// Paths returns n paths like a container host's: ~50 bytes, some unknown
// (under /gone/), some whose answer never fits (under /huge/).
func Paths(n int) [][]byte {
	paths := make([][]byte, n)
	for i := range paths {
		dir := "kubepods/burstable"
		switch m := i % 4099; {
		case m == 17:
			dir = "huge"
		case m%11 == 3:
			dir = "gone"
		}
		paths[i] = fmt.Appendf(nil, "/%s/pod%08x/container-%d", dir, uint64(i)*2_654_435_761%(1<<32), i)
	}
	return paths
}

// PIDs returns n PIDs, some unknown, some whose answer never fits.
func PIDs(n int) []uint32 {
	pids := make([]uint32, n)
	for i := range pids {
		pids[i] = uint32(i+1)*3 + 100
	}
	return pids
}

// CheckCgroups checks every item of an answer to keys against the rules
// of CgroupAnswer.
func CheckCgroups(v *protocol.CgroupsLookupResponseView, keys [][]byte) error {
	if v.Len() != len(keys) || v.Generation() != Generation {
		return fmt.Errorf("%d items of generation %d, want %d of %d", v.Len(), v.Generation(), len(keys), Generation)
	}
	for i, key := range keys {
		item, err := v.Item(i)
		if err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		if !bytes.Equal(item.Path, key) {
			return fmt.Errorf("item %d: path %q, want %q", i, item.Path, key)
		}
		name, labels, ok := CgroupAnswer(key)
		switch {
		case IsHugePath(key):
			if item.Status != protocol.CgroupsLookupOversizedItem {
				return fmt.Errorf("item %d: %v, want OVERSIZED_ITEM", i, item.Status)
			}
		case !ok:
			if item.Status != protocol.CgroupsLookupUnknownPermanent {
				return fmt.Errorf("item %d: %v, want UNKNOWN_PERMANENT", i, item.Status)
			}
		default:
			if item.Status != protocol.CgroupsLookupKnown || string(item.Name) != name || item.Labels.Len() != len(labels) {
				return fmt.Errorf("item %d: %v %q with %d labels", i, item.Status, item.Name, item.Labels.Len())
			}
			for j, want := range labels {
				l, err := item.Labels.At(j)
				if err != nil || string(l.Key) != want.Key || string(l.Value) != want.Value {
					return fmt.Errorf("item %d label %d: %q=%q (%v)", i, j, l.Key, l.Value, err)
				}
			}
		}
	}
	return nil
}

// CheckApps checks every item of an answer to keys against the rules of
// PIDAnswer.
func CheckApps(v *protocol.AppsLookupResponseView, keys []uint32) error {
	if v.Len() != len(keys) || v.Generation() != Generation {
		return fmt.Errorf("%d items of generation %d, want %d of %d", v.Len(), v.Generation(), len(keys), Generation)
	}
	for i, pid := range keys {
		item, err := v.Item(i)
		if err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		if item.PID != pid {
			return fmt.Errorf("item %d: pid %d, want %d", i, item.PID, pid)
		}
		comm, path, ppid, ok := PIDAnswer(pid)
		switch {
		case IsHugePID(pid):
			if item.Status != protocol.PIDOversizedItem {
				return fmt.Errorf("item %d: %v, want OVERSIZED_ITEM", i, item.Status)
			}
		case !ok:
			if item.Status != protocol.PIDUnknown {
				return fmt.Errorf("item %d: %v, want UNKNOWN", i, item.Status)
			}
		default:
			if item.Status != protocol.PIDKnown || string(item.Comm) != comm || string(item.CgroupPath) != path ||
				item.PPID != ppid || item.StartTime != uint64(pid)*3 || item.UID != 1000 {
				return fmt.Errorf("item %d: %+v", i, item)
			}
		}
	}
	return nil
}

// Exchanges is the bound on the exchanges of one logical lookup (stated in
// the client's lookup docs): every exchange either carries as many keys
// as the request size takes, or leaves at least half of the response size
// to answers, or asks alone a key whose answer is larger than that, or is
// one of the few overflows that make a growable provider grow. So a call
// takes at most about 2·(Q/R + 2·A/S) exchanges for Q request bytes, a
// request size R, A answer bytes and a response size S, plus two per
// answer larger than S/2 and two per growth step; never two per key.
type Exchanges struct {
	// Seen is the number of exchanges the provider saw.
	Seen uint64
	// Bound is the most the docs allow.
	Bound uint64
}

// OK reports whether the exchanges stay within the bound.
func (e Exchanges) OK() bool { return e.Seen <= e.Bound }

// Count returns the provider's exchanges so far (pass it as before).
func (r *Reference) Count() uint64 { return r.Answered() + r.Overflowed() }

// CallSize is the size of one logical lookup call.
type CallSize struct {
	// Request is the size of a request carrying every key.
	Request int
	// Answer is the size of the answer (items, their directory entries
	// and the header).
	Answer int
	// Huge is the number of answers that never fit.
	Huge int
}

// CheckExchanges returns the exchanges since before of a call of size c.
func (r *Reference) CheckExchanges(before uint64, c CallSize) Exchanges {
	req, resp := int(r.Behaviour.RequestMax), int(r.ResponseSize())
	return Exchanges{
		Seen:  r.Count() - before,
		Bound: uint64(2*((c.Request+req-1)/req+(2*c.Answer+resp-1)/resp) + 2*c.Huge + 2*11),
	}
}

// CgroupsCallSize returns the size of a CGROUPS_LOOKUP call of keys
// answered by v.
func CgroupsCallSize(v *protocol.CgroupsLookupResponseView, keys [][]byte) CallSize {
	c := CallSize{Answer: protocol.LookupHeaderLen}
	c.Request, _ = protocol.CgroupsLookupRequestLen(keys)
	for i := range keys {
		raw, _ := v.RawItem(i)
		c.Answer += len(raw) + 8
		if IsHugePath(keys[i]) {
			c.Huge++
		}
	}
	return c
}

// AppsCallSize is CgroupsCallSize for APPS_LOOKUP.
func AppsCallSize(v *protocol.AppsLookupResponseView, keys []uint32) CallSize {
	c := CallSize{Request: protocol.AppsLookupRequestLen(len(keys)), Answer: protocol.LookupHeaderLen}
	for i := range keys {
		raw, _ := v.RawItem(i)
		c.Answer += len(raw) + 8
		if IsHugePID(keys[i]) {
			c.Huge++
		}
	}
	return c
}
