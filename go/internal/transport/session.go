package transport

// The structure of a session, and the hook points of the shared-memory
// data plane.
//
// A session (ClientSession, ServerSession) is a *session: the connection
// (*sys.Conn), the negotiated SessionParams, a Reassembler that applies
// every receive rule, and a data plane that moves whole messages. The
// baseline plane, sockPlane (sockplane.go), sends the packets of a message
// on the connection (chunked when needed) and feeds received packets to
// the Reassembler. When the handshake selects a shared-memory profile the
// session is built with the SHM plane instead; the connection then only
// serves as the liveness signal.
//
// The SHM plane is provided through the hooks below (the package-level
// variables shmProfiles, shmExtensions, shmCleanup, shmProvision and
// shmAttach; shm_plane.go sets them on Linux, winshm_plane.go on
// Windows). While they are unset, SHM profiles are neither offered by
// servers nor proposed by clients, and every session uses the connection
// (socket or pipe):
//
//   - shmProfiles: the SHM profile bits this build serves (Linux and
//     Windows: protocol.ProfileSHMAny). Clients propose, and servers
//     offer, only these besides the baseline.
//   - shmExtensions: the netipc HELLO_ACK extension bits the SHM plane
//     implements (Linux: protocol.ExtSHMWakeOnDemand; Windows: none, its
//     region wakes only a waiting peer anyway), offered by servers to
//     netipc clients; the client's plane finds the acknowledged bits in
//     SessionParams.Extensions.
//   - shmCleanup(runDir, service): called once by Listen, after the
//     endpoint is bound (the startup scan for stale regions of the
//     service, spec B.13; nil on Windows, where kernel objects vanish
//     with their last handle). runDir is the canonical spelling.
//   - shmProvision(req): called by Incoming.Handshake when the negotiation
//     accepted the client with an SHM profile, before the OK HELLO_ACK is
//     sent: create the session's region (spec B.5/B.6; nothing sized by a
//     client exists before it passed every check, as in the Rust core).
//     An error withdraws that profile from this handshake's offer and the
//     negotiation runs again without it (the client then gets the
//     baseline). The returned plane is closed (region destroyed) with the
//     session, or at once if the reply cannot be sent.
//   - shmAttach(req, conn, deadline): called by Connect after an OK
//     HELLO_ACK selecting an SHM profile: attach the region (spec B.7),
//     retrying transient failures as the Rust client does (5 ms apart, for
//     at most 5 s or half the time left). Errors: ErrSHM (the caller
//     connects again without the SHM profiles), ErrDisconnected when the
//     provider closed the connection meanwhile (conn.PeerClosed), ErrTimeout.
//
// A plane (the interface below) is used by one sending and one receiving
// goroutine at a time; the session serialises each direction and never
// calls close while a send or receive runs (Close first calls
// abort(true), which must make every wait of the plane end promptly, then
// waits for the running operations to return).
//
// How a plane waits: it blocks until w.deadline (zero: no deadline) and
// must end a wait early when abort(true) is called (sticky until
// abort(false)). Whenever a wait ends without a message (the deadline
// passed, an abort, or a wake-up for nothing), the plane calls w.ended():
// a nil result means "keep waiting" (a wake-up for nothing); any other
// result is returned unchanged, at once. A plane may also wait in slices
// (say 100 ms, to watch conn.PeerClosed) and call w.ended() after each.
// A plane returns *netipc.Error values for everything else
// (ErrDisconnected when the peer is gone, ErrProtocol for a bad message,
// ErrIO...). Received messages are checked with in.Whole (SHM) or packet
// by packet (connection); the payload returned stays valid until the next
// receive.

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// plane moves whole messages of one session (see the file comment).
type plane interface {
	// send transmits one message: h (PayloadLen set, limits checked) and
	// payload. It sets w.sent once any byte of the message left, so that
	// a failure after that breaks the session.
	send(h protocol.Header, payload []byte, w *waiter) error
	// receive returns the next whole message, checked by in.
	receive(w *waiter, in *Reassembler) (Message, error)
	// abort(true) makes a waiting send or receive, and every later one,
	// end its wait promptly (calling w.ended()) until abort(false).
	abort(on bool)
	// close releases the plane's resources (an SHM region: unmapped; on a
	// server also removed). The session closes the connection after it.
	close() error
}

