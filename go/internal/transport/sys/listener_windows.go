package sys

// The listening side, as the Rust core makes it: a backlog of pipe
// instances, each with a ConnectNamedPipe in flight, so that clients
// arriving together never find the pipe busy. The first instance is
// created with FILE_FLAG_FIRST_PIPE_INSTANCE, which makes a second
// provider of the name fail; the name is also checked beforehand, for
// implementations that do not enforce the flag (wine). Every instance
// gets the owner/LocalSystem/Administrators DACL and refuses remote
// clients. An accepted instance is replaced by a fresh one at once.
//
// The instances are not given to Go's runtime until they are accepted
// (their ConnectNamedPipe completes through an event): Accept waits on
// the events with WaitForMultipleObjects, so a listener waiting for a
// client holds one OS thread; its sessions hold none.

import (
	"sync"
	"syscall"
	"time"

	netipc "github.com/netdata/netipc/go"
)

const (
	// DefaultBacklog is the number of pipe instances waiting for clients.
	DefaultBacklog = 16
	// maxBacklog: one wait covers at most 64 objects, one of which is the
	// listener's close event.
	maxBacklog = maximumWaitObjects - 1
	// pipeBufferSize: room for several full packets, so a sender can run
	// ahead of its reader the way it can on a socket.
	pipeBufferSize = 1 << 20
	// winnerProbe is how long a provider that lost the pipe name tries to
	// reach the winner to learn its process id.
	winnerProbe = 200 * time.Millisecond
	// cancelWait bounds the wait for a cancelled ConnectNamedPipe (it is
	// immediate on a pipe; the bound is a safety net).
	cancelWait = 1000
)

// slot is one pipe instance and the ConnectNamedPipe waiting on it. It
// lives on the heap and is kept by the listener until its operation is
// done or cancelled: the kernel writes to ov meanwhile.
type slot struct {
	h  syscall.Handle
	ev syscall.Handle // manual reset, signalled when a client attached
	ov syscall.Overlapped
	// connected: a client is attached and nothing is in flight.
	connected bool
}

