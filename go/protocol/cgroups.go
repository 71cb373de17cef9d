package protocol

import "iter"

// CGROUPS_SNAPSHOT (method 2): the full list of cgroups, every time.
//
//	request   layout_version u16 = 1, flags u16 = 0
//	response  [ header 24 ][ directory: item_count x 8 ][ packed items ]
//	item      [ fixed 32 ][ name NUL ][ path NUL ]
//
// The response decoder validates the header and the directory; each item
// is validated when it is read, exactly like the reference peers. A
// consumer that needs every item must treat an item error as a failed
// refresh.

// CGROUPS_SNAPSHOT sizes.
const (
	// CgroupsRequestLen is the size of the snapshot request.
	CgroupsRequestLen = 4
	// CgroupsResponseHeaderLen is the size of the response header.
	CgroupsResponseHeaderLen = 24
	// CgroupsItemHeaderLen is the size of an item's fixed part.
	CgroupsItemHeaderLen = 32
	// cgroupsMinItemFootprint is a directory entry plus the smallest
	// aligned item, the unit of CgroupsEstimateMaxItems.
	cgroupsMinItemFootprint = DirEntryLen + 40
)

// CgroupsRequest is the decoded snapshot request. It has no parameters:
// every request asks for the full snapshot.
type CgroupsRequest struct{}

// EncodeCgroupsRequest writes the 4-byte request {layout_version 1,
// flags 0} into dst and returns 4; Overflow when dst is shorter.
func EncodeCgroupsRequest(dst []byte) (int, error) {
	if len(dst) < CgroupsRequestLen {
		return 0, codecErr(Overflow, "snapshot request", 0)
	}
	setU16(dst, 0, 1)
	setU16(dst, 2, 0)
	return CgroupsRequestLen, nil
}

// DecodeCgroupsRequest checks a snapshot request. Extra bytes are
// ignored. It fails with Truncated (fewer than 4 bytes) or BadLayout
// (layout_version or flags).
func DecodeCgroupsRequest(payload []byte) (CgroupsRequest, error) {
	if len(payload) < CgroupsRequestLen {
		return CgroupsRequest{}, codecErr(Truncated, "snapshot request", len(payload))
	}
	if u16at(payload, 0) != 1 {
		return CgroupsRequest{}, codecErr(BadLayout, "snapshot request layout_version", 0)
	}
	if u16at(payload, 2) != 0 {
		return CgroupsRequest{}, codecErr(BadLayout, "snapshot request flags", 2)
	}
	return CgroupsRequest{}, nil
}

// CgroupsItemView is one cgroup of a snapshot. Name and Path are
// sub-slices of the decoded payload (no copy, no NUL): valid as long as
// the payload is, and not to be modified.
//
// An item's identity is the pair (Hash, Name).
type CgroupsItemView struct {
	// Hash is the producer-supplied hash of Name, never recomputed here;
	// Netdata producers use NetdataHash.
	Hash uint32
	// Options are opaque cgroup option flags (Netdata's bits are the
	// CgroupOption constants).
	Options uint32
	// Enabled is the opaque enabled value, exactly as sent (Netdata: 1
	// enabled, 0 not).
	Enabled uint32
	// Name is the cgroup name. Interior NULs are not checked.
	Name []byte
	// Path is the cgroup path. Interior NULs are not checked.
	Path []byte
}

// CgroupsResponseView is a decoded snapshot response borrowing its
// payload. The zero value is an empty snapshot. A view is a small value:
// copy it freely; it is safe for concurrent reads as long as nobody
// writes the payload.
type CgroupsResponseView struct {
	payload        []byte
	itemCount      int
	systemdEnabled uint32
	generation     uint64
}

