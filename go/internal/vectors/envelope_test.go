package vectors_test

// Envelope vectors: outer headers, chunk headers and complete messages
// (single and batch). Each is decoded and compared with expect, and
// re-created byte for byte from its fields with the Go encoders (the
// batch builder for batches); messages go through the session receiver
// (transport.Reassembler), which must accept them as one complete
// message. This file also holds the JSON helpers of the envelope,
// handshake, chunking, negative-message and name checkers.

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

func init() {
	checkers["envelope/outer_header"] = checkOuterHeader
	checkers["envelope/chunk_header"] = checkChunkHeader
	checkers["envelope/message"] = checkEnvelopeMessage
}

// sub is the object at key.
func sub(m obj, key string) obj {
	o, _ := m[key].(obj)
	return o
}

// expectSubset compares got (any Go value) with the object at key of
// expect.
func expectSubset(expect obj, key string, got any) error {
	g, err := normalize(got)
	if err != nil {
		return err
	}
	return subset("expect."+key, g, expect[key])
}

func sameBytes(what string, got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	at := 0
	for at < min(len(got), len(want)) && got[at] == want[at] {
		at++
	}
	return fmt.Errorf("%s: %d bytes differ from the %d expected bytes (first difference at byte %d)", what, len(got), len(want), at)
}

func unhexField(m obj, key string) ([]byte, error) {
	return hex.DecodeString(str(m, key))
}

// readVectorFile reads a file of the vectors directory.
func readVectorFile(dir, rel string) ([]byte, error) {
	if rel == "" {
		return nil, errors.New("no file named")
	}
	return os.ReadFile(filepath.Join(dir, rel))
}

var (
	indexOnce sync.Once
	indexByID map[string]*vector
)

// vectorNamed returns the vector whose id or file is key.
func vectorNamed(t *testing.T, key string) (*vector, error) {
	indexOnce.Do(func() {
		all, _ := loadVectors(t)
		indexByID = map[string]*vector{}
		for _, v := range all {
			indexByID[v.ID] = v
			if v.File != nil {
				indexByID[*v.File] = v
			}
		}
	})
	if v, ok := indexByID[key]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("vector %s is not in the index", key)
}

func headerJSON(h protocol.Header) obj {
	return obj{
		"magic": protocol.Magic, "version": protocol.Version, "header_len": protocol.HeaderLen,
		"kind": uint16(h.Kind), "kind_name": h.Kind.String(), "flags": h.Flags, "code": h.Code,
		"transport_status": uint16(h.Status), "transport_status_name": h.Status.String(),
		"payload_len": h.PayloadLen, "item_count": h.ItemCount, "message_id": h.MessageID,
	}
}

func headerFrom(m obj) (protocol.Header, error) {
	x, err := nums(m, "kind", "flags", "code", "transport_status", "payload_len", "item_count", "message_id")
	if err != nil {
		return protocol.Header{}, err
	}
	return protocol.Header{
		Kind: protocol.Kind(x[0]), Flags: uint16(x[1]), Code: uint16(x[2]), Status: protocol.Status(x[3]),
		PayloadLen: uint32(x[4]), ItemCount: uint32(x[5]), MessageID: x[6],
	}, nil
}

func chunkJSON(c protocol.ChunkHeader) obj {
	return obj{
		"magic": protocol.ChunkMagic, "version": protocol.ChunkVersion, "flags": 0,
		"message_id": c.MessageID, "total_message_len": c.TotalMessageLen, "chunk_index": c.ChunkIndex,
		"chunk_count": c.ChunkCount, "chunk_payload_len": c.ChunkPayloadLen,
	}
}

func chunkFrom(m obj) (protocol.ChunkHeader, error) {
	x, err := nums(m, "message_id", "total_message_len", "chunk_index", "chunk_count", "chunk_payload_len")
	if err != nil {
		return protocol.ChunkHeader{}, err
	}
	return protocol.ChunkHeader{
		MessageID: x[0], TotalMessageLen: uint32(x[1]), ChunkIndex: uint32(x[2]), ChunkCount: uint32(x[3]),
		ChunkPayloadLen: uint32(x[4]),
	}, nil
}

// parseVector returns the vector's fields and expect objects.
func parseVector(v *vector) (obj, obj, error) {
	f, err := parseObj(v.Fields)
	if err != nil {
		return nil, nil, fmt.Errorf("fields: %w", err)
	}
	e := obj{}
	if len(v.Expect) > 0 && string(v.Expect) != "null" {
		if e, err = parseObj(v.Expect); err != nil {
			return nil, nil, fmt.Errorf("expect: %w", err)
		}
	}
	return f, e, nil
}

// vectorHeader parses v and decodes its outer header, which must match
// expect.header.
func vectorHeader(v *vector) (f, e obj, h protocol.Header, err error) {
	if f, e, err = parseVector(v); err != nil {
		return nil, nil, h, err
	}
	if h, err = protocol.DecodeHeader(v.Bytes); err != nil {
		return nil, nil, h, err
	}
	return f, e, h, expectSubset(e, "header", headerJSON(h))
}

