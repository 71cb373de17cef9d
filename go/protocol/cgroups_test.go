package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

func TestCgroupsRequest(t *testing.T) {
	var buf [8]byte
	n, err := protocol.EncodeCgroupsRequest(buf[:])
	noErr(t, "encode", err)
	if !bytes.Equal(buf[:n], []byte{1, 0, 0, 0}) {
		t.Fatalf("encoded % x", buf[:n])
	}
	_, err = protocol.DecodeCgroupsRequest([]byte{1, 0, 0, 0, 0xee})
	noErr(t, "decode with a trailing byte", err)
	_, err = protocol.DecodeCgroupsRequest([]byte{2, 0, 0, 0})
	expectKind(t, "layout 2", err, protocol.BadLayout)
	_, err = protocol.DecodeCgroupsRequest([]byte{1, 0, 1, 0})
	expectKind(t, "flags 1", err, protocol.BadLayout)
	_, err = protocol.DecodeCgroupsRequest([]byte{1, 0, 0})
	expectKind(t, "3 bytes", err, protocol.Truncated)
	_, err = protocol.EncodeCgroupsRequest(buf[:3])
	expectKind(t, "encode into 3 bytes", err, protocol.Overflow)
}

// The example of codec.md 4.4: one item, reservation 1, 75 bytes.
func TestCgroupsBuilderSpecExample(t *testing.T) {
	buf := make([]byte, 256)
	b, err := protocol.NewCgroupsBuilder(buf, 1)
	noErr(t, "new", err)
	noErr(t, "add", b.Add(1, 0, 1, "test", "/test"))
	n, err := b.Finish()
	noErr(t, "finish", err)
	p := buf[:n]
	if n != 75 || binary.LittleEndian.Uint32(p[24:]) != 0 || binary.LittleEndian.Uint32(p[28:]) != 43 {
		t.Fatalf("payload %d bytes, directory % x", n, p[24:32])
	}
	item := p[32:]
	for at, want := range map[int]uint32{16: 32, 20: 4, 24: 37, 28: 5} {
		if got := binary.LittleEndian.Uint32(item[at:]); got != want {
			t.Errorf("item field at %d = %d, want %d", at, got, want)
		}
	}
	v, err := protocol.DecodeCgroupsResponse(p)
	noErr(t, "decode", err)
	it, err := v.Item(0)
	noErr(t, "item", err)
	if it.Hash != 1 || it.Enabled != 1 || string(it.Name) != "test" || string(it.Path) != "/test" {
		t.Errorf("item %+v", it)
	}
	if cap(it.Name) != len(it.Name) {
		t.Error("an item string must not expose the bytes after it")
	}
}

func TestCgroupsBuilderEmptyAndEstimate(t *testing.T) {
	buf := make([]byte, 64)
	var b protocol.CgroupsBuilder
	noErr(t, "reset", b.Reset(buf, 5))
	b.SetGeneration(42)
	b.SetSystemdEnabled(7)
	n, err := b.Finish()
	if err != nil || n != protocol.CgroupsResponseHeaderLen {
		t.Fatalf("empty snapshot: %d bytes, %v", n, err)
	}
	v, err := protocol.DecodeCgroupsResponse(buf[:n])
	if err != nil || v.Len() != 0 || v.Generation() != 42 || v.SystemdEnabled() != 7 {
		t.Fatalf("decoded %+v, %v", v, err)
	}
	if protocol.CgroupsEstimateMaxItems(24) != 0 || protocol.CgroupsEstimateMaxItems(0) != 0 {
		t.Error("estimate for a header-only buffer")
	}
	for k := 1; k < 5; k++ {
		if got := protocol.CgroupsEstimateMaxItems(24 + 48*k); got != k {
			t.Errorf("estimate(24+48*%d) = %d", k, got)
		}
	}
}

