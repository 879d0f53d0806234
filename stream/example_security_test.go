package stream_test

import (
	"crypto/subtle"
	"log"
	"net/http"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// A server with the handshake bounded by http.Server, connections capped
// by one Limiter shared by WebSocket and SSE, WebSocket messages rate
// limited, and clients authorized by a bearer token: in the Authorization
// header from programs, or offered as the subprotocol "token.<token>"
// next to "chat" from browsers, which cannot set headers.
func ExampleWSConfig_authorize() {
	const token = "s3cret" // verify a real token (a JWT, a session) instead
	valid := func(t string) bool { return subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 }

	lim := stream.NewLimiter(stream.LimiterConfig{MaxConns: 10_000, MaxPerIP: 20, RetryAfter: 10 * time.Second})
	cfg := stream.WSConfig{
		Subprotocols: []string{"chat"}, // never the token prefix
		Limiter:      lim,
		RateLimit:    stream.RateLimit{Messages: 20, Burst: 40, Policy: stream.RateClose},
		Authorize: func(r *http.Request) error {
			if t, ok := stream.OfferedSubprotocol(r, "token."); ok && valid(t) {
				return nil
			}
			if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " && valid(h[7:]) {
				return nil
			}
			return &stream.HandshakeError{Status: http.StatusUnauthorized, Reason: "no valid token"}
		},
	}
	broker := stream.NewSSEBroker(stream.SSEBrokerConfig{Limiter: lim})

	mux := http.NewServeMux()
	mux.Handle("/events", broker)
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		// Goes out with a 401, never with the 101.
		w.Header().Set("WWW-Authenticate", `Bearer realm="chat"`)
		c, err := stream.Upgrade(w, r, cfg)
		if err != nil {
			return // answered: 401, 403, 503 with Retry-After, ...
		}
		defer c.Close()
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, p)
		}
	})
	srv := &http.Server{
		Addr:              "127.0.0.1:8080",
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second, // slow-drip handshakes
		MaxHeaderBytes:    32 << 10,        // 431 beyond
		// WriteTimeout stays 0: streams bound their own writes.
	}
	log.Fatal(srv.ListenAndServe())
}
