package client

import (
	"bytes"
	"context"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/testsvc"
	"github.com/netdata/netipc/go/protocol"
)

// Lookups of 32,768 keys against every provider behaviour of the field
// (the Go twins of the reference providers, on a fake network), every
// item checked, within the exchanges bound of the lookup docs.
func TestLookupsAgainstReferenceProviders(t *testing.T) {
	againstReferences(t, testsvc.CgroupsKind, func(d Dialer, cfg netipc.ClientConfig) testsvc.Call[[]byte, protocol.CgroupsLookupResponseView] {
		return NewCgroupsLookupWithDialer(d, cfg).Call
	})
	againstReferences(t, testsvc.AppsKind, func(d Dialer, cfg netipc.ClientConfig) testsvc.Call[uint32, protocol.AppsLookupResponseView] {
		return NewAppsLookupWithDialer(d, cfg).Call
	})
}

func againstReferences[K, V any](t *testing.T, k testsvc.Kind[K, V], client func(Dialer, netipc.ClientConfig) testsvc.Call[K, V]) {
	for name, b := range testsvc.Behaviours {
		t.Run(k.Lookup.String()+"/"+name, func(t *testing.T) {
			r := testsvc.NewReference(k.Lookup, b)
			// A logical call of ~3,000 exchanges: generous under -race on
			// a loaded machine.
			k.Rounds(t, r, 32_768, client(referenceNet(r).dialer, netipc.ClientConfig{CallTimeout: 5 * time.Minute}))
		})
	}
}

// craftedNet answers CGROUPS_LOOKUP requests (of 1 KiB at most) with
// not-enriched items of the status item gives (and the path it gives),
// with generation gen(n) for the n-th response. firsts gets the first
// path of each request.
func craftedNet(item func(n, i int, path []byte) ([]byte, protocol.CgroupsLookupStatus), gen func(n int) uint64,
	firsts *[]string) *fakeNet {
	f := referenceNet(testsvc.NewReference(testsvc.Cgroups, testsvc.CDefault))
	f.serve = nil
	n := 0
	f.handle = func(h protocol.Header, payload []byte) (protocol.Header, []byte, error) {
		n++
		req, err := protocol.DecodeCgroupsLookupRequest(payload)
		if err != nil {
			return reply(h, protocol.StatusBadEnvelope, nil)
		}
		out := make([]byte, 1<<20)
		var raws [][]byte
		for i, path := range req.Paths() {
			if i == 0 && firsts != nil {
				*firsts = append(*firsts, string(path))
			}
			p, status := item(n, i, path)
			m, _ := protocol.EncodeCgroupsLookupPlaceholder(out, p, status)
			raws = append(raws, append([]byte(nil), out[:m]...))
		}
		m, err := protocol.EncodeCgroupsLookupRawResponse(out, raws, gen(n))
		if err != nil {
			panic(err)
		}
		return reply(h, protocol.StatusOK, out[:m])
	}
	return f
}

func permanent(_, _ int, path []byte) ([]byte, protocol.CgroupsLookupStatus) {
	return path, protocol.CgroupsLookupUnknownPermanent
}

