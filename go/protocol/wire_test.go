package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// unhex decodes a hex dump with spaces and newlines.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantKind fails unless err is a *CodecError of kind k.
func wantKind(t *testing.T, what string, err error, k CodecErrorKind) {
	t.Helper()
	var ce *CodecError
	if !errors.As(err, &ce) || ce.Kind != k {
		t.Errorf("%s: error %v, want %s", what, err, k)
	}
}

// The chunk header image of wire-envelope.md section 13.
func TestChunkHeaderSpecImage(t *testing.T) {
	want := unhex(t, `4b 48 43 4e 01 00 00 00 07 00 00 00 00 00 00 00
		84 00 00 00 01 00 00 00 02 00 00 00 24 00 00 00`)
	c := ChunkHeader{MessageID: 7, TotalMessageLen: 132, ChunkIndex: 1, ChunkCount: 2, ChunkPayloadLen: 36}
	var got [HeaderLen]byte
	c.Encode(got[:])
	if !bytes.Equal(got[:], want) {
		t.Fatalf("encoded % x", got)
	}
	d, err := DecodeChunkHeader(want)
	if err != nil || d != c {
		t.Fatalf("decoded %+v, %v", d, err)
	}
	if !IsChunkPacket(want) || IsChunkPacket(want[:3]) {
		t.Error("IsChunkPacket")
	}
}

func TestChunkHeaderRejects(t *testing.T) {
	var good [HeaderLen]byte
	(&ChunkHeader{MessageID: 1, TotalMessageLen: 40, ChunkIndex: 1, ChunkCount: 2, ChunkPayloadLen: 4}).Encode(good[:])
	cases := []struct {
		name string
		at   int
		val  byte
		n    int
		kind CodecErrorKind
	}{
		{"short", -1, 0, 31, Truncated},
		{"magic", 0, 0x43, 32, BadMagic},
		{"version", 4, 2, 32, BadVersion},
		{"flags", 6, 1, 32, BadLayout},
		{"flags high byte", 7, 1, 32, BadLayout},
		{"zero chunk_payload_len", 28, 0, 32, BadLayout},
	}
	for _, c := range cases {
		b := good
		if c.at >= 0 {
			b[c.at] = c.val
		}
		_, err := DecodeChunkHeader(b[:c.n])
		wantKind(t, c.name, err, c.kind)
	}
}

// The HELLO and HELLO_ACK images of wire-envelope.md section 13 (payloads
// only; the headers are the first 32 bytes).
func TestHelloSpecImages(t *testing.T) {
	hello := unhex(t, `43 50 49 4e 01 00 20 00 03 00 00 00 01 00 00 00
		2c 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00
		01 00 00 00 03 00 00 00 02 00 00 00 00 04 00 00
		01 00 00 00 00 04 00 00 01 00 00 00 00 00 00 00
		88 77 66 55 44 33 22 11 00 00 01 00`)
	h := Hello{
		SupportedProfiles: 3, PreferredProfiles: 2,
		MaxRequestPayloadBytes: 1024, MaxRequestBatchItems: 1,
		MaxResponsePayloadBytes: 1024, MaxResponseBatchItems: 1,
		AuthToken: 0x1122334455667788, PacketSize: 65536,
	}
	var hb [HelloLen]byte
	h.Encode(hb[:])
	if !bytes.Equal(hb[:], hello[HeaderLen:]) {
		t.Errorf("HELLO encoded % x", hb)
	}
	if d, err := DecodeHello(hello[HeaderLen:]); err != nil || d != h {
		t.Errorf("HELLO decoded %+v, %v", d, err)
	}
	ack := unhex(t, `43 50 49 4e 01 00 20 00 03 00 00 00 02 00 00 00
		30 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00
		01 00 00 00 03 00 00 00 03 00 00 00 02 00 00 00
		00 04 00 00 01 00 00 00 00 00 01 00 01 00 00 00
		00 00 01 00 00 00 00 00 01 00 00 00 00 00 00 00`)
	a := HelloAck{
		ServerSupportedProfiles: 3, IntersectionProfiles: 3, SelectedProfile: 2,
		AgreedMaxRequestPayloadBytes: 1024, AgreedMaxRequestBatchItems: 1,
		AgreedMaxResponsePayloadBytes: 65536, AgreedMaxResponseBatchItems: 1,
		AgreedPacketSize: 65536, SessionID: 1,
	}
	var ab [HelloAckLen]byte
	a.Encode(ab[:])
	if !bytes.Equal(ab[:], ack[HeaderLen:]) {
		t.Errorf("HELLO_ACK encoded % x", ab)
	}
	if d, err := DecodeHelloAck(ack[HeaderLen:]); err != nil || d != a {
		t.Errorf("HELLO_ACK decoded %+v, %v", d, err)
	}
}

