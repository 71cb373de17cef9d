package sys

// A connection is a named pipe end in message mode, opened for
// overlapped I/O and handed to Go's runtime with os.NewFile: the runtime
// associates the handle with its I/O completion port, so a goroutine
// waiting for a packet is parked (no OS thread per idle session) and
// read and write deadlines cancel the operation in flight. One packet is
// one pipe message: one WriteFile, one ReadFile.
//
// A read that finds a message longer than its buffer must not fail with
// ERROR_MORE_DATA at once: that status is a warning, so the kernel also
// queues a completion packet, which the runtime does not wait for when
// the call already failed. The packet names the runtime's operation
// (pooled, reused by the next I/O of any file) and this file's poll
// descriptor (reused by the next file opened once this one is closed), so
// a late packet could wake, and fail, another connection's I/O. So each
// receive first peeks at the pipe and reads a waiting message that does
// not fit with one read of its own size (see recvOversize); only a
// message that arrives between the peek and the read can still cause it.
// The connection is then given up (see breakRead) and its handle is
// closed only strayGrace after Close, once the runtime has surely taken
// the packet. A read that pends and then completes with ERROR_MORE_DATA
// is harmless (the runtime waits for its packet), but is given up the
// same way.

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	netipc "github.com/netdata/netipc/go"
)

const (
	// oversizeMax is the longest packet longer than the receive buffer
	// that is still read (to report its length and keep the boundaries);
	// a longer one ends the connection unread.
	oversizeMax = 16 << 20
	// packetSize is the packet size both sides propose (the Rust core's
	// and the reference libraries' default on Windows).
	packetSize = 65536
	// busyBudget bounds the wait for a free pipe instance of a Connect
	// without a deadline.
	busyBudget = 10 * time.Second
	// busySlice is the longest single wait for a free instance.
	busySlice = 50 * time.Millisecond
)

// strayGrace is how long the handle of a connection whose read ended in
// ERROR_MORE_DATA outlives Close (see the file comment): the runtime
// takes completion packets at least every few milliseconds. A variable
// for tests.
var strayGrace = time.Second

// Conn is a connected named pipe end. One goroutine may send and another
// receive at the same time; Abort, Close, Cred and PeerClosed may be
// called from any goroutine.
type Conn struct {
	f    *os.File
	rc   syscall.RawConn
	name string
	cred Cred
	// closed: Close was called. aborted: see Abort.
	closed  atomic.Bool
	aborted atomic.Bool
	// broken is the error that ended the connection's reading (see
	// breakRead); every later operation returns it. stray: a read ended
	// in ERROR_MORE_DATA (Close defers the handle's close).
	broken atomic.Pointer[netipc.Error]
	stray  atomic.Bool
	// wbuf gathers head and body into one message (the sender's);
	// rbuf is a split receive's contiguous buffer (the receiver's).
	wbuf []byte
	rbuf []byte
	// The receiver's peek, made once so that a receive allocates nothing.
	peekFn   func(h uintptr)
	peekLeft uint32
	// PeerClosed's peek, made once for the same reason; peerGone is
	// sticky (a pipe whose peer left never comes back).
	peerFn   func(h uintptr)
	peerGone atomic.Bool
}

// newConn takes over h, a connected pipe end opened for overlapped I/O
// in message read mode.
func newConn(h syscall.Handle, name string, serverSide bool) *Conn {
	c := &Conn{name: name}
	if pid, err := pipePeerPID(h, serverSide); err == nil {
		c.cred = Cred{PID: int32(pid), Known: true}
	}
	c.f = os.NewFile(uintptr(h), name)
	c.rc, _ = c.f.SyscallConn() // never fails for an open file
	c.peekFn = c.peek
	c.peerFn = c.peekPeer
	return c
}

// peek records the length of the next message (0: none waits, or the
// pipe cannot be peeked at, which the read then reports).
func (c *Conn) peek(h uintptr) {
	_, c.peekLeft, _ = peekNamedPipe(syscall.Handle(h))
}

// peekPeer records a pipe that cannot be peeked at: its peer is gone
// (or the pipe failed, which ends the connection all the same).
func (c *Conn) peekPeer(h uintptr) {
	if _, _, err := peekNamedPipe(syscall.Handle(h)); err != nil {
		c.peerGone.Store(true)
	}
}

// Cred returns the peer's process id (GetNamedPipeClientProcessId on the
// server, GetNamedPipeServerProcessId on the client). Windows reports no
// user or group id: UID and GID are zero; Known says the PID is.
func (c *Conn) Cred() Cred { return c.cred }

// DefaultPacketSize is the packet size this side proposes: 65536, as
// every Windows peer.
func (c *Conn) DefaultPacketSize() uint32 { return packetSize }

