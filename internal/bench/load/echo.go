package load

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Echo runs a closed loop on cfg.Conns connections to /echo: each sends one
// message of cfg.Size bytes, waits for it to come back identical, and sends
// the next. It measures messages/s and the round trip.
func Echo(ctx context.Context, cfg Config) (Result, error) {
	return echo(ctx, cfg, "/echo", false, filler(cfg.Size))
}

// EchoDeflate is Echo over /echo-deflate with permessage-deflate: every
// connection must agree to it (DialDeflate), each sends cfg.Size bytes of
// JSON text compressed once and written as often as it is echoed, and
// inflates the replies that come compressed. Besides what Echo measures it
// gives the frame bytes on the wire per round trip, both ways.
func EchoDeflate(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Protocol != WebSocket {
		return Result{}, errors.New("load: echo-deflate: WebSocket only")
	}
	return echo(ctx, cfg, "/echo-deflate", true, jsonPayload(cfg.Size))
}

// echo runs the closed loop of Echo on path with payload, with
// permessage-deflate if deflate is set.
func echo(ctx context.Context, cfg Config, path string, deflate bool, payload []byte) (Result, error) {
	if cfg.Protocol == SSE {
		return Result{}, errors.New("load: echo: not an SSE scenario")
	}
	conns, err := connectAllOpts(ctx, cfg.Addr, path, cfg.Protocol, cfg.Conns, func(int) dialOptions { return dialOptions{deflate: deflate} })
	if err != nil {
		return Result{}, err
	}
	defer closeAll(conns)
	var (
		measuring, stop atomic.Bool
		count, wire     atomic.Uint64
		failed          atomic.Int64
		hist            histogram
		wg              sync.WaitGroup
		firstErr        error
		errOnce         sync.Once
	)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frame := c.Frame(payload)
			var n, onWire uint64
			defer func() { count.Add(n); wire.Add(onWire) }()
			for !stop.Load() {
				t0 := time.Now()
				rx0 := c.RxBytes()
				if err := c.Write(frame); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					return
				}
				got, err := c.ReadMessage()
				if err == nil && !slices.Equal(got, payload) {
					err = fmt.Errorf("load: echo: reply of %d bytes differs from the %d sent", len(got), len(payload))
				}
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					return
				}
				if measuring.Load() {
					n++
					onWire += uint64(len(frame)) + c.RxBytes() - rx0
					hist.add(time.Since(t0))
				}
			}
		}()
	}
	var r Result
	sleep(ctx, cfg.Warmup)
	w := startWindow(cfg.PID)
	measuring.Store(true)
	sleep(ctx, cfg.Duration)
	measuring.Store(false)
	w.stop()
	stop.Store(true)
	waitOrClose(&wg, conns, 5*time.Second)
	w.end(&r, count.Load())
	r.P50us, r.P99us = hist.quantile(0.50), hist.quantile(0.99)
	if r.Ops > 0 && cfg.Protocol == WebSocket {
		r.WireBytesPerOp = float64(wire.Load()) / float64(r.Ops)
	}
	r.Failed = int(failed.Load())
	if r.Failed > 0 {
		return r, fmt.Errorf("load: echo: %d connections failed: %w", r.Failed, firstErr)
	}
	if r.Ops == 0 && ctx.Err() == nil {
		return r, fmt.Errorf("load: echo: no round trip completed in the %v measured (round trips take longer: measure longer)", cfg.Duration)
	}
	return r, ctx.Err()
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// waitOrClose waits for wg; if it has not finished after grace (a server
// that stopped answering), it closes conns to unblock the readers.
func waitOrClose(wg *sync.WaitGroup, conns []*Conn, grace time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		closeAll(conns)
		<-done
	}
}
