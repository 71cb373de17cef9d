package protocol_test

// Fuzz targets of every payload decoder and of the builders. Seeds are the
// golden vectors of each decoder (valid and invalid). Every target checks
// that nothing panics and a property: accepted payloads re-encode through
// the encoders and builders to the same content (to the same bytes when
// the payload has the canonical layout), item and label access stays in
// bounds even on a payload changed after decoding, and the builders'
// budget rules hold.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

// addVectorSeeds adds the golden vectors whose decoder is one of decoders
// to f's corpus.
func addVectorSeeds(f *testing.F, decoders ...string) {
	dir := filepath.Join("..", "..", "crates", "netipc-tests", "tests", "data", "vectors")
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		f.Fatalf("golden vectors: %v", err)
	}
	var index struct {
		Vectors []struct {
			File    *string `json:"file"`
			Decoder string  `json:"decoder"`
			Fields  struct {
				Decoder string `json:"decoder"`
			} `json:"fields"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		f.Fatal(err)
	}
	seeded := 0
	for _, v := range index.Vectors {
		d := v.Decoder
		if d == "" {
			d = v.Fields.Decoder
		}
		for _, want := range decoders {
			if v.File != nil && d == want {
				b, err := os.ReadFile(filepath.Join(dir, *v.File))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
				seeded++
			}
		}
	}
	if seeded == 0 {
		f.Fatalf("no vectors for %v", decoders)
	}
}

// scrambled is a copy of p with every byte changed: reading a view over it
// (decoded from the original bytes) must not panic.
func scrambled(p []byte) []byte {
	out := make([]byte, len(p))
	for i, b := range p {
		out[i] = b ^ 0xa5 ^ byte(i)
	}
	return out
}

func FuzzIncrement(f *testing.F) {
	addVectorSeeds(f, "INCREMENT")
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := protocol.DecodeIncrement(p)
		if err != nil {
			if len(p) >= 8 {
				t.Fatalf("%d bytes rejected: %v", len(p), err)
			}
			return
		}
		var out [8]byte
		if _, err := protocol.EncodeIncrement(out[:], v); err != nil || !bytes.Equal(out[:], p[:8]) {
			t.Fatalf("re-encoded % x, %v", out, err)
		}
	})
}

func FuzzStringReverse(f *testing.F) {
	addVectorSeeds(f, "STRING_REVERSE")
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := protocol.DecodeStringReverse(p)
		if err != nil {
			return
		}
		out := make([]byte, protocol.StringReverseLen(len(s)))
		n, err := protocol.EncodeStringReverse(out, s)
		if err != nil || !bytes.Equal(out[:n], p[:n]) {
			t.Fatalf("re-encoded % x, %v", out[:n], err)
		}
	})
}

func FuzzCgroupsRequest(f *testing.F) {
	addVectorSeeds(f, "CGROUPS_REQ")
	f.Fuzz(func(t *testing.T, p []byte) {
		if _, err := protocol.DecodeCgroupsRequest(p); err != nil {
			return
		}
		var out [4]byte
		if _, err := protocol.EncodeCgroupsRequest(out[:]); err != nil || !bytes.Equal(out[:], p[:4]) {
			t.Fatalf("accepted % x", p[:4])
		}
	})
}

// rebuildCgroups builds a snapshot from the items of v with the builder.
func rebuildCgroups(t *testing.T, v protocol.CgroupsResponseView, items []protocol.CgroupsItemView) []byte {
	out := make([]byte, protocol.CgroupsResponseHeaderLen+len(items)*48+len(v.Bytes()))
	var b protocol.CgroupsBuilder
	if err := b.Reset(out, len(items)); err != nil {
		t.Fatal(err)
	}
	b.SetGeneration(v.Generation())
	b.SetSystemdEnabled(v.SystemdEnabled())
	for _, it := range items {
		if err := b.Add(it.Hash, it.Options, it.Enabled, string(it.Name), string(it.Path)); err != nil {
			t.Fatalf("rebuild: %v", err)
		}
	}
	n, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out[:n]
}

// cgroupsCanonical reports whether a decoded snapshot has the builder's
// layout: items packed at 8-aligned offsets with zero gaps, name at 32,
// path right after it, nothing after the last item.
func cgroupsCanonical(p []byte, items []protocol.CgroupsItemView) bool {
	le := binary.LittleEndian
	packed := protocol.CgroupsResponseHeaderLen + 8*len(items)
	at := 0
	for i, it := range items {
		entry := protocol.CgroupsResponseHeaderLen + 8*i
		offset, n := int(le.Uint32(p[entry:])), int(le.Uint32(p[entry+4:]))
		aligned := (at + 7) &^ 7
		if offset != aligned || n != protocol.CgroupsItemHeaderLen+len(it.Name)+len(it.Path)+2 ||
			!bytes.Equal(p[packed+at:packed+aligned], make([]byte, aligned-at)) {
			return false
		}
		item := p[packed+offset:]
		if le.Uint32(item[16:]) != 32 || int(le.Uint32(item[24:])) != 33+len(it.Name) {
			return false
		}
		at = offset + n
	}
	return len(p) == packed+at
}

func FuzzCgroupsResponse(f *testing.F) {
	addVectorSeeds(f, "CGROUPS_RESP")
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := protocol.DecodeCgroupsResponse(p)
		if err != nil {
			return
		}
		var items []protocol.CgroupsItemView
		firstBad := -1
		for i := -1; i <= v.Len(); i++ {
			it, err := v.Item(i)
			switch {
			case i < 0 || i == v.Len():
				if err == nil {
					t.Fatalf("index %d of %d accepted", i, v.Len())
				}
			case err == nil:
				items = append(items, it)
			case firstBad < 0:
				firstBad = i
			}
		}
		yielded, stopped := 0, false
		for _, err := range v.Items() {
			if stopped {
				t.Fatal("Items yielded after an error")
			}
			if err != nil {
				stopped = true
			} else {
				yielded++
			}
		}
		if stopped != (firstBad >= 0) || (stopped && yielded != firstBad) || (!stopped && yielded != v.Len()) {
			t.Fatalf("Items yielded %d items (stopped %v), the first bad one is %d", yielded, stopped, firstBad)
		}
		if len(items) == v.Len() {
			rebuilt := rebuildCgroups(t, v, items)
			w, err := protocol.DecodeCgroupsResponse(rebuilt)
			if err != nil || w.Len() != v.Len() {
				t.Fatalf("rebuilt snapshot: %v", err)
			}
			for i := range items {
				got, err := w.Item(i)
				if err != nil || got.Hash != items[i].Hash || got.Options != items[i].Options ||
					got.Enabled != items[i].Enabled || !bytes.Equal(got.Name, items[i].Name) || !bytes.Equal(got.Path, items[i].Path) {
					t.Fatalf("rebuilt item %d: %+v, %v", i, got, err)
				}
			}
			if cgroupsCanonical(p, items) && !bytes.Equal(rebuilt, p) {
				t.Fatalf("canonical snapshot rebuilt differently")
			}
		}
		w, _ := protocol.DecodeCgroupsResponse(p)
		other := scrambled(p)
		copy(w.Bytes(), other) // the view's payload changes under it
		for i := 0; i < w.Len(); i++ {
			_, _ = w.Item(i)
		}
	})
}

func FuzzCgroupsLookupRequest(f *testing.F) {
	addVectorSeeds(f, "CGL_REQ")
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := protocol.DecodeCgroupsLookupRequest(p)
		if err != nil {
			return
		}
		var keys [][]byte
		for _, path := range r.Paths() {
			keys = append(keys, path)
		}
		if len(keys) != r.Len() {
			t.Fatalf("%d paths of %d", len(keys), r.Len())
		}
		n, ok := protocol.CgroupsLookupRequestLen(keys)
		if !ok || protocol.CgroupsLookupRequestFit(keys, n) != len(keys) || n > len(p) {
			t.Fatalf("request length %d, fit %d", n, protocol.CgroupsLookupRequestFit(keys, n))
		}
		out := make([]byte, n)
		if _, err := protocol.EncodeCgroupsLookupRequest(out, keys); err != nil {
			t.Fatal(err)
		}
		again, err := protocol.DecodeCgroupsLookupRequest(out)
		if err != nil || again.Len() != len(keys) {
			t.Fatalf("re-encoded request: %v", err)
		}
		for i, path := range again.Paths() {
			if !bytes.Equal(path, keys[i]) {
				t.Fatalf("path %d: %q, want %q", i, path, keys[i])
			}
		}
		if n == len(p) {
			// The same size means the same layout: equal bytes but for the
			// gaps between keys, which the decoder does not read.
			masked := bytes.Clone(p)
			packed := protocol.LookupHeaderLen + 8*len(keys)
			covered := make([]bool, len(p))
			for i := 0; i < packed; i++ {
				covered[i] = true
			}
			for i := range keys {
				at := protocol.LookupHeaderLen + 8*i
				off, kn := int(binary.LittleEndian.Uint32(out[at:])), int(binary.LittleEndian.Uint32(out[at+4:]))
				for j := packed + off; j < packed+off+kn; j++ {
					covered[j] = true
				}
			}
			for i := range masked {
				if !covered[i] {
					masked[i] = 0
				}
			}
			if !bytes.Equal(masked, out) {
				t.Fatalf("a request of the encoder's size re-encodes differently")
			}
		}
		copy(r.Bytes(), scrambled(p))
		for i := -1; i <= r.Len(); i++ {
			_, _ = r.Path(i)
		}
	})
}

func FuzzAppsLookupRequest(f *testing.F) {
	addVectorSeeds(f, "APPS_REQ")
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := protocol.DecodeAppsLookupRequest(p)
		if err != nil {
			return
		}
		var pids []uint32
		for _, pid := range r.PIDs() {
			pids = append(pids, pid)
		}
		out := make([]byte, protocol.AppsLookupRequestLen(len(pids)))
		if _, err := protocol.EncodeAppsLookupRequest(out, pids); err != nil {
			t.Fatal(err)
		}
		again, err := protocol.DecodeAppsLookupRequest(out)
		if err != nil || again.Len() != len(pids) {
			t.Fatalf("re-encoded request: %v", err)
		}
		for i, pid := range again.PIDs() {
			if pid != pids[i] {
				t.Fatalf("pid %d: %d, want %d", i, pid, pids[i])
			}
		}
		if len(out) == len(p) && !bytes.Equal(out, p) {
			t.Fatal("a request of the encoder's size re-encodes differently")
		}
		copy(r.Bytes(), scrambled(p))
		for i := -1; i <= r.Len(); i++ {
			_, _ = r.PID(i)
		}
	})
}

func labelsOf(t *testing.T, l protocol.LookupLabels) []protocol.LookupLabel {
	var out []protocol.LookupLabel
	for i := -1; i <= l.Len(); i++ {
		lb, err := l.At(i)
		if (err == nil) != (i >= 0 && i < l.Len()) {
			t.Fatalf("label %d of %d: %v", i, l.Len(), err)
		}
		if err == nil {
			out = append(out, protocol.LookupLabel{Key: string(lb.Key), Value: string(lb.Value)})
		}
	}
	return out
}

// lookupView is what both lookup response views have.
type lookupView interface {
	Len() int
	Generation() uint64
	RawItem(int) ([]byte, error)
	Bytes() []byte
}

// checkLookupRebuild checks the response rebuilt (through the builder)
// from the accepted payload p of view v: the same count and generation,
// the raw items re-encode, and a canonical p (its fixed strings packed in
// the builder's order, its items packed as the raw encoder packs them) is
// rebuilt byte for byte.
func checkLookupRebuild(t *testing.T, p []byte, v, rebuilt lookupView, stringsCanonical bool,
	encodeRaw func([]byte, [][]byte, uint64) (int, error)) {
	if rebuilt.Len() != v.Len() || rebuilt.Generation() != v.Generation() {
		t.Fatalf("rebuilt %d items, generation %d", rebuilt.Len(), rebuilt.Generation())
	}
	var items [][]byte
	size := protocol.LookupHeaderLen
	for i := 0; i < v.Len(); i++ {
		it, err := v.RawItem(i)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
		size += 8 + len(it) + 7
	}
	out := make([]byte, size)
	n, err := encodeRaw(out, items, v.Generation())
	if err != nil {
		t.Fatalf("raw re-encoding of accepted items: %v", err)
	}
	if stringsCanonical && bytes.Equal(out[:n], p) && !bytes.Equal(rebuilt.Bytes(), p) {
		t.Fatal("a canonical response rebuilds differently")
	}
}

// readScrambled changes every byte under view v and reads every item and
// label: nothing may panic.
func readScrambled(v lookupView, labels func(i int) protocol.LookupLabels) {
	copy(v.Bytes(), scrambled(v.Bytes()))
	for i := 0; i < v.Len(); i++ {
		l := labels(i)
		for k := 0; k < l.Len(); k++ {
			_, _ = l.At(k)
		}
	}
}

// itemAccess checks that item i of n is readable exactly when i is in
// range.
func itemAccess(t *testing.T, i, n int, err error) bool {
	if (err == nil) != (i >= 0 && i < n) {
		t.Fatalf("item %d of %d: %v", i, n, err)
	}
	return err == nil
}

func FuzzCgroupsLookupResponse(f *testing.F) {
	addVectorSeeds(f, "CGL_RESP")
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := protocol.DecodeCgroupsLookupResponse(p)
		if err != nil {
			return
		}
		out := make([]byte, protocol.LookupHeaderLen+v.Len()*16+2*len(p))
		b, err := protocol.NewCgroupsLookupBuilder(out, v.Len(), v.Generation())
		if err != nil {
			t.Fatal(err)
		}
		canonical := true
		for i := -1; i <= v.Len(); i++ {
			it, err := v.Item(i)
			if !itemAccess(t, i, v.Len(), err) {
				continue
			}
			raw, _ := v.RawItem(i)
			le := binary.LittleEndian
			canonical = canonical && le.Uint32(raw[8:]) == protocol.CgroupsLookupItemHeaderLen &&
				int(le.Uint32(raw[16:])) == protocol.CgroupsLookupItemHeaderLen+len(it.Path)+1
			e := &protocol.CgroupsLookupEntry{Status: it.Status, Orchestrator: it.Orchestrator, Name: string(it.Name), Labels: labelsOf(t, it.Labels)}
			if err := b.Add(string(it.Path), e); err != nil {
				t.Fatalf("an accepted item does not rebuild: %v", err)
			}
		}
		n, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		w, err := protocol.DecodeCgroupsLookupResponse(out[:n])
		if err != nil {
			t.Fatalf("rebuilt response: %v", err)
		}
		for i, got := range w.Items() {
			want, _ := v.Item(i)
			if got.Status != want.Status || got.Orchestrator != want.Orchestrator || !bytes.Equal(got.Path, want.Path) ||
				!bytes.Equal(got.Name, want.Name) || got.Labels.Len() != want.Labels.Len() {
				t.Fatalf("rebuilt item %d: %+v, want %+v", i, got, want)
			}
		}
		checkLookupRebuild(t, p, v, w, canonical, protocol.EncodeCgroupsLookupRawResponse)
		readScrambled(v, func(i int) protocol.LookupLabels { it, _ := v.Item(i); return it.Labels })
	})
}

func FuzzAppsLookupResponse(f *testing.F) {
	addVectorSeeds(f, "APPS_RESP")
	f.Fuzz(func(t *testing.T, p []byte) {
		v, err := protocol.DecodeAppsLookupResponse(p)
		if err != nil {
			return
		}
		out := make([]byte, protocol.LookupHeaderLen+v.Len()*16+2*len(p))
		b, err := protocol.NewAppsLookupBuilder(out, v.Len(), v.Generation())
		if err != nil {
			t.Fatal(err)
		}
		canonical := true
		for i := -1; i <= v.Len(); i++ {
			it, err := v.Item(i)
			if !itemAccess(t, i, v.Len(), err) {
				continue
			}
			raw, _ := v.RawItem(i)
			le := binary.LittleEndian
			path := protocol.AppsLookupItemHeaderLen + len(it.Comm) + 1
			canonical = canonical && le.Uint32(raw[32:]) == protocol.AppsLookupItemHeaderLen &&
				int(le.Uint32(raw[40:])) == path && int(le.Uint32(raw[48:])) == path+len(it.CgroupPath)+1
			e := &protocol.AppsLookupEntry{
				Status: it.Status, CgroupStatus: it.CgroupStatus, Orchestrator: it.Orchestrator,
				PPID: it.PPID, UID: it.UID, StartTime: it.StartTime,
				Comm: string(it.Comm), CgroupPath: string(it.CgroupPath), CgroupName: string(it.CgroupName),
				Labels: labelsOf(t, it.Labels),
			}
			if err := b.Add(it.PID, e); err != nil {
				t.Fatalf("an accepted item does not rebuild: %v", err)
			}
		}
		n, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		w, err := protocol.DecodeAppsLookupResponse(out[:n])
		if err != nil {
			t.Fatalf("rebuilt response: %v", err)
		}
		for i, got := range w.Items() {
			want, _ := v.Item(i)
			if got.PID != want.PID || got.Status != want.Status || got.UID != want.UID || got.StartTime != want.StartTime ||
				!bytes.Equal(got.Comm, want.Comm) || !bytes.Equal(got.CgroupName, want.CgroupName) || got.Labels.Len() != want.Labels.Len() {
				t.Fatalf("rebuilt item %d: %+v, want %+v", i, got, want)
			}
		}
		checkLookupRebuild(t, p, v, w, canonical, protocol.EncodeAppsLookupRawResponse)
		readScrambled(v, func(i int) protocol.LookupLabels { it, _ := v.Item(i); return it.Labels })
	})
}

// gen draws values from fuzz bytes (zeros once they run out).
type gen struct{ b []byte }

func (g *gen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

// text is a NUL-free string of 0..max bytes.
func (g *gen) text(max int) string {
	n := int(g.byte()) % (max + 1)
	s := make([]byte, n)
	for i := range s {
		s[i] = 'a' + g.byte()%26
	}
	return string(s)
}

func (g *gen) labels() []protocol.LookupLabel {
	out := make([]protocol.LookupLabel, g.byte()%4)
	for i := range out {
		out[i] = protocol.LookupLabel{Key: "k" + g.text(20), Value: g.text(40)}
	}
	return out
}

func FuzzCgroupsBuilder(f *testing.F) {
	f.Add(uint16(75), []byte{1, 4, 5})
	f.Add(uint16(300), []byte{3, 10, 20, 0, 0, 30, 1})
	f.Fuzz(func(t *testing.T, budget uint16, seed []byte) {
		g := &gen{seed}
		type item struct{ name, path string }
		items := make([]item, g.byte()%8)
		at := 0
		for i := range items {
			items[i] = item{g.text(60), "/" + g.text(60)}
			at = (at+7)&^7 + 34 + len(items[i].name) + len(items[i].path)
		}
		size := protocol.CgroupsResponseHeaderLen + 8*len(items) + at
		buf := make([]byte, budget)
		var b protocol.CgroupsBuilder
		if err := b.Reset(buf, len(items)); err != nil {
			if protocol.CgroupsResponseHeaderLen+8*len(items) <= int(budget) {
				t.Fatalf("reset: %v", err)
			}
			return
		}
		for i, it := range items {
			_ = b.Add(uint32(i), 0, 1, it.name, it.path)
		}
		n, err := b.Finish()
		if (err == nil) != (size <= int(budget)) {
			t.Fatalf("%d items of %d bytes in %d: %v", len(items), size, budget, err)
		}
		if err != nil {
			return
		}
		v, err := protocol.DecodeCgroupsResponse(buf[:n])
		if err != nil || v.Len() != len(items) || n != size {
			t.Fatalf("built snapshot of %d bytes: %v", n, err)
		}
		i := 0
		for got, err := range v.Items() {
			if err != nil || got.Hash != uint32(i) || string(got.Name) != items[i].name || string(got.Path) != items[i].path {
				t.Fatalf("item %d: %+v, %v", i, got, err)
			}
			i++
		}
	})
}

// lookupItemSize is the size of a lookup item whose fixed part (header
// and NUL-terminated fixed strings) takes fixed bytes, with labels.
func lookupItemSize(fixed int, labels []protocol.LookupLabel) int {
	if len(labels) == 0 {
		return fixed
	}
	size := (fixed+7)&^7 + 16*len(labels)
	for _, l := range labels {
		size += len(l.Key) + len(l.Value) + 2
	}
	return size
}

// Outcomes of one item of a budget-bound response.
const (
	answered = iota
	exceeded
	oversized
)

// checkBudget checks the Finish of a builder reset for a request of n
// keys in budget bytes: an Overflow exactly when the directory and the
// placeholders (reserve bytes) do not fit; otherwise the response decodes
// (decode gives the outcome of every item, checking the answered ones),
// PAYLOAD_EXCEEDED comes only as a suffix, OVERSIZED_ITEM only first,
// BudgetConverted tells whether any item was converted, and nothing is
// converted when every answer fits (allReal bytes of items).
func checkBudget(t *testing.T, n, budget, reserve, allReal int, finishErr error, budgetConverted bool,
	decode func() ([]int, error)) {
	dir := protocol.LookupHeaderLen + 8*n
	if (finishErr != nil) != (dir+reserve > budget) {
		t.Fatalf("placeholders need %d of %d bytes: %v", dir+reserve, budget, finishErr)
	}
	if finishErr != nil {
		expectKind(t, "placeholders do not fit", finishErr, protocol.Overflow)
		return
	}
	outcomes, err := decode()
	if err != nil || len(outcomes) != n {
		t.Fatalf("built response: %d items, %v", len(outcomes), err)
	}
	suffix, converted := false, false
	for i, o := range outcomes {
		if o == exceeded {
			suffix = true
		} else if suffix {
			t.Fatalf("item %d follows a PAYLOAD_EXCEEDED item", i)
		}
		if o == oversized && i != 0 {
			t.Fatalf("item %d is OVERSIZED_ITEM but not first", i)
		}
		converted = converted || o != answered
	}
	if converted != budgetConverted {
		t.Fatalf("BudgetConverted %v, items converted %v", budgetConverted, converted)
	}
	if dir+allReal <= budget && converted {
		t.Fatal("items converted although every answer fits")
	}
}

func FuzzCgroupsLookupBuilder(f *testing.F) {
	f.Add(uint16(248), []byte{3, 5, 1, 0, 10, 2, 7, 3, 1})
	f.Add(uint16(1000), []byte{8, 30, 0, 0, 40, 3, 200, 1, 60})
	f.Fuzz(func(t *testing.T, budget uint16, seed []byte) {
		g := &gen{seed}
		n := int(g.byte()%8) + 1
		keys := make([][]byte, n)
		entries := make([]protocol.CgroupsLookupEntry, n)
		reserve, allReal := 0, 0
		for i := range keys {
			keys[i] = []byte("/" + g.text(50))
			if g.byte()%3 == 0 {
				entries[i] = protocol.CgroupsLookupEntry{Status: protocol.CgroupsLookupStatus(1 + g.byte()%2)}
			} else {
				entries[i] = protocol.CgroupsLookupEntry{Orchestrator: protocol.Orchestrator(g.byte()), Name: g.text(40), Labels: g.labels()}
			}
			p := protocol.CgroupsLookupPlaceholderLen(len(keys[i]))
			if i < n-1 {
				p = (p + 7) &^ 7
			}
			reserve += p
			allReal = (allReal+7)&^7 + lookupItemSize(28+len(keys[i])+len(entries[i].Name)+2, entries[i].Labels)
		}
		reqLen, _ := protocol.CgroupsLookupRequestLen(keys)
		reqBuf := make([]byte, reqLen)
		if _, err := protocol.EncodeCgroupsLookupRequest(reqBuf, keys); err != nil {
			t.Fatal(err)
		}
		req, err := protocol.DecodeCgroupsLookupRequest(reqBuf)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, budget)
		var b protocol.CgroupsLookupBuilder
		if err := b.ResetForRequest(buf, &req, 1); err != nil {
			if protocol.LookupHeaderLen+8*n <= int(budget) {
				t.Fatalf("reset for %d keys in %d bytes: %v", n, budget, err)
			}
			return
		}
		for i := range entries {
			_ = b.AddRequestItem(i, &entries[i])
		}
		m, err := b.Finish()
		checkBudget(t, n, int(budget), reserve, allReal, err, b.BudgetConverted(), func() ([]int, error) {
			v, err := protocol.DecodeCgroupsLookupResponse(buf[:m])
			var outcomes []int
			for i, it := range v.Items() {
				if !bytes.Equal(it.Path, keys[i]) {
					t.Fatalf("item %d echoes %q", i, it.Path)
				}
				switch it.Status {
				case protocol.CgroupsLookupPayloadExceeded:
					outcomes = append(outcomes, exceeded)
				case protocol.CgroupsLookupOversizedItem:
					outcomes = append(outcomes, oversized)
				default:
					if it.Status != entries[i].Status || string(it.Name) != entries[i].Name || it.Labels.Len() != len(entries[i].Labels) {
						t.Fatalf("item %d: %+v", i, it)
					}
					outcomes = append(outcomes, answered)
				}
			}
			return outcomes, err
		})
	})
}

func FuzzAppsLookupBuilder(f *testing.F) {
	f.Add(uint16(255), []byte{3, 1, 5, 0, 10, 2, 7, 3, 1})
	f.Add(uint16(1000), []byte{8, 30, 0, 0, 40, 3, 200, 1, 60})
	f.Fuzz(func(t *testing.T, budget uint16, seed []byte) {
		g := &gen{seed}
		n := int(g.byte()%8) + 1
		pids := make([]uint32, n)
		entries := make([]protocol.AppsLookupEntry, n)
		allReal := 0
		for i := range pids {
			pids[i] = uint32(g.byte()) << 8
			if g.byte()%3 == 0 {
				entries[i] = protocol.AppsLookupEntry{Status: protocol.PIDUnknown, UID: protocol.UIDUnset}
			} else {
				entries[i] = protocol.AppsLookupEntry{Orchestrator: protocol.Orchestrator(g.byte()), PPID: 1, UID: 2, StartTime: 3,
					Comm: "c" + g.text(14), CgroupPath: "/" + g.text(50), CgroupName: g.text(20), Labels: g.labels()}
			}
			e := &entries[i]
			allReal = (allReal+7)&^7 + lookupItemSize(60+len(e.Comm)+len(e.CgroupPath)+len(e.CgroupName)+3, e.Labels)
		}
		reqBuf := make([]byte, protocol.AppsLookupRequestLen(n))
		if _, err := protocol.EncodeAppsLookupRequest(reqBuf, pids); err != nil {
			t.Fatal(err)
		}
		req, err := protocol.DecodeAppsLookupRequest(reqBuf)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, budget)
		var b protocol.AppsLookupBuilder
		if err := b.ResetForRequest(buf, &req, 1); err != nil {
			if protocol.LookupHeaderLen+8*n <= int(budget) {
				t.Fatalf("reset for %d keys in %d bytes: %v", n, budget, err)
			}
			return
		}
		for i := range entries {
			_ = b.Add(pids[i], &entries[i])
		}
		m, err := b.Finish()
		reserve := (n-1)*64 + protocol.AppsLookupPlaceholderLen
		checkBudget(t, n, int(budget), reserve, allReal, err, b.BudgetConverted(), func() ([]int, error) {
			v, err := protocol.DecodeAppsLookupResponse(buf[:m])
			var outcomes []int
			for i, it := range v.Items() {
				if it.PID != pids[i] {
					t.Fatalf("item %d echoes pid %d", i, it.PID)
				}
				switch it.Status {
				case protocol.PIDPayloadExceeded:
					outcomes = append(outcomes, exceeded)
				case protocol.PIDOversizedItem:
					outcomes = append(outcomes, oversized)
				default:
					if it.Status != entries[i].Status || string(it.Comm) != entries[i].Comm || it.Labels.Len() != len(entries[i].Labels) {
						t.Fatalf("item %d: %+v", i, it)
					}
					outcomes = append(outcomes, answered)
				}
			}
			return outcomes, err
		})
	})
}
