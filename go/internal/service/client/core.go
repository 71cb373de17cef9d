// Package client is the method-independent core of every netipc client
// (level 2): the connection state machine, the at-least-once retry with
// one reconnect, the growth of the request and response sizes after an
// overflow, call deadlines and aborts, and the logical lookups of the
// lookup services. The public service packages (cgroups, cgroupslookup,
// appslookup) are thin typed layers over it.
package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/settings"
	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

// Attempts of one call at most while overflow recovery keeps growing
// sizes.
const maxOverflowAttempts = 8

// Smallest size the growth rounds to.
const growthFloor = 16

// maxWait is the longest a deadline lies ahead (a longer call timeout
// would overflow the clock): a century.
const maxWait = 100 * 365 * 24 * time.Hour

// Session is what the core needs of a connected transport session
// (*transport.ClientSession). Send and Receive are used by the client's
// goroutine; Interrupt and ClearInterrupt by any goroutine.
type Session interface {
	Params() transport.SessionParams
	Send(h protocol.Header, payload []byte, deadline time.Time) error
	Receive(deadline time.Time) (transport.Message, error)
	Interrupt()
	ClearInterrupt()
	Close() error
}

// Dialer connects and handshakes a session (transport.Connect; tests
// substitute their own).
type Dialer func(runDir, service string, opts transport.ClientOptions, deadline time.Time) (Session, error)

