package shm

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/sys"
)

// Region is one side's view of a session's shared-memory region: the
// server creates it (Create) before it answers the HELLO, the client
// attaches it (Attach) after a HELLO_ACK that selected an SHM profile.
// Each side publishes into one area and consumes from the other, one
// message in flight per direction.
//
// Publish and Receive are called by one goroutine at a time (one may
// publish while another receives); SetExtensions and SetWatcher before
// the region is used.
// Interrupt, ClearInterrupt and Close may be called from any goroutine.
type Region struct {
	path string
	m    *mapping
	// tx is the lane this side publishes into, txSeq its publications;
	// rx the lane it consumes from, rxSeq the messages consumed (written
	// by the receiving goroutine, read by a publishing one).
	tx, rx lane
	txSeq  uint64
	rxSeq  atomic.Uint64
	// server: this side created the region (consumes requests).
	server bool
	// owned is the file to remove on Close (server side).
	owned *owned
	// wakeOnDemand: both peers agreed on ExtWakeOnDemand.
	wakeOnDemand bool
	// policy adapts how long this side polls before it sleeps.
	policy policy

	interrupted atomic.Bool
	closed      atomic.Bool

	// Watched waits (server side, see SetWatcher).
	watcher *Watcher
	gone    <-chan struct{}
	kick    chan struct{}
	timer   *time.Timer
	member  member
}

// owned is the region file a server removes when it closes the region.
type owned struct {
	dir      sys.RegionDir
	name     string
	dev, ino uint64
}

// remove removes the file if the entry is still the file created, and
// closes the directory.
func (o *owned) remove() {
	if st, err := o.dir.Lstat(o.name); err == nil && st.Dev == o.dev && st.Ino == o.ino {
		_ = o.dir.Remove(o.name, false)
	}
	o.dir.Close()
}

func regionPath(runDir, name string) string { return runDir + "/" + name }

// osError classifies an OS error: ErrPermission, ErrNotFound, or kind.
func osError(kind netipc.Kind, err error, format string, args ...any) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		kind = netipc.ErrPermission
	case errors.Is(err, fs.ErrNotExist):
		kind = netipc.ErrNotFound
	}
	return netipc.Wrap(kind, err, format, args...)
}

// Create creates the region file name in runDir (server side), sized for
// request payloads up to maxRequest and response payloads up to
// maxResponse bytes: capacities align64(32 + max), file size 64 + both.
// The file is created exclusively with mode 0600 and fully reserved (a
// full file system fails here, never later with SIGBUS). An existing
// entry of that name is removed if it is a stale region (its owner is
// gone) and refused otherwise: ErrAddressInUse for a live region,
// ErrRunDir for an entry of another user. Close removes the file.
func Create(runDir, name string, maxRequest, maxResponse uint32) (*Region, error) {
	path := regionPath(runDir, name)
	rq, okq := CapacityFor(maxRequest)
	rs, oks := CapacityFor(maxResponse)
	size := uint64(HeaderLen) + uint64(rq) + uint64(rs)
	if !okq || !oks || uint64(HeaderLen)+uint64(rq) > math.MaxUint32 || size > math.MaxInt {
		return nil, netipc.Errorf(netipc.ErrInvalidArgument,
			"the shared memory region %s cannot hold requests of %d and responses of %d payload bytes (each area and the request area's end must fit 4 GiB): lower the payload limits",
			path, maxRequest, maxResponse)
	}
	dir, err := sys.OpenRegionDir(runDir)
	if err != nil {
		return nil, osError(netipc.ErrRunDir, err, "cannot open the run directory %s for the shared memory region", runDir)
	}
	fd, err := createExclusive(dir, runDir, name)
	if err != nil {
		dir.Close()
		return nil, err
	}
	defer fd.Close() // the mapping keeps the file alive
	st, err := fd.Stat()
	if err != nil {
		_ = dir.Remove(name, false) // just created exclusively: ours
		dir.Close()
		return nil, netipc.Wrap(netipc.ErrIO, err, "cannot inspect the new shared memory region %s", path)
	}
	o := &owned{dir: dir, name: name, dev: st.Dev, ino: st.Ino}
	if err := fd.Allocate(int64(size)); err != nil {
		o.remove()
		return nil, netipc.Wrap(netipc.ErrSHM, err,
			"cannot reserve %d bytes for the shared memory region %s: free space in the run directory's file system (it must support fallocate)", size, path)
	}
	mem, err := fd.Map(int(size))
	if err != nil {
		o.remove()
		return nil, netipc.Wrap(netipc.ErrSHM, err, "cannot map the shared memory region %s (%d bytes)", path, size)
	}
	r := &Region{
		path:   path,
		m:      newMapping(mem, path),
		tx:     responseLane(HeaderLen+int(rq), int(rs)),
		rx:     requestLane(HeaderLen, int(rq)),
		server: true,
		policy: policy{requests: true},
		owned:  o,
	}
	if err := r.writeHeader(rq, rs); err != nil {
		// Truncated by another process before the session began.
		r.m.release()
		o.remove()
		return nil, err
	}
	return r, nil
}

