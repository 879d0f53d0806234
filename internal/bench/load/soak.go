package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// SoakConfig parameterises Soak. The server must serve the soak endpoints:
// GET /ws (a stream.Hub's connections), GET /sse (a stream.SSEBroker),
// POST /publish (the body to both) and GET /debug (SoakServerInfo; ?gc=1
// first collects garbage and returns freed memory to the OS).
type SoakConfig struct {
	// Addr is the server's host:port; PID its process, for its RSS.
	Addr string
	PID  int
	// WS and SSE are the numbers of WebSocket and SSE clients. One in
	// StallEvery of each stalls: it stops reading once every client has
	// received a first message, and its receive buffer is StalledRcvBuf
	// bytes, so that its TCP window fills soon and the server's
	// slow-consumer policy applies to it.
	WS, SSE       int
	StallEvery    int
	StalledRcvBuf int
	// Rate is broadcasts per second, paced whatever happens; Size is the
	// size of each in bytes.
	Rate float64
	Size int
	// Warmup runs before the measured Duration. The server is sampled
	// every SampleEvery.
	Warmup, Duration, SampleEvery time.Duration
	// Logf, if set, receives progress lines.
	Logf func(format string, args ...any)
}

// SoakServerInfo is the body of the soak server's /debug.
type SoakServerInfo struct {
	PID        int                   `json:"pid"`
	Goroutines int                   `json:"goroutines"`
	Hub        stream.HubStats       `json:"hub"`
	SSE        stream.SSEBrokerStats `json:"sse"`
}

// Soak client classes, in the order of SoakResult.Classes.
const (
	HealthyWS = iota
	StalledWS
	HealthySSE
	StalledSSE
	numClasses
)

var classNames = [numClasses]string{"healthy WS", "stalled WS", "healthy SSE", "stalled SSE"}

// SoakClass is what the clients of one class received of the broadcasts
// published in the measured window.
type SoakClass struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	Stalled bool   `json:"stalled"`
	// Expected is broadcasts in the window times clients; Delivered how
	// many of those arrived (for stalled clients, including what they
	// read from their buffers after the run).
	Expected  uint64 `json:"expected"`
	Delivered uint64 `json:"delivered"`
	// Dropped is what stalled clients did not get: discarded by the
	// slow-consumer policy or with their connection. Lost is what
	// healthy clients did not get, and must be zero.
	Dropped uint64 `json:"dropped"`
	Lost    uint64 `json:"lost"`
	// GapReported sums the counts of the gap events SSE clients got.
	GapReported uint64 `json:"gap_reported"`
	// Disconnected counts clients whose connection ended before the run
	// did; OutOfOrder messages that came after a later one.
	Disconnected int    `json:"disconnected"`
	OutOfOrder   uint64 `json:"out_of_order"`
	// P50us and P99us are publish-to-delivery latencies in the window.
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
}

// SoakSample is the server sampled at one moment of the run.
type SoakSample struct {
	Seconds    float64 `json:"t_s"` // since the warm-up started
	RSSKiB     float64 `json:"rss_kib"`
	Goroutines int     `json:"goroutines"`
	// DeliveriesPerSec and P99us are over healthy clients since the
	// previous sample.
	DeliveriesPerSec float64 `json:"deliveries_per_s"`
	P99us            float64 `json:"p99_us"`
}

// SoakResult is what Soak measured.
type SoakResult struct {
	Config  SoakConfig            `json:"-"`
	Classes [numClasses]SoakClass `json:"classes"`
	Samples []SoakSample          `json:"samples"`
	// Published is broadcasts in the measured window, Late those sent
	// more than one interval behind schedule.
	Published uint64  `json:"published"`
	Late      uint64  `json:"late"`
	Seconds   float64 `json:"seconds"`
	// The server's RSS and goroutines after a garbage collection: before
	// the clients connected, at the end of the warm-up and at the end of
	// the window.
	BaseRSSKiB, WarmRSSKiB, EndRSSKiB             float64
	BaseGoroutines, WarmGoroutines, EndGoroutines int
	// Server is the server's /debug at the end of the window.
	Server SoakServerInfo `json:"server"`
}

// soakClient is one client's connection and tally.
type soakClient struct {
	c       *Conn
	class   int
	stalled bool
	last    atomic.Uint64 // newest sequence number read
	got     atomic.Uint64 // broadcasts of the window received
	gaps    atomic.Uint64
	order   atomic.Uint64
	broken  atomic.Bool
	synced  atomic.Bool
}

