package sys

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	netipc "github.com/netdata/netipc/go"
)

const (
	// fallbackPacketSize is the packet size when SO_SNDBUF cannot be read.
	fallbackPacketSize = 65536
	// sndbufOverhead: Linux refuses a SEQPACKET datagram longer than
	// sk_sndbuf - 32.
	sndbufOverhead = 32
	headerLen      = 32
)

// Conn is a connected SEQPACKET socket. One goroutine may send and
// another receive at the same time; Abort, Close, Cred and PeerClosed may
// be called from any goroutine.
type Conn struct {
	uc     *net.UnixConn
	rc     syscall.RawConn
	cred   Cred
	sndbuf int
	closed atomic.Bool
	// aborted makes every wait end at once (see Abort).
	aborted atomic.Bool

	// The state of the one send and the one receive in progress, read by
	// callbacks made once (so that a packet operation allocates nothing).
	wMsg   syscall.Msghdr
	wIov   [2]syscall.Iovec
	wN     int
	wErr   syscall.Errno
	rMsg   syscall.Msghdr
	rIov   [2]syscall.Iovec
	rN     int
	rErr   syscall.Errno
	sendFn func(fd uintptr) bool
	recvFn func(fd uintptr) bool
	// PeerClosed's peek, made once for the same reason; peerGone is
	// sticky once the peer is seen gone.
	peerFn   func(fd uintptr)
	peerGone atomic.Bool
}

func newConn(uc *net.UnixConn) (*Conn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, osError(err, "cannot use the connected socket")
	}
	c := &Conn{uc: uc, rc: rc}
	c.sendFn = c.sendOnce
	c.recvFn = c.recvOnce
	c.peerFn = c.peekPeer
	_ = rc.Control(func(fd uintptr) {
		if u, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			c.cred = Cred{PID: u.Pid, UID: u.Uid, GID: u.Gid, Known: true}
		}
		if n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF); err == nil {
			c.sndbuf = n
		}
	})
	return c, nil
}

// Cred returns the peer's process id, user id and group id as the kernel
// recorded them when the connection was made (SO_PEERCRED).
func (c *Conn) Cred() Cred { return c.cred }

// DefaultPacketSize is the largest packet this socket can send: its send
// buffer less the kernel's per-datagram overhead (65536 when the buffer
// size cannot be read).
func (c *Conn) DefaultPacketSize() uint32 {
	if c.sndbuf > sndbufOverhead+headerLen {
		return uint32(min(c.sndbuf-sndbufOverhead, 1<<31))
	}
	return fallbackPacketSize
}

func (c *Conn) sendOnce(fd uintptr) bool {
	for {
		n, _, e := syscall.Syscall(syscall.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&c.wMsg)),
			syscall.MSG_NOSIGNAL|syscall.MSG_DONTWAIT)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.wN, c.wErr = int(n), e
		return true
	}
}

func (c *Conn) recvOnce(fd uintptr) bool {
	for {
		n, _, e := syscall.Syscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&c.rMsg)),
			syscall.MSG_TRUNC|syscall.MSG_DONTWAIT)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.rN, c.rErr = int(n), e
		return true
	}
}

func setIov(iov *syscall.Iovec, b []byte) {
	if len(b) == 0 {
		iov.Base, iov.Len = nil, 0
		return
	}
	iov.Base = &b[0]
	iov.SetLen(len(b))
}

// SendPacket sends head and body as one packet (one datagram), waiting
// for room in the socket until deadline (zero: no deadline). Errors:
// ErrWait (deadline or Abort; nothing was sent), ErrClosed, ErrDisconnected,
// ErrIO.
func (c *Conn) SendPacket(head, body []byte, deadline time.Time) error {
	if err := c.uc.SetWriteDeadline(deadline); err != nil {
		return c.opError(err, "sending a packet")
	}
	// After the deadline is set: an Abort either moved it to the past
	// after this, or is seen here.
	if c.aborted.Load() {
		return ErrWait
	}
	setIov(&c.wIov[0], head)
	setIov(&c.wIov[1], body)
	c.wMsg.Iov = &c.wIov[0]
	c.wMsg.Iovlen = 2
	err := c.rc.Write(c.sendFn)
	c.wIov[0].Base, c.wIov[1].Base = nil, nil
	if err != nil {
		return c.opError(err, "sending a packet")
	}
	if c.wErr != 0 {
		return errnoError(c.wErr, "sending a packet")
	}
	if want := len(head) + len(body); c.wN != want {
		return netipc.Errorf(netipc.ErrIO, "sending a packet: %d of %d bytes sent", c.wN, want)
	}
	return nil
}

// RecvPacket waits until deadline (zero: none) for one packet and
// receives it into buf. It returns the packet's real length, which is
// larger than len(buf) when the packet did not fit (the rest is lost).
// Errors: ErrWait, ErrClosed, ErrDisconnected (the peer closed), ErrIO.
func (c *Conn) RecvPacket(buf []byte, deadline time.Time) (int, error) {
	return c.RecvPacketSplit(buf, nil, deadline)
}

// RecvPacketSplit is RecvPacket with the first len(head) bytes of the
// packet going to head and the rest to body.
func (c *Conn) RecvPacketSplit(head, body []byte, deadline time.Time) (int, error) {
	if err := c.uc.SetReadDeadline(deadline); err != nil {
		return 0, c.opError(err, "receiving a packet")
	}
	if c.aborted.Load() {
		return 0, ErrWait
	}
	setIov(&c.rIov[0], head)
	setIov(&c.rIov[1], body)
	c.rMsg.Iov = &c.rIov[0]
	c.rMsg.Iovlen = 2
	err := c.rc.Read(c.recvFn)
	c.rIov[0].Base, c.rIov[1].Base = nil, nil
	if err != nil {
		return 0, c.opError(err, "receiving a packet")
	}
	if c.rErr != 0 {
		return 0, errnoError(c.rErr, "receiving a packet")
	}
	if c.rN == 0 {
		return 0, disconnected()
	}
	return c.rN, nil
}

