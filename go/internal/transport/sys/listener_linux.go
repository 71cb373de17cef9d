package sys

// Exactly one provider per endpoint, and no step that follows a link
// planted at an endpoint path. The steps are those of the Rust core, so
// that Go and Rust providers exclude each other:
//
//  1. The lock. The provider opens <service>.lock (created 0600, never
//     through a symbolic link, used only when it is a regular file of this
//     user with one link) and takes flock(LOCK_EX|LOCK_NB) on it for the
//     listener's whole life, writing its pid into the file. A second
//     netipc provider fails there with "already served by pid N". The
//     holder removes the file when it stops; a taker that locked a file
//     removed meanwhile starts over.
//  2. The socket path, under the lock. Nothing there: free. A socket that
//     accepts a connection: a live provider that takes no lock (a
//     reference implementation), reported with its pid from the peer
//     credentials. A socket of this user that refuses connections twice,
//     20 ms apart: stale, removed. A symbolic link is never followed nor
//     removed, and an entry of another user is never touched. Other
//     entries of this user (a regular file, an empty directory) are junk
//     and removed. Every removal first checks that the entry is still the
//     one examined; probes connect through /proc/self/fd of an O_PATH
//     descriptor, so they reach exactly the socket examined.
//  3. Bind elsewhere, then appear complete. The socket is bound under the
//     temporary name <service>.bind, gets mode 0600 through a descriptor
//     of that very file, starts listening, and only then is hard-linked to
//     <service>.sock (linkat never replaces an entry; where a file system
//     has no hard links, renameat2 with RENAME_NOREPLACE). The endpoint
//     never exists in a state that refuses connections or has the wrong
//     mode.

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	netipc "github.com/netdata/netipc/go"
)

const (
	// staleRecheck is the pause between the two probes that find a socket
	// stale (a reference provider between its bind and its listen refuses
	// connections for a moment).
	staleRecheck = 20 * time.Millisecond
	// pidWait is how long a provider that lost the lock waits for the
	// winner's pid to appear in the lock file.
	pidWait = 200 * time.Millisecond
	// attempts bounds the retries on entries that keep changing.
	attempts = 8
	// DefaultBacklog is the listen backlog.
	DefaultBacklog = 16
)

// endpointLock is the flock that makes a provider the only one of its
// endpoint.
type endpointLock struct {
	fd   int
	name string
	node node
}

func acquireLock(dir int, runDir, service, endpoint string) (*endpointLock, error) {
	name := service + ".lock"
	path := runDir + "/" + name
	for range attempts {
		fd, err := syscall.Openat(dir, name,
			syscall.O_RDWR|syscall.O_CREAT|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0o600)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			// A link, or a file this user may not open: say what it is.
			if st, e := lstatAt(dir, name); e == nil {
				return nil, foreign(path, &st)
			}
			return nil, osError(err, "cannot create the endpoint's lock file %s", path)
		}
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			syscall.Close(fd)
			return nil, osError(err, "cannot inspect the endpoint's lock file %s", path)
		}
		if !isType(&st, syscall.S_IFREG) || st.Uid != euid() {
			syscall.Close(fd)
			return nil, foreign(path, &st)
		}
		if st.Nlink != 1 {
			// Another name for this file exists (a planted hard link):
			// writing to it would change that other file.
			syscall.Close(fd)
			return nil, foreignKind(path, "regular file with more than one link", &st)
		}
		switch err := syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB); {
		case err == nil:
		case errors.Is(err, syscall.EWOULDBLOCK):
			pid := holderPID(fd)
			syscall.Close(fd)
			return nil, addressInUse(endpoint, pid)
		case errors.Is(err, syscall.EINTR):
			syscall.Close(fd)
			continue
		default:
			syscall.Close(fd)
			return nil, osError(err, "cannot lock the endpoint's lock file %s", path)
		}
		// The previous holder may have removed the file between our open
		// and our lock: a lock on a removed file proves nothing.
		if now, err := lstatAt(dir, name); err != nil || nodeOf(&now) != nodeOf(&st) {
			syscall.Close(fd)
			continue
		}
		text := strconv.Itoa(os.Getpid()) + "\n"
		_, err = syscall.Pwrite(fd, []byte(text), 0)
		if err == nil {
			err = syscall.Ftruncate(fd, int64(len(text)))
		}
		if err != nil {
			syscall.Close(fd)
			return nil, osError(err, "cannot write the pid into the endpoint's lock file %s", path)
		}
		return &endpointLock{fd: fd, name: name, node: nodeOf(&st)}, nil
	}
	return nil, netipc.Errorf(netipc.ErrIO, "cannot take the endpoint's lock file: %s keeps being replaced", path)
}

