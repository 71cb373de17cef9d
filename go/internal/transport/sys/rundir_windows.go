package sys

// Run directories on Windows, as the Rust core treats them. Named pipes
// and shared-memory objects do not live in a directory: the canonical
// spelling of the run directory is hashed into their names, and each
// object's security descriptor controls access. The directory must exist
// all the same (providers and consumers fail without it, as on Linux), so
// that a run directory means the same on both OSes; nothing is put in it,
// and its owner and permissions are not checked.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	netipc "github.com/netdata/netipc/go"
)

// DefaultRunDir is the platform's default run directory:
// %LOCALAPPDATA%\netipc (per user), else <temp dir>\netipc. Nothing is
// created or checked.
func DefaultRunDir() string {
	if local := os.Getenv("LOCALAPPDATA"); local != "" {
		return filepath.Join(local, "netipc")
	}
	return filepath.Join(os.TempDir(), "netipc")
}

// isMissing reports the errors of a path that does not exist.
func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ERROR_PATH_NOT_FOUND) ||
		errors.Is(err, syscall.ENOTDIR)
}

// kindOfEntry names what a non-directory is, for messages.
func kindOfEntry(fi fs.FileInfo) string {
	if fi.Mode().IsRegular() {
		return "regular file"
	}
	return "file that is not a directory"
}

// checkRunDirExists returns nil when runDir is an existing directory
// (following links), and otherwise the error that says what it is.
func checkRunDirExists(runDir string) error {
	if runDir == "" {
		return emptyRunDir()
	}
	fi, err := os.Stat(runDir)
	switch {
	case isMissing(err):
		return missingRunDir(runDir)
	case err != nil:
		return osError(err, "cannot inspect the run directory %s", runDir)
	case !fi.IsDir():
		return notADirectory(runDir, kindOfEntry(fi))
	}
	return nil
}

// PrepareRunDir creates or checks the run directory path. With create, a
// missing directory is created (its parent must exist; only the last
// component is created). The directory must not be a symbolic link, a
// junction or another reparse point, and must be a directory. Its owner
// and permissions are not checked (allowGroupWrite has no effect): the
// endpoints' own security descriptors control access. created reports
// whether this call created it (it is then the caller's to remove).
func PrepareRunDir(path string, create, allowGroupWrite bool) (created bool, err error) {
	if path == "" {
		return false, emptyRunDir()
	}
	dir, err := filepath.Abs(path)
	if err != nil {
		return false, netipc.Wrap(netipc.ErrInvalidArgument, err, "cannot make the run directory %s absolute", path)
	}
	if create {
		parent := filepath.Dir(dir)
		if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
			return false, netipc.Errorf(netipc.ErrNotFound,
				"cannot create the run directory %s: its parent %s does not exist; only the last component is created, so create the parent first or choose another run directory",
				path, parent)
		}
		switch err := os.Mkdir(dir, 0o700); {
		case err == nil:
			created = true
		case errors.Is(err, fs.ErrExist):
		default:
			return false, osError(err, "cannot create the run directory %s", path)
		}
	}
	fi, err := os.Lstat(dir)
	switch {
	case isMissing(err):
		return false, missingRunDir(path)
	case err != nil:
		return false, osError(err, "cannot inspect the run directory %s", path)
	case fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0:
		target, err := os.Readlink(dir)
		if err != nil {
			target = "an unreadable target"
		}
		return false, netipc.Errorf(netipc.ErrRunDir,
			"the run directory %s is a symbolic link or junction (to %s): netipc does not follow it; give the real directory's path if you trust it, or remove the link",
			path, target)
	case !fi.IsDir():
		return false, notADirectory(path, kindOfEntry(fi))
	}
	return created, nil
}
