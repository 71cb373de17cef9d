package benchdata

import (
	"fmt"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

// The values below were printed by the Rust bench's own code
// (crates/netipc-cli/src/bench/snapshot.rs and lookup.rs): the Go lists
// must be the same, item for item, for a client of one implementation to
// check the other's answers with --strict.

func TestSnapshotCgroupsAreTheRustBenchs(t *testing.T) {
	list := SnapshotCgroups(1000)
	for _, want := range []struct {
		i                      int
		hash, options, enabled uint32
		name, path             string
	}{
		{0, 0x47e1877d, 17, 0, "docker-e220a8397b1dc", "/sys/fs/cgroup/system.slice/docker-e220a8397b1dcdaf6e789e6aa1b965f406c45d18.scope"},
		{15, 0xb0a53bd5, 17, 1, "docker-ecee65630a691", "/sys/fs/cgroup/system.slice/docker-ecee65630a691e373e84ecb1763e79ad690ed476.scope"},
		{999, 0x630459c0, 17, 1, "docker-6bc986ec9ea27", "/sys/fs/cgroup/system.slice/docker-6bc986ec9ea27f2d9787184ec39dcc58ee4700bd.scope"},
	} {
		got := list[want.i]
		if got != (Cgroup{want.hash, want.options, want.enabled, want.name, want.path}) {
			t.Errorf("cgroup %d: %+v, want %+v", want.i, got, want)
		}
	}
	for n, sum := range map[int]uint64{16: 6723610396022983678, 1000: 6677012310377085729} {
		if c := NewSnapshotCheck(true, n); c.sum != sum {
			t.Errorf("checksum of %d items: %d, the Rust bench's %d", n, c.sum, sum)
		}
	}
}

// snapshot encodes list as a server answers it.
func snapshot(t *testing.T, list []Cgroup) *protocol.CgroupsResponseView {
	t.Helper()
	buf := make([]byte, 1<<18)
	b, err := protocol.NewCgroupsBuilder(buf, len(list))
	if err != nil {
		t.Fatal(err)
	}
	if err := AddSnapshot(b, list); err != nil {
		t.Fatal(err)
	}
	n, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	v, err := protocol.DecodeCgroupsResponse(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

func TestSnapshotChecks(t *testing.T) {
	list := SnapshotCgroups(16)
	v := snapshot(t, list)
	strict := NewSnapshotCheck(true, 16)
	if n, err := strict.Check(v); n != 16 || err != nil {
		t.Fatalf("strict check of the bench snapshot: %d, %v", n, err)
	}
	other := NewSnapshotCheck(true, 1000)
	if _, err := other.Check(v); err == nil {
		t.Fatal("a 16-item snapshot passed the check of the 1000-item one")
	}
	changed := append([]Cgroup(nil), list...)
	changed[7].Enabled ^= 1
	if _, err := strict.Check(snapshot(t, changed)); err == nil {
		t.Fatal("a changed item passed the strict check")
	}
	structure := NewSnapshotCheck(false, 1000)
	if n, err := structure.Check(snapshot(t, changed)); n != 16 || err != nil {
		t.Fatalf("structure check of another snapshot: %d, %v", n, err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = strict.Check(v) }); allocs != 0 {
		t.Fatalf("%v allocations per check", allocs)
	}
}

func TestLookupTableIsTheRustBenchs(t *testing.T) {
	tab := NewLookupTable()
	c0, c3 := tab.Cgroups[0], tab.Cgroups[3]
	if c0.Path != "/sys/fs/cgroup/system.slice/docker-e220a8397b1dcdaf6e789e6aa1b965f406c45d188009454ff88bb8a8724c81ec.scope" ||
		c0.Name != "nginx-0000" || c0.Orchestrator != protocol.OrchestratorDocker ||
		fmt.Sprint(c0.Labels) != "[{container_id e220a8397b1d} {container_name nginx-0000} {image docker.io/library/nginx:1.25.3}]" {
		t.Errorf("cgroup 0: %+v", c0)
	}
	if c3.Path != "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podb54e0f16_00cc_4d19_84bb_3f97971d80ab.slice/cri-containerd-8621a03fe0bbdb7b8e1f7555983aa92fb54e0f1600cc4d1984bb3f97971d80ab.scope" ||
		c3.Name != "k8s_api_api-c81ec_shop" || c3.Orchestrator != protocol.OrchestratorK8s ||
		fmt.Sprint(c3.Labels) != "[{container_id 8621a03fe0bb} {k8s_namespace shop} {k8s_pod_name api-c81ec} {k8s_pod_uid b54e0f16-00cc-4d19-84bb-3f97971d80ab} {k8s_container_name api} {k8s_qos_class burstable} {image registry.example.com/shop/api:2024.11.3}]" {
		t.Errorf("cgroup 3: %+v", c3)
	}
	if c := tab.Cgroups[1023]; c.Name != "k8s_kafka_kafka-a3571_shop" {
		t.Errorf("cgroup 1023: %+v", c)
	}
	for _, w := range []struct {
		id         uint64
		keys, s, e int
	}{{5, 64, 320, 384}, {16, 64, 0, 64}, {1500, 1, 476, 477}} {
		if s, e := Window(w.id, w.keys, LookupCgroups); s != w.s || e != w.e {
			t.Errorf("Window(%d, %d) = %d..%d, want %d..%d", w.id, w.keys, s, e, w.s, w.e)
		}
	}
}

// lookup answers the keys [start, end) with answer, as a server does.
func lookup(t *testing.T, tab *LookupTable, start, end int, answer func(*protocol.CgroupsLookupRequestView, *protocol.CgroupsLookupBuilder) error) *protocol.CgroupsLookupResponseView {
	t.Helper()
	req := make([]byte, 1<<16)
	n, err := protocol.EncodeCgroupsLookupRequest(req, tab.Paths[start:end])
	if err != nil {
		t.Fatal(err)
	}
	resp := make([]byte, 1<<20)
	var b protocol.CgroupsLookupBuilder
	m, err := protocol.DispatchCgroupsLookup(&b, req[:n], resp, func(r *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) bool {
		return answer(r, b) == nil
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := protocol.DecodeCgroupsLookupResponse(resp[:m])
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

func TestLookupAnswersAndChecks(t *testing.T) {
	tab := NewLookupTable()
	v := lookup(t, tab, 320, 384, tab.Answer)
	for _, strict := range []bool{true, false} {
		if err := tab.Check(v, 320, 384, strict); err != nil {
			t.Fatalf("strict %v: %v", strict, err)
		}
		if err := tab.Check(v, 0, 64, strict); err == nil {
			t.Fatalf("strict %v: an answer for other keys passed", strict)
		}
		if err := tab.Check(v, 320, 383, strict); err == nil {
			t.Fatalf("strict %v: an answer of another count passed", strict)
		}
	}
	// Another server's answers: the keys unknown to it. The structure is
	// right, the data is not the bench's.
	unknown := lookup(t, tab, 320, 384, func(r *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
		for i := 0; i < r.Len(); i++ {
			if err := b.AddRequestItem(i, &protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownPermanent}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := tab.Check(unknown, 320, 384, false); err != nil {
		t.Fatal(err)
	}
	if err := tab.Check(unknown, 320, 384, true); err == nil {
		t.Fatal("another server's answer passed the strict check")
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = tab.Check(v, 320, 384, true) }); allocs != 0 {
		t.Fatalf("%v allocations per check", allocs)
	}
}

func TestCacheKeysVisitEveryItem(t *testing.T) {
	list := SnapshotCgroups(CacheItems)
	keys, sum := CacheKeys(list, CacheLookups)
	seen := map[CacheKey]bool{}
	var again uint64
	byKey := map[CacheKey]Cgroup{}
	for _, c := range list {
		byKey[CacheKey{c.Hash, c.Name}] = c
	}
	for _, k := range keys {
		seen[k] = true
		c := byKey[k]
		again = FoldFound(again, c.Options, c.Enabled, c.Path)
	}
	if len(keys) != CacheLookups || len(seen) != CacheItems || again != sum {
		t.Fatalf("%d keys, %d distinct, sum %d (want %d)", len(keys), len(seen), again, sum)
	}
	if keys[1] != (CacheKey{list[617].Hash, list[617].Name}) {
		t.Fatalf("the second key is not item 617: %+v", keys[1])
	}
}
