package transport

import (
	"encoding/binary"
	"errors"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// The handshake as pure functions: what the HELLO and the HELLO_ACK
// contain and what they mean. The sessions move the two packets.

// Handshake sizes.
const (
	// HandshakePacketMax is the largest handshake packet a peer reads
	// (HELLO is 76 bytes, HELLO_ACK 80).
	HandshakePacketMax = 128
	// HelloMessageLen is the size of the HELLO message (header + payload).
	HelloMessageLen = protocol.HeaderLen + protocol.HelloLen
	// HelloAckMessageLen is the size of the HELLO_ACK message.
	HelloAckMessageLen = protocol.HeaderLen + protocol.HelloAckLen
)

// defaultPayload is the payload ceiling of a zero configuration field.
const defaultPayload uint32 = 1024

// msgHandshake heads every handshake error.
const msgHandshake = "handshake failed"

// ClientOptions is what a client proposes in the handshake. Zero fields
// take the transport defaults (payload sizes 1024, batch items 1,
// profiles baseline only).
type ClientOptions struct {
	SupportedProfiles       protocol.Profile
	PreferredProfiles       protocol.Profile
	MaxRequestPayloadBytes  uint32
	MaxRequestBatchItems    uint32
	MaxResponsePayloadBytes uint32
	AuthToken               uint64
	// ResponseLimit is the largest response payload this client accepts,
	// whatever the provider announced: a larger response fails Receive
	// with netipc.ErrResponseTooLarge (nothing allocated for it) and the
	// session is closed. 0: the negotiated response size.
	ResponseLimit uint32
}

// ServerOffer is what a server answers a HELLO with. The managed server
// passes its current (possibly grown) response size with every handshake.
// Zero fields take the transport defaults (profiles baseline only,
// payload maxima 1024).
type ServerOffer struct {
	SupportedProfiles       protocol.Profile
	PreferredProfiles       protocol.Profile
	MaxRequestPayloadBytes  uint32
	MaxResponsePayloadBytes uint32
	AuthToken               uint64
	// Extensions are the netipc extension bits (protocol.ExtSHMWakeOnDemand)
	// offered to netipc clients. Set by the transport; the service layer
	// leaves it zero.
	Extensions uint32
}

// SessionParams are the negotiated values of a session, identical on both
// sides.
type SessionParams struct {
	Profile                 protocol.Profile // the selected profile (one bit)
	MaxRequestPayloadBytes  uint32
	MaxRequestBatchItems    uint32
	MaxResponsePayloadBytes uint32
	MaxResponseBatchItems   uint32
	PacketSize              uint32
	SessionID               uint64
	Extensions              uint32 // netipc HELLO_ACK extension bits (0 with other peers)
}

// IsSHM reports whether the data plane is shared memory.
func (p SessionParams) IsSHM() bool { return p.Profile&protocol.ProfileSHMAny != 0 }

func paramsFromAck(a *protocol.HelloAck) SessionParams {
	return SessionParams{
		Profile:                 a.SelectedProfile,
		MaxRequestPayloadBytes:  a.AgreedMaxRequestPayloadBytes,
		MaxRequestBatchItems:    a.AgreedMaxRequestBatchItems,
		MaxResponsePayloadBytes: a.AgreedMaxResponsePayloadBytes,
		MaxResponseBatchItems:   a.AgreedMaxResponseBatchItems,
		PacketSize:              a.AgreedPacketSize,
		SessionID:               a.SessionID,
		Extensions:              a.Extensions,
	}
}

func or32(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// ClientHello returns the HELLO a netipc client sends: o with its defaults
// applied (supported profiles baseline, payload sizes 1024, batch items
// 1; the response item hint is the request item count, as the server
// uses that), the client's packetSize, and the flag HelloFlagExtensions.
func ClientHello(o ClientOptions, packetSize uint32) protocol.Hello {
	supported := o.SupportedProfiles
	if supported == 0 {
		supported = protocol.ProfileBaseline
	}
	items := or32(o.MaxRequestBatchItems, 1)
	return protocol.Hello{
		Flags:                   protocol.HelloFlagExtensions,
		SupportedProfiles:       supported,
		PreferredProfiles:       o.PreferredProfiles,
		MaxRequestPayloadBytes:  or32(o.MaxRequestPayloadBytes, defaultPayload),
		MaxRequestBatchItems:    items,
		MaxResponsePayloadBytes: or32(o.MaxResponsePayloadBytes, defaultPayload),
		MaxResponseBatchItems:   items,
		AuthToken:               o.AuthToken,
		PacketSize:              packetSize,
	}
}

// controlHeader writes the header of a control message into dst.
func controlHeader(dst []byte, code uint16, status protocol.Status, payloadLen uint32) {
	h := protocol.Header{Kind: protocol.KindControl, Code: code, Status: status, PayloadLen: payloadLen, ItemCount: 1}
	h.Encode(dst)
}

// HelloMessage returns the 76-byte HELLO message carrying h.
func HelloMessage(h protocol.Hello) [HelloMessageLen]byte {
	var m [HelloMessageLen]byte
	controlHeader(m[:], protocol.ControlHello, protocol.StatusOK, protocol.HelloLen)
	h.Encode(m[protocol.HeaderLen:])
	return m
}

// HelloAckMessage returns the 80-byte HELLO_ACK message carrying a with
// the header status status.
func HelloAckMessage(status protocol.Status, a protocol.HelloAck) [HelloAckMessageLen]byte {
	var m [HelloAckMessageLen]byte
	controlHeader(m[:], protocol.ControlHelloAck, status, protocol.HelloAckLen)
	a.Encode(m[protocol.HeaderLen:])
	return m
}

// ServerOutcome is what a server does with the first packet of a
// connection: send Reply when HasReply, then either run the session with
// Params or, when Err is set, close the connection.
type ServerOutcome struct {
	// Reply is the HELLO_ACK message to send when HasReply is true.
	Reply [HelloAckMessageLen]byte
	// HasReply is false for packets that get no answer (anything that is
	// not a decodable HELLO): the server just closes.
	HasReply bool
	// Params are the session's values (zero when Err is set).
	Params SessionParams
	// Err says why there is no session: a *netipc.Error whose cause is a
	// *Fault.
	Err error
}

// reject is the outcome of a refused HELLO: with status OK no reply is
// sent, with another status a rejection HELLO_ACK carrying ack.
func reject(status protocol.Status, ack protocol.HelloAck, err error) ServerOutcome {
	out := ServerOutcome{Err: err}
	if status != protocol.StatusOK {
		out.Reply, out.HasReply = HelloAckMessage(status, ack), true
	}
	return out
}

// PeekHello returns the HELLO in packet when packet is a HELLO message
// that decodes (the server's capacity and identity rejections answer only
// those).
func PeekHello(packet []byte) (protocol.Hello, bool) {
	h, err := protocol.DecodeHeader(packet)
	if err != nil || h.Kind != protocol.KindControl || h.Code != protocol.ControlHello {
		return protocol.Hello{}, false
	}
	hello, err := protocol.DecodeHello(packet[protocol.HeaderLen:])
	return hello, err == nil
}

// CapacityRejection is the answer to a HELLO from a client the provider
// cannot take because it serves limit sessions already: status
// INTERNAL_ERROR (reference clients treat it as a failed attempt and try
// again later); a netipc client (HelloFlagExtensions) also finds the
// ExtAtCapacity bit and the limit in the session_id field.
func CapacityRejection(h protocol.Hello, limit uint32) ServerOutcome {
	var ack protocol.HelloAck
	if h.Flags&protocol.HelloFlagExtensions != 0 {
		ack.Extensions, ack.SessionID = protocol.ExtAtCapacity, uint64(limit)
	}
	return reject(protocol.StatusInternalError, ack, faultf(netipc.ErrBusy, msgHandshake, RuleCapacity, nil,
		"refused a client: the provider serves %d sessions already, its limit (ServerConfig.MaxSessions)", limit))
}

// IdentityRejection is the answer to a HELLO from a consumer whose user
// or group the provider does not serve: status AUTH_FAILED, which every
// peer understands as "not allowed"; a netipc client also finds the
// ExtIdentityRefused bit and reports the real reason.
func IdentityRejection(h protocol.Hello) ServerOutcome {
	var ack protocol.HelloAck
	if h.Flags&protocol.HelloFlagExtensions != 0 {
		ack.Extensions = protocol.ExtIdentityRefused
	}
	return reject(protocol.StatusAuthFailed, ack, faultf(netipc.ErrAuthFailed, msgHandshake, RuleIdentity, nil,
		"refused a client for its user or group identity"))
}

// ServerHandshake processes the first packet of a connection on the
// server side, against offer (zero fields: the defaults), the server's
// packetSize and the sessionID given to this accept. It checks, in the
// order of the reference servers: the header (a HELLO that differs only
// in its version gets an INCOMPATIBLE reply, anything else that is not a
// HELLO gets none), the HELLO layout version (INCOMPATIBLE), the rest of
// the HELLO (no reply), the profile intersection (UNSUPPORTED), the auth
// token (AUTH_FAILED), the request payload ceiling (LIMIT_EXCEEDED) and
// the agreed packet size (INCOMPATIBLE). HELLO flags are ignored except
// HelloFlagExtensions, which makes the ack carry offer.Extensions.
//
// It allocates nothing for an accepted HELLO.
func ServerHandshake(packet []byte, offer ServerOffer, packetSize uint32, sessionID uint64) ServerOutcome {
	none := protocol.HelloAck{}
	h, err := protocol.DecodeHeader(packet)
	switch {
	case err != nil && helloOfOtherVersion(packet):
		return reject(protocol.StatusIncompatible, none, faultf(netipc.ErrIncompatible, msgHandshake, RuleVersion, err,
			"the client speaks envelope version %d; this provider speaks version %d",
			binary.LittleEndian.Uint16(packet[4:]), protocol.Version))
	case err != nil:
		return reject(protocol.StatusOK, none, faultf(netipc.ErrProtocol, msgHandshake, RuleHandshakeMessage, err,
			"the client's first packet (%d bytes) is not a message", len(packet)))
	case h.Kind != protocol.KindControl || h.Code != protocol.ControlHello:
		return reject(protocol.StatusOK, none, faultf(netipc.ErrProtocol, msgHandshake, RuleHandshakeMessage, nil,
			"the client's first packet is a %s with code %d, not a HELLO", h.Kind, h.Code))
	}
	payload := packet[protocol.HeaderLen:]
	hello, err := protocol.DecodeHello(payload)
	if err != nil && len(payload) >= protocol.HelloLen && binary.LittleEndian.Uint16(payload) != protocol.HelloLayoutVersion {
		return reject(protocol.StatusIncompatible, none, faultf(netipc.ErrIncompatible, msgHandshake, RuleVersion, err,
			"the client's HELLO has layout version %d; this provider understands version %d",
			binary.LittleEndian.Uint16(payload), protocol.HelloLayoutVersion))
	}
	if err != nil {
		return reject(protocol.StatusOK, none, faultf(netipc.ErrProtocol, msgHandshake, RuleHandshakeMessage, err,
			"the client's HELLO does not decode"))
	}
	ack, err := negotiate(&hello, offer, packetSize, sessionID)
	if err != nil {
		return reject(statusOf(err), none, err)
	}
	return ServerOutcome{Reply: HelloAckMessage(protocol.StatusOK, ack), HasReply: true, Params: paramsFromAck(&ack)}
}

// statusOf returns the HELLO_ACK status of a negotiation error.
func statusOf(err error) protocol.Status {
	switch RuleOf(err) {
	case RuleNoProfile:
		return protocol.StatusUnsupported
	case RuleAuthToken:
		return protocol.StatusAuthFailed
	case RuleRequestSize:
		return protocol.StatusLimitExceeded
	}
	return protocol.StatusIncompatible
}

// helloOfOtherVersion reports whether packet is a header that fails to
// decode only because its version is not 1 while magic, header_len, kind
// and code say HELLO.
func helloOfOtherVersion(packet []byte) bool {
	le := binary.LittleEndian
	return len(packet) >= protocol.HeaderLen &&
		le.Uint32(packet) == protocol.Magic &&
		le.Uint16(packet[4:]) != protocol.Version &&
		le.Uint16(packet[6:]) == protocol.HeaderLen &&
		protocol.Kind(le.Uint16(packet[8:])) == protocol.KindControl &&
		le.Uint16(packet[12:]) == protocol.ControlHello
}

// negotiate applies the server's rules to a well-formed HELLO: profile
// intersection, auth token, request payload ceiling, packet size, in that
// order.
func negotiate(hello *protocol.Hello, offer ServerOffer, packetSize uint32, sessionID uint64) (protocol.HelloAck, error) {
	supported := offer.SupportedProfiles
	if supported == 0 {
		supported = protocol.ProfileBaseline
	}
	maxRequest := or32(offer.MaxRequestPayloadBytes, defaultPayload)
	common := hello.SupportedProfiles & supported
	if common == 0 {
		return protocol.HelloAck{}, faultf(netipc.ErrIncompatible, msgHandshake, RuleNoProfile, nil,
			"no common transport profile: the client offers %s, this provider %s; configure a profile both sides support",
			hello.SupportedProfiles, supported)
	}
	if hello.AuthToken != offer.AuthToken {
		return protocol.HelloAck{}, faultf(netipc.ErrAuthFailed, msgHandshake, RuleAuthToken, nil,
			"the client's auth token differs from this provider's; configure the same AuthToken on both sides")
	}
	selected := common.Select(hello.PreferredProfiles & offer.PreferredProfiles)
	if hello.MaxRequestPayloadBytes > maxRequest {
		return protocol.HelloAck{}, faultf(netipc.ErrLimitExceeded, msgHandshake, RuleRequestSize, nil,
			"the client proposes requests of up to %d bytes, above this provider's maximum of %d (ServerConfig.MaxRequestPayloadBytes)",
			hello.MaxRequestPayloadBytes, maxRequest)
	}
	agreed := min(hello.PacketSize, packetSize)
	if agreed <= protocol.HeaderLen {
		return protocol.HelloAck{}, faultf(netipc.ErrIncompatible, msgHandshake, RulePacketSize, nil,
			"the agreed packet size is %d bytes (client %d, provider %d): a packet must hold more than the %d-byte header",
			agreed, hello.PacketSize, packetSize, protocol.HeaderLen)
	}
	ack := protocol.HelloAck{
		ServerSupportedProfiles:       supported,
		IntersectionProfiles:          common,
		SelectedProfile:               selected,
		AgreedMaxRequestPayloadBytes:  hello.MaxRequestPayloadBytes,
		AgreedMaxRequestBatchItems:    hello.MaxRequestBatchItems,
		AgreedMaxResponsePayloadBytes: or32(offer.MaxResponsePayloadBytes, defaultPayload),
		AgreedMaxResponseBatchItems:   hello.MaxRequestBatchItems,
		AgreedPacketSize:              agreed,
		SessionID:                     sessionID,
	}
	if hello.Flags&protocol.HelloFlagExtensions != 0 {
		ack.Extensions = offer.Extensions
	}
	return ack, nil
}

// ClientHandshake processes the provider's HELLO_ACK packet on the client
// side; sent is the HELLO the client sent (for the error messages). In
// order: a header of another version is ErrIncompatible; any other
// header problem, or a packet that is not a HELLO_ACK, ErrProtocol; a
// non-OK status maps to its error before the payload is looked at
// (AUTH_FAILED: ErrAuthFailed, also for the netipc identity refusal;
// UNSUPPORTED and INCOMPATIBLE: ErrIncompatible; LIMIT_EXCEEDED:
// ErrLimitExceeded; INTERNAL_ERROR with the netipc capacity bit: ErrBusy;
// any other: ErrProtocol); a payload of another layout version is
// ErrIncompatible; a short payload, non-zero flags or an agreed packet
// size of 32 bytes or less ErrProtocol. The client adopts the agreed
// values as they are.
//
// It allocates nothing for an accepted HELLO_ACK.
func ClientHandshake(packet []byte, sent protocol.Hello) (SessionParams, error) {
	h, err := protocol.DecodeHeader(packet)
	if errors.Is(err, protocol.BadVersion) {
		return SessionParams{}, faultf(netipc.ErrIncompatible, msgHandshake, RuleVersion, err,
			"the provider answers with envelope version %d; this client speaks version %d",
			binary.LittleEndian.Uint16(packet[4:]), protocol.Version)
	}
	if err != nil {
		return SessionParams{}, faultf(netipc.ErrProtocol, msgHandshake, RuleHandshakeMessage, err,
			"the provider's reply (%d bytes) is not a message", len(packet))
	}
	if h.Kind != protocol.KindControl || h.Code != protocol.ControlHelloAck {
		return SessionParams{}, faultf(netipc.ErrProtocol, msgHandshake, RuleHandshakeMessage, nil,
			"the provider's reply is a %s with code %d, not a HELLO_ACK", h.Kind, h.Code)
	}
	payload := packet[protocol.HeaderLen:]
	if h.Status != protocol.StatusOK {
		// The extension word of a netipc rejection, when it decodes.
		ack, _ := protocol.DecodeHelloAck(payload)
		return SessionParams{}, rejection(h.Status, &ack, &sent)
	}
	ack, err := protocol.DecodeHelloAck(payload)
	if err != nil && len(payload) >= protocol.HelloAckLen && binary.LittleEndian.Uint16(payload) != protocol.HelloLayoutVersion {
		return SessionParams{}, faultf(netipc.ErrIncompatible, msgHandshake, RuleVersion, err,
			"the provider's HELLO_ACK has layout version %d; this client understands version %d",
			binary.LittleEndian.Uint16(payload), protocol.HelloLayoutVersion)
	}
	if err != nil {
		return SessionParams{}, faultf(netipc.ErrProtocol, msgHandshake, RuleHandshakeMessage, err,
			"the provider's HELLO_ACK does not decode")
	}
	if ack.AgreedPacketSize <= protocol.HeaderLen {
		return SessionParams{}, faultf(netipc.ErrProtocol, msgHandshake, RulePacketSize, nil,
			"the provider agreed a packet size of %d bytes, not more than the %d-byte header", ack.AgreedPacketSize, protocol.HeaderLen)
	}
	return paramsFromAck(&ack), nil
}

// rejection is the client's error for a HELLO_ACK with a non-OK status.
func rejection(status protocol.Status, ack *protocol.HelloAck, sent *protocol.Hello) error {
	switch status {
	case protocol.StatusAuthFailed:
		if ack.Extensions&protocol.ExtIdentityRefused != 0 {
			return faultf(netipc.ErrAuthFailed, msgHandshake, RuleIdentity, nil,
				"the provider does not serve this consumer's user or group: run the consumer as a user or group the provider accepts, or ask its operator to accept this one")
		}
		return faultf(netipc.ErrAuthFailed, msgHandshake, RuleAuthToken, nil,
			"the provider refused this client's auth token; configure the same AuthToken on both sides")
	case protocol.StatusUnsupported:
		return faultf(netipc.ErrIncompatible, msgHandshake, RuleNoProfile, nil,
			"the provider shares no transport profile with this client (it offered %s); configure a profile both sides support",
			sent.SupportedProfiles)
	case protocol.StatusIncompatible:
		return faultf(netipc.ErrIncompatible, msgHandshake, RuleVersion, nil,
			"the provider refused this client as incompatible (protocol version, layout, or packet size %d)", sent.PacketSize)
	case protocol.StatusLimitExceeded:
		return faultf(netipc.ErrLimitExceeded, msgHandshake, RuleRequestSize, nil,
			"the provider refused the proposed request payload size of %d bytes as above its maximum; lower MaxRequestPayloadBytes or raise the provider's",
			sent.MaxRequestPayloadBytes)
	case protocol.StatusInternalError:
		if ack.Extensions&protocol.ExtAtCapacity != 0 {
			return faultf(netipc.ErrBusy, msgHandshake, RuleCapacity, nil,
				"the provider serves %d sessions already, its limit: try again later, or raise the provider's MaxSessions", ack.SessionID)
		}
	}
	return faultf(netipc.ErrProtocol, msgHandshake, RuleStatus, nil, "the provider rejected the handshake with status %s", status)
}
