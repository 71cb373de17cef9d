package sys

import (
	"syscall"
	"time"
	"unsafe"
)

// WaitHangup blocks until the peer closes its end of the connection (or
// sends anything on it, which a shared-memory session never does, or the
// socket fails), or until this process closes the connection. The
// goroutine is parked in Go's network poller meanwhile: no thread. A
// shared-memory session, whose socket carries nothing after the
// handshake, learns this way that its idle peer is gone.
//
// It takes over the read side: it clears the read deadline (the
// handshake's) and must not run while packets are received or Abort is
// used on the connection.
func (c *Conn) WaitHangup() {
	if c.uc.SetReadDeadline(time.Time{}) != nil {
		return
	}
	_ = c.rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		// EAGAIN: nothing to read, wait for readability; anything else
		// (EOF, data, an error) ends the wait.
		return e != syscall.EAGAIN
	})
}
