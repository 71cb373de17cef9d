package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/netdata/netipc/go/protocol"
)

// cgroup is one cgroup the provider publishes.
type cgroup struct {
	path         string
	name         string
	orchestrator protocol.Orchestrator
	labels       []protocol.LookupLabel
}

// process is one process the provider answers for.
type process struct {
	pid, ppid, uid uint32
	starttime      uint64
	comm           string
	// cgroupPath is the process's cgroup ("" for the host's root cgroup).
	cgroupPath string
}

// table is everything the provider publishes. A table is never changed
// once published: a new scan builds a new table and swaps it in
// atomically (see main.go), so handlers read it without locks.
type table struct {
	generation     uint64
	systemdEnabled uint32
	cgroups        []cgroup
	byPath         map[string]*cgroup
	// processes answers apps lookups; nil means "read /proc".
	processes map[uint32]*process
}

func newTable(generation uint64, cgroups []cgroup, processes map[uint32]*process) *table {
	t := &table{generation: generation, systemdEnabled: 1, cgroups: cgroups, processes: processes}
	t.byPath = make(map[string]*cgroup, len(cgroups))
	for i := range t.cgroups {
		t.byPath[t.cgroups[i].path] = &t.cgroups[i]
	}
	return t
}

// syntheticTable is a fixed table: what the examples show by default, and
// what the test lane checks the consumers' output against.
func syntheticTable() *table {
	cgroups := []cgroup{
		{
			path: "/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope", name: "nginx",
			orchestrator: protocol.OrchestratorDocker,
			labels:       []protocol.LookupLabel{{Key: "image", Value: "nginx:1.27"}},
		},
		{
			path: "/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice", name: "checkout-api",
			orchestrator: protocol.OrchestratorK8s,
			labels: []protocol.LookupLabel{
				{Key: "namespace", Value: "shop"},
				{Key: "pod", Value: "checkout-api-7d9f"},
			},
		},
		{
			path: "/sys/fs/cgroup/system.slice/netdata.service", name: "netdata",
			orchestrator: protocol.OrchestratorSystemd,
		},
	}
	processes := map[uint32]*process{
		1:    {pid: 1, ppid: 0, uid: 0, starttime: 1, comm: "systemd"},
		4242: {pid: 4242, ppid: 1, uid: 33, starttime: 5000, comm: "nginx", cgroupPath: cgroups[0].path},
		5151: {pid: 5151, ppid: 1, uid: 1000, starttime: 6000, comm: "checkout-api", cgroupPath: cgroups[1].path},
	}
	return newTable(1, cgroups, processes)
}

// maxHostBytes bounds a scan of the machine's cgroups: the snapshot must
// fit the largest response (1 MiB by default), with room to spare. An
// item takes about 48 bytes plus its name and path.
const maxHostBytes = 768 << 10

// hostTable scans this machine's cgroup v2 hierarchy (the unified one of
// a hybrid setup). Processes are read from /proc when asked for. On a
// system without cgroups the table is empty.
func hostTable(generation uint64) *table {
	root := cgroupRoot()
	var cgroups []cgroup
	size := 0
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == root {
			return nil
		}
		name, orchestrator := nameOf(d.Name())
		if size += 48 + len(name) + len(path); size > maxHostBytes {
			return fs.SkipAll
		}
		cgroups = append(cgroups, cgroup{path: path, name: name, orchestrator: orchestrator})
		return nil
	})
	return newTable(generation, cgroups, nil)
}

// cgroupRoot is where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup,
// or /sys/fs/cgroup/unified beside the v1 hierarchies of a hybrid setup.
func cgroupRoot() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		return "/sys/fs/cgroup/unified"
	}
	return "/sys/fs/cgroup"
}

// nameOf names a cgroup directory the way a cgroups plugin would, roughly:
// containers by the first 12 characters of their id, services by their
// unit.
func nameOf(dir string) (string, protocol.Orchestrator) {
	base := strings.TrimSuffix(strings.TrimSuffix(dir, ".scope"), ".service")
	for _, p := range []struct {
		prefix string
		orch   protocol.Orchestrator
	}{
		{"docker-", protocol.OrchestratorDocker},
		{"cri-containerd-", protocol.OrchestratorK8s},
		{"crio-", protocol.OrchestratorK8s},
		{"libpod-", protocol.OrchestratorPodman},
	} {
		if id, ok := strings.CutPrefix(base, p.prefix); ok {
			return id[:min(len(id), 12)], p.orch
		}
	}
	if strings.HasSuffix(dir, ".service") {
		return base, protocol.OrchestratorSystemd
	}
	return base, protocol.OrchestratorUnknown
}

// readProcess reads a process from /proc; ok is false when there is no
// such process.
func readProcess(pid uint32) (p process, ok bool) {
	dir := "/proc/" + strconv.FormatUint(uint64(pid), 10)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return p, false
	}
	// pid (comm) state ppid ... field 22 is starttime; comm may hold
	// spaces and parentheses, so the fields start after the last ')'.
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return p, false
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 20 {
		return p, false
	}
	ppid, _ := strconv.ParseUint(fields[1], 10, 32)
	start, _ := strconv.ParseUint(fields[19], 10, 64)
	p = process{pid: pid, ppid: uint32(ppid), starttime: start, uid: protocol.UIDUnset}
	p.comm = string(stat[open+1 : end])
	if len(p.comm) > protocol.CommMaxLen {
		p.comm = p.comm[:protocol.CommMaxLen]
	}
	if status, err := os.Open(dir + "/status"); err == nil {
		s := bufio.NewScanner(status)
		for s.Scan() {
			if rest, ok := strings.CutPrefix(s.Text(), "Uid:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					if uid, err := strconv.ParseUint(f[0], 10, 32); err == nil {
						p.uid = uint32(uid)
					}
				}
				break
			}
		}
		status.Close()
	}
	// The cgroup v2 line: "0::/system.slice/x.service".
	if cg, err := os.ReadFile(dir + "/cgroup"); err == nil {
		for _, line := range strings.Split(string(cg), "\n") {
			if path, ok := strings.CutPrefix(line, "0::"); ok && path != "/" && path != "" {
				p.cgroupPath = cgroupRoot() + path
			}
		}
	}
	return p, true
}
