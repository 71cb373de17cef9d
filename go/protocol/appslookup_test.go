package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

func TestAppsLookupRequest(t *testing.T) {
	pids := []uint32{0, 1234, 4321}
	buf := make([]byte, protocol.AppsLookupRequestLen(len(pids)))
	n, err := protocol.EncodeAppsLookupRequest(buf, pids)
	if err != nil || n != 64 {
		t.Fatalf("encode: %d, %v", n, err)
	}
	r, err := protocol.DecodeAppsLookupRequest(buf)
	noErr(t, "decode", err)
	var got []uint32
	for _, pid := range r.PIDs() {
		got = append(got, pid)
	}
	if r.Len() != 3 || len(got) != 3 || got[1] != 1234 || got[2] != 4321 {
		t.Errorf("pids %v", got)
	}
	_, err = r.PID(3)
	expectKind(t, "index past the end", err, protocol.OutOfBounds)
	_, err = protocol.EncodeAppsLookupRequest(buf[:63], pids)
	expectKind(t, "one byte short", err, protocol.Overflow)

	bad := bytes.Clone(buf)
	binary.LittleEndian.PutUint32(bad[16+3*8+4:], 1) // key 0 reserved
	_, err = protocol.DecodeAppsLookupRequest(bad)
	expectKind(t, "key reserved", err, protocol.BadLayout)
	bad = bytes.Clone(buf)
	binary.LittleEndian.PutUint32(bad[20:], 16) // key 0 length
	_, err = protocol.DecodeAppsLookupRequest(bad)
	expectKind(t, "key length 16", err, protocol.BadLayout)

	for budget := 0; budget < 100; budget++ {
		k := protocol.AppsLookupRequestFit(5, budget)
		if protocol.AppsLookupRequestLen(k) > budget && k > 0 || k < 5 && protocol.AppsLookupRequestLen(k+1) <= budget {
			t.Errorf("budget %d: fit %d", budget, k)
		}
	}
	if protocol.AppsLookupPlaceholdersFit(10, 16+72*3) != 3 || protocol.AppsLookupPlaceholdersFit(10, 16+72*3-1) != 2 ||
		protocol.AppsLookupPlaceholdersFit(2, 1<<20) != 2 || protocol.AppsLookupPlaceholdersFit(2, 3) != 0 {
		t.Error("placeholders fit")
	}
}

func knownApp(comm string) *protocol.AppsLookupEntry {
	return &protocol.AppsLookupEntry{
		Status: protocol.PIDKnown, CgroupStatus: protocol.CgroupKnown, Orchestrator: protocol.OrchestratorDocker,
		PPID: 1, UID: 1000, StartTime: 77, Comm: comm, CgroupPath: "/docker/c", CgroupName: "c",
	}
}

