package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

var testOffer = ServerOffer{
	SupportedProfiles:       protocol.ProfileBaseline | protocol.ProfileSHMHybrid,
	PreferredProfiles:       protocol.ProfileSHMHybrid,
	MaxRequestPayloadBytes:  4096,
	MaxResponsePayloadBytes: 65536,
	AuthToken:               0x1122334455667788,
	Extensions:              protocol.ExtSHMWakeOnDemand,
}

func testHello() protocol.Hello {
	return ClientHello(ClientOptions{
		SupportedProfiles: protocol.ProfileBaseline | protocol.ProfileSHMHybrid,
		PreferredProfiles: protocol.ProfileSHMHybrid,
		AuthToken:         0x1122334455667788,
	}, 65536)
}

// wantErr fails unless err is a *netipc.Error of kind with a *Fault of
// rule whose text contains every word of words.
func wantErr(t *testing.T, what string, err error, kind netipc.Kind, rule Rule, words ...string) {
	t.Helper()
	var ne *netipc.Error
	if !errors.As(err, &ne) || ne.Kind != kind || RuleOf(err) != rule {
		t.Errorf("%s: error %v (rule %v), want kind %v rule %v", what, err, RuleOf(err), kind, rule)
		return
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q does not mention %q", what, err, w)
		}
	}
}

func TestClientHelloDefaults(t *testing.T) {
	h := ClientHello(ClientOptions{MaxRequestBatchItems: 0}, 4096)
	want := protocol.Hello{
		Flags: protocol.HelloFlagExtensions, SupportedProfiles: protocol.ProfileBaseline,
		MaxRequestPayloadBytes: 1024, MaxRequestBatchItems: 1, MaxResponsePayloadBytes: 1024,
		MaxResponseBatchItems: 1, PacketSize: 4096,
	}
	if h != want {
		t.Errorf("defaults: %+v", h)
	}
	h = ClientHello(ClientOptions{MaxRequestBatchItems: 16, MaxResponsePayloadBytes: 1 << 20}, 4096)
	if h.MaxResponseBatchItems != 16 || h.MaxResponsePayloadBytes != 1<<20 {
		t.Errorf("response hints: %+v", h)
	}
}

func TestHandshakeRoundTrip(t *testing.T) {
	hello := testHello()
	msg := HelloMessage(hello)
	out := ServerHandshake(msg[:], testOffer, 32768, 7)
	if out.Err != nil || !out.HasReply {
		t.Fatalf("server: %v", out.Err)
	}
	want := SessionParams{
		Profile: protocol.ProfileSHMHybrid, MaxRequestPayloadBytes: 1024, MaxRequestBatchItems: 1,
		MaxResponsePayloadBytes: 65536, MaxResponseBatchItems: 1, PacketSize: 32768, SessionID: 7,
		Extensions: protocol.ExtSHMWakeOnDemand,
	}
	if out.Params != want || !out.Params.IsSHM() {
		t.Errorf("server params %+v", out.Params)
	}
	got, err := ClientHandshake(out.Reply[:], hello)
	if err != nil || got != want {
		t.Errorf("client params %+v, %v", got, err)
	}
	// A reference client (no extension flag) gets no extension bits.
	hello.Flags = 0
	msg = HelloMessage(hello)
	if out := ServerHandshake(msg[:], testOffer, 32768, 7); out.Params.Extensions != 0 || out.Reply[68] != 0 {
		t.Errorf("extensions offered to a reference client: %+v", out.Params)
	}
}

// mutated returns the HELLO message of h with byte at set to v.
func mutated(h protocol.Hello, at int, v ...byte) []byte {
	m := HelloMessage(h)
	b := m[:]
	copy(b[at:], v)
	return b
}

