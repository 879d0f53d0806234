package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"os"
	"sync"
	"time"
)

// Reconnection delays of an SSEClient.
const (
	// DefaultSSERetry is the reconnection time before the server sets one.
	DefaultSSERetry = 3 * time.Second
	// DefaultSSEMaxRetry caps every reconnection delay by default.
	DefaultSSEMaxRetry = 2 * time.Minute
	// minSSERetry keeps a "retry: 0" from a server from turning into a
	// tight reconnection loop.
	minSSERetry = 100 * time.Millisecond
)

// SSEClientConfig configures ConnectSSE. The zero value is ready to use.
type SSEClientConfig struct {
	// Client sends the requests; nil means http.DefaultClient. A Timeout
	// on it ends every connection after that long, so leave it zero for
	// long-lived streams and set IdleTimeout instead.
	Client *http.Client

	// Header holds extra request headers, such as Authorization. The
	// client sets Accept, Cache-Control and Last-Event-ID itself.
	Header http.Header

	// LastEventID, when not empty, is sent as Last-Event-ID on the first
	// request, to resume a stream read earlier.
	LastEventID string

	// Retry is the reconnection time until the server sets one with a
	// retry field; zero means DefaultSSERetry.
	Retry time.Duration

	// MaxRetry caps the delay before a reconnection, whatever the server
	// asks and however many attempts failed in a row; zero means
	// DefaultSSEMaxRetry. Jitter adds up to a quarter on top.
	MaxRetry time.Duration

	// IdleTimeout, when positive, drops and re-establishes a connection on
	// which no byte arrived for that long, response headers included. Set
	// it above the server's heartbeat interval. Zero means no limit, as in
	// browsers. The error it causes wraps os.ErrDeadlineExceeded.
	IdleTimeout time.Duration

	// MaxLineLen and MaxEventData bound one line and the data of one event
	// (see EventReader.SetLimits); zero means DefaultMaxEventLine and
	// DefaultMaxEventData. A stream that exceeds them fails for good.
	MaxLineLen, MaxEventData int

	// OnRetry, when set, is called before each wait to reconnect with the
	// error that ended the previous connection or attempt and the delay
	// about to be waited. It runs on the goroutine that called Next.
	OnRetry func(err error, delay time.Duration)
}

// SSEResponseError reports a response that is not an event stream: a
// status other than 200 (and 204, which ends the stream cleanly) or a
// Content-Type other than text/event-stream. As the WHATWG standard
// prescribes for EventSource, the client does not reconnect after it.
type SSEResponseError struct {
	StatusCode  int    // status of the response
	ContentType string // its Content-Type header
}

// Error describes the status or content type that was refused.
func (e *SSEResponseError) Error() string {
	if e.StatusCode != http.StatusOK {
		return fmt.Sprintf("stream: sse connect: unexpected status %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("stream: sse connect: content type %q is not text/event-stream", e.ContentType)
}

var (
	// errIdle ends a connection on which nothing arrived for IdleTimeout.
	errIdle = fmt.Errorf("stream: sse: idle timeout: %w", os.ErrDeadlineExceeded)
	// errEnded reports a connection the server closed; the client
	// reconnects.
	errEnded = fmt.Errorf("stream: sse read: server ended the connection: %w", io.EOF)
	// errNoContent stands for a 204 response until Next reports io.EOF.
	errNoContent = errors.New("stream: sse connect: 204 No Content")
)

// SSEClient reads a Server-Sent Events stream over HTTP and reconnects as
// a browser's EventSource does: after the connection ends or breaks it
// waits the reconnection time (the server's retry field, else
// SSEClientConfig.Retry), with jitter and, while attempts keep failing,
// exponential backoff up to MaxRetry; it sends Last-Event-ID so that the
// server can resume. The stream ends for good when the server answers 204
// No Content (Next returns io.EOF), answers anything else that is not a
// 200 text/event-stream response (*SSEResponseError), exceeds the reader's
// limits (ErrLineTooLong, ErrEventTooLarge), or when the context ends or
// Close is called.
//
// Next and Events must be used by one goroutine at a time. Close,
// LastEventID and Retry may be called from any goroutine at any time. The
// client starts no goroutine of its own: all reading and waiting happen in
// Next. Close, or the end of the context, tears the open connection down
// even when no goroutine is in Next.
type SSEClient struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	cfg    SSEClientConfig
	url    string

	// Owned by the goroutine calling Next.
	body     io.ReadCloser
	endConn  context.CancelCauseFunc
	connCtx  context.Context
	reader   *EventReader
	failures int   // attempts in a row that got no stream
	lastErr  error // what ended the previous connection or attempt
	err      error // final error

	mu     sync.Mutex
	lastID string
	retry  time.Duration
}

// ConnectSSE opens the event stream at url and returns a client reading
// it. ctx bounds the whole stream, every reconnection included: when it
// ends, Next returns its cause. ConnectSSE waits for the first response
// and returns its error, if any, without retrying, so that a wrong URL or
// an unreachable server shows at once; a 204 response gives a client whose
// Next returns io.EOF. The caller must call Close when done.
func ConnectSSE(ctx context.Context, url string, cfg SSEClientConfig) (*SSEClient, error) {
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultSSERetry
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = DefaultSSEMaxRetry
	}
	if _, err := http.NewRequest(http.MethodGet, url, nil); err != nil {
		return nil, fmt.Errorf("stream: sse connect: %w", err)
	}
	c := &SSEClient{cfg: cfg, url: url, lastID: cfg.LastEventID, retry: cfg.Retry}
	c.ctx, c.cancel = context.WithCancelCause(ctx)
	if err := c.dial(); err != nil {
		if err == errNoContent {
			c.fail(err)
			return c, nil
		}
		c.cancel(ErrClosed)
		return nil, err
	}
	return c, nil
}

