package cgroups_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/internal/benchdata"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
	"github.com/netdata/netipc/go/protocol"
)

// The benchmarks of the snapshot client and the cache against a server
// in this process: the data and configs of `cargo xtask bench-matrix`
// (internal/benchdata), which measures the same calls across processes
// and next to the Rust core. Run them with
//
//	go test -run '^$' -bench . -benchmem ./cgroups

// serveSnapshot starts a server of the first n bench cgroups and returns
// its run directory.
func serveSnapshot(tb testing.TB, n int, shm bool) string {
	dir := tb.TempDir()
	list := benchdata.SnapshotCgroups(n)
	servertest.Serve(tb, cgroups.NewServer(dir, "bench", benchdata.ServerConfig(shm), cgroups.Handler{
		Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
			return benchdata.AddSnapshot(b, list)
		},
		SnapshotMaxItems: uint32(n),
	}))
	return dir
}

// snapshotCall is a connected client's refresh of a 16-item snapshot,
// every item read and checked against the bench data.
func snapshotCall(tb testing.TB, shm bool) benchdata.Call {
	dir := serveSnapshot(tb, 16, shm)
	c := cgroups.NewClient(dir, "bench", benchdata.ClientConfig(shm))
	tb.Cleanup(func() { _ = c.Close() })
	check := benchdata.NewSnapshotCheck(true, 16)
	call := func(uint64) error {
		v, err := c.CallSnapshot(context.Background())
		if err == nil {
			_, err = check.Check(v)
		}
		return err
	}
	benchdata.Prime(tb, func() error { return call(0) })
	return call
}

// cacheGet is a lookup in a cache filled from a snapshot of the bench's
// 1000 cgroups: Get of the keys in their scattered order, one per call,
// each checked.
func cacheGet(tb testing.TB) benchdata.Call {
	dir := serveSnapshot(tb, benchdata.CacheItems, false)
	cache := cgroups.NewCache(dir, "bench", benchdata.ClientConfig(false))
	tb.Cleanup(func() { _ = cache.Close() })
	benchdata.Prime(tb, func() error { return cache.Refresh(context.Background()) })
	keys, _ := benchdata.CacheKeys(benchdata.SnapshotCgroups(benchdata.CacheItems), benchdata.CacheLookups)
	return func(i uint64) error {
		k := &keys[i%uint64(len(keys))]
		if item, ok := cache.Get(k.Hash, k.Name); !ok || item.Name != k.Name {
			return fmt.Errorf("Get(%#x, %q) found %+v, %v", k.Hash, k.Name, item, ok)
		}
		return nil
	}
}

// BenchmarkCallSnapshot16 is one refresh of a 16-item snapshot: request,
// answer encoded by the server, every item decoded and checked.
func BenchmarkCallSnapshot16(b *testing.B) {
	benchdata.RunPlanes(b, snapshotCall, 16, "items/s")
}

// BenchmarkCacheGet is one lookup by (hash, name) in a filled cache: no
// I/O, no lock.
func BenchmarkCacheGet(b *testing.B) {
	benchdata.Run(b, cacheGet(b), 0, "")
}

// TestBenchmarkedCallsDoNotAllocate: the benchmarks' hot paths allocate
// nothing per call, client and server together.
func TestBenchmarkedCallsDoNotAllocate(t *testing.T) {
	for _, plane := range benchdata.Planes {
		benchdata.NoAllocs(t, plane.Name+" snapshot call", snapshotCall(t, plane.SHM))
	}
	benchdata.NoAllocs(t, "cache Get", cacheGet(t))
}
