package protocol

import "fmt"

// CodecErrorKind classifies a codec failure. The values and names are the
// golden vectors' reject_error kinds.
type CodecErrorKind uint8

// The codec failures.
const (
	// Truncated: a message or item is shorter than its structure.
	Truncated CodecErrorKind = iota + 1
	// BadMagic: a header has the wrong magic number.
	BadMagic
	// BadVersion: a header has an unsupported version.
	BadVersion
	// BadHeaderLen: the header length is not 32.
	BadHeaderLen
	// BadKind: the message kind is not a known or expected one.
	BadKind
	// BadLayout: a layout rule is broken (reserved bytes, flags, a
	// directory that does not match).
	BadLayout
	// OutOfBounds: an offset or index is past the end.
	OutOfBounds
	// MissingNul: a string is not NUL-terminated.
	MissingNul
	// BadAlignment: a directory offset is not a multiple of 8.
	BadAlignment
	// BadItemCount: an item count overflows or does not match.
	BadItemCount
	// Overflow: something does not fit (a builder's buffer, a limit).
	Overflow
)

var codecKindNames = [...]string{
	Truncated:    "TRUNCATED",
	BadMagic:     "BAD_MAGIC",
	BadVersion:   "BAD_VERSION",
	BadHeaderLen: "BAD_HEADER_LEN",
	BadKind:      "BAD_KIND",
	BadLayout:    "BAD_LAYOUT",
	OutOfBounds:  "OUT_OF_BOUNDS",
	MissingNul:   "MISSING_NUL",
	BadAlignment: "BAD_ALIGNMENT",
	BadItemCount: "BAD_ITEM_COUNT",
	Overflow:     "OVERFLOW",
}

// String returns the kind's name as the golden vectors spell it
// ("TRUNCATED", "BAD_LAYOUT", ...).
func (k CodecErrorKind) String() string {
	if int(k) < len(codecKindNames) && codecKindNames[k] != "" {
		return codecKindNames[k]
	}
	return fmt.Sprintf("CODEC_ERROR_%d", uint8(k))
}

// Error makes a kind usable as a target of errors.Is:
// errors.Is(err, protocol.Truncated).
func (k CodecErrorKind) Error() string { return "netipc codec: " + k.String() }

// CodecError says what could not be encoded or decoded and where.
type CodecError struct {
	// Kind classifies the failure.
	Kind CodecErrorKind
	// What names the structure or field ("HELLO layout_version",
	// "cgroups item 3 name", ...).
	What string
	// Offset is the byte offset the failure was found at, relative to the
	// decoded buffer (or the item, as What says).
	Offset int
}

// Error describes the failure.
func (e *CodecError) Error() string {
	return fmt.Sprintf("%s: %s at byte %d", e.Kind.String(), e.What, e.Offset)
}

// Is reports whether target is the error's kind.
func (e *CodecError) Is(target error) bool {
	k, ok := target.(CodecErrorKind)
	return ok && k == e.Kind
}

// codecErr returns a *CodecError. Decoders build errors only on the
// failure path, so valid input allocates nothing.
func codecErr(kind CodecErrorKind, what string, offset int) error {
	return &CodecError{Kind: kind, What: what, Offset: offset}
}