// ShmRequest names one session's shared-memory region and its sizes, for
// shmProvision (server) and shmAttach (client).
type ShmRequest struct {
	// RunDir is the canonical spelling of the run directory.
	RunDir  string
	Service string
	// AuthToken is the session's auth token (Windows object names
	// include it).
	AuthToken uint64
	// Params are the negotiated values (Profile is the selected SHM
	// profile; SessionID names the region).
	Params SessionParams
	// RequestCapacity and ResponseCapacity are the payload sizes the
	// region's areas must hold (server: the agreed request size and the
	// offered response size; each area is 32 bytes larger, rounded up).
	RequestCapacity, ResponseCapacity uint32
	// ProviderUID is the provider's user id as the connection reports it
	// (client, Linux: the region file must belong to it).
	ProviderUID uint32
}

// The hook points of the shared-memory data plane (see the file comment).
var (
	shmProfiles   protocol.Profile
	shmExtensions uint32
	shmCleanup    func(runDir, service string)
	shmProvision  func(req ShmRequest) (plane, error)
	shmAttach     func(req ShmRequest, conn *sys.Conn, deadline time.Time) (plane, error)
)

// testPacketSize, when not zero, replaces the packet size both sides
// derive from their connection (tests use it to chunk small messages).
var testPacketSize uint32

// packetSizeOf is the packet size this side proposes on conn.
func packetSizeOf(conn *sys.Conn) uint32 {
	if testPacketSize != 0 {
		return testPacketSize
	}
	return conn.DefaultPacketSize()
}

// Sentinels a plane returns through w.ended(); the session turns them into
// errors that say what was being done.
var (
	errTimedOut = errors.New("transport: deadline passed")
	errAborted  = errors.New("transport: aborted")
	// errStalled: the rest of a message did not come within the stall
	// limit (a server's send timeout) after its first packet.
	errStalled = errors.New("transport: message stalled")
)

// waiter carries the deadline of one send or receive, and what ends it.
type waiter struct {
	s        *session
	deadline time.Time
	start    time.Time
	// sent is set by a plane once part of the message being sent left.
	sent bool
}

// ended says why a wait ended without a message: sys.ErrClosed (the
// session was closed), errAborted (Interrupt), errTimedOut (the deadline
// passed), or nil (a wake-up for nothing: wait again).
func (w *waiter) ended() error {
	switch {
	case w.s.closed.Load():
		return sys.ErrClosed
	case w.s.interrupted.Load():
		return errAborted
	case !w.deadline.IsZero() && !time.Now().Before(w.deadline):
		return errTimedOut
	}
	return nil
}

// Peer is the identity the OS reports for the other end of a connection
// (Linux: SO_PEERCRED, recorded when the connection was made; Windows:
// the pipe's client or server process id, UID and GID zero).
type Peer struct {
	PID int32
	UID uint32
	GID uint32
}

func peerOf(c sys.Cred) Peer { return Peer{PID: c.PID, UID: c.UID, GID: c.GID} }

// Message is a received message: its header and whole payload
// (reassembled when it came in chunks). Payload is valid until the next
// Receive on the same session.
type Message struct {
	Header  protocol.Header
	Payload []byte
}

// session is what client and server sessions share.
type session struct {
	role   Role
	conn   *sys.Conn
	plane  plane
	params SessionParams
	peer   Peer
	out    Limits
	in     *Reassembler
	// inFlight is the client's set of request ids (guarded by flightMu:
	// a Send may run while a Receive checks a response).
	inFlight InFlight
	flightMu sync.Mutex
	// oneInFlight: a shared-memory session carries one request at a time.
	oneInFlight bool

	closed      atomic.Bool
	interrupted atomic.Bool
	// broken is the failure that made the session unusable, if any.
	broken atomic.Pointer[netipc.Error]

	sendMu, recvMu sync.Mutex
	sw, rw         waiter
	closeOnce      sync.Once
	closeErr       error
}

// newSession builds a session on conn with the plane p (nil: the connection itself).
// stall bounds how long the rest of a chunked message may take once its
// first packet arrived (0: only the caller's deadline).
func newSession(role Role, conn *sys.Conn, params SessionParams, responseLimit uint32, p plane, stall time.Duration) *session {
	s := &session{role: role, conn: conn, params: params, peer: peerOf(conn.Cred())}
	cfg := ReassemblerConfig{Role: role, Params: params}
	s.out = params.RequestLimits()
	if role == RoleClient {
		cfg.InFlight, cfg.ResponseLimit = &s.inFlight, responseLimit
	} else {
		s.out = params.ResponseLimits()
	}
	s.in = NewReassembler(cfg)
	if p == nil {
		p = newSockPlane(conn, params.PacketSize, &s.flightMu, role == RoleClient, stall)
	} else {
		s.oneInFlight = true
	}
	s.plane = p
	s.sw.s, s.rw.s = s, s
	return s
}