func TestHelloRejects(t *testing.T) {
	var good [HelloLen]byte
	(&Hello{Flags: 0xffff, SupportedProfiles: 1}).Encode(good[:])
	if h, err := DecodeHello(good[:]); err != nil || h.Flags != 0xffff {
		t.Fatalf("flags are not checked: %+v %v", h, err)
	}
	_, err := DecodeHello(good[:HelloLen-1])
	wantKind(t, "short HELLO", err, Truncated)
	b := good
	b[0] = 2
	_, err = DecodeHello(b[:])
	wantKind(t, "HELLO layout", err, BadLayout)
	b = good
	b[31] = 1
	_, err = DecodeHello(b[:])
	wantKind(t, "HELLO reserved", err, BadLayout)

	var ack [HelloAckLen]byte
	(&HelloAck{Extensions: ExtAtCapacity, SessionID: 9}).Encode(ack[:])
	if a, err := DecodeHelloAck(ack[:]); err != nil || a.Extensions != ExtAtCapacity || a.SessionID != 9 {
		t.Fatalf("extension word: %+v %v", a, err)
	}
	_, err = DecodeHelloAck(ack[:HelloAckLen-1])
	wantKind(t, "short HELLO_ACK", err, Truncated)
	a := ack
	a[1] = 1
	_, err = DecodeHelloAck(a[:])
	wantKind(t, "HELLO_ACK layout", err, BadLayout)
	a = ack
	a[3] = 0x80
	_, err = DecodeHelloAck(a[:])
	wantKind(t, "HELLO_ACK flags", err, BadLayout)
}

// The example of wire-envelope.md section 5.2.
func TestBatchSpecExample(t *testing.T) {
	want := unhex(t, `00 00 00 00 03 00 00 00   08 00 00 00 08 00 00 00   10 00 00 00 01 00 00 00
		61 62 63 00 00 00 00 00   31 32 33 34 35 36 37 38   5a 00 00 00 00 00 00 00`)
	items := [][]byte{[]byte("abc"), []byte("12345678"), []byte("Z")}
	if n, err := BatchPayloadLen(items); err != nil || n != len(want) {
		t.Fatalf("BatchPayloadLen %d, %v", n, err)
	}
	buf := bytes.Repeat([]byte{0xee}, 64) // garbage the builder must zero
	b, err := NewBatchBuilder(buf, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := b.Add(it); err != nil {
			t.Fatal(err)
		}
	}
	n, err := b.Finish()
	if err != nil || !bytes.Equal(buf[:n], want) {
		t.Fatalf("built %d % x, %v", n, buf[:n], err)
	}
	if b.Add(nil) == nil {
		t.Error("Add after Finish")
	}
	v, err := NewBatchView(want, 3)
	if err != nil || v.Len() != 3 {
		t.Fatal(v.Len(), err)
	}
	for i, it := range items {
		got, err := v.Item(i)
		if err != nil || !bytes.Equal(got, it) || cap(got) != len(got) {
			t.Errorf("item %d: %q (cap %d), %v", i, got, cap(got), err)
		}
	}
	_, err = v.Item(3)
	wantKind(t, "item past the end", err, OutOfBounds)
	_, err = v.Item(-1)
	wantKind(t, "negative index", err, OutOfBounds)
}

