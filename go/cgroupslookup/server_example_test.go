package cgroupslookup_test

import (
	"context"
	"fmt"
	"os"

	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/protocol"
)

// A provider answering one item per requested path, in request order
// (an unknown path is an item status, not an error), and a consumer
// looking two paths up.
func ExampleNewServer() {
	runDir, _ := os.MkdirTemp("", "netipc-example-")
	defer os.RemoveAll(runDir)

	names := map[string]string{"/sys/fs/cgroup/system.slice/docker-1a2b.scope": "web"}
	srv := cgroupslookup.NewServer(runDir, "cgroups-lookup", cgroupslookup.ServerConfig{}, cgroupslookup.Handler{
		Handle: func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
			b.SetGeneration(7)
			for i, path := range req.Paths() {
				e := protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownRetryLater}
				if name, ok := names[string(path)]; ok {
					e = protocol.CgroupsLookupEntry{Name: name, Orchestrator: protocol.OrchestratorDocker}
				}
				if err := b.AddRequestItem(i, &e); err != nil {
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

	c := cgroupslookup.NewClient(runDir, "cgroups-lookup", cgroupslookup.ClientConfig{})
	defer c.Close()
	v, err := c.Call(context.Background(), [][]byte{
		[]byte("/sys/fs/cgroup/system.slice/docker-1a2b.scope"),
		[]byte("/sys/fs/cgroup/system.slice/new.scope"),
	})
	if err != nil {
		fmt.Println("call failed:", err)
		return
	}
	for _, item := range v.Items() {
		fmt.Printf("%s %v %q\n", item.Path, item.Status, item.Name)
	}
	// Output:
	// /sys/fs/cgroup/system.slice/docker-1a2b.scope KNOWN "web"
	// /sys/fs/cgroup/system.slice/new.scope UNKNOWN_RETRY_LATER ""
}
