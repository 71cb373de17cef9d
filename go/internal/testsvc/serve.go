package testsvc

import (
	"sync"
	"time"

	"github.com/netdata/netipc/go/internal/transport"
	"github.com/netdata/netipc/go/protocol"
)

// Provider is a Reference serving on a real endpoint: a goroutine per
// session, as the reference servers have a thread per session.
type Provider struct {
	*Reference
	l       *transport.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	open    map[*transport.ServerSession]struct{}
	stopped bool
}

// Serve binds service under runDir and serves r until Stop.
func Serve(runDir, service string, r *Reference) (*Provider, error) {
	l, err := transport.Listen(runDir, service, transport.ServerOptions{})
	if err != nil {
		return nil, err
	}
	p := &Provider{Reference: r, l: l, open: map[*transport.ServerSession]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *Provider) accept() {
	defer p.wg.Done()
	b := p.Behaviour
	profiles := b.Profiles
	if profiles == 0 {
		profiles = protocol.ProfileBaseline
	}
	for id := uint64(1); ; id++ {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := in.Handshake(id, transport.ServerOffer{
			SupportedProfiles:       profiles,
			PreferredProfiles:       profiles,
			MaxRequestPayloadBytes:  b.RequestMax,
			MaxResponsePayloadBytes: p.ResponseSize(),
		})
		if err != nil {
			continue
		}
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			s.Close()
			return
		}
		p.open[s] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(s)
	}
}

func (p *Provider) serve(s *transport.ServerSession) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.open, s)
		p.mu.Unlock()
		s.Close()
	}()
	out := make([]byte, s.Params().MaxResponsePayloadBytes)
	for {
		m, err := s.Receive(time.Time{})
		if err != nil || m.Header.Kind != protocol.KindRequest {
			return
		}
		h := m.Header
		rep := p.Answer(h.Code, m.Payload, out)
		if !rep.Send {
			return
		}
		rh := protocol.Header{Kind: protocol.KindResponse, Code: h.Code, Status: rep.Status, ItemCount: 1, MessageID: h.MessageID}
		if s.Send(rh, out[:rep.Len]) != nil || rep.End {
			return
		}
	}
}

// Stop removes the endpoint, closes every session and waits for the
// provider's goroutines.
func (p *Provider) Stop() {
	p.l.Close()
	p.mu.Lock()
	p.stopped = true
	for s := range p.open {
		s.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