// dialTransport is the Dialer of real clients.
func dialTransport(runDir, service string, opts transport.ClientOptions, deadline time.Time) (Session, error) {
	s, err := transport.Connect(runDir, service, opts, deadline)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// failure classifies a failed attempt; it decides what the retry policy
// does.
type failure uint8

const (
	// fatal: a timeout or an abort inside a wait, or a response above
	// what the client accepts. No retry; the session is dropped.
	fatal failure = iota + 1
	// overflow: something did not fit; grow, reconnect, try again.
	overflow
	// answered: the provider answered with an error status (any but OK
	// and LIMIT_EXCEEDED). A live provider received the request and
	// processed it, so sending it again would repeat the failure and run
	// its handler twice. No retry; the session stays. Also a request the
	// session cannot carry at all (nothing was sent).
	answered
	// ordinary: anything else; one reconnect and one re-send.
	ordinary
)

// Request is what one attempt sends: a single payload, or (Items > 0) a
// batch payload (directory and items) of Items items.
type Request struct {
	// Payload is the message payload.
	Payload []byte
	// Items is the item count of a batch; 0 for a single payload.
	Items uint32
}

// A Checker validates a response; a failure counts as a failed attempt
// (reconnect and one re-send). Typed clients decode the response into
// their view there.
type Checker interface {
	Check(h protocol.Header, payload []byte) error
}

// Core is the state every client kind shares. It is used by one goroutine
// at a time, except State, Status, Abort, ClearAbort, SetCallTimeout and
// CallTimeout, which any goroutine may call.
type Core struct {
	runDir, service string
	method          uint16
	set             settings.Client
	dial            Dialer

	// Profiles still offered: the SHM bits drop out after an attach
	// failure, until Close.
	supported, preferred protocol.Profile
	reqProposal          uint32
	respProposal         uint32
	// The smallest request size the provider refused (0: none), until
	// Close: lookups do not propose it again.
	refusedRequest uint32

	sess Session
	// The last response; valid until the next attempt.
	resp transport.Message
	// Successful exchanges so far; the next message id is this plus one.
	exchanges uint64
	// Why the most recent connection attempt failed; nil once one
	// succeeds.
	lastErr error

	// mu guards sess against the goroutines that interrupt it (Abort, a
	// cancelled context), and the call bookkeeping below.
	mu        sync.Mutex
	aborted   atomic.Bool
	inCall    bool
	callGen   uint64
	cancelled bool // the current call's context was cancelled

	state                             atomic.Uint32
	connects, reconnects, calls, errs atomic.Uint32
	callTimeout                       atomic.Int64
}

// New returns a disconnected core of method for service under runDir. No
// I/O.
func New(runDir, service string, method uint16, cfg netipc.ClientConfig) *Core {
	return NewWithDialer(runDir, service, method, cfg, dialTransport)
}

// NewWithDialer is New with another way to connect (for tests).
func NewWithDialer(runDir, service string, method uint16, cfg netipc.ClientConfig, dial Dialer) *Core {
	set := settings.ForClient(cfg)
	c := &Core{
		runDir:       runDir,
		service:      service,
		method:       method,
		set:          set,
		dial:         dial,
		supported:    set.SupportedProfiles,
		preferred:    set.PreferredProfiles,
		reqProposal:  set.RequestStart,
		respProposal: set.ResponseStart,
	}
	c.callTimeout.Store(int64(set.CallTimeout))
	return c
}

// Service returns the service name.
func (c *Core) Service() string { return c.service }

// State returns the connection state. Any goroutine.
func (c *Core) State() netipc.ClientState { return netipc.ClientState(c.state.Load()) }

func (c *Core) setState(s netipc.ClientState) { c.state.Store(uint32(s)) }

// Status returns the state and counters. Any goroutine.
func (c *Core) Status() netipc.ClientStatus {
	return netipc.ClientStatus{
		State:          c.State(),
		ConnectCount:   c.connects.Load(),
		ReconnectCount: c.reconnects.Load(),
		CallCount:      c.calls.Load(),
		ErrorCount:     c.errs.Load(),
	}
}

// LastError returns why the most recent connection attempt failed (nil
// once one succeeds, and after Close).
func (c *Core) LastError() error { return c.lastErr }

// CallTimeout returns the time a call may take by default. Any goroutine.
func (c *Core) CallTimeout() time.Duration { return time.Duration(c.callTimeout.Load()) }

// SetCallTimeout changes the time a call may take by default; zero (or
// less) restores the configured one. Any goroutine; it applies from the
// next call.
func (c *Core) SetCallTimeout(d time.Duration) {
	if d <= 0 {
		d = c.set.CallTimeout
	}
	c.callTimeout.Store(int64(d))
}

// Abort makes the call in progress, if any, return ErrAborted promptly
// (waking a blocked wait), and every later call until ClearAbort or
// Close. Any goroutine.
func (c *Core) Abort() {
	c.aborted.Store(true)
	c.mu.Lock()
	if c.sess != nil {
		c.sess.Interrupt()
	}
	c.mu.Unlock()
}

// ClearAbort allows calls again. Any goroutine.
func (c *Core) ClearAbort() {
	c.aborted.Store(false)
	c.mu.Lock()
	if c.sess != nil && !c.cancelled {
		c.sess.ClearInterrupt()
	}
	c.mu.Unlock()
}

// Aborted reports whether calls are aborted. Any goroutine.
func (c *Core) Aborted() bool { return c.aborted.Load() }

// setSession installs s (nil: none) and closes the previous session.
func (c *Core) setSession(s Session) {
	c.mu.Lock()
	old := c.sess
	c.sess = s
	if s != nil && (c.aborted.Load() || c.cancelled) {
		s.Interrupt()
	}
	c.mu.Unlock()
	c.resp = transport.Message{}
	if old != nil {
		_ = old.Close()
	}
}

// Params returns what the current session negotiated; ok is false when
// not connected.
func (c *Core) Params() (p transport.SessionParams, ok bool) {
	if c.sess == nil {
		return p, false
	}
	return c.sess.Params(), true
}

// SessionInfo returns what the current session negotiated; ok is false
// when not connected. Any goroutine: a session's parameters never change,
// and mu guards which session is current.
func (c *Core) SessionInfo() (info netipc.SessionInfo, ok bool) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return info, false
	}
	p := s.Params()
	return netipc.SessionInfo{
		Profile:                 p.Profile,
		SharedMemory:            p.IsSHM(),
		MaxRequestPayloadBytes:  p.MaxRequestPayloadBytes,
		MaxRequestBatchItems:    p.MaxRequestBatchItems,
		MaxResponsePayloadBytes: p.MaxResponsePayloadBytes,
	}, true
}

