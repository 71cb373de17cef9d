package cgroups

import (
	"context"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/service/client"
	"github.com/netdata/netipc/go/protocol"
)

// Cache keeps the last good copy of a cgroups-snapshot provider's data in
// memory and answers lookups by (hash, name) without any I/O (level 3).
//
// The caller drives it: Refresh at its own cadence (there are no
// background goroutines or timers), and Get or Snapshot from any number
// of goroutines. Every refresh fetches the full snapshot through a
// snapshot Client (with its reconnect and retry rules), copies and
// indexes it privately, and publishes it with one atomic pointer swap.
// Readers never wait for a refresh and a refresh never waits for readers;
// a failed refresh leaves the published snapshot untouched.
//
// A Cache is safe for concurrent use: Refresh and Close are serialized
// with each other (one refresher at a time); every other method never
// blocks on them.
type Cache struct {
	// mu serializes Refresh and Close (and guards the client's calls).
	mu     sync.Mutex
	client *client.Snapshot

	published atomic.Pointer[Snapshot]
	successes atomic.Uint32
	failures  atomic.Uint32
	// Why the last connection attempt failed, as of the last refresh.
	lastErr atomic.Pointer[errBox]
	// When the last snapshot was published, in nanoseconds after created
	// (0: never).
	lastRefresh atomic.Int64
	created     time.Time
}

type errBox struct{ err error }

// CacheStatus is a snapshot of a Cache's state and counters.
type CacheStatus struct {
	// Populated reports whether a snapshot is published (a refresh has
	// succeeded since the cache was created or closed).
	Populated bool
	// ItemCount is the number of items in the published snapshot (0 if
	// none).
	ItemCount int
	// SystemdEnabled is the published snapshot's systemd_enabled value
	// (0 if none).
	SystemdEnabled uint32
	// Generation is the published snapshot's generation (0 if none), as
	// the provider sent it: it may go down when the provider restarts.
	Generation uint64
	// RefreshSuccessCount counts refreshes that published a snapshot.
	RefreshSuccessCount uint32
	// RefreshFailureCount counts refreshes that failed (the previous
	// snapshot was kept).
	RefreshFailureCount uint32
	// ConnectionState is the state of the connection to the provider.
	ConnectionState ClientState
	// LastRefresh is when the last snapshot was published (it carries a
	// monotonic clock reading: time.Since gives its age); the zero time
	// if never since the cache was created or closed.
	LastRefresh time.Time
}

// NewCache returns an empty cache of service under runDir. It does no
// I/O: the provider need not exist yet. runDir must exist when the cache
// refreshes.
func NewCache(runDir, service string, cfg ClientConfig) *Cache {
	return &Cache{
		client:  client.NewSnapshot(runDir, service, cfg),
		created: time.Now(),
	}
}

// Refresh connects if needed, fetches the full snapshot, copies and
// indexes it, and publishes it. It blocks for up to the call timeout (or
// ctx's deadline, if earlier) and while another goroutine's Refresh runs;
// cancelling ctx aborts it. Readers are never blocked.
//
// On failure the previous snapshot stays published, the failure is
// counted, and the error says why: ErrNotReady with the cause of the
// failed connection (also kept in LastError), ErrAborted, ErrTimeout,
// ErrRejected, ErrCodec (a malformed snapshot or item), and the other
// errors of a snapshot call.
func (c *Cache) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	view, err := c.client.Call(ctx)
	var snap *Snapshot
	if err == nil {
		snap, err = buildSnapshot(view)
		if err != nil {
			err = netipc.Wrap(netipc.ErrCodec, err, "the snapshot of %q does not decode; the previous one is kept",
				c.client.Service())
		}
	}
	c.rememberLastError()
	if err != nil {
		c.failures.Add(1)
		return err
	}
	c.published.Store(snap)
	c.lastRefresh.Store(max(int64(time.Since(c.created)), 1))
	c.successes.Add(1)
	return nil
}

func (c *Cache) rememberLastError() {
	if err := c.client.LastError(); err != nil {
		c.lastErr.Store(&errBox{err})
	} else {
		c.lastErr.Store(nil)
	}
}

// Ready reports whether a snapshot is published. It does not mean the
// provider is connected right now. Any goroutine; no I/O.
func (c *Cache) Ready() bool { return c.published.Load() != nil }

// Get returns the item whose hash and name both equal the arguments
// (the first such item when a snapshot has duplicates), from the
// published snapshot. Lock-free and allocation-free; any goroutine. The
// item is an owned copy: it stays valid after later refreshes.
func (c *Cache) Get(hash uint32, name string) (CacheItem, bool) {
	return c.published.Load().Get(hash, name)
}

// Snapshot returns the published snapshot (an empty one when none is).
// It is immutable: a reader may keep it and read it for as long as it
// likes, while later refreshes publish newer ones. Any goroutine.
func (c *Cache) Snapshot() *Snapshot {
	if s := c.published.Load(); s != nil {
		return s
	}
	return &emptySnapshot
}

