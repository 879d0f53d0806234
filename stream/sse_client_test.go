package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// pipeNet is an in-memory network for tests inside a synctest bubble:
// every connection is a net.Pipe, so goroutines blocked on it are durably
// blocked and the fake clock can advance.
type pipeNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	// refuse, when it returns true, makes a dial fail.
	refuse func() bool
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (p *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

func (p *pipeNet) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

func (p *pipeNet) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

func (p *pipeNet) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	if p.refuse != nil && p.refuse() {
		return nil, errors.New("connection refused")
	}
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// servePipe serves h on an in-memory network inside the current bubble
// and returns a config whose client reaches it; everything is torn down
// when the test ends.
func servePipe(t *testing.T, h http.Handler) (*pipeNet, SSEClientConfig) {
	pn := newPipeNet()
	srv := &http.Server{Handler: h}
	go srv.Serve(pn)
	tr := &http.Transport{DialContext: pn.dial}
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return pn, SSEClientConfig{Client: &http.Client{Transport: tr}}
}

const pipeURL = "http://sse.test/events"

// retryLog records OnRetry calls.
type retryLog struct {
	mu     sync.Mutex
	delays []time.Duration
	errs   []error
}

func (l *retryLog) record(err error, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.delays = append(l.delays, d)
	l.errs = append(l.errs, err)
}

func mustNext(t *testing.T, c *SSEClient) Event {
	t.Helper()
	e, err := c.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return e
}

func TestSSEClientRequestAndEvents(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Accept"); got != "text/event-stream" {
			t.Errorf("Accept = %q", got)
		}
		if got := r.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("Cache-Control = %q", got)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer k" {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("Last-Event-ID"); got != "41" {
			t.Errorf("Last-Event-ID = %q, want the configured 41", got)
		}
		sw := NewSSEWriter(w)
		sw.Send(Event{ID: "42", Data: "a\nb"})
		sw.WriteEvent("tick", "1")
		sw.WriteError("e")
		sw.WriteDone()
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, err := ConnectSSE(context.Background(), srv.URL, SSEClientConfig{
		Header:      http.Header{"Authorization": {"Bearer k"}},
		LastEventID: "41",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := []Event{
		{Type: Message, Data: "a\nb", ID: "42"},
		{Type: Custom, Name: "tick", Data: "1", ID: "42"},
		{Type: Error, Data: "e", ID: "42"},
		{Type: Done, ID: "42"},
	}
	for i, w := range want {
		if e := mustNext(t, c); e != w {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
	if c.LastEventID() != "42" {
		t.Errorf("LastEventID = %q", c.LastEventID())
	}
}

// After the server ends the stream the client waits the server's retry
// time, jittered upward by at most a quarter, and resumes with
// Last-Event-ID; events of the new connection without an id keep it.
func TestSSEClientReconnectsAfterRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			conns atomic.Int32
			ended time.Time
			came  = make(chan time.Time, 1)
		)
		_, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := NewSSEWriter(w)
			switch conns.Add(1) {
			case 1:
				if id := r.Header.Get("Last-Event-ID"); id != "" {
					t.Errorf("first request sent Last-Event-ID %q", id)
				}
				sw.SetRetry(2 * time.Second)
				sw.Send(Event{ID: "1", Data: "one"})
				sw.Send(Event{ID: "2", Data: "two"})
				ended = time.Now()
			case 2:
				came <- time.Now()
				if id := r.Header.Get("Last-Event-ID"); id != "2" {
					t.Errorf("reconnect sent Last-Event-ID %q, want 2", id)
				}
				sw.Send(Event{Data: "three"})
				<-r.Context().Done()
			default:
				t.Errorf("unexpected connection")
			}
		}))
		var log retryLog
		cfg.OnRetry = log.record
		c, err := ConnectSSE(t.Context(), pipeURL, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, want := range []Event{{ID: "1", Data: "one"}, {ID: "2", Data: "two"}, {ID: "2", Data: "three"}} {
			if e := mustNext(t, c); e != want {
				t.Fatalf("got %+v, want %+v", e, want)
			}
		}
		if c.Retry() != 2*time.Second {
			t.Errorf("Retry = %v", c.Retry())
		}
		waited := (<-came).Sub(ended)
		if len(log.delays) != 1 || waited != log.delays[0] {
			t.Fatalf("waited %v, OnRetry saw %v", waited, log.delays)
		}
		if waited < 2*time.Second || waited > 2500*time.Millisecond {
			t.Errorf("reconnected after %v, want 2s to 2.5s", waited)
		}
		if !errors.Is(log.errs[0], io.EOF) {
			t.Errorf("OnRetry error %v, want one wrapping io.EOF", log.errs[0])
		}
	})
}

