//go:build !linux

package sys

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrRegionUnsupported is returned by every shared-memory call on an OS
// without the Linux region transport.
var ErrRegionUnsupported = errors.New("the Linux shared-memory transport is not available on this operating system")

// OpenRegionDir fails: unsupported on this OS.
func OpenRegionDir(path string) (RegionDir, error) { return RegionDir{-1}, ErrRegionUnsupported }

// Close does nothing.
func (d RegionDir) Close() {}

// Create fails: unsupported on this OS.
func (d RegionDir) Create(name string) (RegionFile, error) { return -1, ErrRegionUnsupported }

// Open fails: unsupported on this OS.
func (d RegionDir) Open(name string, write bool) (RegionFile, error) {
	return -1, ErrRegionUnsupported
}

// Lstat fails: unsupported on this OS.
func (d RegionDir) Lstat(name string) (RegionStat, error) {
	return RegionStat{}, ErrRegionUnsupported
}

// Remove fails: unsupported on this OS.
func (d RegionDir) Remove(name string, dir bool) error { return ErrRegionUnsupported }

// Stat fails: unsupported on this OS.
func (f RegionFile) Stat() (RegionStat, error) { return RegionStat{}, ErrRegionUnsupported }

// Allocate fails: unsupported on this OS.
func (f RegionFile) Allocate(size int64) error { return ErrRegionUnsupported }

// Map fails: unsupported on this OS.
func (f RegionFile) Map(size int) ([]byte, error) { return nil, ErrRegionUnsupported }

// ReadAt fails: unsupported on this OS.
func (f RegionFile) ReadAt(b []byte, off int64) (int, error) { return 0, ErrRegionUnsupported }

// Close does nothing.
func (f RegionFile) Close() {}

// Unmap fails: unsupported on this OS.
func Unmap(mem []byte) error { return ErrRegionUnsupported }

// RegionOwnerAlive reports false: unsupported on this OS.
func RegionOwnerAlive(pid int32) bool { return false }

// FutexWait reports FutexUnsupported on this OS.
func FutexWait(word *atomic.Uint32, val uint32, timeout time.Duration, shared bool) FutexResult {
	return FutexUnsupported
}

// FutexWake does nothing on this OS.
func FutexWake(word *atomic.Uint32, n int, shared bool) {}

// Set does nothing on this OS.
func (w *FutexWaiter) Set(word *atomic.Uint32, val uint32, shared bool) {}

// FutexWaitv reports FutexUnsupported on this OS.
func FutexWaitv(ws []FutexWaiter) FutexResult { return FutexUnsupported }

// FutexWaitvSupported reports false on this OS.
func FutexWaitvSupported() bool { return false }

// ThreadYield does nothing on this OS.
func ThreadYield() {}
