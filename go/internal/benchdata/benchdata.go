// Package benchdata is the data of netipc's benchmarks: the same
// deterministic lists as the Rust bench (crates/netipc-cli/src/bench:
// snapshot.rs and lookup.rs), built on both sides, so a client checks
// every answer item for item against them whichever implementation
// served it; and the configs and helpers of the benchmarks (bench.go).
// The Go bench driver (internal/cmd/netipc-go-bench) and the
// `go test -bench` benchmarks of the public packages use it.
//
// Everything here is read-only once built: safe for concurrent use.
package benchdata

import (
	"bytes"
	"fmt"
	"math/bits"
	"strings"

	"github.com/netdata/netipc/go/protocol"
)

// mix is splitmix64: a well-spread value for i.
func mix(i uint64) uint64 {
	z := (i + 1) * 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// fnv1a is FNV-1a 32, the bench snapshot's name hash (the protocol never
// recomputes it).
func fnv1a(s string) uint32 {
	h := uint32(0x811c9dc5)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 0x01000193
	}
	return h
}

// The header values of every bench snapshot.
const (
	SnapshotSystemdEnabled = 1
	SnapshotGeneration     = 7
)

// Cgroup is one cgroup of a bench snapshot: a 20-byte name and an 81-byte
// path, the shape of a Docker container's cgroup.
type Cgroup struct {
	Hash, Options, Enabled uint32
	Name, Path             string
}

// SnapshotCgroups returns the n cgroups of a snapshot scenario.
func SnapshotCgroups(n int) []Cgroup {
	list := make([]Cgroup, n)
	for i := range list {
		u := uint64(i)
		a, b, c := mix(3*u), mix(3*u+1), mix(3*u+2)
		name := fmt.Sprintf("docker-%013x", a>>12)
		list[i] = Cgroup{
			Hash:    fnv1a(name),
			Options: boolBit(i%3 == 0) | 0x10,
			Enabled: boolBit(i%7 != 0),
			Name:    name,
			Path:    fmt.Sprintf("/sys/fs/cgroup/system.slice/docker-%016x%016x%08x.scope", a, b, c>>32),
		}
	}
	return list
}

