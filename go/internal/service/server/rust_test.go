package server_test

// Rust clients against the Go managed servers: the netipc CLI (call,
// probe, bench-client) and the Rust test peer's client modes. The
// binaries come from NETIPC_BIN and NETIPC_TEST_PEER, which the go lane
// of `cargo xtask test` sets; without them these tests are skipped (and
// say so).

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/internal/service/server"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
	"github.com/netdata/netipc/go/internal/testsvc"
	"github.com/netdata/netipc/go/protocol"
)

// rustBinary returns the executable named by the environment variable
// env, skips the test loudly when it is not set, and fails when it is
// set but unusable.
func rustBinary(t *testing.T, env string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		t.Logf("*** %s is not set: SKIPPING the checks against Rust clients (the go lane of `cargo xtask test` sets it) ***", env)
		t.Skipf("%s is not set", env)
	}
	info, err := os.Stat(path)
	// Windows has no execute bits.
	if err != nil || info.IsDir() || (runtime.GOOS != "windows" && info.Mode()&0o111 == 0) {
		t.Fatalf("%s=%s is not an executable (%v): build it with `cargo build -p netipc-cli -p netipc-tests --bins`", env, path, err)
	}
	return path
}

// shortRunDir returns a private run directory with a short path (socket
// paths are limited to 107 bytes).
func shortRunDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nipc-srv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// netipcJSON runs the netipc CLI with args and decodes its JSON output.
func netipcJSON(t *testing.T, out any, args ...string) {
	t.Helper()
	cmd := exec.Command(rustBinary(t, "NETIPC_BIN"), args...)
	cmd.WaitDelay = time.Second
	stdout, err := runWithin(cmd, 60*time.Second)
	if err != nil {
		t.Fatalf("netipc %s: %v\n%s", strings.Join(args, " "), err, stdout)
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("netipc %s printed %q: %v", strings.Join(args, " "), stdout, err)
	}
}

// runWithin runs cmd and kills it after limit.
func runWithin(cmd *exec.Cmd, limit time.Duration) ([]byte, error) {
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return []byte(out.String()), err
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		return []byte(out.String()), fmt.Errorf("killed after %v", limit)
	}
}

var cliProfiles = []string{"baseline", "baseline|shm-hybrid"}

func TestRustCallsTestServices(t *testing.T) {
	dir := shortRunDir(t)
	servertest.Serve(t, server.NewIncrement(dir, "inc", netipc.ServerConfig{}, func(v uint64) (uint64, error) { return v + 1, nil }))
	servertest.Serve(t, server.NewStringReverse(dir, "rev", netipc.ServerConfig{}, func(text, out []byte) ([]byte, error) {
		for i := len(text) - 1; i >= 0; i-- {
			out = append(out, text[i])
		}
		return out, nil
	}))
	for _, p := range cliProfiles {
		var inc struct{ Value, Result uint64 }
		netipcJSON(t, &inc, "call", "increment", "41", "--run-dir", dir, "--service", "inc", "--profiles", p, "--json")
		if inc.Result != 42 {
			t.Errorf("%s: increment 41 = %d", p, inc.Result)
		}
		var rev struct{ Text, Result string }
		netipcJSON(t, &rev, "call", "string-reverse", "hello, world", "--run-dir", dir, "--service", "rev", "--profiles", p, "--json")
		if rev.Result != "dlrow ,olleh" {
			t.Errorf("%s: string-reverse = %q", p, rev.Result)
		}
	}
}

// bigSnapshot answers n items (about 150 bytes each).
func bigSnapshot(n int) cgroups.Handler {
	return cgroups.Handler{Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
		b.SetGeneration(uint64(n))
		b.SetSystemdEnabled(1)
		for i := range n {
			name := fmt.Sprintf("docker-%064x", i)
			if err := b.Add(protocol.NetdataHash([]byte(name)), 2, 1, name, "/sys/fs/cgroup/system.slice/"+name+".scope"); err != nil {
				return err
			}
		}
		return nil
	}}
}

