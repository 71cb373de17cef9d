package protocol_test

import (
	"fmt"

	"github.com/netdata/netipc/go/protocol"
)

// A snapshot handler adds one item per cgroup to the builder it is given;
// the builder writes into the server's response buffer, and a response
// that does not fit fails with protocol.Overflow (the server then answers
// LIMIT_EXCEEDED and grows its buffer).
func ExampleCgroupsBuilder() {
	type cgroup struct{ name, path string }
	cgroups := []cgroup{
		{"system.slice/docker.service", "/sys/fs/cgroup/system.slice/docker.service"},
		{"user.slice", "/sys/fs/cgroup/user.slice"},
	}
	handler := func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) bool {
		b.SetGeneration(7)
		b.SetSystemdEnabled(1)
		for _, cg := range cgroups {
			if err := b.Add(protocol.NetdataHash(cg.name), protocol.CgroupOptionIsUnified, 1, cg.name, cg.path); err != nil {
				return false
			}
		}
		return true
	}

	// What the server does with a request (the builder and the buffer are
	// reused for every request).
	request := []byte{1, 0, 0, 0}
	response := make([]byte, 1024)
	var builder protocol.CgroupsBuilder
	n, err := protocol.DispatchCgroupsSnapshot(&builder, request, response, 0, handler)
	if err != nil {
		fmt.Println(err)
		return
	}

	// What a client reads.
	view, err := protocol.DecodeCgroupsResponse(response[:n])
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("generation", view.Generation(), "items", view.Len())
	for item, err := range view.Items() {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%08x %s\n", item.Hash, item.Name)
	}
	// Output:
	// generation 7 items 2
	// d437b942 system.slice/docker.service
	// a8e79ccc user.slice
}

// A client encodes its paths, and reads the answer through views that
// borrow the response payload: nothing is copied or allocated.
func ExampleDecodeCgroupsLookupResponse() {
	paths := [][]byte{[]byte("/kubepods/pod-a"), []byte("/pending")}
	request := make([]byte, 256)
	n, err := protocol.EncodeCgroupsLookupRequest(request, paths)
	if err != nil {
		fmt.Println(err)
		return
	}

	// A provider answers (normally on the other side of the connection).
	response := make([]byte, 1024)
	var builder protocol.CgroupsLookupBuilder
	n, err = protocol.DispatchCgroupsLookup(&builder, request[:n], response,
		func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) bool {
			b.SetGeneration(3)
			_ = b.AddRequestItem(0, &protocol.CgroupsLookupEntry{
				Orchestrator: protocol.OrchestratorK8s,
				Name:         "pod-a",
				Labels:       []protocol.LookupLabel{{Key: "namespace", Value: "default"}},
			})
			_ = b.AddRequestItem(1, &protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownRetryLater})
			return b.Err() == nil
		})
	if err != nil {
		fmt.Println(err)
		return
	}

	view, err := protocol.DecodeCgroupsLookupResponse(response[:n])
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, item := range view.Items() {
		fmt.Printf("%s: %v", item.Path, item.Status)
		if item.Status == protocol.CgroupsLookupKnown {
			fmt.Printf(" %s (%v)", item.Name, item.Orchestrator)
			for _, label := range item.Labels.All() {
				fmt.Printf(" %s=%s", label.Key, label.Value)
			}
		}
		fmt.Println()
	}
	// Output:
	// /kubepods/pod-a: KNOWN pod-a (k8s) namespace=default
	// /pending: UNKNOWN_RETRY_LATER
}
