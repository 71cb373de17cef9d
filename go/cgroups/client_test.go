package cgroups

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/service/server/servertest"
	"github.com/netdata/netipc/go/internal/testsvc"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// testDeadline bounds every blocking step of a test.
const testDeadline = 10 * time.Second

// testRunDir returns a fresh run directory (mode 0700).
var testRunDir = testsvc.RunDir

// serve runs a snapshot server of h at dir/service until the test ends
// (or stop is called).
func serve(t testing.TB, dir, service string, cfg ServerConfig, h Handler) (stop func()) {
	t.Helper()
	s := NewServer(dir, service, cfg, h)
	servertest.Serve(t, s)
	return s.Stop
}

func itemName(i int) string { return fmt.Sprintf("docker-%06d", i) }
func itemPath(i int) string {
	return fmt.Sprintf("/sys/fs/cgroup/system.slice/docker-%016x.scope", uint64(i)*0x9e3779b9)
}

// items returns a handler of n items of generation gen (allocating
// nothing per request).
func items(n int, gen uint64) Handler {
	names, paths := make([]string, n), make([]string, n)
	for i := range names {
		names[i], paths[i] = itemName(i), itemPath(i)
	}
	return Handler{Handle: func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) error {
		b.SetGeneration(gen)
		b.SetSystemdEnabled(1)
		for i, name := range names {
			if err := b.Add(protocol.NetdataHash([]byte(name)), uint32(i%3), 1, name, paths[i]); err != nil {
				return err
			}
		}
		return nil
	}}
}

func checkSnapshot(t testing.TB, v *protocol.CgroupsResponseView, n int, gen uint64) {
	t.Helper()
	if v.Len() != n || v.Generation() != gen || v.SystemdEnabled() != 1 {
		t.Fatalf("snapshot of %d items, generation %d; want %d, %d", v.Len(), v.Generation(), n, gen)
	}
	for i := 0; i < n; i++ {
		item, err := v.Item(i)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if string(item.Name) != itemName(i) || string(item.Path) != itemPath(i) || item.Options != uint32(i%3) ||
			item.Enabled != 1 || item.Hash != protocol.NetdataHash(item.Name) {
			t.Fatalf("item %d: %+v", i, item)
		}
	}
}

func wantKind(t testing.TB, err error, kind netipc.Kind) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want kind %q", err, kind)
	}
}

var profileSets = map[string]protocol.Profile{
	"baseline": protocol.ProfileBaseline,
	"shm":      protocol.ProfileBaseline | protocol.ProfileSHMHybrid,
}

