package transport

import (
	"errors"
	"fmt"

	netipc "github.com/netdata/netipc/go"
)

// Rule names the protocol rule behind a refused handshake or a rejected
// message. It is carried by the *Fault inside the *netipc.Error; RuleOf
// extracts it.
type Rule uint8

// The rules. The handshake rules come first, then the rules of received
// messages.
const (
	// RuleHandshakeMessage: a handshake packet is not a HELLO (server) or
	// HELLO_ACK (client), or does not decode.
	RuleHandshakeMessage Rule = iota + 1
	// RuleVersion: the peer speaks another envelope or handshake layout
	// version (status INCOMPATIBLE).
	RuleVersion
	// RuleNoProfile: the peers share no transport profile (status
	// UNSUPPORTED).
	RuleNoProfile
	// RuleAuthToken: the auth tokens differ (status AUTH_FAILED).
	RuleAuthToken
	// RuleIdentity: the provider does not serve this consumer's user or
	// group (status AUTH_FAILED with the netipc IDENTITY_REFUSED bit).
	RuleIdentity
	// RuleRequestSize: the proposed request payload ceiling is above the
	// provider's maximum (status LIMIT_EXCEEDED).
	RuleRequestSize
	// RulePacketSize: the agreed packet size is 32 bytes or less (server:
	// status INCOMPATIBLE; client: a protocol error).
	RulePacketSize
	// RuleCapacity: the provider serves as many sessions as it may (status
	// INTERNAL_ERROR with the netipc AT_CAPACITY bit).
	RuleCapacity
	// RuleStatus: the provider rejected the handshake with a status that
	// has no meaning here.
	RuleStatus
	// RuleHeader: a message header does not decode.
	RuleHeader
	// RuleKind: a message of a kind this side does not receive.
	RuleKind
	// RuleLimit: payload_len or item_count above the negotiated ceiling.
	RuleLimit
	// RuleMessageID: a response whose message id is not in flight.
	RuleMessageID
	// RuleLength: a packet or message length that contradicts its header.
	RuleLength
	// RuleChunk: a continuation packet that does not continue the message.
	RuleChunk
	// RuleBatch: the item directory of a batch message is invalid.
	RuleBatch
)

var ruleNames = [...]string{
	RuleHandshakeMessage: "handshake message",
	RuleVersion:          "version",
	RuleNoProfile:        "no common profile",
	RuleAuthToken:        "auth token",
	RuleIdentity:         "identity",
	RuleRequestSize:      "request size",
	RulePacketSize:       "packet size",
	RuleCapacity:         "capacity",
	RuleStatus:           "rejection status",
	RuleHeader:           "message header",
	RuleKind:             "message kind",
	RuleLimit:            "negotiated limit",
	RuleMessageID:        "message id",
	RuleLength:           "length",
	RuleChunk:            "chunk",
	RuleBatch:            "batch directory",
}

// String returns the rule's short name.
func (r Rule) String() string {
	if int(r) < len(ruleNames) && ruleNames[r] != "" {
		return ruleNames[r]
	}
	return fmt.Sprintf("rule %d", uint8(r))
}

// Fault is the cause (Err) inside the *netipc.Error of a refused
// handshake or a rejected message: the rule, what exactly is wrong, and
// the codec error when a structure did not decode.
type Fault struct {
	// Rule is the rule that was broken.
	Rule Rule
	// Detail says what is wrong, with the values involved, and what to do
	// when there is something to do.
	Detail string
	// Err is the codec error when a structure did not decode, or nil.
	Err error
}

// Error returns the detail, followed by the codec error when there is one.
func (f *Fault) Error() string {
	if f.Err != nil {
		return f.Detail + ": " + f.Err.Error()
	}
	return f.Detail
}

// Unwrap returns the codec error, if any.
func (f *Fault) Unwrap() error { return f.Err }

// RuleOf returns the rule of the *Fault in err's chain, or 0.
func RuleOf(err error) Rule {
	var f *Fault
	if errors.As(err, &f) {
		return f.Rule
	}
	return 0
}

// faultf returns a *netipc.Error of kind with the message msg whose cause
// is a *Fault of rule (with the codec error cause, if any).
func faultf(kind netipc.Kind, msg string, rule Rule, cause error, format string, args ...any) *netipc.Error {
	return netipc.Wrap(kind, &Fault{Rule: rule, Detail: fmt.Sprintf(format, args...), Err: cause}, "%s", msg)
}
