package cgroupslookup

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/testsvc"
	"github.com/netdata/netipc/go/protocol"
)

// testRunDir returns a fresh run directory (mode 0700).
func testRunDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serve runs a Go lookup server of h at dir/service until the test ends.
func serve(t testing.TB, dir, service string, cfg ServerConfig, h Handler) {
	t.Helper()
	s := NewServer(dir, service, cfg, h)
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	t.Cleanup(func() {
		s.Stop()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after Stop")
		}
	})
}

var providers = map[string]testsvc.Behaviour{
	"growable":     testsvc.RustGoDefault,
	"growable-shm": {RequestMax: 1024, ResponseStart: 1024, ResponseCeiling: 1 << 20, Profiles: netipc.DefaultProfiles},
	"fixed":        testsvc.CDefault,
	"small":        testsvc.SmallFixed,
	"lossy":        testsvc.LossyGrowable,
}

// 32,768 paths against every provider behaviour the client meets in the
// field, every item checked, twice (the second call starts from what the
// first learned), within the exchanges bound of the lookup docs.
func TestLookupsAgainstReferenceProviders(t *testing.T) {
	keys := testsvc.Paths(32_768)
	for name, b := range providers {
		t.Run(name, func(t *testing.T) {
			dir := testRunDir(t)
			r := testsvc.NewReference(testsvc.Cgroups, b)
			p, err := testsvc.Serve(dir, "cg", r)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			// A logical call of ~3,000 exchanges: generous under -race on
			// a loaded machine.
			c := NewClient(dir, "cg", ClientConfig{CallTimeout: 5 * time.Minute})
			defer c.Close()
			for round := 0; round < 2; round++ {
				before := r.Count()
				v, err := c.Call(context.Background(), keys)
				if err != nil {
					t.Fatal(err)
				}
				if err := testsvc.CheckCgroups(v, keys); err != nil {
					t.Fatal(err)
				}
				e := r.CheckExchanges(before, testsvc.CgroupsCallSize(v, keys))
				t.Logf("round %d: %d exchanges (bound %d), response size %d", round, e.Seen, e.Bound, r.ResponseSize())
				if !e.OK() {
					t.Fatalf("round %d: %d exchanges, bound %d", round, e.Seen, e.Bound)
				}
			}
		})
	}
}

// The same lookups against the Rust core's reference-like providers
// (crates/netipc-tests/src/reference.rs, through netipc-test-peer), the
// ground truth of the Go twins in internal/testsvc.
func TestLookupsAgainstRustReferenceProviders(t *testing.T) {
	keys := testsvc.Paths(32_768)
	for _, tc := range []struct{ behaviour, profiles string }{
		{"rust-go-default", "baseline"},
		{"rust-go-default", "baseline|shm-hybrid"},
		{"c-default", "baseline"},
		{"small-fixed", "baseline"},
		{"lossy-growable", "baseline"},
	} {
		t.Run(tc.behaviour+"/"+tc.profiles, func(t *testing.T) {
			dir := testRunDir(t)
			testsvc.RustPeer(t, "reference-lookup", dir, "cg", tc.profiles, "cgroups"+"/"+tc.behaviour)
			c := NewClient(dir, "cg", ClientConfig{CallTimeout: 5 * time.Minute})
			defer c.Close()
			for round := 0; round < 2; round++ {
				v, err := c.Call(context.Background(), keys)
				if err != nil {
					t.Fatal(err)
				}
				if err := testsvc.CheckCgroups(v, keys); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			t.Logf("%d exchanges", c.Status().CallCount)
		})
	}
}

func TestLookupsAgainstTheGoServer(t *testing.T) {
	keys := testsvc.Paths(32_768)
	dir := testRunDir(t)
	serve(t, dir, "cg", ServerConfig{}, Handler{Handle: testsvc.AnswerCgroups})
	c := NewClient(dir, "cg", ClientConfig{CallTimeout: 5 * time.Minute})
	defer c.Close()
	for _, n := range []int{0, 1, 64, len(keys)} {
		v, err := c.Call(context.Background(), keys[:n])
		if err != nil {
			t.Fatal(err)
		}
		if err := testsvc.CheckCgroups(v, keys[:n]); err != nil {
			t.Fatal(err)
		}
	}
	// Not found, then found; the client's lifecycle.
	c2 := NewClient(dir, "other", ClientConfig{})
	defer c2.Close()
	_, err := c2.Call(context.Background(), keys[:1])
	if !errors.Is(err, netipc.ErrNotReady) || !errors.Is(err, netipc.ErrNotFound) || c2.Status().State != StateNotFound {
		t.Fatalf("error %v, status %+v", err, c2.Status())
	}
	serve(t, dir, "other", ServerConfig{}, Handler{Handle: testsvc.AnswerCgroups})
	if !c2.Refresh() || !c2.Ready() {
		t.Fatalf("not ready: %v", c2.LastError())
	}
}

// A lookup of 64 keys on a connected client allocates nothing.
func TestLookupAllocatesNothing(t *testing.T) {
	keys := testsvc.Paths(64)
	dir := testRunDir(t)
	serve(t, dir, "cg", ServerConfig{}, Handler{Handle: func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
		b.SetGeneration(1)
		e := protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupKnown, Name: "n"}
		for i := 0; i < req.Len(); i++ {
			if err := b.AddRequestItem(i, &e); err != nil {
				return err
			}
		}
		return nil
	}})
	c := NewClient(dir, "cg", ClientConfig{})
	defer c.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ { // let both sides grow their sizes
		if _, err := c.Call(ctx, keys); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		v, e := c.Call(ctx, keys)
		if e == nil && v.Len() != len(keys) {
			e = errors.New("short answer")
		}
		if e != nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per lookup", allocs)
	}
}
