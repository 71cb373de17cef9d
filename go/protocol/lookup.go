package protocol

import (
	"bytes"
	"iter"
	"math"
	"strings"
)

// What CGROUPS_LOOKUP and APPS_LOOKUP share: headers, the ordered
// directory, the item string rule, the label table, the budget-aware
// response builder and raw response re-encoding.

// Lookup sizes shared by both methods.
const (
	// LookupHeaderLen is the size of the lookup request header and of the
	// response header.
	LookupHeaderLen = 16
	// LookupLabelEntryLen is the size of one label table entry.
	LookupLabelEntryLen = 16
)

// Orchestrator is the orchestrator of a cgroup in lookup answers.
// Decoders accept and expose any value on items where the field may be
// non-zero.
type Orchestrator uint16

// The orchestrators the protocol names.
const (
	OrchestratorUnknown Orchestrator = 0
	OrchestratorSystemd Orchestrator = 1
	OrchestratorDocker  Orchestrator = 2
	OrchestratorK8s     Orchestrator = 3
	OrchestratorKVM     Orchestrator = 4
	OrchestratorLXC     Orchestrator = 5
	OrchestratorPodman  Orchestrator = 6
	OrchestratorNspawn  Orchestrator = 7
)

var orchestratorNames = [...]string{"unknown", "systemd", "docker", "k8s", "kvm", "lxc", "podman", "nspawn"}

// String returns the orchestrator's name ("docker", "k8s", ...) or
// "Orchestrator(N)" for values the protocol does not name.
func (o Orchestrator) String() string {
	return enumName(uint16(o), orchestratorNames[:], "Orchestrator")
}

// LookupLabel is one key = value label a server adds to a lookup item.
// The key must not be empty; neither may contain a NUL byte.
type LookupLabel struct {
	// Key is the label's name (not empty).
	Key string
	// Value is the label's value (may be empty).
	Value string
}

// LookupLabelView is one label of a decoded lookup item. Key and Value
// are sub-slices of the payload (no copy, no NUL).
type LookupLabelView struct {
	// Key is never empty.
	Key []byte
	// Value may be empty.
	Value []byte
}

// LookupLabels are the labels of a decoded lookup item, in wire order.
// The zero value has no labels.
type LookupLabels struct {
	item  []byte
	table int
	count int
}

// Len is the number of labels.
func (l LookupLabels) Len() int { return l.count }

// At returns label i. It fails with OutOfBounds for an index out of
// range; the entry is checked again (its strings lie inside the item and
// end with a NUL), so a payload changed after decoding cannot make the
// read panic.
func (l LookupLabels) At(i int) (LookupLabelView, error) {
	if i < 0 || i >= l.count {
		return LookupLabelView{}, codecErr(OutOfBounds, "lookup label index", l.table)
	}
	at := l.table + i*LookupLabelEntryLen
	if _, ok := spanEnd(at, LookupLabelEntryLen, len(l.item)); !ok {
		return LookupLabelView{}, codecErr(OutOfBounds, "lookup label table", at)
	}
	key, _, err := terminatedString(l.item, 0, at, "lookup label key")
	if err != nil {
		return LookupLabelView{}, err
	}
	value, _, err := terminatedString(l.item, 0, at+8, "lookup label value")
	if err != nil {
		return LookupLabelView{}, err
	}
	return LookupLabelView{Key: key, Value: value}, nil
}

// All yields the labels in order with their index. It stops early only if
// the payload was changed after decoding and a label no longer reads.
func (l LookupLabels) All() iter.Seq2[int, LookupLabelView] {
	return func(yield func(int, LookupLabelView) bool) {
		for i := 0; i < l.count; i++ {
			label, err := l.At(i)
			if err != nil || !yield(i, label) {
				return
			}
		}
	}
}

