package server

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

// testDeadline bounds every blocking step of a test.
const testDeadline = 10 * time.Second

// runDir returns a fresh run directory (mode 0700).
func runDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// start binds s and runs it on a goroutine until the test ends, and
// waits until Run runs.
func start(t testing.TB, s *Server) {
	t.Helper()
	servertest.Serve(t, s)
	eventually(t, "Run running", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.state == running
	})
}

// plusOne is the reference INCREMENT server.
func plusOne(t testing.TB, cfg netipc.ServerConfig) (*Server, string) {
	t.Helper()
	dir := runDir(t)
	s := NewIncrement(dir, "inc", cfg, func(v uint64) (uint64, error) { return v + 1, nil })
	start(t, s)
	return s, dir
}

// client is a raw L1 client of the tests.
type client struct {
	t    testing.TB
	sess *transport.ClientSession
	buf  []byte
	id   uint64
}

func dial(t testing.TB, dir, service string, opts transport.ClientOptions) *client {
	t.Helper()
	c, err := tryDial(t, dir, service, opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

func tryDial(t testing.TB, dir, service string, opts transport.ClientOptions) (*client, error) {
	if opts.SupportedProfiles == 0 {
		opts.SupportedProfiles = protocol.ProfileBaseline
	}
	if opts.MaxRequestPayloadBytes == 0 {
		opts.MaxRequestPayloadBytes = 1 << 20
	}
	sess, err := transport.Connect(dir, service, opts, time.Now().Add(testDeadline))
	if err != nil {
		return nil, err
	}
	c := &client{t: t, sess: sess, buf: make([]byte, 1<<20)}
	t.Cleanup(func() { _ = sess.Close() })
	return c, nil
}

// send sends one request of method code; it returns its message id.
func (c *client) send(code uint16, payload []byte) uint64 {
	c.t.Helper()
	c.id++
	h := protocol.Header{Kind: protocol.KindRequest, Code: code, ItemCount: 1, MessageID: c.id}
	if err := c.sess.Send(h, payload, time.Now().Add(testDeadline)); err != nil {
		c.t.Fatalf("Send: %v", err)
	}
	return c.id
}

// sendBatch sends a batch request of items.
func (c *client) sendBatch(code uint16, items [][]byte) uint64 {
	c.t.Helper()
	b, err := protocol.NewBatchBuilder(c.buf, uint32(len(items)))
	if err != nil {
		c.t.Fatal(err)
	}
	for _, item := range items {
		if err := b.Add(item); err != nil {
			c.t.Fatal(err)
		}
	}
	n, err := b.Finish()
	if err != nil {
		c.t.Fatal(err)
	}
	c.id++
	h := protocol.Header{Kind: protocol.KindRequest, Code: code, Flags: protocol.FlagBatch,
		ItemCount: uint32(len(items)), MessageID: c.id}
	if err := c.sess.Send(h, c.buf[:n], time.Now().Add(testDeadline)); err != nil {
		c.t.Fatalf("Send: %v", err)
	}
	return c.id
}

func (c *client) receive() (transport.Message, error) {
	return c.sess.Receive(time.Now().Add(testDeadline))
}

// answer receives the response to request id and checks its status.
func (c *client) answer(id uint64, status protocol.Status) transport.Message {
	c.t.Helper()
	m, err := c.receive()
	if err != nil {
		c.t.Fatalf("Receive: %v", err)
	}
	if m.Header.MessageID != id || m.Header.Status != status || m.Header.Kind != protocol.KindResponse {
		c.t.Fatalf("response %+v, want id %d status %v", m.Header, id, status)
	}
	return m
}

// increment calls INCREMENT with v and returns the answer.
func (c *client) increment(v uint64) uint64 {
	c.t.Helper()
	var req [8]byte
	if _, err := protocol.EncodeIncrement(req[:], v); err != nil {
		c.t.Fatal(err)
	}
	m := c.answer(c.send(protocol.MethodIncrement, req[:]), protocol.StatusOK)
	got, err := protocol.DecodeIncrement(m.Payload)
	if err != nil {
		c.t.Fatalf("DecodeIncrement: %v", err)
	}
	return got
}

// closed checks the server closed the session.
func (c *client) closed() {
	c.t.Helper()
	if m, err := c.receive(); !errors.Is(err, netipc.ErrDisconnected) {
		c.t.Fatalf("Receive after the session should have closed: %+v, %v", m.Header, err)
	}
}

// eventually waits for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// goroutinesSettle waits for the goroutine count to drop to at most n.
func goroutinesSettle(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
