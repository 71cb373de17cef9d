package shm

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netdata/netipc/go/internal/transport/sys"
)

// groupCapacity is how many regions one group goroutine watches: the
// most futexes one futex_waitv call takes, less the group's control word.
const groupCapacity = sys.FutexWaitvMax - 1

// idlePoll is how often a watched wait without a hang-up channel asks the
// peer's liveness function (the reference servers poll their socket
// every 100 ms).
const idlePoll = 100 * time.Millisecond

// Watcher lets idle server sessions wait for their next request without
// a thread each: see the package documentation. The zero value is not
// usable; create one with NewWatcher and Close it when the server stops.
// Its methods are safe for concurrent use.
type Watcher struct {
	mu     sync.Mutex
	groups []*group
	// free holds the groups that left, for reuse: a session that goes
	// idle between requests makes a group come and go, allocating
	// nothing.
	free    []*group
	running sync.WaitGroup
	closed  bool
	// noWaitv makes Receive use per-session futex waits, as on kernels
	// without futex_waitv (a test hook).
	noWaitv bool
}

// NewWatcher returns a watcher without goroutines; they start as sessions
// need them (one per 127 waiting sessions) and leave when no session
// waits.
func NewWatcher() *Watcher { return &Watcher{} }

// usable reports whether watched waits are possible (futex_waitv works).
func (w *Watcher) usable() bool { return !w.noWaitv && sys.FutexWaitvSupported() }

// Close stops the watcher's goroutines and waits for them; later waits
// use their own futex. Sessions waiting through it go on waiting on their
// own futex. Idempotent. (A watcher whose sessions do not wait has no
// goroutine: closing it is optional.)
func (w *Watcher) Close() {
	w.mu.Lock()
	groups := w.groups
	w.groups, w.closed = nil, true
	w.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.stop = true
		for _, mb := range g.members {
			mb.listed = false
			mb.signal()
		}
		clear(g.members)
		g.members = g.members[:0]
		g.mu.Unlock()
		g.wake()
	}
	w.running.Wait()
}

// member is one region's registration with a group; each Region has one
// and registers it only during a Receive (which keeps the mapping alive).
type member struct {
	r        *Region
	expected uint64
	// ready gets a token when the message arrived (or the region is lost
	// or the watcher closed): the receiving goroutine then looks.
	ready chan struct{}
	// grp is the group of the last registration (owned by the receiving
	// goroutine); listed is guarded by grp.mu.
	grp    *group
	listed bool
}

func (mb *member) signal() {
	select {
	case mb.ready <- struct{}{}:
	default:
	}
}

// group is one goroutine, locked to its thread, that sleeps in one
// futex_waitv call on the rx signal words of its members and on its own
// control word.
type group struct {
	w       *Watcher
	ctl     atomic.Uint32 // bumped to make the goroutine re-read members
	mu      sync.Mutex
	members []*member
	// stop: the watcher is closing; exiting: the group found itself
	// empty and is leaving (add skips it).
	stop, exiting bool
	waiters       [sys.FutexWaitvMax]sys.FutexWaiter // used by the goroutine only
}

func (g *group) wake() {
	g.ctl.Add(1)
	sys.FutexWake(&g.ctl, 1, false)
}

// add registers mb, waiting for sequence expected; false when the watcher
// is closed.
func (w *Watcher) add(mb *member, expected uint64) bool {
	mb.expected = expected
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	for _, g := range w.groups {
		g.mu.Lock()
		if !g.exiting && len(g.members) < groupCapacity {
			g.members = append(g.members, mb)
			mb.listed = true
			g.mu.Unlock()
			mb.grp = g
			g.wake()
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
		g = &group{w: w, members: make([]*member, 0, groupCapacity)}
	}
	g.members = append(g.members, mb)
	mb.listed, mb.grp = true, g
	w.groups = append(w.groups, g)
	w.running.Add(1)
	go startGroup()
	groupStarts <- g
	return true
}

// groupStarts hands a group to the goroutine started for it (a go
// statement with arguments would allocate a closure).
var groupStarts = make(chan *group)

// startGroup is the goroutine of a group: locked to its thread (which
// sleeps in futex_waitv) for as long as the group runs.
func startGroup() {
	g := <-groupStarts
	w := g.w
	runtime.LockOSThread()
	g.run()
	runtime.UnlockOSThread()
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
		mb.listed = false
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
		// Stop sleeping on its word (the region may be unmapped soon).
		g.wake()
	}
}

