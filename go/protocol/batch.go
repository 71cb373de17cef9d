package protocol

import "encoding/binary"

// Batch layout constants.
const (
	// Alignment is the alignment of batch items and of every directory
	// offset.
	Alignment = 8
	// DirEntryLen is the size of one batch directory entry
	// (offset u32, length u32).
	DirEntryLen = 8
)

const maxU32 = uint64(^uint32(0))

// align8 rounds x up to a multiple of 8.
func align8(x uint64) uint64 { return (x + Alignment - 1) &^ (Alignment - 1) }

// BatchPayloadLen returns the payload length of a batch of items, as the
// builder lays it out: 8 bytes of directory per item, then the items at
// 8-aligned offsets, padded to a multiple of 8. It fails with Overflow
// when the payload would not fit a uint32.
func BatchPayloadLen(items [][]byte) (int, error) {
	end := uint64(0)
	for _, item := range items {
		end = align8(end) + uint64(len(item))
		if end > maxU32 {
			return 0, codecErr(Overflow, "batch payload_len", 0)
		}
	}
	total := uint64(len(items))*DirEntryLen + align8(end)
	if total > maxU32 {
		return 0, codecErr(Overflow, "batch payload_len", 0)
	}
	return int(total), nil
}

// BatchBuilder builds a batch payload in a caller's buffer without
// allocating: the directory of the reserved number of items first, then
// the items, each at the next multiple of 8. Gap and trailing padding
// bytes are written as zero and the trailing padding counts in the
// payload length, exactly like the reference encoder. If fewer items than
// reserved are added, Finish moves the packed area down to the directory's
// end.
//
// A BatchBuilder is used by one goroutine at a time.
type BatchBuilder struct {
	buf      []byte
	reserved int
	count    int
	// end is the end of the last item, relative to the packed area.
	end int
}

// NewBatchBuilder starts a batch of at most reserved items in buf. It
// fails with Overflow when buf cannot even hold the directory.
func NewBatchBuilder(buf []byte, reserved uint32) (BatchBuilder, error) {
	if uint64(reserved)*DirEntryLen > uint64(len(buf)) {
		return BatchBuilder{}, codecErr(Overflow, "batch directory", 0)
	}
	return BatchBuilder{buf: buf, reserved: int(reserved)}, nil
}

// Len returns the number of items added so far: the item_count of the
// message.
func (b *BatchBuilder) Len() int { return b.count }

func (b *BatchBuilder) packedStart() int { return b.reserved * DirEntryLen }

// next returns the buffer offset of the next item, or an error when every
// reserved entry is used.
func (b *BatchBuilder) next() (int, error) {
	if b.count == b.reserved {
		return 0, codecErr(Overflow, "batch item count", 0)
	}
	return b.packedStart() + int(align8(uint64(b.end))), nil
}

// Add appends a copy of item. It fails with Overflow when every reserved
// entry is used or the item does not fit the buffer.
func (b *BatchBuilder) Add(item []byte) error {
	at, err := b.next()
	if err != nil {
		return err
	}
	if at > len(b.buf) || len(item) > len(b.buf)-at {
		return codecErr(Overflow, "batch item", at)
	}
	copy(b.buf[at:], item)
	return b.Commit(len(item))
}

// Space returns the writable space for the next item, starting at its
// aligned position: write the item at the start of the slice, then call
// Commit with its length. This encodes an item in place, without a copy.
// It fails with Overflow when every reserved entry is used.
func (b *BatchBuilder) Space() ([]byte, error) {
	at, err := b.next()
	if err != nil {
		return nil, err
	}
	return b.buf[min(at, len(b.buf)):], nil
}

