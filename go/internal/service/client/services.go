package client

import (
	"context"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// Refresh connects if needed (see Core.Connect) and reports whether the
// client is ready.
func (c *Core) Refresh() bool {
	_ = c.ConnectContext(context.Background())
	return c.State() == netipc.StateReady
}

// run runs one public call of req, connecting first when needed; check
// decodes the response.
func (c *Core) run(ctx context.Context, req Request, check Checker) error {
	sc := c.Begin(ctx)
	err := c.Ensure(&sc)
	if err == nil {
		err = c.Call(&sc, req, check)
	}
	return c.End(&sc, err)
}

// Snapshot is a CGROUPS_SNAPSHOT client.
type Snapshot struct {
	*Core
	request [4]byte
	n       int
	view    protocol.CgroupsResponseView
}

// NewSnapshot returns a disconnected snapshot client. No I/O.
func NewSnapshot(runDir, service string, cfg netipc.ClientConfig) *Snapshot {
	s := &Snapshot{Core: New(runDir, service, protocol.MethodCgroupsSnapshot, cfg)}
	s.n, _ = protocol.EncodeCgroupsRequest(s.request[:])
	return s
}

// Call fetches the full snapshot. The header and directory are validated
// (a malformed one counts as a failed attempt: reconnect and one
// re-send); items are validated as they are read. The view borrows the
// client's buffers: valid until the next call or Close.
func (s *Snapshot) Call(ctx context.Context) (*protocol.CgroupsResponseView, error) {
	if err := s.run(ctx, Request{Payload: s.request[:s.n]}, s); err != nil {
		return nil, err
	}
	return &s.view, nil
}

// Check decodes a snapshot response into the client's view.
func (s *Snapshot) Check(_ protocol.Header, payload []byte) error {
	v, err := protocol.DecodeCgroupsResponse(payload)
	s.view = v
	return err
}
