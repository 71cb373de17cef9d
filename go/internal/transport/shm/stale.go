package shm

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/netdata/netipc/go/internal/transport/sys"
)

// Stale region detection (transport-posix.md §B.12, as the Rust core
// does it): a region file is live only while its creator's process
// exists and its generation tag is non-zero.
//
// Every entry is examined without following a link (lstat, then an
// O_NOFOLLOW open whose descriptor must be the same file), and only
// entries of this process's user are ever removed. Region names belong
// to the provider (they derive from the session ids it assigns), so
// anything of this user under such a name that is not a live region is
// junk: a symbolic link there is removed itself, its target untouched.
// The header is read with pread, never mapped, so a file truncated
// meanwhile cannot fault.

type staleVerdict uint8

const (
	// staleGone: nothing there (or it was removed).
	staleGone staleVerdict = iota
	// staleInUse: a live region, or something that could not be judged:
	// keep it.
	staleInUse
	// staleForeign: an entry of another user: never touched.
	staleForeign
)

type staleResult struct {
	verdict staleVerdict
	pid     int32          // the live owner, for staleInUse (0: unknown)
	st      sys.RegionStat // the entry, for staleForeign
}

// removeIfSame removes name only if it is still the entry examined.
func removeIfSame(dir sys.RegionDir, name string, st sys.RegionStat) staleResult {
	now, err := dir.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return staleResult{verdict: staleGone}
	case err != nil || now.Dev != st.Dev || now.Ino != st.Ino:
		return staleResult{verdict: staleInUse}
	}
	err = dir.Remove(name, st.Type == sys.RegionDirectory)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return staleResult{verdict: staleGone}
	}
	return staleResult{verdict: staleInUse}
}

// checkStale applies the stale-region rules to name in dir: junk and
// regions of dead owners are removed; live regions, entries of other
// users and anything that cannot be judged are kept.
func checkStale(dir sys.RegionDir, name string) staleResult {
	st, err := dir.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return staleResult{verdict: staleGone}
	case err != nil:
		return staleResult{verdict: staleInUse}
	case int64(st.UID) != int64(os.Geteuid()):
		return staleResult{verdict: staleForeign, st: st}
	case st.Type != sys.RegionRegular:
		return removeIfSame(dir, name, st)
	}
	fd, err := dir.Open(name, false)
	if errors.Is(err, fs.ErrNotExist) {
		return staleResult{verdict: staleGone}
	}
	if err != nil {
		return staleResult{verdict: staleInUse}
	}
	defer fd.Close()
	fst, err := fd.Stat()
	if err != nil || fst.Dev != st.Dev || fst.Ino != st.Ino {
		// Replaced between the look and the open: judge it next time.
		return staleResult{verdict: staleInUse}
	}
	var head [HeaderLen]byte
	if fst.Size < HeaderLen {
		return removeIfSame(dir, name, st)
	}
	if n, err := fd.ReadAt(head[:], 0); err != nil || n != HeaderLen ||
		binary.NativeEndian.Uint32(head[offMagic:]) != Magic {
		return removeIfSame(dir, name, st)
	}
	pid := int32(binary.NativeEndian.Uint32(head[offOwnerPID:]))
	generation := binary.NativeEndian.Uint32(head[offOwnerGen:])
	if generation != 0 && sys.RegionOwnerAlive(pid) {
		return staleResult{verdict: staleInUse, pid: pid}
	}
	return removeIfSame(dir, name, st)
}

// regionOf reports whether name is exactly "<service>-<16 hex
// digits>.ipcshm", a region of that service (the regions of a service
// whose name merely starts with this one's, such as cgroups and
// cgroups-snapshot, are not this provider's to judge).
func regionOf(service, name string) bool {
	rest, ok := strings.CutPrefix(name, service+"-")
	if !ok {
		return false
	}
	id, ok := strings.CutSuffix(rest, ".ipcshm")
	if !ok || len(id) != 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// CleanupStale removes the stale regions of service in runDir (entries
// named "<service>-<16 hex digits>.ipcshm" whose owner process is gone,
// and junk under such names), once per server start before it listens.
// Live regions and entries of other users are kept and errors are
// ignored. It returns the names of the entries of other users that were
// left alone (the caller may log them).
func CleanupStale(runDir, service string) (foreign []string) {
	dir, err := sys.OpenRegionDir(runDir)
	if err != nil {
		return nil
	}
	defer dir.Close()
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if regionOf(service, e.Name()) && checkStale(dir, e.Name()).verdict == staleForeign {
			foreign = append(foreign, regionPath(runDir, e.Name()))
		}
	}
	return foreign
}
