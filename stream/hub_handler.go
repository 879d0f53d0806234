package stream

import "net/http"

// Handler returns an http.Handler for the common case: it upgrades each
// request with cfg, registers the connection (with the ID from
// HubConfig.RequestID, if set), reads messages and passes each to
// onMessage until the connection ends, then unregisters it. onMessage
// runs in the connection's reading goroutine, one message at a time, and
// may call any Hub or connection method; it may be nil. Reading keeps
// keepalive and the closing handshake working. After Stop the handler
// answers 503 Service Unavailable.
func (h *Hub) Handler(cfg WSConfig, onMessage func(*WebSocketConn, MessageType, []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-h.stopping:
			http.Error(w, "server shutting down", http.StatusServiceUnavailable)
			return
		default:
		}
		c, err := Upgrade(w, r, cfg)
		if err != nil {
			return // Upgrade has answered the request
		}
		id := ""
		if h.set.requestID != nil {
			id = h.set.requestID(r)
		}
		h.RegisterID(c, id)
		defer h.Unregister(c)
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				break
			}
			if onMessage != nil {
				onMessage(c, mt, p)
			}
		}
		c.Close()
	})
}
