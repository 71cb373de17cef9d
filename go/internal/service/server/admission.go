package server

import (
	"errors"
	"math"
	"sync"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport"
)

// conn is one connection of the server: handshaking (in set), then a
// session (sess set). mu guards the fields below it; whoever closes the
// connection from another goroutine (Stop) holds it, so a session's
// request is never closed under its running handler.
type conn struct {
	peer transport.Peer

	mu   sync.Mutex
	in   *transport.Incoming
	sess *transport.ServerSession
	// working: a handler is answering the session's request.
	working bool
	// closing: Stop wants the connection closed; its goroutine closes it
	// when it lets go.
	closing bool
}

// closeUnlessWorking closes the connection, or has its goroutine close
// it after the handler that is running now.
func (c *conn) closeUnlessWorking() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closing = true
	switch {
	case c.in != nil:
		_ = c.in.Close()
	case c.sess != nil && !c.working:
		_ = c.sess.Close()
	}
}

// acceptLoop accepts connections until the listener is closed.
func (s *Server) acceptLoop(l *transport.Listener) {
	for {
		in, err := l.Accept()
		if err == nil {
			s.admit(in)
			continue
		}
		if s.isStopped() || errors.Is(err, netipc.ErrClosed) {
			return
		}
		s.acceptFailed(err)
		select {
		case <-s.stop:
			return
		case <-time.After(acceptBackoff):
		}
	}
}

// register adds a connection and counts its goroutine, unless the server
// is stopped.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isStopped() {
		return false
	}
	s.conns[c] = struct{}{}
	s.live.add()
	return true
}

// unregister removes a connection; its goroutine ends.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.live.done()
}

// admit starts the handshake of a new connection on a goroutine of its
// own; beyond as many connections waiting for their HELLO as the session
// limit, a connection is closed at once.
func (s *Server) admit(in *transport.Incoming) {
	c := &conn{peer: in.Peer(), in: in}
	if s.counters.handshaking.Load() >= int64(s.set.MaxSessions) {
		s.counters.droppedConnections.Add(1)
		s.connectionDropped(c.peer)
		_ = in.Close()
		return
	}
	if !s.register(c) {
		_ = in.Close()
		return
	}
	s.counters.handshaking.Add(1)
	go s.handshake(c)
}

// reserveSession takes an open-session slot if the limit allows.
func (s *Server) reserveSession() bool {
	limit := int64(s.set.MaxSessions)
	for {
		n := s.counters.sessions.Load()
		if n >= limit {
			if !s.full.Swap(true) {
				s.sessionLimitReached()
			}
			return false
		}
		if s.counters.sessions.CompareAndSwap(n, n+1) {
			for {
				peak := s.counters.peakSessions.Load()
				if peak > n || s.counters.peakSessions.CompareAndSwap(peak, n+1) {
					break
				}
			}
			s.full.Store(false)
			return true
		}
	}
}

// offer is what the handshake answers a HELLO with: the current response
// size, which grows with the traffic.
func (s *Server) offer() transport.ServerOffer {
	return transport.ServerOffer{
		SupportedProfiles:       s.set.SupportedProfiles,
		PreferredProfiles:       s.set.PreferredProfiles,
		MaxRequestPayloadBytes:  s.set.MaxRequestPayloadBytes,
		MaxResponsePayloadBytes: s.responseSize.get(),
		AuthToken:               s.set.AuthToken,
	}
}

// handshake answers a connection's HELLO (refusing it when the server is
// full once the HELLO has arrived: a silent connection holds no session),
// then serves the session.
func (s *Server) handshake(c *conn) {
	defer s.unregister(c)
	asked, reserved := false, false
	admit := func() (uint32, bool) {
		// The HELLO has arrived: the connection no longer counts against
		// the limit of those waiting for one, before the answer leaves (a
		// client that connects again at once must find the slot free).
		s.counters.handshaking.Add(-1)
		asked, reserved = true, s.reserveSession()
		return uint32(min(s.set.MaxSessions, math.MaxUint32)), reserved
	}
	sess, err := c.in.HandshakeAdmit(s.nextID.Add(1), s.offer(), admit)
	if !asked {
		s.counters.handshaking.Add(-1)
	}
	if err != nil {
		s.detach(c)
		switch {
		case reserved:
			s.counters.sessions.Add(-1)
		case asked && errors.Is(err, netipc.ErrBusy):
			s.counters.refusedAtCapacity.Add(1)
			s.refusedAtCapacity(c.peer)
			return
		}
		s.handshakeFailed(c.peer, err)
		return
	}
	s.counters.sessionsOpened.Add(1)
	s.sessionOpened(sess)
	c.mu.Lock()
	c.in, c.sess = nil, sess
	closing := c.closing
	c.mu.Unlock()
	if closing {
		s.endSession(c, 0, whyStopped)
		return
	}
	s.serve(c)
}

// detach forgets a connection whose handshake ended without a session
// (the transport closed it).
func (s *Server) detach(c *conn) {
	c.mu.Lock()
	c.in = nil
	c.mu.Unlock()
}

// handshakeFailed counts and logs a handshake that opened no session.
func (s *Server) handshakeFailed(peer transport.Peer, err error) {
	if s.isStopped() {
		// Stop closed the connection.
		return
	}
	s.counters.handshakeFailures.Add(1)
	switch {
	case errors.Is(err, netipc.ErrAuthFailed):
		s.counters.authFailures.Add(1)
		s.authFailed(peer)
	case errors.Is(err, netipc.ErrTimeout):
		s.counters.handshakeTimeouts.Add(1)
		s.handshakeTimedOut(peer)
	default:
		s.handshakeError(peer, err)
	}
}
