//go:build linux || windows

package transport

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/tempdir"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// Tests of the sessions on the baseline transport (Linux: a SEQPACKET
// socket; Windows: a named pipe). Every test has its own run directory;
// nothing runs in parallel (some tests change the package's test hooks).
// What differs per OS (thisPeer, openHandles, the endpoint's form) is in
// session_<os>_test.go.

const testToken = 0xfeedfacecafebeef

func testDir(t *testing.T) string {
	t.Helper()
	return tempdir.New(t)
}

// baselineOnly runs a test with the SHM hooks unset, so that it exercises
// the socket plane whatever plane the build provides.
func baselineOnly(t *testing.T) {
	t.Helper()
	p, e, c, pr, a := shmProfiles, shmExtensions, shmCleanup, shmProvision, shmAttach
	shmProfiles, shmExtensions, shmCleanup, shmProvision, shmAttach = 0, 0, nil, nil, nil
	t.Cleanup(func() { shmProfiles, shmExtensions, shmCleanup, shmProvision, shmAttach = p, e, c, pr, a })
}

// withPacketSize makes both sides propose packetSize.
func withPacketSize(t *testing.T, packetSize uint32) {
	t.Helper()
	old := testPacketSize
	testPacketSize = packetSize
	t.Cleanup(func() { testPacketSize = old })
}

func errKind(err error) netipc.Kind { return netipcKind(err) }

func wantKind(t *testing.T, what string, err error, kind netipc.Kind, words ...string) {
	t.Helper()
	if errKind(err) != kind {
		t.Fatalf("%s: %v (kind %v), want %v", what, err, errKind(err), kind)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%s: %q does not mention %q", what, err, w)
		}
	}
}

var defaultOffer = ServerOffer{
	MaxRequestPayloadBytes:  1 << 20,
	MaxResponsePayloadBytes: 1 << 20,
	AuthToken:               testToken,
}

var defaultClient = ClientOptions{
	MaxRequestPayloadBytes:  1 << 20,
	MaxRequestBatchItems:    64,
	MaxResponsePayloadBytes: 1 << 20,
	AuthToken:               testToken,
}

