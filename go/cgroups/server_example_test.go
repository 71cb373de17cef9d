package cgroups_test

import (
	"context"
	"fmt"
	"os"

	"github.com/netdata/netipc/go/cgroups"
	"github.com/netdata/netipc/go/protocol"
)

// A provider answering every snapshot request from its own table, and a
// consumer calling it once.
func ExampleNewServer() {
	runDir, _ := os.MkdirTemp("", "netipc-example-")
	defer os.RemoveAll(runDir)

	table := map[string]string{"docker-1a2b": "/sys/fs/cgroup/system.slice/docker-1a2b.scope"}
	srv := cgroups.NewServer(runDir, "cgroups-snapshot", cgroups.ServerConfig{}, cgroups.Handler{
		Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
			b.SetGeneration(1)
			for name, path := range table {
				// An Add that runs out of room is passed on: the server
				// grows its response size and the client asks again.
				if err := b.Add(protocol.NetdataHash([]byte(name)), 0, 1, name, path); err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err := srv.Listen(); err != nil {
		fmt.Println("cannot serve:", err)
		return
	}
	go srv.Run()
	defer srv.Stop()

	c := cgroups.NewClient(runDir, "cgroups-snapshot", cgroups.ClientConfig{})
	defer c.Close()
	v, err := c.CallSnapshot(context.Background())
	if err != nil {
		fmt.Println("call failed:", err)
		return
	}
	for item, err := range v.Items() {
		if err != nil {
			fmt.Println("malformed item:", err)
			return
		}
		fmt.Printf("%s %s\n", item.Name, item.Path)
	}
	fmt.Println("requests answered:", srv.Stats().Requests)
	// Output:
	// docker-1a2b /sys/fs/cgroup/system.slice/docker-1a2b.scope
	// requests answered: 1
}
