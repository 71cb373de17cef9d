package client

import (
	"context"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/protocol"
)

// The clients of the test and benchmark services (INCREMENT and
// STRING_REVERSE), for netipc's own interop tests and benchmarks. They
// have the lifecycle of every client (see Core).

// batch encodes n items into buf as one batch payload; item i is
// written by put into the space it is given and is size(i) bytes long.
func batch(buf []byte, n int, size func(i int) int, put func(i int, dst []byte) (int, error)) ([]byte, error) {
	total := n * protocol.DirEntryLen
	for i := 0; i < n; i++ {
		total = align8(total) + size(i)
	}
	buf = grown(buf, align8(total))
	b, err := protocol.NewBatchBuilder(buf, uint32(n))
	if err != nil {
		return buf, err
	}
	for i := 0; i < n; i++ {
		space, err := b.Space()
		if err != nil {
			return buf, err
		}
		m, err := put(i, space)
		if err != nil {
			return buf, err
		}
		if err := b.Commit(m); err != nil {
			return buf, err
		}
	}
	m, err := b.Finish()
	return buf[:m], err
}

// batchCheck checks that every item of a batch response decodes.
func batchCheck(h protocol.Header, payload []byte, item func([]byte) error) (protocol.BatchView, error) {
	v, err := protocol.NewBatchView(payload, h.ItemCount)
	if err != nil {
		return v, err
	}
	for i := 0; i < v.Len(); i++ {
		raw, err := v.Item(i)
		if err == nil {
			err = item(raw)
		}
		if err != nil {
			return v, err
		}
	}
	return v, nil
}

// Increment is an INCREMENT client: a u64 in, a u64 out.
type Increment struct {
	*Core
	request [protocol.IncrementPayloadLen]byte
	buf     []byte
	batched bool
	value   uint64
	answers protocol.BatchView
}

// NewIncrement returns a disconnected INCREMENT client. No I/O.
func NewIncrement(runDir, service string, cfg netipc.ClientConfig) *Increment {
	return &Increment{Core: New(runDir, service, protocol.MethodIncrement, cfg)}
}

// Call sends value and returns the provider's answer.
func (c *Increment) Call(ctx context.Context, value uint64) (uint64, error) {
	n, _ := protocol.EncodeIncrement(c.request[:], value)
	c.batched = false
	if err := c.run(ctx, Request{Payload: c.request[:n]}, c); err != nil {
		return 0, err
	}
	return c.value, nil
}

// CallBatch sends values as one batch message and appends the answers, in
// order, to out[:0]. No I/O for no values; one value travels as a plain
// call. A batch needs ClientConfig.MaxRequestBatchItems of at least
// len(values).
func (c *Increment) CallBatch(ctx context.Context, values, out []uint64) ([]uint64, error) {
	out = out[:0]
	switch len(values) {
	case 0:
		return out, nil
	case 1:
		v, err := c.Call(ctx, values[0])
		if err != nil {
			return out, err
		}
		return append(out, v), nil
	}
	req, err := batch(c.buf, len(values),
		func(int) int { return protocol.IncrementPayloadLen },
		func(i int, dst []byte) (int, error) { return protocol.EncodeIncrement(dst, values[i]) })
	c.buf = req
	if err != nil {
		return out, netipc.Wrap(netipc.ErrCodec, err, "the batch cannot be encoded")
	}
	c.batched = true
	if err := c.run(ctx, Request{Payload: req, Items: uint32(len(values))}, c); err != nil {
		return out, err
	}
	for i := 0; i < c.answers.Len(); i++ {
		raw, _ := c.answers.Item(i)
		v, _ := protocol.DecodeIncrement(raw)
		out = append(out, v)
	}
	return out, nil
}

func decodeIncrementItem(item []byte) error {
	_, err := protocol.DecodeIncrement(item)
	return err
}

// Check decodes an INCREMENT response (or checks a batch of them).
func (c *Increment) Check(h protocol.Header, payload []byte) (err error) {
	if c.batched {
		c.answers, err = batchCheck(h, payload, decodeIncrementItem)
		return err
	}
	c.value, err = protocol.DecodeIncrement(payload)
	return err
}

// StringReverse is a STRING_REVERSE client: a string in, a string out.
type StringReverse struct {
	*Core
	buf     []byte
	batched bool
	answer  []byte
	answers protocol.BatchView
}

// NewStringReverse returns a disconnected STRING_REVERSE client. No I/O.
func NewStringReverse(runDir, service string, cfg netipc.ClientConfig) *StringReverse {
	return &StringReverse{Core: New(runDir, service, protocol.MethodStringReverse, cfg)}
}

// Call sends text and returns the answer, which borrows the client's
// buffers: valid until the next call or Close.
func (c *StringReverse) Call(ctx context.Context, text []byte) ([]byte, error) {
	c.buf = grown(c.buf, protocol.StringReverseLen(len(text)))
	n, err := protocol.EncodeStringReverse(c.buf, text)
	if err != nil {
		return nil, netipc.Wrap(netipc.ErrCodec, err, "the string cannot be encoded")
	}
	c.batched = false
	if err := c.run(ctx, Request{Payload: c.buf[:n]}, c); err != nil {
		return nil, err
	}
	return c.answer, nil
}

// StringBatch is the answer of a STRING_REVERSE batch, borrowing the
// client's buffers: valid until the next call or Close.
type StringBatch struct {
	v protocol.BatchView
}

// Len returns the number of answers.
func (b StringBatch) Len() int { return b.v.Len() }

// Get returns answer i (validated when the response arrived).
func (b StringBatch) Get(i int) []byte {
	raw, err := b.v.Item(i)
	if err != nil {
		return nil
	}
	s, _ := protocol.DecodeStringReverse(raw)
	return s
}

// CallBatch sends texts as one batch message (even a single one; no I/O
// for none); the answers come back in order. A batch needs
// ClientConfig.MaxRequestBatchItems of at least len(texts).
func (c *StringReverse) CallBatch(ctx context.Context, texts [][]byte) (StringBatch, error) {
	if len(texts) == 0 {
		return StringBatch{}, nil
	}
	req, err := batch(c.buf, len(texts),
		func(i int) int { return protocol.StringReverseLen(len(texts[i])) },
		func(i int, dst []byte) (int, error) { return protocol.EncodeStringReverse(dst, texts[i]) })
	c.buf = req
	if err != nil {
		return StringBatch{}, netipc.Wrap(netipc.ErrCodec, err, "the batch cannot be encoded")
	}
	c.batched = true
	if err := c.run(ctx, Request{Payload: req, Items: uint32(len(texts))}, c); err != nil {
		return StringBatch{}, err
	}
	return StringBatch{c.answers}, nil
}

func decodeStringItem(item []byte) error {
	_, err := protocol.DecodeStringReverse(item)
	return err
}

// Check decodes a STRING_REVERSE response (or checks a batch of them).
func (c *StringReverse) Check(h protocol.Header, payload []byte) (err error) {
	if c.batched {
		c.answers, err = batchCheck(h, payload, decodeStringItem)
		return err
	}
	c.answer, err = protocol.DecodeStringReverse(payload)
	return err
}
