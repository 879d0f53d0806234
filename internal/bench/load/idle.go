package load

import (
	"context"
	"errors"
	"time"
)

// Idle opens cfg.Conns connections to path (/echo, or /echo-detached where
// each handler returns once its connection is hijacked and the echo loop
// runs on in a goroutine of its own) and leaves them idle, then reports
// the server's RSS and goroutines per connection over its baseline, both
// taken after a garbage collection.
func Idle(ctx context.Context, cfg Config, path string) (Result, error) {
	var r Result
	if cfg.PID <= 0 {
		return r, errors.New("load: idle: the server's pid is needed")
	}
	if cfg.Protocol == SSE {
		return r, errors.New("load: idle: not an SSE scenario")
	}
	base, err := serverDebug(ctx, cfg.Addr, true)
	if err != nil {
		return r, err
	}
	baseRSS := serverRSS(cfg.PID)
	t0 := time.Now()
	conns, err := connectAll(ctx, cfg.Addr, path, cfg.Protocol, cfg.Conns)
	if err != nil {
		return r, err
	}
	defer closeAll(conns)
	r.Seconds = time.Since(t0).Seconds()
	r.Ops = uint64(len(conns))
	r.Rate = float64(r.Ops) / r.Seconds
	// The server finishes setting connections up after the handshakes
	// return: wait until its goroutine count holds still.
	last := -1
	var d debugInfo
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		sleep(ctx, 100*time.Millisecond)
		if d, err = serverDebug(ctx, cfg.Addr, false); err != nil {
			return r, err
		}
		if d.Goroutines == last {
			break
		}
		last = d.Goroutines
	}
	sleep(ctx, cfg.Duration)
	if d, err = serverDebug(ctx, cfg.Addr, true); err != nil {
		return r, err
	}
	r.RSSKiBPerConn = (serverRSS(cfg.PID) - baseRSS) / float64(len(conns))
	r.GoroutinesPerConn = float64(d.Goroutines-base.Goroutines) / float64(len(conns))
	return r, ctx.Err()
}
