//go:build linux || windows

package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/tempdir"
	"github.com/netdata/netipc/go/protocol"
)

// End-to-end tests of the shared-memory data plane (Linux: package shm,
// Windows: package winshm): sessions made by Listen/Connect that select
// an SHM profile, between Go peers and against the Rust core. What
// differs per OS (where a region lives, how to spoil one, how to count
// threads, the extensions) is in shm_plane_<os>_test.go.

const shmTestService = "shmsvc"

var (
	shmBoth = protocol.ProfileBaseline | protocol.ProfileSHMHybrid
	// shmTestProfiles are the SHM profiles both OSes serve.
	shmTestProfiles = []protocol.Profile{protocol.ProfileSHMHybrid, protocol.ProfileSHMAlt}
)

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
	s := &shmServer{dir: testDir(t), offer: offer}
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

// incrementSessions answers every request with its 8-byte value + 1.
func incrementSessions(sess *ServerSession) {
	for {
		m, err := sess.Receive(time.Time{})
		if err != nil {
			return
		}
		var out [8]byte
		if len(m.Payload) >= 8 {
			binary.LittleEndian.PutUint64(out[:], binary.LittleEndian.Uint64(m.Payload)+1)
		}
		h := m.Header
		h.Kind = protocol.KindResponse
		if sess.Send(h, out[:]) != nil {
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

// eachSHMProfile runs test once per SHM profile, with a server that
// offers the baseline and that profile, serving its sessions with serve.
func eachSHMProfile(t *testing.T, serve func(*ServerSession), test func(t *testing.T, srv *shmServer, both protocol.Profile)) {
	for _, profile := range shmTestProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			both := protocol.ProfileBaseline | profile
			srv := startSHMServer(t, ServerOffer{SupportedProfiles: both, PreferredProfiles: profile}, serve)
			test(t, srv, both)
		})
	}
}

