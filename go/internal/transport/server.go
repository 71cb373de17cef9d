package transport

import (
	"sync"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// Default timeouts of a listener.
const (
	// DefaultHandshakeTimeout bounds the wait for a client's HELLO.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultSendTimeout bounds how long a server's Send waits for the
	// client to make room.
	DefaultSendTimeout = 5 * time.Second
)

// noProfile stands for "no profile left" in an offer whose every profile
// was withdrawn (a zero SupportedProfiles means "the default, baseline").
// No client proposes this bit, so the negotiation finds no common
// profile; rejections carry no profile bits on the wire.
const noProfile protocol.Profile = 1 << 31

// ServerOptions configure a listener.
type ServerOptions struct {
	// HandshakeTimeout bounds the wait for a client's HELLO. 0: 10 s.
	HandshakeTimeout time.Duration
	// SendTimeout bounds how long a Send waits for the client to make
	// room. 0: 5 s.
	SendTimeout time.Duration
	// Backlog is the listen backlog. 0: 16.
	Backlog int
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.Backlog <= 0 {
		o.Backlog = sys.DefaultBacklog
	}
	return o
}

// Listener is a bound endpoint. Accept is called by one goroutine; Close
// may be called from any goroutine and makes Accept return ErrClosed
// promptly.
//
// On Linux the endpoint is the socket file <runDir>/<service>.sock, mode
// 0600, published only once it listens; the listener holds an flock on
// <runDir>/<service>.lock (with its pid in it) for its whole life, so
// exactly one netipc provider (Go or Rust) serves an endpoint. Close
// removes both files.
//
// On Windows the endpoint is the named pipe
// \\.\pipe\netipc-<hash of runDir>-<service>, whose instances admit this
// user, LocalSystem and Administrators, local clients only; the first
// instance is created so that no other process can serve the name while
// this listener lives (no file is made; runDir must exist all the same).
type Listener struct {
	l       *sys.Listener
	opts    ServerOptions
	runDir  string
	service string
}

// Listen creates the endpoint of service under runDir (owner-only), after
// checking runDir is safe (owned by this user or root, not writable by
// every user) and recovering a stale endpoint left by a dead provider.
// Errors: ErrAddressInUse (a live provider serves it; the message names
// its pid when known), ErrRunDir (an unsafe run directory, or an entry at
// the endpoint path that netipc may not follow or remove: a symbolic link,
// a file of another user, a non-empty directory), ErrNotFound (runDir
// does not exist), ErrPermission, ErrInvalidArgument (the service name, a
// too long path, an empty run directory), ErrIO.
func Listen(runDir, service string, opts ServerOptions) (*Listener, error) {
	dir, endpoint, err := endpointOf(runDir, service)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	l, err := sys.Listen(dir, service, endpoint, opts.Backlog)
	if err != nil {
		return nil, err
	}
	if shmCleanup != nil {
		shmCleanup(dir, service)
	}
	return &Listener{l: l, opts: opts, runDir: dir, service: service}, nil
}

// Endpoint returns the endpoint's path.
func (l *Listener) Endpoint() string { return l.l.Path() }

// Accept waits for the next connection. ErrClosed after Close; ErrIO when
// the OS refuses (for example the process is out of descriptors: wait a
// moment before accepting again).
func (l *Listener) Accept() (*Incoming, error) {
	conn, err := l.l.Accept()
	if err == sys.ErrClosed {
		return nil, netipc.Errorf(netipc.ErrClosed, "the listener of %s is closed", l.Endpoint())
	}
	if err != nil {
		return nil, err
	}
	return &Incoming{conn: conn, peer: peerOf(conn.Cred()), l: l}, nil
}

// Close stops listening and removes the endpoint. Idempotent.
func (l *Listener) Close() error { return l.l.Close() }

// Incoming is an accepted connection before its handshake. Handshake or
// RefuseAtCapacity is called once, by one goroutine; Close may be called
// from any goroutine (a Handshake waiting for the HELLO then fails with
// ErrClosed).
type Incoming struct {
	conn *sys.Conn
	peer Peer
	l    *Listener
	mu   sync.Mutex
	// done: the connection was handed to a session or closed.
	done bool
}

// Peer returns the client's identity.
func (in *Incoming) Peer() Peer { return in.peer }

// Close closes the connection without a handshake. Idempotent; after a
// successful Handshake it does nothing (close the session instead).
func (in *Incoming) Close() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.done {
		return nil
	}
	in.done = true
	return in.conn.Close()
}