// release removes the lock file if it is still ours, then releases the
// lock (by closing it).
func (l *endpointLock) release(dir int) {
	removeIfSame(dir, l.name, l.node, false)
	syscall.Close(l.fd)
}

// holderPID reads the pid in a lock file held by someone else. The holder
// writes it right after locking, so a reader that comes in between waits
// a moment; a pid that is not alive is left over from a provider that
// crashed (0: unknown).
func holderPID(fd int) int {
	giveUp := time.Now().Add(pidWait)
	for {
		var buf [24]byte
		if n, err := syscall.Pread(fd, buf[:], 0); err == nil {
			if digits, _, ok := strings.Cut(string(buf[:n]), "\n"); ok {
				if pid, err := strconv.Atoi(digits); err == nil && pid > 0 && pidAlive(pid) {
					return pid
				}
			}
		}
		if time.Now().After(giveUp) {
			return 0
		}
		time.Sleep(time.Millisecond)
	}
}

// probe connects to the socket name in dir, which must still be the entry
// was. live reports a listening provider; pid is its pid when known.
func probe(dir int, name, path string, was node) (live bool, pid int) {
	pinned, err := openPath(dir, name)
	if err != nil {
		return false, 0
	}
	defer syscall.Close(pinned)
	var st syscall.Stat_t
	if syscall.Fstat(pinned, &st) != nil || nodeOf(&st) != was || !isType(&st, syscall.S_IFSOCK) {
		return false, 0
	}
	target := path
	var proc syscall.Stat_t
	if syscall.Stat("/proc/self/fd", &proc) == nil {
		target = "/proc/self/fd/" + strconv.Itoa(pinned)
	}
	// Non-blocking, so a live provider with a full backlog answers EAGAIN
	// instead of blocking the probe. If no socket can be made, nothing can
	// be judged: count it as live (never remove what cannot be checked).
	sock, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return true, 0
	}
	defer syscall.Close(sock)
	switch err := syscall.Connect(sock, &syscall.SockaddrUnix{Name: target}); {
	case err == nil:
		if u, err := syscall.GetsockoptUcred(sock, syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			return true, int(u.Pid)
		}
		return true, 0
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINPROGRESS):
		return true, 0
	}
	return false, 0
}

// entryAt returns what is at name (path) in dir, without following a
// link; ok is false when nothing is there (err nil) or it cannot be told
// (err set).
func entryAt(dir int, name, path string) (st syscall.Stat_t, ok bool, err error) {
	st, err = lstatAt(dir, name)
	switch {
	case errors.Is(err, syscall.ENOENT):
		return st, false, nil
	case err != nil:
		return st, false, osError(err, "cannot inspect %s", path)
	}
	return st, true, nil
}

// clearSocketPath makes the socket path free, holding the endpoint lock.
func clearSocketPath(dir int, name, path string) error {
	for range attempts {
		st, ok, err := entryAt(dir, name, path)
		if !ok {
			return err
		}
		switch {
		case isType(&st, syscall.S_IFLNK):
			return foreign(path, &st)
		case isType(&st, syscall.S_IFSOCK):
			if live, pid := probe(dir, name, path, nodeOf(&st)); live {
				return addressInUse(path, pid)
			}
			if st.Uid != euid() {
				return foreign(path, &st)
			}
			time.Sleep(staleRecheck)
			if live, pid := probe(dir, name, path, nodeOf(&st)); live {
				return addressInUse(path, pid)
			}
		case st.Uid != euid():
			return foreign(path, &st)
		}
		isDir := isType(&st, syscall.S_IFDIR)
		if removeIfSame(dir, name, nodeOf(&st), isDir) {
			continue
		}
		if now, err := lstatAt(dir, name); err == nil && nodeOf(&now) == nodeOf(&st) {
			// A non-empty directory (or an entry we may not remove).
			if isDir {
				return foreignKind(path, "non-empty directory", &now)
			}
			return foreign(path, &now)
		}
		// Changed meanwhile: look again.
	}
	return netipc.Errorf(netipc.ErrIO, "cannot clear the socket path: %s keeps changing", path)
}

