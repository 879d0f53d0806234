package stream_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/stdrealtime/realtime/stream"
)

// An echo handler built from Upgrade, ReadMessage and WriteMessage, and a
// client that talks to it.
func ExampleUpgrade() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Upgrade(w, r, stream.WSConfig{
			CheckOrigin: stream.AllowOrigins("https://example.com", "https://*.example.com"),
		})
		if err != nil {
			return // Upgrade already answered with 400, 403, 405 or 426
		}
		defer c.Close()
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, p); err != nil {
				return
			}
		}
	}))
	defer srv.Close()

	c, _, err := stream.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), stream.DialConfig{})
	if err != nil {
		log.Fatal(err)
	}
	c.WriteString("hello")
	_, p, _ := c.ReadMessage()
	fmt.Println(string(p))
	c.Close()
	// Output: hello
}

// Reading the status a peer closed with.
func ExampleCloseStatus() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := stream.Upgrade(w, r, stream.WSConfig{})
		if err == nil {
			c.CloseWithStatus(stream.StatusPolicyViolation, "no thanks")
		}
	}))
	defer srv.Close()
	c, _, err := stream.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), stream.DialConfig{})
	if err != nil {
		log.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	fmt.Println(stream.CloseStatus(err))
	// Output: 1008 policy violation
}

// Closing every upgraded connection with 1001 when the server stops.
func ExampleTracker() {
	var tr stream.Tracker
	mux := http.NewServeMux()
	srv := &http.Server{Addr: "127.0.0.1:0", Handler: mux}
	srv.RegisterOnShutdown(tr.CloseAll)
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
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
	// On SIGTERM:
	ctx := context.Background()
	srv.Shutdown(ctx)
	tr.Shutdown(ctx) // waits for the closing handshakes
	fmt.Println(tr.Len())
	// Output: 0
}
