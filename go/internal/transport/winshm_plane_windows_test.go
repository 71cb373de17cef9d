package transport

// End-to-end tests of the Windows shared-memory data plane: sessions made
// by Listen/Connect over a named pipe that select SHM_HYBRID or
// SHM_BUSYWAIT; and the same against the Rust core (NETIPC_TEST_PEER,
// NETIPC_BIN: Windows builds of netipc-test-peer and the netipc CLI).
// The helpers start with w so that they never clash with the OS-neutral
// tests' helpers.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/tempdir"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/internal/transport/winshm"
	"github.com/netdata/netipc/go/protocol"
)

const wService = "winshmsvc"

var wProfiles = []protocol.Profile{protocol.ProfileSHMHybrid, protocol.ProfileSHMAlt}

// wServer runs a listener whose sessions are handed to serve (each in its
// own goroutine) until the test ends.
type wServer struct {
	dir      string
	mu       sync.Mutex
	sessions []*ServerSession
}

func wStart(t *testing.T, offer ServerOffer, serve func(*ServerSession)) *wServer {
	t.Helper()
	offer.MaxRequestPayloadBytes = or32(offer.MaxRequestPayloadBytes, 4096)
	offer.MaxResponsePayloadBytes = or32(offer.MaxResponsePayloadBytes, 4096)
	s := &wServer{dir: tempdir.New(t)}
	l, err := Listen(s.dir, wService, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := uint64(1); ; id++ {
			in, err := l.Accept()
			if err != nil {
				return
			}
			sess, err := in.Handshake(id, offer)
			if err != nil {
				continue
			}
			s.mu.Lock()
			s.sessions = append(s.sessions, sess)
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(sess)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		s.mu.Lock()
		for _, sess := range s.sessions {
			sess.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	return s
}

// wEcho answers every request with its own payload.
func wEcho(sess *ServerSession) {
	for {
		m, err := sess.Receive(time.Time{})
		if err != nil {
			return
		}
		h := m.Header
		h.Kind = protocol.KindResponse
		if sess.Send(h, m.Payload) != nil {
			return
		}
	}
}

func wConnect(t *testing.T, dir string, profiles protocol.Profile, token uint64) *ClientSession {
	t.Helper()
	c, err := Connect(dir, wService, ClientOptions{
		SupportedProfiles: profiles, PreferredProfiles: profiles &^ protocol.ProfileBaseline,
		MaxRequestPayloadBytes: 4096, MaxResponsePayloadBytes: 4096, AuthToken: token,
	}, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wCall(t *testing.T, c *ClientSession, id uint64, payload []byte) {
	t.Helper()
	h := protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodIncrement, ItemCount: 1, MessageID: id}
	if err := c.Send(h, payload, time.Now().Add(10*time.Second)); err != nil {
		t.Fatalf("send %d: %v", id, err)
	}
	m, err := c.Receive(time.Now().Add(10 * time.Second))
	if err != nil {
		t.Fatalf("receive %d: %v", id, err)
	}
	if m.Header.MessageID != id || !bytes.Equal(m.Payload, payload) {
		t.Fatalf("response %d: %+v, %d bytes", id, m.Header, len(m.Payload))
	}
}

// wRegion is the Windows region of a session's plane (nil: not SHM).
func wRegion(s *session) *winshm.Region {
	if p, ok := s.plane.(*shmPlane); ok {
		r, _ := p.region.(*winshm.Region)
		return r
	}
	return nil
}

func TestWinSHMSessionsRoundTrip(t *testing.T) {
	for _, profile := range wProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			both := protocol.ProfileBaseline | profile
			const token = 0xfeedface
			srv := wStart(t, ServerOffer{SupportedProfiles: both | protocol.ProfileSHMAny, PreferredProfiles: profile, AuthToken: token}, wEcho)
			c := wConnect(t, srv.dir, both, token)
			p := c.Params()
			if p.Profile != profile || p.Extensions != 0 {
				t.Fatalf("params %+v", p)
			}
			r := wRegion(c.s)
			names, _ := WindowsSHMNames(CanonicalWindowsRunDir(srv.dir), wService, token, profile, p.SessionID)
			if r == nil || r.Profile() != profile || r.Name() != names.Mapping {
				t.Fatalf("the client's plane is not the region %s", names.Mapping)
			}
			payload := make([]byte, 4096)
			for i := range 500 {
				payload[i%len(payload)] = byte(i)
				wCall(t, c, uint64(i+1), payload[:1+i*8%len(payload)])
			}
			for i := range 3 {
				time.Sleep(20 * time.Millisecond) // both sides asleep (the server watched)
				wCall(t, c, uint64(1000+i), payload)
			}
			err := c.Send(protocol.Header{Kind: protocol.KindRequest, MessageID: 9}, make([]byte, 4097), time.Time{})
			if !errors.Is(err, netipc.ErrLimitExceeded) {
				t.Fatalf("an oversized request: %v", err)
			}
			wCall(t, c, 2000, []byte("still usable"))
			// A baseline client of the same server gets the pipe.
			b := wConnect(t, srv.dir, protocol.ProfileBaseline, token)
			if wRegion(b.s) != nil {
				t.Fatal("a baseline session has a region")
			}
			wCall(t, b, 1, []byte("pipe"))
		})
	}
}

// TestWinSHMClosesAreSeen: each side's Close ends the other's wait at
// once (the close flag and the event), and the objects are gone with the
// last handle.
func TestWinSHMClosesAreSeen(t *testing.T) {
	for _, profile := range wProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			both := protocol.ProfileBaseline | profile
			ended := make(chan error, 4)
			srv := wStart(t, ServerOffer{SupportedProfiles: both, PreferredProfiles: profile}, func(s *ServerSession) {
				_, err := s.Receive(time.Time{})
				ended <- err
				s.Close()
			})
			c := wConnect(t, srv.dir, both, 0)
			names, _ := WindowsSHMNames(CanonicalWindowsRunDir(srv.dir), wService, 0, profile, c.Params().SessionID)
			time.Sleep(50 * time.Millisecond) // the server session is idle
			start := time.Now()
			c.Close()
			select {
			case err := <-ended:
				if !errors.Is(err, netipc.ErrDisconnected) || time.Since(start) > 2*time.Second {
					t.Fatalf("after %v: %v", time.Since(start), err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the server never noticed the client's close")
			}
			// Both sides closed: the mapping is gone.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				r, err := winshm.Attach(winshm.Names{Mapping: names.Mapping, ReqEvent: names.ReqEvent, RespEvent: names.RespEvent}, profile)
				if err != nil {
					break
				}
				r.Close()
				if time.Now().After(deadline) {
					t.Fatal("the mapping outlived both sides")
				}
			}

			// The server closes: the client's wait for its response ends.
			c = wConnect(t, srv.dir, both, 0)
			if err := c.Send(protocol.Header{Kind: protocol.KindRequest, ItemCount: 1, MessageID: 1}, []byte("x"), time.Time{}); err != nil {
				t.Fatal(err)
			}
			got := make(chan error, 1)
			go func() {
				_, err := c.Receive(time.Time{})
				got <- err
			}()
			<-ended // the server session received the request and closes
			select {
			case err := <-got:
				if !errors.Is(err, netipc.ErrDisconnected) {
					t.Fatalf("the client's Receive: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the client never noticed the server's close")
			}
		})
	}
}

