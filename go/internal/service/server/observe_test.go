package server

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

// record is one logged event.
type record struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recorder is a slog.Handler keeping every record.
type recorder struct {
	mu      sync.Mutex
	records []record
	with    []slog.Attr
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	attrs := map[string]string{}
	for _, a := range r.with {
		attrs[a.Key] = a.Value.String()
	}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	r.records = append(r.records, record{rec.Level, rec.Message, attrs})
	r.mu.Unlock()
	return nil
}

func (r *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorderView{r, attrs}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// recorderView is the recorder with attributes added by Logger.With.
type recorderView struct {
	*recorder
	attrs []slog.Attr
}

func (v *recorderView) Handle(ctx context.Context, rec slog.Record) error {
	rec.AddAttrs(v.attrs...)
	return v.recorder.Handle(ctx, rec)
}

// find returns the first record with msg.
func (r *recorder) find(msg string) (record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if rec.msg == msg {
			return rec, true
		}
	}
	return record{}, false
}

func TestEvents(t *testing.T) {
	rec := &recorder{}
	dir := runDir(t)
	s := NewIncrement(dir, "moody", netipc.ServerConfig{Logger: slog.New(rec)}, moody)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- s.Run() }()
	c := dial(t, dir, "moody", transport.ClientOptions{})
	c.increment(1)
	var req [8]byte
	protocol.EncodeIncrement(req[:], 13)
	c.answer(c.send(protocol.MethodIncrement, req[:]), protocol.StatusInternalError)
	protocol.EncodeIncrement(req[:], 666)
	c.answer(c.send(protocol.MethodIncrement, req[:]), protocol.StatusInternalError)
	c.answer(c.send(protocol.MethodCgroupsLookup, req[:]), protocol.StatusUnsupported)
	if _, err := tryDial(t, dir, "moody", transport.ClientOptions{AuthToken: 99}); err == nil {
		t.Fatal("a wrong auth token was accepted")
	}
	eventually(t, "the auth failure counted", func() bool { return s.Stats().AuthFailures == 1 })
	s.Stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}

	want := []struct {
		msg   string
		level slog.Level
		attrs map[string]string
	}{
		{"serving", slog.LevelInfo, map[string]string{"service": "moody", "method": "INCREMENT", "session_limit": "1024"}},
		{"session opened", slog.LevelDebug, map[string]string{"session": "1", "profile": "baseline", "max_response_bytes": "65536"}},
		{"request", LevelTrace, map[string]string{"session": "1", "id": "1", "status": "OK", "request_bytes": "40", "response_bytes": "40"}},
		{"handler failed", slog.LevelWarn, map[string]string{"id": "2", "status": "INTERNAL_ERROR", "error": "unlucky number"}},
		{"handler panicked", slog.LevelError, map[string]string{"id": "3", "panic": "the handler panicked on purpose"}},
		{"request failed", slog.LevelWarn, map[string]string{"id": "4", "status": "UNSUPPORTED",
			"error": "a CGROUPS_LOOKUP request; this server answers INCREMENT"}},
		{"authentication failed", slog.LevelWarn, map[string]string{}},
		{"stopping", slog.LevelInfo, map[string]string{"sessions": "1"}},
		{"session closed", slog.LevelDebug, map[string]string{"session": "1", "reason": "server stopped", "requests": "4"}},
		{"stopped", slog.LevelInfo, map[string]string{"sessions_opened": "1", "requests": "4", "failed_requests": "3"}},
	}
	for _, w := range want {
		got, ok := rec.find(w.msg)
		if !ok {
			t.Errorf("no %q event", w.msg)
			continue
		}
		if got.level != w.level || got.attrs["service"] != "moody" {
			t.Errorf("%q: level %v, attrs %v", w.msg, got.level, got.attrs)
		}
		for k, v := range w.attrs {
			if got.attrs[k] != v {
				t.Errorf("%q: %s=%q, want %q", w.msg, k, got.attrs[k], v)
			}
		}
	}
}