// Status returns the state and counters. Any goroutine; it never blocks.
func (c *Cache) Status() CacheStatus {
	s := c.published.Load()
	st := CacheStatus{
		Populated:           s != nil,
		ItemCount:           s.Len(),
		SystemdEnabled:      s.SystemdEnabled(),
		Generation:          s.Generation(),
		RefreshSuccessCount: c.successes.Load(),
		RefreshFailureCount: c.failures.Load(),
		ConnectionState:     c.client.State(),
	}
	if ns := c.lastRefresh.Load(); ns != 0 {
		st.LastRefresh = c.created.Add(time.Duration(ns))
	}
	return st
}

// SessionInfo returns what the cache's connection to the provider
// negotiated (the transport profile, whether messages travel through
// shared memory, the agreed sizes), for diagnostics; false when it is not
// connected. Any goroutine; no I/O, and it never waits for a refresh.
func (c *Cache) SessionInfo() (SessionInfo, bool) { return c.client.SessionInfo() }

// LastError returns why the cache's last connection attempt failed, as
// of the last refresh (nil when it succeeded, and after Close). Any
// goroutine; readers can use it to say why the data is stale.
func (c *Cache) LastError() error {
	if b := c.lastErr.Load(); b != nil {
		return b.err
	}
	return nil
}

// SetCallTimeout sets the time a refresh may take; zero restores
// ClientConfig.CallTimeout. Any goroutine; it applies from the next
// refresh.
func (c *Cache) SetCallTimeout(d time.Duration) { c.client.SetCallTimeout(d) }

// Abort makes the refresh in progress, if any, fail promptly with
// ErrAborted, and every later refresh until ClearAbort or Close. The
// published snapshot is kept. Any goroutine.
func (c *Cache) Abort() { c.client.Abort() }

// ClearAbort allows refreshes again. Any goroutine.
func (c *Cache) ClearAbort() { c.client.ClearAbort() }

// Close unpublishes the snapshot (Ready becomes false; snapshots readers
// hold stay valid), closes the connection and clears the abort flag.
// Counters are kept. It waits for a refresh in progress. Closing twice is
// harmless; a later Refresh starts over. It returns nil.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.published.Store(nil)
	c.lastRefresh.Store(0)
	c.client.Close()
	c.lastErr.Store(nil)
	return nil
}

// CacheItem is one cgroup of a cache snapshot. Its strings are immutable
// copies: an item stays valid after later refreshes and Close.
type CacheItem struct {
	// Hash is the producer's hash of Name.
	Hash uint32
	// Options are opaque cgroup option flags.
	Options uint32
	// Enabled is the opaque enabled value.
	Enabled uint32
	// Name is the cgroup name, exactly the bytes the producer sent.
	Name string
	// Path is the cgroup path, exactly the bytes the producer sent.
	Path string
}

// Snapshot is one published generation of a Cache: its items in the
// provider's order and an index by (hash, name). It is immutable and safe
// for concurrent use; the nil *Snapshot is an empty one.
type Snapshot struct {
	items []CacheItem
	// key<<32 | (item index + 1); 0 marks an empty slot. Keeping the key
	// in the slot rejects most mismatches without touching items.
	slots []uint64
	mask  uint32
	// Shift that turns the mixed key into a slot number.
	shift uint32
	// Whether keys include a hash of the name (only when the producer's
	// hashes collide too much to be used alone).
	mixNames       bool
	generation     uint64
	systemdEnabled uint32
}

var emptySnapshot Snapshot

// Len returns the number of items.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.items)
}

// Generation returns the provider's generation of the snapshot.
func (s *Snapshot) Generation() uint64 {
	if s == nil {
		return 0
	}
	return s.generation
}

// SystemdEnabled returns the provider's systemd_enabled value.
func (s *Snapshot) SystemdEnabled() uint32 {
	if s == nil {
		return 0
	}
	return s.systemdEnabled
}

// Item returns item i (0 <= i < Len) in the provider's order; false when
// i is out of range.
func (s *Snapshot) Item(i int) (CacheItem, bool) {
	if i < 0 || i >= s.Len() {
		return CacheItem{}, false
	}
	return s.items[i], true
}

// All yields every item with its index, in the provider's order.
func (s *Snapshot) All() iter.Seq2[int, CacheItem] {
	return func(yield func(int, CacheItem) bool) {
		for i := 0; i < s.Len(); i++ {
			if !yield(i, s.items[i]) {
				return
			}
		}
	}
}

// Get returns the first item whose hash and name both equal the
// arguments. It allocates nothing.
func (s *Snapshot) Get(hash uint32, name string) (CacheItem, bool) {
	if s == nil || len(s.slots) == 0 {
		return CacheItem{}, false
	}
	k := s.key(hash, name)
	for i := s.slot(k); ; i = (i + 1) & s.mask {
		slot := s.slots[i]
		if slot == 0 {
			return CacheItem{}, false
		}
		if uint32(slot>>32) == k {
			item := &s.items[uint32(slot)-1]
			if item.Hash == hash && item.Name == name {
				return *item, true
			}
		}
	}
}

