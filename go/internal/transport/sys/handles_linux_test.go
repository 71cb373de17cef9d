package sys

import (
	"os"
	"testing"
)

// OpenHandles counts the open descriptors.
func TestOpenHandlesCountsDescriptors(t *testing.T) {
	count := func() int {
		t.Helper()
		counts, err := OpenHandles()
		if err != nil {
			t.Fatal(err)
		}
		return counts["descriptor"]
	}
	before := count()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != before+1 {
		t.Fatalf("%d descriptors with one more open, %d before", n, before)
	}
	f.Close()
	if n := count(); n != before {
		t.Fatalf("%d descriptors after closing it, %d before", n, before)
	}
}
