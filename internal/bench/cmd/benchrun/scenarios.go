package main

import (
	"fmt"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/load"
)

// metric is one row of the table: a figure taken from a result.
type metric struct {
	label  string
	higher bool // higher is better
	get    func(load.Result) float64
}

var (
	msgsPerSec  = metric{"msgs/s", true, func(r load.Result) float64 { return r.Rate }}
	delivPerSec = metric{"deliveries/s", true, func(r load.Result) float64 { return r.Rate }}
	connsPerSec = metric{"handshakes/s", true, func(r load.Result) float64 { return r.Rate }}
	p50         = metric{"p50 µs", false, func(r load.Result) float64 { return r.P50us }}
	p99         = metric{"p99 µs", false, func(r load.Result) float64 { return r.P99us }}
	perCPU      = metric{"per server CPU-s", true, func(r load.Result) float64 { return r.OpsPerCPU }}
	losses      = metric{"losses", false, func(r load.Result) float64 { return float64(r.Losses) }}
	rssPerConn  = metric{"RSS KiB/conn", false, func(r load.Result) float64 { return r.RSSKiBPerConn }}
	rssPerSub   = metric{"RSS KiB/subscriber", false, func(r load.Result) float64 { return r.RSSKiBPerConn }}
	gPerConn    = metric{"goroutines/conn", false, func(r load.Result) float64 { return r.GoroutinesPerConn }}
	wirePerMsg  = metric{"wire B/round trip", false, func(r load.Result) float64 { return r.WireBytesPerOp }}
)

// scenario is one load run configuration, executed once per implementation
// of its family per round.
type scenario struct {
	name    string
	load    string
	sse     bool // the SSE family (SSE implementations and raw) instead of WebSocket
	deflate bool // only implementations that serve /echo-deflate
	conns   int
	size    int
	rate    float64
	warmup  time.Duration
	measure time.Duration
	metrics []metric
}

// scenarios returns the full or quick list. Quick mode keeps every scenario
// and every connection count, and shortens the measured time.
func scenarios(quick bool) []scenario {
	w, d := 500*time.Millisecond, 2*time.Second
	if quick {
		w, d = 150*time.Millisecond, 400*time.Millisecond
	}
	var out []scenario
	for _, conns := range []int{50, 1000} {
		for _, size := range []int{16, 1024, 64 << 10} {
			m := d
			if conns*size >= 64<<20 {
				// 64 MiB in flight: round trips of a few hundred
				// milliseconds on a small machine need a longer window.
				m = max(d, time.Second)
			}
			out = append(out, scenario{
				name: fmt.Sprintf("echo %d conns %s", conns, sizeName(size)), load: "echo",
				conns: conns, size: size, warmup: w, measure: m,
				metrics: []metric{msgsPerSec, p50, p99, perCPU},
			})
		}
	}
	for _, size := range []int{1 << 10, 16 << 10} {
		out = append(out, scenario{
			name: fmt.Sprintf("echo deflate 50 conns %s JSON", sizeName(size)), load: "echo-deflate", deflate: true,
			conns: 50, size: size, warmup: w, measure: d,
			metrics: []metric{msgsPerSec, p50, p99, perCPU, wirePerMsg},
		})
	}
	for _, subs := range []int{1000, 10000} {
		out = append(out, scenario{
			name: fmt.Sprintf("broadcast %d subs 64 B", subs), load: "broadcast",
			conns: subs, size: 64, warmup: w, measure: d,
			metrics: []metric{delivPerSec, p50, p99, losses, perCPU},
		})
	}
	out = append(out,
		scenario{
			name: "paced broadcast 1000 subs 20/s 64 B", load: "broadcast",
			conns: 1000, size: 64, rate: 20, warmup: w, measure: d,
			metrics: []metric{p50, p99, losses},
		},
		scenario{
			name: "idle 10000 conns", load: "idle", conns: 10000, size: 0,
			warmup: 0, measure: 200 * time.Millisecond,
			metrics: []metric{rssPerConn, gPerConn},
		},
		scenario{
			name: "idle 10000 conns, handler returned", load: "idle-detached", conns: 10000, size: 0,
			warmup: 0, measure: 200 * time.Millisecond,
			metrics: []metric{rssPerConn, gPerConn},
		},
		scenario{
			name: "connection rate", load: "connrate", warmup: w, measure: d,
			metrics: []metric{connsPerSec, p99, perCPU},
		},
		scenario{
			name: "sustained 1000 conns × 20/s 64 B", load: "sustained",
			conns: 1000, size: 64, rate: 20, warmup: w, measure: d,
			metrics: []metric{p50, p99, losses},
		},
		scenario{
			name: "SSE fan-out 1000 subs 64 B", load: "broadcast", sse: true,
			conns: 1000, size: 64, warmup: w, measure: d,
			metrics: []metric{delivPerSec, p50, p99, losses, perCPU, rssPerSub},
		},
	)
	return out
}

func sizeName(n int) string {
	switch {
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