// run is a group's goroutine: it arms every member, hands the ones whose
// message is there (or whose region is lost) back to their goroutines,
// and sleeps until a member's word changes or the group does. It leaves
// once it has no member left (a server without idle sessions has no
// group goroutine).
func (g *group) run() {
	for {
		seen := g.ctl.Load()
		g.mu.Lock()
		if g.stop {
			g.mu.Unlock()
			return
		}
		n := 1
		for i := 0; i < len(g.members); {
			mb := g.members[i]
			val, ready := mb.arm()
			if ready {
				last := len(g.members) - 1
				g.members[i], g.members[last] = g.members[last], nil
				g.members = g.members[:last]
				mb.listed = false
				mb.signal()
				continue
			}
			g.waiters[n].Set(mb.r.m.u32(mb.r.rx.signal), val, true)
			n++
			i++
		}
		if len(g.members) == 0 {
			g.exiting = true
			g.mu.Unlock()
			g.leave()
			return
		}
		g.mu.Unlock()
		g.waiters[0].Set(&g.ctl, seen, false)
		switch sys.FutexWaitv(g.waiters[:n]) {
		case sys.FutexFault:
			// A member's word is gone from its file (truncated): touch
			// every member so that the lost ones are marked and handed
			// back on the next round.
			g.findLost()
		case sys.FutexUnsupported, sys.FutexFailed:
			// Never a busy loop.
			time.Sleep(time.Millisecond)
		}
	}
}

// leave takes the (exiting) group out of its watcher's list and keeps it
// for reuse. The group's goroutine does not touch it after this.
func (g *group) leave() {
	w := g.w
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, x := range w.groups {
		if x == g {
			last := len(w.groups) - 1
			copy(w.groups[i:], w.groups[i+1:])
			w.groups[last] = nil
			w.groups = w.groups[:last]
			break
		}
	}
	if !w.closed {
		w.free = append(w.free, g)
	}
}

// arm prepares the group's sleep on the member (see Region.arm); ready
// when the message is there or the region is lost. Runs in the group's
// goroutine, under guard.
func (mb *member) arm() (val uint32, ready bool) {
	m := mb.r.m
	var err error
	defer func() {
		if err != nil {
			ready = true
		}
	}()
	defer m.recoverFault(debug.SetPanicOnFault(true), &err)
	if !m.intact() {
		return 0, true
	}
	return mb.r.arm(mb.expected)
}

// findLost probes every member's region (marking the truncated ones
// lost); if none is, it pauses briefly so that a fault that cannot be
// pinned on a region does not make the loop a busy one.
func (g *group) findLost() {
	found := false
	g.mu.Lock()
	for _, mb := range g.members {
		found = mb.probe() || found
	}
	g.mu.Unlock()
	if !found {
		time.Sleep(time.Millisecond)
	}
}

// probe touches the member's region; true if it is lost.
func (mb *member) probe() (lost bool) {
	m := mb.r.m
	var err error
	defer func() { lost = lost || err != nil }()
	defer m.recoverFault(debug.SetPanicOnFault(true), &err)
	m.probe()
	return !m.intact()
}

// SetWatcher makes Receive, once its spinning found nothing, park the
// goroutine until w's group goroutine sees the next message arrive,
// instead of sleeping on the futex in its own thread (server side: idle
// sessions then cost no thread). gone, if not nil, is closed when the
// peer hangs up (Receive then returns ErrDisconnected); without it the
// alive function given to Receive is asked every 100 ms. Call it once,
// before the region is used (and before Interrupt or Close may be called
// from another goroutine). Where futex_waitv is not available (Linux
// before 5.16) Receive keeps sleeping on its own futex in 50 ms slices.
func (r *Region) SetWatcher(w *Watcher, gone <-chan struct{}) {
	r.watcher, r.gone = w, gone
	r.kick = make(chan struct{}, 1)
	r.member = member{r: r, ready: make(chan struct{}, 1)}
	r.timer = time.NewTimer(time.Hour)
	r.timer.Stop()
}

// waitWatched waits through the watcher until the message with sequence
// expected has been published. Call it under guard.
func (r *Region) waitWatched(expected uint64, deadline time.Time, alive func() bool) error {
	m := r.m
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
		if m.u64(r.rx.seq).Load() >= expected {
			return nil
		}
		if err := r.interruption(); err != nil {
			return err
		}
		d, expired := left(deadline, poll)
		if expired {
			return ErrTimeout
		}
		if !r.watcher.add(&r.member, expected) {
			// The watcher is closed: wait on our own futex.
			return r.waitFutex(expected, deadline, alive)
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
		if m.u64(r.rx.seq).Load() >= expected {
			return nil
		}
		if r.gone != nil {
			select {
			case <-r.gone:
				return ErrDisconnected
			default:
			}
		}
		if timedOut {
			// A slice without news: is the file still whole, and is the
			// peer still there? (A truncate does not wake the group.)
			m.probe()
			if alive != nil && r.gone == nil && !alive() {
				return ErrDisconnected
			}
		}
	}
}
