package sys

// The Win32 calls of the Windows shared-memory transport (package
// winshm): named page-file-backed file mappings and their views, named
// auto-reset events, and waits on them. The objects get the owner-only
// DACL of security_windows.go. Names are ASCII; the W calls get
// them as UTF-16.

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// Win32 values used here besides winapi_windows.go's.
const (
	pageReadWrite      = 0x04
	fileMapAllAccess   = 0xF001F
	errorAlreadyExists = syscall.Errno(183) // ERROR_ALREADY_EXISTS
)

// The kernel32 procedures of the SHM objects that winapi_windows.go does
// not load. CreateFileMappingW and CreateEventW are called directly:
// a named object that exists already is only told by the last error of
// a successful call.
var (
	procCreateFileMappingW = modkernel32.NewProc("CreateFileMappingW")
	procOpenFileMappingW   = modkernel32.NewProc("OpenFileMappingW")
	procVirtualQuery       = modkernel32.NewProc("VirtualQuery")
	procSwitchToThread     = modkernel32.NewProc("SwitchToThread")
)

// memoryBasicInformation is MEMORY_BASIC_INFORMATION. On 64-bit Windows
// AllocationProtect is followed by PartitionId and padding up to the next
// pointer; one uintptr covers them on either word size.
type memoryBasicInformation struct {
	BaseAddress       uintptr
	AllocationBase    uintptr
	AllocationProtect uintptr
	RegionSize        uintptr
	State             uint32
	Protect           uint32
	Type              uint32
}

// namePtr converts an object name ("" : no name) for a W call.
func namePtr(name string) (*uint16, error) {
	if name == "" {
		return nil, nil
	}
	return syscall.UTF16PtrFromString(name)
}

// pointerAt turns the address of a view (memory the Go runtime does not
// manage) into a pointer.
func pointerAt(addr uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr))
}

// mapView maps size bytes of mapping h (0: the whole section, whose size
// is then asked of the system).
func mapView(h syscall.Handle, size uint32) ([]byte, error) {
	addr, err := syscall.MapViewOfFile(h, fileMapAllAccess, 0, 0, uintptr(size))
	if addr == 0 {
		return nil, os.NewSyscallError("MapViewOfFile", err)
	}
	n := uintptr(size)
	if n == 0 {
		var info memoryBasicInformation
		r, _, e := syscall.SyscallN(procVirtualQuery.Addr(), addr, uintptr(unsafe.Pointer(&info)), unsafe.Sizeof(info))
		if r == 0 {
			_ = syscall.UnmapViewOfFile(addr)
			return nil, os.NewSyscallError("VirtualQuery", e)
		}
		n = info.RegionSize
	}
	return unsafe.Slice((*byte)(pointerAt(addr)), n), nil
}

// CreateWinMapping creates the named, page-file-backed mapping of size
// bytes (committed at once: a lack of commit charge fails here), owned by
// this user (objectSecurity), and maps it whole. A mapping of that name
// that already exists fails with an error that matches fs.ErrExist (the
// caller reports address-in-use).
func CreateWinMapping(name string, size uint32) (WinMapping, error) {
	wname, err := namePtr(name)
	if err != nil {
		return WinMapping{}, err
	}
	sa, free, err := objectSecurity(false)
	if err != nil {
		return WinMapping{}, err
	}
	defer free()
	r, _, e := syscall.SyscallN(procCreateFileMappingW.Addr(), uintptr(syscall.InvalidHandle),
		uintptr(unsafe.Pointer(sa)), pageReadWrite, 0, uintptr(size), uintptr(unsafe.Pointer(wname)))
	if r == 0 {
		return WinMapping{}, os.NewSyscallError("CreateFileMappingW", e)
	}
	h := syscall.Handle(r)
	if e == errorAlreadyExists {
		syscall.CloseHandle(h)
		return WinMapping{}, os.NewSyscallError("CreateFileMappingW", e)
	}
	mem, err := mapView(h, size)
	if err != nil {
		syscall.CloseHandle(h)
		return WinMapping{}, err
	}
	return WinMapping{Mem: mem, h: WinHandle(h)}, nil
}

