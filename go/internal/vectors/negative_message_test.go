package vectors_test

// Negative message and packet vectors: messages the reference receivers
// and handshakes reject. Handshake negatives go through
// transport.ServerHandshake or transport.ClientHandshake with the
// vector's scenario (result, whether the server replies, and its reply
// byte for byte); receiver negatives through transport.Reassembler with
// the vector's receiver context (role, packet size, limits, ids in
// flight). Each must be rejected at the vector's stage, with its
// receiver error class and its codec error kind when it names one.

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

func init() {
	checkers["negative/message"] = checkNegativeMessage
	checkers["negative/packet"] = checkNegativePacket
}

// receiverError names a receive failure as the vectors do.
func receiverError(err error) string {
	switch {
	case errors.Is(err, netipc.ErrLimitExceeded):
		return "LIMIT_EXCEEDED"
	case transport.RuleOf(err) == transport.RuleMessageID:
		return "UNKNOWN_MSG_ID"
	case transport.RuleOf(err) == transport.RuleChunk:
		return "CHUNK"
	case errors.Is(err, netipc.ErrProtocol):
		return "PROTOCOL"
	}
	return fmt.Sprintf("unexpected error %v", err)
}

// checkStage checks that err was raised at stage (the vector's
// reject_stage) with the codec error kind named kind ("" for none).
func checkStage(err error, stage, kind string) error {
	var ce *protocol.CodecError
	hasCodec := errors.As(err, &ce)
	if kind != "" {
		want, err2 := errorKind(kind)
		if err2 != nil {
			return err2
		}
		if !errors.Is(err, want) {
			return fmt.Errorf("rejected with %v, expected codec error %s", err, kind)
		}
	}
	rule := transport.RuleOf(err)
	ok := false
	switch stage {
	case "header_decode":
		ok = hasCodec && strings.Contains(ce.What, "message header") &&
			(rule == transport.RuleHeader || rule == transport.RuleVersion || rule == transport.RuleHandshakeMessage)
	case "hello_decode":
		ok = hasCodec && strings.HasPrefix(ce.What, "HELLO ")
	case "hello_ack_decode":
		ok = hasCodec && strings.HasPrefix(ce.What, "HELLO_ACK ")
	case "server_handshake", "client_handshake":
		ok = !hasCodec && (rule == transport.RuleHandshakeMessage || rule == transport.RulePacketSize)
	case "receiver":
		ok = rule == transport.RuleLimit || rule == transport.RuleMessageID || rule == transport.RuleLength ||
			rule == transport.RuleBatch || rule == transport.RuleKind
	case "reassembly":
		ok = rule == transport.RuleChunk && !hasCodec
	case "chunk_header_decode":
		ok = rule == transport.RuleChunk && hasCodec && strings.HasPrefix(ce.What, "chunk header")
	default:
		return fmt.Errorf("unknown reject_stage %s", stage)
	}
	if !ok {
		return fmt.Errorf("rejected with %v (rule %v), not at stage %s", err, rule, stage)
	}
	return nil
}

func orEmpty(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func checkNegativeMessage(t *testing.T, v *vector, dir string) error {
	f, e, err := parseVector(v)
	if err != nil {
		return err
	}
	raw, err := parseObj(v.Raw)
	if err != nil {
		return err
	}
	stage, kind := orEmpty(v.RejectStage), orEmpty(v.RejectError)
	if scenario := sub(f, "scenario"); scenario != nil {
		if sub(scenario, "server_config") != nil {
			var reply []byte
			if file := str(e, "reply_file"); file != "" {
				if reply, err = readVectorFile(dir, file); err != nil {
					return err
				}
			}
			out, err := runServer(v.Bytes, scenario, e, reply)
			if err != nil {
				return err
			}
			if out.Err == nil {
				return errors.New("the server accepted the HELLO")
			}
			return checkStage(out.Err, stage, kind)
		}
		_, err := transport.ClientHandshake(v.Bytes, protocol.Hello{})
		if got, want := handshakeResult(err), str(e, "client_result"); got != want {
			return fmt.Errorf("client result %s (%v), expected %s", got, err, want)
		}
		return checkStage(err, stage, kind)
	}
	ctx := sub(f, "receiver_context")
	x, err := nums(ctx, "packet_size", "max_request_payload_bytes", "max_request_batch_items",
		"max_response_payload_bytes", "max_response_batch_items")
	if err != nil {
		return err
	}
	p := transport.SessionParams{
		PacketSize: uint32(x[0]), MaxRequestPayloadBytes: uint32(x[1]), MaxRequestBatchItems: uint32(x[2]),
		MaxResponsePayloadBytes: uint32(x[3]), MaxResponseBatchItems: uint32(x[4]),
	}
	role := transport.RoleServer
	inFlight := &transport.InFlight{}
	if str(ctx, "role") == "client" {
		role = transport.RoleClient
		ids, _ := ctx["in_flight_message_ids"].([]any)
		for i := range ids {
			id, err := num(obj{"id": ids[i]}, "id", 0)
			if err != nil {
				return err
			}
			if err := inFlight.Add(id); err != nil {
				return err
			}
		}
	}
	r := transport.NewReassembler(transport.ReassemblerConfig{Role: role, Params: p, InFlight: inFlight})
	copy(r.Buffer(), v.Bytes)
	_, err = r.Packet(len(v.Bytes))
	if err == nil {
		return errors.New("the receiver accepted the message")
	}
	if got, want := receiverError(err), str(raw, "receiver_error"); got != want {
		return fmt.Errorf("rejected as %s (%v), expected %s", got, err, want)
	}
	if dirErr := str(f, "directory_error"); dirErr != "" {
		if err := checkStage(err, stage, dirErr); err != nil {
			return err
		}
	}
	return checkStage(err, stage, kind)
}

func checkNegativePacket(t *testing.T, v *vector, dir string) error {
	f, _, err := parseVector(v)
	if err != nil {
		return err
	}
	raw, err := parseObj(v.Raw)
	if err != nil {
		return err
	}
	_, mf, packets, err := sequence(t, dir, str(f, "base_sequence"))
	if err != nil {
		return err
	}
	index, err := num(f, "replaces_packet_index", 0)
	if err != nil {
		return err
	}
	size, err := num(mf, "packet_size", 0)
	if err != nil {
		return err
	}
	if ctx := sub(f, "receiver_context"); str(ctx, "role") != "server" {
		return fmt.Errorf("receiver context %v", ctx)
	}
	if index >= uint64(len(packets)) {
		return fmt.Errorf("packet %d of %d", index, len(packets))
	}
	packets[index] = v.Bytes
	_, at, err := receiveAll(packets, unlimited(uint32(size)))
	switch {
	case err == nil:
		return errors.New("the receiver accepted the sequence")
	case uint64(at) != index:
		return fmt.Errorf("packet %d rejected (%v), expected packet %d", at, err, index)
	}
	if got, want := receiverError(err), str(raw, "receiver_error"); got != want {
		return fmt.Errorf("rejected as %s (%v), expected %s", got, err, want)
	}
	return checkStage(err, orEmpty(v.RejectStage), orEmpty(v.RejectError))
}
