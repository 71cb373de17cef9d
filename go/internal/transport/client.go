package transport

import (
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// endpointOf returns the canonical spelling of runDir and the endpoint of
// service in it (Linux: the socket path; Windows: the pipe name), or why
// they cannot be derived.
func endpointOf(runDir, service string) (dir, endpoint string, err error) {
	if runDir == "" {
		return "", "", netipc.Errorf(netipc.ErrInvalidArgument,
			"the run directory is an empty string: give the path of a directory")
	}
	if runtime.GOOS == "windows" {
		dir = CanonicalWindowsRunDir(windowsAbsolute(runDir))
		if endpoint, err = PipeName(dir, service); err != nil {
			return "", "", err
		}
		// The session's shared-memory names hash the run directory, the
		// service and the auth token: checked here with the longest token,
		// so that a run directory is too long whatever the token (as the
		// Rust core does).
		err = checkLen("SHM name hash input", WindowsSHMHashInput(dir, service, math.MaxUint64), WindowsHashInputMax)
		return dir, endpoint, err
	}
	dir = CanonicalPOSIXRunDir(runDir)
	endpoint, err = SocketPath(dir, service)
	return dir, endpoint, err
}

// windowsAbsolute makes a relative Windows run directory absolute against
// the current directory, as the Rust core does: a path is relative unless
// it is rooted (\x, /x, \\server\share) or a rooted drive path (C:\x);
// C:x is relative to drive C's current directory.
func windowsAbsolute(runDir string) string {
	sep := func(c byte) bool { return c == '/' || c == '\\' }
	driveRooted := len(runDir) >= 3 && runDir[1] == ':' && sep(runDir[2]) &&
		('a' <= runDir[0] && runDir[0] <= 'z' || 'A' <= runDir[0] && runDir[0] <= 'Z')
	if sep(runDir[0]) || driveRooted {
		return runDir
	}
	if abs, err := filepath.Abs(runDir); err == nil {
		return abs
	}
	return runDir
}

// sendControl sends a handshake message as one packet before deadline.
func sendControl(conn *sys.Conn, msg []byte, deadline time.Time, start time.Time, doing string) error {
	for {
		err := conn.SendPacket(msg, nil, deadline)
		if err != sys.ErrWait {
			return err
		}
		if err := handshakeTimeout(deadline, start, doing); err != nil {
			return err
		}
	}
}

// recvControl receives a handshake packet into buf before deadline and
// returns its length, capped at len(buf).
func recvControl(conn *sys.Conn, buf []byte, deadline time.Time, start time.Time, doing string) (int, error) {
	for {
		n, err := conn.RecvPacket(buf, deadline)
		if err == nil {
			return min(n, len(buf)), nil
		}
		if err != sys.ErrWait {
			return 0, err
		}
		if err := handshakeTimeout(deadline, start, doing); err != nil {
			return 0, err
		}
	}
}

// handshakeTimeout returns the timeout error once deadline has passed
// (nil: a wait ended for nothing; wait again).
func handshakeTimeout(deadline, start time.Time, doing string) error {
	if deadline.IsZero() || time.Now().Before(deadline) {
		return nil
	}
	return netipc.Errorf(netipc.ErrTimeout,
		"timed out after %v %s: the peer did not answer in time (it may be overloaded or stuck); raise the timeout or try again",
		time.Since(start).Round(time.Millisecond), doing)
}

// ClientSession is one connected, handshaken client session.
//
// Requests are sent with Send and their responses received with Receive.
// Several requests may be in flight at once on the baseline transport
// (pipelining): responses are matched by message id and may arrive in any
// order. Send and Receive may run at the same time in two goroutines (one
// sending, one receiving); two Sends, or two Receives, must not.
// Interrupt, ClearInterrupt, Params, Peer and Close may be called from
// any goroutine.
//
// A failed Send or Receive leaves the session unusable, except the
// refusals made before anything is sent (ErrLimitExceeded,
// ErrInvalidArgument, ErrBusy) and a timed-out or aborted wait that moved
// no byte of an outgoing message (a response that was partly received
// when its wait ended is completed by the next Receive). Every later call
// then fails; close the session and connect again.
type ClientSession struct {
	s *session
}

// Connect connects to service's endpoint under runDir and runs the
// handshake, all before deadline (zero: no deadline). Before the HELLO
// (which carries the auth token) is sent, the provider's identity is
// checked: it must run as this process's user or as root (ErrPermission
// otherwise; nothing was sent). Errors: ErrNotFound (nothing listens, or
// the run directory does not exist), ErrPermission, ErrAuthFailed,
// ErrIncompatible, ErrBusy (provider at capacity), ErrLimitExceeded
// (proposal above the server's maximum), ErrTimeout, ErrDisconnected (the
// provider closed the connection without an answer), ErrRunDir,
// ErrInvalidArgument (service name, empty run directory), ErrSHM (SHM
// selected but could not be attached: the caller reconnects without the
// SHM profiles), ErrProtocol, ErrIO.
func Connect(runDir, service string, opts ClientOptions, deadline time.Time) (*ClientSession, error) {
	start := time.Now()
	dir, endpoint, err := endpointOf(runDir, service)
	if err != nil {
		return nil, err
	}
	conn, err := sys.Connect(dir, endpoint, deadline)
	if err != nil {
		return nil, err
	}
	s, err := clientHandshake(conn, dir, service, endpoint, opts, deadline, start)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &ClientSession{s: s}, nil
}

func clientHandshake(conn *sys.Conn, dir, service, endpoint string, opts ClientOptions, deadline, start time.Time) (*session, error) {
	if err := sys.CheckProvider(conn, endpoint); err != nil {
		return nil, err
	}
	o := opts
	if o.SupportedProfiles != 0 {
		o.SupportedProfiles &= shmProfiles | protocol.ProfileBaseline
		if o.SupportedProfiles == 0 {
			return nil, netipc.Errorf(netipc.ErrIncompatible,
				"no transport profile to propose: %s is not available in this build; configure the baseline profile",
				opts.SupportedProfiles)
		}
	}
	hello := ClientHello(o, packetSizeOf(conn))
	msg := HelloMessage(hello)
	doing := "waiting for the HELLO_ACK of the provider at " + endpoint
	if err := sendControl(conn, msg[:], deadline, start, "sending the HELLO to "+endpoint); err != nil {
		return nil, handshakeIOError(err, endpoint)
	}
	var reply [HandshakePacketMax]byte
	n, err := recvControl(conn, reply[:], deadline, start, doing)
	if err != nil {
		return nil, handshakeIOError(err, endpoint)
	}
	params, err := ClientHandshake(reply[:n], hello)
	if err != nil {
		return nil, err
	}
	// The provider's ceiling is adopted up to this client's own limit,
	// never beyond: a larger announcement must not size anything here.
	if opts.ResponseLimit != 0 {
		params.MaxResponsePayloadBytes = min(params.MaxResponsePayloadBytes, opts.ResponseLimit)
	}
	var p plane
	if params.IsSHM() {
		if shmAttach == nil || params.Profile&hello.SupportedProfiles == 0 {
			return nil, netipc.Errorf(netipc.ErrProtocol,
				"handshake failed: the provider at %s selected profile %s, which this client did not propose (%s)",
				endpoint, params.Profile, hello.SupportedProfiles)
		}
		p, err = shmAttach(ShmRequest{
			RunDir:           dir,
			Service:          service,
			AuthToken:        opts.AuthToken,
			Params:           params,
			RequestCapacity:  params.MaxRequestPayloadBytes,
			ResponseCapacity: params.MaxResponsePayloadBytes,
			ProviderUID:      conn.Cred().UID,
		}, conn, deadline)
		if err != nil {
			return nil, err
		}
	}
	return newSession(RoleClient, conn, params, opts.ResponseLimit, p, 0), nil
}

// handshakeIOError names the endpoint in a failure to move a handshake
// packet.
func handshakeIOError(err error, endpoint string) error {
	switch {
	case err == sys.ErrClosed:
		return netipc.Errorf(netipc.ErrClosed, "the connection to %s was closed during the handshake", endpoint)
	case netipcKind(err) == netipc.ErrDisconnected:
		return netipc.Wrap(netipc.ErrDisconnected, err,
			"the provider at %s closed the connection during the handshake (it refused this client without an answer, or stopped)", endpoint)
	}
	return err
}

// netipcKind returns the Kind of the *netipc.Error in err's chain, or 0.
func netipcKind(err error) netipc.Kind {
	var e *netipc.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// Params returns the negotiated session values (the response ceiling
// capped at ClientOptions.ResponseLimit when the provider announced
// more).
func (c *ClientSession) Params() SessionParams { return c.s.params }

// Peer returns the provider's identity.
func (c *ClientSession) Peer() Peer { return c.s.peer }

// InFlight returns the number of requests sent and not yet answered.
func (c *ClientSession) InFlight() int {
	c.s.flightMu.Lock()
	defer c.s.flightMu.Unlock()
	return c.s.inFlight.Len()
}

// Send sends one message (h.PayloadLen is set from payload; kind must be
// REQUEST, ErrInvalidArgument otherwise). On the baseline transport a
// message larger than the packet size goes in chunks; several requests
// may be in flight (pipelining), each with a distinct MessageID
// (ErrInvalidArgument for an id already in flight). On shared memory one
// request is in flight at a time (ErrBusy otherwise). A message above the
// negotiated limits fails with ErrLimitExceeded before anything is sent.
// Blocks at most until deadline (zero: no deadline): ErrTimeout; ErrAborted
// after Interrupt; ErrClosed after Close; ErrDisconnected, ErrIO.
func (c *ClientSession) Send(h protocol.Header, payload []byte, deadline time.Time) error {
	return c.s.send(h, payload, deadline)
}

// Receive waits for the next response, until deadline (zero: none). It
// checks the header, the negotiated limits, that the message id is in
// flight, and the batch directory of batch messages. Errors end the
// session except ErrTimeout and ErrAborted: ErrDisconnected, ErrProtocol,
// ErrLimitExceeded (a response above the negotiated ceiling),
// ErrResponseTooLarge (above ClientOptions.ResponseLimit; nothing was
// allocated for it), ErrTimeout, ErrAborted (Interrupt was called),
// ErrClosed.
func (c *ClientSession) Receive(deadline time.Time) (Message, error) {
	return c.s.receive(deadline)
}

// Interrupt makes a Send or Receive blocked in another goroutine, and
// every later one, return ErrAborted promptly, until ClearInterrupt.
func (c *ClientSession) Interrupt() { c.s.interrupt(true) }

// ClearInterrupt undoes Interrupt.
func (c *ClientSession) ClearInterrupt() { c.s.interrupt(false) }

// Close closes the session (and unmaps its shared memory); a Send or
// Receive blocked in another goroutine returns ErrClosed. Idempotent.
func (c *ClientSession) Close() error { return c.s.close() }
