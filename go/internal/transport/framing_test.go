package transport

import (
	"bytes"
	"encoding/binary"
	"testing"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// split returns the packets of a message as byte slices.
func split(h protocol.Header, payload []byte, packetSize uint32) [][]byte {
	var out [][]byte
	var prefix [protocol.HeaderLen]byte
	p := NewPackets(h, payload, packetSize)
	for {
		body, ok := p.Next(&prefix)
		if !ok {
			return out
		}
		out = append(out, append(prefix[:], body...))
	}
}

// feed gives packets to r as a session would: each is read into Buffer
// (cut short if it is longer, with its real length reported).
func feed(r *Reassembler, packets [][]byte) (Message, int, error) {
	for i, p := range packets {
		copy(r.Buffer(), p)
		done, err := r.Packet(len(p))
		if err != nil {
			return Message{}, i, err
		}
		if done {
			if i != len(packets)-1 {
				return Message{}, i, nil
			}
			return r.Message(), i, nil
		}
	}
	return Message{}, len(packets), nil
}

func params(packetSize, maxPayload, maxItems uint32) SessionParams {
	return SessionParams{
		Profile: protocol.ProfileBaseline, PacketSize: packetSize,
		MaxRequestPayloadBytes: maxPayload, MaxRequestBatchItems: maxItems,
		MaxResponsePayloadBytes: maxPayload, MaxResponseBatchItems: maxItems,
	}
}

func request(id uint64, n int) (protocol.Header, []byte) {
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	return protocol.Header{Kind: protocol.KindRequest, Code: protocol.MethodStringReverse, ItemCount: 1, MessageID: id, PayloadLen: uint32(n)}, payload
}

// The chunking of wire-envelope.md section 7 and 13: packet counts,
// prefixes and bodies.
func TestPacketsSplit(t *testing.T) {
	cases := []struct {
		size    uint32
		payload int
		packets int
	}{
		{96, 100, 2}, {64, 32, 1}, {64, 33, 2}, {33, 8, 8}, {128, 309, 4}, {64, 0, 1}, {65536, 65504, 1}, {65536, 65505, 2},
	}
	for _, c := range cases {
		h, payload := request(7, c.payload)
		pk := NewPackets(h, payload, c.size)
		got := split(h, payload, c.size)
		if len(got) != c.packets || pk.Len() != c.packets {
			t.Errorf("%d bytes at %d: %d packets (Len %d), want %d", c.payload, c.size, len(got), pk.Len(), c.packets)
			continue
		}
		var joined []byte
		for i, p := range got {
			if len(p) > int(c.size) {
				t.Errorf("packet %d of %d bytes", i, len(p))
			}
			if i == 0 {
				if hd, err := protocol.DecodeHeader(p); err != nil || hd != h {
					t.Errorf("packet 0 header %+v %v", hd, err)
				}
			} else {
				ch, err := protocol.DecodeChunkHeader(p)
				want := protocol.ChunkHeader{MessageID: 7, TotalMessageLen: uint32(32 + c.payload),
					ChunkIndex: uint32(i), ChunkCount: uint32(c.packets), ChunkPayloadLen: uint32(len(p) - 32)}
				if err != nil || ch != want {
					t.Errorf("packet %d chunk header %+v %v", i, ch, err)
				}
			}
			joined = append(joined, p[32:]...)
		}
		if !bytes.Equal(joined, payload) {
			t.Errorf("%d bytes at %d: bodies differ", c.payload, c.size)
		}
	}
	// The section 13 chunk header image: message 7, 100 bytes at 96.
	h, payload := request(7, 100)
	got := split(h, payload, 96)
	want := []byte{0x4b, 0x48, 0x43, 0x4e, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0x84, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0x24, 0, 0, 0}
	if !bytes.Equal(got[1][:32], want) {
		t.Errorf("chunk header % x", got[1][:32])
	}
}

func TestReassemblyRoundTrip(t *testing.T) {
	for _, size := range []uint32{33, 40, 64, 96, 128, 4096} {
		for _, n := range []int{0, 1, 7, 8, 31, 32, 33, 64, 95, 96, 97, 309, 1000, 5000} {
			h, payload := request(uint64(n)+1, n)
			r := NewReassembler(ReassemblerConfig{Role: RoleServer, Params: params(size, 1<<20, 1)})
			m, _, err := feed(r, split(h, payload, size))
			if err != nil || m.Header != h || !bytes.Equal(m.Payload, payload) {
				t.Fatalf("%d bytes at %d: %+v %v", n, size, m.Header, err)
			}
			// The next message reuses the buffer.
			h2, payload2 := request(99, n/2)
			m, _, err = feed(r, split(h2, payload2, size))
			if err != nil || m.Header != h2 || !bytes.Equal(m.Payload, payload2) {
				t.Fatalf("second message, %d bytes at %d: %v", n/2, size, err)
			}
		}
	}
}

// A receiver whose first packet was smaller than the packet size expects
// the count that follows from what actually arrived.
func TestReassemblyShortFirstPacket(t *testing.T) {
	h, payload := request(5, 100)
	packets := split(h, payload, 64) // 32 bytes of payload per packet
	// Re-split so that packet 0 carries 10 bytes: 1 + ceil(90/32) = 4.
	first := append(append([]byte{}, packets[0][:32]...), payload[:10]...)
	seq := [][]byte{first}
	for i, off := 1, 10; off < 100; i++ {
		n := min(32, 100-off)
		var c [32]byte
		(&protocol.ChunkHeader{MessageID: 5, TotalMessageLen: 132, ChunkIndex: uint32(i), ChunkCount: 4, ChunkPayloadLen: uint32(n)}).Encode(c[:])
		seq = append(seq, append(c[:], payload[off:off+n]...))
		off += n
	}
	r := NewReassembler(ReassemblerConfig{Role: RoleServer, Params: params(64, 1024, 1)})
	m, _, err := feed(r, seq)
	if err != nil || !bytes.Equal(m.Payload, payload) {
		t.Fatalf("%v", err)
	}
}

func TestReassemblyRejectsContinuations(t *testing.T) {
	h, payload := request(0x0102030405060708, 309)
	base := split(h, payload, 128)
	mut := func(i, at int, v ...byte) [][]byte {
		seq := make([][]byte, len(base))
		for k := range base {
			seq[k] = bytes.Clone(base[k])
		}
		copy(seq[i][at:], v)
		return seq
	}
	trunc := func(i, n int) [][]byte {
		seq := mut(0, 0)
		seq[i] = seq[i][:n]
		return seq
	}
	longer := mut(0, 0)
	longer[1] = append(longer[1], 0)
	cases := []struct {
		name   string
		seq    [][]byte
		packet int
		rule   Rule
		codec  protocol.CodecErrorKind
	}{
		{"chunk index", mut(1, 20, 2), 1, RuleChunk, 0},
		{"message id", mut(1, 8, 9), 1, RuleChunk, 0},
		{"chunk count", mut(2, 24, 5), 2, RuleChunk, 0},
		{"total length", mut(1, 16, 0x56), 1, RuleChunk, 0},
		{"flags", mut(1, 6, 1), 1, RuleChunk, protocol.BadLayout},
		{"magic", mut(1, 0, 0x43, 0x50, 0x49, 0x4e), 1, RuleChunk, protocol.BadMagic},
		{"version", mut(3, 4, 2), 3, RuleChunk, protocol.BadVersion},
		{"byte count", mut(3, 28, 20), 3, RuleChunk, 0},
		{"zero byte count", mut(3, 28, 0), 3, RuleChunk, protocol.BadLayout},
		{"short continuation", trunc(2, 20), 2, RuleChunk, protocol.Truncated},
		{"continuation shorter than declared", trunc(2, 100), 2, RuleChunk, 0},
		{"continuation longer than the packet size", longer, 1, RuleChunk, 0},
		{"a new message instead of a continuation", [][]byte{base[0], base[0]}, 1, RuleChunk, protocol.BadMagic},
	}
	for _, c := range cases {
		r := NewReassembler(ReassemblerConfig{Role: RoleServer, Params: params(128, 1024, 1)})
		_, at, err := feed(r, c.seq)
		wantErr(t, c.name, err, netipc.ErrProtocol, c.rule)
		if at != c.packet {
			t.Errorf("%s: rejected at packet %d, want %d", c.name, at, c.packet)
		}
		if c.codec != 0 {
			wantCodec(t, c.name, err, c.codec)
		}
		if r.Partial() {
			t.Errorf("%s: still partial after an error", c.name)
		}
	}
}

// A continuation that carries more than the room the receiver has
// (the datagram was cut short) is refused even when its header agrees.
func TestReassemblyRefusesOversizedContinuation(t *testing.T) {
	// Packet size 128 on the receiver, but the sender used 256.
	h, payload := request(3, 400)
	seq := split(h, payload, 256)
	seq[0] = seq[0][:128] // the receiver reads 128 bytes of packet 0 ...
	r := NewReassembler(ReassemblerConfig{Role: RoleServer, Params: params(128, 1024, 1)})
	copy(r.Buffer(), seq[0])
	if _, err := r.Packet(len(split(h, payload, 256)[0])); RuleOf(err) != RuleLength {
		t.Errorf("first packet longer than the packet size: %v", err)
	}
	// ... and a continuation longer than the room: header consistent
	// with a 96-byte first packet, body of 200 bytes.
	r = NewReassembler(ReassemblerConfig{Role: RoleServer, Params: params(128, 1024, 1)})
	first := split(h, payload, 128)[0]
	copy(r.Buffer(), first)
	if done, err := r.Packet(len(first)); done || err != nil {
		t.Fatal(done, err)
	}
	var c [32]byte
	(&protocol.ChunkHeader{MessageID: 3, TotalMessageLen: 432, ChunkIndex: 1, ChunkCount: 5, ChunkPayloadLen: 200}).Encode(c[:])
	buf := r.Buffer()
	if len(buf) != 128 {
		t.Fatalf("continuation area of %d bytes", len(buf))
	}
	copy(buf, c[:])
	_, err := r.Packet(232)
	wantErr(t, "oversized continuation", err, netipc.ErrProtocol, RuleLength, "232 bytes")
}

func TestReassemblyRejectsFirstPackets(t *testing.T) {
	h, payload := request(1, 8)
	good := split(h, payload, 65536)[0]
	set := func(at int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[at:], v)
		return b
	}
	resp := set(8, 2) // a RESPONSE with id 1
	batch := set(10, 1)
	batch[20] = 2 // two items need a 16-byte directory: 8 bytes are there
	cases := []struct {
		name   string
		role   Role
		p      SessionParams
		ids    []uint64
		packet []byte
		kind   netipc.Kind
		rule   Rule
		codec  protocol.CodecErrorKind
	}{
		{"short", RoleServer, params(65536, 1024, 16), nil, good[:31], netipc.ErrProtocol, RuleHeader, protocol.Truncated},
		{"magic", RoleServer, params(65536, 1024, 16), nil, set(0, 0x44), netipc.ErrProtocol, RuleHeader, protocol.BadMagic},
		{"version", RoleServer, params(65536, 1024, 16), nil, set(4, 2), netipc.ErrProtocol, RuleHeader, protocol.BadVersion},
		{"header_len", RoleServer, params(65536, 1024, 16), nil, set(6, 24), netipc.ErrProtocol, RuleHeader, protocol.BadHeaderLen},
		{"kind 4", RoleServer, params(65536, 1024, 16), nil, set(8, 4), netipc.ErrProtocol, RuleHeader, protocol.BadKind},
		{"server gets a response", RoleServer, params(65536, 1024, 16), nil, resp, netipc.ErrProtocol, RuleKind, 0},
		{"client gets a request", RoleClient, params(65536, 1024, 16), []uint64{1}, good, netipc.ErrProtocol, RuleKind, 0},
		{"client gets a control", RoleClient, params(65536, 1024, 16), []uint64{1}, set(8, 3), netipc.ErrProtocol, RuleKind, 0},
		{"longer than the message", RoleServer, params(65536, 1024, 16), nil, append(bytes.Clone(good), 0), netipc.ErrProtocol, RuleLength, 0},
		{"payload over the ceiling", RoleServer, params(65536, 1024, 16), nil, set(16, 0xd0, 7), netipc.ErrLimitExceeded, RuleLimit, 0},
		{"items over the ceiling", RoleServer, params(65536, 1024, 16), nil, set(20, 17), netipc.ErrLimitExceeded, RuleLimit, 0},
		{"item ceiling 0", RoleServer, params(65536, 1024, 0), nil, good, netipc.ErrLimitExceeded, RuleLimit, 0},
		{"unknown id", RoleClient, params(65536, 1024, 16), []uint64{2}, resp, netipc.ErrProtocol, RuleMessageID, 0},
		{"batch directory", RoleServer, params(65536, 1024, 16), nil, batch, netipc.ErrProtocol, RuleBatch, protocol.Truncated},
		{"longer than the packet size", RoleServer, params(40, 1024, 16), nil, append(bytes.Clone(good), 0), netipc.ErrProtocol, RuleLength, 0},
	}
	for _, c := range cases {
		f := &InFlight{}
		for _, id := range c.ids {
			_ = f.Add(id)
		}
		r := NewReassembler(ReassemblerConfig{Role: c.role, Params: c.p, InFlight: f})
		_, _, err := feed(r, [][]byte{c.packet})
		wantErr(t, c.name, err, c.kind, c.rule)
		if c.codec != 0 {
			wantCodec(t, c.name, err, c.codec)
		}
	}
}

