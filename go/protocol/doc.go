// Package protocol is the NetIPC wire format: the 32-byte message header,
// chunk headers, batch directories, the handshake payloads, and the
// payload codecs of every method (views that decode in place and
// builders that encode into a caller's buffer).
//
// Everything here is pure computation on byte slices: no I/O, no
// goroutines, safe for concurrent use on distinct values. Decoders never
// panic on any input and return a *CodecError naming what is wrong; views
// borrow the bytes they decode and stay valid as long as those bytes do.
// Multi-byte integers are little-endian, as every NetIPC peer writes them
// on the little-endian hosts it runs on.
package protocol
