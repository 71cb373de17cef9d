package appslookup

import (
	"context"
	"time"

	"github.com/netdata/netipc/go/internal/service/client"
	"github.com/netdata/netipc/go/protocol"
)

// Client is a client of an apps-lookup provider.
//
// NewClient does no I/O (the provider may not exist yet). A call connects
// first when the client is not connected; Connect (or Refresh) connects
// ahead of time and says why it cannot. A call whose session breaks
// reconnects once and sends the request again (at-least-once: the
// provider may see it twice). An error status from the provider is its
// answer: the call fails with ErrRejected without a re-send and the
// client stays ready. A timeout or an abort ends the call without a retry
// and leaves the client StateBroken until the next call or Connect.
//
// A Client is used by one goroutine at a time, except Abort, ClearAbort,
// SetCallTimeout, Status, SessionInfo and Ready, which any goroutine may
// call.
type Client struct {
	c *client.AppsLookup
}

// NewClient returns a disconnected client of service under runDir. No
// I/O. runDir must exist when the client connects.
func NewClient(runDir, service string, cfg ClientConfig) *Client {
	return &Client{c: client.NewAppsLookup(runDir, service, cfg)}
}

// Connect connects when disconnected or when no provider was found, and
// reconnects when broken; it does nothing when connected. It blocks for
// at most the call timeout (or until ctx's deadline, if earlier). An
// abort or a cancelled ctx is seen before the attempt starts and when it
// ends; a connection attempt itself runs to its deadline at the most.
//
// The error is ErrNotReady with the client's state and the cause: why
// the connection failed (no provider, a missing run directory, permission
// denied, a wrong auth token, an incompatible provider, a provider at
// capacity, a timeout...), also kept in LastError. After StateAuthFailed
// and StateIncompatible no further attempt is made until Close.
func (c *Client) Connect(ctx context.Context) error { return c.c.ConnectContext(ctx) }

// Refresh is Connect with the call timeout, reporting whether the client
// is ready (the shape of the reference clients, for a collection loop).
func (c *Client) Refresh() bool { return c.c.Refresh() }

// Ready reports whether the client is connected. No I/O; any goroutine.
func (c *Client) Ready() bool { return c.c.State() == StateReady }

// Status returns the state and counters. Any goroutine.
func (c *Client) Status() ClientStatus { return c.c.Status() }

// SessionInfo returns what the current session negotiated with the
// provider (the transport profile, whether messages travel through shared
// memory, the agreed sizes), for diagnostics; false when the client is not
// connected. No I/O; any goroutine.
func (c *Client) SessionInfo() (SessionInfo, bool) { return c.c.SessionInfo() }

// LastError returns why the most recent connection attempt failed; nil
// once one succeeds, and after Close.
func (c *Client) LastError() error { return c.c.LastError() }

// SetCallTimeout changes the time a call may take (ClientConfig.CallTimeout);
// zero restores the configured value. A call's ctx deadline may shorten
// it further. Any goroutine; it applies from the next call.
func (c *Client) SetCallTimeout(d time.Duration) { c.c.SetCallTimeout(d) }

// Abort makes the call in progress, if any, return ErrAborted promptly,
// and every later call until ClearAbort or Close. Any goroutine.
func (c *Client) Abort() { c.c.Abort() }

// ClearAbort allows calls again. Any goroutine.
func (c *Client) ClearAbort() { c.c.ClearAbort() }

// Call looks pids up, connecting first when needed, and returns one
// answer per PID, in the same order, all from one provider generation
// (zero pids is a probe of the generation). It blocks for at most the
// call timeout or until ctx's deadline, whichever comes first, for the
// whole logical call; cancelling ctx aborts it (ErrAborted wrapping
// ctx.Err()).
//
// The view borrows the client's buffers: it is valid until the next call
// on the client or Close.
//
// Errors: ErrLookupLimit (too many pids, exchanges or bytes for the
// ClientConfig lookup limits, named in the message), ErrNotReady (with the
// connection's cause), ErrAborted, ErrTimeout, ErrBadResponse (an answer
// that does not match its PID, a mixed generation), ErrLimitExceeded,
// ErrCodec (a malformed response), and the errors of any call.
func (c *Client) Call(ctx context.Context, pids []uint32) (*protocol.AppsLookupResponseView, error) {
	return c.c.Call(ctx, pids)
}

// Close closes the connection: the state becomes StateDisconnected, the
// abort flag is cleared, the counters are kept. Views returned earlier
// become invalid. A later call or Connect connects again. It returns nil.
func (c *Client) Close() error {
	c.c.Close()
	return nil
}
