package load_test

import (
	"context"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/load"
	"github.com/stdrealtime/realtime/internal/bench/server"
)

// TestScenariosRun runs every scenario briefly against in-process servers
// and checks that each counted what it was meant to, with no loss.
func TestScenariosRun(t *testing.T) {
	short := load.Config{Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, PID: os.Getpid()}
	tests := []struct {
		scenario string
		impl     string
		conns    int
		size     int
		rate     float64
	}{
		{"echo", "raw", 4, 1024, 0},
		{"echo", "gobwas", 4, 70_000, 0},
		{"echo-deflate", "ours", 4, 16 << 10, 0},
		{"broadcast", "raw", 8, 64, 0},
		{"broadcast", "gorilla", 8, 64, 50},
		{"broadcast", "ours-sse", 8, 64, 0},
		{"idle", "gws", 20, 0, 0},
		{"connrate", "coder", 0, 0, 0},
		{"sustained", "raw", 4, 64, 100},
	}
	for _, tt := range tests {
		t.Run(tt.scenario+"/"+tt.impl, func(t *testing.T) {
			impl, ok := server.Lookup(tt.impl)
			if !ok {
				t.Fatalf("no implementation %q", tt.impl)
			}
			s := impl.New()
			srv := httptest.NewServer(server.Handler(s, impl.Protocol))
			defer srv.Close()
			defer s.Close()
			cfg := short
			cfg.Addr = srv.Listener.Addr().String()
			cfg.Protocol = load.Protocol(impl.Protocol)
			cfg.Conns, cfg.Size, cfg.Rate = tt.conns, tt.size, tt.rate
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := load.Run(ctx, tt.scenario, cfg)
			if err != nil {
				t.Fatalf("%s: %v", tt.scenario, err)
			}
			if r.Ops == 0 {
				t.Fatalf("%s counted nothing: %+v", tt.scenario, r)
			}
			if r.Losses != 0 || r.Failed != 0 {
				t.Fatalf("%s lost %d and failed %d: %+v", tt.scenario, r.Losses, r.Failed, r)
			}
			// The JSON payload compresses to well under half its size.
			if tt.scenario == "echo-deflate" && (r.WireBytesPerOp <= 0 || r.WireBytesPerOp >= float64(tt.size)) {
				t.Fatalf("echo-deflate: %v bytes on the wire per round trip of two %d-byte messages", r.WireBytesPerOp, tt.size)
			}
			if tt.scenario == "idle" && r.GoroutinesPerConn <= 0 {
				t.Fatalf("idle: %v goroutines per connection", r.GoroutinesPerConn)
			}
		})
	}
}
