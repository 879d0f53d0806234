package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Each chunk reaches the client while the handler is still running, over
// HTTP/1.1 (chunked transfer coding) and HTTP/2.
func TestChunkedWriterStreams(t *testing.T) {
	chunks := []string{"first,", "second,", strings.Repeat("big", 10000), "last"}
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("http2=%v", h2), func(t *testing.T) {
			ack := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-ndjson")
				cw := NewChunkedWriter(w)
				defer cw.Close()
				for _, c := range chunks {
					if err := cw.WriteChunk([]byte(c)); err != nil {
						t.Error(err)
						return
					}
					select {
					case <-ack:
					case <-r.Context().Done():
						return
					}
				}
			}))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if h2 != (resp.ProtoMajor == 2) {
				t.Fatalf("protocol %s", resp.Proto)
			}
			if !h2 && (len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked") {
				t.Errorf("Transfer-Encoding %v, want chunked", resp.TransferEncoding)
			}
			if got := resp.Header.Get("X-Accel-Buffering"); got != "no" {
				t.Errorf("X-Accel-Buffering = %q", got)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/x-ndjson" {
				t.Errorf("Content-Type = %q, want the handler's", got)
			}
			for _, c := range chunks {
				buf := make([]byte, len(c))
				if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != c {
					t.Fatalf("read %q, %v; want %.20q", buf, err, c)
				}
				ack <- struct{}{}
			}
			if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
				t.Fatalf("after the last chunk: %q, %v", rest, err)
			}
		})
	}
}

// An empty chunk flushes the headers, so the client sees the response
// before any body.
func TestChunkedWriterEmptyChunkSendsHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		cw := NewChunkedWriter(w)
		if err := cw.WriteChunk(nil); err != nil {
			t.Error(err)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
}

func TestChunkedWriterClose(t *testing.T) {
	rec := httptest.NewRecorder()
	cw := NewChunkedWriter(rec)
	if err := cw.WriteChunk([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	err := cw.WriteChunk([]byte("b"))
	if !errors.Is(err, ErrClosed) || !strings.HasPrefix(err.Error(), "stream: write chunk:") {
		t.Fatalf("WriteChunk after Close: %v", err)
	}
	if rec.Body.String() != "a" || !rec.Flushed {
		t.Fatalf("body %q, flushed %v", rec.Body.String(), rec.Flushed)
	}
}

func TestChunkedWriterNotSupported(t *testing.T) {
	rec := httptest.NewRecorder()
	cw := NewChunkedWriter(noFlushWriter{rec})
	for range 2 {
		if err := cw.WriteChunk([]byte("x")); !errors.Is(err, http.ErrNotSupported) {
			t.Fatalf("WriteChunk: %v, want http.ErrNotSupported", err)
		}
	}
	// Behind middleware that offers Unwrap it streams.
	rec = httptest.NewRecorder()
	cw = NewChunkedWriter(unwrapWriter{noFlushWriter{rec}})
	if err := cw.WriteChunk([]byte("x")); err != nil || !rec.Flushed {
		t.Fatalf("behind Unwrap: %v, flushed %v", err, rec.Flushed)
	}
}

func TestChunkedWriterClientGone(t *testing.T) {
	result := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := NewChunkedWriter(w)
		cw.WriteChunk([]byte("hello"))
		<-r.Context().Done()
		deadline := time.Now().Add(10 * time.Second)
		var err error
		for err == nil && time.Now().Before(deadline) {
			err = cw.WriteChunk(bytes.Repeat([]byte("x"), 1024))
		}
		if err2 := cw.WriteChunk([]byte("y")); err2 != err {
			err = fmt.Errorf("later call returned %v, not %v", err2, err)
		}
		result <- err
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 5))
	cancel()
	resp.Body.Close()
	if err := <-result; !errors.Is(err, ErrClosed) {
		t.Fatalf("write after the client left: %v, want ErrClosed", err)
	}
}

// Concurrent chunks are written whole: no chunk is split by another.
func TestChunkedWriterConcurrent(t *testing.T) {
	const writers, each, size = 8, 100, 512
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := NewChunkedWriter(w)
		defer cw.Close()
		var wg sync.WaitGroup
		for g := range writers {
			wg.Go(func() {
				rec := bytes.Repeat([]byte{'a' + byte(g)}, size)
				for range each {
					if err := cw.WriteChunk(rec); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != writers*each*size {
		t.Fatalf("%d bytes, want %d", len(body), writers*each*size)
	}
	for i := 0; i < len(body); i += size {
		rec := body[i : i+size]
		if !bytes.Equal(rec, bytes.Repeat(rec[:1], size)) {
			t.Fatalf("chunk at %d interleaved: %q", i, rec)
		}
	}
}
