// Package transport is netipc's level 1 in Go: endpoints, the handshake,
// chunking, batching and pipelining on the baseline connection (a Unix
// SEQPACKET socket on Linux), and the shared-memory data plane selected
// in the handshake. OS-specific code lives only under sys/.
//
// Every error returned is a *netipc.Error whose Kind classifies it.
package transport

// CONTRACT (temporary, replaced by the implementation): the exported
// names, signatures and semantics below are what the service layer
// (internal/service) programs against. Implementations keep them.

import (
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

var errPending = netipc.Errorf(netipc.ErrInternal, "transport: not implemented yet")

// Peer is the identity the OS reports for the other end of a connection.
type Peer struct {
	PID int32
	UID uint32
	GID uint32
}

// Message is a received message: its header and whole payload
// (reassembled when it came in chunks). Payload is valid until the next
// Receive on the same session.
type Message struct {
	Header  protocol.Header
	Payload []byte
}

// ClientSession is one connected, handshaken client session. Send and
// Receive are used by one goroutine at a time; Interrupt and Close may be
// called from any goroutine.
type ClientSession struct{}

// Connect connects to service's endpoint under runDir and runs the
// handshake, all before deadline (zero: no deadline). Errors: ErrNotFound
// (nothing listens), ErrPermission, ErrAuthFailed, ErrIncompatible,
// ErrBusy (provider at capacity), ErrLimitExceeded (proposal above the
// server's maximum), ErrTimeout, ErrRunDir, ErrInvalidArgument (service
// name), ErrSHM (SHM selected but could not be attached: the caller
// reconnects without the SHM profiles), ErrIO.
func Connect(runDir, service string, opts ClientOptions, deadline time.Time) (*ClientSession, error) {
	return nil, errPending
}

// Params returns the negotiated session values.
func (s *ClientSession) Params() SessionParams { return SessionParams{} }

// Peer returns the provider's identity.
func (s *ClientSession) Peer() Peer { return Peer{} }

// Send sends one message (h.PayloadLen is set from payload; kind must be
// REQUEST). On the baseline transport a message larger than the packet
// size goes in chunks; several requests may be in flight (pipelining),
// each with a distinct MessageID. On shared memory one request is in
// flight at a time (ErrBusy otherwise). A message above the negotiated
// limits fails with ErrLimitExceeded before anything is sent. Blocks at
// most until deadline (zero: no deadline): ErrTimeout.
func (s *ClientSession) Send(h protocol.Header, payload []byte, deadline time.Time) error {
	return errPending
}

// Receive waits for the next response, until deadline (zero: none). It
// checks the header, the negotiated limits, that the message id is in
// flight, and the batch directory of batch messages. Errors end the
// session except ErrTimeout and ErrAborted: ErrDisconnected, ErrProtocol,
// ErrResponseTooLarge, ErrTimeout, ErrAborted (Interrupt was called).
func (s *ClientSession) Receive(deadline time.Time) (Message, error) {
	return Message{}, errPending
}

// Interrupt makes a Send or Receive blocked in another goroutine, and
// every later one, return ErrAborted promptly, until ClearInterrupt.
func (s *ClientSession) Interrupt() {}

// ClearInterrupt undoes Interrupt.
func (s *ClientSession) ClearInterrupt() {}

// Close closes the session (and unmaps its shared memory). Idempotent.
func (s *ClientSession) Close() error { return nil }

// ServerOptions configure a listener.
type ServerOptions struct {
	// HandshakeTimeout bounds the wait for a client's HELLO. 0: 10 s.
	HandshakeTimeout time.Duration
	// SendTimeout bounds how long a Send waits for the client to make
	// room. 0: 5 s.
	SendTimeout time.Duration
}

// Listener is a bound endpoint. Accept is called by one goroutine; Close
// may be called from any goroutine and makes Accept return ErrClosed
// promptly.
type Listener struct{}

// Listen creates the endpoint of service under runDir (owner-only), after
// checking runDir is safe and recovering a stale endpoint left by a dead
// provider. Errors: ErrAddressInUse (a live provider serves it),
// ErrRunDir, ErrNotFound (runDir does not exist), ErrPermission,
// ErrInvalidArgument, ErrIO.
func Listen(runDir, service string, opts ServerOptions) (*Listener, error) {
	return nil, errPending
}

// Endpoint returns the endpoint's path.
func (l *Listener) Endpoint() string { return "" }

// Accept waits for the next connection. ErrClosed after Close.
func (l *Listener) Accept() (*Incoming, error) { return nil, errPending }

// Close stops listening and removes the endpoint. Idempotent.
func (l *Listener) Close() error { return nil }

// Incoming is an accepted connection before its handshake.
type Incoming struct{}

// Peer returns the client's identity.
func (in *Incoming) Peer() Peer { return Peer{} }

// Handshake reads the HELLO (within the listener's handshake timeout),
// negotiates against offer, creates the shared-memory region when an SHM
// profile is selected, and sends the HELLO_ACK. A refused client gets its
// rejection ACK and the error (ErrAuthFailed, ErrIncompatible,
// ErrLimitExceeded, ErrProtocol, ErrTimeout, ErrDisconnected); the
// connection is then closed.
func (in *Incoming) Handshake(sessionID uint64, offer ServerOffer) (*ServerSession, error) {
	return nil, errPending
}

// RefuseAtCapacity answers the HELLO with the at-capacity rejection
// (status INTERNAL_ERROR, extension AT_CAPACITY carrying limit) and
// closes the connection.
func (in *Incoming) RefuseAtCapacity(limit uint32) error { return errPending }

// Close closes the connection without a handshake.
func (in *Incoming) Close() error { return nil }

// ServerSession is one handshaken server session. Receive and Send are
// used by one goroutine at a time; Close may be called from any goroutine
// and makes a blocked Receive return ErrClosed promptly.
type ServerSession struct{}

// Params returns the negotiated session values.
func (s *ServerSession) Params() SessionParams { return SessionParams{} }

// Peer returns the client's identity.
func (s *ServerSession) Peer() Peer { return Peer{} }

// Receive waits for the next request until deadline (zero: none). A
// request above the negotiated limits fails with ErrLimitExceeded (the
// session must then be closed). Errors: ErrDisconnected, ErrProtocol,
// ErrLimitExceeded, ErrTimeout, ErrClosed.
func (s *ServerSession) Receive(deadline time.Time) (Message, error) {
	return Message{}, errPending
}

// Send sends a response (kind RESPONSE; h.PayloadLen set from payload),
// chunked on the baseline transport when needed, waiting at most the
// listener's send timeout for the client to make room. A payload above
// the negotiated response size fails with ErrLimitExceeded before
// anything is sent.
func (s *ServerSession) Send(h protocol.Header, payload []byte) error { return errPending }

// Close closes the session and removes its shared-memory region.
// Idempotent.
func (s *ServerSession) Close() error { return nil }