// OpenWinMapping opens the named mapping and maps it whole; Mem is as long
// as the system reports the view (whole pages).
func OpenWinMapping(name string) (WinMapping, error) {
	wname, err := namePtr(name)
	if err != nil {
		return WinMapping{}, err
	}
	r, _, e := syscall.SyscallN(procOpenFileMappingW.Addr(), fileMapAllAccess, 0, uintptr(unsafe.Pointer(wname)))
	if r == 0 {
		return WinMapping{}, os.NewSyscallError("OpenFileMappingW", e)
	}
	h := syscall.Handle(r)
	mem, err := mapView(h, 0)
	if err != nil {
		syscall.CloseHandle(h)
		return WinMapping{}, err
	}
	return WinMapping{Mem: mem, h: WinHandle(h)}, nil
}

// Close unmaps the view and closes the mapping's handle (the kernel
// destroys the mapping with its last handle). Idempotent.
func (m *WinMapping) Close() {
	if len(m.Mem) > 0 {
		_ = syscall.UnmapViewOfFile(uintptr(unsafe.Pointer(&m.Mem[0])))
		m.Mem = nil
	}
	if m.h != 0 {
		syscall.CloseHandle(syscall.Handle(m.h))
		m.h = 0
	}
}

// CreateWinEvent creates an auto-reset, initially non-signalled event
// named name ("": unnamed), with the owner-only DACL (objectSecurity). An
// event of that name that already exists fails with an error that
// matches fs.ErrExist.
func CreateWinEvent(name string) (WinEvent, error) {
	wname, err := namePtr(name)
	if err != nil {
		return WinEvent{}, err
	}
	var sa *syscall.SecurityAttributes
	if name != "" {
		var free func()
		if sa, free, err = objectSecurity(false); err != nil {
			return WinEvent{}, err
		}
		defer free()
	}
	r, _, e := syscall.SyscallN(procCreateEventW.Addr(), uintptr(unsafe.Pointer(sa)), 0, 0, uintptr(unsafe.Pointer(wname)))
	if r == 0 {
		return WinEvent{}, os.NewSyscallError("CreateEventW", e)
	}
	if name != "" && e == errorAlreadyExists {
		syscall.CloseHandle(syscall.Handle(r))
		return WinEvent{}, os.NewSyscallError("CreateEventW", e)
	}
	return WinEvent{h: WinHandle(r)}, nil
}

// OpenWinEvent opens the named event to set it and wait on it.
func OpenWinEvent(name string) (WinEvent, error) {
	wname, err := namePtr(name)
	if err != nil {
		return WinEvent{}, err
	}
	h, err := openEvent(eventModifyState|synchronize, wname)
	if err != nil {
		return WinEvent{}, os.NewSyscallError("OpenEventW", err)
	}
	return WinEvent{h: WinHandle(h)}, nil
}

// Set signals the event (it wakes one waiter, or the next wait).
func (e WinEvent) Set() {
	_ = setEvent(syscall.Handle(e.h))
}

// Wait waits until the event is signalled (true, the event is reset) or
// d passes (false; also when the wait fails). The calling thread sleeps
// in the kernel.
func (e WinEvent) Wait(d time.Duration) bool {
	r, _ := syscall.WaitForSingleObject(syscall.Handle(e.h), waitMillis(d))
	return r == waitObject0
}

// Close closes the event's handle.
func (e WinEvent) Close() {
	if e.h != 0 {
		syscall.CloseHandle(syscall.Handle(e.h))
	}
}

// WaitAny waits until one of handles (at most WaitAnyMax) is signalled
// and returns its index, or -1 when d passed first (WaitForever: no
// timeout) or the wait failed. The calling thread sleeps in the kernel.
func WaitAny(handles []WinHandle, d time.Duration) int {
	if len(handles) == 0 || len(handles) > WaitAnyMax {
		return -1
	}
	ms := uint32(infinite)
	if d != WaitForever {
		ms = waitMillis(d)
	}
	r, _, _ := syscall.SyscallN(procWaitForMultipleObjects.Addr(), uintptr(len(handles)),
		uintptr(unsafe.Pointer(&handles[0])), 0, uintptr(ms))
	if r < uintptr(len(handles)) {
		return int(r)
	}
	return -1
}

// SwitchToThread gives the rest of the calling thread's time slice to
// another ready thread of the machine, if there is one.
func SwitchToThread() {
	_, _, _ = syscall.SyscallN(procSwitchToThread.Addr())
}
