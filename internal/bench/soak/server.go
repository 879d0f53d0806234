// Package soak runs the soak test: tens of thousands of WebSocket and
// Server-Sent Events clients held on a server made of a stream.Hub and a
// stream.SSEBroker with their default settings, in a process of its own,
// while broadcasts are published at a steady rate and one client in a
// hundred stops reading. It reports per class of client what was
// delivered, dropped and lost, and the server's memory and goroutines
// over time, as a markdown table and a PNG plot.
package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/stdrealtime/realtime/internal/bench/fdlimit"
	"github.com/stdrealtime/realtime/internal/bench/load"
	"github.com/stdrealtime/realtime/stream"
)

// Handler serves the soak endpoints with a Hub and a broker created with
// their default settings (the Hub sends binary messages, as broadcasts are
// raw bytes):
//
//	GET  /ws       a WebSocket connection registered with the Hub
//	GET  /sse      an SSE subscription to the broker
//	POST /publish  the body to every WebSocket connection and subscriber
//	GET  /debug    load.SoakServerInfo; ?gc=1 first collects garbage and
//	               returns freed memory to the OS
//
// stop releases the Hub and the broker. The handler is safe for concurrent
// use.
func Handler() (h http.Handler, stop func()) {
	hub := stream.NewHub(stream.HubConfig{MessageType: stream.BinaryMessage})
	broker := stream.NewSSEBroker(stream.SSEBrokerConfig{})
	mux := http.NewServeMux()
	mux.Handle("GET /ws", hub.Handler(stream.WSConfig{}, nil))
	mux.Handle("GET /sse", broker)
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		msg, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
		if err != nil || len(msg) > 1<<20 {
			http.Error(w, "publish: body unreadable or too large", http.StatusBadRequest)
			return
		}
		if !hub.Broadcast(msg) {
			http.Error(w, "publish: hub stopped", http.StatusInternalServerError)
			return
		}
		if err := broker.Publish(stream.Event{Data: string(msg)}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /debug", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") == "1" {
			runtime.GC()
			debug.FreeOSMemory()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(load.SoakServerInfo{
			PID: os.Getpid(), Goroutines: runtime.NumGoroutine(), Hub: hub.Stats(), SSE: broker.Stats(),
		})
	})
	return mux, func() {
		hub.Stop()
		_ = broker.Close()
	}
}

// DefaultSendBuffer is the SO_SNDBUF the soak server gives each
// connection (the kernel doubles it). Left alone, Linux grows a loopback
// socket's send buffer up to net.ipv4.tcp_wmem's maximum (4 MiB by
// default), which would hold minutes of a stalled client's broadcasts and
// keep the slow-consumer policy from ever applying; a bounded buffer is
// also what a server holding many connections would set.
const DefaultSendBuffer = 32 << 10

// Serve runs the soak server on a free port of 127.0.0.1, with sendBuffer
// bytes of SO_SNDBUF per connection (0 leaves the system's autotuning),
// and prints "listening <host:port>" on stdout. It returns when stdin
// reaches its end (the process that started it went away) or on SIGINT
// or SIGTERM.
func Serve(sendBuffer int) error {
	if _, err := fdlimit.Raise(); err != nil {
		fmt.Fprintf(os.Stderr, "soak server: %v\n", err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("soak server: listen: %w", err)
	}
	ln := net.Listener(tl)
	if sendBuffer > 0 {
		ln = sendBufferListener{tl, sendBuffer}
	}
	h, stop := Handler()
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		cancel()
	}()
	select {
	case <-ctx.Done():
	case err := <-errc:
		stop()
		return fmt.Errorf("soak server: serve: %w", err)
	}
	stop()
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// sendBufferListener sets the send buffer of every connection it accepts.
type sendBufferListener struct {
	net.Listener
	size int
}

func (l sendBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetWriteBuffer(l.size); err != nil {
			c.Close()
			return nil, fmt.Errorf("soak server: SO_SNDBUF: %w", err)
		}
	}
	return c, nil
}
