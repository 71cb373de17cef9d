package winshm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// The child process of TestAcrossProcesses: a client that attaches the
// region named in the environment and runs round trips.
const childEnv = "NETIPC_WINSHM_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		if err := runChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var nameSeq atomic.Uint64

// testNames are object names no other test or process uses.
func testNames(profile protocol.Profile) Names {
	prefix := fmt.Sprintf(`Local\netipc-wshmtest-%d-%d-p%d`, os.Getpid(), nameSeq.Add(1), profile)
	n := Names{Mapping: prefix + "-mapping"}
	if profile == protocol.ProfileSHMHybrid {
		n.ReqEvent, n.RespEvent = prefix+"-req_event", prefix+"-resp_event"
	}
	return n
}

func createAttach(t *testing.T, profile protocol.Profile, maxReq, maxResp uint32) (Names, *Region, *Region) {
	t.Helper()
	names := testNames(profile)
	server, err := Create(names, profile, maxReq, maxResp)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	client, err := Attach(names, profile)
	if err != nil {
		server.Close()
		t.Fatalf("Attach: %v", err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return names, server, client
}

func TestCreateAndAttachRealObjects(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			_, server, client := createAttach(t, profile, 1000, 5000)
			want := make([]byte, HeaderLen)
			Format(want, Layout{Profile: profile, ReqOffset: 128, ReqCapacity: 1088, RespOffset: 1216, RespCapacity: 5056, SpinTries: 1024})
			if !bytes.Equal(client.mem[:HeaderLen], want) {
				t.Fatalf("header\n got % x\nwant % x", client.mem[:HeaderLen], want)
			}
			if len(client.mem) < 128+1088+5056 || client.spinTries != 1024 {
				t.Fatalf("view %d bytes, spin %d", len(client.mem), client.spinTries)
			}
			if (server.wait != nil) != (profile == protocol.ProfileSHMHybrid) || (client.wait != nil) != (profile == protocol.ProfileSHMHybrid) {
				t.Fatal("events where the profile has none, or none where it has them")
			}
			head := make([]byte, 32)
			if err := client.Publish(head, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 8192)
			if n, err := server.Receive(buf, soon(), nil); err != nil || string(buf[32:n]) != "ping" {
				t.Fatalf("server Receive: %q %v", buf[:n], err)
			}
			if err := server.Publish(head, []byte("pong")); err != nil {
				t.Fatal(err)
			}
			if n, err := client.Receive(buf, soon(), nil); err != nil || string(buf[32:n]) != "pong" {
				t.Fatalf("client Receive: %q %v", buf[:n], err)
			}
		})
	}
}

func TestCreateRefusesExistingObjects(t *testing.T) {
	names, _, _ := createAttach(t, protocol.ProfileSHMHybrid, 100, 100)
	_, err := Create(names, protocol.ProfileSHMHybrid, 100, 100)
	wantKind(t, err, netipc.ErrAddressInUse, names.Mapping)

	// An event of the name exists already: refused, and the mapping
	// made meanwhile is gone again.
	names = testNames(protocol.ProfileSHMHybrid)
	ev, err := sys.CreateWinEvent(names.RespEvent)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Create(names, protocol.ProfileSHMHybrid, 100, 100)
	wantKind(t, err, netipc.ErrAddressInUse, names.RespEvent)
	ev.Close()
	r, err := Create(names, protocol.ProfileSHMHybrid, 100, 100)
	if err != nil {
		t.Fatalf("Create after the conflict went: %v", err)
	}
	r.Close()
	_, err = Attach(names, protocol.ProfileSHMHybrid)
	wantKind(t, err, netipc.ErrSHM, "cannot open the region")
	if !shm.AttachTransient(err) {
		t.Fatal("a missing mapping is not transient")
	}
}