func TestWinSHMWaitsEndPromptly(t *testing.T) {
	for _, profile := range wProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			both := protocol.ProfileBaseline | profile
			release := make(chan struct{})
			srv := wStart(t, ServerOffer{SupportedProfiles: both, PreferredProfiles: profile}, func(s *ServerSession) {
				if _, err := s.Receive(time.Time{}); err != nil {
					return
				}
				<-release
			})
			defer close(release)
			c := wConnect(t, srv.dir, both, 0)
			if err := c.Send(protocol.Header{Kind: protocol.KindRequest, ItemCount: 1, MessageID: 1}, []byte("stall"), time.Time{}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if _, err := c.Receive(time.Now().Add(100 * time.Millisecond)); !errors.Is(err, netipc.ErrTimeout) {
				t.Fatalf("deadline: %v", err)
			}
			if el := time.Since(start); el < 90*time.Millisecond || el > 3*time.Second {
				t.Fatalf("the 100 ms deadline took %v", el)
			}
			got := make(chan error, 1)
			go func() {
				_, err := c.Receive(time.Time{})
				got <- err
			}()
			time.Sleep(30 * time.Millisecond)
			c.Interrupt()
			select {
			case err := <-got:
				if !errors.Is(err, netipc.ErrAborted) {
					t.Fatalf("interrupt: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Interrupt did not end the wait")
			}
			c.ClearInterrupt()
			go func() {
				_, err := c.Receive(time.Time{})
				got <- err
			}()
			time.Sleep(30 * time.Millisecond)
			c.Close()
			select {
			case err := <-got:
				if !errors.Is(err, netipc.ErrClosed) {
					t.Fatalf("close: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not end the wait")
			}
		})
	}
}

