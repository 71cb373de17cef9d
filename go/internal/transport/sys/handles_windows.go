package sys

import (
	"os"
	"syscall"
	"unsafe"
)

var (
	modntdll                     = syscall.NewLazyDLL("ntdll.dll")
	procNtQuerySystemInformation = modntdll.NewProc("NtQuerySystemInformation")
	procNtQueryObject            = modntdll.NewProc("NtQueryObject")
	procNtQueryEvent             = modntdll.NewProc("NtQueryEvent")
)

const (
	systemExtendedHandleInformation = 64 // SYSTEM_INFORMATION_CLASS
	objectNameInformation           = 1  // OBJECT_INFORMATION_CLASS
	objectTypeInformation           = 2
	eventBasicInformation           = 0 // EVENT_INFORMATION_CLASS
	synchronizationEvent            = 1 // EVENT_TYPE: auto-reset
	statusInfoLengthMismatch        = 0xC0000004
)

// systemHandleEntry is SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX, one handle of
// the system's handle table.
type systemHandleEntry struct {
	object           uintptr
	uniqueProcessID  uintptr
	handleValue      uintptr
	grantedAccess    uint32
	creatorBackTrace uint16
	objectTypeIndex  uint16
	handleAttributes uint32
	reserved         uint32
}

// runtimeKinds are the object types of the handles Go's runtime opens
// for itself and netipc never opens: per OS thread it starts, a
// duplicate of the thread's handle, a high-resolution waitable timer
// ("Timer", "IRTimer") and, where the system has them, a wait completion
// packet (runtime/os_windows.go, minit); once, at the first I/O, the
// network poller's I/O completion port. Go keeps its threads, so their
// number (and these handles) only grows, with the load.
var runtimeKinds = map[string]bool{
	"Thread": true, "Timer": true, "IRTimer": true, "WaitCompletionPacket": true, "IoCompletion": true,
}

// OpenHandles counts, by kind, the handles this process has open, for the
// tests that check that netipc leaves none behind: the type of each
// handle's object ("File" for pipe ends, "Section", "Event", ...; a named
// event is "Event (named)"), from the system's handle table.
//
// What only Go's runtime opens (runtimeKinds) is left out, and so are
// unnamed auto-reset events: the runtime makes two for each OS thread it
// starts, at the thread's first wait on a lock (runtime.semacreate), and
// package internal/poll makes one for the time of an overlapped I/O on a
// handle the network poller does not serve. netipc's only unnamed
// auto-reset events are the wake-up events of its SHM watcher's groups
// (package winshm), which the process-wide watcher keeps for reuse.
// netipc's own events (those of a listener's pipe instances, its stop
// event, a session's SHM events) are manual-reset or named, and counted.
func OpenHandles() (map[string]int, error) {
	buf := make([]byte, 1<<20)
	for {
		var need uint32
		st, _, _ := syscall.SyscallN(procNtQuerySystemInformation.Addr(), systemExtendedHandleInformation,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(unsafe.Pointer(&need)))
		if uint32(st) == statusInfoLengthMismatch {
			// The table grows while it is read: ask with room to spare.
			buf = make([]byte, max(2*len(buf), int(need)+1<<16))
			continue
		}
		if st != 0 {
			return nil, os.NewSyscallError("NtQuerySystemInformation", syscall.Errno(st))
		}
		break
	}
	// SYSTEM_HANDLE_INFORMATION_EX: the number of handles, a reserved
	// word, the entries.
	n := *(*uintptr)(unsafe.Pointer(&buf[0]))
	header := 2 * unsafe.Sizeof(uintptr(0))
	n = min(n, (uintptr(len(buf))-header)/unsafe.Sizeof(systemHandleEntry{}))
	entries := unsafe.Slice((*systemHandleEntry)(unsafe.Pointer(&buf[header])), n)
	pid := uintptr(os.Getpid())
	counts := map[string]int{}
	for i := range entries {
		if entries[i].uniqueProcessID != pid {
			continue
		}
		h := syscall.Handle(entries[i].handleValue)
		kind := queryObject(h, objectTypeInformation)
		switch {
		case kind == "" || runtimeKinds[kind]:
			// "": closed since the table was read.
			continue
		case kind == "Event" && queryObject(h, objectNameInformation) != "":
			kind = "Event (named)"
		case kind == "Event" && autoResetEvent(h):
			continue
		}
		counts[kind]++
	}
	return counts, nil
}

// queryObject returns the UNICODE_STRING that NtQueryObject's answer of
// class starts with (the type's name, or the object's name), "" when it
// fails. Not for the names of files: asking a pipe's name can block.
func queryObject(h syscall.Handle, class uintptr) string {
	var info [128]uint64 // 1 KiB, aligned for the pointer in the answer
	var need uint32
	st, _, _ := syscall.SyscallN(procNtQueryObject.Addr(), uintptr(h), class,
		uintptr(unsafe.Pointer(&info[0])), unsafe.Sizeof(info), uintptr(unsafe.Pointer(&need)))
	if st != 0 {
		return ""
	}
	// UNICODE_STRING: length in bytes (uint16), capacity, pointer.
	length := *(*uint16)(unsafe.Pointer(&info[0]))
	p := *(**uint16)(unsafe.Pointer(&info[1]))
	if p == nil || length == 0 {
		return ""
	}
	return syscall.UTF16ToString(unsafe.Slice(p, length/2))
}

// autoResetEvent tells whether the event h is auto-reset (false when it
// cannot be asked).
func autoResetEvent(h syscall.Handle) bool {
	var basic struct{ eventType, state int32 } // EVENT_BASIC_INFORMATION
	var need uint32
	st, _, _ := syscall.SyscallN(procNtQueryEvent.Addr(), uintptr(h), eventBasicInformation,
		uintptr(unsafe.Pointer(&basic)), unsafe.Sizeof(basic), uintptr(unsafe.Pointer(&need)))
	return st == 0 && basic.eventType == synchronizationEvent
}