func TestAttachChecks(t *testing.T) {
	names, server, _ := createAttach(t, protocol.ProfileSHMHybrid, 100, 100)
	_, err := Attach(names, protocol.ProfileSHMAlt)
	var ae *shm.AttachError
	if !errors.As(err, &ae) || ae.Reason != shm.AttachBadProfile || shm.AttachTransient(err) {
		t.Fatalf("attach with another profile: %v", err)
	}
	_, err = Attach(names, protocol.ProfileBaseline)
	wantKind(t, err, netipc.ErrInvalidArgument, "no Windows shared-memory objects")
	binary.NativeEndian.PutUint32(server.mem[offVersion:], 4)
	_, err = Attach(names, protocol.ProfileSHMHybrid)
	if !errors.As(err, &ae) || ae.Reason != shm.AttachBadVersion {
		t.Fatalf("attach a version 4 region: %v", err)
	}
	binary.NativeEndian.PutUint32(server.mem[offVersion:], Version)
	binary.NativeEndian.PutUint32(server.mem[offMagic:], 0)
	_, err = Attach(names, protocol.ProfileSHMHybrid)
	if !errors.As(err, &ae) || ae.Reason != shm.AttachBadMagic || !shm.AttachTransient(err) {
		t.Fatalf("attach a region without magic: %v", err)
	}
	// The events are opened after the header is checked.
	binary.NativeEndian.PutUint32(server.mem[offMagic:], Magic)
	noEvents := names
	noEvents.ReqEvent += "-missing"
	_, err = Attach(noEvents, protocol.ProfileSHMHybrid)
	if !errors.As(err, &ae) || ae.Reason != shm.AttachOpen || ae.Detail != "an event" {
		t.Fatalf("attach without events: %v", err)
	}
}

// TestRealEventsWake: the kernel events wake a sleeping receiver on a
// publication and on the peer's close.
func TestRealEventsWake(t *testing.T) {
	_, server, client := createAttach(t, protocol.ProfileSHMHybrid, 100, 100)
	buf := make([]byte, 256)
	got := make(chan error, 1)
	go func() {
		_, err := server.Receive(buf, time.Now().Add(time.Minute), nil)
		got <- err
	}()
	for i32At(client.mem, offReqServerWait).Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := client.Publish(make([]byte, 32), nil); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := client.Receive(buf, time.Now().Add(time.Minute), nil)
		got <- err
	}()
	for i32At(client.mem, offRespClientWait).Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	server.Close()
	select {
	case err := <-got:
		wantKind(t, err, netipc.ErrDisconnected, "")
	case <-time.After(5 * time.Second):
		t.Fatal("the server's close did not wake the client")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the wake-up took %v", d)
	}
}

func TestRealEventsNoAllocations(t *testing.T) {
	for _, profile := range profiles {
		_, server, client := createAttach(t, profile, 100, 100)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for {
				n, err := server.Receive(buf, time.Time{}, nil)
				if err != nil {
					return
				}
				select {
				case <-stop:
					return
				default:
				}
				if server.Publish(buf[:n], nil) != nil {
					return
				}
			}
		}()
		head, buf := make([]byte, 32), make([]byte, 256)
		i := 0
		allocs := testing.AllocsPerRun(200, func() {
			if i++; i%20 == 0 {
				// Let the server fall asleep on its event.
				time.Sleep(time.Millisecond)
			}
			if client.Publish(head, nil) != nil {
				panic("publish")
			}
			if _, err := client.Receive(buf, time.Time{}, nil); err != nil {
				panic(err)
			}
		})
		close(stop)
		server.Interrupt()
		wg.Wait()
		if allocs != 0 {
			t.Fatalf("%s: %v allocations per round trip", profile, allocs)
		}
	}
}

