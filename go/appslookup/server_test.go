package appslookup

import (
	"context"
	"errors"
	"testing"

	"github.com/netdata/netipc/go/internal/service/server"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
	"github.com/netdata/netipc/go/protocol"
)

func request(t *testing.T, pids ...uint32) []byte {
	t.Helper()
	req := make([]byte, protocol.AppsLookupRequestLen(len(pids)))
	if _, err := protocol.EncodeAppsLookupRequest(req, pids); err != nil {
		t.Fatal(err)
	}
	return req
}

// inRoot answers every PID known, in the host's root cgroup.
func inRoot(req *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) error {
	b.SetGeneration(3)
	for _, pid := range req.PIDs() {
		e := protocol.AppsLookupEntry{Comm: "init", PPID: 1, UID: 0, CgroupStatus: protocol.CgroupHostRoot}
		if err := b.Add(pid, &e); err != nil {
			return err
		}
	}
	return nil
}

func TestLookupAnswers(t *testing.T) {
	w := lookupMethod(Handler{Handle: inRoot}).NewWorker()
	out := make([]byte, 4096)
	n, err := w.Answer(request(t, 1, 42), out, true)
	if err != nil {
		t.Fatal(err)
	}
	v, err := protocol.DecodeAppsLookupResponse(out[:n])
	if err != nil || v.Len() != 2 || v.Generation() != 3 {
		t.Fatalf("%d items, generation %d, %v", v.Len(), v.Generation(), err)
	}
	item, err := v.Item(1)
	if err != nil || item.PID != 42 || item.Status != protocol.PIDKnown || string(item.Comm) != "init" {
		t.Fatalf("item 1: %+v %v", item, err)
	}
}

func TestLookupFailures(t *testing.T) {
	failing := func(*protocol.AppsLookupRequestView, *protocol.AppsLookupBuilder) error {
		return errors.New("no process table")
	}
	panicking := func(*protocol.AppsLookupRequestView, *protocol.AppsLookupBuilder) error {
		panic("a panic reaches the engine, which contains it")
	}
	for _, tc := range []struct {
		name   string
		h      Handler
		req    []byte
		status protocol.Status
	}{
		{"handler error", Handler{Handle: failing}, request(t, 1), protocol.StatusInternalError},
		{"bad request", Handler{Handle: inRoot}, []byte{1, 0}, protocol.StatusBadEnvelope},
		{"no handler", Handler{}, request(t, 1), protocol.StatusUnsupported},
	} {
		_, err := lookupMethod(tc.h).NewWorker().Answer(tc.req, make([]byte, 4096), true)
		if err == nil {
			t.Errorf("%s: answered", tc.name)
		} else if got := server.StatusOf(err); got != tc.status {
			t.Errorf("%s: %v (%v), want %v", tc.name, got, err, tc.status)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("the panic did not propagate to the engine")
		}
	}()
	lookupMethod(Handler{Handle: panicking}).NewWorker().Answer(request(t, 1), make([]byte, 4096), true)
}

func TestLookupAnswerAllocatesNothing(t *testing.T) {
	w := lookupMethod(Handler{Handle: inRoot}).NewWorker()
	req, out := request(t, 1, 2, 3, 4), make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := w.Answer(req, out, true); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per answer", allocs)
	}
}

// A Go client against the Go server, over every transport the server
// offers by default.
func TestGoClientLookups(t *testing.T) {
	dir := t.TempDir()
	s := NewServer(dir, "apps", ServerConfig{}, Handler{Handle: inRoot})
	servertest.Serve(t, s)
	c := NewClient(dir, "apps", ClientConfig{})
	defer c.Close()
	pids := make([]uint32, 5000)
	for i := range pids {
		pids[i] = uint32(1000 + i)
	}
	v, err := c.Call(context.Background(), pids)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != len(pids) || v.Generation() != 3 {
		t.Fatalf("%d items, generation %d", v.Len(), v.Generation())
	}
	for i, item := range v.Items() {
		if item.PID != pids[i] || item.Status != protocol.PIDKnown || string(item.Comm) != "init" {
			t.Fatalf("item %d: %+v", i, item)
		}
	}
	if st := s.Stats(); st.Requests == 0 || st.FailedRequests != st.Responses.LimitExceeded {
		t.Fatalf("stats %+v", st)
	}
}
