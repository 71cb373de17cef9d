package client_test

// The lookups through the public packages, over the real transport:
// against the Go twins of the reference providers, the Rust core's
// reference providers and the Go managed servers.

import (
	"context"
	"errors"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
	"github.com/netdata/netipc/go/internal/testsvc"
	"github.com/netdata/netipc/go/protocol"
)

// A client the tests drive: a lookup call and the lifecycle.
type lookupClient[K, V any] interface {
	Call(ctx context.Context, keys []K) (*V, error)
	Refresh() bool
	Status() netipc.ClientStatus
	SessionInfo() (netipc.SessionInfo, bool)
	Close() error
}

// public is a lookup as the public packages offer it.
type public[K, V any] struct {
	testsvc.Kind[K, V]
	// newClient returns a client of service under dir.
	newClient func(dir, service string, cfg netipc.ClientConfig) lookupClient[K, V]
	// serve runs a Go server of service answering by the testsvc rules,
	// or (cheap) with a constant answer that allocates nothing.
	serve func(t testing.TB, dir, service string, cheap bool)
}

var cgroupsPublic = public[[]byte, protocol.CgroupsLookupResponseView]{
	Kind: testsvc.CgroupsKind,
	newClient: func(dir, service string, cfg netipc.ClientConfig) lookupClient[[]byte, protocol.CgroupsLookupResponseView] {
		return cgroupslookup.NewClient(dir, service, cfg)
	},
	serve: func(t testing.TB, dir, service string, cheap bool) {
		h := cgroupslookup.Handler{Handle: testsvc.AnswerCgroups}
		if cheap {
			h.Handle = func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
				e := protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupKnown, Name: "n"}
				for i := 0; i < req.Len(); i++ {
					if err := b.AddRequestItem(i, &e); err != nil {
						return err
					}
				}
				return nil
			}
		}
		servertest.Serve(t, cgroupslookup.NewServer(dir, service, cgroupslookup.ServerConfig{}, h))
	},
}

var appsPublic = public[uint32, protocol.AppsLookupResponseView]{
	Kind: testsvc.AppsKind,
	newClient: func(dir, service string, cfg netipc.ClientConfig) lookupClient[uint32, protocol.AppsLookupResponseView] {
		return appslookup.NewClient(dir, service, cfg)
	},
	serve: func(t testing.TB, dir, service string, cheap bool) {
		h := appslookup.Handler{Handle: testsvc.AnswerApps}
		if cheap {
			h.Handle = func(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
				e := protocol.AppsLookupEntry{Status: protocol.PIDKnown, CgroupStatus: protocol.CgroupHostRoot, Comm: "p"}
				for _, pid := range req.PIDs() {
					if err := b.Add(pid, &e); err != nil {
						return err
					}
				}
				return nil
			}
		}
		servertest.Serve(t, appslookup.NewServer(dir, service, appslookup.ServerConfig{}, h))
	},
}

// A logical call of ~3,000 exchanges: generous under -race on a loaded
// machine.
var patient = netipc.ClientConfig{CallTimeout: 5 * time.Minute}

// 32,768 keys against the Go twins of the reference providers, served on
// the real transport (the growable one over shared memory too).
func TestLookupsOverTheTransport(t *testing.T) {
	shm := testsvc.RustGoDefault
	shm.Profiles = netipc.DefaultProfiles
	behaviours := map[string]testsvc.Behaviour{"growable-shm": shm}
	for name, b := range testsvc.Behaviours {
		behaviours[name] = b
	}
	overTheTransport(t, cgroupsPublic, behaviours)
	overTheTransport(t, appsPublic, behaviours)
}

func overTheTransport[K, V any](t *testing.T, p public[K, V], behaviours map[string]testsvc.Behaviour) {
	for name, b := range behaviours {
		t.Run(p.Lookup.String()+"/"+name, func(t *testing.T) {
			dir := testsvc.RunDir(t)
			r := testsvc.NewReference(p.Lookup, b)
			provider, err := testsvc.Serve(dir, "lookup", r)
			if err != nil {
				t.Fatal(err)
			}
			defer provider.Stop()
			c := p.newClient(dir, "lookup", patient)
			defer c.Close()
			p.Rounds(t, r, 32_768, c.Call)
		})
	}
}

