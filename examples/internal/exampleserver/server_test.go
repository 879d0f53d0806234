package exampleserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// TestServeShutdown serves a hub, a tracked connection and an event
// stream, then ends the context: the WebSocket connections are closed
// with 1001, the event stream ends, the OnShutdown functions ran in order
// and Serve returns nil.
func TestServeShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := ln.Addr().String()
	var tr stream.Tracker
	hub := stream.NewHub(stream.HubConfig{})
	broker := stream.NewSSEBroker(stream.SSEBrokerConfig{})
	var order []string
	mux := http.NewServeMux()
	mux.Handle("/hub", hub.Handler(stream.WSConfig{}, nil))
	mux.HandleFunc("/tracked", func(w http.ResponseWriter, r *http.Request) {
		c, err := tr.Upgrade(w, r, stream.WSConfig{})
		if err != nil {
			return
		}
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	mux.Handle("/events", broker)
	srv := &Server{
		Name:    "exampleserver_test",
		Handler: mux,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), nil)),
		Tracker: &tr,
		Stats:   func() any { return map[string]int{"tracked": tr.Len(), "hub": hub.Count()} },
		OnShutdown: []func(){
			func() { order = append(order, "broker"); broker.Close() },
			func() { order = append(order, "hub"); hub.Stop() },
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	var conns []*stream.WebSocketConn
	for _, path := range []string{"/hub", "/tracked"} {
		c, _, err := stream.Dial(dctx, "ws://"+base+path, stream.DialConfig{})
		if err != nil {
			t.Fatalf("dial %s: %v", path, err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	events, err := http.Get("http://" + base + "/events")
	if err != nil || events.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %v %v", events, err)
	}
	defer events.Body.Close()

	// Both connections are counted once the server has registered them;
	// /debug/vars reads the counters when asked.
	for {
		resp, err := http.Get("http://" + base + "/debug/vars")
		if err != nil {
			t.Fatal(err)
		}
		var vars struct {
			Stats map[string]int `json:"exampleserver_test"`
		}
		err = json.NewDecoder(resp.Body).Decode(&vars)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if vars.Stats["tracked"] == 1 && vars.Stats["hub"] == 1 {
			break
		}
		if dctx.Err() != nil {
			t.Fatalf("/debug/vars = %v, want 1 tracked and 1 hub connection", vars.Stats)
		}
	}

	cancel()
	for i, c := range conns {
		if _, _, err := c.ReadMessage(); stream.CloseStatus(err) != stream.StatusGoingAway {
			t.Errorf("connection %d after shutdown: %v, want 1001", i, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if strings.Join(order, ",") != "broker,hub" {
		t.Errorf("OnShutdown ran %v", order)
	}
	if _, err := io.ReadAll(events.Body); err != nil {
		t.Errorf("event stream did not end cleanly: %v", err)
	}
	if _, err := net.Dial("tcp", base); err == nil {
		t.Error("listener still open after shutdown")
	}
}

// TestServeFails returns the listener's error and still runs OnShutdown.
func TestServeFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	ran := false
	srv := &Server{Name: "failing", Handler: http.NotFoundHandler(), OnShutdown: []func(){func() { ran = true }}}
	err = srv.Serve(context.Background(), ln)
	if !errors.Is(err, net.ErrClosed) || !strings.Contains(err.Error(), "failing: serve") {
		t.Errorf("Serve on a closed listener = %v", err)
	}
	if !ran {
		t.Error("OnShutdown did not run")
	}
}

func TestPages(t *testing.T) {
	files := fstest.MapFS{
		"index.html":  {Data: []byte("<!doctype html>")},
		"app.js":      {Data: []byte("'use strict';")},
		"sub/x.css":   {Data: []byte("body{}")},
		"sub/y.css":   {Data: []byte("p{}")},
		"favicon.svg": {Data: []byte("<svg/>")},
	}
	h := Pages(files)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	tests := []struct {
		path   string
		status int
		ctype  string
	}{
		{"/", http.StatusOK, "text/html"},
		{"/app.js", http.StatusOK, "text/javascript"},
		{"/sub/x.css", http.StatusOK, "text/css"},
		{"/favicon.svg", http.StatusOK, "image/svg+xml"},
		{"/sub/", http.StatusNotFound, ""},
		{"/nope", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, mustRequest(t, tt.path))
		h := rec.Result().Header
		if rec.Code != tt.status || !strings.HasPrefix(h.Get("Content-Type"), tt.ctype) {
			t.Errorf("GET %s: %d %q, want %d %q", tt.path, rec.Code, h.Get("Content-Type"), tt.status, tt.ctype)
		}
		if tt.status == http.StatusOK && !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tt.path, h.Get("Content-Security-Policy"))
		}
	}
}

func mustRequest(t *testing.T, path string) *http.Request {
	r, err := http.NewRequest(http.MethodGet, "http://example.test"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
