package sys

// The Win32 functions the transport needs that package syscall does not
// offer, called through lazily loaded procedures of kernel32 and
// advapi32 (both are KnownDLLs: always loaded from the system
// directory). Every wrapper returns the thread's last error as a
// syscall.Errno when the call fails.

import (
	"syscall"
	"unsafe"
)

var (
	modkernel32 = syscall.NewLazyDLL("kernel32.dll")
	modadvapi32 = syscall.NewLazyDLL("advapi32.dll")

	procCreateNamedPipeW            = modkernel32.NewProc("CreateNamedPipeW")
	procConnectNamedPipe            = modkernel32.NewProc("ConnectNamedPipe")
	procDisconnectNamedPipe         = modkernel32.NewProc("DisconnectNamedPipe")
	procSetNamedPipeHandleState     = modkernel32.NewProc("SetNamedPipeHandleState")
	procGetNamedPipeServerProcessId = modkernel32.NewProc("GetNamedPipeServerProcessId")
	procGetNamedPipeClientProcessId = modkernel32.NewProc("GetNamedPipeClientProcessId")
	procPeekNamedPipe               = modkernel32.NewProc("PeekNamedPipe")
	procWaitNamedPipeW              = modkernel32.NewProc("WaitNamedPipeW")
	procCreateEventW                = modkernel32.NewProc("CreateEventW")
	procOpenEventW                  = modkernel32.NewProc("OpenEventW")
	procSetEvent                    = modkernel32.NewProc("SetEvent")
	procWaitForMultipleObjects      = modkernel32.NewProc("WaitForMultipleObjects")
	procGetOverlappedResult         = modkernel32.NewProc("GetOverlappedResult")

	procConvertStringSecurityDescriptorToSecurityDescriptorW = modadvapi32.NewProc("ConvertStringSecurityDescriptorToSecurityDescriptorW")
	procIsValidSid                                           = modadvapi32.NewProc("IsValidSid")
)

// Win32 constants package syscall lacks.
const (
	errorPipeBusy         syscall.Errno = 231
	errorNoData           syscall.Errno = 232
	errorPipeNotConnected syscall.Errno = 233
	errorMoreData         syscall.Errno = 234
	errorPipeConnected    syscall.Errno = 535
	errorIOIncomplete     syscall.Errno = 996

	pipeAccessDuplex          = 0x00000003
	fileFlagFirstPipeInstance = 0x00080000
	fileFlagOverlapped        = 0x40000000
	pipeTypeMessage           = 0x00000004
	pipeReadmodeMessage       = 0x00000002
	pipeRejectRemoteClients   = 0x00000008
	pipeUnlimitedInstances    = 255
	fileWriteData             = 0x0002
	fileWriteAttributes       = 0x0100
	securitySQOSPresent       = 0x00100000
	securityIdentification    = 0x00010000
	processQueryLimitedInfo   = 0x1000
	sddlRevision1             = 1
	seGroupEnabled            = 0x00000004
	seGroupUseForDenyOnly     = 0x00000010
	waitObject0               = 0x00000000
	waitTimeout               = 0x00000102
	waitFailed                = 0xFFFFFFFF
	maximumWaitObjects        = 64
	eventModifyState          = 0x0002
	synchronize               = 0x00100000
	infinite                  = 0xFFFFFFFF
)

// lastErr is the error of a failed call: its last error, or
// ERROR_GEN_FAILURE (31) should the call not have set one.
func lastErr(e error) error {
	if en, ok := e.(syscall.Errno); ok && en != 0 {
		return en
	}
	return syscall.Errno(31)
}

func boolArg(b bool) uintptr {
	if b {
		return 1
	}
	return 0
}

func createNamedPipe(name *uint16, openMode, pipeMode, maxInstances, outSize, inSize, timeout uint32, sa *syscall.SecurityAttributes) (syscall.Handle, error) {
	r, _, e := syscall.SyscallN(procCreateNamedPipeW.Addr(), uintptr(unsafe.Pointer(name)), uintptr(openMode), uintptr(pipeMode),
		uintptr(maxInstances), uintptr(outSize), uintptr(inSize), uintptr(timeout), uintptr(unsafe.Pointer(sa)))
	if h := syscall.Handle(r); h != syscall.InvalidHandle {
		return h, nil
	}
	return syscall.InvalidHandle, lastErr(e)
}

func connectNamedPipe(h syscall.Handle, ov *syscall.Overlapped) error {
	r, _, e := syscall.SyscallN(procConnectNamedPipe.Addr(), uintptr(h), uintptr(unsafe.Pointer(ov)))
	if r != 0 {
		return nil
	}
	return lastErr(e)
}

func disconnectNamedPipe(h syscall.Handle) error {
	r, _, e := syscall.SyscallN(procDisconnectNamedPipe.Addr(), uintptr(h))
	if r != 0 {
		return nil
	}
	return lastErr(e)
}

