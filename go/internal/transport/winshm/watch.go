package winshm

import (
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/internal/transport/sys"
)

// groupCapacity is how many regions one group goroutine watches: the
// request events of 63 SHM_HYBRID regions plus the group's own wake-up
// event fill one WaitForMultipleObjects.
const groupCapacity = sys.WaitAnyMax - 1

// Polling of SHM_BUSYWAIT regions (no events: their clients never
// signal), the Rust core's values: a group holding one polls with
// yields only for busyPollWindow after the session went idle (a busy
// client's next request is picked up within microseconds), then once per
// busyPollPeriod (the system timer's tick, 15.6 ms by default, bounds
// the latency of an idle session's first request).
const (
	busyPollWindow = 20 * time.Millisecond
	busyPollPeriod = time.Millisecond
)

// idlePoll is how often a watched wait without a hang-up channel asks the
// peer's liveness function.
const idlePoll = 100 * time.Millisecond

// errUnwatched: the watcher cannot take the region now (it is closed, or
// a group's wake-up event could not be made); the wait goes on alone.
var errUnwatched = errors.New("winshm: not watched")

// Watcher lets idle server sessions wait for their next request without
// a thread each: one goroutine per 63 waiting regions sleeps in one
// WaitForMultipleObjects on their request events (SHM_HYBRID; SHM_BUSYWAIT
// regions are polled) and hands each region whose request arrived, or
// whose client closed its side, back to the goroutine waiting in
// Receive, which is parked on a channel meanwhile. The zero value is not
// usable; create one with NewWatcher. Its methods are safe for concurrent
// use.
type Watcher struct {
	mu     sync.Mutex
	groups []*group
	// free holds the groups that left, for reuse: a session that goes
	// idle between requests makes a group come and go, allocating
	// nothing.
	free    []*group
	running sync.WaitGroup
	closed  bool
}

// NewWatcher returns a watcher without goroutines; they start as sessions
// need them and leave when no session waits.
func NewWatcher() *Watcher { return &Watcher{} }

// Close stops the watcher's goroutines and waits for them; sessions
// waiting through it go on waiting alone. Idempotent. (A watcher whose
// sessions do not wait has no goroutine: closing it is optional.)
func (w *Watcher) Close() {
	w.mu.Lock()
	groups, free := w.groups, w.free
	w.groups, w.free, w.closed = nil, nil, true
	w.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.stop = true
		for _, mb := range g.members {
			mb.unlist()
			mb.signal()
		}
		clear(g.members)
		g.members = g.members[:0]
		g.mu.Unlock()
		g.event.Set()
	}
	w.running.Wait()
	// Every group is in one of the two lists (a group that leaves from
	// now on goes to neither), so each event is closed once, after its
	// goroutine is done.
	for _, g := range append(groups, free...) {
		g.event.Close()
	}
}

// member is one region's registration with a group; each Region has one
// and registers it only during a Receive (which holds a reference).
type member struct {
	r        *Region
	expected int64
	// ready gets a token when the message arrived (or the peer closed
	// its side, or the watcher closed): the receiving goroutine then
	// looks.
	ready chan struct{}
	// grp is the group of the last registration (owned by the receiving
	// goroutine); listed and idleSince are guarded by grp.mu.
	grp       *group
	listed    bool
	idleSince time.Time
}

func (mb *member) signal() {
	select {
	case mb.ready <- struct{}{}:
	default:
	}
}

// arm prepares the group's sleep on the member: SHM_HYBRID announces it
// in the request lane's waiting flag (the client signals the event only
// while it is up), then both re-check. Ready (the flag lowered again)
// when the request or the client's close is already there. Under the
// group's lock.
func (mb *member) arm() (ready bool) {
	r := mb.r
	waiting := i32At(r.mem, r.rx.readerWaiting)
	if r.wait != nil {
		waiting.Swap(1)
	}
	if r.ready(mb.expected) {
		if r.wait != nil {
			waiting.Swap(0)
		}
		return true
	}
	return false
}