// readHello reads the client's first packet within the handshake timeout.
func (in *Incoming) readHello(buf []byte) (int, error) {
	start := time.Now()
	deadline := start.Add(in.l.opts.HandshakeTimeout)
	n, err := recvControl(in.conn, buf, deadline, start, "waiting for the client's HELLO")
	switch {
	case err == sys.ErrClosed:
		return 0, netipc.Errorf(netipc.ErrClosed, "the connection was closed while waiting for the client's HELLO")
	case netipcKind(err) == netipc.ErrDisconnected:
		return 0, netipc.Wrap(netipc.ErrDisconnected, err, "the client (pid %d) left before sending its HELLO", in.peer.PID)
	}
	return n, err
}

// reply sends a HELLO_ACK within the send timeout.
func (in *Incoming) reply(msg []byte) error {
	start := time.Now()
	err := sendControl(in.conn, msg, start.Add(in.l.opts.SendTimeout), start, "sending the HELLO_ACK")
	if err == sys.ErrClosed {
		return netipc.Errorf(netipc.ErrClosed, "the connection was closed during the handshake")
	}
	return err
}

// Handshake reads the HELLO (within the listener's handshake timeout),
// negotiates against offer, creates the shared-memory region when an SHM
// profile is selected, and sends the HELLO_ACK. A refused client gets its
// rejection ACK and the error (ErrAuthFailed, ErrIncompatible,
// ErrLimitExceeded, ErrProtocol, ErrTimeout, ErrDisconnected, ErrClosed);
// the connection is then closed.
func (in *Incoming) Handshake(sessionID uint64, offer ServerOffer) (*ServerSession, error) {
	return in.HandshakeAdmit(sessionID, offer, nil)
}

// HandshakeAdmit is Handshake for a server with a session limit: once the
// HELLO has arrived (not before: a connection that stays silent holds no
// session), admit is asked for a session; when it refuses, the client
// gets the at-capacity rejection carrying limit and the error is ErrBusy.
// A nil admit admits everyone.
func (in *Incoming) HandshakeAdmit(sessionID uint64, offer ServerOffer, admit func() (limit uint32, ok bool)) (*ServerSession, error) {
	var buf [HandshakePacketMax]byte
	n, err := in.readHello(buf[:])
	if err != nil {
		in.Close()
		return nil, err
	}
	if admit != nil {
		if limit, ok := admit(); !ok {
			err := in.refuse(buf[:n], limit)
			in.Close()
			return nil, err
		}
	}
	packetSize := packetSizeOf(in.conn)
	offer.Extensions = 0
	if offer.SupportedProfiles != 0 {
		offer.SupportedProfiles &= shmProfiles | protocol.ProfileBaseline
		if offer.SupportedProfiles == 0 {
			offer.SupportedProfiles = noProfile
		}
	}
	if offer.SupportedProfiles&shmProfiles != 0 {
		offer.Extensions = shmExtensions
	}
	offer.PreferredProfiles &= offer.SupportedProfiles
	var p plane
	out := ServerHandshake(buf[:n], offer, packetSize, sessionID)
	for out.Err == nil && out.Params.IsSHM() {
		if p = in.provision(out.Params, offer); p != nil {
			break
		}
		// The region could not be made: this handshake goes on without
		// that profile.
		if offer.SupportedProfiles &^= out.Params.Profile; offer.SupportedProfiles == 0 {
			offer.SupportedProfiles = noProfile
		}
		offer.PreferredProfiles &^= out.Params.Profile
		out = ServerHandshake(buf[:n], offer, packetSize, sessionID)
	}
	if out.HasReply {
		if err := in.reply(out.Reply[:]); err != nil {
			if p != nil {
				p.close()
			}
			in.Close()
			return nil, err
		}
	}
	if out.Err != nil {
		in.Close()
		return nil, out.Err
	}
	in.mu.Lock()
	closed := in.done
	in.done = true
	in.mu.Unlock()
	if closed {
		if p != nil {
			p.close()
		}
		return nil, netipc.Errorf(netipc.ErrClosed, "the connection was closed during the handshake")
	}
	return &ServerSession{s: newSession(RoleServer, in.conn, out.Params, 0, p, in.l.opts.SendTimeout), sendTimeout: in.l.opts.SendTimeout}, nil
}

