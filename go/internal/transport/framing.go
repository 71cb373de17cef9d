package transport

import (
	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// Framing on the baseline transports as pure logic: the directional
// limits, splitting a message into packets, reassembling and validating
// the packets of a received message, the in-flight message ids of a
// client, and the batch directory check. The sessions move the bytes.

// Limits are the payload and item ceilings of one direction of a session.
type Limits struct {
	// MaxPayload bounds payload_len (directory and padding included).
	MaxPayload uint32
	// MaxItems bounds item_count, of single messages (item_count 1) too.
	MaxItems uint32
}

// RequestLimits are the ceilings of the client-to-server direction.
func (p SessionParams) RequestLimits() Limits {
	return Limits{MaxPayload: p.MaxRequestPayloadBytes, MaxItems: p.MaxRequestBatchItems}
}

// ResponseLimits are the ceilings of the server-to-client direction.
func (p SessionParams) ResponseLimits() Limits {
	return Limits{MaxPayload: p.MaxResponsePayloadBytes, MaxItems: p.MaxResponseBatchItems}
}

// Role is the side of a session.
type Role uint8

// The roles.
const (
	// RoleClient sends requests and receives responses.
	RoleClient Role = iota + 1
	// RoleServer receives requests and sends responses.
	RoleServer
)

// String returns "client" or "server".
func (r Role) String() string {
	if r == RoleClient {
		return "client"
	}
	return "server"
}

// sends is the kind of the messages the role sends.
func (r Role) sends() protocol.Kind {
	if r == RoleClient {
		return protocol.KindRequest
	}
	return protocol.KindResponse
}

// receives is the kind of the messages the role receives.
func (r Role) receives() protocol.Kind {
	if r == RoleClient {
		return protocol.KindResponse
	}
	return protocol.KindRequest
}

// peer names the other side in error messages.
func (r Role) peer() string {
	if r == RoleClient {
		return "provider"
	}
	return "client"
}

// direction names what the role receives in error messages.
func (r Role) direction() string {
	if r == RoleClient {
		return "response"
	}
	return "request"
}

const maxInt = int(^uint(0) >> 1)

// msgNotSent heads the errors of messages refused before sending.
const msgNotSent = "message not sent"

// PrepareSend checks a message before anything is sent and returns h with
// PayloadLen set from payload. The kind must be the one role sends
// (client: REQUEST, server: RESPONSE; ErrInvalidArgument), and the
// message must fit a uint32 and the outbound limits (ErrLimitExceeded,
// the session stays usable).
func PrepareSend(role Role, h protocol.Header, payload []byte, limits Limits) (protocol.Header, error) {
	if h.Kind != role.sends() {
		return h, faultf(netipc.ErrInvalidArgument, msgNotSent, RuleKind, nil,
			"a %s sends %s messages, not %s", role, role.sends(), h.Kind)
	}
	if uint64(len(payload)) > uint64(^uint32(0))-protocol.HeaderLen {
		return h, faultf(netipc.ErrLimitExceeded, msgNotSent, RuleLimit, nil,
			"a payload of %d bytes does not fit a message", len(payload))
	}
	h.PayloadLen = uint32(len(payload))
	if h.PayloadLen > limits.MaxPayload {
		return h, faultf(netipc.ErrLimitExceeded, msgNotSent, RuleLimit, nil,
			"the payload of %d bytes exceeds the negotiated ceiling of %d bytes; reconnect with larger limits",
			h.PayloadLen, limits.MaxPayload)
	}
	if h.ItemCount > limits.MaxItems {
		return h, faultf(netipc.ErrLimitExceeded, msgNotSent, RuleLimit, nil,
			"%d items exceed the negotiated ceiling of %d items; reconnect with larger limits",
			h.ItemCount, limits.MaxItems)
	}
	return h, nil
}

// budget is the payload bytes one packet of packetSize carries besides
// its 32-byte header (at least 1).
func budget(packetSize uint32) uint64 {
	return max(uint64(packetSize), protocol.HeaderLen+1) - protocol.HeaderLen
}

// chunkCount is the number of packets of a payload of payloadLen bytes
// when packet 0 carries first of them and every continuation at most
// budget (saturated at the uint32 maximum).
func chunkCount(payloadLen, first, budget uint64) uint32 {
	n := 1 + (payloadLen-first+budget-1)/budget
	return uint32(min(n, uint64(^uint32(0))))
}

// Packets splits one message into the packets of a baseline transport. A
// message of at most the packet size is one packet; a larger one is
// packet 0 (the outer header and the first payload bytes) followed by
// continuation packets (a chunk header and the next bytes), each at most
// the packet size. Packets is a small value; it allocates nothing:
//
//	var prefix [protocol.HeaderLen]byte
//	p := NewPackets(h, payload, size)
//	for body, ok := p.Next(&prefix); ok; body, ok = p.Next(&prefix) {
//		// one write of prefix and body
//	}
type Packets struct {
	header  protocol.Header
	payload []byte
	budget  int
	sent    int
	index   uint32
	count   uint32
}

// NewPackets returns the packets of h and payload for the agreed
// packetSize (more than 32). h.PayloadLen is set from payload, which
// PrepareSend has checked.
func NewPackets(h protocol.Header, payload []byte, packetSize uint32) Packets {
	h.PayloadLen = uint32(len(payload))
	b := budget(packetSize)
	n := uint64(len(payload))
	return Packets{header: h, payload: payload, budget: int(b), count: chunkCount(n, min(n, b), b)}
}

// Len returns the number of packets.
func (p *Packets) Len() int { return int(p.count) }

// Next writes the 32-byte prefix of the next packet (the outer header for
// packet 0, a chunk header after) into prefix and returns the payload
// bytes that follow it in the packet; false when every packet was
// returned.
func (p *Packets) Next(prefix *[protocol.HeaderLen]byte) ([]byte, bool) {
	if p.index >= p.count {
		return nil, false
	}
	end := p.sent + min(p.budget, len(p.payload)-p.sent)
	body := p.payload[p.sent:end]
	if p.index == 0 {
		p.header.Encode(prefix[:])
	} else {
		c := protocol.ChunkHeader{
			MessageID:       p.header.MessageID,
			TotalMessageLen: p.header.PayloadLen + protocol.HeaderLen,
			ChunkIndex:      p.index,
			ChunkCount:      p.count,
			ChunkPayloadLen: uint32(len(body)),
		}
		c.Encode(prefix[:])
	}
	p.sent = end
	p.index++
	return body, true
}

// InFlight is the set of the message ids a client has sent and not yet
// seen answered. A pipeline is short, so it is a small slice scanned
// linearly; after warm-up nothing allocates. Used by one goroutine at a
// time.
type InFlight struct {
	ids []uint64
}

// Add records the id of a request about to be sent. An id already in
// flight fails with ErrInvalidArgument (nothing is sent; the session
// stays usable).
func (f *InFlight) Add(id uint64) error {
	if f.Contains(id) {
		return faultf(netipc.ErrInvalidArgument, msgNotSent, RuleMessageID, nil,
			"message id %d is already in flight on this session", id)
	}
	f.ids = append(f.ids, id)
	return nil
}

// Remove forgets an answered id; false when it was not in flight.
func (f *InFlight) Remove(id uint64) bool {
	for i, x := range f.ids {
		if x == id {
			last := len(f.ids) - 1
			f.ids[i] = f.ids[last]
			f.ids = f.ids[:last]
			return true
		}
	}
	return false
}

// Contains reports whether id is in flight.
func (f *InFlight) Contains(id uint64) bool {
	for _, x := range f.ids {
		if x == id {
			return true
		}
	}
	return false
}

// Len returns the number of ids in flight.
func (f *InFlight) Len() int { return len(f.ids) }

// Clear forgets every id (the session broke: every request in flight
// failed).
func (f *InFlight) Clear() { f.ids = f.ids[:0] }

// CheckBatch validates the item directory of a batch message with more
// than one item (section 5.3): ErrProtocol with the directory's codec
// error. Other messages pass unchecked, as in the reference receivers.
func CheckBatch(h *protocol.Header, payload []byte) error {
	return checkBatch(h, payload, "peer")
}

func checkBatch(h *protocol.Header, payload []byte, peer string) error {
	if !h.IsBatch() || h.ItemCount <= 1 {
		return nil
	}
	if _, err := protocol.NewBatchView(payload, h.ItemCount); err != nil {
		return faultf(netipc.ErrProtocol, "protocol violation by the "+peer, RuleBatch, err,
			"the batch of %d items has an invalid directory", h.ItemCount)
	}
	return nil
}

// ReassemblerConfig says what a session receives.
type ReassemblerConfig struct {
	// Role is the session's side: a server receives requests (and
	// applies the request limits), a client responses (response limits).
	Role Role
	// Params are the session's negotiated values.
	Params SessionParams
	// InFlight, on a client, holds the ids of the requests in flight: a
	// response must carry one of them, which is then removed. nil: ids
	// are not checked.
	InFlight *InFlight
	// ResponseLimit, on a client, is the largest response payload it
	// accepts whatever the provider announced: a larger one fails with
	// netipc.ErrResponseTooLarge before any memory is set aside for it.
	// 0: the negotiated ceiling.
	ResponseLimit uint32
}

// Reassembler receives the messages of one session into one reusable
// buffer, packet by packet, and applies every receive rule of the
// baseline transports (sections 6, 7.3, 10, 12): the header decodes, the
// kind is the one the side receives, payload_len and item_count are
// within the negotiated ceilings, a client's response answers a request
// in flight, the first packet is not longer than its message, every
// continuation packet continues the message (chunk header, message id,
// index, count, total length, byte count), and the batch directory of a
// batch message is valid. Every error ends the session.
//
// Use: read each packet into Buffer, then call Packet with its length;
// once Packet returns true, Message is the whole message. The buffer
// grows with the packets that arrive, never to a length a header merely
// declares. Nothing allocates once the buffer has reached the largest
// message's size. A Reassembler is used by one goroutine at a time.
type Reassembler struct {
	role          Role
	limits        Limits
	packetSize    uint32
	inFlight      *InFlight
	responseLimit uint32

	// buf holds the message being received: header, then payload. Its
	// length is its capacity.
	buf []byte
	// firstCap is the buffer size of a first packet.
	firstCap int

	// The message being reassembled, when partial.
	partial    bool
	header     protocol.Header
	received   int // payload bytes so far
	nextIndex  uint32
	chunkCount uint32
	// area is the end of the buffer handed out for the next continuation.
	area int
	// saved holds the payload bytes the next chunk header is read over.
	saved [protocol.HeaderLen]byte

	// The last complete message.
	done bool
	end  int
}

// NewReassembler returns a Reassembler for a session.
func NewReassembler(cfg ReassemblerConfig) *Reassembler {
	limits := cfg.Params.RequestLimits()
	if cfg.Role == RoleClient {
		limits = cfg.Params.ResponseLimits()
		if cfg.ResponseLimit != 0 {
			limits.MaxPayload = min(limits.MaxPayload, cfg.ResponseLimit)
		}
	}
	r := &Reassembler{
		role:          cfg.Role,
		limits:        limits,
		packetSize:    cfg.Params.PacketSize,
		inFlight:      cfg.InFlight,
		responseLimit: cfg.ResponseLimit,
	}
	// A longer first packet breaks the packet size or the limits anyway.
	r.firstCap = int(min(uint64(r.packetSize), protocol.HeaderLen+uint64(limits.MaxPayload), uint64(maxInt)))
	return r
}

// Limits returns the ceilings applied to received messages.
func (r *Reassembler) Limits() Limits { return r.limits }

// grow makes the buffer at least n bytes long, keeping its contents. The
// capacity grows geometrically, but never beyond most bytes.
func (r *Reassembler) grow(n, most int) {
	if len(r.buf) >= n {
		return
	}
	c := min(max(2*len(r.buf), n), max(most, n))
	b := make([]byte, c)
	copy(b, r.buf)
	r.buf = b
}

// Buffer returns where the next packet must be read: for the first
// packet of a message, a buffer of min(packet size, 32 + payload
// ceiling) bytes; for a continuation, room for its chunk header and its
// share of the rest of the payload (the body then lands in place, after
// the bytes already assembled). Calling Buffer ends the validity of the
// last Message.
func (r *Reassembler) Buffer() []byte {
	r.done = false
	if !r.partial {
		r.grow(r.firstCap, r.firstCap)
		return r.buf[:r.firstCap]
	}
	left := int(r.header.PayloadLen) - r.received
	at := r.received // = 32 + received - 32: the chunk header ends where the body goes
	r.area = protocol.HeaderLen + r.received + min(left, r.firstCap-protocol.HeaderLen)
	r.grow(r.area, protocol.HeaderLen+int(r.header.PayloadLen))
	copy(r.saved[:], r.buf[at:at+protocol.HeaderLen])
	return r.buf[at:r.area]
}

// Packet processes a packet of n bytes read into Buffer. n is the
// packet's whole length as the OS reports it: it may exceed the buffer
// when a longer datagram was cut short (the extra bytes are lost; such a
// packet is refused). It returns true when the message is complete; see
// Message. Any error ends the session (the partial message is dropped).
func (r *Reassembler) Packet(n int) (bool, error) {
	n = max(n, 0)
	var (
		done bool
		err  error
	)
	if r.partial {
		done, err = r.continuation(n)
	} else {
		done, err = r.first(n)
	}
	if err != nil {
		r.partial = false
		return false, err
	}
	if done {
		r.partial = false
		if err := checkBatch(&r.header, r.buf[protocol.HeaderLen:r.end], r.role.peer()); err != nil {
			return false, err
		}
		r.done = true
	}
	return done, nil
}

// Message returns the last complete message: its header and payload,
// which stays valid until the next call of Buffer or Whole. It is the
// zero Message when no message is complete.
func (r *Reassembler) Message() Message {
	if !r.done {
		return Message{}
	}
	return Message{Header: r.header, Payload: r.buf[protocol.HeaderLen:r.end:r.end]}
}

// Partial reports whether some packets of a message have arrived and the
// rest has not.
func (r *Reassembler) Partial() bool { return r.partial }

// Shrink gives back the buffer when it is larger than keep bytes and no
// message is being reassembled (after an unusually large message), so
// that an idle session holds little memory. It ends the validity of the
// last Message.
func (r *Reassembler) Shrink(keep int) {
	if !r.partial && len(r.buf) > keep {
		r.buf, r.done = nil, false
	}
}

func (r *Reassembler) violation(kind netipc.Kind, rule Rule, cause error, format string, args ...any) error {
	return faultf(kind, "protocol violation by the "+r.role.peer(), rule, cause, format, args...)
}

// checkHeader applies the rules of a message's header: it decodes, has
// the kind the role receives, fits the limits, and (client) answers a
// request in flight, whose id is then removed. It returns the header and
// the whole message's length.
func (r *Reassembler) checkHeader(b []byte) (protocol.Header, uint64, error) {
	h, err := protocol.DecodeHeader(b)
	if err != nil {
		return h, 0, r.violation(netipc.ErrProtocol, RuleHeader, err, "a message header does not decode")
	}
	if h.Kind != r.role.receives() {
		return h, 0, r.violation(netipc.ErrProtocol, RuleKind, nil,
			"it sent a %s message; a %s receives only %s messages", h.Kind, r.role, r.role.receives())
	}
	if h.PayloadLen > r.limits.MaxPayload {
		if r.role == RoleClient && r.responseLimit != 0 && h.PayloadLen > r.responseLimit {
			return h, 0, faultf(netipc.ErrResponseTooLarge, "response too large", RuleLimit, nil,
				"the provider sent a %d-byte response; this client accepts at most %d bytes (ClientConfig.MaxResponsePayloadBytes)",
				h.PayloadLen, r.responseLimit)
		}
		return h, 0, r.violation(netipc.ErrLimitExceeded, RuleLimit, nil,
			"payload_len %d exceeds the negotiated %s ceiling of %d bytes", h.PayloadLen, r.role.direction(), r.limits.MaxPayload)
	}
	if h.ItemCount > r.limits.MaxItems {
		return h, 0, r.violation(netipc.ErrLimitExceeded, RuleLimit, nil,
			"item_count %d exceeds the negotiated %s ceiling of %d items", h.ItemCount, r.role.direction(), r.limits.MaxItems)
	}
	if r.inFlight != nil && h.Kind == protocol.KindResponse && !r.inFlight.Remove(h.MessageID) {
		return h, 0, r.violation(netipc.ErrProtocol, RuleMessageID, nil,
			"a response for message id %d, which is not in flight", h.MessageID)
	}
	total := protocol.HeaderLen + uint64(h.PayloadLen)
	if total > uint64(^uint32(0)) {
		return h, 0, r.violation(netipc.ErrProtocol, RuleLength, nil,
			"payload_len %d makes the message larger than 4 GiB", h.PayloadLen)
	}
	return h, total, nil
}

// first processes the first packet of a message (steps 1 to 4 of 7.3).
func (r *Reassembler) first(n int) (bool, error) {
	h, total, err := r.checkHeader(r.buf[:min(n, r.firstCap)])
	if err != nil {
		return false, err
	}
	switch {
	case n > r.firstCap && n > int(r.packetSize):
		return false, r.violation(netipc.ErrProtocol, RuleLength, nil,
			"a packet of %d bytes exceeds the negotiated packet size of %d bytes", n, r.packetSize)
	case uint64(n) > total || n > r.firstCap:
		return false, r.violation(netipc.ErrProtocol, RuleLength, nil,
			"a packet of %d bytes is longer than its %d-byte message", n, total)
	}
	r.header = h
	r.end = int(total)
	if uint64(n) == total {
		return true, nil
	}
	// Chunked: the expected count follows from what packet 0 carried.
	r.partial = true
	r.received = n - protocol.HeaderLen
	r.nextIndex = 1
	r.chunkCount = chunkCount(uint64(h.PayloadLen), uint64(r.received), budget(r.packetSize))
	return false, nil
}

// continuation processes a continuation packet read into the area Buffer
// handed out (step 5 of 7.3).
func (r *Reassembler) continuation(n int) (bool, error) {
	at := r.received
	var head [protocol.HeaderLen]byte
	copy(head[:min(n, protocol.HeaderLen)], r.buf[at:])
	copy(r.buf[at:], r.saved[:])
	c, err := protocol.DecodeChunkHeader(head[:min(n, protocol.HeaderLen)])
	if err != nil {
		return false, r.violation(netipc.ErrProtocol, RuleChunk, err, "continuation packet %d has no valid chunk header", r.nextIndex)
	}
	body := uint64(max(n-protocol.HeaderLen, 0))
	checks := [...]struct {
		field         string
		expected, got uint64
	}{
		{"message_id", r.header.MessageID, c.MessageID},
		{"chunk_index", uint64(r.nextIndex), uint64(c.ChunkIndex)},
		{"chunk_count", uint64(r.chunkCount), uint64(c.ChunkCount)},
		{"total_message_len", uint64(r.end), uint64(c.TotalMessageLen)},
		{"chunk_payload_len", body, uint64(c.ChunkPayloadLen)},
	}
	for _, k := range checks {
		if k.expected != k.got {
			return false, r.violation(netipc.ErrProtocol, RuleChunk, nil,
				"continuation packet %d: %s is %d, expected %d", r.nextIndex, k.field, k.got, k.expected)
		}
	}
	left := uint64(int(r.header.PayloadLen) - r.received)
	if body > left {
		return false, r.violation(netipc.ErrProtocol, RuleChunk, nil,
			"continuation packet %d carries %d bytes but only %d remain", r.nextIndex, body, left)
	}
	if at+n > r.area {
		return false, r.violation(netipc.ErrProtocol, RuleLength, nil,
			"a packet of %d bytes exceeds the negotiated packet size of %d bytes", n, r.packetSize)
	}
	r.received += int(body)
	r.nextIndex++
	return r.received == int(r.header.PayloadLen), nil
}

// Whole validates a message received in one piece (a shared-memory
// message; msg is the whole published message) with the rules of the
// baseline transports, and stricter: payload_len must equal len(msg)-32.
// It returns the message, whose payload is a sub-slice of msg.
func (r *Reassembler) Whole(msg []byte) (Message, error) {
	r.partial, r.done = false, false
	h, total, err := r.checkHeader(msg)
	if err != nil {
		return Message{}, err
	}
	if total != uint64(len(msg)) {
		return Message{}, r.violation(netipc.ErrProtocol, RuleLength, nil,
			"a shared-memory message of %d bytes carries payload_len %d", len(msg), h.PayloadLen)
	}
	payload := msg[protocol.HeaderLen:total:total]
	if err := checkBatch(&h, payload, r.role.peer()); err != nil {
		return Message{}, err
	}
	return Message{Header: h, Payload: payload}, nil
}
