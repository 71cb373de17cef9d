package server

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// transports are the client profile sets the tests run over.
var transports = map[string]protocol.Profile{
	"baseline": protocol.ProfileBaseline,
	"shm":      protocol.ProfileBaseline | protocol.ProfileSHMHybrid,
}

// moody answers value+1, fails for 13 and panics for 666.
func moody(v uint64) (uint64, error) {
	switch v {
	case 13:
		return 0, errors.New("unlucky number")
	case 666:
		panic("the handler panicked on purpose")
	}
	return v + 1, nil
}

func TestDispatchOutcomes(t *testing.T) {
	for name, p := range transports {
		t.Run(name, func(t *testing.T) { dispatchOutcomes(t, p) })
	}
}

func dispatchOutcomes(t *testing.T, profiles protocol.Profile) {
	dir := runDir(t)
	s := NewIncrement(dir, "moody", netipc.ServerConfig{}, moody)
	start(t, s)
	c := dial(t, dir, "moody", transport.ClientOptions{SupportedProfiles: profiles})

	if got := c.increment(41); got != 42 {
		t.Fatalf("increment(41) = %d", got)
	}
	// A request for another method: UNSUPPORTED, the session goes on.
	m := c.answer(c.send(protocol.MethodStringReverse, []byte("whatever")), protocol.StatusUnsupported)
	if len(m.Payload) != 0 || m.Header.ItemCount != 1 || m.Header.Flags != 0 {
		t.Fatalf("error response %+v with %d payload bytes", m.Header, len(m.Payload))
	}
	// A handler error: INTERNAL_ERROR, the session goes on.
	var req [8]byte
	protocol.EncodeIncrement(req[:], 13)
	c.answer(c.send(protocol.MethodIncrement, req[:]), protocol.StatusInternalError)
	// A handler panic: INTERNAL_ERROR, counted, the server keeps serving.
	protocol.EncodeIncrement(req[:], 666)
	c.answer(c.send(protocol.MethodIncrement, req[:]), protocol.StatusInternalError)
	if got := c.increment(1); got != 2 {
		t.Fatalf("after a panic, increment(1) = %d", got)
	}
	// A request that does not decode: BAD_ENVELOPE, the session ends.
	c.answer(c.send(protocol.MethodIncrement, req[:3]), protocol.StatusBadEnvelope)
	c.closed()

	eventually(t, "the session closed", func() bool { return s.Stats().Sessions == 0 })
	st := s.Stats()
	want := netipc.ResponseCounts{OK: 2, BadEnvelope: 1, Unsupported: 1, InternalError: 2}
	if st.Responses != want || st.Requests != 6 || st.FailedRequests != 4 ||
		st.HandlerErrors != 1 || st.HandlerPanics != 1 || st.SessionsOpened != 1 || st.PeakSessions != 1 {
		t.Fatalf("stats %+v", st)
	}
	wantReceived := uint64(6*protocol.HeaderLen + 8 + 8 + 8 + 8 + 8 + 3)
	if st.BytesReceived != wantReceived || st.BytesSent != 6*protocol.HeaderLen+2*8 {
		t.Fatalf("bytes received %d (want %d), sent %d", st.BytesReceived, wantReceived, st.BytesSent)
	}
	// A new session is served.
	if got := dial(t, dir, "moody", transport.ClientOptions{SupportedProfiles: profiles}).increment(7); got != 8 {
		t.Fatalf("increment(7) = %d", got)
	}
}

func TestNoHandlerAnswersUnsupported(t *testing.T) {
	dir := runDir(t)
	start(t, NewIncrement(dir, "none", netipc.ServerConfig{}, nil))
	c := dial(t, dir, "none", transport.ClientOptions{})
	var req [8]byte
	protocol.EncodeIncrement(req[:], 1)
	c.answer(c.send(protocol.MethodIncrement, req[:]), protocol.StatusUnsupported)
	c.answer(c.send(protocol.MethodIncrement, req[:]), protocol.StatusUnsupported)
}

func TestNotARequestIsAProtocolError(t *testing.T) {
	// A RESPONSE from a client cannot be sent through the transport's
	// client session (it sends requests only), so the check is on the
	// engine's classification.
	if got := wrongKind(protocol.KindResponse).Error(); got != "a RESPONSE message where a REQUEST belongs" {
		t.Fatal(got)
	}
}

