package cgroupslookup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/service/server"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
	"github.com/netdata/netipc/go/protocol"
)

func request(t *testing.T, paths ...string) []byte {
	t.Helper()
	keys := make([][]byte, len(paths))
	for i, p := range paths {
		keys[i] = []byte(p)
	}
	n, ok := protocol.CgroupsLookupRequestLen(keys)
	if !ok {
		t.Fatal("request too large")
	}
	req := make([]byte, n)
	if _, err := protocol.EncodeCgroupsLookupRequest(req, keys); err != nil {
		t.Fatal(err)
	}
	return req
}

// known answers every path KNOWN, named after its last element.
func known(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
	b.SetGeneration(9)
	for i := range req.Len() {
		p, _ := req.Path(i)
		name := string(p[strings.LastIndexByte(string(p), '/')+1:])
		if err := b.AddRequestItem(i, &protocol.CgroupsLookupEntry{Name: name}); err != nil {
			return err
		}
	}
	return nil
}

func TestLookupAnswers(t *testing.T) {
	w := lookupMethod(Handler{Handle: known}).NewWorker()
	out := make([]byte, 4096)
	n, err := w.Answer(request(t, "/a/x", "/b/y"), out, true)
	if err != nil {
		t.Fatal(err)
	}
	v, err := protocol.DecodeCgroupsLookupResponse(out[:n])
	if err != nil || v.Len() != 2 || v.Generation() != 9 {
		t.Fatalf("%d items, generation %d, %v", v.Len(), v.Generation(), err)
	}
	item, err := v.Item(1)
	if err != nil || string(item.Path) != "/b/y" || string(item.Name) != "y" || item.Status != protocol.CgroupsLookupKnown {
		t.Fatalf("item 1: %+v %v", item, err)
	}
}

func TestLookupCutShort(t *testing.T) {
	w := lookupMethod(Handler{Handle: known}).NewWorker()
	// Three paths whose answers (635 bytes) are larger than their
	// placeholders (334 bytes): the first fits, the rest do not.
	long := "/a/" + strings.Repeat("n", 300)
	req := request(t, long+"1", long+"2", long+"3")
	out := make([]byte, 1400)
	// While the server's response size can grow, an answer the budget
	// cuts short is LIMIT_EXCEEDED (the client reconnects with more).
	_, err := w.Answer(req, out, true)
	if got := server.StatusOf(err); got != protocol.StatusLimitExceeded {
		t.Fatalf("growable: %v", got)
	}
	// At the ceiling the answer is sent with a PAYLOAD_EXCEEDED suffix.
	n, err := w.Answer(req, out, false)
	if err != nil {
		t.Fatal(err)
	}
	v, err := protocol.DecodeCgroupsLookupResponse(out[:n])
	if err != nil || v.Len() != 3 {
		t.Fatalf("%d items, %v", v.Len(), err)
	}
	for i, want := range []protocol.CgroupsLookupStatus{protocol.CgroupsLookupKnown,
		protocol.CgroupsLookupPayloadExceeded, protocol.CgroupsLookupPayloadExceeded} {
		if item, err := v.Item(i); err != nil || item.Status != want {
			t.Fatalf("item %d: %v %v, want %v", i, item.Status, err, want)
		}
	}
}

func TestLookupFailures(t *testing.T) {
	missing := func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error {
		return b.AddRequestItem(0, &protocol.CgroupsLookupEntry{Name: "only one"})
	}
	failing := func(*protocol.CgroupsLookupRequestView, *protocol.CgroupsLookupBuilder) error {
		return errors.New("the table is not loaded")
	}
	for _, tc := range []struct {
		name   string
		h      Handler
		req    []byte
		status protocol.Status
	}{
		{"an item missing", Handler{Handle: missing}, request(t, "/a", "/b"), protocol.StatusBadEnvelope},
		{"handler error", Handler{Handle: failing}, request(t, "/a"), protocol.StatusInternalError},
		{"bad request", Handler{Handle: known}, []byte{1, 2, 3}, protocol.StatusBadEnvelope},
		{"no handler", Handler{}, request(t, "/a"), protocol.StatusUnsupported},
	} {
		_, err := lookupMethod(tc.h).NewWorker().Answer(tc.req, make([]byte, 4096), true)
		if err == nil {
			t.Errorf("%s: answered", tc.name)
		} else if got := server.StatusOf(err); got != tc.status {
			t.Errorf("%s: %v (%v), want %v", tc.name, got, err, tc.status)
		}
	}
}

func TestLookupAnswerAllocatesNothing(t *testing.T) {
	w := lookupMethod(Handler{Handle: known}).NewWorker()
	req, out := request(t, "/a/x", "/b/y", "/c/z"), make([]byte, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := w.Answer(req, out, true); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per answer", allocs)
	}
}

// A Go client against the Go server: a lookup whose answer outgrows the
// server's first response size is answered whole after the server grew
// it, and a handler error reaches the client as a rejection.
func TestGoClientLookups(t *testing.T) {
	dir := t.TempDir()
	s := NewServer(dir, "cgl", ServerConfig{}, Handler{Handle: known})
	servertest.Serve(t, s)
	c := NewClient(dir, "cgl", ClientConfig{})
	defer c.Close()
	var paths [][]byte
	for i := range 2000 {
		paths = append(paths, []byte(fmt.Sprintf("/sys/fs/cgroup/kubepods/%064x", i)))
	}
	v, err := c.Call(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != len(paths) || v.Generation() != 9 {
		t.Fatalf("%d items, generation %d", v.Len(), v.Generation())
	}
	for i, item := range v.Items() {
		if item.Status != protocol.CgroupsLookupKnown || string(item.Path) != string(paths[i]) {
			t.Fatalf("item %d: %v %q", i, item.Status, item.Path)
		}
	}
	if st := s.Stats(); st.Responses.LimitExceeded == 0 {
		t.Fatalf("the response size did not grow: %+v", st.Responses)
	}

	failing := NewServer(dir, "failing", ServerConfig{}, Handler{
		Handle: func(*protocol.CgroupsLookupRequestView, *protocol.CgroupsLookupBuilder) error {
			return errors.New("the table is not loaded")
		}})
	servertest.Serve(t, failing)
	fc := NewClient(dir, "failing", ClientConfig{})
	defer fc.Close()
	_, err = fc.Call(context.Background(), paths[:1])
	var e *netipc.Error
	if !errors.Is(err, netipc.ErrRejected) || !errors.As(err, &e) || e.Status != protocol.StatusInternalError {
		t.Fatalf("call to a failing handler: %v", err)
	}
	if st := failing.Stats(); st.HandlerErrors != 1 || st.Sessions != 1 {
		t.Fatalf("stats %+v (one handler error, the session goes on)", st)
	}
}