// TestWatcherServesManyIdleSessions: more sessions than one group holds
// wait through one watcher; every request is answered, the closes are
// seen, and the group goroutines leave when nothing waits.
func TestWatcherServesManyIdleSessions(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			before := runtime.NumGoroutine()
			w := NewWatcher()
			defer w.Close()
			const sessions = groupCapacity + 7
			clients := make([]*Region, sessions)
			var wg sync.WaitGroup
			errs := make(chan error, sessions)
			for i := range clients {
				_, server, client := createAttach(t, profile, 100, 100)
				clients[i] = client
				gone := make(chan struct{})
				server.SetWatcher(w, gone)
				if server.watcher == nil {
					t.Fatal("a real region is not watched")
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 256)
					for {
						n, err := server.Receive(buf, time.Now().Add(time.Minute), nil)
						if err != nil {
							if !errors.Is(err, netipc.ErrDisconnected) {
								errs <- err
							}
							return
						}
						if err := server.Publish(buf[:n], []byte("!")); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			// Everyone idle: the groups hold them.
			deadline := time.Now().Add(10 * time.Second)
			for watched(w) < sessions {
				if time.Now().After(deadline) {
					t.Fatalf("%d sessions watched, want %d", watched(w), sessions)
				}
				time.Sleep(5 * time.Millisecond)
			}
			buf := make([]byte, 256)
			for round := 0; round < 3; round++ {
				for i, c := range clients {
					head := make([]byte, 32)
					binary.LittleEndian.PutUint32(head, uint32(i))
					if err := c.Publish(head, nil); err != nil {
						t.Fatal(err)
					}
					n, err := c.Receive(buf, time.Now().Add(10*time.Second), nil)
					if err != nil || n != 33 || binary.LittleEndian.Uint32(buf) != uint32(i) {
						t.Fatalf("session %d: %d bytes, %v", i, n, err)
					}
				}
				time.Sleep(30 * time.Millisecond)
			}
			for _, c := range clients {
				c.Close()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for runtime.NumGoroutine() > before {
				if time.Now().After(deadline) {
					t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// watched counts the regions w's groups hold.
func watched(w *Watcher) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, g := range w.groups {
		g.mu.Lock()
		n += len(g.members)
		g.mu.Unlock()
	}
	return n
}

func TestWatchedWaitsEnd(t *testing.T) {
	w := NewWatcher()
	defer w.Close()
	buf := make([]byte, 256)
	end := func(server *Region, what string, want error, do func()) {
		t.Helper()
		got := make(chan error, 1)
		go func() {
			_, err := server.Receive(buf, time.Now().Add(time.Minute), nil)
			got <- err
		}()
		for watched(w) == 0 {
			time.Sleep(time.Millisecond)
		}
		do()
		select {
		case err := <-got:
			if err != want {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not end the wait", what)
		}
		// (A closed region's view is gone.)
		if !server.closed.Load() && i32At(server.mem, offReqServerWait).Load() != 0 {
			t.Fatalf("%s: the waiting flag stayed up", what)
		}
	}
	for _, profile := range profiles {
		_, server, _ := createAttach(t, profile, 100, 100)
		gone := make(chan struct{})
		server.SetWatcher(w, gone)
		start := time.Now()
		if _, err := server.Receive(buf, start.Add(30*time.Millisecond), nil); err != shm.ErrTimeout {
			t.Fatalf("deadline: %v", err)
		}
		end(server, "Interrupt", shm.ErrAborted, server.Interrupt)
		server.ClearInterrupt()
		end(server, "Close", shm.ErrClosed, func() { server.Close() })

		_, server, _ = createAttach(t, profile, 100, 100)
		server.SetWatcher(w, gone)
		end(server, "hang-up", shm.ErrDisconnected, func() { close(gone) })
	}
}

// TestWatcherCloseHandsWaitsBack: a closed watcher lets its waiting
// regions go on waiting alone, and takes no new ones.
func TestWatcherCloseHandsWaitsBack(t *testing.T) {
	w := NewWatcher()
	_, server, client := createAttach(t, protocol.ProfileSHMHybrid, 100, 100)
	server.SetWatcher(w, nil)
	got := make(chan error, 1)
	go func() {
		_, err := server.Receive(make([]byte, 256), time.Now().Add(time.Minute), nil)
		got <- err
	}()
	for watched(w) == 0 {
		time.Sleep(time.Millisecond)
	}
	w.Close()
	time.Sleep(20 * time.Millisecond)
	if err := client.Publish(make([]byte, 32), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("the request after the watcher closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait did not go on alone")
	}
	if w.add(&server.member, 1) {
		t.Fatal("a closed watcher took a region")
	}
}

// TestWatcherCloseRacesALeavingGroup: a group whose goroutine finds it
// empty while the watcher closes leaves its event to Close, which closes
// it once its goroutine is done (closing it twice could close another
// object's handle, and Close signals it before).
func TestWatcherCloseRacesALeavingGroup(t *testing.T) {
	w := NewWatcher()
	ev, err := sys.CreateWinEvent("")
	if err != nil {
		t.Fatal(err)
	}
	g := &group{w: w, event: ev}
	w.groups = append(w.groups, g)
	// The group's goroutine, found empty as Close takes the list.
	w.running.Add(1)
	afterLeave := make(chan uint32, 1)
	go func() {
		defer w.running.Done()
		for {
			w.mu.Lock()
			closed := w.closed
			w.mu.Unlock()
			if closed {
				break
			}
			time.Sleep(time.Millisecond)
		}
		g.leave()
		r, _ := syscall.WaitForSingleObject(syscall.Handle(ev.Handle()), 0)
		afterLeave <- r
	}()
	w.Close()
	if r := <-afterLeave; r == syscall.WAIT_FAILED {
		t.Fatal("the leaving group closed its event under Close")
	}
	if len(w.free) != 0 {
		t.Fatal("a group left to a closed watcher's free list")
	}
}

func TestAcrossProcesses(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			names := testNames(profile)
			server, err := Create(names, profile, 4096, 4096)
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			const rounds = 500
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(int(profile))+"|"+strconv.Itoa(rounds)+"|"+names.Mapping+"|"+names.ReqEvent+"|"+names.RespEvent)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, server.RecvCapacity())
			for i := 0; i < rounds; i++ {
				n, err := server.Receive(buf, time.Now().Add(30*time.Second), nil)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if err := server.Publish(buf[:n], []byte("-answer")); err != nil {
					t.Fatal(err)
				}
			}
			// The child closes its side: disconnected.
			_, err = server.Receive(buf, time.Now().Add(30*time.Second), nil)
			wantKind(t, err, netipc.ErrDisconnected, "")
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child: %v", err)
			}
		})
	}
}

