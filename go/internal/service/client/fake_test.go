package client

import (
	"sync"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/testsvc"
	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

// stall is what a fake handler returns to never answer.
var errStall = netipc.Errorf(netipc.ErrInternal, "stall")

// fakeNet is an in-memory provider: the dialer of a Core under test.
type fakeNet struct {
	mu sync.Mutex
	// dial decides a connection: the negotiated parameters or an error.
	dial func(n int, opts transport.ClientOptions) (transport.SessionParams, error)
	// handle answers a request: a response header and payload, or an
	// error the session's Receive returns (errStall: block).
	handle func(h protocol.Header, payload []byte) (protocol.Header, []byte, error)
	// serve, when set, is used instead of handle; it sees the session.
	serve func(s *fakeSession, h protocol.Header, payload []byte) (protocol.Header, []byte, error)

	dials    int
	opts     []transport.ClientOptions
	requests []protocol.Header
	sessions []*fakeSession
}

func (f *fakeNet) dialer(runDir, service string, opts transport.ClientOptions, deadline time.Time) (Session, error) {
	f.mu.Lock()
	f.dials++
	n := f.dials
	f.opts = append(f.opts, opts)
	dial := f.dial
	f.mu.Unlock()
	p := transport.SessionParams{
		Profile:                 protocol.ProfileBaseline,
		MaxRequestPayloadBytes:  opts.MaxRequestPayloadBytes,
		MaxRequestBatchItems:    opts.MaxRequestBatchItems,
		MaxResponsePayloadBytes: 1024,
		MaxResponseBatchItems:   opts.MaxRequestBatchItems,
	}
	if dial != nil {
		var err error
		if p, err = dial(n, opts); err != nil {
			return nil, err
		}
	}
	s := &fakeSession{net: f, params: p, wake: make(chan struct{})}
	f.mu.Lock()
	f.sessions = append(f.sessions, s)
	f.mu.Unlock()
	return s, nil
}

func (f *fakeNet) sent() []protocol.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]protocol.Header(nil), f.requests...)
}

func (f *fakeNet) dialCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dials
}

func (f *fakeNet) lastOpts() transport.ClientOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opts[len(f.opts)-1]
}

type fakeSession struct {
	net    *fakeNet
	params transport.SessionParams

	mu          sync.Mutex
	interrupted bool
	wake        chan struct{}
	closed      bool
	peerGone    bool // the provider closed the session
	pending     []func() (transport.Message, error)
	buf, out    []byte
}

func (s *fakeSession) Params() transport.SessionParams { return s.params }

func (s *fakeSession) Send(h protocol.Header, payload []byte, deadline time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netipc.Errorf(netipc.ErrClosed, "closed")
	}
	if s.peerGone {
		return netipc.Errorf(netipc.ErrDisconnected, "the peer closed the connection")
	}
	if s.interrupted {
		return netipc.Errorf(netipc.ErrAborted, "interrupted")
	}
	if uint64(len(payload)) > uint64(s.params.MaxRequestPayloadBytes) {
		return netipc.Errorf(netipc.ErrLimitExceeded, "too large")
	}
	h.PayloadLen = uint32(len(payload))
	s.net.mu.Lock()
	s.net.requests = append(s.net.requests, h)
	handle, serve := s.net.handle, s.net.serve
	s.net.mu.Unlock()
	var (
		rh  protocol.Header
		rp  []byte
		err error
	)
	if serve != nil {
		rh, rp, err = serve(s, h, payload)
	} else {
		rh, rp, err = handle(h, payload)
	}
	// Every provider closes the session after LIMIT_EXCEEDED.
	if err != nil || rh.Status == protocol.StatusLimitExceeded {
		s.peerGone = true
	}
	s.pending = append(s.pending, func() (transport.Message, error) {
		if err != nil {
			return transport.Message{}, err
		}
		rh.PayloadLen = uint32(len(rp))
		s.buf = append(s.buf[:0], rp...)
		return transport.Message{Header: rh, Payload: s.buf}, nil
	})
	return nil
}