// DecodeCgroupsResponse validates the header and the directory of a
// snapshot response (the items are checked when read) and returns its
// view. It allocates nothing.
//
// It fails, in order, with Truncated (fewer than 24 bytes), BadLayout
// (layout_version, flags, reserved), Truncated (directory past the end),
// then per entry BadAlignment, OutOfBounds or Truncated (an item shorter
// than 32 bytes).
func DecodeCgroupsResponse(payload []byte) (CgroupsResponseView, error) {
	if len(payload) < CgroupsResponseHeaderLen {
		return CgroupsResponseView{}, codecErr(Truncated, "snapshot header", len(payload))
	}
	if u16at(payload, 0) != 1 {
		return CgroupsResponseView{}, codecErr(BadLayout, "snapshot layout_version", 0)
	}
	if u16at(payload, 2) != 0 {
		return CgroupsResponseView{}, codecErr(BadLayout, "snapshot flags", 2)
	}
	if u32at(payload, 12) != 0 {
		return CgroupsResponseView{}, codecErr(BadLayout, "snapshot reserved", 12)
	}
	count := intAt(payload, 4)
	packedStart, ok := dirEnd(CgroupsResponseHeaderLen, count, len(payload))
	if !ok {
		return CgroupsResponseView{}, codecErr(Truncated, "snapshot directory", len(payload))
	}
	packedLen := len(payload) - packedStart
	for i := 0; i < count; i++ {
		at := CgroupsResponseHeaderLen + i*DirEntryLen
		offset, n := intAt(payload, at), intAt(payload, at+4)
		if offset%8 != 0 {
			return CgroupsResponseView{}, codecErr(BadAlignment, "snapshot item offset", at)
		}
		if _, ok := spanEnd(offset, n, packedLen); !ok {
			return CgroupsResponseView{}, codecErr(OutOfBounds, "snapshot item length", at+4)
		}
		if n < CgroupsItemHeaderLen {
			return CgroupsResponseView{}, codecErr(Truncated, "snapshot item length", at+4)
		}
	}
	return CgroupsResponseView{
		payload:        payload,
		itemCount:      count,
		systemdEnabled: u32at(payload, 8),
		generation:     u64at(payload, 16),
	}, nil
}

// dirEnd is the end of a directory of count 8-byte entries starting at
// header, if it fits limit bytes.
func dirEnd(header, count, limit int) (int, bool) {
	if count < 0 || header > limit || count > (limit-header)/DirEntryLen {
		return 0, false
	}
	return header + count*DirEntryLen, true
}

// Len is the number of items.
func (v CgroupsResponseView) Len() int { return v.itemCount }

// SystemdEnabled is the producer's opaque systemd_enabled value.
func (v CgroupsResponseView) SystemdEnabled() uint32 { return v.systemdEnabled }

// Generation is the producer's generation number.
func (v CgroupsResponseView) Generation() uint64 { return v.generation }

// Bytes is the payload the view was decoded from.
func (v CgroupsResponseView) Bytes() []byte { return v.payload }

// Item reads and validates item i. It fails with OutOfBounds for an index
// out of range; otherwise with the item's first violated rule, the offset
// relative to the payload: BadLayout (layout_version, flags, name and path
// ranges intersecting), OutOfBounds (a string offset below 32 or past the
// item) or MissingNul.
func (v CgroupsResponseView) Item(i int) (CgroupsItemView, error) {
	if i < 0 || i >= v.itemCount {
		return CgroupsItemView{}, codecErr(OutOfBounds, "snapshot item index", 4)
	}
	packedStart := CgroupsResponseHeaderLen + v.itemCount*DirEntryLen
	at := CgroupsResponseHeaderLen + i*DirEntryLen
	// The directory was checked by the decode; checked again here only so
	// that a payload changed since cannot make the read panic.
	start, n := packedStart+intAt(v.payload, at), intAt(v.payload, at+4)
	end, ok := spanEnd(start, n, len(v.payload))
	if !ok || n < CgroupsItemHeaderLen {
		return CgroupsItemView{}, codecErr(OutOfBounds, "snapshot item length", at+4)
	}
	item, err := decodeCgroupsItem(v.payload[start:end:end])
	if err != nil {
		return CgroupsItemView{}, shifted(err, start)
	}
	return item, nil
}

// Items yields every item in order, each validated as it is read. On the
// first invalid item it yields the zero item and the error, and stops.
func (v CgroupsResponseView) Items() iter.Seq2[CgroupsItemView, error] {
	return func(yield func(CgroupsItemView, error) bool) {
		for i := 0; i < v.itemCount; i++ {
			item, err := v.Item(i)
			if !yield(item, err) || err != nil {
				return
			}
		}
	}
}

// cgroupsItemString checks the (offset, length) string described at byte
// at of a snapshot item and returns it with its occupied range (NUL
// included).
func cgroupsItemString(item []byte, at int, what string) (s []byte, start, end int, err error) {
	offset, n := intAt(item, at), intAt(item, at+4)
	if offset < CgroupsItemHeaderLen {
		return nil, 0, 0, codecErr(OutOfBounds, what, at)
	}
	end, ok := spanEnd(offset, n, len(item)-1)
	if !ok {
		return nil, 0, 0, codecErr(OutOfBounds, what, at+4)
	}
	if item[end] != 0 {
		return nil, 0, 0, codecErr(MissingNul, what, end)
	}
	return item[offset:end:end], offset, end + 1, nil
}