func TestAppsLookupBuilderRejects(t *testing.T) {
	with := func(f func(e *protocol.AppsLookupEntry)) *protocol.AppsLookupEntry {
		e := knownApp("proc")
		f(e)
		return e
	}
	unknown := func(f func(e *protocol.AppsLookupEntry)) *protocol.AppsLookupEntry {
		e := &protocol.AppsLookupEntry{Status: protocol.PIDUnknown, UID: protocol.UIDUnset}
		f(e)
		return e
	}
	cases := []struct {
		name string
		e    *protocol.AppsLookupEntry
	}{
		{"status 4", with(func(e *protocol.AppsLookupEntry) { e.Status = 4 })},
		{"cgroup status 4", with(func(e *protocol.AppsLookupEntry) { e.CgroupStatus = 4 })},
		{"comm of 16 bytes", with(func(e *protocol.AppsLookupEntry) { e.Comm = "0123456789abcdef" })},
		{"KNOWN without comm", with(func(e *protocol.AppsLookupEntry) { e.Comm = "" })},
		{"UNKNOWN with a uid", unknown(func(e *protocol.AppsLookupEntry) { e.UID = 0 })},
		{"UNKNOWN with a ppid", unknown(func(e *protocol.AppsLookupEntry) { e.PPID = 1 })},
		{"UNKNOWN with a starttime", unknown(func(e *protocol.AppsLookupEntry) { e.StartTime = 1 })},
		{"UNKNOWN with a comm", unknown(func(e *protocol.AppsLookupEntry) { e.Comm = "x" })},
		{"cgroup KNOWN without a path", with(func(e *protocol.AppsLookupEntry) { e.CgroupPath = "" })},
		{"cgroup HOST_ROOT with a path", with(func(e *protocol.AppsLookupEntry) {
			e.CgroupStatus, e.Orchestrator, e.CgroupName = protocol.CgroupHostRoot, 0, ""
		})},
		{"cgroup UNKNOWN_PERMANENT without a path", with(func(e *protocol.AppsLookupEntry) {
			e.CgroupStatus, e.Orchestrator, e.CgroupName, e.CgroupPath = protocol.CgroupUnknownPermanent, 0, "", ""
		})},
		{"cgroup UNKNOWN_RETRY_LATER with a name", with(func(e *protocol.AppsLookupEntry) {
			e.CgroupStatus, e.Orchestrator = protocol.CgroupUnknownRetryLater, 0
		})},
		{"NUL in comm", with(func(e *protocol.AppsLookupEntry) { e.Comm = "a\x00" })},
		{"empty label key", with(func(e *protocol.AppsLookupEntry) { e.Labels = []protocol.LookupLabel{{Value: "v"}} })},
	}
	buf := make([]byte, 1024)
	for _, c := range cases {
		var b protocol.AppsLookupBuilder
		noErr(t, "reset", b.Reset(buf, 2, 0))
		expectKind(t, c.name, b.Add(7, c.e), protocol.BadLayout)
		if _, err := b.Finish(); err == nil {
			t.Errorf("%s: not sticky", c.name)
		}
	}
	// The rules accept these.
	var b protocol.AppsLookupBuilder
	noErr(t, "reset", b.Reset(buf, 3, 0))
	noErr(t, "retry later with an empty path", b.Add(1, with(func(e *protocol.AppsLookupEntry) {
		e.CgroupStatus, e.Orchestrator, e.CgroupName, e.CgroupPath = protocol.CgroupUnknownRetryLater, 0, "", ""
	})))
	noErr(t, "host root", b.Add(2, with(func(e *protocol.AppsLookupEntry) {
		e.CgroupStatus, e.Orchestrator, e.CgroupName, e.CgroupPath = protocol.CgroupHostRoot, 0, "", ""
	})))
	noErr(t, "unknown", b.AddStatus(3, protocol.PIDUnknown))
	expectKind(t, "more than maxItems", b.AddStatus(4, protocol.PIDUnknown), protocol.Overflow)
}

func TestAppsLookupPlaceholderAndBudget(t *testing.T) {
	pids := []uint32{11, 22, 33}
	reqBuf := make([]byte, protocol.AppsLookupRequestLen(3))
	_, _ = protocol.EncodeAppsLookupRequest(reqBuf, pids)
	req, err := protocol.DecodeAppsLookupRequest(reqBuf)
	noErr(t, "request", err)
	known := knownApp("p") // 60 + 2 + 10 + 2 = 74 bytes
	big := knownApp("p")
	big.CgroupPath = string(bytes.Repeat([]byte("p"), 100)) // 165 bytes
	// Items start at 40; placeholders take 63 bytes (64 aligned).
	cases := []struct {
		size  int
		first *protocol.AppsLookupEntry
		want  []protocol.PIDStatus
	}{
		{40 + 80 + 80 + 74, known, []protocol.PIDStatus{0, 0, 0}},
		{40 + 80 + 80 + 63, known, []protocol.PIDStatus{0, 0, 2}},
		{40 + 80 + 64 + 63, known, []protocol.PIDStatus{0, 2, 2}},
		{40 + 80 + 64 + 63 - 1, known, []protocol.PIDStatus{3, 2, 2}},
		{300, big, []protocol.PIDStatus{3, 0, 0}},
	}
	for _, c := range cases {
		buf := make([]byte, c.size)
		var b protocol.AppsLookupBuilder
		noErr(t, "reset", b.ResetForRequest(buf, &req, 0))
		for i, pid := range pids {
			e := known
			if i == 0 {
				e = c.first
			}
			noErr(t, "add", b.Add(pid, e))
		}
		n, err := b.Finish()
		noErr(t, "finish", err)
		v, err := protocol.DecodeAppsLookupResponse(buf[:n])
		noErr(t, "decode", err)
		for i, it := range v.Items() {
			if it.PID != pids[i] || it.Status != c.want[i] {
				t.Errorf("size %d item %d: pid %d status %v, want %v", c.size, i, it.PID, it.Status, c.want[i])
			}
			if it.Status != protocol.PIDKnown {
				raw, _ := v.RawItem(i)
				if len(raw) != protocol.AppsLookupPlaceholderLen || it.UID != protocol.UIDUnset ||
					it.PPID != 0 || it.StartTime != 0 || len(it.Comm)+len(it.CgroupPath)+len(it.CgroupName) != 0 {
					t.Errorf("size %d item %d: placeholder %+v of %d bytes", c.size, i, it, len(raw))
				}
			}
		}
	}
	buf := make([]byte, 40+64+64+62)
	var b protocol.AppsLookupBuilder
	noErr(t, "reset", b.ResetForRequest(buf, &req, 0))
	_ = b.Add(11, known)
	_ = b.Add(22, known)
	expectKind(t, "the last placeholder does not fit", b.Add(33, known), protocol.Overflow)
}

