package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Echo runs a closed loop on cfg.Conns connections to /echo: each sends one
// message of cfg.Size bytes, waits for it to come back identical, and sends
// the next. It measures messages/s and the round trip.
func Echo(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Protocol == SSE {
		return Result{}, errors.New("load: echo: not an SSE scenario")
	}
	conns, err := connectAll(ctx, cfg.Addr, "/echo", cfg.Protocol, cfg.Conns)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(conns)
	var (
		measuring, stop atomic.Bool
		count           atomic.Uint64
		failed          atomic.Int64
		hist            histogram
		wg              sync.WaitGroup
		firstErr        error
		errOnce         sync.Once
	)
	payload := filler(cfg.Size)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frame := c.Frame(payload)
			var n uint64
			defer func() { count.Add(n) }()
			for !stop.Load() {
				t0 := time.Now()
				if err := c.Write(frame); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					return
				}
				got, err := c.ReadMessage()
				if err == nil && !bytes.Equal(got, payload) {
					err = fmt.Errorf("load: echo: reply of %d bytes differs from the %d sent", len(got), len(payload))
				}
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					return
				}
				if measuring.Load() {
					n++
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
