package transport

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
)

// thisPeer is what SO_PEERCRED reports about this process.
func thisPeer() Peer {
	return Peer{PID: int32(os.Getpid()), UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
}

// openHandles counts this process's open descriptors.
func openHandles() int {
	e, _ := os.ReadDir("/proc/self/fd")
	return len(e)
}

func TestListenEndpoint(t *testing.T) {
	baselineOnly(t)
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	if l.Endpoint() != filepath.Join(dir, "svc.sock") {
		t.Fatalf("endpoint %s", l.Endpoint())
	}
	fi, err := os.Lstat(l.Endpoint())
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket file: %v %v", fi.Mode(), err)
	}
	_, err = Listen(dir+"//", "svc", ServerOptions{})
	wantKind(t, "second provider", err, netipc.ErrAddressInUse, "pid "+strconv.Itoa(os.Getpid()), l.Endpoint())
	_, err = Listen(dir, "bad/name", ServerOptions{})
	wantKind(t, "bad service name", err, netipc.ErrInvalidArgument, "invalid service name")
	_, err = Listen("", "svc", ServerOptions{})
	wantKind(t, "empty run dir", err, netipc.ErrInvalidArgument)
	_, err = Listen(filepath.Join(dir, "missing"), "svc", ServerOptions{})
	wantKind(t, "missing run dir", err, netipc.ErrNotFound, "does not exist")
	world := filepath.Join(dir, "world")
	os.Mkdir(world, 0o777)
	_, err = Listen(world, "svc", ServerOptions{})
	wantKind(t, "world-writable run dir", err, netipc.ErrRunDir, "writable by every user")
	_, err = Connect(world, "svc", defaultClient, time.Time{})
	wantKind(t, "nothing listens", err, netipc.ErrNotFound, "no provider at")
	l.Close()
	if _, err := os.Lstat(l.Endpoint()); !os.IsNotExist(err) {
		t.Fatalf("endpoint left after Close: %v", err)
	}
	_, err = l.Accept()
	wantKind(t, "accept after close", err, netipc.ErrClosed)
}

func TestStaleEndpointOfADeadProviderIsRecovered(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	path := filepath.Join(dir, "svc.sock")
	// What a crashed provider leaves: a socket nobody listens on, and a
	// lock file with a dead pid.
	fd, _ := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	os.WriteFile(filepath.Join(dir, "svc.lock"), []byte("999999999\n"), 0o600)
	l := listenT(t, dir, ServerOptions{})
	c, s := pairOn(t, l, dir, defaultClient, defaultOffer)
	echo(s)
	if err := c.Send(reqHdr(1), []byte("alive"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Receive(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
}
