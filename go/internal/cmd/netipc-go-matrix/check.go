package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/protocol"
)

// consumer is what every client (and the cache) of a check offers.
type consumer interface {
	SessionInfo() (netipc.SessionInfo, bool)
	Close() error
}

// checker runs the checks against one provider.
type checker struct {
	runDir, prefix string
	cfg            netipc.ClientConfig
	data           *dataset
}

// The checks, in order: each makes its client (the returned consumer,
// which the caller closes) and returns the DETAIL of its line.
var checks = [...]struct {
	name string
	run  func(c *checker) (consumer, string, error)
}{
	{"snapshot", func(c *checker) (consumer, string, error) { return c.snapshot("-snapshot", smallSnapshot) }},
	{"snapshot-big", func(c *checker) (consumer, string, error) { return c.snapshot("-snapshot-big", knownCgroups) }},
	{"cgroups-lookup", (*checker).cgroupsLookup},
	{"apps-lookup", (*checker).appsLookup},
	{"cache", (*checker).cache},
}

// check runs every check and prints its line; 0 when all passed.
func check(runDir, prefix string, profile protocol.Profile, stdout io.Writer) int {
	c := &checker{
		runDir: runDir,
		prefix: prefix,
		cfg: netipc.ClientConfig{
			SupportedProfiles: protocol.ProfileBaseline | profile,
			PreferredProfiles: profile,
		},
		data: newDataset(),
	}
	status := 0
	for _, ck := range checks {
		client, detail, err := ck.run(c)
		info, connected := client.SessionInfo()
		_ = client.Close()
		switch {
		case err == nil && !connected:
			err = errors.New("the client has no session after its call")
		case err == nil && info.Profile != profile:
			err = fmt.Errorf("the session negotiated %s, not %s", profileName(info.Profile), profileName(profile))
		}
		if err != nil {
			status = 1
			// One line per check, whatever the error says.
			fmt.Fprintf(stdout, "FAIL %s %s\n", ck.name, strings.Join(strings.Fields(err.Error()), " "))
			continue
		}
		fmt.Fprintf(stdout, "ok %s %s %s\n", ck.name, profileName(info.Profile), detail)
	}
	return status
}

// snapshot refreshes PREFIX+suffix once and checks that it holds the
// first n cgroups.
func (c *checker) snapshot(suffix string, n int) (consumer, string, error) {
	client := cgroups.NewClient(c.runDir, c.prefix+suffix, c.cfg)
	v, err := client.CallSnapshot(context.Background())
	if err != nil {
		return client, "", err
	}
	if v.Len() != n || v.Generation() != generation || v.SystemdEnabled() != systemdEnabled {
		return client, "", fmt.Errorf("%d items, generation %d, systemd_enabled %d; want %d, %d, %d",
			v.Len(), v.Generation(), v.SystemdEnabled(), n, generation, systemdEnabled)
	}
	for i := 0; i < n; i++ {
		item, err := v.Item(i)
		if err != nil {
			return client, "", fmt.Errorf("item %d: %w", i, err)
		}
		if item.Hash != cgroupHash(i) || item.Options != cgroupOptions(i) || item.Enabled != cgroupEnabled(i) ||
			string(item.Name) != c.data.names[i] || string(item.Path) != c.data.paths[i] {
			return client, "", fmt.Errorf("item %d: hash %d options %d enabled %d name %q path %q, want cgroup %d",
				i, item.Hash, item.Options, item.Enabled, item.Name, item.Path, i)
		}
	}
	return client, fmt.Sprintf("%d items", n), nil
}

// cgroupsLookup looks the 32,768 keys up and checks every answer.
func (c *checker) cgroupsLookup() (consumer, string, error) {
	client := cgroupslookup.NewClient(c.runDir, c.prefix+"-cgroups-lookup", c.cfg)
	keys := make([][]byte, lookupKeys)
	for j := range keys {
		path, _ := c.data.lookupKey(j)
		keys[j] = []byte(path)
	}
	v, err := client.Call(context.Background(), keys)
	if err != nil {
		return client, "", err
	}
	if v.Len() != lookupKeys || v.Generation() != generation {
		return client, "", fmt.Errorf("%d answers of generation %d; want %d of %d", v.Len(), v.Generation(), lookupKeys, generation)
	}
	for j := range keys {
		item, err := v.Item(j)
		if err != nil {
			return client, "", fmt.Errorf("answer %d: %w", j, err)
		}
		path, cgroup := c.data.lookupKey(j)
		want := c.data.cgroupEntry(cgroup)
		if err := sameCgroupsItem(&item, path, &want); err != nil {
			return client, "", fmt.Errorf("answer %d: %w", j, err)
		}
	}
	return client, fmt.Sprintf("%d keys", lookupKeys), nil
}

// appsLookup looks the 1,000 PIDs up and checks every answer.
func (c *checker) appsLookup() (consumer, string, error) {
	client := appslookup.NewClient(c.runDir, c.prefix+"-apps-lookup", c.cfg)
	pids := make([]uint32, lookupPIDs)
	for j := range pids {
		pids[j] = lookupPID(j)
	}
	v, err := client.Call(context.Background(), pids)
	if err != nil {
		return client, "", err
	}
	if v.Len() != lookupPIDs || v.Generation() != generation {
		return client, "", fmt.Errorf("%d answers of generation %d; want %d of %d", v.Len(), v.Generation(), lookupPIDs, generation)
	}
	for j, pid := range pids {
		item, err := v.Item(j)
		if err != nil {
			return client, "", fmt.Errorf("answer %d: %w", j, err)
		}
		want := c.data.appsEntry(pid)
		if err := sameAppsItem(&item, pid, &want); err != nil {
			return client, "", fmt.Errorf("answer %d: %w", j, err)
		}
	}
	return client, fmt.Sprintf("%d pids", lookupPIDs), nil
}

// cache refreshes a cache of PREFIX-snapshot-big once and finds every
// cgroup in it by hash and name, and not a missing one.
func (c *checker) cache() (consumer, string, error) {
	cache := cgroups.NewCache(c.runDir, c.prefix+"-snapshot-big", c.cfg)
	if err := cache.Refresh(context.Background()); err != nil {
		return cache, "", err
	}
	if st := cache.Status(); st.ItemCount != knownCgroups || st.Generation != generation || st.SystemdEnabled != systemdEnabled {
		return cache, "", fmt.Errorf("%d items, generation %d, systemd_enabled %d; want %d, %d, %d",
			st.ItemCount, st.Generation, st.SystemdEnabled, knownCgroups, generation, systemdEnabled)
	}
	for i := 0; i < knownCgroups; i++ {
		want := cgroups.CacheItem{Hash: cgroupHash(i), Options: cgroupOptions(i), Enabled: cgroupEnabled(i),
			Name: c.data.names[i], Path: c.data.paths[i]}
		if got, ok := cache.Get(want.Hash, want.Name); !ok || got != want {
			return cache, "", fmt.Errorf("cgroup %d: found %v: %+v, want %+v", i, ok, got, want)
		}
	}
	if got, ok := cache.Get(missingHash, missingName); ok {
		return cache, "", fmt.Errorf("%s (hash %d) found: %+v", missingName, missingHash, got)
	}
	return cache, fmt.Sprintf("%d items", knownCgroups), nil
}
