package stream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/wstest"
)

func TestLimiterAcquire(t *testing.T) {
	req := func(ip string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = ip + ":1234"
		return r
	}
	type step struct {
		ip      string // acquire a seat for ip, expecting ok
		ok      bool
		release int // if > 0, release the release-th grant instead
	}
	tests := []struct {
		name  string
		cfg   LimiterConfig
		steps []step
		want  LimiterStats
	}{
		{"no caps", LimiterConfig{}, []step{{ip: "10.0.0.1", ok: true}, {ip: "10.0.0.1", ok: true}, {ip: "10.0.0.2", ok: true}},
			LimiterStats{Active: 3, Clients: 2}},
		{"total", LimiterConfig{MaxConns: 2}, []step{{ip: "10.0.0.1", ok: true}, {ip: "10.0.0.2", ok: true}, {ip: "10.0.0.3", ok: false}},
			LimiterStats{Active: 2, Clients: 2, RefusedTotal: 1}},
		{"per IP", LimiterConfig{MaxPerIP: 2}, []step{{ip: "10.0.0.1", ok: true}, {ip: "10.0.0.1", ok: true}, {ip: "10.0.0.1", ok: false}, {ip: "10.0.0.2", ok: true}},
			LimiterStats{Active: 3, Clients: 2, RefusedPerIP: 1}},
		{"IPv6", LimiterConfig{MaxPerIP: 1}, []step{{ip: "[::1]", ok: true}, {ip: "[::1]", ok: false}, {ip: "[::2]", ok: true}},
			LimiterStats{Active: 2, Clients: 2, RefusedPerIP: 1}},
		{"release frees the seat", LimiterConfig{MaxConns: 2, MaxPerIP: 1}, []step{{ip: "10.0.0.1", ok: true}, {ip: "10.0.0.1", ok: false}, {release: 1}, {release: 1}, {ip: "10.0.0.1", ok: true}, {ip: "10.0.0.2", ok: true}, {ip: "10.0.0.3", ok: false}},
			LimiterStats{Active: 2, Clients: 2, RefusedTotal: 1, RefusedPerIP: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLimiter(tt.cfg)
			var grants []func()
			for i, s := range tt.steps {
				if s.release > 0 {
					// Released twice in the table: only the first counts.
					grants[s.release-1]()
					continue
				}
				release, ok := l.Acquire(req(s.ip))
				if ok != s.ok || (release != nil) != ok {
					t.Fatalf("step %d (%s): ok %v release %v, want ok %v", i, s.ip, ok, release != nil, s.ok)
				}
				if ok {
					grants = append(grants, release)
				}
			}
			if got := l.Stats(); got != tt.want {
				t.Fatalf("stats %+v, want %+v", got, tt.want)
			}
		})
	}
	var nilLimiter *Limiter
	if release, ok := nilLimiter.Acquire(req("10.0.0.1")); !ok || release == nil {
		t.Fatal("a nil Limiter refused")
	}
}

func TestLimiterClientIP(t *testing.T) {
	// Behind a proxy: trust the last X-Forwarded-For entry, appended by
	// the proxy, only when the request comes from the proxy.
	const proxy = "192.0.2.1"
	l := NewLimiter(LimiterConfig{MaxPerIP: 1, ClientIP: func(r *http.Request) string {
		host := strings.Split(r.RemoteAddr, ":")[0]
		if xff := r.Header.Values("X-Forwarded-For"); host == proxy && len(xff) > 0 {
			list := strings.Split(xff[len(xff)-1], ",")
			return strings.TrimSpace(list[len(list)-1])
		}
		return host
	}})
	via := func(remote, xff string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote + ":5000"
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return r
	}
	for i, tc := range []struct {
		r  *http.Request
		ok bool
	}{
		{via(proxy, "198.51.100.7"), true},
		{via(proxy, "203.0.113.9, 198.51.100.7"), false}, // spoofed first entry, same client
		{via(proxy, "198.51.100.8"), true},
		{via("198.51.100.9", "198.51.100.10"), true}, // not from the proxy: header ignored
		{via("198.51.100.9", "198.51.100.11"), false},
	} {
		if _, ok := l.Acquire(tc.r); ok != tc.ok {
			t.Fatalf("request %d: ok %v, want %v", i, ok, tc.ok)
		}
	}
}

