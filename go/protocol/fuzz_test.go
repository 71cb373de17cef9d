package protocol

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// vectorFiles returns the golden vector files of the given directories
// (the repository's copy of the vectors), to seed the fuzz targets.
func vectorFiles(f *testing.F, dirs ...string) [][]byte {
	f.Helper()
	var out [][]byte
	for _, d := range dirs {
		paths, err := filepath.Glob(filepath.Join("..", "..", "crates", "netipc-tests", "tests", "data", "vectors", d, "*.bin"))
		if err != nil || len(paths) == 0 {
			f.Fatalf("no golden vectors in %s: %v", d, err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// FuzzDecodeHeader: no panic; an accepted header re-encodes to the same
// 32 bytes.
func FuzzDecodeHeader(f *testing.F) {
	for _, b := range vectorFiles(f, "envelope", "handshake", "chunking", "negative") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			return
		}
		var out [HeaderLen]byte
		h.Encode(out[:])
		if !bytes.Equal(out[:], b[:HeaderLen]) {
			t.Fatalf("re-encoded % x, decoded % x", out, b[:HeaderLen])
		}
	})
}

// FuzzDecodeChunkHeader: no panic; an accepted chunk header re-encodes to
// the same 32 bytes.
func FuzzDecodeChunkHeader(f *testing.F) {
	for _, b := range vectorFiles(f, "envelope", "chunking", "negative") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChunkHeader(b)
		if err != nil {
			return
		}
		if c.ChunkPayloadLen == 0 {
			t.Fatal("accepted chunk_payload_len 0")
		}
		var out [HeaderLen]byte
		c.Encode(out[:])
		if !bytes.Equal(out[:], b[:HeaderLen]) {
			t.Fatalf("re-encoded % x, decoded % x", out, b[:HeaderLen])
		}
	})
}

// handshakePayloads returns the payloads (after the 32-byte header) of
// the handshake vectors.
func handshakePayloads(f *testing.F) [][]byte {
	var out [][]byte
	for _, b := range vectorFiles(f, "handshake", "negative", "codec") {
		if len(b) > HeaderLen && isControl(b) {
			out = append(out, b[HeaderLen:])
		}
		out = append(out, b)
	}
	return out
}

// isControl reports whether b starts with a control header.
func isControl(b []byte) bool {
	h, err := DecodeHeader(b)
	return err == nil && h.Kind == KindControl
}

// FuzzDecodeHello: no panic; an accepted HELLO re-encodes to the same 44
// bytes (layout version and reserved bytes included).
func FuzzDecodeHello(f *testing.F) {
	for _, b := range handshakePayloads(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHello(b)
		if err != nil {
			return
		}
		var out [HelloLen]byte
		h.Encode(out[:])
		if !bytes.Equal(out[:], b[:HelloLen]) {
			t.Fatalf("re-encoded % x, decoded % x", out, b[:HelloLen])
		}
	})
}

// FuzzDecodeHelloAck: no panic; an accepted HELLO_ACK re-encodes to the
// same 48 bytes (the extension word included).
func FuzzDecodeHelloAck(f *testing.F) {
	for _, b := range handshakePayloads(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeHelloAck(b)
		if err != nil {
			return
		}
		var out [HelloAckLen]byte
		a.Encode(out[:])
		if !bytes.Equal(out[:], b[:HelloAckLen]) {
			t.Fatalf("re-encoded % x, decoded % x", out, b[:HelloAckLen])
		}
	})
}

// FuzzBatchView: no panic; every item of an accepted directory is the
// bytes its entry points at, inside the packed area; the items rebuilt
// with BatchBuilder make a payload of BatchPayloadLen bytes that
// NewBatchView accepts with the same items.
func FuzzBatchView(f *testing.F) {
	for _, b := range vectorFiles(f, "envelope", "negative") {
		if h, err := DecodeHeader(b); err == nil && h.IsBatch() {
			f.Add(b[HeaderLen:], h.ItemCount)
		}
	}
	f.Add([]byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, payload []byte, count uint32) {
		v, err := NewBatchView(payload, count)
		if err != nil {
			return
		}
		if v.Len() != int(count) {
			t.Fatalf("Len %d of %d", v.Len(), count)
		}
		packed := payload[int(count)*DirEntryLen:]
		items := make([][]byte, v.Len())
		for i := range items {
			item, err := v.Item(i)
			if err != nil {
				t.Fatalf("item %d of an accepted batch: %v", i, err)
			}
			off := binary.LittleEndian.Uint32(payload[i*DirEntryLen:])
			n := binary.LittleEndian.Uint32(payload[i*DirEntryLen+4:])
			if off%Alignment != 0 || uint64(off)+uint64(n) > uint64(len(packed)) || !bytes.Equal(item, packed[off:off+n]) {
				t.Fatalf("item %d (offset %d, length %d) is not where its entry points", i, off, n)
			}
			items[i] = item
		}
		size, err := BatchPayloadLen(items)
		if err != nil || size > 16<<20 {
			return // overlapping items can add up to more than is worth rebuilding
		}
		buf := make([]byte, size)
		b, err := NewBatchBuilder(buf, count)
		if err != nil {
			t.Fatal(err)
		}
		for i, item := range items {
			if err := b.Add(item); err != nil {
				t.Fatalf("rebuild item %d: %v", i, err)
			}
		}
		n, err := b.Finish()
		if err != nil || n != size || n%Alignment != 0 {
			t.Fatalf("rebuilt %d bytes of %d: %v", n, size, err)
		}
		again, err := NewBatchView(buf[:n], count)
		if err != nil {
			t.Fatalf("the rebuilt batch is refused: %v", err)
		}
		for i := range items {
			if item, _ := again.Item(i); !bytes.Equal(item, items[i]) {
				t.Fatalf("rebuilt item %d differs", i)
			}
		}
	})
}
