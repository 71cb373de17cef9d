package protocol

import (
	"encoding/binary"
	"fmt"
)

// Header constants.
const (
	// Magic is the first word of every message header ("NIPC").
	Magic uint32 = 0x4e495043
	// Version is the only envelope version.
	Version uint16 = 1
	// HeaderLen is the size of the outer header and of a chunk header.
	HeaderLen = 32
)

// Header is the 32-byte outer header of every message. Magic, version and
// header_len are implied: Encode writes them and Decode checks them.
type Header struct {
	// Kind is REQUEST, RESPONSE or CONTROL.
	Kind Kind
	// Flags: FlagBatch for a batch payload; other bits are written 0.
	Flags uint16
	// Code is the method code (requests, responses) or the control
	// opcode (HELLO, HELLO_ACK).
	Code uint16
	// Status is the transport status; requests carry StatusOK.
	Status Status
	// PayloadLen is the number of payload bytes after the header.
	PayloadLen uint32
	// ItemCount is 1 for a single message, the item count of a batch.
	ItemCount uint32
	// MessageID correlates a response with its request (0 in the
	// handshake).
	MessageID uint64
}

// Encode writes the header into the first 32 bytes of dst, which must be
// at least HeaderLen long.
func (h *Header) Encode(dst []byte) {
	_ = dst[HeaderLen-1]
	binary.LittleEndian.PutUint32(dst[0:], Magic)
	binary.LittleEndian.PutUint16(dst[4:], Version)
	binary.LittleEndian.PutUint16(dst[6:], HeaderLen)
	binary.LittleEndian.PutUint16(dst[8:], uint16(h.Kind))
	binary.LittleEndian.PutUint16(dst[10:], h.Flags)
	binary.LittleEndian.PutUint16(dst[12:], h.Code)
	binary.LittleEndian.PutUint16(dst[14:], uint16(h.Status))
	binary.LittleEndian.PutUint32(dst[16:], h.PayloadLen)
	binary.LittleEndian.PutUint32(dst[20:], h.ItemCount)
	binary.LittleEndian.PutUint64(dst[24:], h.MessageID)
}

// DecodeHeader decodes and checks a header, in the reference order:
// length, magic, version, header_len, kind. Flags, code and status are
// not checked here.
func DecodeHeader(buf []byte) (Header, error) {
	if len(buf) < HeaderLen {
		return Header{}, codecErr(Truncated, "message header", len(buf))
	}
	if binary.LittleEndian.Uint32(buf[0:]) != Magic {
		return Header{}, codecErr(BadMagic, "message header magic", 0)
	}
	if binary.LittleEndian.Uint16(buf[4:]) != Version {
		return Header{}, codecErr(BadVersion, "message header version", 4)
	}
	if binary.LittleEndian.Uint16(buf[6:]) != HeaderLen {
		return Header{}, codecErr(BadHeaderLen, "message header header_len", 6)
	}
	kind := Kind(binary.LittleEndian.Uint16(buf[8:]))
	if kind < KindRequest || kind > KindControl {
		return Header{}, codecErr(BadKind, "message header kind", 8)
	}
	return Header{
		Kind:       kind,
		Flags:      binary.LittleEndian.Uint16(buf[10:]),
		Code:       binary.LittleEndian.Uint16(buf[12:]),
		Status:     Status(binary.LittleEndian.Uint16(buf[14:])),
		PayloadLen: binary.LittleEndian.Uint32(buf[16:]),
		ItemCount:  binary.LittleEndian.Uint32(buf[20:]),
		MessageID:  binary.LittleEndian.Uint64(buf[24:]),
	}, nil
}

// IsBatch reports whether the BATCH flag is set.
func (h *Header) IsBatch() bool { return h.Flags&FlagBatch != 0 }

// MessageLen returns 32 + PayloadLen, the whole message's size, and false
// when it does not fit a uint32 (such a message cannot be sent).
func (h *Header) MessageLen() (uint32, bool) {
	if h.PayloadLen > ^uint32(0)-HeaderLen {
		return 0, false
	}
	return h.PayloadLen + HeaderLen, true
}

// String returns the kind's name ("REQUEST", "RESPONSE", "CONTROL").
func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "REQUEST"
	case KindResponse:
		return "RESPONSE"
	case KindControl:
		return "CONTROL"
	}
	return fmt.Sprintf("KIND_%d", uint16(k))
}
