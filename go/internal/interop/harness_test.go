package interop

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netdata/netipc/go/protocol"
)

// Limits of the harness's waits.
const (
	readyLimit = 30 * time.Second
	stopLimit  = 15 * time.Second
)

// profileSet is a set of transport profiles as both sides spell it, and
// whether the data then travels through shared memory.
type profileSet struct {
	cli string
	set protocol.Profile
	shm bool
}

// profileSets are the sets the tests offer on both sides.
var profileSets = []profileSet{
	{"baseline", protocol.ProfileBaseline, false},
	{"baseline|shm-hybrid", protocol.ProfileBaseline | protocol.ProfileSHMHybrid, true},
	{"baseline|shm-alt", protocol.ProfileBaseline | protocol.ProfileSHMAlt, true},
}

// binary returns the path in the environment variable name, or skips the
// test when it is not set.
func binary(t testing.TB, name string) string {
	t.Helper()
	path := os.Getenv(name)
	if path == "" {
		t.Skipf("%s is not set: the interop tests run the Rust binaries, which `cargo xtask test --lane go` builds and names (see the package docs)", name)
	}
	return path
}

// runDir returns a fresh private run directory, removed after the test.
// It is short (socket paths are limited to 107 bytes), unlike t.TempDir.
func runDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nipc-go-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// entries lists what is left in dir.
func entries(t testing.TB, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(list))
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

// writeJSON writes v as a data file in a directory of its own and
// returns its path.
func writeJSON(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "data.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceJSON replaces the data file at path, as a complete new file
// renamed over it.
func replaceJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	next := path + ".next"
	if err := os.WriteFile(next, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
}

// peer is a Rust process the test talks to. It stops when its stdin
// closes (`--stop-on-eof`, or netipc-test-peer's rule); the test's
// cleanup kills it if it is still running.
type peer struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
	err   error // the exit status, once done is closed

	mu     sync.Mutex
	output strings.Builder
}

// start runs bin with args and waits until it prints a line starting
// with ready.
func start(t testing.TB, ready, bin string, args ...string) *peer {
	t.Helper()
	p := &peer{
		t:     t,
		name:  filepath.Base(bin) + " " + strings.Join(args, " "),
		cmd:   exec.Command(bin, args...),
		lines: make(chan string, 64),
		done:  make(chan struct{}),
	}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.output.Write(b)
	})
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("cannot start %s: %v", p.name, err)
	}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			p.mu.Lock()
			p.output.WriteString(s.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- s.Text():
			default: // nobody waits for lines any more
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	deadline := time.After(readyLimit)
	for {
		select {
		case line := <-p.lines:
			if strings.HasPrefix(line, ready) {
				return p
			}
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %q:\n%s", p.name, p.err, ready, p.transcript())
		case <-deadline:
			t.Fatalf("%s did not print %q within %v:\n%s", p.name, ready, readyLimit, p.transcript())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func (p *peer) transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// stop closes the peer's stdin; it must exit 0 within stopLimit.
func (p *peer) stop() {
	p.t.Helper()
	p.stdin.Close()
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Fatalf("%s: %v:\n%s", p.name, p.err, p.transcript())
		}
	case <-time.After(stopLimit):
		p.t.Fatalf("%s still runs %v after its stdin closed:\n%s", p.name, stopLimit, p.transcript())
	}
}

func (p *peer) kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Kill()
		<-p.done
	}
}

// serveRust starts `netipc serve KIND` in dir offering profiles.
func serveRust(t testing.TB, dir, kind, profiles string, extra ...string) *peer {
	t.Helper()
	args := append([]string{"serve", kind, "--run-dir", dir, "--profiles", profiles, "--stop-on-eof"}, extra...)
	return start(t, "Press Ctrl-C", binary(t, "NETIPC_BIN"), args...)
}

// testPeer starts `netipc-test-peer MODE dir service profiles tag`.
func testPeer(t testing.TB, mode, dir, service, profiles string, tag int) *peer {
	t.Helper()
	return start(t, "ready", binary(t, "NETIPC_TEST_PEER"), mode, dir, service, profiles, fmt.Sprint(tag))
}

// ---- The data the Rust providers serve (the shape `netipc call KIND
// --json` prints), and what the Go clients must read back ----

// snapshotRow is a cgroup of a snapshot.
type snapshotRow struct {
	Hash    uint32 `json:"hash"`
	Options uint32 `json:"options"`
	Enabled uint32 `json:"enabled"`
	Name    string `json:"name"`
	Path    string `json:"path"`
}