// WebSocket upgrades over the cap are answered 503 with Retry-After
// before the upgrade, and a seat comes back when its connection closes.
func TestWSLimiterRefuses(t *testing.T) {
	wsCheckGoroutines(t)
	// All test clients share 127.0.0.1; X-Client names them instead.
	lim := NewLimiter(LimiterConfig{MaxConns: 3, MaxPerIP: 2, RetryAfter: 1500 * time.Millisecond,
		ClientIP: func(r *http.Request) string { return r.Header.Get("X-Client") }})
	ended := make(chan error, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, WSConfig{Limiter: lim})
		if err != nil {
			ended <- err
			return
		}
		ended <- echoLoop(c)
	}))
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	dial := func(client string) (*WebSocketConn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
		defer cancel()
		return Dial(ctx, url, DialConfig{Header: http.Header{"X-Client": {client}}})
	}
	mustDial := func(client string) *WebSocketConn {
		t.Helper()
		c, _, err := dial(client)
		if err != nil {
			t.Fatalf("dial as %s: %v", client, err)
		}
		return c
	}
	refused := func(client string) {
		t.Helper()
		c, resp, err := dial(client)
		if c != nil {
			c.Close()
		}
		var he *HandshakeError
		if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
			t.Fatalf("dial as %s: %v, want 503", client, err)
		}
		if ra := resp.Header.Get("Retry-After"); ra != "2" {
			t.Fatalf("Retry-After %q, want 2", ra)
		}
		if err := <-ended; !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
			t.Fatalf("Upgrade returned %v", err)
		}
	}
	closeAndWait := func(c *WebSocketConn, active int) {
		t.Helper()
		c.Close()
		if err := <-ended; CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("server side ended with %v", err)
		}
		hubWaitFor(t, "a seat to be returned", func() bool { return lim.Stats().Active == active })
	}

	a1, a2 := mustDial("a"), mustDial("a")
	refused("a") // MaxPerIP
	b1 := mustDial("b")
	refused("c") // MaxConns
	if st := lim.Stats(); st != (LimiterStats{Active: 3, Clients: 2, RefusedTotal: 1, RefusedPerIP: 1}) {
		t.Fatalf("stats %+v", st)
	}
	closeAndWait(b1, 2)
	refused("a") // still two for a
	c1 := mustDial("c")
	if err := c1.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if p, err := c1.Read(); err != nil || string(p) != "hi" {
		t.Fatalf("echo %q %v", p, err)
	}
	closeAndWait(a1, 2)
	closeAndWait(a2, 1)
	closeAndWait(c1, 0)
}

// One Limiter shared by a WebSocket endpoint and an SSEBroker: an
// EventSource client over the cap gets the broker's shedding answer (200,
// retry:, empty stream), and streams once a seat is free.
func TestSSELimiterShared(t *testing.T) {
	wsCheckGoroutines(t)
	lim := NewLimiter(LimiterConfig{MaxConns: 1})
	b := NewSSEBroker(SSEBrokerConfig{Limiter: lim, ShedRetry: time.Second})
	t.Cleanup(func() { b.Close() })
	mux := http.NewServeMux()
	mux.Handle("/events", b)
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, WSConfig{Limiter: lim})
		if err != nil {
			return
		}
		echoLoop(c)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ws, _, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "retry:") {
		t.Fatalf("shed answer %d %q %v, want 200 with retry:", resp.StatusCode, body, err)
	}
	if st := b.Stats(); st.Shed != 1 {
		t.Fatalf("broker stats %+v, want one shed", st)
	}
	ws.Close()
	hubWaitFor(t, "the WebSocket seat", func() bool { return lim.Stats().Active == 0 })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	hubWaitFor(t, "the subscriber", func() bool { return b.SubscriberCount() == 1 })
	if st := lim.Stats(); st.Active != 1 {
		t.Fatalf("limiter %+v with one subscriber", st)
	}
	b.Publish(Event{Data: "hello"})
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		if line == "data: hello\n" {
			break
		}
	}
	cancel()
	hubWaitFor(t, "the SSE seat", func() bool { return lim.Stats().Active == 0 })
}
