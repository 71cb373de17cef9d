//go:build linux

package shm

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	netipc "github.com/netdata/netipc/go"
)

// writeRegion writes a region header owned by pid with generation gen.
func writeRegion(t *testing.T, path string, pid int32, gen uint32) {
	t.Helper()
	b := make([]byte, 64+128)
	le := binary.LittleEndian
	le.PutUint32(b[0:], Magic)
	le.PutUint16(b[4:], Version)
	le.PutUint16(b[6:], HeaderLen)
	le.PutUint32(b[8:], uint32(pid))
	le.PutUint32(b[12:], gen)
	le.PutUint32(b[16:], 64)
	le.PutUint32(b[20:], 64)
	le.PutUint32(b[24:], 128)
	le.PutUint32(b[28:], 64)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int32 {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Skip(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return int32(p.Pid)
}

func TestCreateReplacesStaleEntriesAndRefusesLiveRegions(t *testing.T) {
	dir := t.TempDir()
	at := func(id uint64) string { return filepath.Join(dir, regionName(id)) }
	stale := map[string]func(p string){
		"dead owner":      func(p string) { writeRegion(t, p, deadPID(t), 77) },
		"zero generation": func(p string) { writeRegion(t, p, int32(os.Getpid()), 0) },
		"pid 0":           func(p string) { writeRegion(t, p, 0, 77) },
		"short file":      func(p string) { os.WriteFile(p, []byte("short"), 0o600) },
		"bad magic":       func(p string) { os.WriteFile(p, make([]byte, 4096), 0o600) },
		"empty directory": func(p string) { os.Mkdir(p, 0o700) },
		"dangling link":   func(p string) { os.Symlink(filepath.Join(dir, "nowhere"), p) },
	}
	id := uint64(0)
	for name, make := range stale {
		id++
		t.Run(name, func(t *testing.T) {
			make(at(id))
			r, err := Create(dir, regionName(id), 1024, 1024)
			if err != nil {
				t.Fatalf("a stale %s was not replaced: %v", name, err)
			}
			r.Close()
		})
	}
	t.Run("link target untouched", func(t *testing.T) {
		target := filepath.Join(dir, "precious")
		os.WriteFile(target, []byte("keep"), 0o600)
		os.Symlink(target, at(100))
		r, err := Create(dir, regionName(100), 1024, 1024)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if b, err := os.ReadFile(target); err != nil || string(b) != "keep" {
			t.Fatalf("the link's target changed: %q %v", b, err)
		}
	})
	t.Run("live region", func(t *testing.T) {
		live, err := Create(dir, regionName(200), 1024, 1024)
		if err != nil {
			t.Fatal(err)
		}
		defer live.Close()
		_, err = Create(dir, regionName(200), 1024, 1024)
		wantKind(t, err, netipc.ErrAddressInUse, "process")
		// The live region still works.
		client, err := Attach(dir, regionName(200), -1)
		if err != nil {
			t.Fatal(err)
		}
		client.Close()
	})
	t.Run("non-empty directory", func(t *testing.T) {
		os.MkdirAll(filepath.Join(at(300), "x"), 0o700)
		_, err := Create(dir, regionName(300), 1024, 1024)
		wantKind(t, err, netipc.ErrAddressInUse, "")
	})
	if os.Geteuid() == 0 {
		t.Run("entry of another user", func(t *testing.T) {
			writeRegion(t, at(400), deadPID(t), 1)
			os.Lchown(at(400), 4242, 4242)
			_, err := Create(dir, regionName(400), 1024, 1024)
			wantKind(t, err, netipc.ErrRunDir, "uid 4242")
			if _, err := os.Lstat(at(400)); err != nil {
				t.Fatal("the entry of another user was removed")
			}
		})
	}
}

func TestCleanupStaleTouchesOnlyTheServicesRegions(t *testing.T) {
	dir := t.TempDir()
	dead := deadPID(t)
	p := func(name string) string { return filepath.Join(dir, name) }
	writeRegion(t, p("svc-0000000000000001.ipcshm"), dead, 1)
	writeRegion(t, p("svc-00000000000000AB.ipcshm"), dead, 1)
	os.WriteFile(p("svc-0000000000000002.ipcshm"), nil, 0o600)
	live, err := Create(dir, "svc-0000000000000003.ipcshm", 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	// Not this service's: another service whose name starts with ours, a
	// wrong id length, other suffixes.
	keep := []string{"svc-snapshot-0000000000000001.ipcshm", "svc-001.ipcshm", "svc-0000000000000004.sock", "other-0000000000000001.ipcshm", "svc-000000000000000g.ipcshm"}
	for _, k := range keep {
		writeRegion(t, p(k), dead, 1)
	}
	if foreign := CleanupStale(dir, "svc"); len(foreign) != 0 {
		t.Fatalf("foreign: %v", foreign)
	}
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := append([]string{"svc-0000000000000003.ipcshm"}, keep...)
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	if len(CleanupStale(filepath.Join(dir, "missing"), "svc")) != 0 {
		t.Fatal("a missing run directory")
	}
}

func TestRegionOf(t *testing.T) {
	for name, want := range map[string]bool{
		"cgroups-0123456789abcdef.ipcshm":          true,
		"cgroups-0123456789ABCDEF.ipcshm":          true,
		"cgroups-snapshot-0123456789abcdef.ipcshm": false,
		"cgroups-0123456789abcde.ipcshm":           false,
		"cgroups-0123456789abcdef.ipcshmx":         false,
		"cgroups0123456789abcdef.ipcshm":           false,
	} {
		if regionOf("cgroups", name) != want {
			t.Errorf("regionOf(cgroups, %s) != %v", name, want)
		}
	}
}