// writeHeader fills the header of a new region (the reserved file reads
// zeros, so the atomics start at 0).
func (r *Region) writeHeader(rq, rs uint32) (err error) {
	m := r.m
	defer m.recoverFault(debug.SetPanicOnFault(true), &err)
	m.u32(offMagic).Store(Magic)
	binary.NativeEndian.PutUint16(m.mem[offVersion:], Version)
	binary.NativeEndian.PutUint16(m.mem[offHeaderLen:], HeaderLen)
	m.u32(offOwnerPID).Store(uint32(os.Getpid()))
	m.u32(offOwnerGen).Store(ownerGeneration())
	m.u32(offReqOffset).Store(HeaderLen)
	m.u32(offReqCapacity).Store(rq)
	m.u32(offRespOffset).Store(HeaderLen + rq)
	// The last store, sequentially consistent like every sync/atomic
	// store: the release fence that publishes the header.
	m.u32(offRespCap).Store(rs)
	m.probe()
	return nil
}

// createExclusive creates name exclusively; on EEXIST it removes a stale
// region once and tries again, refusing a live region and an entry of
// another user.
func createExclusive(dir sys.RegionDir, runDir, name string) (sys.RegionFile, error) {
	path := regionPath(runDir, name)
	fd, err := dir.Create(name)
	if err == nil {
		return fd, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return -1, osError(netipc.ErrSHM, err, "cannot create the shared memory region %s", path)
	}
	switch v := checkStale(dir, name); v.verdict {
	case staleGone:
	case staleInUse:
		return -1, inUseError(path, v.pid)
	case staleForeign:
		return -1, netipc.Errorf(netipc.ErrRunDir,
			"%s is a %s owned by uid %d (mode %04o), where netipc must place its own file: it is not followed, used or removed; remove it if nothing needs it, or use another run directory",
			path, v.st.Type, v.st.UID, v.st.Perm)
	}
	fd, err = dir.Create(name)
	if errors.Is(err, fs.ErrExist) {
		return -1, inUseError(path, 0)
	}
	if err != nil {
		return -1, osError(netipc.ErrSHM, err, "cannot create the shared memory region %s", path)
	}
	return fd, nil
}

func inUseError(path string, pid int32) error {
	by := "another live provider"
	if pid > 0 {
		by = "a live provider (process " + strconv.Itoa(int(pid)) + ")"
	}
	return netipc.Errorf(netipc.ErrAddressInUse,
		"the shared memory region %s is in use by %s: stop that provider or use another service name", path, by)
}

