package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/load"
	"github.com/stdrealtime/realtime/internal/bench/server"
)

// TestImplementationsBehaveAlike starts every registered implementation
// in-process and checks, with the benchmark's own client, that each does
// the work the scenarios count: echo returns every message unchanged, and
// a broadcast reaches every subscriber once, in order. Those that implement
// DeflateEchoer also echo over permessage-deflate, compressed both ways;
// the others have no /echo-deflate, and no plain /echo agrees to it.
func TestImplementationsBehaveAlike(t *testing.T) {
	impls := server.All()
	if len(impls) == 0 {
		t.Fatal("no implementation registered")
	}
	for _, impl := range impls {
		t.Run(impl.Name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			s := impl.New()
			srv := httptest.NewServer(server.Handler(s, impl.Protocol))
			addr := srv.Listener.Addr().String()
			proto := load.Protocol(impl.Protocol)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if impl.Protocol != server.SSE {
				checkEcho(t, ctx, addr, proto, "/echo")
				checkEcho(t, ctx, addr, proto, "/echo-detached")
				checkNoDeflate(t, ctx, addr, "/echo")
			}
			if _, ok := s.(server.DeflateEchoer); ok {
				checkEchoDeflate(t, ctx, addr)
			} else if impl.Protocol == server.WebSocket {
				checkNoDeflate(t, ctx, addr, "/echo-deflate")
			}
			checkBroadcast(t, ctx, addr, proto)
			s.Close()
			srv.Close()
			checkNoLeak(t, before)
		})
	}
}

func checkEcho(t *testing.T, ctx context.Context, addr string, proto load.Protocol, path string) {
	t.Helper()
	c, err := load.Dial(ctx, addr, path, proto)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, size := range []int{1, 16, 125, 126, 1024, 65535, 65536, 200_000} {
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i*7 + size)
		}
		if err := c.Write(c.Frame(payload)); err != nil {
			t.Fatalf("%s: echo %d bytes: write: %v", path, size, err)
		}
		got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("%s: echo %d bytes: read: %v", path, size, err)
		}
		if string(got) != string(payload) {
			t.Fatalf("%s: echo %d bytes: got %d bytes back, not the same", path, size, len(got))
		}
	}
}

// jsonText returns n bytes of compressible JSON-like text.
func jsonText(n int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"user%d","score":%d},`, i, i%97, i*31%1000)
	}
	return []byte(b.String()[:n])
}

func checkEchoDeflate(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	c, err := load.DialDeflate(ctx, addr, "/echo-deflate")
	if err != nil {
		t.Fatalf("dial /echo-deflate: %v", err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, size := range []int{1, 127, server.DeflateThreshold, 1024, 16 << 10, 65536, 200_000} {
		payload := jsonText(size)
		frame := c.Frame(payload)
		if size >= 1024 && len(frame) >= size {
			t.Fatalf("echo-deflate %d bytes: frame of %d bytes is not compressed", size, len(frame))
		}
		if err := c.Write(frame); err != nil {
			t.Fatalf("echo-deflate %d bytes: write: %v", size, err)
		}
		got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("echo-deflate %d bytes: read: %v", size, err)
		}
		if string(got) != string(payload) {
			t.Fatalf("echo-deflate %d bytes: got %d bytes back, not the same", size, len(got))
		}
		// Every library compresses a message of DeflateThreshold bytes
		// or more once permessage-deflate is agreed.
		if size >= server.DeflateThreshold && !c.Compressed() {
			t.Fatalf("echo-deflate %d bytes: reply not compressed", size)
		}
	}
}

// checkNoDeflate checks that path does not agree to permessage-deflate, so
// that the client's check of the agreement has something to refuse.
func checkNoDeflate(t *testing.T, ctx context.Context, addr, path string) {
	t.Helper()
	c, err := load.DialDeflate(ctx, addr, path)
	if err == nil {
		c.Close()
		t.Fatalf("%s agreed to permessage-deflate", path)
	}
}

func checkBroadcast(t *testing.T, ctx context.Context, addr string, proto load.Protocol) {
	t.Helper()
	path := "/sub"
	if proto == load.SSE {
		path = "/sse"
	}
	const subs, msgs = 3, 5
	var clients []*load.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range subs {
		c, err := load.Dial(ctx, addr, path, proto)
		if err != nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		clients = append(clients, c)
	}
	// Subscribers register after their handshake: publish "sync" until
	// each has received one, then the numbered messages.
	synced := make(chan error, subs)
	results := make(chan []string, subs)
	for _, c := range clients {
		go func() {
			var got []string
			sawSync := false
			for len(got) < msgs {
				p, err := c.ReadMessage()
				if err != nil {
					if !sawSync {
						synced <- err
					}
					results <- append(got, "error: "+err.Error())
					return
				}
				if string(p) == "sync" {
					if !sawSync {
						sawSync = true
						synced <- nil
					}
					continue
				}
				got = append(got, string(p))
			}
			results <- got
		}()
	}
	for n := 0; n < subs; {
		publish(t, addr, "sync")
		select {
		case err := <-synced:
			if err != nil {
				t.Fatalf("subscriber: %v", err)
			}
			n++
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("subscribers never received a broadcast")
		}
	}
	var want []string
	for i := range msgs {
		m := fmt.Sprintf("message %d", i)
		want = append(want, m)
		publish(t, addr, m)
	}
	for range subs {
		got := <-results
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("subscriber got %q, want %q", got, want)
		}
	}
}

func publish(t *testing.T, addr, msg string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/publish", "text/plain", strings.NewReader(msg))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("publish: status %s", resp.Status)
	}
}

// checkNoLeak waits up to five seconds for the goroutine count to return
// to before.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left over %d:\n%s", runtime.NumGoroutine()-before, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
