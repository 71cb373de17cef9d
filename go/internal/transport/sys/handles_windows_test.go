package sys

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func openHandlesT(t *testing.T) map[string]int {
	t.Helper()
	counts, err := OpenHandles()
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// OpenHandles counts the kinds of handle netipc opens (files and pipes,
// manual-reset events, named events, whichever side opened them) and
// leaves out the kinds Go's runtime opens for its threads (thread
// handles, waitable timers, unnamed auto-reset events).
func TestOpenHandlesCountsWhatNetipcOpens(t *testing.T) {
	before := openHandlesT(t)
	var handles []syscall.Handle
	defer func() {
		for _, h := range handles {
			syscall.CloseHandle(h)
		}
	}()
	keep := func(h syscall.Handle, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	f, err := os.Create(filepath.Join(runDir(t), "file"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keep(createEvent(nil, true, false, nil))
	name := fmt.Sprintf(`Local\netipc-handles-test-%d-%d`, os.Getpid(), time.Now().UnixNano())
	created, err := CreateWinEvent(name)
	keep(syscall.Handle(created.h), err)
	opened, err := OpenWinEvent(name)
	keep(syscall.Handle(opened.h), err)
	// The runtime's kinds.
	auto, err := CreateWinEvent("")
	keep(syscall.Handle(auto.h), err)
	self, _ := syscall.GetCurrentProcess()
	thread := syscall.Handle(^uintptr(1)) // GetCurrentThread's pseudo-handle
	var dup syscall.Handle
	if err := syscall.DuplicateHandle(self, thread, self, &dup, 0, false, syscall.DUPLICATE_SAME_ACCESS); err != nil {
		t.Fatal(err)
	}
	handles = append(handles, dup)
	timer, _, e := modkernel32.NewProc("CreateWaitableTimerW").Call(0, 0, 0)
	if timer == 0 {
		t.Fatal(e)
	}
	handles = append(handles, syscall.Handle(timer))

	want := maps.Clone(before)
	want["File"]++
	want["Event"]++
	want["Event (named)"] += 2
	if got := openHandlesT(t); !maps.Equal(got, want) {
		t.Fatalf("counted %v, want %v", got, want)
	}
	for _, h := range handles {
		syscall.CloseHandle(h)
	}
	handles = nil
	f.Close()
	if got := openHandlesT(t); !maps.Equal(got, before) {
		t.Fatalf("counted %v after closing, want %v", got, before)
	}
}
