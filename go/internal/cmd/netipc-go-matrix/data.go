package main

import (
	"fmt"
	"strconv"

	"github.com/netdata/netipc/go/protocol"
)

// The data set of docs/interop-matrix.md, served by serve and expected by
// check.
const (
	// generation is the generation of every response.
	generation = 7
	// systemdEnabled is the systemd_enabled value of the snapshots.
	systemdEnabled = 1
	// smallSnapshot is the item count of PREFIX-snapshot.
	smallSnapshot = 16
	// knownCgroups is the item count of PREFIX-snapshot-big and the
	// cgroups PREFIX-cgroups-lookup knows.
	knownCgroups = 5000
	// lookupKeys is the number of paths the cgroups-lookup check asks.
	lookupKeys = 32768
	// lookupPIDs is the number of PIDs the apps-lookup check asks.
	lookupPIDs = 1000
	// commCount is the number of distinct process names.
	commCount = 1000
	// missingName and missingHash are a cgroup no snapshot has.
	missingName        = "cg-missing"
	missingHash uint32 = 1
)

// cgroupHash is cgroup i's hash: i × 2654435761 mod 2^32.
func cgroupHash(i int) uint32 { return uint32(uint64(i) * 2654435761) }

// cgroupOptions is cgroup i's options.
func cgroupOptions(i int) uint32 { return uint32(i % 7) }

// cgroupEnabled is cgroup i's enabled flag: 1 unless i is a multiple of 3.
func cgroupEnabled(i int) uint32 {
	if i%3 != 0 {
		return 1
	}
	return 0
}

// dataset holds the strings of the data set, computed once; it is
// read-only afterwards (handlers read it from several goroutines).
type dataset struct {
	// names and paths of cgroups 0..knownCgroups-1.
	names, paths []string
	// byPath maps a known cgroup's path to its index.
	byPath map[string]int
	// indexLabels[i] are the labels of known cgroup i in lookups.
	indexLabels [][]protocol.LookupLabel
	// comms[k] is the process name proc-<k>.
	comms []string
}

func newDataset() *dataset {
	d := &dataset{
		names:       make([]string, knownCgroups),
		paths:       make([]string, knownCgroups),
		byPath:      make(map[string]int, knownCgroups),
		indexLabels: make([][]protocol.LookupLabel, knownCgroups),
		comms:       make([]string, commCount),
	}
	for i := range d.names {
		d.names[i] = "cg-" + strconv.Itoa(i)
		d.paths[i] = "/sys/fs/cgroup/netipc-matrix/cg-" + strconv.Itoa(i) + ".scope"
		d.byPath[d.paths[i]] = i
		if i%2 == 0 {
			d.indexLabels[i] = []protocol.LookupLabel{{Key: "index", Value: strconv.Itoa(i)}}
		}
	}
	for k := range d.comms {
		d.comms[k] = "proc-" + strconv.Itoa(k)
	}
	return d
}

// lookupKey is key j of the cgroups-lookup check and the cgroup it
// names (-1: a path no provider knows).
func (d *dataset) lookupKey(j int) (path string, cgroup int) {
	if j%4 == 3 {
		return "/sys/fs/cgroup/netipc-matrix/missing-" + strconv.Itoa(j), -1
	}
	i := j * 7919 % knownCgroups
	return d.paths[i], i
}

// cgroupEntry is the cgroups-lookup answer for cgroup i (-1: unknown).
func (d *dataset) cgroupEntry(i int) protocol.CgroupsLookupEntry {
	if i < 0 {
		return protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownPermanent}
	}
	return protocol.CgroupsLookupEntry{
		Status:       protocol.CgroupsLookupKnown,
		Orchestrator: protocol.Orchestrator(i % 3),
		Name:         d.names[i],
		Labels:       d.indexLabels[i],
	}
}

// lookupPID is PID j of the apps-lookup check.
func lookupPID(j int) uint32 { return uint32(1 + 3*j) }