func TestSnapshotCalls(t *testing.T) {
	for name, profiles := range profileSets {
		t.Run(name, func(t *testing.T) {
			dir := testRunDir(t)
			c := NewClient(dir, "snap", ClientConfig{SupportedProfiles: profiles})
			defer c.Close()
			// No provider yet.
			if c.Refresh() {
				t.Fatal("ready without a provider")
			}
			if c.Status().State != StateNotFound || !errors.Is(c.LastError(), netipc.ErrNotFound) {
				t.Fatalf("status %+v, last error %v", c.Status(), c.LastError())
			}
			_, err := c.CallSnapshot(context.Background())
			wantKind(t, err, netipc.ErrNotReady)
			wantKind(t, err, netipc.ErrNotFound)
			if _, ok := c.SessionInfo(); ok {
				t.Fatal("session info without a provider")
			}

			serve(t, dir, "snap", ServerConfig{SupportedProfiles: profiles}, items(3, 42))
			for i := 0; i < 3; i++ {
				v, err := c.CallSnapshot(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				checkSnapshot(t, v, 3, 42)
			}
			if st := c.Status(); st != (ClientStatus{State: StateReady, ConnectCount: 1, CallCount: 3, ErrorCount: 1}) {
				t.Fatalf("status %+v", st)
			}
			if !c.Ready() || c.LastError() != nil {
				t.Fatal("not ready")
			}
			want := SessionInfo{Profile: protocol.ProfileBaseline, MaxRequestPayloadBytes: netipc.PayloadStart,
				MaxRequestBatchItems: 1, MaxResponsePayloadBytes: netipc.DefaultServerResponseStart}
			if profiles&protocol.ProfileSHMHybrid != 0 {
				want.Profile, want.SharedMemory = protocol.ProfileSHMHybrid, true
			}
			if info, ok := c.SessionInfo(); !ok || info != want {
				t.Fatalf("session info %+v %v, want %+v", info, ok, want)
			}
			c.Close()
			if info, ok := c.SessionInfo(); ok {
				t.Fatalf("session info %+v after Close", info)
			}
		})
	}
}

// A snapshot of several hundred KB travels in many packets (and grows the
// provider's response size from its 64 KiB start).
func TestLargeSnapshot(t *testing.T) {
	for name, profiles := range profileSets {
		t.Run(name, func(t *testing.T) {
			dir := testRunDir(t)
			serve(t, dir, "snap", ServerConfig{SupportedProfiles: profiles}, items(5000, 7))
			c := NewClient(dir, "snap", ClientConfig{SupportedProfiles: profiles})
			defer c.Close()
			for round := 0; round < 2; round++ {
				v, err := c.CallSnapshot(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if len(v.Bytes()) < 300<<10 {
					t.Fatalf("a %d-byte snapshot", len(v.Bytes()))
				}
				checkSnapshot(t, v, 5000, 7)
			}
		})
	}
}

func TestSnapshotCallAllocatesNothing(t *testing.T) {
	for name, profiles := range profileSets {
		t.Run(name, func(t *testing.T) {
			dir := testRunDir(t)
			serve(t, dir, "snap", ServerConfig{SupportedProfiles: profiles}, items(16, 1))
			c := NewClient(dir, "snap", ClientConfig{SupportedProfiles: profiles})
			defer c.Close()
			ctx := context.Background()
			if _, err := c.CallSnapshot(ctx); err != nil {
				t.Fatal(err)
			}
			var err error
			allocs := testing.AllocsPerRun(200, func() {
				if _, e := c.CallSnapshot(ctx); e != nil {
					err = e
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if allocs != 0 {
				t.Fatalf("%v allocations per call", allocs)
			}
		})
	}
}

// blocking is a handler that waits until it is opened (or the test
// deadline) before answering, and counts its calls.
type blocking struct {
	release chan struct{}
	once    sync.Once
	calls   atomic.Int32
}

func newBlocking(t testing.TB) *blocking {
	b := &blocking{release: make(chan struct{})}
	t.Cleanup(b.open)
	return b
}

// open lets every handler call answer.
func (b *blocking) open() { b.once.Do(func() { close(b.release) }) }

// abortWhenCalled waits until the handler has been called calls times,
// aborts, and checks that the blocked operation (reporting to done) ends
// promptly with ErrAborted.
func abortWhenCalled(t testing.TB, b *blocking, calls int32, abort func(), done <-chan error) {
	t.Helper()
	for b.calls.Load() < calls {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	abort()
	select {
	case err := <-done:
		wantKind(t, err, netipc.ErrAborted)
	case <-time.After(testDeadline):
		t.Fatal("Abort did not end the operation")
	}
	if e := time.Since(start); e > time.Second {
		t.Fatalf("the operation ended %v after Abort", e)
	}
}

func (b *blocking) handler() Handler {
	inner := items(1, 1)
	return Handler{Handle: func(r *protocol.CgroupsRequest, bld *protocol.CgroupsBuilder) error {
		b.calls.Add(1)
		select {
		case <-b.release:
		case <-time.After(testDeadline):
		}
		return inner.Handle(r, bld)
	}}
}

func TestAbortFromAnotherGoroutine(t *testing.T) {
	for name, profiles := range profileSets {
		t.Run(name, func(t *testing.T) {
			dir := testRunDir(t)
			b := newBlocking(t)
			serve(t, dir, "snap", ServerConfig{SupportedProfiles: profiles}, b.handler())
			c := NewClient(dir, "snap", ClientConfig{SupportedProfiles: profiles})
			defer c.Close()
			if err := c.Connect(context.Background()); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := c.CallSnapshot(context.Background())
				done <- err
			}()
			abortWhenCalled(t, b, 1, c.Abort, done)
			if c.Status().State != StateBroken || b.calls.Load() != 1 {
				t.Fatalf("status %+v, %d handler calls", c.Status(), b.calls.Load())
			}
			// Sticky until ClearAbort.
			_, err := c.CallSnapshot(context.Background())
			wantKind(t, err, netipc.ErrAborted)
			c.ClearAbort()
			b.open()
			if _, err := c.CallSnapshot(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTimeoutsAndCancellation(t *testing.T) {
	dir := testRunDir(t)
	b := newBlocking(t)
	serve(t, dir, "snap", ServerConfig{}, b.handler())
	c := NewClient(dir, "snap", ClientConfig{CallTimeout: 100 * time.Millisecond})
	defer c.Close()

	start := time.Now()
	_, err := c.CallSnapshot(context.Background())
	wantKind(t, err, netipc.ErrTimeout)
	if e := time.Since(start); e < 100*time.Millisecond || e > testDeadline {
		t.Fatalf("timed out after %v", e)
	}
	if c.Status().State != StateBroken || b.calls.Load() != 1 {
		t.Fatalf("status %+v, %d handler calls: a timeout is not retried", c.Status(), b.calls.Load())
	}

	// A context deadline shortens the call timeout.
	c.SetCallTimeout(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.CallSnapshot(ctx)
	wantKind(t, err, netipc.ErrTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}

	// Cancelling the context aborts the call.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.CallSnapshot(ctx)
	wantKind(t, err, netipc.ErrAborted)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
}

func TestAnErrorStatusIsNotSentAgain(t *testing.T) {
	dir := testRunDir(t)
	var calls atomic.Int32
	serve(t, dir, "snap", ServerConfig{}, Handler{Handle: func(*protocol.CgroupsRequest, *protocol.CgroupsBuilder) error {
		calls.Add(1)
		return errors.New("no data yet")
	}})
	c := NewClient(dir, "snap", ClientConfig{})
	defer c.Close()
	_, err := c.CallSnapshot(context.Background())
	wantKind(t, err, netipc.ErrRejected)
	var e *netipc.Error
	if !errors.As(err, &e) || e.Status != protocol.StatusInternalError {
		t.Fatalf("error %#v", err)
	}
	if calls.Load() != 1 || !c.Ready() {
		t.Fatalf("%d handler calls, status %+v", calls.Load(), c.Status())
	}
}

func TestTheProviderRestarts(t *testing.T) {
	dir := testRunDir(t)
	stop := serve(t, dir, "snap", ServerConfig{}, items(2, 1))
	c := NewClient(dir, "snap", ClientConfig{})
	defer c.Close()
	v, err := c.CallSnapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, v, 2, 1)
	stop()
	serve(t, dir, "snap", ServerConfig{}, items(3, 2))
	v, err = c.CallSnapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, v, 3, 2)
	if st := c.Status(); st.ReconnectCount != 1 || st.ErrorCount != 0 || st.CallCount != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestStickyStates(t *testing.T) {
	dir := testRunDir(t)
	serve(t, dir, "snap", ServerConfig{AuthToken: 1}, items(1, 1))
	c := NewClient(dir, "snap", ClientConfig{AuthToken: 2})
	defer c.Close()
	err := c.Connect(context.Background())
	wantKind(t, err, netipc.ErrNotReady)
	wantKind(t, err, netipc.ErrAuthFailed)
	if c.Status().State != StateAuthFailed {
		t.Fatalf("status %+v", c.Status())
	}
	// No further attempt until Close.
	if c.Refresh() {
		t.Fatal("ready")
	}
	c.Close()
	if c.Status().State != StateDisconnected || c.LastError() != nil {
		t.Fatalf("status %+v", c.Status())
	}
}

// openHandles counts this process's open descriptors (Linux) or handles
// (Windows) by kind, leaving out what Go's runtime opens for the OS
// threads it starts (sys.OpenHandles): their number depends on the load,
// not on netipc. (Under Wine, /proc/self/fd would list Wine's own
// descriptors, three more for each thread the runtime starts.)
func openHandles(t *testing.T) map[string]int {
	t.Helper()
	counts, err := sys.OpenHandles()
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// moreHandles names the kinds of which now counts more than before (""
// when none).
func moreHandles(before, now map[string]int) string {
	var more []string
	for kind, n := range now {
		if n > before[kind] {
			more = append(more, fmt.Sprintf("%d %s (%d before)", n, kind, before[kind]))
		}
	}
	slices.Sort(more)
	return strings.Join(more, ", ")
}

// Clients, caches and their calls leave no goroutine or descriptor behind
// once closed (reconnections and cancellable contexts included).
func TestNoLeaks(t *testing.T) {
	dir := testRunDir(t)
	handles, goroutines := openHandles(t), runtime.NumGoroutine()
	stop := serve(t, dir, "snap", ServerConfig{}, items(3, 1))
	c := NewClient(dir, "snap", ClientConfig{})
	cache := NewCache(dir, "snap", ClientConfig{})
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		if _, err := c.CallSnapshot(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cache.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if i%10 == 9 {
			c.Abort()
			c.ClearAbort()
			c.Close() // the next call connects again
			cache.Close()
		}
	}
	c.Close()
	cache.Close()
	stop()
	deadline := time.Now().Add(testDeadline)
	for {
		more := moreHandles(handles, openHandles(t))
		if runtime.NumGoroutine() <= goroutines && more == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines (%d before); open: %s", runtime.NumGoroutine(), goroutines, more)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
