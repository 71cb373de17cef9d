//go:build !linux && !windows

package sys

// OpenHandles counts, by kind, the handles this process has open (not
// available on this OS).
func OpenHandles() (map[string]int, error) { return nil, unsupported() }