// Next returns the next event, reconnecting as often as needed. Its final
// error is one of those listed on SSEClient; it wraps the context's cause
// when the context ended, and ErrClosed after Close. Every later call
// returns the same error.
func (c *SSEClient) Next() (Event, error) {
	for c.err == nil {
		if c.reader == nil {
			if err := c.reconnect(); err != nil {
				c.fail(err)
				break
			}
		}
		e, err := c.reader.Next()
		c.mu.Lock()
		c.lastID = c.reader.LastEventID()
		if c.reader.retrySet {
			c.retry = c.reader.Retry()
		}
		c.mu.Unlock()
		if err == nil {
			return e, nil
		}
		idle := errors.Is(context.Cause(c.connCtx), errIdle)
		c.hangUp()
		switch {
		case c.ctx.Err() != nil:
			c.fail(context.Cause(c.ctx))
		case errors.Is(err, ErrLineTooLong), errors.Is(err, ErrEventTooLarge):
			c.fail(err)
		case idle:
			c.lastErr = errIdle
		case err == io.EOF:
			c.lastErr = errEnded
		default:
			c.lastErr = fmt.Errorf("stream: sse read: %w", err)
		}
	}
	return Event{}, c.err
}

// Events returns an iterator over the events of the stream. It yields each
// event with a nil error and ends after Next's final error, which it
// yields with a zero Event unless it is io.EOF (a 204 response). Stopping
// the loop early does not close the client.
func (c *SSEClient) Events() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			e, err := c.Next()
			if err != nil {
				if err != io.EOF {
					yield(Event{}, err)
				}
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// Close ends the stream: a blocked Next returns at once and every later
// Next returns an error wrapping ErrClosed. It is safe to call more than
// once and from any goroutine, and always returns nil.
func (c *SSEClient) Close() error {
	c.cancel(ErrClosed)
	return nil
}

// LastEventID returns the last event ID the stream committed (see
// EventReader.LastEventID), which the client sends when it reconnects.
func (c *SSEClient) LastEventID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastID
}

// Retry returns the current reconnection time: the server's latest retry
// field, or else SSEClientConfig.Retry.
func (c *SSEClient) Retry() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retry
}

// fail records the final error, naming the operation for context ends.
func (c *SSEClient) fail(err error) {
	switch {
	case err == errNoContent:
		err = io.EOF
	case c.ctx.Err() != nil:
		err = fmt.Errorf("stream: sse client: %w", context.Cause(c.ctx))
	}
	c.err = err
	c.hangUp()
	c.cancel(ErrClosed)
}