// lookupRequestHeader checks a lookup request header and returns its item
// count.
func lookupRequestHeader(payload []byte, what string) (int, error) {
	if len(payload) < LookupHeaderLen {
		return 0, codecErr(Truncated, what, len(payload))
	}
	if u16at(payload, 0) != 1 {
		return 0, codecErr(BadLayout, "lookup request layout_version", 0)
	}
	if u16at(payload, 2) != 0 {
		return 0, codecErr(BadLayout, "lookup request flags", 2)
	}
	if u32at(payload, 8) != 0 {
		return 0, codecErr(BadLayout, "lookup request reserved0", 8)
	}
	if u32at(payload, 12) != 0 {
		return 0, codecErr(BadLayout, "lookup request reserved1", 12)
	}
	return intAt(payload, 4), nil
}

// lookupOrderedDir validates the ordered directory of count entries that
// follows the 16-byte header and returns the start of the packed area.
// Entries must be 8-aligned, at least minLen long (exactly minLen when
// exact), inside the packed area, ascending and not overlapping.
func lookupOrderedDir(payload []byte, count, minLen int, exact bool, what string) (int, error) {
	packedStart, ok := dirEnd(LookupHeaderLen, count, len(payload))
	if !ok {
		return 0, codecErr(Truncated, "lookup directory", len(payload))
	}
	packedLen := len(payload) - packedStart
	prevEnd := 0
	for i := 0; i < count; i++ {
		at := LookupHeaderLen + i*DirEntryLen
		offset, n := intAt(payload, at), intAt(payload, at+4)
		if offset%8 != 0 {
			return 0, codecErr(BadAlignment, what, at)
		}
		if n < minLen || (exact && n != minLen) {
			return 0, codecErr(BadLayout, what, at+4)
		}
		end, ok := spanEnd(offset, n, packedLen)
		if !ok {
			return 0, codecErr(OutOfBounds, what, at+4)
		}
		if i > 0 && offset < prevEnd {
			return 0, codecErr(BadLayout, what, at)
		}
		prevEnd = end
	}
	return packedStart, nil
}

// lookupEntry returns the bytes of directory entry i of a payload whose
// directory was validated; ok is false (instead of a panic) only when the
// payload was changed since.
func lookupEntry(payload []byte, packedStart, i int) ([]byte, bool) {
	at := LookupHeaderLen + i*DirEntryLen
	if _, ok := spanEnd(at, DirEntryLen, len(payload)); !ok {
		return nil, false
	}
	start := packedStart + intAt(payload, at)
	end, ok := spanEnd(start, intAt(payload, at+4), len(payload))
	if !ok {
		return nil, false
	}
	return payload[start:end:end], true
}

// terminatedString reads the (offset u32, length u32) string described at
// byte at of item: at or after headerLen, inside the item, NUL-terminated.
// It returns the string and its end (NUL included).
func terminatedString(item []byte, headerLen, at int, what string) ([]byte, int, error) {
	offset, n := intAt(item, at), intAt(item, at+4)
	if offset < headerLen {
		return nil, 0, codecErr(OutOfBounds, what, at)
	}
	nul, ok := spanEnd(offset, n, len(item)-1)
	if !ok {
		return nil, 0, codecErr(OutOfBounds, what, at+4)
	}
	if item[nul] != 0 {
		return nil, 0, codecErr(MissingNul, what, nul)
	}
	return item[offset:nul:nul], nul + 1, nil
}

// itemString is a string of a lookup item and its occupied range
// [start, end) (NUL included).
type itemString struct {
	bytes      []byte
	start, end int
}

func (s itemString) overlaps(o itemString) bool { return s.start < o.end && o.start < s.end }

// lookupItemString applies the item string rule to the string described
// at byte at: offset at or after the fixed header, string and NUL inside
// the item, NUL terminator, no interior NUL.
func lookupItemString(item []byte, headerLen, at int, what string) (itemString, error) {
	s, end, err := terminatedString(item, headerLen, at, what)
	if err != nil {
		return itemString{}, err
	}
	if pos := bytes.IndexByte(s, 0); pos >= 0 {
		return itemString{}, codecErr(BadLayout, what, end-1-len(s)+pos)
	}
	return itemString{bytes: s, start: end - 1 - len(s), end: end}, nil
}

