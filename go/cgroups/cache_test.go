package cgroups

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

func checkCache(t testing.TB, c *Cache, n int, gen uint64) {
	t.Helper()
	snap := c.Snapshot()
	if snap.Len() != n || snap.Generation() != gen || snap.SystemdEnabled() != 1 {
		t.Fatalf("snapshot of %d items, generation %d; want %d, %d", snap.Len(), snap.Generation(), n, gen)
	}
	for i, item := range snap.All() {
		want := CacheItem{Hash: protocol.NetdataHash([]byte(itemName(i))), Options: uint32(i % 3), Enabled: 1,
			Name: itemName(i), Path: itemPath(i)}
		if item != want {
			t.Fatalf("item %d: %+v, want %+v", i, item, want)
		}
		got, ok := c.Get(want.Hash, want.Name)
		if !ok || got != want {
			t.Fatalf("Get item %d: %+v %v", i, got, ok)
		}
	}
}

func TestCacheKeepsTheLastGoodSnapshot(t *testing.T) {
	dir := testRunDir(t)
	c := NewCache(dir, "snap", ClientConfig{})
	defer c.Close()
	if _, ok := c.SessionInfo(); c.Ready() || c.Snapshot().Len() != 0 || (c.Status() != CacheStatus{}) || ok {
		t.Fatalf("a new cache: %+v", c.Status())
	}
	// No provider: nothing published, the failure counted.
	err := c.Refresh(context.Background())
	wantKind(t, err, netipc.ErrNotReady)
	if c.Ready() || !errors.Is(c.LastError(), netipc.ErrNotFound) {
		t.Fatalf("ready %v, last error %v", c.Ready(), c.LastError())
	}
	if st := c.Status(); st.RefreshFailureCount != 1 || st.ConnectionState != StateNotFound || st.Populated {
		t.Fatalf("status %+v", st)
	}

	stop := serve(t, dir, "snap", ServerConfig{}, items(100, 5))
	before := time.Now()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkCache(t, c, 100, 5)
	if info, ok := c.SessionInfo(); !ok || info.Profile != protocol.ProfileSHMHybrid || !info.SharedMemory ||
		info.MaxResponsePayloadBytes < 4096 {
		t.Fatalf("session info %+v %v", info, ok)
	}
	st := c.Status()
	if !st.Populated || st.ItemCount != 100 || st.Generation != 5 || st.SystemdEnabled != 1 ||
		st.RefreshSuccessCount != 1 || st.RefreshFailureCount != 1 || st.ConnectionState != StateReady ||
		st.LastRefresh.Before(before) || time.Since(st.LastRefresh) > testDeadline || c.LastError() != nil {
		t.Fatalf("status %+v, last error %v", st, c.LastError())
	}
	kept := c.Snapshot()
	item, _ := kept.Item(7)

	// The provider goes away: refreshes fail, the snapshot stays.
	stop()
	err = c.Refresh(context.Background())
	if err == nil {
		t.Fatal("a refresh without a provider succeeded")
	}
	checkCache(t, c, 100, 5)
	if st := c.Status(); st.RefreshFailureCount != 2 || st.RefreshSuccessCount != 1 || !st.Populated ||
		st.LastRefresh != c.Status().LastRefresh {
		t.Fatalf("status %+v", st)
	}

	// A new provider: the next refresh publishes its data; the snapshot a
	// reader kept is unchanged.
	serve(t, dir, "snap", ServerConfig{}, items(3, 6))
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkCache(t, c, 3, 6)
	if kept.Len() != 100 || kept.Generation() != 5 {
		t.Fatal("a kept snapshot changed")
	}
	if again, _ := kept.Item(7); again != item || item.Name != itemName(7) {
		t.Fatalf("a kept item changed: %+v", again)
	}
	if _, ok := c.Get(item.Hash, item.Name); ok {
		t.Fatal("an item of the old snapshot is found in the new one")
	}

	// Close unpublishes; a later refresh starts over.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.SessionInfo(); c.Ready() || c.Status().Populated || !c.Status().LastRefresh.IsZero() ||
		c.Status().ConnectionState != StateDisconnected || ok {
		t.Fatalf("status %+v", c.Status())
	}
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkCache(t, c, 3, 6)
}

func TestCacheRefusesAMalformedSnapshot(t *testing.T) {
	dir := testRunDir(t)
	serve(t, dir, "snap", ServerConfig{}, items(10, 1))
	c := NewCache(dir, "snap", ClientConfig{})
	defer c.Close()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// An item whose path points outside it: refused by the copy, which
	// checks every item.
	var buf [4096]byte
	b, _ := protocol.NewCgroupsBuilder(buf[:], 1)
	b.Add(1, 0, 1, "name", "/path")
	n, _ := b.Finish()
	v, err := protocol.DecodeCgroupsResponse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	buf[24+8+32-8] = 0xff // the item's path offset
	if _, err := buildSnapshot(&v); err == nil {
		t.Fatal("a malformed item was accepted")
	}
	checkCache(t, c, 10, 1)
}

