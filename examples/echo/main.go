// Command echo serves a WebSocket echo endpoint at /ws: every message is
// sent back with its own type. Any origin is accepted and messages up to
// 16 MiB are read. It shuts down gracefully on SIGINT or SIGTERM.
//
//	go run ./examples/echo -addr 127.0.0.1:9001
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// newHandler returns the echo endpoint; connections are tracked by tr so
// shutdown can close them with 1001.
func newHandler(tr *stream.Tracker) http.Handler {
	cfg := stream.WSConfig{
		ReadLimit:   16 << 20,
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Upgrade(w, r, cfg)
		if err != nil {
			return // Upgrade has answered the request
		}
		tr.Track(c)
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	})
	return mux
}

// serve runs the server on l until ctx is done, then shuts it down.
func serve(ctx context.Context, l net.Listener) error {
	var tr stream.Tracker
	srv := &http.Server{Handler: newHandler(&tr), ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(tr.CloseAll)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if werr := tr.Shutdown(sctx); err == nil {
		err = werr
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("echo: serving ws://%s/ws", l.Addr())
	if err := serve(ctx, l); err != nil {
		log.Fatal(err)
	}
}
