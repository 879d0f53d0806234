// Command notify is a notification service: what is posted to /notify
// reaches every client connected by WebSocket (/ws) or Server-Sent Events
// (/events).
//
//	go run ./examples/notify -token s3cret
//	curl -H 'Authorization: Bearer s3cret' -H 'Content-Type: application/json' \
//	     -d '{"event":"deploy","message":"v1.2 is live","data":{"version":"1.2"}}' \
//	     http://127.0.0.1:8080/notify
//
// Endpoints:
//
//	GET  /        health: {"status":"ok","service":"ws","clients":N}, N counting both kinds of client
//	GET  /ws      WebSocket clients: a stream.WSMessage of type "welcome" once registered,
//	              then one of type "notification" for each notification
//	GET  /events  SSE clients; each notification is a "notification" event
//	POST /notify  a JSON object {"event", "message", "data"}: 202 once queued for every client
//	GET  /pages/websocket.html, /pages/eventsource.html  pages that show what they receive
//
// With -token, /ws, /events and /notify need it as a bearer token: an
// "Authorization: Bearer <token>" header, or, for browsers, whose
// WebSocket and EventSource cannot set headers, an access_token query
// parameter (RFC 6750 §2.3; it may end up in access logs). Requests
// without it are answered 401. A wrong method is answered 405 with an
// Allow header, a body that is not a JSON notification 400 (415 if it is
// not declared as JSON), a body over 64 KiB 413.
//
// The event stream keeps the last 256 notifications, so an EventSource
// that reconnects receives those it missed. On SIGINT or SIGTERM the
// event streams end and WebSocket connections close with 1001 Going Away.
// /debug/vars shows the hub's and the broker's counters as "notify".
package main

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stdrealtime/realtime/examples/internal/exampleserver"
	"github.com/stdrealtime/realtime/stream"
)

//go:embed static
var static embed.FS

// Limits.
const (
	maxBodyBytes = 64 << 10 // of a POST /notify body
	maxEventLen  = 64       // characters of a notification's event
	replayLen    = 256      // notifications kept for EventSource clients that reconnect
	maxClients   = 10000    // of each kind
)

