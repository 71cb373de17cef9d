package protocol

import (
	"bytes"
	"iter"
	"strings"
)

// CGROUPS_LOOKUP (method 4): ordered cgroup path -> metadata.
//
// Request: the lookup header, a directory, then each path followed by one
// NUL at an 8-aligned offset; the directory length counts the NUL.
// Response: the lookup header, a directory, then one item per path, in
// request order: a 28-byte fixed header, the path, the name, then the
// optional label table. The response decoder validates every item when
// the view is created.

// CgroupsLookupItemHeaderLen is the size of a CGROUPS_LOOKUP item's fixed
// header.
const CgroupsLookupItemHeaderLen = 28

// CgroupsLookupStatus is the outcome of one CGROUPS_LOOKUP key.
type CgroupsLookupStatus uint16

// The CGROUPS_LOOKUP outcomes.
const (
	// CgroupsLookupKnown: the path is known; name, orchestrator and
	// labels are filled in.
	CgroupsLookupKnown CgroupsLookupStatus = 0
	// CgroupsLookupUnknownRetryLater: not known yet; asking again later
	// may succeed.
	CgroupsLookupUnknownRetryLater CgroupsLookupStatus = 1
	// CgroupsLookupUnknownPermanent: not known and never will be.
	CgroupsLookupUnknownPermanent CgroupsLookupStatus = 2
	// CgroupsLookupPayloadExceeded: the response budget ran out at this
	// item; the client asks it again.
	CgroupsLookupPayloadExceeded CgroupsLookupStatus = 3
	// CgroupsLookupOversizedItem: this item can never fit a response; a
	// final outcome.
	CgroupsLookupOversizedItem CgroupsLookupStatus = 4
)

var cgroupsLookupStatusNames = [...]string{"KNOWN", "UNKNOWN_RETRY_LATER", "UNKNOWN_PERMANENT", "PAYLOAD_EXCEEDED", "OVERSIZED_ITEM"}

// String returns the specification's name of the status ("KNOWN", ...).
func (s CgroupsLookupStatus) String() string {
	return enumName(uint16(s), cgroupsLookupStatusNames[:], "CgroupsLookupStatus")
}

// CgroupsLookupPlaceholderLen is the size of a not-enriched item (a
// placeholder) for a path of pathLen bytes: 28 + pathLen + 1 + 1 (the
// path, then an empty name).
func CgroupsLookupPlaceholderLen(pathLen int) int {
	return CgroupsLookupItemHeaderLen + pathLen + 2
}

// CgroupsLookupRequestLen is the encoded size of a request for paths; ok
// is false when it does not fit the u32 sizes of the wire.
func CgroupsLookupRequestLen(paths [][]byte) (n int, ok bool) {
	end := uint64(LookupHeaderLen) + uint64(len(paths))*DirEntryLen
	for _, p := range paths {
		end = align8(end) + uint64(len(p)) + 1
	}
	return wireSize(end)
}

// CgroupsLookupSingleRequestLen is the size of a request carrying one key
// of pathLen bytes: 25 + pathLen.
func CgroupsLookupSingleRequestLen(pathLen int) int {
	return LookupHeaderLen + DirEntryLen + pathLen + 1
}

// CgroupsLookupRequestFit is how many keys from the start of paths a
// request of at most budget bytes carries: a client splits a logical
// lookup into requests of EncodeCgroupsLookupRequest(dst,
// paths[start:start+k]) with k from this.
func CgroupsLookupRequestFit(paths [][]byte, budget int) int {
	k, stringsLen := 0, 0
	for _, p := range paths {
		next := alignUp8(stringsLen) + len(p) + 1
		if LookupHeaderLen+(k+1)*DirEntryLen+next > budget {
			break
		}
		stringsLen = next
		k++
	}
	return k
}

// CgroupsLookupPlaceholdersFit is how many keys from the start of paths
// have minimal answers (the placeholders a server's budget rules fall
// back to) that fit a response of capacity bytes.
func CgroupsLookupPlaceholdersFit(paths [][]byte, capacity int) int {
	end, k := LookupHeaderLen, 0
	for _, p := range paths {
		end += DirEntryLen + alignUp8(CgroupsLookupPlaceholderLen(len(p)))
		if end > capacity {
			break
		}
		k++
	}
	return k
}