func TestRustCallsCgroupsSnapshot(t *testing.T) {
	dir := shortRunDir(t)
	// 3,000 items: about 450 KB, beyond the first response size (the
	// server grows it and the Rust client reconnects) and beyond a
	// socket packet (the answer travels in chunks).
	const n = 3000
	s := cgroups.NewServer(dir, "cg", netipc.ServerConfig{}, bigSnapshot(n))
	servertest.Serve(t, s)
	for _, p := range cliProfiles {
		var snap struct {
			Generation     uint64
			SystemdEnabled uint32 `json:"systemd_enabled"`
			Items          []struct {
				Hash, Options, Enabled uint32
				Name, Path             string
			}
		}
		netipcJSON(t, &snap, "call", "cgroups-snapshot", "--run-dir", dir, "--service", "cg", "--profiles", p, "--json")
		if snap.Generation != n || snap.SystemdEnabled != 1 || len(snap.Items) != n {
			t.Fatalf("%s: generation %d, %d items", p, snap.Generation, len(snap.Items))
		}
		last := snap.Items[n-1]
		name := fmt.Sprintf("docker-%064x", n-1)
		if last.Name != name || last.Path != "/sys/fs/cgroup/system.slice/"+name+".scope" ||
			last.Hash != protocol.NetdataHash([]byte(name)) || last.Options != 2 || last.Enabled != 1 {
			t.Fatalf("%s: last item %+v", p, last)
		}
	}
	st := s.Stats()
	if st.Responses.LimitExceeded != 1 || st.Responses.OK != uint64(len(cliProfiles)) {
		t.Fatalf("responses %+v (one LIMIT_EXCEEDED, then grown)", st.Responses)
	}
}

func TestRustCallsLookups(t *testing.T) {
	dir := shortRunDir(t)
	servertest.Serve(t, cgroupslookup.NewServer(dir, "cgl", netipc.ServerConfig{}, cgroupslookup.Handler{
		Handle: func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
			b.SetGeneration(7)
			for i, path := range req.Paths() {
				e := protocol.CgroupsLookupEntry{Name: "name:" + string(path),
					Labels: []protocol.LookupLabel{{Key: "image", Value: "nginx"}}}
				if strings.HasSuffix(string(path), "/gone") {
					e = protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownPermanent}
				}
				if err := b.AddRequestItem(i, &e); err != nil {
					return err
				}
			}
			return nil
		}}))
	servertest.Serve(t, appslookup.NewServer(dir, "apps", netipc.ServerConfig{}, appslookup.Handler{
		Handle: func(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
			b.SetGeneration(8)
			for _, pid := range req.PIDs() {
				if pid == 0 {
					if err := b.AddStatus(pid, protocol.PIDUnknown); err != nil {
						return err
					}
					continue
				}
				e := protocol.AppsLookupEntry{Comm: "p" + strconv.Itoa(int(pid%1000)), PPID: 1, UID: 1000,
					StartTime: 99, CgroupStatus: protocol.CgroupHostRoot}
				if err := b.Add(pid, &e); err != nil {
					return err
				}
			}
			return nil
		}}))
	paths := []string{"/sys/fs/cgroup/a.scope", "/sys/fs/cgroup/gone"}
	// A Windows command line holds 32,767 characters: 300 of these paths.
	n := 500
	if runtime.GOOS == "windows" {
		n = 300
	}
	for i := range n {
		paths = append(paths, fmt.Sprintf("/sys/fs/cgroup/kubepods/pod-%04d/%064x", i, i))
	}
	for _, p := range cliProfiles {
		var cg struct {
			Generation uint64
			Items      []struct {
				Path, Status, Name string
				Labels             map[string]string
			}
		}
		args := append([]string{"call", "cgroups-lookup"}, paths...)
		netipcJSON(t, &cg, append(args, "--run-dir", dir, "--service", "cgl", "--profiles", p, "--json")...)
		if cg.Generation != 7 || len(cg.Items) != len(paths) {
			t.Fatalf("%s: generation %d, %d items", p, cg.Generation, len(cg.Items))
		}
		for i, item := range cg.Items {
			want := "KNOWN"
			if i == 1 {
				want = "UNKNOWN_PERMANENT"
			}
			if item.Path != paths[i] || item.Status != want || (want == "KNOWN" && (item.Name != "name:"+paths[i] || item.Labels["image"] != "nginx")) {
				t.Fatalf("%s: item %d %+v", p, i, item)
			}
		}

		var apps struct {
			Generation uint64
			Items      []struct {
				PID          uint32
				Status, Comm string
				PPID         uint32
				UID          *uint32
				CgroupStatus string `json:"cgroup_status"`
			}
		}
		netipcJSON(t, &apps, "call", "apps-lookup", "1", "0", "4242", "--run-dir", dir, "--service", "apps", "--profiles", p, "--json")
		if apps.Generation != 8 || len(apps.Items) != 3 {
			t.Fatalf("%s: generation %d, %d items", p, apps.Generation, len(apps.Items))
		}
		if it := apps.Items[2]; it.PID != 4242 || it.Status != "KNOWN" || it.Comm != "p242" || it.UID == nil || *it.UID != 1000 || it.CgroupStatus != "HOST_ROOT" {
			t.Fatalf("%s: item 2 %+v", p, it)
		}
		if it := apps.Items[1]; it.PID != 0 || it.Status != "UNKNOWN" {
			t.Fatalf("%s: item 1 %+v", p, it)
		}
	}
}

