//go:build unix

package stream

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// The fan-out benchmark runs its clients in a child process (this test
// binary running TestHubBenchFleet), so that the server's memory per
// connection is measured without the clients' and each process stays
// within its file descriptor limit.
const (
	hubFleetAddr  = "STREAM_HUB_FLEET_ADDR"
	hubFleetConns = "STREAM_HUB_FLEET_CONNS"
)

// BenchmarkHubFanout broadcasts b.N messages to 1,000 and 10,000 real
// loopback connections and reports deliveries per second (messages
// received by clients over the time from the first send to the last
// receipt), p50 and p99 delivery latency, and the server's heap and
// goroutine stack per connection. Every 32nd message is sent with
// BroadcastWait, so the sender keeps at most 32 messages in flight and
// nothing is dropped. Run with a fixed count, for example
// -bench=HubFanout -benchtime=200x.
func BenchmarkHubFanout(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) {
			if n > 1000 && testing.Short() {
				b.Skip("10,000 connections skipped in -short mode")
			}
			if lim := hubRaiseNoFile(); lim < uint64(n)+200 {
				b.Skipf("file descriptor limit %d is too low for %d connections", lim, n)
			}
			hubBenchFanout(b, n)
		})
	}
}

func hubBenchFanout(b *testing.B, n int) {
	h := NewHub(HubConfig{MessageType: BinaryMessage})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h.Handler(WSConfig{}, nil)}
	go srv.Serve(l)
	defer srv.Close()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHubBenchFleet$", "-test.count=1")
	cmd.Env = append(os.Environ(), hubFleetAddr+"="+l.Addr().String(), hubFleetConns+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	readLine := func(prefix string) []string {
		for lines.Scan() {
			if f := strings.Fields(lines.Text()); len(f) > 0 && f[0] == prefix {
				return f[1:]
			}
		}
		b.Fatalf("client fleet ended without %q: %v", prefix, lines.Err())
		return nil
	}
	readLine("ready")
	deadline := time.Now().Add(time.Minute)
	for h.Count() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d connections registered", h.Count(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(n)
	stack := float64(int64(after.StackInuse)-int64(before.StackInuse)) / float64(n)

	msg := make([]byte, 32)
	b.ResetTimer()
	for i := range b.N {
		binary.LittleEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		if i%32 == 31 || i == b.N-1 {
			if err := h.BroadcastWait(b.Context(), msg); err != nil {
				b.Fatal(err)
			}
		} else if !h.Broadcast(msg) {
			b.Fatal("broadcast refused")
		}
	}
	b.StopTimer()
	st := h.Stats()
	h.Stop()
	f := readLine("result")
	var v [5]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i], 10, 64)
	}
	count, p50, p99, first, last := v[0], v[1], v[2], v[3], v[4]
	if want := int64(b.N) * int64(n); count != want {
		b.Fatalf("clients received %d messages, want %d (stats %+v)", count, want, st)
	}
	b.ReportMetric(float64(count)/(float64(last-first)/1e9), "deliveries/s")
	b.ReportMetric(float64(p50)/1e3, "p50-µs")
	b.ReportMetric(float64(p99)/1e3, "p99-µs")
	b.ReportMetric(heap, "heap-B/conn")
	b.ReportMetric(stack, "stack-B/conn")
	b.ReportMetric(float64(st.Drops), "drops")
}

// TestHubBenchFleet is the client side of BenchmarkHubFanout; it does
// nothing unless started by it. It opens the connections, prints
// "ready", records the latency of every binary message (whose first 8
// bytes are the send time) until the server closes, and prints "result"
// with the count, p50 and p99 in nanoseconds and the first send and last
// receipt times.
func TestHubBenchFleet(t *testing.T) {
	addr := os.Getenv(hubFleetAddr)
	if addr == "" {
		t.Skip("client side of BenchmarkHubFanout")
	}
	n, _ := strconv.Atoi(os.Getenv(hubFleetConns))
	hubRaiseNoFile()
	peers := make([]*wstest.Peer, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				p, _, err := wstest.DialServer(addr, "/", nil)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					continue
				}
				p.Conn.SetDeadline(time.Time{})
				peers[i] = p
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		return
	}
	fmt.Println("ready")

	var mu sync.Mutex
	var lats []int64
	first, last := int64(1<<62), int64(0)
	for _, p := range peers {
		wg.Go(func() {
			var mine []int64
			myFirst, myLast := int64(1<<62), int64(0)
			for {
				f, err := p.ReadFrame()
				if err != nil {
					break
				}
				if f.Opcode == wsframe.OpClose {
					p.WriteFrame(true, wsframe.OpClose, f.Payload[:min(2, len(f.Payload))])
					break
				}
				now := time.Now().UnixNano()
				if len(f.Payload) >= 8 {
					sent := int64(binary.LittleEndian.Uint64(f.Payload))
					mine = append(mine, now-sent)
					myFirst, myLast = min(myFirst, sent), max(myLast, now)
				}
			}
			p.Close()
			mu.Lock()
			lats = append(lats, mine...)
			first, last = min(first, myFirst), max(last, myLast)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lats)
	var p50, p99 int64
	if len(lats) > 0 {
		p50, p99 = lats[len(lats)/2], lats[len(lats)*99/100]
	}
	fmt.Println("result", len(lats), p50, p99, first, last)
}

// hubRaiseNoFile raises the soft file descriptor limit to the hard one
// and returns the limit in force.
func hubRaiseNoFile() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r)
	}
	return r.Cur
}
