// Package vectors_test checks every golden vector against the Go package.
package vectors_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// vector is one entry of the golden vectors' index.json.
type vector struct {
	ID          string          `json:"id"`
	File        *string         `json:"file"`
	Size        int             `json:"size"`
	SHA256      string          `json:"sha256"`
	Category    string          `json:"category"`
	Kind        string          `json:"kind"`
	Method      *string         `json:"method"`
	Direction   *string         `json:"direction"`
	Valid       bool            `json:"valid"`
	Decoder     *string         `json:"decoder"`
	RejectError *string         `json:"reject_error"`
	RejectStage *string         `json:"reject_stage"`
	Fields      json.RawMessage `json:"fields"`
	Expect      json.RawMessage `json:"expect"`
	// Raw is the whole entry, for keys the fields above do not name.
	Raw json.RawMessage `json:"-"`
	// Bytes is the content of File (nil when File is null).
	Bytes []byte `json:"-"`
}

// checker verifies one vector and returns an error naming what differs.
// A checker is registered per category (or "category/kind") by the test
// files of each area: the envelope and handshake, the codecs, the names.
type checker func(t *testing.T, v *vector, dir string) error

// checkers maps "category/kind" (or "category" as a fallback) to the
// function that checks such a vector.
var checkers = map[string]checker{}

// vectorsDir is where the golden vectors are: NETIPC_VECTORS, or
// the copy in crates/netipc-tests/tests/data/vectors.
func vectorsDir(t *testing.T) string {
	if d := os.Getenv("NETIPC_VECTORS"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", "..", "crates", "netipc-tests", "tests", "data", "vectors"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func loadVectors(t *testing.T) ([]*vector, string) {
	dir := vectorsDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatalf("golden vectors: %v (set NETIPC_VECTORS to the vectors directory)", err)
	}
	var index struct {
		Vectors []json.RawMessage `json:"vectors"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	out := make([]*vector, 0, len(index.Vectors))
	for _, raw := range index.Vectors {
		v := &vector{Raw: raw}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("index.json entry: %v", err)
		}
		if v.File != nil {
			b, err := os.ReadFile(filepath.Join(dir, *v.File))
			if err != nil {
				t.Fatalf("%s: %v", v.ID, err)
			}
			sum := sha256.Sum256(b)
			if len(b) != v.Size || hex.EncodeToString(sum[:]) != v.SHA256 {
				t.Fatalf("%s: file size or sha256 differs from index.json", v.ID)
			}
			v.Bytes = b
		}
		out = append(out, v)
	}
	return out, dir
}

// TestGoldenVectors checks every vector of index.json and fails unless all
// of them were checked.
func TestGoldenVectors(t *testing.T) {
	vectors, dir := loadVectors(t)
	checked := 0
	for _, v := range vectors {
		c, ok := checkers[v.Category+"/"+v.Kind]
		if !ok {
			c, ok = checkers[v.Category]
		}
		if !ok {
			t.Errorf("%s: no checker for %s/%s", v.ID, v.Category, v.Kind)
			continue
		}
		if err := c(t, v, dir); err != nil {
			t.Errorf("%s: %v", v.ID, err)
			continue
		}
		checked++
	}
	fmt.Printf("vectors: %d checked\n", checked)
	if checked < len(vectors) {
		t.Fatalf("vectors: %d of %d checked", checked, len(vectors))
	}
}