func TestClientReceive(t *testing.T) {
	f := &InFlight{}
	for _, id := range []uint64{1, 2, 3} {
		if err := f.Add(id); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "duplicate id", f.Add(2), netipc.ErrInvalidArgument, RuleMessageID, "2")
	p := params(4096, 1<<20, 1)
	r := NewReassembler(ReassemblerConfig{Role: RoleClient, Params: p, InFlight: f, ResponseLimit: 2048})
	if r.Limits().MaxPayload != 2048 {
		t.Errorf("limits %+v", r.Limits())
	}
	// Responses in any order, each id once.
	for _, id := range []uint64{2, 1} {
		h, payload := request(id, 100)
		h.Kind = protocol.KindResponse
		if m, _, err := feed(r, split(h, payload, 4096)); err != nil || m.Header.MessageID != id {
			t.Fatalf("response %d: %v", id, err)
		}
	}
	if f.Len() != 1 || !f.Contains(3) {
		t.Errorf("in flight: %v", f.ids)
	}
	h, payload := request(3, 3000)
	h.Kind = protocol.KindResponse
	_, _, err := feed(r, split(h, payload, 4096))
	wantErr(t, "above the response limit", err, netipc.ErrResponseTooLarge, RuleLimit, "3000", "2048")
	f.Clear()
	if f.Len() != 0 {
		t.Error("Clear")
	}
}

