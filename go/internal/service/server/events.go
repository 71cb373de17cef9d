package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

// LevelTrace is the level of the per-request "request" event, below
// slog.LevelDebug.
const LevelTrace = slog.LevelDebug - 4

// The server's log events. Each has a fixed message (the event's name)
// and the same attribute names everywhere, those of the Rust core's
// tracing events; every record also has "service" (added by New). Nothing
// is computed for a level the logger does not take, so the per-request
// event costs one Enabled call when it is off.

func (s *Server) enabled(level slog.Level) bool {
	return s.log != nil && s.log.Enabled(context.Background(), level)
}

func (s *Server) event(level slog.Level, msg string, attrs ...slog.Attr) {
	s.log.LogAttrs(context.Background(), level, msg, attrs...)
}

func peerAttrs(p transport.Peer) []slog.Attr {
	return []slog.Attr{slog.Int64("pid", int64(p.PID)), slog.Uint64("uid", uint64(p.UID))}
}

// serving (info): the endpoint was created and the server serves.
func (s *Server) serving(l *transport.Listener) {
	if s.enabled(slog.LevelInfo) {
		s.event(slog.LevelInfo, "serving",
			slog.String("endpoint", l.Endpoint()),
			slog.String("method", methodName(s.method.Code())),
			slog.Int("workers", s.set.Workers),
			slog.Int("session_limit", s.set.MaxSessions))
	}
}

// stopping (info): Stop was called while the server ran.
func (s *Server) stopping() {
	if s.enabled(slog.LevelInfo) {
		s.event(slog.LevelInfo, "stopping", slog.Int64("sessions", s.counters.sessions.Load()))
	}
}

// stopped (info): every session is closed.
func (s *Server) stopped() {
	if s.enabled(slog.LevelInfo) {
		st := s.Stats()
		s.event(slog.LevelInfo, "stopped",
			slog.Uint64("sessions_opened", st.SessionsOpened),
			slog.Uint64("requests", st.Requests),
			slog.Uint64("failed_requests", st.FailedRequests))
	}
}

// session opened (debug).
func (s *Server) sessionOpened(sess *transport.ServerSession) {
	if s.enabled(slog.LevelDebug) {
		p, peer := sess.Params(), sess.Peer()
		s.event(slog.LevelDebug, "session opened", append([]slog.Attr{
			slog.Uint64("session", p.SessionID),
			slog.String("profile", p.Profile.String()),
			slog.Uint64("max_request_bytes", uint64(p.MaxRequestPayloadBytes)),
			slog.Uint64("max_response_bytes", uint64(p.MaxResponsePayloadBytes)),
		}, peerAttrs(peer)...)...)
	}
}

// session closed (debug).
func (s *Server) sessionClosed(session uint64, reason why, requests uint64) {
	if s.enabled(slog.LevelDebug) {
		s.event(slog.LevelDebug, "session closed",
			slog.Uint64("session", session),
			slog.String("reason", reason.String()),
			slog.Uint64("requests", requests))
	}
}

// request (trace): one answered request.
func (s *Server) requestAnswered(session uint64, h *protocol.Header, status protocol.Status, received, sent int) {
	if s.enabled(LevelTrace) {
		s.event(LevelTrace, "request",
			slog.Uint64("session", session),
			slog.Uint64("id", h.MessageID),
			slog.String("status", status.String()),
			slog.Int("request_bytes", received),
			slog.Int("response_bytes", sent))
	}
}

// requestFailed counts and logs a request answered with an error status:
// "handler failed" (warn), "handler panicked" (error), "request failed"
// (warn; debug for LIMIT_EXCEEDED, which the client recovers from).
func (s *Server) requestFailed(session uint64, h *protocol.Header, r reply) {
	if r.panicked != nil {
		s.counters.handlerPanics.Add(1)
		if s.enabled(slog.LevelError) {
			s.event(slog.LevelError, "handler panicked",
				slog.Uint64("session", session),
				slog.Uint64("id", h.MessageID),
				slog.String("status", r.status.String()),
				slog.String("panic", fmt.Sprint(r.panicked)))
		}
		return
	}
	msg, level := "request failed", slog.LevelWarn
	if r.fail.Handler {
		s.counters.handlerErrors.Add(1)
		msg = "handler failed"
	} else if r.status == protocol.StatusLimitExceeded {
		level = slog.LevelDebug
	}
	if s.enabled(level) {
		s.event(level, msg,
			slog.Uint64("session", session),
			slog.Uint64("id", h.MessageID),
			slog.String("status", r.status.String()),
			slog.String("error", r.fail.Error()))
	}
}

