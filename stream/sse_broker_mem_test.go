package stream

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// bkMemPeer is a Server-Sent Events server whose memory per subscriber is
// measured: the broker, or a peer written by hand on net/http.
type bkMemPeer interface {
	http.Handler
	publish(data string)
	subscribers() int
	delivered() uint64
	close()
}

type bkMemBroker struct{ *SSEBroker }

func (b bkMemBroker) publish(data string) { _ = b.Publish(Event{Data: data}) }
func (b bkMemBroker) subscribers() int    { return b.SubscriberCount() }
func (b bkMemBroker) delivered() uint64   { return b.Stats().Delivered }
func (b bkMemBroker) close()              { _ = b.Close() }

// bkMemLoop is the minimal event-stream handler a program would write on
// net/http alone: a buffered channel per subscriber, each event written and
// flushed as it arrives, encoded once per publish. A subscriber whose
// channel is full is dropped.
type bkMemLoop struct {
	queue int
	mu    sync.Mutex
	subs  map[chan []byte]struct{}
	done  chan struct{}
	n     atomic.Int64
	sent  atomic.Uint64
}

func newBkMemLoop(queue int) *bkMemLoop {
	return &bkMemLoop{queue: queue, subs: make(map[chan []byte]struct{}), done: make(chan struct{})}
}

func (l *bkMemLoop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	flusher := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ch := make(chan []byte, l.queue)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	l.n.Add(1)
	defer func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
		l.n.Add(-1)
	}()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if _, err := w.Write(ev); err != nil {
				return
			}
			flusher.Flush()
			l.sent.Add(1)
		case <-r.Context().Done():
			return
		case <-l.done:
			return
		}
	}
}

func (l *bkMemLoop) publish(data string) {
	ev := []byte("data: " + data + "\n\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.subs {
		select {
		case ch <- ev:
		default:
			delete(l.subs, ch)
			close(ch)
		}
	}
}

func (l *bkMemLoop) subscribers() int  { return int(l.n.Load()) }
func (l *bkMemLoop) delivered() uint64 { return l.sent.Load() }
func (l *bkMemLoop) close()            { close(l.done) }

// bkMemUse is the memory a set of subscribers holds, per subscriber.
type bkMemUse struct {
	heap, stack float64 // bytes of in-use heap spans and goroutine stacks
}

func (u bkMemUse) total() float64 { return u.heap + u.stack }

// bkMeasureSubscribers serves subs subscribers with peer over loopback,
// publishes bursts of events to them (as a busy stream does), waits until
// every event is written, and returns the memory held per subscriber once
// the streams are idle: the server's connections, goroutines and
// subscriber state, and the client ends of the connections (which do not
// read and hold no goroutine, so they weigh little and the same for every
// peer).
func bkMeasureSubscribers(tb testing.TB, peer bkMemPeer, subs, bursts, burst int) bkMemUse {
	srv := httptest.NewServer(peer)
	defer srv.Close()
	defer peer.close()

	before := bkMemStats()
	conns := make([]net.Conn, 0, subs)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	addr := srv.Listener.Addr().String()
	for range subs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")); err != nil {
			tb.Fatal(err)
		}
	}
	bkWaitFor(tb, "every subscriber to join", func() bool { return peer.subscribers() == subs })
	// Read the response headers of one stream: it is being served.
	if resp, err := http.ReadResponse(bufio.NewReader(conns[0]), nil); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("response %v, %v", resp, err)
	}

	data := strings.Repeat("x", 64)
	start := peer.delivered()
	for i := range bursts {
		for range burst {
			peer.publish(data)
		}
		want := start + uint64(subs*burst*(i+1))
		bkWaitFor(tb, "every event to be written", func() bool { return peer.delivered() >= want })
	}
	if n := peer.subscribers(); n != subs {
		tb.Fatalf("%d subscribers left, want %d", n, subs)
	}
	after := bkMemStats()
	return bkMemUse{
		heap:  float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(subs),
		stack: float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(subs),
	}
}

// bkMemStats collects garbage until goroutine stacks have shrunk to what
// they use, then reads the memory statistics.
func bkMemStats() runtime.MemStats {
	for range 12 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// BenchmarkSSESubscriberMemory reports the memory an idle subscriber holds
// after bursts of events (B/subscriber: in-use heap plus goroutine stacks;
// heap-B and stack-B apart), for the broker and for a minimal handler
// written on net/http, measured in the same run. Both queue up to 256
// events per subscriber.
func BenchmarkSSESubscriberMemory(b *testing.B) {
	const subs, queue = 1000, 256
	peers := []struct {
		name string
		new  func() bkMemPeer
	}{
		{"broker", func() bkMemPeer {
			return bkMemBroker{NewSSEBroker(SSEBrokerConfig{HeartbeatInterval: -1, DefaultBuf: queue})}
		}},
		{"broker-heartbeat", func() bkMemPeer {
			return bkMemBroker{NewSSEBroker(SSEBrokerConfig{DefaultBuf: queue})}
		}},
		{"stdlib-loop", func() bkMemPeer { return newBkMemLoop(queue) }},
	}
	for _, p := range peers {
		for _, burst := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/burst=%d", p.name, burst), func(b *testing.B) {
				var u bkMemUse
				for b.Loop() {
					u = bkMeasureSubscribers(b, p.new(), subs, 4, burst)
				}
				b.ReportMetric(u.total(), "B/subscriber")
				b.ReportMetric(u.heap, "heap-B/subscriber")
				b.ReportMetric(u.stack, "stack-B/subscriber")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// TestSSESubscriberDropsBurstQueues checks that a subscriber gives up the
// queue arrays a burst grew once it has written the burst, and keeps small
// ones for the next events.
func TestSSESubscriberDropsBurstQueues(t *testing.T) {
	for _, tc := range []struct {
		burst   int
		maxKept int // slots left in the queue after the burst
	}{
		{1, 4},
		{maxSSEKeptQueue, maxSSEKeptQueue},
		{maxSSEKeptQueue + 1, 0},
		{1000, 0},
	} {
		b := NewSSEBroker(SSEBrokerConfig{HeartbeatInterval: -1})
		rec := httptest.NewRecorder()
		s := &sseSub{b: b, w: rec, rc: http.NewResponseController(rec), limit: 1024, wake: make(chan struct{}, 1)}
		for i := range tc.burst {
			s.q.push(sseItem{b: bkEvent(fmt.Appendf(nil, "data: %d\n\n", i))}, int(s.limit))
		}
		if err := s.flushQueue(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(rec.Body.String(), "\n\n"); got != tc.burst {
			t.Fatalf("burst of %d: %d events written", tc.burst, got)
		}
		if kept := len(s.q.bufs); kept > tc.maxKept {
			t.Errorf("burst of %d: %d queue slots kept, want at most %d", tc.burst, kept, tc.maxKept)
		}
		// Later events still flow.
		s.q.push(sseItem{b: bkEvent([]byte("data: next\n\n"))}, int(s.limit))
		if err := s.flushQueue(); err != nil || !strings.HasSuffix(rec.Body.String(), "data: next\n\n") {
			t.Fatalf("burst of %d: next event not written (%v)", tc.burst, err)
		}
		b.Close()
	}
}
