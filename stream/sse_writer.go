package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// SSEWriter writes Server-Sent Events to an HTTP response and flushes each
// one to the client.
//
// It flushes through http.ResponseController, so it works behind
// middleware that wraps the ResponseWriter as long as the wrapper has an
// Unwrap method. Where the response cannot be streamed, every method
// returns an error that wraps http.ErrNotSupported; it never panics.
//
// The first write sends the response headers: Content-Type
// text/event-stream, Cache-Control no-cache and X-Accel-Buffering no (so
// nginx does not buffer the stream). Headers the handler set before the
// first write are kept unless they are one of these. No Connection header
// is sent: HTTP/1.1 keeps the connection open by default and HTTP/2
// forbids the header.
//
// Once a write fails, because the client went away or a write deadline
// passed, every later call returns an error wrapping ErrClosed.
//
// An SSEWriter is safe for concurrent use; each event is written whole.
type SSEWriter struct {
	mu           sync.Mutex
	w            http.ResponseWriter
	rc           *http.ResponseController
	started      bool
	err          error
	buf          []byte
	writeTimeout time.Duration
	deadlineSet  bool // a write deadline is in force on the connection
	lastWrite    time.Time
}

// NewSSEWriter returns an SSEWriter for w. Nothing is written until the
// first event, comment or Flush.
func NewSSEWriter(w http.ResponseWriter) *SSEWriter {
	return &SSEWriter{w: w, rc: http.NewResponseController(w)}
}

// SetWriteTimeout bounds every later write and flush: a client that does
// not take the bytes within d fails the write, and the writer is closed.
// Zero or negative removes the bound. Where the underlying connection has
// no write deadlines, the bound is silently not applied.
func (s *SSEWriter) SetWriteTimeout(d time.Duration) {
	s.mu.Lock()
	s.writeTimeout = d
	s.mu.Unlock()
}

// Send writes e and flushes it.
func (s *SSEWriter) Send(e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = AppendEvent(s.buf[:0], e)
	return s.writeLocked("send")
}

// WriteEvent writes an event named name (a Custom event) carrying data.
func (s *SSEWriter) WriteEvent(name, data string) error {
	return s.Send(Event{Type: Custom, Name: name, Data: data})
}

// WriteMessage writes an unnamed ("message") event carrying data.
func (s *SSEWriter) WriteMessage(data string) error {
	return s.Send(Event{Data: data})
}

// WriteData writes an unnamed ("message") event whose data is v encoded
// as JSON.
func (s *SSEWriter) WriteData(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("stream: sse write data: %w", err)
	}
	return s.Send(Event{Data: string(b)})
}

// WriteError writes an "error" event carrying msg.
func (s *SSEWriter) WriteError(msg string) error {
	return s.Send(Event{Type: Error, Data: msg})
}

// WriteDone writes a "done" event with empty data, the conventional end of
// a finite stream.
func (s *SSEWriter) WriteDone() error {
	return s.Send(Event{Type: Done})
}

// WriteComment writes a comment line, which clients ignore; it keeps
// proxies from closing an idle stream. text is cut at its first CR or LF.
func (s *SSEWriter) WriteComment(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = appendComment(s.buf[:0], text)
	return s.writeLocked("comment")
}

// SetID sets the client's last event ID without dispatching an event.
// An empty id (or ResetID) resets it.
func (s *SSEWriter) SetID(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = ResetID
	}
	s.buf = append(appendID(s.buf[:0], id), '\n')
	return s.writeLocked("set id")
}

// SetRetry tells the client how long to wait before reconnecting. A value
// of zero or less writes nothing.
func (s *SSEWriter) SetRetry(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(appendRetry(s.buf[:0], d), '\n')
	return s.writeLocked("set retry")
}

// Flush sends the headers if nothing was written yet and flushes any
// buffered bytes.
func (s *SSEWriter) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = s.buf[:0]
	return s.writeLocked("flush")
}

// KeepAlive writes a comment whenever the stream has been silent for
// interval, until ctx is done, a write fails, or stop is called. It uses
// a timer, not a goroutine, while it waits. After stop returns no further
// comment is written.
func (s *SSEWriter) KeepAlive(ctx context.Context, interval time.Duration) (stop func()) {
	if interval <= 0 {
		return func() {}
	}
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	tick := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped || ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		idle := time.Since(s.lastWrite)
		var err error
		if idle >= interval || s.lastWrite.IsZero() {
			s.buf = appendComment(s.buf[:0], "")
			err = s.writeLocked("keepalive")
			idle = 0
		}
		s.mu.Unlock()
		if err == nil {
			t.Reset(interval - idle)
		}
	}
	mu.Lock()
	t = time.AfterFunc(interval, tick)
	mu.Unlock()
	unregister := context.AfterFunc(ctx, func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	})
	return func() {
		unregister()
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// writeLocked sends headers on first use, writes s.buf and flushes.
func (s *SSEWriter) writeLocked(op string) error {
	if s.err != nil {
		return s.err
	}
	// Best effort: not every connection supports deadlines.
	if s.writeTimeout > 0 {
		s.deadlineSet = s.rc.SetWriteDeadline(time.Now().Add(s.writeTimeout)) == nil
	} else if s.deadlineSet {
		// The bound was removed: lift the deadline the last write set, or
		// it would fail a write once it passes.
		_ = s.rc.SetWriteDeadline(time.Time{})
		s.deadlineSet = false
	}
	if !s.started {
		s.started = true
		setSSEHeaders(s.w.Header())
		s.w.WriteHeader(http.StatusOK)
	}
	if len(s.buf) > 0 {
		if _, err := s.w.Write(s.buf); err != nil {
			s.err = fmt.Errorf("stream: sse %s: %w (%v)", op, ErrClosed, err)
			return s.err
		}
	}
	if err := s.rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			s.err = fmt.Errorf("stream: sse %s: response cannot be streamed: %w", op, err)
		} else {
			s.err = fmt.Errorf("stream: sse %s: %w (%v)", op, ErrClosed, err)
		}
		return s.err
	}
	s.lastWrite = time.Now()
	return nil
}

// setSSEHeaders sets the headers of an event-stream response.
func setSSEHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
}