// lookupItemLabels validates the canonical item end and the label table:
// with no labels the item ends exactly at fixedEnd; otherwise zero padding
// to 8, the table, then key NUL value NUL pairs packed in order to the
// item's end. It returns the labels.
func lookupItemLabels(item []byte, headerLen, fixedEnd, count int) (LookupLabels, error) {
	if count == 0 {
		if len(item) != fixedEnd {
			return LookupLabels{}, codecErr(BadLayout, "lookup item end", min(fixedEnd, len(item)))
		}
		return LookupLabels{item: item, table: fixedEnd}, nil
	}
	table := alignUp8(fixedEnd)
	if table > len(item) {
		return LookupLabels{}, codecErr(OutOfBounds, "lookup label table", fixedEnd)
	}
	for i := fixedEnd; i < table; i++ {
		if item[i] != 0 {
			return LookupLabels{}, codecErr(BadLayout, "lookup label padding", i)
		}
	}
	expected, ok := spanEnd(table, count*LookupLabelEntryLen, len(item))
	if !ok {
		return LookupLabels{}, codecErr(OutOfBounds, "lookup label table", table)
	}
	for i := 0; i < count; i++ {
		at := table + i*LookupLabelEntryLen
		if u32at(item, at+4) == 0 {
			return LookupLabels{}, codecErr(BadLayout, "lookup label key_length", at+4)
		}
		for j, what := range [2]string{"lookup label key", "lookup label value"} {
			field := at + 8*j
			if intAt(item, field) != expected {
				return LookupLabels{}, codecErr(BadLayout, what, field)
			}
			s, err := lookupItemString(item, headerLen, field, what)
			if err != nil {
				return LookupLabels{}, err
			}
			expected = s.end
		}
	}
	if expected != len(item) {
		return LookupLabels{}, codecErr(BadLayout, "lookup item end", expected)
	}
	return LookupLabels{item: item, table: table, count: count}, nil
}

// lookupRequest is what both lookup request views have (they embed it).
type lookupRequest struct {
	payload     []byte
	count       int
	packedStart int
}

// Len is the number of keys (0: a generation probe).
func (r lookupRequest) Len() int { return r.count }

// Bytes is the payload the view was decoded from.
func (r lookupRequest) Bytes() []byte { return r.payload }

// key returns the bytes of key i, or an OutOfBounds error for an index
// out of range (or a payload changed after decoding).
func (r lookupRequest) key(i int, what string) ([]byte, error) {
	if i < 0 || i >= r.count {
		return nil, codecErr(OutOfBounds, what+" index", 4)
	}
	key, ok := lookupEntry(r.payload, r.packedStart, i)
	if !ok || len(key) == 0 {
		return nil, codecErr(OutOfBounds, what, LookupHeaderLen+i*DirEntryLen+4)
	}
	return key, nil
}

// lookupResponse is a validated lookup response (header, directory and
// every item); both response views embed it.
type lookupResponse struct {
	payload     []byte
	count       int
	packedStart int
	generation  uint64
}

// decodeLookupResponse validates the header, the ordered directory
// (entries at least itemHeaderLen long) and every item with checkItem.
func decodeLookupResponse(payload []byte, itemHeaderLen int, checkItem func([]byte) error) (lookupResponse, error) {
	if len(payload) < LookupHeaderLen {
		return lookupResponse{}, codecErr(Truncated, "lookup response header", len(payload))
	}
	if u16at(payload, 0) != 1 {
		return lookupResponse{}, codecErr(BadLayout, "lookup response layout_version", 0)
	}
	if u16at(payload, 2) != 0 {
		return lookupResponse{}, codecErr(BadLayout, "lookup response flags", 2)
	}
	count := intAt(payload, 4)
	packedStart, err := lookupOrderedDir(payload, count, itemHeaderLen, false, "lookup response item")
	if err != nil {
		return lookupResponse{}, err
	}
	for i := 0; i < count; i++ {
		item, _ := lookupEntry(payload, packedStart, i)
		if err := checkItem(item); err != nil {
			return lookupResponse{}, shifted(err, packedStart+intAt(payload, LookupHeaderLen+i*DirEntryLen))
		}
	}
	return lookupResponse{payload: payload, count: count, packedStart: packedStart, generation: u64at(payload, 8)}, nil
}