func decodeCgroupsItem(item []byte) (CgroupsItemView, error) {
	if u16at(item, 0) != 1 {
		return CgroupsItemView{}, codecErr(BadLayout, "snapshot item layout_version", 0)
	}
	if u16at(item, 2) != 0 {
		return CgroupsItemView{}, codecErr(BadLayout, "snapshot item flags", 2)
	}
	name, nameStart, nameEnd, err := cgroupsItemString(item, 16, "snapshot item name")
	if err != nil {
		return CgroupsItemView{}, err
	}
	path, pathStart, pathEnd, err := cgroupsItemString(item, 24, "snapshot item path")
	if err != nil {
		return CgroupsItemView{}, err
	}
	if nameStart < pathEnd && pathStart < nameEnd {
		return CgroupsItemView{}, codecErr(BadLayout, "snapshot item name/path overlap", 24)
	}
	return CgroupsItemView{
		Hash:    u32at(item, 4),
		Options: u32at(item, 8),
		Enabled: u32at(item, 12),
		Name:    name,
		Path:    path,
	}, nil
}

// CgroupsEstimateMaxItems is how many items a response buffer of n bytes
// can reserve when nothing else is known: (n - 24) / 48, or 0 for
// n <= 24.
func CgroupsEstimateMaxItems(n int) int {
	if n <= CgroupsResponseHeaderLen {
		return 0
	}
	return (n - CgroupsResponseHeaderLen) / cgroupsMinItemFootprint
}

// CgroupsBuilder builds a snapshot response in a caller-owned buffer.
//
// Items are packed right after the header as they are added, with room
// kept for one directory entry per item; Finish moves them up once and
// writes the directory, so the whole buffer is usable. The first failed
// Add is remembered (Err) so a dispatcher can report it even if the
// handler ignores it. Reset reuses a builder for another response without
// allocating.
//
// A builder is not safe for concurrent use.
type CgroupsBuilder struct {
	buf            []byte
	maxItems       int
	count          int
	end            int  // end of the last item
	finished       bool // Finish moved the items up
	systemdEnabled uint32
	generation     uint64
	err            error
}

// NewCgroupsBuilder returns a builder over buf; see Reset.
func NewCgroupsBuilder(buf []byte, maxItems int) (*CgroupsBuilder, error) {
	b := new(CgroupsBuilder)
	if err := b.Reset(buf, maxItems); err != nil {
		return nil, err
	}
	return b, nil
}

// Reset starts a response of at most maxItems items in buf, with
// systemd_enabled and generation 0 until set. It fails with Overflow when
// buf cannot hold the header and maxItems directory entries.
func (b *CgroupsBuilder) Reset(buf []byte, maxItems int) error {
	*b = CgroupsBuilder{buf: buf, maxItems: maxItems, end: CgroupsResponseHeaderLen}
	if _, ok := dirEnd(CgroupsResponseHeaderLen, maxItems, len(buf)); !ok {
		b.buf, b.maxItems = buf[:0], 0
		b.err = codecErr(Overflow, "snapshot directory reservation", 0)
		return b.err
	}
	return nil
}

// SetGeneration sets the generation Finish writes.
func (b *CgroupsBuilder) SetGeneration(generation uint64) { b.generation = generation }

// SetSystemdEnabled sets the opaque systemd_enabled value Finish writes.
func (b *CgroupsBuilder) SetSystemdEnabled(v uint32) { b.systemdEnabled = v }

// Len is the number of items added so far.
func (b *CgroupsBuilder) Len() int { return b.count }

// Err is the first error of Reset or Add, if any.
func (b *CgroupsBuilder) Err() error { return b.err }

// Add appends one item; name and path are copied as they are (the
// snapshot does not forbid NULs in them). It fails with Overflow when
// maxItems items exist or the item does not fit; the first failure is
// kept (Err).
func (b *CgroupsBuilder) Add(hash, options, enabled uint32, name, path string) error {
	if err := b.add(hash, options, enabled, name, path); err != nil {
		if b.err == nil {
			b.err = err
		}
		return err
	}
	return nil
}

