package appslookup_test

import (
	"context"
	"fmt"
	"os"

	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/protocol"
)

// A consumer looks up any number of PIDs in one call and gets one answer
// per PID, in order. Here the provider (normally another process) knows
// PID 1 only.
func ExampleClient() {
	runDir, _ := os.MkdirTemp("", "netipc-example")
	defer os.RemoveAll(runDir)
	server := appslookup.NewServer(runDir, "apps-lookup", appslookup.ServerConfig{}, appslookup.Handler{
		Handle: func(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
			b.SetGeneration(5)
			for _, pid := range req.PIDs() {
				var err error
				if pid == 1 {
					err = b.Add(pid, &protocol.AppsLookupEntry{
						Status:       protocol.PIDKnown,
						CgroupStatus: protocol.CgroupKnown,
						Orchestrator: protocol.OrchestratorSystemd,
						UID:          0,
						Comm:         "systemd",
						CgroupPath:   "/sys/fs/cgroup/init.scope",
						CgroupName:   "init.scope",
					})
				} else {
					err = b.AddStatus(pid, protocol.PIDUnknown)
				}
				if err != nil {
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

	client := appslookup.NewClient(runDir, "apps-lookup", appslookup.ClientConfig{})
	defer client.Close()
	answer, err := client.Call(context.Background(), []uint32{1, 4242})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("generation", answer.Generation())
	for _, item := range answer.Items() {
		fmt.Printf("%d: %v %q %q\n", item.PID, item.Status, item.Comm, item.CgroupName)
	}
	// Output:
	// generation 5
	// 1: KNOWN "systemd" "init.scope"
	// 4242: UNKNOWN "" ""
}
