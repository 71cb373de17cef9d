package transport

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/protocol"
)

// End-to-end tests of the shared-memory data plane: sessions made by
// Listen/Connect that select an SHM profile.

const shmTestService = "shmsvc"

var shmBoth = protocol.ProfileBaseline | protocol.ProfileSHMHybrid

// shmServer runs a listener whose sessions are handed to serve (each in
// its own goroutine) until the test ends.
type shmServer struct {
	dir      string
	l        *Listener
	offer    ServerOffer
	mu       sync.Mutex
	sessions []*ServerSession
	wg       sync.WaitGroup
}

func startSHMServer(t *testing.T, offer ServerOffer, serve func(*ServerSession)) *shmServer {
	t.Helper()
	offer.MaxRequestPayloadBytes = or32(offer.MaxRequestPayloadBytes, 4096)
	offer.MaxResponsePayloadBytes = or32(offer.MaxResponsePayloadBytes, 4096)
	s := &shmServer{dir: t.TempDir(), offer: offer}
	l, err := Listen(s.dir, shmTestService, ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.l = l
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for id := uint64(1); ; id++ {
			in, err := l.Accept()
			if err != nil {
				return
			}
			sess, err := in.Handshake(id, s.offer)
			if err != nil {
				continue
			}
			s.mu.Lock()
			s.sessions = append(s.sessions, sess)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
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
		s.wg.Wait()
	})
	return s
}

