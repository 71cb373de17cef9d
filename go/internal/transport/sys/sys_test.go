//go:build linux || windows

package sys

// The tests every backend passes; the helpers they use per OS (runDir,
// endpoint, checkCred, endpointGone) are in sys_<os>_test.go.

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
)

func listen(t *testing.T, dir, service string) *Listener {
	t.Helper()
	l, err := Listen(dir, service, endpoint(dir, service), 0)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pair returns a connected client and server connection.
func pair(t *testing.T) (client, server *Conn) {
	t.Helper()
	dir := runDir(t)
	l := listen(t, dir, "svc")
	got := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	client, err := Connect(dir, l.Path(), time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	server = <-got
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func kindOfErr(err error) netipc.Kind {
	var e *netipc.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func TestConnectErrors(t *testing.T) {
	dir := runDir(t)
	_, err := Connect(dir, endpoint(dir, "none"), time.Time{})
	if kindOfErr(err) != netipc.ErrNotFound || !strings.Contains(err.Error(), "no provider at") {
		t.Fatalf("nothing there: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	_, err = Connect(missing, endpoint(missing, "x"), time.Time{})
	if kindOfErr(err) != netipc.ErrNotFound || !strings.Contains(err.Error(), "run directory "+missing+" does not exist") {
		t.Fatalf("missing run dir: %v", err)
	}
}

func TestPacketsCredentialsAndTruncation(t *testing.T) {
	client, server := pair(t)
	for _, c := range []*Conn{client, server} {
		checkCred(t, c.Cred())
		if p := c.DefaultPacketSize(); p <= 32 {
			t.Fatalf("packet size %d", p)
		}
	}
	if err := client.SendPacket([]byte("head"), []byte("body"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	head, body := make([]byte, 4), make([]byte, 16)
	n, err := server.RecvPacketSplit(head, body, time.Now().Add(time.Second))
	if err != nil || n != 8 || string(head) != "head" || string(body[:4]) != "body" {
		t.Fatalf("recv: %d %v %q %q", n, err, head, body)
	}
	// A packet larger than the buffer reports its real length.
	if err := client.SendPacket(make([]byte, 100), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n, err = server.RecvPacket(make([]byte, 10), time.Time{})
	if err != nil || n != 100 {
		t.Fatalf("truncated recv: %d %v", n, err)
	}
	if server.PeerClosed() {
		t.Fatal("PeerClosed on a live connection")
	}
	client.Close()
	if _, err := server.RecvPacket(make([]byte, 10), time.Time{}); kindOfErr(err) != netipc.ErrDisconnected {
		t.Fatalf("recv after peer close: %v", err)
	}
	if !server.PeerClosed() {
		t.Fatal("PeerClosed false after the peer closed")
	}
}

func TestDeadlinesAbortAndClose(t *testing.T) {
	client, server := pair(t)
	buf := make([]byte, 64)
	start := time.Now()
	if _, err := server.RecvPacket(buf, time.Now().Add(50*time.Millisecond)); err != ErrWait {
		t.Fatalf("deadline: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("deadline took %v", d)
	}
	done := make(chan error, 1)
	go func() { _, err := server.RecvPacket(buf, time.Time{}); done <- err }()
	time.Sleep(20 * time.Millisecond)
	server.Abort(true)
	select {
	case err := <-done:
		if err != ErrWait {
			t.Fatalf("after Abort: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Abort did not wake the receive")
	}
	if _, err := server.RecvPacket(buf, time.Time{}); err != ErrWait {
		t.Fatalf("Abort is not sticky: %v", err)
	}
	server.Abort(false)
	if _, err := server.RecvPacket(buf, time.Now().Add(10*time.Millisecond)); err != ErrWait {
		t.Fatalf("after Abort(false): %v", err)
	}
	go func() { _, err := server.RecvPacket(buf, time.Time{}); done <- err }()
	time.Sleep(20 * time.Millisecond)
	server.Close()
	select {
	case err := <-done:
		if err != ErrClosed {
			t.Fatalf("after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake the receive")
	}
	// A send into a full socket waits until its deadline.
	big := make([]byte, 60000)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = client.SendPacket(big, nil, time.Now().Add(50*time.Millisecond))
	}
	if err != ErrWait && kindOfErr(err) != netipc.ErrDisconnected {
		t.Fatalf("send to a full (or closed) peer: %v", err)
	}
}

func TestListenerCloseWakesAccept(t *testing.T) {
	dir := runDir(t)
	l := listen(t, dir, "svc")
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(20 * time.Millisecond)
	l.Close()
	select {
	case err := <-done:
		if err != ErrClosed {
			t.Fatalf("Accept after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake Accept")
	}
	endpointGone(t, l.Path())
}

func TestWaitHangup(t *testing.T) {
	for _, who := range []string{"peer", "self"} {
		t.Run(who, func(t *testing.T) {
			client, server := pair(t)
			done := make(chan struct{})
			go func() { server.WaitHangup(); close(done) }()
			select {
			case <-done:
				t.Fatal("WaitHangup returned on a live connection")
			case <-time.After(50 * time.Millisecond):
			}
			if who == "peer" {
				client.Close()
			} else {
				server.Close()
			}
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Fatalf("WaitHangup did not return after the %s closed", who)
			}
		})
	}
}

// PeerClosed tells a live peer from a gone one, allocating nothing.
func TestPeerClosed(t *testing.T) {
	client, server := pair(t)
	if allocs := testing.AllocsPerRun(100, func() {
		if client.PeerClosed() || server.PeerClosed() {
			t.Fatal("PeerClosed on a live connection")
		}
	}); allocs != 0 {
		t.Fatalf("PeerClosed allocates %v times", allocs)
	}
	server.Close()
	if !client.PeerClosed() || !client.PeerClosed() {
		t.Fatal("PeerClosed after the peer closed")
	}
	client.Close()
	if !client.PeerClosed() {
		t.Fatal("PeerClosed after Close")
	}
}
