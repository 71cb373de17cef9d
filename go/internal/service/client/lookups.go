package client

import (
	"bytes"
	"context"
	"math"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// cgroupsSpec is the CGROUPS_LOOKUP side of logical lookups.
type cgroupsSpec struct {
	view protocol.CgroupsLookupResponseView
}

func (*cgroupsSpec) fit(keys [][]byte, capacity int) int {
	return protocol.CgroupsLookupRequestFit(keys, capacity)
}

func (*cgroupsSpec) fitAnswers(keys [][]byte, capacity int) int {
	return protocol.CgroupsLookupPlaceholdersFit(keys, capacity)
}

func (*cgroupsSpec) requestLen(keys [][]byte) int {
	if n, ok := protocol.CgroupsLookupRequestLen(keys); ok {
		return n
	}
	return math.MaxInt
}

func (*cgroupsSpec) oneKeyLen(key []byte) int {
	return protocol.CgroupsLookupSingleRequestLen(len(key))
}

func (*cgroupsSpec) oversized(key []byte, dst []byte) ([]byte, bool) {
	n := protocol.CgroupsLookupPlaceholderLen(len(key))
	dst = grown(dst, n)
	n, err := protocol.EncodeCgroupsLookupPlaceholder(dst, key, protocol.CgroupsLookupOversizedItem)
	return dst[:n], err == nil
}

func (*cgroupsSpec) encode(keys [][]byte, dst []byte) ([]byte, error) {
	n, ok := protocol.CgroupsLookupRequestLen(keys)
	if !ok {
		n = 0
	}
	dst = grown(dst, n)
	n, err := protocol.EncodeCgroupsLookupRequest(dst, keys)
	return dst[:n], err
}

func (s *cgroupsSpec) decode(payload []byte) (err error) {
	s.view, err = protocol.DecodeCgroupsLookupResponse(payload)
	return err
}

func (s *cgroupsSpec) count() int         { return s.view.Len() }
func (s *cgroupsSpec) generation() uint64 { return s.view.Generation() }

func (s *cgroupsSpec) outcome(i int, key []byte) (outcome, bool) {
	item, err := s.view.Item(i)
	if err != nil || !bytes.Equal(item.Path, key) {
		return 0, false
	}
	switch item.Status {
	case protocol.CgroupsLookupPayloadExceeded:
		return outExceeded, true
	case protocol.CgroupsLookupOversizedItem:
		return outOversized, true
	}
	return outAnswered, true
}

func (s *cgroupsSpec) rawItem(i int) []byte {
	raw, _ := s.view.RawItem(i)
	return raw
}

func (*cgroupsSpec) encodeRaw(items [][]byte, generation uint64, dst []byte) (int, error) {
	return protocol.EncodeCgroupsLookupRawResponse(dst, items, generation)
}

func (*cgroupsSpec) keyName() string { return "path" }

// grown returns buf with a length of n, reusing its memory when it can.
func grown(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n)
	}
	return buf[:n]
}

// CgroupsLookup is a CGROUPS_LOOKUP client.
type CgroupsLookup struct {
	*Core
	lookup *Lookup[[]byte, *cgroupsSpec]
}

// NewCgroupsLookup returns a disconnected CGROUPS_LOOKUP client. No I/O.
func NewCgroupsLookup(runDir, service string, cfg netipc.ClientConfig) *CgroupsLookup {
	core := New(runDir, service, protocol.MethodCgroupsLookup, cfg)
	return &CgroupsLookup{Core: core, lookup: newLookup[[]byte](core, &cgroupsSpec{})}
}

// Call looks paths up (see Lookup.Run); the view borrows the client's
// buffers: valid until the next call or Close.
func (l *CgroupsLookup) Call(ctx context.Context, paths [][]byte) (*protocol.CgroupsLookupResponseView, error) {
	sc := l.Begin(ctx)
	err := l.End(&sc, l.lookup.Run(&sc, paths))
	if err != nil {
		return nil, err
	}
	return &l.lookup.spec.view, nil
}

// appsSpec is the APPS_LOOKUP side of logical lookups.
type appsSpec struct {
	view protocol.AppsLookupResponseView
}

func (*appsSpec) fit(keys []uint32, capacity int) int {
	return protocol.AppsLookupRequestFit(len(keys), capacity)
}

func (*appsSpec) fitAnswers(keys []uint32, capacity int) int {
	return protocol.AppsLookupPlaceholdersFit(len(keys), capacity)
}

func (*appsSpec) requestLen(keys []uint32) int { return protocol.AppsLookupRequestLen(len(keys)) }

func (*appsSpec) oneKeyLen(uint32) int { return protocol.AppsLookupRequestLen(1) }

// oversized: PIDs have a fixed size, so no APPS_LOOKUP key is too large
// to be sent.
func (*appsSpec) oversized(_ uint32, dst []byte) ([]byte, bool) { return dst, false }

func (*appsSpec) encode(keys []uint32, dst []byte) ([]byte, error) {
	dst = grown(dst, protocol.AppsLookupRequestLen(len(keys)))
	n, err := protocol.EncodeAppsLookupRequest(dst, keys)
	return dst[:n], err
}

func (s *appsSpec) decode(payload []byte) (err error) {
	s.view, err = protocol.DecodeAppsLookupResponse(payload)
	return err
}

func (s *appsSpec) count() int         { return s.view.Len() }
func (s *appsSpec) generation() uint64 { return s.view.Generation() }

func (s *appsSpec) outcome(i int, pid uint32) (outcome, bool) {
	item, err := s.view.Item(i)
	if err != nil || item.PID != pid {
		return 0, false
	}
	switch item.Status {
	case protocol.PIDPayloadExceeded:
		return outExceeded, true
	case protocol.PIDOversizedItem:
		return outOversized, true
	}
	return outAnswered, true
}

func (s *appsSpec) rawItem(i int) []byte {
	raw, _ := s.view.RawItem(i)
	return raw
}

func (*appsSpec) encodeRaw(items [][]byte, generation uint64, dst []byte) (int, error) {
	return protocol.EncodeAppsLookupRawResponse(dst, items, generation)
}

func (*appsSpec) keyName() string { return "pid" }

// AppsLookup is an APPS_LOOKUP client.
type AppsLookup struct {
	*Core
	lookup *Lookup[uint32, *appsSpec]
}

// NewAppsLookup returns a disconnected APPS_LOOKUP client. No I/O.
func NewAppsLookup(runDir, service string, cfg netipc.ClientConfig) *AppsLookup {
	core := New(runDir, service, protocol.MethodAppsLookup, cfg)
	return &AppsLookup{Core: core, lookup: newLookup[uint32](core, &appsSpec{})}
}

// Call looks pids up (see Lookup.Run); the view borrows the client's
// buffers: valid until the next call or Close.
func (l *AppsLookup) Call(ctx context.Context, pids []uint32) (*protocol.AppsLookupResponseView, error) {
	sc := l.Begin(ctx)
	err := l.End(&sc, l.lookup.Run(&sc, pids))
	if err != nil {
		return nil, err
	}
	return &l.lookup.spec.view, nil
}