// usable returns why the session cannot be used now, or nil.
func (s *session) usable() error {
	if s.closed.Load() {
		return closedError(s.role)
	}
	if b := s.broken.Load(); b != nil {
		return netipc.Wrap(b.Kind, b, "the session is unusable after an earlier failure: close it and connect again")
	}
	if s.interrupted.Load() {
		return abortedError()
	}
	return nil
}

// send sends one message of the role's kind before deadline.
func (s *session) send(h protocol.Header, payload []byte, deadline time.Time) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	h, err := PrepareSend(s.role, h, payload, s.out)
	if err != nil {
		return err
	}
	if s.role == RoleClient {
		s.flightMu.Lock()
		switch {
		case s.oneInFlight && s.inFlight.Len() > 0:
			err = netipc.Errorf(netipc.ErrBusy, "a request is already in flight on this shared-memory session: receive its response first")
		default:
			err = s.inFlight.Add(h.MessageID)
		}
		s.flightMu.Unlock()
		if err != nil {
			return err
		}
	}
	w := &s.sw
	w.deadline, w.sent = deadline, false
	if !deadline.IsZero() {
		w.start = time.Now()
	}
	err = s.plane.send(h, payload, w)
	if err == nil {
		return nil
	}
	err = s.failure(err, w, "sending a "+s.role.peerReceives(), "does not read what this side sends")
	if s.role == RoleClient {
		s.flightMu.Lock()
		if s.broken.Load() != nil {
			s.inFlight.Clear()
		} else {
			s.inFlight.Remove(h.MessageID)
		}
		s.flightMu.Unlock()
	}
	return err
}

// receive waits for the next message until deadline.
func (s *session) receive(deadline time.Time) (Message, error) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if err := s.usable(); err != nil {
		return Message{}, err
	}
	w := &s.rw
	w.deadline, w.sent = deadline, false
	if !deadline.IsZero() {
		w.start = time.Now()
	}
	m, err := s.plane.receive(w, s.in)
	if err == nil {
		return m, nil
	}
	err = s.failure(err, w, "waiting for a "+s.role.direction(), "did not answer in time")
	if s.role == RoleClient && s.broken.Load() != nil {
		s.flightMu.Lock()
		s.inFlight.Clear()
		s.flightMu.Unlock()
	}
	return Message{}, err
}

// failure turns a plane's error into the session's, and marks the
// session broken unless the error leaves it usable: a timeout or abort
// that moved no byte of an outgoing message (an incoming one resumes
// where it stopped), and the refusals made before anything was sent.
func (s *session) failure(err error, w *waiter, doing, why string) error {
	var out *netipc.Error
	switch err {
	case sys.ErrClosed:
		return closedError(s.role)
	case errAborted:
		out = abortedError()
	case errStalled:
		out = netipc.Errorf(netipc.ErrTimeout,
			"%s: the %s stopped sending it half way and sent nothing more for the send timeout; the session is closed",
			doing, s.role.peer())
		s.broken.CompareAndSwap(nil, out)
		return out
	case errTimedOut:
		out = netipc.Errorf(netipc.ErrTimeout,
			"timed out after %v %s: the %s %s (it may be overloaded or stuck); raise the timeout or try again",
			time.Since(w.start).Round(time.Millisecond), doing, s.role.peer(), why)
	default:
		if !errors.As(err, &out) {
			out = netipc.Wrap(netipc.ErrIO, err, "%s", doing)
		}
		if s.closed.Load() {
			// The connection failed because Close closed it.
			return closedError(s.role)
		}
		s.broken.CompareAndSwap(nil, out)
		return out
	}
	if w.sent {
		s.broken.CompareAndSwap(nil, out)
	}
	return out
}

// peerReceives names what the role sends, in messages.
func (r Role) peerReceives() string {
	if r == RoleClient {
		return "request"
	}
	return "response"
}

func closedError(r Role) error {
	return netipc.Errorf(netipc.ErrClosed, "the %s session is closed", r)
}

func abortedError() *netipc.Error {
	return netipc.Errorf(netipc.ErrAborted, "aborted: clear the abort to make calls again")
}

// interrupt sets or clears the sticky abort.
func (s *session) interrupt(on bool) {
	s.interrupted.Store(on)
	s.plane.abort(on)
}

// close wakes the running operations, waits for them to return, then
// closes the plane and the connection.
func (s *session) close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.plane.abort(true)
		s.sendMu.Lock()
		s.recvMu.Lock()
		s.closeErr = s.plane.close()
		if err := s.conn.Close(); err != nil && s.closeErr == nil {
			s.closeErr = netipc.Wrap(netipc.ErrIO, err, "closing the connection")
		}
		s.recvMu.Unlock()
		s.sendMu.Unlock()
	})
	return s.closeErr
}
