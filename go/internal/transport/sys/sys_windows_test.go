package sys

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/tempdir"
)

func runDir(t *testing.T) string { return tempdir.New(t) }

// endpoint is the pipe name of service in dir, derived as the transport
// derives it (the transport's names are tested there).
func endpoint(dir, service string) string {
	h := uint64(0xcbf29ce484222325)
	for i := 0; i < len(dir); i++ {
		h = (h ^ uint64(dir[i])) * 0x00000100000001b3
	}
	return fmt.Sprintf(`\\.\pipe\netipc-%016x-%s`, h, service)
}

// checkCred checks what the pipe reports about this process: its pid.
func checkCred(t *testing.T, cr Cred) {
	t.Helper()
	if !cr.Known || cr.PID != int32(os.Getpid()) || cr.UID != 0 || cr.GID != 0 {
		t.Fatalf("cred %+v (pid %d)", cr, os.Getpid())
	}
}

// endpointGone fails unless no pipe of that name exists.
func endpointGone(t *testing.T, path string) {
	t.Helper()
	w, _ := syscall.UTF16PtrFromString(path)
	if nameExists(w) {
		t.Fatalf("pipe %s still there", path)
	}
}

func TestSecondProviderIsRefused(t *testing.T) {
	dir := runDir(t)
	l := listen(t, dir, "svc")
	_, err := Listen(dir, "svc", l.Path(), 0)
	if kindOfErr(err) != netipc.ErrAddressInUse || !strings.Contains(err.Error(), "already served by pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Listen: %v", err)
	}
	// The first provider still serves, and its name is free once it stops.
	c, err := Connect(dir, l.Path(), time.Now().Add(2*time.Second))
	if err != nil {
		t.Fatalf("connect to the first provider: %v", err)
	}
	c.Close()
	l.Close()
	l2, err := Listen(dir, "svc", l.Path(), 0)
	if err != nil {
		t.Fatalf("Listen after the first provider stopped: %v", err)
	}
	l2.Close()
}

func TestListenNeedsTheRunDir(t *testing.T) {
	base := runDir(t)
	missing := filepath.Join(base, "missing")
	if _, err := Listen(missing, "svc", endpoint(missing, "svc"), 0); kindOfErr(err) != netipc.ErrNotFound || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Listen in a missing run dir: %v", err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(file, "svc", endpoint(file, "svc"), 0); kindOfErr(err) != netipc.ErrRunDir || !strings.Contains(err.Error(), "regular file, not a directory") {
		t.Fatalf("Listen in a file: %v", err)
	}
	if _, err := Listen("", "svc", endpoint("", "svc"), 0); kindOfErr(err) != netipc.ErrInvalidArgument {
		t.Fatalf("Listen in an empty run dir: %v", err)
	}
}

