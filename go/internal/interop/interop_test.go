package interop

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/protocol"
)

// callLimit bounds every call of a test.
const callLimit = 60 * time.Second

// keys is the size of the large lookups.
const keys = 32768

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), callLimit)
	t.Cleanup(cancel)
	return ctx
}

// checkTransport checks, while a client is connected, that its session
// uses shared memory exactly when shm: the client's session says so and,
// on Linux, the region files of the session (`<service>-<session
// id>.ipcshm`) are in the run directory (Windows names its SHM objects in
// the kernel, not in the run directory).
func checkTransport(t *testing.T, dir string, session func() (netipc.SessionInfo, bool), shm bool) {
	t.Helper()
	if info, ok := session(); !ok || info.SharedMemory != shm {
		t.Errorf("shared memory %v expected, the client's session: %+v (connected %v)", shm, info, ok)
	}
	if runtime.GOOS != "linux" {
		return
	}
	regions := 0
	for _, name := range entries(t, dir) {
		if strings.HasSuffix(name, ".ipcshm") {
			regions++
		}
	}
	if (regions > 0) != shm {
		t.Errorf("shared memory %v expected, the run directory holds %v", shm, entries(t, dir))
	}
}

// checkEmpty checks that the providers left nothing in dir.
func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	if left := entries(t, dir); len(left) > 0 {
		t.Errorf("left in the run directory: %v", left)
	}
}

func checkSnapshot(t *testing.T, view *protocol.CgroupsResponseView, generation uint64, rows []snapshotRow) {
	t.Helper()
	if view.Generation() != generation || view.SystemdEnabled() != 1 || view.Len() != len(rows) {
		t.Fatalf("generation %d, systemd_enabled %d, %d items; want %d, 1, %d",
			view.Generation(), view.SystemdEnabled(), view.Len(), generation, len(rows))
	}
	for i, want := range rows {
		got, err := view.Item(i)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if got.Hash != want.Hash || got.Options != want.Options || got.Enabled != want.Enabled ||
			string(got.Name) != want.Name || string(got.Path) != want.Path {
			t.Fatalf("item %d: %d %d %d %q %q; want %+v", i, got.Hash, got.Options, got.Enabled, got.Name, got.Path, want)
		}
	}
}

func checkCgroups(t *testing.T, view *protocol.CgroupsLookupResponseView, paths [][]byte, rows []*cgroupRow) {
	t.Helper()
	if view.Generation() != 7 || view.Len() != len(paths) {
		t.Fatalf("generation %d, %d items; want 7, %d", view.Generation(), view.Len(), len(paths))
	}
	for i, path := range paths {
		got, err := view.Item(i)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if !bytes.Equal(got.Path, path) {
			t.Fatalf("item %d: path %q, want %q", i, got.Path, path)
		}
		want := rows[i]
		if want == nil {
			if got.Status != protocol.CgroupsLookupUnknownPermanent || len(got.Name) > 0 || got.Labels.Len() > 0 {
				t.Fatalf("item %d: %v %q with %d labels; want UNKNOWN_PERMANENT", i, got.Status, got.Name, got.Labels.Len())
			}
			continue
		}
		if got.Status != protocol.CgroupsLookupKnown || uint16(got.Orchestrator) != want.Orchestrator || string(got.Name) != want.Name {
			t.Fatalf("item %d: %v %v %q; want KNOWN %d %q", i, got.Status, got.Orchestrator, got.Name, want.Orchestrator, want.Name)
		}
		if got.Labels.Len() != len(want.labels) {
			t.Fatalf("item %d: %d labels, want %d", i, got.Labels.Len(), len(want.labels))
		}
		for j, l := range got.Labels.All() {
			if string(l.Key) != want.labels[j].Key || string(l.Value) != want.labels[j].Value {
				t.Fatalf("item %d label %d: %q=%q, want %+v", i, j, l.Key, l.Value, want.labels[j])
			}
		}
	}
}

