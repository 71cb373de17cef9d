package cgroups

import (
	"errors"
	"fmt"
	"testing"

	"github.com/netdata/netipc/go/internal/service/server"
	"github.com/netdata/netipc/go/protocol"
)

// answer answers one snapshot request with h, as the server does.
func answer(t *testing.T, h Handler, req, out []byte) (int, error) {
	t.Helper()
	return snapshotMethod(h).NewWorker().Answer(req, out, true)
}

func snapshotRequest() []byte {
	req := make([]byte, protocol.CgroupsRequestLen)
	protocol.EncodeCgroupsRequest(req)
	return req
}

func threeItems(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
	b.SetGeneration(42)
	b.SetSystemdEnabled(1)
	for i := range 3 {
		name := fmt.Sprintf("docker-%d", i)
		if err := b.Add(protocol.NetdataHash([]byte(name)), 2, 1, name, "/sys/fs/cgroup/"+name); err != nil {
			return err
		}
	}
	return nil
}

func TestSnapshotAnswer(t *testing.T) {
	out := make([]byte, 4096)
	n, err := answer(t, Handler{Handle: threeItems}, snapshotRequest(), out)
	if err != nil {
		t.Fatal(err)
	}
	v, err := protocol.DecodeCgroupsResponse(out[:n])
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 3 || v.Generation() != 42 || v.SystemdEnabled() != 1 {
		t.Fatalf("snapshot of %d items, generation %d", v.Len(), v.Generation())
	}
	item, err := v.Item(2)
	if err != nil || string(item.Name) != "docker-2" || string(item.Path) != "/sys/fs/cgroup/docker-2" || item.Options != 2 {
		t.Fatalf("item 2: %+v %v", item, err)
	}
}

func TestSnapshotFailures(t *testing.T) {
	overflowIgnored := func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
		for i := 0; i < 1000; i++ {
			_ = b.Add(1, 0, 1, "a-rather-long-cgroup-name", "/sys/fs/cgroup/a-rather-long-cgroup-name")
		}
		return nil
	}
	failing := func(*protocol.CgroupsRequest, *protocol.CgroupsBuilder) error { return errors.New("no data yet") }
	for _, tc := range []struct {
		name    string
		h       Handler
		req     []byte
		status  protocol.Status
		handler bool
	}{
		{"overflow returned", Handler{Handle: func(r *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
			for {
				if err := b.Add(1, 0, 1, "name", "/path"); err != nil {
					return fmt.Errorf("adding: %w", err)
				}
			}
		}}, snapshotRequest(), protocol.StatusLimitExceeded, false},
		{"overflow ignored", Handler{Handle: overflowIgnored}, snapshotRequest(), protocol.StatusLimitExceeded, false},
		{"more than SnapshotMaxItems", Handler{Handle: threeItems, SnapshotMaxItems: 2}, snapshotRequest(), protocol.StatusLimitExceeded, false},
		{"handler error", Handler{Handle: failing}, snapshotRequest(), protocol.StatusInternalError, true},
		{"bad request", Handler{Handle: threeItems}, []byte{2, 0, 0, 0}, protocol.StatusBadEnvelope, false},
		{"short request", Handler{Handle: threeItems}, []byte{1}, protocol.StatusBadEnvelope, false},
		{"no handler", Handler{}, snapshotRequest(), protocol.StatusUnsupported, false},
	} {
		_, err := answer(t, tc.h, tc.req, make([]byte, 1024))
		if err == nil {
			t.Errorf("%s: answered", tc.name)
			continue
		}
		var f *server.Failure
		if got := server.StatusOf(err); got != tc.status || !errors.As(err, &f) || f.Handler != tc.handler {
			t.Errorf("%s: %v (%v), want %v", tc.name, got, err, tc.status)
		}
	}
}

func TestSnapshotAnswerAllocatesNothing(t *testing.T) {
	fixed := func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
		b.SetGeneration(7)
		if err := b.Add(1, 0, 1, "docker-1", "/sys/fs/cgroup/docker-1"); err != nil {
			return err
		}
		return b.Add(2, 0, 1, "docker-2", "/sys/fs/cgroup/docker-2")
	}
	w := snapshotMethod(Handler{Handle: fixed}).NewWorker()
	req, out := snapshotRequest(), make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := w.Answer(req, out, true); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per answer", allocs)
	}
}
