package protocol

// INCREMENT (method 1) is a test and benchmark service: a u64 in, a u64
// out (every reference handler answers value+1). One layout for both
// directions.

// IncrementPayloadLen is the size of an INCREMENT request or response.
const IncrementPayloadLen = 8

// EncodeIncrement writes value into the first 8 bytes of dst and returns 8.
// It fails with Overflow when dst is shorter than 8 bytes.
func EncodeIncrement(dst []byte, value uint64) (int, error) {
	if len(dst) < IncrementPayloadLen {
		return 0, codecErr(Overflow, "INCREMENT value", 0)
	}
	setU64(dst, 0, value)
	return IncrementPayloadLen, nil
}

// DecodeIncrement reads the value of an INCREMENT payload. Bytes after
// the first 8 are ignored, as by every reference peer. It fails with
// Truncated when the payload is shorter than 8 bytes.
func DecodeIncrement(payload []byte) (uint64, error) {
	if len(payload) < IncrementPayloadLen {
		return 0, codecErr(Truncated, "INCREMENT value", len(payload))
	}
	return u64at(payload, 0), nil
}