func TestCgroupsBuilderOverflowIsSticky(t *testing.T) {
	buf := make([]byte, 24+8+40)
	var b protocol.CgroupsBuilder
	if n, err := b.Finish(); n != 0 || !errors.Is(err, protocol.Overflow) {
		t.Errorf("finish of a builder never reset: %d, %v", n, err)
	}
	expectKind(t, "reservation larger than the buffer", b.Reset(buf, 100), protocol.Overflow)
	expectKind(t, "a buffer shorter than the header", b.Reset(buf[:23], 0), protocol.Overflow)
	noErr(t, "reset", b.Reset(buf, 2))
	noErr(t, "first item", b.Add(1, 0, 1, "a", "/a"))
	expectKind(t, "second item does not fit", b.Add(2, 0, 1, "bbbbbbbb", "/bbbbbbbb"), protocol.Overflow)
	n, err := b.Finish()
	expectKind(t, "finish reports the failed add", err, protocol.Overflow)
	v, derr := protocol.DecodeCgroupsResponse(buf[:n])
	if derr != nil || v.Len() != 1 {
		t.Fatalf("the built part must decode: %v, %d items", derr, v.Len())
	}
	noErr(t, "reset", b.Reset(buf, 1))
	noErr(t, "add", b.Add(1, 0, 1, "", ""))
	expectKind(t, "more than maxItems", b.Add(1, 0, 1, "", ""), protocol.Overflow)
}

// A reservation larger than the items added: the directory shrinks and
// the items move down (cgs_resp_reserved_more_than_used is the vector).
func TestCgroupsBuilderRoundTrip(t *testing.T) {
	type item struct {
		hash, options, enabled uint32
		name, path             string
	}
	items := []item{{1, 2, 3, "a", "/a"}, {4, 5, 0, "", ""}, {6, 0, 1, "name\x00nul", "/p"}}
	buf := make([]byte, 1024)
	var b protocol.CgroupsBuilder
	noErr(t, "reset", b.Reset(buf, 10))
	for _, it := range items {
		noErr(t, "add", b.Add(it.hash, it.options, it.enabled, it.name, it.path))
	}
	n, err := b.Finish()
	noErr(t, "finish", err)
	first := bytes.Clone(buf[:n])
	if m, err := b.Finish(); m != n || err != nil || !bytes.Equal(buf[:n], first) {
		t.Fatalf("a second finish: %d bytes, %v", m, err)
	}
	expectKind(t, "add after finish", b.Add(1, 1, 1, "x", "/x"), protocol.Overflow)
	if b.Len() != len(items) {
		t.Errorf("Len after finish %d", b.Len())
	}
	v, err := protocol.DecodeCgroupsResponse(buf[:n])
	noErr(t, "decode", err)
	i := 0
	for got, err := range v.Items() {
		noErr(t, "item", err)
		w := items[i]
		if got.Hash != w.hash || got.Options != w.options || got.Enabled != w.enabled ||
			string(got.Name) != w.name || string(got.Path) != w.path {
			t.Errorf("item %d: %+v, want %+v", i, got, w)
		}
		i++
	}
	if i != len(items) {
		t.Fatalf("%d items iterated", i)
	}
	_, err = v.Item(3)
	expectKind(t, "index past the end", err, protocol.OutOfBounds)
	_, err = v.Item(-1)
	expectKind(t, "negative index", err, protocol.OutOfBounds)
}

// cgroupsSnapshot builds a three-item snapshot.
func cgroupsSnapshot(t testing.TB) []byte {
	buf := make([]byte, 512)
	var b protocol.CgroupsBuilder
	noErr(t, "reset", b.Reset(buf, 3))
	for _, name := range []string{"one", "two", "three"} {
		noErr(t, "add", b.Add(protocol.NetdataHash(name), 0, 1, name, "/"+name))
	}
	n, err := b.Finish()
	noErr(t, "finish", err)
	return buf[:n]
}

func TestCgroupsItemsStopAtTheFirstBadItem(t *testing.T) {
	p := cgroupsSnapshot(t)
	second := 24 + 3*8 + int(binary.LittleEndian.Uint32(p[24+8:]))
	p[second] = 2 // item 1 layout_version
	v, err := protocol.DecodeCgroupsResponse(p)
	noErr(t, "the directory is fine", err)
	var seen int
	var last error
	for _, err := range v.Items() {
		seen++
		last = err
	}
	if seen != 2 {
		t.Errorf("%d items yielded, want the good one and the bad one", seen)
	}
	expectKind(t, "item 1", last, protocol.BadLayout)
	var ce *protocol.CodecError
	if errors.As(last, &ce) && ce.Offset != second {
		t.Errorf("error offset %d, want %d (relative to the payload)", ce.Offset, second)
	}
}

