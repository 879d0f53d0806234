package interop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stdrealtime/realtime/stream"
)

// gorillaBuffer is gorilla's write buffer size. Its NextWriter and its
// client-side WriteMessage send a frame each time the buffer fills, so a
// small buffer makes it fragment every message larger than this.
const gorillaBuffer = 1024

var gorillaImpl = gorillaWith("gorilla", false)

// gorillaDeflateImpl has gorilla offer and accept permessage-deflate. It
// supports only "no context takeover" (RFC 7692 §7.1.1): as a client it
// asks for both parameters, as a server it answers with both whatever
// was offered. Our side keeps its context where allowed, so that it
// must honour what gorilla asked, and compresses every message, so
// that gorilla inflates empty and tiny ones too.
var gorillaDeflateImpl = func() implementation {
	impl := gorillaWith("gorilla-deflate", true)
	impl.compression = stream.CompressionContextTakeover
	impl.threshold = -1
	impl.extClient = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	impl.extServer = impl.extClient
	return impl
}()

// gorillaWith pairs ours with gorilla, with EnableCompression set to
// compress on both its Dialer and its Upgrader.
func gorillaWith(name string, compress bool) implementation {
	return implementation{
		name: name,
		client: func(t *testing.T, url string) peer {
			d := websocket.Dialer{WriteBufferSize: gorillaBuffer, HandshakeTimeout: waitLimit, EnableCompression: compress}
			c, resp, err := d.DialContext(context.Background(), url, nil)
			if err != nil {
				t.Fatalf("gorilla Dial: %v", err)
			}
			p := newGorillaPeer(c)
			p.ext, p.extKnown = strings.Join(resp.Header.Values("Sec-WebSocket-Extensions"), ", "), true
			return p
		},
		server: func(t *testing.T) (string, stream.DialConfig, func() peer) {
			ch := make(chan *gorillaPeer, 1)
			up := websocket.Upgrader{WriteBufferSize: gorillaBuffer, EnableCompression: compress}
			srv := httptest.NewServer(gorillaServe(t, &up, ch, false))
			t.Cleanup(srv.Close)
			return "ws" + strings.TrimPrefix(srv.URL, "http"), stream.DialConfig{}, func() peer { return <-ch }
		},
	}
}

// gorillaServe upgrades with up, hands the peer over on ch and holds the
// handler until it is done; with tls it first checks the request came
// over TLS.
func gorillaServe(t *testing.T, up *websocket.Upgrader, ch chan<- *gorillaPeer, tls bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if tls && r.TLS == nil {
			t.Errorf("request did not arrive over TLS")
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("gorilla Upgrade: %v", err)
			return
		}
		p := newGorillaPeer(c)
		ch <- p
		<-p.done
	}
}

func TestWebSocketGorilla(t *testing.T) { runCases(t, gorillaImpl) }

func TestWebSocketGorillaDeflate(t *testing.T) { runCases(t, gorillaDeflateImpl) }

// gorillaTLSImpl is a gorilla server behind TLS, reached by Dial through
// wss:// with a TLSConfig that trusts the test certificate.
var gorillaTLSImpl = gorillaTLSWith("gorilla-tls", false)

// gorillaTLSDeflateImpl is gorillaTLSImpl with permessage-deflate, as
// gorillaDeflateImpl negotiates it: compressed frames through TLS records.
var gorillaTLSDeflateImpl = func() implementation {
	impl := gorillaTLSWith("gorilla-tls-deflate", true)
	impl.compression = stream.CompressionContextTakeover
	impl.threshold = -1
	impl.extServer = gorillaDeflateImpl.extServer
	return impl
}()