// requestCapacity is the request payload size the next request must fit.
func (c *Core) requestCapacity() uint32 {
	if c.sess == nil {
		return c.reqProposal
	}
	return c.sess.Params().MaxRequestPayloadBytes
}

// responseCapacity is the response payload size the next response may
// have.
func (c *Core) responseCapacity() uint32 {
	if c.sess == nil {
		return c.respProposal
	}
	return c.sess.Params().MaxResponsePayloadBytes
}

// mayPropose reports whether proposing a request size of size bytes
// might be accepted (the provider has not refused it or a smaller one).
func (c *Core) mayPropose(size uint32) bool {
	return size <= c.set.RequestCeiling &&
		(c.refusedRequest == 0 || grow(0, uint64(size), ^uint32(0)) < c.refusedRequest)
}

// countError counts a failed call.
func (c *Core) countError() { c.errs.Add(1) }

// Close drops the session: the state becomes Disconnected, the abort flag
// is cleared, the configured profiles are offered again and the last
// error is forgotten. Counters are kept; a later connection starts over.
func (c *Core) Close() {
	c.setSession(nil)
	c.setState(netipc.StateDisconnected)
	c.supported, c.preferred = c.set.SupportedProfiles, c.set.PreferredProfiles
	c.refusedRequest = 0
	c.lastErr = nil
	c.ClearAbort()
}

// notReady is the error of a call or connect refused because the client
// is not ready: its state and the cause of the last failed connection.
func (c *Core) notReady() error {
	return &netipc.Error{
		Kind: netipc.ErrNotReady,
		Msg:  fmt.Sprintf("the client of %q is not connected (%s)", c.service, c.State()),
		Err:  c.lastErr,
	}
}

func abortedError() error {
	return netipc.Errorf(netipc.ErrAborted, "the call was aborted: ClearAbort allows calls again")
}

// Connect connects when disconnected or when no provider was found, and
// reconnects when broken, all before deadline; it does nothing when
// ready. AuthFailed and Incompatible stay as they are until Close. The
// error is ErrNotReady with the cause (also kept as LastError).
func (c *Core) Connect(deadline time.Time) error {
	var reconnect bool
	switch c.State() {
	case netipc.StateReady:
		return nil
	case netipc.StateBroken:
		reconnect = true
	case netipc.StateAuthFailed, netipc.StateIncompatible:
		return c.notReady()
	}
	if c.tryConnect(deadline) != netipc.StateReady {
		return c.notReady()
	}
	if reconnect {
		c.reconnects.Add(1)
	} else {
		c.connects.Add(1)
	}
	return nil
}

func (c *Core) options() transport.ClientOptions {
	return transport.ClientOptions{
		SupportedProfiles:       c.supported,
		PreferredProfiles:       c.preferred,
		MaxRequestPayloadBytes:  c.reqProposal,
		MaxRequestBatchItems:    c.set.BatchItems,
		MaxResponsePayloadBytes: c.respProposal,
		AuthToken:               c.set.AuthToken,
		ResponseLimit:           c.set.ResponseCeiling,
	}
}