// newSlot creates an instance of the pipe and starts waiting for a
// client on it.
func (l *Listener) newSlot(first bool) (*slot, error) {
	mode := uint32(pipeAccessDuplex | fileFlagOverlapped)
	if first {
		mode |= fileFlagFirstPipeInstance
	}
	h, err := createNamedPipe(l.wname, mode, pipeTypeMessage|pipeReadmodeMessage|pipeRejectRemoteClients,
		pipeUnlimitedInstances, pipeBufferSize, pipeBufferSize, 0, l.sa)
	if err != nil {
		return nil, err
	}
	ev, err := createEvent(nil, true, false, nil)
	if err != nil {
		syscall.CloseHandle(h)
		return nil, err
	}
	s := &slot{h: h, ev: ev}
	if err := s.start(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// start issues ConnectNamedPipe. The event is signalled once a client is
// attached, also when that is known at once, so waiting on it suffices.
func (s *slot) start() error {
	for {
		s.ov = syscall.Overlapped{HEvent: s.ev}
		switch err := connectNamedPipe(s.h, &s.ov); err {
		case syscall.ERROR_IO_PENDING:
			return nil
		case nil, errorPipeConnected:
			s.connected = true
			return setEvent(s.ev)
		case errorNoData:
			// A client came and went before we looked: reuse the instance.
			_ = disconnectNamedPipe(s.h)
		default:
			return err
		}
	}
}

// ready reports, without waiting, whether a client is attached.
func (s *slot) ready() (bool, error) {
	if s.connected {
		return true, nil
	}
	switch _, err := getOverlappedResult(s.h, &s.ov, false); err {
	case nil:
		s.connected = true
		return true, nil
	case errorIOIncomplete:
		return false, nil
	case errorNoData, errorPipeConnected:
		_ = disconnectNamedPipe(s.h)
		if err := s.start(); err != nil {
			return false, err
		}
		return s.connected, nil
	default:
		return false, err
	}
}

// abandoned keeps the slots whose cancelled ConnectNamedPipe was not seen
// to finish: the kernel may still write to their OVERLAPPED, so their
// memory must never be reused.
var abandoned struct {
	sync.Mutex
	slots []*slot
}

// close cancels the wait for a client (if any) and closes the instance.
func (s *slot) close() {
	if !s.connected && syscall.CancelIoEx(s.h, &s.ov) == nil {
		if r, _ := syscall.WaitForSingleObject(s.ev, cancelWait); r != waitObject0 {
			abandoned.Lock()
			abandoned.slots = append(abandoned.slots, s)
			abandoned.Unlock()
		}
	}
	syscall.CloseHandle(s.h)
	syscall.CloseHandle(s.ev)
}

// handOver gives up the connected instance.
func (s *slot) handOver() syscall.Handle {
	syscall.CloseHandle(s.ev)
	return s.h
}

// Listener is a listening pipe name with a backlog of instances waiting
// for clients. Accept is called by one goroutine at a time; Close may be
// called from any goroutine.
type Listener struct {
	name  string
	wname *uint16
	sa    *syscall.SecurityAttributes
	freeS func()
	// stop is a manual-reset event set by Close, to wake Accept.
	stop syscall.Handle

	mu   sync.Mutex
	cond sync.Cond // signalled when Accept leaves its wait
	// slots, closed and waiting are guarded by mu; while waiting is set,
	// Accept waits on the slots' events and nobody may close them.
	slots   []*slot
	closed  bool
	waiting bool
	handles []syscall.Handle
}

// nameExists reports whether any pipe of this name exists.
func nameExists(wname *uint16) bool {
	free, err := waitNamedPipe(wname, 1)
	return free || err != syscall.ERROR_FILE_NOT_FOUND
}

// serverPID is the process id of the provider serving path (0: it could
// not be reached), learnt by connecting as a client and closing at once.
func serverPID(runDir, path string) int {
	c, err := Connect(runDir, path, time.Now().Add(winnerProbe))
	if err != nil {
		return 0
	}
	defer c.Close()
	return int(c.cred.PID)
}

// Listen creates the pipe path (derived from runDir and service): it
// checks that the run directory exists, refuses a name another process
// serves (ErrAddressInUse, naming its pid when it can be reached) and
// puts up backlog instances (<= 0: DefaultBacklog; at most 63). Errors:
// ErrAddressInUse, ErrNotFound (runDir does not exist), ErrRunDir,
// ErrInvalidArgument, ErrIO.
func Listen(runDir, service, path string, backlog int) (*Listener, error) {
	if err := checkRunDirExists(runDir); err != nil {
		return nil, err
	}
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	backlog = min(backlog, maxBacklog)
	wname, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, netipc.Wrap(netipc.ErrInvalidArgument, err, "the pipe name %q", path)
	}
	if nameExists(wname) {
		return nil, addressInUse(path, serverPID(runDir, path))
	}
	sa, free, err := objectSecurity(true)
	if err != nil {
		return nil, err
	}
	l := &Listener{name: path, wname: wname, sa: sa, freeS: free}
	l.cond.L = &l.mu
	if l.stop, err = createEvent(nil, true, false, nil); err != nil {
		free()
		return nil, netipc.Wrap(netipc.ErrIO, err, "creating the listener's event")
	}
	first, err := l.newSlot(true)
	if err != nil {
		l.release()
		if err == syscall.ERROR_ACCESS_DENIED || err == errorPipeBusy {
			return nil, addressInUse(path, serverPID(runDir, path))
		}
		return nil, netipc.Wrap(netipc.ErrIO, err, "creating the pipe %s", path)
	}
	l.slots = append(l.slots, first)
	for len(l.slots) < backlog {
		s, err := l.newSlot(false)
		if err != nil {
			l.release()
			return nil, netipc.Wrap(netipc.ErrIO, err, "creating an instance of the pipe %s", path)
		}
		l.slots = append(l.slots, s)
	}
	return l, nil
}

// Path returns the pipe name.
func (l *Listener) Path() string { return l.name }

// Accept waits for one connection (no deadline: until a client comes or
// Close is called). ErrClosed after Close; ErrIO when no instance can be
// made (for example out of memory: wait a moment before accepting again).
func (l *Listener) Accept() (*Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.closed {
			return nil, ErrClosed
		}
		if len(l.slots) == 0 {
			s, err := l.newSlot(false)
			if err != nil {
				return nil, netipc.Wrap(netipc.ErrIO, err, "creating an instance of the pipe %s", l.name)
			}
			l.slots = append(l.slots, s)
		}
		for i := 0; i < len(l.slots); i++ {
			s := l.slots[i]
			ok, err := s.ready()
			if err == nil && !ok {
				continue
			}
			// Connected, or failed: either way a fresh instance takes its
			// place (if one can be made now; else the next Accept tries).
			if fresh, e := l.newSlot(false); e == nil {
				l.slots[i] = fresh
			} else {
				l.slots = append(l.slots[:i], l.slots[i+1:]...)
				i--
			}
			if err != nil {
				s.close()
				continue
			}
			return newConn(s.handOver(), l.name, true), nil
		}
		l.handles = l.handles[:0]
		for _, s := range l.slots {
			l.handles = append(l.handles, s.ev)
		}
		l.handles = append(l.handles, l.stop)
		l.waiting = true
		l.mu.Unlock()
		_, err := waitForMultipleObjects(l.handles, false, infinite)
		l.mu.Lock()
		l.waiting = false
		l.cond.Broadcast()
		if err != nil {
			return nil, netipc.Wrap(netipc.ErrIO, err, "waiting for a connection on %s", l.name)
		}
	}
}

// Close stops listening: an Accept waiting in another goroutine returns
// ErrClosed, and the waiting instances are closed (the pipe name goes
// once its connected instances are closed too). Idempotent.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	_ = setEvent(l.stop)
	for l.waiting {
		l.cond.Wait()
	}
	l.release()
	return nil
}

// release closes the instances, the event and the security descriptor.
// Called with mu held (or before the listener is shared).
func (l *Listener) release() {
	for _, s := range l.slots {
		s.close()
	}
	l.slots = nil
	syscall.CloseHandle(l.stop)
	l.freeS()
}
