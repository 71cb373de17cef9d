//go:build linux

package shm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
)

func regionName(id uint64) string { return fmt.Sprintf("svc-%016x.ipcshm", id) }

// pair creates a region (server) and attaches it (client).
func pair(t *testing.T, dir string, id uint64, maxReq, maxResp uint32) (server, client *Region) {
	t.Helper()
	server, err := Create(dir, regionName(id), maxReq, maxResp)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	client, err = Attach(dir, regionName(id), -1)
	if err != nil {
		server.Close()
		t.Fatalf("Attach: %v", err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

func soon() time.Time { return time.Now().Add(10 * time.Second) }

func wantKind(t *testing.T, err error, kind netipc.Kind, contains string) {
	t.Helper()
	var ne *netipc.Error
	if !errors.As(err, &ne) || !errors.Is(err, kind) {
		t.Fatalf("want a *netipc.Error of kind %v, got %T %v", kind, err, err)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not mention %q", err, contains)
	}
}

func TestCreateWritesTheReferenceHeader(t *testing.T) {
	dir := t.TempDir()
	server, err := Create(dir, regionName(1), 1000, 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	path := filepath.Join(dir, regionName(1))
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	rq, rs := uint32(1088), uint32(5056) // align64(32 + max)
	if fi.Size() != int64(64+rq+rs) || fi.Mode().Perm() != 0o600 || !fi.Mode().IsRegular() {
		t.Fatalf("file size %d mode %v, want %d bytes 0600", fi.Size(), fi.Mode(), 64+rq+rs)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if !bytes.Equal(raw[0:4], []byte{0x4d, 0x48, 0x53, 0x4e}) || le.Uint16(raw[4:]) != 3 || le.Uint16(raw[6:]) != 64 {
		t.Fatalf("magic/version/header_len: % x", raw[:8])
	}
	if pid := le.Uint32(raw[8:]); pid != uint32(os.Getpid()) {
		t.Fatalf("owner_pid %d, want %d", pid, os.Getpid())
	}
	if le.Uint32(raw[12:]) == 0 {
		t.Fatal("owner_generation is 0")
	}
	for off, want := range map[int]uint32{16: 64, 20: rq, 24: 64 + rq, 28: rs} {
		if got := le.Uint32(raw[off:]); got != want {
			t.Fatalf("header word at %d: %d, want %d", off, got, want)
		}
	}
	if !bytes.Equal(raw[32:], make([]byte, len(raw)-32)) {
		t.Fatal("sequence, length and signal words and areas are not all zero")
	}
	if server.RecvCapacity() != int(rq) || server.SendCapacity() != int(rs) {
		t.Fatalf("capacities %d/%d", server.RecvCapacity(), server.SendCapacity())
	}
}

func TestCreateRefusesSizesThatDoNotFit(t *testing.T) {
	_, err := Create(t.TempDir(), regionName(1), 0xffff_fff0, 1024)
	wantKind(t, err, netipc.ErrInvalidArgument, "lower the payload limits")
}

// echo serves requests on server until it is closed, answering each with
// its own bytes.
func echo(server *Region) chan error {
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, server.RecvCapacity())
		for {
			n, err := server.Receive(buf, time.Time{}, nil)
			if err != nil {
				done <- err
				return
			}
			if err := server.Publish(buf[:32], buf[32:n]); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

func roundTrips(t *testing.T, client *Region, count int) {
	t.Helper()
	head := make([]byte, 32)
	body := make([]byte, 100)
	buf := make([]byte, client.RecvCapacity())
	for i := 0; i < count; i++ {
		binary.LittleEndian.PutUint64(head, uint64(i))
		body[i%len(body)] = byte(i)
		if err := client.Publish(head, body[:i%len(body)+1]); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		n, err := client.Receive(buf, soon(), nil)
		if err != nil {
			t.Fatalf("receive %d: %v", i, err)
		}
		if n != 32+i%len(body)+1 || binary.LittleEndian.Uint64(buf) != uint64(i) || !bytes.Equal(buf[32:n], body[:i%len(body)+1]) {
			t.Fatalf("round trip %d: got %d bytes", i, n)
		}
	}
}

func TestRoundTripsBothWakeModes(t *testing.T) {
	for _, ext := range []uint32{0, ExtWakeOnDemand} {
		t.Run(fmt.Sprintf("extensions=%d", ext), func(t *testing.T) {
			server, client := pair(t, t.TempDir(), 7, 1024, 1024)
			server.SetExtensions(ext)
			client.SetExtensions(ext)
			done := echo(server)
			roundTrips(t, client, 2000)
			// Slow answers: the server waits past its spinning, so both
			// sides sleep on the futex.
			for i := 0; i < 5; i++ {
				time.Sleep(2 * time.Millisecond)
				roundTrips(t, client, 1)
			}
			server.Close()
			wantKind(t, <-done, netipc.ErrClosed, "")
		})
	}
}

func TestSignalWordFollowsTheNegotiatedMode(t *testing.T) {
	server, client := pair(t, t.TempDir(), 1, 1024, 1024)
	req := client.m.u32(offReqSignal)
	if err := client.Publish([]byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if req.Load() != 1 {
		t.Fatalf("reference mode: the request signal is %d after one publication, want 1", req.Load())
	}
	buf := make([]byte, 64)
	if _, err := server.Receive(buf, soon(), nil); err != nil {
		t.Fatal(err)
	}
	if err := server.Publish([]byte("y"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Receive(buf, soon(), nil); err != nil {
		t.Fatal(err)
	}

	server2, client2 := pair(t, t.TempDir(), 2, 1024, 1024)
	server2.SetExtensions(ExtWakeOnDemand)
	client2.SetExtensions(ExtWakeOnDemand)
	if err := client2.Publish([]byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if v := client2.m.u32(offReqSignal).Load(); v != 0 {
		t.Fatalf("wake on demand: nobody sleeps, yet the signal word is %d", v)
	}
	// A consumer that is about to sleep announces it; the publisher
	// clears the announcement when it wakes it.
	got := make(chan error, 1)
	go func() {
		_, err := client2.Receive(buf, soon(), nil)
		got <- err
	}()
	sig := server2.m.u32(offRespSignal)
	for deadline := time.Now().Add(5 * time.Second); sig.Load() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the sleeping client never announced itself")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := server2.Receive(make([]byte, 64), soon(), nil); err != nil {
		t.Fatal(err)
	}
	if err := server2.Publish([]byte("y"), nil); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if sig.Load() != 0 {
		t.Fatalf("the publisher left the announcement at %d", sig.Load())
	}
}

func TestPublishChecks(t *testing.T) {
	server, client := pair(t, t.TempDir(), 1, 100, 100)
	wantKind(t, client.Publish(nil, nil), netipc.ErrLimitExceeded, "")
	wantKind(t, client.Publish(make([]byte, 32), make([]byte, client.SendCapacity()-31)), netipc.ErrLimitExceeded, "reconnect with larger limits")
	if client.m.u64(offReqSeq).Load() != 0 {
		t.Fatal("a refused message was published")
	}
	wantKind(t, server.Publish([]byte("unasked"), nil), netipc.ErrInvalidArgument, "no request to answer")
	if err := client.Publish(make([]byte, 32), make([]byte, client.SendCapacity()-32)); err != nil {
		t.Fatalf("a message that fills the area: %v", err)
	}
	wantKind(t, client.Publish([]byte("second"), nil), netipc.ErrBusy, "already in flight")
}

func TestLyingPeersGetProtocolErrors(t *testing.T) {
	buf := make([]byte, 4096)
	cases := []struct {
		name string
		lie  func(server *Region)
		want string
	}{
		{"length beyond the area", func(s *Region) {
			s.m.u32(offRespLen).Store(uint32(s.tx.capacity + 1))
			s.m.u64(offRespSeq).Add(1)
		}, "at most"},
		{"huge length", func(s *Region) {
			s.m.u32(offRespLen).Store(0xffff_ffff)
			s.m.u64(offRespSeq).Add(1)
		}, "at most"},
		{"empty message", func(s *Region) {
			s.m.u64(offRespSeq).Add(1)
		}, "empty message"},
		{"sequence jump", func(s *Region) {
			s.m.u32(offRespLen).Store(40)
			s.m.u64(offRespSeq).Add(5)
		}, "jumped to 5"},
		{"sequence wraps", func(s *Region) {
			s.m.u32(offRespLen).Store(40)
			s.m.u64(offRespSeq).Store(^uint64(0))
		}, "jumped to"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			server, client := pair(t, t.TempDir(), uint64(i+1), 1024, 1024)
			c.lie(server)
			_, err := client.Receive(buf, soon(), nil)
			wantKind(t, err, netipc.ErrProtocol, c.want)
		})
	}
	// A length beyond the receive buffer, within the area.
	server, client := pair(t, t.TempDir(), 99, 1024, 1024)
	server.m.u32(offRespLen).Store(200)
	server.m.u64(offRespSeq).Add(1)
	_, err := client.Receive(buf[:100], soon(), nil)
	wantKind(t, err, netipc.ErrProtocol, "at most 100 bytes")
}

func TestReceiveDeadlineLeavesTheMessageUnconsumed(t *testing.T) {
	server, client := pair(t, t.TempDir(), 1, 1024, 1024)
	buf := make([]byte, 1024)
	start := time.Now()
	_, err := server.Receive(buf, time.Now().Add(120*time.Millisecond), nil)
	wantKind(t, err, netipc.ErrTimeout, "")
	if el := time.Since(start); el < 100*time.Millisecond || el > 5*time.Second {
		t.Fatalf("the timeout took %v", el)
	}
	if err := client.Publish([]byte("late"), nil); err != nil {
		t.Fatal(err)
	}
	n, err := server.Receive(buf, soon(), nil)
	if err != nil || string(buf[:n]) != "late" {
		t.Fatalf("after a timeout: %q %v", buf[:n], err)
	}
	// A deadline in the past still takes a message that is there.
	if err := server.Publish([]byte("now"), nil); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Receive(buf, time.Now().Add(-time.Second), nil); err != nil || n != 3 {
		t.Fatalf("a message already there: %d %v", n, err)
	}
}

// blocked runs a Receive on r in a goroutine and returns its result.
func blocked(r *Region, alive func() bool) chan error {
	got := make(chan error, 1)
	go func() {
		_, err := r.Receive(make([]byte, r.RecvCapacity()), time.Now().Add(20*time.Second), alive)
		got <- err
	}()
	return got
}

func waitErr(t *testing.T, got chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-got:
		return err
	case <-time.After(within):
		t.Fatalf("the blocked Receive did not return within %v", within)
		return nil
	}
}

func watchModes(t *testing.T, run func(t *testing.T, setup func(*Region))) {
	t.Run("futex", func(t *testing.T) { run(t, func(*Region) {}) })
	t.Run("watched", func(t *testing.T) {
		w := NewWatcher()
		t.Cleanup(w.Close)
		run(t, func(r *Region) { r.SetWatcher(w, nil) })
	})
	t.Run("watched-without-waitv", func(t *testing.T) {
		w := NewWatcher()
		w.noWaitv = true
		t.Cleanup(w.Close)
		run(t, func(r *Region) { r.SetWatcher(w, nil) })
	})
}

// TestInterruptAndCloseWakeAWaiterPromptly: a watched wait here has no
// time slice at all (no deadline, no liveness poll), so it returns only
// if Interrupt or Close wake it; the bounds are generous (a loaded
// machine), not performance figures.
func TestInterruptAndCloseWakeAWaiterPromptly(t *testing.T) {
	watchModes(t, func(t *testing.T, setup func(*Region)) {
		for _, ext := range []uint32{0, ExtWakeOnDemand} {
			server, client := pair(t, t.TempDir(), 1, 1024, 1024)
			server.SetExtensions(ext)
			client.SetExtensions(ext)
			setup(server)
			got := blocked(server, nil)
			time.Sleep(20 * time.Millisecond)
			start := time.Now()
			server.Interrupt()
			wantKind(t, waitErr(t, got, 2*time.Second), netipc.ErrAborted, "")
			if el := time.Since(start); el > time.Second {
				t.Errorf("Interrupt took %v to end the wait", el)
			}
			// Sticky until cleared.
			wantKind(t, waitErr(t, blocked(server, nil), time.Second), netipc.ErrAborted, "")
			server.ClearInterrupt()
			if err := client.Publish([]byte("after"), nil); err != nil {
				t.Fatal(err)
			}
			if err := waitErr(t, blocked(server, nil), 5*time.Second); err != nil {
				t.Fatalf("after ClearInterrupt: %v", err)
			}
			// Close from another goroutine.
			got = blocked(client, nil)
			time.Sleep(20 * time.Millisecond)
			start = time.Now()
			client.Close()
			wantKind(t, waitErr(t, got, 2*time.Second), netipc.ErrClosed, "")
			if el := time.Since(start); el > time.Second {
				t.Errorf("Close took %v to end the wait", el)
			}
			wantKind(t, client.Publish([]byte("x"), nil), netipc.ErrClosed, "")
			_, err := client.Receive(make([]byte, 64), soon(), nil)
			wantKind(t, err, netipc.ErrClosed, "")
		}
	})
}

func TestAliveAndGoneEndAWait(t *testing.T) {
	watchModes(t, func(t *testing.T, setup func(*Region)) {
		server, _ := pair(t, t.TempDir(), 1, 1024, 1024)
		setup(server)
		var mu sync.Mutex
		up := true
		alive := func() bool { mu.Lock(); defer mu.Unlock(); return up }
		got := blocked(server, alive)
		time.Sleep(60 * time.Millisecond)
		mu.Lock()
		up = false
		mu.Unlock()
		wantKind(t, waitErr(t, got, 2*time.Second), netipc.ErrDisconnected, "")
	})
	w := NewWatcher()
	defer w.Close()
	server, _ := pair(t, t.TempDir(), 2, 1024, 1024)
	gone := make(chan struct{})
	server.SetWatcher(w, gone)
	got := blocked(server, func() bool { return true })
	time.Sleep(20 * time.Millisecond)
	close(gone)
	wantKind(t, waitErr(t, got, 2*time.Second), netipc.ErrDisconnected, "")
}

func TestServerCloseRemovesTheFileClientCloseDoesNot(t *testing.T) {
	dir := t.TempDir()
	server, client := pair(t, dir, 1, 1024, 1024)
	path := filepath.Join(dir, regionName(1))
	client.Close()
	client.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("client detach removed the region: %v", err)
	}
	server.Close()
	server.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("server destroy left the region: %v", err)
	}
	// A server does not remove a file that replaced its own.
	server, err := Create(dir, regionName(2), 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	p2 := filepath.Join(dir, regionName(2))
	os.Remove(p2)
	os.WriteFile(p2, []byte("someone else's"), 0o600)
	server.Close()
	if _, err := os.Stat(p2); err != nil {
		t.Fatalf("server close removed a file it did not create: %v", err)
	}
}

func TestAttachRejections(t *testing.T) {
	dir := t.TempDir()
	good := func(id uint64) (*Region, string) {
		s, err := Create(dir, regionName(id), 1024, 1024)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s, filepath.Join(dir, regionName(id))
	}
	patch := func(path string, off int, val []byte) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(val, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	u16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	cases := []struct {
		name      string
		setup     func(id uint64)
		reason    AttachReason
		transient bool
	}{
		{"missing", func(id uint64) {}, AttachOpen, true},
		{"short", func(id uint64) {
			os.WriteFile(filepath.Join(dir, regionName(id)), make([]byte, 63), 0o600)
		}, AttachNotReady, true},
		{"bad magic", func(id uint64) { _, p := good(id); patch(p, 0, u32(0x12345678)) }, AttachBadMagic, true},
		{"bad version", func(id uint64) { _, p := good(id); patch(p, 4, u16(2)) }, AttachBadVersion, false},
		{"bad header_len", func(id uint64) { _, p := good(id); patch(p, 6, u16(32)) }, AttachBadHeader, false},
		{"zero capacity", func(id uint64) { _, p := good(id); patch(p, 20, u32(0)) }, AttachNotReady, true},
		{"zero offset", func(id uint64) { _, p := good(id); patch(p, 24, u32(0)) }, AttachNotReady, true},
		{"misaligned", func(id uint64) { _, p := good(id); patch(p, 20, u32(1000)) }, AttachBadSize, false},
		{"overlap", func(id uint64) { _, p := good(id); patch(p, 24, u32(128)) }, AttachBadSize, false},
		{"overflow", func(id uint64) { _, p := good(id); patch(p, 20, u32(0xffff_ffc0)) }, AttachBadSize, false},
		{"areas past the file", func(id uint64) { _, p := good(id); patch(p, 28, u32(1<<20)) }, AttachBadSize, false},
		{"symbolic link", func(id uint64) {
			_, p := good(id + 1000)
			os.Symlink(p, filepath.Join(dir, regionName(id)))
		}, AttachForeign, false},
		{"directory", func(id uint64) { os.Mkdir(filepath.Join(dir, regionName(id)), 0o700) }, AttachForeign, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := uint64(i + 1)
			c.setup(id)
			r, err := Attach(dir, regionName(id), -1)
			if err == nil {
				r.Close()
				t.Fatal("attached")
			}
			wantKind(t, err, netipc.ErrSHM, regionName(id))
			var ae *AttachError
			if !errors.As(err, &ae) || ae.Reason != c.reason {
				t.Fatalf("reason: %v, want %v", err, c.reason)
			}
			if AttachTransient(err) != c.transient {
				t.Fatalf("transient %v, want %v", AttachTransient(err), c.transient)
			}
		})
	}
	t.Run("another owner", func(t *testing.T) {
		_, p := good(500)
		if os.Geteuid() == 0 {
			// root may hand the file to someone else: then it is foreign.
			if err := os.Chown(p, 12345, 12345); err != nil {
				t.Skip(err)
			}
			_, err := Attach(dir, regionName(500), -1)
			var ae *AttachError
			if !errors.As(err, &ae) || ae.Reason != AttachForeign || !strings.Contains(err.Error(), "uid 12345") {
				t.Fatalf("a file of another user: %v", err)
			}
			return
		}
		// As a plain user: the file is ours, but the provider is said to
		// be another user.
		_, err := Attach(dir, regionName(500), int64(os.Geteuid())+1)
		var ae *AttachError
		if !errors.As(err, &ae) || ae.Reason != AttachForeign {
			t.Fatalf("a provider of another uid: %v", err)
		}
	})
}

func TestAttachMapsOnlyTheAreas(t *testing.T) {
	dir := t.TempDir()
	server, err := Create(dir, regionName(1), 1024, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	// Another process inflates the file: the client maps what the header
	// says the areas span.
	if err := os.Truncate(filepath.Join(dir, regionName(1)), 1<<30); err != nil {
		t.Fatal(err)
	}
	client, err := Attach(dir, regionName(1), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if len(client.m.mem) != 64+1088+1088 {
		t.Fatalf("mapped %d bytes", len(client.m.mem))
	}
}

func TestAttachTakesTheCurrentSequencesAsBaselines(t *testing.T) {
	dir := t.TempDir()
	server, client := pair(t, dir, 1, 1024, 1024)
	done := echo(server)
	roundTrips(t, client, 3)
	client.Close()
	again, err := Attach(dir, regionName(1), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.txSeq != 3 || again.rxSeq.Load() != 3 {
		t.Fatalf("baselines %d/%d, want 3/3", again.txSeq, again.rxSeq.Load())
	}
	roundTrips(t, again, 3)
	server.Close()
	<-done
}

func TestGoroutinesDoNotLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	w := NewWatcher()
	dir := t.TempDir()
	for i := 0; i < 3; i++ {
		server, client := pair(t, dir, uint64(i+1), 1024, 1024)
		server.SetWatcher(w, nil)
		done := echo(server)
		time.Sleep(5 * time.Millisecond)
		roundTrips(t, client, 10)
		server.Close()
		<-done
		client.Close()
	}
	w.Close()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