// Attempts that fail in a row double the delay up to MaxRetry; a stream
// that is established resets it.
func TestSSEClientBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var refusing atomic.Int32 // dials left to refuse
		var conns atomic.Int32
		pn, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := NewSSEWriter(w)
			n := conns.Add(1)
			sw.Send(Event{Data: fmt.Sprint(n)})
			if n == 1 {
				refusing.Store(4)
				return
			}
			<-r.Context().Done()
		}))
		pn.refuse = func() bool { return refusing.Add(-1) >= 0 }
		// Every attempt dials, rather than reusing the first connection.
		cfg.Client.Transport.(*http.Transport).DisableKeepAlives = true
		var log retryLog
		cfg.OnRetry = log.record
		cfg.Retry = time.Second
		cfg.MaxRetry = 5 * time.Second
		c, err := ConnectSSE(t.Context(), pipeURL, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		mustNext(t, c)
		if e := mustNext(t, c); e.Data != "2" {
			t.Fatalf("got %+v", e)
		}
		bases := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
		if len(log.delays) != len(bases) {
			t.Fatalf("delays %v, want %d", log.delays, len(bases))
		}
		for i, d := range log.delays {
			if d < bases[i] || d > bases[i]+bases[i]/4 {
				t.Errorf("delay %d = %v, want %v plus at most a quarter", i, d, bases[i])
			}
			if i > 0 && !strings.Contains(log.errs[i].Error(), "connection refused") {
				t.Errorf("OnRetry error %d = %v", i, log.errs[i])
			}
		}
	})
}

// A retry of zero from the server cannot make the client spin.
func TestSSEClientRetryFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var conns atomic.Int32
		_, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			if conns.Add(1) == 1 {
				io.WriteString(w, "retry: 0\ndata: x\n\n")
				return
			}
			io.WriteString(w, "data: y\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}))
		var log retryLog
		cfg.OnRetry = log.record
		c, err := ConnectSSE(t.Context(), pipeURL, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		mustNext(t, c)
		mustNext(t, c)
		if c.Retry() != 0 || len(log.delays) != 1 || log.delays[0] < minSSERetry {
			t.Fatalf("retry %v, delays %v; want at least %v", c.Retry(), log.delays, minSSERetry)
		}
	})
}

// 204 No Content stops the client for good, on the first request as on a
// reconnection.
func TestSSEClientStopsOn204(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var conns atomic.Int32
		_, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if conns.Add(1) == 1 {
				NewSSEWriter(w).Send(Event{Data: "x"})
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}))
		c, err := ConnectSSE(t.Context(), pipeURL, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		mustNext(t, c)
		for range 2 {
			if _, err := c.Next(); err != io.EOF {
				t.Fatalf("Next = %v, want io.EOF", err)
			}
		}
		time.Sleep(time.Hour)
		if n := conns.Load(); n != 2 {
			t.Errorf("%d requests, want 2", n)
		}

		c, err = ConnectSSE(t.Context(), pipeURL, cfg)
		if err != nil {
			t.Fatalf("ConnectSSE on 204: %v", err)
		}
		var got []Event
		for e, err := range c.Events() {
			if err != nil {
				t.Fatalf("Events yielded %v", err)
			}
			got = append(got, e)
		}
		if len(got) != 0 {
			t.Errorf("events %v from a 204", got)
		}
	})
}

