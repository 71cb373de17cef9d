package sys

// Errors every backend reports the same way.

import (
	"errors"
	"io/fs"
	"strconv"

	netipc "github.com/netdata/netipc/go"
)

func disconnected() error {
	return netipc.Errorf(netipc.ErrDisconnected, "the peer closed the connection")
}

func notFound(path string) error {
	return netipc.Errorf(netipc.ErrNotFound,
		"no provider at %s: start the provider, or check the run directory and service name", path)
}

// addressInUse is the error for an endpoint a live provider serves; pid
// is 0 when unknown.
func addressInUse(endpoint string, pid int) error {
	by := "a live process"
	if pid > 0 {
		by = "pid " + strconv.Itoa(pid)
	}
	return netipc.Errorf(netipc.ErrAddressInUse,
		"%s is already served by %s: stop that provider or use another service name", endpoint, by)
}

// missingRunDir is the error for a run directory that does not exist.
func missingRunDir(path string) error {
	return netipc.Errorf(netipc.ErrNotFound,
		"the run directory %s does not exist: create it (mode 0700) before providers bind and consumers connect, or give the directory the provider uses",
		path)
}

func notADirectory(path, kind string) error {
	return netipc.Errorf(netipc.ErrRunDir,
		"the run directory %s is a %s, not a directory: remove it or choose another run directory",
		path, kind)
}

func emptyRunDir() error {
	return netipc.Errorf(netipc.ErrInvalidArgument,
		"the run directory is an empty string: give the path of a directory")
}

// osError wraps a failed system call: ErrPermission when the OS refused
// access (EACCES and EPERM, ERROR_ACCESS_DENIED), ErrIO otherwise; the
// message says what was being done and to what.
func osError(err error, format string, args ...any) error {
	kind := netipc.ErrIO
	if errors.Is(err, fs.ErrPermission) {
		kind = netipc.ErrPermission
	}
	return netipc.Wrap(kind, err, format, args...)
}
