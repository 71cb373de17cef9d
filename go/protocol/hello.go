package protocol

import "encoding/binary"

// Handshake payload constants.
const (
	// HelloLen is the size of the HELLO payload.
	HelloLen = 44
	// HelloAckLen is the size of the HELLO_ACK payload.
	HelloAckLen = 48
	// HelloLayoutVersion is the only layout version of both payloads.
	HelloLayoutVersion uint16 = 1
	// HelloFlagExtensions is the HELLO flag netipc clients set: "I read
	// the HELLO_ACK extension word". Reference servers ignore HELLO flags,
	// so other peers are unaffected.
	HelloFlagExtensions uint16 = 0x4000
)

// Bits of the HELLO_ACK extension word (the reserved u32 at offset 36,
// which reference servers write as 0 and reference clients ignore). A
// netipc server sets them only for clients that sent HelloFlagExtensions,
// so every other pairing of peers uses the plain protocol.
const (
	// ExtSHMWakeOnDemand (shared memory, POSIX): the consumer announces in
	// the direction's signal word that it is about to sleep, and the
	// publisher calls FUTEX_WAKE only then.
	ExtSHMWakeOnDemand uint32 = 0x0000_0001
	// ExtAtCapacity, in a rejection with status INTERNAL_ERROR: the
	// provider already serves as many sessions as it may; the ack's
	// session_id field carries that session limit.
	ExtAtCapacity uint32 = 0x0000_0002
	// ExtIdentityRefused, in a rejection with status AUTH_FAILED: the
	// provider does not serve this consumer's user or group, whatever the
	// auth token.
	ExtIdentityRefused uint32 = 0x0000_0004
)

// Hello is the client's handshake proposal (the 44-byte HELLO payload).
// The layout version and the reserved bytes are implied.
type Hello struct {
	// Flags: 0 from reference clients, HelloFlagExtensions from netipc
	// clients; servers otherwise ignore them.
	Flags uint16
	// SupportedProfiles are the profiles the client can use.
	SupportedProfiles Profile
	// PreferredProfiles are the profiles the client prefers.
	PreferredProfiles Profile
	// MaxRequestPayloadBytes is the proposed request payload ceiling.
	MaxRequestPayloadBytes uint32
	// MaxRequestBatchItems is the proposed request (and response) item
	// ceiling.
	MaxRequestBatchItems uint32
	// MaxResponsePayloadBytes is a hint; servers answer with their own
	// response ceiling.
	MaxResponsePayloadBytes uint32
	// MaxResponseBatchItems is a hint; servers echo the request item
	// ceiling.
	MaxResponseBatchItems uint32
	// AuthToken is the shared secret the server compares.
	AuthToken uint64
	// PacketSize is the client's packet size for chunking.
	PacketSize uint32
}

// Encode writes the 44-byte payload into dst, which must be at least
// HelloLen long. The reserved bytes are written as zero.
func (h *Hello) Encode(dst []byte) {
	_ = dst[HelloLen-1]
	le := binary.LittleEndian
	le.PutUint16(dst[0:], HelloLayoutVersion)
	le.PutUint16(dst[2:], h.Flags)
	le.PutUint32(dst[4:], uint32(h.SupportedProfiles))
	le.PutUint32(dst[8:], uint32(h.PreferredProfiles))
	le.PutUint32(dst[12:], h.MaxRequestPayloadBytes)
	le.PutUint32(dst[16:], h.MaxRequestBatchItems)
	le.PutUint32(dst[20:], h.MaxResponsePayloadBytes)
	le.PutUint32(dst[24:], h.MaxResponseBatchItems)
	le.PutUint32(dst[28:], 0)
	le.PutUint64(dst[32:], h.AuthToken)
	le.PutUint32(dst[40:], h.PacketSize)
}

// DecodeHello decodes a HELLO payload and checks, in the reference order,
// its length (Truncated), layout_version == 1 (BadLayout) and that the
// reserved bytes 28..32 are zero (BadLayout). Flags are not checked.
// Bytes after the 44 are ignored.
func DecodeHello(buf []byte) (Hello, error) {
	if len(buf) < HelloLen {
		return Hello{}, codecErr(Truncated, "HELLO payload", len(buf))
	}
	le := binary.LittleEndian
	if le.Uint16(buf[0:]) != HelloLayoutVersion {
		return Hello{}, codecErr(BadLayout, "HELLO layout_version", 0)
	}
	if le.Uint32(buf[28:]) != 0 {
		return Hello{}, codecErr(BadLayout, "HELLO reserved", 28)
	}
	return Hello{
		Flags:                   le.Uint16(buf[2:]),
		SupportedProfiles:       Profile(le.Uint32(buf[4:])),
		PreferredProfiles:       Profile(le.Uint32(buf[8:])),
		MaxRequestPayloadBytes:  le.Uint32(buf[12:]),
		MaxRequestBatchItems:    le.Uint32(buf[16:]),
		MaxResponsePayloadBytes: le.Uint32(buf[20:]),
		MaxResponseBatchItems:   le.Uint32(buf[24:]),
		AuthToken:               le.Uint64(buf[32:]),
		PacketSize:              le.Uint32(buf[40:]),
	}, nil
}

