//go:build !windows

package sys

import (
	"errors"
	"time"
)

// ErrWinSHMUnsupported is returned by every Windows shared-memory call on
// other operating systems.
var ErrWinSHMUnsupported = errors.New("the Windows shared-memory transport is only available on Windows")

// CreateWinMapping fails: Windows only.
func CreateWinMapping(name string, size uint32) (WinMapping, error) {
	return WinMapping{}, ErrWinSHMUnsupported
}

// OpenWinMapping fails: Windows only.
func OpenWinMapping(name string) (WinMapping, error) { return WinMapping{}, ErrWinSHMUnsupported }

// Close does nothing.
func (m *WinMapping) Close() {}

// CreateWinEvent fails: Windows only.
func CreateWinEvent(name string) (WinEvent, error) { return WinEvent{}, ErrWinSHMUnsupported }

// OpenWinEvent fails: Windows only.
func OpenWinEvent(name string) (WinEvent, error) { return WinEvent{}, ErrWinSHMUnsupported }

// Set does nothing.
func (e WinEvent) Set() {}

// Wait reports false after d: Windows only.
func (e WinEvent) Wait(d time.Duration) bool {
	time.Sleep(d)
	return false
}

// Close does nothing.
func (e WinEvent) Close() {}

// WaitAny reports -1 at once: Windows only.
func WaitAny(handles []WinHandle, d time.Duration) int { return -1 }

// SwitchToThread does nothing on this OS.
func SwitchToThread() {}
