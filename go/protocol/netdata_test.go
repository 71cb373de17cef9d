package protocol_test

import (
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

// FNV-1 reference values (multiply, then XOR), which differ from FNV-1a's
// for every non-empty input.
func TestNetdataHashIsFNV1(t *testing.T) {
	for s, want := range map[string]uint32{"": 0x811c9dc5, "a": 0x050c5d7e, "foobar": 0x31f0b262} {
		if got := protocol.NetdataHash(s); got != want {
			t.Errorf("NetdataHash(%q) = %#x, want %#x", s, got, want)
		}
		if got := protocol.NetdataHash([]byte(s)); got != want {
			t.Errorf("NetdataHash([]byte(%q)) = %#x, want %#x", s, got, want)
		}
	}
	fnv1a := uint32(0x811c9dc5)
	fnv1a = (fnv1a ^ 'a') * 16777619
	if protocol.NetdataHash("a") == fnv1a {
		t.Error("NetdataHash must be FNV-1, not FNV-1a")
	}
}
