package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

func paths(ps ...string) [][]byte {
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = []byte(p)
	}
	return out
}

// cgroupsLookupRequest encodes a request for ps.
func cgroupsLookupRequest(t testing.TB, ps ...string) []byte {
	keys := paths(ps...)
	n, ok := protocol.CgroupsLookupRequestLen(keys)
	if !ok {
		t.Fatal("request length")
	}
	buf := make([]byte, n)
	_, err := protocol.EncodeCgroupsLookupRequest(buf, keys)
	noErr(t, "encode request", err)
	return buf
}

// The example of codec.md 6.2: "/a/b", "/c" -> 43 bytes.
func TestCgroupsLookupRequestSpecExample(t *testing.T) {
	p := cgroupsLookupRequest(t, "/a/b", "/c")
	if len(p) != 43 {
		t.Fatalf("%d bytes", len(p))
	}
	le := binary.LittleEndian
	if le.Uint32(p[16:]) != 0 || le.Uint32(p[20:]) != 5 || le.Uint32(p[24:]) != 8 || le.Uint32(p[28:]) != 3 {
		t.Errorf("directory % x", p[16:32])
	}
	r, err := protocol.DecodeCgroupsLookupRequest(p)
	noErr(t, "decode", err)
	var got []string
	for i, path := range r.Paths() {
		if cap(path) != len(path) {
			t.Errorf("path %d exposes the bytes after it", i)
		}
		got = append(got, string(path))
	}
	if r.Len() != 2 || len(got) != 2 || got[0] != "/a/b" || got[1] != "/c" {
		t.Errorf("paths %q", got)
	}
	_, err = r.Path(2)
	expectKind(t, "index past the end", err, protocol.OutOfBounds)
}

func TestCgroupsLookupRequestEncodeRejects(t *testing.T) {
	buf := make([]byte, 256)
	_, err := protocol.EncodeCgroupsLookupRequest(buf, paths("/a", ""))
	expectKind(t, "empty path", err, protocol.BadLayout)
	_, err = protocol.EncodeCgroupsLookupRequest(buf, paths("/a\x00b"))
	expectKind(t, "NUL in a path", err, protocol.BadLayout)
	_, err = protocol.EncodeCgroupsLookupRequest(buf[:42], paths("/a/b", "/c"))
	expectKind(t, "one byte short", err, protocol.Overflow)
	n, err := protocol.EncodeCgroupsLookupRequest(buf[:16], nil)
	if err != nil || n != 16 {
		t.Errorf("no keys (a generation probe): %d, %v", n, err)
	}
}

// RequestFit is exact: the k keys it reports fit the budget, k+1 do not.
func TestCgroupsLookupRequestFit(t *testing.T) {
	keys := paths("/a", "/bbbbbbbbbbbb", "/c", "/dddddddddddddddddddd", "/e")
	for budget := 0; budget < 200; budget++ {
		k := protocol.CgroupsLookupRequestFit(keys, budget)
		if k > 0 {
			if n, _ := protocol.CgroupsLookupRequestLen(keys[:k]); n > budget {
				t.Errorf("budget %d: %d keys take %d bytes", budget, k, n)
			}
		}
		if k < len(keys) {
			if n, _ := protocol.CgroupsLookupRequestLen(keys[:k+1]); n <= budget {
				t.Errorf("budget %d: %d keys fit, reported %d", budget, k+1, k)
			}
		}
	}
	if protocol.CgroupsLookupSingleRequestLen(2) != 27 {
		t.Error("single request length")
	}
	if n, _ := protocol.CgroupsLookupRequestLen(keys[:1]); n != protocol.CgroupsLookupSingleRequestLen(2) {
		t.Error("single request length disagrees with RequestLen")
	}
}

func TestCgroupsLookupPlaceholdersFit(t *testing.T) {
	keys := paths("/a", "/bbbbbbbbbbbb", "/c")
	// Each placeholder is 30+len bytes, padded to 8, plus a directory entry.
	sizes := []int{16 + 8 + 32, 16 + 8 + 32 + 8 + 48, 16 + 8 + 32 + 8 + 48 + 8 + 32}
	for k, size := range sizes {
		if got := protocol.CgroupsLookupPlaceholdersFit(keys, size); got != k+1 {
			t.Errorf("capacity %d: %d keys, want %d", size, got, k+1)
		}
		if got := protocol.CgroupsLookupPlaceholdersFit(keys, size-1); got != k {
			t.Errorf("capacity %d: %d keys, want %d", size-1, got, k)
		}
	}
}