// SendPacket sends head and body as one packet (one pipe message, one
// WriteFile), waiting for room in the pipe until deadline (zero: no
// deadline). Errors: ErrWait (deadline or Abort; nothing was sent),
// ErrClosed, ErrDisconnected, ErrIO.
func (c *Conn) SendPacket(head, body []byte, deadline time.Time) error {
	if e := c.broken.Load(); e != nil {
		return e
	}
	if err := c.f.SetWriteDeadline(deadline); err != nil {
		return c.opError(err, "sending a packet")
	}
	// After the deadline is set: an Abort either moved it to the past
	// after this, or is seen here.
	if c.aborted.Load() {
		return ErrWait
	}
	msg := head
	if len(body) > 0 {
		n := len(head) + len(body)
		if cap(c.wbuf) < n {
			c.wbuf = make([]byte, n)
		}
		msg = c.wbuf[:n]
		copy(msg[copy(msg, head):], body)
	}
	n, err := c.f.Write(msg)
	if err != nil {
		return c.opError(err, "sending a packet")
	}
	if n != len(msg) {
		return netipc.Errorf(netipc.ErrIO, "sending a packet: %d of %d bytes sent", n, len(msg))
	}
	return nil
}

// RecvPacket waits until deadline (zero: none) for one packet and
// receives it into buf. It returns the packet's real length, which is
// larger than len(buf) when the packet did not fit (the rest is
// discarded, so the next packet starts at a message boundary). Errors:
// ErrWait, ErrClosed, ErrDisconnected (the peer closed), ErrProtocol (a
// packet longer than buf arrived while the read was being issued: the
// connection is then unusable), ErrIO.
func (c *Conn) RecvPacket(buf []byte, deadline time.Time) (int, error) {
	return c.RecvPacketSplit(buf, nil, deadline)
}

// RecvPacketSplit is RecvPacket with the first len(head) bytes of the
// packet going to head and the rest to body.
func (c *Conn) RecvPacketSplit(head, body []byte, deadline time.Time) (int, error) {
	if e := c.broken.Load(); e != nil {
		return 0, e
	}
	if err := c.f.SetReadDeadline(deadline); err != nil {
		return 0, c.opError(err, "receiving a packet")
	}
	if c.aborted.Load() {
		return 0, ErrWait
	}
	buf := head
	if len(body) > 0 {
		n := len(head) + len(body)
		if cap(c.rbuf) < n {
			c.rbuf = make([]byte, n)
		}
		buf = c.rbuf[:n]
	}
	// Through the file, so that a concurrent Close cannot close the
	// handle under the peek.
	c.peekLeft = 0
	if err := c.rc.Control(c.peekFn); err != nil {
		return 0, c.opError(err, "receiving a packet")
	}
	var (
		n   int
		err error
	)
	switch left := int64(c.peekLeft); {
	case left > oversizeMax:
		return 0, c.breakRead("a %d-byte packet arrived, longer than the %d-byte receive buffer", left, len(buf))
	case left > int64(len(buf)):
		n, err = c.recvOversize(buf, int(left))
	default:
		n, err = c.f.Read(buf)
		if err == nil && n == 0 {
			err = io.EOF
		}
	}
	if err != nil {
		if errors.Is(err, errorMoreData) {
			c.stray.Store(true)
			return 0, c.breakRead("a packet longer than the %d-byte receive buffer arrived", len(buf))
		}
		return 0, c.opError(err, "receiving a packet")
	}
	if len(body) > 0 {
		copy(body, buf[copy(head, buf[:min(n, len(buf))]):min(n, len(buf))])
	}
	return n, nil
}

// recvOversize receives a waiting message of size bytes, longer than
// buf, with one read of its own size (so it never ends in
// ERROR_MORE_DATA), copies its start into buf and returns its length.
// An error path: it allocates.
func (c *Conn) recvOversize(buf []byte, size int) (int, error) {
	whole := make([]byte, size)
	n, err := c.f.Read(whole)
	if err != nil {
		return 0, err
	}
	copy(buf, whole[:n])
	return n, nil
}

// breakRead makes the connection unusable after a packet that cannot be
// read safely (see the file comment): every later operation returns the
// error (ErrProtocol) made of format and args.
func (c *Conn) breakRead(format string, args ...any) error {
	e := netipc.Errorf(netipc.ErrProtocol, format, args...)
	e.Msg += " (the peer sent more than the negotiated packet size); the connection to " + c.name + " is unusable"
	c.broken.CompareAndSwap(nil, e)
	return e
}

// Abort(true) makes a send or receive waiting in another goroutine, and
// every later one, return ErrWait promptly (their deadlines are moved to
// the past, which cancels the operation in flight), until Abort(false).
func (c *Conn) Abort(on bool) {
	c.aborted.Store(on)
	if on {
		past := time.Unix(1, 0)
		_ = c.f.SetReadDeadline(past)
		_ = c.f.SetWriteDeadline(past)
	}
}

// PeerClosed reports, without waiting, whether the peer has closed its
// end (used as the liveness signal while the data plane is in shared
// memory, where no packet is expected on the pipe).
func (c *Conn) PeerClosed() bool {
	if c.peerGone.Load() {
		return true
	}
	return c.rc.Control(c.peerFn) != nil || c.peerGone.Load()
}

