package transport

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/sys"
)

// thisPeer is what a pipe reports about this process: its pid (Windows
// reports no uid or gid).
func thisPeer() Peer { return Peer{PID: int32(os.Getpid())} }

// openHandles counts this process's open handles of the kinds netipc
// opens (sys.OpenHandles): GetProcessHandleCount would count the handles
// Go's runtime opens for each OS thread it starts too (and Wine answers
// 0).
func openHandles() int {
	counts, err := sys.OpenHandles()
	if err != nil {
		panic(err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

func TestListenEndpoint(t *testing.T) {
	baselineOnly(t)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	want, _ := PipeName(CanonicalWindowsRunDir(dir), "svc")
	if l.Endpoint() != want {
		t.Fatalf("endpoint %s, want %s", l.Endpoint(), want)
	}
	// Another spelling of the directory is the same endpoint.
	_, err := Listen(dir+`\\.\`, "svc", ServerOptions{})
	wantKind(t, "second provider", err, netipc.ErrAddressInUse, "pid "+strconv.Itoa(os.Getpid()), l.Endpoint())
	// So is a relative spelling (made absolute, as the Rust core does).
	t.Chdir(dir)
	_, err = Listen(".", "svc", ServerOptions{})
	wantKind(t, "second provider, relative run dir", err, netipc.ErrAddressInUse, l.Endpoint())
	// A run directory too long for the session's shared-memory names.
	long := dir + `\` + strings.Repeat("x", 480)
	_, err = Listen(long, "svc", ServerOptions{})
	wantKind(t, "too long run dir", err, netipc.ErrInvalidArgument, "SHM name hash input")
	_, err = Listen(dir, "bad/name", ServerOptions{})
	wantKind(t, "bad service name", err, netipc.ErrInvalidArgument, "invalid service name")
	_, err = Listen("", "svc", ServerOptions{})
	wantKind(t, "empty run dir", err, netipc.ErrInvalidArgument)
	_, err = Listen(dir+`\missing`, "svc", ServerOptions{})
	wantKind(t, "missing run dir", err, netipc.ErrNotFound, "does not exist")
	_, err = Connect(dir, "other", defaultClient, time.Time{})
	wantKind(t, "nothing listens", err, netipc.ErrNotFound, "no provider at")
	l.Close()
	_, err = Connect(dir, "svc", defaultClient, time.Time{})
	wantKind(t, "after Close", err, netipc.ErrNotFound, "no provider at")
	_, err = l.Accept()
	wantKind(t, "accept after close", err, netipc.ErrClosed)
}