// The item example of codec.md 6.5 and the placeholder example.
func TestCgroupsLookupItemSpecExamples(t *testing.T) {
	buf := make([]byte, 256)
	b, err := protocol.NewCgroupsLookupBuilder(buf, 1, 5)
	noErr(t, "new", err)
	noErr(t, "add", b.Add("/p", &protocol.CgroupsLookupEntry{Name: "n", Labels: []protocol.LookupLabel{{Key: "k", Value: "v"}}}))
	n, err := b.Finish()
	noErr(t, "finish", err)
	v, err := protocol.DecodeCgroupsLookupResponse(buf[:n])
	noErr(t, "decode", err)
	raw, err := v.RawItem(0)
	noErr(t, "raw item", err)
	le := binary.LittleEndian
	if len(raw) != 60 || le.Uint32(raw[40:]) != 56 || le.Uint32(raw[44:]) != 1 || le.Uint32(raw[48:]) != 58 || le.Uint32(raw[52:]) != 1 {
		t.Errorf("item of %d bytes, label entry % x", len(raw), raw[40:56])
	}
	if !bytes.Equal(raw[33:40], make([]byte, 7)) {
		t.Error("label table padding is not zero")
	}

	ph := make([]byte, 64)
	n, err = protocol.EncodeCgroupsLookupPlaceholder(ph, []byte("/x"), protocol.CgroupsLookupPayloadExceeded)
	noErr(t, "placeholder", err)
	if n != 32 || n != protocol.CgroupsLookupPlaceholderLen(2) || le.Uint32(ph[8:]) != 28 || le.Uint32(ph[16:]) != 31 || le.Uint32(ph[20:]) != 0 {
		t.Errorf("placeholder % x", ph[:n])
	}
	_, err = protocol.EncodeCgroupsLookupPlaceholder(ph[:31], []byte("/x"), protocol.CgroupsLookupOversizedItem)
	expectKind(t, "placeholder into a short buffer", err, protocol.Overflow)
	_, err = protocol.EncodeCgroupsLookupPlaceholder(ph, nil, protocol.CgroupsLookupOversizedItem)
	expectKind(t, "placeholder without a path", err, protocol.BadLayout)
	_, err = protocol.EncodeCgroupsLookupPlaceholder(ph, []byte("/x"), 5)
	expectKind(t, "placeholder with status 5", err, protocol.BadLayout)
}

func TestCgroupsLookupBuilderRejects(t *testing.T) {
	buf := make([]byte, 1024)
	known := func(name string, labels ...protocol.LookupLabel) *protocol.CgroupsLookupEntry {
		return &protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupKnown, Orchestrator: protocol.OrchestratorDocker, Name: name, Labels: labels}
	}
	cases := []struct {
		name string
		path string
		e    *protocol.CgroupsLookupEntry
		kind protocol.CodecErrorKind
	}{
		{"status 5", "/p", &protocol.CgroupsLookupEntry{Status: 5}, protocol.BadLayout},
		{"empty path", "", known("n"), protocol.BadLayout},
		{"not KNOWN with a name", "/p", &protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownPermanent, Name: "n"}, protocol.BadLayout},
		{"not KNOWN with an orchestrator", "/p", &protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownRetryLater, Orchestrator: 1}, protocol.BadLayout},
		{"not KNOWN with labels", "/p", &protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupUnknownRetryLater, Labels: []protocol.LookupLabel{{Key: "k"}}}, protocol.BadLayout},
		{"NUL in the path", "/p\x00", known("n"), protocol.BadLayout},
		{"NUL in the name", "/p", known("n\x00"), protocol.BadLayout},
		{"empty label key", "/p", known("n", protocol.LookupLabel{Value: "v"}), protocol.BadLayout},
		{"NUL in a label value", "/p", known("n", protocol.LookupLabel{Key: "k", Value: "\x00"}), protocol.BadLayout},
		{"too many labels", "/p", known("n", make([]protocol.LookupLabel, 65536)...), protocol.BadLayout},
	}
	for _, c := range cases {
		var b protocol.CgroupsLookupBuilder
		noErr(t, "reset", b.Reset(buf, 4, 0))
		err := b.Add(c.path, c.e)
		expectKind(t, c.name, err, c.kind)
		if b.Err() != err {
			t.Errorf("%s: the error is not sticky", c.name)
		}
		noErr(t, c.name+": a valid item after a rejected one", b.Add("/ok", known("ok")))
		if _, ferr := b.Finish(); ferr != err {
			t.Errorf("%s: finish reports %v", c.name, ferr)
		}
	}
	var b protocol.CgroupsLookupBuilder
	if n, err := b.Finish(); n != 0 || !errors.Is(err, protocol.Overflow) {
		t.Errorf("finish of a builder never reset: %d, %v", n, err)
	}
	noErr(t, "reset", b.Reset(buf, 1, 0))
	noErr(t, "add", b.AddStatus("/a", protocol.CgroupsLookupUnknownPermanent))
	expectKind(t, "more items than reserved", b.Add("/b", known("b")), protocol.Overflow)
	noErr(t, "reset", b.Reset(buf, 1, 0))
	expectKind(t, "request item without a request", b.AddRequestItem(0, known("x")), protocol.BadLayout)
	expectKind(t, "reservation past the buffer", b.Reset(buf[:23], 1, 0), protocol.Overflow)
	expectKind(t, "a buffer shorter than the header", b.Reset(buf[:15], 0, 0), protocol.Overflow)
}

