package interop

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"github.com/stdrealtime/realtime/stream"
)

var coderImpl = coderWith("coder", websocket.CompressionDisabled)

// coderTakeoverImpl compresses with context takeover on both sides, each
// with its default threshold (coder's 128 bytes, ours 128), so messages
// of both kinds mix on one connection.
var coderTakeoverImpl = func() implementation {
	impl := coderWith("coder-deflate-takeover", websocket.CompressionContextTakeover)
	impl.compression = stream.CompressionContextTakeover
	impl.extClient = "permessage-deflate"
	impl.extServer = "permessage-deflate"
	return impl
}()

// coderNoContextImpl compresses without context takeover; our side
// compresses every message, coder those of 512 bytes and more.
var coderNoContextImpl = func() implementation {
	impl := coderWith("coder-deflate-no-context", websocket.CompressionNoContextTakeover)
	impl.compression = stream.CompressionNoContextTakeover
	impl.threshold = -1
	// Each side lists the parameters in its own order.
	impl.extClient = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	impl.extServer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"
	return impl
}()

// coderWith pairs ours with coder/websocket using mode on its side.
func coderWith(name string, mode websocket.CompressionMode) implementation {
	return implementation{
		name: name,
		client: func(t *testing.T, url string) peer {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{CompressionMode: mode})
			if err != nil {
				t.Fatalf("coder Dial: %v", err)
			}
			p := newCoderPeer(c)
			p.ext = strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", ")
			return p
		},
		server: func(t *testing.T) (string, stream.DialConfig, func() peer) {
			ch := make(chan *coderPeer, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: mode})
				if err != nil {
					t.Errorf("coder Accept: %v", err)
					return
				}
				p := newCoderPeer(c)
				// Accept set the response headers on w before it
				// hijacked the connection.
				p.ext = strings.Join(w.Header().Values("Sec-WebSocket-Extensions"), ", ")
				ch <- p
				<-p.done
			}))
			t.Cleanup(srv.Close)
			return "ws" + strings.TrimPrefix(srv.URL, "http"), stream.DialConfig{}, func() peer { return <-ch }
		},
	}
}

func TestWebSocketCoder(t *testing.T) { runCases(t, coderImpl) }

func TestWebSocketCoderDeflateTakeover(t *testing.T) { runCases(t, coderTakeoverImpl) }

func TestWebSocketCoderDeflateNoContext(t *testing.T) { runCases(t, coderNoContextImpl) }

// coderPeer is a coder/websocket connection with a goroutine reading it.
type coderPeer struct {
	c      *websocket.Conn
	msgs   chan received
	done   chan struct{}
	result ended        // set before done closes
	echoed atomic.Int64 // status of a closing handshake Close completed
	ext    string       // Sec-WebSocket-Extensions of the handshake response
}

func newCoderPeer(c *websocket.Conn) *coderPeer {
	c.SetReadLimit(readLimit)
	p := &coderPeer{c: c, msgs: make(chan received, 64), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			mt, b, err := c.Read(context.Background())
			if err != nil {
				var ce websocket.CloseError
				if errors.As(err, &ce) {
					p.result = ended{code: int(ce.Code), reason: ce.Reason, err: err}
				} else {
					p.result = ended{err: err}
				}
				c.CloseNow()
				close(p.msgs)
				return
			}
			p.msgs <- digest(stream.MessageType(mt), b)
		}
	}()
	return p
}

func (p *coderPeer) send(mt stream.MessageType, b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return p.c.Write(ctx, websocket.MessageType(mt), b)
}

func (p *coderPeer) sendFragments(ctx context.Context, mt stream.MessageType, parts [][]byte, ping bool) error {
	w, err := p.c.Writer(ctx, websocket.MessageType(mt))
	if err != nil {
		return err
	}
	for i, part := range parts {
		if _, err := w.Write(part); err != nil {
			return err
		}
		if i == 0 && ping {
			if err := p.c.Ping(ctx); err != nil {
				return err
			}
		}
	}
	return w.Close()
}

// ping sends a ping with a payload coder chooses and waits for its pong.
func (p *coderPeer) ping(ctx context.Context) error { return p.c.Ping(ctx) }

// close runs coder's whole closing handshake. Close returns nil only when
// the close frame that came back carries code (it compares the status it
// received with the one it sent), while the reader goroutine sees its own
// connection closed rather than a CloseError; so a nil return is recorded
// as having received code.
func (p *coderPeer) close(code int, reason string) error {
	err := p.c.Close(websocket.StatusCode(code), reason)
	if err == nil {
		p.echoed.Store(int64(code))
	}
	return err
}

func (p *coderPeer) messages() <-chan received { return p.msgs }

func (p *coderPeer) end(ctx context.Context) ended {
	select {
	case <-p.done:
		if code := p.echoed.Load(); code != 0 && p.result.code == 0 {
			return ended{code: int(code), err: p.result.err}
		}
		return p.result
	case <-ctx.Done():
		return ended{err: ctx.Err()}
	}
}

func (p *coderPeer) kill() {
	p.c.CloseNow()
	for range p.msgs {
	}
	<-p.done
}

func (p *coderPeer) extensions() (string, bool) { return p.ext, true }