// Attach attaches the region file name in runDir (client side) and
// validates its header. owner is the uid the file must belong to (the
// provider's, from the connection's peer credentials), or -1 for "this
// user or root". The file is opened without following a link and used
// only if it is a regular file of that owner. Only the extent of the two
// areas is mapped, never more of the file. Errors are ErrSHM with an
// *AttachError cause (AttachTransient tells whether to retry).
func Attach(runDir, name string, owner int64) (*Region, error) {
	path := regionPath(runDir, name)
	dir, err := sys.OpenRegionDir(runDir)
	if err != nil {
		return nil, attachError(path, AttachOpen, err, "")
	}
	defer dir.Close()
	fd, st, err := openRegion(dir, path, name, owner)
	if err != nil {
		return nil, err
	}
	defer fd.Close() // the mapping keeps the file alive
	if st.Size < HeaderLen {
		return nil, attachError(path, AttachNotReady, nil, "the file has %d bytes", st.Size)
	}
	head, err := fd.Map(HeaderLen)
	if err != nil {
		return nil, attachError(path, AttachMap, err, "")
	}
	hm := newMapping(head, path)
	req, resp, err := validate(hm, st.Size)
	lost := hm.lost.Load()
	hm.release()
	if lost {
		return nil, attachError(path, AttachLost, nil, "")
	}
	if err != nil {
		return nil, err
	}
	mem, err := fd.Map(max(req.end(), resp.end()))
	if err != nil {
		return nil, attachError(path, AttachMap, err, "")
	}
	r := &Region{path: path, m: newMapping(mem, path)}
	if err := r.adopt(); err != nil {
		r.m.release()
		return nil, err
	}
	return r, nil
}

// adopt validates the header again on the mapping itself (it may have
// changed since, and the lanes must fit what was mapped) and takes the
// current sequence numbers as the baselines.
func (r *Region) adopt() (err error) {
	m := r.m
	defer func() {
		if m.lost.Load() {
			err = attachError(r.path, AttachLost, nil, "")
		}
	}()
	defer m.recoverFault(debug.SetPanicOnFault(true), &err)
	req, resp, err := validate(m, int64(len(m.mem)))
	if err != nil {
		return err
	}
	r.tx, r.rx = req, resp
	r.txSeq = m.u64(req.seq).Load()
	r.rxSeq.Store(m.u64(resp.seq).Load())
	// The whole extent must still be there: a truncate since the size
	// was read faults here at the latest.
	m.probe()
	return nil
}

// openRegion opens the region file read-write without following a link
// and accepts only a regular file of the expected owner.
func openRegion(dir sys.RegionDir, path, name string, owner int64) (sys.RegionFile, sys.RegionStat, error) {
	me := int64(os.Geteuid())
	expected := owner
	if expected < 0 {
		expected = me
	}
	foreign := func(st sys.RegionStat) error {
		return attachError(path, AttachForeign, nil,
			"it is a %s owned by uid %d, not a region file of the provider (uid %d); it was not used", st.Type, st.UID, expected)
	}
	fd, err := dir.Open(name, true)
	if err != nil {
		// A link (ELOOP), a FIFO without a reader (ENXIO), a directory
		// (EISDIR): say what is there.
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			if st, serr := dir.Lstat(name); serr == nil && st.Type != sys.RegionRegular {
				return -1, st, foreign(st)
			}
		}
		return -1, sys.RegionStat{}, attachError(path, AttachOpen, err, "")
	}
	st, err := fd.Stat()
	if err != nil {
		fd.Close()
		return -1, st, attachError(path, AttachMap, err, "")
	}
	ownerOK := int64(st.UID) == expected || (owner < 0 && st.UID == 0)
	if st.Type != sys.RegionRegular || !ownerOK {
		fd.Close()
		return -1, st, foreign(st)
	}
	return fd, st, nil
}