func checkOuterHeader(_ *testing.T, v *vector, _ string) error {
	f, _, _, err := vectorHeader(v)
	if err != nil {
		return err
	}
	want, err := headerFrom(sub(f, "header"))
	if err != nil {
		return err
	}
	var b [protocol.HeaderLen]byte
	want.Encode(b[:])
	return sameBytes("re-encoded header", b[:], v.Bytes)
}

func checkChunkHeader(_ *testing.T, v *vector, _ string) error {
	f, e, err := parseVector(v)
	if err != nil {
		return err
	}
	c, err := protocol.DecodeChunkHeader(v.Bytes)
	if err != nil {
		return err
	}
	if err := expectSubset(e, "chunk_header", chunkJSON(c)); err != nil {
		return err
	}
	want, err := chunkFrom(sub(f, "chunk_header"))
	if err != nil {
		return err
	}
	var b [protocol.HeaderLen]byte
	want.Encode(b[:])
	return sameBytes("re-encoded chunk header", b[:], v.Bytes)
}

// unlimited are session values under which only the message's own
// consistency is checked.
func unlimited(packetSize uint32) transport.SessionParams {
	return transport.SessionParams{
		MaxRequestPayloadBytes: ^uint32(0), MaxRequestBatchItems: ^uint32(0),
		MaxResponsePayloadBytes: ^uint32(0), MaxResponseBatchItems: ^uint32(0),
		PacketSize: packetSize,
	}
}

// receiveAll feeds the packets of one message to a fresh receiver of the
// side that receives the message's kind (a client with the message's id
// in flight for a response) and returns the message or the index of the
// packet rejected with the error.
func receiveAll(packets [][]byte, p transport.SessionParams) (transport.Message, int, error) {
	h, err := protocol.DecodeHeader(packets[0])
	role := transport.RoleServer
	inFlight := &transport.InFlight{}
	if err == nil && h.Kind == protocol.KindResponse {
		role = transport.RoleClient
		_ = inFlight.Add(h.MessageID)
	}
	r := transport.NewReassembler(transport.ReassemblerConfig{Role: role, Params: p, InFlight: inFlight})
	for i, pk := range packets {
		copy(r.Buffer(), pk)
		done, err := r.Packet(len(pk))
		switch {
		case err != nil:
			return transport.Message{}, i, err
		case done && i != len(packets)-1:
			return transport.Message{}, i, fmt.Errorf("message complete after packet %d of %d", i, len(packets))
		case done:
			return r.Message(), i, nil
		}
	}
	return transport.Message{}, len(packets), errors.New("message incomplete after the last packet")
}

// payloadDecoders are the codec decoders of the envelope vectors' methods.
var payloadDecoders = map[uint16]string{
	protocol.MethodIncrement: "INCREMENT", protocol.MethodStringReverse: "STRING_REVERSE",
	protocol.MethodCgroupsSnapshot: "CGROUPS_REQ", protocol.MethodCgroupsLookup: "CGL_REQ",
	protocol.MethodAppsLookup: "APPS_REQ",
}

func checkEnvelopeMessage(_ *testing.T, v *vector, _ string) error {
	f, e, err := parseVector(v)
	if err != nil {
		return err
	}
	m, _, err := receiveAll([][]byte{v.Bytes}, unlimited(65536))
	if err != nil {
		return fmt.Errorf("the receiver refused the message: %w", err)
	}
	if err := expectSubset(e, "header", headerJSON(m.Header)); err != nil {
		return err
	}
	h, err := headerFrom(sub(f, "header"))
	if err != nil {
		return err
	}
	rebuilt := make([]byte, protocol.HeaderLen, 4096)
	h.Encode(rebuilt)
	if items := list(f, "items"); len(items) > 0 {
		raw := make([][]byte, len(items))
		for i, it := range items {
			if raw[i], err = unhexField(it, "hex"); err != nil {
				return err
			}
		}
		n, err := protocol.BatchPayloadLen(raw)
		if err != nil {
			return err
		}
		b, err := protocol.NewBatchBuilder(rebuilt[protocol.HeaderLen:protocol.HeaderLen+n], uint32(len(raw)))
		if err != nil {
			return err
		}
		for _, it := range raw {
			if err := b.Add(it); err != nil {
				return err
			}
		}
		if n, err = b.Finish(); err != nil {
			return err
		}
		rebuilt = rebuilt[:protocol.HeaderLen+n]
		view, err := protocol.NewBatchView(m.Payload, m.Header.ItemCount)
		if err != nil {
			return err
		}
		got := make([]any, view.Len())
		for i := range got {
			item, err := view.Item(i)
			if err != nil {
				return err
			}
			got[i] = hex.EncodeToString(item)
		}
		if err := expectSubset(e, "items_hex", got); err != nil {
			return err
		}
	} else {
		payload, err := unhexField(f, "payload_hex")
		if err != nil {
			return err
		}
		rebuilt = append(rebuilt, payload...)
	}
	if want, ok := e["payload_decoded"]; ok {
		decoded, err := decodePayload(payloadDecoders[m.Header.Code], m.Payload)
		if err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		got, err := normalize(decoded)
		if err != nil {
			return err
		}
		if err := subset("expect.payload_decoded", got, want); err != nil {
			return err
		}
	}
	return sameBytes("re-encoded message", rebuilt, v.Bytes)
}
