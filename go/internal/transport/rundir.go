package transport

import "github.com/netdata/netipc/go/internal/transport/sys"

// Run directories hold a provider's endpoint files on Linux (the socket
// <service>.sock, its lock <service>.lock and the shared-memory regions).
// Whoever can write to the directory can replace them, so Listen uses
// only a run directory that belongs to this user or root and that not
// every user may write to; PrepareRunDir applies the stricter checks of a
// directory a program sets up for itself, as the Rust core does. On
// Windows nothing is put in the directory (its canonical spelling is
// hashed into the pipe and shared-memory names, and each object's
// security descriptor controls access), but it must exist all the same;
// its owner and permissions are not checked.

// RunDirPolicy says what PrepareRunDir accepts and does. The zero value
// is the strictest: create nothing, refuse a group-writable directory.
type RunDirPolicy struct {
	// Create makes a missing directory with mode 0700 (only its last
	// component: the parent must exist; never through a symbolic link).
	Create bool
	// AllowGroupWrite accepts a directory its group may write, for
	// providers of several users sharing one directory (give it the
	// sticky bit, mode 1770). Writable by every user is never accepted.
	AllowGroupWrite bool
}

// PrepareRunDir creates or checks the run directory path as policy says,
// and reports whether this call created it (then it is the caller's to
// remove). An existing directory is opened without following a link at
// path and checked through the descriptor: a directory, owned by this
// user or root, not writable by every user and, unless
// AllowGroupWrite, not by its group. Errors name the path, its owner and
// mode: ErrRunDir (a link, not a directory, another user's, too open),
// ErrNotFound (missing, or its parent is), ErrInvalidArgument (an empty
// path), ErrPermission, ErrIO.
func PrepareRunDir(path string, policy RunDirPolicy) (created bool, err error) {
	return sys.PrepareRunDir(path, policy.Create, policy.AllowGroupWrite)
}

// DefaultRunDir is the platform's default run directory (nothing is
// created or checked; see PrepareRunDir). Linux: $XDG_RUNTIME_DIR/netipc
// when XDG_RUNTIME_DIR is an absolute path, else /run/netipc when this
// process may write to /run (root), else <temp dir>/netipc-<euid>.
// Windows: %LOCALAPPDATA%\netipc, else <temp dir>\netipc. Providers and
// consumers meet only when they use the same directory.
func DefaultRunDir() string { return sys.DefaultRunDir() }