func TestSHMSessionsRoundTrip(t *testing.T) {
	for _, profile := range shmTestProfiles {
		for _, ext := range shmTestExtensions {
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
					time.Sleep(30 * time.Millisecond) // both sides asleep
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

// TestSHMRegionLifecycle: a region exists exactly for the life of its
// SHM session.
func TestSHMRegionLifecycle(t *testing.T) {
	eachSHMProfile(t, echoSessions, func(t *testing.T, srv *shmServer, both protocol.Profile) {
		base := shmConnect(t, srv.dir, protocol.ProfileBaseline)
		shmCall(t, base, 1, []byte("socket"))
		if shmRegionExists(t, srv.dir, base.Params()) {
			t.Fatal("a baseline session has a region")
		}
		c := shmConnect(t, srv.dir, both)
		shmCall(t, c, 1, []byte("shm"))
		if !shmRegionExists(t, srv.dir, c.Params()) {
			t.Fatal("the SHM session has no region")
		}
		params := c.Params()
		c.Close()
		// The server notices the client's close (its close flag, or the
		// hang-up) and closes its session, which removes the region.
		for deadline := time.Now().Add(5 * time.Second); shmRegionExists(t, srv.dir, params); {
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
	})
}

func TestSHMIdleServerSessionsNoticeHangupsPromptly(t *testing.T) {
	ended := make(chan error, 10)
	eachSHMProfile(t, func(s *ServerSession) {
		_, err := s.Receive(time.Time{})
		ended <- err
		s.Close()
	}, func(t *testing.T, srv *shmServer, both protocol.Profile) {
		c := shmConnect(t, srv.dir, both)
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
	})
}

func TestSHMWaitsEndPromptly(t *testing.T) {
	eachSHMProfile(t, func(s *ServerSession) {
		// Never answers: waits for a second request until the session is
		// closed.
		s.Receive(time.Time{})
		s.Receive(time.Time{})
	}, func(t *testing.T, srv *shmServer, both protocol.Profile) {
		c := shmConnect(t, srv.dir, both)
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
	})
}

func TestSHMServerCloseEndsAWaitingReceive(t *testing.T) {
	ended := make(chan error, 1)
	eachSHMProfile(t, func(s *ServerSession) {
		_, err := s.Receive(time.Time{})
		ended <- err
	}, func(t *testing.T, srv *shmServer, both protocol.Profile) {
		c := shmConnect(t, srv.dir, both)
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
		// The client's next wait for a response ends at once: the
		// server's side is closed.
		if err := c.Send(protocol.Header{Kind: protocol.KindRequest, ItemCount: 1, MessageID: 1}, []byte("x"), time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Receive(time.Now().Add(5 * time.Second)); !errors.Is(err, netipc.ErrDisconnected) {
			t.Fatalf("the client's wait after the server's close: %v", err)
		}
		c.Close()
		// (On Windows the mapping goes with its last handle, which a wait
		// group may hold a moment longer.)
		for deadline := time.Now().Add(5 * time.Second); shmRegionExists(t, srv.dir, c.Params()); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the closed session left its region")
			}
		}
	})
}

func TestSHMAttachFailureIsErrSHM(t *testing.T) {
	saved := shmProvision
	defer func() { shmProvision = saved }()
	// The server's region has a layout version no client speaks.
	shmProvision = func(req ShmRequest) (plane, error) {
		p, err := saved(req)
		if err == nil {
			spoilRegionVersion(t, req)
		}
		return p, err
	}
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, echoSessions)
	start := time.Now()
	_, err := Connect(srv.dir, shmTestService, ClientOptions{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, time.Now().Add(10*time.Second))
	if !errors.Is(err, netipc.ErrSHM) || !strings.Contains(err.Error(), "version 9") || !badVersion(err) {
		t.Fatalf("attach of a bad region: %v", err)
	}
	if time.Since(start) > 2*time.Second {
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
	eachSHMProfile(t, echoSessions, func(t *testing.T, srv *shmServer, both protocol.Profile) {
		c := shmConnect(t, srv.dir, both)
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
		// Warm up: the runtime starts the threads the waits need.
		for range 100 {
			call()
		}
		if a := testing.AllocsPerRun(500, call); a != 0 {
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

// TestSHMIdleServerSessionsCostNoThread: idle server sessions wait
// through the process-wide watcher, not in a thread each.
func TestSHMIdleServerSessionsCostNoThread(t *testing.T) {
	const sessions = 150
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, echoSessions)
	before := osThreadCount(t)
	clients := make([]*ClientSession, sessions)
	for i := range clients {
		clients[i] = shmConnect(t, srv.dir, shmBoth)
		shmCall(t, clients[i], 1, []byte("hello"))
	}
	time.Sleep(300 * time.Millisecond)
	after := osThreadCount(t)
	t.Logf("%d threads with %d idle SHM sessions (server and client ends), %d before", after, sessions, before)
	if after > before+12 {
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

func TestSHMGoClientRustServer(t *testing.T) {
	for _, profile := range shmTestProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			dir := testDir(t)
			rustPeer(t, "ready", "serve", dir, shmTestService, "baseline|"+profile.String())
			c := shmConnect(t, dir, protocol.ProfileBaseline|profile)
			if p := c.Params(); p.Profile != profile || p.Extensions != shmExtensions {
				t.Fatalf("params %+v", p)
			}
			payload := make([]byte, 1024)
			for i := range 1000 {
				payload[i%len(payload)] = byte(i)
				shmCall(t, c, uint64(i+1), payload[:1+i%1024])
			}
			time.Sleep(30 * time.Millisecond)
			shmCall(t, c, 5000, payload)
		})
	}
}

func TestSHMRustClientGoServer(t *testing.T) {
	ended := make(chan error, 1)
	srv := startSHMServer(t, ServerOffer{SupportedProfiles: shmBoth, PreferredProfiles: protocol.ProfileSHMHybrid}, func(s *ServerSession) {
		if !s.Params().IsSHM() || s.Params().Extensions != shmExtensions {
			ended <- fmt.Errorf("params %+v", s.Params())
			return
		}
		_, err := s.Receive(time.Time{})
		ended <- err
	})
	// The Rust client says "connected" only once it attached the region
	// this server created.
	rustPeer(t, "connected", "idle-client", srv.dir, shmTestService, "baseline|shm-hybrid")
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-ended:
		t.Fatalf("the session ended early: %v", err)
	default:
	}
}

// TestSHMRustCallerGoServer: the Rust CLI (`netipc call`, NETIPC_BIN)
// calls a Go INCREMENT server over each SHM profile only.
func TestSHMRustCallerGoServer(t *testing.T) {
	cli := rustBinary(t, "NETIPC_BIN", buildCLI)
	for _, profile := range shmTestProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			var mu sync.Mutex
			var seen []SessionParams
			srv := startSHMServer(t, ServerOffer{SupportedProfiles: protocol.ProfileBaseline | protocol.ProfileSHMAny, PreferredProfiles: profile}, func(s *ServerSession) {
				mu.Lock()
				seen = append(seen, s.Params())
				mu.Unlock()
				incrementSessions(s)
			})
			out, err := exec.Command(cli, "call", "increment", "41", "--service", shmTestService, "--run-dir", srv.dir,
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

// BenchmarkSHMSessionRoundTrip: one request and its response on a Go
// client session against a Go server session in the same process.
func BenchmarkSHMSessionRoundTrip(b *testing.B) {
	dir := tempdir.New(b)
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
