package winshm

import (
	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/shm"
)

// The errors of the data path that carry no details are package shm's
// (shm.ErrClosed, shm.ErrAborted, shm.ErrTimeout, shm.ErrDisconnected),
// allocated once, so that the transport treats both shared-memory
// backends alike and a timed-out wait allocates nothing. A message
// longer than the receive buffer is an ErrProtocol error with a
// *shm.TooLargeError cause, as on Linux. Attach failures have an
// *shm.AttachError cause, as on Linux (shm.AttachTransient tells whether to
// retry).

var (
	errBusy = netipc.Errorf(netipc.ErrBusy,
		"a request is already in flight on this shared-memory session: receive its response first (one message in flight per direction)")
	errNoRequest = netipc.Errorf(netipc.ErrInvalidArgument,
		"no request to answer on this shared-memory session: a server publishes exactly one response per request it received")
)

// attachError wraps the cause of a failed attach of the mapping name in
// the ErrSHM error Attach returns.
func attachError(name string, ae *shm.AttachError) error {
	return netipc.Wrap(netipc.ErrSHM, ae,
		"shared memory unavailable for this session (mapping %s; reconnect without the shared-memory profiles)", name)
}