// clearLeftover removes a leftover temporary socket of this user (a
// provider died between its bind and its publish); it refuses anything
// else.
func clearLeftover(dir int, name, path string) error {
	for range attempts {
		st, ok, err := entryAt(dir, name, path)
		if !ok {
			return err
		}
		if !isType(&st, syscall.S_IFSOCK) || st.Uid != euid() {
			return foreign(path, &st)
		}
		removeIfSame(dir, name, nodeOf(&st), false)
	}
	return netipc.Errorf(netipc.ErrIO, "cannot clear the temporary socket path: %s keeps changing", path)
}

// bindAndPublish binds, secures and starts a listening socket, then
// publishes it as finalName without replacing anything. A nil listener
// and nil error: something appeared at the final path meanwhile (the
// caller examines it and tries again). Called with the lock held.
func bindAndPublish(dir int, finalName, tempName, tempPath string, backlog int) (*net.UnixListener, node, error) {
	if err := clearLeftover(dir, tempName, tempPath); err != nil {
		return nil, node{}, err
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, node{}, osError(err, "cannot create the listening socket")
	}
	owned := true // until the descriptor goes to an *os.File below
	defer func() {
		if owned {
			syscall.Close(fd)
		}
	}()
	// A socket file is created with the socket's own mode minus the umask:
	// set it first, so that the file is never more open than 0600.
	if err := syscall.Fchmod(fd, socketFileMode); err != nil {
		return nil, node{}, osError(err, "cannot set the mode of the listening socket")
	}
	switch err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: tempPath}); {
	case errors.Is(err, syscall.EADDRINUSE):
		// Something appeared at the temporary name under the lock.
		if st, e := lstatAt(dir, tempName); e == nil {
			return nil, node{}, foreign(tempPath, &st)
		}
		return nil, node{}, osError(err, "cannot bind the socket %s", tempPath)
	case err != nil:
		return nil, node{}, osError(err, "cannot bind the socket %s", tempPath)
	}
	n, err := applySocketMode(dir, tempName, tempPath)
	if err != nil {
		removeIfSame(dir, tempName, n, false)
		return nil, node{}, err
	}
	temp := true
	defer func() {
		if temp {
			removeIfSame(dir, tempName, n, false)
		}
	}()
	if err := syscall.Listen(fd, backlog); err != nil {
		return nil, node{}, osError(err, "cannot listen on the socket %s", tempPath)
	}
	switch err := linkAt(dir, tempName, finalName); {
	case err == nil:
	case errors.Is(err, syscall.EEXIST):
		return nil, node{}, nil
	case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EMLINK):
		// No hard links here: move the name instead, never replacing.
		switch err := renameNoReplace(dir, tempName, finalName); {
		case err == nil:
			temp = false
		case errors.Is(err, syscall.EEXIST):
			return nil, node{}, nil
		default:
			return nil, node{}, osError(err, "cannot publish the socket under its name")
		}
	default:
		return nil, node{}, osError(err, "cannot publish the socket under its name")
	}
	owned = false
	f := os.NewFile(uintptr(fd), tempPath)
	ln, err := net.FileListener(f)
	// FileListener works on a duplicate: ours is closed now (never by a
	// finalizer, which could close a later descriptor of the same number).
	f.Close()
	if err != nil {
		removeIfSame(dir, finalName, n, false)
		return nil, node{}, osError(err, "cannot use the listening socket")
	}
	return ln.(*net.UnixListener), n, nil
}