// EncodeCgroupsLookupRequest encodes a request for paths, in order, into
// dst and returns its length. It fails with BadLayout for an empty path
// or a path containing NUL, and with Overflow when dst is shorter than
// CgroupsLookupRequestLen(paths).
func EncodeCgroupsLookupRequest(dst []byte, paths [][]byte) (int, error) {
	for i, p := range paths {
		if len(p) == 0 || bytes.IndexByte(p, 0) >= 0 {
			return 0, codecErr(BadLayout, "cgroups lookup request path", LookupHeaderLen+i*DirEntryLen)
		}
	}
	total, ok := CgroupsLookupRequestLen(paths)
	if !ok || total > len(dst) {
		return 0, codecErr(Overflow, "cgroups lookup request", 0)
	}
	packedStart := LookupHeaderLen + len(paths)*DirEntryLen
	end := packedStart
	for i, p := range paths {
		start := alignUp8(end)
		clear(dst[end:start])
		copy(dst[start:], p)
		dst[start+len(p)] = 0
		entry := LookupHeaderLen + i*DirEntryLen
		// Offsets and lengths are below total, which fits a u32.
		setU32(dst, entry, uint32(start-packedStart))
		setU32(dst, entry+4, uint32(len(p)+1))
		end = start + len(p) + 1
	}
	setU16(dst, 0, 1)
	setU16(dst, 2, 0)
	setU32(dst, 4, uint32(len(paths)))
	setU32(dst, 8, 0)
	setU32(dst, 12, 0)
	return total, nil
}

// CgroupsLookupRequestView is a decoded CGROUPS_LOOKUP request borrowing
// its payload. The zero value is a request without keys.
type CgroupsLookupRequestView struct {
	lookupRequest
}

// DecodeCgroupsLookupRequest validates a whole request (header, ordered
// directory of keys at least 2 bytes long, every key's final NUL and no
// interior NUL) and returns its view. It allocates nothing. It fails with
// Truncated, BadLayout, BadAlignment, OutOfBounds or MissingNul and the
// offending byte offset.
func DecodeCgroupsLookupRequest(payload []byte) (CgroupsLookupRequestView, error) {
	count, err := lookupRequestHeader(payload, "cgroups lookup request header")
	if err != nil {
		return CgroupsLookupRequestView{}, err
	}
	packedStart, err := lookupOrderedDir(payload, count, 2, false, "cgroups lookup key")
	if err != nil {
		return CgroupsLookupRequestView{}, err
	}
	for i := 0; i < count; i++ {
		key, _ := lookupEntry(payload, packedStart, i)
		start := packedStart + intAt(payload, LookupHeaderLen+i*DirEntryLen)
		if key[len(key)-1] != 0 {
			return CgroupsLookupRequestView{}, codecErr(MissingNul, "cgroups lookup key terminator", start+len(key)-1)
		}
		if pos := bytes.IndexByte(key[:len(key)-1], 0); pos >= 0 {
			return CgroupsLookupRequestView{}, codecErr(BadLayout, "cgroups lookup key interior NUL", start+pos)
		}
	}
	return CgroupsLookupRequestView{lookupRequest{payload: payload, count: count, packedStart: packedStart}}, nil
}

// Path returns path i (without its NUL), a sub-slice of the payload. It
// fails with OutOfBounds for an index out of range.
func (r CgroupsLookupRequestView) Path(i int) ([]byte, error) {
	key, err := r.key(i, "cgroups lookup key")
	if err != nil {
		return nil, err
	}
	return key[: len(key)-1 : len(key)-1], nil
}

// Paths yields the paths in order with their index (stopping early only
// if the payload was changed after decoding).
func (r CgroupsLookupRequestView) Paths() iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for i := 0; i < r.count; i++ {
			p, err := r.Path(i)
			if err != nil || !yield(i, p) {
				return
			}
		}
	}
}

// CgroupsLookupEntry is what a server answers for one path besides the
// path itself. For any status other than CgroupsLookupKnown the
// orchestrator must be 0, the name empty and there must be no labels.
type CgroupsLookupEntry struct {
	// Status is the outcome.
	Status CgroupsLookupStatus
	// Orchestrator runs the cgroup (KNOWN items only).
	Orchestrator Orchestrator
	// Name is the cgroup's name (KNOWN items only; may be empty then
	// too).
	Name string
	// Labels are the cgroup's labels (KNOWN items only).
	Labels []LookupLabel
}

