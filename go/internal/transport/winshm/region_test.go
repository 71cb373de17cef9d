package winshm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/protocol"
)

// chanEvent is an auto-reset event for tests on any OS.
type chanEvent struct {
	c    chan struct{}
	sets atomic.Int32
	// onSet, when set, runs in Set before the signal (to look at the
	// region at that moment).
	onSet func()
}

func newChanEvent() *chanEvent { return &chanEvent{c: make(chan struct{}, 1)} }

func (e *chanEvent) Set() {
	if e.onSet != nil {
		e.onSet()
	}
	e.sets.Add(1)
	select {
	case e.c <- struct{}{}:
	default:
	}
}

func (e *chanEvent) Wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-e.c:
		return true
	case <-t.C:
		return false
	}
}

// memPair is a server and a client region on one plain byte slice.
type memPair struct {
	mem            []byte
	req, resp      *chanEvent
	server, client *Region
	released       atomic.Int32
}

func newPair(t *testing.T, profile protocol.Profile, maxReq, maxResp uint32) *memPair {
	t.Helper()
	l, ok := LayoutFor(profile, maxReq, maxResp)
	if !ok {
		t.Fatalf("LayoutFor(%d, %d) failed", maxReq, maxResp)
	}
	p := &memPair{mem: make([]byte, l.Size())}
	Format(p.mem, l)
	o := Objects{Name: "test-mapping", Mem: p.mem, Release: func() { p.released.Add(1) }}
	if profile == protocol.ProfileSHMHybrid {
		p.req, p.resp = newChanEvent(), newChanEvent()
		o.ReqEvent, o.RespEvent = p.req, p.resp
	}
	p.server = New(o, l, true)
	cl, err := Validate(p.mem, profile)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	p.client = New(o, cl, false)
	t.Cleanup(func() { p.client.Close(); p.server.Close() })
	return p
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

var profiles = []protocol.Profile{protocol.ProfileSHMHybrid, protocol.ProfileSHMAlt}

func TestFormatWritesTheReferenceHeader(t *testing.T) {
	l, ok := LayoutFor(protocol.ProfileSHMHybrid, 1000, 5000)
	if !ok {
		t.Fatal("LayoutFor failed")
	}
	rq, rs := uint32(1088), uint32(5056) // align64(32 + max)
	if l.Size() != uint64(128+rq+rs) {
		t.Fatalf("size %d, want %d", l.Size(), 128+rq+rs)
	}
	mem := make([]byte, l.Size())
	Format(mem, l)
	want := make([]byte, HeaderLen)
	copy(want, []byte{0x48, 0x57, 0x53, 0x4e}) // magic 0x4e535748, little-endian
	le := binary.LittleEndian
	for off, v := range map[int]uint32{4: 3, 8: 128, 12: 2, 16: 128, 20: rq, 24: 128 + rq, 28: rs, 32: 1024} {
		le.PutUint32(want[off:], v)
	}
	if !bytes.Equal(mem[:HeaderLen], want) {
		t.Fatalf("header\n got % x\nwant % x", mem[:HeaderLen], want)
	}
	if _, ok := LayoutFor(protocol.ProfileSHMAlt, 0xffff_ffff, 0); ok {
		t.Fatal("a 4 GiB request area was accepted")
	}
	if _, ok := LayoutFor(protocol.ProfileSHMAlt, 0x8000_0000, 0x8000_0000); ok {
		t.Fatal("a section beyond 4 GiB was accepted")
	}
}

func TestValidateRejectsBadHeaders(t *testing.T) {
	l, _ := LayoutFor(protocol.ProfileSHMHybrid, 100, 100)
	le := binary.LittleEndian
	cases := []struct {
		name      string
		off       int
		val       uint32
		short     int
		reason    shm.AttachReason
		transient bool
	}{
		{name: "short view", short: HeaderLen - 1, reason: shm.AttachNotReady, transient: true},
		{name: "magic", off: offMagic, val: 0, reason: shm.AttachBadMagic, transient: true},
		{name: "version", off: offVersion, val: 2, reason: shm.AttachBadVersion},
		{name: "header_len", off: offHeaderLen, val: 64, reason: shm.AttachBadHeader},
		{name: "profile", off: offProfile, val: 4, reason: shm.AttachBadProfile},
		{name: "zero capacity", off: offReqCapacity, val: 0, reason: shm.AttachBadHeader},
		{name: "low offset", off: offReqOffset, val: 64, reason: shm.AttachBadHeader},
		{name: "misaligned", off: offRespCapacity, val: 200, reason: shm.AttachBadHeader},
		{name: "overlap", off: offRespOffset, val: 128, reason: shm.AttachBadHeader},
		{name: "overflow", off: offRespOffset, val: 0xffff_ffc0, reason: shm.AttachBadHeader},
		{name: "beyond the view", off: offRespCapacity, val: 1 << 20, reason: shm.AttachBadSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := make([]byte, l.Size())
			Format(mem, l)
			if c.short != 0 {
				mem = mem[:c.short]
			} else {
				le.PutUint32(mem[c.off:], c.val)
			}
			_, err := Validate(mem, protocol.ProfileSHMHybrid)
			var ae *shm.AttachError
			if !errors.As(err, &ae) || ae.Reason != c.reason {
				t.Fatalf("want reason %d, got %v", c.reason, err)
			}
			if ae.Transient() != c.transient || shm.AttachTransient(err) != c.transient {
				t.Fatalf("transient %v, want %v", ae.Transient(), c.transient)
			}
		})
	}
	mem := make([]byte, l.Size())
	Format(mem, l)
	le.PutUint32(mem[offSpinTries:], 5)
	if got, err := Validate(mem, protocol.ProfileSHMHybrid); err != nil || got.SpinTries != 5 || got != (Layout{Profile: 2, ReqOffset: 128, ReqCapacity: 192, RespOffset: 320, RespCapacity: 192, SpinTries: 5}) {
		t.Fatalf("Validate: %+v, %v", got, err)
	}
	le.PutUint32(mem[offSpinTries:], 0xffff_ffff)
	if got, _ := Validate(mem, protocol.ProfileSHMHybrid); got.SpinTries != maxSpinTries {
		t.Fatalf("spin tries %d, want the cap %d", got.SpinTries, maxSpinTries)
	}
}

