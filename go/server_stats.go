package netipc

import "github.com/netdata/netipc/go/protocol"

// ServerStats is what a managed server has done so far and holds now. It
// is returned by the Stats method of every service's Server, at any time
// and from any goroutine (also before Run and after Stop).
//
// Counters start at zero when the server is created and only grow;
// Sessions, Handshaking and SessionLimit are current values. Reading
// never blocks or slows the server: the per-request counters are kept per
// worker and summed when read, so a snapshot taken while requests are
// being answered may be a request or two behind in some fields (each field
// is exact once the server is quiet).
//
// Refusals by reason: RefusedAtCapacity, AuthFailures and
// HandshakeTimeouts (both within HandshakeFailures), DroppedConnections.
// Every refusal and failure is also logged when ServerConfig.Logger is
// set.
type ServerStats struct {
	// Sessions is the number of client sessions open now.
	Sessions int
	// PeakSessions is the most sessions open at the same time so far.
	PeakSessions int
	// SessionLimit is the session limit in force (ServerConfig.MaxSessions
	// or its default).
	SessionLimit int
	// Handshaking is the number of connections waiting for their
	// client's HELLO now.
	Handshaking int
	// SessionsOpened counts successful handshakes.
	SessionsOpened uint64
	// RefusedAtCapacity counts clients refused because SessionLimit
	// sessions were open (they got "provider at capacity").
	RefusedAtCapacity uint64
	// HandshakeFailures counts handshakes that failed: rejected proposals
	// (auth token, profiles, sizes), malformed HELLOs, connections closed
	// before their HELLO, HELLOs that did not come in time.
	HandshakeFailures uint64
	// AuthFailures counts handshakes refused because the client's auth
	// token differs from the server's (within HandshakeFailures).
	AuthFailures uint64
	// HandshakeTimeouts counts connections closed because no HELLO came
	// within the handshake deadline (within HandshakeFailures).
	HandshakeTimeouts uint64
	// DroppedConnections counts connections closed unanswered because as
	// many connections as SessionLimit were already waiting for their
	// HELLO.
	DroppedConnections uint64
	// SendTimeouts counts sessions closed because their client did not
	// read a response, or stopped sending a request half way, for longer
	// than ServerConfig.SendTimeout.
	SendTimeouts uint64
	// Requests counts requests answered, with any status: the sum of
	// Responses.
	Requests uint64
	// Responses counts the responses sent, by transport status. A
	// response is counted (with its bytes) as it is handed to the
	// transport, so a client that has its answer finds it counted.
	Responses ResponseCounts
	// FailedRequests counts requests answered with an error status
	// (every status in Responses but OK).
	FailedRequests uint64
	// HandlerErrors counts handler calls that returned an error, answered
	// INTERNAL_ERROR. A handler error caused by a builder that ran out of
	// room answers LIMIT_EXCEEDED instead (the client grows its sizes)
	// and is not counted here.
	HandlerErrors uint64
	// HandlerPanics counts handler calls that panicked, answered
	// INTERNAL_ERROR; the server kept serving.
	HandlerPanics uint64
	// BytesReceived counts the bytes of the requests answered: each
	// message's 32-byte header and its payload (chunk headers and the
	// handshake are not counted).
	BytesReceived uint64
	// BytesSent counts the bytes of the responses sent, as BytesReceived.
	BytesSent uint64
	// ProtocolErrors counts sessions closed because their client broke
	// the protocol after the handshake (a message that does not decode,
	// exceeds the agreed limits, is not a REQUEST, a shared-memory region
	// the client corrupted...). Each one is also logged with what was
	// wrong.
	ProtocolErrors uint64
}

// ResponseCounts are the responses a managed server sent, by transport
// status (the statuses a managed server answers requests with).
type ResponseCounts struct {
	// OK: answered.
	OK uint64
	// BadEnvelope: the request did not decode, or the handler's answer
	// was invalid (a lookup answer with the wrong number of items). The
	// session is closed after it.
	BadEnvelope uint64
	// Unsupported: a request for another method than the server's.
	Unsupported uint64
	// LimitExceeded: the answer did not fit the session's response size;
	// the session ends and the client reconnects with a larger one.
	LimitExceeded uint64
	// InternalError: the handler returned an error or panicked.
	InternalError uint64
}

// Get returns the responses sent with status (0 for a status a managed
// server never sends).
func (c ResponseCounts) Get(status protocol.Status) uint64 {
	switch status {
	case protocol.StatusOK:
		return c.OK
	case protocol.StatusBadEnvelope:
		return c.BadEnvelope
	case protocol.StatusUnsupported:
		return c.Unsupported
	case protocol.StatusLimitExceeded:
		return c.LimitExceeded
	case protocol.StatusInternalError:
		return c.InternalError
	}
	return 0
}

// Total returns every response sent.
func (c ResponseCounts) Total() uint64 { return c.OK + c.Failed() }

// Failed returns the responses with an error status.
func (c ResponseCounts) Failed() uint64 {
	return c.BadEnvelope + c.Unsupported + c.LimitExceeded + c.InternalError
}