// listenT listens in dir and closes the listener at the end of the test.
func listenT(t *testing.T, dir string, opts ServerOptions) *Listener {
	t.Helper()
	l, err := Listen(dir, "svc", opts)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pair connects a client to a new listener in a new run directory and
// returns both handshaken sessions (closed at the end of the test).
func pair(t *testing.T, copts ClientOptions, offer ServerOffer) (*ClientSession, *ServerSession) {
	t.Helper()
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	return pairOn(t, l, dir, copts, offer)
}

func pairOn(t *testing.T, l *Listener, dir string, copts ClientOptions, offer ServerOffer) (*ClientSession, *ServerSession) {
	t.Helper()
	type result struct {
		s   *ServerSession
		err error
	}
	got := make(chan result, 1)
	go func() {
		in, err := l.Accept()
		if err != nil {
			got <- result{nil, err}
			return
		}
		s, err := in.Handshake(7, offer)
		got <- result{s, err}
	}()
	c, err := Connect(dir, "svc", copts, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("Handshake: %v", r.err)
	}
	t.Cleanup(func() { c.Close(); r.s.Close() })
	return c, r.s
}

// responseTo is the OK response header of a request.
func responseTo(h protocol.Header) protocol.Header {
	r := protocol.Header{Kind: protocol.KindResponse, Code: h.Code, MessageID: h.MessageID, ItemCount: 1}
	if h.IsBatch() {
		r.Flags, r.ItemCount = protocol.FlagBatch, h.ItemCount
	}
	return r
}

// echo answers every request of s with its own payload until an error,
// which it sends on done.
func echo(s *ServerSession) <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			m, err := s.Receive(time.Time{})
			if err == nil {
				err = s.Send(responseTo(m.Header), m.Payload)
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

func reqHdr(id uint64) protocol.Header {
	return protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodIncrement, MessageID: id, ItemCount: 1}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func TestHandshakeNegotiatesEveryField(t *testing.T) {
	baselineOnly(t)
	withPacketSize(t, 4096)
	copts := ClientOptions{
		SupportedProfiles:       protocol.ProfileBaseline | protocol.ProfileSHMHybrid,
		PreferredProfiles:       protocol.ProfileSHMHybrid,
		MaxRequestPayloadBytes:  3000,
		MaxRequestBatchItems:    9,
		MaxResponsePayloadBytes: 100, // a hint the server ignores
		AuthToken:               testToken,
	}
	offer := ServerOffer{
		SupportedProfiles:       protocol.ProfileBaseline | protocol.ProfileSHMHybrid,
		PreferredProfiles:       protocol.ProfileSHMHybrid,
		MaxRequestPayloadBytes:  5000,
		MaxResponsePayloadBytes: 70000,
		AuthToken:               testToken,
	}
	c, s := pair(t, copts, offer)
	want := SessionParams{
		Profile:                 protocol.ProfileBaseline, // no SHM plane: baseline only
		MaxRequestPayloadBytes:  3000,
		MaxRequestBatchItems:    9,
		MaxResponsePayloadBytes: 70000,
		MaxResponseBatchItems:   9,
		PacketSize:              4096,
		SessionID:               7,
	}
	if got := c.Params(); got != want {
		t.Errorf("client params %+v\nwant %+v", got, want)
	}
	if got := s.Params(); got != want {
		t.Errorf("server params %+v\nwant %+v", got, want)
	}
	me := thisPeer()
	if c.Peer() != me || s.Peer() != me {
		t.Errorf("peers %+v %+v, want %+v", c.Peer(), s.Peer(), me)
	}
	// The response limit caps what the client adopts.
	copts.ResponseLimit = 5000
	c2, _ := pair(t, copts, offer)
	if got := c2.Params().MaxResponsePayloadBytes; got != 5000 {
		t.Errorf("response ceiling with ResponseLimit 5000: %d", got)
	}
}

func TestDefaultPacketSizeComesFromTheSocket(t *testing.T) {
	baselineOnly(t)
	c, s := pair(t, defaultClient, defaultOffer)
	p := c.Params().PacketSize
	if p <= 32 || p != s.Params().PacketSize || p != c.s.conn.DefaultPacketSize() {
		t.Fatalf("packet size %d (server %d, socket %d)", p, s.Params().PacketSize, c.s.conn.DefaultPacketSize())
	}
}

func TestHandshakeRejections(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	for _, tc := range []struct {
		name  string
		copts ClientOptions
		offer ServerOffer
		kind  netipc.Kind
		words []string
	}{
		{"auth token", ClientOptions{AuthToken: 1}, ServerOffer{AuthToken: 2}, netipc.ErrAuthFailed, []string{"auth token"}},
		{"request size", ClientOptions{MaxRequestPayloadBytes: 4096}, ServerOffer{MaxRequestPayloadBytes: 2048}, netipc.ErrLimitExceeded, []string{"4096"}},
		{"profiles", ClientOptions{SupportedProfiles: protocol.ProfileBaseline}, ServerOffer{SupportedProfiles: protocol.ProfileSHMHybrid}, netipc.ErrIncompatible, []string{"profile"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serr := make(chan error, 1)
			go func() {
				in, err := l.Accept()
				if err == nil {
					_, err = in.Handshake(1, tc.offer)
				}
				serr <- err
			}()
			_, err := Connect(dir, "svc", tc.copts, time.Now().Add(5*time.Second))
			wantKind(t, "client", err, tc.kind, tc.words...)
			wantKind(t, "server", <-serr, tc.kind)
		})
	}
}

func TestRefuseAtCapacity(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	serr := make(chan error, 1)
	go func() {
		in, err := l.Accept()
		if err == nil {
			err = in.RefuseAtCapacity(3)
		}
		serr <- err
	}()
	_, err := Connect(dir, "svc", defaultClient, time.Now().Add(5*time.Second))
	wantKind(t, "client", err, netipc.ErrBusy, "3 sessions")
	if err := <-serr; err != nil {
		t.Fatalf("RefuseAtCapacity: %v", err)
	}
}

func TestHandshakeTimeoutAndClose(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{HandshakeTimeout: 100 * time.Millisecond})
	// A client that connects and says nothing.
	silent, err := sys.Connect(dir, l.Endpoint(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	in, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = in.Handshake(1, defaultOffer)
	wantKind(t, "silent client", err, netipc.ErrTimeout, "HELLO")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("handshake timeout took %v", d)
	}
	// Incoming.Close from another goroutine ends a waiting handshake.
	silent2, err := sys.Connect(dir, l.Endpoint(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer silent2.Close()
	in, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l2 := *in.l
	l2.opts.HandshakeTimeout = time.Minute
	in.l = &l2
	go func() { time.Sleep(30 * time.Millisecond); in.Close() }()
	start = time.Now()
	_, err = in.Handshake(1, defaultOffer)
	wantKind(t, "closed incoming", err, netipc.ErrClosed)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v to end the handshake", d)
	}
}

func TestGarbageInsteadOfHelloGetsNoReply(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	raw, err := sys.Connect(dir, l.Endpoint(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.SendPacket([]byte("definitely not a HELLO, but long enough to be a header"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	in, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_, err = in.Handshake(1, defaultOffer)
	wantKind(t, "garbage", err, netipc.ErrProtocol)
	if _, err := raw.RecvPacket(make([]byte, 128), time.Now().Add(2*time.Second)); errKind(err) != netipc.ErrDisconnected {
		t.Fatalf("the client got %v, want a plain close", err)
	}
}

func TestSmallRoundTripAndKinds(t *testing.T) {
	baselineOnly(t)
	c, s := pair(t, defaultClient, defaultOffer)
	done := echo(s)
	if err := c.Send(reqHdr(1), []byte("hello"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	m, err := c.Receive(time.Now().Add(5 * time.Second))
	if err != nil || string(m.Payload) != "hello" || m.Header.MessageID != 1 || m.Header.Kind != protocol.KindResponse {
		t.Fatalf("round trip: %+v %q %v", m.Header, m.Payload, err)
	}
	// Refusals before sending leave the session usable.
	wantKind(t, "wrong kind", c.Send(protocol.Header{Kind: protocol.KindResponse, ItemCount: 1}, nil, time.Time{}), netipc.ErrInvalidArgument)
	wantKind(t, "too large", c.Send(reqHdr(2), make([]byte, 1<<20+1), time.Time{}), netipc.ErrLimitExceeded)
	h := reqHdr(3)
	h.ItemCount = 65
	wantKind(t, "too many items", c.Send(h, nil, time.Time{}), netipc.ErrLimitExceeded)
	if err := c.Send(reqHdr(4), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "duplicate id", c.Send(reqHdr(4), nil, time.Time{}), netipc.ErrInvalidArgument, "already in flight")
	if m, err := c.Receive(time.Time{}); err != nil || m.Header.MessageID != 4 || len(m.Payload) != 0 {
		t.Fatalf("empty round trip: %+v %v", m.Header, err)
	}
	if c.InFlight() != 0 {
		t.Fatalf("in flight: %d", c.InFlight())
	}
	wantKind(t, "server wrong kind", s.Send(reqHdr(5), nil), netipc.ErrInvalidArgument)
	c.Close()
	wantKind(t, "echo after the client left", <-done, netipc.ErrDisconnected)
}

func TestChunkedMessagesBothWays(t *testing.T) {
	baselineOnly(t)
	for _, packet := range []uint32{33, 100, 4096, 0} {
		t.Run(fmt.Sprint("packet ", packet), func(t *testing.T) {
			if packet != 0 {
				withPacketSize(t, packet)
			}
			c, s := pair(t, defaultClient, defaultOffer)
			done := echo(s)
			size := c.Params().PacketSize
			for i, n := range []int{0, 1, int(size) - 32, int(size) - 31, 3*int(size) + 5, 100000, 1 << 20} {
				if packet == 33 && n > 5000 {
					continue // a byte per packet: keep it short
				}
				if packet == 100 && n > 100000 && runtime.GOOS == "windows" {
					// 15,000 packets: under wine (a fraction of a millisecond
					// per pipe message) longer than the 5 s the server gives
					// the rest of a message once its first packet came.
					continue
				}
				want := pattern(n, byte(i))
				if err := c.Send(reqHdr(uint64(i+1)), want, time.Now().Add(10*time.Second)); err != nil {
					select {
					case e := <-done:
						t.Fatalf("send %d bytes: %v (server: %v)", n, err, e)
					default:
						t.Fatalf("send %d bytes: %v", n, err)
					}
				}
				m, err := c.Receive(time.Now().Add(10 * time.Second))
				if err != nil || !bytes.Equal(m.Payload, want) || m.Header.PayloadLen != uint32(n) {
					select {
					case e := <-done:
						t.Logf("the server ended: %v", e)
					default:
					}
					t.Fatalf("%d bytes at packet size %d: %v (got %d bytes)", n, size, err, len(m.Payload))
				}
			}
		})
	}
}

func TestBatches(t *testing.T) {
	baselineOnly(t)
	withPacketSize(t, 256)
	c, s := pair(t, defaultClient, defaultOffer)
	items := [][]byte{[]byte("abc"), pattern(600, 1), nil, []byte("Z")}
	n, _ := protocol.BatchPayloadLen(items)
	buf := make([]byte, n)
	b, err := protocol.NewBatchBuilder(buf, uint32(len(items)))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := b.Add(it); err != nil {
			t.Fatal(err)
		}
	}
	n, err = b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	h := reqHdr(1)
	h.Flags, h.ItemCount = protocol.FlagBatch, uint32(b.Len())
	if err := c.Send(h, buf[:n], time.Time{}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Receive(time.Now().Add(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	v, err := protocol.NewBatchView(m.Payload, m.Header.ItemCount)
	if err != nil || v.Len() != len(items) {
		t.Fatalf("batch view: %v", err)
	}
	for i, want := range items {
		if got, err := v.Item(i); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("item %d: %q %v", i, got, err)
		}
	}
	if err := s.Send(responseTo(m.Header), m.Payload); err != nil {
		t.Fatal(err)
	}
	r, err := c.Receive(time.Now().Add(5 * time.Second))
	if err != nil || !r.Header.IsBatch() || r.Header.ItemCount != uint32(len(items)) || !bytes.Equal(r.Payload, buf[:n]) {
		t.Fatalf("batch response: %+v %v", r.Header, err)
	}
}

func TestPipelining(t *testing.T) {
	baselineOnly(t)
	withPacketSize(t, 512)
	c, s := pair(t, defaultClient, defaultOffer)
	const n = 16
	payloads := make(map[uint64][]byte)
	for i := uint64(1); i <= n; i++ {
		payloads[i] = pattern(int(i)*100, byte(i)) // the larger ones are chunked
		if err := c.Send(reqHdr(i), payloads[i], time.Time{}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if c.InFlight() != n {
		t.Fatalf("in flight: %d", c.InFlight())
	}
	var got []protocol.Header
	for range n {
		m, err := s.Receive(time.Now().Add(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Payload, payloads[m.Header.MessageID]) {
			t.Fatalf("request %d garbled", m.Header.MessageID)
		}
		got = append(got, m.Header)
	}
	// Answered in reverse order.
	for i := len(got) - 1; i >= 0; i-- {
		if err := s.Send(responseTo(got[i]), payloads[got[i].MessageID]); err != nil {
			t.Fatal(err)
		}
	}
	for i := uint64(n); i >= 1; i-- {
		m, err := c.Receive(time.Now().Add(5 * time.Second))
		if err != nil || m.Header.MessageID != i || !bytes.Equal(m.Payload, payloads[i]) {
			t.Fatalf("response %d: id %d, %v", i, m.Header.MessageID, err)
		}
	}
	if c.InFlight() != 0 {
		t.Fatalf("in flight after all responses: %d", c.InFlight())
	}
}

func TestConcurrentSendAndReceive(t *testing.T) {
	baselineOnly(t)
	withPacketSize(t, 300)
	c, s := pair(t, defaultClient, defaultOffer)
	echo(s)
	const n = 200
	errc := make(chan error, 1)
	go func() {
		for i := uint64(1); i <= n; i++ {
			if err := c.Send(reqHdr(i), pattern(int(i)*5, byte(i)), time.Now().Add(5*time.Second)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i := uint64(1); i <= n; i++ {
		m, err := c.Receive(time.Now().Add(5 * time.Second))
		if err != nil || m.Header.MessageID != i || !bytes.Equal(m.Payload, pattern(int(i)*5, byte(i))) {
			t.Fatalf("response %d: %d %v", i, m.Header.MessageID, err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestReceiveDeadlineOnASilentPeer(t *testing.T) {
	baselineOnly(t)
	c, s := pair(t, defaultClient, defaultOffer)
	if err := c.Send(reqHdr(1), []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.Receive(time.Now().Add(50 * time.Millisecond))
	wantKind(t, "client receive", err, netipc.ErrTimeout, "timed out after", "response")
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	start = time.Now()
	m, err := s.Receive(time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Receive(time.Now().Add(50 * time.Millisecond))
	wantKind(t, "server receive", err, netipc.ErrTimeout)
	// A timeout that moved nothing leaves both sessions usable.
	if err := s.Send(responseTo(m.Header), []byte("late")); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Receive(time.Now().Add(time.Second)); err != nil || string(m.Payload) != "late" {
		t.Fatalf("after the timeout: %q %v", m.Payload, err)
	}
}

func TestPartlyReceivedMessageResumes(t *testing.T) {
	baselineOnly(t)
	withPacketSize(t, 64)
	c, s := pair(t, defaultClient, defaultOffer)
	if err := c.Send(reqHdr(1), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Receive(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// The server sends the first two packets of a chunked response by
	// hand, then the rest after the client's wait ended.
	payload := pattern(500, 3)
	h := responseTo(reqHdr(1))
	h.PayloadLen = uint32(len(payload))
	packets := NewPackets(h, payload, 64)
	var prefix [protocol.HeaderLen]byte
	sendNext := func() bool {
		body, ok := packets.Next(&prefix)
		if ok {
			if err := s.s.conn.SendPacket(prefix[:], body, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		return ok
	}
	sendNext()
	sendNext()
	_, err := c.Receive(time.Now().Add(50 * time.Millisecond))
	wantKind(t, "partial", err, netipc.ErrTimeout)
	for sendNext() {
	}
	m, err := c.Receive(time.Now().Add(time.Second))
	if err != nil || !bytes.Equal(m.Payload, payload) {
		t.Fatalf("resumed: %v", err)
	}
}

func TestInterruptAndCloseWakeBlockedCalls(t *testing.T) {
	baselineOnly(t)
	c, s := pair(t, defaultClient, defaultOffer)
	blocked := func(f func() error) <-chan error {
		done := make(chan error, 1)
		go func() { done <- f() }()
		time.Sleep(30 * time.Millisecond)
		return done
	}
	wait := func(what string, done <-chan error, kind netipc.Kind) {
		t.Helper()
		select {
		case err := <-done:
			wantKind(t, what, err, kind)
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: still blocked", what)
		}
	}
	recv := func() error { _, err := c.Receive(time.Time{}); return err }
	done := blocked(recv)
	c.Interrupt()
	wait("interrupted receive", done, netipc.ErrAborted)
	wantKind(t, "receive while interrupted", recv(), netipc.ErrAborted)
	wantKind(t, "send while interrupted", c.Send(reqHdr(1), nil, time.Time{}), netipc.ErrAborted)
	c.ClearInterrupt()
	echoDone := echo(s)
	if err := c.Send(reqHdr(2), []byte("again"), time.Time{}); err != nil {
		t.Fatalf("after ClearInterrupt: %v", err)
	}
	if m, err := c.Receive(time.Now().Add(time.Second)); err != nil || string(m.Payload) != "again" {
		t.Fatalf("after ClearInterrupt: %v", err)
	}
	// Interrupt then ClearInterrupt at once: a blocked receive goes on.
	done = blocked(func() error { _, err := c.Receive(time.Now().Add(300 * time.Millisecond)); return err })
	c.Interrupt()
	c.ClearInterrupt()
	select {
	case err := <-done:
		if k := errKind(err); k != netipc.ErrAborted && k != netipc.ErrTimeout {
			t.Fatalf("interrupt-clear race: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("receive blocked past its deadline")
	}
	done = blocked(recv)
	c.Close()
	wait("closed client receive", done, netipc.ErrClosed)
	wantKind(t, "receive after close", recv(), netipc.ErrClosed)
	wantKind(t, "server after the client closed", <-echoDone, netipc.ErrDisconnected)
	// Server: Close wakes a blocked Receive.
	_, s2 := pair(t, defaultClient, defaultOffer)
	done = blocked(func() error { _, err := s2.Receive(time.Time{}); return err })
	s2.Close()
	wait("closed server receive", done, netipc.ErrClosed)
	if err := s2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestSendTimeoutWhenTheClientStopsReading(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{SendTimeout: 100 * time.Millisecond})
	c, s := pairOn(t, l, dir, defaultClient, defaultOffer)
	if err := c.Send(reqHdr(1), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Receive(time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	start := time.Now()
	for err == nil && time.Since(start) < 10*time.Second {
		err = s.Send(responseTo(m.Header), big)
	}
	wantKind(t, "send to a client that does not read", err, netipc.ErrTimeout, "does not read")
	// Part of a response left: the session is unusable now.
	wantKind(t, "send after a partial send", s.Send(responseTo(m.Header), nil), netipc.ErrTimeout, "unusable")
}

// lyingServer accepts one client with a hand-made handshake and returns
// the raw connection, so that a test can send anything.
func lyingServer(t *testing.T, copts ClientOptions, offer ServerOffer, packetSize uint32) (*ClientSession, *sys.Conn) {
	t.Helper()
	dir := testDir(t)
	_, path, _ := endpointOf(dir, "svc")
	l, err := sys.Listen(dir, "svc", path, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan *sys.Conn, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			t.Error(err)
			got <- nil
			return
		}
		buf := make([]byte, HandshakePacketMax)
		n, err := conn.RecvPacket(buf, time.Now().Add(5*time.Second))
		if err != nil {
			t.Error(err)
		}
		out := ServerHandshake(buf[:min(n, len(buf))], offer, packetSize, 1)
		if err := conn.SendPacket(out.Reply[:], nil, time.Time{}); err != nil {
			t.Error(err)
		}
		got <- conn
	}()
	c, err := Connect(dir, "svc", copts, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	conn := <-got
	t.Cleanup(func() { c.Close(); conn.Close() })
	return c, conn
}

func encHdr(h protocol.Header) []byte {
	b := make([]byte, protocol.HeaderLen)
	h.Encode(b)
	return b
}

func TestLyingServer(t *testing.T) {
	baselineOnly(t)
	resp := func(id uint64, n int) protocol.Header {
		return protocol.Header{Kind: protocol.KindResponse, Code: 1, MessageID: id, ItemCount: 1, PayloadLen: uint32(n)}
	}
	chunk := func(c protocol.ChunkHeader) []byte {
		b := make([]byte, protocol.HeaderLen)
		c.Encode(b)
		return b
	}
	const packet = 128
	body := make([]byte, 4000)
	for _, tc := range []struct {
		name    string
		limit   uint32
		packets [][]byte
		kind    netipc.Kind
		rule    Rule
	}{
		{"unknown message id", 0, [][]byte{encHdr(resp(99, 0))}, netipc.ErrProtocol, RuleMessageID},
		{"request kind", 0, [][]byte{encHdr(reqHdr(1))}, netipc.ErrProtocol, RuleKind},
		{"bad magic", 0, [][]byte{make([]byte, 40)}, netipc.ErrProtocol, RuleHeader},
		{"short packet", 0, [][]byte{[]byte("tiny")}, netipc.ErrProtocol, RuleHeader},
		{"packet above the packet size", 0, [][]byte{append(encHdr(resp(1, 200)), body[:200]...)}, netipc.ErrProtocol, RuleLength},
		{"packet longer than its message", 0, [][]byte{append(encHdr(resp(1, 10)), body[:20]...)}, netipc.ErrProtocol, RuleLength},
		{"payload above the ceiling", 0, [][]byte{encHdr(resp(1, 70000))}, netipc.ErrLimitExceeded, RuleLimit},
		{"payload above the response limit", 1000, [][]byte{encHdr(resp(1, 60000))}, netipc.ErrResponseTooLarge, RuleLimit},
		{"bad chunk magic", 0, [][]byte{append(encHdr(resp(1, 200)), body[:96]...), append(make([]byte, 32), body[:96]...)}, netipc.ErrProtocol, RuleChunk},
		{"wrong chunk index", 0, [][]byte{append(encHdr(resp(1, 200)), body[:96]...),
			append(chunk(protocol.ChunkHeader{MessageID: 1, TotalMessageLen: 232, ChunkIndex: 2, ChunkCount: 3, ChunkPayloadLen: 96}), body[:96]...)}, netipc.ErrProtocol, RuleChunk},
		{"wrong chunk id", 0, [][]byte{append(encHdr(resp(1, 200)), body[:96]...),
			append(chunk(protocol.ChunkHeader{MessageID: 2, TotalMessageLen: 232, ChunkIndex: 1, ChunkCount: 3, ChunkPayloadLen: 96}), body[:96]...)}, netipc.ErrProtocol, RuleChunk},
		{"chunk length mismatch", 0, [][]byte{append(encHdr(resp(1, 200)), body[:96]...),
			append(chunk(protocol.ChunkHeader{MessageID: 1, TotalMessageLen: 232, ChunkIndex: 1, ChunkCount: 3, ChunkPayloadLen: 90}), body[:96]...)}, netipc.ErrProtocol, RuleChunk},
		{"oversized continuation", 0, [][]byte{append(encHdr(resp(1, 200)), body[:96]...),
			append(chunk(protocol.ChunkHeader{MessageID: 1, TotalMessageLen: 232, ChunkIndex: 1, ChunkCount: 3, ChunkPayloadLen: 150}), body[:150]...)}, netipc.ErrProtocol, 0},
		{"bad batch directory", 0, [][]byte{append(encHdr(protocol.Header{Kind: protocol.KindResponse, Flags: protocol.FlagBatch, MessageID: 1, ItemCount: 2, PayloadLen: 16}),
			[]byte{3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0}...)}, netipc.ErrProtocol, RuleBatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copts := defaultClient
			copts.ResponseLimit = tc.limit
			offer := defaultOffer
			offer.MaxResponsePayloadBytes = 65536
			c, raw := lyingServer(t, copts, offer, packet)
			if err := c.Send(reqHdr(1), nil, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if _, err := raw.RecvPacket(make([]byte, 64), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.packets {
				if err := raw.SendPacket(p, nil, time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := c.Receive(time.Now().Add(5 * time.Second))
			wantKind(t, tc.name, err, tc.kind)
			if tc.rule != 0 && RuleOf(err) != tc.rule {
				t.Fatalf("%s: rule %v, want %v (%v)", tc.name, RuleOf(err), tc.rule, err)
			}
			// The session is over: every later call fails, nothing panics.
			if _, err := c.Receive(time.Now().Add(10 * time.Millisecond)); err == nil {
				t.Fatal("receive after a protocol violation succeeded")
			}
			if err := c.Send(reqHdr(2), nil, time.Time{}); err == nil {
				t.Fatal("send after a protocol violation succeeded")
			}
			if c.InFlight() != 0 {
				t.Fatalf("in flight after a violation: %d", c.InFlight())
			}
		})
	}
}

func TestResponseTooLargeAllocatesNothingForIt(t *testing.T) {
	baselineOnly(t)
	copts := defaultClient
	copts.ResponseLimit = 1000
	c, raw := lyingServer(t, copts, defaultOffer, 1<<16)
	var before, after runtime.MemStats
	if err := c.Send(reqHdr(1), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	raw.RecvPacket(make([]byte, 64), time.Now().Add(time.Second))
	h := protocol.Header{Kind: protocol.KindResponse, MessageID: 1, ItemCount: 1, PayloadLen: 900 << 20}
	raw.SendPacket(encHdr(h), nil, time.Time{})
	runtime.ReadMemStats(&before)
	_, err := c.Receive(time.Now().Add(5 * time.Second))
	runtime.ReadMemStats(&after)
	wantKind(t, "huge response", err, netipc.ErrResponseTooLarge, "accepts at most 1000 bytes")
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<10 {
		t.Fatalf("receiving the refused response allocated %d bytes", grew)
	}
}

// rawClient connects a hand-made client to l (HELLO: requests of up to
// maxRequest bytes, packet size 128), and returns its connection and the
// server's session. Both are closed at the end of the test.
func rawClient(t *testing.T, l *Listener, dir string, maxRequest uint32) (*sys.Conn, *ServerSession) {
	t.Helper()
	got := make(chan *ServerSession, 1)
	go func() {
		var s *ServerSession
		in, err := l.Accept()
		if err == nil {
			s, err = in.Handshake(1, ServerOffer{MaxRequestPayloadBytes: maxRequest, AuthToken: testToken})
		}
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	raw, err := sys.Connect(dir, l.Endpoint(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	hello := HelloMessage(ClientHello(ClientOptions{MaxRequestPayloadBytes: maxRequest, AuthToken: testToken}, 128))
	raw.SendPacket(hello[:], nil, time.Time{})
	raw.RecvPacket(make([]byte, HandshakePacketMax), time.Now().Add(5*time.Second))
	s := <-got
	if s == nil {
		t.FailNow()
	}
	t.Cleanup(func() { s.Close() })
	return raw, s
}

func TestLyingClient(t *testing.T) {
	baselineOnly(t)
	withPacketSize(t, 128)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	for _, tc := range []struct {
		name string
		h    protocol.Header
		kind netipc.Kind
	}{
		{"request above the ceiling", protocol.Header{Kind: protocol.KindRequest, MessageID: 1, ItemCount: 1, PayloadLen: 5000}, netipc.ErrLimitExceeded},
		{"too many items", protocol.Header{Kind: protocol.KindRequest, MessageID: 1, ItemCount: 2}, netipc.ErrLimitExceeded},
		{"response kind", protocol.Header{Kind: protocol.KindResponse, MessageID: 1, ItemCount: 1}, netipc.ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, s := rawClient(t, l, dir, 4096)
			raw.SendPacket(encHdr(tc.h), nil, time.Time{})
			_, err := s.Receive(time.Now().Add(5 * time.Second))
			wantKind(t, tc.name, err, tc.kind)
		})
	}
}

func TestNoGoroutineOrDescriptorLeak(t *testing.T) {
	baselineOnly(t)
	withPacketSize(t, 256)
	settle := func(want int, count func() int) int {
		var n int
		for i := 0; i < 200; i++ {
			if n = count(); n <= want {
				return n
			}
			time.Sleep(10 * time.Millisecond)
		}
		return n
	}
	g0, f0 := runtime.NumGoroutine(), openHandles()
	dir := testDir(t)
	l, err := Listen(dir, "svc", ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		cs, ss := pairOn(t, l, dir, defaultClient, defaultOffer)
		done := echo(ss)
		if err := cs.Send(reqHdr(1), pattern(1000, byte(i)), time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.Receive(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); <-done }()
		cs.Close()
		ss.Close()
	}
	wg.Wait()
	acceptDone := make(chan struct{})
	go func() { l.Accept(); close(acceptDone) }()
	time.Sleep(10 * time.Millisecond)
	l.Close()
	<-acceptDone
	if g := settle(g0, runtime.NumGoroutine); g > g0 {
		t.Fatalf("goroutines: %d before, %d after", g0, g)
	}
	if f := settle(f0, openHandles); f > f0 {
		t.Fatalf("descriptors (handles): %d before, %d after", f0, f)
	}
}

func TestRoundTripAllocatesNothing(t *testing.T) {
	baselineOnly(t)
	for _, tc := range []struct {
		name   string
		packet uint32
		size   int
	}{{"small", 0, 64}, {"chunked", 4096, 50000}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.packet != 0 {
				withPacketSize(t, tc.packet)
			}
			c, s := pair(t, defaultClient, defaultOffer)
			echo(s)
			payload := pattern(tc.size, 1)
			id := uint64(0)
			roundTrip := func() {
				id++
				if err := c.Send(reqHdr(id), payload, time.Now().Add(5*time.Second)); err != nil {
					t.Fatal(err)
				}
				if m, err := c.Receive(time.Now().Add(5 * time.Second)); err != nil || len(m.Payload) != tc.size {
					t.Fatal(err)
				}
			}
			roundTrip() // grow the buffers
			if n := testing.AllocsPerRun(200, roundTrip); n != 0 {
				t.Fatalf("a %s round trip allocates %.1f times", tc.name, n)
			}
		})
	}
}

func TestServerGivesUpOnARequestStalledHalfWay(t *testing.T) {
	baselineOnly(t)
	withPacketSize(t, 128)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{SendTimeout: 100 * time.Millisecond})
	raw, s := rawClient(t, l, dir, 4096)
	// The first packet of a 1000-byte request, and nothing more.
	h := reqHdr(1)
	h.PayloadLen = 1000
	raw.SendPacket(encHdr(h), make([]byte, 96), time.Time{})
	start := time.Now()
	_, err := s.Receive(time.Time{})
	wantKind(t, "stalled request", err, netipc.ErrTimeout, "half way")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	if _, err := s.Receive(time.Now().Add(10 * time.Millisecond)); err == nil {
		t.Fatal("the session survived a stalled request")
	}
}
