package transport

// The Windows side of the shared-memory plane tests (shm_plane_test.go):
// a region is a named file mapping (and two events for SHM_HYBRID) whose
// names include the auth token.

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/internal/transport/sys"
	"github.com/netdata/netipc/go/internal/transport/winshm"
	"github.com/netdata/netipc/go/protocol"
)

// shmTestExtensions are the netipc extension sets the round-trip tests
// run with (Windows offers none).
var shmTestExtensions = []uint32{0}

// shmRegionExists reports whether the mapping of the session with params
// (auth token 0) can be opened.
func shmRegionExists(t *testing.T, dir string, params SessionParams) bool {
	t.Helper()
	if !params.IsSHM() {
		params.Profile = protocol.ProfileSHMHybrid
	}
	names, err := WindowsSHMNames(CanonicalWindowsRunDir(dir), shmTestService, 0, params.Profile, params.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sys.OpenWinMapping(names.Mapping)
	if err != nil {
		return false
	}
	m.Close()
	return true
}

// spoilRegionVersion writes layout version 9 into the region of req
// (through a second view of its mapping).
func spoilRegionVersion(t *testing.T, req ShmRequest) {
	names, _ := winshmNames(req)
	m, err := sys.OpenWinMapping(names.Mapping)
	if err != nil {
		t.Error(err)
		return
	}
	m.Mem[4] = 9
	m.Close()
}

// badVersion reports whether err is an attach failure for the version.
func badVersion(err error) bool {
	var ae *shm.AttachError
	return errors.As(err, &ae) && ae.Reason == shm.AttachBadVersion
}

var (
	procThread32First = syscall.NewLazyDLL("kernel32.dll").NewProc("Thread32First")
	procThread32Next  = syscall.NewLazyDLL("kernel32.dll").NewProc("Thread32Next")
)

// osThreadCount is the number of threads of this process (a toolhelp
// snapshot).
func osThreadCount(t *testing.T) int {
	t.Helper()
	snap, err := syscall.CreateToolhelp32Snapshot(4 /* TH32CS_SNAPTHREAD */, 0)
	if err != nil {
		t.Skip(err)
	}
	defer syscall.CloseHandle(snap)
	var e struct{ Size, Usage, ThreadID, OwnerPID, BasePri, DeltaPri, Flags uint32 }
	e.Size = uint32(unsafe.Sizeof(e))
	n, pid := 0, uint32(os.Getpid())
	for r, _, _ := procThread32First.Call(uintptr(snap), uintptr(unsafe.Pointer(&e))); r != 0; r, _, _ = procThread32Next.Call(uintptr(snap), uintptr(unsafe.Pointer(&e))) {
		if e.OwnerPID == pid {
			n++
		}
	}
	return n
}

// TestWinSHMObjectNames: both sides name the session's objects with the
// canonical run directory, the service, the auth token, the profile and
// the session id; a baseline session has none.
func TestWinSHMObjectNames(t *testing.T) {
	for _, profile := range shmTestProfiles {
		t.Run(profile.String(), func(t *testing.T) {
			const token = 0xfeedface
			both := protocol.ProfileBaseline | profile
			srv := startSHMServer(t, ServerOffer{SupportedProfiles: both, PreferredProfiles: profile, AuthToken: token}, echoSessions)
			c, err := Connect(srv.dir, shmTestService, ClientOptions{SupportedProfiles: both, PreferredProfiles: profile, AuthToken: token}, time.Now().Add(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			shmCall(t, c, 1, []byte("named"))
			names, _ := WindowsSHMNames(CanonicalWindowsRunDir(srv.dir), shmTestService, token, profile, c.Params().SessionID)
			p, _ := c.s.plane.(*shmPlane)
			r, _ := p.region.(*winshm.Region)
			if r == nil || r.Name() != names.Mapping || r.Profile() != profile {
				t.Fatalf("the client's plane is not the region %s", names.Mapping)
			}
			srv.mu.Lock()
			sp, _ := srv.sessions[0].s.plane.(*shmPlane)
			srv.mu.Unlock()
			if sr, _ := sp.region.(*winshm.Region); sr == nil || sr.Name() != names.Mapping {
				t.Fatalf("the server's plane is not the region %s", names.Mapping)
			}
			if (profile == protocol.ProfileSHMHybrid) != (names.ReqEvent != "") {
				t.Fatalf("events %+v for %s", names, profile)
			}
			if shmRegionExists(t, srv.dir, c.Params()) {
				t.Fatal("a mapping named with token 0 exists")
			}
		})
	}
}
