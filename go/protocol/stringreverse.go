package protocol

// STRING_REVERSE (method 3) is a test service: a string in, a string out.
// Layout (both directions): str_offset u32 = 8, str_length u32, the bytes,
// one NUL.

// StringReverseHeaderLen is the size of the fixed part before the string.
const StringReverseHeaderLen = 8

// StringReverseLen is the encoded size of a string of n bytes: 9 + n.
func StringReverseLen(n int) int { return StringReverseHeaderLen + n + 1 }

// EncodeStringReverse encodes s into dst and returns the payload length.
// The bytes are copied as they are (interior NULs are allowed). It fails
// with Overflow when dst is shorter than StringReverseLen(len(s)) or the
// length does not fit a u32.
func EncodeStringReverse(dst, s []byte) (int, error) {
	total, ok := wireSize(uint64(len(s)) + StringReverseHeaderLen + 1)
	if !ok || total > len(dst) {
		return 0, codecErr(Overflow, "STRING_REVERSE string", 0)
	}
	setU32(dst, 0, StringReverseHeaderLen)
	setU32(dst, 4, uint32(len(s)))
	copy(dst[StringReverseHeaderLen:], s)
	dst[total-1] = 0
	return total, nil
}

// DecodeStringReverse returns the string of a STRING_REVERSE payload
// (without its NUL), a sub-slice of payload. Interior NULs are not checked;
// trailing bytes are ignored. It fails, in this order, with Truncated
// (fewer than 8 bytes), BadLayout (str_offset is not 8), OutOfBounds (the
// string or its NUL is past the end) or MissingNul.
func DecodeStringReverse(payload []byte) ([]byte, error) {
	if len(payload) < StringReverseHeaderLen {
		return nil, codecErr(Truncated, "STRING_REVERSE header", len(payload))
	}
	if u32at(payload, 0) != StringReverseHeaderLen {
		return nil, codecErr(BadLayout, "STRING_REVERSE str_offset", 0)
	}
	end, ok := spanEnd(StringReverseHeaderLen+1, intAt(payload, 4), len(payload))
	if !ok {
		return nil, codecErr(OutOfBounds, "STRING_REVERSE str_length", 4)
	}
	if payload[end-1] != 0 {
		return nil, codecErr(MissingNul, "STRING_REVERSE terminator", end-1)
	}
	return payload[StringReverseHeaderLen : end-1 : end-1], nil
}