func TestRustProbe(t *testing.T) {
	dir := shortRunDir(t)
	servertest.Serve(t, server.NewIncrement(dir, "inc", netipc.ServerConfig{}, func(v uint64) (uint64, error) { return v + 1, nil }))
	for _, tc := range []struct{ profiles, want string }{{"baseline", "baseline"}, {"baseline|shm-hybrid", "shm-hybrid"}} {
		var probe struct {
			Method                  string
			ProfileName             string              `json:"profile_name"`
			MaxResponsePayloadBytes uint32              `json:"max_response_payload_bytes"`
			SessionID               uint64              `json:"session_id"`
			RoundTrip               struct{ Calls int } `json:"round_trip"`
		}
		netipcJSON(t, &probe, "probe", "inc", "--run-dir", dir, "--profiles", tc.profiles, "--json")
		if probe.Method != "INCREMENT" || probe.ProfileName != tc.want || probe.SessionID == 0 ||
			probe.MaxResponsePayloadBytes != netipc.DefaultServerResponseStart || probe.RoundTrip.Calls == 0 {
			t.Fatalf("%s: %+v", tc.profiles, probe)
		}
	}
}

func TestRustBenchClient(t *testing.T) {
	dir := shortRunDir(t)
	servertest.Serve(t, server.NewIncrement(dir, "netipc-bench", netipc.ServerConfig{}, func(v uint64) (uint64, error) { return v + 1, nil }))
	servertest.Serve(t, cgroups.NewServer(dir, "snap", netipc.ServerConfig{}, bigSnapshot(16)))
	for _, tc := range []struct{ scenario, service string }{
		{"uds-pingpong", "netipc-bench"},
		{"uds-pipeline", "netipc-bench"},
		{"uds-pipeline-batch", "netipc-bench"},
		{"shm-batch-pingpong", "netipc-bench"},
		{"l2-shm-increment", "netipc-bench"},
		{"uds-snapshot-16", "snap"},
	} {
		cmd := exec.Command(rustBinary(t, "NETIPC_BIN"), "bench-client", "--scenario", tc.scenario,
			"--run-dir", dir, "--service", tc.service, "--duration", "1", "--warmup", "0", "--json")
		out, err := runWithin(cmd, 60*time.Second)
		if err != nil {
			t.Fatalf("bench-client %s: %v\n%s", tc.scenario, err, out)
		}
		if !strings.Contains(string(out), tc.scenario) {
			t.Fatalf("bench-client %s printed %s", tc.scenario, out)
		}
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestRustPeerStallsARequest(t *testing.T) {
	dir := shortRunDir(t)
	s := server.NewIncrement(dir, "inc", netipc.ServerConfig{SendTimeout: 300 * time.Millisecond},
		func(v uint64) (uint64, error) { return v + 1, nil })
	servertest.Serve(t, s)
	// The peer sends the first chunk of a request and stops: the session
	// is closed after the send timeout.
	testsvc.RustPeerSays(t, "stalled", "stall-request", dir, "inc", "baseline")
	waitFor(t, "the send timeout", func() bool { return s.Stats().SendTimeouts == 1 })
	waitFor(t, "the session closed", func() bool { return s.Stats().Sessions == 0 })
}

func TestRustIdleClients(t *testing.T) {
	dir := shortRunDir(t)
	s := server.NewIncrement(dir, "inc", netipc.ServerConfig{}, func(v uint64) (uint64, error) { return v + 1, nil })
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	for _, p := range []string{"baseline", "shm-hybrid"} {
		testsvc.RustPeerSays(t, "connected", "idle-client", dir, "inc", p)
	}
	waitFor(t, "two sessions", func() bool { return s.Stats().Sessions == 2 })
	began := time.Now()
	s.Stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > server.StopGrace {
		t.Errorf("Stop took %v with two idle Rust clients", took)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left in the run directory after Stop: %v", entries)
	}
}