// WaitHangup blocks until the peer closes its end of the connection (or
// sends anything on it, which a shared-memory session never does, or the
// pipe fails), or until this process closes the connection. It waits
// with a zero-byte read through the runtime's completion port: the
// goroutine is parked, no thread.
//
// It takes over the read side: it clears the read deadline (the
// handshake's) and must not run while packets are received or Abort is
// used on the connection.
func (c *Conn) WaitHangup() {
	if c.broken.Load() != nil || c.f.SetReadDeadline(time.Time{}) != nil {
		return
	}
	_, err := c.f.Read(nil)
	if errors.Is(err, errorMoreData) {
		// A message arrived (the read pended and completed when it did,
		// or found it at once): either way no read may follow.
		c.stray.Store(true)
		c.breakRead("a packet arrived on a connection that carries none")
	}
}

// Close closes the pipe end; a send or receive waiting in another
// goroutine returns ErrClosed. Data already written stays readable by
// the peer (the handle is closed without DisconnectNamedPipe, which
// would discard it). A connection whose read ended in ERROR_MORE_DATA
// keeps its handle strayGrace longer (see the file comment); its waiting
// operations still end at once. Idempotent.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.stray.Load() {
		c.Abort(true)
		f := c.f
		time.AfterFunc(strayGrace, func() { _ = f.Close() })
		return nil
	}
	if err := c.f.Close(); err != nil {
		return netipc.Wrap(netipc.ErrIO, err, "closing the pipe %s", c.name)
	}
	return nil
}

// opError maps an error of a pipe operation.
func (c *Conn) opError(err error, what string) error {
	switch {
	case errors.Is(err, os.ErrClosed) || c.closed.Load():
		return ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrWait
	case errors.Is(err, io.EOF):
		return disconnected()
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errnoError(errno, what)
	}
	return netipc.Wrap(netipc.ErrIO, err, "%s", what)
}

// isDisconnect reports the errors of a pipe whose other end is gone.
func isDisconnect(e syscall.Errno) bool {
	return e == syscall.ERROR_BROKEN_PIPE || e == errorNoData || e == errorPipeNotConnected
}

func errnoError(e syscall.Errno, what string) error {
	if isDisconnect(e) {
		return disconnected()
	}
	return netipc.Wrap(netipc.ErrIO, e, "%s", what)
}

// Connect opens the pipe path (derived from runDir), before deadline
// (zero: up to ten seconds while every instance is busy). While every
// instance of the pipe is taken, it waits for the provider to put up
// another. The pipe is opened so that the provider may identify this
// process but never act as it (SECURITY_IDENTIFICATION: a process
// squatting the name cannot impersonate the client before
// CheckProvider has judged it). Errors: ErrNotFound (no such pipe, or
// the run directory does not exist), ErrPermission (the pipe's DACL
// refuses this user), ErrTimeout, ErrInvalidArgument, ErrRunDir, ErrIO.
func Connect(runDir, path string, deadline time.Time) (*Conn, error) {
	wname, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, netipc.Wrap(netipc.ErrInvalidArgument, err, "the pipe name %q", path)
	}
	start := time.Now()
	if deadline.IsZero() {
		deadline = start.Add(busyBudget)
	}
	for {
		h, err := syscall.CreateFile(wname, syscall.GENERIC_READ|fileWriteData|fileWriteAttributes, 0, nil,
			syscall.OPEN_EXISTING, fileFlagOverlapped|securitySQOSPresent|securityIdentification, 0)
		if err == nil {
			if err := setNamedPipeHandleState(h, pipeReadmodeMessage); err != nil {
				syscall.CloseHandle(h)
				return nil, netipc.Wrap(netipc.ErrIO, err, "switching the pipe %s to message mode", path)
			}
			return newConn(h, path, false), nil
		}
		switch err {
		case syscall.ERROR_FILE_NOT_FOUND, syscall.ERROR_PATH_NOT_FOUND:
			if err := checkRunDirExists(runDir); err != nil {
				return nil, err
			}
			return nil, notFound(path)
		case syscall.ERROR_ACCESS_DENIED:
			return nil, netipc.Errorf(netipc.ErrPermission,
				"this process may not open the pipe %s: its provider grants access to its own user, LocalSystem and Administrators only; run as the provider's user",
				path)
		case errorPipeBusy:
			left := time.Until(deadline)
			if left <= 0 {
				return nil, netipc.Errorf(netipc.ErrTimeout,
					"timed out after %v connecting to %s: every instance of the pipe stayed busy (the provider may be overloaded or stuck); raise the timeout or try again",
					time.Since(start).Round(time.Millisecond), path)
			}
			ms := uint32(min(left, busySlice).Milliseconds())
			_, _ = waitNamedPipe(wname, max(ms, 1))
			continue
		}
		return nil, netipc.Wrap(netipc.ErrIO, err, "connecting to the provider at %s", path)
	}
}