// Len is the number of items.
func (r lookupResponse) Len() int { return r.count }

// Generation is the provider's generation.
func (r lookupResponse) Generation() uint64 { return r.generation }

// Bytes is the payload the view was decoded from.
func (r lookupResponse) Bytes() []byte { return r.payload }

// RawItem returns the exact encoded bytes of item i (for re-encoding with
// EncodeCgroupsLookupRawResponse or EncodeAppsLookupRawResponse). It
// fails with OutOfBounds for an index out of range.
func (r lookupResponse) RawItem(i int) ([]byte, error) {
	if i < 0 || i >= r.count {
		return nil, codecErr(OutOfBounds, "lookup item index", 4)
	}
	item, ok := lookupEntry(r.payload, r.packedStart, i)
	if !ok {
		return nil, codecErr(OutOfBounds, "lookup response item", LookupHeaderLen+i*DirEntryLen+4)
	}
	return item, nil
}

// lookupItems yields the items of a response read with read, in order
// with their index, stopping early only if the payload was changed after
// decoding and an item no longer reads.
func lookupItems[T any](r lookupResponse, read func([]byte) (T, error)) iter.Seq2[int, T] {
	return func(yield func(int, T) bool) {
		for i := 0; i < r.count; i++ {
			raw, err := r.RawItem(i)
			if err != nil {
				return
			}
			item, err := read(raw)
			if err != nil || !yield(i, item) {
				return
			}
		}
	}
}

// encodeLookupRawResponse builds a response from already-encoded items,
// each of which must pass checkItem. Items go to 8-aligned positions with
// zeroed gaps.
func encodeLookupRawResponse(dst []byte, items [][]byte, generation uint64, checkItem func([]byte) error) (int, error) {
	packedStart, ok := dirEnd(LookupHeaderLen, len(items), len(dst))
	if !ok || !fitsU32(len(items)) {
		return 0, codecErr(Overflow, "lookup response directory", 0)
	}
	end := packedStart
	for i, item := range items {
		if err := checkItem(item); err != nil {
			return 0, err
		}
		start := alignUp8(end)
		stop, ok := spanEnd(start, len(item), len(dst))
		if !ok || !fitsU32(start-packedStart) || !fitsU32(len(item)) {
			return 0, codecErr(Overflow, "lookup response item", start)
		}
		clear(dst[end:start])
		copy(dst[start:], item)
		entry := LookupHeaderLen + i*DirEntryLen
		setU32(dst, entry, uint32(start-packedStart))
		setU32(dst, entry+4, uint32(len(item)))
		end = stop
	}
	setU16(dst, 0, 1)
	setU16(dst, 2, 0)
	setU32(dst, 4, uint32(len(items)))
	setU64(dst, 8, generation)
	return end, nil
}

// lookupLayout is the byte layout of one lookup item: the fixed header,
// the fixed strings packed after it, then (with labels) zero padding, the
// label table and the label strings.
type lookupLayout struct {
	offsets  [3]int // offsets of the fixed strings, relative to the item
	fixedEnd int
	size     int
	ok       bool // false when a size overflows a u32
}

// computeLookupLayout lays out an item with headerLen header bytes, the
// fixed strings of lengths lens and labels.
func computeLookupLayout(headerLen int, lens []int, labels []LookupLabel) lookupLayout {
	var l lookupLayout
	cursor := headerLen
	for i, n := range lens {
		l.offsets[i] = cursor
		cursor += n + 1
	}
	l.fixedEnd = cursor
	size := uint64(cursor)
	if len(labels) > 0 {
		size = uint64(alignUp8(cursor)) + uint64(len(labels))*LookupLabelEntryLen
		for _, lb := range labels {
			size += uint64(len(lb.Key)) + uint64(len(lb.Value)) + 2
		}
	}
	l.size, l.ok = wireSize(size)
	return l
}

