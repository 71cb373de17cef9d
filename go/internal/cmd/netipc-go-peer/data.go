package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/netdata/netipc/go/protocol"
)

// The data files are those of `netipc serve KIND --data FILE`: the shape
// `netipc call KIND --json` prints, with the same defaults (see `netipc
// help serve`). Fields a call prints that a provider does not choose
// (service; orchestrator_name beside orchestrator) are accepted; other
// unknown fields are errors.

// snapshotItem is one cgroup of a snapshot.
type snapshotItem struct {
	hash, options, enabled uint32
	name, path             string
}

// table is what one data file holds: the part of its kind is set.
type table struct {
	generation uint64

	systemdEnabled uint32
	snapshot       []snapshotItem

	// unknown answers the paths cgroups does not list.
	unknown protocol.CgroupsLookupStatus
	cgroups map[string]*protocol.CgroupsLookupEntry

	// PIDs apps does not list are UNKNOWN.
	apps map[uint32]*protocol.AppsLookupEntry
}

// Orchestrator names, as `netipc call --json` prints them.
var orchestrators = []string{"unknown", "systemd", "docker", "k8s", "kvm", "lxc", "podman", "nspawn"}

func orchestratorOf(number *uint16, name *string) (protocol.Orchestrator, error) {
	switch {
	case number != nil:
		if name != nil && int(*number) < len(orchestrators) && orchestrators[*number] != *name {
			return 0, fmt.Errorf("orchestrator %d is %q, not %q", *number, orchestrators[*number], *name)
		}
		return protocol.Orchestrator(*number), nil
	case name != nil:
		if i := slices.Index(orchestrators, *name); i >= 0 {
			return protocol.Orchestrator(i), nil
		}
		return 0, fmt.Errorf("orchestrator_name %q is unknown: one of %s", *name, strings.Join(orchestrators, ", "))
	}
	return 0, nil
}