func TestWhole(t *testing.T) {
	h, payload := request(1, 16)
	msg := split(h, payload, 65536)[0]
	r := NewReassembler(ReassemblerConfig{Role: RoleServer, Params: params(65536, 1024, 16)})
	m, err := r.Whole(msg)
	if err != nil || m.Header != h || !bytes.Equal(m.Payload, payload) {
		t.Fatalf("%+v %v", m, err)
	}
	_, err = r.Whole(msg[:40])
	wantErr(t, "published length shorter than the header says", err, netipc.ErrProtocol, RuleLength)
	_, err = r.Whole(append(bytes.Clone(msg), 0))
	wantErr(t, "published length longer", err, netipc.ErrProtocol, RuleLength)
	bad := bytes.Clone(msg)
	binary.LittleEndian.PutUint16(bad[10:], protocol.FlagBatch)
	binary.LittleEndian.PutUint32(bad[20:], 2)
	binary.LittleEndian.PutUint32(bad[32:], 4) // misaligned offset
	_, err = r.Whole(bad)
	wantErr(t, "batch directory", err, netipc.ErrProtocol, RuleBatch)
	wantCodec(t, "batch directory", err, protocol.BadAlignment)
}

func TestPrepareSend(t *testing.T) {
	limits := Limits{MaxPayload: 16, MaxItems: 2}
	h, payload := request(1, 16)
	h.PayloadLen = 0
	got, err := PrepareSend(RoleClient, h, payload, limits)
	if err != nil || got.PayloadLen != 16 {
		t.Fatalf("%+v %v", got, err)
	}
	_, err = PrepareSend(RoleServer, h, payload, limits)
	wantErr(t, "server sends a request", err, netipc.ErrInvalidArgument, RuleKind, "RESPONSE")
	_, err = PrepareSend(RoleClient, h, make([]byte, 17), limits)
	wantErr(t, "payload", err, netipc.ErrLimitExceeded, RuleLimit, "17", "16")
	h.ItemCount = 3
	_, err = PrepareSend(RoleClient, h, payload, limits)
	wantErr(t, "items", err, netipc.ErrLimitExceeded, RuleLimit, "3 items")
}