// Any other status, or a response that is not an event stream, fails the
// stream without a reconnection and with a typed error.
func TestSSEClientFailsOnBadResponse(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ctype  string
	}{
		{"server error", http.StatusInternalServerError, "text/event-stream"},
		{"unavailable", http.StatusServiceUnavailable, ""},
		{"not found", http.StatusNotFound, "text/plain"},
		{"wrong type", http.StatusOK, "application/json"},
		{"no type", http.StatusOK, ""},
		{"type prefix", http.StatusOK, "text/event-streams"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var conns atomic.Int32
				_, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if conns.Add(1) == 2 {
						NewSSEWriter(w).Send(Event{Data: "x"})
						return
					}
					w.Header()["Content-Type"] = []string{tt.ctype}
					w.WriteHeader(tt.status)
					io.WriteString(w, "data: no\n\n")
				}))
				_, err := ConnectSSE(t.Context(), pipeURL, cfg)
				var re *SSEResponseError
				if !errors.As(err, &re) || re.StatusCode != tt.status || re.ContentType != tt.ctype {
					t.Fatalf("ConnectSSE error %v, want *SSEResponseError %d %q", err, tt.status, tt.ctype)
				}

				// The same response on a reconnection ends the stream.
				c, err := ConnectSSE(t.Context(), pipeURL, cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				mustNext(t, c)
				for range 2 {
					if _, err := c.Next(); !errors.As(err, &re) {
						t.Fatalf("Next = %v, want *SSEResponseError", err)
					}
				}
				time.Sleep(time.Hour)
				if n := conns.Load(); n != 3 {
					t.Errorf("%d requests, want 3", n)
				}
			})
		})
	}
}

func TestSSEClientAcceptsContentTypeParameters(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "Text/Event-Stream; charset=utf-8")
		io.WriteString(w, "data: x\n\n")
	}))
	defer srv.Close()
	c, err := ConnectSSE(t.Context(), srv.URL, SSEClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e := mustNext(t, c); e.Data != "x" {
		t.Fatalf("got %+v", e)
	}
}

func TestSSEClientConnectErrors(t *testing.T) {
	if _, err := ConnectSSE(t.Context(), "://bad", SSEClientConfig{}); err == nil || !strings.HasPrefix(err.Error(), "stream: sse connect:") {
		t.Errorf("bad URL: %v", err)
	}
	// A port nobody listens on: the first attempt fails at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := ConnectSSE(t.Context(), "http://"+addr+"/", SSEClientConfig{}); err == nil {
		t.Error("connecting to a closed port succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ConnectSSE(ctx, "http://"+addr+"/", SSEClientConfig{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// A server that sends a line over the limit fails the stream; the client
// neither grows without bound nor reconnects to be fed the same line.
func TestSSEClientLineLimit(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conns.Add(1)
		sw := NewSSEWriter(w)
		sw.Send(Event{Data: "ok"})
		sw.Send(Event{Data: strings.Repeat("x", 5000)})
		<-r.Context().Done()
	}))
	defer srv.Close()
	c, err := ConnectSSE(t.Context(), srv.URL, SSEClientConfig{MaxLineLen: 1024, Retry: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustNext(t, c)
	if _, err := c.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("Next = %v, want ErrLineTooLong", err)
	}
	if _, err := c.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("error not sticky: %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}

	c, err = ConnectSSE(t.Context(), srv.URL, SSEClientConfig{MaxEventData: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustNext(t, c)
	if _, err := c.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("Next = %v, want ErrEventTooLarge", err)
	}
}

// The context bounds everything: a Next blocked on the network or waiting
// to reconnect returns its cause, and so does Close.
func TestSSEClientContextAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var conns atomic.Int32
		_, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := NewSSEWriter(w)
			sw.Send(Event{Data: "x"})
			if conns.Add(1)%2 == 0 {
				return // end at once, so that the client waits to reconnect
			}
			<-r.Context().Done()
		}))
		cfg.Retry = time.Minute
		for _, tc := range []struct {
			name  string
			wait  bool // cancel while waiting to reconnect
			close bool
			want  error
		}{
			{"cancel while reading", false, false, context.Canceled},
			{"cancel while waiting", true, false, context.Canceled},
			{"close while reading", false, true, ErrClosed},
			{"close while waiting", true, true, ErrClosed},
		} {
			conns.Store(0)
			if tc.wait {
				conns.Store(1)
			}
			ctx, cancel := context.WithCancel(t.Context())
			c, err := ConnectSSE(ctx, pipeURL, cfg)
			if err != nil {
				t.Fatal(err)
			}
			mustNext(t, c)
			start := time.Now()
			go func() {
				time.Sleep(time.Second)
				if tc.close {
					c.Close()
				} else {
					cancel()
				}
			}()
			_, err = c.Next()
			if !errors.Is(err, tc.want) || time.Since(start) != time.Second {
				t.Errorf("%s: Next = %v after %v, want %v after 1s", tc.name, err, time.Since(start), tc.want)
			}
			if _, err2 := c.Next(); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("%s: error not sticky: %v", tc.name, err2)
			}
			c.Close()
			c.Close()
			cancel()
			synctest.Wait()
		}
	})
}