func TestServerRejections(t *testing.T) {
	base := testHello()
	with := func(f func(*protocol.Hello)) []byte {
		h := base
		f(&h)
		m := HelloMessage(h)
		return m[:]
	}
	cases := []struct {
		name   string
		packet []byte
		status protocol.Status // StatusOK: no reply
		kind   netipc.Kind
		rule   Rule
		words  []string
	}{
		{"header version 2", mutated(base, 4, 2), protocol.StatusIncompatible, netipc.ErrIncompatible, RuleVersion, []string{"version 2"}},
		{"bad magic", mutated(base, 0, 0x44), protocol.StatusOK, netipc.ErrProtocol, RuleHandshakeMessage, []string{"BAD_MAGIC"}},
		{"version 2 and bad magic", append(mutated(base, 0, 0x44)[:4], mutated(base, 4, 2)[4:]...), protocol.StatusOK, netipc.ErrProtocol, RuleHandshakeMessage, nil},
		{"short packet", mutated(base, 0)[:31], protocol.StatusOK, netipc.ErrProtocol, RuleHandshakeMessage, []string{"31 bytes"}},
		{"kind REQUEST", mutated(base, 8, 1), protocol.StatusOK, netipc.ErrProtocol, RuleHandshakeMessage, []string{"REQUEST"}},
		{"code HELLO_ACK", mutated(base, 12, 2), protocol.StatusOK, netipc.ErrProtocol, RuleHandshakeMessage, []string{"code 2"}},
		{"layout version 2", mutated(base, 32, 2), protocol.StatusIncompatible, netipc.ErrIncompatible, RuleVersion, []string{"layout version 2"}},
		{"reserved bytes", mutated(base, 60, 1), protocol.StatusOK, netipc.ErrProtocol, RuleHandshakeMessage, []string{"reserved"}},
		{"short HELLO", mutated(base, 0)[:75], protocol.StatusOK, netipc.ErrProtocol, RuleHandshakeMessage, []string{"TRUNCATED"}},
		{"no common profile, wrong token", with(func(h *protocol.Hello) { h.SupportedProfiles, h.AuthToken = 0x08, 1 }),
			protocol.StatusUnsupported, netipc.ErrIncompatible, RuleNoProfile, []string{"shm-waitaddr", "baseline|shm-hybrid"}},
		{"wrong token", with(func(h *protocol.Hello) { h.AuthToken = 1 }), protocol.StatusAuthFailed, netipc.ErrAuthFailed, RuleAuthToken, []string{"AuthToken"}},
		{"request above max", with(func(h *protocol.Hello) { h.MaxRequestPayloadBytes = 4097 }),
			protocol.StatusLimitExceeded, netipc.ErrLimitExceeded, RuleRequestSize, []string{"4097", "4096"}},
		{"packet size 32", with(func(h *protocol.Hello) { h.PacketSize = 32 }), protocol.StatusIncompatible, netipc.ErrIncompatible, RulePacketSize, []string{"32 bytes"}},
	}
	for _, c := range cases {
		out := ServerHandshake(c.packet, testOffer, 65536, 3)
		wantErr(t, c.name, out.Err, c.kind, c.rule, c.words...)
		if out.HasReply != (c.status != protocol.StatusOK) {
			t.Errorf("%s: reply %v", c.name, out.HasReply)
			continue
		}
		if !out.HasReply {
			continue
		}
		h, err := protocol.DecodeHeader(out.Reply[:])
		if err != nil || h.Status != c.status || h.Code != protocol.ControlHelloAck {
			t.Errorf("%s: reply header %+v %v", c.name, h, err)
		}
		// A rejection carries layout_version 1 and nothing else.
		want := make([]byte, protocol.HelloAckLen)
		want[0] = 1
		if !bytes.Equal(out.Reply[32:], want) {
			t.Errorf("%s: rejection payload % x", c.name, out.Reply[32:])
		}
	}
	// Limits: equal is accepted, 33 bytes is a usable packet size.
	for _, ok := range [][]byte{
		with(func(h *protocol.Hello) { h.MaxRequestPayloadBytes = 4096 }),
		with(func(h *protocol.Hello) { h.PacketSize = 33 }),
		with(func(h *protocol.Hello) { h.Flags = 0x8000 }),
		with(func(h *protocol.Hello) { h.MaxRequestBatchItems = 0 }),
	} {
		if out := ServerHandshake(ok, testOffer, 65536, 3); out.Err != nil {
			t.Errorf("refused: %v", out.Err)
		}
	}
	// The server's own packet size counts too.
	if out := ServerHandshake(with(func(*protocol.Hello) {}), testOffer, 32, 3); RuleOf(out.Err) != RulePacketSize {
		t.Errorf("server packet size 32: %v", out.Err)
	}
}