func boolBit(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// AddSnapshot sets the bench snapshot's header values on b and adds
// list: the body of a bench snapshot handler. Allocates nothing.
func AddSnapshot(b *protocol.CgroupsBuilder, list []Cgroup) error {
	b.SetSystemdEnabled(SnapshotSystemdEnabled)
	b.SetGeneration(SnapshotGeneration)
	for i := range list {
		c := &list[i]
		if err := b.Add(c.Hash, c.Options, c.Enabled, c.Name, c.Path); err != nil {
			return err
		}
	}
	return nil
}

// foldItem folds one snapshot item into the order-dependent checksum of
// the Rust bench.
func foldItem(sum uint64, hash, options, enabled uint32, name, path []byte) uint64 {
	last := func(s []byte) uint64 {
		if len(s) == 0 {
			return 0
		}
		return uint64(s[len(s)-1])
	}
	fields := uint64(hash) ^ uint64(options)<<32 ^ uint64(enabled)<<40 ^
		uint64(len(name))<<44 ^ uint64(len(path))<<52 ^ last(name)<<8 ^ last(path)<<16
	return sum*0x00000100000001b3 + fields
}

// SnapshotCheck checks the snapshots a client reads: item for item
// against the bench snapshot (strict), or that every item decodes.
type SnapshotCheck struct {
	strict bool
	items  int
	sum    uint64
}

// NewSnapshotCheck returns the check of snapshots of items bench cgroups
// (strict), or of any well-formed snapshot.
func NewSnapshotCheck(strict bool, items int) SnapshotCheck {
	c := SnapshotCheck{strict: strict, items: items}
	for _, g := range SnapshotCgroups(items) {
		c.sum = foldItem(c.sum, g.Hash, g.Options, g.Enabled, []byte(g.Name), []byte(g.Path))
	}
	return c
}

// Check reads every item of v and returns the item count. Allocates
// nothing unless it fails.
func (c *SnapshotCheck) Check(v *protocol.CgroupsResponseView) (int, error) {
	if c.strict && v.Len() != c.items {
		return 0, fmt.Errorf("a snapshot of %d items, expected %d: is the server serving this scenario?", v.Len(), c.items)
	}
	var sum uint64
	for i := 0; i < v.Len(); i++ {
		item, err := v.Item(i)
		if err != nil {
			return 0, fmt.Errorf("snapshot item %d is malformed: %w", i, err)
		}
		sum = foldItem(sum, item.Hash, item.Options, item.Enabled, item.Name, item.Path)
	}
	if c.strict && (sum != c.sum || v.SystemdEnabled() != SnapshotSystemdEnabled || v.Generation() != SnapshotGeneration) {
		return 0, fmt.Errorf("a snapshot with other items than the bench server's")
	}
	return v.Len(), nil
}

// The lookup table: 1024 cgroups with the names and labels of real
// containers (three in four Docker, the fourth Kubernetes).
const (
	LookupCgroups    = 1024
	LookupGeneration = 11
)

// images are the containers' images, in turn.
var images = [8][2]string{
	{"nginx", "docker.io/library/nginx:1.25.3"},
	{"postgres", "docker.io/library/postgres:16.1"},
	{"redis", "docker.io/library/redis:7.2.4"},
	{"api", "registry.example.com/shop/api:2024.11.3"},
	{"worker", "registry.example.com/shop/worker:2024.11.3"},
	{"grafana", "docker.io/grafana/grafana:10.2.3"},
	{"prometheus", "quay.io/prometheus/prometheus:v2.48.1"},
	{"kafka", "docker.io/bitnami/kafka:3.6.1"},
}

// LookupCgroup is one cgroup of the lookup table.
type LookupCgroup struct {
	Path, Name   string
	Orchestrator protocol.Orchestrator
	Labels       []protocol.LookupLabel
}

// lookupCgroup returns cgroup i of the table.
func lookupCgroup(i int) LookupCgroup {
	var id strings.Builder
	for k := uint64(0); k < 4; k++ {
		fmt.Fprintf(&id, "%016x", mix(4*uint64(i)+k))
	}
	hex := id.String()
	app, image := images[i%len(images)][0], images[i%len(images)][1]
	short := hex[:12]
	if i%4 == 3 {
		u := hex[32:]
		pod := u[:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:]
		podName := fmt.Sprintf("%s-%05x", app, mix(uint64(i))&0xfffff)
		return LookupCgroup{
			Path: "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
				strings.ReplaceAll(pod, "-", "_") + ".slice/cri-containerd-" + hex + ".scope",
			Name:         "k8s_" + app + "_" + podName + "_shop",
			Orchestrator: protocol.OrchestratorK8s,
			Labels: []protocol.LookupLabel{
				{Key: "container_id", Value: short},
				{Key: "k8s_namespace", Value: "shop"},
				{Key: "k8s_pod_name", Value: podName},
				{Key: "k8s_pod_uid", Value: pod},
				{Key: "k8s_container_name", Value: app},
				{Key: "k8s_qos_class", Value: "burstable"},
				{Key: "image", Value: image},
			},
		}
	}
	name := fmt.Sprintf("%s-%04d", app, i)
	return LookupCgroup{
		Path:         "/sys/fs/cgroup/system.slice/docker-" + hex + ".scope",
		Name:         name,
		Orchestrator: protocol.OrchestratorDocker,
		Labels: []protocol.LookupLabel{
			{Key: "container_id", Value: short},
			{Key: "container_name", Value: name},
			{Key: "image", Value: image},
		},
	}
}

// LookupTable is the table of the lookup scenarios, indexed by path as a
// provider indexes it.
type LookupTable struct {
	Cgroups []LookupCgroup
	// Paths[i] is Cgroups[i].Path: the keys of a client's calls.
	Paths  [][]byte
	byPath map[string]int
}

// NewLookupTable builds the table.
func NewLookupTable() *LookupTable {
	t := &LookupTable{
		Cgroups: make([]LookupCgroup, LookupCgroups),
		Paths:   make([][]byte, LookupCgroups),
		byPath:  make(map[string]int, LookupCgroups),
	}
	for i := range t.Cgroups {
		t.Cgroups[i] = lookupCgroup(i)
		t.Paths[i] = []byte(t.Cgroups[i].Path)
		t.byPath[t.Cgroups[i].Path] = i
	}
	return t
}

// Window returns the keys [start, end) of logical call id of keys keys
// out of of: the table is cut into windows of keys keys, taken in turn.
func Window(id uint64, keys, of int) (start, end int) {
	keys = min(max(keys, 1), of)
	start = int(id%uint64(of/keys)) * keys
	return start, start + keys
}

// Answer adds one item per requested path to b: the table's cgroup, or
// UNKNOWN_RETRY_LATER for a path it does not know. Allocates nothing.
func (t *LookupTable) Answer(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
	b.SetGeneration(LookupGeneration)
	for i := 0; i < req.Len(); i++ {
		path, err := req.Path(i)
		if err != nil {
			return err
		}
		e := protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownRetryLater}
		if c, ok := t.byPath[string(path)]; ok {
			g := &t.Cgroups[c]
			e = protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupKnown, Orchestrator: g.Orchestrator, Name: g.Name, Labels: g.Labels}
		}
		if err := b.AddRequestItem(i, &e); err != nil {
			return err
		}
	}
	return nil
}

