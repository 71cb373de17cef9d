package server

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/settings"
	"github.com/netdata/netipc/go/internal/transport"
)

// StopGrace is how long Stop waits for handlers that are still running
// before Run returns anyway (their sessions are closed when they return).
const StopGrace = 500 * time.Millisecond

// HandshakeTimeout is how long a new connection may take to send its
// HELLO.
const HandshakeTimeout = 5 * time.Second

// handshakeTimeout is HandshakeTimeout (tests shorten it).
var handshakeTimeout = HandshakeTimeout

// closeWait is how long Run waits for sessions it closed after StopGrace.
const closeWait = 100 * time.Millisecond

// acceptBackoff is the pause before accepting again after the OS refused
// (out of descriptors, for example).
const acceptBackoff = 50 * time.Millisecond

// The life of a server.
const (
	created = iota
	bound
	running
	stopped
)

// Server is a managed server for one method. Its methods are safe for
// concurrent use.
type Server struct {
	runDir, service string
	set             settings.Server
	method          Method
	log             *slog.Logger

	responseSize learned
	counters     counters
	buffers      bufferPool
	// workers holds the idle handler slots.
	workers chan *worker
	nextID  atomic.Uint64
	// full is set once the session limit refused a client, until a
	// session opens again (only the first refusal is logged at warn).
	full atomic.Bool

	// stop is closed by Stop; done is closed when Run has shut down.
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	state    int
	listener *transport.Listener
	// conns are the connections still handshaking and the open sessions.
	conns map[*conn]struct{}
	// live counts the goroutines of conns (handshakes and sessions).
	live group
}

// New returns a server of m at service's endpoint under runDir. No I/O.
func New(runDir, service string, cfg netipc.ServerConfig, m Method) *Server {
	set := settings.ForServer(cfg)
	s := &Server{
		runDir:  runDir,
		service: service,
		set:     set,
		method:  m,
		log:     cfg.Logger,
		workers: make(chan *worker, set.Workers),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		conns:   make(map[*conn]struct{}),
	}
	if s.log != nil {
		s.log = s.log.With("service", service)
	}
	s.responseSize.value.Store(set.ResponseStart)
	s.responseSize.ceiling = set.ResponseCeiling
	s.counters.perWorker = make([]workerCounts, set.Workers)
	s.counters.sessionLimit.Store(int64(set.MaxSessions))
	s.buffers.keep = set.Workers
	s.buffers.free = make([][]byte, 0, set.Workers)
	return s
}

// Listen creates the endpoint now, so that binding errors are reported
// before the server runs. Clients that connect before Run wait for their
// HELLO to be answered (within their handshake deadline). Calling it
// again does nothing.
//
// Errors: ErrAddressInUse (a live provider serves the endpoint),
// ErrRunDir, ErrNotFound (the run directory does not exist),
// ErrPermission, ErrInvalidArgument (the service name), ErrIO, ErrClosed
// (the server was stopped).
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stopped:
		return netipc.Errorf(netipc.ErrClosed, "netipc server %q: stopped; create a new server to serve again", s.service)
	case created:
	default:
		return nil
	}
	l, err := transport.Listen(s.runDir, s.service, transport.ServerOptions{
		HandshakeTimeout: handshakeTimeout,
		SendTimeout:      s.set.SendTimeout,
		// Room for a crowd of clients connecting at the same moment.
		Backlog: 1024,
	})
	if err != nil {
		return err
	}
	s.listener = l
	s.state = bound
	return nil
}

// Endpoint returns the endpoint's path once the server is bound ("" before
// Listen or Run).
func (s *Server) Endpoint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Endpoint()
}

// Stats returns the server's counters and current load.
func (s *Server) Stats() netipc.ServerStats { return s.counters.snapshot() }

