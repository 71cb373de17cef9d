package sys

// The types of the Windows shared-memory system calls (shm_windows.go),
// shared with the stubs of other systems (shm_other.go).

import "time"

// WinHandle is a Windows kernel object handle.
type WinHandle uintptr

// WinMapping is a mapped view of a named, page-file-backed Windows file
// mapping (the region of a Windows SHM session). Mem is the view; it is
// valid until Close.
type WinMapping struct {
	Mem []byte
	h   WinHandle
}

// WinEvent is a Windows auto-reset event (the zero value is no event).
// Set and Wait may be called from any goroutine until Close.
type WinEvent struct{ h WinHandle }

// Handle returns the event's handle, for WaitAny.
func (e WinEvent) Handle() WinHandle { return e.h }

// Valid reports whether e is an event (not the zero value).
func (e WinEvent) Valid() bool { return e.h != 0 }

// WaitAnyMax is the most handles one WaitAny takes
// (MAXIMUM_WAIT_OBJECTS).
const WaitAnyMax = 64

// WaitForever, as the timeout of WaitAny, waits without a timeout.
const WaitForever time.Duration = -1

// waitMillis is the timeout of a Win32 wait for d: rounded up to whole
// milliseconds (a wait of less than 1 ms never sleeps), at most a day.
// Negative: 0.
func waitMillis(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	d = min(d, 24*time.Hour)
	return uint32((d + time.Millisecond - 1) / time.Millisecond)
}