// TestPublishOrder checks what a publication leaves in the header, in
// order: the message, the length, the sequence, then the event (only
// while the reader announces that it waits).
func TestPublishOrder(t *testing.T) {
	p := newPair(t, protocol.ProfileSHMHybrid, 100, 100)
	head, body := []byte("0123456789abcdef0123456789abcdef"), []byte("payload")
	var atSet []int64
	p.req.onSet = func() {
		atSet = append(atSet, i64At(p.mem, offReqSeq).Load(), int64(i32At(p.mem, offReqLen).Load()))
	}
	if err := p.client.Publish(head, body); err != nil {
		t.Fatal(err)
	}
	if got := p.mem[HeaderLen : HeaderLen+39]; !bytes.Equal(got, append(append([]byte{}, head...), body...)) {
		t.Fatalf("area %q", got)
	}
	if i32At(p.mem, offReqLen).Load() != 39 || i64At(p.mem, offReqSeq).Load() != 1 || p.req.sets.Load() != 0 {
		t.Fatalf("len %d seq %d sets %d, want 39 1 0 (nobody waits: no event)",
			i32At(p.mem, offReqLen).Load(), i64At(p.mem, offReqSeq).Load(), p.req.sets.Load())
	}
	buf := make([]byte, p.server.RecvCapacity())
	if n, err := p.server.Receive(buf, soon(), nil); err != nil || n != 39 || !bytes.Equal(buf[:n], p.mem[HeaderLen:HeaderLen+39]) {
		t.Fatalf("Receive: %d %v", n, err)
	}
	// The client waits for the response: the server signals.
	i32At(p.mem, offRespClientWait).Store(1)
	if err := p.server.Publish(head, nil); err != nil {
		t.Fatal(err)
	}
	if p.resp.sets.Load() != 1 {
		t.Fatalf("response event set %d times, want 1", p.resp.sets.Load())
	}
	i32At(p.mem, offRespClientWait).Store(0)
	if _, err := p.client.Receive(buf, soon(), nil); err != nil {
		t.Fatal(err)
	}
	i32At(p.mem, offReqServerWait).Store(1)
	if err := p.client.Publish(head, body); err != nil {
		t.Fatal(err)
	}
	if len(atSet) != 2 || atSet[0] != 2 || atSet[1] != 39 {
		t.Fatalf("at SetEvent the sequence and length were %v, want [2 39]", atSet)
	}
}

