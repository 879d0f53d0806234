// Command cluster is a chat served by several instances that share Redis:
// WebSocket clients through a stream.Hub, EventSource clients through a
// stream.SSEBroker, both relayed between instances by redisrelay.
//
// Run two instances and open both:
//
//	go run . -addr 127.0.0.1:8081 -redis 127.0.0.1:6379
//	go run . -addr 127.0.0.1:8082 -redis 127.0.0.1:6379
//
// A line sent to either instance reaches every client of both, once. Event
// IDs are Redis stream IDs, so an EventSource that reconnects to the other
// instance resumes with no gap. If Redis restarts, each instance keeps
// serving its WebSocket clients, events published meanwhile are appended
// once Redis is back, and GET /stats reports what Pub/Sub lost.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/stdrealtime/realtime/examples/cluster/redisrelay"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	prefix := flag.String("prefix", "realtime:", "prefix of Redis keys and channels")
	mode := flag.String("hub-mode", "pubsub", `how WebSocket broadcasts cross Redis: "pubsub" (at-most-once) or "streams"`)
	maxLen := flag.Int64("maxlen", 10000, "approximate length of each Redis stream")
	debug := flag.Bool("debug", false, "log at debug level")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("instance", *addr)
	redis.SetLogger(redisLogger{log})

	cfg := redisrelay.Config{Prefix: *prefix, MaxLen: *maxLen, Logger: log}
	switch *mode {
	case "pubsub":
	case "streams":
		cfg.Broadcast = redisrelay.Streams
	default:
		fmt.Fprintf(os.Stderr, "cluster: -hub-mode %q: want pubsub or streams\n", *mode)
		os.Exit(2)
	}
	if err := run(*addr, *redisAddr, cfg, log); err != nil {
		log.Error("cluster: stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until SIGINT or SIGTERM, then shuts down: the listener
// first, then the streams of connected clients, then the relay and Redis.
func run(addr, redisAddr string, cfg redisrelay.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rc := redis.NewClient(&redis.Options{
		Addr:                     redisAddr,
		DialTimeout:              2 * time.Second,
		MaxRetries:               -1, // the relay retries with its own backoff
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		// Not fatal: the relay connects when Redis comes up.
		log.Warn("cluster: redis not reachable yet", "redis", redisAddr, "err", err)
	}
	a := newApp(addr, redisrelay.New(rc, cfg), log)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		a.close()
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("cluster: serving", "url", "http://"+ln.Addr().String(), "redis", redisAddr, "hub_mode", cfg.Broadcast)

	select {
	case err := <-done:
		a.close()
		return err
	case <-ctx.Done():
	}
	log.Info("cluster: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Hijacked WebSocket connections and streaming responses are not
	// waited for by Shutdown: closing the hub and broker ends them.
	go a.close()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	a.close()
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("cluster: stopped", "stats", a.stats())
	return nil
}

// redisLogger sends go-redis's own log lines to slog at debug level.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}