// echoSessions answers every request with its own payload.
func echoSessions(sess *ServerSession) {
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

func shmConnect(t *testing.T, dir string, profiles protocol.Profile) *ClientSession {
	t.Helper()
	c, err := Connect(dir, shmTestService, ClientOptions{
		SupportedProfiles: profiles, PreferredProfiles: profiles &^ protocol.ProfileBaseline,
		MaxRequestPayloadBytes: 4096, MaxResponsePayloadBytes: 4096,
	}, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func shmCall(t *testing.T, c *ClientSession, id uint64, payload []byte) Message {
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
	return m
}

func regionFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.ipcshm"))
	return m
}

func TestSHMSessionsRoundTrip(t *testing.T) {
	for _, profile := range []protocol.Profile{protocol.ProfileSHMHybrid, protocol.ProfileSHMAlt} {
		for _, ext := range []uint32{0, protocol.ExtSHMWakeOnDemand} {
			t.Run(fmt.Sprintf("%s extensions=%d", profile, ext), func(t *testing.T) {
				saved := shmExtensions
				shmExtensions = ext
				defer func() { shmExtensions = saved }()
				both := protocol.ProfileBaseline | profile
				srv := startSHMServer(t, ServerOffer{SupportedProfiles: both, PreferredProfiles: profile, MaxRequestPayloadBytes: 4096, MaxResponsePayloadBytes: 4096}, echoSessions)
				c := shmConnect(t, srv.dir, both)
				if p := c.Params(); p.Profile != profile || p.Extensions != ext {
					t.Fatalf("params %+v", p)
				}
				payload := make([]byte, 4096)
				for i := range 500 {
					payload[i%len(payload)] = byte(i)
					shmCall(t, c, uint64(i+1), payload[:1+i*8%len(payload)])
				}
				for i := range 3 {
					time.Sleep(5 * time.Millisecond) // both sides asleep
					shmCall(t, c, uint64(1000+i), payload)
				}
				// Over the limit: refused before anything is published.
				err := c.Send(protocol.Header{Kind: protocol.KindRequest, MessageID: 9}, make([]byte, 4097), time.Time{})
				if !errors.Is(err, netipc.ErrLimitExceeded) {
					t.Fatalf("an oversized request: %v", err)
				}
				shmCall(t, c, 2000, []byte("still usable"))
			})
		}
	}
}

func TestSHMRegionLifecycle(t *testing.T) {
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, echoSessions)
	base := shmConnect(t, srv.dir, protocol.ProfileBaseline)
	shmCall(t, base, 1, []byte("socket"))
	if f := regionFiles(t, srv.dir); len(f) != 0 {
		t.Fatalf("a baseline session left regions: %v", f)
	}
	c := shmConnect(t, srv.dir, shmBoth)
	shmCall(t, c, 1, []byte("shm"))
	want := filepath.Join(srv.dir, fmt.Sprintf("%s-%016x.ipcshm", shmTestService, c.Params().SessionID))
	if f := regionFiles(t, srv.dir); len(f) != 1 || f[0] != want {
		t.Fatalf("regions %v, want %s", f, want)
	}
	c.Close()
	// The server notices the hang-up and closes its session, which
	// removes the region.
	for deadline := time.Now().Add(5 * time.Second); len(regionFiles(t, srv.dir)) != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the region outlived its session")
		}
		srv.mu.Lock()
		for _, s := range srv.sessions {
			if s.Params().IsSHM() {
				s.Close()
			}
		}
		srv.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSHMIdleServerSessionsNoticeHangupsPromptly(t *testing.T) {
	ended := make(chan error, 10)
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth}, func(s *ServerSession) {
		_, err := s.Receive(time.Time{})
		ended <- err
		s.Close()
	})
	c := shmConnect(t, srv.dir, shmBoth)
	time.Sleep(50 * time.Millisecond) // the server session is idle, parked
	start := time.Now()
	c.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, netipc.ErrDisconnected) {
			t.Fatalf("the server's Receive: %v", err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("the hang-up took %v to notice", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server never noticed the hang-up")
	}
}

func TestSHMWaitsEndPromptly(t *testing.T) {
	release := make(chan struct{})
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth}, func(s *ServerSession) {
		if _, err := s.Receive(time.Time{}); err != nil {
			return
		}
		<-release // never answers until the test says so
	})
	defer close(release)
	c := shmConnect(t, srv.dir, shmBoth)
	h := protocol.Header{Kind: protocol.KindRequest, ItemCount: 1, MessageID: 1}
	if err := c.Send(h, []byte("stall"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	h.MessageID = 2
	if err := c.Send(h, []byte("second"), time.Time{}); !errors.Is(err, netipc.ErrBusy) {
		t.Fatalf("a second request in flight: %v", err)
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
	start = time.Now()
	c.Interrupt()
	select {
	case err := <-got:
		if !errors.Is(err, netipc.ErrAborted) {
			t.Fatalf("interrupt: %v", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("Interrupt took %v", el)
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
}

func TestSHMServerCloseEndsAWaitingReceive(t *testing.T) {
	ended := make(chan error, 1)
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth}, func(s *ServerSession) {
		_, err := s.Receive(time.Time{})
		ended <- err
	})
	shmConnect(t, srv.dir, shmBoth)
	time.Sleep(50 * time.Millisecond)
	srv.mu.Lock()
	sess := srv.sessions[0]
	srv.mu.Unlock()
	start := time.Now()
	sess.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, netipc.ErrClosed) || time.Since(start) > time.Second {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the server's wait")
	}
	if f := regionFiles(t, srv.dir); len(f) != 0 {
		t.Fatalf("the closed session left %v", f)
	}
}

func TestSHMAttachFailureIsErrSHM(t *testing.T) {
	saved := shmProvision
	defer func() { shmProvision = saved }()
	// The server's region has a layout version no client speaks.
	shmProvision = func(req ShmRequest) (plane, error) {
		p, err := saved(req)
		if err == nil {
			name, _ := SHMRegionFileName(req.Service, req.Params.SessionID)
			f, ferr := os.OpenFile(filepath.Join(req.RunDir, name), os.O_WRONLY, 0)
			if ferr == nil {
				f.WriteAt([]byte{9, 0}, 4)
				f.Close()
			}
		}
		return p, err
	}
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, echoSessions)
	start := time.Now()
	_, err := Connect(srv.dir, shmTestService, ClientOptions{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, time.Now().Add(10*time.Second))
	if !errors.Is(err, netipc.ErrSHM) || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("attach of a bad region: %v", err)
	}
	var ae *shm.AttachError
	if !errors.As(err, &ae) || ae.Reason != shm.AttachBadVersion || time.Since(start) > 2*time.Second {
		t.Fatalf("not a quick bad-version failure (%v): %v", time.Since(start), err)
	}
	// Without the SHM profiles the client gets the socket.
	shmProvision = saved
	c := shmConnect(t, srv.dir, protocol.ProfileBaseline)
	shmCall(t, c, 1, []byte("fallback"))
}

func TestSHMResponseAboveTheClientLimit(t *testing.T) {
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid, MaxResponsePayloadBytes: 8192},
		func(s *ServerSession) {
			m, err := s.Receive(time.Time{})
			if err != nil {
				return
			}
			h := m.Header
			h.Kind = protocol.KindResponse
			s.Send(h, make([]byte, 5000))
			s.Receive(time.Time{})
		})
	c, err := Connect(srv.dir, shmTestService, ClientOptions{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid, ResponseLimit: 1000}, time.Now().Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Send(protocol.Header{Kind: protocol.KindRequest, ItemCount: 1, MessageID: 1}, []byte("big"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Receive(time.Now().Add(10 * time.Second))
	if !errors.Is(err, netipc.ErrResponseTooLarge) || !strings.Contains(err.Error(), "5000-byte response") {
		t.Fatalf("a response above the client's limit: %v", err)
	}
}

func TestSHMRoundTripsAllocateNothing(t *testing.T) {
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, echoSessions)
	c := shmConnect(t, srv.dir, shmBoth)
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
	if a := testing.AllocsPerRun(500, call); a != 0 {
		t.Errorf("%v allocations per round trip", a)
	}
	// Requests far apart: the server session waits through the watcher.
	slow := testing.AllocsPerRun(5, func() {
		time.Sleep(2 * time.Millisecond)
		call()
	})
	if slow != 0 {
		t.Errorf("%v allocations per round trip after an idle pause", slow)
	}
}

// osThreadCount is the number of threads of this process.
func osThreadCount(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Skip("no thread count")
	return 0
}

func TestSHMIdleServerSessionsCostNoThread(t *testing.T) {
	const sessions = 150
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, echoSessions)
	before := osThreadCount(t)
	clients := make([]*ClientSession, sessions)
	for i := range clients {
		clients[i] = shmConnect(t, srv.dir, shmBoth)
		shmCall(t, clients[i], 1, []byte("hello"))
	}
	time.Sleep(200 * time.Millisecond)
	if after := osThreadCount(t); after > before+12 {
		t.Fatalf("%d threads with %d idle SHM sessions, %d before", after, sessions, before)
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shmCall(t, c, 2, []byte("again"))
		}()
	}
	wg.Wait()
}

