package load

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram counts durations in microsecond buckets: exact below 128µs,
// then 64 buckets per power of two (under 1.6% error). It is safe for
// concurrent use and never grows.
type histogram struct {
	buckets [2048]atomic.Uint64
}

func bucketOf(us uint64) int {
	if us < 128 {
		return int(us)
	}
	e := bits.Len64(us) - 7
	b := 128 + (e-1)*64 + int(us>>e) - 64
	if b >= 2048 {
		return 2047
	}
	return b
}

func bucketValue(b int) float64 {
	if b < 128 {
		return float64(b) + 0.5
	}
	e := (b-128)/64 + 1
	m := uint64((b-128)%64 + 64)
	return float64(m<<e) + float64(uint64(1)<<e)/2
}

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.buckets[bucketOf(uint64(d/time.Microsecond))].Add(1)
}

// quantile returns the q-quantile in microseconds, 0 when empty.
func (h *histogram) quantile(q float64) float64 {
	var total uint64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(len(h.buckets) - 1)
}

// reset empties h. Counts added while it runs may survive it.
func (h *histogram) reset() {
	for i := range h.buckets {
		h.buckets[i].Store(0)
	}
}
