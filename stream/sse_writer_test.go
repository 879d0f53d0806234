package stream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// noFlushWriter hides every optional interface of the ResponseWriter it
// wraps, as middleware without Unwrap does.
type noFlushWriter struct{ w http.ResponseWriter }

func (n noFlushWriter) Header() http.Header         { return n.w.Header() }
func (n noFlushWriter) Write(p []byte) (int, error) { return n.w.Write(p) }
func (n noFlushWriter) WriteHeader(code int)        { n.w.WriteHeader(code) }

// unwrapWriter is middleware that hides the optional interfaces but offers
// Unwrap, as http.ResponseController expects.
type unwrapWriter struct{ noFlushWriter }

func (u unwrapWriter) Unwrap() http.ResponseWriter { return u.w }

// lockedWriter is a ResponseWriter that records what it is given and may
// be read while a writer writes to it.
type lockedWriter struct {
	mu      sync.Mutex
	h       http.Header
	code    int
	body    strings.Builder
	flushes int
	fail    error // returned by Write once set
}

func newLockedWriter() *lockedWriter { return &lockedWriter{h: http.Header{}} }

func (l *lockedWriter) Header() http.Header { return l.h }
func (l *lockedWriter) WriteHeader(code int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.code == 0 {
		l.code = code
	}
}
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return 0, l.fail
	}
	if l.code == 0 {
		l.code = http.StatusOK
	}
	return l.body.Write(p)
}
func (l *lockedWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushes++
}
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.body.String()
}

func checkSSEHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, v := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, ok := h["Content-Length"]; ok {
		t.Errorf("Content-Length sent: %q", h.Get("Content-Length"))
	}
}

// headerHandler sets headers of its own, some of which the writer must
// replace, and sends one event.
func headerHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Custom", "kept")
	w.Header().Set("Cache-Control", "max-age=60")
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", "5")
	sw := NewSSEWriter(w)
	if err := sw.Send(Event{Data: "hi"}); err != nil {
		panic(err)
	}
}

func TestSSEWriterHeadersHTTP1(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(headerHandler))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
		t.Fatalf("%s %s", resp.Proto, resp.Status)
	}
	checkSSEHeaders(t, resp.Header)
	if got := resp.Header.Get("X-Custom"); got != "kept" {
		t.Errorf("X-Custom = %q, want the handler's header kept", got)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "data: hi\n\n" {
		t.Errorf("body %q", body)
	}
}

// HTTP/2 forbids connection-specific headers (RFC 9113 §8.2.2); the
// server must not send the Connection header the writer sets for HTTP/1.
func TestSSEWriterHeadersHTTP2(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(headerHandler))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	checkSSEHeaders(t, resp.Header)
	if v, ok := resp.Header["Connection"]; ok {
		t.Errorf("Connection %q sent over HTTP/2", v)
	}
	r := NewEventReader(resp.Body)
	if e, err := r.Next(); err != nil || e.Data != "hi" {
		t.Errorf("event %+v, %v", e, err)
	}
}

// Each method writes its exact wire form and flushes it.
func TestSSEWriterWireForms(t *testing.T) {
	tests := []struct {
		name string
		call func(*SSEWriter) error
		want string
	}{
		{"Send", func(s *SSEWriter) error { return s.Send(Event{Type: Custom, Name: "n", ID: "1", Data: "a\nb"}) }, "event: n\nid: 1\ndata: a\ndata: b\n\n"},
		{"WriteEvent", func(s *SSEWriter) error { return s.WriteEvent("tick", "1") }, "event: tick\ndata: 1\n\n"},
		{"WriteEvent cuts the name", func(s *SSEWriter) error { return s.WriteEvent("a\r\ndata: x", "1") }, "event: a\ndata: 1\n\n"},
		{"WriteMessage", func(s *SSEWriter) error { return s.WriteMessage("m") }, "data: m\n\n"},
		{"WriteData", func(s *SSEWriter) error { return s.WriteData(map[string]any{"a": 1, "b": "x\ny"}) }, "data: {\"a\":1,\"b\":\"x\\ny\"}\n\n"},
		{"WriteError", func(s *SSEWriter) error { return s.WriteError("bad\nthing") }, "event: error\ndata: bad\ndata: thing\n\n"},
		{"WriteDone", func(s *SSEWriter) error { return s.WriteDone() }, "event: done\ndata: \n\n"},
		{"WriteComment", func(s *SSEWriter) error { return s.WriteComment("hi") }, ": hi\n"},
		{"WriteComment empty", func(s *SSEWriter) error { return s.WriteComment("") }, ":\n"},
		{"WriteComment cut at LF", func(s *SSEWriter) error { return s.WriteComment("a\ndata: x") }, ": a\n"},
		{"WriteComment cut at CR", func(s *SSEWriter) error { return s.WriteComment("a\rdata: x") }, ": a\n"},
		{"SetID", func(s *SSEWriter) error { return s.SetID("5") }, "id: 5\n\n"},
		{"SetID empty resets", func(s *SSEWriter) error { return s.SetID("") }, "id:\n\n"},
		{"SetID ResetID", func(s *SSEWriter) error { return s.SetID(ResetID) }, "id:\n\n"},
		{"SetID cut", func(s *SSEWriter) error { return s.SetID("7\nevent: x") }, "id: 7\n\n"},
		{"SetRetry", func(s *SSEWriter) error { return s.SetRetry(1500 * time.Millisecond) }, "retry: 1500\n\n"},
		{"SetRetry rounds up", func(s *SSEWriter) error { return s.SetRetry(time.Nanosecond) }, "retry: 1\n\n"},
		{"Flush", func(s *SSEWriter) error { return s.Flush() }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			sw := NewSSEWriter(rec)
			if err := tt.call(sw); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("wrote %q, want %q", got, tt.want)
			}
			if !rec.Flushed || rec.Code != http.StatusOK {
				t.Errorf("flushed %v, status %d", rec.Flushed, rec.Code)
			}
			checkSSEHeaders(t, rec.Header())
		})
	}
}