// writeLabels writes the padding, the label table and the label strings
// of an item whose fixed strings end at fixedEnd.
func (l *lookupLayout) writeLabels(item []byte, labels []LookupLabel) {
	if len(labels) == 0 {
		return
	}
	table := alignUp8(l.fixedEnd)
	clear(item[l.fixedEnd:table])
	cursor := table + len(labels)*LookupLabelEntryLen
	for i, lb := range labels {
		entry := table + i*LookupLabelEntryLen
		cursor = putItemString(item, entry, cursor, lb.Key)
		cursor = putItemString(item, entry+8, cursor, lb.Value)
	}
}

// putItemString writes s and its NUL at offset of item, records
// (offset, length) at byte field, and returns the end (NUL included).
// Every offset and length is below the item size, which fits a u32.
func putItemString(item []byte, field, offset int, s string) int {
	setU32(item, field, uint32(offset))
	setU32(item, field+4, uint32(len(s)))
	copy(item[offset:], s)
	item[offset+len(s)] = 0
	return offset + len(s) + 1
}

// checkLookupStrings checks caller strings: no NUL anywhere, label keys
// not empty, at most 65535 labels (labelsAt is the label_count field for
// the error).
func checkLookupStrings(fixed []string, labels []LookupLabel, labelsAt int) error {
	if len(labels) > math.MaxUint16 {
		return codecErr(BadLayout, "lookup item label_count", labelsAt)
	}
	for _, s := range fixed {
		if strings.IndexByte(s, 0) >= 0 {
			return codecErr(BadLayout, "lookup item string contains NUL", 0)
		}
	}
	for _, lb := range labels {
		if lb.Key == "" {
			return codecErr(BadLayout, "lookup label key is empty", 0)
		}
		if strings.IndexByte(lb.Key, 0) >= 0 || strings.IndexByte(lb.Value, 0) >= 0 {
			return codecErr(BadLayout, "lookup label contains NUL", 0)
		}
	}
	return nil
}

// lookupCore is what both lookup response builders share (they embed it):
// the buffer, the directory reservation, the placeholder (suffix)
// reservation, the sticky error, and the methods that read or finish
// them.
type lookupCore struct {
	buf        []byte
	maxItems   int
	count      int
	end        int // end of the last item written
	generation uint64
	// suffix is the room reserved for the placeholders of items
	// count..reservedFor-1.
	suffix      int
	reservedFor int
	suffixMode  bool
	oversized   bool // the budget turned the first item into OVERSIZED_ITEM
	expected    int  // items the request has (-1: not bound to a request)
	err         error
}

// reset starts a response of at most maxItems items in buf.
func (c *lookupCore) reset(buf []byte, maxItems int, generation uint64) error {
	*c = lookupCore{buf: buf, maxItems: maxItems, generation: generation, expected: -1}
	end, ok := dirEnd(LookupHeaderLen, maxItems, len(buf))
	if !ok || !fitsU32(maxItems) {
		c.maxItems = 0
		c.buf = buf[:0]
		return c.fail(codecErr(Overflow, "lookup directory reservation", 0))
	}
	c.end = end
	return nil
}

// resetForRequest starts the response to a request of count keys in buf,
// reserving the room of every key's placeholder (placeholderLen(i) bytes)
// and expecting one item per key.
func (c *lookupCore) resetForRequest(buf []byte, count int, generation uint64, placeholderLen func(int) int) error {
	if err := c.reset(buf, count, generation); err != nil {
		return err
	}
	c.expected, c.reservedFor = count, count
	for i := 0; i < count; i++ {
		c.suffix += c.step(i, placeholderLen(i))
	}
	return nil
}

// step is the room the placeholder of item i takes in the reservation:
// rounded up to 8 except for the last reserved item.
func (c *lookupCore) step(i, placeholderLen int) int {
	switch {
	case i+1 < c.reservedFor:
		return alignUp8(placeholderLen)
	case i < c.reservedFor:
		return placeholderLen
	default:
		return 0
	}
}

