//go:build !linux && !windows

package sys

import (
	"runtime"
	"time"

	netipc "github.com/netdata/netipc/go"
)

// DefaultBacklog is the listen backlog.
const DefaultBacklog = 16

func unsupported() error {
	return netipc.Errorf(netipc.ErrIO, "netipc has no transport for %s yet", runtime.GOOS)
}

// Conn is a connected baseline connection (not available on this OS).
type Conn struct{}

// Cred returns what the OS reports about the peer.
func (c *Conn) Cred() Cred { return Cred{} }

// DefaultPacketSize is the packet size of the connection.
func (c *Conn) DefaultPacketSize() uint32 { return 65536 }

// SendPacket sends one packet.
func (c *Conn) SendPacket(head, body []byte, deadline time.Time) error { return unsupported() }

// RecvPacket receives one packet.
func (c *Conn) RecvPacket(buf []byte, deadline time.Time) (int, error) { return 0, unsupported() }

// RecvPacketSplit receives one packet into head and body.
func (c *Conn) RecvPacketSplit(head, body []byte, deadline time.Time) (int, error) {
	return 0, unsupported()
}

// Abort makes waits end at once while on.
func (c *Conn) Abort(on bool) {}

// PeerClosed reports whether the peer closed its end.
func (c *Conn) PeerClosed() bool { return true }

// Close closes the connection.
func (c *Conn) Close() error { return nil }

// WaitHangup returns at once on this OS.
func (c *Conn) WaitHangup() {}

// Connect connects to the endpoint at path.
func Connect(runDir, path string, deadline time.Time) (*Conn, error) { return nil, unsupported() }

// Listener is a listening endpoint (not available on this OS).
type Listener struct{}

// Listen creates the endpoint of service.
func Listen(runDir, service, path string, backlog int) (*Listener, error) {
	return nil, unsupported()
}

// Path returns the endpoint.
func (l *Listener) Path() string { return "" }

// Accept waits for one connection.
func (l *Listener) Accept() (*Conn, error) { return nil, ErrClosed }

// Close stops listening.
func (l *Listener) Close() error { return nil }

// DefaultRunDir is the platform's default run directory.
func DefaultRunDir() string { return "" }

// PrepareRunDir creates or checks a run directory.
func PrepareRunDir(path string, create, allowGroupWrite bool) (bool, error) {
	return false, unsupported()
}

// CheckProvider is the client's check of a provider before its HELLO.
func CheckProvider(c *Conn, endpoint string) error { return nil }