// A connection on which nothing arrives for IdleTimeout is replaced.
func TestSSEClientIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var conns atomic.Int32
		_, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := conns.Add(1)
			sw := NewSSEWriter(w)
			sw.Send(Event{Data: fmt.Sprint(n)})
			<-r.Context().Done()
		}))
		var log retryLog
		cfg.OnRetry = log.record
		cfg.IdleTimeout = 30 * time.Second
		cfg.Retry = time.Second
		c, err := ConnectSSE(t.Context(), pipeURL, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		mustNext(t, c)
		if e := mustNext(t, c); e.Data != "2" {
			t.Fatalf("got %+v", e)
		}
		if len(log.errs) != 1 || !errors.Is(log.errs[0], os.ErrDeadlineExceeded) {
			t.Fatalf("OnRetry errors %v, want the idle timeout", log.errs)
		}
		if d := time.Since(start) - log.delays[0]; d != 30*time.Second {
			t.Errorf("idle connection dropped after %v, want 30s", d)
		}
	})
}

// The idle timeout also bounds the wait for the response headers.
func TestSSEClientIdleTimeoutBeforeResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done() // never answers
		}))
		cfg.IdleTimeout = 5 * time.Second
		start := time.Now()
		_, err := ConnectSSE(t.Context(), pipeURL, cfg)
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Fatalf("ConnectSSE = %v after %v, want the idle timeout after 5s", err, time.Since(start))
		}
	})
}

// An ID the server set that no HTTP header can carry is not sent back.
func TestSSEClientOmitsUnsendableID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var conns atomic.Int32
		_, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			switch conns.Add(1) {
			case 1:
				io.WriteString(w, "id: a\x01b\ndata: x\n\n")
			case 2:
				if v, ok := r.Header["Last-Event-Id"]; ok {
					t.Errorf("sent Last-Event-ID %q", v)
				}
				io.WriteString(w, "id: \tok ü\ndata: y\n\n")
			default:
				if v := r.Header.Get("Last-Event-ID"); v != "ok ü" {
					t.Errorf("sent Last-Event-ID %q", v)
				}
				io.WriteString(w, "data: z\n\n")
			}
		}))
		c, err := ConnectSSE(t.Context(), pipeURL, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, want := range []string{"x", "y", "z"} {
			if e := mustNext(t, c); e.Data != want {
				t.Fatalf("got %+v, want %q", e, want)
			}
		}
	})
}

// Over real sockets, reading, reconnecting and closing leave no goroutine
// behind.
func TestSSEClientNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		var conns atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := NewSSEWriter(w)
			sw.SetRetry(time.Millisecond)
			sw.Send(Event{ID: fmt.Sprint(conns.Add(1)), Data: "x"})
			if r.Header.Get("Last-Event-ID") == "" {
				return
			}
			<-r.Context().Done()
		}))
		defer srv.Close()
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		c, err := ConnectSSE(t.Context(), srv.URL, SSEClientConfig{Client: &http.Client{Transport: tr}, IdleTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		mustNext(t, c)
		if e := mustNext(t, c); e.ID != "2" {
			t.Fatalf("got %+v", e)
		}
		c.Close()
		if _, err := c.Next(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