// Index parameters.
const (
	// Multiplier of the slot mixing (2^64 / golden ratio).
	slotMix = 0x9E3779B97F4A7C15
	// Multiplier of the name hash.
	nameMul = 0x517CC1B727220A95
	// Fewest index slots of a non-empty snapshot.
	minSlots = 16
	// Longest probe sequence the index accepts when it is keyed by the
	// producer's hash alone; a longer one means the producer's hashes
	// are poor, and the index is rebuilt with the names mixed into the
	// key.
	maxProbe = 32
	// Payload bytes every item of a snapshot takes at the least when
	// items do not overlap: its directory entry and its fixed part.
	minItemBytes = 8 + 32
)

// nameHash hashes name 8 bytes at a time; it is mixed into the
// producer's hash when a producer sends equal hashes for many names, so
// that the index does not degrade to a list.
func nameHash(name string) uint32 {
	h := uint64(len(name))
	for len(name) > 0 {
		var word uint64
		n := min(len(name), 8)
		for i := n - 1; i >= 0; i-- {
			word = word<<8 | uint64(name[i])
		}
		h = (h<<5 | h>>59) ^ word
		h *= nameMul
		name = name[n:]
	}
	return uint32(h>>32) ^ uint32(h)
}

func (s *Snapshot) key(hash uint32, name string) uint32 {
	if s.mixNames {
		return hash ^ nameHash(name)
	}
	return hash
}

func (s *Snapshot) slot(key uint32) uint32 {
	return uint32((uint64(key) * slotMix) >> s.shift)
}

// buildSnapshot copies every item of view (validating each one) and
// indexes them. The strings of all items are copied once, into one
// string.
//
// The copy is never larger than what arrived: items that do not overlap
// (as every producer lays them out) take at least minItemBytes payload
// bytes each and hold their strings, so a snapshot with more items than
// that, or more string bytes than its payload, can only point several
// directory entries at the same bytes and is refused before it is copied.
func buildSnapshot(view *protocol.CgroupsResponseView) (*Snapshot, error) {
	count := view.Len()
	payload := len(view.Bytes())
	if count > payload/minItemBytes {
		return nil, netipc.Errorf(netipc.ErrCodec,
			"the snapshot has %d items, more than its %d bytes hold apart: its items overlap", count, payload)
	}
	total := 0
	for i := 0; i < count; i++ {
		item, err := view.Item(i)
		if err != nil {
			return nil, err
		}
		total += len(item.Name) + len(item.Path)
		if total > payload {
			return nil, netipc.Errorf(netipc.ErrCodec,
				"the snapshot's strings take more than its %d bytes: its items overlap", payload)
		}
	}
	var b strings.Builder
	b.Grow(total)
	for i := 0; i < count; i++ {
		item, _ := view.Item(i)
		b.Write(item.Name)
		b.Write(item.Path)
	}
	all := b.String()
	s := &Snapshot{
		items:          make([]CacheItem, count),
		generation:     view.Generation(),
		systemdEnabled: view.SystemdEnabled(),
	}
	at := 0
	for i := range s.items {
		item, _ := view.Item(i)
		name := all[at : at+len(item.Name)]
		at += len(item.Name)
		path := all[at : at+len(item.Path)]
		at += len(item.Path)
		s.items[i] = CacheItem{Hash: item.Hash, Options: item.Options, Enabled: item.Enabled, Name: name, Path: path}
	}
	s.index()
	return s, nil
}

// index builds the index: at least twice as many slots as items (a power
// of two, at least 16), linear probing, insertion in item order so that
// the first of duplicate (hash, name) pairs is found first. The key is
// the producer's hash (already a hash of the name) unless that makes some
// probe sequence longer than maxProbe.
func (s *Snapshot) index() {
	if len(s.items) == 0 {
		return
	}
	n := uint64(minSlots)
	for n < 2*uint64(len(s.items)) {
		n <<= 1
	}
	s.slots = make([]uint64, n)
	s.mask = uint32(n - 1)
	bits := uint32(0)
	for 1<<bits < n {
		bits++
	}
	s.shift = 64 - bits
	if !s.fill(maxProbe) {
		s.mixNames = true
		s.fill(len(s.slots))
	}
}

// fill inserts every item; it gives up (false) when an insertion probes
// more than maxProbe slots.
func (s *Snapshot) fill(maxProbe int) bool {
	clear(s.slots)
	for i := range s.items {
		k := s.key(s.items[i].Hash, s.items[i].Name)
		at := s.slot(k)
		for probes := 0; s.slots[at] != 0; probes++ {
			if probes >= maxProbe {
				return false
			}
			at = (at + 1) & s.mask
		}
		s.slots[at] = uint64(k)<<32 | uint64(i+1)
	}
	return true
}
