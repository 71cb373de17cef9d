package main

import (
	"context"
	"fmt"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/internal/benchdata"
	"github.com/netdata/netipc/go/internal/service/client"
)

// clientConfig is the L2 config of sc: the bench's (the transport of the
// scenario's plane, the library's default sizes growing on demand) with
// the options' sizes and token.
func clientConfig(sc *scenario, p *clientParams) netipc.ClientConfig {
	cfg := benchdata.ClientConfig(sc.plane == planeSHM)
	cfg.MaxRequestPayloadBytes, cfg.MaxResponsePayloadBytes = p.maxRequest, p.maxResponse
	cfg.MaxRequestBatchItems, cfg.AuthToken = p.maxBatchItems, p.authToken
	return cfg
}

// newCaller returns the client of sc (not connected: the first call
// connects).
func newCaller(sc *scenario, p *clientParams) (caller, error) {
	cfg := clientConfig(sc, p)
	switch sc.kind {
	case kindIncrement:
		return &incrementCaller{c: client.NewIncrement(p.runDir, p.service, cfg)}, nil
	case kindSnapshot:
		return &snapshotCaller{
			c:     cgroups.NewClient(p.runDir, p.service, cfg),
			check: benchdata.NewSnapshotCheck(p.strict, sc.n),
		}, nil
	case kindLookup:
		return &lookupCaller{
			c:      cgroupslookup.NewClient(p.runDir, p.service, cfg),
			table:  benchdata.NewLookupTable(),
			keys:   sc.n,
			strict: p.strict,
		}, nil
	case kindCache:
		return newCacheCaller(sc, p, cfg)
	}
	return nil, fmt.Errorf("scenario %s has no client", sc.name)
}

// incrementCaller makes INCREMENT calls of the test service: call id
// sends id and expects id + 1.
type incrementCaller struct {
	c *client.Increment
}

func (c *incrementCaller) call(id uint64) (int, error) {
	v, err := c.c.Call(context.Background(), id)
	if err != nil {
		return 0, err
	}
	if v != id+1 {
		return 0, &wrongAnswer{fmt.Errorf("INCREMENT of %d answered %d", id, v)}
	}
	return 1, nil
}

func (c *incrementCaller) reconnects() int { return int(c.c.Status().ReconnectCount) }
func (c *incrementCaller) close()          { c.c.Close() }

// snapshotCaller refreshes a cgroups snapshot and reads every item.
type snapshotCaller struct {
	c     *cgroups.Client
	check benchdata.SnapshotCheck
}

func (c *snapshotCaller) call(uint64) (int, error) {
	v, err := c.c.CallSnapshot(context.Background())
	if err != nil {
		return 0, err
	}
	n, err := c.check.Check(v)
	if err != nil {
		return 0, &wrongAnswer{err}
	}
	return n, nil
}

func (c *snapshotCaller) reconnects() int { return int(c.c.Status().ReconnectCount) }
func (c *snapshotCaller) close()          { _ = c.c.Close() }

// lookupCaller makes cgroups lookups of keys paths, the table's windows
// in turn, and checks every answered item.
type lookupCaller struct {
	c      *cgroupslookup.Client
	table  *benchdata.LookupTable
	keys   int
	strict bool
}

func (c *lookupCaller) call(id uint64) (int, error) {
	start, end := benchdata.Window(id, c.keys, len(c.table.Paths))
	v, err := c.c.Call(context.Background(), c.table.Paths[start:end])
	if err != nil {
		return 0, err
	}
	if err := c.table.Check(v, start, end, c.strict); err != nil {
		return 0, &wrongAnswer{err}
	}
	return end - start, nil
}

func (c *lookupCaller) reconnects() int { return int(c.c.Status().ReconnectCount) }
func (c *lookupCaller) close()          { _ = c.c.Close() }

// cacheCaller looks up a round trip's keys in an L3 cache filled once
// before the warm-up; no I/O while measured.
type cacheCaller struct {
	cache *cgroups.Cache
	keys  []benchdata.CacheKey
	sum   uint64
}

// newCacheCaller fills a cache from the scenario's server (refreshing
// until a refresh succeeds: the first ones may grow the response size)
// and picks the keys: the bench snapshot's cgroups, which the cache must
// hold exactly (strict), or the cache's own items.
func newCacheCaller(sc *scenario, p *clientParams, cfg netipc.ClientConfig) (caller, error) {
	cache := cgroups.NewCache(p.runDir, p.service, cfg)
	var err error
	for attempt := 0; attempt < benchdata.PrimeAttempts; attempt++ {
		if err = cache.Refresh(context.Background()); err == nil {
			break
		}
	}
	if err != nil {
		_ = cache.Close()
		return nil, fmt.Errorf("the cache's first %d refreshes failed; the last one: %w", benchdata.PrimeAttempts, err)
	}
	snap := cache.Snapshot()
	var list []benchdata.Cgroup
	if p.strict {
		if snap.Len() != benchdata.CacheItems {
			_ = cache.Close()
			return nil, fmt.Errorf("the cache holds a snapshot of %d items, expected %d: is the server serving this scenario?", snap.Len(), benchdata.CacheItems)
		}
		list = benchdata.SnapshotCgroups(benchdata.CacheItems)
	} else {
		for _, it := range snap.All() {
			// The item a lookup of its key finds (the first of duplicates).
			if found, ok := snap.Get(it.Hash, it.Name); ok {
				list = append(list, benchdata.Cgroup{Hash: found.Hash, Options: found.Options, Enabled: found.Enabled, Name: found.Name, Path: found.Path})
			}
		}
		if len(list) == 0 {
			_ = cache.Close()
			return nil, fmt.Errorf("the server's snapshot has no items: the cache has nothing to look up")
		}
	}
	keys, sum := benchdata.CacheKeys(list, sc.n)
	return &cacheCaller{cache: cache, keys: keys, sum: sum}, nil
}

func (c *cacheCaller) call(uint64) (int, error) {
	var sum uint64
	for i := range c.keys {
		k := &c.keys[i]
		item, ok := c.cache.Get(k.Hash, k.Name)
		if !ok {
			return 0, &wrongAnswer{fmt.Errorf("no item (%#x, %q) in the cache", k.Hash, k.Name)}
		}
		sum = benchdata.FoldFound(sum, item.Options, item.Enabled, item.Path)
	}
	if sum != c.sum {
		return 0, &wrongAnswer{fmt.Errorf("the lookups found other items than the ones looked up")}
	}
	return len(c.keys), nil
}

func (c *cacheCaller) reconnects() int { return -1 }
func (c *cacheCaller) close()          { _ = c.cache.Close() }