// provision creates the shared-memory plane of an accepted SHM session
// (nil when it cannot be made). The request area holds the agreed request
// size, the response area the offered response size.
func (in *Incoming) provision(params SessionParams, offer ServerOffer) plane {
	if shmProvision == nil {
		return nil
	}
	maxRequest := or32(offer.MaxRequestPayloadBytes, defaultPayload)
	request := maxRequest
	if params.MaxRequestPayloadBytes != 0 {
		request = min(params.MaxRequestPayloadBytes, maxRequest)
	}
	p, err := shmProvision(ShmRequest{
		RunDir:           in.l.runDir,
		Service:          in.l.service,
		AuthToken:        offer.AuthToken,
		Params:           params,
		RequestCapacity:  request,
		ResponseCapacity: or32(offer.MaxResponsePayloadBytes, defaultPayload),
	})
	if err != nil {
		return nil
	}
	return p
}

// RefuseAtCapacity answers the HELLO with the at-capacity rejection
// (status INTERNAL_ERROR, extension AT_CAPACITY carrying limit) and
// closes the connection. A first packet that is not a HELLO is answered
// as Handshake answers it, and its error returned.
func (in *Incoming) RefuseAtCapacity(limit uint32) error {
	defer in.Close()
	var buf [HandshakePacketMax]byte
	n, err := in.readHello(buf[:])
	if err != nil {
		return err
	}
	if err := in.refuse(buf[:n], limit); netipcKind(err) != netipc.ErrBusy {
		return err
	}
	return nil
}

// refuse answers a received HELLO with the at-capacity rejection (a first
// packet that is not a HELLO as Handshake answers it). The error is
// ErrBusy once the rejection is sent.
func (in *Incoming) refuse(hello []byte, limit uint32) error {
	var out ServerOutcome
	if h, ok := PeekHello(hello); ok {
		out = CapacityRejection(h, limit)
	} else {
		out = ServerHandshake(hello, ServerOffer{}, 0, 0)
	}
	if out.HasReply {
		if err := in.reply(out.Reply[:]); err != nil {
			return err
		}
	}
	return out.Err
}

// ServerSession is one handshaken server session. Receive and Send may
// run at the same time in two goroutines (one receiving, one sending);
// two Receives, or two Sends, must not. Close may be called from any
// goroutine and makes a blocked Receive or Send return ErrClosed
// promptly. Any Receive or Send error other than ErrTimeout (a wait that
// moved nothing) and a refused Send (ErrLimitExceeded,
// ErrInvalidArgument) leaves the session unusable.
type ServerSession struct {
	s           *session
	sendTimeout time.Duration
}

// Params returns the negotiated session values.
func (s *ServerSession) Params() SessionParams { return s.s.params }

// Peer returns the client's identity.
func (s *ServerSession) Peer() Peer { return s.s.peer }

// Receive waits for the next request until deadline (zero: none). Once
// the first packet of a chunked request arrived, the rest must come
// within the listener's send timeout, whatever deadline says (ErrTimeout;
// the session is then unusable). A request above the negotiated limits
// fails with ErrLimitExceeded (the session must then be closed). Errors:
// ErrDisconnected, ErrProtocol, ErrLimitExceeded, ErrTimeout, ErrClosed.
func (s *ServerSession) Receive(deadline time.Time) (Message, error) {
	return s.s.receive(deadline)
}

// Send sends a response (kind RESPONSE, ErrInvalidArgument otherwise;
// h.PayloadLen set from payload), chunked on the baseline transport when
// needed, waiting at most the listener's send timeout for the client to
// make room (ErrTimeout; the session is then unusable if part of the
// response left). A payload above the negotiated response size fails with
// ErrLimitExceeded before anything is sent.
func (s *ServerSession) Send(h protocol.Header, payload []byte) error {
	return s.s.send(h, payload, time.Now().Add(s.sendTimeout))
}

// Close closes the session and removes its shared-memory region.
// Idempotent.
func (s *ServerSession) Close() error { return s.s.close() }
