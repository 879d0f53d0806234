package stream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// wssServer starts a TLS test server whose handler upgrades and runs
// handle, and returns its wss:// URL, the client TLS configuration that
// trusts it, and a channel receiving handle's result.
func wssServer(t *testing.T, handle func(c *WebSocketConn) error) (string, *tls.Config, <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			done <- errors.New("request did not arrive over TLS")
			return
		}
		c, err := Upgrade(w, r, WSConfig{})
		if err != nil {
			done <- err
			return
		}
		done <- handle(c)
	}))
	// Refused handshakes are the point of some tests; do not log them.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tcfg := srv.Client().Transport.(*http.Transport).TLSClientConfig
	return "wss" + strings.TrimPrefix(srv.URL, "https"), tcfg, done
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(time.Minute):
		t.Fatal("server handler did not finish")
		return nil
	}
}

// TestWSSEndToEnd runs a WebSocket over TLS: the server speaks first,
// the client sends messages of several sizes and types that come back
// echoed, and a close from either side completes the closing handshake.
func TestWSSEndToEnd(t *testing.T) {
	msgs := []struct {
		mt MessageType
		p  []byte
	}{
		{TextMessage, []byte("hello over TLS")},
		{BinaryMessage, nil},
		{BinaryMessage, bytes.Repeat([]byte{0, 1, 2, 0xff}, 40_000)}, // larger than a TLS record
		{TextMessage, []byte(strings.Repeat("\u00e9\u20ac", 10_000))},
	}
	for _, tc := range []struct {
		name         string
		serverCloses bool
	}{{"client-closes", false}, {"server-closes", true}} {
		t.Run(tc.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			url, tcfg, done := wssServer(t, func(c *WebSocketConn) error {
				defer c.Close()
				if err := c.WriteString("welcome"); err != nil {
					return err
				}
				for range msgs {
					mt, p, err := c.ReadMessage()
					if err != nil {
						return err
					}
					if err := c.WriteMessage(mt, p); err != nil {
						return err
					}
				}
				if tc.serverCloses {
					return c.CloseWithStatus(4001, "server done")
				}
				_, _, err := c.ReadMessage()
				return err
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, resp, err := Dial(ctx, url, DialConfig{TLSConfig: tcfg})
			if err != nil {
				t.Fatalf("Dial %s: %v", url, err)
			}
			defer c.Close()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if mt, p, err := c.ReadMessage(); err != nil || mt != TextMessage || string(p) != "welcome" {
				t.Fatalf("first message: %v %q %v", mt, p, err)
			}
			for _, m := range msgs {
				if err := c.WriteMessage(m.mt, m.p); err != nil {
					t.Fatal(err)
				}
				mt, p, err := c.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if mt != m.mt || !bytes.Equal(p, m.p) {
					t.Fatalf("echo of a %v message of %d bytes: got %v of %d bytes", m.mt, len(m.p), mt, len(p))
				}
			}
			if tc.serverCloses {
				_, _, err := c.ReadMessage()
				var ce *CloseError
				if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "server done" || !ce.Remote {
					t.Fatalf("client read after server close: %v", err)
				}
				if err := waitErr(t, done); err != nil {
					t.Fatalf("server: %v", err)
				}
				return
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			err = waitErr(t, done)
			if CloseStatus(err) != StatusNormalClosure {
				t.Fatalf("server read after client close: %v", err)
			}
		})
	}
}

// TestWSSUntrustedCertificate checks that Dial verifies the server's
// certificate: no trusted root, or a name the certificate does not hold,
// fails the dial with a HandshakeError and no connection is upgraded.
func TestWSSUntrustedCertificate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(trusted *tls.Config) *tls.Config
	}{
		{"unknown-authority", func(*tls.Config) *tls.Config { return nil }},
		{"wrong-name", func(trusted *tls.Config) *tls.Config {
			c := trusted.Clone()
			c.ServerName = "not-in-the-certificate.invalid"
			return c
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			upgraded := make(chan struct{}, 1)
			url, tcfg, _ := wssServer(t, func(c *WebSocketConn) error {
				upgraded <- struct{}{}
				return c.Close()
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, _, err := Dial(ctx, url, DialConfig{TLSConfig: tc.cfg(tcfg)})
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded against an untrusted certificate")
			}
			var he *HandshakeError
			if !errors.As(err, &he) || !strings.Contains(err.Error(), "TLS handshake") {
				t.Fatalf("Dial: %v, want a HandshakeError about the TLS handshake", err)
			}
			select {
			case <-upgraded:
				t.Fatal("the server upgraded a connection")
			default:
			}
		})
	}
}
