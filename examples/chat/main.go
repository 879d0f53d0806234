// Command chat is a chat in rooms over WebSocket, with an activity feed
// over Server-Sent Events.
//
//	go run ./examples/chat
//
// Open the printed URL in two browser windows, pick a name and a room,
// and talk. Each page holds one WebSocket connection on /ws, carrying
// stream.WSMessage JSON envelopes: the page sends "join", "say" and
// "leave"; the server answers "joined" (the room's members and its last
// 50 messages), "left" and "error", and sends the room's "message" and
// "presence" messages to its members through a stream.Hub room.
//
// Every join, leave and message count also goes out on /events, an
// activity feed from a stream.SSEBroker that keeps its last events: a page
// whose feed connection drops resumes where it left off (Last-Event-ID),
// with nothing missed and nothing twice.
//
// Names and rooms are 1 to 32 characters, messages up to 1000 and a
// client's message at most 8 KiB (a bigger one closes its connection with
// 1009); the server keeps at most 100 rooms of 50 messages each. On
// SIGINT or SIGTERM the feed streams end and WebSocket connections close
// with 1001 Going Away. /debug/vars shows the hub's and the broker's
// counters as "chat".
package main

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/stdrealtime/realtime/examples/internal/exampleserver"
	"github.com/stdrealtime/realtime/stream"
)

//go:embed static
var static embed.FS

// server is the chat's HTTP side: the pages, the WebSocket endpoint and
// the activity feed.
type server struct {
	chat   *chat
	hub    *stream.Hub
	feed   *stream.SSEBroker
	log    *slog.Logger
	nextID atomic.Uint64
}

func newServer(log *slog.Logger) *server {
	hub := stream.NewHub(stream.HubConfig{})
	feed := stream.NewSSEBroker(stream.SSEBrokerConfig{
		Topic:          "activity",
		Replay:         feedReplay,
		MaxSubscribers: maxSessions,
		// The feed never holds the chat up: a page that cannot keep up
		// loses its oldest queued events and is told so.
		BlockTimeout: -1,
		Logger:       log,
	})
	return &server{chat: newChat(hub, feed), hub: hub, feed: feed, log: log}
}

// chatStats are the counters in /debug/vars.
type chatStats struct {
	Hub      stream.HubStats       `json:"hub"`
	Activity stream.SSEBrokerStats `json:"activity"`
}

func (s *server) stats() any {
	return chatStats{Hub: s.hub.Stats(), Activity: s.feed.Stats()}
}

// routes returns the chat's handler.
func (s *server) routes() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	page := exampleserver.Pages(files)
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /chat.js", page)
	mux.Handle("GET /chat.css", page)
	mux.Handle("GET /favicon.svg", page)
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.Handle("GET /events", s.feed)
	return mux
}

// wsConfig is the WebSocket configuration: the default origin check
// (same host only) and a bound on what a client may send at once.
var wsConfig = stream.WSConfig{ReadLimit: readLimit}

// serveWS runs one chat connection: it reads the client's messages one at
// a time until the connection ends, then takes it out of its room.
func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.hub.Count() >= maxSessions {
		http.Error(w, "chat: too many connections, try again later", http.StatusServiceUnavailable)
		return
	}
	c, err := stream.Upgrade(w, r, wsConfig)
	if err != nil {
		return // Upgrade has answered the request
	}
	sess := &session{id: "c" + strconv.FormatUint(s.nextID.Add(1), 10), c: c}
	// After the hub stops, RegisterID closes c with 1001 and the read
	// below fails.
	s.hub.RegisterID(c, sess.id)
	defer s.chat.disconnect(sess)
	for {
		mt, p, err := c.ReadMessage()
		if err != nil {
			if code := stream.CloseStatus(err); code != stream.StatusNormalClosure && code != stream.StatusGoingAway {
				s.log.Debug("chat connection ended", "id", sess.id, "err", err)
			}
			return
		}
		if mt != stream.TextMessage {
			// §7.4.1: 1003 "indicates that an endpoint is terminating the
			// connection because it has received a type of data it cannot
			// accept".
			c.CloseWithStatus(stream.StatusUnsupportedData, "text messages only")
			return
		}
		s.chat.handle(sess, p)
	}
}

// run serves the chat on ln until ctx ends, then shuts down gracefully:
// the feed streams end and every WebSocket connection is closed with 1001.
func run(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	s := newServer(log)
	srv := &exampleserver.Server{
		Name:       "chat",
		Handler:    s.routes(),
		Logger:     log,
		Stats:      s.stats,
		OnShutdown: []func(){func() { s.feed.Close() }, s.hub.Stop},
	}
	return srv.Serve(ctx, ln)
}

func main() {
	exampleserver.Main("chat", "open it in two browser windows", run)
}