// rustTestPeer returns the Rust test peer's path (NETIPC_TEST_PEER),
// skipping loudly without it and failing when it is set but unusable.
func rustTestPeer(t *testing.T) string {
	t.Helper()
	p := os.Getenv("NETIPC_TEST_PEER")
	if p == "" {
		t.Skip("NETIPC_TEST_PEER is not set: the SHM interop tests against the Rust peer did NOT run " +
			"(cargo build -p netipc-tests --bin netipc-test-peer, then NETIPC_TEST_PEER=$PWD/target/debug/netipc-test-peer)")
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("NETIPC_TEST_PEER=%s is not an executable file: %v", p, err)
	}
	return p
}

// startRustPeer runs the Rust peer with args until the test ends, waits
// for its first line (want) and returns its pid.
func startRustPeer(t *testing.T, want string, args ...string) int {
	t.Helper()
	peer := rustTestPeer(t)
	cmd := exec.Command(peer, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("NETIPC_TEST_PEER=%s cannot be started: %v", peer, err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
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
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the Rust peer said %q, want %q; stderr: %s", got, want, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the Rust peer did not say %q; stderr: %s", want, stderr.String())
	}
	return cmd.Process.Pid
}

func TestSHMGoClientRustServer(t *testing.T) {
	for _, offer := range []string{"baseline|shm-hybrid", "baseline|shm-alt"} {
		t.Run(offer, func(t *testing.T) {
			dir := t.TempDir()
			startRustPeer(t, "ready", "serve", dir, shmTestService, offer)
			profile := protocol.ProfileSHMHybrid
			if strings.HasSuffix(offer, "alt") {
				profile = protocol.ProfileSHMAlt
			}
			c := shmConnect(t, dir, protocol.ProfileBaseline|profile)
			if p := c.Params(); p.Profile != profile || p.Extensions != protocol.ExtSHMWakeOnDemand {
				t.Fatalf("params %+v", p)
			}
			payload := make([]byte, 1024)
			for i := range 1000 {
				shmCall(t, c, uint64(i+1), payload[:1+i%1024])
			}
			time.Sleep(5 * time.Millisecond)
			shmCall(t, c, 5000, payload)
		})
	}
}

