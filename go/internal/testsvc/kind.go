package testsvc

import (
	"context"
	"os"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

// String names the lookup ("cgroups", "apps").
func (l Lookup) String() string {
	if l == Apps {
		return "apps"
	}
	return "cgroups"
}

// Kind is what differs between the two lookups in tests: keys of type K,
// answers viewed as V.
type Kind[K, V any] struct {
	// Lookup is the lookup.
	Lookup Lookup
	// Keys returns n keys.
	Keys func(n int) []K
	// Check checks every item of an answer to keys.
	Check func(v *V, keys []K) error
	// Size measures a call of keys answered by v.
	Size func(v *V, keys []K) CallSize
}

// The two kinds.
var (
	CgroupsKind = Kind[[]byte, protocol.CgroupsLookupResponseView]{Cgroups, Paths, CheckCgroups, CgroupsCallSize}
	AppsKind    = Kind[uint32, protocol.AppsLookupResponseView]{Apps, PIDs, CheckApps, AppsCallSize}
)

// Call is a client's lookup call.
type Call[K, V any] func(ctx context.Context, keys []K) (*V, error)

// Rounds looks up n keys twice with call (the second call starts from
// what the first learned), checks every item, and, when r is not nil,
// that the exchanges r saw stay within the bound of the lookup docs.
func (k Kind[K, V]) Rounds(t testing.TB, r *Reference, n int, call Call[K, V]) {
	t.Helper()
	keys := k.Keys(n)
	for round := 0; round < 2; round++ {
		var before uint64
		if r != nil {
			before = r.Count()
		}
		v, err := call(context.Background(), keys)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := k.Check(v, keys); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if r == nil {
			continue
		}
		e := r.CheckExchanges(before, k.Size(v, keys))
		t.Logf("round %d: %d exchanges (bound %d), response size %d", round, e.Seen, e.Bound, r.ResponseSize())
		if !e.OK() {
			t.Fatalf("round %d: %d exchanges, bound %d", round, e.Seen, e.Bound)
		}
	}
}

// Behaviours are the provider behaviours of the field, by name.
var Behaviours = map[string]Behaviour{
	"growable": RustGoDefault,
	"fixed":    CDefault,
	"small":    SmallFixed,
	"lossy":    LossyGrowable,
}

// RunDir returns a fresh run directory (mode 0700) removed when the test
// ends.
func RunDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}
