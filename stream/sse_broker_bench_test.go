package stream

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// bkAddIdleSubs registers n subscribers that never write: their queues
// fill up and stay full, so every publish takes the drop-oldest path.
func bkAddIdleSubs(b *SSEBroker, n, limit int) {
	rc := http.NewResponseController(httptest.NewRecorder())
	b.mu.Lock()
	defer b.mu.Unlock()
	for range n {
		s := &sseSub{b: b, rc: rc, limit: int32(limit), wake: make(chan struct{}, 1), room: make(chan struct{}, 1), done: make(chan struct{})}
		s.idx = int32(len(b.subs))
		b.subs = append(b.subs, s)
		b.nsubs.Add(1)
	}
}

// TestSSEBrokerPublishAllocs checks that publishing allocates twice per
// event, however many subscribers it is queued to: for its encoding, and
// for the pointer to it that every queue holds (a word per queued event
// rather than a slice header).
func TestSSEBrokerPublishAllocs(t *testing.T) {
	for _, cfg := range []SSEBrokerConfig{
		{},
		{Replay: 64},
		{Policy: KeepLatest},
		{Policy: DisconnectSlow, Replay: 8},
	} {
		b := NewSSEBroker(cfg)
		bkAddIdleSubs(b, 100, 16)
		e := Event{Type: Custom, Name: "tick", Data: "line one\nline two"}
		for range 100 { // grow the queues and the ring to their limits
			b.Publish(e)
		}
		allocs := testing.AllocsPerRun(200, func() { b.Publish(e) })
		if allocs > 2 {
			t.Errorf("%+v: Publish allocates %v times with 100 subscribers, want 2", cfg, allocs)
		}
		if cfg.Policy == DisconnectSlow {
			continue
		}
		if st := b.Stats(); st.Dropped+st.Superseded == 0 {
			t.Errorf("%+v: the queues never filled: %+v", cfg, st)
		}
	}
}

// BenchmarkSSEBrokerPublish measures the publish path alone: encoding once
// and queueing to subscribers whose queues are full (the drop-oldest path),
// without any network.
func BenchmarkSSEBrokerPublish(b *testing.B) {
	for _, subs := range []int{0, 1, 100, 1000} {
		for _, replay := range []int{0, 1024} {
			b.Run(fmt.Sprintf("subs=%d/replay=%d", subs, replay), func(b *testing.B) {
				br := NewSSEBroker(SSEBrokerConfig{Replay: replay})
				bkAddIdleSubs(br, subs, 64)
				e := Event{Type: Custom, Name: "price", Data: `{"symbol":"ACME","bid":101.25,"ask":101.27}`}
				for range 2048 {
					br.Publish(e)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					br.Publish(e)
				}
			})
		}
	}
}

// BenchmarkSSEBrokerFanOut publishes to 1,000 real HTTP subscribers over
// loopback and waits until every one has read every event. Subscribers
// ask to block, so nothing is dropped and the figure is what the whole
// path (encode, queue, write, flush, TCP, client read) sustains.
// deliveries/s counts events received by subscribers per second;
// cpu-ns/delivery is the CPU time of the whole process (server and
// clients) per delivery, which other load on the machine disturbs less.
func BenchmarkSSEBrokerFanOut(b *testing.B) {
	for _, subs := range []int{1000} {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) { benchFanOut(b, subs) })
	}
}

func benchFanOut(b *testing.B, subs int) {
	br := NewSSEBroker(SSEBrokerConfig{HeartbeatInterval: -1})
	srv := httptest.NewServer(br)
	defer srv.Close()
	defer br.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: subs}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	// Every event has the same encoded size, so subscribers count bytes.
	e := Event{Data: strings.Repeat("x", 64)}
	size := int64(len(Encode(e)))
	n := int64(b.N)

	var done sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, subs)
	for range subs {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"?slow=block", nil)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		done.Add(1)
		go func() {
			defer done.Done()
			defer resp.Body.Close()
			got, err := io.CopyN(io.Discard, bufio.NewReaderSize(resp.Body, 32<<10), n*size)
			if err != nil {
				errs <- fmt.Errorf("subscriber read %d of %d bytes: %w", got, n*size, err)
			}
		}()
	}
	if br.SubscriberCount() != subs {
		b.Fatalf("%d subscribers, want %d", br.SubscriberCount(), subs)
	}

	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), bkProcessCPU()
	for range b.N {
		if err := br.PublishContext(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	done.Wait()
	elapsed, cpu := time.Since(start), bkProcessCPU()-cpu
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	// Delivered is counted when a write returns, which can be just after
	// the client has read it.
	bkWaitFor(b, "Delivered to count every event read", func() bool {
		return br.Stats().Delivered == uint64(subs)*uint64(b.N)
	})
	if st := br.Stats(); st.Dropped != 0 {
		b.Fatalf("Stats = %+v, want none dropped", st)
	}
	b.ReportMetric(float64(subs)*float64(b.N)/elapsed.Seconds(), "deliveries/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(subs)/float64(b.N), "cpu-ns/delivery")
	}
}