// protocol error (warn): a client broke the protocol; its session ends.
func (s *Server) protocolError(session uint64, err error) {
	s.counters.protocolErrors.Add(1)
	if s.enabled(slog.LevelWarn) {
		s.event(slog.LevelWarn, "protocol error",
			slog.Uint64("session", session),
			slog.String("error", err.Error()))
	}
}

// send timeout (warn).
func (s *Server) sendTimedOut(session uint64) {
	if s.enabled(slog.LevelWarn) {
		s.event(slog.LevelWarn, "send timeout",
			slog.Uint64("session", session),
			slog.Int64("timeout_ms", s.set.SendTimeout.Milliseconds()))
	}
}

// session failed (debug): a session ended on another error.
func (s *Server) sessionFailed(session uint64, err error) {
	if s.enabled(slog.LevelDebug) {
		s.event(slog.LevelDebug, "session failed",
			slog.Uint64("session", session),
			slog.String("error", err.Error()))
	}
}

// session limit reached (warn): the first client refused because the
// server is full, until a session opens again.
func (s *Server) sessionLimitReached() {
	if s.enabled(slog.LevelWarn) {
		s.event(slog.LevelWarn, "session limit reached",
			slog.Int("session_limit", s.set.MaxSessions),
			slog.String("note", "refusing new clients until sessions close (each at debug)"))
	}
}

// refused at capacity (debug).
func (s *Server) refusedAtCapacity(peer transport.Peer) {
	if s.enabled(slog.LevelDebug) {
		s.event(slog.LevelDebug, "refused at capacity", peerAttrs(peer)...)
	}
}

// authentication failed (warn).
func (s *Server) authFailed(peer transport.Peer) {
	if s.enabled(slog.LevelWarn) {
		s.event(slog.LevelWarn, "authentication failed", peerAttrs(peer)...)
	}
}

// handshake timed out (warn).
func (s *Server) handshakeTimedOut(peer transport.Peer) {
	if s.enabled(slog.LevelWarn) {
		s.event(slog.LevelWarn, "handshake timed out",
			append(peerAttrs(peer), slog.Int64("timeout_ms", handshakeTimeout.Milliseconds()))...)
	}
}

// handshake failed (warn; debug when the connection closed before its
// HELLO, which is how a starting provider checks the endpoint is live).
func (s *Server) handshakeError(peer transport.Peer, err error) {
	level := slog.LevelWarn
	if errors.Is(err, netipc.ErrDisconnected) {
		level = slog.LevelDebug
	}
	if s.enabled(level) {
		s.event(level, "handshake failed", append(peerAttrs(peer), slog.String("error", err.Error()))...)
	}
}

// connection dropped (debug): as many connections as the session limit
// were waiting for their HELLO.
func (s *Server) connectionDropped(peer transport.Peer) {
	if s.enabled(slog.LevelDebug) {
		s.event(slog.LevelDebug, "connection dropped",
			append(peerAttrs(peer), slog.Int("handshaking", s.set.MaxSessions))...)
	}
}

// accept failed (warn): the server pauses and accepts again.
func (s *Server) acceptFailed(err error) {
	if s.enabled(slog.LevelWarn) {
		s.event(slog.LevelWarn, "accept failed", slog.String("error", err.Error()))
	}
}

// stop grace exceeded (warn): handlers still ran after StopGrace.
func (s *Server) stopGraceExceeded(handlers int) {
	if s.enabled(slog.LevelWarn) {
		s.event(slog.LevelWarn, "stop grace exceeded", slog.Int("handlers", handlers))
	}
}
