package stream

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// ChunkedWriter streams a raw response body, flushing after every chunk.
// On HTTP/1.1 each WriteChunk becomes one or more chunks of the chunked
// transfer coding; on HTTP/2 one or more DATA frames.
//
// It is safe for concurrent use. Where the response cannot be flushed,
// WriteChunk returns an error wrapping http.ErrNotSupported.
type ChunkedWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	rc     *http.ResponseController
	closed bool
	err    error
}

// NewChunkedWriter returns a ChunkedWriter for w. It sets
// X-Accel-Buffering: no so that proxies pass chunks through at once; the
// caller sets Content-Type before the first chunk.
func NewChunkedWriter(w http.ResponseWriter) *ChunkedWriter {
	w.Header().Set("X-Accel-Buffering", "no")
	return &ChunkedWriter{w: w, rc: http.NewResponseController(w)}
}

// WriteChunk writes p and flushes it to the client; an empty p flushes
// the headers alone. After Close it returns an error wrapping ErrClosed.
// Once a write has failed it returns that error again: one wrapping
// ErrClosed when the client has gone, or http.ErrNotSupported when the
// response cannot be streamed.
func (c *ChunkedWriter) WriteChunk(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("stream: write chunk: %w", ErrClosed)
	}
	if c.err != nil {
		return c.err
	}
	if len(p) > 0 {
		if _, err := c.w.Write(p); err != nil {
			c.err = fmt.Errorf("stream: write chunk: %w (%v)", ErrClosed, err)
			return c.err
		}
	}
	if err := c.rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			c.err = fmt.Errorf("stream: write chunk: response cannot be streamed: %w", err)
		} else {
			c.err = fmt.Errorf("stream: write chunk: %w (%v)", ErrClosed, err)
		}
		return c.err
	}
	return nil
}

// Close marks the stream finished; the handler then returns and net/http
// ends the body. Later WriteChunk calls fail. Close is idempotent and
// always returns nil.
func (c *ChunkedWriter) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}
