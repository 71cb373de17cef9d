package protocol_test

import (
	"errors"
	"testing"

	"github.com/netdata/netipc/go/protocol"
)

// expectKind fails unless err is a *protocol.CodecError of kind k.
func expectKind(t *testing.T, what string, err error, k protocol.CodecErrorKind) {
	t.Helper()
	var ce *protocol.CodecError
	if !errors.As(err, &ce) || ce.Kind != k {
		t.Errorf("%s: error %v, want %s", what, err, k)
	}
}

// noErr fails the test on err.
func noErr(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// noAllocs fails unless f allocates nothing.
func noAllocs(t *testing.T, what string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(100, f); n != 0 {
		t.Errorf("%s: %v allocations per run, want 0", what, n)
	}
}

// readAfterChanges sets every byte of p in turn to a few values and calls
// read each time: the reads of a view decoded from p must not panic
// whatever happens to p afterwards.
func readAfterChanges(p []byte, read func()) {
	for i := range p {
		saved := p[i]
		for _, x := range []byte{0xff, 0x80, 0x7f, 0x01, 0} {
			p[i] = x
			read()
		}
		p[i] = saved
	}
}

func TestDispatchErrorStatus(t *testing.T) {
	overflow := &protocol.CodecError{Kind: protocol.Overflow}
	layout := &protocol.CodecError{Kind: protocol.BadLayout}
	cases := []struct {
		err  *protocol.DispatchError
		want protocol.Status
	}{
		{&protocol.DispatchError{Stage: protocol.DispatchBadRequest, Err: layout}, protocol.StatusBadEnvelope},
		{&protocol.DispatchError{Stage: protocol.DispatchBuilder, Err: layout}, protocol.StatusBadEnvelope},
		{&protocol.DispatchError{Stage: protocol.DispatchBuilder, Err: overflow}, protocol.StatusLimitExceeded},
		{&protocol.DispatchError{Stage: protocol.DispatchHandlerFailed}, protocol.StatusInternalError},
	}
	for _, c := range cases {
		if got := c.err.Status(); got != c.want {
			t.Errorf("%v: status %v, want %v", c.err, got, c.want)
		}
	}
	if !errors.Is(cases[2].err, protocol.Overflow) || errors.Is(cases[1].err, protocol.Overflow) {
		t.Error("errors.Is does not see the codec error kind through a DispatchError")
	}
}