// Check checks that v answers the keys [start, end): item for item,
// every field and label (strict), or one item per key echoing it, with
// any status. Allocates nothing unless it fails.
func (t *LookupTable) Check(v *protocol.CgroupsLookupResponseView, start, end int, strict bool) error {
	if v.Len() != end-start {
		return fmt.Errorf("a lookup answer of %d items for %d keys", v.Len(), end-start)
	}
	if strict && v.Generation() != LookupGeneration {
		return fmt.Errorf("a lookup answer of generation %d, expected %d: is the server serving this scenario?", v.Generation(), LookupGeneration)
	}
	for i := 0; i < v.Len(); i++ {
		item, err := v.Item(i)
		if err != nil {
			return fmt.Errorf("lookup answer item %d is malformed: %w", i, err)
		}
		g := &t.Cgroups[start+i]
		if !bytes.Equal(item.Path, t.Paths[start+i]) {
			return fmt.Errorf("item %d of a lookup answer is for path %q, but key %d is %q", i, item.Path, i, g.Path)
		}
		if !strict {
			continue
		}
		if item.Status != protocol.CgroupsLookupKnown || string(item.Name) != g.Name ||
			item.Orchestrator != g.Orchestrator || !sameLabels(item.Labels, g.Labels) {
			return fmt.Errorf("a cgroups-lookup answer for %s other than the bench server's (%v, name %q)", g.Path, item.Status, item.Name)
		}
	}
	return nil
}

func sameLabels(got protocol.LookupLabels, want []protocol.LookupLabel) bool {
	if got.Len() != len(want) {
		return false
	}
	for i, w := range want {
		l, err := got.At(i)
		if err != nil || string(l.Key) != w.Key || string(l.Value) != w.Value {
			return false
		}
	}
	return true
}

// The in-process row (l3-cache-lookup): its cache holds the snapshot of
// CacheItems cgroups and a round trip is CacheLookups lookups in a
// scattered order (a stride coprime to the list's length, so every item
// is visited once per len(list) lookups).
const (
	CacheItems   = 1000
	CacheLookups = 1000
	localStride  = 617
)

// CacheKey is one lookup of the in-process row.
type CacheKey struct {
	Hash uint32
	Name string
}

// FoldFound folds one found item into the in-process row's checksum: its
// fixed fields and its path (length and last byte), so the item is read.
func FoldFound(sum uint64, options, enabled uint32, path string) uint64 {
	var last uint64
	if len(path) > 0 {
		last = uint64(path[len(path)-1])
	}
	fields := uint64(options) ^ uint64(enabled)<<32 ^ uint64(len(path))<<40 ^ last<<48
	return bits.RotateLeft64(sum, 5) + fields
}

// CacheKeys returns the keys of one round trip over list (lookups of
// them, in the scattered order) and the checksum (FoldFound) of the
// items they must find.
func CacheKeys(list []Cgroup, lookups int) ([]CacheKey, uint64) {
	n := max(len(list), 1)
	stride := localStride
	for gcd(stride, n) != 1 {
		stride++
	}
	keys := make([]CacheKey, 0, lookups)
	var sum uint64
	for j := 0; j < lookups && len(list) > 0; j++ {
		c := &list[j*stride%n]
		keys = append(keys, CacheKey{Hash: c.Hash, Name: c.Name})
		sum = FoldFound(sum, c.Options, c.Enabled, c.Path)
	}
	return keys, sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