func TestCacheGetFindsEveryItem(t *testing.T) {
	// Duplicates: the first one wins. Equal hashes for every name: the
	// index still works (by mixing in the names).
	for name, hash := range map[string]func(i int) uint32{
		"netdata": func(i int) uint32 { return protocol.NetdataHash([]byte(fmt.Sprint("cg-", i%5000))) },
		"equal":   func(int) uint32 { return 7 },
	} {
		t.Run(name, func(t *testing.T) {
			buf := make([]byte, 1<<20)
			b, _ := protocol.NewCgroupsBuilder(buf, 6000)
			for i := 0; i < 6000; i++ {
				if err := b.Add(hash(i), uint32(i), 1, fmt.Sprint("cg-", i%5000), fmt.Sprint("/p/", i)); err != nil {
					t.Fatal(err)
				}
			}
			n, _ := b.Finish()
			v, err := protocol.DecodeCgroupsResponse(buf[:n])
			if err != nil {
				t.Fatal(err)
			}
			s, err := buildSnapshot(&v)
			if err != nil {
				t.Fatal(err)
			}
			if s.mixNames != (name == "equal") {
				t.Fatalf("mixNames %v", s.mixNames)
			}
			for i := 0; i < 5000; i++ {
				item, ok := s.Get(hash(i), fmt.Sprint("cg-", i))
				if !ok || item.Options != uint32(i) || item.Path != fmt.Sprint("/p/", i) {
					t.Fatalf("item %d: %+v %v", i, item, ok)
				}
			}
			if _, ok := s.Get(hash(1), "cg-x"); ok {
				t.Fatal("found a missing name")
			}
			if _, ok := s.Get(hash(1)+1, "cg-1"); ok && name != "equal" {
				t.Fatal("found a name under another hash")
			}
		})
	}
	var empty *Snapshot
	if _, ok := empty.Get(1, "a"); ok || empty.Len() != 0 {
		t.Fatal("the nil snapshot is not empty")
	}
}

func TestCacheGetAllocatesNothing(t *testing.T) {
	dir := testRunDir(t)
	serve(t, dir, "snap", ServerConfig{}, items(200, 1))
	c := NewCache(dir, "snap", ClientConfig{})
	defer c.Close()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	name := itemName(123)
	hash := protocol.NetdataHash([]byte(name))
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := c.Get(hash, name); !ok {
			panic("not found")
		}
		if _, ok := c.Get(hash, "missing"); ok {
			panic("found")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Get", allocs)
	}
}

// Readers never block and always see a whole snapshot while a refresher
// publishes new ones; run with -race.
func TestCacheConcurrentReaders(t *testing.T) {
	dir := testRunDir(t)
	var gen atomic.Uint64
	names := make([]string, 50)
	for i := range names {
		names[i] = itemName(i)
	}
	serve(t, dir, "snap", ServerConfig{}, Handler{Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
		g := gen.Add(1)
		b.SetGeneration(g)
		b.SetSystemdEnabled(1)
		for i, name := range names {
			// Every item of generation g carries g in its options.
			if err := b.Add(uint32(i), uint32(g), 1, name, "/p"); err != nil {
				return err
			}
		}
		return nil
	}})
	c := NewCache(dir, "snap", ClientConfig{})
	defer c.Close()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		reads   atomic.Int64
		failure atomic.Value
	)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				s := c.Snapshot()
				g := s.Generation()
				for i, item := range s.All() {
					if uint64(item.Options) != g || item.Name != names[i] {
						failure.Store(fmt.Sprintf("generation %d item %d: %+v", g, i, item))
						return
					}
				}
				if item, ok := c.Get(3, names[3]); !ok || uint64(item.Options) < g {
					failure.Store(fmt.Sprintf("Get: %+v %v after generation %d", item, ok, g))
					return
				}
				_ = c.Status()
				if info, ok := c.SessionInfo(); ok && info.Profile != protocol.ProfileSHMHybrid {
					failure.Store(fmt.Sprintf("session info %+v", info))
					return
				}
				reads.Add(1)
				runtime.Gosched()
			}
		}()
	}
	// The readers are running before the refreshes start (a scheduler may
	// otherwise run all refreshes first, as under wine).
	for deadline := time.Now().Add(testDeadline); reads.Load() == 0 && failure.Load() == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the readers did not start")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 50; i++ {
		if err := c.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if f := failure.Load(); f != nil {
		t.Fatal(f)
	}
	if c.Snapshot().Generation() != 51 || c.Status().RefreshSuccessCount != 51 || reads.Load() == 0 {
		t.Fatalf("generation %d, status %+v, %d reads", c.Snapshot().Generation(), c.Status(), reads.Load())
	}
}

// An abort from another goroutine ends a blocked refresh promptly and
// keeps the snapshot.
func TestCacheAbort(t *testing.T) {
	dir := testRunDir(t)
	b := newBlocking(t)
	first := items(1, 1)
	serve(t, dir, "snap", ServerConfig{}, Handler{Handle: func(r *protocol.CgroupsRequest, bld *protocol.CgroupsBuilder) error {
		if b.calls.Load() == 0 {
			b.calls.Add(1)
			return first.Handle(r, bld)
		}
		return b.handler().Handle(r, bld)
	}})
	c := NewCache(dir, "snap", ClientConfig{})
	defer c.Close()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Refresh(context.Background()) }()
	abortWhenCalled(t, b, 2, c.Abort, done)
	checkCache(t, c, 1, 1)
	wantKind(t, c.Refresh(context.Background()), netipc.ErrAborted)
	if st := c.Status(); st.RefreshFailureCount != 2 || st.RefreshSuccessCount != 1 {
		t.Fatalf("status %+v", st)
	}
	c.ClearAbort()
	b.open()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Refreshes from several goroutines run one at a time.
func TestCacheOneRefresherAtATime(t *testing.T) {
	dir := testRunDir(t)
	var running, most atomic.Int32
	inner := items(2, 1)
	serve(t, dir, "snap", ServerConfig{}, Handler{Handle: func(r *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		return inner.Handle(r, b)
	}})
	c := NewCache(dir, "snap", ClientConfig{})
	defer c.Close()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := c.Refresh(context.Background()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 || c.Status().RefreshSuccessCount != 40 {
		t.Fatalf("%d refreshes at once, status %+v", most.Load(), c.Status())
	}
}