// The buffer grows with what arrives, not with what a header declares.
func TestReassemblyGrowsWithPackets(t *testing.T) {
	h, _ := request(1, 0)
	h.PayloadLen = 1 << 20
	var first [64]byte
	h.Encode(first[:])
	r := NewReassembler(ReassemblerConfig{Role: RoleServer, Params: params(64, 1<<20, 1)})
	copy(r.Buffer(), first[:])
	if done, err := r.Packet(64); done || err != nil {
		t.Fatal(done, err)
	}
	r.Buffer()
	if len(r.buf) > 256 {
		t.Errorf("buffer of %d bytes after one packet", len(r.buf))
	}
	r.Shrink(0)
	if r.buf == nil {
		t.Error("Shrink dropped a partial message")
	}
}

// Sending (checks and every packet of a chunked message) and receiving
// (reassembly and checks) allocate nothing once the buffer is grown.
func TestFramingAllocations(t *testing.T) {
	h, payload := request(1, 1000)
	p := params(128, 1<<20, 1)
	var prefix [protocol.HeaderLen]byte
	sink := 0
	send := testing.AllocsPerRun(100, func() {
		out, err := PrepareSend(RoleClient, h, payload, p.RequestLimits())
		if err != nil {
			panic(err)
		}
		pk := NewPackets(out, payload, p.PacketSize)
		for body, ok := pk.Next(&prefix); ok; body, ok = pk.Next(&prefix) {
			sink += len(body) + int(prefix[0])
		}
	})
	if send != 0 {
		t.Errorf("send: %v allocations", send)
	}
	packets := split(h, payload, p.PacketSize)
	f := &InFlight{}
	resp := make([][]byte, len(packets))
	for i := range packets {
		resp[i] = bytes.Clone(packets[i])
	}
	resp[0][8] = byte(protocol.KindResponse)
	r := NewReassembler(ReassemblerConfig{Role: RoleClient, Params: p, InFlight: f})
	recv := testing.AllocsPerRun(100, func() {
		if err := f.Add(1); err != nil {
			panic(err)
		}
		for _, pk := range resp {
			copy(r.Buffer(), pk)
			if _, err := r.Packet(len(pk)); err != nil {
				panic(err)
			}
		}
		sink += len(r.Message().Payload)
	})
	if recv != 0 {
		t.Errorf("receive: %v allocations", recv)
	}
}
