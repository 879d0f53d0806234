package main

import (
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/stdrealtime/realtime/examples/cluster/redisrelay"
	"github.com/stdrealtime/realtime/stream"
)

//go:embed static
var static embed.FS

// maxText bounds a chat line.
const maxText = 1 << 10

// app is one instance of the chat: a Hub for WebSocket clients and an
// SSEBroker for EventSource clients, both connected to the other instances
// through Redis.
type app struct {
	name   string
	hub    *stream.Hub
	broker *stream.SSEBroker
	relay  *redisrelay.Relay
	log    *slog.Logger
}

// chatLine is what clients receive.
type chatLine struct {
	From string `json:"from"` // the instance the line was sent to
	Text string `json:"text"`
}

func newApp(name string, rel *redisrelay.Relay, log *slog.Logger) *app {
	return &app{
		name:  name,
		relay: rel,
		log:   log,
		hub:   stream.NewHub(stream.HubConfig{Relay: rel, RelayTopic: "chat.hub"}),
		broker: stream.NewSSEBroker(stream.SSEBrokerConfig{
			Topic:      "chat",
			Replay:     256,
			Relay:      rel,
			RelayTopic: "chat.sse",
			Logger:     log,
		}),
	}
}

// handler serves the page, /ws, /events, POST /publish and /stats.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ws", a.hub.Handler(stream.WSConfig{}, func(_ *stream.WebSocketConn, mt stream.MessageType, p []byte) {
		if mt == stream.TextMessage {
			a.publish(string(p))
		}
	}))
	mux.Handle("GET /events", a.broker)
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		p, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxText))
		if err != nil {
			http.Error(w, "publish: line too long", http.StatusRequestEntityTooLarge)
			return
		}
		if err := a.publish(string(p)); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.stats())
	})
	mux.Handle("GET /", http.FileServerFS(staticRoot()))
	return mux
}

// staticRoot returns the page's files.
func staticRoot() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}

type appStats struct {
	Instance string                `json:"instance"`
	Hub      stream.HubStats       `json:"hub"`
	SSE      stream.SSEBrokerStats `json:"sse"`
	Redis    redisrelay.Stats      `json:"redis"`
}

func (a *app) stats() appStats {
	return appStats{Instance: a.name, Hub: a.hub.Stats(), SSE: a.broker.Stats(), Redis: a.relay.Stats()}
}

var errBadText = errors.New("publish: text must be 1 to 1024 bytes of UTF-8")

// publish sends a chat line to every client of every instance: WebSocket
// clients through the hub, EventSource clients through the broker.
func (a *app) publish(text string) error {
	if text == "" || len(text) > maxText || !utf8.ValidString(text) {
		return errBadText
	}
	b, _ := json.Marshal(chatLine{From: a.name, Text: text})
	a.hub.Broadcast(b)
	return a.broker.Publish(stream.Event{Data: string(b)})
}

// close ends every client's stream and the relay loops.
func (a *app) close() {
	a.broker.Close()
	a.hub.Stop()
}
