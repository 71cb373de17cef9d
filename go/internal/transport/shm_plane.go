package transport

// The shared-memory data plane of a session: the hooks of session.go,
// filled in with package shm on Linux (SHM_HYBRID and its alias
// SHM_FUTEX); winshm_plane.go fills them in on Windows with the same
// plane over a winshm region. The connection stays open for the whole
// session and carries nothing more; it only tells whether the peer is
// still there.

import (
	"errors"
	"runtime"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// How a client retries attaching a region that is not there yet (the
// Rust client's timing).
const (
	attachBudget = 5 * time.Second
	attachRetry  = 5 * time.Millisecond
)

// shmWatcher lets idle server sessions wait for their next request
// without a thread each (see package shm). It has goroutines only while
// sessions wait through it.
var shmWatcher = shm.NewWatcher()

func init() {
	if runtime.GOOS != "linux" {
		return
	}
	shmProfiles = protocol.ProfileSHMAny
	shmExtensions = protocol.ExtSHMWakeOnDemand
	shmCleanup = func(runDir, service string) { shm.CleanupStale(runDir, service) }
	shmProvision = provisionSHM
	shmAttach = attachSHM
}

// shmRegion is what the plane needs of a region (*shm.Region,
// *winshm.Region): both return the same errors (shm.ErrClosed,
// shm.ErrAborted, shm.ErrTimeout, shm.ErrDisconnected, *shm.TooLargeError
// causes).
type shmRegion interface {
	Publish(head, body []byte) error
	Receive(buf []byte, deadline time.Time, alive func() bool) (int, error)
	RecvCapacity() int
	Interrupt()
	ClearInterrupt()
	Close() error
}

// shmPlane moves the messages of one session through its region.
type shmPlane struct {
	region shmRegion
	server bool
	// head is the encoded header of the message being published.
	head [protocol.HeaderLen]byte
	// buf receives messages: never more than the largest message this
	// side accepts, however large the peer made the area.
	buf []byte
	// alive asks the connection whether the peer is still there (set on
	// the first receive: a server's plane is made before its session).
	alive func() bool
	// gone (server) is closed once the peer hangs up.
	gone chan struct{}
}

// provisionSHM creates the region of an accepted SHM session (server).
func provisionSHM(req ShmRequest) (plane, error) {
	name, err := SHMRegionFileName(req.Service, req.Params.SessionID)
	if err != nil {
		return nil, err
	}
	r, err := shm.Create(req.RunDir, name, req.RequestCapacity, req.ResponseCapacity)
	if err != nil {
		return nil, err
	}
	r.SetExtensions(req.Params.Extensions)
	// Idle server sessions wait through the watcher; the hang-up
	// goroutine (started with the first receive, when the session's
	// connection is known) closes gone.
	gone := make(chan struct{})
	r.SetWatcher(shmWatcher, gone)
	return &shmPlane{region: r, server: true, gone: gone}, nil
}

// attachSHM attaches the region of the session (client).
func attachSHM(req ShmRequest, conn *sys.Conn, deadline time.Time) (plane, error) {
	name, err := SHMRegionFileName(req.Service, req.Params.SessionID)
	if err != nil {
		return nil, err
	}
	return attachRetrying(conn, deadline, shm.AttachTransient, func() (shmRegion, error) {
		r, err := shm.Attach(req.RunDir, name, int64(req.ProviderUID))
		if err == nil {
			r.SetExtensions(req.Params.Extensions)
		}
		return r, err
	})
}

// attachRetrying makes the client's plane of a region attach opens,
// retrying transient failures (the server may create the region late)
// for up to five seconds or half the time left until deadline, whichever
// is shorter; then the last failure is the error (ErrSHM: connect again
// without shared memory). A provider that closed the connection
// meanwhile is ErrDisconnected: retry later, not without shared memory.
func attachRetrying(conn *sys.Conn, deadline time.Time, transient func(error) bool, attach func() (shmRegion, error)) (plane, error) {
	budget := attachBudget
	if !deadline.IsZero() {
		budget = min(budget, time.Until(deadline)/2)
	}
	giveUp := time.Now().Add(budget)
	for {
		r, err := attach()
		if err == nil {
			return &shmPlane{region: r}, nil
		}
		if conn.PeerClosed() {
			return nil, netipc.Wrap(netipc.ErrDisconnected, err,
				"the provider closed the connection while this client attached the shared memory region")
		}
		left := time.Until(giveUp)
		if !transient(err) || left <= 0 {
			return nil, err
		}
		time.Sleep(min(attachRetry, left))
	}
}

func (p *shmPlane) send(h protocol.Header, payload []byte, w *waiter) error {
	h.Encode(p.head[:])
	if err := p.region.Publish(p.head[:], payload); err != nil {
		if err == shm.ErrClosed {
			return sys.ErrClosed
		}
		return err
	}
	w.sent = true
	return nil
}

// start prepares the first receive: the buffer, the liveness check, and
// on a server the hang-up goroutine.
func (p *shmPlane) start(w *waiter, in *Reassembler) {
	p.buf = make([]byte, min(p.region.RecvCapacity(), protocol.HeaderLen+int(in.Limits().MaxPayload)))
	conn := w.s.conn
	p.alive = func() bool { return !conn.PeerClosed() }
	if p.server {
		// It ends when the session closes the connection.
		go func(gone chan struct{}) {
			conn.WaitHangup()
			close(gone)
		}(p.gone)
	}
}

func (p *shmPlane) receive(w *waiter, in *Reassembler) (Message, error) {
	if p.buf == nil {
		p.start(w, in)
	}
	for {
		n, err := p.region.Receive(p.buf, w.deadline, p.alive)
		if err == nil {
			if p.server {
				return in.Whole(p.buf[:n])
			}
			// The client's in-flight ids: a Send may add one meanwhile.
			w.s.flightMu.Lock()
			m, err := in.Whole(p.buf[:n])
			w.s.flightMu.Unlock()
			return m, err
		}
		switch err {
		case shm.ErrTimeout, shm.ErrAborted:
			// The session says why (closed, interrupted, deadline), or
			// nothing: a wake-up for nothing, wait again.
			if err := w.ended(); err != nil {
				return Message{}, err
			}
			continue
		case shm.ErrClosed:
			return Message{}, sys.ErrClosed
		}
		var tl *shm.TooLargeError
		if !p.server && errors.As(err, &tl) && tl.Len > len(p.buf) {
			return Message{}, netipc.Wrap(netipc.ErrResponseTooLarge, err,
				"the provider published a %d-byte response; this client accepts at most %d bytes (ClientConfig.MaxResponsePayloadBytes, or the response size the provider announced)",
				tl.Len-protocol.HeaderLen, len(p.buf)-protocol.HeaderLen)
		}
		return Message{}, err
	}
}

func (p *shmPlane) abort(on bool) {
	if on {
		p.region.Interrupt()
	} else {
		p.region.ClearInterrupt()
	}
}

// close destroys (server) or detaches (client) the region. The session
// closes the connection after it, which ends the hang-up goroutine.
func (p *shmPlane) close() error { return p.region.Close() }