// tryConnect makes one connection attempt ending by deadline; it sets and
// returns the new state. A failed shared-memory attach withdraws the SHM
// profiles (until Close) and connects again without them.
func (c *Core) tryConnect(deadline time.Time) netipc.ClientState {
	started := time.Now()
	c.setSession(nil)
	c.setState(netipc.StateConnecting)
	if c.supported == 0 {
		// Only shared memory was allowed and it failed: nothing is left
		// to offer until Close restores the configuration (the attach
		// failure stays the last error).
		c.setState(netipc.StateIncompatible)
		return netipc.StateIncompatible
	}
	s, err := c.dial(c.runDir, c.service, c.options(), deadline)
	// A provider that closes the connection during the handshake of a
	// grown proposal may have refused it without its rejection being
	// read: start over from the configured request size, so that a
	// request the provider cannot take fails its call without locking the
	// client out.
	if k := KindOf(err); (k == netipc.ErrLimitExceeded || k == netipc.ErrDisconnected) &&
		c.reqProposal > c.set.RequestStart {
		if c.refusedRequest == 0 || c.reqProposal < c.refusedRequest {
			c.refusedRequest = c.reqProposal
		}
		c.reqProposal = c.set.RequestStart
		s, err = c.dial(c.runDir, c.service, c.options(), deadline)
	}
	if KindOf(err) == netipc.ErrSHM {
		c.supported &^= protocol.ProfileSHMAny
		c.preferred &^= protocol.ProfileSHMAny
		if c.supported == 0 {
			err = netipc.Wrap(netipc.ErrIncompatible, err,
				"shared memory was the only transport allowed (ClientConfig.SupportedProfiles) and it is unavailable")
		} else {
			s, err = c.dial(c.runDir, c.service, c.options(), deadline)
		}
	}
	if err == nil {
		c.setSession(s)
		c.lastErr = nil
		c.setState(netipc.StateReady)
		return netipc.StateReady
	}
	var st netipc.ClientState
	switch KindOf(err) {
	case netipc.ErrNotFound:
		st = netipc.StateNotFound
	case netipc.ErrAuthFailed:
		st = netipc.StateAuthFailed
	case netipc.ErrIncompatible, netipc.ErrLimitExceeded:
		// A fixed request size above the provider's maximum is a
		// configuration mismatch like a missing profile.
		st = netipc.StateIncompatible
	default:
		st = netipc.StateDisconnected
	}
	if KindOf(err) == netipc.ErrTimeout {
		err = netipc.Wrap(netipc.ErrTimeout, err, "connecting to %q took longer than %v", c.service,
			deadline.Sub(started).Round(time.Millisecond))
	}
	c.lastErr = err
	c.setState(st)
	return st
}

func (c *Core) breakSession() {
	c.setSession(nil)
	c.setState(netipc.StateBroken)
}

// sizes are the sizes whose growth justifies another overflow attempt:
// the negotiated ones and the request proposal. The response proposal is
// left out: the provider's response size wins the negotiation, so growing
// the proposal alone would only repeat the overflow against a provider
// whose response size is fixed.
func (c *Core) sizes() [3]uint32 {
	var req, resp uint32
	if c.sess != nil {
		p := c.sess.Params()
		req, resp = p.MaxRequestPayloadBytes, p.MaxResponsePayloadBytes
	}
	return [3]uint32{req, resp, c.reqProposal}
}

// A CallScope is one public call: its deadline, and what ends it early
// (an abort, the context).
type CallScope struct {
	ctx context.Context
	// Deadline ends every step of the call.
	Deadline time.Time
	// Limit is the time limit that set Deadline (reported by timeouts).
	Limit time.Duration
	// byContext: the context's deadline is earlier than the call timeout.
	byContext bool
	stop      func() bool
}

// Begin starts a public call: its deadline is the call timeout from now,
// or ctx's deadline when earlier; cancelling ctx aborts it (a ctx whose
// Done channel is nil costs nothing). End must follow.
func (c *Core) Begin(ctx context.Context) CallScope {
	limit := c.CallTimeout()
	now := time.Now()
	sc := CallScope{ctx: ctx, Deadline: now.Add(min(limit, maxWait)), Limit: limit}
	if d, ok := ctx.Deadline(); ok && d.Before(sc.Deadline) {
		sc.Deadline, sc.Limit, sc.byContext = d, d.Sub(now), true
	}
	c.mu.Lock()
	c.inCall = true
	c.callGen++
	gen := c.callGen
	c.mu.Unlock()
	if ctx.Done() != nil {
		sc.stop = context.AfterFunc(ctx, func() { c.cancel(gen) })
	}
	return sc
}

// cancel interrupts call gen, if it is still running.
func (c *Core) cancel(gen uint64) {
	c.mu.Lock()
	if c.inCall && c.callGen == gen {
		c.cancelled = true
		if c.sess != nil {
			c.sess.Interrupt()
		}
	}
	c.mu.Unlock()
}

