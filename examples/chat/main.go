// Command chat is a chat room in the browser over Server-Sent Events.
//
//	go run ./examples/chat
//
// Open the printed URL in two windows, pick a name and talk. Messages are
// posted as JSON to /send and reach every page through a stream.SSEBroker
// on /events. The broker keeps the last messages, so a page whose
// connection drops resumes where it left off, with nothing missed and
// nothing twice. /debug/vars shows the broker's counters.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/stdrealtime/realtime/stream"
)

//go:embed static
var static embed.FS

// Limits on what a client may post.
const (
	maxBodyBytes = 4 << 10
	maxNameLen   = 32   // characters
	maxTextLen   = 1000 // characters
)

// message is what /send accepts and what pages receive as "chat" events.
type message struct {
	Name string    `json:"name"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

// server is the chat: its handlers and the broker that fans messages out.
type server struct {
	broker *stream.SSEBroker
	log    *slog.Logger
}

func newServer(log *slog.Logger) *server {
	return &server{
		broker: stream.NewSSEBroker(stream.SSEBrokerConfig{
			Topic:          "chat",
			Replay:         1000, // a page away for fewer messages misses none
			MaxSubscribers: 10000,
			Logger:         log,
		}),
		log: log,
	}
}

// routes returns the chat's handler.
func (s *server) routes() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	page := securityHeaders(http.FileServerFS(files))
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /chat.js", page)
	mux.Handle("GET /chat.css", page)
	mux.Handle("GET /events", s.broker)
	mux.HandleFunc("POST /send", s.send) // other methods get 405 from the mux
	mux.Handle("GET /debug/vars", expvar.Handler())
	return mux
}

// securityHeaders keeps the page to its own scripts and styles.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// send publishes one message: a JSON object {"name": ..., "text": ...}.
func (s *server) send(w http.ResponseWriter, r *http.Request) {
	// Requiring JSON also keeps other sites' forms out: a cross-site
	// request with this content type needs a CORS preflight, which we
	// do not answer.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "send: Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var m message
	err := dec.Decode(&m)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("send: body larger than %d bytes", maxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "send: invalid JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	m.Name, m.Text = strings.TrimSpace(m.Name), strings.TrimSpace(m.Text)
	switch {
	case m.Name == "" || m.Text == "":
		http.Error(w, "send: name and text are required", http.StatusBadRequest)
		return
	case utf8.RuneCountInString(m.Name) > maxNameLen:
		http.Error(w, fmt.Sprintf("send: name longer than %d characters", maxNameLen), http.StatusBadRequest)
		return
	case utf8.RuneCountInString(m.Text) > maxTextLen:
		http.Error(w, fmt.Sprintf("send: text longer than %d characters", maxTextLen), http.StatusBadRequest)
		return
	}
	m.Time = time.Now().UTC()
	data, err := json.Marshal(m)
	if err != nil {
		http.Error(w, "send: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if err := s.broker.PublishContext(r.Context(), stream.Event{Type: stream.Custom, Name: "chat", Data: string(data)}); err != nil {
		http.Error(w, "send: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// The running broker's Stats are published once, as "chat" in /debug/vars.
var (
	statsOnce   sync.Once
	statsBroker atomic.Pointer[stream.SSEBroker]
)

func publishStats(b *stream.SSEBroker) {
	statsBroker.Store(b)
	statsOnce.Do(func() {
		expvar.Publish("chat", expvar.Func(func() any { return statsBroker.Load().Stats() }))
	})
}

// run serves the chat on ln until ctx ends, then shuts down gracefully.
func run(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	s := newServer(log)
	publishStats(s.broker)
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// No WriteTimeout: it would cut the event streams short. The
		// broker bounds each of its writes instead.
	}
	// Shutdown closes the listener, then waits for handlers to return;
	// closing the broker ends the event streams, which never would.
	srv.RegisterOnShutdown(func() { s.broker.Close() })

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.broker.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	fmt.Printf("chat: open http://%s/ in two browser windows (Ctrl-C to stop)\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, ln, log)
	stop()
	if err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}
