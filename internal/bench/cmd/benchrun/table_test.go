package main

import (
	"strings"
	"testing"

	"github.com/stdrealtime/realtime/internal/bench/load"
)

func TestTableRatios(t *testing.T) {
	impls := []implInfo{
		{name: "ours", protocol: load.WebSocket, ours: true},
		{name: "a", protocol: load.WebSocket},
		{name: "b", protocol: load.WebSocket},
		{name: "raw", protocol: load.Raw},
	}
	sc := scenario{name: "s", metrics: []metric{msgsPerSec, p99}}
	res := func(rate, p99 float64) *cell { return &cell{results: []load.Result{{Rate: rate, P99us: p99}}} }
	tests := []struct {
		name  string
		row   map[string]*cell
		wants []string // substrings of the table
	}{
		{
			name: "best peer is the fastest for rates and the lowest for latency",
			row:  map[string]*cell{"ours": res(300, 10), "a": res(100, 40), "b": res(200, 20), "raw": res(600, 5)},
			// rate: 300/200 and 300/600; p99: 10/20 and 10/5
			wants: []string{"| s | msgs/s | 300 | 100 | 200 | 600 | 1.50 | 0.50 |", "| s | p99 µs | 10.0 | 40.0 | 20.0 | 5.00 | 0.50 | 2.00 |"},
		},
		{
			name:  "missing ours gives dashes",
			row:   map[string]*cell{"a": res(100, 40), "raw": res(600, 5)},
			wants: []string{"| s | msgs/s | — | 100 | — | 600 | — | — |"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			writeTable(&b, "t", impls, []scenario{sc}, map[string]map[string]*cell{"s": tt.row})
			for _, w := range tt.wants {
				if !strings.Contains(b.String(), w) {
					t.Fatalf("table lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
}
