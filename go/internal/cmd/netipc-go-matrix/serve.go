package main

import (
	"errors"
	"fmt"
	"io"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/protocol"
)

// provider is what the four servers have in common.
type provider interface {
	Listen() error
	Run() error
	Stop()
}

// serve runs the four providers of the matrix until stdin ends.
func serve(runDir, prefix string, profile protocol.Profile, stdin io.Reader, stdout, stderr io.Writer) int {
	d := newDataset()
	cfg := netipc.ServerConfig{
		SupportedProfiles: protocol.ProfileBaseline | profile,
		PreferredProfiles: profile,
	}
	services := [...]struct {
		name string
		p    provider
	}{
		{prefix + "-snapshot", cgroups.NewServer(runDir, prefix+"-snapshot", cfg, snapshotHandler(d, smallSnapshot))},
		{prefix + "-snapshot-big", cgroups.NewServer(runDir, prefix+"-snapshot-big", cfg, snapshotHandler(d, knownCgroups))},
		{prefix + "-cgroups-lookup", cgroupslookup.NewServer(runDir, prefix+"-cgroups-lookup", cfg,
			cgroupslookup.Handler{Handle: d.answerCgroups})},
		{prefix + "-apps-lookup", appslookup.NewServer(runDir, prefix+"-apps-lookup", cfg,
			appslookup.Handler{Handle: d.answerApps})},
	}
	stopAll := func() {
		for _, s := range services {
			s.p.Stop()
		}
	}
	for _, s := range services {
		if err := s.p.Listen(); err != nil {
			stopAll()
			fmt.Fprintf(stderr, "netipc-go-matrix: serving %s: %v\n", s.name, err)
			return 1
		}
	}
	type ended struct {
		name string
		err  error
	}
	ends := make(chan ended, len(services))
	for _, s := range services {
		go func() { ends <- ended{s.name, s.p.Run()} }()
	}
	if _, err := fmt.Fprintln(stdout, "ready"); err != nil {
		stopAll()
		fmt.Fprintln(stderr, "netipc-go-matrix:", err)
		return 1
	}
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()

	status := 0
	running := len(services)
	select {
	case <-eof:
	case e := <-ends:
		// A server may end only when it is stopped.
		running--
		if e.err == nil {
			e.err = errors.New("stopped unexpectedly")
		}
		fmt.Fprintf(stderr, "netipc-go-matrix: serving %s: %v\n", e.name, e.err)
		status = 1
	}
	stopAll()
	for ; running > 0; running-- {
		if e := <-ends; e.err != nil {
			fmt.Fprintf(stderr, "netipc-go-matrix: serving %s: %v\n", e.name, e.err)
			status = 1
		}
	}
	return status
}

// snapshotHandler answers with the first n cgroups.
func snapshotHandler(d *dataset, n int) cgroups.Handler {
	return cgroups.Handler{Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
		b.SetGeneration(generation)
		b.SetSystemdEnabled(systemdEnabled)
		for i := 0; i < n; i++ {
			if err := b.Add(cgroupHash(i), cgroupOptions(i), cgroupEnabled(i), d.names[i], d.paths[i]); err != nil {
				return err
			}
		}
		return nil
	}}
}

// answerCgroups answers a cgroups lookup: the known cgroups by path.
func (d *dataset) answerCgroups(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
	b.SetGeneration(generation)
	for i, path := range req.Paths() {
		cgroup, known := d.byPath[string(path)]
		if !known {
			cgroup = -1
		}
		e := d.cgroupEntry(cgroup)
		if err := b.AddRequestItem(i, &e); err != nil {
			return err
		}
	}
	return nil
}

// answerApps answers an apps lookup.
func (d *dataset) answerApps(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
	b.SetGeneration(generation)
	for _, pid := range req.PIDs() {
		e := d.appsEntry(pid)
		if err := b.Add(pid, &e); err != nil {
			return err
		}
	}
	return nil
}
