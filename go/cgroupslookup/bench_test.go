package cgroupslookup_test

import (
	"context"
	"testing"

	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/internal/benchdata"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
)

// The benchmark of the lookup client against a server in this process,
// answering from the bench's table of 1024 containers: the data and
// configs of `cargo xtask bench-matrix` (internal/benchdata). Run it with
//
//	go test -run '^$' -bench . -benchmem ./cgroupslookup

// lookupCall is a connected client's logical lookup of 64 paths (call i
// asks the table's window i), every item checked against the table.
func lookupCall(tb testing.TB, shm bool) benchdata.Call {
	dir := tb.TempDir()
	table := benchdata.NewLookupTable()
	servertest.Serve(tb, cgroupslookup.NewServer(dir, "bench", benchdata.ServerConfig(shm),
		cgroupslookup.Handler{Handle: table.Answer}))
	c := cgroupslookup.NewClient(dir, "bench", benchdata.ClientConfig(shm))
	tb.Cleanup(func() { _ = c.Close() })
	call := func(i uint64) error {
		start, end := benchdata.Window(i, 64, len(table.Paths))
		v, err := c.Call(context.Background(), table.Paths[start:end])
		if err == nil {
			err = table.Check(v, start, end, true)
		}
		return err
	}
	benchdata.Prime(tb, func() error { return call(0) })
	return call
}

// BenchmarkCall64 is one logical lookup of 64 cgroup paths (about 300
// bytes an answered item).
func BenchmarkCall64(b *testing.B) {
	benchdata.RunPlanes(b, lookupCall, 64, "keys/s")
}

// TestBenchmarkedCallsDoNotAllocate: a 64-key lookup allocates nothing,
// client and server together.
func TestBenchmarkedCallsDoNotAllocate(t *testing.T) {
	for _, plane := range benchdata.Planes {
		benchdata.NoAllocs(t, plane.Name+" lookup", lookupCall(t, plane.SHM))
	}
}
