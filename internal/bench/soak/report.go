package soak

import (
	"fmt"
	"strings"

	"github.com/stdrealtime/realtime/internal/bench/load"
)

// Markdown renders res: the classes of clients, the server's memory and
// goroutines, and its own counters.
func Markdown(res load.SoakResult) string {
	var b strings.Builder
	cfg := res.Config
	fmt.Fprintf(&b, "Soak: %d WebSocket + %d SSE clients (1 in %d stalled), %.3g broadcasts/s of %d B, %v warm-up, %.0f s measured, %d broadcasts in the window (%d sent late).\n\n",
		cfg.WS, cfg.SSE, cfg.StallEvery, cfg.Rate, cfg.Size, cfg.Warmup, res.Seconds, res.Published, res.Late)
	b.WriteString("| class | clients | expected | delivered | dropped | lost | gap-reported | disconnected | p50 ms | p99 ms |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, k := range res.Classes {
		dropped, lost, p50, p99 := fmt.Sprint(k.Dropped), fmt.Sprint(k.Lost), ms(k.P50us), ms(k.P99us)
		if k.Stalled {
			lost, p50, p99 = "—", "—", "—"
		} else {
			dropped = "—"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s | %d | %d | %s | %s |\n",
			k.Name, k.Clients, k.Expected, k.Delivered, dropped, lost, k.GapReported, k.Disconnected, p50, p99)
	}
	b.WriteString("\n| server | before clients | after warm-up | end of window | end / after warm-up |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| RSS MiB (after GC) | %.1f | %.1f | %.1f | %.2f |\n",
		res.BaseRSSKiB/1024, res.WarmRSSKiB/1024, res.EndRSSKiB/1024, ratio(res.EndRSSKiB, res.WarmRSSKiB))
	fmt.Fprintf(&b, "| goroutines | %d | %d | %d | %.2f |\n",
		res.BaseGoroutines, res.WarmGoroutines, res.EndGoroutines, ratio(float64(res.EndGoroutines), float64(res.WarmGoroutines)))
	if n := len(res.Samples); n > 0 {
		lo, hi := res.Samples[0].RSSKiB, res.Samples[0].RSSKiB
		for _, s := range res.Samples {
			lo, hi = min(lo, s.RSSKiB), max(hi, s.RSSKiB)
		}
		fmt.Fprintf(&b, "\nRSS sampled every %v without forcing GC: min %.1f MiB, max %.1f MiB over %d samples.\n", cfg.SampleEvery, lo/1024, hi/1024, n)
	}
	h, s := res.Server.Hub, res.Server.SSE
	fmt.Fprintf(&b, "\nServer counters: Hub %d connections, %d deliveries, %d drops, %d slow disconnects; broker %d subscribers, %d delivered, %d dropped, %d disconnected.\n",
		h.Connections, h.Deliveries, h.Drops, h.SlowDisconnects, s.Subscribers, s.Delivered, s.Dropped, s.Disconnected)
	return b.String()
}

func ms(us float64) string { return fmt.Sprintf("%.1f", us/1000) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