// appsEntry is the apps-lookup answer for PID p.
func (d *dataset) appsEntry(p uint32) protocol.AppsLookupEntry {
	if p%5 == 0 {
		return protocol.AppsLookupEntry{Status: protocol.PIDUnknown, UID: protocol.UIDUnset}
	}
	i := int(p % knownCgroups)
	e := protocol.AppsLookupEntry{
		Status:       protocol.PIDKnown,
		CgroupStatus: protocol.CgroupKnown,
		Orchestrator: protocol.Orchestrator(p % 3),
		PPID:         p / 2,
		UID:          1000 + p%3,
		StartTime:    uint64(p) * 100,
		Comm:         d.comms[p%commCount],
		CgroupPath:   d.paths[i],
		CgroupName:   d.names[i],
	}
	if p%2 == 0 {
		e.Labels = []protocol.LookupLabel{{Key: "pid", Value: strconv.FormatUint(uint64(p), 10)}}
	}
	return e
}

// sameCgroupsItem checks a cgroups-lookup answer for path against want.
func sameCgroupsItem(got *protocol.CgroupsLookupItemView, path string, want *protocol.CgroupsLookupEntry) error {
	switch {
	case string(got.Path) != path:
		return fmt.Errorf("path %q, want %q", got.Path, path)
	case got.Status != want.Status:
		return fmt.Errorf("%s: status %s, want %s", path, got.Status, want.Status)
	case got.Orchestrator != want.Orchestrator:
		return fmt.Errorf("%s: orchestrator %d, want %d", path, got.Orchestrator, want.Orchestrator)
	case string(got.Name) != want.Name:
		return fmt.Errorf("%s: name %q, want %q", path, got.Name, want.Name)
	}
	if err := sameLabels(got.Labels, want.Labels); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// sameAppsItem checks an apps-lookup answer for pid against want.
func sameAppsItem(got *protocol.AppsLookupItemView, pid uint32, want *protocol.AppsLookupEntry) error {
	switch {
	case got.PID != pid:
		return fmt.Errorf("pid %d, want %d", got.PID, pid)
	case got.Status != want.Status:
		return fmt.Errorf("pid %d: status %s, want %s", pid, got.Status, want.Status)
	case got.CgroupStatus != want.CgroupStatus:
		return fmt.Errorf("pid %d: cgroup status %s, want %s", pid, got.CgroupStatus, want.CgroupStatus)
	case got.Orchestrator != want.Orchestrator:
		return fmt.Errorf("pid %d: orchestrator %d, want %d", pid, got.Orchestrator, want.Orchestrator)
	case got.PPID != want.PPID || got.UID != want.UID || got.StartTime != want.StartTime:
		return fmt.Errorf("pid %d: ppid %d uid %d start time %d, want %d %d %d", pid,
			got.PPID, got.UID, got.StartTime, want.PPID, want.UID, want.StartTime)
	case string(got.Comm) != want.Comm || string(got.CgroupPath) != want.CgroupPath ||
		string(got.CgroupName) != want.CgroupName:
		return fmt.Errorf("pid %d: comm %q cgroup %q %q, want %q %q %q", pid,
			got.Comm, got.CgroupPath, got.CgroupName, want.Comm, want.CgroupPath, want.CgroupName)
	}
	if err := sameLabels(got.Labels, want.Labels); err != nil {
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	return nil
}

// sameLabels checks decoded labels against want, in order.
func sameLabels(got protocol.LookupLabels, want []protocol.LookupLabel) error {
	if got.Len() != len(want) {
		return fmt.Errorf("%d labels, want %d", got.Len(), len(want))
	}
	for i, w := range want {
		l, err := got.At(i)
		if err != nil {
			return fmt.Errorf("label %d: %w", i, err)
		}
		if string(l.Key) != w.Key || string(l.Value) != w.Value {
			return fmt.Errorf("label %d: %q = %q, want %q = %q", i, l.Key, l.Value, w.Key, w.Value)
		}
	}
	return nil
}
