// Package sys is the operating-system layer of netipc's transport: every
// system call of the transport lives here, behind the same names on every
// OS. On Linux the baseline connection is a Unix SEQPACKET socket driven
// through Go's network poller (an idle session parks a goroutine, not a
// thread). On Windows it is a named pipe in message mode, opened for
// overlapped I/O and driven through the runtime's I/O completion port
// (os.NewFile associates it; again no thread per idle session). The
// files *_other.go keep the rest of the module compiling on operating
// systems whose backend is not written yet (their functions fail with an
// "unsupported" error).
//
// The package knows nothing about the protocol: it moves packets, makes
// and removes endpoints, checks run directories and reports peer
// credentials. Errors are *netipc.Error values, except the sentinels
// below, which the transport turns into errors that name the operation.
package sys

import "errors"

// ErrWait is returned by a packet operation whose wait ended without the
// packet moving: its deadline passed, or Abort was called. Nothing was
// sent or received; the caller decides which it was.
var ErrWait = errors.New("sys: wait ended")

// ErrClosed is returned by an operation on a connection or listener that
// was closed by this process (possibly while the operation waited).
var ErrClosed = errors.New("sys: closed")

// Cred is what the operating system reports about the process on the
// other end of a connection. Fields the OS does not report are zero, with
// Known false.
type Cred struct {
	PID   int32
	UID   uint32
	GID   uint32
	Known bool
}