// A view borrows its payload; if the payload changes afterwards, reads
// fail or return other bytes, but never panic.
func TestCgroupsViewSurvivesPayloadChanges(t *testing.T) {
	p := cgroupsSnapshot(t)
	v, err := protocol.DecodeCgroupsResponse(p)
	noErr(t, "decode", err)
	readAfterChanges(p, func() {
		for j := -1; j <= v.Len(); j++ {
			_, _ = v.Item(j)
		}
	})
}

func TestCgroupsReadPathAllocatesNothing(t *testing.T) {
	p := cgroupsSnapshot(t)
	var sum uint32
	noAllocs(t, "decode and read every item", func() {
		v, err := protocol.DecodeCgroupsResponse(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < v.Len(); i++ {
			it, _ := v.Item(i)
			sum += it.Hash
		}
		for it, err := range v.Items() {
			if err != nil {
				t.Fatal(err)
			}
			sum += uint32(len(it.Name))
		}
	})
	_ = sum
}

func TestCgroupsDispatch(t *testing.T) {
	request := []byte{1, 0, 0, 0}
	response := make([]byte, 1024)
	var b protocol.CgroupsBuilder
	handler := func(_ *protocol.CgroupsRequest, b *protocol.CgroupsBuilder) bool {
		b.SetGeneration(9)
		return b.Add(1, 0, 1, "n", "/p") == nil && b.Add(2, 0, 1, "m", "/q") == nil
	}
	n, err := protocol.DispatchCgroupsSnapshot(&b, request, response, 0, handler)
	noErr(t, "dispatch", err)
	v, err := protocol.DecodeCgroupsResponse(response[:n])
	if err != nil || v.Len() != 2 || v.Generation() != 9 {
		t.Fatalf("response: %d items, %v", v.Len(), err)
	}
	noAllocs(t, "dispatch", func() {
		if _, err := protocol.DispatchCgroupsSnapshot(&b, request, response, 0, handler); err != nil {
			t.Fatal(err)
		}
	})

	var de *protocol.DispatchError
	_, err = protocol.DispatchCgroupsSnapshot(&b, request[:3], response, 0, handler)
	if !errors.As(err, &de) || de.Stage != protocol.DispatchBadRequest || de.Status() != protocol.StatusBadEnvelope {
		t.Errorf("bad request: %v", err)
	}
	_, err = protocol.DispatchCgroupsSnapshot(&b, request, response, 1, handler)
	if !errors.As(err, &de) || de.Stage != protocol.DispatchBuilder || de.Status() != protocol.StatusLimitExceeded {
		t.Errorf("a second item over maxItems 1 must overflow even if the handler returns true: %v", err)
	}
	_, err = protocol.DispatchCgroupsSnapshot(&b, request, response, 0,
		func(*protocol.CgroupsRequest, *protocol.CgroupsBuilder) bool { return false })
	if !errors.As(err, &de) || de.Stage != protocol.DispatchHandlerFailed || de.Status() != protocol.StatusInternalError {
		t.Errorf("handler failure: %v", err)
	}
	_, err = protocol.DispatchCgroupsSnapshot(&b, request, response[:40], 0, handler)
	if !errors.Is(err, protocol.Overflow) {
		t.Errorf("a response buffer too small: %v", err)
	}
}

func TestCgroupsBuilderAllocatesNothing(t *testing.T) {
	buf := make([]byte, 4096)
	var b protocol.CgroupsBuilder
	names := []string{"system.slice/a.service", "system.slice/b.service", "user.slice"}
	noAllocs(t, "reset, add and finish", func() {
		_ = b.Reset(buf, 16)
		for _, n := range names {
			_ = b.Add(protocol.NetdataHash(n), 0, 1, n, "/sys/fs/cgroup/"+"x")
		}
		if _, err := b.Finish(); err != nil {
			t.Fatal(err)
		}
	})
}
