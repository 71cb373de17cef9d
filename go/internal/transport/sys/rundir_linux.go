package sys

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	netipc "github.com/netdata/netipc/go"
)

// Run directories: the default location, creation with mode 0700 without
// following links, and the owner and mode checks, all made on an open
// descriptor (never on a path that could change between check and use).

const (
	runDirMode = 0o700
	sIWGRP     = 0o020
	sIWOTH     = 0o002
)

// checkDir checks an open run directory: owned by this user or root, not
// writable by others, and not writable by its group unless allowed.
func checkDir(path string, st *syscall.Stat_t, allowGroupWrite bool) error {
	owner, mode, uid := st.Uid, permBits(st), euid()
	if owner != uid && owner != 0 {
		return netipc.Errorf(netipc.ErrRunDir,
			"the run directory %s belongs to uid %d (mode %04o), not to this user (uid %d) or root: its owner could replace the endpoints in it; remove it (or have its owner remove it), or choose another run directory",
			path, owner, mode, uid)
	}
	if mode&sIWOTH != 0 {
		return netipc.Errorf(netipc.ErrRunDir,
			"the run directory %s (owner uid %d, mode %04o) is writable by every user: never usable as a run directory, sticky bit or not; use a private directory inside it (mode 0700) instead",
			path, owner, mode)
	}
	if mode&sIWGRP != 0 && !allowGroupWrite {
		return netipc.Errorf(netipc.ErrRunDir,
			"the run directory %s (owner uid %d, group %d, mode %04o) is writable by its group: group members could plant or replace endpoints; remove group write access (chmod g-w) or opt in to a group-writable run directory (then give it the sticky bit, mode 1770)",
			path, owner, st.Gid, mode)
	}
	return nil
}

// openEndpointDir opens the run directory of an endpoint (following links,
// as its clients do) and applies the checks no layout can do without:
// owned by this user or root, not writable by every user. The caller
// closes the descriptor.
func openEndpointDir(runDir string) (int, error) {
	if runDir == "" {
		return -1, emptyRunDir()
	}
	dir, err := openDir(atFDCWD, runDir, 0)
	switch {
	case errors.Is(err, syscall.ENOENT):
		return -1, missingRunDir(runDir)
	case errors.Is(err, syscall.ENOTDIR):
		var st syscall.Stat_t
		kind := "file that is not a directory"
		if syscall.Stat(runDir, &st) == nil {
			kind = kindOf(&st)
		}
		return -1, notADirectory(runDir, kind)
	case err != nil:
		return -1, osError(err, "cannot open the run directory %s", runDir)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(dir, &st); err != nil {
		syscall.Close(dir)
		return -1, osError(err, "cannot inspect the run directory %s", runDir)
	}
	if err := checkDir(runDir, &st, true); err != nil {
		syscall.Close(dir)
		return -1, err
	}
	return dir, nil
}

// checkRunDirExists returns nil when runDir is an existing directory
// (following links), and otherwise the error that says what it is.
func checkRunDirExists(runDir string) error {
	if runDir == "" {
		return emptyRunDir()
	}
	var st syscall.Stat_t
	err := syscall.Stat(runDir, &st)
	switch {
	case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR):
		return missingRunDir(runDir)
	case err != nil:
		return osError(err, "cannot inspect the run directory %s", runDir)
	case !isType(&st, syscall.S_IFDIR):
		return notADirectory(runDir, kindOf(&st))
	}
	return nil
}

