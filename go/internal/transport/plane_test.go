//go:build linux || windows

package transport

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// A data plane made of Go channels, plugged in through the SHM hooks: it
// proves that the sessions switch planes after the handshake and that the
// hooks are called as their documentation says.

type fakeRegion struct {
	toServer, toClient chan []byte
}

type fakePlane struct {
	out, in chan []byte
	wake    chan struct{}
	aborted atomic.Bool
	closed  *atomic.Int32
}

func (p *fakePlane) send(h protocol.Header, payload []byte, w *waiter) error {
	msg := make([]byte, protocol.HeaderLen+len(payload))
	h.Encode(msg)
	copy(msg[protocol.HeaderLen:], payload)
	select {
	case p.out <- msg:
		w.sent = true
		return nil
	default:
		return errors.New("fake plane: the peer did not consume the last message")
	}
}

func (p *fakePlane) receive(w *waiter, in *Reassembler) (Message, error) {
	for {
		if !p.aborted.Load() {
			var timeout <-chan time.Time
			if !w.deadline.IsZero() {
				timeout = time.After(time.Until(w.deadline))
			}
			select {
			case msg := <-p.in:
				return in.Whole(msg)
			case <-p.wake:
			case <-timeout:
			}
		}
		if err := w.ended(); err != nil {
			return Message{}, err
		}
	}
}