// More clients at once than instances wait: each finds a free instance
// (the provider puts up a fresh one after each accept) or waits for one.
func TestClientsBeyondTheBacklog(t *testing.T) {
	dir := runDir(t)
	l, err := Listen(dir, "svc", endpoint(dir, "svc"), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const clients = 12
	accepted := make(chan *Conn, clients)
	go func() {
		for range clients {
			c, err := l.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			accepted <- c
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Connect(dir, l.Path(), time.Now().Add(10*time.Second))
			if err != nil {
				errs <- err
				return
			}
			if err := c.SendPacket([]byte("hi"), nil, time.Now().Add(5*time.Second)); err != nil {
				errs <- err
			}
			c.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for range clients {
		select {
		case c := <-accepted:
			c.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("not every client was accepted")
		}
	}
}

// A message longer than the receive buffer is reported with its real
// length and consumed whole, the next one starting at its boundary; a
// split receive gathers head and body.
func TestOversizeMessagesKeepTheBoundaries(t *testing.T) {
	client, server := pair(t)
	for _, size := range []int{100, 70000} {
		if err := client.SendPacket(make([]byte, size), []byte("x"), time.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.SendPacket([]byte("next"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	for _, want := range []int{101, 70001} {
		n, err := server.RecvPacket(buf, time.Now().Add(5*time.Second))
		if err != nil || n != want {
			t.Fatalf("oversize receive: %d %v, want %d", n, err, want)
		}
	}
	head, body := make([]byte, 2), make([]byte, 8)
	n, err := server.RecvPacketSplit(head, body, time.Now().Add(5*time.Second))
	if err != nil || n != 4 || string(head) != "ne" || string(body[:2]) != "xt" {
		t.Fatalf("next packet: %d %v %q %q", n, err, head, body)
	}
}

// A packet that arrives while a read is in flight and does not fit ends
// the connection with ErrProtocol naming the buffer size; the connection
// then refuses every operation.
func TestMoreDataInFlightBreaksTheConnection(t *testing.T) {
	client, server := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := server.RecvPacket(make([]byte, 8), time.Now().Add(5*time.Second))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // the read is in flight
	if err := client.SendPacket(make([]byte, 64), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if kindOfErr(err) != netipc.ErrProtocol || !strings.Contains(err.Error(), "8-byte receive buffer") {
		t.Fatalf("receive of a packet that does not fit: %v", err)
	}
	if _, err := server.RecvPacket(make([]byte, 100), time.Time{}); kindOfErr(err) != netipc.ErrProtocol {
		t.Fatalf("receive after: %v", err)
	}
	if err := server.SendPacket([]byte("x"), nil, time.Time{}); kindOfErr(err) != netipc.ErrProtocol {
		t.Fatalf("send after: %v", err)
	}
}

// waitForData waits until a packet waits in c's pipe. It peeks through
// the connection's raw handle (File.Fd would take the file out of the
// runtime's completion port).
func waitForData(t *testing.T, c *Conn, deadline time.Time) {
	t.Helper()
	for time.Now().Before(deadline) {
		var avail uint32
		c.rc.Control(func(h uintptr) { avail, _, _ = peekNamedPipe(syscall.Handle(h)) })
		if avail > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no packet arrived")
}

// A waiting packet too long to be worth reading ends the connection
// unread.
func TestHugePacketBreaksTheConnection(t *testing.T) {
	client, server := pair(t)
	sent := make(chan error, 1)
	go func() { sent <- client.SendPacket(make([]byte, oversizeMax+1), nil, time.Now().Add(2*time.Second)) }()
	deadline := time.Now().Add(5 * time.Second)
	waitForData(t, server, deadline)
	_, err := server.RecvPacket(make([]byte, 64), deadline)
	if kindOfErr(err) != netipc.ErrProtocol || !strings.Contains(err.Error(), strconv.Itoa(oversizeMax+1)+"-byte packet") {
		t.Fatalf("receive of a huge packet: %v", err)
	}
	server.Close()
	if err := <-sent; err != ErrWait && kindOfErr(err) != netipc.ErrDisconnected {
		t.Fatalf("the sender: %v", err)
	}
}

// A read that ended in ERROR_MORE_DATA may have left a completion packet
// for the runtime: the connection's handle outlives Close by strayGrace,
// so that the packet cannot reach the I/O of a file opened after it. The
// peer sees the end of the pipe then.
func TestMoreDataDefersTheHandleClose(t *testing.T) {
	defer func(g time.Duration) { strayGrace = g }(strayGrace)
	strayGrace = 300 * time.Millisecond
	client, server := pair(t)
	deadline := time.Now().Add(5 * time.Second)
	if err := client.SendPacket([]byte("not expected"), nil, deadline); err != nil {
		t.Fatal(err)
	}
	waitForData(t, server, deadline)
	// The zero-byte read finds the packet waiting: ERROR_MORE_DATA at once.
	server.WaitHangup()
	if server.broken.Load() == nil || !server.stray.Load() {
		t.Fatal("WaitHangup did not give up the connection after a packet")
	}
	// The client's sends fill the pipe, then one waits for room.
	sent := make(chan error, 1)
	go func() {
		for {
			if err := client.SendPacket(make([]byte, 64<<10), nil, deadline); err != nil {
				sent <- err
				return
			}
		}
	}()
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	if err := server.rc.Control(func(uintptr) {}); err != nil {
		t.Fatalf("the handle was closed at once: %v", err)
	}
	if _, err := server.RecvPacket(make([]byte, 8), deadline); err != ErrClosed && kindOfErr(err) != netipc.ErrProtocol {
		t.Fatalf("receive after Close: %v", err)
	}
	for server.rc.Control(func(uintptr) {}) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the handle was never closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-sent:
		if kindOfErr(err) != netipc.ErrDisconnected {
			t.Fatalf("the client's send once the server's handle closed: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the client's send did not end when the server's handle closed")
	}
}

// Data written before a close stays readable by the peer.
func TestCloseKeepsWrittenData(t *testing.T) {
	client, server := pair(t)
	if err := server.SendPacket([]byte("last words"), nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	server.Close()
	buf := make([]byte, 32)
	n, err := client.RecvPacket(buf, time.Now().Add(5*time.Second))
	if err != nil || string(buf[:n]) != "last words" {
		t.Fatalf("receive after the peer's close: %q %v", buf[:n], err)
	}
	if _, err := client.RecvPacket(buf, time.Now().Add(5*time.Second)); kindOfErr(err) != netipc.ErrDisconnected {
		t.Fatalf("then: %v", err)
	}
	if err := client.SendPacket([]byte("x"), nil, time.Time{}); kindOfErr(err) != netipc.ErrDisconnected {
		t.Fatalf("send to a closed peer: %v", err)
	}
}

// The provider check accepts a provider of this user (under wine every
// process is).
func TestCheckProvider(t *testing.T) {
	client, _ := pair(t)
	if err := CheckProvider(client, "test"); err != nil {
		t.Fatal(err)
	}
	user, groups, ok := processIdentity(uint32(os.Getpid()))
	me, err := currentUserSID()
	if !ok || err != nil || user != me {
		t.Fatalf("identity of this process: %q %v %v, want %q", user, groups, ok, me)
	}
	// A peer whose identity cannot be read is refused, naming the pid.
	unknown := &Conn{cred: Cred{PID: -1, Known: true}}
	if err := CheckProvider(unknown, "test"); kindOfErr(err) != netipc.ErrPermission || !strings.Contains(err.Error(), "pid -1") {
		t.Fatalf("unidentified provider: %v", err)
	}
}

var procConvertSDToString = modadvapi32.NewProc("ConvertSecurityDescriptorToStringSecurityDescriptorW")

// The descriptor says what it must (wine does not enforce DACLs; this
// checks the descriptor built, not the OS's use of it).
func TestObjectSecurityDescriptor(t *testing.T) {
	for _, pipe := range []bool{true, false} {
		sa, free, err := objectSecurity(pipe)
		if err != nil {
			t.Fatal(err)
		}
		const daclInfo = 4
		var str *uint16
		r, _, e := syscall.SyscallN(procConvertSDToString.Addr(), sa.SecurityDescriptor, sddlRevision1, daclInfo,
			uintptr(unsafe.Pointer(&str)), 0)
		if r == 0 {
			t.Fatal(e)
		}
		got := syscall.UTF16ToString(unsafe.Slice(str, 256))
		syscall.LocalFree(syscall.Handle(unsafe.Pointer(str)))
		free()
		free() // idempotent
		me, _ := currentUserSID()
		if !strings.HasPrefix(got, "D:P") || !strings.Contains(got, "(A;;GA;;;SY)") || !strings.Contains(got, "(A;;GA;;;BA)") ||
			!strings.Contains(got, ";;;"+me+")") || strings.Count(got, "(A;") != 3 {
			t.Fatalf("DACL %s", got)
		}
	}
}

// Idle sessions park goroutines in the runtime's completion port: many
// receives waiting at once create (almost) no threads.
func TestIdleReceivesHoldNoThread(t *testing.T) {
	const sessions = 40
	dir := runDir(t)
	l := listen(t, dir, "idle")
	var servers []*Conn
	for range sessions {
		got := make(chan *Conn, 1)
		go func() { c, _ := l.Accept(); got <- c }()
		c, err := Connect(dir, l.Path(), time.Now().Add(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s := <-got
		defer s.Close()
		servers = append(servers, s)
	}
	time.Sleep(50 * time.Millisecond)
	before := pprof.Lookup("threadcreate").Count()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.RecvPacket(make([]byte, 64), time.Time{})
		}()
	}
	time.Sleep(300 * time.Millisecond)
	grown := pprof.Lookup("threadcreate").Count() - before
	for _, s := range servers {
		s.Close()
	}
	wg.Wait()
	if grown > sessions/4 {
		t.Fatalf("%d idle receives made %d threads", sessions, grown)
	}
}

// A call's packets allocate nothing once the buffers have grown.
func TestPacketsAllocateNothing(t *testing.T) {
	client, server := pair(t)
	head, body := make([]byte, 32), make([]byte, 1000)
	buf := make([]byte, 2000)
	allocs := testing.AllocsPerRun(200, func() {
		deadline := time.Now().Add(5 * time.Second)
		if err := client.SendPacket(head, body, deadline); err != nil {
			t.Fatal(err)
		}
		if n, err := server.RecvPacket(buf, deadline); err != nil || n != 1032 {
			t.Fatal(n, err)
		}
		if err := server.SendPacket(head, nil, deadline); err != nil {
			t.Fatal(err)
		}
		if _, err := client.RecvPacketSplit(buf[:16], buf[16:], deadline); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per exchange", allocs)
	}
}

func TestPrepareRunDir(t *testing.T) {
	base := runDir(t)
	p := filepath.Join(base, "run")
	created, err := PrepareRunDir(p, true, false)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if created, err := PrepareRunDir(p, true, false); err != nil || created {
		t.Fatalf("existing: %v %v", created, err)
	}
	if created, err := PrepareRunDir(p, false, false); err != nil || created {
		t.Fatalf("check only: %v %v", created, err)
	}
	if _, err := PrepareRunDir(filepath.Join(base, "none"), false, false); kindOfErr(err) != netipc.ErrNotFound {
		t.Fatalf("missing: %v", err)
	}
	if _, err := PrepareRunDir(filepath.Join(base, "no", "such"), true, false); kindOfErr(err) != netipc.ErrNotFound || !strings.Contains(err.Error(), "parent") {
		t.Fatalf("missing parent: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := PrepareRunDir(file, false, false); kindOfErr(err) != netipc.ErrRunDir || !strings.Contains(err.Error(), "regular file, not a directory") {
		t.Fatalf("file: %v", err)
	}
	link := filepath.Join(base, "link")
	os.Symlink(p, link)
	if fi, err := os.Lstat(link); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if _, err := PrepareRunDir(link, false, false); kindOfErr(err) != netipc.ErrRunDir || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("symlink: %v", err)
		}
	} else {
		t.Log("no symbolic links here (wine): that case is not checked")
	}
	if _, err := PrepareRunDir("", true, false); kindOfErr(err) != netipc.ErrInvalidArgument {
		t.Fatalf("empty: %v", err)
	}
	t.Setenv("LOCALAPPDATA", `C:\data`)
	if d := DefaultRunDir(); d != `C:\data\netipc` {
		t.Fatalf("default run dir %q", d)
	}
	t.Setenv("LOCALAPPDATA", "")
	if d := DefaultRunDir(); d != filepath.Join(os.TempDir(), "netipc") {
		t.Fatalf("default run dir without LOCALAPPDATA %q", d)
	}
}
