package stream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWSOversizedHandshakeHeaders checks that a server bounding request
// headers with http.Server.MaxHeaderBytes refuses an oversized opening
// handshake with 431 before Upgrade runs, and that Dial reports the status
// as a *HandshakeError. (net/http allows MaxHeaderBytes plus 4096 bytes of
// slack.)
func TestWSOversizedHandshakeHeaders(t *testing.T) {
	const maxHeaderBytes = 1024
	many := http.Header{}
	for i := range 200 {
		many.Set("X-Filler-"+strconv.Itoa(i), strings.Repeat("f", 64))
	}
	protocols := func(n int) []string {
		p := make([]string, n, n+1)
		for i := range p {
			p[i] = "p" + strconv.Itoa(i)
		}
		return append(p, "chat")
	}
	tests := []struct {
		name      string
		header    http.Header
		protocols []string
		status    int // 0: upgraded
	}{
		{"small protocol list", nil, protocols(50), 0},
		{"oversized protocol list", nil, protocols(2000), http.StatusRequestHeaderFieldsTooLarge},
		{"oversized cookie", http.Header{"Cookie": {"a=" + strings.Repeat("c", 64<<10)}}, nil, http.StatusRequestHeaderFieldsTooLarge},
		{"many headers", many, nil, http.StatusRequestHeaderFieldsTooLarge},
		{"1 MiB header", http.Header{"X-Bomb": {strings.Repeat("b", 1<<20)}}, nil, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer wsCheckGoroutines(t)()
			upgrades := make(chan *WebSocketConn, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := Upgrade(w, r, WSConfig{Subprotocols: []string{"chat"}})
				if err != nil {
					t.Errorf("upgrade: %v", err)
					return
				}
				upgrades <- c
			}))
			srv.Config.MaxHeaderBytes = maxHeaderBytes
			srv.Start()
			defer srv.Close()

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), DialConfig{Header: tc.header, Subprotocols: tc.protocols})
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				sc := <-upgrades
				if c.Subprotocol() != "chat" {
					t.Errorf("subprotocol %q, want chat", c.Subprotocol())
				}
				c.Close()
				sc.Close()
				return
			}
			var he *HandshakeError
			if !errors.As(err, &he) || he.Status != tc.status {
				t.Fatalf("dial error %v, want a HandshakeError with status %d", err, tc.status)
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("response %v, want status %d", resp, tc.status)
			}
			select {
			case c := <-upgrades:
				c.Close()
				t.Fatalf("the handler upgraded an oversized request")
			default:
			}
		})
	}
}
