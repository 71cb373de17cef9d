package cgroupslookup_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/protocol"
)

// A consumer looks up any number of paths in one call and gets one answer
// per path, in order. Here the provider (normally another process) knows
// every path under /sys/fs/cgroup/.
func ExampleClient() {
	runDir, _ := os.MkdirTemp("", "netipc-example")
	defer os.RemoveAll(runDir)
	server := cgroupslookup.NewServer(runDir, "cgroups-lookup", cgroupslookup.ServerConfig{}, cgroupslookup.Handler{
		Handle: func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
			b.SetGeneration(3)
			for i, path := range req.Paths() {
				e := protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownPermanent}
				if name, ok := strings.CutPrefix(string(path), "/sys/fs/cgroup/"); ok {
					e = protocol.CgroupsLookupEntry{
						Status:       protocol.CgroupsLookupKnown,
						Orchestrator: protocol.OrchestratorDocker,
						Name:         name,
						Labels:       []protocol.LookupLabel{{Key: "image", Value: "nginx"}},
					}
				}
				if err := b.AddRequestItem(i, &e); err != nil {
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
	defer server.Stop()

	client := cgroupslookup.NewClient(runDir, "cgroups-lookup", cgroupslookup.ClientConfig{})
	defer client.Close()
	paths := [][]byte{[]byte("/sys/fs/cgroup/docker-1a2b"), []byte("/elsewhere")}
	answer, err := client.Call(context.Background(), paths)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("generation", answer.Generation())
	for _, item := range answer.Items() {
		fmt.Printf("%s: %v %q %v", item.Path, item.Status, item.Name, item.Orchestrator)
		for _, l := range item.Labels.All() {
			fmt.Printf(" %s=%s", l.Key, l.Value)
		}
		fmt.Println()
	}
	// Output:
	// generation 3
	// /sys/fs/cgroup/docker-1a2b: KNOWN "docker-1a2b" docker image=nginx
	// /elsewhere: UNKNOWN_PERMANENT "" unknown
}
