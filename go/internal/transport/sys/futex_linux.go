package sys

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Futex operations (linux/futex.h). The region words are shared between
// processes, so they use the plain (shared) operations; words private to
// this process add futexPrivate.
const (
	futexWait    = 0
	futexWake    = 1
	futexPrivate = 128

	// sysFutexWaitv is futex_waitv(2), Linux 5.16, the same number on
	// every architecture.
	sysFutexWaitv = 449
	// futex2Size32 and futex2Private are the flags of one futex_waitv
	// entry.
	futex2Size32  = 0x02
	futex2Private = 128
)

func futexResult(errno syscall.Errno) FutexResult {
	switch errno {
	case 0:
		return FutexWoken
	case syscall.ETIMEDOUT:
		return FutexTimeout
	case syscall.EAGAIN:
		return FutexChanged
	case syscall.EINTR:
		return FutexInterrupted
	case syscall.EFAULT:
		return FutexFault
	case syscall.ENOSYS, syscall.EPERM:
		return FutexUnsupported
	}
	return FutexFailed
}

// FutexWait sleeps while *word == val, for at most timeout (a timeout
// below or at zero waits without a limit). shared selects the
// inter-process operation (a word in a shared mapping); otherwise the
// word must be private to this process. The calling goroutine's thread
// is blocked in the kernel meanwhile (the Go scheduler runs other
// goroutines on other threads).
func FutexWait(word *atomic.Uint32, val uint32, timeout time.Duration, shared bool) FutexResult {
	op := uintptr(futexWait)
	if !shared {
		op |= futexPrivate
	}
	var ts *syscall.Timespec
	if timeout > 0 {
		t := syscall.NsecToTimespec(int64(timeout))
		ts = &t
	}
	_, _, errno := syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(word)), op,
		uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	return futexResult(errno)
}

// FutexWake wakes up to n waiters of word (all of them for n <= 0).
func FutexWake(word *atomic.Uint32, n int, shared bool) {
	op := uintptr(futexWake)
	if !shared {
		op |= futexPrivate
	}
	if n <= 0 || n > math.MaxInt32 {
		n = math.MaxInt32
	}
	// Nothing to do about a failure: a waiter re-checks on its own.
	_, _, _ = syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(word)), op,
		uintptr(n), 0, 0, 0)
}

// Set makes the entry wait while *word == val. shared selects an
// inter-process word (see FutexWait).
func (w *FutexWaiter) Set(word *atomic.Uint32, val uint32, shared bool) {
	w.val = uint64(val)
	w.addr = uint64(uintptr(unsafe.Pointer(word)))
	w.flags = futex2Size32
	if !shared {
		w.flags |= futex2Private
	}
}

// FutexWaitv sleeps, without a time limit, until one of the words no
// longer holds its value or is woken (futex_waitv(2), up to 128 entries).
// FutexUnsupported on kernels before 5.16.
func FutexWaitv(ws []FutexWaiter) FutexResult {
	if len(ws) == 0 {
		return FutexFailed
	}
	_, _, errno := syscall.Syscall6(sysFutexWaitv, uintptr(unsafe.Pointer(&ws[0])),
		uintptr(len(ws)), 0, 0, uintptr(1) /* CLOCK_MONOTONIC, unused without a timeout */, 0)
	return futexResult(errno)
}

var waitvProbe struct {
	once sync.Once
	ok   bool
}

// FutexWaitvSupported reports whether futex_waitv works here (probed once
// with a wait that returns at once where it does).
func FutexWaitvSupported() bool {
	waitvProbe.once.Do(func() {
		word := new(atomic.Uint32) // on the heap: its address is kept as an integer
		var w [1]FutexWaiter
		w[0].Set(word, 1, false)
		waitvProbe.ok = FutexWaitv(w[:]) == FutexChanged
		runtime.KeepAlive(word)
	})
	return waitvProbe.ok
}

// ThreadYield gives the CPU of the calling thread to another runnable
// thread of the machine, if there is one (sched_yield).
func ThreadYield() {
	_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