func checkApps(t *testing.T, view *protocol.AppsLookupResponseView, pids []uint32, rows []*appRow) {
	t.Helper()
	if view.Generation() != 3 || view.Len() != len(pids) {
		t.Fatalf("generation %d, %d items; want 3, %d", view.Generation(), view.Len(), len(pids))
	}
	for i, pid := range pids {
		got, err := view.Item(i)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if got.PID != pid {
			t.Fatalf("item %d: pid %d, want %d", i, got.PID, pid)
		}
		want := rows[i]
		if want == nil {
			if got.Status != protocol.PIDUnknown {
				t.Fatalf("item %d: %v, want UNKNOWN", i, got.Status)
			}
			continue
		}
		uid := protocol.UIDUnset
		if want.UID != nil {
			uid = *want.UID
		}
		if got.Status != protocol.PIDKnown || string(got.Comm) != want.Comm || got.PPID != want.PPID ||
			got.UID != uid || got.StartTime != want.Starttime || string(got.CgroupPath) != want.CgroupPath {
			t.Fatalf("item %d: %v %q ppid %d uid %d start %d %q; want %+v",
				i, got.Status, got.Comm, got.PPID, got.UID, got.StartTime, got.CgroupPath, want)
		}
		if want.CgroupPath == "" {
			if got.CgroupStatus != protocol.CgroupHostRoot || got.Labels.Len() != 0 {
				t.Fatalf("item %d: cgroup %v with %d labels, want HOST_ROOT", i, got.CgroupStatus, got.Labels.Len())
			}
			continue
		}
		if got.CgroupStatus != protocol.CgroupKnown || got.Orchestrator != protocol.OrchestratorSystemd ||
			string(got.CgroupName) != want.CgroupName || got.Labels.Len() != 1 {
			t.Fatalf("item %d: cgroup %v %v %q with %d labels; want %+v", i, got.CgroupStatus, got.Orchestrator, got.CgroupName, got.Labels.Len(), want)
		}
		l, err := got.Labels.At(0)
		if err != nil || string(l.Key) != "unit" || string(l.Value) != want.Labels["unit"] {
			t.Fatalf("item %d: label %q=%q (%v), want unit=%q", i, l.Key, l.Value, err, want.Labels["unit"])
		}
	}
}

// rustServe is one `netipc serve KIND ARGS...` provider of a test.
type rustServe struct {
	kind string
	args []string
}

// dataServe serves the data file data as kind.
func dataServe(kind, data string) rustServe { return rustServe{kind, []string{"--data", data}} }

// eachProfile runs body as a subtest per profile set, with the providers
// serving in a fresh run directory, offering the set. Then it stops
// them and checks they left nothing behind.
func eachProfile(t *testing.T, sets []profileSet, providers []rustServe, body func(t *testing.T, ctx context.Context, dir string, ps profileSet)) {
	for _, ps := range sets {
		t.Run(ps.cli, func(t *testing.T) {
			dir := runDir(t)
			var running []*peer
			for _, p := range providers {
				running = append(running, serveRust(t, dir, p.kind, ps.cli, p.args...))
			}
			body(t, testContext(t), dir, ps)
			for _, p := range running {
				p.stop()
			}
			checkEmpty(t, dir)
		})
	}
}