func TestAppsLookupDispatch(t *testing.T) {
	request := make([]byte, protocol.AppsLookupRequestLen(2))
	_, _ = protocol.EncodeAppsLookupRequest(request, []uint32{5, 6})
	response := make([]byte, 1024)
	var b protocol.AppsLookupBuilder
	entry := knownApp("nginx")
	entry.Labels = []protocol.LookupLabel{{Key: "image", Value: "nginx"}}
	handler := func(r *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) bool {
		b.SetGeneration(3)
		for _, pid := range r.PIDs() {
			if b.Add(pid, entry) != nil {
				return false
			}
		}
		return true
	}
	n, err := protocol.DispatchAppsLookup(&b, request, response, handler)
	noErr(t, "dispatch", err)
	v, err := protocol.DecodeAppsLookupResponse(response[:n])
	if err != nil || v.Len() != 2 || v.Generation() != 3 {
		t.Fatalf("response: %v", err)
	}
	it, _ := v.Item(1)
	l, _ := it.Labels.At(0)
	if it.PID != 6 || string(it.Comm) != "nginx" || string(l.Value) != "nginx" || it.Orchestrator.String() != "docker" ||
		it.CgroupStatus.String() != "KNOWN" || it.Status.String() != "KNOWN" {
		t.Errorf("item 1 %+v", it)
	}
	noAllocs(t, "dispatch", func() {
		if _, err := protocol.DispatchAppsLookup(&b, request, response, handler); err != nil {
			t.Fatal(err)
		}
	})
	noAllocs(t, "decode and read", func() {
		v, _ := protocol.DecodeAppsLookupResponse(response[:n])
		for _, it := range v.Items() {
			for _, l := range it.Labels.All() {
				_ = l
			}
		}
	})
	var de *protocol.DispatchError
	_, err = protocol.DispatchAppsLookup(&b, request, response,
		func(r *protocol.AppsLookupRequestView, b *protocol.AppsLookupBuilder) bool {
			return b.AddStatus(5, protocol.PIDUnknown) == nil
		})
	if !errors.As(err, &de) || !errors.Is(err, protocol.BadItemCount) {
		t.Errorf("one item for two pids: %v", err)
	}
	_, err = protocol.DispatchAppsLookup(&b, request[:15], response, handler)
	if !errors.As(err, &de) || de.Stage != protocol.DispatchBadRequest {
		t.Errorf("bad request: %v", err)
	}

	// Re-encoding the raw items gives the same bytes.
	n, err = protocol.DispatchAppsLookup(&b, request, response, handler)
	noErr(t, "dispatch", err)
	v, err = protocol.DecodeAppsLookupResponse(response[:n])
	noErr(t, "decode", err)
	var raws [][]byte
	for i := 0; i < v.Len(); i++ {
		raw, _ := v.RawItem(i)
		raws = append(raws, raw)
	}
	out := make([]byte, n)
	m, err := protocol.EncodeAppsLookupRawResponse(out, raws, 3)
	if err != nil || !bytes.Equal(out[:m], response[:n]) {
		t.Errorf("raw re-encoding: %v", err)
	}
	_, err = protocol.EncodeAppsLookupRawResponse(out, [][]byte{raws[0][:59]}, 3)
	expectKind(t, "a truncated raw item", err, protocol.Truncated)
}

func TestAppsLookupViewSurvivesPayloadChanges(t *testing.T) {
	buf := make([]byte, 1024)
	var b protocol.AppsLookupBuilder
	_ = b.Reset(buf, 2, 0)
	e := knownApp("x")
	e.Labels = []protocol.LookupLabel{{Key: "a", Value: "b"}, {Key: "c", Value: ""}}
	noErr(t, "add", b.Add(1, e))
	noErr(t, "add", b.AddStatus(2, protocol.PIDUnknown))
	n, _ := b.Finish()
	p := buf[:n]
	v, err := protocol.DecodeAppsLookupResponse(p)
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
