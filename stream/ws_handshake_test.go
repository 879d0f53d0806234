package stream

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/wstest"
)

func TestWSUpgradeRefusals(t *testing.T) {
	good := "GET /ws HTTP/1.1\r\nHost: HOST\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wstest.Key + "\r\nSec-WebSocket-Version: 13\r\n"
	tests := []struct {
		name   string
		req    string
		status int
	}{
		{"valid", good, 101},
		{"token lists, any case", strings.NewReplacer("Upgrade: websocket", "Upgrade: foo, WebSocket", "Connection: Upgrade", "Connection: keep-alive, upgrade").Replace(good), 101},
		{"POST", strings.Replace(good, "GET", "POST", 1), 405},
		{"HTTP/1.0", strings.Replace(good, "HTTP/1.1", "HTTP/1.0", 1), 400},
		{"no Upgrade", strings.Replace(good, "Upgrade: websocket\r\n", "", 1), 400},
		{"Upgrade other", strings.Replace(good, "Upgrade: websocket", "Upgrade: h2c", 1), 400},
		{"no Connection", strings.Replace(good, "Connection: Upgrade\r\n", "", 1), 400},
		{"Connection keep-alive only", strings.Replace(good, "Connection: Upgrade", "Connection: keep-alive", 1), 400},
		{"no key", strings.Replace(good, "Sec-WebSocket-Key: "+wstest.Key+"\r\n", "", 1), 400},
		{"short key", strings.Replace(good, wstest.Key, "c2hvcnQ=", 1), 400},
		{"key not base64", strings.Replace(good, wstest.Key, "!!!!!!!!!!!!!!!!!!!!!!!!", 1), 400},
		{"two keys", good + "Sec-WebSocket-Key: " + wstest.Key + "\r\n", 400},
		{"version 8", strings.Replace(good, "Version: 13", "Version: 8", 1), 426},
		{"no version", strings.Replace(good, "Sec-WebSocket-Version: 13\r\n", "", 1), 426},
		{"foreign origin", good + "Origin: https://evil.example\r\n", 403},
		{"same origin", good + "Origin: http://HOST\r\n", 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			errs := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := Upgrade(w, r, WSConfig{})
				if err == nil {
					c.Close()
				}
				errs <- err
			}))
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			nc, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(wstest.Timeout))
			nc.Write([]byte(strings.ReplaceAll(tt.req, "HOST", host) + "\r\n"))
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			err = <-errs
			if tt.status == 101 {
				if err != nil {
					t.Fatalf("Upgrade: %v", err)
				}
				if resp.Header.Get("Sec-WebSocket-Accept") != wstest.Accept(wstest.Key) {
					t.Fatal("wrong accept key")
				}
				return
			}
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != tt.status {
				t.Fatalf("error %v, want HandshakeError with %d", err, tt.status)
			}
			if tt.status == 426 && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Fatal("426 without Sec-WebSocket-Version: 13")
			}
		})
	}
}

func TestWSAllowOrigins(t *testing.T) {
	check := AllowOrigins("https://example.com", "https://*.example.com", "http://localhost:8080")
	tests := []struct {
		origin string
		want   bool
	}{
		{"", true},
		{"https://example.com", true},
		{"HTTPS://EXAMPLE.COM:443", true},
		{"https://a.example.com", true},
		{"https://a.b.example.com", true},
		{"http://example.com", false},
		{"https://example.com.evil", false},
		{"https://evilexample.com", false},
		{"https://.example.com", false},
		{"http://localhost:8080", true},
		{"http://localhost", false},
		{"null", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := check(r); got != tt.want {
			t.Errorf("origin %q: %v, want %v", tt.origin, got, tt.want)
		}
	}
}

// The whole table of Dial's checks on the server's response.
func TestWSDialResponseChecks(t *testing.T) {
	ok := func(r *http.Request) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wstest.Accept(r.Header.Get("Sec-WebSocket-Key")) + "\r\n"
	}
	tests := []struct {
		name    string
		respond func(*http.Request) string
		status  int
		wantErr bool
	}{
		{"valid", func(r *http.Request) string { return ok(r) + "\r\n" }, 101, false},
		{"protocol offered", func(r *http.Request) string { return ok(r) + "Sec-WebSocket-Protocol: chat\r\n\r\n" }, 101, false},
		{"protocol not offered", func(r *http.Request) string { return ok(r) + "Sec-WebSocket-Protocol: other\r\n\r\n" }, 101, true},
		{"extension not offered", func(r *http.Request) string { return ok(r) + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n" }, 101, true},
		{"wrong accept", func(r *http.Request) string {
			return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wstest.Accept("x") + "\r\n\r\n"
		}, 101, true},
		{"no upgrade header", func(r *http.Request) string {
			return strings.Replace(ok(r), "Upgrade: websocket\r\n", "", 1) + "\r\n"
		}, 101, true},
		{"403", func(*http.Request) string { return "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno" }, 403, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wsCheckGoroutines(t)
			s, err := wstest.Listen()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			reqs := make(chan *http.Request, 1)
			go func() {
				p, r, err := s.Accept(tt.respond, nil)
				if err == nil {
					defer p.Close()
					p.ExpectEOF()
				}
				reqs <- r
			}()
			ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
			defer cancel()
			c, resp, err := Dial(ctx, s.URL()+"path?q=1", DialConfig{Subprotocols: []string{"chat", "v2"}, Header: http.Header{"Origin": {"http://me"}}})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Dial error %v, want error %v", err, tt.wantErr)
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("response %v, want status %d", resp, tt.status)
			}
			if err == nil {
				c.teardown(ErrClosed)
			} else {
				var he *HandshakeError
				if !errors.As(err, &he) {
					t.Fatalf("error %T", err)
				}
			}
			r := <-reqs
			if r.URL.RequestURI() != "/path?q=1" || r.Header.Get("Origin") != "http://me" || r.Header.Get("Sec-WebSocket-Protocol") != "chat, v2" || r.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Fatalf("request %v %v", r.URL, r.Header)
			}
		})
	}
}

func TestWSDialContextBoundsHandshake(t *testing.T) {
	wsCheckGoroutines(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			c.SetDeadline(time.Now().Add(wstest.Timeout))
			c.Read(make([]byte, 4096)) // never answers
			c.Read(make([]byte, 1))
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, _, err = Dial(ctx, "ws://"+l.Addr().String()+"/", DialConfig{})
	var he *HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("Dial error %v, want HandshakeError", err)
	}
}

func TestWSDialRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		url string
		cfg DialConfig
	}{
		{"http://x/", DialConfig{}},
		{"ws:///", DialConfig{}},
		{"ws://x/", DialConfig{Header: http.Header{"Sec-WebSocket-Key": {"x"}}}},
		{"ws://x/", DialConfig{Header: http.Header{"X": {"a\r\nb"}}}},
		{"ws://x/", DialConfig{Subprotocols: []string{"a b"}}},
	} {
		if _, _, err := Dial(context.Background(), tt.url, tt.cfg); err == nil {
			t.Errorf("Dial(%q, %+v) succeeded", tt.url, tt.cfg)
		}
	}
}
