package sys

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	netipc "github.com/netdata/netipc/go"
)

func runDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// endpoint is the socket path of service in dir.
func endpoint(dir, service string) string { return filepath.Join(dir, service+".sock") }

// checkCred checks what SO_PEERCRED reports about this process.
func checkCred(t *testing.T, cr Cred) {
	t.Helper()
	if !cr.Known || cr.PID != int32(os.Getpid()) || cr.UID != uint32(os.Geteuid()) || cr.GID != uint32(os.Getegid()) {
		t.Fatalf("cred %+v", cr)
	}
}

// endpointGone fails unless the socket file is gone.
func endpointGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket still there: %v", err)
	}
}

func TestSocketModeOwnerOnlyAndNoLeftovers(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := runDir(t)
	l := listen(t, dir, "svc")
	var st syscall.Stat_t
	if err := syscall.Lstat(l.Path(), &st); err != nil {
		t.Fatal(err)
	}
	if !isType(&st, syscall.S_IFSOCK) || permBits(&st) != 0o600 {
		t.Fatalf("socket file: type %s mode %04o, want socket 0600", kindOf(&st), permBits(&st))
	}
	if _, err := os.Lstat(filepath.Join(dir, "svc.bind")); !os.IsNotExist(err) {
		t.Fatalf("temporary name left behind: %v", err)
	}
	lock, err := os.ReadFile(filepath.Join(dir, "svc.lock"))
	if err != nil || string(lock) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("lock file: %q, %v", lock, err)
	}
	l.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("Close left %v", entries)
	}
}

func TestAddressInUseNamesThePid(t *testing.T) {
	dir := runDir(t)
	l := listen(t, dir, "svc")
	_, err := Listen(dir, "svc", l.Path(), 0)
	if kindOfErr(err) != netipc.ErrAddressInUse || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second Listen: %v", err)
	}
	// The first listener still works.
	if _, err := os.Lstat(l.Path()); err != nil {
		t.Fatalf("live endpoint removed: %v", err)
	}
}

func TestLiveForeignListenerWithoutLockIsKept(t *testing.T) {
	dir := runDir(t)
	path := filepath.Join(dir, "svc.sock")
	// A reference provider takes no lock: a plain listening socket.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 4); err != nil {
		t.Fatal(err)
	}
	_, err = Listen(dir, "svc", path, 0)
	if kindOfErr(err) != netipc.ErrAddressInUse || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("Listen over a live socket: %v", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("live socket removed: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "svc.lock")); !os.IsNotExist(err) {
		t.Fatalf("failed Listen left its lock file: %v", err)
	}
}

func TestStaleEndpointsAreRecovered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, path string)
	}{
		{"dead socket", func(t *testing.T, path string) {
			fd, _ := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_SEQPACKET, 0)
			if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
				t.Fatal(err)
			}
			syscall.Close(fd) // bound, never listening: refuses connections
		}},
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := runDir(t)
			path := filepath.Join(dir, "svc.sock")
			tc.plant(t, path)
			l := listen(t, dir, "svc")
			c, err := Connect(dir, l.Path(), time.Now().Add(2*time.Second))
			if err != nil {
				t.Fatalf("connect after recovery: %v", err)
			}
			c.Close()
		})
	}
}

func TestForeignEntriesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir, path string)
		want  string
	}{
		{"symlink", func(t *testing.T, dir, path string) {
			if err := os.Symlink(filepath.Join(dir, "elsewhere"), path); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"non-empty directory", func(t *testing.T, dir, path string) {
			if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, "non-empty directory"},
		{"file of another user", func(t *testing.T, dir, path string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to chown")
			}
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Lchown(path, 12345, 12345); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 12345"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := runDir(t)
			path := filepath.Join(dir, "svc.sock")
			tc.plant(t, dir, path)
			_, err := Listen(dir, "svc", path, 0)
			if kindOfErr(err) != netipc.ErrRunDir || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Listen: %v (want ErrRunDir naming %s and %q)", err, path, tc.want)
			}
			if _, err := os.Lstat(path); err != nil {
				t.Fatalf("foreign entry removed: %v", err)
			}
		})
	}
}