func (p *fakePlane) abort(on bool) {
	p.aborted.Store(on)
	if on {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *fakePlane) close() error {
	p.closed.Add(1)
	return nil
}

// fakeSHM installs the fake plane for the test; provisionFails makes
// every region creation fail.
type fakeSHM struct {
	mu         sync.Mutex
	regions    map[uint64]*fakeRegion
	provisions []ShmRequest
	attaches   []ShmRequest
	cleanups   []string
	closed     atomic.Int32
}

func installFakeSHM(t *testing.T, provisionFails bool) *fakeSHM {
	t.Helper()
	baselineOnly(t) // restores the real hooks afterwards
	f := &fakeSHM{regions: map[uint64]*fakeRegion{}}
	shmProfiles = protocol.ProfileSHMAny
	shmExtensions = protocol.ExtSHMWakeOnDemand
	shmCleanup = func(runDir, service string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.cleanups = append(f.cleanups, runDir+"/"+service)
	}
	shmProvision = func(req ShmRequest) (plane, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.provisions = append(f.provisions, req)
		if provisionFails {
			return nil, netipc.Errorf(netipc.ErrSHM, "no region today")
		}
		r := &fakeRegion{toServer: make(chan []byte, 1), toClient: make(chan []byte, 1)}
		f.regions[req.Params.SessionID] = r
		return &fakePlane{out: r.toClient, in: r.toServer, wake: make(chan struct{}, 1), closed: &f.closed}, nil
	}
	shmAttach = func(req ShmRequest, conn *sys.Conn, deadline time.Time) (plane, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.attaches = append(f.attaches, req)
		r := f.regions[req.Params.SessionID]
		if r == nil {
			return nil, netipc.Errorf(netipc.ErrSHM, "no region for session %d", req.Params.SessionID)
		}
		return &fakePlane{out: r.toServer, in: r.toClient, wake: make(chan struct{}, 1), closed: &f.closed}, nil
	}
	return f
}

var shmClient = ClientOptions{
	SupportedProfiles:      protocol.ProfileBaseline | protocol.ProfileSHMHybrid,
	PreferredProfiles:      protocol.ProfileSHMHybrid,
	MaxRequestPayloadBytes: 2000,
	AuthToken:              testToken,
}

var shmOffer = ServerOffer{
	SupportedProfiles:       protocol.ProfileBaseline | protocol.ProfileSHMHybrid | protocol.ProfileSHMAlt,
	PreferredProfiles:       protocol.ProfileSHMHybrid,
	MaxRequestPayloadBytes:  4096,
	MaxResponsePayloadBytes: 8192,
	AuthToken:               testToken,
}

func TestSHMHooksSwitchThePlane(t *testing.T) {
	f := installFakeSHM(t, false)
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	if len(f.cleanups) != 1 || f.cleanups[0] != dir+"/svc" {
		t.Fatalf("cleanups %v", f.cleanups)
	}
	c, s := pairOn(t, l, dir, shmClient, shmOffer)
	p := c.Params()
	if p.Profile != protocol.ProfileSHMHybrid || !p.IsSHM() || p.Extensions != protocol.ExtSHMWakeOnDemand || p != s.Params() {
		t.Fatalf("params %+v / %+v", p, s.Params())
	}
	if len(f.provisions) != 1 || len(f.attaches) != 1 {
		t.Fatalf("provisions %d, attaches %d", len(f.provisions), len(f.attaches))
	}
	pr, at := f.provisions[0], f.attaches[0]
	if pr.RunDir != dir || pr.Service != "svc" || pr.Params != p || pr.RequestCapacity != 2000 || pr.ResponseCapacity != 8192 {
		t.Fatalf("provision request %+v", pr)
	}
	if at.Params != p || at.ProviderUID != thisPeer().UID || at.RunDir != dir {
		t.Fatalf("attach request %+v", at)
	}
	// Messages go through the plane, checked like socket messages.
	done := echo(s)
	if err := c.Send(reqHdr(1), []byte("over the plane"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "second request in flight", c.Send(reqHdr(2), nil, time.Time{}), netipc.ErrBusy)
	m, err := c.Receive(time.Now().Add(time.Second))
	if err != nil || string(m.Payload) != "over the plane" {
		t.Fatalf("receive: %q %v", m.Payload, err)
	}
	// Interrupt and Close wake a receive waiting in the plane.
	recv := make(chan error, 1)
	go func() { _, err := c.Receive(time.Time{}); recv <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Interrupt()
	select {
	case err := <-recv:
		wantKind(t, "interrupted", err, netipc.ErrAborted)
	case <-time.After(2 * time.Second):
		t.Fatal("Interrupt did not wake the plane")
	}
	c.ClearInterrupt()
	go func() { _, err := c.Receive(time.Time{}); recv <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-recv:
		wantKind(t, "closed", err, netipc.ErrClosed)
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not wake the plane")
	}
	s.Close()
	<-done
	if n := f.closed.Load(); n != 2 {
		t.Fatalf("planes closed: %d, want 2", n)
	}
}

func TestSHMProvisionFailureFallsBackToTheSocket(t *testing.T) {
	f := installFakeSHM(t, true)
	c, s := pair(t, shmClient, shmOffer)
	if c.Params().Profile != protocol.ProfileBaseline || s.Params().Profile != protocol.ProfileBaseline {
		t.Fatalf("profile %v", c.Params().Profile)
	}
	// The SHM profile was tried once, then withdrawn.
	if len(f.provisions) != 1 || len(f.attaches) != 0 {
		t.Fatalf("provisions %d, attaches %d", len(f.provisions), len(f.attaches))
	}
	echo(s)
	if err := c.Send(reqHdr(1), []byte("socket"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Receive(time.Now().Add(time.Second)); err != nil || string(m.Payload) != "socket" {
		t.Fatalf("%q %v", m.Payload, err)
	}
	// A server that offers shared memory only has nothing left.
	offer := shmOffer
	offer.SupportedProfiles = protocol.ProfileSHMHybrid
	dir := testDir(t)
	l := listenT(t, dir, ServerOptions{})
	serr := make(chan error, 1)
	go func() {
		in, err := l.Accept()
		if err == nil {
			_, err = in.Handshake(1, offer)
		}
		serr <- err
	}()
	_, err := Connect(dir, "svc", shmClient, time.Now().Add(5*time.Second))
	wantKind(t, "client", err, netipc.ErrIncompatible)
	wantKind(t, "server", <-serr, netipc.ErrIncompatible)
}