// validate checks a region header against a region of size bytes and
// returns its request and response lanes. A fault (the file truncated
// under the mapping) marks m lost.
func validate(m *mapping, size int64) (req, resp lane, err error) {
	defer m.recoverFault(debug.SetPanicOnFault(true), &err)
	path := m.path
	if magic := m.u32(offMagic).Load(); magic != Magic {
		return req, resp, attachError(path, AttachBadMagic, nil, "%#x", magic)
	}
	if v := binary.NativeEndian.Uint16(m.mem[offVersion:]); v != Version {
		return req, resp, attachError(path, AttachBadVersion, nil, "version %d, this side speaks %d", v, Version)
	}
	if hl := binary.NativeEndian.Uint16(m.mem[offHeaderLen:]); hl != HeaderLen {
		return req, resp, attachError(path, AttachBadHeader, nil, "header_len %d is not 64", hl)
	}
	rqOff, rqCap := uint64(m.u32(offReqOffset).Load()), uint64(m.u32(offReqCapacity).Load())
	rsOff, rsCap := uint64(m.u32(offRespOffset).Load()), uint64(m.u32(offRespCap).Load())
	if rqOff < HeaderLen || rqCap == 0 || rsOff < HeaderLen || rsCap == 0 {
		return req, resp, attachError(path, AttachNotReady, nil, "zero offsets or capacities")
	}
	rqEnd, rsEnd := rqOff+rqCap, rsOff+rsCap
	aligned := (rqOff|rqCap|rsOff|rsCap)%AreaAlign == 0
	if rqEnd > math.MaxUint32 || !aligned || rsOff < rqEnd {
		return req, resp, attachError(path, AttachBadSize, nil,
			"request area %d+%d, response area %d+%d", rqOff, rqCap, rsOff, rsCap)
	}
	if uint64(size) < max(rqEnd, rsEnd) || max(rqEnd, rsEnd) > math.MaxInt {
		return req, resp, attachError(path, AttachBadSize, nil,
			"the areas end at byte %d, the file has %d bytes", max(rqEnd, rsEnd), size)
	}
	return requestLane(int(rqOff), int(rqCap)), responseLane(int(rsOff), int(rsCap)), nil
}

// RecvCapacity is the capacity of the area this side consumes from (the
// largest message, header included, it can receive).
func (r *Region) RecvCapacity() int { return r.rx.capacity }

// SendCapacity is the capacity of the area this side publishes into.
func (r *Region) SendCapacity() int { return r.tx.capacity }

// SetExtensions applies the netipc HELLO_ACK extensions both peers agreed
// on (ExtWakeOnDemand). Call it before the first message.
func (r *Region) SetExtensions(extensions uint32) {
	r.wakeOnDemand = extensions&ExtWakeOnDemand != 0
}

// Publish publishes one message made of head and body (the 32-byte outer
// header and the payload): copy, length, sequence (the publication
// point), then the wake-up: with ExtWakeOnDemand only a consumer that
// announced it sleeps is woken; otherwise the signal word is incremented
// and FUTEX_WAKE issued on every publication, as the reference peers do.
// An empty message or one larger than the area fails with
// ErrLimitExceeded (nothing written); a client with a request in flight
// gets ErrBusy.
func (r *Region) Publish(head, body []byte) (err error) {
	m := r.m
	if !m.acquire() {
		return ErrClosed
	}
	defer m.release()
	defer m.recoverFault(debug.SetPanicOnFault(true), &err)
	if err := r.usable(); err != nil {
		return err
	}
	consumed := r.rxSeq.Load()
	if r.server && r.txSeq+1 != consumed {
		return errNoRequest
	}
	if !r.server && r.txSeq != consumed {
		return errBusy
	}
	total := len(head) + len(body)
	if total == 0 || total > r.tx.capacity {
		return netipc.Errorf(netipc.ErrLimitExceeded,
			"message not sent: %d bytes do not fit the %d-byte shared-memory area of %s (messages are 1 byte or more); reconnect with larger limits",
			total, r.tx.capacity, r.path)
	}
	area := m.mem[r.tx.area : r.tx.area+total]
	copy(area[copy(area, head):], body)
	m.u32(r.tx.len).Store(uint32(total))
	signal := m.u32(r.tx.signal)
	m.u64(r.tx.seq).Add(1)
	if r.wakeOnDemand {
		// Publish, then look for a sleeping consumer; the consumer does
		// the mirror image (announce, then look for a message). Both
		// sequentially consistent: at least one of them sees the other.
		if signal.Load() != 0 && signal.Swap(0) != 0 {
			sys.FutexWake(signal, 1, true)
		}
	} else {
		signal.Add(1)
		sys.FutexWake(signal, 1, true)
	}
	r.txSeq++
	if !m.intact() {
		// The message went into memory the peer does not see.
		return lostError(r.path)
	}
	return nil
}

// usable reports why the region cannot be used now, or nil. Call it under
// guard.
func (r *Region) usable() error {
	switch {
	case r.closed.Load():
		return ErrClosed
	case !r.m.intact():
		return lostError(r.path)
	}
	return nil
}