func (b *CgroupsBuilder) add(hash, options, enabled uint32, name, path string) error {
	if b.count >= b.maxItems {
		return codecErr(Overflow, "snapshot item count", 4)
	}
	start := alignUp8(b.end)
	size, sizeOK := wireSize(CgroupsItemHeaderLen + uint64(len(name)) + uint64(len(path)) + 2)
	// The item, plus one directory entry for it and every earlier item.
	directory := (b.count + 1) * DirEntryLen
	end, ok := spanEnd(start, size, len(b.buf)-directory)
	if !ok || !sizeOK || !fitsU32(start-CgroupsResponseHeaderLen) {
		return codecErr(Overflow, "snapshot item", start)
	}
	clear(b.buf[b.end:start])
	item := b.buf[start:end]
	nameAt := CgroupsItemHeaderLen
	pathAt := nameAt + len(name) + 1
	setU16(item, 0, 1)
	setU16(item, 2, 0)
	setU32(item, 4, hash)
	setU32(item, 8, options)
	setU32(item, 12, enabled)
	setU32(item, 16, uint32(nameAt))
	setU32(item, 20, uint32(len(name)))
	setU32(item, 24, uint32(pathAt))
	setU32(item, 28, uint32(len(path)))
	copy(item[nameAt:], name)
	item[pathAt-1] = 0
	copy(item[pathAt:], path)
	item[size-1] = 0
	b.end = end
	b.count++
	return nil
}

// Finish moves the items up behind the directory, writes the directory
// and the header, and returns the payload length (24 for an empty
// snapshot; the last item is not padded) and the first error of Reset or
// Add: a server must not send a snapshot an item is missing from. The
// payload is the first n bytes of the buffer. After Finish, adds fail
// until a Reset.
func (b *CgroupsBuilder) Finish() (int, error) {
	if len(b.buf) < CgroupsResponseHeaderLen { // never reset, or the reset failed
		if b.err == nil {
			b.err = codecErr(Overflow, "snapshot header", 0)
		}
		return 0, b.err
	}
	if b.finished {
		return b.end, b.err
	}
	shift := b.count * DirEntryLen
	packedStart := CgroupsResponseHeaderLen + shift
	copy(b.buf[packedStart:], b.buf[CgroupsResponseHeaderLen:b.end])
	// Every item was written by Add, so its length follows from its own
	// string lengths, and offsets and lengths fit a u32.
	at := 0
	for i := 0; i < b.count; i++ {
		item := packedStart + at
		n := CgroupsItemHeaderLen + intAt(b.buf, item+20) + intAt(b.buf, item+28) + 2
		entry := CgroupsResponseHeaderLen + i*DirEntryLen
		setU32(b.buf, entry, uint32(at))
		setU32(b.buf, entry+4, uint32(n))
		at = alignUp8(at + n)
	}
	setU16(b.buf, 0, 1)
	setU16(b.buf, 2, 0)
	setU32(b.buf, 4, uint32(b.count))
	setU32(b.buf, 8, b.systemdEnabled)
	setU32(b.buf, 12, 0)
	setU64(b.buf, 16, b.generation)
	// The items are in place now: a second finish returns the same
	// payload, and adds fail until a reset.
	b.end += shift
	b.maxItems = b.count
	b.finished = true
	return b.end, b.err
}

// DispatchCgroupsSnapshot answers one CGROUPS_SNAPSHOT request on the
// server side: it decodes request, resets b over response for at most
// maxItems items (0: as many as fit, CgroupsEstimateMaxItems), lets
// handler add the items, and returns the response length.
//
// It fails with a *DispatchError: DispatchBadRequest for an undecodable
// request; DispatchBuilder when the reservation or an Add failed, even if
// the handler then returned true (a truncated snapshot is never sent);
// DispatchHandlerFailed when the handler returned false.
func DispatchCgroupsSnapshot(b *CgroupsBuilder, request, response []byte, maxItems int,
	handler func(*CgroupsRequest, *CgroupsBuilder) bool) (int, error) {
	req, err := DecodeCgroupsRequest(request)
	if err != nil {
		return 0, &DispatchError{Stage: DispatchBadRequest, Err: err}
	}
	if maxItems == 0 {
		maxItems = CgroupsEstimateMaxItems(len(response))
	}
	if err := b.Reset(response, maxItems); err != nil {
		return 0, &DispatchError{Stage: DispatchBuilder, Err: err}
	}
	ok := handler(&req, b)
	if err := dispatchCheck(ok, b.Err()); err != nil {
		return 0, err
	}
	n, _ := b.Finish()
	return n, nil
}
