package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// connRateWorkers is how many clients connect at once in ConnRate.
const connRateWorkers = 32

// ConnRate has connRateWorkers clients open a connection to /echo, complete
// the handshake and drop it, over and over, and measures handshakes/s.
func ConnRate(ctx context.Context, cfg Config) (Result, error) {
	var r Result
	if cfg.Protocol == SSE {
		return r, errors.New("load: connrate: not an SSE scenario")
	}
	var (
		measuring, stop atomic.Bool
		count           atomic.Uint64
		failed          atomic.Int64
		hist            histogram
		wg              sync.WaitGroup
		errOnce         sync.Once
		firstErr        error
	)
	for range connRateWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				t0 := time.Now()
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				c, err := Dial(dctx, cfg.Addr, "/echo", cfg.Protocol)
				cancel()
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				c.Close()
				if measuring.Load() {
					count.Add(1)
					hist.add(time.Since(t0))
				}
			}
		}()
	}
	sleep(ctx, cfg.Warmup)
	w := startWindow(cfg.PID)
	measuring.Store(true)
	sleep(ctx, cfg.Duration)
	measuring.Store(false)
	w.stop()
	stop.Store(true)
	wg.Wait()
	w.end(&r, count.Load())
	r.P50us, r.P99us = hist.quantile(0.50), hist.quantile(0.99)
	r.Failed = int(failed.Load())
	if r.Ops == 0 && r.Failed > 0 {
		return r, fmt.Errorf("load: connrate: no connection succeeded: %w", firstErr)
	}
	return r, ctx.Err()
}
