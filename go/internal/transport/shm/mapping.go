package shm

import (
	"runtime/debug"
	"sync/atomic"
	"unsafe"

	"github.com/netdata/netipc/go/internal/transport/sys"
)

// mapping is a shared mapping of (the used part of) a region file.
//
// # No SIGBUS crash
//
// Any process of the same user may truncate a region file. The pages
// past the new end are then gone from every mapping of it, and the next
// access to them raises SIGBUS, which the Go runtime turns into a fatal
// "unexpected fault address" unless the faulting goroutine asked for a
// panic instead (runtime/debug.SetPanicOnFault). So every function that
// touches the mapped memory runs under guard:
//
//	defer m.recoverFault(debug.SetPanicOnFault(true), &err)
//
// which turns the fault of an access inside this mapping into a panic,
// recovers it, marks the mapping lost and returns the ErrSHM error that
// names the region. A fault elsewhere is re-raised (it is not ours), and
// the goroutine's previous setting is restored. Once lost, the mapping is
// never touched again (every entry point checks the flag first).
//
// A file truncated and grown back reads zeros without any fault; the
// region code recognises it by the header magic, which is never zero in
// a live region.
//
// # Lifetime
//
// The memory is unmapped when the last reference is released: the
// region holds one, and every operation (a receive blocked in another
// goroutine, an Interrupt, a watch group) takes its own for as long as it
// may touch the memory, so Close never unmaps memory that is in use.
type mapping struct {
	mem  []byte
	path string
	refs atomic.Int32
	lost atomic.Bool
}

func newMapping(mem []byte, path string) *mapping {
	m := &mapping{mem: mem, path: path}
	m.refs.Store(1)
	return m
}

// acquire takes a reference; false once the memory is unmapped.
func (m *mapping) acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference and unmaps the memory with the last one.
func (m *mapping) release() {
	if m.refs.Add(-1) == 0 {
		_ = sys.Unmap(m.mem)
	}
}

// u32 is the 32-bit word at off (4-byte aligned: see the offsets).
func (m *mapping) u32(off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&m.mem[off]))
}

// u64 is the 64-bit word at off (8-byte aligned: see the offsets).
func (m *mapping) u64(off int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&m.mem[off]))
}

// intact reports whether the mapping still holds the region the session
// began with: not lost to a truncate, and the magic not zeroed by a
// truncate and regrow. Call it under guard.
func (m *mapping) intact() bool {
	return !m.lost.Load() && m.u32(offMagic).Load() == Magic
}

// probe touches the last word of the mapping, so that a file truncated
// anywhere below it is found out now (a truncate always removes the end).
// Call it under guard.
func (m *mapping) probe() {
	if n := len(m.mem); n >= 4 {
		_ = m.u32((n - 4) &^ 3).Load()
	}
}

// contains reports whether addr is inside the mapping.
func (m *mapping) contains(addr uintptr) bool {
	if len(m.mem) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(&m.mem[0]))
	return addr >= base && addr-base < uintptr(len(m.mem))
}

// recoverFault ends a guarded function (see the type's doc): it restores
// the goroutine's panic-on-fault setting to old and turns a fault inside
// this mapping into the lost-region error in *err.
func (m *mapping) recoverFault(old bool, err *error) {
	debug.SetPanicOnFault(old)
	if p := recover(); p != nil {
		if !m.faulted(p) {
			panic(p)
		}
		*err = lostError(m.path)
	}
}

// faulted reports whether p is a memory fault inside this mapping and
// marks the mapping lost if it is.
func (m *mapping) faulted(p any) bool {
	f, ok := p.(interface{ Addr() uintptr })
	if !ok || !m.contains(f.Addr()) {
		return false
	}
	m.lost.Store(true)
	return true
}
