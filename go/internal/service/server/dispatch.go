package server

import (
	"errors"

	"github.com/netdata/netipc/go/protocol"
)

// Method is what a server serves: one method code and how to answer its
// requests. The engine calls NewWorker once per worker, when Run starts.
type Method interface {
	// Code is the method code the server answers (protocol.Method...);
	// requests for other methods are answered UNSUPPORTED.
	Code() uint16
	// NewWorker returns the per-worker state that answers requests. It is
	// used by one goroutine at a time, so it may keep reusable builders
	// and buffers: answering must allocate nothing.
	NewWorker() Answerer
}

// Answerer answers request payloads of one method.
type Answerer interface {
	// Answer decodes one request payload (a whole request, or one item
	// of a batch), runs the handler and encodes its answer into out,
	// whose length is the response budget; it returns the answer's
	// length. growable says the server could give the session's client a
	// larger response size (a lookup answer the budget cuts short is then
	// an overflow instead of items marked oversized).
	//
	// Errors: a *Failure from BadRequest, BuildFailed or HandlerFailed;
	// any other error counts as a handler error. A panic is contained by
	// the engine.
	Answer(request, out []byte, growable bool) (int, error)
}

// Failure is why a request could not be answered, with the transport
// status it is answered with.
type Failure struct {
	// Status is the transport status of the answer.
	Status protocol.Status
	// Handler is set when Err is the handler's own error (counted in
	// ServerStats.HandlerErrors and logged as "handler failed").
	Handler bool
	// Err is the cause.
	Err error
}

// Error returns the cause's message.
func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Status.String()
	}
	return f.Err.Error()
}

// Unwrap returns the cause.
func (f *Failure) Unwrap() error { return f.Err }

// BadRequest is the failure of a request that does not decode:
// BAD_ENVELOPE.
func BadRequest(err error) error {
	return &Failure{Status: protocol.StatusBadEnvelope, Err: err}
}

// BuildFailed is the failure of an answer that could not be built: an
// overflow is LIMIT_EXCEEDED (the server grows its response size and the
// client reconnects), anything else (invalid or missing items) is
// BAD_ENVELOPE.
func BuildFailed(err error) error {
	if errors.Is(err, protocol.Overflow) {
		return &Failure{Status: protocol.StatusLimitExceeded, Err: err}
	}
	return &Failure{Status: protocol.StatusBadEnvelope, Err: err}
}

// HandlerFailed is the failure of a handler that returned err:
// INTERNAL_ERROR, unless err reports a builder overflow (the handler
// passed on an add that ran out of room), which is LIMIT_EXCEEDED.
func HandlerFailed(err error) error {
	if errors.Is(err, protocol.Overflow) {
		return &Failure{Status: protocol.StatusLimitExceeded, Err: err}
	}
	return &Failure{Status: protocol.StatusInternalError, Handler: true, Err: err}
}

// FromDispatch maps the outcome of a protocol dispatch function
// (protocol.DispatchCgroupsSnapshot and the lookups): n when err is nil,
// else the failure of its stage. handlerErr is what the handler returned
// (its cause when the stage is the handler's).
func FromDispatch(n int, err, handlerErr error) (int, error) {
	if err == nil {
		return n, nil
	}
	var d *protocol.DispatchError
	if !errors.As(err, &d) {
		return 0, BuildFailed(err)
	}
	switch d.Stage {
	case protocol.DispatchBadRequest:
		return 0, BadRequest(d.Err)
	case protocol.DispatchHandlerFailed:
		if handlerErr == nil {
			handlerErr = d
		}
		return 0, HandlerFailed(handlerErr)
	}
	return 0, BuildFailed(d.Err)
}

// CutShort is the failure of a lookup answer the response budget cut
// short (items marked oversized or payload-exceeded) while the server
// could offer a larger response size: LIMIT_EXCEEDED, so the client
// reconnects with the larger size instead of getting the cut answer.
func CutShort() error {
	return BuildFailed(&protocol.CodecError{Kind: protocol.Overflow, What: "lookup response budget"})
}

// ErrNoHandler is the failure of a server created without a handler:
// every request is answered UNSUPPORTED, as a request for another method.
var ErrNoHandler error = &Failure{
	Status: protocol.StatusUnsupported,
	Err:    errors.New("this server was created without a handler"),
}

// StatusOf returns the transport status a request is answered with when
// Answer returned err.
func StatusOf(err error) protocol.Status { return failure(err).Status }

// failure classifies an error of Answer.
func failure(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return &Failure{Status: protocol.StatusInternalError, Handler: true, Err: err}
}
