package vectors_test

// Chunking vectors: the packets the C sender emits for a message larger
// than the packet size. Every packet must be exactly the one
// transport.Packets emits at its index (its header decoding to the listed
// fields), and every logical message must split into exactly its packet
// files and reassemble (transport.Reassembler) into the same message.

import (
	"fmt"
	"testing"

	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

func init() {
	checkers["chunking/packet"] = checkChunkPacket
	checkers["chunking/logical_message"] = checkLogicalMessage
}

// sequence returns the logical message vector of a chunk sequence and its
// packets, in order.
func sequence(t *testing.T, dir, name string) (*vector, obj, [][]byte, error) {
	msg, err := vectorNamed(t, name+"_message")
	if err != nil {
		return nil, nil, nil, err
	}
	f, _, err := parseVector(msg)
	if err != nil {
		return nil, nil, nil, err
	}
	files, _ := f["packets"].([]any)
	packets := make([][]byte, len(files))
	for i, file := range files {
		name, _ := file.(string)
		if packets[i], err = readVectorFile(dir, name); err != nil {
			return nil, nil, nil, err
		}
	}
	return msg, f, packets, nil
}

// splitMessage returns the packets transport.Packets makes of msg.
func splitMessage(msg []byte, packetSize uint32) ([][]byte, error) {
	h, err := protocol.DecodeHeader(msg)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	var prefix [protocol.HeaderLen]byte
	p := transport.NewPackets(h, msg[protocol.HeaderLen:], packetSize)
	for body, ok := p.Next(&prefix); ok; body, ok = p.Next(&prefix) {
		out = append(out, append(prefix[:], body...))
	}
	if len(out) != p.Len() {
		return nil, fmt.Errorf("Len says %d packets, Next gave %d", p.Len(), len(out))
	}
	return out, nil
}

func checkChunkPacket(t *testing.T, v *vector, dir string) error {
	f, e, err := parseVector(v)
	if err != nil {
		return err
	}
	if want := sub(f, "chunk_header"); want != nil {
		c, err := protocol.DecodeChunkHeader(v.Bytes)
		if err != nil {
			return err
		}
		if err := expectSubset(e, "chunk_header", chunkJSON(c)); err != nil {
			return err
		}
		g, err := normalize(chunkJSON(c))
		if err != nil {
			return err
		}
		if err := subset("fields.chunk_header", g, want); err != nil {
			return err
		}
	} else {
		h, err := protocol.DecodeHeader(v.Bytes)
		if err != nil {
			return err
		}
		g, err := normalize(headerJSON(h))
		if err != nil {
			return err
		}
		if want := sub(f, "outer_header"); want != nil {
			if err := subset("fields.outer_header", g, want); err != nil {
				return err
			}
		}
	}
	x, err := nums(f, "packet_index", "packet_size")
	if err != nil {
		return err
	}
	index, size := x[0], uint32(x[1])
	msg, _, _, err := sequence(t, dir, str(f, "sequence"))
	if err != nil {
		return err
	}
	split, err := splitMessage(msg.Bytes, size)
	if err != nil {
		return err
	}
	if index >= uint64(len(split)) {
		return fmt.Errorf("the splitter made %d packets, not %d", len(split), index+1)
	}
	return sameBytes("split packet", split[index], v.Bytes)
}

func checkLogicalMessage(t *testing.T, v *vector, dir string) error {
	f, _, h, err := vectorHeader(v)
	if err != nil {
		return err
	}
	x, err := nums(f, "packet_size", "packet_count")
	if err != nil {
		return err
	}
	size, count := uint32(x[0]), x[1]
	_, _, packets, err := sequence(t, dir, v.ID[:len(v.ID)-len("_message")])
	if err != nil {
		return err
	}
	split, err := splitMessage(v.Bytes, size)
	if err != nil {
		return err
	}
	if len(split) != len(packets) || uint64(len(packets)) != count {
		return fmt.Errorf("split into %d packets, expected %d (%d files)", len(split), count, len(packets))
	}
	for i := range split {
		if err := sameBytes(fmt.Sprintf("packet %d", i), split[i], packets[i]); err != nil {
			return err
		}
	}
	m, at, err := receiveAll(packets, unlimited(size))
	if err != nil {
		return fmt.Errorf("packet %d refused: %w", at, err)
	}
	if m.Header != h {
		return fmt.Errorf("reassembled header %+v, expected %+v", m.Header, h)
	}
	return sameBytes("reassembled payload", m.Payload, v.Bytes[protocol.HeaderLen:])
}
