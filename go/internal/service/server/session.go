package server

import (
	"errors"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// why a session ended (the "reason" of "session closed").
type why uint8

const (
	whyClientLeft why = iota
	whyProtocolError
	whySendTimeout
	whyErrorResponse
	whyStopped
	whyFailed
)

var whyNames = [...]string{
	whyClientLeft:    "client left",
	whyProtocolError: "protocol error",
	whySendTimeout:   "send timeout",
	whyErrorResponse: "error response",
	whyStopped:       "server stopped",
	whyFailed:        "I/O error",
}

func (w why) String() string { return whyNames[w] }

// serve answers a session's requests in order until the client leaves,
// breaks the protocol, the session must end after an error response, or
// the server stops. The goroutine is parked in the transport while the
// session is idle.
func (s *Server) serve(c *conn) {
	sess := c.sess
	params := sess.Params()
	id := params.SessionID
	budget := int(params.MaxResponsePayloadBytes)
	var served uint64
	for {
		msg, err := sess.Receive(time.Time{})
		if err != nil {
			s.endSession(c, served, s.closedBy(id, err))
			return
		}
		if msg.Header.Kind != protocol.KindRequest {
			s.protocolError(id, wrongKind(msg.Header.Kind))
			s.endSession(c, served, whyProtocolError)
			return
		}
		w, ok := s.acquire(c)
		if !ok {
			s.endSession(c, served, whyStopped)
			return
		}
		h := msg.Header
		out := s.buffers.get(budget)
		r := s.answer(w, &h, msg.Payload, out)
		received := protocol.HeaderLen + len(msg.Payload)
		sent := protocol.HeaderLen + r.n
		// Counted before it leaves: a client that has its answer finds it
		// in the statistics.
		if r.status != protocol.StatusOK {
			s.requestFailed(id, &h, r)
		}
		w.counts.answered(r.status, received, sent)
		s.release(c, w)
		served++
		s.requestAnswered(id, &h, r.status, received, sent)
		err = sess.Send(responseHeader(&h, r.status), out[:r.n])
		s.buffers.put(out)
		switch {
		case err != nil:
			s.endSession(c, served, s.closedBy(id, err))
			return
		case r.close:
			s.endSession(c, served, whyErrorResponse)
			return
		case s.isStopped():
			// The answer of a handler Stop waited for is out.
			s.endSession(c, served, whyStopped)
			return
		}
	}
}

// acquire takes a handler slot for a session's request (waiting while
// every worker is busy) and marks the session working, so that Stop does
// not close it under its handler. False when the server stops first.
func (s *Server) acquire(c *conn) (*worker, bool) {
	var w *worker
	select {
	case w = <-s.workers:
	case <-s.stop:
		return nil, false
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		s.workers <- w
		return nil, false
	}
	c.working = true
	c.mu.Unlock()
	return w, true
}

// release gives the handler slot back once the answer is built (the
// answer is sent without it, so a client that does not read holds no
// handler slot).
func (s *Server) release(c *conn, w *worker) {
	s.workers <- w
	c.mu.Lock()
	c.working = false
	c.mu.Unlock()
}

// endSession closes a session and counts it closed.
func (s *Server) endSession(c *conn, served uint64, reason why) {
	c.mu.Lock()
	sess := c.sess
	c.mu.Unlock()
	if s.isStopped() && reason != whyProtocolError && reason != whySendTimeout {
		reason = whyStopped
	}
	_ = sess.Close()
	s.counters.sessions.Add(-1)
	// After the count: whoever sees the event finds it counted.
	s.sessionClosed(sess.Params().SessionID, reason, served)
}

// closedBy is why a session ends after err (from Receive or Send): a
// protocol error when its client broke the protocol or its shared memory
// was damaged, a send timeout when the client did not read (or finish a
// request) in time.
func (s *Server) closedBy(session uint64, err error) why {
	switch {
	case errors.Is(err, netipc.ErrDisconnected):
		return whyClientLeft
	case errors.Is(err, netipc.ErrClosed):
		return whyStopped
	case errors.Is(err, netipc.ErrTimeout):
		s.counters.sendTimeouts.Add(1)
		s.sendTimedOut(session)
		return whySendTimeout
	case errors.Is(err, netipc.ErrProtocol), errors.Is(err, netipc.ErrLimitExceeded),
		errors.Is(err, netipc.ErrSHM), errors.Is(err, netipc.ErrCodec):
		s.protocolError(session, err)
		return whyProtocolError
	}
	s.sessionFailed(session, err)
	return whyFailed
}

// wrongKind is the protocol error of a message that is not a REQUEST.
type wrongKind protocol.Kind

func (k wrongKind) Error() string {
	name := "CONTROL"
	if protocol.Kind(k) == protocol.KindResponse {
		name = "RESPONSE"
	}
	return "a " + name + " message where a REQUEST belongs"
}