func TestPublishRefusals(t *testing.T) {
	p := newPair(t, protocol.ProfileSHMAlt, 100, 100)
	head := make([]byte, 32)
	wantKind(t, p.server.Publish(head, nil), netipc.ErrInvalidArgument, "no request to answer")
	wantKind(t, p.client.Publish(nil, nil), netipc.ErrLimitExceeded, "1 byte or more")
	wantKind(t, p.client.Publish(head, make([]byte, 161)), netipc.ErrLimitExceeded, "193 bytes do not fit the 192-byte")
	if err := p.client.Publish(head, make([]byte, 160)); err != nil {
		t.Fatalf("a message that fills the area: %v", err)
	}
	wantKind(t, p.client.Publish(head, nil), netipc.ErrBusy, "already in flight")
	if i64At(p.mem, offReqSeq).Load() != 1 {
		t.Fatal("a refused publication was published")
	}
}

// TestRoundTrips runs requests and responses between two goroutines, in
// both profiles, with every wait (spin, event, busy polling) taken.
func TestRoundTrips(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			p := newPair(t, profile, 256, 256)
			const rounds = 300
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, p.server.RecvCapacity())
				for i := 0; i < rounds; i++ {
					n, err := p.server.Receive(buf, soon(), nil)
					if err != nil {
						done <- err
						return
					}
					if i%50 == 0 {
						time.Sleep(2 * time.Millisecond) // the client sleeps
					}
					if err := p.server.Publish(buf[:n], []byte("!")); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			buf := make([]byte, p.client.RecvCapacity())
			head := make([]byte, 32)
			for i := 0; i < rounds; i++ {
				if i%50 == 25 {
					time.Sleep(2 * time.Millisecond) // the server sleeps
				}
				binary.LittleEndian.PutUint64(head, uint64(i))
				if err := p.client.Publish(head, nil); err != nil {
					t.Fatal(err)
				}
				n, err := p.client.Receive(buf, soon(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if n != 33 || binary.LittleEndian.Uint64(buf) != uint64(i) || buf[32] != '!' {
					t.Fatalf("round %d: got %d bytes % x", i, n, buf[:n])
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if i64At(p.mem, offReqSeq).Load() != rounds || i64At(p.mem, offRespSeq).Load() != rounds {
				t.Fatal("sequences do not count the messages")
			}
			if profile == protocol.ProfileSHMHybrid && p.req.sets.Load()+p.resp.sets.Load() == 0 {
				t.Fatal("no event was ever set, although both sides slept")
			}
			for _, off := range []int{offReqServerWait, offRespClientWait} {
				if i32At(p.mem, off).Load() != 0 {
					t.Fatalf("waiting flag at %d left up", off)
				}
			}
		})
	}
}

func TestOverrunDuringTheCopyIsAProtocolError(t *testing.T) {
	for name, overrun := range map[string]func(mem []byte){
		"sequence": func(mem []byte) { i64At(mem, offReqSeq).Add(1) },
		"length":   func(mem []byte) { i32At(mem, offReqLen).Store(40) },
	} {
		t.Run(name, func(t *testing.T) {
			p := newPair(t, protocol.ProfileSHMAlt, 100, 100)
			if err := p.client.Publish(make([]byte, 32), []byte("x")); err != nil {
				t.Fatal(err)
			}
			testAfterCopy = func() { overrun(p.mem) }
			defer func() { testAfterCopy = nil }()
			_, err := p.server.Receive(make([]byte, 256), soon(), nil)
			wantKind(t, err, netipc.ErrProtocol, "changed the message")
		})
	}
}

// TestBadLengths: the peer's published length is checked, and a bad one
// consumes the message.
func TestBadLengths(t *testing.T) {
	cases := []struct {
		len      int32
		buf      int
		contains string
		consumed bool
	}{
		{len: -1, buf: 256, contains: "negative length"},
		{len: 0, buf: 256, contains: "empty message", consumed: true},
		{len: 193, buf: 256, contains: "at most 192 bytes fit", consumed: true}, // beyond the area
		{len: 100, buf: 64, contains: "at most 64 bytes fit", consumed: true},   // beyond the buffer
	}
	for _, c := range cases {
		p := newPair(t, protocol.ProfileSHMAlt, 100, 100)
		i32At(p.mem, offReqLen).Store(c.len)
		i64At(p.mem, offReqSeq).Store(1)
		_, err := p.server.Receive(make([]byte, c.buf), soon(), nil)
		wantKind(t, err, netipc.ErrProtocol, c.contains)
		if c.len > 64 {
			var tl *shm.TooLargeError
			if !errors.As(err, &tl) || tl.Len != int(c.len) || tl.Room != min(c.buf, 192) {
				t.Fatalf("want a *shm.TooLargeError, got %v", err)
			}
		}
		if consumed := p.server.rxSeq.Load() == 1; consumed != c.consumed {
			t.Fatalf("length %d: consumed %v, want %v", c.len, consumed, c.consumed)
		}
	}
}

// TestCloseFlagDisconnects: a peer that closes its side wakes a waiting
// receiver, which gets the message left, then ErrDisconnected.
func TestCloseFlagDisconnects(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			p := newPair(t, profile, 100, 100)
			buf := make([]byte, 256)
			got := make(chan error, 1)
			go func() {
				_, err := p.server.Receive(buf, time.Now().Add(time.Minute), nil)
				got <- err
			}()
			time.Sleep(20 * time.Millisecond)
			start := time.Now()
			p.client.Close()
			select {
			case err := <-got:
				wantKind(t, err, netipc.ErrDisconnected, "")
			case <-time.After(5 * time.Second):
				t.Fatal("the close flag did not end the wait")
			}
			if d := time.Since(start); profile == protocol.ProfileSHMHybrid && d > time.Second {
				t.Fatalf("disconnect took %v", d)
			}
			if i32At(p.mem, offReqClientClose).Load() != 1 || i32At(p.mem, offRespServerDone).Load() != 0 {
				t.Fatal("the client's close flag is not (only) the request lane's")
			}
			if profile == protocol.ProfileSHMHybrid && p.req.sets.Load() == 0 {
				t.Fatal("the client's close did not signal the request event")
			}
		})
	}
	// A message published before the close is still delivered.
	p := newPair(t, protocol.ProfileSHMHybrid, 100, 100)
	if err := p.client.Publish(make([]byte, 32), []byte("last")); err != nil {
		t.Fatal(err)
	}
	p.client.Close()
	buf := make([]byte, 256)
	if n, err := p.server.Receive(buf, soon(), nil); err != nil || n != 36 {
		t.Fatalf("the last request: %d %v", n, err)
	}
	if err := p.server.Publish(make([]byte, 32), nil); err != nil {
		t.Fatalf("answering a closed client: %v", err)
	}
	_, err := p.server.Receive(buf, soon(), nil)
	wantKind(t, err, netipc.ErrDisconnected, "")
	if p.server.Close(); i32At(p.mem, offRespServerDone).Load() != 1 || p.released.Load() != 2 {
		t.Fatalf("server close: flag %d, released %d times (want 1, once per side)",
			i32At(p.mem, offRespServerDone).Load(), p.released.Load())
	}
}

