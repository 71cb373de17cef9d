package protocol_test

import (
	"bytes"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

func TestStringReverse(t *testing.T) {
	var buf [32]byte
	n, err := protocol.EncodeStringReverse(buf[:], nil)
	noErr(t, "encode empty", err)
	if want := []byte{8, 0, 0, 0, 0, 0, 0, 0, 0}; !bytes.Equal(buf[:n], want) {
		t.Fatalf("empty string encodes to % x, want % x", buf[:n], want)
	}
	n, err = protocol.EncodeStringReverse(buf[:], []byte("a\x00b"))
	noErr(t, "encode", err)
	if n != protocol.StringReverseLen(3) {
		t.Fatalf("length %d", n)
	}
	s, err := protocol.DecodeStringReverse(append(buf[:n:n], 0xee)) // interior NUL and a trailing byte
	if err != nil || string(s) != "a\x00b" {
		t.Fatalf("decoded %q, %v", s, err)
	}
	if cap(s) != len(s) {
		t.Error("the decoded string must not expose the bytes after it")
	}
	_, err = protocol.EncodeStringReverse(buf[:11], []byte("abc"))
	expectKind(t, "encode into a short buffer", err, protocol.Overflow)

	good := buf[:n]
	mutate := func(at int, v byte) []byte {
		b := bytes.Clone(good)
		b[at] = v
		return b
	}
	cases := []struct {
		name string
		p    []byte
		kind protocol.CodecErrorKind
	}{
		{"short header", good[:7], protocol.Truncated},
		{"offset 9", mutate(0, 9), protocol.BadLayout},
		{"length past the end", mutate(4, 4), protocol.OutOfBounds},
		{"length 2^32-1", append(mutate(4, 0xff)[:4], 0xff, 0xff, 0xff, 0xff, 0), protocol.OutOfBounds},
		{"no NUL", mutate(n-1, 'x'), protocol.MissingNul},
	}
	for _, c := range cases {
		_, err := protocol.DecodeStringReverse(c.p)
		expectKind(t, c.name, err, c.kind)
	}
}
