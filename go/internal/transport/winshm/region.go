package winshm

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// Wait policy of a consumer after its spin (the Rust core's values).
const (
	// busyCheckEvery: a SHM_BUSYWAIT consumer looks at interrupts, its
	// deadline and the peer's close flag every 256 polls...
	busyCheckEvery = 256
	// busyYieldMask: ...and yields its thread (asking whether the peer's
	// connection is still there) every 1024.
	busyYieldMask = 1023
	// waitSlice is the longest single sleep on an event: interrupts and
	// the peer's liveness are checked at least this often.
	waitSlice = 50 * time.Millisecond
	// yieldWindow: before a watched wait, a server keeps polling this
	// long, yielding between polls (the Rust multiplexer's policy:
	// longer than a wake-up takes, so that a busy client's next request
	// is taken without handing the session to a wait group and back).
	yieldWindow = 50 * time.Microsecond
)

// Event is one direction's named auto-reset event of an SHM_HYBRID
// region (sys.WinEvent on Windows). Set and Wait may be called from any
// goroutine.
type Event interface {
	// Set signals the event: it wakes one waiter, or the next Wait.
	Set()
	// Wait waits until the event is signalled (true; the event is reset)
	// or d passes (false).
	Wait(d time.Duration) bool
}

// Objects are what one side's region lives in.
type Objects struct {
	// Name names the region in messages (the mapping's name).
	Name string
	// Mem is the mapped view (at least the layout's size).
	Mem []byte
	// ReqEvent and RespEvent are the direction events (SHM_HYBRID; nil
	// for SHM_BUSYWAIT, which never sleeps on a kernel object).
	ReqEvent, RespEvent Event
	// Release unmaps the view and closes the handles; it is called once,
	// when the region is closed and no call uses it any more. nil:
	// nothing to release.
	Release func()
}

// Region is one side's view of a Windows SHM session's region: the
// server creates it (Create) once the handshake accepted the client with
// an SHM profile, the client attaches it (Attach) after the HELLO_ACK.
// Each side publishes into one area and consumes from the other, one
// message in flight per direction (transport-windows.md §B.8, §B.9).
//
// Publish and Receive are called by one goroutine at a time (one may
// publish while another receives); SetWatcher before the region is used.
// Interrupt, ClearInterrupt and Close may be called from any goroutine.
type Region struct {
	name    string
	mem     []byte
	profile protocol.Profile
	// spinTries are the polls of a receive before it waits.
	spinTries uint32
	// tx is the lane this side publishes into, txSeq its publications;
	// rx the lane it consumes from, rxSeq the messages consumed (written
	// by the receiving goroutine, read by a publishing one).
	tx, rx lane
	txSeq  int64
	rxSeq  atomic.Int64
	server bool
	// signal is the event this side sets after a publication its peer
	// waits for, wait the one it sleeps on (nil: SHM_BUSYWAIT).
	signal, wait Event

	// refs counts the region's own reference and those of running calls
	// (and wait groups): release runs with the last one.
	refs    atomic.Int32
	release func()

	interrupted atomic.Bool
	closed      atomic.Bool

	// Watched waits (server side, see SetWatcher).
	watcher *Watcher
	gone    <-chan struct{}
	kick    chan struct{}
	timer   *time.Timer
	member  member
	// waitHandle is the handle of wait, for a wait group (0: none).
	waitHandle sys.WinHandle
}

// New returns one side's region in o with layout l (from Format on the
// server, from Validate on the client); server: this side consumes
// requests and publishes responses. The sequence baselines are the
// header's current values.
func New(o Objects, l Layout, server bool) *Region {
	r := &Region{
		name:      o.Name,
		mem:       o.Mem,
		profile:   l.Profile,
		spinTries: l.SpinTries,
		server:    server,
		release:   o.Release,
	}
	req, resp := requestLane(l), responseLane(l)
	r.tx, r.rx = req, resp
	if server {
		r.tx, r.rx = resp, req
	}
	if o.ReqEvent != nil && o.RespEvent != nil {
		r.signal, r.wait = o.ReqEvent, o.RespEvent
		if server {
			r.signal, r.wait = o.RespEvent, o.ReqEvent
		}
	}
	r.txSeq = i64At(r.mem, r.tx.seq).Load()
	r.rxSeq.Store(i64At(r.mem, r.rx.seq).Load())
	r.refs.Store(1)
	return r
}

