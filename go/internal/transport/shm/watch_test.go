//go:build linux

package shm

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
)

// osThreads is the number of threads of this process.
func osThreads(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Skip("no thread count")
	return 0
}

// TestIdleWatchedSessionsCostNoThread parks 300 server sessions (three
// groups) in Receive and checks that the process did not gain a thread
// per session; then every session gets and answers its request.
func TestIdleWatchedSessionsCostNoThread(t *testing.T) {
	if !NewWatcher().usable() {
		t.Skip("futex_waitv is not available: sessions wait in their own threads")
	}
	const sessions = 300
	dir := t.TempDir()
	w := NewWatcher()
	defer w.Close()
	before := osThreads(t)
	clients := make([]*Region, sessions)
	done := make([]chan error, sessions)
	for i := range clients {
		server, client := pair(t, dir, uint64(i+1), 1024, 1024)
		if i%2 == 1 {
			server.SetExtensions(ExtWakeOnDemand)
			client.SetExtensions(ExtWakeOnDemand)
		}
		server.SetWatcher(w, nil)
		clients[i] = client
		done[i] = echo(server)
	}
	// Every session gets past its spinning into the watcher (soon; on a
	// loaded machine it may take a while).
	groups := 0
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		w.mu.Lock()
		groups = len(w.groups)
		w.mu.Unlock()
		if groups == 3 || time.Now().After(deadline) {
			break
		}
	}
	if groups != 3 {
		t.Errorf("%d groups for %d sessions, want 3", groups, sessions)
	}
	if after := osThreads(t); after > before+groups+8 {
		t.Fatalf("%d threads with %d idle sessions, %d before", after, sessions, before)
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			roundTrips(t, c, 3)
		}()
	}
	wg.Wait()
	for _, d := range done {
		select {
		case err := <-d:
			t.Fatalf("a session ended: %v", err)
		default:
		}
	}
}

func TestAWatchGroupDropsATruncatedRegionAndKeepsTheOthers(t *testing.T) {
	if !NewWatcher().usable() {
		t.Skip("futex_waitv is not available")
	}
	dir := t.TempDir()
	w := NewWatcher()
	defer w.Close()
	lostServer, _ := pair(t, dir, 1, 1024, 1024)
	server, client := pair(t, dir, 2, 1024, 1024)
	lostServer.SetWatcher(w, nil)
	server.SetWatcher(w, nil)
	lostGot := blocked(lostServer, nil)
	got := blocked(server, nil)
	time.Sleep(20 * time.Millisecond)
	lostPath := filepath.Join(dir, regionName(1))
	if err := os.Truncate(lostPath, 0); err != nil {
		t.Fatal(err)
	}
	// Any change of the group makes it arm its members again, and a
	// truncated member is handed back to its session.
	third, _ := pair(t, dir, 3, 1024, 1024)
	third.SetWatcher(w, nil)
	thirdGot := blocked(third, nil)
	lostKind(t, waitErr(t, lostGot, 3*time.Second), lostPath)
	if err := client.Publish([]byte("still here"), nil); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, got, 3*time.Second); err != nil {
		t.Fatalf("the other region: %v", err)
	}
	third.Close()
	wantKind(t, waitErr(t, thirdGot, 3*time.Second), netipc.ErrClosed, "")
}

func TestClosingTheWatcherLeavesSessionsWaitingOnTheirOwn(t *testing.T) {
	dir := t.TempDir()
	w := NewWatcher()
	server, client := pair(t, dir, 1, 1024, 1024)
	server.SetWatcher(w, nil)
	done := echo(server)
	time.Sleep(20 * time.Millisecond)
	w.Close()
	w.Close()
	time.Sleep(20 * time.Millisecond)
	roundTrips(t, client, 3)
	time.Sleep(5 * time.Millisecond)
	roundTrips(t, client, 3)
	server.Close()
	wantKind(t, <-done, netipc.ErrClosed, "")
}

func roundTripAllocs(t *testing.T, watched bool, ext uint32) float64 {
	server, client := pair(t, t.TempDir(), 1, 1024, 1024)
	server.SetExtensions(ext)
	client.SetExtensions(ext)
	if watched {
		w := NewWatcher()
		t.Cleanup(w.Close)
		server.SetWatcher(w, nil)
	}
	done := echo(server)
	head := make([]byte, 32)
	body := make([]byte, 200)
	buf := make([]byte, client.RecvCapacity())
	deadline := soon()
	roundTrip := func() {
		if err := client.Publish(head, body); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Receive(buf, deadline, nil); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip()
	allocs := testing.AllocsPerRun(500, roundTrip)
	// Some waits in the futex or the watcher: the answer is late.
	slow := testing.AllocsPerRun(5, func() {
		time.Sleep(time.Millisecond)
		roundTrip()
	})
	server.Close()
	<-done
	return allocs + slow
}

func TestRoundTripsAllocateNothing(t *testing.T) {
	for _, watched := range []bool{false, true} {
		for _, ext := range []uint32{0, ExtWakeOnDemand} {
			if a := roundTripAllocs(t, watched, ext); a != 0 {
				t.Errorf("watched=%v extensions=%d: %v allocations per round trip", watched, ext, a)
			}
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	for _, ext := range []uint32{0, ExtWakeOnDemand} {
		b.Run("extensions="+strconv.Itoa(int(ext)), func(b *testing.B) {
			dir := b.TempDir()
			server, err := Create(dir, regionName(1), 1024, 1024)
			if err != nil {
				b.Fatal(err)
			}
			client, err := Attach(dir, regionName(1), -1)
			if err != nil {
				b.Fatal(err)
			}
			server.SetExtensions(ext)
			client.SetExtensions(ext)
			done := echo(server)
			head, buf := make([]byte, 32), make([]byte, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := client.Publish(head, nil); err != nil {
					b.Fatal(err)
				}
				if _, err := client.Receive(buf, time.Time{}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			server.Close()
			<-done
			client.Close()
		})
	}
}

func TestAWatcherHasNoGoroutineWhileNoSessionWaits(t *testing.T) {
	if !NewWatcher().usable() {
		t.Skip("futex_waitv is not available")
	}
	w := NewWatcher() // never closed: it must not need it
	server, client := pair(t, t.TempDir(), 1, 1024, 1024)
	server.SetWatcher(w, nil)
	groups := func() int {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.groups)
	}
	before := runtime.NumGoroutine()
	for round := 0; round < 3; round++ {
		got := blocked(server, nil)
		for deadline := time.Now().Add(5 * time.Second); groups() != 1; {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d groups for one waiting session", round, groups())
			}
			time.Sleep(time.Millisecond)
		}
		if err := client.Publish([]byte("wake"), nil); err != nil {
			t.Fatal(err)
		}
		if err := waitErr(t, got, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := server.Publish([]byte("answer"), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Receive(make([]byte, 2048), soon(), nil); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); groups() != 0 || runtime.NumGoroutine() > before; {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d groups, %d goroutines (%d before) with no session waiting", round, groups(), runtime.NumGoroutine(), before)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