// budgetResponse answers a request for ps with KNOWN items named ns in a
// response buffer of size bytes and returns the decoded statuses.
func budgetResponse(t *testing.T, size int, ps []string, ns []string) ([]protocol.CgroupsLookupStatus, *protocol.CgroupsLookupBuilder, error) {
	t.Helper()
	req, err := protocol.DecodeCgroupsLookupRequest(cgroupsLookupRequest(t, ps...))
	noErr(t, "decode request", err)
	buf := make([]byte, size)
	b := new(protocol.CgroupsLookupBuilder)
	if err := b.ResetForRequest(buf, &req, 3); err != nil {
		return nil, b, err
	}
	for i := range ps {
		if err := b.AddRequestItem(i, &protocol.CgroupsLookupEntry{Name: ns[i], Orchestrator: protocol.OrchestratorSystemd}); err != nil {
			return nil, b, err
		}
	}
	n, err := b.Finish()
	if err != nil {
		return nil, b, err
	}
	v, err := protocol.DecodeCgroupsLookupResponse(buf[:n])
	noErr(t, "decode response", err)
	var out []protocol.CgroupsLookupStatus
	for i, it := range v.Items() {
		if string(it.Path) != ps[i] {
			t.Errorf("item %d echoes %q, want %q", i, it.Path, ps[i])
		}
		if it.Status == protocol.CgroupsLookupKnown && string(it.Name) != ns[i] {
			t.Errorf("item %d name %q", i, it.Name)
		}
		out = append(out, it.Status)
	}
	return out, b, nil
}

