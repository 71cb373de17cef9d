package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// goldenFiles returns the golden vector files matching pattern (relative
// to the repository's copy of the vectors), sorted by name.
func goldenFiles(f *testing.F, pattern string) map[string][]byte {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "crates", "netipc-tests", "tests", "data", "vectors", pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no golden vectors %s: %v", pattern, err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// framed joins packets as the fuzz input of FuzzReassembler: each packet
// preceded by its length (u16).
func framed(packets ...[]byte) []byte {
	var out []byte
	for _, p := range packets {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(p)))
		out = append(out, p...)
	}
	return out
}

// unframed splits a FuzzReassembler input into packets.
func unframed(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 2 {
		n := min(int(binary.LittleEndian.Uint16(b)), len(b)-2)
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

func fuzzReassembler(role Role, p SessionParams, id uint64) *Reassembler {
	f := &InFlight{}
	_ = f.Add(id)
	return NewReassembler(ReassemblerConfig{Role: role, Params: p, InFlight: f})
}

// roundTrip splits m at p.PacketSize and feeds the packets to a fresh
// receiver, which must rebuild exactly m.
func roundTrip(t *testing.T, role Role, p SessionParams, h protocol.Header, payload []byte) {
	t.Helper()
	r := fuzzReassembler(role, p, h.MessageID)
	pk := NewPackets(h, payload, p.PacketSize)
	var prefix [protocol.HeaderLen]byte
	for i := 0; ; i++ {
		body, ok := pk.Next(&prefix)
		if !ok {
			t.Fatalf("%d packets sent, the message is not complete", i)
		}
		if protocol.HeaderLen+len(body) > int(p.PacketSize) {
			t.Fatalf("packet %d of %d bytes at packet size %d", i, protocol.HeaderLen+len(body), p.PacketSize)
		}
		buf := r.Buffer()
		n := copy(buf, prefix[:])
		n += copy(buf[n:], body)
		done, err := r.Packet(protocol.HeaderLen + len(body))
		if err != nil {
			t.Fatalf("packet %d of a split message refused: %v", i, err)
		}
		if done {
			if _, more := pk.Next(&prefix); more {
				t.Fatalf("complete after packet %d of %d", i, pk.Len())
			}
			m := r.Message()
			if m.Header != h || !bytes.Equal(m.Payload, payload) {
				t.Fatalf("round trip: header %+v, want %+v", m.Header, h)
			}
			return
		}
	}
}

// FuzzReassembler feeds arbitrary packets to a receiver: it never
// panics, every message it accepts obeys the limits and its header, and
// splitting an accepted message again and feeding it to a fresh receiver
// gives the same message. The input's bytes also serve as a payload that
// must survive a split and reassembly unchanged.
func FuzzReassembler(f *testing.F) {
	seqs := map[string][][]byte{}
	files := goldenFiles(f, "chunking/*_pkt*.bin")
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		seq := name[:strings.LastIndex(name, "_pkt")]
		seqs[seq] = append(seqs[seq], files[name])
	}
	for _, packets := range seqs {
		h, _ := protocol.DecodeHeader(packets[0])
		size := len(packets[0])
		f.Add(framed(packets...), uint16(size), h.Kind == protocol.KindResponse)
	}
	for _, b := range goldenFiles(f, "envelope/env_*.bin") {
		f.Add(framed(b, b), uint16(65535), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, size uint16, client bool) {
		p := SessionParams{
			PacketSize:             max(uint32(size), protocol.HeaderLen+1),
			MaxRequestPayloadBytes: 1 << 20, MaxRequestBatchItems: 1 << 10,
			MaxResponsePayloadBytes: 1 << 20, MaxResponseBatchItems: 1 << 10,
		}
		role := RoleServer
		if client {
			role = RoleClient
		}
		packets := unframed(data)
		id := uint64(0)
		if len(packets) > 0 && len(packets[0]) >= protocol.HeaderLen {
			id = binary.LittleEndian.Uint64(packets[0][24:])
		}
		r := fuzzReassembler(role, p, id)
		for _, pk := range packets {
			copy(r.Buffer(), pk)
			done, err := r.Packet(len(pk))
			if err != nil {
				var ne *netipc.Error
				if !errors.As(err, &ne) || RuleOf(err) == 0 {
					t.Fatalf("not a *netipc.Error with a rule: %v", err)
				}
				break
			}
			if !done {
				continue
			}
			m := r.Message()
			h := m.Header
			if int(h.PayloadLen) != len(m.Payload) || h.Kind != role.receives() ||
				h.PayloadLen > r.Limits().MaxPayload || h.ItemCount > r.Limits().MaxItems {
				t.Fatalf("accepted %+v with %d payload bytes", h, len(m.Payload))
			}
			if err := CheckBatch(&h, m.Payload); err != nil {
				t.Fatalf("accepted a bad batch: %v", err)
			}
			roundTrip(t, role, p, h, bytes.Clone(m.Payload))
		}
		if len(data) <= int(p.MaxRequestPayloadBytes) {
			h := protocol.Header{Kind: role.receives(), Code: 3, ItemCount: 1, MessageID: 5, PayloadLen: uint32(len(data))}
			roundTrip(t, role, p, h, data)
		}
	})
}

// FuzzServerHandshake runs the server side on arbitrary first packets and
// offers: it never panics; a reply is a HELLO_ACK; an accepted HELLO
// gives values within both sides' proposals that the client side reads
// back identically from the reply; a rejection reply makes the client
// fail with the same kind of error as the server.
func FuzzServerHandshake(f *testing.F) {
	for _, b := range goldenFiles(f, "handshake/*hello.bin") {
		f.Add(b, uint32(3), uint32(2), uint32(1024), uint32(65536), uint64(0x1122334455667788), uint32(65536), uint64(1), uint32(1))
	}
	for _, b := range goldenFiles(f, "negative/neg_hs_hello_*.bin") {
		f.Add(b, uint32(1), uint32(0), uint32(1024), uint32(65536), uint64(0x1122334455667788), uint32(65536), uint64(11), uint32(0))
	}
	f.Fuzz(func(t *testing.T, packet []byte, supported, preferred, maxReq, maxResp uint32, token uint64, size uint32, session uint64, ext uint32) {
		offer := ServerOffer{
			SupportedProfiles: protocol.Profile(supported), PreferredProfiles: protocol.Profile(preferred),
			MaxRequestPayloadBytes: maxReq, MaxResponsePayloadBytes: maxResp, AuthToken: token, Extensions: ext,
		}
		out := ServerHandshake(packet, offer, size, session)
		if out.Err == nil && !out.HasReply {
			t.Fatal("accepted without a reply")
		}
		if out.Err != nil {
			var ne *netipc.Error
			if !errors.As(out.Err, &ne) || RuleOf(out.Err) == 0 {
				t.Fatalf("not a *netipc.Error with a rule: %v", out.Err)
			}
		}
		if !out.HasReply {
			return
		}
		h, err := protocol.DecodeHeader(out.Reply[:])
		if err != nil || h.Kind != protocol.KindControl || h.Code != protocol.ControlHelloAck || h.PayloadLen != protocol.HelloAckLen {
			t.Fatalf("reply header %+v %v", h, err)
		}
		hello, _ := protocol.DecodeHello(packet[min(len(packet), protocol.HeaderLen):])
		params, err := ClientHandshake(out.Reply[:], hello)
		if out.Err != nil {
			var server, client *netipc.Error
			errors.As(out.Err, &server)
			if h.Status == protocol.StatusOK || !errors.As(err, &client) || client.Kind != server.Kind {
				t.Fatalf("server refused with %v (status %s), the client reads %v", out.Err, h.Status, err)
			}
			return
		}
		p := out.Params
		if err != nil || params != p {
			t.Fatalf("client %+v %v, server %+v", params, err, p)
		}
		common := hello.SupportedProfiles & protocol.Profile(supported)
		if offer.SupportedProfiles == 0 {
			common = hello.SupportedProfiles & protocol.ProfileBaseline
		}
		if p.Profile == 0 || p.Profile&(p.Profile-1) != 0 || p.Profile&common == 0 ||
			hello.AuthToken != token || p.MaxRequestPayloadBytes != hello.MaxRequestPayloadBytes ||
			p.MaxRequestPayloadBytes > or32(maxReq, defaultPayload) ||
			p.PacketSize <= protocol.HeaderLen || p.PacketSize > size || p.PacketSize > hello.PacketSize ||
			p.SessionID != session || p.MaxResponseBatchItems != p.MaxRequestBatchItems {
			t.Fatalf("accepted %+v for %+v and %+v", p, hello, offer)
		}
	})
}

// FuzzClientHandshake runs the client side on arbitrary replies: it never
// panics, every refusal is a *netipc.Error with a rule, and an accepted
// reply is an OK HELLO_ACK whose fields are the session's values.
func FuzzClientHandshake(f *testing.F) {
	for _, b := range goldenFiles(f, "handshake/*hello_ack.bin") {
		f.Add(b)
	}
	for _, b := range goldenFiles(f, "negative/neg_hs_ack_*.bin") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, packet []byte) {
		p, err := ClientHandshake(packet, protocol.Hello{})
		if err != nil {
			var ne *netipc.Error
			if !errors.As(err, &ne) || RuleOf(err) == 0 {
				t.Fatalf("not a *netipc.Error with a rule: %v", err)
			}
			return
		}
		h, herr := protocol.DecodeHeader(packet)
		a, aerr := protocol.DecodeHelloAck(packet[protocol.HeaderLen:])
		if herr != nil || aerr != nil || h.Status != protocol.StatusOK || h.Kind != protocol.KindControl ||
			h.Code != protocol.ControlHelloAck || paramsFromAck(&a) != p || p.PacketSize <= protocol.HeaderLen {
			t.Fatalf("accepted %+v from header %+v (%v), ack %v", p, h, herr, aerr)
		}
	})
}
