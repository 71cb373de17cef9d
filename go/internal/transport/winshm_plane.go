package transport

// The shared-memory data plane of a session on Windows (SHM_HYBRID 0x02,
// SHM_BUSYWAIT 0x04): the hooks of session.go, filled in with package
// winshm; the plane itself is shm_plane.go's. The pipe stays open for the
// whole session and carries nothing more; it only tells whether the peer
// is still there (the close flags in the region tell it sooner).

import (
	"runtime"
	"time"

	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/internal/transport/winshm"
	"github.com/netdata/netipc/go/protocol"
)

// winshmWatcher lets idle server sessions wait for their next request
// without a thread each (see package winshm). It has goroutines only
// while sessions wait through it.
var winshmWatcher *winshm.Watcher

func init() {
	if runtime.GOOS != "windows" {
		return
	}
	// No netipc extension: the Windows region wakes only a waiting peer
	// anyway. Nothing to clean up: kernel objects vanish with their last
	// handle.
	shmProfiles = protocol.ProfileSHMAny
	shmProvision = provisionWinSHM
	shmAttach = attachWinSHM
	winshmWatcher = winshm.NewWatcher()
}

// winshmNames are the kernel object names of the session's region.
func winshmNames(req ShmRequest) (winshm.Names, error) {
	n, err := WindowsSHMNames(req.RunDir, req.Service, req.AuthToken, req.Params.Profile, req.Params.SessionID)
	return winshm.Names{Mapping: n.Mapping, ReqEvent: n.ReqEvent, RespEvent: n.RespEvent}, err
}

// provisionWinSHM creates the objects of an accepted SHM session
// (server), for the selected profile only, as the Rust server does.
func provisionWinSHM(req ShmRequest) (plane, error) {
	names, err := winshmNames(req)
	if err != nil {
		return nil, err
	}
	r, err := winshm.Create(names, req.Params.Profile, req.RequestCapacity, req.ResponseCapacity)
	if err != nil {
		return nil, err
	}
	// Idle server sessions wait through the watcher; the hang-up
	// goroutine (started with the first receive, when the session's
	// connection is known) closes gone.
	gone := make(chan struct{})
	r.SetWatcher(winshmWatcher, gone)
	return &shmPlane{region: r, server: true, gone: gone}, nil
}

// attachWinSHM opens the objects of the session (client), retrying
// transient failures as the Rust client does.
func attachWinSHM(req ShmRequest, conn *sys.Conn, deadline time.Time) (plane, error) {
	names, err := winshmNames(req)
	if err != nil {
		return nil, err
	}
	return attachRetrying(conn, deadline, shm.AttachTransient, func() (shmRegion, error) {
		return winshm.Attach(names, req.Params.Profile)
	})
}