// CgroupsLookupItemView is one answered path of a decoded response. Path
// and Name are sub-slices of the payload (no copy, no NUL).
type CgroupsLookupItemView struct {
	// Status is the outcome.
	Status CgroupsLookupStatus
	// Orchestrator is any value for KNOWN items, 0 otherwise.
	Orchestrator Orchestrator
	// Path is the requested path, echoed (never empty).
	Path []byte
	// Name is the cgroup's name (empty unless KNOWN; may be empty then
	// too).
	Name []byte
	// Labels are the cgroup's labels (KNOWN items only).
	Labels LookupLabels
}

// checkCgroupsLookupSemantics checks the status rules of an item; shared
// by the decoder and the builder.
func checkCgroupsLookupSemantics(status CgroupsLookupStatus, orchestrator Orchestrator, pathLen, nameLen, labelCount int) error {
	if status > CgroupsLookupOversizedItem {
		return codecErr(BadLayout, "cgroups lookup item status", 2)
	}
	if pathLen == 0 {
		return codecErr(BadLayout, "cgroups lookup item path_length", 12)
	}
	if status != CgroupsLookupKnown {
		if orchestrator != OrchestratorUnknown {
			return codecErr(BadLayout, "cgroups lookup item orchestrator (not KNOWN)", 4)
		}
		if nameLen != 0 {
			return codecErr(BadLayout, "cgroups lookup item name_length (not KNOWN)", 20)
		}
		if labelCount != 0 {
			return codecErr(BadLayout, "cgroups lookup item label_count (not KNOWN)", 24)
		}
	}
	return nil
}

// decodeCgroupsLookupItem fully validates one item and returns its view.
func decodeCgroupsLookupItem(item []byte) (CgroupsLookupItemView, error) {
	const h = CgroupsLookupItemHeaderLen
	if len(item) < h {
		return CgroupsLookupItemView{}, codecErr(Truncated, "cgroups lookup item", len(item))
	}
	if u16at(item, 0) != 1 {
		return CgroupsLookupItemView{}, codecErr(BadLayout, "cgroups lookup item layout_version", 0)
	}
	if u16at(item, 6) != 0 {
		return CgroupsLookupItemView{}, codecErr(BadLayout, "cgroups lookup item reserved0", 6)
	}
	if u16at(item, 26) != 0 {
		return CgroupsLookupItemView{}, codecErr(BadLayout, "cgroups lookup item reserved1", 26)
	}
	status := CgroupsLookupStatus(u16at(item, 2))
	orchestrator := Orchestrator(u16at(item, 4))
	labelCount := int(u16at(item, 24))
	if err := checkCgroupsLookupSemantics(status, orchestrator, intAt(item, 12), intAt(item, 20), labelCount); err != nil {
		return CgroupsLookupItemView{}, err
	}
	path, err := lookupItemString(item, h, 8, "cgroups lookup item path")
	if err != nil {
		return CgroupsLookupItemView{}, err
	}
	name, err := lookupItemString(item, h, 16, "cgroups lookup item name")
	if err != nil {
		return CgroupsLookupItemView{}, err
	}
	if path.overlaps(name) {
		return CgroupsLookupItemView{}, codecErr(BadLayout, "cgroups lookup item path/name overlap", 16)
	}
	labels, err := lookupItemLabels(item, h, max(path.end, name.end), labelCount)
	if err != nil {
		return CgroupsLookupItemView{}, err
	}
	return CgroupsLookupItemView{
		Status:       status,
		Orchestrator: orchestrator,
		Path:         path.bytes,
		Name:         name.bytes,
		Labels:       labels,
	}, nil
}

func checkCgroupsLookupItem(item []byte) error {
	_, err := decodeCgroupsLookupItem(item)
	return err
}

