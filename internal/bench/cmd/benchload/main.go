// Command benchload runs one load scenario against a running benchserver
// and prints its result as one line of JSON.
//
//	benchload -scenario echo -addr 127.0.0.1:PORT -pid PID -protocol websocket -conns 50 -size 1024
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/fdlimit"
	"github.com/stdrealtime/realtime/internal/bench/load"
)

func main() {
	scenario := flag.String("scenario", "echo", "one of "+strings.Join(load.Scenarios, ", "))
	var cfg load.Config
	flag.StringVar(&cfg.Addr, "addr", "", "server host:port")
	flag.IntVar(&cfg.PID, "pid", 0, "server process id, for CPU and memory from /proc")
	proto := flag.String("protocol", "websocket", "websocket, sse or raw")
	flag.IntVar(&cfg.Conns, "conns", 50, "connections or subscribers")
	flag.IntVar(&cfg.Size, "size", 64, "message size in bytes")
	flag.DurationVar(&cfg.Warmup, "warmup", time.Second, "warm-up before measuring")
	flag.DurationVar(&cfg.Duration, "duration", 3*time.Second, "measured time")
	flag.Float64Var(&cfg.Rate, "rate", 0, "messages/s per connection (sustained) or broadcasts/s (paced broadcast)")
	flag.IntVar(&cfg.Window, "window", 16, "broadcasts in flight")
	timeout := flag.Duration("timeout", 2*time.Minute, "bound on the whole run")
	flag.Parse()
	cfg.Protocol = load.Protocol(*proto)
	if _, err := fdlimit.Raise(); err != nil {
		log.Printf("benchload: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	r, err := load.Run(ctx, *scenario, cfg)
	if encErr := json.NewEncoder(os.Stdout).Encode(r); encErr != nil {
		log.Fatal(encErr)
	}
	if err != nil {
		log.Fatalf("benchload: %s: %v", *scenario, err)
	}
}