func TestSHMRustClientGoServer(t *testing.T) {
	ended := make(chan error, 1)
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, func(s *ServerSession) {
		if !s.Params().IsSHM() || s.Params().Extensions != protocol.ExtSHMWakeOnDemand {
			ended <- fmt.Errorf("params %+v", s.Params())
			return
		}
		_, err := s.Receive(time.Time{})
		ended <- err
	})
	// The Rust client says "connected" only once it attached the region
	// this server created.
	startRustPeer(t, "connected", "idle-client", srv.dir, shmTestService, "baseline|shm-hybrid")
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-ended:
		t.Fatalf("the session ended early: %v", err)
	default:
	}
}

// TestSHMRustCallerGoServer: the Rust CLI (netipc call: NETIPC_BIN, or
// next to the test peer) calls a Go INCREMENT server over shared memory
// only.
func TestSHMRustCallerGoServer(t *testing.T) {
	cli := os.Getenv("NETIPC_BIN")
	if cli == "" {
		cli = filepath.Join(filepath.Dir(rustTestPeer(t)), "netipc")
	}
	if _, err := os.Stat(cli); err != nil {
		t.Skipf("no netipc CLI (NETIPC_BIN, or next to NETIPC_TEST_PEER: %v): the Rust caller test did NOT run (cargo build -p netipc-cli)", err)
	}
	var mu sync.Mutex
	var seen []SessionParams
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, func(s *ServerSession) {
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
				v := uint64(m.Payload[0]) | uint64(m.Payload[1])<<8 | uint64(m.Payload[2])<<16 | uint64(m.Payload[3])<<24 |
					uint64(m.Payload[4])<<32 | uint64(m.Payload[5])<<40 | uint64(m.Payload[6])<<48 | uint64(m.Payload[7])<<56
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
	out, err := exec.Command(cli, "call", "increment", "41", "--service", shmTestService, "--run-dir", srv.dir,
		"--profiles", "shm-hybrid", "--json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "42") {
		t.Fatalf("netipc call: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || !seen[len(seen)-1].IsSHM() {
		t.Fatalf("sessions %+v: the call did not use shared memory", seen)
	}
}

// BenchmarkSHMSessionRoundTrip: one request and its response on a Go
// client session against a Go server session in the same process.
func BenchmarkSHMSessionRoundTrip(b *testing.B) {
	dir := b.TempDir()
	l, err := Listen(dir, shmTestService, ServerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		in, err := l.Accept()
		if err != nil {
			return
		}
		s, err := in.Handshake(1, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid})
		if err != nil {
			return
		}
		defer s.Close()
		echoSessions(s)
	}()
	c, err := Connect(dir, shmTestService, ClientOptions{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, time.Now().Add(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if !c.Params().IsSHM() {
		b.Fatal("not shared memory")
	}
	h := protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodIncrement, ItemCount: 1}
	payload := make([]byte, 8)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.MessageID++
		if err := c.Send(h, payload, time.Time{}); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Receive(time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
}
