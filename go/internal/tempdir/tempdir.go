// Package tempdir gives tests a private directory that is removed when
// the test ends, also under wine: there os.RemoveAll (and with it
// testing.T.TempDir's cleanup) fails ("Invalid function") because wine
// lacks the NT call it uses, while os.Remove of each entry works.
package tempdir

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// New returns a fresh directory (mode 0700 where modes apply) that is
// removed, with everything in it, when t ends.
func New(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "netipc-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Remove(dir); err != nil {
			t.Errorf("removing the test directory: %v", err)
		}
	})
	return dir
}

// Remove removes dir and everything in it, entry by entry (deepest
// first), without following links.
func Remove(dir string) error {
	if os.RemoveAll(dir) == nil {
		return nil
	}
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.Reverse(paths)
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