// snapshotRows returns n cgroups with UTF-8 names and paths of about 100
// bytes.
func snapshotRows(n int) []snapshotRow {
	rows := make([]snapshotRow, n)
	for i := range rows {
		var name string
		switch i % 5 {
		case 0:
			name = fmt.Sprintf("docker-%06x", i)
		case 1:
			name = fmt.Sprintf("système-%d", i)
		default:
			name = fmt.Sprintf("cg-%d", i)
		}
		hash := protocol.NetdataHash(name)
		if i%3 == 0 {
			hash = uint32(i) * 0x9e3779b9
		}
		rows[i] = snapshotRow{
			Hash:    hash,
			Options: uint32(i % 7),
			Enabled: uint32(i % 2),
			Name:    name,
			Path:    fmt.Sprintf("/sys/fs/cgroup/kubepods.slice/kubepods-burstable-pod%08x.slice/%s.scope", uint32(i)*2654435761, name),
		}
	}
	return rows
}

func snapshotFile(generation uint64, rows []snapshotRow) map[string]any {
	return map[string]any{"generation": generation, "systemd_enabled": 1, "items": rows}
}

// cgroupRow is an answer of the cgroups lookup table.
type cgroupRow struct {
	Path         string            `json:"path"`
	Orchestrator uint16            `json:"orchestrator"`
	Name         string            `json:"name"`
	Labels       map[string]string `json:"labels"`
	labels       []protocol.LookupLabel
}

// lookupPaths returns n lookup keys.
func lookupPaths(n int) [][]byte {
	paths := make([][]byte, n)
	for i := range paths {
		paths[i] = fmt.Appendf(nil, "/kubepods/burstable/pod%08x/container-%d", uint32(i)*2654435761, i)
	}
	return paths
}

// listed says whether key i of a lookup is in the table (every 11th is
// not).
func listed(i int) bool { return i%11 != 3 }

// cgroupsFile returns the table of paths (UNKNOWN_PERMANENT for the ones
// not listed) and the expected answer of each path (nil: not listed).
func cgroupsFile(paths [][]byte) (map[string]any, []*cgroupRow) {
	rows := make([]*cgroupRow, len(paths))
	var items []*cgroupRow
	for i, p := range paths {
		if !listed(i) {
			continue
		}
		r := &cgroupRow{Path: string(p), Orchestrator: uint16(i % 8), Name: fmt.Sprintf("container-%d", i), Labels: map[string]string{}}
		for l := range i % 4 {
			k, v := fmt.Sprintf("label%d", l), fmt.Sprintf("value-%d-%d", i, l)
			r.Labels[k] = v
			r.labels = append(r.labels, protocol.LookupLabel{Key: k, Value: v})
		}
		rows[i] = r
		items = append(items, r)
	}
	return map[string]any{"generation": 7, "unknown_status": "UNKNOWN_PERMANENT", "items": items}, rows
}

// appRow is an answer of the apps lookup table.
type appRow struct {
	PID          uint32            `json:"pid"`
	Comm         string            `json:"comm"`
	PPID         uint32            `json:"ppid"`
	UID          *uint32           `json:"uid"`
	Starttime    uint64            `json:"starttime"`
	CgroupPath   string            `json:"cgroup_path,omitempty"`
	CgroupName   string            `json:"cgroup_name,omitempty"`
	Orchestrator uint16            `json:"orchestrator,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
}

// lookupPIDs returns n PIDs.
func lookupPIDs(n int) []uint32 {
	pids := make([]uint32, n)
	for i := range pids {
		pids[i] = uint32(i+1)*3 + 100
	}
	return pids
}

// appsFile returns the table of pids (the ones not listed are UNKNOWN)
// and the expected answer of each (nil: not listed).
func appsFile(pids []uint32) (map[string]any, []*appRow) {
	rows := make([]*appRow, len(pids))
	var items []*appRow
	for i, pid := range pids {
		if !listed(i) {
			continue
		}
		r := &appRow{PID: pid, Comm: fmt.Sprintf("p%d", i%1000), PPID: pid / 2, Starttime: 1000 + uint64(i)}
		if i%6 != 0 {
			uid := 1000 + uint32(i%50)
			r.UID = &uid
		}
		if i%5 != 0 {
			r.CgroupPath = fmt.Sprintf("/system.slice/app-%d.service", i)
			r.CgroupName = fmt.Sprintf("app-%d", pid)
			r.Orchestrator = uint16(protocol.OrchestratorSystemd)
			r.Labels = map[string]string{"unit": fmt.Sprintf("app-%d.service", pid)}
		}
		rows[i] = r
		items = append(items, r)
	}
	return map[string]any{"generation": 3, "items": items}, rows
}
