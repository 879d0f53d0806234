package stream_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/stdrealtime/realtime/stream"
)

// A chat hub: every message a client sends is broadcast to everyone,
// wrapped in the JSON envelope.
func ExampleHub() {
	hub := stream.NewHub(stream.HubConfig{})
	srv := httptest.NewServer(hub.Handler(stream.WSConfig{}, func(c *stream.WebSocketConn, _ stream.MessageType, p []byte) {
		hub.BroadcastMessage(stream.WSMessage{Type: "chat", Payload: []byte(fmt.Sprintf("%q", p)), Ts: 1})
	}))
	defer srv.Close()
	defer hub.Stop() // closes every connection with 1001 Going Away

	c, _, err := stream.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), stream.DialConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	c.WriteString("hello")
	p, _ := c.Read()
	fmt.Println(string(p))
	// Output: {"type":"chat","payload":"hello","ts":1}
}