// reconnect waits the reconnection delay, then dials until a stream is
// established or a final error occurs.
func (c *SSEClient) reconnect() error {
	for {
		delay := c.delay()
		if c.cfg.OnRetry != nil {
			c.cfg.OnRetry(c.lastErr, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return context.Cause(c.ctx)
		}
		err := c.dial()
		if err == nil {
			return nil
		}
		var re *SSEResponseError
		if c.ctx.Err() != nil || errors.As(err, &re) || err == errNoContent {
			return err
		}
		c.failures++
		c.lastErr = err
	}
}

// delay returns how long to wait before the next attempt: the
// reconnection time doubled for each failed attempt in a row, capped, plus
// up to a quarter of jitter, so that clients dropped together do not all
// come back at once and no client comes back before the server asked.
func (c *SSEClient) delay() time.Duration {
	d := max(c.Retry(), minSSERetry)
	for i := 0; i < c.failures && d < c.cfg.MaxRetry; i++ {
		d *= 2
	}
	d = min(d, c.cfg.MaxRetry)
	return d + rand.N(d/4+1)
}

// dial sends one request and, if the response is an event stream, makes
// it the current connection. A 204 response yields errNoContent.
func (c *SSEClient) dial() error {
	connCtx, endConn := context.WithCancelCause(c.ctx)
	req, err := http.NewRequestWithContext(connCtx, http.MethodGet, c.url, nil)
	if err != nil {
		endConn(err)
		return fmt.Errorf("stream: sse connect: %w", err)
	}
	for k, v := range c.cfg.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	// WHATWG: "If the EventSource object's last event ID string is not the
	// empty string, set (`Last-Event-ID`, last event ID string, encoded as
	// UTF-8) in request's header list." An ID that no HTTP header can
	// carry (it holds control characters) is not sent.
	if id := c.LastEventID(); id != "" && validHeaderValue(id) {
		req.Header.Set("Last-Event-ID", id)
	} else {
		req.Header.Del("Last-Event-ID")
	}
	var idle *time.Timer
	if c.cfg.IdleTimeout > 0 {
		idle = time.AfterFunc(c.cfg.IdleTimeout, func() { endConn(errIdle) })
		// Stop the timer with the connection, however it ends.
		context.AfterFunc(connCtx, func() { idle.Stop() })
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		endConn(err)
		switch {
		case c.ctx.Err() != nil:
			err = context.Cause(c.ctx)
		case context.Cause(connCtx) == errIdle:
			err = errIdle
		}
		return fmt.Errorf("stream: sse connect: %w", err)
	}
	// WHATWG: "if res's status is not 200, or if res's `Content-Type` is
	// not `text/event-stream`, then fail the connection." Browsers end the
	// stream silently on 204; any other failure is reported.
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	switch {
	case resp.StatusCode == http.StatusNoContent:
		err = errNoContent
	case resp.StatusCode != http.StatusOK:
		err = &SSEResponseError{StatusCode: resp.StatusCode, ContentType: ct}
	case mt != "text/event-stream":
		err = &SSEResponseError{StatusCode: resp.StatusCode, ContentType: ct}
	}
	if err != nil {
		// Drain a little so the connection can be reused, then release it.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		resp.Body.Close()
		endConn(err)
		return err
	}
	c.failures = 0
	c.body, c.connCtx, c.endConn = resp.Body, connCtx, endConn
	var body io.Reader = resp.Body
	if idle != nil {
		body = &idleReader{r: resp.Body, t: idle, d: c.cfg.IdleTimeout}
	}
	c.reader = NewEventReader(body)
	c.reader.SetLimits(c.cfg.MaxLineLen, c.cfg.MaxEventData)
	// The last event ID buffer starts from the ID already committed, as in
	// browsers, so events of the new connection that carry no id field
	// keep reporting it.
	c.reader.lastID = c.LastEventID()
	c.reader.id = append(c.reader.id[:0], c.reader.lastID...)
	return nil
}

// hangUp closes the current connection, if any.
func (c *SSEClient) hangUp() {
	if c.body == nil {
		return
	}
	c.body.Close()
	c.endConn(ErrClosed)
	c.body, c.reader, c.endConn = nil, nil, nil
}

// idleReader ends its connection when no byte arrives for d.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.t.Reset(ir.d)
	}
	return n, err
}