func TestBatchesAndPipelining(t *testing.T) {
	dir := runDir(t)
	start(t, NewIncrement(dir, "inc", netipc.ServerConfig{}, moody))
	c := dial(t, dir, "inc", transport.ClientOptions{MaxRequestBatchItems: 64})

	var items [][]byte
	for i := range 64 {
		var v [8]byte
		protocol.EncodeIncrement(v[:], uint64(1000+i))
		items = append(items, v[:])
	}
	m := c.answer(c.sendBatch(protocol.MethodIncrement, items), protocol.StatusOK)
	if m.Header.Flags != protocol.FlagBatch || m.Header.ItemCount != 64 {
		t.Fatalf("batch response header %+v", m.Header)
	}
	view, err := protocol.NewBatchView(m.Payload, 64)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 64 {
		item, _ := view.Item(i)
		if v, err := protocol.DecodeIncrement(item); err != nil || v != uint64(1001+i) {
			t.Fatalf("item %d = %d, %v", i, v, err)
		}
	}
	// One failing item fails the whole batch (and the session goes on).
	protocol.EncodeIncrement(items[5], 13)
	m = c.answer(c.sendBatch(protocol.MethodIncrement, items), protocol.StatusInternalError)
	if m.Header.ItemCount != 1 || m.Header.Flags != 0 || len(m.Payload) != 0 {
		t.Fatalf("failed batch response %+v", m.Header)
	}

	// Pipelined requests are answered in order.
	var ids []uint64
	for i := range 8 {
		var v [8]byte
		protocol.EncodeIncrement(v[:], uint64(i))
		ids = append(ids, c.send(protocol.MethodIncrement, v[:]))
	}
	for i, id := range ids {
		m := c.answer(id, protocol.StatusOK)
		if v, _ := protocol.DecodeIncrement(m.Payload); v != uint64(i+1) {
			t.Fatalf("pipelined answer %d = %d", i, v)
		}
	}
}

