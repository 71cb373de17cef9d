package client_test

import (
	"context"
	"slices"
	"testing"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/service/client"
	"github.com/netdata/netipc/go/internal/service/server"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
	"github.com/netdata/netipc/go/internal/testsvc"
	"github.com/netdata/netipc/go/protocol"
)

var profileSets = map[string]protocol.Profile{
	"baseline": protocol.ProfileBaseline,
	"shm":      netipc.DefaultProfiles,
}

// The test-service clients (of the interop tests and benchmarks) against
// the Go servers: single calls, batches (one item travels as a single
// call, none sends nothing), and allocation-free single calls.
func TestTestServiceClients(t *testing.T) {
	for name, profiles := range profileSets {
		t.Run(name, func(t *testing.T) {
			dir := testsvc.RunDir(t)
			scfg := netipc.ServerConfig{SupportedProfiles: profiles}
			servertest.Serve(t, server.NewIncrement(dir, "inc", scfg, func(v uint64) (uint64, error) { return v + 1, nil }))
			servertest.Serve(t, server.NewStringReverse(dir, "rev", scfg, func(text, out []byte) ([]byte, error) {
				for i := len(text) - 1; i >= 0; i-- {
					out = append(out, text[i])
				}
				return out, nil
			}))
			cfg := netipc.ClientConfig{SupportedProfiles: profiles, MaxRequestBatchItems: 100}
			ctx := context.Background()

			inc := client.NewIncrement(dir, "inc", cfg)
			defer inc.Close()
			if v, err := inc.Call(ctx, 41); err != nil || v != 42 {
				t.Fatalf("Call: %d %v", v, err)
			}
			values := []uint64{1, 2, 3, 1 << 40}
			for _, n := range []int{0, 1, len(values)} {
				out, err := inc.CallBatch(ctx, values[:n], nil)
				if err != nil || len(out) != n {
					t.Fatalf("CallBatch of %d: %v %v", n, out, err)
				}
				for i, v := range out {
					if v != values[i]+1 {
						t.Fatalf("answer %d: %d", i, v)
					}
				}
			}
			if _, err := inc.CallBatch(ctx, make([]uint64, 101), nil); client.KindOf(err) != netipc.ErrLimitExceeded {
				t.Fatalf("a batch above the negotiated items: %v", err)
			}
			var err error
			allocs := testing.AllocsPerRun(200, func() {
				if _, e := inc.Call(ctx, 1); e != nil {
					err = e
				}
			})
			if err != nil || allocs != 0 {
				t.Fatalf("%v allocations per call (%v)", allocs, err)
			}

			rev := client.NewStringReverse(dir, "rev", cfg)
			defer rev.Close()
			if s, err := rev.Call(ctx, []byte("hello")); err != nil || string(s) != "olleh" {
				t.Fatalf("Call: %q %v", s, err)
			}
			long := make([]byte, 200_000) // chunked both ways, grows both sizes
			for i := range long {
				long[i] = byte('a' + i%26)
			}
			s, err := rev.Call(ctx, long)
			if err != nil || len(s) != len(long) || !slices.Equal(s, reversed(long)) {
				t.Fatalf("a long string: %d bytes, %v", len(s), err)
			}
			texts := [][]byte{[]byte("ab"), {}, []byte("xyz")}
			for _, n := range []int{0, 1, len(texts)} {
				b, err := rev.CallBatch(ctx, texts[:n])
				if err != nil || b.Len() != n {
					t.Fatalf("CallBatch of %d: %v", n, err)
				}
				for i := 0; i < n; i++ {
					if got := b.Get(i); string(got) != string(reversed(texts[i])) {
						t.Fatalf("answer %d: %q", i, got)
					}
				}
			}
		})
	}
}

func reversed(b []byte) []byte {
	r := slices.Clone(b)
	slices.Reverse(r)
	return r
}