// unlist marks the member no longer watched and lowers its waiting flag.
// Under the group's lock.
func (mb *member) unlist() {
	mb.listed = false
	if mb.r.wait != nil {
		i32At(mb.r.mem, mb.r.rx.readerWaiting).Swap(0)
	}
}

// group is one goroutine that sleeps in one WaitForMultipleObjects on its
// own wake-up event and the request events of its members.
type group struct {
	w       *Watcher
	event   sys.WinEvent // its wake-up (auto-reset, unnamed)
	mu      sync.Mutex
	members []*member
	// stop: the watcher is closing; exiting: the group found itself
	// empty and is leaving (add skips it).
	stop, exiting bool
	// Used by the goroutine only: the handles of one wait, and the
	// regions it holds references to during it (so that no handle is
	// closed while the kernel waits on it).
	handles [sys.WaitAnyMax]sys.WinHandle
	held    [groupCapacity]*Region
}

// add registers mb, waiting for sequence expected; false when the watcher
// cannot take it.
func (w *Watcher) add(mb *member, expected int64) bool {
	mb.expected = expected
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	now := time.Now()
	for _, g := range w.groups {
		g.mu.Lock()
		if !g.exiting && len(g.members) < groupCapacity {
			g.members = append(g.members, mb)
			mb.listed, mb.idleSince, mb.grp = true, now, g
			g.mu.Unlock()
			g.event.Set()
			return true
		}
		g.mu.Unlock()
	}
	var g *group
	if n := len(w.free); n > 0 {
		g = w.free[n-1]
		w.free[n-1] = nil
		w.free = w.free[:n-1]
		g.stop, g.exiting = false, false
	} else {
		ev, err := sys.CreateWinEvent("")
		if err != nil {
			return false
		}
		g = &group{w: w, event: ev, members: make([]*member, 0, groupCapacity)}
	}
	g.members = append(g.members, mb)
	mb.listed, mb.idleSince, mb.grp = true, now, g
	w.groups = append(w.groups, g)
	w.running.Add(1)
	go startGroup()
	groupStarts <- g
	return true
}

// groupStarts hands a group to the goroutine started for it (a go
// statement with arguments would allocate a closure).
var groupStarts = make(chan *group)

func startGroup() {
	g := <-groupStarts
	w := g.w
	g.run()
	w.running.Done()
}

// remove takes mb out of its group (a no-op if the group let go of it
// already because its message arrived).
func (w *Watcher) remove(mb *member) {
	g := mb.grp
	if g == nil {
		return
	}
	mb.grp = nil
	g.mu.Lock()
	listed := mb.listed
	if listed {
		mb.unlist()
		for i, x := range g.members {
			if x == mb {
				last := len(g.members) - 1
				g.members[i], g.members[last] = g.members[last], nil
				g.members = g.members[:last]
				break
			}
		}
	}
	g.mu.Unlock()
	if listed {
		g.event.Set()
	}
}

// run is a group's goroutine: it arms every member, hands the ones whose
// request is there (or whose client closed) back to their goroutines,
// and sleeps until an event is signalled or the group changes, polling
// SHM_BUSYWAIT members. It leaves once it has no member left (a server
// without idle sessions has no group goroutine).
func (g *group) run() {
	for {
		g.mu.Lock()
		if g.stop {
			g.mu.Unlock()
			return
		}
		g.handles[0] = g.event.Handle()
		n, held := 1, 0
		timeout := sys.WaitForever
		now := time.Now()
		for i := 0; i < len(g.members); {
			mb := g.members[i]
			if mb.arm() {
				last := len(g.members) - 1
				g.members[i], g.members[last] = g.members[last], nil
				g.members = g.members[:last]
				mb.listed = false
				mb.signal()
				continue
			}
			// Listed only during its Receive, which holds a reference:
			// this one keeps the handle open until the wait is over.
			mb.r.acquire()
			g.held[held] = mb.r
			held++
			if mb.r.wait != nil {
				g.handles[n] = mb.r.waitHandle
				n++
			} else {
				poll := time.Duration(0)
				if now.Sub(mb.idleSince) >= busyPollWindow {
					poll = busyPollPeriod
				}
				if timeout == sys.WaitForever || poll < timeout {
					timeout = poll
				}
			}
			i++
		}
		if len(g.members) == 0 {
			g.exiting = true
			g.mu.Unlock()
			g.leave()
			return
		}
		g.mu.Unlock()
		sys.WaitAny(g.handles[:n], timeout)
		if timeout == 0 {
			runtime.Gosched()
			sys.SwitchToThread()
		}
		for i := range held {
			g.held[i].drop()
			g.held[i] = nil
		}
	}
}

