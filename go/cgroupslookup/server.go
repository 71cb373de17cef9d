package cgroupslookup

import (
	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/service/server"
	"github.com/netdata/netipc/go/protocol"
)

// ServerStats is what a server has done so far and holds now (see
// Server.Stats).
type ServerStats = netipc.ServerStats

// Handler answers cgroups-lookup requests.
type Handler struct {
	// Handle adds exactly one item per requested path to b, in request
	// order (b.AddRequestItem is the convenient way), and sets the
	// generation (b.SetGeneration). It runs on the server's goroutines,
	// several at once (up to the server's workers), so it must
	// synchronise its own data; req and b are valid only during the
	// call.
	//
	// An Add that runs out of room (an error matching protocol.Overflow,
	// returned or not) makes the server answer LIMIT_EXCEEDED: the server
	// grows its response size and the client reconnects with it. Any
	// other error, and a panic, fails only this request: the client gets
	// INTERNAL_ERROR (a netipc client does not send the request again),
	// the session goes on, and the server logs the error and counts it
	// (ServerStats.HandlerErrors, HandlerPanics). Unknown keys are item
	// statuses, not errors.
	//
	// Nil: every request is answered UNSUPPORTED.
	Handle func(req *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) error
}

// Server is a cgroups-lookup provider: it answers every client's
// lookups with Handler.Handle. Up to ServerConfig.MaxSessions
// clients may be connected at once (a client beyond that is refused with
// "provider at capacity" and retries later); at most
// ServerConfig.Workers handlers run at the same time. Idle sessions cost
// no CPU.
//
// Create it with NewServer (no I/O), then call Run on a goroutine of your
// choice; Stop ends it. The run directory must exist when the server
// binds. Its methods are safe for concurrent use.
type Server struct {
	s *server.Server
}

// NewServer returns a cgroups-lookup server at service's endpoint under
// runDir, answered by h. No I/O: Listen or Run creates the endpoint.
func NewServer(runDir, service string, cfg ServerConfig, h Handler) *Server {
	return &Server{s: server.New(runDir, service, cfg, lookupMethod(h))}
}

// NewServerWithWorkers is NewServer with cfg.Workers set to workers: at
// most that many handlers run at once (0 or less: the default, one per
// CPU within 2..16).
func NewServerWithWorkers(runDir, service string, cfg ServerConfig, h Handler, workers int) *Server {
	cfg.Workers = max(workers, 0)
	return NewServer(runDir, service, cfg, h)
}

// Listen creates the endpoint now, so that binding errors are reported
// before the server runs (Run binds if Listen was not called). Clients
// that connect before Run wait for their handshake (within its deadline).
//
// Errors (*netipc.Error): ErrAddressInUse (a live provider serves the
// endpoint), ErrNotFound (the run directory does not exist), ErrRunDir,
// ErrPermission, ErrInvalidArgument (the service name), ErrIO, ErrClosed
// (the server was stopped).
func (s *Server) Listen() error { return s.s.Listen() }

// Run serves until Stop, binding the endpoint first if Listen was not
// called. It returns nil once the endpoint is removed and every session
// is closed, and nil at once if the server was stopped before. Errors:
// those of Listen, and ErrInvalidArgument when Run is already running.
func (s *Server) Run() error { return s.s.Run() }

// Stop stops the server: the endpoint is removed at once, every session
// is closed, handlers still running get up to half a second to finish
// and send their answer, and Run returns. When Run is running, Stop
// returns after it has shut down. Stopping is final.
func (s *Server) Stop() { s.s.Stop() }

// Stats returns the server's counters and current load, at any time.
func (s *Server) Stats() ServerStats { return s.s.Stats() }

// Endpoint returns the path of the endpoint once the server is bound (""
// before).
func (s *Server) Endpoint() string { return s.s.Endpoint() }

// lookupMethod serves h.
func lookupMethod(h Handler) server.Method {
	return &server.Typed[protocol.CgroupsLookupRequestView, protocol.CgroupsLookupBuilder]{
		MethodCode: protocol.MethodCgroupsLookup,
		Dispatch:   protocol.DispatchCgroupsLookup,
		Converted:  (*protocol.CgroupsLookupBuilder).BudgetConverted,
		Handle:     h.Handle,
	}
}