func runChild(spec string) error {
	var f [5]string
	for i := range f {
		if i == 4 {
			f[i] = spec
			break
		}
		j := bytes.IndexByte([]byte(spec), '|')
		if j < 0 {
			return fmt.Errorf("bad spec %q", spec)
		}
		f[i], spec = spec[:j], spec[j+1:]
	}
	profile, _ := strconv.Atoi(f[0])
	rounds, _ := strconv.Atoi(f[1])
	c, err := Attach(Names{Mapping: f[2], ReqEvent: f[3], RespEvent: f[4]}, protocol.Profile(profile))
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, c.RecvCapacity())
	for i := 0; i < rounds; i++ {
		head := make([]byte, 32)
		binary.LittleEndian.PutUint64(head, uint64(i))
		if err := c.Publish(head, []byte(strconv.Itoa(i))); err != nil {
			return err
		}
		if i%100 == 50 {
			time.Sleep(5 * time.Millisecond) // let the server sleep
		}
		n, err := c.Receive(buf, time.Now().Add(30*time.Second), nil)
		if err != nil {
			return err
		}
		if want := strconv.Itoa(i) + "-answer"; binary.LittleEndian.Uint64(buf) != uint64(i) || string(buf[32:n]) != want {
			return fmt.Errorf("round %d: got %q", i, buf[32:n])
		}
	}
	return nil
}