// gorillaTLSWith is a gorilla server behind TLS, compressing if compress.
func gorillaTLSWith(name string, compress bool) implementation {
	return implementation{
		name: name,
		server: func(t *testing.T) (string, stream.DialConfig, func() peer) {
			ch := make(chan *gorillaPeer, 1)
			up := websocket.Upgrader{WriteBufferSize: gorillaBuffer, EnableCompression: compress}
			srv := httptest.NewTLSServer(gorillaServe(t, &up, ch, true))
			t.Cleanup(srv.Close)
			cfg := stream.DialConfig{TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
			return "wss" + strings.TrimPrefix(srv.URL, "https"), cfg, func() peer { return <-ch }
		},
		serverOnly: true,
	}
}

func TestWebSocketGorillaTLS(t *testing.T) { runCases(t, gorillaTLSImpl) }

func TestWebSocketGorillaTLSDeflate(t *testing.T) { runCases(t, gorillaTLSDeflateImpl) }

// gorillaPeer is a gorilla/websocket connection with a goroutine reading
// it.
type gorillaPeer struct {
	c      *websocket.Conn
	msgs   chan received
	pongs  chan string
	done   chan struct{}
	result ended // set before done closes
	pings  int
	// ext is the handshake response's Sec-WebSocket-Extensions as a
	// gorilla client received it; a gorilla server does not expose what
	// it answered, so extKnown is false there.
	ext      string
	extKnown bool
}

func newGorillaPeer(c *websocket.Conn) *gorillaPeer {
	c.SetReadLimit(readLimit)
	p := &gorillaPeer{c: c, msgs: make(chan received, 64), pongs: make(chan string, 16), done: make(chan struct{})}
	c.SetPongHandler(func(s string) error {
		select {
		case p.pongs <- s:
		default:
		}
		return nil
	})
	go func() {
		defer close(p.done)
		for {
			mt, b, err := c.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					p.result = ended{code: ce.Code, reason: ce.Text, err: err}
				} else {
					p.result = ended{err: err}
				}
				c.Close()
				close(p.msgs)
				return
			}
			p.msgs <- digest(stream.MessageType(mt), b)
		}
	}()
	return p
}

func (p *gorillaPeer) send(mt stream.MessageType, b []byte) error {
	return p.c.WriteMessage(int(mt), b)
}

func (p *gorillaPeer) sendFragments(ctx context.Context, mt stream.MessageType, parts [][]byte, ping bool) error {
	w, err := p.c.NextWriter(int(mt))
	if err != nil {
		return err
	}
	var payload string
	for i, part := range parts {
		if _, err := w.Write(part); err != nil {
			return err
		}
		// The writer has sent a frame once more than gorillaBuffer bytes
		// went in; the ping follows it.
		if i == 0 && ping {
			if payload, err = p.sendPing(); err != nil {
				return err
			}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if ping {
		return p.awaitPong(ctx, payload)
	}
	return nil
}

func (p *gorillaPeer) ping(ctx context.Context) error {
	payload, err := p.sendPing()
	if err != nil {
		return err
	}
	return p.awaitPong(ctx, payload)
}

// sendPing sends a ping with a payload of the largest size allowed, 125
// bytes (RFC 6455 §5.5), different for every ping.
func (p *gorillaPeer) sendPing() (string, error) {
	p.pings++
	payload := fmt.Sprintf("%-125s", "gorilla ping "+strconv.Itoa(p.pings))
	return payload, p.c.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(waitLimit))
}

func (p *gorillaPeer) awaitPong(ctx context.Context, payload string) error {
	for {
		select {
		case s := <-p.pongs:
			if s == payload {
				return nil
			}
		case <-p.done:
			return fmt.Errorf("connection ended waiting for a pong: %v", p.result.err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *gorillaPeer) close(code int, reason string) error {
	return p.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(waitLimit))
}

func (p *gorillaPeer) messages() <-chan received { return p.msgs }

func (p *gorillaPeer) end(ctx context.Context) ended {
	select {
	case <-p.done:
		return p.result
	case <-ctx.Done():
		return ended{err: ctx.Err()}
	}
}

func (p *gorillaPeer) kill() {
	p.c.NetConn().Close()
	for range p.msgs {
	}
	<-p.done
}

func (p *gorillaPeer) extensions() (string, bool) { return p.ext, p.extKnown }
