package protocol

import "encoding/binary"

// Chunk header constants.
const (
	// ChunkMagic is the first word of a chunk continuation header ("NCHK").
	ChunkMagic uint32 = 0x4e43484b
	// ChunkVersion is the only chunk header version.
	ChunkVersion uint16 = 1
)

// ChunkHeader is the 32-byte header of a continuation packet. Packet 0 of
// a message larger than the packet size carries the outer Header and the
// first payload bytes; packets 1.. carry a ChunkHeader and the next
// payload bytes. Magic, version and flags are implied: Encode writes them
// and DecodeChunkHeader checks them.
type ChunkHeader struct {
	// MessageID is the message id of the message being continued.
	MessageID uint64
	// TotalMessageLen is 32 + payload_len of the whole message.
	TotalMessageLen uint32
	// ChunkIndex is 1 .. ChunkCount-1 (packet 0 has no chunk header).
	ChunkIndex uint32
	// ChunkCount is the number of packets, packet 0 included.
	ChunkCount uint32
	// ChunkPayloadLen is the number of payload bytes in this packet; never 0.
	ChunkPayloadLen uint32
}

// Encode writes the header into the first 32 bytes of dst, which must be
// at least HeaderLen long.
func (c *ChunkHeader) Encode(dst []byte) {
	_ = dst[HeaderLen-1]
	binary.LittleEndian.PutUint32(dst[0:], ChunkMagic)
	binary.LittleEndian.PutUint16(dst[4:], ChunkVersion)
	binary.LittleEndian.PutUint16(dst[6:], 0)
	binary.LittleEndian.PutUint64(dst[8:], c.MessageID)
	binary.LittleEndian.PutUint32(dst[16:], c.TotalMessageLen)
	binary.LittleEndian.PutUint32(dst[20:], c.ChunkIndex)
	binary.LittleEndian.PutUint32(dst[24:], c.ChunkCount)
	binary.LittleEndian.PutUint32(dst[28:], c.ChunkPayloadLen)
}

// DecodeChunkHeader decodes and checks a chunk header, in the reference
// order: length (Truncated), magic (BadMagic), version (BadVersion),
// flags must be 0 (BadLayout), chunk_payload_len must not be 0
// (BadLayout). Whether the other fields fit the message being
// reassembled is the receiver's check.
func DecodeChunkHeader(buf []byte) (ChunkHeader, error) {
	if len(buf) < HeaderLen {
		return ChunkHeader{}, codecErr(Truncated, "chunk header", len(buf))
	}
	if binary.LittleEndian.Uint32(buf[0:]) != ChunkMagic {
		return ChunkHeader{}, codecErr(BadMagic, "chunk header magic", 0)
	}
	if binary.LittleEndian.Uint16(buf[4:]) != ChunkVersion {
		return ChunkHeader{}, codecErr(BadVersion, "chunk header version", 4)
	}
	if binary.LittleEndian.Uint16(buf[6:]) != 0 {
		return ChunkHeader{}, codecErr(BadLayout, "chunk header flags", 6)
	}
	c := ChunkHeader{
		MessageID:       binary.LittleEndian.Uint64(buf[8:]),
		TotalMessageLen: binary.LittleEndian.Uint32(buf[16:]),
		ChunkIndex:      binary.LittleEndian.Uint32(buf[20:]),
		ChunkCount:      binary.LittleEndian.Uint32(buf[24:]),
		ChunkPayloadLen: binary.LittleEndian.Uint32(buf[28:]),
	}
	if c.ChunkPayloadLen == 0 {
		return ChunkHeader{}, codecErr(BadLayout, "chunk header chunk_payload_len", 28)
	}
	return c, nil
}

// IsChunkPacket reports whether packet starts with the chunk header magic:
// a cheap test for diagnostics. Receivers decode the whole chunk header.
func IsChunkPacket(packet []byte) bool {
	return len(packet) >= 4 && binary.LittleEndian.Uint32(packet) == ChunkMagic
}
