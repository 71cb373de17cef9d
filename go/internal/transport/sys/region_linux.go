package sys

import (
	"syscall"
	"unsafe"
)

// This file has the file-system half of the Linux shared-memory
// transport: the run directory, region files (created exclusively, never
// through a link), their mappings and the liveness of their owners. The
// errors are the OS's (syscall.Errno, usable with errors.Is against
// fs.ErrNotExist, fs.ErrExist, fs.ErrPermission); package shm turns them
// into netipc errors.

// OpenRegionDir opens the directory at path (close-on-exec, never a
// link to one at the last component).
func OpenRegionDir(path string) (RegionDir, error) {
	fd, err := regionRetryEINTR(func() (int, error) {
		return syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	})
	return RegionDir{fd}, err
}

// Close closes the directory.
func (d RegionDir) Close() { _ = syscall.Close(d.fd) }

// Create creates the file name exclusively (O_EXCL, so an existing entry
// of any kind, a link included, makes it fail with EEXIST), read-write,
// mode 0600.
func (d RegionDir) Create(name string) (RegionFile, error) {
	fd, err := regionRetryEINTR(func() (int, error) {
		return syscall.Openat(d.fd, name,
			syscall.O_RDWR|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	})
	return RegionFile(fd), err
}

// Open opens the existing file name without following a link at it
// (ELOOP for a link), read-write or read-only, non-blocking (a FIFO does
// not hang the open).
func (d RegionDir) Open(name string, write bool) (RegionFile, error) {
	flags := syscall.O_RDONLY
	if write {
		flags = syscall.O_RDWR
	}
	fd, err := regionRetryEINTR(func() (int, error) {
		return syscall.Openat(d.fd, name, flags|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	})
	return RegionFile(fd), err
}

// Lstat describes the entry name itself (a link is not followed).
func (d RegionDir) Lstat(name string) (RegionStat, error) {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return RegionStat{}, err
	}
	// O_PATH opens the entry itself, whatever it is (a link with
	// O_NOFOLLOW, a FIFO without blocking), for fstat only.
	const oPath = 0x200000
	fd, _, errno := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(d.fd), uintptr(unsafe.Pointer(p)),
		oPath|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		return RegionStat{}, errno
	}
	defer syscall.Close(int(fd))
	return RegionFile(fd).Stat()
}

// Remove removes the entry name (an empty directory with rmdir
// semantics when dir is true).
func (d RegionDir) Remove(name string, dir bool) error {
	p, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	const atRemoveDir = 0x200
	flags := uintptr(0)
	if dir {
		flags = atRemoveDir
	}
	_, _, errno := syscall.Syscall(syscall.SYS_UNLINKAT, uintptr(d.fd), uintptr(unsafe.Pointer(p)), flags)
	if errno != 0 {
		return errno
	}
	return nil
}

// Stat describes the open file.
func (f RegionFile) Stat() (RegionStat, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f), &st); err != nil {
		return RegionStat{}, err
	}
	t := RegionOther
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		t = RegionRegular
	case syscall.S_IFDIR:
		t = RegionDirectory
	case syscall.S_IFLNK:
		t = RegionSymlink
	}
	return RegionStat{
		Dev: uint64(st.Dev), Ino: uint64(st.Ino), UID: st.Uid,
		Perm: uint32(st.Mode) & 0o7777, Size: int64(st.Size), Type: t,
	}, nil
}

// Allocate reserves size bytes for the file (fallocate, retried on
// EINTR): a full file system fails here, never later with SIGBUS on a
// mapped write. There is no fallback to a sparse file.
func (f RegionFile) Allocate(size int64) error {
	for {
		err := syscall.Fallocate(int(f), 0, 0, size)
		if err != syscall.EINTR {
			return err
		}
	}
}

// Map maps the first size bytes of the file read-write and shared. The
// memory is page aligned.
func (f RegionFile) Map(size int) ([]byte, error) {
	return syscall.Mmap(int(f), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
}

// ReadAt reads len(b) bytes at off (fewer at the end of the file).
func (f RegionFile) ReadAt(b []byte, off int64) (int, error) {
	return regionRetryEINTR(func() (int, error) { return syscall.Pread(int(f), b, off) })
}

// Close closes the file (a mapping of it stays valid).
func (f RegionFile) Close() { _ = syscall.Close(int(f)) }

// Unmap unmaps memory returned by RegionFile.Map.
func Unmap(mem []byte) error { return syscall.Munmap(mem) }

// RegionOwnerAlive reports whether process pid exists (kill(pid, 0)
// succeeds or fails with EPERM). PIDs at or below 0 are dead.
func RegionOwnerAlive(pid int32) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(int(pid), 0)
	return err == nil || err == syscall.EPERM
}

func regionRetryEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if err != syscall.EINTR {
			return n, err
		}
	}
}