// SetRetry(0) and a value that JSON cannot encode write nothing, and do
// not break the writer.
func TestSSEWriterWritesNothing(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := NewSSEWriter(rec)
	if err := sw.SetRetry(0); err != nil {
		t.Fatal(err)
	}
	if err := sw.SetRetry(-time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sw.WriteData(make(chan int)); err == nil || !strings.HasPrefix(err.Error(), "stream: sse write data:") {
		t.Fatalf("WriteData(chan) = %v", err)
	}
	if rec.Body.Len() != 0 || rec.Flushed {
		t.Fatalf("wrote %q", rec.Body.String())
	}
	if err := sw.WriteMessage("ok"); err != nil || rec.Body.String() != "data: ok\n\n" {
		t.Fatalf("after: %v, %q", err, rec.Body.String())
	}
}

// Where the response cannot be flushed, every method fails with an error
// wrapping http.ErrNotSupported, and nothing panics.
func TestSSEWriterNotSupported(t *testing.T) {
	rec := httptest.NewRecorder()
	sw := NewSSEWriter(noFlushWriter{rec})
	calls := []func() error{
		func() error { return sw.Send(Event{Data: "x"}) },
		func() error { return sw.WriteComment("c") },
		func() error { return sw.SetID("1") },
		func() error { return sw.Flush() },
	}
	for i, call := range calls {
		err := call()
		if !errors.Is(err, http.ErrNotSupported) {
			t.Fatalf("call %d: %v, want http.ErrNotSupported", i, err)
		}
		if !strings.HasPrefix(err.Error(), "stream: sse ") {
			t.Errorf("error %q does not name the operation", err)
		}
	}
	stop := sw.KeepAlive(context.Background(), time.Millisecond)
	stop()
}

// Middleware that wraps the ResponseWriter and offers Unwrap still
// streams: the client reads each event while the handler is blocked.
func TestSSEWriterBehindMiddleware(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := NewSSEWriter(unwrapWriter{noFlushWriter{w}})
		for i := range 3 {
			if err := sw.Send(Event{Data: fmt.Sprint(i)}); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	checkSSEHeaders(t, resp.Header)
	r := NewEventReader(resp.Body)
	for i := range 3 {
		e, err := r.Next()
		if err != nil || e.Data != fmt.Sprint(i) {
			t.Fatalf("event %d: %+v, %v", i, e, err)
		}
		next <- struct{}{}
	}
}

// Once the client has gone, writes fail with ErrClosed, and keep failing.
func TestSSEWriterClientGone(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			result := make(chan error, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sw := NewSSEWriter(w)
				sw.WriteMessage("first")
				<-r.Context().Done()
				// The peer may take a few writes to notice; bound the loop.
				deadline := time.Now().Add(10 * time.Second)
				var err error
				for err == nil && time.Now().Before(deadline) {
					err = sw.WriteMessage(strings.Repeat("x", 1024))
				}
				if err != nil {
					if err2 := sw.WriteComment("again"); err2 != err {
						err = fmt.Errorf("later call returned %v, not %v", err2, err)
					}
				}
				result <- err
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			ctx, cancel := context.WithCancel(t.Context())
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewEventReader(resp.Body).Next(); err != nil {
				t.Fatal(err)
			}
			cancel()
			resp.Body.Close()
			if err := <-result; !errors.Is(err, ErrClosed) {
				t.Fatalf("write after the client left: %v, want ErrClosed", err)
			}
		})
	}
}