// Run binds the endpoint if Listen has not, then serves until Stop; it
// returns nil once the endpoint is removed and every session is closed
// (handlers still running after StopGrace keep their session until they
// return). Run returns nil at once when the server was stopped before.
//
// Errors: those of Listen, and ErrInvalidArgument when Run is already
// running.
func (s *Server) Run() error {
	if err := s.Listen(); err != nil {
		if s.isStopped() {
			return nil
		}
		return err
	}
	s.mu.Lock()
	switch s.state {
	case stopped:
		s.mu.Unlock()
		return nil
	case running:
		s.mu.Unlock()
		return netipc.Errorf(netipc.ErrInvalidArgument, "netipc server %q: Run is already running", s.service)
	}
	s.state = running
	l := s.listener
	s.mu.Unlock()
	defer close(s.done)

	for i := range s.set.Workers {
		s.workers <- &worker{answerer: s.method.NewWorker(), counts: &s.counters.perWorker[i]}
	}
	s.serving(l)
	s.acceptLoop(l)
	s.shutdown()
	return nil
}

func (s *Server) isStopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// Stop stops the server: the endpoint is removed at once, every session
// is closed (handlers still running get up to StopGrace to finish and
// send their answer), and Run returns. When Run is running, Stop returns
// after Run has shut down. Stopping is final; calling Stop again does
// nothing.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		prev := s.state
		if prev == running {
			s.stopping()
		}
		close(s.stop)
		s.state = stopped
		l := s.listener
		s.mu.Unlock()
		if l != nil {
			_ = l.Close()
		}
		if prev != running {
			close(s.done)
		}
	})
	<-s.done
}

// shutdown closes every connection once the accept loop ended, waiting
// up to StopGrace for handlers that are still running.
func (s *Server) shutdown() {
	s.sweep()
	if !s.live.wait(time.Now().Add(StopGrace)) {
		// Handlers that finished meanwhile may be sending to clients that
		// do not read: close those sessions too.
		s.sweep()
		if !s.live.wait(time.Now().Add(closeWait)) {
			s.stopGraceExceeded(s.set.Workers - len(s.workers))
		}
	}
	s.stopped()
}

// sweep closes every connection not answering a request now.
func (s *Server) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeUnlessWorking()
	}
}

// bufferPool keeps response buffers between requests: a session takes one
// while it answers and sends a response, so a client that does not read
// holds a buffer, not a handler slot. It keeps at most keep buffers.
type bufferPool struct {
	mu   sync.Mutex
	free [][]byte
	keep int
}

// get returns a buffer of n bytes.
func (p *bufferPool) get(n int) []byte {
	var b []byte
	p.mu.Lock()
	if k := len(p.free); k > 0 {
		b = p.free[k-1]
		p.free[k-1] = nil
		p.free = p.free[:k-1]
	}
	p.mu.Unlock()
	if cap(b) < n {
		b = make([]byte, n)
	}
	return b[:n]
}

// put gives a buffer back.
func (p *bufferPool) put(b []byte) {
	p.mu.Lock()
	if len(p.free) < p.keep {
		p.free = append(p.free, b)
	}
	p.mu.Unlock()
}

// group counts goroutines and lets one waiter wait for them with a
// deadline (no goroutine is left behind when the deadline passes).
type group struct {
	n      atomic.Int64
	zeroed chan struct{}
	once   sync.Once
}

func (g *group) init() { g.once.Do(func() { g.zeroed = make(chan struct{}, 1) }) }

func (g *group) add() {
	g.init()
	g.n.Add(1)
}

func (g *group) done() {
	if g.n.Add(-1) == 0 {
		select {
		case g.zeroed <- struct{}{}:
		default:
		}
	}
}

// wait waits until the count is zero (true) or the deadline passes.
func (g *group) wait(deadline time.Time) bool {
	g.init()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for g.n.Load() > 0 {
		select {
		case <-g.zeroed:
		case <-timer.C:
			return g.n.Load() == 0
		}
	}
	return true
}