// Abort(true) makes a send or receive waiting in another goroutine, and
// every later one, return ErrWait promptly (their deadlines are moved to
// the past), until Abort(false).
func (c *Conn) Abort(on bool) {
	c.aborted.Store(on)
	if on {
		past := time.Unix(1, 0)
		_ = c.uc.SetReadDeadline(past)
		_ = c.uc.SetWriteDeadline(past)
	}
}

// PeerClosed reports, without waiting, whether the peer has closed its
// end (used as the liveness signal while the data plane is in shared
// memory, where no packet is expected on the socket).
func (c *Conn) PeerClosed() bool {
	if c.peerGone.Load() {
		return true
	}
	return c.rc.Control(c.peerFn) != nil || c.peerGone.Load()
}

// peekPeer is PeerClosed's look at the socket: a zero-byte peek means the
// peer closed; an error other than "nothing to read" counts as gone too.
func (c *Conn) peekPeer(fd uintptr) {
	var b [1]byte
	n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0:
		if n == 0 {
			c.peerGone.Store(true)
		}
	case syscall.EAGAIN, syscall.EINTR:
	default:
		c.peerGone.Store(true)
	}
}

// Close closes the socket; a send or receive waiting in another goroutine
// returns ErrClosed. Idempotent.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.uc.Close()
}

// opError maps an error of the network poller.
func (c *Conn) opError(err error, what string) error {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrWait
	case errors.Is(err, net.ErrClosed) || c.closed.Load():
		return ErrClosed
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errnoError(errno, what)
	}
	return netipc.Wrap(netipc.ErrIO, err, "%s", what)
}

func errnoError(e syscall.Errno, what string) error {
	switch e {
	case syscall.EPIPE, syscall.ECONNRESET, syscall.ENOTCONN:
		return disconnected()
	}
	return netipc.Wrap(netipc.ErrIO, e, "%s", what)
}

// connectRetry is the pause between connection attempts while the
// provider's listen backlog is full.
const connectRetry = 5 * time.Millisecond

// Connect connects to the socket at path (in runDir), before deadline
// (zero: none). A provider whose listen backlog is full is tried again
// until the deadline. Errors: ErrNotFound (nothing listens there, or the
// run directory does not exist), ErrPermission, ErrRunDir, ErrTimeout,
// ErrIO.
func Connect(runDir, path string, deadline time.Time) (*Conn, error) {
	start := time.Now()
	for {
		d := net.Dialer{Deadline: deadline}
		c, err := d.Dial("unixpacket", path)
		if err == nil {
			return newConn(c.(*net.UnixConn))
		}
		var errno syscall.Errno
		errors.As(err, &errno)
		switch {
		case errno == syscall.EAGAIN:
			if !deadline.IsZero() && time.Until(deadline) <= connectRetry {
				return nil, connectTimeout(path, start)
			}
			time.Sleep(connectRetry)
			continue
		case errno == syscall.ENOENT || errno == syscall.ENOTDIR:
			if err := checkRunDirExists(runDir); err != nil {
				return nil, err
			}
			return nil, notFound(path)
		case errno == syscall.ECONNREFUSED:
			return nil, notFound(path)
		case errno == syscall.EACCES || errno == syscall.EPERM:
			return nil, denied(path)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, connectTimeout(path, start)
		}
		return nil, netipc.Wrap(netipc.ErrIO, err, "connecting to the provider at %s", path)
	}
}

func connectTimeout(path string, start time.Time) error {
	return netipc.Errorf(netipc.ErrTimeout,
		"timed out after %v connecting to %s: the provider's listen backlog stayed full (it may be overloaded or stuck); raise the timeout or try again",
		time.Since(start).Round(time.Millisecond), path)
}

// denied is the error for an endpoint this process may not open; it
// reports the endpoint's owner, group and mode (read without following a
// link).
func denied(path string) error {
	var st syscall.Stat_t
	owner := ""
	if syscall.Lstat(path, &st) == nil {
		owner = fmt.Sprintf(" (owned by uid %d, group %d, mode %04o)", st.Uid, st.Gid, permBits(&st))
	}
	return netipc.Errorf(netipc.ErrPermission,
		"this process may not open %s%s: the provider decides who may; run as the provider's user or as a member of the group it grants",
		path, owner)
}

// CheckProvider is the client's check of a provider before it sends its
// HELLO (and with it the auth token): the process serving the endpoint
// must run as this process's effective user or as root.
func CheckProvider(c *Conn, endpoint string) error {
	cr, me := c.cred, euid()
	if cr.Known && (cr.UID == me || cr.UID == 0) {
		return nil
	}
	who := "does not tell who it runs as"
	if cr.Known {
		who = fmt.Sprintf("runs as uid:%d (pid %d)", cr.UID, cr.PID)
	}
	expected := "uid:0"
	if me != 0 {
		expected = fmt.Sprintf("uid:0 or uid:%d", me)
	}
	return netipc.Errorf(netipc.ErrPermission,
		"the provider at %s %s (expected %s); refusing to send the auth token: stop the process that holds the endpoint, or run this client as the provider's user",
		endpoint, who, expected)
}