func TestServerNegotiatedValues(t *testing.T) {
	h := testHello()
	h.SupportedProfiles, h.PreferredProfiles = 0x07, 0
	h.MaxRequestBatchItems, h.MaxResponseBatchItems, h.MaxResponsePayloadBytes = 0, 99, 1<<30
	m := HelloMessage(h)
	offer := testOffer
	offer.SupportedProfiles, offer.PreferredProfiles = 0x07, 0x02
	out := ServerHandshake(m[:], offer, 65536, 4660)
	p := out.Params
	// No common preference: the highest common bit; items echoed (0 too),
	// response payload = the server's, response items = request items.
	if out.Err != nil || p.Profile != protocol.ProfileSHMAlt || p.MaxRequestBatchItems != 0 ||
		p.MaxResponseBatchItems != 0 || p.MaxResponsePayloadBytes != 65536 || p.SessionID != 4660 {
		t.Errorf("%+v %v", p, out.Err)
	}
	ack, _ := protocol.DecodeHelloAck(out.Reply[32:])
	if ack.ServerSupportedProfiles != 0x07 || ack.IntersectionProfiles != 0x07 {
		t.Errorf("ack %+v", ack)
	}
	// A zero offer means baseline and 1024-byte payloads.
	out = ServerHandshake(m[:], ServerOffer{AuthToken: h.AuthToken}, 65536, 1)
	if out.Err != nil || out.Params.Profile != protocol.ProfileBaseline || out.Params.MaxResponsePayloadBytes != 1024 {
		t.Errorf("zero offer: %+v %v", out.Params, out.Err)
	}
}

func TestCapacityAndIdentityRejections(t *testing.T) {
	hello := testHello()
	m := HelloMessage(hello)
	peeked, ok := PeekHello(m[:])
	if !ok || peeked != hello {
		t.Fatalf("PeekHello %+v %v", peeked, ok)
	}
	if _, ok := PeekHello(mutated(hello, 60, 1)); ok {
		t.Error("PeekHello of a HELLO with reserved bytes set")
	}
	if _, ok := PeekHello(mutated(hello, 12, 2)); ok {
		t.Error("PeekHello of a HELLO_ACK")
	}
	out := CapacityRejection(hello, 1024)
	wantErr(t, "capacity (server)", out.Err, netipc.ErrBusy, RuleCapacity, "1024")
	_, err := ClientHandshake(out.Reply[:], hello)
	wantErr(t, "capacity (client)", err, netipc.ErrBusy, RuleCapacity, "1024 sessions")
	out = IdentityRejection(hello)
	wantErr(t, "identity (server)", out.Err, netipc.ErrAuthFailed, RuleIdentity)
	_, err = ClientHandshake(out.Reply[:], hello)
	wantErr(t, "identity (client)", err, netipc.ErrAuthFailed, RuleIdentity, "user or group")
	// A reference client sees plain rejections with zero payloads.
	hello.Flags = 0
	for _, out := range []ServerOutcome{CapacityRejection(hello, 5), IdentityRejection(hello)} {
		if !bytes.Equal(out.Reply[34:], make([]byte, 46)) {
			t.Errorf("extension bits for a reference client: % x", out.Reply[32:])
		}
	}
	plain := CapacityRejection(hello, 5)
	_, err = ClientHandshake(plain.Reply[:], hello)
	wantErr(t, "INTERNAL_ERROR without the capacity bit", err, netipc.ErrProtocol, RuleStatus, "INTERNAL_ERROR")
}