func TestLookupRejectsInconsistentAnswers(t *testing.T) {
	keys := testsvc.Paths(100)[:60]
	for name, tc := range map[string]struct {
		item func(n, i int, path []byte) ([]byte, protocol.CgroupsLookupStatus)
		gen  func(n int) uint64
		kind netipc.Kind
	}{
		"generation changes": {permanent, func(n int) uint64 { return uint64(n) }, netipc.ErrBadResponse},
		"path not echoed": {func(_, i int, path []byte) ([]byte, protocol.CgroupsLookupStatus) {
			if i == 3 {
				return []byte("/other"), protocol.CgroupsLookupKnown
			}
			return path, protocol.CgroupsLookupKnown
		}, func(int) uint64 { return 1 }, netipc.ErrBadResponse},
		"exceeded first": {func(_, _ int, path []byte) ([]byte, protocol.CgroupsLookupStatus) {
			return path, protocol.CgroupsLookupPayloadExceeded
		}, func(int) uint64 { return 1 }, netipc.ErrLimitExceeded},
		"answer after exceeded": {func(_, i int, path []byte) ([]byte, protocol.CgroupsLookupStatus) {
			if i == 2 {
				return path, protocol.CgroupsLookupPayloadExceeded
			}
			return path, protocol.CgroupsLookupKnown
		}, func(int) uint64 { return 1 }, netipc.ErrBadResponse},
	} {
		t.Run(name, func(t *testing.T) {
			f := craftedNet(tc.item, tc.gen, nil)
			c := NewCgroupsLookupWithDialer(f.dialer, netipc.ClientConfig{})
			_, err := c.Call(context.Background(), keys)
			wantKind(t, err, tc.kind)
			if st := c.Status(); st.ErrorCount != 1 {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestLookupAsksAPayloadExceededSuffixAgain(t *testing.T) {
	keys := testsvc.Paths(100)[:10]
	var firsts []string
	f := craftedNet(func(n, i int, path []byte) ([]byte, protocol.CgroupsLookupStatus) {
		if n == 1 && i >= 4 {
			return path, protocol.CgroupsLookupPayloadExceeded
		}
		return path, protocol.CgroupsLookupUnknownRetryLater
	}, func(int) uint64 { return 9 }, &firsts)
	c := NewCgroupsLookupWithDialer(f.dialer, netipc.ClientConfig{})
	v, err := c.Call(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != len(keys) || v.Generation() != 9 {
		t.Fatalf("%d items, generation %d", v.Len(), v.Generation())
	}
	for i := range keys {
		item, _ := v.Item(i)
		if !bytes.Equal(item.Path, keys[i]) || item.Status != protocol.CgroupsLookupUnknownRetryLater {
			t.Fatalf("item %d: %q %v", i, item.Path, item.Status)
		}
	}
	// Keys 0-9 (4 answered), then 4-9.
	if len(firsts) != 2 || firsts[1] != string(keys[4]) {
		t.Fatalf("sub-requests start at %q", firsts)
	}
}

func TestZeroKeysProbeTheGeneration(t *testing.T) {
	f := craftedNet(permanent, func(int) uint64 { return 42 }, nil)
	c := NewCgroupsLookupWithDialer(f.dialer, netipc.ClientConfig{})
	v, err := c.Call(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Len() != 0 || v.Generation() != 42 {
		t.Fatalf("%d items, generation %d", v.Len(), v.Generation())
	}
	if sent := f.sent(); len(sent) != 1 || sent[0].PayloadLen != 16 {
		t.Fatalf("requests %+v", sent)
	}
	a := NewAppsLookupWithDialer(referenceNet(testsvc.NewReference(testsvc.Apps, testsvc.RustGoDefault)).dialer, netipc.ClientConfig{})
	av, err := a.Call(context.Background(), []uint32{})
	if err != nil || av.Len() != 0 || av.Generation() != testsvc.Generation {
		t.Fatal(err)
	}
}

func TestLookupLimits(t *testing.T) {
	keys := testsvc.Paths(2000)
	for _, tc := range []struct {
		cfg   netipc.ClientConfig
		field string
		sent  bool
	}{
		{netipc.ClientConfig{MaxLookupItems: 1999}, "MaxLookupItems", false},
		{netipc.ClientConfig{MaxLookupSubcalls: 5}, "MaxLookupSubcalls", true},
		{netipc.ClientConfig{MaxLookupResponseBytes: 64 << 10}, "MaxLookupResponseBytes", true},
	} {
		t.Run(tc.field, func(t *testing.T) {
			f := referenceNet(testsvc.NewReference(testsvc.Cgroups, testsvc.CDefault))
			c := NewCgroupsLookupWithDialer(f.dialer, tc.cfg)
			_, err := c.Call(context.Background(), keys)
			wantKind(t, err, netipc.ErrLookupLimit)
			if !bytes.Contains([]byte(err.Error()), []byte("ClientConfig."+tc.field)) {
				t.Fatalf("message %q does not name the field", err)
			}
			if sent := len(f.sent()) > 0; sent != tc.sent {
				t.Fatalf("sent %v", sent)
			}
			if st := c.Status(); st.ErrorCount != 1 {
				t.Fatalf("status %+v", st)
			}
			// The client stays usable.
			if _, err := c.Call(context.Background(), keys[:3]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAPathThatCanNeverBeSentIsOversized(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 1500)
	long[0] = '/'
	keys := [][]byte{[]byte("/a"), long, []byte("/b")}
	f := referenceNet(testsvc.NewReference(testsvc.Cgroups, testsvc.CDefault))
	c := NewCgroupsLookupWithDialer(f.dialer, netipc.ClientConfig{MaxRequestPayloadBytes: 1024})
	v, err := c.Call(context.Background(), keys)
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.CgroupsLookupStatus{protocol.CgroupsLookupKnown, protocol.CgroupsLookupOversizedItem, protocol.CgroupsLookupKnown}
	for i := range keys {
		item, err := v.Item(i)
		if err != nil || !bytes.Equal(item.Path, keys[i]) || item.Status != want[i] {
			t.Fatalf("item %d: %v %v", i, item.Status, err)
		}
	}
	// A growable request size asks the provider for a larger one; it
	// refuses (its request size is fixed at 1 KiB) and the call fails, as
	// the Rust client's does; the client is not locked out.
	c = NewCgroupsLookupWithDialer(f.dialer, netipc.ClientConfig{})
	_, err = c.Call(context.Background(), keys)
	wantKind(t, err, netipc.ErrLimitExceeded)
	if _, err := c.Call(context.Background(), keys[:1]); err != nil {
		t.Fatal(err)
	}
}
