package interop

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/internal/service/client"
)

// TestIncrementAndStringReverseBatches: the Go test-service clients
// against `netipc serve increment` and `netipc serve string-reverse`
// over every profile: single calls, a large (chunked) text, and batches.
func TestIncrementAndStringReverseBatches(t *testing.T) {
	eachProfile(t, profileSets, []rustServe{{kind: "increment"}, {kind: "string-reverse"}},
		func(t *testing.T, ctx context.Context, dir string, ps profileSet) {
			cfg := cgroups.ClientConfig{SupportedProfiles: ps.set, MaxRequestBatchItems: 1000}

			ic := client.NewIncrement(dir, "increment", cfg)
			defer ic.Close()
			for _, v := range []uint64{41, 0, math.MaxUint64 - 1} {
				got, err := ic.Call(ctx, v)
				if err != nil || got != v+1 {
					t.Fatalf("increment %d: %d, %v", v, got, err)
				}
			}
			checkTransport(t, dir, ic.SessionInfo, ps.shm)
			values := make([]uint64, 1000)
			for i := range values {
				values[i] = uint64(i) * 1_000_003
			}
			var out []uint64
			for _, n := range []int{1000, 2} {
				var err error
				if out, err = ic.CallBatch(ctx, values[:n], out); err != nil {
					t.Fatalf("batch of %d: %v", n, err)
				}
				if len(out) != n {
					t.Fatalf("batch of %d: %d answers", n, len(out))
				}
				for i, got := range out {
					if got != values[i]+1 {
						t.Fatalf("batch of %d, item %d: %d, want %d", n, i, got, values[i]+1)
					}
				}
			}

			rc := client.NewStringReverse(dir, "string-reverse", cfg)
			defer rc.Close()
			// A 300,000-byte text travels in many packets on the socket.
			large := make([]byte, 300_000)
			for i := range large {
				large[i] = 'a' + byte(i%26)
			}
			for _, text := range [][]byte{[]byte("netipc"), {}, []byte("ünïcødé"), large} {
				got, err := rc.Call(ctx, text)
				// The Rust test handler reverses by Unicode scalar value.
				want := []rune(string(text))
				slices.Reverse(want)
				if err != nil || string(got) != string(want) {
					t.Fatalf("reverse of %d bytes: %d bytes (%v)", len(text), len(got), err)
				}
			}
			texts := make([][]byte, 500)
			for i := range texts {
				texts[i] = fmt.Appendf(bytes.Repeat([]byte("x"), i%40), "%d", i)
			}
			answers, err := rc.CallBatch(ctx, texts)
			if err != nil {
				t.Fatal(err)
			}
			if answers.Len() != len(texts) {
				t.Fatalf("%d answers to %d texts", answers.Len(), len(texts))
			}
			for i, text := range texts {
				want := slices.Clone(text)
				slices.Reverse(want)
				if got := answers.Get(i); !bytes.Equal(got, want) {
					t.Fatalf("batch item %d: %q, want %q", i, got, want)
				}
			}
		})
}

// TestReconnectToARestartedRustProvider: a call whose provider was
// replaced reconnects once and is sent again (at least once); the answer
// comes from the new provider (netipc-test-peer's l2-increment answers
// value + TAG).
func TestReconnectToARestartedRustProvider(t *testing.T) {
	for _, ps := range profileSets[:2] {
		t.Run(ps.cli, func(t *testing.T) {
			dir := runDir(t)
			ctx := testContext(t)
			first := testPeer(t, "l2-increment", dir, "inc", ps.cli, 1)
			c := client.NewIncrement(dir, "inc", cgroups.ClientConfig{SupportedProfiles: ps.set})
			defer c.Close()
			if got, err := c.Call(ctx, 10); err != nil || got != 11 {
				t.Fatalf("first provider: %d, %v", got, err)
			}
			first.stop()
			second := testPeer(t, "l2-increment", dir, "inc", ps.cli, 5)
			if got, err := c.Call(ctx, 10); err != nil || got != 15 {
				t.Fatalf("after the restart: %d, %v; status %+v", got, err, c.Status())
			}
			if st := c.Status(); st.ReconnectCount == 0 {
				t.Errorf("no reconnect counted: %+v", st)
			}
			c.Close()
			second.stop()
		})
	}
}
