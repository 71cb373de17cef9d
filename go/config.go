package netipc

import (
	"log/slog"
	"time"

	"github.com/netdata/netipc/go/protocol"
)

// Defaults used when a config field is left at its zero value. They are
// the same as the Rust core's and the C API's.
const (
	// DefaultCallTimeout is how long a call may take when
	// ClientConfig.CallTimeout is zero.
	DefaultCallTimeout = 30 * time.Second
	// DefaultMaxLookupItems is the most keys in one logical lookup.
	DefaultMaxLookupItems uint32 = 65536
	// DefaultMaxLookupSubcalls is the most request/response exchanges of
	// one logical lookup.
	DefaultMaxLookupSubcalls uint32 = 4096
	// DefaultMaxLookupResponseBytes is the largest stitched lookup
	// response (64 MiB).
	DefaultMaxLookupResponseBytes uint32 = 64 << 20
	// DefaultMaxSessions is the most client sessions a server keeps open
	// at once.
	DefaultMaxSessions = 1024
	// DefaultSendTimeout is how long a server waits for a client to read
	// a response (or to finish sending a request) before it closes the
	// session.
	DefaultSendTimeout = 5 * time.Second
	// DefaultServerResponseStart is the response payload size a server
	// starts from when ServerConfig.MaxResponsePayloadBytes is zero (it
	// grows up to 1 MiB when responses do not fit). It is the fixed
	// response size of the reference C servers.
	DefaultServerResponseStart uint32 = 64 << 10
	// MaxWorkers is the most handler goroutines a server runs at once,
	// whatever its config says.
	MaxWorkers = 1024
	// DefaultProfiles are the transport profiles offered when a config
	// leaves them empty: the baseline transport plus shared memory with
	// sleeping waiters.
	DefaultProfiles = protocol.ProfileBaseline | protocol.ProfileSHMHybrid
)

// Payload sizes: a zero payload size starts at PayloadStart and may grow
// on demand up to PayloadCeiling; a configured size is fixed.
const (
	PayloadStart   uint32 = 1024
	PayloadCeiling uint32 = 1 << 20
)

// ClientConfig says how a client connects and calls. The zero value is
// the documented default of every field, and every field means the same
// on every operating system.
type ClientConfig struct {
	// SupportedProfiles are the transport profiles to offer. Zero:
	// DefaultProfiles.
	SupportedProfiles protocol.Profile
	// PreferredProfiles are preferred among the common ones. Zero:
	// shared memory with sleeping waiters when both sides offer it.
	PreferredProfiles protocol.Profile
	// MaxRequestPayloadBytes is the request payload size the client
	// starts by proposing. Zero: 1024, growing on demand up to 1 MiB. A
	// non-zero value is both the start and the ceiling.
	MaxRequestPayloadBytes uint32
	// MaxRequestBatchItems is the most items in one batch request. Zero: 1.
	MaxRequestBatchItems uint32
	// MaxResponsePayloadBytes is the response size the client starts from
	// when it has to grow. Zero: 1024, growing up to 1 MiB. The ceiling
	// of that growth is also the largest response the client accepts: a
	// larger one fails the call with ErrResponseTooLarge.
	MaxResponsePayloadBytes uint32
	// AuthToken is the shared secret; it must equal the provider's.
	AuthToken uint64
	// CallTimeout is the longest a call may take. Zero: DefaultCallTimeout.
	CallTimeout time.Duration
	// MaxLookupItems is the most keys in one logical lookup. Zero:
	// DefaultMaxLookupItems.
	MaxLookupItems uint32
	// MaxLookupSubcalls is the most exchanges of one logical lookup.
	// Zero: DefaultMaxLookupSubcalls.
	MaxLookupSubcalls uint32
	// MaxLookupResponseBytes is the largest stitched lookup response.
	// Zero: DefaultMaxLookupResponseBytes.
	MaxLookupResponseBytes uint32
}

// ServerConfig says how a managed server listens and answers. The zero
// value is the documented default of every field.
type ServerConfig struct {
	// SupportedProfiles are the transport profiles to offer. Zero:
	// DefaultProfiles.
	SupportedProfiles protocol.Profile
	// PreferredProfiles are preferred among the common ones. Zero:
	// shared memory with sleeping waiters.
	PreferredProfiles protocol.Profile
	// MaxRequestPayloadBytes is the largest request payload accepted.
	// Zero: 1 MiB. Each session uses the smaller size its client proposes.
	MaxRequestPayloadBytes uint32
	// MaxResponsePayloadBytes is the response payload size announced to
	// clients. Zero: starts at DefaultServerResponseStart and grows up to
	// 1 MiB when responses do not fit. A non-zero value is fixed.
	MaxResponsePayloadBytes uint32
	// AuthToken is the shared secret clients must present.
	AuthToken uint64
	// Workers is the most handlers running at once. It bounds
	// parallelism, not the number of connected clients (see MaxSessions).
	// Zero: one per CPU, at least 2 and at most 16. Larger values are
	// held to MaxWorkers.
	Workers int
	// MaxSessions is the most client sessions open at once; a client
	// beyond it is refused with "provider at capacity" and retries later.
	// Zero: DefaultMaxSessions.
	MaxSessions int
	// SendTimeout is the longest a response waits for its client to make
	// room (and a request for its client to finish sending); the session
	// is closed after it. Zero: DefaultSendTimeout.
	SendTimeout time.Duration
	// Logger receives the server's events (start and stop at Info;
	// refusals, failed handshakes, handler errors, protocol errors and
	// send timeouts at Warn; handler panics at Error; sessions at Debug;
	// every request at Debug-4). Every record has a "service" attribute.
	// Nil: the server logs nothing.
	Logger *slog.Logger
}
