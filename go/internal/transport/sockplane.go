package transport

import (
	"sync"
	"time"

	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// sockPlane is the baseline data plane: every message goes over the
// connection, split into packets of the agreed size (chunks) when it is
// larger. It allocates nothing per message once the Reassembler's buffer
// has grown to the largest message received.
type sockPlane struct {
	conn       *sys.Conn
	packetSize uint32
	// flightMu guards the client's in-flight ids, which the Reassembler
	// updates while a Send may add one (nil on a server).
	flightMu *sync.Mutex
	prefix   [protocol.HeaderLen]byte
	// stall, when set (servers: the send timeout), bounds the time the
	// rest of a message may take once its first packet arrived: a peer
	// that stops half way fails the receive with ErrTimeout.
	stall time.Duration
}

func newSockPlane(conn *sys.Conn, packetSize uint32, flightMu *sync.Mutex, client bool) *sockPlane {
	p := &sockPlane{conn: conn, packetSize: packetSize}
	if client {
		p.flightMu = flightMu
	}
	return p
}

func (p *sockPlane) send(h protocol.Header, payload []byte, w *waiter) error {
	packets := NewPackets(h, payload, p.packetSize)
	for {
		body, ok := packets.Next(&p.prefix)
		if !ok {
			return nil
		}
		for {
			err := p.conn.SendPacket(p.prefix[:], body, w.deadline)
			if err == nil {
				break
			}
			if err != sys.ErrWait {
				return err
			}
			if err := w.ended(); err != nil {
				return err
			}
		}
		w.sent = true
	}
}

func (p *sockPlane) receive(w *waiter, in *Reassembler) (Message, error) {
	for {
		n, err := p.conn.RecvPacket(in.Buffer(), w.deadline)
		if err != nil {
			if err != sys.ErrWait {
				return Message{}, err
			}
			// Nothing was received: a message in progress resumes with the
			// next call.
			if err := w.ended(); err != nil {
				return Message{}, err
			}
			continue
		}
		if p.flightMu != nil {
			p.flightMu.Lock()
		}
		done, err := in.Packet(n)
		if p.flightMu != nil {
			p.flightMu.Unlock()
		}
		if err != nil {
			return Message{}, err
		}
		if done {
			return in.Message(), nil
		}
		if p.stall > 0 && in.Partial() {
			p.stallFrom(w)
		}
	}
}

// stallFrom brings the receive's deadline forward to the stall limit of
// a message whose first packet arrived now (once per message).
func (p *sockPlane) stallFrom(w *waiter) {
	now := time.Now()
	limit := now.Add(p.stall)
	if w.deadline.IsZero() || limit.Before(w.deadline) {
		w.deadline, w.start = limit, now
	}
}

func (p *sockPlane) abort(on bool) { p.conn.Abort(on) }

func (p *sockPlane) close() error { return nil }
