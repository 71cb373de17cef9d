package netipc_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/netdata/netipc/go/internal/benchdata"
	"github.com/netdata/netipc/go/internal/service/client"
	"github.com/netdata/netipc/go/internal/service/server"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
)

// The ping-pong benchmark: INCREMENT calls of the protocol's test service
// (internal; the smallest L2 exchange) against a server in this process,
// over the socket and over shared memory. The service benchmarks are in
// the cgroups and cgroupslookup packages; `cargo xtask bench-matrix` measures
// the same calls across processes and next to the Rust core. Run it with
//
//	go test -run '^$' -bench . -benchmem .

// incrementCall is a connected INCREMENT client's call: i must come back
// as i + 1.
func incrementCall(tb testing.TB, shm bool) benchdata.Call {
	dir := tb.TempDir()
	servertest.Serve(tb, server.NewIncrement(dir, "bench", benchdata.ServerConfig(shm),
		func(v uint64) (uint64, error) { return v + 1, nil }))
	c := client.NewIncrement(dir, "bench", benchdata.ClientConfig(shm))
	tb.Cleanup(c.Close)
	call := func(i uint64) error {
		got, err := c.Call(context.Background(), i)
		if err == nil && got != i+1 {
			err = fmt.Errorf("INCREMENT of %d answered %d", i, got)
		}
		return err
	}
	benchdata.Prime(tb, func() error { return call(0) })
	return call
}

// BenchmarkIncrement is one INCREMENT round trip.
func BenchmarkIncrement(b *testing.B) {
	benchdata.RunPlanes(b, incrementCall, 0, "")
}

// TestBenchmarkedCallsDoNotAllocate: an INCREMENT round trip allocates
// nothing, client and server together.
func TestBenchmarkedCallsDoNotAllocate(t *testing.T) {
	for _, plane := range benchdata.Planes {
		benchdata.NoAllocs(t, plane.Name+" INCREMENT call", incrementCall(t, plane.SHM))
	}
}