// applySocketMode makes the just bound socket file name owner-only,
// through a descriptor of that very file opened without following links,
// and returns its identity.
func applySocketMode(dir int, name, path string) (node, error) {
	pinned, err := openPath(dir, name)
	if err != nil {
		return node{}, osError(err, "cannot open the new socket file %s", path)
	}
	defer syscall.Close(pinned)
	var st syscall.Stat_t
	if err := syscall.Fstat(pinned, &st); err != nil {
		return node{}, osError(err, "cannot inspect the new socket file %s", path)
	}
	if !isType(&st, syscall.S_IFSOCK) || st.Uid != euid() {
		return node{}, foreign(path, &st)
	}
	if permBits(&st) != socketFileMode {
		// An O_PATH descriptor has no fchmod; its /proc link reaches the
		// same file.
		if err := syscall.Chmod("/proc/self/fd/"+strconv.Itoa(pinned), socketFileMode); err != nil {
			return nodeOf(&st), osError(err, "cannot set the mode of the socket file %s (through /proc/self/fd)", path)
		}
	}
	return nodeOf(&st), nil
}

// Listener is a listening socket published at its path. Accept is called
// by one goroutine at a time; Close may be called from any goroutine.
type Listener struct {
	ul        *net.UnixListener
	dir       int
	path      string
	name      string
	node      node
	lock      *endpointLock
	closeOnce sync.Once
}

// Listen creates the endpoint of service at path (which is
// <runDir>/<service>.sock): it checks the run directory, takes the
// endpoint lock, recovers a stale endpoint, refuses a live one, and
// publishes a socket that already listens with mode 0600. backlog <= 0
// means DefaultBacklog.
func Listen(runDir, service, path string, backlog int) (*Listener, error) {
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	const suffix = ".sock"
	if !strings.HasSuffix(path, suffix) {
		return nil, netipc.Errorf(netipc.ErrInvalidArgument, "socket path %s does not end in %s", path, suffix)
	}
	dir, err := openEndpointDir(runDir)
	if err != nil {
		return nil, err
	}
	lock, err := acquireLock(dir, runDir, service, path)
	if err != nil {
		syscall.Close(dir)
		return nil, err
	}
	name := service + suffix
	tempName := service + ".bind"
	tempPath := strings.TrimSuffix(path, suffix) + ".bind"
	for range 3 {
		if err = clearSocketPath(dir, name, path); err != nil {
			break
		}
		var ul *net.UnixListener
		var n node
		ul, n, err = bindAndPublish(dir, name, tempName, tempPath, backlog)
		if err != nil {
			break
		}
		if ul != nil {
			return &Listener{ul: ul, dir: dir, path: path, name: name, node: n, lock: lock}, nil
		}
	}
	if err == nil {
		// Something keeps appearing at the path although we hold the lock:
		// a provider that takes no lock, or someone else's doing.
		err = addressInUse(path, 0)
	}
	lock.release(dir)
	syscall.Close(dir)
	return nil, err
}

// Path returns the socket path.
func (l *Listener) Path() string { return l.path }

// Accept waits for one connection. ErrClosed after Close.
func (l *Listener) Accept() (*Conn, error) {
	for {
		uc, err := l.ul.AcceptUnix()
		if err == nil {
			return newConn(uc)
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, ErrClosed
		}
		var errno syscall.Errno
		if errors.As(err, &errno) && (errno == syscall.ECONNABORTED || errno == syscall.EINTR) {
			continue
		}
		return nil, netipc.Wrap(netipc.ErrIO, err, "accepting a connection on %s", l.path)
	}
}

// Close stops listening (an Accept waiting in another goroutine returns
// ErrClosed), removes the socket file if it is still ours, then the lock
// file and the lock. Idempotent.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		// As the Rust core: the socket file goes first, then the lock file;
		// the listening socket closes after them, and the lock is released
		// last, so that the next provider never finds our socket still
		// there.
		removeIfSame(l.dir, l.name, l.node, false)
		removeIfSame(l.dir, l.lock.name, l.lock.node, false)
		err = l.ul.Close()
		syscall.Close(l.lock.fd)
		syscall.Close(l.dir)
	})
	if err != nil {
		return netipc.Wrap(netipc.ErrIO, err, "closing the listener of %s", l.path)
	}
	return nil
}
