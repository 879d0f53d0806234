package load

import (
	"context"
	"fmt"
	"time"
)

// Config parameterises a scenario run.
type Config struct {
	// Addr is the server's host:port; PID its process, for /proc
	// (0 skips CPU and memory figures).
	Addr string
	PID  int
	// Protocol selects the client.
	Protocol Protocol
	// Conns is the number of connections or subscribers; Size the
	// message size in bytes.
	Conns int
	Size  int
	// Warmup runs before the measured Duration.
	Warmup   time.Duration
	Duration time.Duration
	// Rate is messages per second per connection (sustained) or
	// broadcasts per second (paced broadcast); 0 means as fast as the
	// scenario's flow control allows.
	Rate float64
	// Window is how many broadcasts may be in flight (default 16).
	Window int
}

// Scenarios lists the scenario names Run accepts.
var Scenarios = []string{"echo", "echo-deflate", "broadcast", "idle", "idle-detached", "connrate", "sustained"}

// Run runs the named scenario against the server in cfg. Runs are bounded:
// they end after Warmup+Duration plus at most a few seconds of draining,
// or when ctx ends.
func Run(ctx context.Context, scenario string, cfg Config) (Result, error) {
	var r Result
	var err error
	switch scenario {
	case "echo":
		r, err = Echo(ctx, cfg)
	case "echo-deflate":
		r, err = EchoDeflate(ctx, cfg)
	case "broadcast":
		r, err = Broadcast(ctx, cfg)
	case "idle":
		r, err = Idle(ctx, cfg, "/echo")
	case "idle-detached":
		r, err = Idle(ctx, cfg, "/echo-detached")
	case "connrate":
		r, err = ConnRate(ctx, cfg)
	case "sustained":
		r, err = Sustained(ctx, cfg)
	default:
		return Result{}, fmt.Errorf("load: unknown scenario %q", scenario)
	}
	r.Scenario = scenario
	r.Conns = cfg.Conns
	r.Size = cfg.Size
	return r, err
}