// connect connects c or fails the test.
func connect(t *testing.T, ctx context.Context, c interface{ Connect(context.Context) error }) {
	t.Helper()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotFromRustProvider: the Go snapshot client against `netipc
// serve cgroups-snapshot` over every profile, twice on one session.
func TestSnapshotFromRustProvider(t *testing.T) {
	rows := snapshotRows(40)
	data := writeJSON(t, snapshotFile(5, rows))
	eachProfile(t, profileSets, []rustServe{dataServe("cgroups-snapshot", data)},
		func(t *testing.T, ctx context.Context, dir string, ps profileSet) {
			c := cgroups.NewClient(dir, "cgroups-snapshot", cgroups.ClientConfig{SupportedProfiles: ps.set})
			defer c.Close()
			connect(t, ctx, c)
			for range 2 {
				view, err := c.CallSnapshot(ctx)
				if err != nil {
					t.Fatal(err)
				}
				checkSnapshot(t, view, 5, rows)
			}
			checkTransport(t, dir, c.SessionInfo, ps.shm)
		})
}

// TestChunkedSnapshot: 6000 cgroups (about 700 KB) travel in many packets
// over the socket, and whole over shared memory.
func TestChunkedSnapshot(t *testing.T) {
	rows := snapshotRows(6000)
	data := writeJSON(t, snapshotFile(11, rows))
	eachProfile(t, profileSets[:2], []rustServe{dataServe("cgroups-snapshot", data)},
		func(t *testing.T, ctx context.Context, dir string, ps profileSet) {
			c := cgroups.NewClient(dir, "cgroups-snapshot", cgroups.ClientConfig{SupportedProfiles: ps.set})
			defer c.Close()
			connect(t, ctx, c)
			view, err := c.CallSnapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			checkSnapshot(t, view, 11, rows)
			checkTransport(t, dir, c.SessionInfo, ps.shm)
		})
}

// TestSnapshotFromGrowingRustServer: a Rust managed server that starts
// with a 64 KiB response size grows it as the Go client asks again after
// each LIMIT_EXCEEDED, until 10,000 cgroups fit.
func TestSnapshotFromGrowingRustServer(t *testing.T) {
	for _, ps := range profileSets[:2] {
		t.Run(ps.cli, func(t *testing.T) {
			dir := runDir(t)
			rust := testPeer(t, "l2-snapshot", dir, "snap", ps.cli, 10000)
			ctx := testContext(t)
			c := cgroups.NewClient(dir, "snap", cgroups.ClientConfig{SupportedProfiles: ps.set})
			defer c.Close()
			connect(t, ctx, c)
			view, err := c.CallSnapshot(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if view.Generation() != 10000 || view.Len() != 10000 {
				t.Fatalf("generation %d, %d items; want 10000 of each", view.Generation(), view.Len())
			}
			for i := range view.Len() {
				item, err := view.Item(i)
				if err != nil || item.Hash != uint32(i) || string(item.Name) != fmt.Sprintf("cg%d", i) ||
					string(item.Path) != fmt.Sprintf("/sys/fs/cgroup/cg%d", i) {
					t.Fatalf("item %d: %+v (%v)", i, item, err)
				}
			}
			c.Close()
			rust.stop()
		})
	}
}

// TestCgroupsLookupFromRustProvider: every profile; all keys, one
// unknown key, one known key.
func TestCgroupsLookupFromRustProvider(t *testing.T) {
	paths := lookupPaths(200)
	file, rows := cgroupsFile(paths)
	eachProfile(t, profileSets, []rustServe{dataServe("cgroups-lookup", writeJSON(t, file))},
		func(t *testing.T, ctx context.Context, dir string, ps profileSet) {
			c := cgroupslookup.NewClient(dir, "cgroups-lookup", cgroupslookup.ClientConfig{SupportedProfiles: ps.set})
			defer c.Close()
			connect(t, ctx, c)
			for _, r := range [][2]int{{0, len(paths)}, {3, 4}, {0, 1}} {
				view, err := c.Call(ctx, paths[r[0]:r[1]])
				if err != nil {
					t.Fatal(err)
				}
				checkCgroups(t, view, paths[r[0]:r[1]], rows[r[0]:r[1]])
			}
			checkTransport(t, dir, c.SessionInfo, ps.shm)
		})
}

// TestAppsLookupFromRustProvider: every profile; all keys, one unknown
// key.
func TestAppsLookupFromRustProvider(t *testing.T) {
	pids := lookupPIDs(200)
	file, rows := appsFile(pids)
	eachProfile(t, profileSets, []rustServe{dataServe("apps-lookup", writeJSON(t, file))},
		func(t *testing.T, ctx context.Context, dir string, ps profileSet) {
			c := appslookup.NewClient(dir, "apps-lookup", appslookup.ClientConfig{SupportedProfiles: ps.set})
			defer c.Close()
			connect(t, ctx, c)
			for _, r := range [][2]int{{0, len(pids)}, {3, 4}} {
				view, err := c.Call(ctx, pids[r[0]:r[1]])
				if err != nil {
					t.Fatal(err)
				}
				checkApps(t, view, pids[r[0]:r[1]], rows[r[0]:r[1]])
			}
			checkTransport(t, dir, c.SessionInfo, ps.shm)
		})
}

// TestLookupsOf32768Keys: one logical lookup of 32,768 paths and one of
// 32,768 PIDs against Rust providers, over the socket and over shared
// memory; the Go client splits them and stitches the answers.
func TestLookupsOf32768Keys(t *testing.T) {
	paths := lookupPaths(keys)
	cgFile, cgRows := cgroupsFile(paths)
	pids := lookupPIDs(keys)
	appsData, appRows := appsFile(pids)
	providers := []rustServe{
		dataServe("cgroups-lookup", writeJSON(t, cgFile)),
		dataServe("apps-lookup", writeJSON(t, appsData)),
	}
	eachProfile(t, profileSets[:2], providers,
		func(t *testing.T, ctx context.Context, dir string, ps profileSet) {
			cg := cgroupslookup.NewClient(dir, "cgroups-lookup", cgroupslookup.ClientConfig{SupportedProfiles: ps.set})
			defer cg.Close()
			connect(t, ctx, cg)
			started := time.Now()
			view, err := cg.Call(ctx, paths)
			if err != nil {
				t.Fatal(err)
			}
			checkCgroups(t, view, paths, cgRows)
			t.Logf("32,768 paths in %v", time.Since(started))

			apps := appslookup.NewClient(dir, "apps-lookup", appslookup.ClientConfig{SupportedProfiles: ps.set})
			defer apps.Close()
			connect(t, ctx, apps)
			started = time.Now()
			appsView, err := apps.Call(ctx, pids)
			if err != nil {
				t.Fatal(err)
			}
			checkApps(t, appsView, pids, appRows)
			t.Logf("32,768 PIDs in %v", time.Since(started))
		})
}

// TestCacheAgainstRustProvider: the Go L3 cache against `netipc serve
// cgroups-snapshot --data`: refresh, Get by (hash, name), a new
// generation once the file changes, the last good copy kept while the
// provider is gone.
func TestCacheAgainstRustProvider(t *testing.T) {
	rows := snapshotRows(500)
	data := writeJSON(t, snapshotFile(1, rows))
	dir := runDir(t)
	rust := serveRust(t, dir, "cgroups-snapshot", "baseline|shm-hybrid", "--data", data)
	ctx := testContext(t)
	cache := cgroups.NewCache(dir, "cgroups-snapshot", cgroups.ClientConfig{})
	defer cache.Close()
	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	st := cache.Status()
	if !st.Populated || st.Generation != 1 || st.ItemCount != len(rows) || st.SystemdEnabled != 1 {
		t.Fatalf("status %+v", st)
	}
	for _, r := range rows {
		item, ok := cache.Get(r.Hash, r.Name)
		if !ok || item.Path != r.Path || item.Options != r.Options || item.Enabled != r.Enabled {
			t.Fatalf("Get(%#x, %q) = %+v, %v; want %+v", r.Hash, r.Name, item, ok, r)
		}
	}
	if _, ok := cache.Get(rows[1].Hash, "no-such-cgroup"); ok {
		t.Fatal("Get found a name the provider never sent")
	}

	// The provider reloads a changed file and serves a new generation.
	fewer := rows[:100]
	replaceJSON(t, data, snapshotFile(1, fewer))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := cache.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if cache.Status().Generation >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new generation 20 s after the data changed: %+v", cache.Status())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := cache.Status().ItemCount; n != len(fewer) {
		t.Fatalf("%d items after the change, want %d", n, len(fewer))
	}
	if _, ok := cache.Get(rows[200].Hash, rows[200].Name); ok {
		t.Fatal("an item removed by the provider is still cached")
	}

	// Without a provider a refresh fails and the last copy stays.
	rust.stop()
	if err := cache.Refresh(ctx); err == nil {
		t.Fatal("a refresh without a provider succeeded")
	}
	st = cache.Status()
	if st.ItemCount != len(fewer) || st.RefreshFailureCount == 0 {
		t.Fatalf("status after a failed refresh: %+v", st)
	}
	if _, ok := cache.Get(fewer[5].Hash, fewer[5].Name); !ok {
		t.Fatal("the last good copy was dropped after a failed refresh")
	}
}