// readCgroupsLookupItem reads an item the response decode validated,
// checking again only what keeps the read in bounds (a payload changed
// since cannot make it panic).
func readCgroupsLookupItem(item []byte) (CgroupsLookupItemView, error) {
	const h = CgroupsLookupItemHeaderLen
	if len(item) < h {
		return CgroupsLookupItemView{}, codecErr(Truncated, "cgroups lookup item", len(item))
	}
	path, pathEnd, err := terminatedString(item, h, 8, "cgroups lookup item path")
	if err != nil {
		return CgroupsLookupItemView{}, err
	}
	name, nameEnd, err := terminatedString(item, h, 16, "cgroups lookup item name")
	if err != nil {
		return CgroupsLookupItemView{}, err
	}
	return CgroupsLookupItemView{
		Status:       CgroupsLookupStatus(u16at(item, 2)),
		Orchestrator: Orchestrator(u16at(item, 4)),
		Path:         path,
		Name:         name,
		Labels:       LookupLabels{item: item, table: alignUp8(max(pathEnd, nameEnd)), count: int(u16at(item, 24))},
	}, nil
}

// CgroupsLookupResponseView is a decoded CGROUPS_LOOKUP response borrowing
// its payload; every item was validated when it was decoded. The zero
// value is a response without items.
type CgroupsLookupResponseView struct {
	lookupResponse
}

// DecodeCgroupsLookupResponse validates the header, the ordered directory
// and every item, and returns the response's view. It allocates nothing.
// It fails with the first violated rule and its byte offset in the
// payload.
func DecodeCgroupsLookupResponse(payload []byte) (CgroupsLookupResponseView, error) {
	r, err := decodeLookupResponse(payload, CgroupsLookupItemHeaderLen, checkCgroupsLookupItem)
	return CgroupsLookupResponseView{r}, err
}

// Item returns item i. It fails with OutOfBounds for an index out of
// range (or when the payload was changed after decoding).
func (v CgroupsLookupResponseView) Item(i int) (CgroupsLookupItemView, error) {
	raw, err := v.RawItem(i)
	if err != nil {
		return CgroupsLookupItemView{}, err
	}
	return readCgroupsLookupItem(raw)
}

// Items yields the items in order with their index. It stops early only
// if the payload was changed after decoding and an item no longer reads.
func (v CgroupsLookupResponseView) Items() iter.Seq2[int, CgroupsLookupItemView] {
	return lookupItems(v.lookupResponse, readCgroupsLookupItem)
}

// EncodeCgroupsLookupRawResponse builds a response from already-encoded
// items (for example the raw items of several sub-responses) and returns
// its length. Every item is fully validated first; items are placed at
// 8-aligned offsets with zeroed gaps. It fails with the first invalid
// item's error, or Overflow when dst is too small.
func EncodeCgroupsLookupRawResponse(dst []byte, items [][]byte, generation uint64) (int, error) {
	return encodeLookupRawResponse(dst, items, generation, checkCgroupsLookupItem)
}

// EncodeCgroupsLookupPlaceholder writes one not-enriched item (no name,
// orchestrator or labels) for path with status into dst and returns its
// length, CgroupsLookupPlaceholderLen(len(path)): the item a client makes
// for a key that can never be sent (CgroupsLookupOversizedItem). It fails
// with BadLayout for an empty path, a path containing NUL or a status
// outside the enum, and with Overflow when dst is too small.
func EncodeCgroupsLookupPlaceholder(dst, path []byte, status CgroupsLookupStatus) (int, error) {
	p := pathArg{b: path}
	if err := checkCgroupsLookupSemantics(status, 0, p.len(), 0, 0); err != nil {
		return 0, err
	}
	if p.hasNUL() {
		return 0, codecErr(BadLayout, "cgroups lookup item path", 8)
	}
	l := computeLookupLayout(CgroupsLookupItemHeaderLen, []int{p.len(), 0}, nil)
	if !l.ok || l.size > len(dst) {
		return 0, codecErr(Overflow, "cgroups lookup item", 0)
	}
	writeCgroupsLookupItem(dst[:l.size], &l, p, status, 0, "", nil)
	return l.size, nil
}

// pathArg is a path given as a string (Add) or as the bytes of a decoded
// request (AddRequestItem, EncodeCgroupsLookupPlaceholder); one of the two
// is empty.
type pathArg struct {
	s string
	b []byte
}

func (p pathArg) len() int { return len(p.s) + len(p.b) }

func (p pathArg) hasNUL() bool {
	return strings.IndexByte(p.s, 0) >= 0 || bytes.IndexByte(p.b, 0) >= 0
}