// HelloAck is the server's handshake answer (the 48-byte HELLO_ACK
// payload). A rejection carries a non-OK header status and zero fields
// (netipc rejections may set Extensions and SessionID, see ExtAtCapacity).
// The layout version and flags are implied.
type HelloAck struct {
	// ServerSupportedProfiles are the server's effective profiles.
	ServerSupportedProfiles Profile
	// IntersectionProfiles are the client's supported AND the server's.
	IntersectionProfiles Profile
	// SelectedProfile is the session's profile (one bit).
	SelectedProfile Profile
	// AgreedMaxRequestPayloadBytes is the request payload ceiling.
	AgreedMaxRequestPayloadBytes uint32
	// AgreedMaxRequestBatchItems is the request item ceiling.
	AgreedMaxRequestBatchItems uint32
	// AgreedMaxResponsePayloadBytes is the response payload ceiling.
	AgreedMaxResponsePayloadBytes uint32
	// AgreedMaxResponseBatchItems is the response item ceiling.
	AgreedMaxResponseBatchItems uint32
	// AgreedPacketSize is the packet size for chunking.
	AgreedPacketSize uint32
	// Extensions is the netipc extension word (reserved bytes 36..40): 0
	// from reference servers; see ExtSHMWakeOnDemand and the others.
	Extensions uint32
	// SessionID is the server-assigned session id.
	SessionID uint64
}

// Encode writes the 48-byte payload into dst, which must be at least
// HelloAckLen long.
func (a *HelloAck) Encode(dst []byte) {
	_ = dst[HelloAckLen-1]
	le := binary.LittleEndian
	le.PutUint16(dst[0:], HelloLayoutVersion)
	le.PutUint16(dst[2:], 0)
	le.PutUint32(dst[4:], uint32(a.ServerSupportedProfiles))
	le.PutUint32(dst[8:], uint32(a.IntersectionProfiles))
	le.PutUint32(dst[12:], uint32(a.SelectedProfile))
	le.PutUint32(dst[16:], a.AgreedMaxRequestPayloadBytes)
	le.PutUint32(dst[20:], a.AgreedMaxRequestBatchItems)
	le.PutUint32(dst[24:], a.AgreedMaxResponsePayloadBytes)
	le.PutUint32(dst[28:], a.AgreedMaxResponseBatchItems)
	le.PutUint32(dst[32:], a.AgreedPacketSize)
	le.PutUint32(dst[36:], a.Extensions)
	le.PutUint64(dst[40:], a.SessionID)
}

// DecodeHelloAck decodes a HELLO_ACK payload and checks, in the reference
// order, its length (Truncated), layout_version == 1 (BadLayout) and
// flags == 0 (BadLayout). The extension word is returned as it is.
func DecodeHelloAck(buf []byte) (HelloAck, error) {
	if len(buf) < HelloAckLen {
		return HelloAck{}, codecErr(Truncated, "HELLO_ACK payload", len(buf))
	}
	le := binary.LittleEndian
	if le.Uint16(buf[0:]) != HelloLayoutVersion {
		return HelloAck{}, codecErr(BadLayout, "HELLO_ACK layout_version", 0)
	}
	if le.Uint16(buf[2:]) != 0 {
		return HelloAck{}, codecErr(BadLayout, "HELLO_ACK flags", 2)
	}
	return HelloAck{
		ServerSupportedProfiles:       Profile(le.Uint32(buf[4:])),
		IntersectionProfiles:          Profile(le.Uint32(buf[8:])),
		SelectedProfile:               Profile(le.Uint32(buf[12:])),
		AgreedMaxRequestPayloadBytes:  le.Uint32(buf[16:]),
		AgreedMaxRequestBatchItems:    le.Uint32(buf[20:]),
		AgreedMaxResponsePayloadBytes: le.Uint32(buf[24:]),
		AgreedMaxResponseBatchItems:   le.Uint32(buf[28:]),
		AgreedPacketSize:              le.Uint32(buf[32:]),
		Extensions:                    le.Uint32(buf[36:]),
		SessionID:                     le.Uint64(buf[40:]),
	}, nil
}