// End ends a public call; err (nil on success) becomes the error the call
// returns: an interrupt caused by the context is reported as the
// context's error.
func (c *Core) End(sc *CallScope, err error) error {
	if sc.stop != nil {
		sc.stop()
	}
	c.mu.Lock()
	c.inCall = false
	cancelled := c.cancelled
	c.cancelled = false
	if cancelled && c.sess != nil && !c.aborted.Load() {
		c.sess.ClearInterrupt()
	}
	c.mu.Unlock()
	if err == nil {
		return nil
	}
	if k := KindOf(err); !c.aborted.Load() && sc.ctx.Err() != nil &&
		(k == netipc.ErrAborted || k == netipc.ErrTimeout) {
		return c.contextError(sc)
	}
	return err
}

// Interrupted returns the error of a call that must stop now (aborted, or
// its context is done), or nil.
func (c *Core) Interrupted(sc *CallScope) error {
	if c.aborted.Load() {
		return abortedError()
	}
	if sc.ctx.Done() != nil && sc.ctx.Err() != nil {
		return c.contextError(sc)
	}
	return nil
}

func (c *Core) contextError(sc *CallScope) error {
	cause := sc.ctx.Err()
	if errors.Is(cause, context.DeadlineExceeded) {
		return netipc.Wrap(netipc.ErrTimeout, cause, "the call to %q timed out: its context's deadline passed", c.service)
	}
	return netipc.Wrap(netipc.ErrAborted, cause, "the call to %q was cancelled by its context", c.service)
}

// timeoutError reports a call that ran out of time.
func (c *Core) timeoutError(sc *CallScope, cause error) error {
	if sc.byContext {
		return netipc.Wrap(netipc.ErrTimeout, context.DeadlineExceeded,
			"the call to %q timed out: its context's deadline passed", c.service)
	}
	return netipc.Wrap(netipc.ErrTimeout, cause,
		"the call to %q timed out after %v: the provider did not answer in time (it may be overloaded or stuck); raise ClientConfig.CallTimeout (or SetCallTimeout) or try again",
		c.service, sc.Limit)
}

// ConnectContext is Connect for a public caller: it ends by the call
// timeout or ctx's deadline, whichever comes first, and fails at once when
// the client is aborted or ctx is done.
func (c *Core) ConnectContext(ctx context.Context) error {
	sc := c.Begin(ctx)
	err := c.Interrupted(&sc)
	if err == nil {
		err = c.Connect(sc.Deadline)
	}
	return c.End(&sc, err)
}

// Ensure makes the client ready for a call of scope sc: it fails when the
// call must stop, and connects when not connected. A failure is counted
// as a failed call.
func (c *Core) Ensure(sc *CallScope) error {
	if err := c.Interrupted(sc); err != nil {
		c.countError()
		return err
	}
	if c.State() == netipc.StateReady {
		return nil
	}
	if err := c.Connect(sc.Deadline); err != nil {
		c.countError()
		return err
	}
	return nil
}

// Call runs one request with the at-least-once retry policy; every step
// (sends, waits, reconnects) ends by sc.Deadline. On success the response
// is c.response(). The client must be ready (Ensure).
func (c *Core) Call(sc *CallScope, req Request, check Checker) error {
	if c.State() != netipc.StateReady {
		c.countError()
		return c.notReady()
	}
	if err := c.Interrupted(sc); err != nil {
		c.countError()
		return err
	}
	err := c.callWithRetry(sc, req, check)
	if err != nil && c.State() != netipc.StateReady {
		// A reconnect inside the call that failed because the call was
		// aborted meanwhile reports the abort.
		if ierr := c.Interrupted(sc); ierr != nil {
			return ierr
		}
	}
	return err
}

