package sys

// The types of the Linux shared-memory system calls (region_linux.go,
// futex_linux.go), shared with the stubs of other systems
// (region_other.go).

// RegionDir is an open run directory (a descriptor, so every entry is
// looked up in the same directory even if its path is renamed).
type RegionDir struct{ fd int }

// RegionFile is an open region file (a descriptor).
type RegionFile int

// RegionFileType is what kind of entry a RegionStat describes.
type RegionFileType uint8

// Entry kinds.
const (
	RegionOther RegionFileType = iota
	RegionRegular
	RegionDirectory
	RegionSymlink
)

// String names the kind for messages ("regular file", "symbolic link"...).
func (t RegionFileType) String() string {
	switch t {
	case RegionRegular:
		return "regular file"
	case RegionDirectory:
		return "directory"
	case RegionSymlink:
		return "symbolic link"
	}
	return "special file"
}

// RegionStat is what the region code needs to know about an entry.
type RegionStat struct {
	Dev, Ino uint64
	UID      uint32
	Perm     uint32 // permission bits
	Size     int64
	Type     RegionFileType
}

// FutexResult is how a futex wait ended. The waits never allocate, so
// they report an enumeration instead of an error.
type FutexResult uint8

// The ways a futex wait ends.
const (
	// FutexWoken: a wake-up (or a spurious return): re-check the word.
	FutexWoken FutexResult = iota
	// FutexTimeout: the timeout passed.
	FutexTimeout
	// FutexChanged: the word did not hold the expected value (EAGAIN).
	FutexChanged
	// FutexInterrupted: a signal interrupted the wait (EINTR).
	FutexInterrupted
	// FutexFault: the word's page is gone (EFAULT: a region file was
	// truncated under the mapping).
	FutexFault
	// FutexUnsupported: the kernel or a seccomp filter refuses the call
	// (ENOSYS, EPERM) or it is not available on this OS.
	FutexUnsupported
	// FutexFailed: any other error.
	FutexFailed
)

// FutexWaiter is one entry of a FutexWaitv call (struct futex_waitv).
// The word it names is referred to by address only: the caller keeps it
// alive (and mapped) until the call returns.
type FutexWaiter struct {
	val      uint64
	addr     uint64
	flags    uint32
	reserved uint32
}

// FutexWaitvMax is the most entries one FutexWaitv call takes.
const FutexWaitvMax = 128
