//go:build linux

package shm

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
)

// Region files truncated under live mappings: every side finds out with
// ErrSHM instead of dying of SIGBUS (a SIGBUS here would kill the test
// binary).

func lostKind(t *testing.T, err error, path string) {
	t.Helper()
	wantKind(t, err, netipc.ErrSHM, path)
}

func TestARegionTruncatedToZeroEndsTheSessionOnBothSides(t *testing.T) {
	dir := t.TempDir()
	server, client := pair(t, dir, 1, 1024, 64*1024)
	path := filepath.Join(dir, regionName(1))
	if err := client.Publish([]byte("first"), nil); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, server.RecvCapacity())
	if n, err := server.Receive(buf, soon(), nil); err != nil || n != 5 {
		t.Fatalf("%d %v", n, err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	lostKind(t, server.Publish([]byte("answer"), nil), path)
	_, err := server.Receive(buf, time.Now(), nil)
	lostKind(t, err, path)
	cbuf := make([]byte, client.RecvCapacity())
	_, err = client.Receive(cbuf, soon(), nil)
	lostKind(t, err, path)
	lostKind(t, client.Publish([]byte("again"), nil), path)
	// Interrupt and Close of a lost region are harmless.
	client.Interrupt()
	client.Close()
	server.Close()
}

func TestARegionCutPastItsHeaderIsLostWhereItIsTouched(t *testing.T) {
	dir := t.TempDir()
	server, client := pair(t, dir, 1, 1024, 64*1024)
	path := filepath.Join(dir, regionName(1))
	if err := os.Truncate(path, HeaderLen+8); err != nil {
		t.Fatal(err)
	}
	// The request area starts in the header's page, which is still there:
	// a short request goes through.
	if err := client.Publish([]byte("request"), nil); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, server.RecvCapacity())
	if n, err := server.Receive(buf, soon(), nil); err != nil || n != 7 {
		t.Fatalf("%d %v", n, err)
	}
	// The response area's pages are gone.
	lostKind(t, server.Publish(make([]byte, 32), make([]byte, 60000)), path)
	_, err := client.Receive(make([]byte, client.RecvCapacity()), time.Now().Add(2*time.Second), nil)
	lostKind(t, err, path)
}

func TestATruncatedAndRegrownRegionIsRecognised(t *testing.T) {
	dir := t.TempDir()
	server, client := pair(t, dir, 1, 1024, 1024)
	path := filepath.Join(dir, regionName(1))
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()); err != nil {
		t.Fatal(err)
	}
	lostKind(t, client.Publish([]byte("x"), nil), path)
	_, err := server.Receive(make([]byte, 2048), soon(), nil)
	lostKind(t, err, path)
}

func TestATruncateEndsABlockedWait(t *testing.T) {
	watchModes(t, func(t *testing.T, setup func(*Region)) {
		for _, ext := range []uint32{0, ExtWakeOnDemand} {
			dir := t.TempDir()
			server, client := pair(t, dir, 1, 1024, 64*1024)
			server.SetExtensions(ext)
			client.SetExtensions(ext)
			setup(server)
			path := filepath.Join(dir, regionName(1))
			// A watched wait probes the region when it asks whether the
			// peer is alive (every 100 ms without a hang-up channel); a
			// truncate alone does not wake the group.
			alive := func() bool { return true }
			got := blocked(server, alive)
			got2 := blocked(client, alive)
			time.Sleep(20 * time.Millisecond)
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			lostKind(t, waitErr(t, got, 3*time.Second), path)
			lostKind(t, waitErr(t, got2, 3*time.Second), path)
		}
	})
}

func TestCreateSurvivesATruncatedHeader(t *testing.T) {
	// Attach of a region whose file is cut below its areas after the
	// size was read: the areas' pages fault while validating or probing.
	dir := t.TempDir()
	server, err := Create(dir, regionName(1), 1024, 64*1024)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	path := filepath.Join(dir, regionName(1))
	if err := os.Truncate(path, 64*1024); err != nil {
		t.Fatal(err)
	}
	// The header says the areas end past the file: refused by size.
	_, err = Attach(dir, regionName(1), -1)
	wantKind(t, err, netipc.ErrSHM, "")
}
