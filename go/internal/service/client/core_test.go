package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

func newFake(f *fakeNet, cfg netipc.ClientConfig) *Core {
	if f.handle == nil {
		f.handle = echo
	}
	return NewWithDialer("/run/x", "svc", protocol.MethodIncrement, cfg, f.dialer)
}

// call runs one single call of payload through the core, as the public
// clients do.
func call(c *Core, ctx context.Context, payload []byte) error {
	return c.run(ctx, Request{Payload: payload}, nil)
}

func wantKind(t *testing.T, err error, kind netipc.Kind) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want kind %q", err, kind)
	}
}

func wantState(t *testing.T, c *Core, st netipc.ClientState) {
	t.Helper()
	if got := c.State(); got != st {
		t.Fatalf("state %q, want %q", got, st)
	}
}

func TestNewClientDoesNoIO(t *testing.T) {
	f := &fakeNet{}
	c := newFake(f, netipc.ClientConfig{})
	wantState(t, c, netipc.StateDisconnected)
	if f.dialCount() != 0 {
		t.Fatal("New dialed")
	}
	if c.CallTimeout() != netipc.DefaultCallTimeout {
		t.Fatalf("call timeout %v", c.CallTimeout())
	}
}

func TestConnectStates(t *testing.T) {
	for _, tc := range []struct {
		kind   netipc.Kind
		state  netipc.ClientState
		sticky bool
	}{
		{netipc.ErrNotFound, netipc.StateNotFound, false},
		{netipc.ErrAuthFailed, netipc.StateAuthFailed, true},
		{netipc.ErrIncompatible, netipc.StateIncompatible, true},
		{netipc.ErrLimitExceeded, netipc.StateIncompatible, true},
		{netipc.ErrBusy, netipc.StateDisconnected, false},
		{netipc.ErrPermission, netipc.StateDisconnected, false},
		{netipc.ErrTimeout, netipc.StateDisconnected, false},
	} {
		t.Run(tc.kind.Error(), func(t *testing.T) {
			f := &fakeNet{dial: func(int, transport.ClientOptions) (transport.SessionParams, error) {
				return transport.SessionParams{}, netipc.Errorf(tc.kind, "refused by the fake")
			}}
			c := newFake(f, netipc.ClientConfig{})
			err := c.Connect(time.Now().Add(time.Second))
			wantKind(t, err, netipc.ErrNotReady)
			wantKind(t, err, tc.kind) // the cause is in the chain
			wantState(t, c, tc.state)
			if !errors.Is(c.LastError(), tc.kind) {
				t.Fatalf("last error %v", c.LastError())
			}
			_ = c.Connect(time.Now().Add(time.Second))
			want := 2
			if tc.sticky {
				want = 1
			}
			if f.dialCount() != want {
				t.Fatalf("%d dials, want %d", f.dialCount(), want)
			}
			// A call is refused the same way, and counted.
			err = call(c, context.Background(), []byte("x"))
			wantKind(t, err, netipc.ErrNotReady)
			if st := c.Status(); st.ErrorCount != 1 || st.ConnectCount != 0 {
				t.Fatalf("status %+v", st)
			}
			// Close forgets the cause and a sticky state.
			c.Close()
			wantState(t, c, netipc.StateDisconnected)
			if c.LastError() != nil {
				t.Fatal("Close kept the last error")
			}
			f.dial = nil
			if err := c.Connect(time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			wantState(t, c, netipc.StateReady)
			if st := c.Status(); st.ConnectCount != 1 {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestCallsCountAndNumberMessages(t *testing.T) {
	f := &fakeNet{}
	c := newFake(f, netipc.ClientConfig{})
	for i := 0; i < 3; i++ {
		if err := call(c, context.Background(), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if got := c.response().Payload; len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("response %v", got)
		}
	}
	for i, h := range f.sent() {
		if h.MessageID != uint64(i+1) || h.Kind != protocol.KindRequest || h.Code != protocol.MethodIncrement ||
			h.ItemCount != 1 || h.Flags != 0 {
			t.Fatalf("request %d: %+v", i, h)
		}
	}
	st := c.Status()
	if st != (netipc.ClientStatus{State: netipc.StateReady, ConnectCount: 1, CallCount: 3}) {
		t.Fatalf("status %+v", st)
	}
}

func TestOrdinaryFailureIsRetriedOnceOnANewSession(t *testing.T) {
	f := &fakeNet{}
	fails := 1
	f.handle = func(h protocol.Header, p []byte) (protocol.Header, []byte, error) {
		if fails > 0 {
			fails--
			return protocol.Header{}, nil, netipc.Errorf(netipc.ErrDisconnected, "the peer closed the connection")
		}
		return echo(h, p)
	}
	c := newFake(f, netipc.ClientConfig{})
	if err := call(c, context.Background(), []byte("a")); err != nil {
		t.Fatal(err)
	}
	sent := f.sent()
	if len(sent) != 2 || sent[0].MessageID != 1 || sent[1].MessageID != 1 {
		t.Fatalf("requests %+v: want the same id twice", sent)
	}
	if st := c.Status(); st.ReconnectCount != 1 || st.CallCount != 1 || st.ErrorCount != 0 || f.dialCount() != 2 {
		t.Fatalf("status %+v, %d dials", st, f.dialCount())
	}

	// Both attempts fail: one re-send only, the call fails, state Broken.
	fails = 2
	err := call(c, context.Background(), []byte("b"))
	wantKind(t, err, netipc.ErrDisconnected)
	wantState(t, c, netipc.StateBroken)
	if n := len(f.sent()); n != 4 {
		t.Fatalf("%d requests, want 4", n)
	}
	// The next call reconnects (a reconnection) and succeeds.
	if err := call(c, context.Background(), []byte("c")); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st.ReconnectCount != 3 || st.ErrorCount != 1 || st.CallCount != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestBadResponsesAreOrdinaryFailures(t *testing.T) {
	for name, bad := range map[string]func(*protocol.Header){
		"kind":  func(h *protocol.Header) { h.Kind = protocol.KindRequest },
		"code":  func(h *protocol.Header) { h.Code++ },
		"id":    func(h *protocol.Header) { h.MessageID += 7 },
		"batch": func(h *protocol.Header) { h.Flags = protocol.FlagBatch },
	} {
		t.Run(name, func(t *testing.T) {
			f := &fakeNet{}
			f.handle = func(h protocol.Header, p []byte) (protocol.Header, []byte, error) {
				rh, rp, err := echo(h, p)
				bad(&rh)
				return rh, rp, err
			}
			c := newFake(f, netipc.ClientConfig{})
			err := call(c, context.Background(), []byte("a"))
			if name == "batch" {
				// A single call does not look at the batch flag.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantKind(t, err, netipc.ErrBadResponse)
			if n := len(f.sent()); n != 2 {
				t.Fatalf("%d requests, want 2", n)
			}
		})
	}
}

func TestAnErrorStatusIsNotSentAgain(t *testing.T) {
	for _, status := range []protocol.Status{protocol.StatusInternalError, protocol.StatusBadEnvelope, protocol.StatusUnsupported, 77} {
		f := &fakeNet{}
		f.handle = func(h protocol.Header, _ []byte) (protocol.Header, []byte, error) {
			return reply(h, status, nil)
		}
		c := newFake(f, netipc.ClientConfig{})
		err := call(c, context.Background(), []byte("a"))
		wantKind(t, err, netipc.ErrRejected)
		var e *netipc.Error
		if !errors.As(err, &e) || e.Status != status {
			t.Fatalf("error %#v", err)
		}
		if !strings.Contains(err.Error(), status.String()) {
			t.Fatalf("message %q does not name the status", err)
		}
		if n := len(f.sent()); n != 1 {
			t.Fatalf("%v: %d requests, want 1", status, n)
		}
		wantState(t, c, netipc.StateReady)
		if f.dialCount() != 1 {
			t.Fatalf("%d dials", f.dialCount())
		}
		// The session goes on; the next request reuses the id.
		f.handle = echo
		if err := call(c, context.Background(), []byte("b")); err != nil {
			t.Fatal(err)
		}
		if st := c.Status(); st.ErrorCount != 1 || st.CallCount != 1 {
			t.Fatalf("status %+v", st)
		}
	}
}

// growingProvider answers LIMIT_EXCEEDED until its response size reaches
// need; each overflow grows it to the next power of two of twice the
// negotiated size, up to ceiling.
type growingProvider struct {
	size, ceiling, need uint32
	overflows           int
}

func (g *growingProvider) net() *fakeNet {
	f := &fakeNet{}
	f.dial = func(_ int, o transport.ClientOptions) (transport.SessionParams, error) {
		return transport.SessionParams{
			Profile:                 protocol.ProfileBaseline,
			MaxRequestPayloadBytes:  o.MaxRequestPayloadBytes,
			MaxRequestBatchItems:    1,
			MaxResponsePayloadBytes: g.size,
			MaxResponseBatchItems:   1,
		}, nil
	}
	f.handle = func(h protocol.Header, p []byte) (protocol.Header, []byte, error) {
		if g.size < g.need {
			g.overflows++
			g.size = min(grow(g.size, 2*uint64(g.size), g.ceiling), g.ceiling)
			return reply(h, protocol.StatusLimitExceeded, nil)
		}
		return echo(h, p)
	}
	return f
}

func TestResponseOverflowGrowsWithTheProvider(t *testing.T) {
	g := &growingProvider{size: 1024, ceiling: 1 << 20, need: 16384}
	f := g.net()
	c := newFake(f, netipc.ClientConfig{})
	if err := call(c, context.Background(), []byte("a")); err != nil {
		t.Fatal(err)
	}
	if g.overflows != 4 {
		t.Fatalf("%d overflows, want 4 (1K→2K→4K→8K→16K)", g.overflows)
	}
	// Each reconnect proposed a doubled response size.
	prev := uint32(0)
	for i, o := range f.opts {
		if o.MaxResponsePayloadBytes < prev {
			t.Fatalf("dial %d proposed %d after %d", i, o.MaxResponsePayloadBytes, prev)
		}
		prev = o.MaxResponsePayloadBytes
	}
	if prev != 16384 {
		t.Fatalf("last proposal %d", prev)
	}
	if st := c.Status(); st.ReconnectCount != 4 || st.CallCount != 1 || st.ErrorCount != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestOverflowWithoutGrowthFailsAfterOneReconnect(t *testing.T) {
	g := &growingProvider{size: 4096, ceiling: 4096, need: 1 << 20}
	f := g.net()
	c := newFake(f, netipc.ClientConfig{})
	err := call(c, context.Background(), []byte("a"))
	wantKind(t, err, netipc.ErrLimitExceeded)
	if !strings.Contains(err.Error(), "MaxResponsePayloadBytes") {
		t.Fatalf("message %q", err)
	}
	if n := len(f.sent()); n != 1 || f.dialCount() != 2 {
		t.Fatalf("%d requests, %d dials", n, f.dialCount())
	}
	wantState(t, c, netipc.StateBroken)
}

func TestOverflowRecoveryStopsAfterEightAttempts(t *testing.T) {
	g := &growingProvider{size: 16, ceiling: 1 << 20, need: 1 << 20}
	f := g.net()
	c := newFake(f, netipc.ClientConfig{})
	err := call(c, context.Background(), []byte("a"))
	wantKind(t, err, netipc.ErrLimitExceeded)
	if n := len(f.sent()); n != maxOverflowAttempts {
		t.Fatalf("%d attempts, want %d", n, maxOverflowAttempts)
	}
	if st := c.Status(); st.ErrorCount != 1 || st.CallCount != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestRequestOverflowGrowsTheProposal(t *testing.T) {
	f := &fakeNet{}
	c := newFake(f, netipc.ClientConfig{})
	big := make([]byte, 3000)
	if err := call(c, context.Background(), big); err != nil {
		t.Fatal(err)
	}
	if o := f.lastOpts(); o.MaxRequestPayloadBytes != 4096 {
		t.Fatalf("proposal %d, want 4096", o.MaxRequestPayloadBytes)
	}
	if n := len(f.sent()); n != 1 {
		t.Fatalf("%d requests: the first attempt must not send", n)
	}

	// A fixed request size cannot grow: the call fails, nothing sent.
	f = &fakeNet{}
	c = newFake(f, netipc.ClientConfig{MaxRequestPayloadBytes: 2048})
	err := call(c, context.Background(), big)
	wantKind(t, err, netipc.ErrLimitExceeded)
	if n := len(f.sent()); n != 0 {
		t.Fatalf("%d requests", n)
	}
}

func TestARefusedGrownProposalStartsOver(t *testing.T) {
	f := &fakeNet{}
	f.dial = func(_ int, o transport.ClientOptions) (transport.SessionParams, error) {
		if o.MaxRequestPayloadBytes > 1024 {
			return transport.SessionParams{}, netipc.Errorf(netipc.ErrLimitExceeded, "proposal above the server's maximum")
		}
		return transport.SessionParams{Profile: protocol.ProfileBaseline, MaxRequestPayloadBytes: o.MaxRequestPayloadBytes,
			MaxRequestBatchItems: 1, MaxResponsePayloadBytes: 1024, MaxResponseBatchItems: 1}, nil
	}
	c := newFake(f, netipc.ClientConfig{})
	err := call(c, context.Background(), make([]byte, 3000))
	wantKind(t, err, netipc.ErrLimitExceeded)
	// The client is not locked out: it is back at 1024 and small calls work.
	if err := call(c, context.Background(), []byte("a")); err != nil {
		t.Fatal(err)
	}
	if c.refusedRequest != 4096 || c.mayPropose(4096) || !c.mayPropose(2048) {
		t.Fatalf("refused %d", c.refusedRequest)
	}
}

func TestSHMAttachFailureFallsBackToTheBaseline(t *testing.T) {
	f := &fakeNet{}
	f.dial = func(_ int, o transport.ClientOptions) (transport.SessionParams, error) {
		if o.SupportedProfiles&protocol.ProfileSHMAny != 0 {
			return transport.SessionParams{}, netipc.Errorf(netipc.ErrSHM, "cannot attach the region")
		}
		return transport.SessionParams{Profile: protocol.ProfileBaseline, MaxRequestPayloadBytes: 1024,
			MaxRequestBatchItems: 1, MaxResponsePayloadBytes: 1024, MaxResponseBatchItems: 1}, nil
	}
	c := newFake(f, netipc.ClientConfig{})
	if err := c.Connect(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if f.dialCount() != 2 || f.lastOpts().SupportedProfiles != protocol.ProfileBaseline || f.lastOpts().PreferredProfiles != 0 {
		t.Fatalf("%d dials, last %+v", f.dialCount(), f.lastOpts())
	}
	// Later connections do not offer SHM again, until Close.
	c.breakSession()
	if err := c.Connect(time.Now().Add(time.Second)); err != nil || f.dialCount() != 3 {
		t.Fatal(err, f.dialCount())
	}
	c.Close()
	_ = c.Connect(time.Now().Add(time.Second))
	if f.dialCount() != 5 {
		t.Fatalf("%d dials: Close must offer SHM again", f.dialCount())
	}

	// Only SHM allowed: Incompatible, and no further dial until Close.
	f = &fakeNet{dial: f.dial}
	c = newFake(f, netipc.ClientConfig{SupportedProfiles: protocol.ProfileSHMHybrid})
	err := c.Connect(time.Now().Add(time.Second))
	wantKind(t, err, netipc.ErrNotReady)
	wantKind(t, err, netipc.ErrSHM)
	wantState(t, c, netipc.StateIncompatible)
	_ = c.Connect(time.Now().Add(time.Second))
	if f.dialCount() != 1 {
		t.Fatalf("%d dials", f.dialCount())
	}
}

func stallNet() *fakeNet {
	f := &fakeNet{}
	f.handle = func(h protocol.Header, p []byte) (protocol.Header, []byte, error) {
		if len(p) > 0 && p[0] == 's' {
			return protocol.Header{}, nil, errStall
		}
		return echo(h, p)
	}
	return f
}

func TestTimeoutIsNotRetried(t *testing.T) {
	f := stallNet()
	c := newFake(f, netipc.ClientConfig{CallTimeout: 50 * time.Millisecond})
	start := time.Now()
	err := call(c, context.Background(), []byte("s"))
	wantKind(t, err, netipc.ErrTimeout)
	if !strings.Contains(err.Error(), "50ms") {
		t.Fatalf("message %q does not name the limit", err)
	}
	if e := time.Since(start); e < 50*time.Millisecond || e > 5*time.Second {
		t.Fatalf("took %v", e)
	}
	if n := len(f.sent()); n != 1 {
		t.Fatalf("%d requests", n)
	}
	wantState(t, c, netipc.StateBroken)

	// SetCallTimeout changes it; zero restores the configured value.
	c.SetCallTimeout(time.Second)
	if c.CallTimeout() != time.Second {
		t.Fatal(c.CallTimeout())
	}
	c.SetCallTimeout(0)
	if c.CallTimeout() != 50*time.Millisecond {
		t.Fatal(c.CallTimeout())
	}
}

func TestContextDeadlineShortensTheCall(t *testing.T) {
	f := stallNet()
	c := newFake(f, netipc.ClientConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := call(c, ctx, []byte("s"))
	wantKind(t, err, netipc.ErrTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not wrap the context's", err)
	}
	if e := time.Since(start); e > 5*time.Second {
		t.Fatalf("took %v", e)
	}
}

func TestContextCancellationAbortsTheCall(t *testing.T) {
	f := stallNet()
	c := newFake(f, netipc.ClientConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	err := call(c, ctx, []byte("s"))
	wantKind(t, err, netipc.ErrAborted)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v does not wrap context.Canceled", err)
	}
	wantState(t, c, netipc.StateBroken)
	// The cancellation does not outlive its call.
	if err := call(c, context.Background(), []byte("a")); err != nil {
		t.Fatal(err)
	}
	// A context cancelled before the call: nothing is sent.
	n := len(f.sent())
	err = call(c, ctx, []byte("a"))
	wantKind(t, err, netipc.ErrAborted)
	if len(f.sent()) != n {
		t.Fatal("a cancelled context sent a request")
	}
	wantState(t, c, netipc.StateReady)
}

func TestAbortFromAnotherGoroutine(t *testing.T) {
	f := stallNet()
	c := newFake(f, netipc.ClientConfig{})
	if err := c.Connect(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- call(c, context.Background(), []byte("s")) }()
	time.Sleep(30 * time.Millisecond)
	start := time.Now()
	c.Abort()
	select {
	case err := <-done:
		wantKind(t, err, netipc.ErrAborted)
	case <-time.After(5 * time.Second):
		t.Fatal("the abort did not wake the call")
	}
	if e := time.Since(start); e > time.Second {
		t.Fatalf("woke after %v", e)
	}
	wantState(t, c, netipc.StateBroken)
	// Sticky until ClearAbort: nothing is sent, no reconnect.
	n, d := len(f.sent()), f.dialCount()
	wantKind(t, call(c, context.Background(), []byte("a")), netipc.ErrAborted)
	if len(f.sent()) != n || f.dialCount() != d {
		t.Fatal("an aborted client did I/O")
	}
	c.ClearAbort()
	if err := call(c, context.Background(), []byte("a")); err != nil {
		t.Fatal(err)
	}
	// Close clears it too.
	c.Abort()
	c.Close()
	if c.Aborted() {
		t.Fatal("Close kept the abort")
	}
}

func TestGrow(t *testing.T) {
	for _, tc := range []struct {
		cur     uint32
		want    uint64
		ceiling uint32
		out     uint32
	}{
		{0, 1, 1 << 20, 16},
		{1024, 1025, 1 << 20, 2048},
		{4096, 1025, 1 << 20, 4096},
		{1024, 3 << 20, 1 << 20, 1 << 20},
		{0, 1 << 40, ^uint32(0), ^uint32(0)},
	} {
		if got := grow(tc.cur, tc.want, tc.ceiling); got != tc.out {
			t.Errorf("grow(%d, %d, %d) = %d, want %d", tc.cur, tc.want, tc.ceiling, got, tc.out)
		}
	}
}

// SessionInfo reports the current session's parameters, and nothing when
// not connected; other goroutines may read it while calls reconnect.
func TestSessionInfo(t *testing.T) {
	f := &fakeNet{}
	f.dial = func(n int, o transport.ClientOptions) (transport.SessionParams, error) {
		p := transport.SessionParams{Profile: protocol.ProfileSHMAlt, MaxRequestPayloadBytes: 2048,
			MaxRequestBatchItems: 3, MaxResponsePayloadBytes: 4096, MaxResponseBatchItems: 3, PacketSize: 9, SessionID: 5}
		if n > 1 {
			p.Profile, p.MaxResponsePayloadBytes = protocol.ProfileBaseline, 8192
		}
		return p, nil
	}
	c := newFake(f, netipc.ClientConfig{})
	if info, ok := c.SessionInfo(); ok || info != (netipc.SessionInfo{}) {
		t.Fatalf("not connected, yet %+v %v", info, ok)
	}
	if err := c.Connect(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	want := netipc.SessionInfo{Profile: protocol.ProfileSHMAlt, SharedMemory: true,
		MaxRequestPayloadBytes: 2048, MaxRequestBatchItems: 3, MaxResponsePayloadBytes: 4096}
	if info, ok := c.SessionInfo(); !ok || info != want {
		t.Fatalf("session info %+v %v, want %+v", info, ok, want)
	}
	if info, ok := c.SessionInfo(); !ok || info.Profile.String() != "shm-alt" {
		t.Fatalf("profile %v", info.Profile)
	}

	// A broken session has none; the next one reports its own.
	c.breakSession()
	if _, ok := c.SessionInfo(); ok {
		t.Fatal("a broken client reports a session")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i++ {
			if info, ok := c.SessionInfo(); ok && info.MaxRequestBatchItems != 3 {
				t.Errorf("session info %+v", info)
				return
			}
		}
	}()
	for i := 0; i < 50; i++ {
		c.breakSession()
		if err := call(c, context.Background(), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	want = netipc.SessionInfo{Profile: protocol.ProfileBaseline, MaxRequestPayloadBytes: 2048,
		MaxRequestBatchItems: 3, MaxResponsePayloadBytes: 8192}
	if info, ok := c.SessionInfo(); !ok || info != want {
		t.Fatalf("session info %+v %v, want %+v", info, ok, want)
	}
	c.Close()
	if _, ok := c.SessionInfo(); ok {
		t.Fatal("a closed client reports a session")
	}
}
