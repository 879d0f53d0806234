package main

import (
	"bufio"
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
)

func testServer(t *testing.T) (*server, *httptest.Server) {
	t.Helper()
	s := newServer(slog.New(slog.NewTextHandler(t.Output(), nil)))
	ts := httptest.NewServer(s.routes())
	t.Cleanup(func() {
		s.broker.Close()
		ts.Close()
	})
	return s, ts
}

func post(t *testing.T, url, contentType, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url+"/send", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// chatStream reads "chat" events from /events.
type chatStream struct {
	t      *testing.T
	resp   *http.Response
	sc     *bufio.Scanner
	lastID string
}

func subscribe(t *testing.T, url, lastID string) *chatStream {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/events?event=chat", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &chatStream{t: t, resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next returns the next chat message.
func (c *chatStream) next() message {
	c.t.Helper()
	var event, data string
	for c.sc.Scan() {
		line := c.sc.Text()
		switch {
		case line == "" && event == "chat":
			var m message
			if err := json.Unmarshal([]byte(data), &m); err != nil {
				c.t.Fatalf("chat event data %q: %v", data, err)
			}
			return m
		case line == "":
			event, data = "", ""
		case strings.HasPrefix(line, "id: "):
			c.lastID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	c.t.Fatalf("stream ended: %v", c.sc.Err())
	return message{}
}

func TestPage(t *testing.T) {
	_, ts := testServer(t)
	for path, want := range map[string]string{
		"/":         "text/html",
		"/chat.js":  "text/javascript",
		"/chat.css": "text/css",
	} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) || len(body) == 0 {
			t.Errorf("GET %s: %s %q, %d bytes", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	resp, err := http.Get(ts.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %s", resp.Status)
	}
}

func TestSendRejects(t *testing.T) {
	s, ts := testServer(t)
	tests := []struct {
		name, contentType, body string
		status                  int
		want                    string
	}{
		{"not JSON", "text/plain", `{"name":"a","text":"b"}`, http.StatusUnsupportedMediaType, "application/json"},
		{"invalid JSON", "application/json", `{"name":`, http.StatusBadRequest, "invalid JSON"},
		{"unknown field", "application/json", `{"name":"a","text":"b","admin":true}`, http.StatusBadRequest, "unknown field"},
		{"two values", "application/json", `{"name":"a","text":"b"}{}`, http.StatusBadRequest, "more than one"},
		{"no name", "application/json", `{"name":"  ","text":"b"}`, http.StatusBadRequest, "required"},
		{"no text", "application/json", `{"name":"a"}`, http.StatusBadRequest, "required"},
		{"long name", "application/json", `{"name":"` + strings.Repeat("é", 33) + `","text":"b"}`, http.StatusBadRequest, "name longer"},
		{"long text", "application/json", `{"name":"a","text":"` + strings.Repeat("x", 1001) + `"}`, http.StatusBadRequest, "text longer"},
		{"body too large", "application/json", `{"name":"a","text":"` + strings.Repeat("x", 5000) + `"}`, http.StatusRequestEntityTooLarge, "larger than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := post(t, ts.URL, tt.contentType, tt.body)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("got %d %q, want %d mentioning %q", status, body, tt.status, tt.want)
			}
		})
	}

	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, ts.URL+"/send", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("%s /send: %s, Allow %q; want 405, Allow: POST", method, resp.Status, resp.Header.Get("Allow"))
		}
	}
	if n := s.broker.Stats().Published; n != 0 {
		t.Errorf("rejected messages published %d events", n)
	}
}

func TestChatDeliversAndResumes(t *testing.T) {
	_, ts := testServer(t)
	alice := subscribe(t, ts.URL, "")
	bob := subscribe(t, ts.URL, "")

	if status, body, _ := post(t, ts.URL, "application/json; charset=utf-8", `{"name":" alice ","text":"<b>hi</b>"}`); status != http.StatusNoContent {
		t.Fatalf("send: %d %q", status, body)
	}
	for _, c := range []*chatStream{alice, bob} {
		m := c.next()
		if m.Name != "alice" || m.Text != "<b>hi</b>" || time.Since(m.Time) > time.Minute {
			t.Fatalf("got %+v", m)
		}
	}

	// Bob's connection drops; messages sent meanwhile reach him when his
	// page reconnects with the last ID it saw, as EventSource does.
	bob.resp.Body.Close()
	post(t, ts.URL, "application/json", `{"name":"alice","text":"are you there?"}`)
	post(t, ts.URL, "application/json", `{"name":"alice","text":"hello?"}`)
	bob = subscribe(t, ts.URL, bob.lastID)
	for _, want := range []string{"are you there?", "hello?"} {
		if m := bob.next(); m.Text != want {
			t.Fatalf("after resuming, got %q, want %q", m.Text, want)
		}
	}
	post(t, ts.URL, "application/json", `{"name":"bob","text":"back"}`)
	if m := bob.next(); m.Text != "back" {
		t.Fatalf("live after resume: got %q", m.Text)
	}
	for _, want := range []string{"are you there?", "hello?", "back"} {
		if m := alice.next(); m.Text != want {
			t.Fatalf("alice got %q, want %q", m.Text, want)
		}
	}
}

// TestRun starts the whole program on a free port, checks /debug/vars,
// and shuts it down with an open event stream.
func TestRun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, slog.New(slog.NewTextHandler(t.Output(), nil))) }()

	stream := subscribe(t, url, "")
	post(t, url, "application/json", `{"name":"a","text":"b"}`)
	stream.next()

	resp, err := http.Get(url + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	var vars struct {
		Chat struct {
			Subscribers int `json:"subscribers"`
			Published   int `json:"published"`
		} `json:"chat"`
	}
	err = json.NewDecoder(resp.Body).Decode(&vars)
	resp.Body.Close()
	if err != nil || vars.Chat.Subscribers != 1 || vars.Chat.Published != 1 {
		t.Fatalf("/debug/vars chat = %+v, %v; want 1 subscriber, 1 published", vars.Chat, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	if _, err := io.ReadAll(stream.resp.Body); err != nil {
		t.Fatalf("event stream did not end cleanly: %v", err)
	}
	if _, err := http.Get(url); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}
