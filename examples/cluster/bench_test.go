package main

import (
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stdrealtime/realtime/examples/cluster/internal/redistest"
	"github.com/stdrealtime/realtime/examples/cluster/redisrelay"
	"github.com/stdrealtime/realtime/stream"
)

// BenchmarkRelay measures what crossing Redis costs against the same
// delivery in one process: a publisher on one instance, one client on
// another (or on the same one, in process). It reports deliveries/s with
// up to 256 messages in flight, and the p50 and p99 latency of single
// messages sent one at a time.
//
//	go test -run '^$' -bench Relay -benchtime 20000x
func BenchmarkRelay(b *testing.B) {
	paths := []struct {
		name  string
		relay func(b *testing.B) (stream.Relay, stream.Relay) // nil: in process
		sse   bool
	}{
		{"hub/in-process", nil, false},
		{"hub/redis-pubsub", redisRelays(redisrelay.PubSub), false},
		{"hub/redis-streams", redisRelays(redisrelay.Streams), false},
		{"sse/in-process", nil, true},
		{"sse/redis-streams", redisRelays(redisrelay.Streams), true},
	}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			var relA, relB stream.Relay
			if p.relay != nil {
				relA, relB = p.relay(b)
			}
			var publish func([]byte)
			var recv <-chan []byte
			if p.sse {
				publish, recv = ssePath(b, relA, relB)
			} else {
				publish, recv = hubPath(b, relA, relB)
			}
			measureRelay(b, publish, recv)
		})
	}
}

// redisRelays returns a function that starts redis-server and gives two
// relays on it, each with its own client, as two instances have.
func redisRelays(mode redisrelay.Mode) func(b *testing.B) (stream.Relay, stream.Relay) {
	return func(b *testing.B) (stream.Relay, stream.Relay) {
		redistest.Quiet()
		srv := redistest.Start(b, false)
		var rels [2]stream.Relay
		for i := range rels {
			c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DisableIdentity: true})
			b.Cleanup(func() { c.Close() })
			rels[i] = redisrelay.New(c, redisrelay.Config{Broadcast: mode})
		}
		return rels[0], rels[1]
	}
}

// hubPath publishes on hub A and receives on a WebSocket client of hub B
// (of A itself without relays).
func hubPath(b *testing.B, relA, relB stream.Relay) (func([]byte), <-chan []byte) {
	a := stream.NewHub(stream.HubConfig{Relay: relA})
	recvHub := a
	if relB != nil {
		recvHub = stream.NewHub(stream.HubConfig{Relay: relB})
	}
	srv := httptest.NewServer(recvHub.Handler(stream.WSConfig{}, nil))
	b.Cleanup(func() {
		a.Stop()
		recvHub.Stop()
		srv.Close()
	})
	c, _, err := stream.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), stream.DialConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	out := make(chan []byte, 1024)
	go func() {
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			out <- p
		}
	}()
	for recvHub.Count() == 0 {
		time.Sleep(time.Millisecond)
	}
	waitRelayed(b, func(p []byte) { a.Broadcast(p) }, out)
	return func(p []byte) { a.Broadcast(p) }, out
}

// ssePath publishes on broker A and receives on an SSE client of broker B
// (of A itself without relays).
func ssePath(b *testing.B, relA, relB stream.Relay) (func([]byte), <-chan []byte) {
	a := stream.NewSSEBroker(stream.SSEBrokerConfig{Relay: relA, Replay: 256})
	recvBroker := a
	if relB != nil {
		recvBroker = stream.NewSSEBroker(stream.SSEBrokerConfig{Relay: relB, Replay: 256})
	}
	srv := httptest.NewServer(recvBroker)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() {
		cancel()
		a.Close()
		recvBroker.Close()
		srv.Close()
	})
	c, err := stream.ConnectSSE(ctx, srv.URL+"/?buffer=1024", stream.SSEClientConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	out := make(chan []byte, 1024)
	go func() {
		for {
			e, err := c.Next()
			if err != nil {
				return
			}
			out <- []byte(e.Data)
		}
	}()
	publish := func(p []byte) {
		if err := a.Publish(stream.Event{Data: string(p)}); err != nil {
			b.Error(err)
		}
	}
	waitRelayed(b, publish, out)
	return publish, out
}

// waitRelayed publishes probes until one arrives, so that the relays are
// subscribed before the measurement, then drains the rest.
func waitRelayed(b *testing.B, publish func([]byte), out <-chan []byte) {
	for {
		publish([]byte("0"))
		select {
		case <-out:
			for {
				select {
				case <-out:
				case <-time.After(200 * time.Millisecond):
					return
				}
			}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func measureRelay(b *testing.B, publish func([]byte), recv <-chan []byte) {
	const window = 256
	stamp := func() []byte { return strconv.AppendInt(nil, time.Now().UnixNano(), 10) }
	next := func() []byte {
		select {
		case p := <-recv:
			return p
		case <-time.After(10 * time.Second):
			b.Fatal("no delivery within 10s")
		}
		return nil
	}

	b.ResetTimer()
	start := time.Now()
	sent := 0
	for got := 0; got < b.N; got++ {
		for sent < b.N && sent-got < window {
			publish(stamp())
			sent++
		}
		next()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")

	lat := make([]time.Duration, 0, 500)
	for range cap(lat) {
		publish(stamp())
		ns, err := strconv.ParseInt(string(next()), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(time.Unix(0, ns)))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op")
}
