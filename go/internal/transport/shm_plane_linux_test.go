package transport

// The Linux side of the shared-memory plane tests (shm_plane_test.go):
// a region is a file in the run directory.

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/netdata/netipc/go/internal/transport/shm"
	"github.com/netdata/netipc/go/protocol"
)

// shmTestExtensions are the netipc extension sets the round-trip tests
// run with (Linux: with and without SHM_WAKE_ON_DEMAND).
var shmTestExtensions = []uint32{0, protocol.ExtSHMWakeOnDemand}

// shmRegionExists reports whether the region of the session with params
// is in dir.
func shmRegionExists(t *testing.T, dir string, params SessionParams) bool {
	t.Helper()
	name, err := SHMRegionFileName(shmTestService, params.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Lstat(filepath.Join(dir, name))
	return err == nil
}

// spoilRegionVersion writes layout version 9 into the region of req.
func spoilRegionVersion(t *testing.T, req ShmRequest) {
	name, _ := SHMRegionFileName(req.Service, req.Params.SessionID)
	f, err := os.OpenFile(filepath.Join(req.RunDir, name), os.O_WRONLY, 0)
	if err != nil {
		t.Error(err)
		return
	}
	f.WriteAt([]byte{9, 0}, 4)
	f.Close()
}

// badVersion reports whether err is an attach failure for the version.
func badVersion(err error) bool {
	var ae *shm.AttachError
	return errors.As(err, &ae) && ae.Reason == shm.AttachBadVersion
}

// osThreadCount is the number of threads of this process.
func osThreadCount(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Skip("no thread count")
	return 0
}