func (s *fakeSession) Receive(deadline time.Time) (transport.Message, error) {
	s.mu.Lock()
	if s.interrupted {
		s.mu.Unlock()
		return transport.Message{}, netipc.Errorf(netipc.ErrAborted, "interrupted")
	}
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return transport.Message{}, netipc.Errorf(netipc.ErrProtocol, "nothing in flight")
	}
	next := s.pending[0]
	s.pending = s.pending[1:]
	wake := s.wake
	s.mu.Unlock()
	m, err := next()
	if err != errStall {
		return m, err
	}
	var timer <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-wake:
		return transport.Message{}, netipc.Errorf(netipc.ErrAborted, "interrupted")
	case <-timer:
		return transport.Message{}, netipc.Errorf(netipc.ErrTimeout, "timed out")
	}
}

func (s *fakeSession) Interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.interrupted {
		s.interrupted = true
		close(s.wake)
	}
}

func (s *fakeSession) ClearInterrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.interrupted {
		s.interrupted = false
		s.wake = make(chan struct{})
	}
}

func (s *fakeSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// reply answers h with status and payload.
func reply(h protocol.Header, status protocol.Status, payload []byte) (protocol.Header, []byte, error) {
	return protocol.Header{
		Kind:      protocol.KindResponse,
		Flags:     h.Flags,
		Code:      h.Code,
		Status:    status,
		ItemCount: h.ItemCount,
		MessageID: h.MessageID,
	}, payload, nil
}

// echo answers every request with its own payload.
func echo(h protocol.Header, payload []byte) (protocol.Header, []byte, error) {
	return reply(h, protocol.StatusOK, append([]byte(nil), payload...))
}

// referenceNet is a fake network to a reference-like provider r.
func referenceNet(r *testsvc.Reference) *fakeNet {
	f := &fakeNet{}
	f.dial = func(_ int, o transport.ClientOptions) (transport.SessionParams, error) {
		if o.MaxRequestPayloadBytes > r.Behaviour.RequestMax {
			return transport.SessionParams{}, netipc.Errorf(netipc.ErrLimitExceeded, "proposal above the provider's maximum")
		}
		resp := r.ResponseSize()
		if o.ResponseLimit != 0 {
			resp = min(resp, o.ResponseLimit)
		}
		return transport.SessionParams{
			Profile:                 protocol.ProfileBaseline,
			MaxRequestPayloadBytes:  o.MaxRequestPayloadBytes,
			MaxRequestBatchItems:    1,
			MaxResponsePayloadBytes: resp,
			MaxResponseBatchItems:   1,
		}, nil
	}
	f.serve = func(s *fakeSession, h protocol.Header, payload []byte) (protocol.Header, []byte, error) {
		s.out = grown(s.out, int(s.params.MaxResponsePayloadBytes))
		out := s.out
		rep := r.Answer(h.Code, payload, out)
		if !rep.Send {
			return protocol.Header{}, nil, netipc.Errorf(netipc.ErrDisconnected, "the peer closed the connection")
		}
		return reply(h, rep.Status, out[:rep.Len])
	}
	return f
}

// NewCgroupsLookupWithDialer is a CGROUPS_LOOKUP client on a fake network.
func NewCgroupsLookupWithDialer(dial Dialer, cfg netipc.ClientConfig) *CgroupsLookup {
	core := NewWithDialer("/run/x", "cg", protocol.MethodCgroupsLookup, cfg, dial)
	return &CgroupsLookup{Core: core, lookup: newLookup[[]byte](core, &cgroupsSpec{})}
}

// NewAppsLookupWithDialer is an APPS_LOOKUP client on a fake network.
func NewAppsLookupWithDialer(dial Dialer, cfg netipc.ClientConfig) *AppsLookup {
	core := NewWithDialer("/run/x", "apps", protocol.MethodAppsLookup, cfg, dial)
	return &AppsLookup{Core: core, lookup: newLookup[uint32](core, &appsSpec{})}
}