func TestCgroupsLookupBuilderBudget(t *testing.T) {
	const (
		K = protocol.CgroupsLookupKnown
		X = protocol.CgroupsLookupPayloadExceeded
		O = protocol.CgroupsLookupOversizedItem
	)
	ps := []string{"/a", "/b", "/c"}
	long := string(bytes.Repeat([]byte("n"), 100))
	cases := []struct {
		name  string
		size  int
		names []string
		want  []protocol.CgroupsLookupStatus
	}{
		// Items start at 40 (16 + 3*8 directory); KNOWN items take 28+3+2 =
		// 33 bytes, placeholders 32, the long KNOWN item 132.
		{"all fit", 40 + 40 + 40 + 33, []string{"a", "b", "c"}, []protocol.CgroupsLookupStatus{K, K, K}},
		{"the last does not fit", 40 + 40 + 40 + 32, []string{"a", "b", "c"}, []protocol.CgroupsLookupStatus{K, K, X}},
		{"a suffix", 40 + 40 + 32 + 32 + 7, []string{"a", "b", "c"}, []protocol.CgroupsLookupStatus{K, X, X}},
		{"the first only with the reservation", 200, []string{long, "b", "c"}, []protocol.CgroupsLookupStatus{O, K, K}},
		{"oversized then a suffix", 40 + 32 + 32 + 32, []string{long, long, "c"}, []protocol.CgroupsLookupStatus{O, X, X}},
		{"a short item after the suffix starts", 40 + 40 + 32 + 32, []string{"a", long, "c"}, []protocol.CgroupsLookupStatus{K, X, X}},
	}
	for _, c := range cases {
		got, b, err := budgetResponse(t, c.size, ps, c.names)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !equalStatuses(got, c.want) {
			t.Errorf("%s: statuses %v, want %v", c.name, got, c.want)
		}
		converted := !equalStatuses(got, []protocol.CgroupsLookupStatus{K, K, K})
		if b.BudgetConverted() != converted || b.SuffixMode() != (got[2] == X) {
			t.Errorf("%s: converted %v, suffix mode %v", c.name, b.BudgetConverted(), b.SuffixMode())
		}
	}
	// Even the placeholders do not fit: a sticky overflow.
	_, b, err := budgetResponse(t, 40+32+32+31, ps, []string{"a", "b", "c"})
	expectKind(t, "placeholders do not fit", err, protocol.Overflow)
	if b.Err() == nil {
		t.Error("the overflow is not sticky")
	}
}