// KeepAlive writes a comment only when the stream has been silent for the
// interval, and nothing once stopped or once the context ends.
func TestSSEWriterKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lw := newLockedWriter()
		sw := NewSSEWriter(lw)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		stop := sw.KeepAlive(ctx, 10*time.Second)
		step := func(d time.Duration, want string) {
			t.Helper()
			time.Sleep(d)
			synctest.Wait()
			if got := lw.String(); got != want {
				t.Fatalf("at %v: %q, want %q", time.Now().Format("04:05"), got, want)
			}
		}
		step(9*time.Second, "")
		step(time.Second, ":\n") // 10s: silent since the start
		step(5*time.Second, ":\n")
		sw.WriteMessage("m")                         // 15s
		step(5*time.Second, ":\ndata: m\n\n")        // 20s: only 5s of silence
		step(5*time.Second, ":\ndata: m\n\n:\n")     // 25s
		step(10*time.Second, ":\ndata: m\n\n:\n:\n") // 35s
		stop()                                       // stop is final
		step(time.Minute, ":\ndata: m\n\n:\n:\n")    //
		stop()                                       // and idempotent

		// The end of the context stops it too.
		lw2 := newLockedWriter()
		sw2 := NewSSEWriter(lw2)
		ctx2, cancel2 := context.WithCancel(t.Context())
		defer sw2.KeepAlive(ctx2, time.Second)()
		time.Sleep(time.Second)
		synctest.Wait()
		cancel2()
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := lw2.String(); got != ":\n" {
			t.Fatalf("after cancel: %q", got)
		}

		// A failed write ends it.
		lw3 := newLockedWriter()
		lw3.fail = errors.New("broken pipe")
		sw3 := NewSSEWriter(lw3)
		defer sw3.KeepAlive(t.Context(), time.Second)()
		time.Sleep(time.Minute)
		synctest.Wait()
		lw3.mu.Lock()
		flushes := lw3.flushes
		lw3.mu.Unlock()
		if flushes != 0 {
			t.Fatalf("kept writing after a failure")
		}
		if err := sw3.WriteMessage("x"); !errors.Is(err, ErrClosed) {
			t.Fatalf("after failure: %v", err)
		}
	})
}

// Removing the write timeout lifts the deadline the last write set; a
// stalled client still fails a write that has a timeout.
func TestSSEWriterWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stalled := make(chan error, 1)
		_, cfg := servePipe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := NewSSEWriter(w)
			sw.SetWriteTimeout(time.Second)
			if err := sw.WriteMessage("1"); err != nil {
				t.Error(err)
			}
			if r.URL.Path == "/stall" {
				// The client reads no more, and net.Pipe holds nothing:
				// the write blocks until its deadline.
				stalled <- sw.WriteMessage(strings.Repeat("x", 1<<20))
				return
			}
			sw.SetWriteTimeout(0)
			time.Sleep(time.Minute)
			if err := sw.WriteMessage("2"); err != nil {
				t.Errorf("write after the timeout was removed: %v", err)
			}
		}))
		resp, err := cfg.Client.Get("http://sse.test/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "data: 1\n\ndata: 2\n\n" {
			t.Fatalf("body %q", body)
		}

		resp, err = cfg.Client.Get("http://sse.test/stall")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReaderSize(resp.Body, 16)
		if line, _ := br.ReadString('\n'); line != "data: 1\n" {
			t.Fatalf("read %q", line)
		}
		start := time.Now()
		if err := <-stalled; !errors.Is(err, ErrClosed) || time.Since(start) > time.Second {
			t.Fatalf("write to a stalled client: %v after %v", err, time.Since(start))
		}
	})
}

// Concurrent writers, comments and keepalives never interleave inside an
// event: the client reads every event whole and in each writer's order.
func TestSSEWriterConcurrent(t *testing.T) {
	const writers, each = 8, 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := NewSSEWriter(w)
		defer sw.KeepAlive(r.Context(), time.Microsecond)()
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				for i := range each {
					data := fmt.Sprintf("%d %d\n%s", g, i, strings.Repeat("y", i))
					var err error
					switch i % 4 {
					case 0:
						err = sw.Send(Event{Type: Custom, Name: "e", ID: fmt.Sprint(g), Data: data})
					case 1:
						err = sw.WriteMessage(data)
					case 2:
						err = sw.WriteEvent("e", data)
					default:
						if err = sw.WriteComment("c"); err == nil {
							err = sw.WriteMessage(data)
						}
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		sw.WriteDone()
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := NewEventReader(resp.Body)
	next := make([]int, writers)
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == Done {
			break
		}
		var g, i int
		head, tail, _ := strings.Cut(e.Data, "\n")
		if _, err := fmt.Sscanf(head, "%d %d", &g, &i); err != nil || g < 0 || g >= writers {
			t.Fatalf("mangled event %q", e.Data)
		}
		if i != next[g] || tail != strings.Repeat("y", i) {
			t.Fatalf("writer %d: event %d %q, want event %d", g, i, e.Data, next[g])
		}
		next[g]++
	}
	for g, n := range next {
		if n != each {
			t.Errorf("writer %d: %d events, want %d", g, n, each)
		}
	}
}
