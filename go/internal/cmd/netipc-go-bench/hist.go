package main

import (
	"math"
	"math/bits"
)

// histogram records latencies in nanoseconds without allocating:
// log-linear buckets (exact below 128 ns, then 64 buckets per power of
// two: within 1.6 %), plus the exact minimum, maximum and mean.
type histogram struct {
	counts   [histExact + histShifts*histSub]uint64
	n        uint64
	sum      float64
	min, max uint64
}

const (
	histExact  = 128
	histSub    = 64
	histShifts = 58 // up to 2^64
)

func bucketOf(v uint64) int {
	if v < histExact {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // >= 1: the top 7 bits are 64..127
	return histExact + (shift-1)*histSub + int(v>>shift) - histSub
}

// valueOf is the middle of bucket b.
func valueOf(b int) uint64 {
	if b < histExact {
		return uint64(b)
	}
	shift := (b-histExact)/histSub + 1
	top := uint64((b-histExact)%histSub + histSub)
	return top<<shift + (uint64(1)<<shift)/2
}

func (h *histogram) record(ns uint64) {
	ns = max(ns, 1)
	h.counts[bucketOf(ns)]++
	if h.n == 0 || ns < h.min {
		h.min = ns
	}
	h.max = max(h.max, ns)
	h.n++
	h.sum += float64(ns)
}

// quantile returns the value below which a fraction q of the records
// lie (clamped to the exact minimum and maximum).
func (h *histogram) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(h.n)))
	want = min(max(want, 1), h.n)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= want {
			return min(max(valueOf(b), h.min), h.max)
		}
	}
	return h.max
}

// latency is the summary of a histogram as the reports show it.
type latency struct {
	Min  uint64  `json:"min"`
	Mean float64 `json:"mean"`
	P50  uint64  `json:"p50"`
	P95  uint64  `json:"p95"`
	P99  uint64  `json:"p99"`
	P999 uint64  `json:"p999"`
	Max  uint64  `json:"max"`
}

func (h *histogram) summary() latency {
	l := latency{Min: h.min, Max: h.max, P50: h.quantile(0.5), P95: h.quantile(0.95), P99: h.quantile(0.99), P999: h.quantile(0.999)}
	if h.n > 0 {
		l.Mean = h.sum / float64(h.n)
	}
	return l
}
