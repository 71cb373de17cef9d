package winshm

import (
	"errors"
	"github.com/netdata/netipc/go/internal/transport/shm"
	"io/fs"

	netipc "github.com/netdata/netipc/go"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/protocol"
)

// Names are the kernel object names of one session's region
// (transport.WindowsSHMNames): the mapping, and for SHM_HYBRID the
// request and response events.
type Names struct {
	Mapping, ReqEvent, RespEvent string
}

// checkProfile accepts the two Windows SHM profiles.
func checkProfile(profile protocol.Profile) error {
	if profile != protocol.ProfileSHMHybrid && profile != protocol.ProfileSHMAlt {
		return netipc.Errorf(netipc.ErrInvalidArgument,
			"profile %s has no Windows shared-memory objects (only shm-hybrid 0x2 and shm-alt 0x4, the busy-wait profile, do)", profile)
	}
	return nil
}

// createError is the error of a failed object creation: an object of
// that name that exists already is ErrAddressInUse.
func createError(err error, what, name string) error {
	if errors.Is(err, fs.ErrExist) {
		return netipc.Wrap(netipc.ErrAddressInUse, err,
			"the shared memory %s %s exists already (another provider serves this session id): stop that provider or use another service name", what, name)
	}
	return netipc.Wrap(netipc.ErrSHM, err, "cannot create the shared memory %s %s", what, name)
}

// Create creates the objects of one session's region for profile (server
// side, transport-windows.md §B.6): a page-file-backed mapping sized for
// request payloads up to maxRequest and response payloads up to
// maxResponse bytes, its header written, then (SHM_HYBRID) the two
// auto-reset events; all owner-only. An object of one of these names
// that exists already is ErrAddressInUse. Close marks the server's side
// closed and releases the objects.
func Create(names Names, profile protocol.Profile, maxRequest, maxResponse uint32) (*Region, error) {
	if err := checkProfile(profile); err != nil {
		return nil, err
	}
	l, ok := LayoutFor(profile, maxRequest, maxResponse)
	if !ok {
		return nil, netipc.Errorf(netipc.ErrInvalidArgument,
			"the shared memory region %s cannot hold requests of %d and responses of %d payload bytes (it must fit 4 GiB): lower the payload limits",
			names.Mapping, maxRequest, maxResponse)
	}
	m, err := sys.CreateWinMapping(names.Mapping, uint32(l.Size()))
	if err != nil {
		return nil, createError(err, "mapping", names.Mapping)
	}
	Format(m.Mem, l)
	o := Objects{Name: names.Mapping, Mem: m.Mem}
	var req, resp sys.WinEvent
	release := func() {
		m.Close()
		req.Close()
		resp.Close()
	}
	if profile == protocol.ProfileSHMHybrid {
		if req, err = sys.CreateWinEvent(names.ReqEvent); err != nil {
			release()
			return nil, createError(err, "event", names.ReqEvent)
		}
		if resp, err = sys.CreateWinEvent(names.RespEvent); err != nil {
			release()
			return nil, createError(err, "event", names.RespEvent)
		}
		o.ReqEvent, o.RespEvent = req, resp
	}
	o.Release = release
	return New(o, l, true), nil
}

// Attach opens the objects of one session's region for the selected
// profile (client side, transport-windows.md §B.7): the mapping, whose
// header must describe profile and fit the view, then (SHM_HYBRID) the
// two events. Errors are ErrSHM with an *shm.AttachError cause
// (shm.AttachTransient tells whether to retry); ErrInvalidArgument for a
// profile without objects. Close marks the client's side closed and
// releases the handles.
func Attach(names Names, profile protocol.Profile) (*Region, error) {
	if err := checkProfile(profile); err != nil {
		return nil, err
	}
	m, err := sys.OpenWinMapping(names.Mapping)
	if err != nil {
		return nil, attachError(names.Mapping, &shm.AttachError{Reason: shm.AttachOpen, Detail: "the mapping", Err: err})
	}
	l, ae := validate(m.Mem, profile)
	if ae != nil {
		m.Close()
		return nil, attachError(names.Mapping, ae)
	}
	o := Objects{Name: names.Mapping, Mem: m.Mem}
	var req, resp sys.WinEvent
	release := func() {
		m.Close()
		req.Close()
		resp.Close()
	}
	if profile == protocol.ProfileSHMHybrid {
		if req, err = sys.OpenWinEvent(names.ReqEvent); err == nil {
			resp, err = sys.OpenWinEvent(names.RespEvent)
		}
		if err != nil {
			release()
			return nil, attachError(names.Mapping, &shm.AttachError{Reason: shm.AttachOpen, Detail: "an event", Err: err})
		}
		o.ReqEvent, o.RespEvent = req, resp
	}
	o.Release = release
	return New(o, l, false), nil
}
