package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Sustained opens cfg.Conns connections to /echo and has each send a
// stamped message of cfg.Size bytes cfg.Rate times per second, whether or
// not the replies keep up (an open loop). It counts messages sent in the
// measured window that never came back, and their round trip.
func Sustained(ctx context.Context, cfg Config) (Result, error) {
	var r Result
	if cfg.Protocol == SSE {
		return r, errors.New("load: sustained: not an SSE scenario")
	}
	if cfg.Rate <= 0 || cfg.Size < stampLen {
		return r, fmt.Errorf("load: sustained: needs a rate and a size of at least %d", stampLen)
	}
	conns, err := connectAll(ctx, cfg.Addr, "/echo", cfg.Protocol, cfg.Conns)
	if err != nil {
		return r, err
	}
	var (
		winStart, winEnd atomic.Int64
		stop, stopping   atomic.Bool
		sent, received   atomic.Uint64
		failed           atomic.Int64
		hist             histogram
		wg               sync.WaitGroup
		errOnce          sync.Once
		firstErr         error
	)
	winStart.Store(1<<63 - 1)
	winEnd.Store(1<<63 - 1)
	inWindow := func(ts int64) bool { return ts >= winStart.Load() && ts < winEnd.Load() }
	fail := func(err error) {
		if !stopping.Load() {
			failed.Add(1)
			errOnce.Do(func() { firstErr = err })
		}
	}
	interval := time.Duration(float64(time.Second) / cfg.Rate)
	for _, c := range conns {
		wg.Add(2)
		go func() { // reader
			defer wg.Done()
			for {
				p, err := c.ReadMessage()
				if err != nil {
					fail(err)
					return
				}
				if _, ts, ok := unstamp(p); ok && inWindow(ts) {
					received.Add(1)
					hist.add(time.Duration(now() - ts))
				}
			}
		}()
		go func() { // writer
			defer wg.Done()
			payload := filler(cfg.Size)
			t := time.NewTicker(interval)
			defer t.Stop()
			// Spread the connections over the interval.
			sleep(ctx, time.Duration(rand.Int64N(int64(interval))))
			for seq := uint64(1); !stop.Load() && ctx.Err() == nil; seq++ {
				ts := now()
				stamp(payload, seq, ts)
				if c.Write(c.Frame(payload)) != nil {
					return // the reader counts the broken connection
				}
				if inWindow(ts) {
					sent.Add(1)
				}
				select {
				case <-t.C:
				case <-ctx.Done():
				}
			}
		}()
	}
	sleep(ctx, cfg.Warmup)
	w := startWindow(cfg.PID)
	winStart.Store(now())
	sleep(ctx, cfg.Duration)
	winEnd.Store(now())
	w.stop()
	stop.Store(true)
	drain(func() uint64 { return received.Load() }, sent.Load())
	stopping.Store(true)
	closeAll(conns)
	wg.Wait()
	w.end(&r, received.Load())
	r.Sent = sent.Load()
	r.Losses = r.Sent - min(r.Sent, received.Load())
	r.P50us, r.P99us = hist.quantile(0.50), hist.quantile(0.99)
	// A connection that broke shows as losses; the run fails only if
	// every connection did.
	r.Failed = int(failed.Load())
	if r.Failed >= len(conns) {
		return r, fmt.Errorf("load: sustained: every connection failed: %w", firstErr)
	}
	return r, ctx.Err()
}