// Receive waits for the next message and copies it into buf (which should
// hold RecvCapacity bytes; a longer message fails); returns its length.
// It spins briefly, then sleeps on the futex in slices (or, with a
// watcher, parks the goroutine), until deadline (zero: none): ErrTimeout
// (nothing consumed). Between slices it checks Interrupt (ErrAborted),
// Close (ErrClosed), the region (ErrSHM when another process truncated
// it) and alive, if not nil (ErrDisconnected when it reports false). A
// peer that breaks the protocol (a zero or too large length, a sequence
// number that skips messages) gives ErrProtocol; the message is consumed
// and the session should end.
func (r *Region) Receive(buf []byte, deadline time.Time, alive func() bool) (n int, err error) {
	m := r.m
	if !m.acquire() {
		return 0, ErrClosed
	}
	defer m.release()
	defer m.recoverFault(debug.SetPanicOnFault(true), &err)
	if err := r.interruption(); err != nil {
		return 0, err
	}
	expected := r.rxSeq.Load() + 1
	seq := m.u64(r.rx.seq)
	sp := r.policy.next()
	caught := true
	if seq.Load() < expected {
		for seq.Load() < expected && sp.again() {
		}
		if seq.Load() < expected {
			caught = false
			if r.watcher != nil && r.watcher.usable() {
				err = r.waitWatched(expected, deadline, alive)
			} else {
				err = r.waitFutex(expected, deadline, alive)
			}
			if err != nil {
				return 0, err
			}
		}
	}
	r.policy.record(&sp, caught)
	return r.take(buf)
}

// arm prepares a sleep on the rx signal word: announces it (wake on
// demand) or samples the word, then re-checks the sequence. It returns
// the value to sleep on, or arrived when the message is there. Sampling
// (or setting) the word before the re-check closes the lost-wakeup
// window: a publication in between changes the word, so the sleep returns
// at once. Call it under guard.
func (r *Region) arm(expected uint64) (val uint32, arrived bool) {
	m := r.m
	signal := m.u32(r.rx.signal)
	if r.wakeOnDemand {
		signal.Swap(1)
		val = 1
	} else {
		val = signal.Load()
	}
	if m.u64(r.rx.seq).Load() >= expected {
		if r.wakeOnDemand {
			signal.Store(0)
		}
		return 0, true
	}
	return val, false
}