// writeCgroupsLookupItem writes a whole item laid out by l.
func writeCgroupsLookupItem(item []byte, l *lookupLayout, path pathArg, status CgroupsLookupStatus,
	orchestrator Orchestrator, name string, labels []LookupLabel) {
	// Offsets and lengths are below the item size, which fits a u32;
	// the label count was checked against u16.
	setU16(item, 0, 1)
	setU16(item, 2, uint16(status))
	setU16(item, 4, uint16(orchestrator))
	setU16(item, 6, 0)
	at := l.offsets[0]
	setU32(item, 8, uint32(at))
	setU32(item, 12, uint32(path.len()))
	copy(item[at:], path.s)
	copy(item[at+len(path.s):], path.b)
	item[at+path.len()] = 0
	putItemString(item, 16, l.offsets[1], name)
	setU16(item, 24, uint16(len(labels)))
	setU16(item, 26, 0)
	l.writeLabels(item, labels)
}

// CgroupsLookupBuilder builds a CGROUPS_LOOKUP response in a caller-owned
// buffer and applies the payload-budget rules of the reference server.
//
// Items are added in request order, one per key. When the buffer cannot
// hold an item together with the placeholders reserved for every later
// key (ResetForRequest reserves them), the builder converts it: the first
// item of the response becomes CgroupsLookupOversizedItem, any later one
// starts a CgroupsLookupPayloadExceeded suffix that the client asks
// again. The first error is sticky (Err). Reset and ResetForRequest reuse
// a builder without allocating.
//
// A builder is not safe for concurrent use.
type CgroupsLookupBuilder struct {
	lookupCore
	req    CgroupsLookupRequestView
	hasReq bool
}

// NewCgroupsLookupBuilder returns a builder over buf; see Reset.
func NewCgroupsLookupBuilder(buf []byte, maxItems int, generation uint64) (*CgroupsLookupBuilder, error) {
	b := new(CgroupsLookupBuilder)
	if err := b.Reset(buf, maxItems, generation); err != nil {
		return nil, err
	}
	return b, nil
}

// Reset starts a response of at most maxItems items in buf, with no
// placeholder reservation. It fails with Overflow when buf cannot hold the
// header and maxItems directory entries.
func (b *CgroupsLookupBuilder) Reset(buf []byte, maxItems int, generation uint64) error {
	b.req, b.hasReq = CgroupsLookupRequestView{}, false
	return b.reset(buf, maxItems, generation)
}

// ResetForRequest starts the response to req in buf: one item per key,
// with placeholder space reserved for every key so that a budget
// shortfall becomes a PAYLOAD_EXCEEDED suffix instead of a failure, and
// Finish failing with BadItemCount unless every key got its item. It
// fails with Overflow when buf cannot hold the header and the directory.
func (b *CgroupsLookupBuilder) ResetForRequest(buf []byte, req *CgroupsLookupRequestView, generation uint64) error {
	b.req, b.hasReq = *req, true
	return b.resetForRequest(buf, req.count, generation, func(i int) int {
		p, _ := req.Path(i)
		return CgroupsLookupPlaceholderLen(len(p))
	})
}

// AddStatus adds a not-enriched item (UNKNOWN_RETRY_LATER,
// UNKNOWN_PERMANENT, ...) for path; see Add.
func (b *CgroupsLookupBuilder) AddStatus(path string, status CgroupsLookupStatus) error {
	return b.add(pathArg{s: path}, true, &CgroupsLookupEntry{Status: status})
}

// AddRequestItem adds the item answering key i of the request the
// builder was reset for (ResetForRequest), taking the path from the
// request. It fails with BadLayout when the builder has no request or i
// is out of range; otherwise see Add.
func (b *CgroupsLookupBuilder) AddRequestItem(i int, e *CgroupsLookupEntry) error {
	if !b.hasReq {
		return b.fail(codecErr(BadLayout, "cgroups lookup request index", 0))
	}
	path, err := b.req.Path(i)
	if err != nil {
		return b.fail(codecErr(BadLayout, "cgroups lookup request index", 0))
	}
	return b.add(pathArg{b: path}, false, e)
}