// leave takes the (exiting) group out of its watcher's list and keeps it
// for reuse. The group's goroutine does not touch it after this. Once the
// watcher is closed, Close has the group and closes its event.
func (g *group) leave() {
	w := g.w
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	for i, x := range w.groups {
		if x == g {
			last := len(w.groups) - 1
			copy(w.groups[i:], w.groups[i+1:])
			w.groups[last] = nil
			w.groups = w.groups[:last]
			break
		}
	}
	w.free = append(w.free, g)
}

// SetWatcher makes Receive, once its spin found nothing, park the
// goroutine until w's group goroutine sees the next request arrive (or
// the client close its side), instead of waiting in its own thread
// (server side: idle sessions then cost no thread). gone, if not nil, is
// closed when the client hangs up (Receive then returns ErrDisconnected);
// without it the alive function given to Receive is asked every 100 ms.
// A region whose wait event has no Windows handle (a test's event) is
// not watched. Call it once, before the region is used.
func (r *Region) SetWatcher(w *Watcher, gone <-chan struct{}) {
	if r.wait != nil {
		h, ok := r.wait.(interface{ Handle() sys.WinHandle })
		if !ok || h.Handle() == 0 {
			return
		}
		r.waitHandle = h.Handle()
	}
	r.watcher, r.gone = w, gone
	r.kick = make(chan struct{}, 1)
	r.member = member{r: r, ready: make(chan struct{}, 1)}
	r.timer = time.NewTimer(time.Hour)
	r.timer.Stop()
}

// waitWatched waits through the watcher until message expected has been
// published or the client closed its side (nil), or the client hung up
// (ErrDisconnected); errUnwatched when the watcher cannot take the
// region. Call it holding a reference.
func (r *Region) waitWatched(expected int64, deadline time.Time, alive func() bool) error {
	var poll time.Duration
	if r.gone == nil && alive != nil {
		poll = idlePoll
	}
	for {
		// Drain stale tokens before looking, so that a token sent after
		// the look is the one the select sees.
		select {
		case <-r.kick:
		default:
		}
		select {
		case <-r.member.ready:
		default:
		}
		if r.ready(expected) {
			return nil
		}
		if err := r.interruption(); err != nil {
			return err
		}
		d, expired := left(deadline, poll)
		if expired {
			return shm.ErrTimeout
		}
		if !r.watcher.add(&r.member, expected) {
			return errUnwatched
		}
		var timeout <-chan time.Time
		if d > 0 {
			r.timer.Reset(d)
			timeout = r.timer.C
		}
		timedOut := false
		select {
		case <-r.member.ready:
		case <-r.kick:
		case <-r.gone:
		case <-timeout:
			timedOut = true
		}
		if timeout != nil {
			r.timer.Stop()
		}
		r.watcher.remove(&r.member)
		if r.ready(expected) {
			return nil
		}
		if r.gone != nil {
			select {
			case <-r.gone:
				return shm.ErrDisconnected
			default:
			}
		}
		if timedOut && r.gone == nil && alive != nil && !alive() {
			return shm.ErrDisconnected
		}
	}
}
