// Package exampletest runs an example command's server in a test: on a
// free loopback port, with its log in the test's output, stopped as
// SIGTERM would stop it.
package exampletest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Logger returns a logger that writes to t's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// Run is an example's run function, as exampleserver.Main calls it.
type Run func(ctx context.Context, ln net.Listener, log *slog.Logger) error

// Instance is one run of an example's server.
type Instance struct {
	Addr string // host:port it listens on
	URL  string // "http://" + Addr

	cancel context.CancelFunc
	done   chan error
}

// Start runs run on a free port of 127.0.0.1 until Stop, which the test's
// cleanup calls if the test did not.
func Start(t testing.TB, run Run) *Instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &Instance{
		Addr:   ln.Addr().String(),
		URL:    "http://" + ln.Addr().String(),
		cancel: cancel,
		done:   make(chan error, 1),
	}
	log := Logger(t)
	go func() { in.done <- run(ctx, ln, log) }()
	t.Cleanup(func() { in.Stop(t) })
	return in
}

// Signal ends the run's context, as SIGTERM does, and returns at once.
// Safe to call from any goroutine.
func (in *Instance) Signal() { in.cancel() }

// Stop ends the run's context, as SIGTERM does, and waits up to 15s for
// run to return; the test fails if run returns an error or does not
// return. Later calls do nothing.
func (in *Instance) Stop(t testing.TB) {
	t.Helper()
	if in.done == nil {
		return
	}
	in.cancel()
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	in.done = nil
}

// Vars reads the example's entry name in /debug/vars into v.
func Vars(t testing.TB, baseURL, name string, v any) {
	t.Helper()
	resp, err := http.Get(baseURL + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatalf("/debug/vars: %v", err)
	}
	raw, ok := all[name]
	if !ok {
		t.Fatalf("/debug/vars has no %q", name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("/debug/vars %s = %s: %v", name, raw, err)
	}
}

// CheckGoroutines fails the test if, once its later cleanups have run
// (stopping servers, closing clients), more goroutines are left than when
// it was called. Call it first in a test, so that its check runs last.
// Goroutines take a moment to end after their connections close, so the
// check waits up to 10s for the count to come down.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// Pages checks an example's embedded pages served at base: each path in
// types answers 200 with a body, a Content-Type starting with its value
// and a Content-Security-Policy of default-src 'self'; unknown paths and
// the embedded directory itself answer 404.
func Pages(t *testing.T, base string, types map[string]string) {
	t.Helper()
	for path, want := range types {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) || len(body) == 0 {
			t.Errorf("GET %s: %s %q, %d bytes", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	for _, path := range []string{"/nope", "/static/index.html"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}
