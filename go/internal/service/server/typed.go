package server

// Typed is the method of a typed service (cgroups-snapshot and the
// lookups): requests are answered by a protocol dispatch function that
// decodes the request of type R, resets a builder of type B over the
// response budget and calls the handler. Each worker keeps its own
// builder, so answering allocates nothing.
type Typed[R, B any] struct {
	// MethodCode is the method answered.
	MethodCode uint16
	// Dispatch is the protocol's dispatch function of the method.
	Dispatch func(b *B, request, response []byte, handler func(*R, *B) bool) (int, error)
	// Converted reports whether the budget cut the answer short (lookups;
	// nil for a snapshot). Such an answer becomes LIMIT_EXCEEDED while
	// the server's response size can still grow.
	Converted func(b *B) bool
	// Handle is the user's handler; nil answers UNSUPPORTED.
	Handle func(req *R, b *B) error
}

// Code returns MethodCode.
func (t *Typed[R, B]) Code() uint16 { return t.MethodCode }

// NewWorker returns a worker with its own builder.
func (t *Typed[R, B]) NewWorker() Answerer {
	w := &typedWorker[R, B]{t: t}
	w.call = w.handle
	return w
}

type typedWorker[R, B any] struct {
	t *Typed[R, B]
	b B
	// call is w.handle, made once (a method value made per request would
	// be allocated).
	call func(*R, *B) bool
	// err is what the handler returned.
	err error
}

func (w *typedWorker[R, B]) handle(req *R, b *B) bool {
	w.err = w.t.Handle(req, b)
	return w.err == nil
}

// Answer dispatches one request to the handler.
func (w *typedWorker[R, B]) Answer(req, out []byte, growable bool) (int, error) {
	if w.t.Handle == nil {
		return 0, ErrNoHandler
	}
	w.err = nil
	n, err := w.t.Dispatch(&w.b, req, out, w.call)
	n, err = FromDispatch(n, err, w.err)
	if err == nil && growable && w.t.Converted != nil && w.t.Converted(&w.b) {
		return 0, CutShort()
	}
	return n, err
}