func openDir(at int, path string, extra int) (int, error) {
	for {
		fd, err := syscall.Openat(at, path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC|extra, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// DefaultRunDir is the platform's default run directory:
// $XDG_RUNTIME_DIR/netipc when XDG_RUNTIME_DIR is an absolute path, else
// /run/netipc when this process may write to /run (root), else
// <temp dir>/netipc-<euid>. Nothing is created or checked.
func DefaultRunDir() string {
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(xdg) {
		return filepath.Join(xdg, "netipc")
	}
	const wOK, xOK, atEACCESS = 2, 1, 0x200
	if syscall.Faccessat(atFDCWD, "/run", wOK|xOK, atEACCESS) == nil {
		return "/run/netipc"
	}
	return filepath.Join(os.TempDir(), "netipc-"+strconv.FormatUint(uint64(euid()), 10))
}

// PrepareRunDir creates or checks the run directory path. With create, a
// missing directory is created with mode 0700 (its parent must exist; only
// the last component is created, never through a link). An existing one
// is opened without following a link at path and checked through the
// descriptor: a directory owned by this user or root, not writable by
// others and, unless allowGroupWrite, not writable by its group. created
// reports whether this call created it (it is then the caller's to
// remove).
func PrepareRunDir(path string, create, allowGroupWrite bool) (created bool, err error) {
	if path == "" {
		return false, emptyRunDir()
	}
	clean := filepath.Clean(path)
	name := filepath.Base(clean)
	if name == "/" || name == "." || name == ".." {
		// Nothing to create: check what is there.
		dir, err := openDir(atFDCWD, path, syscall.O_NOFOLLOW)
		if errors.Is(err, syscall.ENOENT) {
			return false, missingRunDir(path)
		} else if err != nil {
			return false, osError(err, "cannot open the run directory %s", path)
		}
		defer syscall.Close(dir)
		var st syscall.Stat_t
		if err := syscall.Fstat(dir, &st); err != nil {
			return false, osError(err, "cannot inspect the run directory %s", path)
		}
		return false, checkDir(path, &st, allowGroupWrite)
	}
	parentPath := filepath.Dir(clean)
	parent, err := syscall.Openat(atFDCWD, parentPath, oPath|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	switch {
	case (errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR)) && create:
		return false, netipc.Errorf(netipc.ErrNotFound,
			"cannot create the run directory %s: its parent %s does not exist; only the last component is created, so create the parent first or choose another run directory",
			path, parentPath)
	case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR):
		return false, missingRunDir(path)
	case err != nil:
		return false, osError(err, "cannot open the parent of the run directory %s", path)
	}
	defer syscall.Close(parent)
	if create {
		// Created with its final mode (the umask can only take bits away,
		// and the descriptor below puts back what it took): there is no
		// moment in which it is more open than 0700.
		switch err := syscall.Mkdirat(parent, name, runDirMode); {
		case err == nil:
			created = true
		case errors.Is(err, syscall.EEXIST):
		default:
			return false, osError(err, "cannot create the run directory %s", path)
		}
	}
	dir, err := openDir(parent, name, syscall.O_NOFOLLOW)
	switch {
	case errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENOENT):
		return false, describeNonDir(parent, name, path)
	case err != nil:
		return false, osError(err, "cannot open the run directory %s", path)
	}
	defer syscall.Close(dir)
	var st syscall.Stat_t
	if err := syscall.Fstat(dir, &st); err != nil {
		return false, osError(err, "cannot inspect the run directory %s", path)
	}
	if created && st.Uid == euid() {
		if permBits(&st) != runDirMode {
			if err := syscall.Fchmod(dir, runDirMode); err != nil {
				return false, osError(err, "cannot set mode 0700 on the run directory %s", path)
			}
		}
		return true, nil
	}
	// Either it existed, or what was created was replaced before it was
	// opened (then it is not ours to remove): judge what is there.
	return false, checkDir(path, &st, allowGroupWrite)
}

// describeNonDir explains why name in parent could not be opened as a
// directory without following links.
func describeNonDir(parent int, name, path string) error {
	st, err := lstatAt(parent, name)
	switch {
	case errors.Is(err, syscall.ENOENT):
		return missingRunDir(path)
	case err != nil:
		return osError(err, "cannot inspect %s", path)
	case isType(&st, syscall.S_IFLNK):
		target, err := readlinkAt(parent, name)
		if err != nil {
			target = "an unreadable target"
		}
		return netipc.Errorf(netipc.ErrRunDir,
			"the run directory %s is a symbolic link (to %s): netipc does not follow it; give the real directory's path if you trust it, or remove the link",
			path, target)
	}
	return notADirectory(path, kindOf(&st))
}