// fail records the first error and returns err.
func (c *lookupCore) fail(err error) error {
	if c.err == nil {
		c.err = err
	}
	return err
}

// checkRoom fails with a sticky Overflow when the directory is full.
func (c *lookupCore) checkRoom() error {
	if c.count >= c.maxItems {
		return c.fail(codecErr(Overflow, "lookup item count", 4))
	}
	return nil
}

// fits reports whether an item of size bytes fits at the next aligned
// position together with the placeholders reserved for the items after
// it.
func (c *lookupCore) fits(size, placeholderLen int) bool {
	itemEnd, ok := spanEnd(alignUp8(c.end), size, len(c.buf))
	if !ok {
		return false
	}
	rest := c.suffix - min(c.step(c.count, placeholderLen), c.suffix)
	if rest == 0 {
		return true
	}
	_, ok = spanEnd(alignUp8(itemEnd), rest, len(c.buf))
	return ok
}

// slot zeroes the gap before the next item and returns the item's start
// and bytes; a sticky Overflow if size bytes do not fit there.
func (c *lookupCore) slot(size int) (int, []byte, error) {
	start := alignUp8(c.end)
	end, ok := spanEnd(start, size, len(c.buf))
	if !ok {
		return 0, nil, c.fail(codecErr(Overflow, "lookup item", start))
	}
	clear(c.buf[c.end:start])
	return start, c.buf[start:end:end], nil
}

// commit records the item of size bytes written at start (from slot).
func (c *lookupCore) commit(start, size, placeholderLen int) {
	packedStart := LookupHeaderLen + c.maxItems*DirEntryLen
	entry := LookupHeaderLen + c.count*DirEntryLen
	// Both fit: the item lies inside the buffer and its size fits a u32.
	setU32(c.buf, entry, uint32(start-packedStart))
	setU32(c.buf, entry+4, uint32(size))
	c.suffix -= min(c.step(c.count, placeholderLen), c.suffix)
	c.end = start + size
	c.count++
}

// SetGeneration sets the generation Finish writes.
func (c *lookupCore) SetGeneration(generation uint64) { c.generation = generation }

// Len is the number of items added so far.
func (c *lookupCore) Len() int { return c.count }

// Err is the first error of a reset or an add, if any.
func (c *lookupCore) Err() error { return c.err }

// SuffixMode reports whether the budget ran out and every further item
// becomes PAYLOAD_EXCEEDED.
func (c *lookupCore) SuffixMode() bool { return c.suffixMode }

// BudgetConverted reports whether the budget (not the handler) turned an
// item into OVERSIZED_ITEM or PAYLOAD_EXCEEDED. A server that can offer a
// larger response size may prefer to answer LIMIT_EXCEEDED instead, so
// that the client reconnects with the larger size.
func (c *lookupCore) BudgetConverted() bool { return c.oversized || c.suffixMode }

// Finish writes the header, moves the items behind the directory when
// fewer than reserved were added, and returns the payload length (the
// payload is the first n bytes of the buffer) and the first error: a
// sticky one, or BadItemCount when a builder reset for a request did not
// get one item per key. After Finish, adds fail until a reset.
func (c *lookupCore) Finish() (int, error) {
	if len(c.buf) < LookupHeaderLen { // never reset, or the reset failed
		return 0, c.fail(codecErr(Overflow, "lookup response header", 0))
	}
	reservedStart := LookupHeaderLen + c.maxItems*DirEntryLen
	packedStart := LookupHeaderLen + c.count*DirEntryLen
	copy(c.buf[packedStart:], c.buf[reservedStart:c.end])
	setU16(c.buf, 0, 1)
	setU16(c.buf, 2, 0)
	setU32(c.buf, 4, uint32(c.count))
	setU64(c.buf, 8, c.generation)
	// The reservation is now the directory: a second finish returns the
	// same payload, and adds fail until a reset.
	c.end -= reservedStart - packedStart
	c.maxItems = c.count
	err := c.err
	if err == nil && c.expected >= 0 && c.count != c.expected {
		err = codecErr(BadItemCount, "handler item count", 4)
	}
	return c.end, err
}
