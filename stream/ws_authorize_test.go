package stream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stdrealtime/realtime/internal/wstest"
)

// statusErr is an application error that chooses its status.
type statusErr int

func (e statusErr) Error() string   { return "secret detail " + http.StatusText(int(e)) }
func (e statusErr) HTTPStatus() int { return int(e) }

var errNoSession = errors.New("secret detail: no session row for the cookie")

// authServer upgrades with cfg behind a handler that sets
// WWW-Authenticate first, as an application answering 401 must; each
// Upgrade result goes to the returned channel.
func authServer(t *testing.T, cfg WSConfig, tls bool) (url string, client *http.Client, results <-chan error) {
	t.Helper()
	ch := make(chan error, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chat"`)
		c, err := Upgrade(w, r, cfg)
		if err != nil {
			ch <- err
			return
		}
		ch <- nil
		echoLoop(c)
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	scheme := map[bool]string{false: "ws", true: "wss"}[tls]
	return scheme + strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https"), "http") + "/", srv.Client(), ch
}

func TestWSAuthorize(t *testing.T) {
	bearer := func(r *http.Request) error {
		switch r.Header.Get("Authorization") {
		case "Bearer good":
			return nil
		case "":
			return &HandshakeError{Status: http.StatusUnauthorized, Reason: "no token"}
		case "Bearer slow":
			return statusErr(http.StatusTooManyRequests)
		case "Bearer weird":
			return statusErr(http.StatusOK) // not a refusal status
		}
		return errNoSession
	}
	tests := []struct {
		name   string
		header string
		status int
	}{
		{"valid token", "Bearer good", 101},
		{"no token", "", 401},
		{"plain error", "Bearer bad", 403},
		{"HTTPStatus method", "Bearer slow", 429},
		{"status out of range", "Bearer weird", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			url, _, results := authServer(t, WSConfig{Authorize: bearer}, false)
			h := http.Header{}
			if tt.header != "" {
				h.Set("Authorization", tt.header)
			}
			ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
			defer cancel()
			c, resp, err := Dial(ctx, url, DialConfig{Header: h})
			serr := <-results
			if tt.status == 101 {
				if err != nil || serr != nil {
					t.Fatalf("dial %v, upgrade %v", err, serr)
				}
				if resp.Header.Get("WWW-Authenticate") != "" {
					t.Fatal("WWW-Authenticate sent with the 101")
				}
				c.Close()
				return
			}
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != tt.status {
				t.Fatalf("dial %v, want HTTP %d", err, tt.status)
			}
			body, _ := io.ReadAll(resp.Body)
			if strings.Contains(string(body), "secret") || strings.Contains(string(body), "no token") {
				t.Fatalf("refusal body %q leaks the error", body)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if !errors.As(serr, &he) || he.Status != tt.status || he.Err == nil {
				t.Fatalf("Upgrade returned %v, want a HandshakeError with %d wrapping the cause", serr, tt.status)
			}
			if tt.status == 403 && tt.header == "Bearer bad" && !errors.Is(serr, errNoSession) {
				t.Fatalf("Upgrade error %v does not wrap Authorize's", serr)
			}
		})
	}
}

// The browser token idiom, over TLS: the token travels as a subprotocol
// offered next to the real one; the server authorizes from it, selects
// the real one and never echoes the token.
func TestWSAuthorizeSubprotocolToken(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"
	cfg := WSConfig{
		Subprotocols: []string{"chat"},
		Authorize: func(r *http.Request) error {
			tok, ok := OfferedSubprotocol(r, "token.")
			if !ok || tok != jwt {
				return &HandshakeError{Status: http.StatusUnauthorized, Reason: "bad token"}
			}
			return nil
		},
	}
	for _, tc := range []struct {
		name    string
		offered []string
		status  int
	}{
		{"token and chat", []string{"token." + jwt, "chat"}, 101},
		{"chat then token", []string{"chat", "token." + jwt}, 101},
		{"wrong token", []string{"token.x", "chat"}, 401},
		{"no token", []string{"chat"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			url, client, results := authServer(t, cfg, true)
			ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
			defer cancel()
			tlsCfg := client.Transport.(*http.Transport).TLSClientConfig
			c, resp, err := Dial(ctx, url, DialConfig{Subprotocols: tc.offered, TLSConfig: tlsCfg})
			<-results
			if tc.status != 101 {
				var he *HandshakeError
				if !errors.As(err, &he) || he.Status != tc.status {
					t.Fatalf("dial %v, want %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != "chat" || c.Subprotocol() != "chat" {
				t.Fatalf("selected %q (%q), want chat only", got, c.Subprotocol())
			}
			if err := c.Write([]byte("over TLS")); err != nil {
				t.Fatal(err)
			}
			if p, err := c.Read(); err != nil || string(p) != "over TLS" {
				t.Fatalf("echo %q %v", p, err)
			}
		})
	}
}

// Cross-site WebSocket hijacking: a page on another site makes the
// browser open a WebSocket carrying this site's cookies. The default
// origin check refuses it with 403 before Authorize, which would accept
// the cookie, is even asked.
func TestWSCrossSiteRefusedByDefault(t *testing.T) {
	var asked atomic.Int32
	cfg := WSConfig{Authorize: func(r *http.Request) error {
		asked.Add(1)
		if c, err := r.Cookie("session"); err != nil || c.Value != "s3cret" {
			return &HandshakeError{Status: http.StatusUnauthorized, Reason: "no session"}
		}
		return nil
	}}
	for _, tc := range []struct {
		name   string
		origin string // HOST is replaced by the server's host:port
		status int
	}{
		{"cross-site", "https://evil.example", 403},
		{"cross-site, same host name other port", "http://127.0.0.1:1", 403},
		{"null origin", "null", 403},
		{"same origin", "http://HOST", 101},
		{"no origin (not a browser)", "", 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			asked.Store(0)
			url, _, results := authServer(t, cfg, false)
			host := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/")
			h := http.Header{"Cookie": {"session=s3cret"}}
			if tc.origin != "" {
				h.Set("Origin", strings.Replace(tc.origin, "HOST", host, 1))
			}
			ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
			defer cancel()
			c, _, err := Dial(ctx, url, DialConfig{Header: h})
			<-results
			if tc.status == 101 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				c.Close()
				if asked.Load() != 1 {
					t.Fatal("Authorize not asked")
				}
				return
			}
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != tc.status {
				t.Fatalf("dial %v, want %d", err, tc.status)
			}
			if n := asked.Load(); n != 0 {
				t.Fatalf("Authorize asked %d times for a cross-site request", n)
			}
		})
	}
}