// The same against the Rust core's reference-like providers
// (crates/netipc-tests/src/reference.rs, through netipc-test-peer), the
// ground truth of the Go twins.
func TestLookupsAgainstRustReferenceProviders(t *testing.T) {
	againstRust(t, cgroupsPublic)
	againstRust(t, appsPublic)
}

func againstRust[K, V any](t *testing.T, p public[K, V]) {
	for _, tc := range []struct{ behaviour, profiles string }{
		{"rust-go-default", "baseline"},
		{"rust-go-default", "baseline|shm-hybrid"},
		{"c-default", "baseline"},
		{"small-fixed", "baseline"},
		{"lossy-growable", "baseline"},
	} {
		t.Run(p.Lookup.String()+"/"+tc.behaviour+"/"+tc.profiles, func(t *testing.T) {
			dir := testsvc.RunDir(t)
			testsvc.RustPeer(t, "reference-lookup", dir, "lookup", tc.profiles, p.Lookup.String()+"/"+tc.behaviour)
			c := p.newClient(dir, "lookup", patient)
			defer c.Close()
			p.Rounds(t, nil, 32_768, c.Call)
			t.Logf("%d exchanges", c.Status().CallCount)
		})
	}
}

// Against the Go managed servers: no provider, then one; 0, 1, 64 and
// 32,768 keys.
func TestLookupsAgainstTheGoServer(t *testing.T) {
	againstGoServer(t, cgroupsPublic)
	againstGoServer(t, appsPublic)
}

func againstGoServer[K, V any](t *testing.T, p public[K, V]) {
	t.Run(p.Lookup.String(), func(t *testing.T) {
		dir := testsvc.RunDir(t)
		c := p.newClient(dir, "lookup", patient)
		defer c.Close()
		keys := p.Keys(32_768)
		_, err := c.Call(context.Background(), keys[:1])
		if !errors.Is(err, netipc.ErrNotReady) || !errors.Is(err, netipc.ErrNotFound) ||
			c.Status().State != netipc.StateNotFound {
			t.Fatalf("error %v, status %+v", err, c.Status())
		}
		if _, ok := c.SessionInfo(); ok {
			t.Fatal("session info without a provider")
		}
		p.serve(t, dir, "lookup", false)
		if !c.Refresh() {
			t.Fatal("not ready")
		}
		// Both sides' defaults: shared memory, the client's starting
		// request size, the server's starting response size.
		want := netipc.SessionInfo{Profile: protocol.ProfileSHMHybrid, SharedMemory: true,
			MaxRequestPayloadBytes: netipc.PayloadStart, MaxRequestBatchItems: 1,
			MaxResponsePayloadBytes: netipc.DefaultServerResponseStart}
		if info, ok := c.SessionInfo(); !ok || info != want {
			t.Fatalf("session info %+v %v, want %+v", info, ok, want)
		}
		for _, n := range []int{0, 1, 64, len(keys)} {
			v, err := c.Call(context.Background(), keys[:n])
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Check(v, keys[:n]); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// A lookup of 64 keys on a connected client allocates nothing.
func TestLookupAllocatesNothing(t *testing.T) {
	allocatesNothing(t, cgroupsPublic)
	allocatesNothing(t, appsPublic)
}

func allocatesNothing[K, V any](t *testing.T, p public[K, V]) {
	t.Run(p.Lookup.String(), func(t *testing.T) {
		dir := testsvc.RunDir(t)
		p.serve(t, dir, "lookup", true)
		c := p.newClient(dir, "lookup", netipc.ClientConfig{})
		defer c.Close()
		keys := p.Keys(64)
		ctx := context.Background()
		for i := 0; i < 3; i++ { // let both sides grow their sizes
			if _, err := c.Call(ctx, keys); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		allocs := testing.AllocsPerRun(100, func() {
			if _, e := c.Call(ctx, keys); e != nil {
				err = e
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if allocs != 0 {
			t.Fatalf("%v allocations per lookup", allocs)
		}
	})
}
