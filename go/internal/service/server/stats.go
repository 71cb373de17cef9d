package server

import (
	"sync/atomic"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// statuses is the number of defined transport statuses (0 to 6); the
// per-worker counts keep them apart.
const statuses = 7

// workerCounts are one worker's request counters, on cache lines no other
// worker writes (only the goroutine holding the worker writes them).
type workerCounts struct {
	responses     [statuses]atomic.Uint64
	bytesReceived atomic.Uint64
	bytesSent     atomic.Uint64
	_             [64]byte
}

// answered counts a request of received bytes answered with status in a
// response of sent bytes.
func (w *workerCounts) answered(status protocol.Status, received, sent int) {
	w.responses[min(int(status), statuses-1)].Add(1)
	w.bytesReceived.Add(uint64(received))
	w.bytesSent.Add(uint64(sent))
}

// counters are the live values behind netipc.ServerStats.
type counters struct {
	sessions           atomic.Int64
	peakSessions       atomic.Int64
	sessionLimit       atomic.Int64
	handshaking        atomic.Int64
	sessionsOpened     atomic.Uint64
	refusedAtCapacity  atomic.Uint64
	handshakeFailures  atomic.Uint64
	authFailures       atomic.Uint64
	handshakeTimeouts  atomic.Uint64
	droppedConnections atomic.Uint64
	sendTimeouts       atomic.Uint64
	handlerErrors      atomic.Uint64
	handlerPanics      atomic.Uint64
	protocolErrors     atomic.Uint64
	perWorker          []workerCounts
}

func (c *counters) snapshot() netipc.ServerStats {
	var r netipc.ResponseCounts
	var received, sent uint64
	for i := range c.perWorker {
		w := &c.perWorker[i]
		r.OK += w.responses[protocol.StatusOK].Load()
		r.BadEnvelope += w.responses[protocol.StatusBadEnvelope].Load()
		r.Unsupported += w.responses[protocol.StatusUnsupported].Load()
		r.LimitExceeded += w.responses[protocol.StatusLimitExceeded].Load()
		r.InternalError += w.responses[protocol.StatusInternalError].Load()
		received += w.bytesReceived.Load()
		sent += w.bytesSent.Load()
	}
	return netipc.ServerStats{
		Sessions:           int(c.sessions.Load()),
		PeakSessions:       int(c.peakSessions.Load()),
		SessionLimit:       int(c.sessionLimit.Load()),
		Handshaking:        int(c.handshaking.Load()),
		SessionsOpened:     c.sessionsOpened.Load(),
		RefusedAtCapacity:  c.refusedAtCapacity.Load(),
		HandshakeFailures:  c.handshakeFailures.Load(),
		AuthFailures:       c.authFailures.Load(),
		HandshakeTimeouts:  c.handshakeTimeouts.Load(),
		DroppedConnections: c.droppedConnections.Load(),
		SendTimeouts:       c.sendTimeouts.Load(),
		Requests:           r.Total(),
		Responses:          r,
		FailedRequests:     r.Failed(),
		HandlerErrors:      c.handlerErrors.Load(),
		HandlerPanics:      c.handlerPanics.Load(),
		BytesReceived:      received,
		BytesSent:          sent,
		ProtocolErrors:     c.protocolErrors.Load(),
	}
}

// learned is a payload size shared by all sessions that only grows (by
// powers of two) up to its ceiling.
type learned struct {
	value   atomic.Uint32
	ceiling uint32
}

func (l *learned) get() uint32 { return l.value.Load() }

// canExceed reports whether size is still below the ceiling.
func (l *learned) canExceed(size uint32) bool { return size < l.ceiling }

// learn grows the size to hold size bytes (rounded up to a power of two,
// at least 16, at most the ceiling).
func (l *learned) learn(size uint64) {
	want := uint64(16)
	for want < size && want < uint64(l.ceiling) {
		want <<= 1
	}
	want = min(want, uint64(l.ceiling))
	for {
		old := l.value.Load()
		if uint64(old) >= want || l.value.CompareAndSwap(old, uint32(want)) {
			return
		}
	}
}