// interruption reports why a wait must end now (closed, interrupted,
// lost), or nil. Call it under guard.
func (r *Region) interruption() error {
	if err := r.usable(); err != nil {
		return err
	}
	if r.interrupted.Load() {
		return ErrAborted
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

// waitFutex sleeps on the futex in slices until the message with
// sequence expected has been published. Call it under guard.
func (r *Region) waitFutex(expected uint64, deadline time.Time, alive func() bool) error {
	m := r.m
	signal := m.u32(r.rx.signal)
	for {
		val, arrived := r.arm(expected)
		if arrived {
			return nil
		}
		if err := r.interruption(); err != nil {
			return err
		}
		slice, expired := left(deadline, waitSlice)
		if expired {
			return ErrTimeout
		}
		switch sys.FutexWait(signal, val, slice, true) {
		case sys.FutexTimeout:
			if m.u64(r.rx.seq).Load() < expected {
				// A slice without news: is the file still whole (the
				// peer may have lost its side of it and left), and is
				// the peer still there?
				m.probe()
				if alive != nil && !alive() {
					return ErrDisconnected
				}
			}
		case sys.FutexFault:
			// The word's page is gone from the file: touching the
			// mapping faults and marks it lost.
			m.probe()
		case sys.FutexUnsupported, sys.FutexFailed:
			return netipc.Errorf(netipc.ErrSHM,
				"cannot sleep on the futex of the shared memory region %s (the system refuses futex waits): connect without the shared-memory profiles", r.path)
		}
	}
}

// Interrupt makes a Receive blocked in another goroutine, and every later
// one, return ErrAborted promptly, until ClearInterrupt.
func (r *Region) Interrupt() {
	r.interrupted.Store(true)
	r.wake()
}

// ClearInterrupt undoes Interrupt.
func (r *Region) ClearInterrupt() { r.interrupted.Store(false) }

// wake makes a waiting Receive look at the region's state again: the
// parked goroutine of a watched wait gets a token, a futex sleeper a
// changed word and a wake-up (the word only ever decides whether to
// sleep: the publisher of a reference peer only adds to it, and a netipc
// publisher then skips one wake-up call).
func (r *Region) wake() {
	if r.kick != nil {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	m := r.m
	if !m.acquire() {
		return
	}
	defer m.release()
	var err error
	defer m.recoverFault(debug.SetPanicOnFault(true), &err)
	if m.lost.Load() {
		return
	}
	w := m.u32(r.rx.signal)
	if r.wakeOnDemand {
		w.Store(0)
	} else {
		w.Add(1)
	}
	sys.FutexWake(w, 0, true)
}

// Close closes the region: a Receive blocked in another goroutine returns
// ErrClosed promptly, the server's file is removed (the peer finds out
// through the connection or its own timeouts), and the memory is unmapped
// once no call uses it any more. Idempotent; returns nil.
func (r *Region) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.wake()
	if r.owned != nil {
		r.owned.remove()
	}
	r.m.release()
	return nil
}

// take copies the message that has arrived into buf and consumes it.
// Call it under guard.
func (r *Region) take(buf []byte) (int, error) {
	m := r.m
	n := int(m.u32(r.rx.len).Load())
	seq := m.u64(r.rx.seq).Load()
	consumed := r.rxSeq.Add(1)
	limit := min(len(buf), r.rx.capacity)
	var err error
	switch {
	case seq != consumed:
		// One message in flight per direction: the sequence grows by
		// exactly one per message. A peer that skips ahead would make
		// this side answer the same bytes again and again.
		err = netipc.Errorf(netipc.ErrProtocol,
			"protocol violation by the peer: the sequence number in shared memory region %s jumped to %d where %d was due (one message in flight per direction); the session ends",
			r.path, seq, consumed)
	case n == 0:
		err = netipc.Errorf(netipc.ErrProtocol,
			"protocol violation by the peer: it published an empty message in shared memory region %s; the session ends", r.path)
	case n > limit:
		err = netipc.Wrap(netipc.ErrProtocol, &TooLargeError{Len: n, Room: limit},
			"protocol violation by the peer: it published a %d-byte message in shared memory region %s, where at most %d bytes fit; the session ends",
			n, r.path, limit)
	default:
		copy(buf[:n], m.mem[r.rx.area:r.rx.area+n])
	}
	// After the copy: bytes read from a lost mapping are not the message,
	// and a bad length may be one of them.
	if !m.intact() {
		return 0, lostError(r.path)
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// spin is the polling phase of a wait.
type spin struct {
	polls uint32
	// yields counts the pauses of the yielding phase; the clock is read
	// every clockEvery of them only (a clock read costs as much as a
	// poll of the peer's answer).
	yields uint32
	// brief: only the pure polls, no yielding phase.
	brief bool
	// limit: how long the polling lasts in all.
	limit time.Duration
	// yielding is when the pure polls ended.
	yielding time.Time
}

// clockEvery is how many pauses of the yielding phase pass between two
// reads of the clock.
const clockEvery = 8

// again reports whether to poll again (after a pause).
func (s *spin) again() bool {
	if s.polls < spinPolls {
		s.polls++
		return true
	}
	if s.brief {
		if s.yielding.IsZero() {
			s.yielding = time.Now()
		}
		return false
	}
	if s.yields%clockEvery == 0 {
		now := time.Now()
		if s.yielding.IsZero() {
			s.yielding = now
		} else if now.Sub(s.yielding) >= s.limit {
			return false
		}
	}
	s.yields++
	// Let another goroutine of this process (the peer, in tests and
	// in-process pairs), then another thread of the machine, run.
	runtime.Gosched()
	sys.ThreadYield()
	return true
}

// slow reports whether the wait was slow: its message did not come within
// the pure polls, and came slowWait after them or later.
func (s *spin) slow() bool {
	return !s.yielding.IsZero() && time.Since(s.yielding) >= slowWait
}
