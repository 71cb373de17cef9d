// Command snapshot-consumer is an example netipc consumer: it keeps a
// local copy of a provider's cgroups snapshot with the L3 cache, the way
// Netdata's collectors do, and looks cgroups up in it by name.
//
//	go run ./examples/snapshot-consumer [-run-dir DIR] [-service NAME] [-refreshes N] [-interval D] [NAME...]
//
// It refreshes the cache -refreshes times (default 1), -interval apart
// (default 1s), printing the status after each refresh, then prints the
// cached cgroups and looks every NAME up by (Netdata's hash of the name,
// the name), as Netdata's consumers do. A refresh that fails keeps the
// last good copy. It exits 1 when no refresh succeeded.
//
// Run the example provider first (go run ./examples/provider) with the
// same -run-dir.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/protocol"
)

func main() {
	runDir := flag.String("run-dir", filepath.Join(os.TempDir(), "netipc-example"), "directory of the endpoints (the provider's)")
	service := flag.String("service", protocol.ServiceCgroupsSnapshot, "service name of the snapshot provider")
	refreshes := flag.Int("refreshes", 1, "refreshes to run")
	interval := flag.Duration("interval", time.Second, "pause between refreshes")
	token := flag.Uint64("auth-token", 0, "shared secret of provider and consumers")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	// The zero config is the default of every field: the socket plus
	// shared memory, sizes that grow as needed, a 30 s call timeout.
	cache := cgroups.NewCache(*runDir, *service, cgroups.ClientConfig{AuthToken: *token})
	defer cache.Close()

	for i := 1; i <= *refreshes; i++ {
		if i > 1 {
			select {
			case <-ctx.Done():
				fmt.Fprintln(os.Stderr, "snapshot-consumer: interrupted")
				os.Exit(1)
			case <-time.After(*interval):
			}
		}
		// Refresh fetches a new snapshot and publishes it; readers (Get,
		// Snapshot) never wait for it, and keep the last good copy when
		// it fails.
		err := cache.Refresh(ctx)
		st := cache.Status()
		if err != nil {
			fmt.Printf("refresh %d: failed: %v (kept: generation %d, %d cgroups)\n", i, err, st.Generation, st.ItemCount)
			continue
		}
		fmt.Printf("refresh %d: generation %d, %d cgroups, systemd_enabled %d (connection %v, %d refreshes ok, %d failed)\n",
			i, st.Generation, st.ItemCount, st.SystemdEnabled, st.ConnectionState, st.RefreshSuccessCount, st.RefreshFailureCount)
	}
	if !cache.Ready() {
		fmt.Fprintf(os.Stderr, "snapshot-consumer: no snapshot of %q in %s: %v\n", *service, *runDir, cache.LastError())
		os.Exit(1)
	}

	// A Snapshot is an immutable copy: iterate it while refreshes go on.
	snap := cache.Snapshot()
	for _, item := range snap.All() {
		fmt.Printf("  %-14s %s (hash %08x, options %#x, enabled %d)\n", item.Name, item.Path, item.Hash, item.Options, item.Enabled)
	}
	for _, name := range flag.Args() {
		if item, ok := cache.Get(protocol.NetdataHash(name), name); ok {
			fmt.Printf("Get(%s): %s\n", name, item.Path)
		} else {
			fmt.Printf("Get(%s): not cached\n", name)
		}
	}
}