func TestStringReverseBatch(t *testing.T) {
	dir := runDir(t)
	start(t, NewStringReverse(dir, "rev", netipc.ServerConfig{}, reverse))
	c := dial(t, dir, "rev", transport.ClientOptions{MaxRequestBatchItems: 3})
	texts := []string{"abc", "", "hello, world"}
	var items [][]byte
	for _, s := range texts {
		b := make([]byte, protocol.StringReverseLen(len(s)))
		protocol.EncodeStringReverse(b, []byte(s))
		items = append(items, b)
	}
	m := c.answer(c.sendBatch(protocol.MethodStringReverse, items), protocol.StatusOK)
	view, err := protocol.NewBatchView(m.Payload, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range texts {
		item, _ := view.Item(i)
		got, err := protocol.DecodeStringReverse(item)
		if err != nil || string(got) != reversed(s) {
			t.Fatalf("item %d = %q, %v", i, got, err)
		}
	}
}

func reverse(text, out []byte) ([]byte, error) {
	for i := len(text) - 1; i >= 0; i-- {
		out = append(out, text[i])
	}
	return out, nil
}

func reversed(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// reverseText calls STRING_REVERSE and returns the status and the answer.
func (c *client) reverseText(text []byte) (protocol.Status, []byte) {
	c.t.Helper()
	req := make([]byte, protocol.StringReverseLen(len(text)))
	protocol.EncodeStringReverse(req, text)
	id := c.send(protocol.MethodStringReverse, req)
	m, err := c.receive()
	if err != nil || m.Header.MessageID != id {
		c.t.Fatalf("Receive: %+v, %v", m.Header, err)
	}
	if m.Header.Status != protocol.StatusOK {
		return m.Header.Status, nil
	}
	got, err := protocol.DecodeStringReverse(m.Payload)
	if err != nil {
		c.t.Fatal(err)
	}
	return protocol.StatusOK, got
}

func TestResponseSizeGrows(t *testing.T) {
	dir := runDir(t)
	s := NewStringReverse(dir, "rev", netipc.ServerConfig{}, reverse)
	start(t, s)
	opts := transport.ClientOptions{ResponseLimit: netipc.PayloadCeiling}
	c := dial(t, dir, "rev", opts)
	if got := c.sess.Params().MaxResponsePayloadBytes; got != netipc.DefaultServerResponseStart {
		t.Fatalf("first session's response size %d", got)
	}
	text := bytes.Repeat([]byte("0123456789"), 10_000) // 100,000 bytes
	// The answer does not fit 64 KiB: LIMIT_EXCEEDED, the session ends.
	if status, _ := c.reverseText(text); status != protocol.StatusLimitExceeded {
		t.Fatalf("status %v", status)
	}
	c.closed()
	// The next session is offered a size that fits (a power of two).
	c = dial(t, dir, "rev", opts)
	if got := c.sess.Params().MaxResponsePayloadBytes; got != 128<<10 {
		t.Fatalf("grown response size %d", got)
	}
	status, got := c.reverseText(text)
	if status != protocol.StatusOK || string(got) != reversed(string(text)) {
		t.Fatalf("status %v, %d bytes", status, len(got))
	}
	// Up to the ceiling, not beyond.
	huge := bytes.Repeat([]byte("x"), 1<<20-64)
	c = dial(t, dir, "rev", opts)
	if status, _ := c.reverseText(huge); status != protocol.StatusLimitExceeded {
		t.Fatalf("status %v", status)
	}
	c = dial(t, dir, "rev", opts)
	if got := c.sess.Params().MaxResponsePayloadBytes; got != netipc.PayloadCeiling {
		t.Fatalf("response size %d, want the ceiling", got)
	}
	if st := s.Stats(); st.Responses.LimitExceeded != 2 || st.Responses.OK != 1 {
		t.Fatalf("stats %+v", st.Responses)
	}
}

func TestFixedResponseSizeDoesNotGrow(t *testing.T) {
	dir := runDir(t)
	start(t, NewStringReverse(dir, "rev", netipc.ServerConfig{MaxResponsePayloadBytes: 4096}, reverse))
	for range 2 {
		c := dial(t, dir, "rev", transport.ClientOptions{})
		if got := c.sess.Params().MaxResponsePayloadBytes; got != 4096 {
			t.Fatalf("response size %d", got)
		}
		if status, _ := c.reverseText(make([]byte, 5000)); status != protocol.StatusLimitExceeded {
			t.Fatalf("status %v", status)
		}
	}
}

func TestAtCapacity(t *testing.T) {
	s, dir := plusOne(t, netipc.ServerConfig{MaxSessions: 2})
	a := dial(t, dir, "inc", transport.ClientOptions{})
	b := dial(t, dir, "inc", transport.ClientOptions{})
	a.increment(1)
	b.increment(1)
	if _, err := tryDial(t, dir, "inc", transport.ClientOptions{}); !errors.Is(err, netipc.ErrBusy) {
		t.Fatalf("third client: %v, want ErrBusy", err)
	}
	eventually(t, "the refusal counted", func() bool { return s.Stats().RefusedAtCapacity == 1 })
	if st := s.Stats(); st.Sessions != 2 || st.SessionLimit != 2 || st.SessionsOpened != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Once one leaves, the third is served.
	a.sess.Close()
	eventually(t, "a session closed", func() bool { return s.Stats().Sessions == 1 })
	if got := dial(t, dir, "inc", transport.ClientOptions{}).increment(5); got != 6 {
		t.Fatalf("increment = %d", got)
	}
	b.increment(2)
}

func TestWorkerBound(t *testing.T) {
	const workers, clients = 2, 6
	var running, most atomic.Int32
	var reached sync.WaitGroup
	reached.Add(workers)
	dir := runDir(t)
	s := NewIncrement(dir, "slow", netipc.ServerConfig{Workers: workers}, func(v uint64) (uint64, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		return v + 1, nil
	})
	start(t, s)
	var wg sync.WaitGroup
	for i := range clients {
		c := dial(t, dir, "slow", transport.ClientOptions{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				var req [8]byte
				protocol.EncodeIncrement(req[:], uint64(i*100+j))
				id := c.send(protocol.MethodIncrement, req[:])
				if m, err := c.receive(); err != nil || m.Header.MessageID != id || m.Header.Status != protocol.StatusOK {
					t.Errorf("client %d: %+v %v", i, m.Header, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := most.Load(); got != workers {
		t.Fatalf("at most %d handlers ran at once, want %d", got, workers)
	}
	if got := s.Stats().Requests; got != clients*5 {
		t.Fatalf("%d requests", got)
	}
}

func TestPromptStopWithIdleSessions(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := runDir(t)
	s := NewIncrement(dir, "idle", netipc.ServerConfig{}, func(v uint64) (uint64, error) { return v + 1, nil })
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	var clients []*client
	for i := range 100 {
		// Every other one over shared memory.
		c := dial(t, dir, "idle", transport.ClientOptions{SupportedProfiles: transports[[]string{"baseline", "shm"}[i%2]]})
		clients = append(clients, c)
	}
	clients[0].increment(1)
	eventually(t, "100 sessions", func() bool { return s.Stats().Sessions == 100 })
	began := time.Now()
	s.Stop()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(began); took > StopGrace {
		t.Errorf("Stop took %v with 100 idle sessions", took)
	}
	if st := s.Stats(); st.Sessions != 0 || st.Handshaking != 0 {
		t.Fatalf("after Stop: %+v", st)
	}
	if _, err := tryDial(t, dir, "idle", transport.ClientOptions{}); !errors.Is(err, netipc.ErrNotFound) {
		t.Fatalf("connecting after Stop: %v", err)
	}
	for _, c := range clients {
		c.closed()
		c.sess.Close()
	}
	goroutinesSettle(t, before)
	// Stop and Run again do nothing.
	s.Stop()
	if err := s.Run(); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
}

func TestStopWaitsForRunningHandler(t *testing.T) {
	dir := runDir(t)
	entered := make(chan struct{})
	s := NewIncrement(dir, "slow", netipc.ServerConfig{}, func(v uint64) (uint64, error) {
		close(entered)
		time.Sleep(100 * time.Millisecond)
		return v + 1, nil
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	c := dial(t, dir, "slow", transport.ClientOptions{})
	var req [8]byte
	protocol.EncodeIncrement(req[:], 1)
	id := c.send(protocol.MethodIncrement, req[:])
	<-entered
	s.Stop()
	<-ran
	// The handler's answer went out before the session closed.
	m := c.answer(id, protocol.StatusOK)
	if v, _ := protocol.DecodeIncrement(m.Payload); v != 2 {
		t.Fatalf("answer %d", v)
	}
	c.closed()
}

func TestStopBeforeRun(t *testing.T) {
	dir := runDir(t)
	s := NewIncrement(dir, "never", netipc.ServerConfig{}, moody)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := s.Run(); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	if err := s.Listen(); !errors.Is(err, netipc.ErrClosed) {
		t.Fatalf("Listen after Stop: %v", err)
	}
	if _, err := tryDial(t, dir, "never", transport.ClientOptions{}); !errors.Is(err, netipc.ErrNotFound) {
		t.Fatalf("connecting after Stop: %v", err)
	}
	// Stopping a server that never bound does nothing either.
	NewIncrement(dir, "never", netipc.ServerConfig{}, moody).Stop()
}

func TestListenErrors(t *testing.T) {
	s, dir := plusOne(t, netipc.ServerConfig{})
	if s.Endpoint() == "" {
		t.Fatal("no endpoint")
	}
	other := NewIncrement(dir, "inc", netipc.ServerConfig{}, moody)
	if err := other.Run(); !errors.Is(err, netipc.ErrAddressInUse) {
		t.Fatalf("second server: %v", err)
	}
	if err := s.Run(); !errors.Is(err, netipc.ErrInvalidArgument) {
		t.Fatalf("Run twice: %v", err)
	}
	missing := NewIncrement(dir+"/missing", "inc", netipc.ServerConfig{}, moody)
	if err := missing.Listen(); !errors.Is(err, netipc.ErrNotFound) {
		t.Fatalf("missing run dir: %v", err)
	}
}

func TestSendTimeoutDoesNotBlockOthers(t *testing.T) {
	dir := runDir(t)
	// One worker: a client that does not read must not hold it.
	s := NewStringReverse(dir, "rev", netipc.ServerConfig{Workers: 1, SendTimeout: 300 * time.Millisecond}, reverse)
	start(t, s)
	stuck := dial(t, dir, "rev", transport.ClientOptions{})
	text := make([]byte, 60_000)
	req := make([]byte, protocol.StringReverseLen(len(text)))
	protocol.EncodeStringReverse(req, text)
	// Requests the client never reads the answers of, until the socket
	// is full and the server's send waits.
	for range 64 {
		stuck.id++
		h := protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodStringReverse, ItemCount: 1, MessageID: stuck.id}
		if err := stuck.sess.Send(h, req, time.Now().Add(time.Second)); err != nil {
			break
		}
	}
	// Meanwhile another client is served.
	other := dial(t, dir, "rev", transport.ClientOptions{})
	for range 10 {
		if status, got := other.reverseText([]byte("abc")); status != protocol.StatusOK || string(got) != "cba" {
			t.Fatalf("other client: %v %q", status, got)
		}
	}
	eventually(t, "the send timeout", func() bool { return s.Stats().SendTimeouts == 1 })
	eventually(t, "the stuck session closed", func() bool { return s.Stats().Sessions == 1 })
	if status, _ := other.reverseText([]byte("x")); status != protocol.StatusOK {
		t.Fatal(status)
	}
}

func TestManySessions(t *testing.T) {
	const n = 200
	s, dir := plusOne(t, netipc.ServerConfig{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tryDial(t, dir, "inc", transport.ClientOptions{SupportedProfiles: transports[[]string{"baseline", "shm"}[i%2]]})
			if err != nil {
				errs <- err
				return
			}
			for j := range 3 {
				v := uint64(i*10 + j)
				var req [8]byte
				protocol.EncodeIncrement(req[:], v)
				c.id++
				h := protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodIncrement, ItemCount: 1, MessageID: c.id}
				if err := c.sess.Send(h, req[:], time.Now().Add(testDeadline)); err != nil {
					errs <- err
					return
				}
				m, err := c.receive()
				if err != nil {
					errs <- err
					return
				}
				if got, _ := protocol.DecodeIncrement(m.Payload); got != v+1 {
					errs <- fmt.Errorf("client %d: %d+1 = %d", i, v, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.Stats()
	if st.Requests != 3*n || st.SessionsOpened != n || st.PeakSessions > n {
		t.Fatalf("stats %+v", st)
	}
}

func TestAnsweringAllocatesNothing(t *testing.T) {
	dir := runDir(t)
	s := NewStringReverse(dir, "rev", netipc.ServerConfig{}, reverse)
	start(t, s)

	// The engine's part: answering a request (single and batch).
	w := <-s.workers
	defer func() { s.workers <- w }()
	req := make([]byte, protocol.StringReverseLen(100))
	protocol.EncodeStringReverse(req, bytes.Repeat([]byte("ab"), 50))
	single := protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodStringReverse, ItemCount: 1, MessageID: 1}
	batchBuf := make([]byte, 4096)
	bb, _ := protocol.NewBatchBuilder(batchBuf, 4)
	for range 4 {
		bb.Add(req)
	}
	n, _ := bb.Finish()
	batch := protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodStringReverse, Flags: protocol.FlagBatch, ItemCount: 4, MessageID: 2}
	for _, tc := range []struct {
		name    string
		h       protocol.Header
		payload []byte
	}{{"single", single, req}, {"batch", batch, batchBuf[:n]}} {
		allocs := testing.AllocsPerRun(100, func() {
			out := s.buffers.get(64 << 10)
			if r := s.answer(w, &tc.h, tc.payload, out); r.status != protocol.StatusOK {
				t.Fatalf("%s: %v", tc.name, r.status)
			}
			w.counts.answered(protocol.StatusOK, 100, 100)
			s.buffers.put(out)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per answer", tc.name, allocs)
		}
	}
}

func TestRoundTripAllocatesNothing(t *testing.T) {
	_, dir := plusOne(t, netipc.ServerConfig{})
	for name, p := range transports {
		t.Run(name, func(t *testing.T) { roundTripAllocatesNothing(t, dir, p) })
	}
}

func roundTripAllocatesNothing(t *testing.T, dir string, profiles protocol.Profile) {
	c := dial(t, dir, "inc", transport.ClientOptions{SupportedProfiles: profiles})
	if profiles != protocol.ProfileBaseline && !c.sess.Params().IsSHM() {
		t.Fatalf("profile %v", c.sess.Params().Profile)
	}
	var req [8]byte
	h := protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodIncrement, ItemCount: 1}
	call := func() {
		h.MessageID++
		protocol.EncodeIncrement(req[:], h.MessageID)
		if err := c.sess.Send(h, req[:], time.Time{}); err != nil {
			t.Fatal(err)
		}
		if m, err := c.sess.Receive(time.Time{}); err != nil || m.Header.Status != protocol.StatusOK {
			t.Fatalf("%+v %v", m.Header, err)
		}
	}
	for range 10 {
		call()
	}
	// The whole process: the client's call and the server's answer.
	if allocs := testing.AllocsPerRun(200, call); allocs != 0 {
		t.Errorf("%v allocations per round trip", allocs)
	}
}

func TestSilentConnections(t *testing.T) {
	defer func(d time.Duration) { handshakeTimeout = d }(handshakeTimeout)
	handshakeTimeout = 2 * time.Second
	s, dir := plusOne(t, netipc.ServerConfig{MaxSessions: 2})
	silent := func() *sys.Conn {
		c, err := sys.Connect(dir, s.Endpoint(), time.Now().Add(testDeadline))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// A connection that does not send its HELLO holds no session: two
	// clients are served meanwhile.
	conns := []*sys.Conn{silent()}
	eventually(t, "a connection handshaking", func() bool { return s.Stats().Handshaking == 1 })
	a := dial(t, dir, "inc", transport.ClientOptions{})
	b := dial(t, dir, "inc", transport.ClientOptions{})
	if a.increment(1) != 2 || b.increment(2) != 3 {
		t.Fatal("wrong answers")
	}
	a.sess.Close()
	b.sess.Close()
	// As many connections as the session limit wait for their HELLO; one
	// more is closed at once.
	conns = append(conns, silent(), silent())
	eventually(t, "one connection dropped", func() bool { return s.Stats().DroppedConnections == 1 })
	if st := s.Stats(); st.Handshaking != 2 {
		t.Fatalf("stats %+v", st)
	}
	// The two silent ones are closed after the handshake timeout.
	eventually(t, "the handshake timeouts", func() bool { return s.Stats().HandshakeTimeouts == 2 })
	for i, c := range conns {
		if _, err := c.RecvPacket(make([]byte, 64), time.Now().Add(testDeadline)); err == nil {
			t.Errorf("connection %d got a packet", i)
		}
	}
	if st := s.Stats(); st.Handshaking != 0 || st.HandshakeFailures != 2 || st.Sessions != 0 || st.RefusedAtCapacity != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := dial(t, dir, "inc", transport.ClientOptions{}).increment(1); got != 2 {
		t.Fatal(got)
	}
}

func TestStopDoesNotWaitForAStuckHandler(t *testing.T) {
	before := runtime.NumGoroutine()
	rec := &recorder{}
	dir := runDir(t)
	entered, release := make(chan struct{}), make(chan struct{})
	s := NewIncrement(dir, "stuck", netipc.ServerConfig{Logger: slog.New(rec)}, func(v uint64) (uint64, error) {
		close(entered)
		<-release
		return v + 1, nil
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	c := dial(t, dir, "stuck", transport.ClientOptions{})
	var req [8]byte
	protocol.EncodeIncrement(req[:], 1)
	c.send(protocol.MethodIncrement, req[:])
	<-entered
	began := time.Now()
	s.Stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < StopGrace || took > StopGrace+time.Second {
		t.Errorf("Stop took %v with a stuck handler (grace %v)", took, StopGrace)
	}
	if got, ok := rec.find("stop grace exceeded"); !ok || got.attrs["handlers"] != "1" {
		t.Errorf("stop grace exceeded: %v %v", ok, got.attrs)
	}
	// The session is closed once the handler returns.
	close(release)
	eventually(t, "the session closed", func() bool { return s.Stats().Sessions == 0 })
	c.sess.Close()
	goroutinesSettle(t, before)
}
