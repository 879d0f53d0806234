package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// seqRing is how many recent broadcasts the delivery counters track; it is
// far above any window.
const seqRing = 4096

// Broadcast subscribes cfg.Conns clients (/sub, or /sse for SSE) and has
// the server broadcast stamped messages of cfg.Size bytes to all of them,
// published by POST /publish. Without cfg.Rate, at most cfg.Window
// broadcasts are in flight (a new one waits until the one Window back has
// reached every live subscriber); with it, broadcasts are paced at Rate per
// second whatever happens. It measures deliveries/s, the latency from
// publish to delivery, losses (deliveries of measured broadcasts that never
// arrived) and the server's memory per subscriber after the run.
func Broadcast(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Size < stampLen {
		return Result{}, fmt.Errorf("load: broadcast: size %d is below the %d-byte stamp", cfg.Size, stampLen)
	}
	window := cfg.Window
	if window <= 0 {
		window = 16
	}
	path := "/sub"
	if cfg.Protocol == SSE {
		path = "/sse"
	}
	var r Result
	base, err := serverDebug(ctx, cfg.Addr, true)
	if err != nil {
		return r, err
	}
	baseRSS := serverRSS(cfg.PID)
	conns, err := connectAll(ctx, cfg.Addr, path, cfg.Protocol, cfg.Conns)
	if err != nil {
		return r, err
	}
	n := int64(len(conns))
	var (
		counts              [seqRing]atomic.Int64
		alive               atomic.Int64
		synced              atomic.Int64
		measuring, stopping atomic.Bool
		windowOps, inRange  atomic.Uint64
		failed              atomic.Int64
		lo, hi              atomic.Uint64
		hist                histogram
		wg                  sync.WaitGroup
		errOnce             sync.Once
		firstErr            error
	)
	alive.Store(n)
	lo.Store(math.MaxUint64)
	hi.Store(math.MaxUint64)
	progress := make(chan struct{}, 1)
	signal := func() {
		select {
		case progress <- struct{}{}:
		default:
		}
	}
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gotAny := false
			for {
				p, err := c.ReadMessage()
				if err == nil {
					if _, _, ok := unstamp(p); !ok {
						err = errors.New("load: broadcast: message without stamp")
					}
				}
				if err != nil {
					alive.Add(-1)
					signal()
					if !stopping.Load() {
						failed.Add(1)
						errOnce.Do(func() { firstErr = err })
					}
					return
				}
				seq, ts, _ := unstamp(p)
				if !gotAny {
					gotAny = true
					synced.Add(1)
					signal()
				}
				if seq == 0 {
					continue // a synchronisation message
				}
				if counts[seq%seqRing].Add(1) >= alive.Load() {
					signal()
				}
				if measuring.Load() {
					windowOps.Add(1)
					hist.add(time.Duration(now() - ts))
				}
				if seq >= lo.Load() && seq < hi.Load() {
					inRange.Add(1)
				}
			}
		}()
	}
	defer func() {
		stopping.Store(true)
		closeAll(conns)
		wg.Wait()
	}()

	pub := newPublisher(cfg.Addr, cfg.Size)
	defer pub.close()
	// Synchronise: publish seq 0 until every subscriber has received one,
	// so that all are registered with the server before measuring.
	syncEnd := time.Now().Add(15 * time.Second)
	for synced.Load() < n {
		if time.Now().After(syncEnd) || ctx.Err() != nil {
			return r, fmt.Errorf("load: broadcast: only %d of %d subscribers received anything", synced.Load(), n)
		}
		if err := pub.publish(ctx, 0); err != nil {
			return r, err
		}
		waitSignal(progress, 50*time.Millisecond)
	}

	seq := uint64(1)
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	next := time.Now()
	run := func(until time.Time) error {
		for time.Now().Before(until) && ctx.Err() == nil {
			if interval > 0 {
				next = next.Add(interval)
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
			} else if seq > uint64(window) {
				slot := &counts[(seq-uint64(window))%seqRing]
				for stall := time.Now().Add(time.Second); slot.Load() < alive.Load() && time.Now().Before(stall); {
					waitSignal(progress, 10*time.Millisecond)
				}
			}
			counts[seq%seqRing].Store(0)
			if err := pub.publish(ctx, seq); err != nil {
				return err
			}
			seq++
		}
		return nil
	}
	if err := run(time.Now().Add(cfg.Warmup)); err != nil {
		return r, err
	}
	lo.Store(seq)
	w := startWindow(cfg.PID)
	measuring.Store(true)
	if err := run(time.Now().Add(cfg.Duration)); err != nil {
		return r, err
	}
	measuring.Store(false)
	w.stop()
	hi.Store(seq)
	w.end(&r, windowOps.Load())
	r.Sent = (hi.Load() - lo.Load()) * uint64(n)
	// Drain: wait for the measured broadcasts until nothing has arrived
	// for a second (at most five seconds in all).
	drain(func() uint64 { return inRange.Load() }, r.Sent)
	r.Losses = r.Sent - min(r.Sent, inRange.Load())
	r.P50us, r.P99us = hist.quantile(0.50), hist.quantile(0.99)
	if after, err := serverDebug(ctx, cfg.Addr, true); err == nil && n > 0 {
		r.RSSKiBPerConn = (serverRSS(cfg.PID) - baseRSS) / float64(n)
		r.GoroutinesPerConn = float64(after.Goroutines-base.Goroutines) / float64(n)
	}
	// A subscriber the server dropped (its queue was full) or that broke
	// shows as losses; the run fails only if every subscriber did.
	r.Failed = int(failed.Load())
	if int64(r.Failed) == n {
		return r, fmt.Errorf("load: broadcast: every subscriber failed: %w", firstErr)
	}
	return r, ctx.Err()
}

func waitSignal(ch <-chan struct{}, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// publisher sends broadcasts over one kept-alive HTTP connection.
type publisher struct {
	url     string
	client  *http.Client
	payload []byte
}

func newPublisher(addr string, size int) *publisher {
	return &publisher{
		url:     "http://" + addr + "/publish",
		client:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}},
		payload: filler(size),
	}
}

func (p *publisher) publish(ctx context.Context, seq uint64) error {
	body := bytes.Clone(p.payload)
	stamp(body, seq, now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("load: publish: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("load: publish: status %s", resp.Status)
	}
	return nil
}

func (p *publisher) close() { p.client.CloseIdleConnections() }

// drain polls count until it reaches want, stops growing for a second, or
// five seconds have passed.
func drain(count func() uint64, want uint64) {
	last, changed := count(), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		cur := count()
		if cur >= want {
			return
		}
		if cur != last {
			last, changed = cur, time.Now()
		} else if time.Since(changed) > time.Second {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