// Commit records an item of n bytes written at the start of Space. It
// fails with Overflow when every reserved entry is used or n exceeds the
// space.
func (b *BatchBuilder) Commit(n int) error {
	at, err := b.next()
	if err != nil {
		return err
	}
	if n < 0 || at > len(b.buf) || n > len(b.buf)-at {
		return codecErr(Overflow, "batch item", at)
	}
	offset := at - b.packedStart()
	if uint64(offset) > maxU32 || uint64(n) > maxU32 {
		return codecErr(Overflow, "batch item offset", at)
	}
	clear(b.buf[b.packedStart()+b.end : at])
	entry := b.count * DirEntryLen
	binary.LittleEndian.PutUint32(b.buf[entry:], uint32(offset))
	binary.LittleEndian.PutUint32(b.buf[entry+4:], uint32(n))
	b.end = offset + n
	b.count++
	return nil
}

// Finish pads the packed area with zeros to a multiple of 8, closes the
// directory gap when fewer items than reserved were added, and returns
// the payload length (the payload is buf[:n]). It fails with Overflow
// when the padding does not fit the buffer or the length a uint32. No
// item can be added after Finish.
func (b *BatchBuilder) Finish() (int, error) {
	start := b.packedStart()
	padded := int(align8(uint64(b.end)))
	if padded > len(b.buf)-start {
		return 0, codecErr(Overflow, "batch padding", start+b.end)
	}
	stop := start + padded
	clear(b.buf[start+b.end : stop])
	dir := b.count * DirEntryLen
	if dir != start {
		copy(b.buf[dir:], b.buf[start:stop])
	}
	total := dir + padded
	if uint64(total) > maxU32 {
		return 0, codecErr(Overflow, "batch payload_len", 0)
	}
	b.reserved = b.count
	return total, nil
}

// BatchView is a validated view of a batch payload. NewBatchView checks
// every directory entry; Item is then O(1) and returns a sub-slice of the
// payload (no copy). A BatchView is a small value, safe for concurrent
// reads.
type BatchView struct {
	payload []byte
	count   int
}

// NewBatchView validates the directory of a batch of itemCount items as
// the reference receivers do: the directory size must fit a uint32
// (BadItemCount) and the payload must hold it (Truncated); every entry's
// offset must be a multiple of 8 (BadAlignment) and offset+length must
// not pass the end of the packed item area (OutOfBounds). Overlapping or
// unordered items and non-zero padding are accepted, as by every
// reference implementation.
func NewBatchView(payload []byte, itemCount uint32) (BatchView, error) {
	dir := uint64(itemCount) * DirEntryLen
	if dir > maxU32 {
		return BatchView{}, codecErr(BadItemCount, "batch directory size", 0)
	}
	if uint64(len(payload)) < dir {
		return BatchView{}, codecErr(Truncated, "batch directory", len(payload))
	}
	v := BatchView{payload: payload, count: int(itemCount)}
	for i := 0; i < v.count; i++ {
		if _, err := v.entry(i); err != nil {
			return BatchView{}, err
		}
	}
	return v, nil
}

// Len returns the number of items.
func (v BatchView) Len() int { return v.count }

func (v BatchView) entry(i int) ([]byte, error) {
	at := i * DirEntryLen
	packed := v.payload[v.count*DirEntryLen:]
	offset := binary.LittleEndian.Uint32(v.payload[at:])
	length := binary.LittleEndian.Uint32(v.payload[at+4:])
	if offset%Alignment != 0 {
		return nil, codecErr(BadAlignment, "batch item offset", at)
	}
	end := uint64(offset) + uint64(length)
	if end > uint64(len(packed)) {
		return nil, codecErr(OutOfBounds, "batch item length", at+4)
	}
	return packed[offset:end:end], nil
}

// Item returns item i, a sub-slice of the payload (capacity limited to
// the item). It fails with OutOfBounds when i is not below Len.
func (v BatchView) Item(i int) ([]byte, error) {
	if i < 0 || i >= v.count {
		return nil, codecErr(OutOfBounds, "batch item index", v.count*DirEntryLen)
	}
	return v.entry(i)
}
