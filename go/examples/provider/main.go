// Command provider is an example netipc provider plugin: it publishes
// cgroups and processes over the three standard services,
// cgroups-snapshot, cgroups-lookup and apps-lookup, all answered from one
// table.
//
//	go run ./examples/provider [-run-dir DIR] [-source synthetic|host] [-duration D] [-auth-token N]
//
// The endpoints live in -run-dir (default: netipc-example in the system's
// temporary directory, created with mode 0700 when missing); providers
// and consumers must pass the identical string.
// With -source synthetic (the default) it serves a fixed table of three
// containers and three processes; with -source host, this machine's
// cgroups (rescanned every 10 s) and processes (read from /proc when asked
// for).
//
// It prints "ready" once every service accepts clients, and runs until
// SIGINT (Ctrl-C) or SIGTERM, or for -duration. It then stops the servers,
// which removes everything they created (sockets, shared-memory files),
// and exits 0.
//
// The same source builds and behaves the same on every operating system
// the package supports: the library picks the transport.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/protocol"
)

// rescanEvery is how often -source host scans the cgroups again.
const rescanEvery = 10 * time.Second

// server is what the three typed servers have in common.
type server interface {
	Listen() error
	Run() error
	Stop()
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "provider:", err)
		os.Exit(1)
	}
}

func run() error {
	runDir := flag.String("run-dir", filepath.Join(os.TempDir(), "netipc-example"), "directory of the endpoints")
	source := flag.String("source", "synthetic", "what to serve: synthetic or host")
	duration := flag.Duration("duration", 0, "stop after this long (0: until Ctrl-C)")
	token := flag.Uint64("auth-token", 0, "shared secret of provider and consumers")
	flag.Parse()

	// The published table. Handlers run on the servers' goroutines, several
	// at once: they load the pointer and read a table nobody changes.
	var current atomic.Pointer[table]
	switch *source {
	case "synthetic":
		current.Store(syntheticTable())
	case "host":
		current.Store(hostTable(1))
	default:
		return fmt.Errorf("-source %q: use synthetic or host", *source)
	}

	// The run directory must exist and be private: readable and writable
	// by this user only (or root).
	if err := os.MkdirAll(*runDir, 0o700); err != nil {
		return err
	}

	// Defaults: the socket plus shared memory, payload sizes that grow as
	// needed, one handler per CPU. Set AuthToken to your consumers' secret.
	cfg := netipc.ServerConfig{AuthToken: *token}
	servers := []server{
		cgroups.NewServer(*runDir, protocol.ServiceCgroupsSnapshot, cfg, cgroups.Handler{
			Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
				return current.Load().snapshot(b)
			},
		}),
		cgroupslookup.NewServer(*runDir, protocol.ServiceCgroupsLookup, cfg, cgroupslookup.Handler{
			Handle: func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
				return current.Load().lookupCgroups(req, b)
			},
		}),
		appslookup.NewServer(*runDir, protocol.ServiceAppsLookup, cfg, appslookup.Handler{
			Handle: func(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
				return current.Load().lookupApps(req, b)
			},
		}),
	}
	// Listen creates the endpoints now, so that errors (another provider
	// serving them, a run directory that is not safe) show up here.
	for i, s := range servers {
		if err := s.Listen(); err != nil {
			for _, started := range servers[:i] {
				started.Stop()
			}
			return err
		}
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if *duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if *source == "host" {
		go rescan(ctx, &current)
	}

	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Run()
		}()
	}
	t := current.Load()
	fmt.Printf("provider: serving %s, %s and %s in %s: %d cgroups, %s\n",
		protocol.ServiceCgroupsSnapshot, protocol.ServiceCgroupsLookup, protocol.ServiceAppsLookup,
		*runDir, len(t.cgroups), t.describeProcesses())
	fmt.Println("ready")

	<-ctx.Done()
	for _, s := range servers {
		s.Stop()
	}
	wg.Wait()
	fmt.Println("provider: stopped")
	return errors.Join(errs...)
}

// rescan publishes a new table with the next generation whenever the
// machine's cgroups change, until ctx ends.
func rescan(ctx context.Context, current *atomic.Pointer[table]) {
	tick := time.NewTicker(rescanEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		old := current.Load()
		next := hostTable(old.generation + 1)
		if !slices.EqualFunc(old.cgroups, next.cgroups, func(a, b cgroup) bool { return a.path == b.path }) {
			current.Store(next)
		}
	}
}

// snapshot answers cgroups-snapshot: the whole table.
func (t *table) snapshot(b *protocol.CgroupsBuilder) error {
	b.SetGeneration(t.generation)
	b.SetSystemdEnabled(t.systemdEnabled)
	for _, c := range t.cgroups {
		// An error means the response is full: the library answers
		// LIMIT_EXCEEDED and the client asks again with a larger size.
		err := b.Add(protocol.NetdataHash(c.name), protocol.CgroupOptionIsUnified, 1, c.name, c.path)
		if err != nil {
			return err
		}
	}
	return nil
}

// lookupCgroups answers cgroups-lookup: one item per requested path, in
// request order. A path not (yet) known may show up later:
// UNKNOWN_RETRY_LATER.
func (t *table) lookupCgroups(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
	b.SetGeneration(t.generation)
	for i, path := range req.Paths() {
		e := protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownRetryLater}
		if c, ok := t.byPath[string(path)]; ok {
			e = protocol.CgroupsLookupEntry{
				Status: protocol.CgroupsLookupKnown, Orchestrator: c.orchestrator,
				Name: c.name, Labels: c.labels,
			}
		}
		// When the answer outgrows the response, the builder turns the
		// remaining items into placeholders and the client asks for them
		// again: nothing to handle here.
		if err := b.AddRequestItem(i, &e); err != nil {
			return err
		}
	}
	return nil
}

// lookupApps answers apps-lookup: one item per requested PID.
func (t *table) lookupApps(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
	b.SetGeneration(t.generation)
	for _, pid := range req.PIDs() {
		var p process
		var ok bool
		if t.processes != nil {
			var found *process
			if found, ok = t.processes[pid]; ok {
				p = *found
			}
		} else {
			p, ok = readProcess(pid)
		}
		var err error
		if ok {
			err = b.Add(pid, t.entry(&p))
		} else {
			err = b.AddStatus(pid, protocol.PIDUnknown)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// entry is the answer for a known process: its cgroup's metadata when the
// table knows the cgroup.
func (t *table) entry(p *process) *protocol.AppsLookupEntry {
	e := &protocol.AppsLookupEntry{
		Status: protocol.PIDKnown, PPID: p.ppid, UID: p.uid, StartTime: p.starttime,
		Comm: p.comm, CgroupStatus: protocol.CgroupHostRoot,
	}
	if p.cgroupPath == "" {
		return e
	}
	e.CgroupStatus, e.CgroupPath = protocol.CgroupKnown, p.cgroupPath
	if c, ok := t.byPath[p.cgroupPath]; ok {
		e.CgroupName, e.Orchestrator, e.Labels = c.name, c.orchestrator, c.labels
	}
	return e
}

// describeProcesses says what apps-lookup answers from.
func (t *table) describeProcesses() string {
	if t.processes == nil {
		return "processes from /proc"
	}
	return fmt.Sprintf("%d processes", len(t.processes))
}
