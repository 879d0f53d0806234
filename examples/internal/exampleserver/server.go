// Package exampleserver holds what the example commands share: the -addr
// flag, a log/slog logger, /debug/vars with the example's counters,
// headers for embedded pages, and a graceful shutdown on SIGINT or SIGTERM
// that ends event streams and closes WebSocket connections with 1001
// Going Away before the program exits.
package exampleserver

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// DefaultShutdownTimeout bounds a graceful shutdown when
// Server.ShutdownTimeout is zero.
const DefaultShutdownTimeout = 10 * time.Second

// Server runs one example's HTTP server until its context ends, then
// shuts it down gracefully. Set its fields before calling Serve and do not
// change them after.
type Server struct {
	// Name names the example: its counters appear under it in
	// /debug/vars.
	Name string
	// Handler serves the example's routes. Serve answers GET /debug/vars
	// itself and passes every other request to Handler.
	Handler http.Handler
	// Logger receives the server's own lines and http.Server's errors;
	// nil means slog.Default().
	Logger *slog.Logger
	// Stats, if set, is published as Name in /debug/vars. It is called
	// on every request for /debug/vars, from any goroutine.
	Stats func() any
	// Tracker, if set, holds WebSocket connections that shutdown closes
	// with 1001 Going Away; Serve waits for them to close.
	Tracker *stream.Tracker
	// OnShutdown runs, in order, once the listener is closed: stop what
	// produces events, close SSE brokers (their streams never end by
	// themselves) and stop hubs (which close their connections with
	// 1001). Serve waits for them to return. They also run when Serve
	// fails, so that nothing is left running.
	OnShutdown []func()
	// ShutdownTimeout bounds the whole shutdown; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Serve serves on ln until ctx ends, then shuts down: it stops accepting,
// runs OnShutdown, closes the Tracker's WebSocket connections with 1001,
// and waits for handlers to return, all within ShutdownTimeout. It
// returns nil after a clean shutdown, or the error that ended serving or
// made the shutdown incomplete. Serve closes ln. A Server serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	if s.Stats != nil {
		publishStats(s.Name, s.Stats)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /debug/vars", expvar.Handler())
	mux.Handle("/", s.Handler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// No WriteTimeout: it would cut event streams and WebSocket
		// connections short. The brokers and connections bound each of
		// their writes instead.
	}
	// Shutdown closes the listener, then waits for handlers to return;
	// event streams never would by themselves, and hijacked WebSocket
	// connections are not its concern at all.
	closed := make(chan struct{})
	srv.RegisterOnShutdown(func() {
		defer close(closed)
		s.closeStreams()
	})

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.closeStreams()
		return fmt.Errorf("%s: serve: %w", s.Name, err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	select {
	case <-closed:
	case <-sctx.Done():
		err = errors.Join(err, fmt.Errorf("on shutdown: %w", sctx.Err()))
	}
	if s.Tracker != nil {
		if terr := s.Tracker.Shutdown(sctx); terr != nil {
			err = errors.Join(err, fmt.Errorf("close WebSocket connections: %w", terr))
		}
	}
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("%s: shutdown: %w", s.Name, err)
	}
	log.Info("shut down")
	return nil
}

// closeStreams runs the OnShutdown functions in order and starts closing
// the tracked WebSocket connections.
func (s *Server) closeStreams() {
	for _, f := range s.OnShutdown {
		f()
	}
	if s.Tracker != nil {
		s.Tracker.CloseAll()
	}
}
