package cgroups_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/protocol"
)

// startProvider runs a cgroups-snapshot provider of two cgroups in
// runDir; normally it is another process (the cgroups plugin).
func startProvider(runDir string) (stop func()) {
	names := []string{"docker-1a2b", "system.slice"}
	server := cgroups.NewServer(runDir, "cgroups-snapshot", cgroups.ServerConfig{}, cgroups.Handler{
		Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
			b.SetGeneration(1)
			b.SetSystemdEnabled(1)
			for _, name := range names {
				if err := b.Add(protocol.NetdataHash([]byte(name)), 0, 1, name, "/sys/fs/cgroup/"+name); err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err := server.Listen(); err != nil {
		panic(err)
	}
	go server.Run()
	return server.Stop
}

// A consumer fetches the whole snapshot in one call. The view borrows the
// client's buffers until its next call.
func ExampleClient() {
	runDir, _ := os.MkdirTemp("", "netipc-example")
	defer os.RemoveAll(runDir)
	defer startProvider(runDir)()

	client := cgroups.NewClient(runDir, "cgroups-snapshot", cgroups.ClientConfig{})
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snapshot, err := client.CallSnapshot(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("generation", snapshot.Generation())
	for item, err := range snapshot.Items() {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s %s\n", item.Name, item.Path)
	}
	// Output:
	// generation 1
	// docker-1a2b /sys/fs/cgroup/docker-1a2b
	// system.slice /sys/fs/cgroup/system.slice
}

// Connect says why a client cannot connect; a collection loop simply
// calls again next time (each call connects first when needed).
func ExampleClient_Connect() {
	runDir, _ := os.MkdirTemp("", "netipc-example")
	defer os.RemoveAll(runDir)

	client := cgroups.NewClient(runDir, "cgroups-snapshot", cgroups.ClientConfig{})
	defer client.Close()
	err := client.Connect(context.Background())
	fmt.Println(errors.Is(err, netipc.ErrNotFound), client.Status().State)

	defer startProvider(runDir)()
	err = client.Connect(context.Background())
	fmt.Println(err, client.Status().State)
	// Output:
	// true no provider found
	// <nil> ready
}

// A cache keeps the last good snapshot for lookups without I/O from any
// number of goroutines; one goroutine refreshes it at its own cadence.
func ExampleCache() {
	runDir, _ := os.MkdirTemp("", "netipc-example")
	defer os.RemoveAll(runDir)
	stop := startProvider(runDir)

	cache := cgroups.NewCache(runDir, "cgroups-snapshot", cgroups.ClientConfig{})
	defer cache.Close()
	if err := cache.Refresh(context.Background()); err != nil {
		fmt.Println("keeping the previous snapshot:", err)
	}
	item, ok := cache.Get(protocol.NetdataHash([]byte("docker-1a2b")), "docker-1a2b")
	fmt.Println(ok, item.Path)

	// The provider goes away: refreshes fail, the data stays.
	stop()
	err := cache.Refresh(context.Background())
	st := cache.Status()
	fmt.Println(err != nil, st.ItemCount, st.RefreshSuccessCount, st.RefreshFailureCount)
	// Output:
	// true /sys/fs/cgroup/docker-1a2b
	// true 2 1 1
}

// A snapshot is immutable: keep it as long as needed, iterate it, look
// items up in it.
func ExampleCache_Snapshot() {
	runDir, _ := os.MkdirTemp("", "netipc-example")
	defer os.RemoveAll(runDir)
	defer startProvider(runDir)()

	cache := cgroups.NewCache(runDir, "cgroups-snapshot", cgroups.ClientConfig{})
	defer cache.Close()
	if err := cache.Refresh(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	snap := cache.Snapshot()
	for i, item := range snap.All() {
		fmt.Println(i, item.Name, item.Enabled)
	}
	fmt.Println(snap.Len(), snap.Generation(), snap.SystemdEnabled())
	// Output:
	// 0 docker-1a2b 1
	// 1 system.slice 1
	// 2 1 1
}