// sortedLabels returns a JSON object's labels ordered by key, as the Rust
// provider sends them.
func sortedLabels(m map[string]string) []protocol.LookupLabel {
	out := make([]protocol.LookupLabel, 0, len(m))
	for k, v := range m {
		out = append(out, protocol.LookupLabel{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func named[T ~uint16](field string, name *string, def T, names map[string]T) (T, error) {
	if name == nil {
		return def, nil
	}
	if v, ok := names[*name]; ok {
		return v, nil
	}
	return def, fmt.Errorf("%s is %q: not one of the specification's names", field, *name)
}

// The files' own shapes.
type (
	snapshotFile struct {
		Service        any              `json:"service"`
		Generation     *uint64          `json:"generation"`
		SystemdEnabled uint32           `json:"systemd_enabled"`
		Items          []snapshotFileIt `json:"items"`
	}
	snapshotFileIt struct {
		Hash    *uint32 `json:"hash"`
		Options uint32  `json:"options"`
		Enabled *uint32 `json:"enabled"`
		Name    string  `json:"name"`
		Path    string  `json:"path"`
	}
	cgroupsFile struct {
		Service       any             `json:"service"`
		Generation    *uint64         `json:"generation"`
		UnknownStatus *string         `json:"unknown_status"`
		Items         []cgroupsFileIt `json:"items"`
	}
	cgroupsFileIt struct {
		Path             string            `json:"path"`
		Status           *string           `json:"status"`
		Orchestrator     *uint16           `json:"orchestrator"`
		OrchestratorName *string           `json:"orchestrator_name"`
		Name             string            `json:"name"`
		Labels           map[string]string `json:"labels"`
	}
	appsFile struct {
		Service    any          `json:"service"`
		Generation *uint64      `json:"generation"`
		Items      []appsFileIt `json:"items"`
	}
	appsFileIt struct {
		PID              uint32            `json:"pid"`
		Status           *string           `json:"status"`
		PPID             uint32            `json:"ppid"`
		UID              *uint32           `json:"uid"`
		Starttime        uint64            `json:"starttime"`
		Comm             string            `json:"comm"`
		CgroupStatus     *string           `json:"cgroup_status"`
		Orchestrator     *uint16           `json:"orchestrator"`
		OrchestratorName *string           `json:"orchestrator_name"`
		CgroupPath       string            `json:"cgroup_path"`
		CgroupName       string            `json:"cgroup_name"`
		Labels           map[string]string `json:"labels"`
	}
)

func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// parseTable reads data of kind.
func parseTable(kind string, data []byte) (*table, error) {
	t := &table{generation: 1}
	setGeneration := func(g *uint64) {
		if g != nil {
			t.generation = *g
		}
	}
	switch kind {
	case "cgroups-snapshot":
		var f snapshotFile
		if err := decodeStrict(data, &f); err != nil {
			return nil, err
		}
		setGeneration(f.Generation)
		t.systemdEnabled = f.SystemdEnabled
		t.snapshot = make([]snapshotItem, 0, len(f.Items))
		for _, it := range f.Items {
			item := snapshotItem{options: it.Options, enabled: 1, name: it.Name, path: it.Path}
			if it.Enabled != nil {
				item.enabled = *it.Enabled
			}
			if it.Hash != nil {
				item.hash = *it.Hash
			} else {
				item.hash = protocol.NetdataHash([]byte(it.Name))
			}
			t.snapshot = append(t.snapshot, item)
		}
	case "cgroups-lookup":
		var f cgroupsFile
		if err := decodeStrict(data, &f); err != nil {
			return nil, err
		}
		setGeneration(f.Generation)
		unknown, err := named("unknown_status", f.UnknownStatus, protocol.CgroupsLookupUnknownRetryLater,
			map[string]protocol.CgroupsLookupStatus{
				"UNKNOWN_RETRY_LATER": protocol.CgroupsLookupUnknownRetryLater,
				"UNKNOWN_PERMANENT":   protocol.CgroupsLookupUnknownPermanent,
			})
		if err != nil {
			return nil, err
		}
		t.unknown = unknown
		t.cgroups = make(map[string]*protocol.CgroupsLookupEntry, len(f.Items))
		for i, it := range f.Items {
			status, err := named("status", it.Status, protocol.CgroupsLookupKnown,
				map[string]protocol.CgroupsLookupStatus{
					"KNOWN":               protocol.CgroupsLookupKnown,
					"UNKNOWN_RETRY_LATER": protocol.CgroupsLookupUnknownRetryLater,
					"UNKNOWN_PERMANENT":   protocol.CgroupsLookupUnknownPermanent,
					"OVERSIZED_ITEM":      protocol.CgroupsLookupOversizedItem,
				})
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			orch, err := orchestratorOf(it.Orchestrator, it.OrchestratorName)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			if _, dup := t.cgroups[it.Path]; dup {
				return nil, fmt.Errorf("item %d repeats path %q", i, it.Path)
			}
			t.cgroups[it.Path] = &protocol.CgroupsLookupEntry{Status: status, Orchestrator: orch, Name: it.Name, Labels: sortedLabels(it.Labels)}
		}
	case "apps-lookup":
		var f appsFile
		if err := decodeStrict(data, &f); err != nil {
			return nil, err
		}
		setGeneration(f.Generation)
		t.apps = make(map[uint32]*protocol.AppsLookupEntry, len(f.Items))
		for i, it := range f.Items {
			status, err := named("status", it.Status, protocol.PIDKnown, map[string]protocol.PIDStatus{
				"KNOWN":          protocol.PIDKnown,
				"UNKNOWN":        protocol.PIDUnknown,
				"OVERSIZED_ITEM": protocol.PIDOversizedItem,
			})
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			def := protocol.CgroupKnown
			if status == protocol.PIDKnown && it.CgroupPath == "" {
				def = protocol.CgroupHostRoot
			}
			cgStatus, err := named("cgroup_status", it.CgroupStatus, def, map[string]protocol.CgroupStatus{
				"KNOWN":               protocol.CgroupKnown,
				"UNKNOWN_RETRY_LATER": protocol.CgroupUnknownRetryLater,
				"UNKNOWN_PERMANENT":   protocol.CgroupUnknownPermanent,
				"HOST_ROOT":           protocol.CgroupHostRoot,
			})
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			orch, err := orchestratorOf(it.Orchestrator, it.OrchestratorName)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			if _, dup := t.apps[it.PID]; dup {
				return nil, fmt.Errorf("item %d repeats pid %d", i, it.PID)
			}
			uid := protocol.UIDUnset
			if it.UID != nil {
				uid = *it.UID
			}
			t.apps[it.PID] = &protocol.AppsLookupEntry{
				Status: status, CgroupStatus: cgStatus, Orchestrator: orch,
				PPID: it.PPID, UID: uid, StartTime: it.Starttime, Comm: it.Comm,
				CgroupPath: it.CgroupPath, CgroupName: it.CgroupName, Labels: sortedLabels(it.Labels),
			}
		}
	default:
		return nil, fmt.Errorf("kind %s serves no data", kind)
	}
	return t, nil
}

// source is a data file and the table served from it, reloaded when the
// file changes (looked at every poll): a new table is served with the
// generation max(file's, served + 1), as `netipc serve --data` does. A
// file that does not parse keeps the previous table (and is reported).
type source struct {
	path    string
	kind    string
	current atomic.Pointer[table]
	content atomic.Pointer[[]byte]
}

func loadSource(kind, path string) (*source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := parseTable(kind, data)
	if err != nil {
		return nil, fmt.Errorf("cannot serve %s: %w", path, err)
	}
	s := &source{path: path, kind: kind}
	s.current.Store(t)
	s.content.Store(&data)
	return s, nil
}

// table returns the table served now.
func (s *source) table() *table { return s.current.Load() }

// watch reloads the file when it changes, until stop is closed.
func (s *source) watch(poll time.Duration, stop <-chan struct{}) {
	stamp := func() (int64, time.Time) {
		st, err := os.Stat(s.path)
		if err != nil {
			return -1, time.Time{}
		}
		return st.Size(), st.ModTime()
	}
	size, mod := stamp()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		nsize, nmod := stamp()
		if nsize == size && nmod.Equal(mod) {
			continue
		}
		size, mod = nsize, nmod
		s.reload()
	}
}

func (s *source) reload() {
	data, err := os.ReadFile(s.path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netipc-go-peer: cannot reload %s: %v\n", s.path, err)
		return
	}
	if bytes.Equal(data, *s.content.Load()) {
		return
	}
	t, err := parseTable(s.kind, data)
	if err != nil {
		fmt.Fprintf(os.Stderr, "netipc-go-peer: cannot reload %s: %v; the previous data stays served\n", s.path, err)
		return
	}
	t.generation = max(t.generation, s.table().generation+1)
	s.content.Store(&data)
	s.current.Store(t)
	fmt.Printf("reloaded %s: generation %d\n", s.path, t.generation)
}