// Add adds the item for path. It fails with BadLayout when the entry
// breaks the status rules (a non-KNOWN item with a name, labels or an
// orchestrator; a status outside the enum), the path is empty, a string
// contains NUL, a label key is empty or there are more than 65535 labels;
// with Overflow when every item was added already or even the placeholder
// does not fit. Every error is sticky.
func (b *CgroupsLookupBuilder) Add(path string, e *CgroupsLookupEntry) error {
	return b.add(pathArg{s: path}, true, e)
}

func (b *CgroupsLookupBuilder) add(path pathArg, checkPath bool, e *CgroupsLookupEntry) error {
	c := &b.lookupCore
	if c.suffixMode {
		return b.placeholder(path, CgroupsLookupPayloadExceeded)
	}
	if err := c.checkRoom(); err != nil {
		return err
	}
	if err := checkCgroupsLookupSemantics(e.Status, e.Orchestrator, path.len(), len(e.Name), len(e.Labels)); err != nil {
		return c.fail(err)
	}
	if checkPath && path.hasNUL() {
		return c.fail(codecErr(BadLayout, "lookup item string contains NUL", 0))
	}
	if err := checkLookupStrings([]string{e.Name}, e.Labels, 24); err != nil {
		return c.fail(err)
	}
	l := computeLookupLayout(CgroupsLookupItemHeaderLen, []int{path.len(), len(e.Name)}, e.Labels)
	placeholderLen := CgroupsLookupPlaceholderLen(path.len())
	switch {
	case l.ok && c.fits(l.size, placeholderLen):
		start, item, err := c.slot(l.size)
		if err != nil {
			return err
		}
		writeCgroupsLookupItem(item, &l, path, e.Status, e.Orchestrator, e.Name, e.Labels)
		c.commit(start, l.size, placeholderLen)
		return nil
	case c.count == 0:
		c.oversized = true
		return b.placeholder(path, CgroupsLookupOversizedItem)
	default:
		c.suffixMode = true
		return b.placeholder(path, CgroupsLookupPayloadExceeded)
	}
}

func (b *CgroupsLookupBuilder) placeholder(path pathArg, status CgroupsLookupStatus) error {
	c := &b.lookupCore
	if err := c.checkRoom(); err != nil {
		return err
	}
	if path.len() == 0 || path.hasNUL() {
		return c.fail(codecErr(BadLayout, "cgroups lookup item path", 8))
	}
	l := computeLookupLayout(CgroupsLookupItemHeaderLen, []int{path.len(), 0}, nil)
	if !l.ok {
		return c.fail(codecErr(Overflow, "cgroups lookup item", 0))
	}
	start, item, err := c.slot(l.size)
	if err != nil {
		return err
	}
	writeCgroupsLookupItem(item, &l, path, status, 0, "", nil)
	c.commit(start, l.size, l.size)
	return nil
}

// DispatchCgroupsLookup answers one CGROUPS_LOOKUP request on the server
// side: it decodes request, resets b over response for it
// (ResetForRequest, generation 0 until the handler sets it), lets handler
// add one item per key, and returns the response length. The request view
// handed to handler lives in b. After the call b tells whether the budget
// converted items (BudgetConverted).
//
// It fails with a *DispatchError: DispatchBadRequest when the request
// does not decode; DispatchBuilder with the builder's sticky error (an
// Overflow means the response buffer is too small even for the
// placeholders) or BadItemCount when the handler added another number of
// items than requested; DispatchHandlerFailed when the handler returned
// false without a builder error.
func DispatchCgroupsLookup(b *CgroupsLookupBuilder, request, response []byte,
	handler func(*CgroupsLookupRequestView, *CgroupsLookupBuilder) bool) (int, error) {
	req, err := DecodeCgroupsLookupRequest(request)
	if err != nil {
		return 0, &DispatchError{Stage: DispatchBadRequest, Err: err}
	}
	if err := b.ResetForRequest(response, &req, 0); err != nil {
		return 0, &DispatchError{Stage: DispatchBuilder, Err: err}
	}
	ok := handler(&b.req, b)
	if err := dispatchCheck(ok, b.Err()); err != nil {
		return 0, err
	}
	n, err := b.Finish()
	if err != nil {
		return 0, &DispatchError{Stage: DispatchBuilder, Err: err}
	}
	return n, nil
}
