// Command soak holds thousands of WebSocket and Server-Sent Events clients
// on a server built from stream.Hub and stream.SSEBroker (run in a child
// process, on 127.0.0.1) for a bounded time while broadcasts are published
// at a steady rate and 1 % of the clients stop reading. It prints a
// markdown report (delivered, dropped and lost per class of client,
// latency, the server's RSS and goroutines) and writes it, a PNG plot of
// the server over time and the raw result as JSON to an output directory.
//
//	soak                      10,000 WS + 2,000 SSE clients, 5 minutes
//	soak -quick               1,000 WS + 200 SSE clients, 10 seconds
//	soak -duration 30m -out /some/dir
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/soak"
)

func main() {
	serve := flag.Bool("serve", false, "run the soak server (what soak starts as its child process)")
	quick := flag.Bool("quick", false, "the CI-sized run: 1,000 WS + 200 SSE clients for 10 s")
	ws := flag.Int("ws", -1, "WebSocket clients (default 10000, or 1000 with -quick)")
	sse := flag.Int("sse", -1, "SSE clients (default 2000, or 200 with -quick)")
	duration := flag.Duration("duration", 0, "measured time (default 5m, or 10s with -quick)")
	warmup := flag.Duration("warmup", 0, "warm-up before measuring (default 30s, or 3s with -quick)")
	rate := flag.Float64("rate", 0, "broadcasts per second (default 2, or 5 with -quick)")
	size := flag.Int("size", 0, "broadcast size in bytes (default 1024)")
	stall := flag.Int("stall-every", 0, "one client in N of each kind stops reading (default 100)")
	sndbuf := flag.Int("sndbuf", soak.DefaultSendBuffer, "the server's SO_SNDBUF per connection in bytes (0: the system's autotuning)")
	out := flag.String("out", "", "directory for soak.md, soak.png and soak.json (default: a new temporary directory)")
	flag.Parse()
	if *serve {
		if err := soak.Serve(*sndbuf); err != nil {
			log.Fatal(err)
		}
		return
	}
	cfg := soak.Default()
	if *quick {
		cfg = soak.Quick()
	}
	if *ws >= 0 {
		cfg.WS = *ws
	}
	if *sse >= 0 {
		cfg.SSE = *sse
	}
	if *duration > 0 {
		cfg.Duration = *duration
	}
	if *warmup > 0 {
		cfg.Warmup = *warmup
	}
	if *rate > 0 {
		cfg.Rate = *rate
	}
	if *size > 0 {
		cfg.Size = *size
	}
	if *stall > 0 {
		cfg.StallEvery = *stall
	}
	dir := *out
	if dir == "" {
		d, err := os.MkdirTemp("", "soak-")
		if err != nil {
			log.Fatal(err)
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	cfg.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "soak: "+format+"\n", args...)
	}

	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	// Bounded: the run itself plus connecting, draining and a margin.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Warmup+cfg.Duration+5*time.Minute)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	res, err := soak.Run(ctx, exec.Command(self, "-serve", "-sndbuf", strconv.Itoa(*sndbuf)), cfg)
	if err != nil {
		log.Fatalf("soak: %v", err)
	}
	report := soak.Markdown(res)
	fmt.Print(report)
	js, _ := json.MarshalIndent(res, "", "  ")
	for name, b := range map[string][]byte{"soak.md": []byte(report), "soak.json": js} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if err := soak.WritePNG(filepath.Join(dir, "soak.png"), res); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("\nwritten to %s (soak.md, soak.png, soak.json)\n", dir)
}
