// Command lookup-consumer is an example netipc consumer: it asks a
// provider for the metadata of cgroup paths (cgroups-lookup) and of
// processes (apps-lookup).
//
//	go run ./examples/lookup-consumer [-run-dir DIR] [-pids 1,4242] [PATH...]
//
// Without PATHs it looks up two paths the example provider knows and one
// it does not; without -pids, PIDs 1, 4242 and 99999. It prints one line
// per answer and exits 0, or 1 when a call failed.
//
// Run the example provider first (go run ./examples/provider) with the
// same -run-dir.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/netdata/netipc/go/appslookup"
	"github.com/netdata/netipc/go/cgroupslookup"
	"github.com/netdata/netipc/go/protocol"
)

var defaultPaths = []string{
	"/sys/fs/cgroup/system.slice/docker-4f2a9c1e.scope",
	"/sys/fs/cgroup/kubepods.slice/kubepods-pod7d9f.slice",
	"/sys/fs/cgroup/system.slice/not-a-container.scope",
}

func main() {
	runDir := flag.String("run-dir", filepath.Join(os.TempDir(), "netipc-example"), "directory of the endpoints (the provider's)")
	pidList := flag.String("pids", "1,4242,99999", "comma-separated PIDs to look up")
	token := flag.Uint64("auth-token", 0, "shared secret of provider and consumers")
	flag.Parse()

	paths := flag.Args()
	if len(paths) == 0 {
		paths = defaultPaths
	}
	var pids []uint32
	for _, field := range strings.Split(*pidList, ",") {
		pid, err := strconv.ParseUint(strings.TrimSpace(field), 10, 32)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lookup-consumer: -pids: %q is not a PID\n", field)
			os.Exit(2)
		}
		pids = append(pids, uint32(pid))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := cgroupslookup.ClientConfig{AuthToken: *token}
	if err := lookupCgroups(ctx, *runDir, cfg, paths); err != nil {
		fmt.Fprintln(os.Stderr, "lookup-consumer: cgroups-lookup:", err)
		os.Exit(1)
	}
	if err := lookupApps(ctx, *runDir, cfg, pids); err != nil {
		fmt.Fprintln(os.Stderr, "lookup-consumer: apps-lookup:", err)
		os.Exit(1)
	}
}

func lookupCgroups(ctx context.Context, runDir string, cfg cgroupslookup.ClientConfig, paths []string) error {
	client := cgroupslookup.NewClient(runDir, protocol.ServiceCgroupsLookup, cfg)
	defer client.Close()
	if err := client.Connect(ctx); err != nil {
		return err
	}
	keys := make([][]byte, len(paths))
	for i, p := range paths {
		keys[i] = []byte(p)
	}
	// One logical call: the client splits large key lists into as many
	// exchanges as the provider's sizes need, and stitches the answers.
	view, err := client.Call(ctx, keys)
	if err != nil {
		return err
	}
	fmt.Printf("cgroups-lookup: generation %d, %d paths\n", view.Generation(), view.Len())
	for _, item := range view.Items() {
		line := fmt.Sprintf("  %-20s %s", item.Status, item.Path)
		if item.Status == protocol.CgroupsLookupKnown {
			line += fmt.Sprintf(" -> %s (%s)%s", item.Name, item.Orchestrator, labels(item.Labels))
		}
		fmt.Println(line)
	}
	return nil
}

func lookupApps(ctx context.Context, runDir string, cfg appslookup.ClientConfig, pids []uint32) error {
	client := appslookup.NewClient(runDir, protocol.ServiceAppsLookup, cfg)
	defer client.Close()
	if err := client.Connect(ctx); err != nil {
		return err
	}
	view, err := client.Call(ctx, pids)
	if err != nil {
		return err
	}
	fmt.Printf("apps-lookup: generation %d, %d processes\n", view.Generation(), view.Len())
	for _, p := range view.Items() {
		line := fmt.Sprintf("  %-8s pid %d ", p.Status, p.PID)
		if p.Status == protocol.PIDKnown {
			line += fmt.Sprintf("%s (ppid %d, uid %s) cgroup %s", p.Comm, p.PPID, uid(p.UID), p.CgroupStatus)
			if p.CgroupStatus == protocol.CgroupKnown {
				line += fmt.Sprintf(" %s -> %s (%s)%s", p.CgroupPath, p.CgroupName, p.Orchestrator, labels(p.Labels))
			}
		}
		fmt.Println(line)
	}
	return nil
}

// labels formats labels as " key=value key=value".
func labels(l protocol.LookupLabels) string {
	var b strings.Builder
	for _, label := range l.All() {
		fmt.Fprintf(&b, " %s=%s", label.Key, label.Value)
	}
	return b.String()
}

func uid(u uint32) string {
	if u == protocol.UIDUnset {
		return "unknown"
	}
	return strconv.FormatUint(uint64(u), 10)
}
