package protocol_test

import (
	"bytes"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

func TestIncrement(t *testing.T) {
	var buf [16]byte
	n, err := protocol.EncodeIncrement(buf[:], 0x0102030405060708)
	noErr(t, "encode", err)
	if n != 8 || !bytes.Equal(buf[:8], []byte{8, 7, 6, 5, 4, 3, 2, 1}) {
		t.Fatalf("encoded %d bytes % x", n, buf[:n])
	}
	for _, p := range [][]byte{buf[:8], buf[:16]} { // trailing bytes ignored
		v, err := protocol.DecodeIncrement(p)
		if err != nil || v != 0x0102030405060708 {
			t.Errorf("decode %d bytes: %x, %v", len(p), v, err)
		}
	}
	_, err = protocol.DecodeIncrement(buf[:7])
	expectKind(t, "7 bytes", err, protocol.Truncated)
	_, err = protocol.EncodeIncrement(buf[:7], 1)
	expectKind(t, "encode into 7 bytes", err, protocol.Overflow)
}
