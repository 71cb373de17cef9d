package appslookup_test

import (
	"context"
	"fmt"
	"os"

	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/protocol"
)

// A provider answering one item per requested PID, in request order (a
// process that does not exist is an item status, not an error), and a
// consumer looking two PIDs up.
func ExampleNewServer() {
	runDir, _ := os.MkdirTemp("", "netipc-example-")
	defer os.RemoveAll(runDir)

	srv := appslookup.NewServer(runDir, "apps-lookup", appslookup.ServerConfig{}, appslookup.Handler{
		Handle: func(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
			b.SetGeneration(3)
			for _, pid := range req.PIDs() {
				if pid != 1 {
					if err := b.AddStatus(pid, protocol.PIDUnknown); err != nil {
						return err
					}
					continue
				}
				e := protocol.AppsLookupEntry{Comm: "init", UID: 0, CgroupStatus: protocol.CgroupHostRoot}
				if err := b.Add(pid, &e); err != nil {
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

	c := appslookup.NewClient(runDir, "apps-lookup", appslookup.ClientConfig{})
	defer c.Close()
	v, err := c.Call(context.Background(), []uint32{1, 99999})
	if err != nil {
		fmt.Println("call failed:", err)
		return
	}
	for _, item := range v.Items() {
		fmt.Printf("%d %v %q\n", item.PID, item.Status, item.Comm)
	}
	// Output:
	// 1 KNOWN "init"
	// 99999 UNKNOWN ""
}
