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
	// stall (server: the send timeout) bounds how long the rest of a
	// message may take once its first packet arrived; stallAt is that
	// moment for the message in progress (zero: none).
	stall   time.Duration
	stallAt time.Time
}

func newSockPlane(conn *sys.Conn, packetSize uint32, flightMu *sync.Mutex, client bool, stall time.Duration) *sockPlane {
	p := &sockPlane{conn: conn, packetSize: packetSize, stall: stall}
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
		deadline := w.deadline
		if !p.stallAt.IsZero() && (deadline.IsZero() || p.stallAt.Before(deadline)) {
			deadline = p.stallAt
		}
		n, err := p.conn.RecvPacket(in.Buffer(), deadline)
		if err != nil {
			if err != sys.ErrWait {
				return Message{}, err
			}
			ended := w.ended()
			if ended == sys.ErrClosed || ended == errAborted {
				return Message{}, ended
			}
			if !p.stallAt.IsZero() && !time.Now().Before(p.stallAt) {
				return Message{}, errStalled
			}
			// Nothing was received: a message in progress resumes with the
			// next call.
			if ended != nil {
				return Message{}, ended
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
			p.stallAt = time.Time{}
			return in.Message(), nil
		}
		if p.stall > 0 && p.stallAt.IsZero() {
			p.stallAt = time.Now().Add(p.stall)
		}
	}
}

func (p *sockPlane) abort(on bool) { p.conn.Abort(on) }

func (p *sockPlane) close() error { return nil }
