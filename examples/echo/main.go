// Command echo serves a WebSocket echo endpoint at /ws: every message is
// sent back with its own type. Any origin is accepted and messages up to
// 16 MiB are read. It shuts down gracefully on SIGINT or SIGTERM, closing
// connections with 1001 Going Away; /debug/vars counts connections and
// messages.
//
//	go run ./examples/echo
//
// With -tls it serves HTTPS with HTTP/2 and a page at / that echoes
// through a WebSocket; see tls.go.
//
//	GODEBUG=http2xconnect=1 go run ./examples/echo -tls
package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/stdrealtime/realtime/examples/internal/exampleserver"
	"github.com/stdrealtime/realtime/stream"
)

// echoStats are the echo server's counters, "echo" in /debug/vars.
type echoStats struct {
	Connections int    `json:"connections"` // open now
	Accepted    uint64 `json:"accepted"`    // upgraded in all
	Messages    uint64 `json:"messages"`    // echoed in all
}

// counters are the running totals behind echoStats.
type counters struct {
	accepted, messages atomic.Uint64
}

// newHandler returns the echo endpoint; connections are tracked by tr so
// shutdown can close them with 1001.
func newHandler(tr *stream.Tracker, n *counters) http.Handler {
	cfg := stream.WSConfig{
		ReadLimit:   16 << 20,
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := tr.Upgrade(w, r, cfg)
		if err != nil {
			return // Upgrade has answered the request
		}
		n.accepted.Add(1)
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
			n.messages.Add(1)
		}
	})
	return mux
}

// run serves on ln until ctx is done, then shuts down.
func run(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	var tr stream.Tracker
	var n counters
	h := newHandler(&tr, &n)
	if *useTLS {
		var err error
		if ln, h, err = withTLS(ln, h, log); err != nil {
			return err
		}
	}
	srv := &exampleserver.Server{
		Name:    "echo",
		Handler: h,
		Logger:  log,
		Tracker: &tr,
		Stats: func() any {
			return echoStats{Connections: tr.Len(), Accepted: n.accepted.Load(), Messages: n.messages.Load()}
		},
	}
	return srv.Serve(ctx, ln)
}

func main() {
	exampleserver.Main("echo", "echoes WebSocket messages at /ws", run)
}