func TestUnsafeRunDirsAreRefused(t *testing.T) {
	base := runDir(t)
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	world := mk("world", 0o777)
	sticky := mk("sticky", 0o1777)
	group := mk("group", 0o770)
	for _, tc := range []struct {
		dir  string
		kind netipc.Kind
		want string
	}{
		{world, netipc.ErrRunDir, "writable by every user"},
		{sticky, netipc.ErrRunDir, "writable by every user"},
		{filepath.Join(base, "missing"), netipc.ErrNotFound, "does not exist"},
		{"", netipc.ErrInvalidArgument, "empty string"},
	} {
		_, err := Listen(tc.dir, "svc", tc.dir+"/svc.sock", 0)
		if kindOfErr(err) != tc.kind || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Listen in %q: %v (want %v %q)", tc.dir, err, tc.kind, tc.want)
		}
	}
	// Group-writable: a layout for providers of several users; Listen
	// accepts it, PrepareRunDir only when asked to.
	l, err := Listen(group, "svc", group+"/svc.sock", 0)
	if err != nil {
		t.Fatalf("Listen in a group-writable directory: %v", err)
	}
	l.Close()
	if _, err := PrepareRunDir(group, false, false); kindOfErr(err) != netipc.ErrRunDir || !strings.Contains(err.Error(), "writable by its group") {
		t.Fatalf("PrepareRunDir(group-writable): %v", err)
	}
	if _, err := PrepareRunDir(group, false, true); err != nil {
		t.Fatalf("PrepareRunDir(group-writable, allowed): %v", err)
	}
	if os.Geteuid() == 0 {
		foreignDir := mk("foreign", 0o700)
		if err := os.Chown(foreignDir, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		_, err := Listen(foreignDir, "svc", foreignDir+"/svc.sock", 0)
		if kindOfErr(err) != netipc.ErrRunDir || !strings.Contains(err.Error(), "belongs to uid 12345") {
			t.Fatalf("Listen in another user's directory: %v", err)
		}
	}
}

func TestPrepareRunDir(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	base := runDir(t)
	p := filepath.Join(base, "run")
	created, err := PrepareRunDir(p, true, false)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if created, err := PrepareRunDir(p, true, false); err != nil || created {
		t.Fatalf("existing: %v %v", created, err)
	}
	if _, err := PrepareRunDir(filepath.Join(base, "no", "such"), true, false); kindOfErr(err) != netipc.ErrNotFound || !strings.Contains(err.Error(), "parent") {
		t.Fatalf("missing parent: %v", err)
	}
	link := filepath.Join(base, "link")
	os.Symlink(p, link)
	if _, err := PrepareRunDir(link, true, false); kindOfErr(err) != netipc.ErrRunDir || !strings.Contains(err.Error(), "symbolic link (to "+p) {
		t.Fatalf("symlink: %v", err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := PrepareRunDir(file, false, false); kindOfErr(err) != netipc.ErrRunDir || !strings.Contains(err.Error(), "regular file, not a directory") {
		t.Fatalf("file: %v", err)
	}
	if d := DefaultRunDir(); d == "" {
		t.Fatal("empty default run dir")
	}
}

// The descriptor Listen gives to net.FileListener must be closed at once,
// never by a finalizer: that would later close whatever descriptor reuses
// its number (a live connection).
func TestListenLeavesNoDescriptorForAFinalizer(t *testing.T) {
	dir := runDir(t)
	l := listen(t, dir, "svc")
	_ = l
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	for range 3 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	for _, fd := range p {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			t.Fatalf("descriptor %d was closed behind our back: %v", fd, err)
		}
	}
}

// The fallback where a file system has no hard links.
func TestRenameNoReplace(t *testing.T) {
	base := runDir(t)
	dir, err := openDir(atFDCWD, base, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(dir)
	for _, n := range []string{"a", "c"} {
		os.WriteFile(filepath.Join(base, n), []byte(n), 0o600)
	}
	if err := renameNoReplace(dir, "a", "b"); err != nil {
		t.Fatalf("rename a b: %v", err)
	}
	if err := renameNoReplace(dir, "c", "b"); err != syscall.EEXIST {
		t.Fatalf("rename c over b: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "b")); string(b) != "a" {
		t.Fatalf("b holds %q", b)
	}
}