// Name is the region's name (its mapping's).
func (r *Region) Name() string { return r.name }

// Profile is the profile the region was made for.
func (r *Region) Profile() protocol.Profile { return r.profile }

// RecvCapacity is the capacity of the area this side consumes from (the
// largest message, header included, it can receive).
func (r *Region) RecvCapacity() int { return r.rx.capacity }

// SendCapacity is the capacity of the area this side publishes into.
func (r *Region) SendCapacity() int { return r.tx.capacity }

// acquire takes a reference; false once the region is released.
func (r *Region) acquire() bool {
	for {
		n := r.refs.Load()
		if n <= 0 {
			return false
		}
		if r.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// drop drops a reference and releases the objects with the last one.
func (r *Region) drop() {
	if r.refs.Add(-1) == 0 && r.release != nil {
		r.release()
	}
}

// Publish publishes one message made of head and body (the 32-byte outer
// header and the payload): copy, length, sequence (the publication
// point), then, SHM_HYBRID, the event if the peer announced that it
// sleeps on it. An empty message or one larger than the area fails with
// ErrLimitExceeded (nothing written); a client with a request in flight
// gets ErrBusy, a server without a request to answer ErrInvalidArgument.
func (r *Region) Publish(head, body []byte) error {
	if !r.acquire() {
		return shm.ErrClosed
	}
	defer r.drop()
	if r.closed.Load() {
		return shm.ErrClosed
	}
	consumed := r.rxSeq.Load()
	if r.server && r.txSeq+1 != consumed {
		return errNoRequest
	}
	if !r.server && r.txSeq != consumed {
		return errBusy
	}
	total := len(head) + len(body)
	if total == 0 || total > r.tx.capacity || total > math.MaxInt32 {
		return netipc.Errorf(netipc.ErrLimitExceeded,
			"message not sent: %d bytes do not fit the %d-byte shared-memory area of %s (messages are 1 byte or more); reconnect with larger limits",
			total, r.tx.capacity, r.name)
	}
	area := r.mem[r.tx.area : r.tx.area+total]
	copy(area[copy(area, head):], body)
	i32At(r.mem, r.tx.len).Swap(int32(total))
	i64At(r.mem, r.tx.seq).Add(1)
	if r.signal != nil && i32At(r.mem, r.tx.readerWaiting).Load() != 0 {
		r.signal.Set()
	}
	r.txSeq++
	return nil
}

// Receive waits for the next message and copies it into buf (which should
// hold RecvCapacity bytes; a longer message fails); returns its length.
// It polls spin-tries times, then waits: SHM_HYBRID sleeps on its event
// in slices (with a watcher, the goroutine parks instead), SHM_BUSYWAIT
// keeps polling and yields its thread every 1024 polls. It waits until
// deadline (zero: none): ErrTimeout, nothing consumed. While it waits it
// checks Interrupt (ErrAborted), Close (ErrClosed), the peer's close flag
// and alive, if not nil (ErrDisconnected once the peer is gone and no
// message is left). A peer that breaks the protocol (a negative, zero or
// too large length, a message changed during the copy) gives
// ErrProtocol; the session should end.
func (r *Region) Receive(buf []byte, deadline time.Time, alive func() bool) (int, error) {
	if !r.acquire() {
		return 0, shm.ErrClosed
	}
	defer r.drop()
	if err := r.interruption(); err != nil {
		return 0, err
	}
	expected := r.rxSeq.Load() + 1
	n, ok, err := r.observe(expected, buf)
	for polls := uint32(0); !ok && err == nil && polls < r.spinTries; polls++ {
		n, ok, err = r.observe(expected, buf)
	}
	if !ok && err == nil {
		n, err = r.await(expected, buf, deadline, alive)
	}
	if err != nil {
		return 0, err
	}
	return r.consume(expected, n, len(buf))
}

// await waits for message expected after the spin (see Receive) and
// returns its observed length. Call it holding a reference.
func (r *Region) await(expected int64, buf []byte, deadline time.Time, alive func() bool) (int, error) {
	if r.watcher != nil {
		err := error(nil)
		if !r.yieldUntil(expected) {
			err = r.waitWatched(expected, deadline, alive)
		}
		switch err {
		case nil, shm.ErrDisconnected:
			// The message, or the peer's close flag, or its hang-up.
			if n, ok, err := r.observe(expected, buf); ok || err != nil {
				return n, err
			}
			return r.peerGone(expected, buf)
		case errUnwatched:
		default:
			return 0, err
		}
	}
	if r.wait == nil {
		return r.busyWait(expected, buf, deadline, alive)
	}
	for {
		if err := r.interruption(); err != nil {
			return 0, err
		}
		slice, expired := left(deadline, waitSlice)
		if expired {
			return 0, shm.ErrTimeout
		}
		if n, ok, err := r.sleep(expected, buf, slice); ok || err != nil {
			return n, err
		}
		if r.peerClosed() || (alive != nil && !alive()) {
			return r.peerGone(expected, buf)
		}
	}
}

// busyWait is the SHM_BUSYWAIT wait: polls, looking at interrupts, the
// deadline and the peer's close flag every busyCheckEvery polls, and
// yielding the thread every 1024. alive (the connection, for a peer that
// died without closing) is asked once per waitSlice, as a sleeping
// SHM_HYBRID receiver does.
func (r *Region) busyWait(expected int64, buf []byte, deadline time.Time, alive func() bool) (int, error) {
	asked := time.Now()
	for polls := uint32(1); ; polls++ {
		if n, ok, err := r.observe(expected, buf); ok || err != nil {
			return n, err
		}
		if polls%busyCheckEvery != 0 {
			continue
		}
		if err := r.interruption(); err != nil {
			return 0, err
		}
		now := time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			return 0, shm.ErrTimeout
		}
		gone := r.peerClosed()
		if polls&busyYieldMask == 0 {
			// Let another goroutine of this process (the peer, in tests
			// and in-process pairs), then another thread, run.
			runtime.Gosched()
			sys.SwitchToThread()
			if alive != nil && now.Sub(asked) >= waitSlice {
				asked = now
				gone = gone || !alive()
			}
		}
		if gone {
			return r.peerGone(expected, buf)
		}
	}
}

// yieldUntil polls for message expected (or the peer's close) for
// yieldWindow, yielding to other goroutines and threads between polls;
// it reports whether the wait is over.
func (r *Region) yieldUntil(expected int64) bool {
	var start time.Time
	for polls := 0; !r.ready(expected); polls++ {
		if polls%8 == 0 {
			// The clock is read every 8 polls only (a clock read costs
			// as much as a poll).
			now := time.Now()
			if start.IsZero() {
				start = now
			} else if now.Sub(start) >= yieldWindow {
				return false
			}
		}
		runtime.Gosched()
		sys.SwitchToThread()
	}
	return true
}

// sleep announces the wait in the lane's waiting flag, looks once more,
// sleeps on the event for at most slice, looks again if it was
// signalled, and takes the announcement back (SHM_HYBRID).
func (r *Region) sleep(expected int64, buf []byte, slice time.Duration) (int, bool, error) {
	waiting := i32At(r.mem, r.rx.readerWaiting)
	waiting.Swap(1)
	n, ok, err := r.observe(expected, buf)
	if !ok && err == nil && r.wait.Wait(slice) {
		n, ok, err = r.observe(expected, buf)
	}
	waiting.Swap(0)
	return n, ok, err
}

// peerGone is the end of a wait whose peer is gone (its close flag, or
// alive): one more look, else the message is consumed as missing and the
// session is disconnected.
func (r *Region) peerGone(expected int64, buf []byte) (int, error) {
	if n, ok, err := r.observe(expected, buf); ok || err != nil {
		return n, err
	}
	r.rxSeq.Store(expected)
	return 0, shm.ErrDisconnected
}

// testAfterCopy, when set, runs between the copy of a message and the
// re-check of its length and sequence (tests overrun the reader there).
var testAfterCopy func()

// observe looks for message expected once: not yet (false), or its
// published length, with the message copied into buf when it fits
// (ok). A negative length, or a length or sequence that changed during
// the copy (the writer overran the reader), is ErrProtocol.
func (r *Region) observe(expected int64, buf []byte) (int, bool, error) {
	seq := i64At(r.mem, r.rx.seq)
	if seq.Load() < expected {
		return 0, false, nil
	}
	lenWord := i32At(r.mem, r.rx.len)
	n := lenWord.Load()
	if n < 0 {
		return 0, false, netipc.Errorf(netipc.ErrProtocol,
			"protocol violation by the peer: it published a negative length (%d) in shared memory region %s; the session ends", n, r.name)
	}
	if n > 0 && int(n) <= min(len(buf), r.rx.capacity) {
		copy(buf[:n], r.mem[r.rx.area:r.rx.area+int(n)])
		if testAfterCopy != nil {
			testAfterCopy()
		}
		if lenWord.Load() != n || seq.Load() != expected {
			return 0, false, netipc.Errorf(netipc.ErrProtocol,
				"protocol violation by the peer: it changed the message in shared memory region %s while it was read (more than one message in flight); the session ends", r.name)
		}
	}
	return int(n), true, nil
}

// consume consumes message expected, observed with n bytes into a buffer
// of room bytes, and checks its length.
func (r *Region) consume(expected int64, n, room int) (int, error) {
	r.rxSeq.Store(expected)
	limit := min(room, r.rx.capacity)
	switch {
	case n == 0:
		return 0, netipc.Errorf(netipc.ErrProtocol,
			"protocol violation by the peer: it published an empty message in shared memory region %s; the session ends", r.name)
	case n > limit:
		return 0, netipc.Wrap(netipc.ErrProtocol, &shm.TooLargeError{Len: n, Room: limit},
			"protocol violation by the peer: it published a %d-byte message in shared memory region %s, where at most %d bytes fit; the session ends",
			n, r.name, limit)
	}
	return n, nil
}

// peerClosed reports whether the peer marked the lane it writes closed.
func (r *Region) peerClosed() bool {
	return i32At(r.mem, r.rx.writerClosed).Load() != 0
}

// ready reports whether a wait for message expected is over: the message
// was published or the peer closed its side.
func (r *Region) ready(expected int64) bool {
	return i64At(r.mem, r.rx.seq).Load() >= expected || r.peerClosed()
}

// interruption reports why a wait must end now (closed, interrupted), or
// nil.
func (r *Region) interruption() error {
	switch {
	case r.closed.Load():
		return shm.ErrClosed
	case r.interrupted.Load():
		return shm.ErrAborted
	}
	return nil
}

// left is the time to sleep: at most limit (0: none), at most until
// deadline (zero: none); expired when the deadline has passed.
func left(deadline time.Time, limit time.Duration) (d time.Duration, expired bool) {
	d = limit
	if !deadline.IsZero() {
		l := time.Until(deadline)
		if l <= 0 {
			return 0, true
		}
		if d == 0 || l < d {
			d = l
		}
	}
	return d, false
}

// Interrupt makes a Receive blocked in another goroutine, and every later
// one, return ErrAborted promptly, until ClearInterrupt.
func (r *Region) Interrupt() {
	r.interrupted.Store(true)
	r.wake()
}

// ClearInterrupt undoes Interrupt.
func (r *Region) ClearInterrupt() { r.interrupted.Store(false) }

// wake makes a waiting Receive of this side look at the region's state
// again: the parked goroutine of a watched wait gets a token, a sleeper
// on the event a signal of its own event (the next sleep may then return
// once for nothing, which every wait allows for).
func (r *Region) wake() {
	if r.kick != nil {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	if r.wait != nil && r.acquire() {
		r.wait.Set()
		r.drop()
	}
}

// Close closes this side (transport-windows.md §B.9): it sets the close
// flag of the lane it writes and, SHM_HYBRID, signals the peer's event,
// so that a waiting peer finds out at once; a Receive blocked in another
// goroutine returns ErrClosed promptly. The view is unmapped and the
// handles closed once no call uses them any more (the kernel destroys
// the objects with their last handle, in either process). Idempotent;
// returns nil.
func (r *Region) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	if r.acquire() {
		i32At(r.mem, r.tx.writerClosed).Swap(1)
		if r.signal != nil {
			r.signal.Set()
		}
		r.drop()
	}
	r.wake()
	r.drop()
	return nil
}