func (c *Core) callWithRetry(sc *CallScope, req Request, check Checker) error {
	for overflowAttempts := 1; ; overflowAttempts++ {
		before := c.sizes()
		f, err := c.attempt(sc, req, check)
		if f == 0 {
			c.countCall()
			return nil
		}
		if f != answered {
			c.breakSession()
		}
		switch f {
		case fatal, answered:
			return c.fail(err)
		case ordinary:
			if c.tryConnect(sc.Deadline) != netipc.StateReady {
				return c.fail(err)
			}
			c.reconnects.Add(1)
			f, err = c.attempt(sc, req, check)
			if f == 0 {
				c.countCall()
				return nil
			}
			if f != answered {
				c.breakSession()
			}
			return c.fail(err)
		}
		// overflow
		if c.tryConnect(sc.Deadline) != netipc.StateReady {
			return c.fail(err)
		}
		c.reconnects.Add(1)
		after := c.sizes()
		grew := after[0] > before[0] || after[1] > before[1] || after[2] > before[2]
		if !grew || overflowAttempts >= maxOverflowAttempts {
			c.breakSession()
			return c.fail(c.capacityExhausted())
		}
	}
}

func (c *Core) capacityExhausted() error {
	return netipc.Errorf(netipc.ErrLimitExceeded,
		"the message to %q does not fit the largest sizes the provider will agree to (request %d bytes at most, response %d); configure larger payload limits on both sides (ClientConfig and ServerConfig MaxRequestPayloadBytes / MaxResponsePayloadBytes)",
		c.service, c.requestCapacity(), c.responseCapacity())
}

func (c *Core) countCall() {
	c.exchanges++
	c.calls.Add(1)
}

func (c *Core) fail(err error) error {
	c.countError()
	return err
}

// attempt makes one request/response exchange on the current session.
// It returns 0 on success, or how it failed and the error.
func (c *Core) attempt(sc *CallScope, req Request, check Checker) (failure, error) {
	s := c.sess
	if s == nil {
		return ordinary, netipc.Errorf(netipc.ErrDisconnected, "the connection to %q is gone", c.service)
	}
	c.resp = transport.Message{}
	p := s.Params()
	if uint64(len(req.Payload)) > uint64(p.MaxRequestPayloadBytes) {
		c.reqProposal = grow(c.reqProposal, uint64(len(req.Payload)), c.set.RequestCeiling)
		return overflow, c.capacityExhausted()
	}
	h := protocol.Header{
		Kind:      protocol.KindRequest,
		Code:      c.method,
		ItemCount: 1,
		MessageID: c.exchanges + 1,
	}
	if req.Items > 0 {
		if req.Items > p.MaxRequestBatchItems {
			// Nothing was sent and the session is fine; no retry helps.
			return answered, netipc.Errorf(netipc.ErrLimitExceeded,
				"a batch of %d items exceeds the %d items the session negotiated: raise ClientConfig.MaxRequestBatchItems",
				req.Items, p.MaxRequestBatchItems)
		}
		h.Flags, h.ItemCount = protocol.FlagBatch, req.Items
	}
	if err := s.Send(h, req.Payload, sc.Deadline); err != nil {
		switch KindOf(err) {
		case netipc.ErrAborted:
			return fatal, c.interruptError(sc, err)
		case netipc.ErrTimeout:
			return fatal, c.timeoutError(sc, err)
		case netipc.ErrLimitExceeded:
			c.reqProposal = grow(c.reqProposal, uint64(len(req.Payload)), c.set.RequestCeiling)
			return overflow, c.capacityExhausted()
		}
		return ordinary, err
	}
	m, err := s.Receive(sc.Deadline)
	if err != nil {
		switch KindOf(err) {
		case netipc.ErrAborted:
			return fatal, c.interruptError(sc, err)
		case netipc.ErrTimeout:
			return fatal, c.timeoutError(sc, err)
		case netipc.ErrResponseTooLarge:
			// Above what this client accepts at all: no growth or
			// re-send can help, and nothing was allocated for it.
			return fatal, netipc.Wrap(netipc.ErrResponseTooLarge, err,
				"the response of %q is larger than this client accepts (%d bytes): raise ClientConfig.MaxResponsePayloadBytes if such responses are expected",
				c.service, c.set.ResponseCeiling)
		case netipc.ErrLimitExceeded:
			c.respProposal = grow(c.respProposal, 2*uint64(p.MaxResponsePayloadBytes), c.set.ResponseCeiling)
			return overflow, c.capacityExhausted()
		}
		return ordinary, err
	}
	rh := m.Header
	switch {
	case rh.Kind != protocol.KindResponse:
		return ordinary, c.badResponse("the reply is not a RESPONSE")
	case rh.Code != c.method:
		return ordinary, c.badResponse("the response is for another method")
	case rh.MessageID != h.MessageID:
		return ordinary, c.badResponse("the response has another message id")
	}
	switch rh.Status {
	case protocol.StatusOK:
	case protocol.StatusLimitExceeded:
		c.respProposal = grow(c.respProposal, 2*uint64(p.MaxResponsePayloadBytes), c.set.ResponseCeiling)
		return overflow, c.capacityExhausted()
	default:
		return answered, c.rejected(rh.Status)
	}
	if req.Items > 0 && (rh.Flags&protocol.FlagBatch == 0 || rh.ItemCount != req.Items) {
		return ordinary, c.badResponse("the batch response has another item count")
	}
	if check != nil {
		if err := check.Check(rh, m.Payload); err != nil {
			return ordinary, netipc.Wrap(netipc.ErrCodec, err, "the response of %q does not decode", c.service)
		}
	}
	c.resp = m
	return 0, nil
}

