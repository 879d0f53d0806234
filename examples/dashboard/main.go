// Command dashboard shows a server's live metrics in the browser over
// Server-Sent Events.
//
//	go run ./examples/dashboard -journal dashboard.journal
//
// Open the printed URL. Every -interval the server reads its own metrics
// (goroutines, heap, GC cycles, uptime, requests served, open streams) and
// publishes them as a "sample" event with JSON data through a
// stream.SSEBroker on /events; the page draws them and shows the state of
// its connection, how often it reconnected and the last event ID.
//
// Samples carry IDs of their own, "<stream>-<seq>", and the last -keep of
// them are kept in the broker's replay ring and, with -journal, in a file.
// A restarted server reloads the file, puts those samples back in the ring
// under their IDs and continues the sequence, so a page that reconnects
// across the restart receives every sample it missed, none twice. Without
// -journal the samples live in memory and a restart begins a new stream.
// /debug/vars shows the broker's counters.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/stdrealtime/realtime/examples/internal/exampleserver"
	"github.com/stdrealtime/realtime/stream"
)

//go:embed static
var static embed.FS

// config holds the command's flags.
type config struct {
	interval  time.Duration // between samples
	heartbeat time.Duration // broker heartbeat on silent streams
	retry     time.Duration // reconnection delay sent to pages
	journal   string        // file keeping the last samples; "" = memory only
	keep      int           // samples kept for pages that reconnect
}

// defaultConfig is the configuration the flags start from.
func defaultConfig() config {
	return config{
		interval:  time.Second,
		heartbeat: 15 * time.Second,
		retry:     time.Second,
		keep:      300,
	}
}

// server is the dashboard: its handlers, the broker that fans samples out
// and the journal that keeps the last ones.
type server struct {
	cfg      config
	broker   *stream.SSEBroker
	journal  *journal // used by the sampling goroutine only, once serving
	sampler  *sampler
	log      *slog.Logger
	requests atomic.Uint64
}

// newServer opens the journal and puts the samples it holds back into a
// new broker's replay ring under their original IDs.
func newServer(cfg config, log *slog.Logger) (*server, error) {
	if cfg.interval <= 0 {
		return nil, fmt.Errorf("dashboard: interval %v, want > 0", cfg.interval)
	}
	j, err := openJournal(cfg.journal, cfg.keep, log)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	s := &server{
		cfg: cfg,
		broker: stream.NewSSEBroker(stream.SSEBrokerConfig{
			Topic:             "dashboard",
			HeartbeatInterval: cfg.heartbeat,
			Replay:            cfg.keep,
			MaxSubscribers:    10000,
			// Samples go on even if a page cannot keep up: it loses
			// the oldest ones it has queued and is told so.
			BlockTimeout: -1,
			Logger:       log,
		}),
		journal: j,
		sampler: newSampler(time.Now()),
		log:     log,
	}
	recs := j.Records()
	for _, rec := range recs {
		if err := s.broker.Publish(s.event(rec)); err != nil {
			s.broker.Close()
			j.Close()
			return nil, fmt.Errorf("dashboard: replay journal: %w", err)
		}
	}
	if len(recs) > 0 {
		log.Info("journal loaded", "path", cfg.journal, "samples", len(recs),
			"first", j.EventID(recs[0].Seq), "last", j.EventID(recs[len(recs)-1].Seq))
	}
	return s, nil
}

// event returns the SSE event of a journal record.
func (s *server) event(rec record) stream.Event {
	return stream.Event{
		Type:  stream.Custom,
		Name:  "sample",
		ID:    s.journal.EventID(rec.Seq),
		Data:  string(rec.Data),
		Retry: s.cfg.retry,
	}
}

// publishSample takes a sample, journals it, then publishes it: a sample
// a page has seen is always in the journal (unless writing it failed,
// which is logged).
func (s *server) publishSample() error {
	data, err := json.Marshal(s.sampler.read(s.requests.Load(), s.broker.SubscriberCount()))
	if err != nil {
		return fmt.Errorf("dashboard: sample: %w", err)
	}
	rec := s.journal.Append(data)
	return s.broker.Publish(s.event(rec))
}

// sample publishes a sample every interval until ctx ends or the broker
// is closed.
func (s *server) sample(ctx context.Context) {
	t := time.NewTicker(s.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.publishSample(); err != nil {
			s.log.Info("sampling stopped", "err", err)
			return
		}
	}
}

// routes returns the dashboard's handler.
func (s *server) routes() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	page := exampleserver.Pages(files)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /dashboard.js", page)
	mux.Handle("GET /dashboard.css", page)
	mux.Handle("GET /favicon.svg", page)
	mux.Handle("GET /events", s.broker)
	return s.countRequests(mux)
}

// countRequests counts every request received, for the samples.
func (s *server) countRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h.ServeHTTP(w, r)
	})
}

// run serves the dashboard on ln until ctx ends, then shuts down
// gracefully: sampling stops first, so the last sample published is in
// the journal, then the event streams end and the server closes. The
// broker's Stats are "dashboard" in /debug/vars.
func run(ctx context.Context, ln net.Listener, cfg config, log *slog.Logger) error {
	s, err := newServer(cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer s.journal.Close()

	// The first sample is in the replay ring before any page connects,
	// so every page starts from a sample's ID.
	if err := s.publishSample(); err != nil {
		ln.Close()
		s.broker.Close()
		return err
	}
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		s.sample(sampleCtx)
	}()

	srv := &exampleserver.Server{
		Name:    "dashboard",
		Handler: s.routes(),
		Logger:  log,
		Stats:   func() any { return s.broker.Stats() },
		OnShutdown: []func(){
			func() { stopSampling(); <-sampled },
			func() { s.broker.Close() },
		},
	}
	return srv.Serve(ctx, ln)
}

func main() {
	cfg := defaultConfig()
	flag.DurationVar(&cfg.interval, "interval", cfg.interval, "time between samples")
	flag.DurationVar(&cfg.heartbeat, "heartbeat", cfg.heartbeat, "longest silence on an event stream before a heartbeat comment (negative: none)")
	flag.DurationVar(&cfg.retry, "retry", cfg.retry, "reconnection delay sent to pages")
	flag.StringVar(&cfg.journal, "journal", "", "file keeping the last samples across restarts (empty: memory only)")
	flag.IntVar(&cfg.keep, "keep", cfg.keep, "samples kept for pages that reconnect")
	exampleserver.Main("dashboard", "open it in a browser", func(ctx context.Context, ln net.Listener, log *slog.Logger) error {
		return run(ctx, ln, cfg, log)
	})
}