func TestClientRejections(t *testing.T) {
	hello := testHello()
	okAck := HelloAckMessage(protocol.StatusOK, protocol.HelloAck{SelectedProfile: 1, AgreedPacketSize: 65536, SessionID: 1})
	set := func(status protocol.Status, at int, v ...byte) []byte {
		m := okAck
		binary.LittleEndian.PutUint16(m[14:], uint16(status))
		copy(m[at:], v)
		return m[:]
	}
	cases := []struct {
		name   string
		packet []byte
		kind   netipc.Kind
		rule   Rule
	}{
		{"header version 2", set(0, 4, 2), netipc.ErrIncompatible, RuleVersion},
		{"bad magic", set(0, 0, 0), netipc.ErrProtocol, RuleHandshakeMessage},
		{"empty", nil, netipc.ErrProtocol, RuleHandshakeMessage},
		{"a HELLO", set(0, 12, 1), netipc.ErrProtocol, RuleHandshakeMessage},
		{"a REQUEST", set(0, 8, 1), netipc.ErrProtocol, RuleHandshakeMessage},
		{"AUTH_FAILED", set(protocol.StatusAuthFailed, 0), netipc.ErrAuthFailed, RuleAuthToken},
		{"UNSUPPORTED", set(protocol.StatusUnsupported, 0), netipc.ErrIncompatible, RuleNoProfile},
		{"INCOMPATIBLE", set(protocol.StatusIncompatible, 0), netipc.ErrIncompatible, RuleVersion},
		{"LIMIT_EXCEEDED", set(protocol.StatusLimitExceeded, 0), netipc.ErrLimitExceeded, RuleRequestSize},
		{"BAD_ENVELOPE", set(protocol.StatusBadEnvelope, 0), netipc.ErrProtocol, RuleStatus},
		{"status 99", set(99, 0), netipc.ErrProtocol, RuleStatus},
		{"status before payload", set(protocol.StatusAuthFailed, 0)[:40], netipc.ErrAuthFailed, RuleAuthToken},
		{"layout 2", set(0, 32, 2), netipc.ErrIncompatible, RuleVersion},
		{"flags", set(0, 34, 1), netipc.ErrProtocol, RuleHandshakeMessage},
		{"short payload", set(0, 0)[:72], netipc.ErrProtocol, RuleHandshakeMessage},
		{"packet size 32", set(0, 64, 32, 0, 0, 0), netipc.ErrProtocol, RulePacketSize},
	}
	for _, c := range cases {
		_, err := ClientHandshake(c.packet, hello)
		wantErr(t, c.name, err, c.kind, c.rule)
	}
	// The extension word is not checked but passed on; the agreed values
	// are adopted as they are.
	p, err := ClientHandshake(set(0, 68, 0x80), hello)
	if err != nil || p.Extensions != 0x80 || p.SessionID != 1 || p.Profile != protocol.ProfileBaseline {
		t.Errorf("%+v %v", p, err)
	}
}

// A successful handshake allocates nothing on either side.
func TestHandshakeAllocations(t *testing.T) {
	hello := testHello()
	msg := HelloMessage(hello)
	allocs := testing.AllocsPerRun(100, func() {
		out := ServerHandshake(msg[:], testOffer, 65536, 1)
		if _, err := ClientHandshake(out.Reply[:], hello); err != nil {
			panic(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

// wantCodec fails unless err's chain holds a codec error of kind k.
func wantCodec(t *testing.T, what string, err error, k protocol.CodecErrorKind) {
	t.Helper()
	var ce *protocol.CodecError
	if !errors.As(err, &ce) || ce.Kind != k {
		t.Errorf("%s: %v, want codec error %s", what, err, k)
	}
}

// A Fault prints its detail and codec cause after the error's message,
// and RuleOf finds it through the chain.
func TestFaultText(t *testing.T) {
	_, cause := protocol.DecodeHeader(nil)
	err := faultf(netipc.ErrProtocol, "protocol violation by the client", RuleHeader, cause, "a message header does not decode")
	want := "protocol violation by the client: a message header does not decode: TRUNCATED: message header at byte 0"
	if err.Error() != want {
		t.Errorf("%q", err.Error())
	}
	if RuleOf(fmt.Errorf("wrapped: %w", err)) != RuleHeader || RuleOf(cause) != 0 || RuleHeader.String() != "message header" || Rule(99).String() != "rule 99" {
		t.Error("RuleOf / Rule.String")
	}
	if !errors.Is(err, protocol.Truncated) || !errors.Is(err, netipc.ErrProtocol) {
		t.Error("errors.Is through the Fault")
	}
}