func setNamedPipeHandleState(h syscall.Handle, mode uint32) error {
	r, _, e := syscall.SyscallN(procSetNamedPipeHandleState.Addr(), uintptr(h), uintptr(unsafe.Pointer(&mode)), 0, 0)
	if r != 0 {
		return nil
	}
	return lastErr(e)
}

// pipePeerPID returns the process id of the pipe's server (client side)
// or client (server side).
func pipePeerPID(h syscall.Handle, serverSide bool) (uint32, error) {
	proc := procGetNamedPipeServerProcessId
	if serverSide {
		proc = procGetNamedPipeClientProcessId
	}
	var pid uint32
	r, _, e := syscall.SyscallN(proc.Addr(), uintptr(h), uintptr(unsafe.Pointer(&pid)))
	if r != 0 {
		return pid, nil
	}
	return 0, lastErr(e)
}

// peekNamedPipe returns the bytes waiting in the pipe and, in message
// mode, the bytes of the next message not read yet (0 when none waits).
func peekNamedPipe(h syscall.Handle) (avail, left uint32, err error) {
	r, _, e := syscall.SyscallN(procPeekNamedPipe.Addr(), uintptr(h), 0, 0, 0,
		uintptr(unsafe.Pointer(&avail)), uintptr(unsafe.Pointer(&left)))
	if r != 0 {
		return avail, left, nil
	}
	return 0, 0, lastErr(e)
}

// waitNamedPipe waits up to ms milliseconds for an instance of the pipe
// to be free; it reports whether one is.
func waitNamedPipe(name *uint16, ms uint32) (bool, error) {
	r, _, e := syscall.SyscallN(procWaitNamedPipeW.Addr(), uintptr(unsafe.Pointer(name)), uintptr(ms))
	if r != 0 {
		return true, nil
	}
	return false, lastErr(e)
}

// createEvent creates an unnamed (name nil) or named event.
func createEvent(sa *syscall.SecurityAttributes, manualReset, initialState bool, name *uint16) (syscall.Handle, error) {
	r, _, e := syscall.SyscallN(procCreateEventW.Addr(), uintptr(unsafe.Pointer(sa)), boolArg(manualReset),
		boolArg(initialState), uintptr(unsafe.Pointer(name)))
	if r != 0 {
		return syscall.Handle(r), nil
	}
	return 0, lastErr(e)
}

// openEvent opens a named event.
func openEvent(access uint32, name *uint16) (syscall.Handle, error) {
	r, _, e := syscall.SyscallN(procOpenEventW.Addr(), uintptr(access), 0, uintptr(unsafe.Pointer(name)))
	if r != 0 {
		return syscall.Handle(r), nil
	}
	return 0, lastErr(e)
}

func setEvent(h syscall.Handle) error {
	r, _, e := syscall.SyscallN(procSetEvent.Addr(), uintptr(h))
	if r != 0 {
		return nil
	}
	return lastErr(e)
}

// waitForMultipleObjects waits for any (all false) of at most
// maximumWaitObjects handles; it returns the WAIT_* value.
func waitForMultipleObjects(handles []syscall.Handle, all bool, ms uint32) (uint32, error) {
	if len(handles) == 0 || len(handles) > maximumWaitObjects {
		return waitFailed, syscall.EINVAL
	}
	r, _, e := syscall.SyscallN(procWaitForMultipleObjects.Addr(), uintptr(len(handles)),
		uintptr(unsafe.Pointer(&handles[0])), boolArg(all), uintptr(ms))
	if uint32(r) == waitFailed {
		return waitFailed, lastErr(e)
	}
	return uint32(r), nil
}

// getOverlappedResult returns the bytes moved by a finished overlapped
// operation, or its error (ERROR_IO_INCOMPLETE: not finished, when wait
// is false).
func getOverlappedResult(h syscall.Handle, ov *syscall.Overlapped, wait bool) (uint32, error) {
	var n uint32
	r, _, e := syscall.SyscallN(procGetOverlappedResult.Addr(), uintptr(h), uintptr(unsafe.Pointer(ov)),
		uintptr(unsafe.Pointer(&n)), boolArg(wait))
	if r != 0 {
		return n, nil
	}
	return n, lastErr(e)
}

// securityDescriptorFromSDDL converts an SDDL string into a
// self-relative security descriptor, allocated with LocalAlloc (free it
// with syscall.LocalFree).
func securityDescriptorFromSDDL(sddl string) (uintptr, error) {
	s, err := syscall.UTF16PtrFromString(sddl)
	if err != nil {
		return 0, err
	}
	var sd uintptr
	r, _, e := syscall.SyscallN(procConvertStringSecurityDescriptorToSecurityDescriptorW.Addr(),
		uintptr(unsafe.Pointer(s)), sddlRevision1, uintptr(unsafe.Pointer(&sd)), 0)
	if r != 0 {
		return sd, nil
	}
	return 0, lastErr(e)
}

func isValidSid(sid *syscall.SID) bool {
	r, _, _ := syscall.SyscallN(procIsValidSid.Addr(), uintptr(unsafe.Pointer(sid)))
	return r != 0
}
