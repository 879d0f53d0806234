package load

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		q, want float64 // want in µs, within 2%
	}{
		{"empty", nil, 0.5, 0},
		{"one exact", []time.Duration{50 * time.Microsecond}, 0.99, 50.5},
		{"median of three", []time.Duration{10 * time.Microsecond, 20 * time.Microsecond, 3 * time.Millisecond}, 0.5, 20.5},
		{"p99 large", []time.Duration{time.Millisecond, 2 * time.Millisecond, time.Second}, 1, 1e6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, d := range tt.samples {
				h.add(d)
			}
			got := h.quantile(tt.q)
			if math.Abs(got-tt.want) > 0.02*tt.want+1e-9 {
				t.Fatalf("quantile(%v) = %v µs, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestBucketsAreMonotonic(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<34; us = us*5/4 + 1 {
		b := bucketOf(us)
		if b < prev {
			t.Fatalf("bucketOf(%d) = %d < %d", us, b, prev)
		}
		if v := bucketValue(b); us >= 128 && b < 2047 && math.Abs(v-float64(us)) > float64(us)/32 {
			t.Fatalf("bucketValue(bucketOf(%d)) = %v", us, v)
		}
		prev = b
	}
}