func TestWinSHMAttachFailureIsErrSHM(t *testing.T) {
	saved := shmProvision
	defer func() { shmProvision = saved }()
	// The server's region has a layout version no client speaks (written
	// through a second view of its mapping).
	shmProvision = func(req ShmRequest) (plane, error) {
		p, err := saved(req)
		if err == nil {
			names, _ := winshmNames(req)
			if m, err := sys.OpenWinMapping(names.Mapping); err == nil {
				m.Mem[4] = 9
				m.Close()
			}
		}
		return p, err
	}
	both := protocol.ProfileBaseline | protocol.ProfileSHMHybrid
	srv := wStart(t, ServerOffer{SupportedProfiles: both, PreferredProfiles: protocol.ProfileSHMHybrid}, wEcho)
	start := time.Now()
	_, err := Connect(srv.dir, wService, ClientOptions{SupportedProfiles: both, PreferredProfiles: protocol.ProfileSHMHybrid}, time.Now().Add(10*time.Second))
	var ae *winshm.AttachError
	if !errors.Is(err, netipc.ErrSHM) || !errors.As(err, &ae) || ae.Reason != winshm.AttachBadVersion || time.Since(start) > 2*time.Second {
		t.Fatalf("attach of a bad region (after %v): %v", time.Since(start), err)
	}
	// Without the SHM profiles the client gets the pipe.
	shmProvision = saved
	c := wConnect(t, srv.dir, protocol.ProfileBaseline, 0)
	wCall(t, c, 1, []byte("fallback"))
}

func TestWinSHMRoundTripsAllocateNothing(t *testing.T) {
	for _, profile := range wProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			both := protocol.ProfileBaseline | profile
			srv := wStart(t, ServerOffer{SupportedProfiles: both, PreferredProfiles: profile}, wEcho)
			c := wConnect(t, srv.dir, both, 0)
			h := protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodIncrement, ItemCount: 1}
			payload := make([]byte, 64)
			deadline := time.Now().Add(time.Minute)
			call := func() {
				h.MessageID++
				if err := c.Send(h, payload, deadline); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Receive(deadline); err != nil {
					t.Fatal(err)
				}
			}
			call()
			if a := testing.AllocsPerRun(300, call); a != 0 {
				t.Errorf("%v allocations per round trip", a)
			}
			// Requests far apart: the server session waits through the
			// watcher.
			slow := testing.AllocsPerRun(5, func() {
				time.Sleep(30 * time.Millisecond)
				call()
			})
			if slow != 0 {
				t.Errorf("%v allocations per round trip after an idle pause", slow)
			}
		})
	}
}

var (
	wKernel32      = syscall.NewLazyDLL("kernel32.dll")
	wThread32First = wKernel32.NewProc("Thread32First")
	wThread32Next  = wKernel32.NewProc("Thread32Next")
)

// wThreads is the number of threads of this process (a toolhelp
// snapshot).
func wThreads(t *testing.T) int {
	t.Helper()
	snap, err := syscall.CreateToolhelp32Snapshot(4 /* TH32CS_SNAPTHREAD */, 0)
	if err != nil {
		t.Skip(err)
	}
	defer syscall.CloseHandle(snap)
	var e struct{ Size, Usage, ThreadID, OwnerPID, BasePri, DeltaPri, Flags uint32 }
	e.Size = uint32(unsafe.Sizeof(e))
	n, pid := 0, uint32(os.Getpid())
	for r, _, _ := wThread32First.Call(uintptr(snap), uintptr(unsafe.Pointer(&e))); r != 0; r, _, _ = wThread32Next.Call(uintptr(snap), uintptr(unsafe.Pointer(&e))) {
		if e.OwnerPID == pid {
			n++
		}
	}
	return n
}