// notification is what /notify accepts and what clients receive, with an
// ID and a time added by the server.
type notification struct {
	ID      string          `json:"id,omitempty"`
	Event   string          `json:"event"`
	Message string          `json:"message,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Time    time.Time       `json:"time,omitzero"`
}

// accepted is the answer to POST /notify.
type accepted struct {
	ID        string `json:"id"`
	WebSocket int    `json:"websocket_clients"` // it was queued for
	SSE       int    `json:"sse_clients"`
}

// health is the answer to GET /.
type health struct {
	Status  string `json:"status"`
	Service string `json:"service"`
	Clients int    `json:"clients"`
}

// server is the notification service.
type server struct {
	token  string // "" for none
	hub    *stream.Hub
	events *stream.SSEBroker
	log    *slog.Logger
	seq    atomic.Uint64 // notifications posted
	conns  atomic.Uint64 // WebSocket connections accepted
}

func newServer(token string, log *slog.Logger) *server {
	return &server{
		token: token,
		hub:   stream.NewHub(stream.HubConfig{}),
		events: stream.NewSSEBroker(stream.SSEBrokerConfig{
			Topic:          "notify",
			Replay:         replayLen,
			MaxSubscribers: maxClients,
			BlockTimeout:   -1, // no client holds the others up
			Logger:         log,
		}),
		log: log,
	}
}

// notifyStats are the counters in /debug/vars.
type notifyStats struct {
	Hub    stream.HubStats       `json:"hub"`
	Events stream.SSEBrokerStats `json:"events"`
}

func (s *server) stats() any {
	return notifyStats{Hub: s.hub.Stats(), Events: s.events.Stats()}
}

// wsConfig: the default origin check (same host only); clients only
// listen, so what they may send is small.
var wsConfig = stream.WSConfig{ReadLimit: 4 << 10}

// routes returns the service's handler.
func (s *server) routes() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	pages := exampleserver.Pages(files)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.health)
	for _, name := range []string{"websocket.html", "eventsource.html", "notify.js", "notify.css"} {
		mux.Handle("GET /pages/"+name, http.StripPrefix("/pages", pages))
	}
	mux.Handle("GET /favicon.svg", pages)
	mux.Handle("GET /ws", s.authorized(http.HandlerFunc(s.serveWS)))
	mux.Handle("GET /events", s.authorized(s.events))
	mux.Handle("POST /notify", s.authorized(http.HandlerFunc(s.notify)))
	return mux
}

// health answers GET /.
func (s *server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, health{Status: "ok", Service: "ws", Clients: s.hub.Count() + s.events.SubscriberCount()})
}

// authorized lets a request through to h only if it carries the token.
func (s *server) authorized(h http.Handler) http.Handler {
	if s.token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			got = r.URL.Query().Get("access_token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			// RFC 6750 §3: a request without valid credentials is answered
			// 401 with a WWW-Authenticate challenge.
			w.Header().Set("WWW-Authenticate", `Bearer realm="notify"`)
			http.Error(w, "notify: missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveWS runs one WebSocket client: registered with the hub, it is
// sent a "welcome" message, after which it receives every notification.
// Clients only listen; reading their connection keeps keepalive and the
// closing handshake working.
func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.hub.Count() >= maxClients {
		http.Error(w, "notify: too many clients, try again later", http.StatusServiceUnavailable)
		return
	}
	c, err := stream.Upgrade(w, r, wsConfig)
	if err != nil {
		return // Upgrade has answered the request
	}
	id := "ws-" + strconv.FormatUint(s.conns.Add(1), 10)
	// After the hub stops, RegisterID closes c with 1001 and the read
	// below fails.
	s.hub.RegisterID(c, id)
	defer s.hub.Unregister(c)
	s.hub.SendMessageTo(id, stream.WSMessage{Type: "welcome", Payload: json.RawMessage(`{"id":"` + id + `"}`)})
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

// errBadRequest is a client mistake: answered with its status and text.
type errBadRequest struct {
	status int
	msg    string
}

func (e *errBadRequest) Error() string { return e.msg }

// decodeNotification reads and checks the body of POST /notify.
func decodeNotification(w http.ResponseWriter, r *http.Request) (notification, error) {
	var n notification
	// Requiring JSON also keeps other sites' forms out: a cross-site
	// request with this content type needs a CORS preflight, which is
	// not answered.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return n, &errBadRequest{http.StatusUnsupportedMediaType, "notify: Content-Type must be application/json"}
	}
	body := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(&n)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		if tooBig := new(http.MaxBytesError); errors.As(err, &tooBig) {
			return n, &errBadRequest{http.StatusRequestEntityTooLarge, fmt.Sprintf("notify: body larger than %d bytes", maxBodyBytes)}
		}
		return n, &errBadRequest{http.StatusBadRequest, "notify: invalid JSON: " + err.Error()}
	}
	n.Event = strings.TrimSpace(n.Event)
	switch {
	case n.Event == "":
		return n, &errBadRequest{http.StatusBadRequest, "notify: event is required"}
	case utf8.RuneCountInString(n.Event) > maxEventLen:
		return n, &errBadRequest{http.StatusBadRequest, fmt.Sprintf("notify: event longer than %d characters", maxEventLen)}
	case strings.ContainsFunc(n.Event, unicode.IsControl):
		return n, &errBadRequest{http.StatusBadRequest, "notify: event contains control characters"}
	case string(n.Data) == "null":
		n.Data = nil
	}
	return n, nil
}

// notify delivers a posted notification to every client.
func (s *server) notify(w http.ResponseWriter, r *http.Request) {
	n, err := decodeNotification(w, r)
	if err != nil {
		var bad *errBadRequest
		if errors.As(err, &bad) {
			http.Error(w, bad.msg, bad.status)
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	n.ID = strconv.FormatUint(s.seq.Add(1), 10)
	n.Time = time.Now().UTC().Truncate(time.Millisecond)
	b, err := json.Marshal(n)
	if err != nil {
		http.Error(w, "notify: "+err.Error(), http.StatusInternalServerError)
		return
	}
	a := accepted{ID: n.ID, WebSocket: s.hub.Count(), SSE: s.events.SubscriberCount()}
	// A WebSocket client too slow to take it loses its oldest queued
	// notifications (the hub's DropOldest policy), counted in /debug/vars.
	if err := s.hub.BroadcastMessage(stream.WSMessage{Type: "notification", Payload: b}); errors.Is(err, stream.ErrHubStopped) {
		http.Error(w, "notify: shutting down", http.StatusServiceUnavailable)
		return
	}
	if err := s.events.Publish(stream.Event{Type: stream.Custom, Name: "notification", Data: string(b)}); err != nil {
		http.Error(w, "notify: shutting down", http.StatusServiceUnavailable)
		return
	}
	s.log.Info("notification", "id", n.ID, "event", n.Event, "websocket_clients", a.WebSocket, "sse_clients", a.SSE)
	writeJSON(w, http.StatusAccepted, a)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// run serves the service on ln until ctx ends, then shuts down
// gracefully: the event streams end and every WebSocket connection is
// closed with 1001.
func run(ctx context.Context, ln net.Listener, token string, log *slog.Logger) error {
	s := newServer(token, log)
	srv := &exampleserver.Server{
		Name:       "notify",
		Handler:    s.routes(),
		Logger:     log,
		Stats:      s.stats,
		OnShutdown: []func(){func() { s.events.Close() }, s.hub.Stop},
	}
	return srv.Serve(ctx, ln)
}

func main() {
	token := flag.String("token", "", "bearer token required by /ws, /events and /notify (empty: none)")
	exampleserver.Main("notify", "health JSON; pages at /pages/websocket.html and /pages/eventsource.html", func(ctx context.Context, ln net.Listener, log *slog.Logger) error {
		return run(ctx, ln, *token, log)
	})
}
