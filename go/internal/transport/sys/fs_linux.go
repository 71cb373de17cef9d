package sys

import (
	"errors"
	"runtime"
	"syscall"
	"unsafe"

	netipc "github.com/netdata/netipc/go"
)

// File-system calls relative to an open directory, never following a
// symbolic link at the last component. The syscall package lacks some of
// them (and others only exist under per-architecture names), so they are
// made here from the raw system calls every Linux architecture has.

const (
	atFDCWD        = -0x64 // AT_FDCWD
	atRemoveDir    = 0x200 // AT_REMOVEDIR
	renameNoRepl   = 1     // RENAME_NOREPLACE
	oPath          = 0x200000
	pathOpenFlags  = oPath | syscall.O_NOFOLLOW | syscall.O_CLOEXEC
	socketFileMode = 0o600
)

// node identifies a file: device and inode.
type node struct{ dev, ino uint64 }

func nodeOf(st *syscall.Stat_t) node { return node{uint64(st.Dev), st.Ino} }

// openPath opens name in dir without following a link at it (O_PATH: the
// descriptor only names the file).
func openPath(dir int, name string) (int, error) {
	for {
		fd, err := syscall.Openat(dir, name, pathOpenFlags, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// lstatAt returns what name in dir is, without following a link.
func lstatAt(dir int, name string) (syscall.Stat_t, error) {
	var st syscall.Stat_t
	fd, err := openPath(dir, name)
	if err != nil {
		return st, err
	}
	defer syscall.Close(fd)
	err = syscall.Fstat(fd, &st)
	return st, err
}

// errnoOf is e as an error (nil for 0).
func errnoOf(e syscall.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// unlinkAt removes name from dir (an empty directory with isDir).
func unlinkAt(dir int, name string, isDir bool) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	flags := 0
	if isDir {
		flags = atRemoveDir
	}
	_, _, e := syscall.Syscall(syscall.SYS_UNLINKAT, uintptr(dir), uintptr(unsafe.Pointer(p)), uintptr(flags))
	return errnoOf(e)
}

// twoNames makes the system call nr, whose arguments are (dir, oldName,
// dir, newName, flags): linkat and renameat2.
func twoNames(nr uintptr, dir int, oldName, newName string, flags uintptr) error {
	o, err := syscall.BytePtrFromString(oldName)
	if err != nil {
		return err
	}
	n, err := syscall.BytePtrFromString(newName)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall6(nr, uintptr(dir), uintptr(unsafe.Pointer(o)),
		uintptr(dir), uintptr(unsafe.Pointer(n)), flags, 0)
	return errnoOf(e)
}

// linkAt gives the file oldName in dir the additional name newName; it
// never replaces an existing entry and does not follow links.
func linkAt(dir int, oldName, newName string) error {
	return twoNames(syscall.SYS_LINKAT, dir, oldName, newName, 0)
}

// renameat2Number is the renameat2 system call on the architectures whose
// number is known here (0: unknown, the call fails with ENOSYS).
func renameat2Number() uintptr {
	switch runtime.GOARCH {
	case "amd64":
		return 316
	case "386":
		return 353
	case "arm":
		return 382
	case "arm64", "riscv64", "loong64":
		return 276
	case "ppc64", "ppc64le":
		return 357
	case "s390x":
		return 347
	}
	return 0
}

// renameNoReplace moves oldName to newName in dir, failing with EEXIST
// instead of replacing an existing entry.
func renameNoReplace(dir int, oldName, newName string) error {
	nr := renameat2Number()
	if nr == 0 {
		return syscall.ENOSYS
	}
	return twoNames(nr, dir, oldName, newName, renameNoRepl)
}

// readlinkAt returns the target of the symbolic link name in dir.
func readlinkAt(dir int, name string) (string, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	n, _, e := syscall.Syscall6(syscall.SYS_READLINKAT, uintptr(dir), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if e != 0 {
		return "", e
	}
	return string(buf[:n]), nil
}

// removeIfSame removes name from dir if it is still the file was; true
// when it is gone (removed, or already missing).
func removeIfSame(dir int, name string, was node, isDir bool) bool {
	st, err := lstatAt(dir, name)
	switch {
	case errors.Is(err, syscall.ENOENT):
		return true
	case err != nil || nodeOf(&st) != was:
		return false
	}
	err = unlinkAt(dir, name, isDir)
	return err == nil || errors.Is(err, syscall.ENOENT)
}

// kindOf names the type of a file for messages.
func kindOf(st *syscall.Stat_t) string {
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return "regular file"
	case syscall.S_IFDIR:
		return "directory"
	case syscall.S_IFLNK:
		return "symbolic link"
	case syscall.S_IFIFO:
		return "FIFO"
	case syscall.S_IFSOCK:
		return "socket"
	case syscall.S_IFCHR:
		return "character device"
	case syscall.S_IFBLK:
		return "block device"
	}
	return "file of unknown type"
}

func isType(st *syscall.Stat_t, t uint32) bool { return st.Mode&syscall.S_IFMT == t }

// permBits returns the permission bits (with set-id and sticky bits).
func permBits(st *syscall.Stat_t) uint32 { return st.Mode & 0o7777 }

// euid is this process's effective user id.
func euid() uint32 { return uint32(syscall.Geteuid()) }

// pidAlive reports whether process pid exists (a permission error still
// means it does).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// foreign is the error for an entry netipc may neither use nor remove.
func foreign(path string, st *syscall.Stat_t) error {
	return foreignKind(path, kindOf(st), st)
}

func foreignKind(path, kind string, st *syscall.Stat_t) error {
	return netipc.Errorf(netipc.ErrRunDir,
		"%s is a %s owned by uid %d (mode %04o), where netipc must place its own file: it is not followed, used or removed; remove it if nothing needs it, or use another run directory",
		path, kind, st.Uid, permBits(st))
}