// interruptError is the error of a wait the transport interrupted.
func (c *Core) interruptError(sc *CallScope, cause error) error {
	if c.aborted.Load() {
		return abortedError()
	}
	if sc.ctx.Err() != nil {
		return c.contextError(sc)
	}
	return cause
}

func (c *Core) badResponse(what string) error {
	return netipc.Errorf(netipc.ErrBadResponse, "unexpected response from %q: %s", c.service, what)
}

func (c *Core) rejected(status protocol.Status) error {
	var what string
	switch status {
	case protocol.StatusInternalError:
		what = "its handler returned an error or panicked"
	case protocol.StatusBadEnvelope:
		what = "it could not decode the request, or its handler built an invalid answer"
	case protocol.StatusUnsupported:
		what = "it serves another method: check that the service name belongs to a provider of this kind"
	default:
		what = "a status this client does not know"
	}
	return &netipc.Error{
		Kind:   netipc.ErrRejected,
		Status: status,
		Msg: fmt.Sprintf("the provider of %q failed to answer the request (%s: %s); the request was not sent again: see the provider's log for the cause",
			c.service, status, what),
	}
}

// response returns the last response, after a successful Call.
func (c *Core) response() transport.Message { return c.resp }

// renegotiateRequest grows the request proposal so that a request of
// needed bytes fits, reconnects (by deadline), and reports whether the
// new session takes it.
func (c *Core) renegotiateRequest(needed uint32, deadline time.Time) bool {
	before := c.requestCapacity()
	c.reqProposal = grow(c.reqProposal, uint64(needed), c.set.RequestCeiling)
	c.breakSession()
	if c.tryConnect(deadline) != netipc.StateReady {
		return false
	}
	c.reconnects.Add(1)
	after := c.requestCapacity()
	return after > before && after >= needed
}

// KindOf returns the Kind of err's outermost *netipc.Error, or err itself
// when it is a Kind (0 for nil and for other errors).
func KindOf(err error) netipc.Kind {
	for ; err != nil; err = errors.Unwrap(err) {
		switch e := err.(type) {
		case *netipc.Error:
			return e.Kind
		case netipc.Kind:
			return e
		}
	}
	return 0
}

// grow returns max(current, next power of two of want), the power capped
// at ceiling.
func grow(current uint32, want uint64, ceiling uint32) uint32 {
	want = max(want, growthFloor)
	p := uint64(1)
	for p < want && p < 1<<32 {
		p <<= 1
	}
	return max(current, uint32(min(p, uint64(ceiling))))
}
