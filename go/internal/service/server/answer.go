package server

import (
	"fmt"

	"github.com/netdata/netipc/go/protocol"
)

// worker is one of the server's handler slots: a session holds it while
// its request is answered, so at most Workers handlers run at once. Only
// the session goroutine holding it uses it.
type worker struct {
	answerer Answerer
	counts   *workerCounts
}

// reply is how a request was answered.
type reply struct {
	// status of the response; OK responses carry n payload bytes.
	status protocol.Status
	n      int
	// fail is the cause of an error status.
	fail *Failure
	// panicked holds the panic value of a handler that panicked.
	panicked any
	// close ends the session after the response: LIMIT_EXCEEDED (the
	// client reconnects with the larger size) and BAD_ENVELOPE.
	close bool
}

// answer answers one request of a session whose responses may carry
// len(out) payload bytes. A handler panic is contained here.
func (s *Server) answer(w *worker, h *protocol.Header, payload, out []byte) reply {
	if h.Code != s.method.Code() {
		return reply{status: protocol.StatusUnsupported, fail: &Failure{
			Status: protocol.StatusUnsupported,
			Err:    wrongMethod{code: h.Code, served: s.method.Code()},
		}}
	}
	growable := s.responseSize.canExceed(uint32(len(out)))
	n, err, panicked := contained(w.answerer, h, payload, out, growable)
	if panicked != nil {
		return reply{status: protocol.StatusInternalError, panicked: panicked}
	}
	if err == nil {
		return reply{status: protocol.StatusOK, n: n}
	}
	f := failure(err)
	if f.Status == protocol.StatusLimitExceeded {
		s.responseSize.learn(s.neededSize(w.answerer, h, payload, len(out)))
	}
	return reply{
		status: f.Status,
		fail:   f,
		close:  f.Status == protocol.StatusLimitExceeded || f.Status == protocol.StatusBadEnvelope,
	}
}

// contained runs answerAll, turning a panic into its value.
func contained(a Answerer, h *protocol.Header, payload, out []byte, growable bool) (n int, err error, panicked any) {
	defer func() {
		if v := recover(); v != nil {
			panicked = v
		}
	}()
	n, err = answerAll(a, h, payload, out, growable)
	return n, err, nil
}

// neededSize is how large a response the request needs: it is answered
// again into a buffer of the ceiling size (only after an overflow, so
// allocating is fine), so that the next session gets a size that fits at
// once instead of one doubling per client attempt. Falls back to twice
// the budget.
func (s *Server) neededSize(a Answerer, h *protocol.Header, payload []byte, budget int) uint64 {
	fallback := 2 * uint64(budget)
	ceiling := int(s.responseSize.ceiling)
	if budget >= ceiling {
		return fallback
	}
	trial := make([]byte, ceiling)
	// Growable, as in the Rust server: an answer the ceiling would still
	// cut short needs the ceiling (a next session at the ceiling answers
	// it with OVERSIZED_ITEM); otherwise the size never grows and every
	// retry overflows again.
	n, err, panicked := contained(a, h, payload, trial, true)
	switch {
	case panicked != nil:
		return fallback
	case err == nil:
		return uint64(n)
	case failure(err).Status == protocol.StatusLimitExceeded:
		return uint64(ceiling)
	}
	return fallback
}

// answerAll answers a single request, or every item of a batch into one
// batch response (in order; a failing item fails the whole request).
func answerAll(a Answerer, h *protocol.Header, payload, out []byte, growable bool) (int, error) {
	if h.Flags&protocol.FlagBatch == 0 || h.ItemCount == 0 {
		return a.Answer(payload, out, growable)
	}
	items, err := protocol.NewBatchView(payload, h.ItemCount)
	if err != nil {
		return 0, BadRequest(err)
	}
	batch, err := protocol.NewBatchBuilder(out, h.ItemCount)
	if err != nil {
		return 0, BuildFailed(err)
	}
	for i := range items.Len() {
		item, err := items.Item(i)
		if err != nil {
			return 0, BadRequest(err)
		}
		space, err := batch.Space()
		if err != nil {
			return 0, BuildFailed(err)
		}
		n, err := a.Answer(item, space, growable)
		if err != nil {
			return 0, err
		}
		if err := batch.Commit(n); err != nil {
			return 0, BuildFailed(err)
		}
	}
	n, err := batch.Finish()
	if err != nil {
		return 0, BuildFailed(err)
	}
	return n, nil
}

// responseHeader is the header of the response to h: for an OK answer
// the same code and message id, with BATCH and the item count copied for
// a batch; an error status is an empty response with flags 0 and item
// count 1.
func responseHeader(h *protocol.Header, status protocol.Status) protocol.Header {
	r := protocol.Header{
		Kind:      protocol.KindResponse,
		Code:      h.Code,
		Status:    status,
		ItemCount: 1,
		MessageID: h.MessageID,
	}
	if status == protocol.StatusOK && h.Flags&protocol.FlagBatch != 0 && h.ItemCount >= 1 {
		r.Flags = protocol.FlagBatch
		r.ItemCount = h.ItemCount
	}
	return r
}

// methodNames are the spec names of the method codes.
var methodNames = [...]string{
	protocol.MethodIncrement:       "INCREMENT",
	protocol.MethodCgroupsSnapshot: "CGROUPS_SNAPSHOT",
	protocol.MethodStringReverse:   "STRING_REVERSE",
	protocol.MethodCgroupsLookup:   "CGROUPS_LOOKUP",
	protocol.MethodAppsLookup:      "APPS_LOOKUP",
}

// methodName returns the spec name of a method code.
func methodName(code uint16) string {
	if int(code) < len(methodNames) && methodNames[code] != "" {
		return methodNames[code]
	}
	return fmt.Sprintf("method %d", code)
}

// wrongMethod is the cause of an UNSUPPORTED answer.
type wrongMethod struct{ code, served uint16 }

func (e wrongMethod) Error() string {
	what := "a " + methodName(e.code) + " request"
	if int(e.code) >= len(methodNames) || methodNames[e.code] == "" {
		what = fmt.Sprintf("a request for method %d", e.code)
	}
	return what + "; this server answers " + methodName(e.served)
}