func equalStatuses(a, b []protocol.CgroupsLookupStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A handler may pass PAYLOAD_EXCEEDED itself: accepted, but the builder
// stays out of suffix mode (as the Rust builder does).
func TestCgroupsLookupHandlerStatusesDoNotEnterSuffixMode(t *testing.T) {
	buf := make([]byte, 512)
	var b protocol.CgroupsLookupBuilder
	noErr(t, "reset", b.Reset(buf, 3, 0)) // one more than added: finish compacts
	noErr(t, "add", b.AddStatus("/a", protocol.CgroupsLookupPayloadExceeded))
	noErr(t, "add", b.Add("/b", &protocol.CgroupsLookupEntry{Name: "b"}))
	if b.SuffixMode() || b.BudgetConverted() {
		t.Error("a handler's status entered suffix mode")
	}
	n, err := b.Finish()
	noErr(t, "finish", err)
	first := bytes.Clone(buf[:n])
	if m, err := b.Finish(); m != n || err != nil || !bytes.Equal(buf[:n], first) {
		t.Fatalf("a second finish: %d bytes, %v", m, err)
	}
	expectKind(t, "add after finish", b.AddStatus("/c", protocol.CgroupsLookupUnknownPermanent), protocol.Overflow)
	v, err := protocol.DecodeCgroupsLookupResponse(buf[:n])
	noErr(t, "decode", err)
	if it, _ := v.Item(1); it.Status != protocol.CgroupsLookupKnown {
		t.Errorf("item 1 %v", it.Status)
	}
}

func TestCgroupsLookupDispatch(t *testing.T) {
	request := cgroupsLookupRequest(t, "/a", "/b")
	response := make([]byte, 1024)
	var b protocol.CgroupsLookupBuilder
	labels := []protocol.LookupLabel{{Key: "k", Value: "v"}}
	entry := protocol.CgroupsLookupEntry{Orchestrator: protocol.OrchestratorK8s, Name: "pod", Labels: labels}
	handler := func(r *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) bool {
		b.SetGeneration(11)
		for i := 0; i < r.Len(); i++ {
			if b.AddRequestItem(i, &entry) != nil {
				return false
			}
		}
		return true
	}
	n, err := protocol.DispatchCgroupsLookup(&b, request, response, handler)
	noErr(t, "dispatch", err)
	v, err := protocol.DecodeCgroupsLookupResponse(response[:n])
	if err != nil || v.Len() != 2 || v.Generation() != 11 {
		t.Fatalf("response: %v", err)
	}
	noAllocs(t, "dispatch", func() {
		if _, err := protocol.DispatchCgroupsLookup(&b, request, response, handler); err != nil {
			t.Fatal(err)
		}
	})

	var de *protocol.DispatchError
	_, err = protocol.DispatchCgroupsLookup(&b, request[:20], response, handler)
	if !errors.As(err, &de) || de.Stage != protocol.DispatchBadRequest {
		t.Errorf("bad request: %v", err)
	}
	_, err = protocol.DispatchCgroupsLookup(&b, request, response,
		func(r *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) bool {
			return b.AddRequestItem(0, &entry) == nil
		})
	if !errors.As(err, &de) || de.Stage != protocol.DispatchBuilder || !errors.Is(err, protocol.BadItemCount) {
		t.Errorf("one item for two keys: %v", err)
	}
	_, err = protocol.DispatchCgroupsLookup(&b, request, response,
		func(*protocol.CgroupsLookupRequestView, *protocol.CgroupsLookupBuilder) bool { return false })
	if !errors.As(err, &de) || de.Stage != protocol.DispatchHandlerFailed {
		t.Errorf("handler failure: %v", err)
	}
	_, err = protocol.DispatchCgroupsLookup(&b, request, response,
		func(r *protocol.CgroupsLookupRequestView, b *protocol.CgroupsLookupBuilder) bool {
			_ = b.Add("", &entry) // the handler ignores the error
			return true
		})
	if !errors.As(err, &de) || de.Stage != protocol.DispatchBuilder || !errors.Is(err, protocol.BadLayout) {
		t.Errorf("a sticky error wins over a handler's true: %v", err)
	}
	_, err = protocol.DispatchCgroupsLookup(&b, request, response[:31], handler)
	if !errors.As(err, &de) || de.Status() != protocol.StatusLimitExceeded {
		t.Errorf("no room for the directory: %v", err)
	}
}

// cgroupsLookupResponse builds a response with every status and labels.
func cgroupsLookupResponse(t testing.TB) []byte {
	buf := make([]byte, 1024)
	b, err := protocol.NewCgroupsLookupBuilder(buf, 3, 1<<63)
	noErr(t, "new", err)
	noErr(t, "add", b.Add("/kubepods/pod-a", &protocol.CgroupsLookupEntry{Orchestrator: 999, Name: "pod-a",
		Labels: []protocol.LookupLabel{{Key: "namespace", Value: "default"}, {Key: "empty", Value: ""}}}))
	noErr(t, "add", b.AddStatus("/pending", protocol.CgroupsLookupUnknownRetryLater))
	noErr(t, "add", b.Add("/docker/x", &protocol.CgroupsLookupEntry{}))
	n, err := b.Finish()
	noErr(t, "finish", err)
	return buf[:n]
}

func TestCgroupsLookupResponseViews(t *testing.T) {
	p := cgroupsLookupResponse(t)
	v, err := protocol.DecodeCgroupsLookupResponse(p)
	noErr(t, "decode", err)
	if v.Len() != 3 || v.Generation() != 1<<63 || !bytes.Equal(v.Bytes(), p) {
		t.Fatalf("view %d items, generation %d", v.Len(), v.Generation())
	}
	it, err := v.Item(0)
	noErr(t, "item 0", err)
	if it.Orchestrator != 999 || it.Orchestrator.String() != "Orchestrator(999)" || it.Labels.Len() != 2 {
		t.Errorf("item 0 %+v", it)
	}
	l, err := it.Labels.At(1)
	if err != nil || string(l.Key) != "empty" || len(l.Value) != 0 {
		t.Errorf("label 1 %q=%q, %v", l.Key, l.Value, err)
	}
	_, err = it.Labels.At(2)
	expectKind(t, "label index past the end", err, protocol.OutOfBounds)
	it, _ = v.Item(1)
	if it.Status != protocol.CgroupsLookupUnknownRetryLater || it.Status.String() != "UNKNOWN_RETRY_LATER" || len(it.Name) != 0 {
		t.Errorf("item 1 %+v", it)
	}
	_, err = v.Item(3)
	expectKind(t, "item index past the end", err, protocol.OutOfBounds)
	_, err = v.RawItem(-1)
	expectKind(t, "negative raw index", err, protocol.OutOfBounds)

	// Re-encoding the raw items gives the same bytes (the builder packs
	// items exactly as the raw encoder does).
	var raws [][]byte
	for i := 0; i < v.Len(); i++ {
		raw, _ := v.RawItem(i)
		raws = append(raws, raw)
	}
	out := make([]byte, len(p))
	n, err := protocol.EncodeCgroupsLookupRawResponse(out, raws, v.Generation())
	if err != nil || !bytes.Equal(out[:n], p) {
		t.Errorf("raw re-encoding: %v", err)
	}
	_, err = protocol.EncodeCgroupsLookupRawResponse(out[:len(p)-1], raws, v.Generation())
	expectKind(t, "raw re-encoding one byte short", err, protocol.Overflow)
	bad := bytes.Clone(raws[1])
	bad[4] = 1 // orchestrator on a non-KNOWN item
	_, err = protocol.EncodeCgroupsLookupRawResponse(out, [][]byte{raws[0], bad}, 0)
	expectKind(t, "raw re-encoding of an invalid item", err, protocol.BadLayout)
}

func TestCgroupsLookupViewSurvivesPayloadChanges(t *testing.T) {
	p := cgroupsLookupResponse(t)
	v, err := protocol.DecodeCgroupsLookupResponse(p)
	noErr(t, "decode", err)
	readAfterChanges(p, func() {
		for j := -1; j <= v.Len(); j++ {
			it, _ := v.Item(j)
			for k := -1; k <= it.Labels.Len(); k++ {
				_, _ = it.Labels.At(k)
			}
		}
	})
}

func TestCgroupsLookupReadPathAllocatesNothing(t *testing.T) {
	request := cgroupsLookupRequest(t, "/a", "/b/c", "/d")
	p := cgroupsLookupResponse(t)
	var sum int
	noAllocs(t, "decode a request and read every path", func() {
		r, err := protocol.DecodeCgroupsLookupRequest(request)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range r.Paths() {
			sum += len(path)
		}
	})
	noAllocs(t, "decode a response and read every item and label", func() {
		v, err := protocol.DecodeCgroupsLookupResponse(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range v.Items() {
			sum += len(it.Path)
			for _, l := range it.Labels.All() {
				sum += len(l.Key)
			}
		}
		it, _ := v.Item(0)
		l, _ := it.Labels.At(0)
		sum += len(l.Value)
	})
	_ = sum
}

func TestCgroupsLookupWritePathAllocatesNothing(t *testing.T) {
	keys := paths("/a", "/b/c", "/d")
	reqBuf := make([]byte, 256)
	respBuf := make([]byte, 1024)
	n, _ := protocol.EncodeCgroupsLookupRequest(reqBuf, keys)
	req, _ := protocol.DecodeCgroupsLookupRequest(reqBuf[:n])
	labels := []protocol.LookupLabel{{Key: "k", Value: "v"}, {Key: "k2", Value: "v2"}}
	var b protocol.CgroupsLookupBuilder
	raws := make([][]byte, 0, 3)
	out := make([]byte, 1024)
	noAllocs(t, "encode a request", func() {
		if _, err := protocol.EncodeCgroupsLookupRequest(reqBuf, keys); err != nil {
			t.Fatal(err)
		}
	})
	noAllocs(t, "build a response", func() {
		_ = b.ResetForRequest(respBuf, &req, 1)
		_ = b.AddRequestItem(0, &protocol.CgroupsLookupEntry{Name: "a", Labels: labels})
		_ = b.Add("/b/c", &protocol.CgroupsLookupEntry{Name: "bc"})
		_ = b.AddStatus("/d", protocol.CgroupsLookupUnknownPermanent)
		if _, err := b.Finish(); err != nil {
			t.Fatal(err)
		}
	})
	n, _ = b.Finish()
	_ = b.ResetForRequest(respBuf, &req, 1)
	_ = b.AddRequestItem(0, &protocol.CgroupsLookupEntry{Name: "a", Labels: labels})
	_ = b.AddStatus("/b/c", protocol.CgroupsLookupUnknownPermanent)
	_ = b.AddStatus("/d", protocol.CgroupsLookupUnknownPermanent)
	n, _ = b.Finish()
	v, err := protocol.DecodeCgroupsLookupResponse(respBuf[:n])
	noErr(t, "decode", err)
	noAllocs(t, "re-encode raw items", func() {
		raws = raws[:0]
		for i := 0; i < v.Len(); i++ {
			raw, _ := v.RawItem(i)
			raws = append(raws, raw)
		}
		if _, err := protocol.EncodeCgroupsLookupRawResponse(out, raws, 1); err != nil {
			t.Fatal(err)
		}
	})
}
