package server

import (
	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// The INCREMENT and STRING_REVERSE servers of the tests, the interop
// peers and the benchmarks (not part of the public API). Both answer
// batch requests item by item, as every managed server does.

// IncrementFunc answers an INCREMENT value (the reference test servers
// answer value+1). It is called from several goroutines at once.
type IncrementFunc func(value uint64) (uint64, error)

// StringReverseFunc appends the answer for text to out (empty, reused
// between requests) and returns it. It is called from several goroutines
// at once; text is valid only during the call.
type StringReverseFunc func(text, out []byte) ([]byte, error)

// NewIncrement returns an INCREMENT server answered by f. No I/O.
func NewIncrement(runDir, service string, cfg netipc.ServerConfig, f IncrementFunc) *Server {
	return New(runDir, service, cfg, incrementMethod(f))
}

// NewStringReverse returns a STRING_REVERSE server answered by f. No I/O.
func NewStringReverse(runDir, service string, cfg netipc.ServerConfig, f StringReverseFunc) *Server {
	return New(runDir, service, cfg, stringReverseMethod(f))
}

type incrementMethod IncrementFunc

func (incrementMethod) Code() uint16          { return protocol.MethodIncrement }
func (m incrementMethod) NewWorker() Answerer { return m }
func (m incrementMethod) Answer(req, out []byte, _ bool) (int, error) {
	v, err := protocol.DecodeIncrement(req)
	if err != nil {
		return 0, BadRequest(err)
	}
	if m == nil {
		return 0, ErrNoHandler
	}
	v, err = m(v)
	if err != nil {
		return 0, HandlerFailed(err)
	}
	n, err := protocol.EncodeIncrement(out, v)
	if err != nil {
		return 0, BuildFailed(err)
	}
	return n, nil
}

type stringReverseMethod StringReverseFunc

func (stringReverseMethod) Code() uint16 { return protocol.MethodStringReverse }
func (m stringReverseMethod) NewWorker() Answerer {
	return &stringReverseWorker{f: StringReverseFunc(m)}
}

type stringReverseWorker struct {
	f    StringReverseFunc
	text []byte
}

func (w *stringReverseWorker) Answer(req, out []byte, _ bool) (int, error) {
	text, err := protocol.DecodeStringReverse(req)
	if err != nil {
		return 0, BadRequest(err)
	}
	if w.f == nil {
		return 0, ErrNoHandler
	}
	w.text, err = w.f(text, w.text[:0])
	if err != nil {
		return 0, HandlerFailed(err)
	}
	n, err := protocol.EncodeStringReverse(out, w.text)
	if err != nil {
		return 0, BuildFailed(err)
	}
	return n, nil
}
