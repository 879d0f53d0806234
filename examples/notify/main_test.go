package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/examples/internal/exampletest"
	"github.com/stdrealtime/realtime/stream"
)

const testToken = "s3cret"

// testServer serves the service's handler over httptest.
func testServer(t *testing.T, token string) (*server, *httptest.Server) {
	t.Helper()
	s := newServer(token, exampletest.Logger(t))
	ts := httptest.NewServer(s.routes())
	t.Cleanup(func() {
		s.events.Close()
		s.hub.Stop()
		ts.Close()
	})
	return s, ts
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, method, url string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func jsonHeader(token string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

func TestHealth(t *testing.T) {
	_, ts := testServer(t, testToken)
	resp, body := do(t, http.MethodGet, ts.URL+"/", nil, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" ||
		strings.TrimSpace(body) != `{"status":"ok","service":"ws","clients":0}` {
		t.Fatalf("GET /: %s %q %q", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	// Each is counted once connected: the WebSocket one has its welcome.
	dialWS(t, ts.URL, "?access_token="+testToken)
	connectSSE(t, ts.URL, http.Header{"Authorization": {"Bearer " + testToken}})
	if _, body := do(t, http.MethodGet, ts.URL+"/", nil, ""); strings.TrimSpace(body) != `{"status":"ok","service":"ws","clients":2}` {
		t.Fatalf("GET / with two clients: %q", body)
	}
}

func TestPages(t *testing.T) {
	_, ts := testServer(t, testToken)
	for path, want := range map[string]string{
		"/pages/websocket.html":   "text/html",
		"/pages/eventsource.html": "text/html",
		"/pages/notify.js":        "text/javascript",
		"/pages/notify.css":       "text/css",
		"/favicon.svg":            "image/svg+xml",
	} {
		resp, body := do(t, http.MethodGet, ts.URL+path, nil, "")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) || body == "" {
			t.Errorf("GET %s: %s %q, %d bytes", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	for _, path := range []string{"/pages/", "/pages/static/notify.js", "/nope"} {
		if resp, _ := do(t, http.MethodGet, ts.URL+path, nil, ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

// TestStatusCodes: every way a request can be refused.
func TestStatusCodes(t *testing.T) {
	s, ts := testServer(t, testToken)
	wsHeader := http.Header{
		"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	withAuth := func(h http.Header, token string) http.Header {
		h = h.Clone()
		h.Set("Authorization", "Bearer "+token)
		return h
	}
	good := `{"event":"deploy","message":"v1.2 is live","data":{"version":"1.2"}}`
	tests := []struct {
		name         string
		method, path string
		header       http.Header
		body         string
		status       int
		want         string // in the body
		allow        string // the Allow header, for 405
	}{
		{"notify without token", "POST", "/notify", jsonHeader(""), good, 401, "bearer token", ""},
		{"notify with wrong token", "POST", "/notify", jsonHeader("nope"), good, 401, "bearer token", ""},
		{"notify with token in query", "POST", "/notify?access_token=" + testToken, jsonHeader(""), good, 202, `"id":"1"`, ""},
		{"ws without token", "GET", "/ws", wsHeader, "", 401, "bearer token", ""},
		{"ws with wrong token", "GET", "/ws?access_token=nope", wsHeader, "", 401, "bearer token", ""},
		{"events without token", "GET", "/events", nil, "", 401, "bearer token", ""},
		{"events with wrong token", "GET", "/events", http.Header{"Authorization": {"Bearer nope"}}, "", 401, "bearer token", ""},
		{"GET /notify", "GET", "/notify", jsonHeader(testToken), "", 405, "", "POST"},
		{"PUT /notify", "PUT", "/notify", jsonHeader(testToken), good, 405, "", "POST"},
		{"POST /", "POST", "/", nil, "", 405, "", "GET, HEAD"},
		{"POST /ws", "POST", "/ws", withAuth(wsHeader, testToken), "", 405, "", "GET, HEAD"},
		{"DELETE /events", "DELETE", "/events", jsonHeader(testToken), "", 405, "", "GET, HEAD"},
		{"ws without upgrade", "GET", "/ws", jsonHeader(testToken), "", 400, "Upgrade", ""},
		{"not JSON content", "POST", "/notify", http.Header{"Authorization": {"Bearer " + testToken}, "Content-Type": {"text/plain"}}, good, 415, "application/json", ""},
		{"invalid JSON", "POST", "/notify", jsonHeader(testToken), `{"event":`, 400, "invalid JSON", ""},
		{"not an object", "POST", "/notify", jsonHeader(testToken), `["deploy"]`, 400, "invalid JSON", ""},
		{"unknown field", "POST", "/notify", jsonHeader(testToken), `{"event":"a","to":"everyone"}`, 400, "unknown field", ""},
		{"two values", "POST", "/notify", jsonHeader(testToken), good + good, 400, "more than one", ""},
		{"no event", "POST", "/notify", jsonHeader(testToken), `{"message":"hi"}`, 400, "event is required", ""},
		{"long event", "POST", "/notify", jsonHeader(testToken), `{"event":"` + strings.Repeat("e", maxEventLen+1) + `"}`, 400, "event longer than 64", ""},
		{"control characters", "POST", "/notify", jsonHeader(testToken), `{"event":"a\nb"}`, 400, "control characters", ""},
		{"body too large", "POST", "/notify", jsonHeader(testToken), `{"event":"big","message":"` + strings.Repeat("x", maxBodyBytes) + `"}`, 413, "larger than 65536", ""},
		{"accepted", "POST", "/notify", jsonHeader(testToken), good, 202, `"id":"2"`, ""},
		{"at the size limit", "POST", "/notify", jsonHeader(testToken), `{"event":"big","message":"` + strings.Repeat("x", maxBodyBytes-len(`{"event":"big","message":""}`)) + `"}`, 202, `"id":"3"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, tt.method, ts.URL+tt.path, tt.header, tt.body)
			if resp.StatusCode != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("%s %s: %s %q, want %d mentioning %q", tt.method, tt.path, resp.Status, body, tt.status, tt.want)
			}
			if tt.status == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
			}
			if got := resp.Header.Get("Allow"); tt.allow != "" && got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
	if st := s.events.Stats(); st.Published != 3 || st.Subscribers != 0 {
		t.Fatalf("broker stats %+v: want 3 published", st)
	}
}

func dialWS(t *testing.T, baseURL, query string) *stream.WebSocketConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := stream.Dial(ctx, "ws"+strings.TrimPrefix(baseURL, "http")+"/ws"+query, stream.DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if m := readWSMessage(t, c); m.Type != "welcome" {
		t.Fatalf("first message %+v, want a welcome", m)
	}
	return c
}

func connectSSE(t *testing.T, baseURL string, header http.Header) *stream.SSEClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	c, err := stream.ConnectSSE(ctx, baseURL+"/events", stream.SSEClientConfig{Header: header})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readWSMessage reads one message from a WebSocket client, bounded by 10s.
func readWSMessage(t *testing.T, c *stream.WebSocketConn) stream.WSMessage {
	t.Helper()
	type result struct {
		p   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		_, p, err := c.ReadMessage()
		ch <- result{p, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(10 * time.Second):
		c.Close()
		t.Fatal("no WebSocket message within 10s")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	m, err := stream.ParseWSMessage(r.p)
	if err != nil || m.Ts == 0 {
		t.Fatalf("WebSocket message %s: %v", r.p, err)
	}
	return m
}

// readWS reads one notification from a WebSocket client, bounded by 10s.
func readWS(t *testing.T, c *stream.WebSocketConn) notification {
	t.Helper()
	m := readWSMessage(t, c)
	if m.Type != "notification" {
		t.Fatalf("WebSocket message %+v, want a notification", m)
	}
	var n notification
	if err := json.Unmarshal(m.Payload, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDelivery: a notification reaches every WebSocket and SSE client,
// in order, and an SSE client that reconnects gets those it missed.
func TestDelivery(t *testing.T) {
	_, ts := testServer(t, "")
	ws1, ws2 := dialWS(t, ts.URL, ""), dialWS(t, ts.URL, "")
	sse := connectSSE(t, ts.URL, nil)
	posts := []string{
		`{"event":"deploy","message":"v1.2 is live","data":{"version":"1.2","canary":false}}`,
		`{"event":"alert","message":"<b>disk</b> 91%"}`,
		`{"event":"ping","data":null}`,
	}
	want := []notification{
		{ID: "1", Event: "deploy", Message: "v1.2 is live", Data: json.RawMessage(`{"version":"1.2","canary":false}`)},
		{ID: "2", Event: "alert", Message: "<b>disk</b> 91%"},
		{ID: "3", Event: "ping"},
	}
	for i, body := range posts {
		resp, got := do(t, http.MethodPost, ts.URL+"/notify", jsonHeader(""), body)
		var a accepted
		if err := json.Unmarshal([]byte(got), &a); err != nil || resp.StatusCode != http.StatusAccepted ||
			a != (accepted{ID: want[i].ID, WebSocket: 2, SSE: 1}) {
			t.Fatalf("POST /notify: %s %q", resp.Status, got)
		}
	}
	check := func(who string, got notification, w notification) {
		t.Helper()
		if got.ID != w.ID || got.Event != w.Event || got.Message != w.Message || !bytes.Equal(got.Data, w.Data) || time.Since(got.Time) > time.Minute {
			t.Fatalf("%s got %+v (data %s), want %+v (data %s)", who, got, got.Data, w, w.Data)
		}
	}
	for _, w := range want {
		check("ws1", readWS(t, ws1), w)
		check("ws2", readWS(t, ws2), w)
		e, err := sse.Next()
		if err != nil || e.Name != "notification" {
			t.Fatalf("SSE event %+v, %v", e, err)
		}
		var n notification
		if err := json.Unmarshal([]byte(e.Data), &n); err != nil {
			t.Fatal(err)
		}
		check("sse", n, w)
	}

	// An EventSource that was away resumes with its last event ID.
	last := sse.LastEventID()
	sse.Close()
	do(t, http.MethodPost, ts.URL+"/notify", jsonHeader(""), `{"event":"while away"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	again, err := stream.ConnectSSE(ctx, ts.URL+"/events", stream.SSEClientConfig{LastEventID: last})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	e, err := again.Next()
	if err != nil || e.Name != "notification" || !strings.Contains(e.Data, `"event":"while away"`) {
		t.Fatalf("after resuming: %+v, %v", e, err)
	}
}

// TestRun runs the whole program with a token: /debug/vars shows the hub
// and the broker, and shutdown closes WebSocket connections with 1001
// and ends the event streams.
func TestRun(t *testing.T) {
	exampletest.CheckGoroutines(t)
	in := exampletest.Start(t, func(ctx context.Context, ln net.Listener, log *slog.Logger) error {
		return run(ctx, ln, testToken, log)
	})
	ws := dialWS(t, in.URL, "?access_token="+testToken)
	sse := connectSSE(t, in.URL, http.Header{"Authorization": {"Bearer " + testToken}})
	do(t, http.MethodPost, in.URL+"/notify", jsonHeader(testToken), `{"event":"hello"}`)
	if n := readWS(t, ws); n.Event != "hello" {
		t.Fatalf("got %+v", n)
	}
	if e, err := sse.Next(); err != nil || !strings.Contains(e.Data, "hello") {
		t.Fatalf("SSE got %+v, %v", e, err)
	}
	var stats notifyStats
	exampletest.Vars(t, in.URL, "notify", &stats)
	if stats.Hub.Connections != 1 || stats.Hub.Deliveries != 2 || stats.Events.Subscribers != 1 || stats.Events.Published != 1 {
		t.Fatalf("/debug/vars notify = %+v", stats)
	}

	in.Signal()
	if _, _, err := ws.ReadMessage(); stream.CloseStatus(err) != stream.StatusGoingAway {
		t.Fatalf("after shutdown: %v, want 1001", err)
	}
	in.Stop(t)
	if _, err := http.Get(in.URL); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}