// Soak holds cfg.WS WebSocket and cfg.SSE SSE clients on the server while
// broadcasts are published at a steady rate, and reports per class of
// client (healthy or stalled, WebSocket or SSE) what was delivered,
// dropped and lost, with latencies and the server's RSS and goroutines
// over time. It is bounded: Warmup + Duration plus at most about 45
// seconds of connecting, synchronising and draining, or until ctx ends.
func Soak(ctx context.Context, cfg SoakConfig) (SoakResult, error) {
	res := SoakResult{Config: cfg}
	if cfg.Size < stampLen || cfg.Rate <= 0 || cfg.StallEvery <= 0 || cfg.SampleEvery <= 0 {
		return res, fmt.Errorf("load: soak: needs a size of at least %d, a rate, StallEvery and SampleEvery", stampLen)
	}
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	base, err := soakInfo(ctx, cfg.Addr, true)
	if err != nil {
		return res, err
	}
	res.BaseRSSKiB, res.BaseGoroutines = serverRSS(cfg.PID), base.Goroutines

	// Connect. Client i of a kind stalls when i%StallEvery == StallEvery-1.
	stalls := func(i int) bool { return i%cfg.StallEvery == cfg.StallEvery-1 }
	rcvBuf := func(i int) int {
		if stalls(i) {
			return cfg.StalledRcvBuf
		}
		return 0
	}
	logf("connecting %d WebSocket and %d SSE clients", cfg.WS, cfg.SSE)
	ws, err := connectAllBuf(ctx, cfg.Addr, "/ws", WebSocket, cfg.WS, rcvBuf)
	if err != nil {
		return res, err
	}
	sse, err := connectAllBuf(ctx, cfg.Addr, "/sse", SSE, cfg.SSE, rcvBuf)
	if err != nil {
		closeAll(ws)
		return res, err
	}
	var clients []*soakClient
	for i, c := range ws {
		clients = append(clients, &soakClient{c: c, class: HealthyWS + boolInt(stalls(i)), stalled: stalls(i)})
	}
	for i, c := range sse {
		clients = append(clients, &soakClient{c: c, class: HealthySSE + boolInt(stalls(i)), stalled: stalls(i)})
	}
	for i := range res.Classes {
		res.Classes[i].Name = classNames[i]
		res.Classes[i].Stalled = i == StalledWS || i == StalledSSE
	}
	for _, cl := range clients {
		res.Classes[cl.class].Clients++
	}

	var (
		lo, hi        atomic.Uint64 // the window's broadcasts are [lo, hi)
		stallNow      atomic.Bool
		stopping      atomic.Bool
		synced        atomic.Int64
		delivered     atomic.Uint64 // healthy deliveries, for the samples
		hists         [numClasses]histogram
		interval      histogram
		wg            sync.WaitGroup
		resume        = make(chan struct{})
		drainDeadline atomic.Int64
	)
	lo.Store(math.MaxUint64)
	hi.Store(math.MaxUint64)
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paused := false
			for {
				if cl.stalled && stallNow.Load() && !paused {
					paused = true
					<-resume
					cl.c.SetReadDeadline(time.Unix(0, drainDeadline.Load()))
				}
				p, err := cl.c.ReadMessage()
				if err != nil {
					// A read deadline only ends a stalled client's
					// drain; anything else before the end is the
					// connection ending.
					var ne net.Error
					if !stopping.Load() && !(errors.As(err, &ne) && ne.Timeout()) {
						cl.broken.Store(true)
					}
					return
				}
				if len(p) > 0 && p[0] == '{' { // an SSE gap event
					var g struct{ Dropped uint64 }
					if json.Unmarshal(p, &g) == nil {
						cl.gaps.Add(g.Dropped)
					}
					continue
				}
				seq, ts, ok := unstamp(p)
				if !ok {
					cl.broken.Store(true)
					return
				}
				if !cl.synced.Load() {
					cl.synced.Store(true)
					synced.Add(1)
				}
				if seq == 0 {
					continue
				}
				if seq <= cl.last.Load() {
					cl.order.Add(1)
				}
				cl.last.Store(seq)
				lat := time.Duration(now() - ts)
				if seq >= lo.Load() && seq < hi.Load() {
					cl.got.Add(1)
					hists[cl.class].add(lat)
				}
				if !cl.stalled {
					delivered.Add(1)
					interval.add(lat)
				}
			}
		}()
	}
	finish := func() {
		stopping.Store(true)
		select {
		case <-resume:
		default:
			close(resume)
		}
		closeAll(ws)
		closeAll(sse)
		wg.Wait()
	}
	defer finish()

	pub := newPublisher(cfg.Addr, cfg.Size)
	defer pub.close()
	logf("synchronising")
	syncEnd := time.Now().Add(30 * time.Second)
	for synced.Load() < int64(len(clients)) {
		if time.Now().After(syncEnd) || ctx.Err() != nil {
			return res, fmt.Errorf("load: soak: only %d of %d clients received anything", synced.Load(), len(clients))
		}
		if err := pub.publish(ctx, 0); err != nil {
			return res, err
		}
		time.Sleep(100 * time.Millisecond)
	}
	stallNow.Store(true)

	// Sample the server while publishing.
	start := time.Now()
	sampleDone := make(chan struct{})
	var samples []SoakSample
	var sampleWG sync.WaitGroup
	sampleWG.Add(1)
	go func() {
		defer sampleWG.Done()
		t := time.NewTicker(cfg.SampleEvery)
		defer t.Stop()
		lastT, lastN := time.Now(), delivered.Load()
		for {
			select {
			case <-sampleDone:
				return
			case <-t.C:
			}
			s := SoakSample{Seconds: time.Since(start).Seconds(), RSSKiB: serverRSS(cfg.PID)}
			if info, err := soakInfo(ctx, cfg.Addr, false); err == nil {
				s.Goroutines = info.Goroutines
			}
			n, tn := delivered.Load(), time.Now()
			s.DeliveriesPerSec = float64(n-lastN) / tn.Sub(lastT).Seconds()
			s.P99us = interval.quantile(0.99)
			interval.reset()
			lastT, lastN = tn, n
			samples = append(samples, s)
			logf("t=%3.0fs  server RSS %6.1f MiB  goroutines %6d  deliveries/s %7.0f  p99 %6.1f ms",
				s.Seconds, s.RSSKiB/1024, s.Goroutines, s.DeliveriesPerSec, s.P99us/1000)
		}
	}()

	every := time.Duration(float64(time.Second) / cfg.Rate)
	seq := uint64(1)
	next := time.Now()
	publish := func(until time.Time) error {
		for time.Now().Before(until) && ctx.Err() == nil {
			next = next.Add(every)
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			} else if -d > every {
				res.Late++
			}
			if err := pub.publish(ctx, seq); err != nil {
				return err
			}
			seq++
		}
		return ctx.Err()
	}
	logf("warming up for %v", cfg.Warmup)
	if err := publish(time.Now().Add(cfg.Warmup)); err != nil {
		close(sampleDone)
		sampleWG.Wait()
		return res, err
	}
	warm, err := soakInfo(ctx, cfg.Addr, true)
	if err != nil {
		close(sampleDone)
		sampleWG.Wait()
		return res, err
	}
	res.WarmRSSKiB, res.WarmGoroutines = serverRSS(cfg.PID), warm.Goroutines
	lo.Store(seq)
	res.Late = 0
	for i := range hists {
		hists[i].reset()
	}
	logf("measuring for %v", cfg.Duration)
	windowStart := time.Now()
	err = publish(time.Now().Add(cfg.Duration))
	hi.Store(seq)
	res.Seconds = time.Since(windowStart).Seconds()
	close(sampleDone)
	sampleWG.Wait()
	res.Samples = samples
	if err != nil {
		return res, err
	}
	res.Published = hi.Load() - lo.Load()

	// Let healthy clients receive the last broadcasts: until each has the
	// newest, nothing arrives for two seconds, or fifteen seconds pass.
	logf("draining")
	last := hi.Load() - 1
	waitFor(15*time.Second, 2*time.Second, func() (bool, uint64) {
		var sum uint64
		done := true
		for _, cl := range clients {
			if cl.stalled || cl.broken.Load() {
				continue
			}
			n := cl.got.Load()
			sum += n
			if n < res.Published && cl.last.Load() < last {
				done = false
			}
		}
		return done, sum
	})
	end, err := soakInfo(ctx, cfg.Addr, true)
	if err != nil {
		return res, err
	}
	res.EndRSSKiB, res.EndGoroutines, res.Server = serverRSS(cfg.PID), end.Goroutines, end

	// Stalled clients read what reached their buffers, for three seconds.
	drainDeadline.Store(time.Now().Add(3 * time.Second).UnixNano())
	close(resume)
	time.Sleep(3*time.Second + 100*time.Millisecond)
	stopping.Store(true)
	finish()

	for _, cl := range clients {
		k := &res.Classes[cl.class]
		k.Expected += res.Published
		k.Delivered += cl.got.Load()
		k.GapReported += cl.gaps.Load()
		k.OutOfOrder += cl.order.Load()
		if cl.broken.Load() {
			k.Disconnected++
		}
	}
	for i := range res.Classes {
		k := &res.Classes[i]
		missing := k.Expected - min(k.Expected, k.Delivered)
		if k.Stalled {
			k.Dropped = missing
		} else {
			k.Lost = missing
		}
		k.P50us, k.P99us = hists[i].quantile(0.50), hists[i].quantile(0.99)
	}
	return res, nil
}

// waitFor polls check every 50ms until it reports done, its count stops
// changing for quiet, or limit passes.
func waitFor(limit, quiet time.Duration, check func() (done bool, count uint64)) {
	_, last := check()
	changed := time.Now()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		done, n := check()
		if done {
			return
		}
		if n != last {
			last, changed = n, time.Now()
		} else if time.Since(changed) > quiet {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// soakInfo fetches the soak server's /debug, collecting garbage first if gc.
func soakInfo(ctx context.Context, addr string, gc bool) (SoakServerInfo, error) {
	url := "http://" + addr + "/debug"
	if gc {
		url += "?gc=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return SoakServerInfo{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return SoakServerInfo{}, fmt.Errorf("load: soak: debug: %w", err)
	}
	defer resp.Body.Close()
	var info SoakServerInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return SoakServerInfo{}, fmt.Errorf("load: soak: debug: %w", err)
	}
	return info, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