// TestWaitsEnd: the deadline, Interrupt, Close and the liveness function
// end a wait promptly, in both profiles, with the waiting flag lowered.
func TestWaitsEnd(t *testing.T) {
	for _, profile := range profiles {
		t.Run(profile.String(), func(t *testing.T) {
			p := newPair(t, profile, 100, 100)
			buf := make([]byte, 256)
			start := time.Now()
			_, err := p.server.Receive(buf, start.Add(30*time.Millisecond), nil)
			if err != shm.ErrTimeout || time.Since(start) < 30*time.Millisecond {
				t.Fatalf("deadline: %v after %v", err, time.Since(start))
			}
			if p.server.rxSeq.Load() != 0 {
				t.Fatal("a timeout consumed a message")
			}
			end := func(what string, want error, do func(), alive func() bool) {
				t.Helper()
				got := make(chan error, 1)
				go func() {
					_, err := p.server.Receive(buf, time.Now().Add(time.Minute), alive)
					got <- err
				}()
				if profile == protocol.ProfileSHMHybrid {
					// Wait until the server announces its sleep.
					for i32At(p.mem, offReqServerWait).Load() == 0 {
						time.Sleep(time.Millisecond)
					}
				}
				do()
				select {
				case err := <-got:
					if !errors.Is(err, want) {
						t.Fatalf("%s: %v, want %v", what, err, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s did not end the wait", what)
				}
				if i32At(p.mem, offReqServerWait).Load() != 0 {
					t.Fatalf("%s: the waiting flag stayed up", what)
				}
			}
			end("Interrupt", shm.ErrAborted, p.server.Interrupt, nil)
			p.server.ClearInterrupt()
			var dead atomic.Bool
			end("alive", shm.ErrDisconnected, func() { dead.Store(true) }, func() bool { return !dead.Load() })
			end("Close", shm.ErrClosed, func() { p.server.Close() }, nil)
			if _, err := p.server.Receive(buf, soon(), nil); err != shm.ErrClosed {
				t.Fatalf("Receive after Close: %v", err)
			}
			wantKind(t, p.server.Publish(make([]byte, 32), nil), netipc.ErrClosed, "")
		})
	}
}

// TestBusyWaitTouchesNoEvent: an SHM_BUSYWAIT region has no events, even
// when the peer's waiting flag reads set.
func TestBusyWaitTouchesNoEvent(t *testing.T) {
	p := newPair(t, protocol.ProfileSHMAlt, 100, 100)
	if p.server.signal != nil || p.server.wait != nil || p.client.signal != nil || p.client.wait != nil {
		t.Fatal("a busy-wait region has events")
	}
	i32At(p.mem, offReqServerWait).Store(1) // a confused peer
	if err := p.client.Publish(make([]byte, 32), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := p.server.Receive(make([]byte, 256), soon(), nil); err != nil {
		t.Fatal(err)
	}
}

// TestClientTakesBaselinesAndSpinFromTheHeader: a client attaching a
// region with traffic behind it continues its sequences.
func TestClientTakesBaselinesAndSpinFromTheHeader(t *testing.T) {
	l, _ := LayoutFor(protocol.ProfileSHMAlt, 100, 100)
	l.SpinTries = 7
	mem := make([]byte, l.Size())
	Format(mem, l)
	i64At(mem, offReqSeq).Store(41)
	i64At(mem, offRespSeq).Store(41)
	cl, err := Validate(mem, protocol.ProfileSHMAlt)
	if err != nil {
		t.Fatal(err)
	}
	c := New(Objects{Mem: mem}, cl, false)
	defer c.Close()
	if c.spinTries != 7 || c.txSeq != 41 || c.rxSeq.Load() != 41 {
		t.Fatalf("spin %d, tx %d, rx %d", c.spinTries, c.txSeq, c.rxSeq.Load())
	}
	if err := c.Publish(make([]byte, 32), nil); err != nil || i64At(mem, offReqSeq).Load() != 42 {
		t.Fatalf("publish: %v, seq %d", err, i64At(mem, offReqSeq).Load())
	}
}

func TestReleaseWaitsForTheLastUser(t *testing.T) {
	p := newPair(t, protocol.ProfileSHMHybrid, 100, 100)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.server.Receive(make([]byte, 256), time.Now().Add(time.Minute), nil)
	}()
	for i32At(p.mem, offReqServerWait).Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	p.client.Close()
	p.server.Close()
	wg.Wait()
	if p.released.Load() != 2 {
		t.Fatalf("released %d times, want once per side", p.released.Load())
	}
	p.server.Close()
	if p.released.Load() != 2 {
		t.Fatal("a second Close released again")
	}
}

func TestNoAllocationsPerMessage(t *testing.T) {
	for _, profile := range profiles {
		p := newPair(t, profile, 100, 100)
		head, body := make([]byte, 32), []byte("payload")
		sbuf, cbuf := make([]byte, 256), make([]byte, 256)
		allocs := testing.AllocsPerRun(200, func() {
			if p.client.Publish(head, body) != nil {
				panic("publish")
			}
			if _, err := p.server.Receive(sbuf, soon(), nil); err != nil {
				panic(err)
			}
			if p.server.Publish(head, nil) != nil {
				panic("publish")
			}
			if _, err := p.client.Receive(cbuf, soon(), nil); err != nil {
				panic(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("%s: %v allocations per round trip", profile, allocs)
		}
	}
}