// TestWinSHMIdleServerSessionsShareThreads: idle SHM_HYBRID server
// sessions wait through the watcher: one thread per 63, not one each.
func TestWinSHMIdleServerSessionsShareThreads(t *testing.T) {
	const sessions = 100
	both := protocol.ProfileBaseline | protocol.ProfileSHMHybrid
	srv := wStart(t, ServerOffer{SupportedProfiles: both, PreferredProfiles: protocol.ProfileSHMHybrid}, wEcho)
	before := wThreads(t)
	clients := make([]*ClientSession, sessions)
	for i := range clients {
		clients[i] = wConnect(t, srv.dir, both, 0)
		wCall(t, clients[i], 1, []byte("hello"))
	}
	time.Sleep(300 * time.Millisecond)
	after := wThreads(t)
	t.Logf("%d threads with %d idle SHM_HYBRID server sessions (and their clients), %d before", after, sessions, before)
	if after > before+16 {
		t.Fatalf("%d threads with %d idle SHM sessions, %d before", after, sessions, before)
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wCall(t, c, uint64(i+2), []byte("again"))
		}()
	}
	wg.Wait()
}

// wRust returns the Rust binary named by env, skipping loudly without it.
func wRust(t *testing.T, env string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		t.Skipf("%s is not set: the Windows SHM interop test against the Rust core did NOT run "+
			"(cargo build -p netipc-cli -p netipc-tests --bins --target x86_64-pc-windows-gnu)", env)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v", env, p, err)
	}
	return p
}

// wRustPeer runs the Rust test peer with args until the test ends and
// waits for its first line (want).
func wRustPeer(t *testing.T, want string, args ...string) {
	t.Helper()
	cmd := exec.Command(wRust(t, "NETIPC_TEST_PEER"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case got := <-line:
		if got != want {
			t.Fatalf("the Rust peer said %q, want %q; stderr: %s", got, want, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the Rust peer did not say %q; stderr: %s", want, stderr.String())
	}
}

func TestWinSHMGoClientRustServer(t *testing.T) {
	for _, profile := range wProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			dir := tempdir.New(t)
			wRustPeer(t, "ready", "serve", dir, wService, "baseline|"+profile.String())
			c := wConnect(t, dir, protocol.ProfileBaseline|profile, 0)
			if p := c.Params(); p.Profile != profile || wRegion(c.s) == nil {
				t.Fatalf("params %+v", p)
			}
			payload := make([]byte, 1024)
			for i := range 500 {
				payload[i%len(payload)] = byte(i)
				wCall(t, c, uint64(i+1), payload[:1+i%1024])
			}
			time.Sleep(20 * time.Millisecond)
			wCall(t, c, 5000, payload)
		})
	}
}

// TestWinSHMRustCallerGoServer: the Rust CLI (`netipc call`) calls a Go
// INCREMENT server over each SHM profile only.
func TestWinSHMRustCallerGoServer(t *testing.T) {
	cli := wRust(t, "NETIPC_BIN")
	for _, profile := range wProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			var mu sync.Mutex
			var seen []SessionParams
			srv := wStart(t, ServerOffer{SupportedProfiles: protocol.ProfileBaseline | protocol.ProfileSHMAny, PreferredProfiles: profile}, func(s *ServerSession) {
				mu.Lock()
				seen = append(seen, s.Params())
				mu.Unlock()
				for {
					m, err := s.Receive(time.Time{})
					if err != nil {
						return
					}
					var out [8]byte
					if len(m.Payload) >= 8 {
						v := uint64(0)
						for i := 7; i >= 0; i-- {
							v = v<<8 | uint64(m.Payload[i])
						}
						v++
						for i := range out {
							out[i] = byte(v >> (8 * i))
						}
					}
					h := m.Header
					h.Kind = protocol.KindResponse
					if s.Send(h, out[:]) != nil {
						return
					}
				}
			})
			out, err := exec.Command(cli, "call", "increment", "41", "--service", wService, "--run-dir", srv.dir,
				"--profiles", profile.String(), "--json").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "42") {
				t.Fatalf("netipc call: %v\n%s", err, out)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) == 0 || seen[len(seen)-1].Profile != profile {
				t.Fatalf("sessions %+v: the call did not use %s", seen, profile)
			}
		})
	}
}