// Fewer items than reserved: the packed area moves down to the end of
// the real directory; Space/Commit write in place; empty items count.
func TestBatchBuilderPartialAndInPlace(t *testing.T) {
	buf := bytes.Repeat([]byte{0xee}, 128)
	b, err := NewBatchBuilder(buf, 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add([]byte{1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(nil); err != nil {
		t.Fatal(err)
	}
	space, err := b.Space()
	if err != nil {
		t.Fatal(err)
	}
	copy(space, "xyz")
	if err := b.Commit(3); err != nil {
		t.Fatal(err)
	}
	n, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `00000000 05000000 08000000 00000000 08000000 03000000
		0102030405000000 78797a0000000000`)
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("built % x", buf[:n])
	}
	if b.Len() != 3 {
		t.Errorf("Len %d", b.Len())
	}
}

func TestBatchBuilderOverflow(t *testing.T) {
	if _, err := NewBatchBuilder(make([]byte, 15), 2); err == nil {
		t.Error("directory larger than the buffer")
	}
	b, _ := NewBatchBuilder(make([]byte, 24), 2)
	err := b.Add(make([]byte, 9))
	wantKind(t, "item larger than the space", err, Overflow)
	if err := b.Add(make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	// The next item starts at 16+8 = 24: no room, not even for 1 byte.
	err = b.Add([]byte{1})
	wantKind(t, "item past the end", err, Overflow)
	if err := b.Commit(-1); err == nil {
		t.Error("negative commit")
	}
	if err := b.Add(nil); err != nil {
		t.Fatalf("an empty item fits at the end: %v", err)
	}
	err = b.Add(nil)
	wantKind(t, "more items than reserved", err, Overflow)
	if _, err := b.Space(); err == nil {
		t.Error("Space with every entry used")
	}
	// Padding that does not fit.
	b, _ = NewBatchBuilder(make([]byte, 12), 1)
	if err := b.Add([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	_, err = b.Finish()
	wantKind(t, "padding", err, Overflow)
}

func TestBatchViewRejects(t *testing.T) {
	good := unhex(t, `00000000 03000000 08000000 00000000 08000000 03000000
		6162630000000000 78797a0000000000`)
	if _, err := NewBatchView(good, 3); err != nil {
		t.Fatal(err)
	}
	set := func(at int, v byte) []byte {
		b := bytes.Clone(good)
		b[at] = v
		return b
	}
	_, err := NewBatchView(good, 0x2000_0000)
	wantKind(t, "directory size over u32", err, BadItemCount)
	_, err = NewBatchView(good, 7)
	wantKind(t, "directory past the payload", err, Truncated)
	_, err = NewBatchView(set(8, 4), 3)
	wantKind(t, "misaligned offset", err, BadAlignment)
	_, err = NewBatchView(set(20, 9), 3)
	wantKind(t, "item past the packed area", err, OutOfBounds)
	_, err = NewBatchView(set(19, 0xff), 3)
	wantKind(t, "offset+length past u32", err, OutOfBounds)
	// Overlap is accepted, as by every reference implementation.
	if _, err := NewBatchView(set(16, 0), 3); err != nil {
		t.Errorf("overlapping items: %v", err)
	}
	if v, err := NewBatchView(nil, 0); err != nil || v.Len() != 0 {
		t.Errorf("empty batch: %v", err)
	}
}

func TestBatchPayloadLenOverflow(t *testing.T) {
	big := make([]byte, 1<<20)
	items := make([][]byte, 4097)
	for i := range items {
		items[i] = big
	}
	_, err := BatchPayloadLen(items)
	wantKind(t, "4 GiB batch", err, Overflow)
	if n, err := BatchPayloadLen(nil); err != nil || n != 0 {
		t.Errorf("no items: %d %v", n, err)
	}
}

func TestHeaderHelpers(t *testing.T) {
	h := Header{Kind: KindRequest, Flags: FlagBatch, PayloadLen: ^uint32(0) - 32}
	if n, ok := h.MessageLen(); !ok || n != ^uint32(0) {
		t.Errorf("MessageLen %d %v", n, ok)
	}
	h.PayloadLen++
	if _, ok := h.MessageLen(); ok {
		t.Error("MessageLen past u32")
	}
	if !h.IsBatch() || KindResponse.String() != "RESPONSE" || Kind(9).String() != "KIND_9" {
		t.Error("IsBatch / Kind.String")
	}
}

func TestProfileSelectAndString(t *testing.T) {
	all := Profile(0x07)
	cases := []struct{ common, pref, want Profile }{
		{all, ProfileSHMHybrid, ProfileSHMHybrid},
		{all, 0, ProfileSHMAlt},
		{0x03, ProfileSHMAlt, ProfileSHMHybrid},
		{0, 0xff, 0},
		{ProfileBaseline, 0, ProfileBaseline},
	}
	for _, c := range cases {
		if got := c.common.Select(c.pref); got != c.want {
			t.Errorf("%v.Select(%v) = %v, want %v", c.common, c.pref, got, c.want)
		}
	}
	for p, s := range map[Profile]string{0: "none", 3: "baseline|shm-hybrid", 0x0f: "baseline|shm-hybrid|shm-alt|shm-waitaddr", 0x11: "baseline|0x10"} {
		if p.String() != s {
			t.Errorf("%#x prints %q, want %q", uint32(p), p.String(), s)
		}
	}
}

// Decoders and the builder allocate nothing on valid input.
func TestWireAllocations(t *testing.T) {
	var chunk [HeaderLen]byte
	(&ChunkHeader{MessageID: 1, TotalMessageLen: 40, ChunkIndex: 1, ChunkCount: 2, ChunkPayloadLen: 4}).Encode(chunk[:])
	var hello [HelloLen]byte
	(&Hello{SupportedProfiles: 1}).Encode(hello[:])
	var ack [HelloAckLen]byte
	(&HelloAck{}).Encode(ack[:])
	buf := make([]byte, 64)
	items := [][]byte{[]byte("abc"), []byte("12345678"), []byte("Z")}
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = DecodeChunkHeader(chunk[:])
		_, _ = DecodeHello(hello[:])
		_, _ = DecodeHelloAck(ack[:])
		b, _ := NewBatchBuilder(buf, 3)
		for _, it := range items {
			_ = b.Add(it)
		}
		n, _ := b.Finish()
		v, err := NewBatchView(buf[:n], 3)
		if err != nil {
			panic(err)
		}
		_, _ = v.Item(2)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
}
